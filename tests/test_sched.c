/* test_sched.c - the scheduler through its public API (gort/task.h): go_main,
 * spawning from tasks and from other threads, yield, ids, workers, stats,
 * safepoints off a task, what happens to tasks left behind by main_fn, and
 * the stacks of finished tasks going back to the OS.
 *
 * Every test runs the runtime inside go_main; main_fn and its tasks record what
 * they see into plain structs and atomics, and the cmocka assertions run on
 * the test's own thread after go_main returned (cmocka is not thread-safe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

/* ---- go_main ------------------------------------------------------------------ */

static int return_arg(void *arg) {
    return (int)(intptr_t)arg;
}

static void main_returns_the_result_of_main_fn(void **state) {
    (void)state;
    assert_int_equal(gort_test_run(2, return_arg, (void *)(intptr_t)42), 42);
    assert_int_equal(gort_test_run(2, return_arg, (void *)(intptr_t)-7), -7);
}

static void main_rejects_a_null_main_fn(void **state) {
    (void)state;
    assert_int_equal(go_main(NULL, NULL), GO_EINVAL);
}

typedef struct twice {
    atomic_int ran;
    atomic_long sum;
} twice;

static void add_one(void *arg) {
    twice *t = arg;
    atomic_fetch_add(&t->sum, 1);
    atomic_fetch_add(&t->ran, 1);
}

static int spawn_ten_and_wait(void *arg) {
    twice *t = arg;
    atomic_store(&t->ran, 0);
    for (int i = 0; i < 10; i++)
        if (go_spawn(add_one, t) != 0)
            return -1;
    gort_test_yield_until(&t->ran, 10);
    return 10;
}

static void main_can_run_twice_in_a_row(void **state) {
    (void)state;
    twice t = {0};
    assert_int_equal(gort_test_run(2, spawn_ten_and_wait, &t), 10);
    assert_int_equal(gort_test_run(3, spawn_ten_and_wait, &t), 10);
    assert_int_equal(atomic_load(&t.sum), 20);
}

static int nested_main(void *arg) {
    *(int *)arg = go_main(return_arg, NULL);
    return 0;
}

static void main_from_within_main_returns_busy(void **state) {
    (void)state;
    int nested = 0;
    assert_int_equal(gort_test_run(2, nested_main, &nested), 0);
    assert_int_equal(nested, GO_EBUSY);
}

typedef struct concurrent_main {
    atomic_int running; /* the first runtime's main_fn has started */
    atomic_int second_rc_set;
    int second_rc;
} concurrent_main;

static void second_main_thread(void *arg) {
    concurrent_main *c = arg;
    gort_test_wait_flag(&c->running);
    c->second_rc = go_main(return_arg, NULL);
    atomic_store(&c->second_rc_set, 1);
}

static int first_main(void *arg) {
    concurrent_main *c = arg;
    uv_thread_t th;
    if (uv_thread_create(&th, second_main_thread, c) != 0)
        return -1;
    atomic_store(&c->running, 1);
    gort_test_yield_until(&c->second_rc_set, 1); /* the runtime stays up meanwhile */
    uv_thread_join(&th);
    return 0;
}

static void main_from_another_thread_while_running_returns_busy(void **state) {
    (void)state;
    concurrent_main c = {0};
    assert_int_equal(gort_test_run(2, first_main, &c), 0);
    assert_int_equal(c.second_rc, GO_EBUSY);
}

/* ---- go_spawn: arguments --------------------------------------------------------- */

typedef struct spawn_errors {
    int null_fn, null_fn_with;
    int tiny_stack, huge_stack, max_stack;
} spawn_errors;

static void never_runs(void *arg) {
    (void)arg;
}

static int try_bad_spawns(void *arg) {
    spawn_errors *e = arg;
    e->null_fn = go_spawn(NULL, NULL);
    e->null_fn_with = go_spawn_with(NULL, NULL, NULL);
    go_spawn_opts tiny = {.stack_size = 1};
    e->tiny_stack = go_spawn_with(never_runs, NULL, &tiny);
    go_spawn_opts huge = {.stack_size = (size_t)2 << 30};
    e->huge_stack = go_spawn_with(never_runs, NULL, &huge);
    go_spawn_opts max = {.stack_size = SIZE_MAX};
    e->max_stack = go_spawn_with(never_runs, NULL, &max);
    return 0;
}

static void spawn_of_a_null_fn_is_invalid(void **state) {
    (void)state;
    spawn_errors e = {0};
    assert_int_equal(gort_test_run(2, try_bad_spawns, &e), 0);
    assert_int_equal(e.null_fn, GO_EINVAL);
    assert_int_equal(e.null_fn_with, GO_EINVAL);
}

static void spawn_with_a_stack_size_out_of_range_is_invalid(void **state) {
    (void)state;
    spawn_errors e = {0};
    assert_int_equal(gort_test_run(2, try_bad_spawns, &e), 0);
    assert_int_equal(e.tiny_stack, GO_EINVAL);
    assert_int_equal(e.huge_stack, GO_EINVAL);
    assert_int_equal(e.max_stack, GO_EINVAL);
}

typedef struct named {
    char buf[32];
    atomic_int done;
    char seen[32];
    int rc;
} named;

static void record_name(void *arg) {
    named *n = arg;
    char name[32];
    gort_sched_task_name(gort_sched_current_task(), name);
    snprintf(n->seen, sizeof n->seen, "%s", name);
    atomic_store(&n->done, 1);
}

static int spawn_named(void *arg) {
    named *n = arg;
    strcpy(n->buf, "worker-7");
    go_spawn_opts opts = {.name = n->buf};
    n->rc = go_spawn_with(record_name, n, &opts);
    /* One worker: the task has not run yet, so this proves the copy. */
    strcpy(n->buf, "clobbered");
    gort_test_yield_until(&n->done, 1);
    return 0;
}

static void spawn_with_a_name_gives_the_task_a_copy_of_it(void **state) {
    (void)state;
    named n = {0};
    assert_int_equal(gort_test_run(1, spawn_named, &n), 0);
    assert_int_equal(n.rc, 0);
    assert_string_equal(n.seen, "worker-7");
}

typedef struct big_stack {
    atomic_int done;
    int rc;
    long sum;
} big_stack;

#define BIG_FRAME (200 * 1024)

static __attribute__((noinline)) long use_200k_of_stack(void) {
    volatile unsigned char frame[BIG_FRAME];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)i;
    long sum = 0;
    for (size_t i = 0; i < sizeof frame; i += 4096)
        sum += frame[i] + 1;
    return sum;
}

static void deep_task(void *arg) {
    big_stack *b = arg;
    b->sum = use_200k_of_stack();
    atomic_store(&b->done, 1);
}

static int spawn_big(void *arg) {
    big_stack *b = arg;
    go_spawn_opts opts = {.stack_size = (size_t)1 << 20, .name = "deep"};
    b->rc = go_spawn_with(deep_task, b, &opts);
    if (b->rc == 0)
        gort_test_yield_until(&b->done, 1);
    return 0;
}

static void spawn_with_a_1mib_stack_runs_a_task_using_200kib_of_it(void **state) {
    (void)state;
    big_stack b = {0};
    assert_int_equal(gort_test_run(2, spawn_big, &b), 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.sum, BIG_FRAME / 4096 + (BIG_FRAME % 4096 != 0));
}

#define ENV_FRAME (400 * 1024)

static __attribute__((noinline)) long use_400k_of_stack(void) {
    volatile unsigned char frame[ENV_FRAME];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)i;
    long sum = 0;
    for (size_t i = 0; i < sizeof frame; i += 4096)
        sum += frame[i] + 1;
    return sum;
}

static void env_deep_task(void *arg) {
    big_stack *b = arg;
    b->sum = use_400k_of_stack();
    atomic_store(&b->done, 1);
}

static int spawn_env_deep(void *arg) {
    big_stack *b = arg;
    b->rc = go_spawn(env_deep_task, b); /* the default stack size */
    if (b->rc == 0)
        gort_test_yield_until(&b->done, 1);
    return 0;
}

static void gort_stack_size_sets_the_default_stack_of_tasks(void **state) {
    (void)state;
    /* Larger than every build's built-in default (64 KiB, 256 KiB with
     * sanitizers): without the variable the task would overflow and abort. */
    big_stack b = {0};
    setenv("GORT_STACK_SIZE", "1M", 1);
    int rc = gort_test_run(2, spawn_env_deep, &b);
    unsetenv("GORT_STACK_SIZE");
    assert_int_equal(rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.sum, ENV_FRAME / 4096 + (ENV_FRAME % 4096 != 0));
}

/* ---- go_spawn: from tasks and from other threads ------------------------------------ */

#define FROM_TASK_N 1000

typedef struct sums {
    atomic_long sum;
    atomic_int count;
    int spawn_failures;
} sums;

typedef struct addend {
    sums *s;
    long value;
} addend;

static void add_value(void *arg) {
    addend *a = arg;
    atomic_fetch_add(&a->s->sum, a->value);
    atomic_fetch_add(&a->s->count, 1);
}

static int spawn_from_task(void *arg) {
    sums *s = arg;
    static addend a[FROM_TASK_N];
    for (int i = 0; i < FROM_TASK_N; i++) {
        a[i] = (addend){s, i + 1};
        if (go_spawn(add_value, &a[i]) != 0)
            s->spawn_failures++;
    }
    gort_test_yield_until(&s->count, FROM_TASK_N - s->spawn_failures);
    return 0;
}

static void tasks_spawned_from_a_task_all_run_once(void **state) {
    (void)state;
    sums s = {0};
    assert_int_equal(gort_test_run(4, spawn_from_task, &s), 0);
    assert_int_equal(s.spawn_failures, 0);
    assert_int_equal(atomic_load(&s.count), FROM_TASK_N);
    assert_int_equal(atomic_load(&s.sum), (long)FROM_TASK_N * (FROM_TASK_N + 1) / 2);
}

#define EXT_THREADS 4
#define EXT_PER_THREAD 500

typedef struct external {
    sums s;
    addend a[EXT_THREADS][EXT_PER_THREAD];
    atomic_int threads_done;
    atomic_int failures;
    int create_failures;
    int worker_index_off_worker; /* gort_sched_worker_index() on such a thread */
    uint64_t task_id_off_task;
} external;

typedef struct ext_thread_arg {
    external *e;
    int index;
} ext_thread_arg;

static void external_spawner(void *arg) {
    ext_thread_arg *ta = arg;
    external *e = ta->e;
    if (ta->index == 0) {
        e->worker_index_off_worker = gort_sched_worker_index();
        e->task_id_off_task = go_task_id();
    }
    for (int i = 0; i < EXT_PER_THREAD; i++) {
        addend *a = &e->a[ta->index][i];
        *a = (addend){&e->s, (long)ta->index * EXT_PER_THREAD + i + 1};
        if (go_spawn(add_value, a) != 0)
            atomic_fetch_add(&e->failures, 1);
    }
    atomic_fetch_add(&e->threads_done, 1);
}

static int spawn_from_threads(void *arg) {
    external *e = arg;
    uv_thread_t th[EXT_THREADS];
    ext_thread_arg ta[EXT_THREADS];
    int created = 0;
    for (int i = 0; i < EXT_THREADS; i++) {
        ta[i] = (ext_thread_arg){e, i};
        if (uv_thread_create(&th[i], external_spawner, &ta[i]) != 0)
            break;
        created++;
    }
    e->create_failures = EXT_THREADS - created;
    /* Wait without blocking the worker, then join threads that are done. */
    gort_test_yield_until(&e->threads_done, created);
    gort_test_yield_until(&e->s.count, created * EXT_PER_THREAD - atomic_load(&e->failures));
    for (int i = 0; i < created; i++)
        uv_thread_join(&th[i]);
    return 0;
}

static void tasks_spawned_from_threads_that_are_not_workers_all_run_once(void **state) {
    (void)state;
    external *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(gort_test_run(2, spawn_from_threads, e), 0);
    assert_int_equal(e->create_failures, 0);
    assert_int_equal(atomic_load(&e->failures), 0);
    long n = (long)EXT_THREADS * EXT_PER_THREAD;
    assert_int_equal(atomic_load(&e->s.count), n);
    assert_int_equal(atomic_load(&e->s.sum), n * (n + 1) / 2);
    assert_int_equal(e->worker_index_off_worker, -1);
    assert_int_equal(e->task_id_off_task, 0);
    free(e);
}

static void spawn_after_main_returned_is_canceled(void **state) {
    (void)state;
    assert_int_equal(gort_test_run(2, return_arg, NULL), 0);
    assert_int_equal(go_spawn(never_runs, NULL), GO_ECANCELED);
    go_spawn_opts opts = {.name = "late"};
    assert_int_equal(go_spawn_with(never_runs, NULL, &opts), GO_ECANCELED);
}

typedef struct late_thread {
    int rc;
} late_thread;

static void spawn_late(void *arg) {
    ((late_thread *)arg)->rc = go_spawn(never_runs, NULL);
}

static void spawn_from_another_thread_after_main_returned_is_canceled(void **state) {
    (void)state;
    assert_int_equal(gort_test_run(2, return_arg, NULL), 0);
    late_thread lt = {0};
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, spawn_late, &lt), 0);
    uv_thread_join(&th);
    assert_int_equal(lt.rc, GO_ECANCELED);
}

/* ---- go_yield --------------------------------------------------------------------- */

#define YIELD_ROUNDS 1000

typedef struct alternation {
    char log[2 * YIELD_ROUNDS];
    int n; /* plain: one worker, tasks never run at once */
    atomic_int finished;
} alternation;

typedef struct alternator {
    alternation *a;
    char letter;
} alternator;

static void alternate(void *arg) {
    alternator *me = arg;
    for (int i = 0; i < YIELD_ROUNDS; i++) {
        me->a->log[me->a->n++] = me->letter;
        go_yield();
    }
    atomic_fetch_add(&me->a->finished, 1);
}

static int run_alternators(void *arg) {
    alternation *a = arg;
    alternator x = {a, 'A'}, y = {a, 'B'};
    if (go_spawn(alternate, &x) != 0 || go_spawn(alternate, &y) != 0)
        return -1;
    gort_test_yield_until(&a->finished, 2);
    return 0;
}

static void yield_alternates_two_tasks_strictly_on_one_worker(void **state) {
    (void)state;
    alternation *a = calloc(1, sizeof *a);
    assert_non_null(a);
    assert_int_equal(gort_test_run(1, run_alternators, a), 0);
    assert_int_equal(a->n, 2 * YIELD_ROUNDS);
    for (int i = 1; i < a->n; i++)
        if (a->log[i] == a->log[i - 1])
            fail_msg("entries %d and %d of the log are both %c", i - 1, i, a->log[i]);
    free(a);
}

static void yield_off_a_task_returns_at_once(void **state) {
    (void)state;
    go_yield();
    assert_int_equal(gort_test_run(1, return_arg, NULL), 0);
    go_yield();
}

/* ---- ids and workers ------------------------------------------------------------------ */

#define ID_TASKS 1000

typedef struct ids {
    uint64_t main_id;
    uint64_t id[ID_TASKS];
    atomic_int done;
} ids;

typedef struct id_slot {
    ids *ids;
    int index;
} id_slot;

static void record_id(void *arg) {
    id_slot *s = arg;
    s->ids->id[s->index] = go_task_id();
    atomic_fetch_add(&s->ids->done, 1);
}

static int collect_ids(void *arg) {
    ids *d = arg;
    static id_slot slots[ID_TASKS];
    d->main_id = go_task_id();
    for (int i = 0; i < ID_TASKS; i++) {
        slots[i] = (id_slot){d, i};
        if (go_spawn(record_id, &slots[i]) != 0)
            return -1;
    }
    gort_test_yield_until(&d->done, ID_TASKS);
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void task_ids_are_non_zero_and_unique_across_runs(void **state) {
    (void)state;
    ids *run1 = calloc(1, sizeof *run1), *run2 = calloc(1, sizeof *run2);
    assert_non_null(run1);
    assert_non_null(run2);
    assert_int_equal(gort_test_run(4, collect_ids, run1), 0);
    assert_int_equal(gort_test_run(4, collect_ids, run2), 0);
    size_t n = 2 * (ID_TASKS + 1);
    uint64_t *all = malloc(n * sizeof *all);
    assert_non_null(all);
    memcpy(all, run1->id, sizeof run1->id);
    memcpy(all + ID_TASKS, run2->id, sizeof run2->id);
    all[n - 2] = run1->main_id;
    all[n - 1] = run2->main_id;
    qsort(all, n, sizeof *all, cmp_u64);
    assert_true(all[0] != 0);
    for (size_t i = 1; i < n; i++)
        if (all[i] == all[i - 1])
            fail_msg("task id %llu was given twice", (unsigned long long)all[i]);
    free(all);
    free(run1);
    free(run2);
}

static void task_id_is_zero_off_a_task(void **state) {
    (void)state;
    assert_int_equal(go_task_id(), 0);
    assert_int_equal(gort_test_run(2, return_arg, NULL), 0);
    assert_int_equal(go_task_id(), 0);
}

typedef struct worker_counts {
    int workers, internal_count;
} worker_counts;

static int count_workers(void *arg) {
    worker_counts *c = arg;
    c->workers = go_workers();
    c->internal_count = gort_sched_worker_count();
    return 0;
}

static void workers_equals_gort_maxprocs(void **state) {
    (void)state;
    for (int n = 1; n <= 3; n++) {
        worker_counts c = {0};
        assert_int_equal(gort_test_run(n, count_workers, &c), 0);
        assert_int_equal(c.workers, n);
        assert_int_equal(c.internal_count, n);
    }
}

static void workers_is_zero_when_the_runtime_is_not_running(void **state) {
    (void)state;
    assert_int_equal(gort_test_run(2, return_arg, NULL), 0);
    assert_int_equal(go_workers(), 0);
}

typedef struct two_workers {
    atomic_int child_index; /* worker index + 1, 0 until known */
    int main_index;
} two_workers;

static void report_worker(void *arg) {
    two_workers *w = arg;
    atomic_store(&w->child_index, gort_sched_worker_index() + 1);
}

static int occupy_and_spawn(void *arg) {
    two_workers *w = arg;
    w->main_index = gort_sched_worker_index();
    if (go_spawn(report_worker, w) != 0)
        return -1;
    /* Keep this worker: the child can only run on the other one. */
    gort_test_wait_flag(&w->child_index);
    return 0;
}

static void tasks_run_on_more_than_one_worker(void **state) {
    (void)state;
    two_workers w = {0};
    assert_int_equal(gort_test_run(2, occupy_and_spawn, &w), 0);
    int child = atomic_load(&w.child_index) - 1;
    assert_in_range(w.main_index, 0, 1);
    assert_in_range(child, 0, 1);
    assert_int_not_equal(child, w.main_index);
}

/* ---- stats -------------------------------------------------------------------------------- */

#define STATS_TASKS 100

typedef struct stats_run {
    go_sched_stats before, after;
    atomic_int done;
} stats_run;

static void stats_child(void *arg) {
    atomic_fetch_add(&((stats_run *)arg)->done, 1);
}

static int stats_main(void *arg) {
    stats_run *r = arg;
    go_sched_stats_get(&r->before);
    for (int i = 0; i < STATS_TASKS; i++)
        if (go_spawn(stats_child, r) != 0)
            return -1;
    gort_test_yield_until(&r->done, STATS_TASKS);
    /* The children are finished; wait until they are recycled too. */
    do {
        go_yield();
        go_sched_stats_get(&r->after);
    } while (r->after.live_tasks != r->before.live_tasks);
    return 0;
}

static void stats_count_workers_spawns_and_schedules(void **state) {
    (void)state;
    stats_run r = {0};
    assert_int_equal(gort_test_run(3, stats_main, &r), 0);
    assert_int_equal(r.before.workers, 3);
    assert_int_equal(r.after.workers, 3);
    assert_true(r.before.live_tasks >= 1); /* main itself */
    assert_int_equal(r.after.live_tasks, r.before.live_tasks);
    assert_int_equal(r.after.spawned - r.before.spawned, STATS_TASKS);
    assert_true(r.after.schedules - r.before.schedules >= STATS_TASKS);
    assert_true(r.after.schedules >= r.after.steals);
    assert_non_null(r.after.stack_guard);
    const char *g = r.after.stack_guard;
    assert_true(strcmp(g, "madv_guard") == 0 || strcmp(g, "mprotect") == 0 ||
                strcmp(g, "none") == 0);
}

static void stats_report_no_workers_when_the_runtime_is_not_running(void **state) {
    (void)state;
    assert_int_equal(gort_test_run(2, return_arg, NULL), 0);
    go_sched_stats st;
    go_sched_stats_get(&st);
    assert_int_equal(st.workers, 0);
}

/* ---- go_safepoint off a task ------------------------------------------------------------------
 */

typedef struct offtask_safepoint {
    atomic_int go, returned;
    int saw_stopped;
} offtask_safepoint;

static void safepoint_from_thread(void *arg) {
    offtask_safepoint *o = arg;
    gort_test_wait_flag(&o->go);
    go_safepoint(); /* a pause is pending: the slow path must see no task and return */
    atomic_store(&o->returned, 1);
}

static int stop_and_let_a_thread_safepoint(void *arg) {
    offtask_safepoint *o = arg;
    uv_thread_t th;
    if (uv_thread_create(&th, safepoint_from_thread, o) != 0)
        return -1;
    gort_stop_the_world(GORT_STW_TEST);
    o->saw_stopped = gort_stw_is_stopped();
    atomic_store(&o->go, 1);
    unsigned spins = 0;
    while (atomic_load(&o->returned) == 0)
        gort_test_relax(&spins); /* no safepoint: we hold the world */
    gort_start_the_world();
    uv_thread_join(&th);
    return 0;
}

static void safepoint_off_a_task_returns_even_while_the_world_is_stopped(void **state) {
    (void)state;
    go_safepoint();
    offtask_safepoint o = {0};
    assert_int_equal(gort_test_run(2, stop_and_let_a_thread_safepoint, &o), 0);
    assert_true(o.saw_stopped);
    assert_int_equal(atomic_load(&o.returned), 1);
    go_safepoint();
}

/* ---- tasks left behind by main_fn ------------------------------------------------------------ */

typedef struct leftovers {
    atomic_int parked, yielding, spinning;
    atomic_int finished; /* must stay 0: none of them ever finishes */
} leftovers;

static bool note_parked(gort_task *t, void *arg) {
    (void)t;
    atomic_store(&((leftovers *)arg)->parked, 1);
    return true;
}

static void park_forever(void *arg) {
    gort_sched_park(note_parked, arg, "forever");
    atomic_fetch_add(&((leftovers *)arg)->finished, 1);
}

static void yield_forever(void *arg) {
    leftovers *l = arg;
    for (;;) {
        atomic_store(&l->yielding, 1);
        go_yield();
    }
}

static void spin_forever(void *arg) {
    leftovers *l = arg;
    for (;;) {
        atomic_store(&l->spinning, 1);
        go_safepoint();
    }
}

/* Three workers: main keeps one, the yielder at most one more, so the spinner
 * (spawned last, while main busy-waits without yielding) is taken by the third.
 * No part of this relies on time-slice preemption. */
static int leave_tasks_behind(void *arg) {
    leftovers *l = arg;
    if (go_spawn(park_forever, l) != 0 || go_spawn(yield_forever, l) != 0)
        return -1;
    gort_test_yield_until(&l->parked, 1);
    gort_test_yield_until(&l->yielding, 1);
    if (go_spawn(spin_forever, l) != 0)
        return -1;
    gort_test_wait_flag(&l->spinning);
    return 5;
}

static void main_returns_without_waiting_for_parked_yielding_or_spinning_tasks(void **state) {
    (void)state;
    leftovers *l = calloc(1, sizeof *l);
    assert_non_null(l);
    assert_int_equal(gort_test_run(3, leave_tasks_behind, l), 5);
    assert_int_equal(atomic_load(&l->finished), 0);
    free(l);
}

static void main_runs_again_after_tasks_were_left_behind(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) {
        leftovers *l = calloc(1, sizeof *l);
        assert_non_null(l);
        assert_int_equal(gort_test_run(3, leave_tasks_behind, l), 5);
        free(l);
    }
    twice t = {0};
    assert_int_equal(gort_test_run(2, spawn_ten_and_wait, &t), 10);
    assert_int_equal(atomic_load(&t.sum), 10);
}

/* ---- stacks go back to the OS ------------------------------------------------- */

#define RSS_TASKS 20000

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

typedef struct rss_run {
    go_chan *release;         /* closed to let every task finish */
    go_waitgroup up, down;    /* every task started; every task finished */
    long before, peak, after; /* KiB */
    int64_t waited_ns;        /* until RSS came back down */
} rss_run;

static void touch_and_wait(void *arg) {
    rss_run *r = arg;
    volatile char frame[2048]; /* the top page of its stack, resident */
    frame[0] = 1;
    go_waitgroup_done(&r->up);
    char v;
    go_chan_recv(r->release, &v);
    (void)frame[0];
    go_waitgroup_done(&r->down);
}

static int park_then_release(void *arg) {
    rss_run *r = arg;
    r->release = go_chan_new_noscan(1, 0);
    if (r->release == NULL)
        return -1;
    r->before = rss_kib();
    go_waitgroup_add(&r->up, RSS_TASKS);
    go_waitgroup_add(&r->down, RSS_TASKS);
    for (int i = 0; i < RSS_TASKS; i++)
        if (go_spawn(touch_and_wait, r) != 0)
            return -1;
    go_waitgroup_wait(&r->up);
    r->peak = rss_kib();
    go_chan_close(r->release);
    go_waitgroup_wait(&r->down);
    /* No stack is drawn from here on: the scavenger is asked after half a
     * second. Wait for it for up to a minute (only a missing scavenge fails,
     * never a slow one). */
    int64_t t0 = go_now();
    long grown = r->peak - r->before;
    do {
        go_sleep(100 * 1000 * 1000);
        r->after = rss_kib();
    } while (r->after > r->before + grown / 2 && go_now() - t0 < 60LL * 1000 * 1000 * 1000);
    r->waited_ns = go_now() - t0;
    return 0;
}

/* The stacks of tasks that finished go back to the OS once no task has drawn
 * a stack for a while: RSS falls back near where it was before they ran. */
static void stacks_of_finished_tasks_go_back_to_the_os(void **state) {
    (void)state;
#if defined(GORT_TSAN) || defined(GORT_ASAN)
    skip(); /* sanitizers keep memory of their own per stack */
#endif
    if (getenv("GORT_UNDER_VALGRIND") != NULL)
        skip();
    rss_run r = {0};
    assert_int_equal(gort_test_run(2, park_then_release, &r), 0);
    print_message("%d tasks: RSS %ld -> %ld -> %ld KiB (%.1f s after they finished)\n", RSS_TASKS,
                  r.before, r.peak, r.after, (double)r.waited_ns / 1e9);
    if (r.before < 0)
        skip();                                          /* no /proc */
    assert_true(r.peak - r.before >= RSS_TASKS * 4 / 2); /* at least 2 KiB per task */
    assert_true(r.after <= r.before + (r.peak - r.before) / 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(main_returns_the_result_of_main_fn),
        cmocka_unit_test(main_rejects_a_null_main_fn),
        cmocka_unit_test(main_can_run_twice_in_a_row),
        cmocka_unit_test(main_from_within_main_returns_busy),
        cmocka_unit_test(main_from_another_thread_while_running_returns_busy),
        cmocka_unit_test(spawn_of_a_null_fn_is_invalid),
        cmocka_unit_test(spawn_with_a_stack_size_out_of_range_is_invalid),
        cmocka_unit_test(spawn_with_a_name_gives_the_task_a_copy_of_it),
        cmocka_unit_test(spawn_with_a_1mib_stack_runs_a_task_using_200kib_of_it),
        cmocka_unit_test(gort_stack_size_sets_the_default_stack_of_tasks),
        cmocka_unit_test(tasks_spawned_from_a_task_all_run_once),
        cmocka_unit_test(tasks_spawned_from_threads_that_are_not_workers_all_run_once),
        cmocka_unit_test(spawn_after_main_returned_is_canceled),
        cmocka_unit_test(spawn_from_another_thread_after_main_returned_is_canceled),
        cmocka_unit_test(yield_alternates_two_tasks_strictly_on_one_worker),
        cmocka_unit_test(yield_off_a_task_returns_at_once),
        cmocka_unit_test(task_ids_are_non_zero_and_unique_across_runs),
        cmocka_unit_test(task_id_is_zero_off_a_task),
        cmocka_unit_test(workers_equals_gort_maxprocs),
        cmocka_unit_test(workers_is_zero_when_the_runtime_is_not_running),
        cmocka_unit_test(tasks_run_on_more_than_one_worker),
        cmocka_unit_test(stats_count_workers_spawns_and_schedules),
        cmocka_unit_test(stats_report_no_workers_when_the_runtime_is_not_running),
        cmocka_unit_test(safepoint_off_a_task_returns_even_while_the_world_is_stopped),
        cmocka_unit_test(main_returns_without_waiting_for_parked_yielding_or_spinning_tasks),
        cmocka_unit_test(main_runs_again_after_tasks_were_left_behind),
        cmocka_unit_test(stacks_of_finished_tasks_go_back_to_the_os),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
