/* test_embed.c - embedding the runtime (docs/api.md, DESIGN.md sections 2
 * and 3): go_start/go_stop and their configuration, spawning from threads
 * that are not workers while the runtime starts and stops, attached threads
 * (go_thread_attach/detach) as members of stop-the-world, blocking regions
 * (go_blocking_enter/leave/call) with visits and claims of what sits in them,
 * the monitor's 10 ms time slices, and its stall report.
 *
 * Tasks and threads record what they see into plain structs and atomics; the
 * cmocka assertions run on the test's own thread once go_stop (or go_main)
 * has returned and the helper threads were joined (cmocka is not
 * thread-safe). Waits inside a blocking region spin on plain atomics: code in
 * a region calls no runtime function. Nothing here fails on timing alone:
 * where a test gives another thread time ("leave must not return while the
 * pause is held"), a slow machine can only make it pass without proving much,
 * never fail. The exceptions are the monitor's own thresholds, with wide
 * margins: a 1.5 s stall against its 1 s report threshold, and 20 s for a
 * starved task to get its 10 ms slice. A watchdog thread aborts with the
 * test's name if a test hangs (a deadlocked pause, a lost task) instead of
 * running into ctest's timeout.
 *
 * docs/embedding.md is the contract tested here. Environment knobs, for
 * debugging: TEST_EMBED_FILTER / TEST_EMBED_SKIP (cmocka name patterns, "*"
 * wildcards) run or skip tests; TEST_EMBED_NO_CAPTURE=1 leaves stderr alone
 * in the tests that capture it, so that a sanitizer report written meanwhile
 * shows (those tests then fail their line counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

/* ---- watchdog (tests/gort_test.h) ---- */

#ifdef GORT_TSAN
#define WATCH_SECONDS 90
#else
#define WATCH_SECONDS 60
#endif
#define WATCH() GORT_TEST_WATCH()

/* ---- helpers ----------------------------------------------------------------------------- */

static void start_with(int workers) {
    go_config cfg = {.workers = workers};
    assert_int_equal(go_start(&cfg), 0);
}

static void thread_start(uv_thread_t *th, void (*fn)(void *), void *arg) {
    assert_int_equal(uv_thread_create(th, fn, arg), 0);
}

/* Spins on a plain atomic without any runtime call: usable inside a blocking
 * region, by the holder of a pause or of a claim. */
static void plain_wait(atomic_int *flag) {
    unsigned spins = 0;
    while (atomic_load(flag) == 0)
        gort_test_relax(&spins);
}

static void plain_spin(int n) {
    unsigned spins = 0;
    for (int i = 0; i < n; i++)
        gort_test_relax(&spins);
}

static bool inside(const void *p, const void *lo, const void *hi) {
    return lo != NULL && (const char *)p >= (const char *)lo && (const char *)p < (const char *)hi;
}

/* Stops the world to switch claims on or off (they change only while stopped). */
static void claims_enable(bool on) {
    gort_stop_the_world(GORT_STW_TEST);
    gort_sched_claims_enable(on);
    gort_start_the_world();
}

/* ---- capturing stderr -------------------------------------------------------------------- */

typedef struct capture {
    int pipe_r, saved;
    char text[16384];
    size_t len;
} capture;

/* Redirects fd 2 into a pipe until capture_end. Keep what runs in between
 * well below the pipe's capacity (64 KiB) of output. A sanitizer report
 * written while captured is lost if the sanitizer ends the process: to see
 * it, run with TEST_EMBED_NO_CAPTURE=1 (the tests that count lines then fail). */
static void capture_begin(capture *c) {
    c->len = 0;
    c->text[0] = '\0';
    c->pipe_r = -1;
    if (getenv("TEST_EMBED_NO_CAPTURE") != NULL)
        return;
#if defined(GORT_TSAN) || defined(GORT_ASAN)
    printf("[ capturing stderr: if the test dies here, rerun with TEST_EMBED_NO_CAPTURE=1 ]\n");
    fflush(stdout);
#endif
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(p[1], 2) >= 0);
    close(p[1]);
    c->pipe_r = p[0];
    c->len = 0;
    c->text[0] = '\0';
}

/* Restores fd 2, reads what was written meanwhile, and relays it to the real
 * stderr (prefixed) so that it shows in the test's log. */
static void capture_end(capture *c) {
    if (c->pipe_r < 0)
        return;
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    for (;;) {
        ssize_t n = read(c->pipe_r, c->text + c->len, sizeof c->text - 1 - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        c->len += (size_t)n;
        if (c->len == sizeof c->text - 1)
            break;
    }
    c->text[c->len] = '\0';
    close(c->pipe_r);
    if (c->len > 0)
        fprintf(stderr, "[captured stderr]\n%s[end of captured stderr]\n", c->text);
}

/* Lines of c containing every one of the n needles. */
static int count_lines(const capture *c, int n, const char *const *needles) {
    int count = 0;
    const char *line = c->text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        size_t k = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, k);
        buf[k] = '\0';
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && strstr(buf, needles[i]) != NULL;
        count += all;
        line += len + (end != NULL);
    }
    return count;
}

static int count_all_lines(const capture *c) {
    int n = 0;
    for (size_t i = 0; i < c->len; i++)
        n += c->text[i] == '\n';
    if (c->len > 0 && c->text[c->len - 1] != '\n')
        n++;
    return n;
}

/* =============================================================================================
 * 1. go_start / go_stop
 * ============================================================================================= */

#define CHAINS 4
#define CHAIN_DEPTH 1000

static struct {
    atomic_int ran;
    atomic_int spawn_failures;
    atomic_int deepest;
} chain;

static void chain_link(void *arg) {
    int depth = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++)
        go_yield();
    atomic_fetch_add(&chain.ran, 1);
    int d = atomic_load(&chain.deepest);
    while (depth > d && !atomic_compare_exchange_weak(&chain.deepest, &d, depth))
        ;
    if (depth + 1 < CHAIN_DEPTH && go_spawn(chain_link, (void *)(intptr_t)(depth + 1)) != 0)
        atomic_fetch_add(&chain.spawn_failures, 1);
}

static void
stop_waits_for_every_task_including_those_spawned_by_tasks_during_the_stop(void **state) {
    (void)state;
    WATCH();
    memset(&chain, 0, sizeof chain);
    gort_test_set_workers(2);
    assert_int_equal(go_start(NULL), 0);
    for (int i = 0; i < CHAINS; i++)
        assert_int_equal(go_spawn(chain_link, (void *)(intptr_t)0), 0);
    /* Most links are spawned, by their predecessors, while go_stop waits. */
    assert_int_equal(go_stop(), 0);
    assert_int_equal(atomic_load(&chain.ran), CHAINS * CHAIN_DEPTH);
    assert_int_equal(atomic_load(&chain.spawn_failures), 0);
    assert_int_equal(atomic_load(&chain.deepest), CHAIN_DEPTH - 1);
    assert_int_equal(go_workers(), 0);
}

static void noop_task(void *arg) {
    (void)arg;
}

static void spawn_after_stop_is_canceled(void **state) {
    (void)state;
    WATCH();
    start_with(2);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(go_spawn(noop_task, NULL), GO_ECANCELED);
}

static void start_while_started_is_busy(void **state) {
    (void)state;
    WATCH();
    start_with(2);
    assert_int_equal(go_start(NULL), GO_EBUSY);
    go_config cfg = {.workers = 3};
    assert_int_equal(go_start(&cfg), GO_EBUSY);
    assert_int_equal(go_workers(), 2); /* the running runtime is untouched */
    assert_int_equal(go_stop(), 0);
}

static void stop_without_start_is_invalid(void **state) {
    (void)state;
    WATCH();
    assert_int_equal(go_stop(), GO_EINVAL);
    start_with(1);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(go_stop(), GO_EINVAL); /* and a second stop */
}

typedef struct from_task {
    int stop_rc, start_rc, main_rc, attach_rc;
    atomic_int main_ran;
    atomic_int stopping; /* the test's thread is about to call go_stop */
    atomic_int done;
} from_task;

static int main_from_task(void *arg) {
    atomic_store(&((from_task *)arg)->main_ran, 1);
    return 0;
}

static void stop_start_and_main_from_a_task(void *arg) {
    from_task *f = arg;
    f->stop_rc = go_stop();
    f->start_rc = go_start(NULL);
    f->main_rc = go_main(main_from_task, f);
    atomic_store(&f->done, 1);
}

static void stop_start_and_main_from_a_task_are_busy(void **state) {
    (void)state;
    WATCH();
    from_task f = {.stop_rc = 1, .start_rc = 1, .main_rc = 1};
    start_with(2);
    assert_int_equal(go_spawn(stop_start_and_main_from_a_task, &f), 0);
    gort_test_wait_flag(&f.done);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(f.stop_rc, GO_EBUSY);
    assert_int_equal(f.start_rc, GO_EBUSY);
    assert_int_equal(f.main_rc, GO_EBUSY);
    assert_int_equal(atomic_load(&f.main_ran), 0);
}

/* The same calls made while go_stop waits for the task: they must return, not
 * wait for the stop (which waits for them). */
static void stop_start_and_main_while_stopping(void *arg) {
    from_task *f = arg;
    while (!atomic_load(&f->stopping))
        go_yield();
    uv_sleep(20); /* go_stop is waiting for this task by now, most likely */
    stop_start_and_main_from_a_task(f);
}

static void stop_start_and_main_from_a_task_while_go_stop_waits_are_busy(void **state) {
    (void)state;
    WATCH();
    from_task f = {.stop_rc = 1, .start_rc = 1, .main_rc = 1};
    start_with(2);
    assert_int_equal(go_spawn(stop_start_and_main_while_stopping, &f), 0);
    atomic_store(&f.stopping, 1);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(atomic_load(&f.done), 1);
    assert_int_equal(f.stop_rc, GO_EBUSY);
    assert_int_equal(f.start_rc, GO_EBUSY);
    assert_int_equal(f.main_rc, GO_EBUSY);
    assert_int_equal(atomic_load(&f.main_ran), 0);
}

typedef struct cycle_run {
    atomic_int ran;
    uint64_t id;
    int workers_seen;
} cycle_run;

static void record_id(void *arg) {
    cycle_run *c = arg;
    c->id = go_task_id();
    c->workers_seen = go_workers();
    atomic_fetch_add(&c->ran, 1);
}

static void start_stop_start_stop_runs_tasks_each_time(void **state) {
    (void)state;
    WATCH();
    cycle_run c1 = {0}, c2 = {0};
    start_with(2);
    assert_int_equal(go_spawn(record_id, &c1), 0);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(go_workers(), 0);
    start_with(3);
    assert_int_equal(go_spawn(record_id, &c2), 0);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(atomic_load(&c1.ran), 1);
    assert_int_equal(atomic_load(&c2.ran), 1);
    assert_int_equal(c1.workers_seen, 2);
    assert_int_equal(c2.workers_seen, 3);
    assert_true(c1.id != 0);
    assert_true(c2.id > c1.id); /* ids never repeat in a process */
}

typedef struct where {
    atomic_int ran;
    int workers, index;
} where;

static void record_where(void *arg) {
    where *w = arg;
    w->workers = go_workers();
    w->index = gort_sched_worker_index();
    atomic_fetch_add(&w->ran, 1);
}

static void config_workers_is_honoured_over_the_environment(void **state) {
    (void)state;
    WATCH();
    gort_test_set_workers(1);
    go_config cfg = {.workers = 3};
    assert_int_equal(go_start(&cfg), 0);
    int from_main = go_workers();
    where w = {0};
    assert_int_equal(go_spawn(record_where, &w), 0);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(from_main, 3);
    assert_int_equal(atomic_load(&w.ran), 1);
    assert_int_equal(w.workers, 3);
    assert_true(w.index >= 0 && w.index < 3);
}

static void config_with_a_bad_value_is_invalid_and_starts_nothing(void **state) {
    (void)state;
    WATCH();
    go_config bad_workers = {.workers = -1};
    assert_int_equal(go_start(&bad_workers), GO_EINVAL);
    assert_int_equal(go_workers(), 0);
    assert_int_equal(go_stop(), GO_EINVAL);
    go_config bad_stack = {.stack_size = 1};
    assert_int_equal(go_start(&bad_stack), GO_EINVAL);
    assert_int_equal(go_workers(), 0);
    assert_int_equal(go_stop(), GO_EINVAL);
    /* Nothing was left half started. */
    start_with(1);
    assert_int_equal(go_stop(), 0);
}

static void maxprocs_in_the_environment_sets_the_worker_count(void **state) {
    (void)state;
    WATCH();
    setenv("GORT_MAXPROCS", "3", 1);
    go_config zero = {0};
    assert_int_equal(go_start(&zero), 0);
    int n = go_workers();
    assert_int_equal(go_stop(), 0);
    assert_int_equal(n, 3);
}

static void bad_maxprocs_prints_one_line_naming_it_and_uses_the_cpu_count(void **state) {
    (void)state;
    WATCH();
    setenv("GORT_MAXPROCS", "abc", 1);
    capture c;
    capture_begin(&c);
    int rc = go_start(NULL);
    int n = go_workers();
    capture_end(&c);
    if (rc == 0)
        assert_int_equal(go_stop(), 0);
    gort_test_set_workers(2);
    assert_int_equal(rc, 0);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(n, ncpu < 1 ? 1 : ncpu);
    assert_int_equal(count_all_lines(&c), 1);
    const char *needle[] = {"GORT_MAXPROCS"};
    assert_int_equal(count_lines(&c, 1, needle), 1);
}

static int must_not_run(void *arg) {
    atomic_store((atomic_int *)arg, 1);
    return 0;
}

static void main_while_started_is_busy(void **state) {
    (void)state;
    WATCH();
    atomic_int ran = 0;
    start_with(2);
    int rc = go_main(must_not_run, &ran);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(rc, GO_EBUSY);
    assert_int_equal(atomic_load(&ran), 0);
}

static int start_inside_main(void *arg) {
    *(int *)arg = go_start(NULL);
    return 0;
}

static void start_while_main_runs_is_busy(void **state) {
    (void)state;
    WATCH();
    int rc = 1;
    assert_int_equal(gort_test_run(2, start_inside_main, &rc), 0);
    assert_int_equal(rc, GO_EBUSY);
    assert_int_equal(go_stop(), GO_EINVAL);
}

/* =============================================================================================
 * 2. Spawning from threads that are not workers while the runtime starts and stops
 * ============================================================================================= */

#define SPAWN_THREADS 4
#define SPAWN_CYCLES 6
#define SPAWN_BUDGET 2500 /* spawns per thread and cycle */
#define SPAWN_SLOTS ((SPAWN_CYCLES + 1) * SPAWN_BUDGET)

enum { OUT_NONE, OUT_OK, OUT_CANCELED, OUT_OTHER };

typedef struct spawn_storm spawn_storm;

typedef struct spawner {
    spawn_storm *s;
    int n; /* slots used */
    unsigned char outcome[SPAWN_SLOTS];
    atomic_uchar ran[SPAWN_SLOTS]; /* each spawned task bumps its own slot */
    int late_ok;                   /* accepted although it began and ended after go_stop returned */
    int other_rc, other_rc_value;
    atomic_int epoch_seen;     /* the epoch the next two counters are about */
    atomic_int calls_in_epoch; /* calls that began and ended in that epoch */
    atomic_int budget_spent;   /* no more spawns in that epoch's cycle */
    int cycle_seen, spent;
} spawner;

struct spawn_storm {
    /* 2c+1 from just before the c-th go_start until its go_stop returned, then
     * 2c+2: a spawn that begins and ends with the same even epoch ran entirely
     * while the runtime was stopped. */
    atomic_int epoch;
    atomic_int quit;
    atomic_int ok_in_cycle;
    bool attach;         /* the threads are attached (through every stop and start) */
    atomic_int attached; /* threads that attached */
    int attach_rc[SPAWN_THREADS];
    spawner sp[SPAWN_THREADS];
};

static void mark_ran(void *arg) {
    atomic_fetch_add((atomic_uchar *)arg, 1);
}

static void spawner_thread(void *arg) {
    spawner *sp = arg;
    spawn_storm *s = sp->s;
    unsigned spins = 0;
    int last_epoch = -1;
    if (s->attach) {
        int rc = go_thread_attach();
        s->attach_rc[sp - s->sp] = rc;
        atomic_fetch_add(&s->attached, 1);
        if (rc != 0)
            return;
    }
    while (!atomic_load(&s->quit)) {
        int e1 = atomic_load(&s->epoch);
        if (e1 != last_epoch) {
            last_epoch = e1;
            if ((e1 + 1) / 2 != sp->cycle_seen) { /* a new cycle: 2c+1 and 2c+2 belong to c+1 */
                sp->cycle_seen = (e1 + 1) / 2;
                sp->spent = 0;
            }
            atomic_store(&sp->calls_in_epoch, 0);
            atomic_store(&sp->budget_spent, 0);
            atomic_store(&sp->epoch_seen, e1);
        }
        if (sp->spent == SPAWN_BUDGET || sp->n == SPAWN_SLOTS) {
            atomic_store(&sp->budget_spent, 1);
            go_safepoint(); /* attached: a pause must not wait for us */
            gort_test_relax(&spins);
            continue;
        }
        int slot = sp->n++;
        sp->spent++;
        int rc = go_spawn(mark_ran, &sp->ran[slot]);
        int e2 = atomic_load(&s->epoch);
        if (rc == 0) {
            sp->outcome[slot] = OUT_OK;
            atomic_fetch_add(&s->ok_in_cycle, 1);
            if (e1 == e2 && e1 % 2 == 0)
                sp->late_ok++;
        } else if (rc == GO_ECANCELED) {
            sp->outcome[slot] = OUT_CANCELED;
        } else {
            sp->outcome[slot] = OUT_OTHER;
            sp->other_rc++;
            sp->other_rc_value = rc;
        }
        if (e1 == e2)
            atomic_fetch_add(&sp->calls_in_epoch, 1);
        for (int i = 0; i < 16; i++)
            gort_test_relax(&spins);
    }
    if (s->attach)
        go_thread_detach();
}

/* Until every thread made `calls` calls in the current epoch, or spent its budget. */
static void wait_for_calls(spawn_storm *s, int calls) {
    unsigned spins = 0;
    int e = atomic_load(&s->epoch);
    for (int i = 0; i < SPAWN_THREADS; i++) {
        spawner *sp = &s->sp[i];
        while (atomic_load(&sp->epoch_seen) != e ||
               (atomic_load(&sp->calls_in_epoch) < calls && !atomic_load(&sp->budget_spent)))
            gort_test_relax(&spins);
    }
}

static bool all_budgets_spent(spawn_storm *s) {
    int e = atomic_load(&s->epoch);
    for (int i = 0; i < SPAWN_THREADS; i++)
        if (atomic_load(&s->sp[i].epoch_seen) != e || !atomic_load(&s->sp[i].budget_spent))
            return false;
    return true;
}

/* Threads spawn in a loop while the runtime starts and stops SPAWN_CYCLES
 * times. Unattached threads begin before the first start; attached threads
 * attach once the runtime runs and stay attached through every stop. */
static void run_spawn_storm(bool attach) {
    spawn_storm *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->attach = attach;
    if (attach) {
        atomic_store(&s->epoch, 1);
        start_with(2);
    }
    uv_thread_t th[SPAWN_THREADS];
    for (int i = 0; i < SPAWN_THREADS; i++) {
        s->sp[i].s = s;
        thread_start(&th[i], spawner_thread, &s->sp[i]);
    }
    if (attach)
        gort_test_wait_count(&s->attached, SPAWN_THREADS);
    else
        wait_for_calls(s, 20); /* spawns before the first start: all canceled */
    int ok_cycles = 0;
    for (int c = 0; c < SPAWN_CYCLES; c++) {
        if (c > 0 || !attach) {
            atomic_store(&s->ok_in_cycle, 0);
            atomic_store(&s->epoch, 2 * c + 1);
            start_with(2);
        }
        /* Let spawns succeed for a while (a slow start may use up the
         * threads' budgets on canceled spawns: then stop anyway). */
        unsigned spins = 0;
        while (atomic_load(&s->ok_in_cycle) < 200 && !all_budgets_spent(s))
            gort_test_relax(&spins);
        ok_cycles += atomic_load(&s->ok_in_cycle) > 0;
        assert_int_equal(go_stop(), 0);
        atomic_store(&s->epoch, 2 * c + 2);
        wait_for_calls(s, 20); /* spawns after the stop: all canceled */
    }
    atomic_store(&s->quit, 1);
    for (int i = 0; i < SPAWN_THREADS; i++)
        uv_thread_join(&th[i]);

    long ok = 0, canceled = 0;
    for (int i = 0; i < SPAWN_THREADS; i++) {
        spawner *sp = &s->sp[i];
        if (attach)
            assert_int_equal(s->attach_rc[i], 0);
        if (sp->other_rc != 0)
            fail_msg("thread %d: %d spawns returned %d", i, sp->other_rc, sp->other_rc_value);
        if (sp->late_ok != 0)
            fail_msg("thread %d: %d spawns that began and ended after go_stop returned "
                     "were accepted",
                     i, sp->late_ok);
        for (int k = 0; k < sp->n; k++) {
            int ran = atomic_load(&sp->ran[k]);
            if (sp->outcome[k] == OUT_OK && ran != 1)
                fail_msg("thread %d spawn %d returned 0 and its task ran %d times", i, k, ran);
            if (sp->outcome[k] == OUT_CANCELED && ran != 0)
                fail_msg("thread %d spawn %d was canceled and its task ran %d times", i, k, ran);
            ok += sp->outcome[k] == OUT_OK;
            canceled += sp->outcome[k] == OUT_CANCELED;
        }
    }
    assert_true(ok_cycles > 0); /* some spawns were accepted */
    assert_true(ok > 0);
    assert_true(canceled > 0);
    free(s);
}

static void spawns_from_threads_around_start_and_stop_run_once_or_are_canceled(void **state) {
    (void)state;
    WATCH();
    run_spawn_storm(false);
}

static void
spawns_from_attached_threads_around_stop_and_start_run_once_or_are_canceled(void **state) {
    (void)state;
    WATCH();
    run_spawn_storm(true);
}

/* =============================================================================================
 * 3. Attached threads
 * ============================================================================================= */

typedef struct attach_script {
    int rc_first, rc_second, rc_after_detach;
    atomic_int done;
} attach_script;

static void attach_twice_then_again_after_detach(void *arg) {
    attach_script *a = arg;
    a->rc_first = go_thread_attach();
    a->rc_second = go_thread_attach();
    go_thread_detach();
    a->rc_after_detach = go_thread_attach();
    if (a->rc_after_detach == 0)
        go_thread_detach();
    atomic_store(&a->done, 1);
}

static void attach_from_a_plain_thread_succeeds_and_a_second_attach_is_busy(void **state) {
    (void)state;
    WATCH();
    attach_script a = {.rc_first = 1, .rc_second = 1, .rc_after_detach = 1};
    start_with(2);
    uv_thread_t th;
    thread_start(&th, attach_twice_then_again_after_detach, &a);
    uv_thread_join(&th);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(a.rc_first, 0);
    assert_int_equal(a.rc_second, GO_EBUSY);
    assert_int_equal(a.rc_after_detach, 0);
}

static void attach_from_task(void *arg) {
    from_task *f = arg;
    f->attach_rc = go_thread_attach();
    go_thread_detach(); /* a no-op on a task: it is not attached */
    atomic_store(&f->done, 1);
}

static void attach_from_a_task_is_invalid(void **state) {
    (void)state;
    WATCH();
    from_task f = {.attach_rc = 1};
    start_with(2);
    assert_int_equal(go_spawn(attach_from_task, &f), 0);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(atomic_load(&f.done), 1);
    assert_int_equal(f.attach_rc, GO_EINVAL);
}

typedef struct not_running {
    int rc_stopped, rc_running;
    atomic_int phase; /* 1: the runtime runs now */
    atomic_int stage; /* 1: tried while stopped; 2: done */
} not_running;

static void attach_when_stopped_then_running(void *arg) {
    not_running *n = arg;
    n->rc_stopped = go_thread_attach();
    go_thread_detach(); /* not attached: a no-op */
    atomic_store(&n->stage, 1);
    plain_wait(&n->phase);
    n->rc_running = go_thread_attach();
    if (n->rc_running == 0)
        go_thread_detach();
    atomic_store(&n->stage, 2);
}

static void attach_while_the_runtime_is_not_running_is_canceled(void **state) {
    (void)state;
    WATCH();
    not_running n = {.rc_stopped = 1, .rc_running = 1};
    uv_thread_t th;
    thread_start(&th, attach_when_stopped_then_running, &n);
    gort_test_wait_count(&n.stage, 1);
    start_with(2);
    atomic_store(&n.phase, 1);
    gort_test_wait_count(&n.stage, 2);
    assert_int_equal(go_stop(), 0);
    uv_thread_join(&th);
    assert_int_equal(n.rc_stopped, GO_ECANCELED);
    assert_int_equal(n.rc_running, 0);
}

typedef struct detach_noop {
    int rc;
} detach_noop;

static void detach_then_attach(void *arg) {
    detach_noop *d = arg;
    go_thread_detach();
    go_thread_detach();
    d->rc = go_thread_attach();
    if (d->rc == 0)
        go_thread_detach();
}

static void detach_without_attach_is_a_no_op(void **state) {
    (void)state;
    WATCH();
    go_thread_detach(); /* the test's thread, with no runtime at all */
    detach_noop d = {.rc = 1};
    start_with(2);
    go_thread_detach(); /* the test's thread, while the runtime runs */
    uv_thread_t th;
    thread_start(&th, detach_then_attach, &d);
    uv_thread_join(&th);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(d.rc, 0);
}

/* ---- an attached thread spinning on go_safepoint, and pauses held by a task -------------- */

#define MAX_VISITED 64

typedef struct attached_spinner {
    int attach_rc;
    atomic_int attached; /* attach_rc is set */
    atomic_int stop;
    atomic_int detached;
    atomic_long progress;
    const void *_Atomic local;
} attached_spinner;

static void attached_spinner_thread(void *arg) {
    attached_spinner *a = arg;
    volatile long local = 0;
    a->attach_rc = go_thread_attach();
    atomic_store(&a->local, (const void *)&local);
    atomic_store(&a->attached, 1);
    if (a->attach_rc != 0)
        return;
    unsigned spins = 0;
    while (!atomic_load(&a->stop)) {
        atomic_fetch_add_explicit(&a->progress, 1, memory_order_relaxed);
        local++;
        go_safepoint();
        gort_test_relax(&spins);
    }
    go_thread_detach();
    atomic_store(&a->detached, 1);
}

typedef struct thread_visits {
    const void *local; /* the thread's local to look for */
    int total;         /* threads visited */
    int matched;       /* of which the range held local */
    gort_member *member;
    int bad_range, no_regs;
} thread_visits;

static void visit_thread(gort_member *m, const void *lo, const void *hi, const uintptr_t *regs,
                         size_t nregs, void *arg) {
    thread_visits *v = arg;
    v->total++;
    if (lo == NULL || hi == NULL || (const char *)lo >= (const char *)hi)
        v->bad_range++;
    if (regs == NULL || nregs == 0)
        v->no_regs++;
    if (inside(v->local, lo, hi)) {
        v->matched++;
        v->member = m;
    }
}

#define PAUSE_ROUNDS 20

typedef struct spinner_pauses {
    attached_spinner a;
    int rounds;
    int moved, visit_mismatch, bad_range, no_regs;
    long at_stop, at_start;
    int resumed;
} spinner_pauses;

static void pause_around_attached_spinner(void *arg) {
    spinner_pauses *p = arg;
    gort_test_wait_flag(&p->a.attached);
    for (int r = 0; r < PAUSE_ROUNDS; r++) {
        gort_stop_the_world(GORT_STW_TEST);
        long before = atomic_load(&p->a.progress);
        thread_visits v = {.local = atomic_load(&p->a.local)};
        gort_stw_visit_threads(visit_thread, &v);
        plain_spin(20000); /* give a thread that did not stop every chance to show */
        long after = atomic_load(&p->a.progress);
        gort_start_the_world();
        p->moved += before != after;
        p->visit_mismatch += v.matched != 1;
        p->bad_range += v.bad_range;
        p->no_regs += v.no_regs;
        p->at_stop = before;
        p->at_start = after;
        p->rounds++;
    }
    /* And it runs again afterwards. */
    unsigned spins = 0;
    while (atomic_load(&p->a.progress) <= p->at_start) {
        go_safepoint();
        gort_test_relax(&spins);
    }
    p->resumed = 1;
    atomic_store(&p->a.stop, 1);
}

/* Runs PAUSE_ROUNDS pauses from a task around an attached spinner thread;
 * the caller checks what they saw and frees the result. */
static spinner_pauses *run_pauses_around_attached_spinner(void) {
    spinner_pauses *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->a.attach_rc = 1;
    start_with(2);
    uv_thread_t th;
    thread_start(&th, attached_spinner_thread, &p->a);
    assert_int_equal(go_spawn(pause_around_attached_spinner, p), 0);
    assert_int_equal(go_stop(), 0);
    uv_thread_join(&th);
    assert_int_equal(p->a.attach_rc, 0);
    assert_int_equal(p->rounds, PAUSE_ROUNDS);
    return p;
}

static void attached_thread_makes_no_progress_while_a_task_holds_the_world_stopped(void **state) {
    (void)state;
    WATCH();
    spinner_pauses *p = run_pauses_around_attached_spinner();
    assert_int_equal(atomic_load(&p->a.detached), 1);
    assert_int_equal(p->moved, 0);
    assert_int_equal(p->resumed, 1);
    free(p);
}

static void visit_threads_gives_an_attached_thread_a_range_holding_its_locals(void **state) {
    (void)state;
    WATCH();
    spinner_pauses *p = run_pauses_around_attached_spinner();
    assert_int_equal(p->visit_mismatch, 0);
    assert_int_equal(p->bad_range, 0);
    assert_int_equal(p->no_regs, 0);
    free(p);
}

/* ---- an attached thread stopping the world ----------------------------------------------- */

typedef struct attached_requester {
    attached_spinner other; /* another attached thread, on go_safepoint */
    atomic_long task_progress;
    atomic_int task_running, task_stop;
    int attach_rc;
    const void *_Atomic local;
    int rounds, stopped_inside, moved_other, moved_task, self_matched, other_matched;
    atomic_int done;
} attached_requester;

static void safepoint_task(void *arg) {
    attached_requester *q = arg;
    atomic_store(&q->task_running, 1);
    while (!atomic_load(&q->task_stop)) {
        atomic_fetch_add_explicit(&q->task_progress, 1, memory_order_relaxed);
        go_safepoint();
    }
}

static void requester_attached_thread(void *arg) {
    attached_requester *q = arg;
    volatile long local = 0;
    atomic_store(&q->local, (const void *)&local);
    q->attach_rc = go_thread_attach();
    if (q->attach_rc == 0) {
        gort_test_wait_flag(&q->other.attached);
        gort_test_wait_flag(&q->task_running);
        for (int r = 0; r < PAUSE_ROUNDS; r++) {
            gort_stop_the_world(GORT_STW_TEST);
            q->stopped_inside += gort_stw_is_stopped();
            long other0 = atomic_load(&q->other.progress), task0 = atomic_load(&q->task_progress);
            thread_visits self = {.local = (const void *)&local};
            thread_visits other = {.local = atomic_load(&q->other.local)};
            gort_stw_visit_threads(visit_thread, &self);
            gort_stw_visit_threads(visit_thread, &other);
            plain_spin(20000);
            q->moved_other += atomic_load(&q->other.progress) != other0;
            q->moved_task += atomic_load(&q->task_progress) != task0;
            gort_start_the_world();
            q->self_matched += self.matched == 1;
            q->other_matched += other.matched == 1;
            q->rounds++;
            local++;
        }
        go_thread_detach();
    }
    atomic_store(&q->other.stop, 1);
    atomic_store(&q->task_stop, 1);
    atomic_store(&q->done, 1);
}

static void attached_thread_may_stop_the_world_and_sees_itself_stopped(void **state) {
    (void)state;
    WATCH();
    attached_requester *q = calloc(1, sizeof *q);
    assert_non_null(q);
    q->attach_rc = 1;
    q->other.attach_rc = 1;
    start_with(2);
    assert_int_equal(go_spawn(safepoint_task, q), 0);
    uv_thread_t other, req;
    thread_start(&other, attached_spinner_thread, &q->other);
    thread_start(&req, requester_attached_thread, q);
    uv_thread_join(&req);
    uv_thread_join(&other);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(q->attach_rc, 0);
    assert_int_equal(q->other.attach_rc, 0);
    assert_int_equal(q->rounds, PAUSE_ROUNDS);
    assert_int_equal(q->stopped_inside, PAUSE_ROUNDS);
    assert_int_equal(q->moved_other, 0);
    assert_int_equal(q->moved_task, 0);
    /* The requester's own stack is visited too, from where it asked. */
    assert_int_equal(q->self_matched, PAUSE_ROUNDS);
    assert_int_equal(q->other_matched, PAUSE_ROUNDS);
    free(q);
}

/* ---- spawning from an attached thread ---------------------------------------------------- */

typedef struct attached_spawn {
    int attach_rc, spawn_rc;
    atomic_int ran;
    uint64_t task_id;
} attached_spawn;

static void note_ran(void *arg) {
    attached_spawn *a = arg;
    a->task_id = go_task_id();
    atomic_store(&a->ran, 1);
}

static void spawn_from_attached(void *arg) {
    attached_spawn *a = arg;
    a->attach_rc = go_thread_attach();
    if (a->attach_rc != 0)
        return;
    a->spawn_rc = go_spawn(note_ran, a);
    if (a->spawn_rc == 0)
        gort_test_wait_flag(&a->ran); /* go_safepoint: a pause is not held up */
    go_thread_detach();
}

static void spawn_from_an_attached_thread_runs_the_task(void **state) {
    (void)state;
    WATCH();
    attached_spawn a = {.attach_rc = 1, .spawn_rc = 1};
    start_with(2);
    uv_thread_t th;
    thread_start(&th, spawn_from_attached, &a);
    uv_thread_join(&th);
    assert_int_equal(go_stop(), 0);
    assert_int_equal(a.attach_rc, 0);
    assert_int_equal(a.spawn_rc, 0);
    assert_int_equal(atomic_load(&a.ran), 1);
    assert_true(a.task_id != 0);
}

/* ---- attachment across go_stop and go_start ---------------------------------------------- */

typedef struct survivor {
    int rc_attach, rc_again, rc_after_detach;
    atomic_int attached, restarted, pause_done, finished;
    const void *_Atomic local;
    int visit_matched, paused;
} survivor;

static void survivor_thread(void *arg) {
    survivor *s = arg;
    volatile long local = 0;
    atomic_store(&s->local, (const void *)&local);
    s->rc_attach = go_thread_attach();
    atomic_store(&s->attached, 1);
    if (s->rc_attach != 0)
        return;
    unsigned spins = 0;
    while (!atomic_load(&s->restarted)) { /* through go_stop and go_start */
        local++;
        go_safepoint();
        gort_test_relax(&spins);
    }
    s->rc_again = go_thread_attach();
    while (!atomic_load(&s->pause_done)) { /* the pause waits for this thread */
        local++;
        go_safepoint();
        gort_test_relax(&spins);
    }
    go_thread_detach();
    s->rc_after_detach = go_thread_attach();
    if (s->rc_after_detach == 0)
        go_thread_detach();
    atomic_store(&s->finished, 1);
}

static void pause_seeing_survivor(void *arg) {
    survivor *s = arg;
    gort_stop_the_world(GORT_STW_TEST);
    thread_visits v = {.local = atomic_load(&s->local)};
    gort_stw_visit_threads(visit_thread, &v);
    gort_start_the_world();
    s->visit_matched = v.matched;
    s->paused = 1;
    atomic_store(&s->pause_done, 1);
}

static void attachment_survives_stop_and_start(void **state) {
    (void)state;
    WATCH();
    survivor s = {.rc_attach = 1, .rc_again = 1, .rc_after_detach = 1};
    start_with(2);
    uv_thread_t th;
    thread_start(&th, survivor_thread, &s);
    gort_test_wait_flag(&s.attached);
    assert_int_equal(go_stop(), 0);
    start_with(2);
    atomic_store(&s.restarted, 1);
    assert_int_equal(go_spawn(pause_seeing_survivor, &s), 0);
    gort_test_wait_flag(&s.finished); /* its last attach needs the runtime running */
    assert_int_equal(go_stop(), 0);
    uv_thread_join(&th);
    assert_int_equal(s.rc_attach, 0);
    assert_int_equal(s.rc_again, GO_EBUSY); /* still attached after the restart */
    assert_int_equal(s.paused, 1);
    assert_int_equal(s.visit_matched, 1);
    assert_int_equal(s.rc_after_detach, 0);
    assert_int_equal(atomic_load(&s.finished), 1);
}

/* =============================================================================================
 * 4. Blocking regions
 * ============================================================================================= */

/* Something inside a blocking region (a task or an attached thread), and the
 * task that pauses or claims around it. */
typedef struct region {
    int attach_rc;
    atomic_int inside;   /* entered the region */
    atomic_int go_leave; /* may leave now */
    atomic_int leaving;  /* about to call go_blocking_leave */
    atomic_int left;     /* go_blocking_leave returned */
    atomic_int finish;   /* an attached thread may detach and end */
    const void *_Atomic local;
    gort_task *_Atomic task;
    int worker_before, worker_after;
    bool use_call;
    void *call_result;
    /* What the pausing or claiming task saw. */
    int paused, left_while_held, visit_matched, visit_count;
    const void *lo, *hi;
    const uintptr_t *regs;
    size_t nregs;
    bool claimed, claimed_in_pause, claim_after_leave;
    int hold_ms; /* > 0: the holder releases the region before restarting, waits this long */
} region;

/* The region's body, on the region's own frames: no runtime call. */
static void *region_body(void *arg) {
    region *r = arg;
    atomic_store(&r->inside, 1);
    plain_wait(&r->go_leave);
    atomic_store(&r->leaving, 1);
    return (void *)((char *)r + 1);
}

static void region_task(void *arg) {
    region *r = arg;
    volatile long local = 1;
    atomic_store(&r->local, (const void *)&local);
    atomic_store(&r->task, gort_sched_current_task());
    r->worker_before = gort_sched_worker_index();
    if (r->use_call) {
        r->call_result = go_blocking_call(region_body, r);
    } else {
        go_blocking_enter();
        region_body(r);
        go_blocking_leave();
    }
    atomic_store(&r->left, 1);
    local++;
    r->worker_after = gort_sched_worker_index();
}

static void region_thread(void *arg) {
    region *r = arg;
    volatile long local = 1;
    atomic_store(&r->local, (const void *)&local);
    r->attach_rc = go_thread_attach();
    if (r->attach_rc != 0) {
        atomic_store(&r->inside, -1);
        return;
    }
    if (r->use_call) {
        r->call_result = go_blocking_call(region_body, r);
    } else {
        go_blocking_enter();
        region_body(r);
        go_blocking_leave();
    }
    atomic_store(&r->left, 1);
    unsigned spins = 0;
    while (!atomic_load(&r->finish)) {
        local++;
        go_safepoint();
        gort_test_relax(&spins);
    }
    go_thread_detach();
}

static void wait_inside(region *r) {
    unsigned spins = 0;
    while (atomic_load(&r->inside) == 0) {
        go_safepoint();
        gort_test_relax(&spins);
    }
}

static void visit_task(gort_task *t, const void *lo, const void *hi, void *arg) {
    region *r = arg;
    if (t != atomic_load(&r->task))
        return;
    r->visit_count++;
    r->lo = lo;
    r->hi = hi;
    r->visit_matched += inside(atomic_load(&r->local), lo, hi);
}

static void visit_region_thread(gort_member *m, const void *lo, const void *hi,
                                const uintptr_t *regs, size_t nregs, void *arg) {
    region *r = arg;
    (void)m;
    if (inside(atomic_load(&r->local), lo, hi)) {
        r->visit_matched++;
        r->lo = lo;
        r->hi = hi;
        r->regs = regs;
        r->nregs = nregs;
    }
}

/* A task pauses while r sits in its region: the pause completes. With
 * hold_ms, the region is told to leave during the pause, and whether leave
 * returned is sampled just before the restart. */
static void pause_around_region(void *arg) {
    region *r = arg;
    wait_inside(r);
    if (r->inside < 0)
        return;
    gort_stop_the_world(GORT_STW_TEST);
    if (atomic_load(&r->task) != NULL) {
        gort_stw_visit_tasks(visit_task, r);
        r->regs = gort_sched_task_region_regs(atomic_load(&r->task), &r->nregs);
    } else {
        gort_stw_visit_threads(visit_region_thread, r);
    }
    if (r->hold_ms > 0) {
        atomic_store(&r->go_leave, 1);
        plain_wait(&r->leaving);
        uv_sleep((unsigned)r->hold_ms); /* give go_blocking_leave every chance to return */
        r->left_while_held = atomic_load(&r->left);
    }
    r->paused = 1;
    gort_start_the_world();
    atomic_store(&r->go_leave, 1); /* only now, after the pause completed */
    gort_test_wait_flag(&r->left);
    atomic_store(&r->finish, 1);
}

static void run_thread_region(region *r) {
    r->attach_rc = 1;
    start_with(2);
    uv_thread_t th;
    thread_start(&th, region_thread, r);
    assert_int_equal(go_spawn(pause_around_region, r), 0);
    assert_int_equal(go_stop(), 0);
    uv_thread_join(&th);
    assert_int_equal(r->attach_rc, 0);
}

static void run_task_region(region *r) {
    start_with(2);
    assert_int_equal(go_spawn(region_task, r), 0);
    assert_int_equal(go_spawn(pause_around_region, r), 0);
    assert_int_equal(go_stop(), 0);
}

static void pause_completes_while_an_attached_thread_sits_in_a_blocking_region(void **state) {
    (void)state;
    WATCH();
    region r = {0};
    run_thread_region(&r);
    assert_int_equal(r.paused, 1);
    assert_int_equal(atomic_load(&r.left), 1);
    assert_int_equal(r.visit_matched, 1); /* frozen range: from its enter up to its stack base */
    assert_non_null(r.regs);
    assert_true(r.nregs > 0);
}

static void
pause_completes_while_a_task_sits_in_a_blocking_region_and_it_keeps_its_worker(void **state) {
    (void)state;
    WATCH();
    region r = {0};
    run_task_region(&r);
    assert_int_equal(r.paused, 1);
    assert_int_equal(atomic_load(&r.left), 1);
    assert_int_equal(r.worker_before, r.worker_after);
}

static void blocking_leave_of_an_attached_thread_waits_until_the_pause_ends(void **state) {
    (void)state;
    WATCH();
    region r = {.hold_ms = 50};
    run_thread_region(&r);
    assert_int_equal(r.paused, 1);
    assert_int_equal(r.left_while_held, 0);
    assert_int_equal(atomic_load(&r.left), 1);
}

static void blocking_leave_of_a_task_waits_until_the_pause_ends(void **state) {
    (void)state;
    WATCH();
    region r = {.hold_ms = 50};
    run_task_region(&r);
    assert_int_equal(r.paused, 1);
    assert_int_equal(r.left_while_held, 0);
    assert_int_equal(atomic_load(&r.left), 1);
}

static void blocking_call_from_a_task_returns_fns_result_and_runs_it_as_a_region(void **state) {
    (void)state;
    WATCH();
    region r = {.use_call = true};
    run_task_region(&r);
    assert_int_equal(r.paused, 1); /* the pause completed while fn blocked */
    assert_ptr_equal(r.call_result, (char *)&r + 1);
    assert_int_equal(r.visit_count, 1);
    assert_int_equal(r.visit_matched, 1);
}

static void
blocking_call_from_an_attached_thread_returns_fns_result_and_runs_it_as_a_region(void **state) {
    (void)state;
    WATCH();
    region r = {.use_call = true};
    run_thread_region(&r);
    assert_int_equal(r.paused, 1);
    assert_ptr_equal(r.call_result, (char *)&r + 1);
    assert_int_equal(r.visit_matched, 1);
}

static void visit_tasks_gives_a_task_in_a_region_its_frozen_range_and_registers(void **state) {
    (void)state;
    WATCH();
    region r = {0};
    run_task_region(&r);
    assert_int_equal(r.visit_count, 1);
    assert_int_equal(r.visit_matched, 1); /* a local of the caller of go_blocking_enter */
    assert_non_null(r.regs);
    assert_int_equal(r.nregs, 6);
}

typedef struct one_pause {
    atomic_int done;
} one_pause;

static void pause_once(void *arg) {
    gort_stop_the_world(GORT_STW_TEST);
    gort_start_the_world();
    atomic_store(&((one_pause *)arg)->done, 1);
}

static void blocking_enter_and_leave_on_an_unattached_thread_are_no_ops(void **state) {
    (void)state;
    WATCH();
    region r = {.go_leave = 1};
    one_pause p = {0};
    start_with(2);
    go_blocking_enter(); /* the test's thread is not attached */
    go_blocking_leave();
    void *res = go_blocking_call(region_body, &r); /* runs fn, nothing else */
    /* A pause from a task is held up by none of it. */
    assert_int_equal(go_spawn(pause_once, &p), 0);
    assert_int_equal(go_stop(), 0);
    assert_ptr_equal(res, (char *)&r + 1);
    assert_int_equal(atomic_load(&r.inside), 1);
    assert_int_equal(atomic_load(&p.done), 1);
}

/* ---- claims of what sits in a region ----------------------------------------------------- */

static void claim_task_in_region(void *arg) {
    region *r = arg;
    wait_inside(r);
    gort_task *t = atomic_load(&r->task);

    /* While stopped: claims are switched on, and a claim succeeds. */
    gort_stop_the_world(GORT_STW_TEST);
    gort_sched_claims_enable(true);
    const void *lo, *hi;
    r->claimed_in_pause = gort_sched_task_claim(t, &lo, &hi);
    if (r->claimed_in_pause)
        gort_sched_task_unclaim(t);
    gort_start_the_world(); /* claims stay on */

    /* While the world runs: the claim holds go_blocking_leave. */
    r->claimed = gort_sched_task_claim(t, &r->lo, &r->hi);
    if (r->claimed) {
        r->visit_matched = inside(atomic_load(&r->local), r->lo, r->hi);
        atomic_store(&r->go_leave, 1);
        plain_wait(&r->leaving);
        uv_sleep(50); /* claims are runtime locks: no safepoint while held */
        r->left_while_held = atomic_load(&r->left);
        gort_sched_task_unclaim(t);
    } else {
        atomic_store(&r->go_leave, 1);
    }
    gort_test_wait_flag(&r->left);
    claims_enable(false);
}

static void claimed_task_in_a_region_does_not_leave_it_until_unclaimed(void **state) {
    (void)state;
    WATCH();
    region r = {0};
    start_with(2);
    assert_int_equal(go_spawn(region_task, &r), 0);
    assert_int_equal(go_spawn(claim_task_in_region, &r), 0);
    assert_int_equal(go_stop(), 0);
    assert_true(r.claimed_in_pause);
    assert_true(r.claimed);
    assert_int_equal(r.visit_matched, 1);
    assert_int_equal(r.left_while_held, 0);
    assert_int_equal(atomic_load(&r.left), 1);
}

static void claim_thread_in_region(void *arg) {
    region *r = arg;
    wait_inside(r);
    if (r->inside < 0)
        return;
    /* Find the thread's member through a visit. */
    gort_stop_the_world(GORT_STW_TEST);
    thread_visits v = {.local = atomic_load(&r->local)};
    gort_stw_visit_threads(visit_thread, &v);
    gort_start_the_world();
    if (v.matched == 1) {
        const uintptr_t *regs = NULL;
        r->claimed = gort_sched_thread_claim(v.member, &r->lo, &r->hi, &regs);
        if (r->claimed) {
            r->regs = regs;
            r->visit_matched = inside(atomic_load(&r->local), r->lo, r->hi);
            atomic_store(&r->go_leave, 1);
            plain_wait(&r->leaving);
            uv_sleep(50);
            r->left_while_held = atomic_load(&r->left);
            gort_sched_thread_unclaim(v.member);
        }
    }
    atomic_store(&r->go_leave, 1);
    gort_test_wait_flag(&r->left);
    /* Out of its region (spinning on go_safepoint), it cannot be claimed. */
    if (v.matched == 1) {
        const void *lo, *hi;
        const uintptr_t *regs;
        r->claim_after_leave = gort_sched_thread_claim(v.member, &lo, &hi, &regs);
        if (r->claim_after_leave)
            gort_sched_thread_unclaim(v.member);
    }
    atomic_store(&r->finish, 1);
}

static void claimed_attached_thread_in_a_region_does_not_leave_it_until_unclaimed(void **state) {
    (void)state;
    WATCH();
    region r = {.attach_rc = 1};
    start_with(2);
    uv_thread_t th;
    thread_start(&th, region_thread, &r);
    assert_int_equal(go_spawn(claim_thread_in_region, &r), 0);
    assert_int_equal(go_stop(), 0);
    uv_thread_join(&th);
    assert_int_equal(r.attach_rc, 0);
    assert_true(r.claimed);
    assert_int_equal(r.visit_matched, 1);
    assert_non_null(r.regs);
    assert_int_equal(r.left_while_held, 0);
    assert_int_equal(atomic_load(&r.left), 1);
    assert_false(r.claim_after_leave);
}

/* =============================================================================================
 * 5. Time slices (the monitor thread, 10 ms)
 * ============================================================================================= */

/* If a task is starved, the watchdog below ends the test's loops so that it
 * fails instead of hanging. */
#define STARVE_SECONDS 20

typedef struct starve_guard {
    atomic_int *flag;
    atomic_int finished;
    atomic_int fired;
} starve_guard;

static void starve_guard_thread(void *arg) {
    starve_guard *g = arg;
    int64_t deadline = go_now() + (int64_t)STARVE_SECONDS * 1000000000;
    while (!atomic_load(&g->finished)) {
        if (go_now() > deadline && !atomic_load(g->flag)) {
            atomic_store(&g->fired, 1);
            atomic_store(g->flag, 1);
        }
        uv_sleep(10);
    }
}

typedef struct slice_spin {
    atomic_int flag;
    atomic_int exited;
    atomic_long spins;
    int main_set_flag;
    starve_guard guard;
} slice_spin;

static void safepoint_spinner(void *arg) {
    slice_spin *s = arg;
    while (!atomic_load(&s->flag)) {
        atomic_fetch_add_explicit(&s->spins, 1, memory_order_relaxed);
        go_safepoint();
    }
    atomic_store(&s->exited, 1);
}

static int main_outlives_a_spinner(void *arg) {
    slice_spin *s = arg;
    uv_thread_t g;
    if (uv_thread_create(&g, starve_guard_thread, &s->guard) != 0)
        return -1;
    if (go_spawn(safepoint_spinner, s) != 0)
        return -2;
    /* The spinner runs once we yield; it never yields itself, so only its
     * slice running out brings us back. */
    while (atomic_load(&s->spins) == 0)
        go_yield();
    if (atomic_exchange(&s->flag, 1) == 0)
        s->main_set_flag = 1;
    gort_test_yield_until(&s->exited, 1);
    atomic_store(&s->guard.finished, 1);
    uv_thread_join(&g);
    return 0;
}

static void task_spinning_on_safepoints_cannot_starve_main_on_one_worker(void **state) {
    (void)state;
    WATCH();
    slice_spin *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->guard.flag = &s->flag;
    assert_int_equal(gort_test_run(1, main_outlives_a_spinner, s), 0);
    assert_int_equal(atomic_load(&s->guard.fired), 0);
    assert_int_equal(s->main_set_flag, 1);
    free(s);
}

typedef struct ping_pong {
    gort_test_sema a, b, done;
    atomic_int flag;
    atomic_long exchanges;
    atomic_int exited;
    int third_set_flag;
    starve_guard guard;
} ping_pong;

static void ping(void *arg) {
    ping_pong *p = arg;
    gort_test_sema_post(&p->b);
    for (;;) {
        gort_test_sema_wait(&p->a);
        atomic_fetch_add(&p->exchanges, 1);
        gort_test_sema_post(&p->b);
        if (atomic_load(&p->flag))
            break;
    }
    atomic_fetch_add(&p->exited, 1);
}

static void pong(void *arg) {
    ping_pong *p = arg;
    for (;;) {
        gort_test_sema_wait(&p->b);
        atomic_fetch_add(&p->exchanges, 1);
        gort_test_sema_post(&p->a);
        if (atomic_load(&p->flag))
            break;
    }
    atomic_fetch_add(&p->exited, 1);
}

/* Queued before the ping-pong starts; once it has stepped behind the
 * ping-pong, only the end of a time slice brings it back: the two keep
 * handing the worker to each other through runnext. */
static void third(void *arg) {
    ping_pong *p = arg;
    while (atomic_load(&p->exchanges) < 2)
        go_yield();
    if (atomic_exchange(&p->flag, 1) == 0)
        p->third_set_flag = 1;
    gort_test_sema_post(&p->done);
}

static int main_of_ping_pong(void *arg) {
    ping_pong *p = arg;
    uv_thread_t g;
    if (uv_thread_create(&g, starve_guard_thread, &p->guard) != 0)
        return -1;
    if (go_spawn(third, p) != 0 || go_spawn(ping, p) != 0 || go_spawn(pong, p) != 0)
        return -2;
    gort_test_sema_wait(&p->done);
    gort_test_yield_until(&p->exited, 2);
    atomic_store(&p->guard.finished, 1);
    uv_thread_join(&g);
    return 0;
}

static void
ping_pong_through_park_and_ready_cannot_starve_a_third_task_on_one_worker(void **state) {
    (void)state;
    WATCH();
    ping_pong *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->guard.flag = &p->flag;
    assert_int_equal(gort_test_run(1, main_of_ping_pong, p), 0);
    assert_int_equal(atomic_load(&p->guard.fired), 0);
    assert_int_equal(p->third_set_flag, 1);
    free(p);
}

/* =============================================================================================
 * 6. Stall reports
 * ============================================================================================= */

#define STALL_NS 1500000000LL

typedef struct stall {
    atomic_uint_least64_t id;
    atomic_int done;
} stall;

static void spin_without_safepoints(void *arg) {
    stall *s = arg;
    atomic_store(&s->id, go_task_id());
    int64_t end = go_now() + STALL_NS;
    unsigned spins = 0;
    while (go_now() < end)
        gort_test_relax(&spins);
    atomic_store(&s->done, 1);
}

static void
task_away_from_safepoints_for_over_a_second_is_reported_once_with_id_and_name(void **state) {
    (void)state;
    WATCH();
    stall s = {0};
    capture c;
    capture_begin(&c);
    go_config cfg = {.workers = 2};
    go_spawn_opts opts = {.name = "stall-spinner"};
    int rc = go_start(&cfg);
    int spawn_rc = rc == 0 ? go_spawn_with(spin_without_safepoints, &s, &opts) : -1;
    int stop_rc = rc == 0 ? go_stop() : -1;
    capture_end(&c);
    assert_int_equal(rc, 0);
    assert_int_equal(spawn_rc, 0);
    assert_int_equal(stop_rc, 0);
    assert_int_equal(atomic_load(&s.done), 1);
    char task[64];
    snprintf(task, sizeof task, "gort: task %llu ", (unsigned long long)atomic_load(&s.id));
    const char *both[] = {task, "(stall-spinner)", "away from a safepoint"};
    const char *any[] = {"away from a safepoint"};
    assert_int_equal(count_lines(&c, 3, both), 1);
    assert_int_equal(count_lines(&c, 1, any), 1);
}

static void sleep_in_region(void *arg) {
    stall *s = arg;
    atomic_store(&s->id, go_task_id());
    go_blocking_enter();
    uv_sleep((unsigned)(STALL_NS / 1000000));
    go_blocking_leave();
    atomic_store(&s->done, 1);
}

static void task_blocked_in_a_region_for_over_a_second_is_not_reported(void **state) {
    (void)state;
    WATCH();
    stall s = {0};
    capture c;
    capture_begin(&c);
    go_config cfg = {.workers = 2};
    int rc = go_start(&cfg);
    int spawn_rc = rc == 0 ? go_spawn(sleep_in_region, &s) : -1;
    int stop_rc = rc == 0 ? go_stop() : -1;
    capture_end(&c);
    assert_int_equal(rc, 0);
    assert_int_equal(spawn_rc, 0);
    assert_int_equal(stop_rc, 0);
    assert_int_equal(atomic_load(&s.done), 1);
    const char *any[] = {"away from a safepoint"};
    assert_int_equal(count_lines(&c, 1, any), 0);
}

/* ============================================================================================= */

static int group_setup(void **state) {
    (void)state;
    return gort_test_watchdog_start("test_embed", WATCH_SECONDS) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    gort_test_watchdog_stop();
    return 0;
}

/* Every test leaves the runtime stopped and GORT_MAXPROCS at 2. */
static int test_teardown(void **state) {
    (void)state;
    gort_test_set_workers(2);
    return 0;
}

#define T(f) cmocka_unit_test_teardown(f, test_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        /* 1. go_start / go_stop */
        T(stop_waits_for_every_task_including_those_spawned_by_tasks_during_the_stop),
        T(spawn_after_stop_is_canceled),
        T(start_while_started_is_busy),
        T(stop_without_start_is_invalid),
        T(stop_start_and_main_from_a_task_are_busy),
        T(stop_start_and_main_from_a_task_while_go_stop_waits_are_busy),
        T(start_stop_start_stop_runs_tasks_each_time),
        T(config_workers_is_honoured_over_the_environment),
        T(config_with_a_bad_value_is_invalid_and_starts_nothing),
        T(maxprocs_in_the_environment_sets_the_worker_count),
        T(bad_maxprocs_prints_one_line_naming_it_and_uses_the_cpu_count),
        T(main_while_started_is_busy),
        T(start_while_main_runs_is_busy),
        /* 2. spawning from other threads around start and stop */
        T(spawns_from_threads_around_start_and_stop_run_once_or_are_canceled),
        T(spawns_from_attached_threads_around_stop_and_start_run_once_or_are_canceled),
        /* 3. attached threads */
        T(attach_from_a_plain_thread_succeeds_and_a_second_attach_is_busy),
        T(attach_from_a_task_is_invalid),
        T(attach_while_the_runtime_is_not_running_is_canceled),
        T(detach_without_attach_is_a_no_op),
        T(attached_thread_makes_no_progress_while_a_task_holds_the_world_stopped),
        T(visit_threads_gives_an_attached_thread_a_range_holding_its_locals),
        T(attached_thread_may_stop_the_world_and_sees_itself_stopped),
        T(spawn_from_an_attached_thread_runs_the_task),
        T(attachment_survives_stop_and_start),
        /* 4. blocking regions */
        T(pause_completes_while_an_attached_thread_sits_in_a_blocking_region),
        T(pause_completes_while_a_task_sits_in_a_blocking_region_and_it_keeps_its_worker),
        T(blocking_leave_of_an_attached_thread_waits_until_the_pause_ends),
        T(blocking_leave_of_a_task_waits_until_the_pause_ends),
        T(blocking_call_from_a_task_returns_fns_result_and_runs_it_as_a_region),
        T(blocking_call_from_an_attached_thread_returns_fns_result_and_runs_it_as_a_region),
        T(visit_tasks_gives_a_task_in_a_region_its_frozen_range_and_registers),
        T(blocking_enter_and_leave_on_an_unattached_thread_are_no_ops),
        T(claimed_task_in_a_region_does_not_leave_it_until_unclaimed),
        T(claimed_attached_thread_in_a_region_does_not_leave_it_until_unclaimed),
        /* 5. time slices */
        T(task_spinning_on_safepoints_cannot_starve_main_on_one_worker),
        T(ping_pong_through_park_and_ready_cannot_starve_a_third_task_on_one_worker),
        /* 6. stall reports */
        T(task_away_from_safepoints_for_over_a_second_is_reported_once_with_id_and_name),
        T(task_blocked_in_a_region_for_over_a_second_is_not_reported),
    };
    gort_test_set_workers(2);
    const char *filter = getenv("TEST_EMBED_FILTER"); /* e.g. "*region*", to run a few */
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    const char *skip = getenv("TEST_EMBED_SKIP"); /* e.g. "*stall*" */
    if (skip != NULL)
        cmocka_set_skip_filter(skip);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
