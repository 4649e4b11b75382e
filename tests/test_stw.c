/* test_stw.c - safepoints and stop-the-world (sched/stw.c): pausing from a
 * task and from a thread that is not a worker, what holds while the world is
 * stopped (no task runs, run_parallel covers every worker once, visit_tasks
 * sees every live task with its stack range), claiming tasks, pause
 * statistics, and concurrent requesters.
 *
 * Tasks and the requester record what they see; the assertions run on the
 * test's thread after go_main returned. */
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
#include "runtime/stack.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

#define MAX_WORKERS 8

/* ---- a gate: tasks park until it opens ------------------------------------------------------ */

typedef struct gate {
    gort_test_spinlock lock;
    bool open;              /* [lock] */
    gort_test_waiter *head; /* [lock] parked tasks */
    atomic_int parked;      /* tasks switched out and WAITING behind the gate */
} gate;

static bool gate_unlock_cb(gort_task *t, void *arg) {
    (void)t;
    gate *g = arg;
    atomic_fetch_add(&g->parked, 1);
    gort_test_unlock(&g->lock);
    return true;
}

static void gate_wait(gate *g) {
    gort_test_lock(&g->lock);
    if (g->open) {
        gort_test_unlock(&g->lock);
        return;
    }
    gort_test_waiter w = {.task = gort_sched_current_task(), .next = g->head};
    g->head = &w;
    gort_sched_park(gate_unlock_cb, g, "gate");
}

/* From a task, a thread, or the stop-the-world requester. */
static void gate_open(gate *g) {
    gort_test_lock(&g->lock);
    g->open = true;
    gort_test_waiter *w = g->head;
    g->head = NULL;
    gort_test_unlock(&g->lock);
    while (w != NULL) {
        gort_test_waiter *next = w->next; /* w lives on a stack that may run again */
        gort_sched_ready(w->task);
        w = next;
    }
}

/* ---- spinners: tasks that loop on go_safepoint -------------------------------------------------
 */

typedef struct spinners {
    int n;
    atomic_long count[MAX_WORKERS];
    atomic_int running;
    atomic_int stop;
    atomic_int exited;
    const void *local[MAX_WORKERS]; /* address of a local of each spinner */
    gort_task *task[MAX_WORKERS];
    int worker[MAX_WORKERS];
} spinners;

typedef struct spinner_arg {
    spinners *s;
    int index;
} spinner_arg;

static void spinner(void *arg) {
    spinner_arg *a = arg;
    spinners *s = a->s;
    volatile long local = a->index;
    s->local[a->index] = (const void *)&local;
    s->task[a->index] = gort_sched_current_task();
    s->worker[a->index] = gort_sched_worker_index();
    atomic_fetch_add(&s->running, 1);
    while (!atomic_load(&s->stop)) {
        atomic_fetch_add_explicit(&s->count[a->index], 1, memory_order_relaxed);
        local++;
        go_safepoint();
    }
    atomic_fetch_add(&s->exited, 1);
}

/* Spawns n spinners and waits, without yielding, until each runs: since a
 * spinner never yields, each then holds a worker of its own. */
static int spinners_start(spinners *s, spinner_arg *args, int n) {
    s->n = n;
    for (int i = 0; i < n; i++) {
        args[i] = (spinner_arg){s, i};
        if (go_spawn(spinner, &args[i]) != 0)
            return -1;
    }
    gort_test_wait_count(&s->running, n);
    return 0;
}

static void spinners_stop(spinners *s) {
    atomic_store(&s->stop, 1);
    gort_test_wait_count(&s->exited, s->n);
}

static void sample(spinners *s, long *out) {
    for (int i = 0; i < s->n; i++)
        out[i] = atomic_load(&s->count[i]);
}

/* ---- stop and start -------------------------------------------------------------------------- */

typedef struct simple_pause {
    int stopped_inside, stopped_after, stopped_before;
    uint64_t pauses_before, pauses_after;
} simple_pause;

static int pause_once(void *arg) {
    simple_pause *p = arg;
    gort_stw_stats st;
    gort_stw_stats_get(&st);
    p->pauses_before = st.pauses;
    p->stopped_before = gort_stw_is_stopped();
    gort_stop_the_world(GORT_STW_TEST);
    p->stopped_inside = gort_stw_is_stopped();
    gort_start_the_world();
    p->stopped_after = gort_stw_is_stopped();
    gort_stw_stats_get(&st);
    p->pauses_after = st.pauses;
    return 0;
}

static void stop_and_start_from_a_task(void **state) {
    (void)state;
    for (int workers = 1; workers <= 3; workers++) {
        simple_pause p = {0};
        assert_int_equal(gort_test_run(workers, pause_once, &p), 0);
        assert_false(p.stopped_before);
        assert_true(p.stopped_inside);
        assert_false(p.stopped_after);
        assert_int_equal(p.pauses_after - p.pauses_before, 1);
    }
}

static void world_is_not_stopped_outside_a_pause(void **state) {
    (void)state;
    assert_false(gort_stw_is_stopped());
    simple_pause p = {0};
    assert_int_equal(gort_test_run(2, pause_once, &p), 0);
    assert_false(gort_stw_is_stopped());
}

/* From a thread that is not a worker, while tasks spin. */

typedef struct thread_pause {
    spinners s;
    int stopped_inside, stopped_after;
    long at_stop[MAX_WORKERS], at_start[MAX_WORKERS];
    atomic_int ran[MAX_WORKERS];
    atomic_int ran_on[MAX_WORKERS];
    int thread_index;
    atomic_int done;
} thread_pause;

static void count_run(void *arg, int w) {
    thread_pause *t = arg;
    atomic_fetch_add(&t->ran[w], 1);
    atomic_store(&t->ran_on[w], gort_sched_worker_index());
}

static void pause_from_thread(void *arg) {
    thread_pause *t = arg;
    t->thread_index = gort_sched_worker_index();
    gort_stop_the_world(GORT_STW_TEST);
    t->stopped_inside = gort_stw_is_stopped();
    sample(&t->s, t->at_stop);
    gort_stw_run_parallel(count_run, t);
    sample(&t->s, t->at_start);
    gort_start_the_world();
    t->stopped_after = gort_stw_is_stopped();
    atomic_store(&t->done, 1);
}

static int run_thread_pause(void *arg) {
    thread_pause *t = arg;
    spinner_arg args[2];
    if (spinners_start(&t->s, args, 2) != 0)
        return -1;
    uv_thread_t th;
    if (uv_thread_create(&th, pause_from_thread, t) != 0)
        return -1;
    gort_test_wait_flag(&t->done);
    uv_thread_join(&th);
    spinners_stop(&t->s);
    return 0;
}

static void stop_and_start_from_a_thread_that_is_not_a_worker(void **state) {
    (void)state;
    thread_pause *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(gort_test_run(3, run_thread_pause, t), 0);
    assert_int_equal(t->thread_index, -1);
    assert_true(t->stopped_inside);
    assert_false(t->stopped_after);
    for (int i = 0; i < 2; i++)
        assert_int_equal(t->at_stop[i], t->at_start[i]);
    for (int w = 0; w < 3; w++) {
        assert_int_equal(atomic_load(&t->ran[w]), 1);
        int on = atomic_load(&t->ran_on[w]);
        if (on != w && on != -1)
            fail_msg("worker %d's share ran on worker %d", w, on);
    }
    free(t);
}

/* From a thread while every task is parked: the workers are idle (or on their
 * way to it) and are stopped in place. */

#define IDLE_PAUSES 100

typedef struct idle_pause {
    gort_test_sema main_wakeup;
    gort_task *_Atomic main_task;
    const void *main_local;
    atomic_int main_parked;
    int pauses, bad_parallel, main_visits, main_local_outside;
    atomic_int ran[MAX_WORKERS];
    atomic_int ran_on[MAX_WORKERS];
    int nworkers;
} idle_pause;

static void idle_count_run(void *arg, int w) {
    idle_pause *p = arg;
    atomic_fetch_add(&p->ran[w], 1);
    atomic_store(&p->ran_on[w], gort_sched_worker_index());
}

static void idle_visit(gort_task *t, const void *lo, const void *hi, void *arg) {
    idle_pause *p = arg;
    if (t != atomic_load(&p->main_task))
        return;
    p->main_visits++;
    const char *l = p->main_local;
    if (lo == NULL || l < (const char *)lo || l >= (const char *)hi)
        p->main_local_outside++;
}

static bool note_main_parked(gort_task *t, void *arg) {
    idle_pause *p = arg;
    atomic_store(&p->main_task, t);
    atomic_store(&p->main_parked, 1);
    return true;
}

static void pause_while_idle(void *arg) {
    idle_pause *p = arg;
    gort_test_wait_flag(&p->main_parked);
    for (int i = 0; i < IDLE_PAUSES; i++) {
        gort_stop_the_world(GORT_STW_TEST);
        for (int w = 0; w < p->nworkers; w++)
            atomic_store(&p->ran[w], 0);
        gort_stw_run_parallel(idle_count_run, p);
        for (int w = 0; w < p->nworkers; w++) {
            int on = atomic_load(&p->ran_on[w]);
            if (atomic_load(&p->ran[w]) != 1 || (on != w && on != -1))
                p->bad_parallel++;
        }
        gort_stw_visit_tasks(idle_visit, p);
        p->pauses++;
        gort_start_the_world();
    }
    gort_sched_ready(atomic_load(&p->main_task));
}

static int park_while_a_thread_pauses(void *arg) {
    idle_pause *p = arg;
    volatile long local = 3;
    p->main_local = (const void *)&local;
    p->nworkers = go_workers();
    uv_thread_t th;
    if (uv_thread_create(&th, pause_while_idle, p) != 0)
        return -1;
    /* The only task parks: every worker goes idle. The thread readies us. */
    gort_sched_park(note_main_parked, p, "idle pauses");
    local++;
    uv_thread_join(&th);
    return 0;
}

static void stop_from_a_thread_while_every_worker_is_idle(void **state) {
    (void)state;
    idle_pause *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(gort_test_run(3, park_while_a_thread_pauses, p), 0);
    assert_int_equal(p->pauses, IDLE_PAUSES);
    assert_int_equal(p->bad_parallel, 0);
    assert_int_equal(p->main_visits, IDLE_PAUSES);
    assert_int_equal(p->main_local_outside, 0);
    free(p);
}

/* ---- nothing runs while stopped ---------------------------------------------------------------
 */

typedef struct frozen {
    spinners s;
    long at_stop[MAX_WORKERS], at_start[MAX_WORKERS], later[MAX_WORKERS];
    int rounds;
} frozen;

static int freeze_spinners(void *arg) {
    frozen *f = arg;
    spinner_arg args[MAX_WORKERS];
    if (spinners_start(&f->s, args, 3) != 0)
        return -1;
    for (int r = 0; r < f->rounds; r++) {
        gort_stop_the_world(GORT_STW_TEST);
        sample(&f->s, f->at_stop);
        unsigned spins = 0;
        for (int i = 0; i < 20000; i++) /* give a runaway spinner every chance to show */
            gort_test_relax(&spins);
        sample(&f->s, f->at_start);
        gort_start_the_world();
        for (int i = 0; i < f->s.n; i++)
            if (f->at_stop[i] != f->at_start[i])
                return 100 + i;
    }
    /* And they run again afterwards. */
    for (int i = 0; i < f->s.n; i++) {
        unsigned spins = 0;
        while (atomic_load(&f->s.count[i]) <= f->at_start[i])
            gort_test_relax(&spins);
        f->later[i] = atomic_load(&f->s.count[i]);
    }
    spinners_stop(&f->s);
    return 0;
}

static void spinning_tasks_make_no_progress_while_the_world_is_stopped(void **state) {
    (void)state;
    frozen *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->rounds = 20;
    int rc = gort_test_run(4, freeze_spinners, f);
    if (rc >= 100)
        fail_msg("spinner %d moved from %ld to %ld during a pause", rc - 100, f->at_stop[rc - 100],
                 f->at_start[rc - 100]);
    assert_int_equal(rc, 0);
    for (int i = 0; i < 3; i++)
        assert_true(f->later[i] > f->at_start[i]);
    free(f);
}

/* ---- run_parallel ---------------------------------------------------------------------------- */

typedef struct parallel {
    spinners s;
    int nworkers;
    int requester;
    atomic_int ran[MAX_WORKERS];
    atomic_int ran_on[MAX_WORKERS];
    atomic_int second[MAX_WORKERS];
    int stopped_in_fn_errors;
} parallel;

static void record_parallel(void *arg, int w) {
    parallel *p = arg;
    if (w < 0 || w >= MAX_WORKERS)
        return;
    atomic_fetch_add(&p->ran[w], 1);
    atomic_store(&p->ran_on[w], gort_sched_worker_index());
}

static void record_second(void *arg, int w) {
    parallel *p = arg;
    if (w >= 0 && w < MAX_WORKERS)
        atomic_fetch_add(&p->second[w], 1);
}

static int parallel_busy(void *arg) {
    parallel *p = arg;
    spinner_arg args[MAX_WORKERS];
    p->nworkers = go_workers();
    /* Every other worker runs a spinner that never yields. */
    if (spinners_start(&p->s, args, p->nworkers - 1) != 0)
        return -1;
    gort_stop_the_world(GORT_STW_TEST);
    p->requester = gort_sched_worker_index();
    gort_stw_run_parallel(record_parallel, p);
    gort_stw_run_parallel(record_second, p);
    gort_start_the_world();
    spinners_stop(&p->s);
    return 0;
}

static void run_parallel_runs_once_per_worker_on_each_busy_worker(void **state) {
    (void)state;
    parallel *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(gort_test_run(4, parallel_busy, p), 0);
    assert_int_equal(p->nworkers, 4);
    for (int w = 0; w < MAX_WORKERS; w++) {
        assert_int_equal(atomic_load(&p->ran[w]), w < 4);
        assert_int_equal(atomic_load(&p->second[w]), w < 4);
    }
    /* The spinners' workers stopped at a safepoint and ran their own share;
     * the requester ran its own worker's. */
    for (int w = 0; w < 4; w++)
        assert_int_equal(atomic_load(&p->ran_on[w]), w);
    free(p);
}

static int parallel_idle(void *arg) {
    parallel *p = arg;
    p->nworkers = go_workers();
    gort_stop_the_world(GORT_STW_TEST);
    p->requester = gort_sched_worker_index();
    gort_stw_run_parallel(record_parallel, p);
    gort_stw_run_parallel(record_second, p);
    gort_start_the_world();
    return 0;
}

static void run_parallel_runs_once_per_worker_with_the_others_idle(void **state) {
    (void)state;
    parallel *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(gort_test_run(4, parallel_idle, p), 0);
    for (int w = 0; w < MAX_WORKERS; w++) {
        assert_int_equal(atomic_load(&p->ran[w]), w < 4);
        assert_int_equal(atomic_load(&p->second[w]), w < 4);
    }
    for (int w = 0; w < 4; w++) {
        int on = atomic_load(&p->ran_on[w]);
        if (on != w && on != p->requester)
            fail_msg("worker %d's share ran on worker %d (requester %d)", w, on, p->requester);
    }
    free(p);
}

/* ---- visit_tasks ----------------------------------------------------------------------------- */

#define MAX_VISITS 1024
#define PARKERS 16
#define NEVER_RUN 8

typedef struct visit {
    gort_task *task;
    const void *lo, *hi;
} visit;

typedef struct visits {
    visit v[MAX_VISITS];
    int n;
    int overflow;
} visits;

static void record_visit(gort_task *t, const void *lo, const void *hi, void *arg) {
    visits *vs = arg;
    if (vs->n == MAX_VISITS) {
        vs->overflow = 1;
        return;
    }
    vs->v[vs->n++] = (visit){t, lo, hi};
}

static const visit *find_visit(const visits *vs, const gort_task *t, int *count) {
    const visit *found = NULL;
    *count = 0;
    for (int i = 0; i < vs->n; i++)
        if (vs->v[i].task == t) {
            found = &vs->v[i];
            ++*count;
        }
    return found;
}

typedef struct visit_run {
    gate gate;
    gort_test_wg wg;
    gort_task *parker[PARKERS];
    const void *parker_local[PARKERS];
    gort_task *main_task;
    const void *main_local;
    spinners s;
    visits vs;
    int never_run;
} visit_run;

typedef struct parker_arg {
    visit_run *r;
    int index;
} parker_arg;

static void visit_parker(void *arg) {
    parker_arg *a = arg;
    volatile long local = 1000 + a->index;
    a->r->parker[a->index] = gort_sched_current_task();
    a->r->parker_local[a->index] = (const void *)&local;
    gate_wait(&a->r->gate);
    local++;
    gort_test_wg_done(&a->r->wg);
}

static void never_run_task(void *arg) {
    (void)arg;
}

static int visit_main(void *arg) {
    visit_run *r = arg;
    static parker_arg pa[PARKERS];
    volatile long local = 7;
    r->main_task = gort_sched_current_task();
    r->main_local = (const void *)&local;
    gort_test_wg_add(&r->wg, PARKERS);
    for (int i = 0; i < PARKERS; i++) {
        pa[i] = (parker_arg){r, i};
        if (go_spawn(visit_parker, &pa[i]) != 0)
            return -1;
    }
    gort_test_yield_until(&r->gate.parked, PARKERS);
    /* With one worker, tasks spawned now cannot run before the pause: the
     * stop switches this task out and straight back in. */
    for (int i = 0; i < r->never_run; i++)
        if (go_spawn(never_run_task, NULL) != 0)
            return -1;
    gort_stop_the_world(GORT_STW_TEST);
    gort_stw_visit_tasks(record_visit, &r->vs);
    gort_start_the_world();
    gate_open(&r->gate);
    gort_test_wg_wait(&r->wg);
    local++;
    return 0;
}

static void visit_tasks_visits_every_live_task_exactly_once(void **state) {
    (void)state;
    visit_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->never_run = NEVER_RUN;
    assert_int_equal(gort_test_run(1, visit_main, r), 0);
    assert_false(r->vs.overflow);
    assert_int_equal(r->vs.n, 1 + PARKERS + NEVER_RUN);
    int count;
    assert_non_null(find_visit(&r->vs, r->main_task, &count));
    assert_int_equal(count, 1);
    for (int i = 0; i < PARKERS; i++) {
        assert_non_null(find_visit(&r->vs, r->parker[i], &count));
        assert_int_equal(count, 1);
    }
    for (int i = 0; i < r->vs.n; i++)
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(r->vs.v[i].task, r->vs.v[j].task);
    free(r);
}

static void visit_tasks_gives_never_run_tasks_an_empty_range(void **state) {
    (void)state;
    visit_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->never_run = NEVER_RUN;
    assert_int_equal(gort_test_run(1, visit_main, r), 0);
    int empty = 0;
    for (int i = 0; i < r->vs.n; i++) {
        const visit *v = &r->vs.v[i];
        bool known = v->task == r->main_task;
        for (int k = 0; k < PARKERS; k++)
            known |= v->task == r->parker[k];
        if (!known) {
            assert_null(v->lo);
            assert_null(v->hi);
            empty++;
        }
    }
    assert_int_equal(empty, NEVER_RUN);
    free(r);
}

static void check_range(const visit *v, const void *local) {
    assert_non_null(v);
    assert_non_null(v->lo);
    assert_non_null(v->hi);
    assert_true((const char *)v->lo < (const char *)v->hi);
    /* Inside one stack: no larger than the largest stack a task here has. */
    assert_true((size_t)((const char *)v->hi - (const char *)v->lo) <=
                gort_rt_stack_default_size());
    if (!((const char *)v->lo <= (const char *)local && (const char *)local < (const char *)v->hi))
        fail_msg("local at %p outside the task's range [%p, %p)", local, v->lo, v->hi);
}

static void visit_tasks_puts_a_parked_tasks_locals_inside_its_range(void **state) {
    (void)state;
    visit_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(gort_test_run(3, visit_main, r), 0);
    for (int i = 0; i < PARKERS; i++) {
        int count;
        check_range(find_visit(&r->vs, r->parker[i], &count), r->parker_local[i]);
    }
    free(r);
}

static void visit_tasks_puts_the_requesters_locals_inside_its_range(void **state) {
    (void)state;
    visit_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(gort_test_run(2, visit_main, r), 0);
    int count;
    check_range(find_visit(&r->vs, r->main_task, &count), r->main_local);
    free(r);
}

static int visit_spinners(void *arg) {
    visit_run *r = arg;
    spinner_arg args[MAX_WORKERS];
    if (spinners_start(&r->s, args, 2) != 0)
        return -1;
    gort_stop_the_world(GORT_STW_TEST);
    gort_stw_visit_tasks(record_visit, &r->vs);
    gort_start_the_world();
    spinners_stop(&r->s);
    return 0;
}

static void
visit_tasks_puts_the_locals_of_a_task_stopped_at_a_safepoint_inside_its_range(void **state) {
    (void)state;
    visit_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(gort_test_run(3, visit_spinners, r), 0);
    for (int i = 0; i < 2; i++) {
        int count;
        check_range(find_visit(&r->vs, r->s.task[i], &count), r->s.local[i]);
        assert_int_equal(count, 1);
    }
    free(r);
}

/* ---- claims ------------------------------------------------------------------------------------
 */

static void claims_enable(bool on) {
    gort_stop_the_world(GORT_STW_TEST);
    gort_sched_claims_enable(on);
    gort_start_the_world();
}

typedef struct claim_run {
    gate gate;
    gort_test_wg wg;
    gort_task *parker;
    const void *parker_local;
    atomic_int resumed;
    atomic_int about_to_ready, ready_returned;
    bool claimed;
    const void *lo, *hi;
    int resumed_while_claimed, ready_returned_while_claimed;
    bool self_claim;
} claim_run;

static void claim_parker(void *arg) {
    claim_run *c = arg;
    volatile long local = 5;
    c->parker = gort_sched_current_task();
    c->parker_local = (const void *)&local;
    gate_wait(&c->gate);
    local++;
    atomic_store(&c->resumed, 1);
    gort_test_wg_done(&c->wg);
}

static void claim_waker(void *arg) {
    claim_run *c = arg;
    atomic_store(&c->about_to_ready, 1);
    gate_open(&c->gate); /* readies the claimed parker: must wait for the unclaim */
    atomic_store(&c->ready_returned, 1);
    gort_test_wg_done(&c->wg);
}

static int claim_main(void *arg) {
    claim_run *c = arg;
    gort_test_wg_add(&c->wg, 2);
    if (go_spawn(claim_parker, c) != 0)
        return -1;
    gort_test_yield_until(&c->gate.parked, 1);
    claims_enable(true);
    c->claimed = gort_sched_task_claim(c->parker, &c->lo, &c->hi);
    if (c->claimed) {
        /* Hold the claim without reaching a safepoint (claims are runtime
         * locks): the waker runs on another worker. */
        if (go_spawn(claim_waker, c) != 0)
            return -1;
        unsigned spins = 0;
        while (!atomic_load(&c->about_to_ready))
            gort_test_relax(&spins);
        for (int i = 0; i < 50000; i++)
            gort_test_relax(&spins);
        c->resumed_while_claimed = atomic_load(&c->resumed);
        c->ready_returned_while_claimed = atomic_load(&c->ready_returned);
        gort_sched_task_unclaim(c->parker);
    } else {
        gort_test_wg_done(&c->wg);
        gate_open(&c->gate);
    }
    gort_test_wg_wait(&c->wg);
    claims_enable(false);
    return 0;
}

static void claim_of_a_parked_task_succeeds_with_its_locals_in_range(void **state) {
    (void)state;
    claim_run *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(gort_test_run(3, claim_main, c), 0);
    assert_true(c->claimed);
    visit v = {c->parker, c->lo, c->hi};
    check_range(&v, c->parker_local);
    free(c);
}

static void claimed_task_readied_by_another_task_does_not_run_until_unclaimed(void **state) {
    (void)state;
    claim_run *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(gort_test_run(3, claim_main, c), 0);
    assert_true(c->claimed);
    assert_int_equal(c->resumed_while_claimed, 0);
    assert_int_equal(c->ready_returned_while_claimed, 0);
    assert_int_equal(atomic_load(&c->resumed), 1);
    assert_int_equal(atomic_load(&c->ready_returned), 1);
    free(c);
}

static int claim_self(void *arg) {
    claim_run *c = arg;
    claims_enable(true);
    const void *lo, *hi;
    c->self_claim = gort_sched_task_claim(gort_sched_current_task(), &lo, &hi);
    if (c->self_claim)
        gort_sched_task_unclaim(gort_sched_current_task());
    claims_enable(false);
    return 0;
}

static void claim_of_the_running_task_fails(void **state) {
    (void)state;
    claim_run c = {0};
    assert_int_equal(gort_test_run(2, claim_self, &c), 0);
    assert_false(c.self_claim);
}

typedef struct claim_spinning {
    spinners s;
    bool claimed;
} claim_spinning;

static int claim_spinner(void *arg) {
    claim_spinning *c = arg;
    spinner_arg args[1];
    if (spinners_start(&c->s, args, 1) != 0)
        return -1;
    claims_enable(true);
    const void *lo, *hi;
    c->claimed = gort_sched_task_claim(c->s.task[0], &lo, &hi);
    if (c->claimed)
        gort_sched_task_unclaim(c->s.task[0]);
    claims_enable(false);
    spinners_stop(&c->s);
    return 0;
}

static void claim_of_a_task_running_on_another_worker_fails(void **state) {
    (void)state;
    claim_spinning *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(gort_test_run(2, claim_spinner, c), 0);
    assert_false(c->claimed);
    free(c);
}

/* ---- work made runnable during a pause ---------------------------------------------------------
 */

typedef struct during {
    gate gate;
    atomic_int resumed;
    atomic_int spawned_ran;
    atomic_int thread_calling, thread_returned;
    int returned_while_stopped;
    gort_test_wg wg;
} during;

static void during_parker(void *arg) {
    during *d = arg;
    gate_wait(&d->gate);
    atomic_store(&d->resumed, 1);
}

static void during_spawned(void *arg) {
    atomic_store(&((during *)arg)->spawned_ran, 1);
}

static int ready_and_spawn_while_stopped(void *arg) {
    during *d = arg;
    if (go_spawn(during_parker, d) != 0)
        return -1;
    gort_test_yield_until(&d->gate.parked, 1);
    gort_stop_the_world(GORT_STW_TEST);
    gate_open(&d->gate); /* the requester readies a task */
    int rc = go_spawn(during_spawned, d);
    gort_start_the_world();
    if (rc != 0)
        return -1;
    /* Wait without yielding: the other workers must have been woken. */
    gort_test_wait_flag(&d->resumed);
    gort_test_wait_flag(&d->spawned_ran);
    return 0;
}

static void tasks_readied_or_spawned_by_the_requester_run_after_the_restart(void **state) {
    (void)state;
    during d = {0};
    assert_int_equal(gort_test_run(3, ready_and_spawn_while_stopped, &d), 0);
    assert_int_equal(atomic_load(&d.resumed), 1);
    assert_int_equal(atomic_load(&d.spawned_ran), 1);
}

typedef struct thread_ready {
    during *d;
    atomic_int go;
} thread_ready;

static void ready_from_thread_during_pause(void *arg) {
    thread_ready *tr = arg;
    gort_test_wait_flag(&tr->go);
    atomic_store(&tr->d->thread_calling, 1);
    gate_open(&tr->d->gate);
    atomic_store(&tr->d->thread_returned, 1);
}

static int thread_readies_while_stopped(void *arg) {
    during *d = arg;
    if (go_spawn(during_parker, d) != 0)
        return -1;
    gort_test_yield_until(&d->gate.parked, 1);
    thread_ready tr = {.d = d};
    uv_thread_t th;
    if (uv_thread_create(&th, ready_from_thread_during_pause, &tr) != 0)
        return -1;
    gort_stop_the_world(GORT_STW_TEST);
    atomic_store(&tr.go, 1);
    unsigned spins = 0;
    while (!atomic_load(&d->thread_calling))
        gort_test_relax(&spins);
    for (int i = 0; i < 50000; i++)
        gort_test_relax(&spins);
    d->returned_while_stopped = atomic_load(&d->thread_returned);
    gort_start_the_world();
    gort_test_wait_flag(&d->thread_returned);
    uv_thread_join(&th);
    gort_test_wait_flag(&d->resumed);
    return 0;
}

static void ready_from_a_thread_waits_for_the_pause_to_end(void **state) {
    (void)state;
    during d = {0};
    assert_int_equal(gort_test_run(2, thread_readies_while_stopped, &d), 0);
    assert_int_equal(d.returned_while_stopped, 0);
    assert_int_equal(atomic_load(&d.resumed), 1);
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct stats_run {
    gort_stw_stats before, after;
    go_sched_stats pub_before, pub_after;
} stats_run;

static int pause_ten_times(void *arg) {
    stats_run *s = arg;
    gort_stw_stats_get(&s->before);
    go_sched_stats_get(&s->pub_before);
    for (int i = 0; i < 10; i++) {
        gort_stop_the_world(GORT_STW_TEST);
        gort_start_the_world();
    }
    gort_stw_stats_get(&s->after);
    go_sched_stats_get(&s->pub_after);
    return 0;
}

static void stats_count_every_pause(void **state) {
    (void)state;
    stats_run s = {0};
    assert_int_equal(gort_test_run(2, pause_ten_times, &s), 0);
    assert_int_equal(s.after.pauses - s.before.pauses, 10);
    assert_int_equal(s.pub_after.pauses - s.pub_before.pauses, 10);
    assert_true(s.after.max_pause_ns >= s.after.last_pause_ns);
    assert_true(s.after.max_tts_ns >= s.after.last_tts_ns);
    assert_true(s.after.total_pause_ns - s.before.total_pause_ns >= s.after.last_pause_ns);
    assert_true(s.after.total_pause_ns >= s.after.max_pause_ns);
    assert_true(s.pub_after.pause_total_ns >= s.pub_after.pause_max_ns);
}

/* ---- concurrent requesters ------------------------------------------------------------------- */

/* Smaller under TSan, and under valgrind (the valgrind tests set
 * GORT_UNDER_VALGRIND), which runs one thread at a time: each contended pause
 * there costs tens of milliseconds. */
static int requester_pauses(void) {
#ifdef GORT_TSAN
    return 200;
#else
    return getenv("GORT_UNDER_VALGRIND") != NULL ? 100 : 1000;
#endif
}
#define REQUESTER_PAUSES requester_pauses()
#define TASK_REQUESTERS 3

typedef struct contention {
    spinners s;
    atomic_int inside; /* requesters inside a pause: never more than one */
    atomic_int overlaps;
    atomic_int not_stopped;
    atomic_int parallel_runs;
    atomic_long pauses_done;
    gort_test_wg wg;
    atomic_int thread_done;
    uint64_t pauses_before, pauses_after;
} contention;

static void count_parallel(void *arg, int w) {
    (void)w;
    atomic_fetch_add(&((contention *)arg)->parallel_runs, 1);
}

static void one_contended_pause(contention *c, int i) {
    gort_stop_the_world(GORT_STW_TEST);
    if (atomic_fetch_add(&c->inside, 1) != 0)
        atomic_fetch_add(&c->overlaps, 1);
    if (!gort_stw_is_stopped())
        atomic_fetch_add(&c->not_stopped, 1);
    if (i % 8 == 0)
        gort_stw_run_parallel(count_parallel, c);
    atomic_fetch_sub(&c->inside, 1);
    gort_start_the_world();
    atomic_fetch_add(&c->pauses_done, 1);
}

static void requester_task(void *arg) {
    contention *c = arg;
    for (int i = 0; i < REQUESTER_PAUSES; i++)
        one_contended_pause(c, i);
    gort_test_wg_done(&c->wg);
}

static void requester_thread(void *arg) {
    contention *c = arg;
    for (int i = 0; i < REQUESTER_PAUSES; i++)
        one_contended_pause(c, i);
    atomic_store(&c->thread_done, 1);
}

static int contend(void *arg) {
    contention *c = arg;
    gort_stw_stats st;
    gort_stw_stats_get(&st);
    c->pauses_before = st.pauses;
    spinner_arg args[1];
    if (spinners_start(&c->s, args, 1) != 0)
        return -1;
    uv_thread_t th;
    if (uv_thread_create(&th, requester_thread, c) != 0)
        return -1;
    gort_test_wg_add(&c->wg, TASK_REQUESTERS);
    for (int i = 0; i < TASK_REQUESTERS; i++)
        if (go_spawn(requester_task, c) != 0)
            return -1;
    gort_test_wg_wait(&c->wg);
    gort_test_wait_flag(&c->thread_done);
    uv_thread_join(&th);
    spinners_stop(&c->s);
    gort_stw_stats_get(&st);
    c->pauses_after = st.pauses;
    return 0;
}

static void concurrent_requesters_take_turns_without_deadlock(void **state) {
    (void)state;
    contention *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(gort_test_run(3, contend, c), 0);
    long total = (long)(TASK_REQUESTERS + 1) * REQUESTER_PAUSES;
    assert_int_equal(atomic_load(&c->pauses_done), total);
    assert_int_equal(c->pauses_after - c->pauses_before, (uint64_t)total);
    assert_int_equal(atomic_load(&c->overlaps), 0);
    assert_int_equal(atomic_load(&c->not_stopped), 0);
    /* Every eighth pause of each requester ran the function on 3 workers. */
    long parallel_pauses = (long)(TASK_REQUESTERS + 1) * ((REQUESTER_PAUSES + 7) / 8);
    assert_int_equal(atomic_load(&c->parallel_runs), 3 * parallel_pauses);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_and_start_from_a_task),
        cmocka_unit_test(world_is_not_stopped_outside_a_pause),
        cmocka_unit_test(stop_and_start_from_a_thread_that_is_not_a_worker),
        cmocka_unit_test(stop_from_a_thread_while_every_worker_is_idle),
        cmocka_unit_test(spinning_tasks_make_no_progress_while_the_world_is_stopped),
        cmocka_unit_test(run_parallel_runs_once_per_worker_on_each_busy_worker),
        cmocka_unit_test(run_parallel_runs_once_per_worker_with_the_others_idle),
        cmocka_unit_test(visit_tasks_visits_every_live_task_exactly_once),
        cmocka_unit_test(visit_tasks_gives_never_run_tasks_an_empty_range),
        cmocka_unit_test(visit_tasks_puts_a_parked_tasks_locals_inside_its_range),
        cmocka_unit_test(visit_tasks_puts_the_requesters_locals_inside_its_range),
        cmocka_unit_test(
            visit_tasks_puts_the_locals_of_a_task_stopped_at_a_safepoint_inside_its_range),
        cmocka_unit_test(claim_of_a_parked_task_succeeds_with_its_locals_in_range),
        cmocka_unit_test(claimed_task_readied_by_another_task_does_not_run_until_unclaimed),
        cmocka_unit_test(claim_of_the_running_task_fails),
        cmocka_unit_test(claim_of_a_task_running_on_another_worker_fails),
        cmocka_unit_test(tasks_readied_or_spawned_by_the_requester_run_after_the_restart),
        cmocka_unit_test(ready_from_a_thread_waits_for_the_pause_to_end),
        cmocka_unit_test(stats_count_every_pause),
        cmocka_unit_test(concurrent_requesters_take_turns_without_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
