/* test_sync.c - task-aware sync (include/gort/sync.h): go_mutex, go_rwmutex,
 * go_cond, go_waitgroup, go_once and go_sem.
 *
 *   1. go_mutex: a zeroed struct (static, malloc'ed, on a task's stack) is a
 *      ready mutex; lock/unlock/trylock and GO_EAGAIN; lock parks until the
 *      holder unlocks; a mutex may be unlocked by another task (Go allows
 *      it); 8 tasks on 2 workers increment a plain counter under it; the
 *      starvation mode: a task that re-locks in a tight loop for 500 ms does
 *      not keep a waiter out (the waiter must get the lock while the hog
 *      still loops);
 *   2. go_rwmutex: zeroed ready; readers are inside together; writers exclude
 *      readers and each other (a pair of words always seen equal); a writer
 *      waiting blocks new readers, so a stream of overlapping readers does not
 *      starve it;
 *   3. go_cond: signal wakes exactly one waiter (Go: no spurious wake-ups), in
 *      FIFO order; broadcast wakes all; signal with no waiter is not kept;
 *      wait_timeout returns GO_ETIMEDOUT no earlier than asked, with the mutex
 *      held, 0 when signalled, GO_ETIMEDOUT at once for 0 and GO_EINVAL below
 *      -1; a waiter that timed out does not swallow a later signal;
 *   4. go_waitgroup: a zeroed group waits for nothing; add/done/wait, reuse,
 *      negative deltas, several waiters, wait_timeout;
 *   5. go_once: 16 concurrent callers, fn runs once, everyone returns after it
 *      returned;
 *   6. go_sem: GO_SEM_INIT(n), go_sem_init (over garbage), tryacquire and
 *      GO_EAGAIN, acquire parks until a release, acquire_timeout, a waiter that
 *      timed out does not consume a unit, at most n holders at once;
 *   7. sync objects embedded in zeroed go_new objects, used by parked tasks
 *      while collections run (checkmark on);
 *   8. threads that are not tasks: a plain (unattached) thread and an attached
 *      one contend on a go_mutex with tasks; a plain thread waits on a
 *      go_waitgroup for tasks, waits on a cond, a semaphore, an rwmutex; the
 *      thread that called go_start does the same as an embedding program would.
 * Fatal misuse (unlock of an unlocked mutex or rwmutex, runlock of an
 * unlocked rwmutex, a negative waitgroup counter) is in crash_sync_misuse.c.
 *
 * Tasks and threads record failures with CHECK (cmocka is not thread-safe);
 * they are asserted on the test's own thread once go_main (or go_stop)
 * returned. Timing: "never early" is exact (a timeout must not return before
 * its time); "promptly" has wide margins; where a test gives another task
 * time to park, a slow machine only makes it prove less, except for the
 * starvation test, whose only hard requirement is that the waiter got the
 * lock at all while the hog looped (and, without sanitizers, within 300 ms).
 * A watchdog aborts with the test's name on a hang.
 * Knobs: TEST_SYNC_FILTER / TEST_SYNC_SKIP (cmocka name patterns).
 */
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

#define MS (1000LL * 1000LL)

/* Work sizes shrink under the sanitizers (set in main). */
static int scale_div = 1;

#ifdef GORT_TSAN
#define WATCH_SECONDS 100
#else
#define WATCH_SECONDS 60
#endif
#define WATCH() GORT_TEST_WATCH()

/* ---- failures recorded by tasks and threads ------------------------------------------------ */

#define MAX_FAILURES 64
static char failures[MAX_FAILURES][320];
static atomic_int nfailures;

__attribute__((format(printf, 3, 4))) static void fail_at(const char *file, int line,
                                                          const char *fmt, ...) {
    int i = atomic_fetch_add(&nfailures, 1);
    if (i >= MAX_FAILURES)
        return;
    int n = snprintf(failures[i], sizeof failures[i], "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof failures[i])
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failures[i] + n, sizeof failures[i] - (size_t)n, fmt, ap);
    va_end(ap);
}

#define CHECK(cond) ((cond) ? (void)0 : fail_at(__FILE__, __LINE__, "%s", #cond))
#define CHECKF(cond, ...) ((cond) ? (void)0 : fail_at(__FILE__, __LINE__, __VA_ARGS__))
/* a == b for ints, printing both */
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        CHECKF(check_a_ == check_b_, "%s == %s: %lld != %lld", #a, #b, check_a_, check_b_);        \
    } while (0)

static void report_failures(void) {
    int n = atomic_load(&nfailures);
    for (int i = 0; i < n && i < MAX_FAILURES; i++)
        print_error("%s\n", failures[i]);
    if (n > MAX_FAILURES)
        print_error("... and %d more\n", n - MAX_FAILURES);
    if (n != 0)
        fail_msg("%d check(s) failed in tasks or threads (listed above)", n);
}

/* go_main(fn, arg) on `workers` workers; asserts that nothing failed and fn
 * returned 0. GORT_DEBUG is `debug` (NULL: unset). */
static void run_main(int workers, const char *debug, int (*fn)(void *), void *arg) {
    if (debug != NULL)
        setenv("GORT_DEBUG", debug, 1);
    else
        unsetenv("GORT_DEBUG");
    int rc = gort_test_run(workers, fn, arg);
    unsetenv("GORT_DEBUG");
    report_failures();
    assert_int_equal(rc, 0);
}

static void spawn(go_fn fn, void *arg) {
    int rc = go_spawn(fn, arg);
    if (rc != 0) {
        fail_at(__FILE__, __LINE__, "go_spawn: %s", go_strerror(rc));
        abort(); /* a join would hang */
    }
}

static void thread_start(uv_thread_t *th, void (*fn)(void *), void *arg) {
    if (uv_thread_create(th, fn, arg) != 0) {
        fail_at(__FILE__, __LINE__, "uv_thread_create failed");
        abort();
    }
}

/* Busy for ns with the calling task on its worker (safepoints only). */
static void spin_ns(int64_t ns) {
    int64_t end = go_now() + ns;
    while (go_now() < end)
        go_safepoint();
}

/* A join by counting: tasks bump *done, the waiter yields until all did. */
static void yield_until(atomic_int *counter, int target) {
    gort_test_yield_until(counter, target);
}

static int test_setup(void **state) {
    (void)state;
    atomic_store(&nfailures, 0);
    return 0;
}

/* =============================================================================================
 * 1. go_mutex
 * ============================================================================================= */

static go_mutex static_mutex; /* zeroed by C */
static go_mutex static_mutex_init = GO_MUTEX_INIT;

static void mutex_basic_ops(go_mutex *m, const char *which) {
    CHECKF(go_mutex_trylock(m) == 0, "%s: trylock of a fresh mutex", which);
    CHECKF(go_mutex_trylock(m) == GO_EAGAIN, "%s: trylock of a locked mutex", which);
    go_mutex_unlock(m);
    go_mutex_lock(m);
    CHECKF(go_mutex_trylock(m) == GO_EAGAIN, "%s: trylock after lock", which);
    go_mutex_unlock(m);
    go_mutex_lock(m);
    go_mutex_unlock(m);
    CHECKF(go_mutex_trylock(m) == 0, "%s: trylock after unlock", which);
    go_mutex_unlock(m);
    for (int i = 0; i < 1000; i++) {
        go_mutex_lock(m);
        go_mutex_unlock(m);
    }
    CHECKF(go_mutex_trylock(m) == 0, "%s: trylock after 1000 lock/unlock", which);
    go_mutex_unlock(m);
}

static int mutex_basic_main(void *arg) {
    (void)arg;
    mutex_basic_ops(&static_mutex, "static");
    mutex_basic_ops(&static_mutex_init, "GO_MUTEX_INIT");
    go_mutex local;
    memset(&local, 0, sizeof local);
    mutex_basic_ops(&local, "on the stack");
    go_mutex *heap = calloc(1, sizeof *heap);
    CHECK(heap != NULL);
    if (heap != NULL) {
        mutex_basic_ops(heap, "calloc");
        free(heap);
    }
    return 0;
}

static void mutex_zeroed_lock_unlock_trylock(void **state) {
    (void)state;
    WATCH();
    run_main(1, NULL, mutex_basic_main, NULL);
    run_main(2, NULL, mutex_basic_main, NULL);
}

/* ---- lock parks until the holder unlocks -------------------------------------------------- */

typedef struct blocked {
    go_mutex m;
    atomic_int started, acquired, done;
    int value;         /* [m] */
    int seen;          /* written by the waiter under m */
    int trylock_rc;    /* by a third task while m is held */
    int64_t unlock_at; /* [m] */
    int64_t got_at;
} blocked;

static void blocked_waiter(void *arg) {
    blocked *b = arg;
    atomic_store(&b->started, 1);
    go_mutex_lock(&b->m);
    b->got_at = go_now();
    atomic_store(&b->acquired, 1);
    b->seen = b->value;
    go_mutex_unlock(&b->m);
    atomic_fetch_add(&b->done, 1);
}

static void blocked_trier(void *arg) {
    blocked *b = arg;
    b->trylock_rc = go_mutex_trylock(&b->m);
    if (b->trylock_rc == 0)
        go_mutex_unlock(&b->m);
    atomic_fetch_add(&b->done, 1);
}

static int mutex_blocks_main(void *arg) {
    blocked *b = arg;
    go_mutex_lock(&b->m);
    spawn(blocked_waiter, b);
    spawn(blocked_trier, b);
    yield_until(&b->started, 1);
    go_sleep(30 * MS); /* the waiter parks in lock meanwhile */
    CHECKF(atomic_load(&b->acquired) == 0, "the waiter got a mutex another task held");
    b->value = 42;
    b->unlock_at = go_now();
    go_mutex_unlock(&b->m);
    yield_until(&b->done, 2);
    CHECK_EQ(b->seen, 42);
    CHECK(b->got_at >= b->unlock_at);
    CHECK_EQ(b->trylock_rc, GO_EAGAIN);
    return 0;
}

static void mutex_lock_parks_until_the_holder_unlocks(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        blocked b = {0};
        run_main(workers, NULL, mutex_blocks_main, &b);
    }
}

/* ---- unlocked by another task (Go allows it) ------------------------------------------- */

typedef struct cross {
    go_mutex m;
    atomic_int unlocking; /* set just before the unlock: a waiter woken by it sees 1 */
    atomic_int done;      /* set after the unlock returned */
} cross;

static void cross_unlocker(void *arg) {
    cross *c = arg;
    atomic_store(&c->unlocking, 1);
    go_mutex_unlock(&c->m);
    atomic_store(&c->done, 1);
}

static int mutex_cross_main(void *arg) {
    cross *c = arg;
    go_mutex_lock(&c->m);
    spawn(cross_unlocker, c);
    yield_until(&c->done, 1);
    CHECK_EQ(go_mutex_trylock(&c->m), 0);
    go_mutex_unlock(&c->m);
    /* and the same with a waiter parked when the other task unlocks */
    atomic_store(&c->unlocking, 0);
    go_mutex_lock(&c->m);
    spawn(cross_unlocker, c);
    go_mutex_lock(&c->m); /* parks until cross_unlocker released it */
    /* Not done: the woken waiter may run (on the other worker) before the
     * unlocker's next statement. */
    CHECK_EQ(atomic_load(&c->unlocking), 1);
    go_mutex_unlock(&c->m);
    return 0;
}

static void mutex_may_be_unlocked_by_another_task(void **state) {
    (void)state;
    WATCH();
    cross c = {0};
    run_main(2, NULL, mutex_cross_main, &c);
}

/* ---- 8 tasks, 2 workers, a plain counter --------------------------------------------- */

typedef struct excl {
    go_mutex m;
    long counter; /* [m] plain on purpose: TSan sees a missing happens-before */
    long iters;
    atomic_int inside, violations, done;
} excl;

static void excl_task(void *arg) {
    excl *e = arg;
    for (long i = 0; i < e->iters; i++) {
        bool try = i % 7 == 3;
        if (!try || go_mutex_trylock(&e->m) != 0)
            go_mutex_lock(&e->m);
        if (atomic_fetch_add(&e->inside, 1) != 0)
            atomic_fetch_add(&e->violations, 1);
        long v = e->counter;
        if (i % 64 == 0)
            go_yield(); /* hold the lock across a switch */
        if (i % 1024 == 5)
            go_sleep(100 * 1000); /* and across a park */
        e->counter = v + 1;
        atomic_fetch_sub(&e->inside, 1);
        go_mutex_unlock(&e->m);
        if (i % 16 == 0)
            go_yield();
    }
    atomic_fetch_add(&e->done, 1);
}

static int excl_main(void *arg) {
    excl *e = arg;
    for (int i = 0; i < 8; i++)
        spawn(excl_task, e);
    yield_until(&e->done, 8);
    return 0;
}

static void mutex_excludes_8_tasks_on_2_workers(void **state) {
    (void)state;
    WATCH();
    excl e = {.iters = 20000 / scale_div};
    run_main(2, NULL, excl_main, &e);
    assert_int_equal(atomic_load(&e.violations), 0);
    assert_int_equal(e.counter, 8 * e.iters);
    assert_int_equal(atomic_load(&e.inside), 0);
}

/* ---- starvation mode ------------------------------------------------------------------- */

#define HOG_NS (500 * MS)
#define HOG_CAP_NS (60000 * MS)

typedef struct starve {
    go_mutex m;
    atomic_int hog_started, hog_running, done, waiter_got;
    long hog_iters;      /* by the hog */
    long waiter_tries;   /* by the waiter */
    long got_during_hog; /* by the waiter */
    int64_t max_wait, first_wait;
} starve;

static void starve_hog(void *arg) {
    starve *s = arg;
    atomic_store(&s->hog_running, 1);
    atomic_store(&s->hog_started, 1);
    /* At least HOG_NS, and on until the waiter got the lock while the hog
     * looped (a slow machine or valgrind may need longer): what is checked is
     * that the waiter gets it at all, not how fast. The cap only bounds a
     * broken mutex's run. */
    int64_t end = go_now() + HOG_NS, cap = go_now() + HOG_CAP_NS;
    while ((go_now() < end || atomic_load(&s->waiter_got) == 0) && go_now() < cap) {
        go_mutex_lock(&s->m);
        spin_ns(5000); /* a short critical section */
        s->hog_iters++;
        go_mutex_unlock(&s->m); /* and straight back to lock */
    }
    atomic_store(&s->hog_running, 0);
    atomic_fetch_add(&s->done, 1);
}

static void starve_waiter(void *arg) {
    starve *s = arg;
    yield_until(&s->hog_started, 1);
    go_sleep(5 * MS);
    while (atomic_load(&s->hog_running)) {
        int64_t t0 = go_now();
        go_mutex_lock(&s->m);
        int64_t dt = go_now() - t0;
        bool during = atomic_load(&s->hog_running) != 0;
        go_mutex_unlock(&s->m);
        if (s->waiter_tries++ == 0)
            s->first_wait = dt;
        if (during) {
            s->got_during_hog++;
            atomic_store(&s->waiter_got, 1);
            if (dt > s->max_wait)
                s->max_wait = dt;
        }
        go_sleep(2 * MS);
    }
    atomic_fetch_add(&s->done, 1);
}

static int starve_main(void *arg) {
    starve *s = arg;
    spawn(starve_hog, s);
    spawn(starve_waiter, s);
    yield_until(&s->done, 2);
    return 0;
}

static void mutex_waiter_is_not_starved_by_a_task_relocking_in_a_loop(void **state) {
    (void)state;
    WATCH();
    for (int workers = 2; workers >= 1; workers--) {
        starve s = {0};
        run_main(workers, NULL, starve_main, &s);
        print_message(
            "    %d worker(s): hog locked %ld times in 500 ms; the waiter got the lock %ld "
            "times of %ld while the hog looped, longest wait %.1f ms, first %.1f ms\n",
            workers, s.hog_iters, s.got_during_hog, s.waiter_tries, (double)s.max_wait / 1e6,
            (double)s.first_wait / 1e6);
        assert_true(s.got_during_hog >= 1); /* how long it took is printed, not checked */
    }
}

/* =============================================================================================
 * 2. go_rwmutex
 * ============================================================================================= */

static int rw_basic_main(void *arg) {
    (void)arg;
    static go_rwmutex zeroed;
    go_rwmutex init = GO_RWMUTEX_INIT;
    go_rwmutex *rws[2] = {&zeroed, &init};
    for (int i = 0; i < 2; i++) {
        go_rwmutex *rw = rws[i];
        go_rwmutex_rlock(rw);
        go_rwmutex_rlock(rw); /* two read locks by one task */
        go_rwmutex_runlock(rw);
        go_rwmutex_runlock(rw);
        go_rwmutex_lock(rw);
        go_rwmutex_unlock(rw);
        go_rwmutex_rlock(rw);
        go_rwmutex_runlock(rw);
        for (int k = 0; k < 1000; k++) {
            go_rwmutex_lock(rw);
            go_rwmutex_unlock(rw);
            go_rwmutex_rlock(rw);
            go_rwmutex_runlock(rw);
        }
    }
    return 0;
}

static void rwmutex_zeroed_rlock_runlock_lock_unlock(void **state) {
    (void)state;
    WATCH();
    run_main(1, NULL, rw_basic_main, NULL);
}

/* ---- readers inside together ------------------------------------------------------------- */

typedef struct overlap {
    go_rwmutex rw;
    atomic_int inside, max_inside, done;
} overlap;

static void overlap_reader(void *arg) {
    overlap *o = arg;
    go_rwmutex_rlock(&o->rw);
    int n = atomic_fetch_add(&o->inside, 1) + 1;
    int m = atomic_load(&o->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&o->max_inside, &m, n)) {
    }
    go_sleep(20 * MS); /* park holding the read lock */
    atomic_fetch_sub(&o->inside, 1);
    go_rwmutex_runlock(&o->rw);
    atomic_fetch_add(&o->done, 1);
}

static int overlap_main(void *arg) {
    overlap *o = arg;
    for (int i = 0; i < 8; i++)
        spawn(overlap_reader, o);
    yield_until(&o->done, 8);
    return 0;
}

static void rwmutex_readers_are_inside_together(void **state) {
    (void)state;
    WATCH();
    overlap o = {0};
    run_main(2, NULL, overlap_main, &o);
    print_message("    8 readers sleeping 20 ms inside: at most %d inside at once\n",
                  atomic_load(&o.max_inside));
    assert_true(atomic_load(&o.max_inside) >= 2);
}

/* ---- writers exclude readers and each other --------------------------------------------- */

typedef struct rwpair {
    go_rwmutex rw;
    long a, b;   /* [rw] plain: a writer writes both, a reader must see them equal */
    long writes; /* [rw, write] */
    long iters;
    atomic_int readers_in, writers_in, violations, torn, done;
    atomic_long reads;
} rwpair;

static void rwpair_writer(void *arg) {
    rwpair *p = arg;
    for (long i = 0; i < p->iters; i++) {
        go_rwmutex_lock(&p->rw);
        if (atomic_fetch_add(&p->writers_in, 1) != 0 || atomic_load(&p->readers_in) != 0)
            atomic_fetch_add(&p->violations, 1);
        long v = ++p->writes;
        p->a = v;
        if (i % 8 == 0)
            go_yield();
        p->b = v;
        atomic_fetch_sub(&p->writers_in, 1);
        go_rwmutex_unlock(&p->rw);
        if (i % 4 == 0)
            go_yield();
    }
    atomic_fetch_add(&p->done, 1);
}

static void rwpair_reader(void *arg) {
    rwpair *p = arg;
    for (long i = 0; i < p->iters * 4; i++) {
        go_rwmutex_rlock(&p->rw);
        atomic_fetch_add(&p->readers_in, 1);
        if (atomic_load(&p->writers_in) != 0)
            atomic_fetch_add(&p->violations, 1);
        long a = p->a;
        if (i % 16 == 0)
            go_yield();
        long b = p->b;
        if (a != b)
            atomic_fetch_add(&p->torn, 1);
        atomic_fetch_sub(&p->readers_in, 1);
        go_rwmutex_runlock(&p->rw);
        atomic_fetch_add(&p->reads, 1);
        if (i % 8 == 0)
            go_yield();
    }
    atomic_fetch_add(&p->done, 1);
}

static int rwpair_main(void *arg) {
    rwpair *p = arg;
    for (int i = 0; i < 2; i++)
        spawn(rwpair_writer, p);
    for (int i = 0; i < 6; i++)
        spawn(rwpair_reader, p);
    yield_until(&p->done, 8);
    return 0;
}

static void rwmutex_writers_exclude_readers_and_writers(void **state) {
    (void)state;
    WATCH();
    rwpair p = {.iters = 5000 / scale_div};
    run_main(2, NULL, rwpair_main, &p);
    assert_int_equal(atomic_load(&p.violations), 0);
    assert_int_equal(atomic_load(&p.torn), 0);
    assert_int_equal(p.writes, 2 * p.iters);
    assert_int_equal(p.a, p.writes);
    assert_int_equal(p.b, p.writes);
    assert_int_equal(atomic_load(&p.reads), 6 * 4 * p.iters);
}

/* ---- a waiting writer blocks new readers -------------------------------------------------- */

typedef struct wprio {
    go_rwmutex rw;
    gort_test_sema release_r1;
    atomic_int r1_in, w_trying, r2_trying, seq, done;
    atomic_int w_seq, r2_seq; /* 1 + order of acquisition, 0: not yet */
} wprio;

static void wprio_r1(void *arg) {
    wprio *p = arg;
    go_rwmutex_rlock(&p->rw);
    atomic_store(&p->r1_in, 1);
    gort_test_sema_wait(&p->release_r1);
    go_rwmutex_runlock(&p->rw);
    atomic_fetch_add(&p->done, 1);
}

static void wprio_writer(void *arg) {
    wprio *p = arg;
    atomic_store(&p->w_trying, 1);
    go_rwmutex_lock(&p->rw);
    atomic_store(&p->w_seq, atomic_fetch_add(&p->seq, 1) + 1);
    go_sleep(10 * MS);
    go_rwmutex_unlock(&p->rw);
    atomic_fetch_add(&p->done, 1);
}

static void wprio_r2(void *arg) {
    wprio *p = arg;
    atomic_store(&p->r2_trying, 1);
    go_rwmutex_rlock(&p->rw);
    atomic_store(&p->r2_seq, atomic_fetch_add(&p->seq, 1) + 1);
    go_rwmutex_runlock(&p->rw);
    atomic_fetch_add(&p->done, 1);
}

static int wprio_main(void *arg) {
    wprio *p = arg;
    spawn(wprio_r1, p);
    yield_until(&p->r1_in, 1);
    spawn(wprio_writer, p);
    yield_until(&p->w_trying, 1);
    go_sleep(20 * MS); /* the writer parks, waiting for r1 */
    CHECKF(atomic_load(&p->w_seq) == 0, "the writer got the lock while a reader held it");
    spawn(wprio_r2, p);
    yield_until(&p->r2_trying, 1);
    go_sleep(20 * MS);
    CHECKF(atomic_load(&p->r2_seq) == 0,
           "a new reader got the lock while a writer was waiting (writers can starve)");
    gort_test_sema_post(&p->release_r1);
    yield_until(&p->done, 3);
    CHECKF(atomic_load(&p->w_seq) == 1 && atomic_load(&p->r2_seq) == 2,
           "order of acquisition: writer %d, second reader %d (expected 1, 2)",
           atomic_load(&p->w_seq), atomic_load(&p->r2_seq));
    return 0;
}

static void rwmutex_waiting_writer_blocks_new_readers(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        wprio p = {0};
        run_main(workers, NULL, wprio_main, &p);
    }
}

/* A stream of overlapping readers (the read lock is never free) and one
 * writer: the writer must get in while the readers still come. */
typedef struct rstream {
    go_rwmutex rw;
    atomic_int readers_running, done, writer_got_during, inside, started;
    int64_t writer_wait;
    long reads;
} rstream;

#define RSTREAM_NS (400 * MS)

static void rstream_reader(void *arg) {
    rstream *r = arg;
    /* staggered: with 4 readers each holding 3 ms, the read lock is rarely free */
    int me = atomic_fetch_add(&r->started, 1);
    go_sleep((int64_t)me * 750 * 1000);
    int64_t end = go_now() + RSTREAM_NS;
    while (go_now() < end) {
        go_rwmutex_rlock(&r->rw);
        atomic_fetch_add(&r->inside, 1);
        go_sleep(3 * MS);
        atomic_fetch_sub(&r->inside, 1);
        go_rwmutex_runlock(&r->rw);
    }
    atomic_fetch_sub(&r->readers_running, 1);
    atomic_fetch_add(&r->done, 1);
}

static void rstream_writer(void *arg) {
    rstream *r = arg;
    go_sleep(30 * MS);
    while (atomic_load(&r->inside) == 0) /* try while a reader is inside */
        go_yield();
    int64_t t0 = go_now();
    go_rwmutex_lock(&r->rw);
    r->writer_wait = go_now() - t0;
    if (atomic_load(&r->readers_running) != 0)
        atomic_store(&r->writer_got_during, 1);
    go_rwmutex_unlock(&r->rw);
    atomic_fetch_add(&r->done, 1);
}

static int rstream_main(void *arg) {
    rstream *r = arg;
    atomic_store(&r->readers_running, 4);
    for (int i = 0; i < 4; i++)
        spawn(rstream_reader, r);
    spawn(rstream_writer, r);
    yield_until(&r->done, 5);
    return 0;
}

static void rwmutex_writer_is_not_starved_by_overlapping_readers(void **state) {
    (void)state;
    WATCH();
    rstream r = {0};
    run_main(2, NULL, rstream_main, &r);
    print_message("    the writer waited %.1f ms among 4 looping readers\n",
                  (double)r.writer_wait / 1e6);
    assert_int_equal(atomic_load(&r.writer_got_during), 1);
}

/* =============================================================================================
 * 3. go_cond
 * ============================================================================================= */

#define CV_MAX 8

typedef struct cvt {
    go_mutex m;
    go_cond cv;
    int waiting;       /* [m] waiters queued (they count themselves before waiting) */
    int returns;       /* [m] returns from go_cond_wait */
    int order[CV_MAX]; /* [m] who returned, in order */
    atomic_int done;
} cvt;

typedef struct cv_arg {
    cvt *c;
    int index;
} cv_arg;

static void cv_waiter(void *arg) {
    cv_arg *a = arg;
    cvt *c = a->c;
    go_mutex_lock(&c->m);
    c->waiting++;
    go_cond_wait(&c->cv, &c->m); /* Go: no spurious wake-ups, so no loop */
    /* the mutex is held again */
    CHECKF(go_mutex_trylock(&c->m) == GO_EAGAIN, "go_cond_wait returned without the mutex");
    if (c->returns < CV_MAX)
        c->order[c->returns] = a->index;
    c->returns++;
    c->waiting--;
    go_mutex_unlock(&c->m);
    atomic_fetch_add(&c->done, 1);
}

static int cv_locked_read(cvt *c, int *field) {
    go_mutex_lock(&c->m);
    int v = *field;
    go_mutex_unlock(&c->m);
    return v;
}

/* Spawns waiters first..first+n-1 one at a time, each queued before the next. */
static void cv_spawn_waiters(cvt *c, cv_arg *args, int first, int n) {
    for (int i = first; i < first + n; i++) {
        args[i] = (cv_arg){c, i};
        int before = cv_locked_read(c, &c->waiting);
        spawn(cv_waiter, &args[i]);
        while (cv_locked_read(c, &c->waiting) == before)
            go_yield();
    }
}

/* Waits up to 2 s for c->returns to reach want. */
static int cv_wait_returns(cvt *c, int want) {
    int64_t end = go_now() + 2000 * MS;
    int r;
    while ((r = cv_locked_read(c, &c->returns)) < want && go_now() < end)
        go_sleep(1 * MS);
    return r;
}

static int cv_signal_main(void *arg) {
    cvt *c = arg;
    cv_arg args[CV_MAX];
    cv_spawn_waiters(c, args, 0, 4);
    for (int k = 1; k <= 4; k++) {
        go_mutex_lock(&c->m);
        go_cond_signal(&c->cv);
        go_mutex_unlock(&c->m);
        int r = cv_wait_returns(c, k);
        CHECKF(r == k, "after %d signal(s), %d waiter(s) returned", k, r);
        go_sleep(20 * MS); /* nobody else wakes meanwhile */
        r = cv_locked_read(c, &c->returns);
        CHECKF(r == k,
               "after %d signal(s) and 20 ms, %d waiter(s) returned: signal woke more "
               "than one",
               k, r);
    }
    go_mutex_lock(&c->m);
    for (int i = 0; i < 4; i++)
        CHECKF(c->order[i] == i, "waiter %d returned %d-th (FIFO order expected)", c->order[i],
               i + 1);
    go_mutex_unlock(&c->m);
    yield_until(&c->done, 4);

    /* signal without the mutex held works too */
    cv_spawn_waiters(c, args, 4, 1);
    go_cond_signal(&c->cv);
    yield_until(&c->done, 5);
    return 0;
}

static void cond_signal_wakes_one_waiter_in_fifo_order(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        cvt c = {0};
        run_main(workers, NULL, cv_signal_main, &c);
        assert_int_equal(c.returns, 5);
        assert_int_equal(c.waiting, 0);
    }
}

static int cv_broadcast_main(void *arg) {
    cvt *c = arg;
    cv_arg args[CV_MAX];
    cv_spawn_waiters(c, args, 0, 6);
    go_mutex_lock(&c->m);
    go_cond_broadcast(&c->cv);
    go_mutex_unlock(&c->m);
    int r = cv_wait_returns(c, 6);
    CHECKF(r == 6, "after a broadcast, %d of 6 waiters returned", r);
    if (r != 6) { /* let the test end */
        go_cond_broadcast(&c->cv);
    }
    yield_until(&c->done, 6);
    /* a broadcast with no waiter is harmless, and is not kept for later */
    go_cond_broadcast(&c->cv);
    go_cond_signal(&c->cv);
    go_mutex_lock(&c->m);
    int rc = go_cond_wait_timeout(&c->cv, &c->m, 20 * MS);
    go_mutex_unlock(&c->m);
    CHECKF(rc == GO_ETIMEDOUT,
           "a wait after a signal with no waiter returned %d (%s): the "
           "signal was kept",
           rc, go_strerror(rc));
    return 0;
}

static void cond_broadcast_wakes_every_waiter(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        cvt c = {0};
        run_main(workers, NULL, cv_broadcast_main, &c);
        assert_int_equal(c.returns, 6);
    }
}

/* ---- wait_timeout ------------------------------------------------------------------------ */

typedef struct cvto {
    go_mutex m;
    go_cond cv;
    int queued; /* [m] */
    int rc[2];
    int64_t waited[2];
    atomic_int returned[2];
    atomic_int done;
} cvto;

typedef struct cvto_arg {
    cvto *c;
    int index;
    int64_t timeout;
} cvto_arg;

static void cvto_waiter(void *arg) {
    cvto_arg *a = arg;
    cvto *c = a->c;
    go_mutex_lock(&c->m);
    c->queued++;
    int64_t t0 = go_now();
    c->rc[a->index] = go_cond_wait_timeout(&c->cv, &c->m, a->timeout);
    c->waited[a->index] = go_now() - t0;
    CHECKF(go_mutex_trylock(&c->m) == GO_EAGAIN,
           "go_cond_wait_timeout returned %d without the mutex", c->rc[a->index]);
    go_mutex_unlock(&c->m);
    atomic_store(&c->returned[a->index], 1);
    atomic_fetch_add(&c->done, 1);
}

static int cvto_queued(cvto *c) {
    go_mutex_lock(&c->m);
    int q = c->queued;
    go_mutex_unlock(&c->m);
    return q;
}

static int cvto_main(void *arg) {
    cvto *c = arg;
    /* nobody signals: GO_ETIMEDOUT, not early, mutex held */
    const int64_t timeouts[] = {1 * MS, 30 * MS, 100 * 1000};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        go_mutex_lock(&c->m);
        int64_t t0 = go_now();
        int rc = go_cond_wait_timeout(&c->cv, &c->m, timeouts[i]);
        int64_t dt = go_now() - t0;
        CHECKF(rc == GO_ETIMEDOUT, "wait_timeout(%lld ns) with no signal: %d (%s)",
               (long long)timeouts[i], rc, go_strerror(rc));
        CHECKF(dt >= timeouts[i], "wait_timeout(%lld ns) returned after %lld ns: early",
               (long long)timeouts[i], (long long)dt);
        CHECKF(go_mutex_trylock(&c->m) == GO_EAGAIN, "wait_timeout returned without the mutex");
        go_mutex_unlock(&c->m);
    }
    /* 0: does not wait */
    go_mutex_lock(&c->m);
    int64_t t0 = go_now();
    int rc = go_cond_wait_timeout(&c->cv, &c->m, 0);
    CHECKF(rc == GO_ETIMEDOUT, "wait_timeout(0): %d (%s)", rc, go_strerror(rc));
    CHECKF(go_now() - t0 < 500 * MS, "wait_timeout(0) waited");
    CHECKF(go_mutex_trylock(&c->m) == GO_EAGAIN, "wait_timeout(0) returned without the mutex");
    /* below -1: GO_EINVAL, at once, mutex still held */
    const int64_t bad[] = {-2, -1000, INT64_MIN};
    for (size_t i = 0; i < 3; i++) {
        rc = go_cond_wait_timeout(&c->cv, &c->m, bad[i]);
        CHECKF(rc == GO_EINVAL, "wait_timeout(%lld): %d (%s)", (long long)bad[i], rc,
               go_strerror(rc));
        CHECKF(go_mutex_trylock(&c->m) == GO_EAGAIN,
               "wait_timeout(%lld) returned without the mutex", (long long)bad[i]);
    }
    go_mutex_unlock(&c->m);

    /* signalled: 0, long before the timeout; then the same with GO_FOREVER */
    const int64_t long_timeouts[] = {10000 * MS, GO_FOREVER};
    for (int k = 0; k < 2; k++) {
        c->queued = 0;
        atomic_store(&c->done, 0);
        cvto_arg a = {c, 0, long_timeouts[k]};
        spawn(cvto_waiter, &a);
        while (cvto_queued(c) == 0)
            go_yield();
        go_sleep(20 * MS);
        go_mutex_lock(&c->m);
        go_cond_signal(&c->cv);
        go_mutex_unlock(&c->m);
        yield_until(&c->done, 1);
        CHECKF(c->rc[0] == 0, "signalled wait_timeout(%lld): %d (%s)", (long long)a.timeout,
               c->rc[0], go_strerror(c->rc[0]));
        CHECKF(c->waited[0] < 5000 * MS, "signalled wait_timeout took %lld ms",
               (long long)(c->waited[0] / MS));
    }

    /* a waiter that timed out does not swallow a later signal: w0 (30 ms) then
     * w1 (forever) queue; w0 times out; one signal must wake w1 */
    c->queued = 0;
    atomic_store(&c->done, 0);
    atomic_store(&c->returned[0], 0);
    atomic_store(&c->returned[1], 0);
    cvto_arg a0 = {c, 0, 30 * MS}, a1 = {c, 1, GO_FOREVER};
    spawn(cvto_waiter, &a0);
    while (cvto_queued(c) < 1)
        go_yield();
    spawn(cvto_waiter, &a1);
    while (cvto_queued(c) < 2)
        go_yield();
    yield_until(&c->returned[0], 1);
    CHECKF(c->rc[0] == GO_ETIMEDOUT, "the 30 ms waiter returned %d (%s)", c->rc[0],
           go_strerror(c->rc[0]));
    go_mutex_lock(&c->m);
    go_cond_signal(&c->cv);
    go_mutex_unlock(&c->m);
    int64_t end = go_now() + 2000 * MS;
    while (atomic_load(&c->returned[1]) == 0 && go_now() < end)
        go_sleep(1 * MS);
    CHECKF(atomic_load(&c->returned[1]) == 1,
           "a signal after a waiter timed out did not wake the remaining waiter within 2 s "
           "(lost on the timed-out one?)");
    if (atomic_load(&c->returned[1]) == 0)
        go_cond_broadcast(&c->cv); /* let the test end */
    yield_until(&c->done, 2);
    CHECKF(c->rc[1] == 0, "the waiter woken by the signal returned %d", c->rc[1]);
    return 0;
}

static void cond_wait_timeout_times_out_not_early_returns_0_when_signalled(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        cvto c = {0};
        run_main(workers, NULL, cvto_main, &c);
    }
}

/* Many timed waits racing with signals and broadcasts: no waiter is lost
 * (each loop ends), nothing hangs, every wait returns with the mutex. */
typedef struct cvrace {
    go_mutex m;
    go_cond cv;
    long tokens; /* [m] */
    long taken;  /* [m] */
    long iters;
    atomic_int waiters_done, stop, done;
    atomic_long timeouts, wakes;
} cvrace;

static void cvrace_waiter(void *arg) {
    cvrace *r = arg;
    unsigned x = (unsigned)go_task_id() * 2654435761u;
    for (long i = 0; i < r->iters; i++) {
        x = x * 1103515245u + 12345u;
        go_mutex_lock(&r->m);
        while (r->tokens == 0) {
            /* never 0: a wait_timeout(0) loop would reach no safepoint */
            int64_t to = (x >> 8) % 3 == 0 ? GO_FOREVER : (int64_t)((x >> 12) % 300 + 1) * 1000;
            int rc = go_cond_wait_timeout(&r->cv, &r->m, to);
            if (rc == GO_ETIMEDOUT)
                atomic_fetch_add(&r->timeouts, 1);
            else if (rc == 0)
                atomic_fetch_add(&r->wakes, 1);
            else
                CHECKF(0, "wait_timeout: %d", rc);
            x = x * 1103515245u + 12345u;
        }
        r->tokens--;
        r->taken++;
        go_mutex_unlock(&r->m);
    }
    atomic_fetch_add(&r->waiters_done, 1);
    atomic_fetch_add(&r->done, 1);
}

static void cvrace_signaller(void *arg) {
    cvrace *r = arg;
    long i = 0;
    while (atomic_load(&r->waiters_done) < 4) {
        go_mutex_lock(&r->m);
        r->tokens++;
        go_mutex_unlock(&r->m);
        if (i % 5 == 0)
            go_cond_broadcast(&r->cv);
        else
            go_cond_signal(&r->cv);
        if (i % 3 == 0)
            go_yield();
        if (i % 50 == 0)
            go_sleep(100 * 1000);
        i++;
    }
    atomic_fetch_add(&r->done, 1);
}

static int cvrace_main(void *arg) {
    cvrace *r = arg;
    for (int i = 0; i < 4; i++)
        spawn(cvrace_waiter, r);
    spawn(cvrace_signaller, r);
    yield_until(&r->done, 5);
    return 0;
}

static void cond_timed_waits_racing_with_signals_lose_nothing(void **state) {
    (void)state;
    WATCH();
    cvrace r = {.iters = 3000 / scale_div};
    run_main(2, NULL, cvrace_main, &r);
    assert_int_equal(r.taken, 4 * r.iters);
    print_message("    %ld timeouts, %ld wake-ups\n", atomic_load(&r.timeouts),
                  atomic_load(&r.wakes));
}

/* =============================================================================================
 * 4. go_waitgroup
 * ============================================================================================= */

#define WG_TASKS 16

typedef struct wgt {
    go_waitgroup wg;
    int flags[WG_TASKS]; /* plain: written before done, read after wait */
    atomic_int waiters_returned, done;
    int64_t delay[WG_TASKS];
} wgt;

typedef struct wg_arg {
    wgt *w;
    int index;
} wg_arg;

static void wg_worker(void *arg) {
    wg_arg *a = arg;
    if (a->w->delay[a->index] > 0)
        go_sleep(a->w->delay[a->index]);
    else
        go_yield();
    a->w->flags[a->index] = 1;
    go_waitgroup_done(&a->w->wg);
}

static int wg_basic_main(void *arg) {
    wgt *w = arg;
    /* a zeroed group: wait returns at once */
    go_waitgroup zero;
    memset(&zero, 0, sizeof zero);
    int64_t t0 = go_now();
    go_waitgroup_wait(&zero);
    CHECK_EQ(go_waitgroup_wait_timeout(&zero, 0), 0);
    CHECK_EQ(go_waitgroup_wait_timeout(&zero, 10000 * MS), 0);
    CHECK_EQ(go_waitgroup_wait_timeout(&zero, GO_FOREVER), 0);
    CHECKF(go_now() - t0 < 1000 * MS, "waits on a zero counter took %lld ms",
           (long long)((go_now() - t0) / MS));
    go_waitgroup wzero = GO_WAITGROUP_INIT;
    go_waitgroup_wait(&wzero);

    wg_arg args[WG_TASKS];
    for (int round = 0; round < 3; round++) { /* reused after reaching zero */
        memset(w->flags, 0, sizeof w->flags);
        go_waitgroup_add(&w->wg, WG_TASKS);
        for (int i = 0; i < WG_TASKS; i++) {
            args[i] = (wg_arg){w, i};
            w->delay[i] = round == 0 ? 0 : (int64_t)((i * 7 + round) % 10) * MS;
            spawn(wg_worker, &args[i]);
        }
        go_waitgroup_wait(&w->wg);
        for (int i = 0; i < WG_TASKS; i++)
            CHECKF(w->flags[i] == 1, "round %d: wait returned before task %d was done", round, i);
        go_waitgroup_wait(&w->wg); /* again: at once */
    }

    /* negative deltas within the count */
    memset(w->flags, 0, sizeof w->flags);
    go_waitgroup_add(&w->wg, 5);
    go_waitgroup_add(&w->wg, -3);
    for (int i = 0; i < 2; i++) {
        args[i] = (wg_arg){w, i};
        w->delay[i] = 5 * MS;
        spawn(wg_worker, &args[i]);
    }
    go_waitgroup_wait(&w->wg);
    CHECK(w->flags[0] == 1 && w->flags[1] == 1);
    /* add(-n) reaching zero releases the waiters */
    go_waitgroup_add(&w->wg, 2);
    go_waitgroup_add(&w->wg, -2);
    CHECK_EQ(go_waitgroup_wait_timeout(&w->wg, 0), 0);
    return 0;
}

static void waitgroup_add_done_wait_reuse_and_zero(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        wgt *w = calloc(1, sizeof *w);
        assert_non_null(w);
        run_main(workers, NULL, wg_basic_main, w);
        free(w);
    }
}

/* several waiters are all released by the last done */
static void wg_waiter(void *arg) {
    wgt *w = arg;
    go_waitgroup_wait(&w->wg);
    CHECKF(w->flags[0] == 1, "a waiter returned before the done");
    atomic_fetch_add(&w->waiters_returned, 1);
    atomic_fetch_add(&w->done, 1);
}

static void wg_late_done(void *arg) {
    wgt *w = arg;
    go_sleep(20 * MS);
    w->flags[0] = 1;
    go_waitgroup_done(&w->wg);
}

static int wg_many_waiters_main(void *arg) {
    wgt *w = arg;
    go_waitgroup_add(&w->wg, 1);
    for (int i = 0; i < 6; i++)
        spawn(wg_waiter, w);
    go_sleep(10 * MS);
    CHECKF(atomic_load(&w->waiters_returned) == 0, "waiters returned with the counter at 1");
    spawn(wg_late_done, w);
    yield_until(&w->done, 6);
    return 0;
}

static void waitgroup_last_done_releases_every_waiter(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        wgt *w = calloc(1, sizeof *w);
        assert_non_null(w);
        run_main(workers, NULL, wg_many_waiters_main, w);
        assert_int_equal(atomic_load(&w->waiters_returned), 6);
        free(w);
    }
}

static int wg_timeout_main(void *arg) {
    wgt *w = arg;
    go_waitgroup_add(&w->wg, 1);
    int64_t t0 = go_now();
    int rc = go_waitgroup_wait_timeout(&w->wg, 30 * MS);
    int64_t dt = go_now() - t0;
    CHECKF(rc == GO_ETIMEDOUT, "wait_timeout(30 ms) with counter 1: %d (%s)", rc, go_strerror(rc));
    CHECKF(dt >= 30 * MS, "wait_timeout(30 ms) returned after %lld ns: early", (long long)dt);
    t0 = go_now();
    rc = go_waitgroup_wait_timeout(&w->wg, 0);
    CHECKF(rc == GO_ETIMEDOUT, "wait_timeout(0) with counter 1: %d (%s)", rc, go_strerror(rc));
    CHECKF(go_now() - t0 < 500 * MS, "wait_timeout(0) waited");
    const int64_t bad[] = {-2, -1000, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        rc = go_waitgroup_wait_timeout(&w->wg, bad[i]);
        CHECKF(rc == GO_EINVAL, "wait_timeout(%lld): %d (%s)", (long long)bad[i], rc,
               go_strerror(rc));
    }
    spawn(wg_late_done, w); /* done after 20 ms */
    t0 = go_now();
    rc = go_waitgroup_wait_timeout(&w->wg, 10000 * MS);
    dt = go_now() - t0;
    CHECKF(rc == 0, "wait_timeout(10 s) with a done after 20 ms: %d (%s)", rc, go_strerror(rc));
    CHECKF(dt < 5000 * MS, "wait_timeout(10 s) released after %lld ms", (long long)(dt / MS));
    CHECK(w->flags[0] == 1);
    /* a waiter that timed out is gone: the next done and wait behave */
    go_waitgroup_add(&w->wg, 1);
    CHECK_EQ(go_waitgroup_wait_timeout(&w->wg, 1 * MS), GO_ETIMEDOUT);
    go_waitgroup_done(&w->wg);
    CHECK_EQ(go_waitgroup_wait_timeout(&w->wg, GO_FOREVER), 0);
    return 0;
}

static void waitgroup_wait_timeout(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        wgt *w = calloc(1, sizeof *w);
        assert_non_null(w);
        run_main(workers, NULL, wg_timeout_main, w);
        free(w);
    }
}

/* =============================================================================================
 * 5. go_once
 * ============================================================================================= */

#define ONCE_CALLERS 16

typedef struct oncet {
    go_once once;
    atomic_int runs, finished, started, done;
    atomic_int early_returns;
    void *arg_seen;
    int value; /* plain: written by fn, read by every caller after go_once_do */
    int values_seen_wrong;
} oncet;

static void once_fn(void *arg) {
    oncet *o = arg;
    o->arg_seen = arg;
    atomic_fetch_add(&o->runs, 1);
    yield_until(&o->started, ONCE_CALLERS); /* every caller is in go_once_do by now, or about to */
    go_sleep(20 * MS);
    o->value = 7;
    atomic_store(&o->finished, 1);
}

static void once_caller(void *arg) {
    oncet *o = arg;
    atomic_fetch_add(&o->started, 1);
    go_once_do(&o->once, once_fn, o);
    if (atomic_load(&o->finished) == 0)
        atomic_fetch_add(&o->early_returns, 1);
    if (o->value != 7)
        atomic_fetch_add(&o->early_returns, 1);
    atomic_fetch_add(&o->done, 1);
}

static void never_called(void *arg) {
    atomic_fetch_add((atomic_int *)arg, 1);
}

static int once_main(void *arg) {
    oncet *o = arg;
    for (int i = 0; i < ONCE_CALLERS; i++)
        spawn(once_caller, o);
    yield_until(&o->done, ONCE_CALLERS);
    /* later calls do nothing, whatever fn */
    atomic_int other = 0;
    go_once_do(&o->once, never_called, &other);
    go_once_do(&o->once, once_fn, o);
    CHECK_EQ(atomic_load(&other), 0);
    /* a fresh GO_ONCE_INIT object runs its fn */
    go_once o2 = GO_ONCE_INIT;
    go_once_do(&o2, never_called, &other);
    go_once_do(&o2, never_called, &other);
    CHECK_EQ(atomic_load(&other), 1);
    return 0;
}

static void once_runs_fn_once_for_16_concurrent_callers(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        oncet o = {0};
        run_main(workers, NULL, once_main, &o);
        assert_int_equal(atomic_load(&o.runs), 1);
        assert_int_equal(atomic_load(&o.early_returns), 0);
        assert_ptr_equal(o.arg_seen, &o);
    }
}

/* =============================================================================================
 * 6. go_sem
 * ============================================================================================= */

static go_sem static_sem = GO_SEM_INIT(2);

typedef struct semt {
    go_sem s;
    atomic_int acquired, done, inside, max_inside, violations;
    int rc;
    int64_t waited;
    long iters;
    int units;
} semt;

static int sem_basic_main(void *arg) {
    (void)arg;
    CHECK_EQ(go_sem_tryacquire(&static_sem), 0);
    CHECK_EQ(go_sem_tryacquire(&static_sem), 0);
    CHECK_EQ(go_sem_tryacquire(&static_sem), GO_EAGAIN);
    go_sem_release(&static_sem);
    CHECK_EQ(go_sem_tryacquire(&static_sem), 0);
    CHECK_EQ(go_sem_tryacquire(&static_sem), GO_EAGAIN);
    go_sem_release(&static_sem);
    go_sem_release(&static_sem);
    go_sem_acquire(&static_sem); /* available: does not block */
    go_sem_acquire(&static_sem);
    go_sem_release(&static_sem);
    go_sem_release(&static_sem);

    go_sem s0 = GO_SEM_INIT(0);
    CHECK_EQ(go_sem_tryacquire(&s0), GO_EAGAIN);
    go_sem_release(&s0);
    CHECK_EQ(go_sem_tryacquire(&s0), 0);
    CHECK_EQ(go_sem_tryacquire(&s0), GO_EAGAIN);

    /* go_sem_init over garbage, as for an uninitialised local */
    go_sem g;
    memset(&g, 0xA5, sizeof g);
    go_sem_init(&g, 3);
    for (int i = 0; i < 3; i++)
        CHECKF(go_sem_tryacquire(&g) == 0, "go_sem_init(3): tryacquire %d failed", i + 1);
    CHECK_EQ(go_sem_tryacquire(&g), GO_EAGAIN);
    go_sem_release(&g);
    CHECK_EQ(go_sem_acquire_timeout(&g, 0), 0);
    CHECK_EQ(go_sem_acquire_timeout(&g, 0), GO_ETIMEDOUT);
    memset(&g, 0x5A, sizeof g);
    go_sem_init(&g, 0);
    CHECK_EQ(go_sem_tryacquire(&g), GO_EAGAIN);
    /* a large count */
    go_sem_init(&g, (int64_t)UINT32_MAX);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(go_sem_tryacquire(&g), 0);
    return 0;
}

static void sem_init_tryacquire_and_eagain(void **state) {
    (void)state;
    WATCH();
    run_main(1, NULL, sem_basic_main, NULL);
}

static void sem_acquirer(void *arg) {
    semt *t = arg;
    go_sem_acquire(&t->s);
    atomic_store(&t->acquired, 1);
    atomic_fetch_add(&t->done, 1);
}

static void sem_timed_acquirer(void *arg) {
    semt *t = arg;
    int64_t t0 = go_now();
    t->rc = go_sem_acquire_timeout(&t->s, 10000 * MS);
    t->waited = go_now() - t0;
    atomic_store(&t->acquired, 1);
    atomic_fetch_add(&t->done, 1);
}

static int sem_blocking_main(void *arg) {
    semt *t = arg;
    go_sem_init(&t->s, 0);
    /* acquire parks until a release */
    spawn(sem_acquirer, t);
    go_sleep(20 * MS);
    CHECKF(atomic_load(&t->acquired) == 0, "acquire of an empty semaphore returned");
    go_sem_release(&t->s);
    yield_until(&t->done, 1);
    CHECK_EQ(go_sem_tryacquire(&t->s), GO_EAGAIN); /* the unit went to the waiter */

    /* acquire_timeout: timeouts, not early; 0; invalid */
    const int64_t timeouts[] = {1 * MS, 30 * MS};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = go_now();
        int rc = go_sem_acquire_timeout(&t->s, timeouts[i]);
        int64_t dt = go_now() - t0;
        CHECKF(rc == GO_ETIMEDOUT, "acquire_timeout(%lld ns) at 0 units: %d (%s)",
               (long long)timeouts[i], rc, go_strerror(rc));
        CHECKF(dt >= timeouts[i], "acquire_timeout(%lld ns) returned after %lld ns: early",
               (long long)timeouts[i], (long long)dt);
    }
    int64_t t0 = go_now();
    CHECK_EQ(go_sem_acquire_timeout(&t->s, 0), GO_ETIMEDOUT);
    CHECKF(go_now() - t0 < 500 * MS, "acquire_timeout(0) waited");
    const int64_t bad[] = {-2, -1000, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        int rc = go_sem_acquire_timeout(&t->s, bad[i]);
        CHECKF(rc == GO_EINVAL, "acquire_timeout(%lld): %d (%s)", (long long)bad[i], rc,
               go_strerror(rc));
    }
    go_sem_release(&t->s);
    CHECK_EQ(go_sem_acquire_timeout(&t->s, 0), 0);
    go_sem_release(&t->s);
    CHECK_EQ(go_sem_acquire_timeout(&t->s, GO_FOREVER), 0);

    /* a timed acquire released by another task */
    atomic_store(&t->acquired, 0);
    atomic_store(&t->done, 0);
    spawn(sem_timed_acquirer, t);
    go_sleep(20 * MS);
    go_sem_release(&t->s);
    yield_until(&t->done, 1);
    CHECKF(t->rc == 0, "acquire_timeout(10 s) released after 20 ms: %d (%s)", t->rc,
           go_strerror(t->rc));
    CHECKF(t->waited < 5000 * MS, "acquire_timeout(10 s) took %lld ms",
           (long long)(t->waited / MS));

    /* a waiter that timed out does not take a unit released later */
    t0 = go_now();
    CHECK_EQ(go_sem_acquire_timeout(&t->s, 5 * MS), GO_ETIMEDOUT);
    go_sem_release(&t->s);
    CHECKF(go_sem_tryacquire(&t->s) == 0,
           "the unit released after a timed-out acquire is gone (given to the gone waiter?)");
    CHECK_EQ(go_sem_tryacquire(&t->s), GO_EAGAIN);
    return 0;
}

static void sem_acquire_parks_and_acquire_timeout(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        semt t = {0};
        run_main(workers, NULL, sem_blocking_main, &t);
    }
}

/* two queued waiters, the first times out: one release goes to the second */
typedef struct semq {
    go_sem s;
    atomic_int queued, returned0, returned1, done;
    int rc0, rc1;
} semq;

static void semq_first(void *arg) {
    semq *q = arg;
    atomic_fetch_add(&q->queued, 1);
    q->rc0 = go_sem_acquire_timeout(&q->s, 30 * MS);
    atomic_store(&q->returned0, 1);
    atomic_fetch_add(&q->done, 1);
}

static void semq_second(void *arg) {
    semq *q = arg;
    atomic_fetch_add(&q->queued, 1);
    q->rc1 = go_sem_acquire_timeout(&q->s, GO_FOREVER);
    atomic_store(&q->returned1, 1);
    atomic_fetch_add(&q->done, 1);
}

static int semq_main(void *arg) {
    semq *q = arg;
    go_sem_init(&q->s, 0);
    spawn(semq_first, q);
    yield_until(&q->queued, 1);
    go_sleep(2 * MS);
    spawn(semq_second, q);
    yield_until(&q->queued, 2);
    yield_until(&q->returned0, 1);
    go_sem_release(&q->s);
    int64_t end = go_now() + 2000 * MS;
    while (atomic_load(&q->returned1) == 0 && go_now() < end)
        go_sleep(1 * MS);
    CHECKF(atomic_load(&q->returned1) == 1,
           "one release after the first waiter timed out did not wake the second within 2 s");
    if (atomic_load(&q->returned1) == 0)
        go_sem_release(&q->s);
    yield_until(&q->done, 2);
    CHECKF(q->rc0 == GO_ETIMEDOUT, "first waiter: %d", q->rc0);
    CHECKF(q->rc1 == 0, "second waiter: %d", q->rc1);
    CHECK_EQ(go_sem_tryacquire(&q->s), GO_EAGAIN);
    return 0;
}

static void sem_timed_out_waiter_does_not_swallow_a_release(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        semq q = {0};
        run_main(workers, NULL, semq_main, &q);
    }
}

/* at most n holders at once */
static void sem_holder(void *arg) {
    semt *t = arg;
    unsigned x = (unsigned)go_task_id();
    for (long i = 0; i < t->iters; i++) {
        x = x * 1103515245u + 12345u;
        switch ((x >> 10) % 4) {
        case 0:
            while (go_sem_tryacquire(&t->s) != 0)
                go_yield();
            break;
        case 1:
            while (go_sem_acquire_timeout(&t->s, (int64_t)((x >> 14) % 200) * 1000) != 0)
                go_yield();
            break;
        default:
            go_sem_acquire(&t->s);
        }
        int n = atomic_fetch_add(&t->inside, 1) + 1;
        if (n > t->units)
            atomic_fetch_add(&t->violations, 1);
        int m = atomic_load(&t->max_inside);
        while (n > m && !atomic_compare_exchange_weak(&t->max_inside, &m, n)) {
        }
        if (i % 4 == 0)
            go_sleep(200 * 1000);
        else
            go_yield();
        atomic_fetch_sub(&t->inside, 1);
        go_sem_release(&t->s);
    }
    atomic_fetch_add(&t->done, 1);
}

static int sem_count_main(void *arg) {
    semt *t = arg;
    go_sem_init(&t->s, t->units);
    for (int i = 0; i < 12; i++)
        spawn(sem_holder, t);
    yield_until(&t->done, 12);
    for (int i = 0; i < t->units; i++)
        CHECKF(go_sem_tryacquire(&t->s) == 0, "unit %d of %d missing at the end", i + 1, t->units);
    CHECKF(go_sem_tryacquire(&t->s) == GO_EAGAIN, "more than %d units at the end", t->units);
    return 0;
}

static void sem_admits_at_most_n_holders(void **state) {
    (void)state;
    WATCH();
    semt t = {.units = 3, .iters = 400 / scale_div};
    run_main(2, NULL, sem_count_main, &t);
    print_message("    at most %d of 12 tasks inside a semaphore of 3\n",
                  atomic_load(&t.max_inside));
    assert_int_equal(atomic_load(&t.violations), 0);
    assert_true(atomic_load(&t.max_inside) >= 2);
}

/* =============================================================================================
 * 7. Sync objects inside collected objects
 * ============================================================================================= */

typedef struct syncbox {
    struct syncbox *self; /* the one pointer field */
    go_mutex m;
    go_rwmutex rw;
    go_cond cv;
    go_waitgroup wg;
    go_once once;
    go_sem sem;
    long counter;  /* [m] */
    long pair[2];  /* [rw] */
    int once_runs; /* by the once's fn */
    int ready;     /* [m] */
    long check;    /* untouched: 0xb0b0 ^ id */
    atomic_int sem_inside, errors;
} syncbox;

static const size_t syncbox_ptrs[] = {offsetof(syncbox, self)};
static const go_type syncbox_type = {"test_sync.syncbox", sizeof(syncbox), 1, syncbox_ptrs, NULL};
static const go_type garbage_type = {"test_sync.garbage", 96, 0, NULL, NULL};

#define BOX_TASKS 8

static void box_once(void *arg) {
    syncbox *b = arg;
    b->once_runs++;
}

static void box_task(void *arg) {
    syncbox *b = arg; /* a spawn argument, then on this stack: the box stays alive */
    long iters = 300 / scale_div;
    for (long i = 0; i < iters; i++) {
        go_mutex_lock(&b->m);
        long v = b->counter;
        if (i % 8 == 0)
            go_yield();
        b->counter = v + 1;
        go_mutex_unlock(&b->m);

        if (i % 3 == 0) {
            go_rwmutex_lock(&b->rw);
            b->pair[0]++;
            go_yield();
            b->pair[1]++;
            go_rwmutex_unlock(&b->rw);
        } else {
            go_rwmutex_rlock(&b->rw);
            if (b->pair[0] != b->pair[1])
                atomic_fetch_add(&b->errors, 1);
            go_rwmutex_runlock(&b->rw);
        }

        go_sem_acquire(&b->sem);
        if (atomic_fetch_add(&b->sem_inside, 1) >= 2)
            atomic_fetch_add(&b->errors, 1);
        if (i % 16 == 0)
            go_sleep(50 * 1000);
        atomic_fetch_sub(&b->sem_inside, 1);
        go_sem_release(&b->sem);

        go_once_do(&b->once, box_once, b);
        if (i % 32 == 0)
            go_new(&garbage_type); /* churn */
    }
    /* wait on the box's cond until main says ready */
    go_mutex_lock(&b->m);
    while (!b->ready)
        go_cond_wait(&b->cv, &b->m);
    go_mutex_unlock(&b->m);
    go_waitgroup_done(&b->wg);
}

static int box_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 3; round++) {
        syncbox *b = go_new(&syncbox_type);
        CHECK(b != NULL);
        if (b == NULL)
            return 1;
        /* zeroed */
        const unsigned char *bytes = (const unsigned char *)b;
        for (size_t i = 0; i < sizeof *b; i++)
            if (bytes[i] != 0) {
                CHECKF(0, "go_new object not zeroed at byte %zu", i);
                break;
            }
        GO_STORE(b->self, b);
        b->check = 0xb0b0 ^ round;
        go_sem_init(&b->sem, 2);
        go_waitgroup_add(&b->wg, BOX_TASKS);
        for (int i = 0; i < BOX_TASKS; i++)
            spawn(box_task, b);
        /* collections while the tasks park on the box's locks */
        for (int k = 0; k < 4; k++) {
            go_gc_collect();
            for (int j = 0; j < 50; j++)
                go_new(&garbage_type);
            go_sleep(2 * MS);
        }
        go_mutex_lock(&b->m);
        b->ready = 1;
        go_cond_broadcast(&b->cv);
        go_mutex_unlock(&b->m);
        go_waitgroup_wait(&b->wg); /* the box's own wait group */
        go_gc_collect();
        long iters = 300 / scale_div;
        CHECKF(b->counter == BOX_TASKS * iters, "round %d: counter %ld, expected %ld", round,
               b->counter, BOX_TASKS * iters);
        CHECK_EQ(b->once_runs, 1);
        CHECK(b->pair[0] == b->pair[1]);
        CHECK_EQ(atomic_load(&b->errors), 0);
        CHECK(b->self == b);
        CHECK_EQ(b->check, 0xb0b0 ^ round);
    }
    go_gc_collect(); /* the dropped boxes are freed (and poisoned) now */
    return 0;
}

static void sync_objects_inside_collected_objects_work_zeroed(void **state) {
    (void)state;
    WATCH();
    run_main(2, "checkmark=1,poison=1", box_main, NULL);
}

/* =============================================================================================
 * 8. Threads that are not tasks
 * ============================================================================================= */

typedef struct mixed {
    go_mutex m;
    long counter; /* [m] plain */
    long iters;
    int attach; /* the thread attaches itself first */
    atomic_int thread_done, tasks_done, inside, violations;
    int attach_rc;
} mixed;

static void mixed_body(mixed *x, bool is_task) {
    for (long i = 0; i < x->iters; i++) {
        if (i % 5 == 0 && go_mutex_trylock(&x->m) == 0) {
        } else {
            go_mutex_lock(&x->m);
        }
        if (atomic_fetch_add(&x->inside, 1) != 0)
            atomic_fetch_add(&x->violations, 1);
        long v = x->counter;
        if (is_task && i % 32 == 0)
            go_yield();
        else if (!is_task && i % 64 == 0)
            sched_yield();
        x->counter = v + 1;
        atomic_fetch_sub(&x->inside, 1);
        go_mutex_unlock(&x->m);
    }
}

static void mixed_thread(void *arg) {
    mixed *x = arg;
    if (x->attach)
        x->attach_rc = go_thread_attach();
    mixed_body(x, false);
    if (x->attach)
        go_thread_detach();
    atomic_store(&x->thread_done, 1);
}

static void mixed_task(void *arg) {
    mixed *x = arg;
    mixed_body(x, true);
    atomic_fetch_add(&x->tasks_done, 1);
}

static int mixed_main(void *arg) {
    mixed *x = arg;
    uv_thread_t th;
    go_mutex_lock(&x->m); /* the thread starts by waiting for a task */
    thread_start(&th, mixed_thread, x);
    for (int i = 0; i < 4; i++)
        spawn(mixed_task, x);
    go_sleep(5 * MS);
    go_mutex_unlock(&x->m);
    yield_until(&x->tasks_done, 4);
    yield_until(&x->thread_done, 1);
    uv_thread_join(&th);
    return 0;
}

static void mutex_shared_by_tasks_and_a_thread_that_is_not_a_task(void **state) {
    (void)state;
    WATCH();
    for (int attach = 0; attach <= 1; attach++) {
        mixed *x = calloc(1, sizeof *x); /* malloc'ed memory: fine for sync objects */
        assert_non_null(x);
        x->iters = 5000 / scale_div;
        x->attach = attach;
        run_main(2, NULL, mixed_main, x);
        assert_int_equal(x->attach_rc, 0);
        assert_int_equal(atomic_load(&x->violations), 0);
        assert_int_equal(x->counter, 5 * x->iters);
        free(x);
    }
}

/* A plain thread waits for tasks: on a wait group, a cond, a semaphore, an
 * rwmutex; and wakes tasks parked on them. */
#define THR_TASKS 8

typedef struct thr {
    go_waitgroup wg;
    go_mutex m;
    go_cond cv;
    go_sem sem;
    go_rwmutex rw;
    int flags[THR_TASKS]; /* plain: set by the tasks before done */
    int ready;            /* [m] */
    int task_ready;       /* [m] set by the thread for the task waiter */
    atomic_int step, thread_done, task_waiter_done, rw_thread_in, rw_task_released;
    int wg_timeout_rc, wg_rc_after, flags_ok, cv_ok, sem_rc_timeout, sem_ok, rw_order_ok;
} thr;

typedef struct thr_arg {
    thr *t;
    int index;
} thr_arg;

static void thr_task(void *arg) {
    thr_arg *a = arg;
    go_sleep(30 * MS + (int64_t)a->index * MS);
    a->t->flags[a->index] = 1;
    go_waitgroup_done(&a->t->wg);
}

static void thr_task_cond_waiter(void *arg) {
    thr *t = arg;
    go_mutex_lock(&t->m);
    while (!t->task_ready)
        go_cond_wait(&t->cv, &t->m);
    go_mutex_unlock(&t->m);
    atomic_store(&t->task_waiter_done, 1);
}

static void thr_task_signaller(void *arg) {
    thr *t = arg;
    go_sleep(20 * MS);
    go_mutex_lock(&t->m);
    t->ready = 1;
    go_cond_signal(&t->cv);
    go_mutex_unlock(&t->m);
}

static void thr_task_releaser(void *arg) {
    thr *t = arg;
    go_sleep(20 * MS);
    go_sem_release(&t->sem);
}

static void thr_task_writer(void *arg) {
    thr *t = arg;
    go_rwmutex_lock(&t->rw);
    atomic_store(&t->step, 1);
    go_sleep(20 * MS);
    atomic_store(&t->rw_task_released, 1);
    go_rwmutex_unlock(&t->rw);
}

/* the plain thread; args points to THR_TASKS thr_arg */
typedef struct thr_ctx {
    thr *t;
    thr_arg *args;
} thr_ctx;

static void thr_thread(void *arg) {
    thr_ctx *ctx = arg;
    thr *t = ctx->t;
    /* wait group: spawn the tasks from here, time out once, then wait */
    go_waitgroup_add(&t->wg, THR_TASKS);
    for (int i = 0; i < THR_TASKS; i++) {
        ctx->args[i] = (thr_arg){t, i};
        if (go_spawn(thr_task, &ctx->args[i]) != 0)
            go_waitgroup_done(&t->wg);
    }
    t->wg_timeout_rc = go_waitgroup_wait_timeout(&t->wg, 1 * MS);
    go_waitgroup_wait(&t->wg);
    t->flags_ok = 1;
    for (int i = 0; i < THR_TASKS; i++)
        if (t->flags[i] != 1)
            t->flags_ok = 0;
    t->wg_rc_after = go_waitgroup_wait_timeout(&t->wg, 0);

    /* cond: this thread waits, a task signals */
    go_spawn(thr_task_signaller, t);
    go_mutex_lock(&t->m);
    while (!t->ready)
        go_cond_wait(&t->cv, &t->m);
    t->cv_ok = 1;
    go_mutex_unlock(&t->m);
    /* and the other way round: a task waits, this thread signals */
    go_spawn(thr_task_cond_waiter, t);
    uv_sleep(10);
    go_mutex_lock(&t->m);
    t->task_ready = 1;
    go_cond_broadcast(&t->cv);
    go_mutex_unlock(&t->m);

    /* semaphore: time out, then a task releases */
    go_sem_init(&t->sem, 0);
    t->sem_rc_timeout = go_sem_acquire_timeout(&t->sem, 2 * MS);
    go_spawn(thr_task_releaser, t);
    go_sem_acquire(&t->sem);
    t->sem_ok = 1;

    /* rwmutex: a task holds the write lock; this thread's rlock waits for it */
    go_spawn(thr_task_writer, t);
    while (atomic_load(&t->step) == 0)
        uv_sleep(1);
    go_rwmutex_rlock(&t->rw);
    t->rw_order_ok = atomic_load(&t->rw_task_released) == 1;
    go_rwmutex_runlock(&t->rw);

    while (atomic_load(&t->task_waiter_done) == 0)
        uv_sleep(1);
    atomic_store(&t->thread_done, 1);
}

static int thr_main(void *arg) {
    thr_ctx *ctx = arg;
    uv_thread_t th;
    thread_start(&th, thr_thread, ctx);
    yield_until(&ctx->t->thread_done, 1);
    uv_thread_join(&th);
    return 0;
}

static void thr_check(thr *t) {
    CHECKF(t->wg_timeout_rc == GO_ETIMEDOUT, "thread: wait_timeout(1 ms) with tasks pending: %d",
           t->wg_timeout_rc);
    CHECKF(t->flags_ok == 1, "thread: go_waitgroup_wait returned before every task was done");
    CHECK_EQ(t->wg_rc_after, 0);
    CHECK_EQ(t->cv_ok, 1);
    CHECKF(t->sem_rc_timeout == GO_ETIMEDOUT, "thread: acquire_timeout(2 ms): %d",
           t->sem_rc_timeout);
    CHECK_EQ(t->sem_ok, 1);
    CHECKF(t->rw_order_ok == 1, "thread: rlock returned while a task held the write lock");
}

static void plain_thread_waits_for_tasks_on_waitgroup_cond_sem_rwmutex(void **state) {
    (void)state;
    WATCH();
    thr *t = calloc(1, sizeof *t);
    thr_arg *args = calloc(THR_TASKS, sizeof *args);
    assert_non_null(t);
    assert_non_null(args);
    thr_ctx ctx = {t, args};
    run_main(2, NULL, thr_main, &ctx);
    thr_check(t);
    report_failures();
    free(t);
    free(args);
}

/* The thread that called go_start is an unattached thread too: it does the
 * same as the plain thread above (then a mutex contention with tasks), and
 * go_stop waits for the tasks. */
static void mixed_task_stopped(void *arg) {
    mixed *x = arg;
    mixed_body(x, true);
    atomic_fetch_add(&x->tasks_done, 1);
}

static void embedding_thread_uses_sync_objects_between_go_start_and_go_stop(void **state) {
    (void)state;
    WATCH();
    thr *t = calloc(1, sizeof *t);
    thr_arg *args = calloc(THR_TASKS, sizeof *args);
    mixed *x = calloc(1, sizeof *x);
    assert_non_null(t);
    assert_non_null(args);
    assert_non_null(x);
    x->iters = 3000 / scale_div;
    go_config cfg = {.workers = 2};
    assert_int_equal(go_start(&cfg), 0);
    thr_ctx ctx = {t, args};
    thr_thread(&ctx); /* on this thread */
    for (int i = 0; i < 3; i++)
        go_spawn(mixed_task_stopped, x);
    mixed_body(x, false);
    int rc = go_stop();
    assert_int_equal(rc, 0);
    thr_check(t);
    report_failures();
    assert_int_equal(atomic_load(&x->tasks_done), 3);
    assert_int_equal(atomic_load(&x->violations), 0);
    assert_int_equal(x->counter, 4 * x->iters);
    free(t);
    free(args);
    free(x);
}

/* ============================================================================================= */

static int group_setup(void **state) {
    (void)state;
    return gort_test_watchdog_start("test_sync", WATCH_SECONDS) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    gort_test_watchdog_stop();
    return 0;
}

#define T(f) cmocka_unit_test_setup(f, test_setup)

int main(void) {
#if defined(GORT_TSAN)
    scale_div = 4;
#elif defined(GORT_ASAN)
    scale_div = 2;
#endif
    if (getenv("GORT_UNDER_VALGRIND") != NULL)
        scale_div = 8;
    const struct CMUnitTest tests[] = {
        /* 1. go_mutex */
        T(mutex_zeroed_lock_unlock_trylock),
        T(mutex_lock_parks_until_the_holder_unlocks),
        T(mutex_may_be_unlocked_by_another_task),
        T(mutex_excludes_8_tasks_on_2_workers),
        T(mutex_waiter_is_not_starved_by_a_task_relocking_in_a_loop),
        /* 2. go_rwmutex */
        T(rwmutex_zeroed_rlock_runlock_lock_unlock),
        T(rwmutex_readers_are_inside_together),
        T(rwmutex_writers_exclude_readers_and_writers),
        T(rwmutex_waiting_writer_blocks_new_readers),
        T(rwmutex_writer_is_not_starved_by_overlapping_readers),
        /* 3. go_cond */
        T(cond_signal_wakes_one_waiter_in_fifo_order),
        T(cond_broadcast_wakes_every_waiter),
        T(cond_wait_timeout_times_out_not_early_returns_0_when_signalled),
        T(cond_timed_waits_racing_with_signals_lose_nothing),
        /* 4. go_waitgroup */
        T(waitgroup_add_done_wait_reuse_and_zero),
        T(waitgroup_last_done_releases_every_waiter),
        T(waitgroup_wait_timeout),
        /* 5. go_once */
        T(once_runs_fn_once_for_16_concurrent_callers),
        /* 6. go_sem */
        T(sem_init_tryacquire_and_eagain),
        T(sem_acquire_parks_and_acquire_timeout),
        T(sem_timed_out_waiter_does_not_swallow_a_release),
        T(sem_admits_at_most_n_holders),
        /* 7. inside collected objects */
        T(sync_objects_inside_collected_objects_work_zeroed),
        /* 8. threads that are not tasks */
        T(mutex_shared_by_tasks_and_a_thread_that_is_not_a_task),
        T(plain_thread_waits_for_tasks_on_waitgroup_cond_sem_rwmutex),
        T(embedding_thread_uses_sync_objects_between_go_start_and_go_stop),
    };
    const char *filter = getenv("TEST_SYNC_FILTER");
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    const char *skip = getenv("TEST_SYNC_SKIP");
    if (skip != NULL)
        cmocka_set_skip_filter(skip);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
