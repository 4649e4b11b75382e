/* test_park.c - parking and readying tasks (sched/park.c, the internal API
 * channels, timers and locks build on): the unlock callback, readying from a
 * task, from the scheduler (a cancelled park) and from a thread that is not a
 * worker, the woken task's place before tasks not started yet, and a long
 * ping-pong that would hang on a lost wake-up.
 * Readying a task that is not parked is fatal: crash_ready_not_parked.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

/* ---- a one-shot wake-up slot guarded by a spinlock ------------------------------- */

typedef struct slot {
    gort_test_spinlock lock;
    gort_task *waiter; /* [lock] the parked task, NULL if none */
    bool signaled;     /* [lock] */
} slot;

/* The waiter: parks unless already signaled. Returns true if it parked. */
static bool slot_wait(slot *s) {
    gort_test_lock(&s->lock);
    if (s->signaled) {
        gort_test_unlock(&s->lock);
        return false;
    }
    s->waiter = gort_sched_current_task();
    gort_sched_park(gort_test_unlock_cb, &s->lock, "slot");
    return true;
}

/* The waker: from a task or any thread. */
static void slot_signal(slot *s) {
    gort_test_lock(&s->lock);
    s->signaled = true;
    gort_task *t = s->waiter;
    s->waiter = NULL;
    gort_test_unlock(&s->lock);
    if (t != NULL)
        gort_sched_ready(t);
}

/* ---- ready from another task --------------------------------------------------------- */

typedef struct handoff {
    slot s;
    atomic_int waiter_started, resumed, waker_done;
    int value; /* plain: written by the waker before ready, read by the waiter after */
    int seen;  /* plain: written by the waiter after it resumed */
    bool parked;
    gort_test_wg wg;
} handoff;

static void handoff_waiter(void *arg) {
    handoff *h = arg;
    atomic_store(&h->waiter_started, 1);
    h->parked = slot_wait(&h->s);
    h->seen = h->value;
    atomic_store(&h->resumed, 1);
    gort_test_wg_done(&h->wg);
}

static void handoff_waker(void *arg) {
    handoff *h = arg;
    gort_test_yield_until(&h->waiter_started, 1); /* makes a park likely, not certain */
    h->value = 31337;
    slot_signal(&h->s);
    atomic_store(&h->waker_done, 1);
    gort_test_wg_done(&h->wg);
}

static int run_handoff(void *arg) {
    handoff *h = arg;
    gort_test_wg_add(&h->wg, 2);
    if (go_spawn(handoff_waiter, h) != 0 || go_spawn(handoff_waker, h) != 0)
        return -1;
    gort_test_wg_wait(&h->wg);
    return 0;
}

static void parked_task_resumes_when_another_task_readies_it(void **state) {
    (void)state;
    for (int workers = 1; workers <= 2; workers++) {
        handoff h = {0};
        assert_int_equal(gort_test_run(workers, run_handoff, &h), 0);
        assert_int_equal(atomic_load(&h.resumed), 1);
        assert_int_equal(h.seen, 31337); /* the ready published the waker's writes */
    }
}

/* One worker, waiter spawned first: the waiter runs first and really parks. */
static int run_handoff_waiter_first(void *arg) {
    handoff *h = arg;
    gort_test_wg_add(&h->wg, 2);
    if (go_spawn(handoff_waiter, h) != 0)
        return -1;
    gort_test_yield_until(&h->waiter_started, 1);
    if (go_spawn(handoff_waker, h) != 0)
        return -1;
    gort_test_wg_wait(&h->wg);
    return 0;
}

static void unlock_callback_releases_the_lock_the_waker_takes(void **state) {
    (void)state;
    handoff h = {0};
    assert_int_equal(gort_test_run(1, run_handoff_waiter_first, &h), 0);
    assert_true(h.parked);
    assert_int_equal(atomic_load(&h.resumed), 1);
    assert_int_equal(atomic_load(&h.s.lock.held), 0);
}

/* ---- the unlock callback runs after the task is switched out ------------------------ */

typedef struct unlock_probe {
    gort_task *task;
    uint64_t id_in_callback;
    gort_task *current_in_callback; /* the scheduler runs no task */
    int worker_in_callback;
    atomic_int called;
    void *arg_seen;
} unlock_probe;

static bool probe_and_cancel(gort_task *t, void *arg) {
    unlock_probe *p = arg;
    p->arg_seen = arg;
    p->task = t;
    p->id_in_callback = gort_sched_task_id(t);
    p->current_in_callback = gort_sched_current_task();
    p->worker_in_callback = gort_sched_worker_index();
    atomic_fetch_add(&p->called, 1);
    return false; /* cancel: the scheduler readies t itself */
}

typedef struct cancel_run {
    unlock_probe probe;
    gort_task *self;
    uint64_t self_id;
    int resumed;
} cancel_run;

static int park_cancelled(void *arg) {
    cancel_run *c = arg;
    c->self = gort_sched_current_task();
    c->self_id = go_task_id();
    gort_sched_park(probe_and_cancel, &c->probe, "cancelled");
    c->resumed = 1;
    return 0;
}

static void park_is_cancelled_when_the_unlock_callback_returns_false(void **state) {
    (void)state;
    cancel_run c = {0};
    assert_int_equal(gort_test_run(2, park_cancelled, &c), 0);
    assert_int_equal(c.resumed, 1);
    assert_int_equal(atomic_load(&c.probe.called), 1);
    assert_ptr_equal(c.probe.arg_seen, &c.probe);
}

static void unlock_callback_runs_on_the_scheduler_with_the_parked_task(void **state) {
    (void)state;
    cancel_run c = {0};
    assert_int_equal(gort_test_run(2, park_cancelled, &c), 0);
    assert_ptr_equal(c.probe.task, c.self);
    assert_int_equal(c.probe.id_in_callback, c.self_id);
    assert_null(c.probe.current_in_callback);
    assert_in_range(c.probe.worker_in_callback, 0, 1);
}

/* ---- ready from a thread that is not a worker ------------------------------------------ */

typedef struct external_ready {
    atomic_int resumed;
    gort_task *_Atomic parked; /* published by the unlock callback */
    atomic_int thread_readied;
    int thread_worker_index;
} external_ready;

static bool publish_parked(gort_task *t, void *arg) {
    atomic_store(&((external_ready *)arg)->parked, t);
    return true;
}

static void ready_from_thread(void *arg) {
    external_ready *e = arg;
    e->thread_worker_index = gort_sched_worker_index();
    gort_task *t;
    unsigned spins = 0;
    while ((t = atomic_load(&e->parked)) == NULL)
        gort_test_relax(&spins);
    gort_sched_ready(t);
    atomic_store(&e->thread_readied, 1);
}

static int park_for_a_thread(void *arg) {
    external_ready *e = arg;
    uv_thread_t th;
    if (uv_thread_create(&th, ready_from_thread, e) != 0)
        return -1;
    gort_sched_park(publish_parked, e, "external");
    atomic_store(&e->resumed, 1);
    /* The thread may still be inside gort_sched_ready's tail: wait for it
     * before joining, so that the join does not block the worker for long. */
    gort_test_wait_flag(&e->thread_readied);
    uv_thread_join(&th);
    return 0;
}

static void parked_task_resumes_when_a_non_worker_thread_readies_it(void **state) {
    (void)state;
    for (int workers = 1; workers <= 2; workers++) {
        external_ready e = {0};
        assert_int_equal(gort_test_run(workers, park_for_a_thread, &e), 0);
        assert_int_equal(atomic_load(&e.resumed), 1);
        assert_int_equal(e.thread_worker_index, -1);
    }
}

/* ---- woken tasks go before tasks not yet started ------------------------------------------ */

#define UNSTARTED 1000

typedef struct woken_first {
    external_ready e;         /* the sleeper, readied by a thread */
    atomic_int started;       /* tasks of the spawn burst that have run */
    int started_at_ready;     /* how many had run when the thread readied the sleeper */
    int started_before_woken; /* how many had run when the sleeper resumed */
    gort_test_wg wg;
} woken_first;

static void count_start(void *arg) {
    woken_first *w = arg;
    atomic_fetch_add(&w->started, 1);
    gort_test_wg_done(&w->wg);
}

static void woken_sleeper(void *arg) {
    woken_first *w = arg;
    gort_sched_park(publish_parked, &w->e, "woken first");
    w->started_before_woken = atomic_load(&w->started);
    atomic_store(&w->e.resumed, 1);
    gort_test_wg_done(&w->wg);
}

static int wake_behind_a_spawn_burst(void *arg) {
    woken_first *w = arg;
    gort_test_wg_add(&w->wg, UNSTARTED + 1);
    if (go_spawn(woken_sleeper, w) != 0)
        return -1;
    while (atomic_load(&w->e.parked) == NULL)
        go_yield();
    for (int i = 0; i < UNSTARTED; i++) /* overflows the ring into the global queue */
        if (go_spawn(count_start, w) != 0)
            return -1;
    uv_thread_t th;
    if (uv_thread_create(&th, ready_from_thread, &w->e) != 0)
        return -1;
    /* No safepoint until the thread has readied the sleeper: this task keeps
     * the only worker, so none of the burst starts meanwhile. */
    unsigned spins = 0;
    while (atomic_load(&w->e.thread_readied) == 0)
        gort_test_relax(&spins);
    /* Some of the burst may have run before (this task can be preempted at
     * every spawn, which is a safepoint); none since. */
    w->started_at_ready = atomic_load(&w->started);
    uv_thread_join(&th);
    gort_test_wg_wait(&w->wg);
    return 0;
}

/* A task readied from a thread goes to the global queue. Tasks woken there
 * run before the fresh ones, which would only take a stack each: the sleeper
 * runs after this worker's runnext and ring (at most 257 of the burst) and a
 * few fairness picks, not behind the whole burst. */
static void task_woken_from_a_thread_runs_before_a_burst_of_unstarted_tasks(void **state) {
    (void)state;
    woken_first w = {0};
    assert_int_equal(gort_test_run(1, wake_behind_a_spawn_burst, &w), 0);
    assert_int_equal(atomic_load(&w.e.resumed), 1);
    assert_int_equal(atomic_load(&w.started), UNSTARTED);
    int waiting = UNSTARTED - w.started_at_ready;
    int ahead = w.started_before_woken - w.started_at_ready;
    print_message("the woken task ran after %d of the %d unstarted tasks\n", ahead, waiting);
    assert_true(ahead <= 1 + 256 + 8); /* runnext, the ring, one in 61 fresh picks */
}

/* ---- many parks in a row ------------------------------------------------------------------ */

#define PARKERS 200

typedef struct many {
    gort_test_sema sema[PARKERS];
    atomic_int parked_once, done;
    gort_test_wg wg;
} many;

typedef struct parker_arg {
    many *m;
    int index;
} parker_arg;

static void parker(void *arg) {
    parker_arg *p = arg;
    for (int round = 0; round < 10; round++)
        gort_test_sema_wait(&p->m->sema[p->index]);
    atomic_fetch_add(&p->m->done, 1);
    gort_test_wg_done(&p->m->wg);
}

static int park_many(void *arg) {
    many *m = arg;
    static parker_arg pa[PARKERS];
    gort_test_wg_add(&m->wg, PARKERS);
    for (int i = 0; i < PARKERS; i++) {
        pa[i] = (parker_arg){m, i};
        if (go_spawn(parker, &pa[i]) != 0)
            return -1;
    }
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < PARKERS; i++)
            gort_test_sema_post(&m->sema[i]);
        go_yield();
    }
    gort_test_wg_wait(&m->wg);
    return 0;
}

static void every_parked_task_resumes_once_per_ready(void **state) {
    (void)state;
    many *m = calloc(1, sizeof *m);
    assert_non_null(m);
    assert_int_equal(gort_test_run(4, park_many, m), 0);
    assert_int_equal(atomic_load(&m->done), PARKERS);
    for (int i = 0; i < PARKERS; i++)
        assert_int_equal(m->sema[i].count, 0);
    free(m);
}

/* ---- ping-pong -------------------------------------------------------------------------- */

#define PINGPONG_ROUNDS 100000

typedef struct pingpong {
    gort_test_sema to_a, to_b;
    long a_rounds, b_rounds; /* plain: each written by one task only */
    long turn;               /* plain: written in strict alternation, ordered by park/ready */
    long turn_errors;
    gort_test_wg wg;
    int a_workers_seen, b_workers_seen; /* bitmasks of worker indices */
} pingpong;

static void ping(void *arg) {
    pingpong *p = arg;
    for (long i = 0; i < PINGPONG_ROUNDS; i++) {
        if (p->turn != 2 * i)
            p->turn_errors++;
        p->turn++;
        gort_test_sema_post(&p->to_b);
        gort_test_sema_wait(&p->to_a);
        p->a_rounds++;
        p->a_workers_seen |= 1 << gort_sched_worker_index();
    }
    gort_test_wg_done(&p->wg);
}

static void pong(void *arg) {
    pingpong *p = arg;
    for (long i = 0; i < PINGPONG_ROUNDS; i++) {
        gort_test_sema_wait(&p->to_b);
        if (p->turn != 2 * i + 1)
            p->turn_errors++;
        p->turn++;
        p->b_rounds++;
        p->b_workers_seen |= 1 << gort_sched_worker_index();
        gort_test_sema_post(&p->to_a);
    }
    gort_test_wg_done(&p->wg);
}

static int run_pingpong(void *arg) {
    pingpong *p = arg;
    gort_test_wg_add(&p->wg, 2);
    if (go_spawn(ping, p) != 0 || go_spawn(pong, p) != 0)
        return -1;
    gort_test_wg_wait(&p->wg);
    return 0;
}

static void ping_pong_of_100000_park_ready_pairs_on_two_workers_loses_no_wake_up(void **state) {
    (void)state;
    pingpong *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(gort_test_run(2, run_pingpong, p), 0);
    assert_int_equal(p->a_rounds, PINGPONG_ROUNDS);
    assert_int_equal(p->b_rounds, PINGPONG_ROUNDS);
    assert_int_equal(p->turn, 2 * PINGPONG_ROUNDS);
    assert_int_equal(p->turn_errors, 0);
    assert_int_equal(p->to_a.count, 0);
    assert_int_equal(p->to_b.count, 0);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parked_task_resumes_when_another_task_readies_it),
        cmocka_unit_test(unlock_callback_releases_the_lock_the_waker_takes),
        cmocka_unit_test(park_is_cancelled_when_the_unlock_callback_returns_false),
        cmocka_unit_test(unlock_callback_runs_on_the_scheduler_with_the_parked_task),
        cmocka_unit_test(parked_task_resumes_when_a_non_worker_thread_readies_it),
        cmocka_unit_test(task_woken_from_a_thread_runs_before_a_burst_of_unstarted_tasks),
        cmocka_unit_test(every_parked_task_resumes_once_per_ready),
        cmocka_unit_test(ping_pong_of_100000_park_ready_pairs_on_two_workers_loses_no_wake_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
