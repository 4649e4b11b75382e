/* embed_storm.c - attached threads and tasks going in and out of blocking
 * regions while stop-the-world pauses run back to back.
 *
 * Cast (the runtime started with go_start, 3 workers by default):
 *   - attached threads: each loops attach -> a random run of operations ->
 *     detach, until told to stop. Operations: spin on go_safepoint bumping a
 *     progress counter; go_blocking_enter ... go_blocking_leave around a short
 *     plain-C wait (a spin, sched_yield, or a 50-100 us sleep); go_blocking_call
 *     of such a wait, whose result is checked; go_spawn of a short task.
 *   - region tasks: the same operations from tasks (a region of a task keeps
 *     its worker), plus go_yield;
 *   - three requesters pausing back to back, each up to its share of the
 *     pauses: a task, a thread that is not attached, and an attached thread
 *     (a member itself, which counts its own member as stopped).
 * Every pause, with the world stopped:
 *   - marks a shared "inside a pause" flag, and fails if it was set already;
 *   - samples the count of completed go_blocking_leave/go_blocking_call
 *     returns at the stop and again just before the restart: they must agree
 *     (no leave returns during a pause);
 *   - samples the progress counters (bumped only outside regions) of every
 *     attached thread and region task at the stop and before the restart:
 *     they must agree (nobody outside a region runs during a pause);
 *   - visits every task: sane ranges, and each published region task exactly
 *     once with the address of its local inside [lo, hi);
 *   - visits every attached thread: each thread that says it is attached is
 *     visited exactly once with its local inside [lo, hi), with registers.
 * Code right after every go_blocking_leave (and go_blocking_call) checks the
 * flag too: seeing it set means leave returned during a pause.
 * Final checks: every enter matched by a leave, per thread and task; blocking
 * calls returned what fn returned; attaches matched by detaches; short tasks
 * spawned against run; the pauses counted by the runtime against those made;
 * and no error recorded anywhere. A deadlocked pause trips the watchdog. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "gort.h"
#include "runtime/stack.h"
#include "sched/sched.h"
#include "stress/stress.h"

#define ATTACHED 3
#define REGION_TASKS 4
#define MAX_VISITS 4096

/* ---- the world --------------------------------------------------------------------------- */

typedef struct actor {
    int index;
    bool is_thread;
    /* published for the pause's checks */
    const void *_Atomic local;
    gort_task *_Atomic task; /* region tasks */
    atomic_int attached;     /* attached threads: between attach's return and detach's call */
    atomic_long progress;    /* bumped only outside regions */
    /* accounting */
    atomic_long enters, leaves, calls, call_returns, bad_results;
    atomic_long attaches, detaches, attach_failures;
    atomic_long spawned;
} actor;

static struct {
    int nworkers;
    actor att[ATTACHED];
    actor tsk[REGION_TASKS];
    atomic_int inside_pause;
    atomic_long leaves_done; /* every completed leave or blocking call, everyone's */
    atomic_int stop;
    atomic_long short_spawned, short_ran;
    long pauses_each; /* per requester */
    atomic_long pauses_task, pauses_thread, pauses_attached;
    atomic_long thread_visits, task_visits;
    atomic_long leave_in_pause;
    atomic_int tasks_done;
    uint64_t stats_before, stats_after;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[256];
} W;

__attribute__((format(printf, 1, 2))) static void record_error(const char *fmt, ...) {
    atomic_fetch_add(&W.errors, 1);
    if (atomic_exchange(&W.error_reported, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.first_error, sizeof W.first_error, fmt, ap);
    va_end(ap);
}

/* ---- the pause and its checks ------------------------------------------------------------ */

typedef struct scratch {
    long prog_att[ATTACHED], prog_tsk[REGION_TASKS];
    int att_flag[ATTACHED];
    const void *att_local[ATTACHED];
    int att_found[ATTACHED];
    gort_task *tsk_task[REGION_TASKS];
    const void *tsk_local[REGION_TASKS];
    int tsk_found[REGION_TASKS];
    long nthreads, ntasks;
} scratch;

static void on_task(gort_task *t, const void *lo, const void *hi, void *arg) {
    scratch *sc = arg;
    sc->ntasks++;
    if ((lo == NULL) != (hi == NULL) ||
        (lo != NULL &&
         ((const char *)lo > (const char *)hi ||
          (size_t)((const char *)hi - (const char *)lo) > gort_rt_stack_default_size())))
        record_error("visit: task %llu has range [%p, %p)",
                     (unsigned long long)gort_sched_task_id(t), lo, hi);
    for (int i = 0; i < REGION_TASKS; i++)
        if (sc->tsk_task[i] == t) {
            sc->tsk_found[i]++;
            const char *l = sc->tsk_local[i];
            if (lo == NULL || l < (const char *)lo || l >= (const char *)hi)
                record_error("region task %d: local %p outside [%p, %p)", i, (const void *)l, lo,
                             hi);
        }
}

static void on_thread(gort_member *m, const void *lo, const void *hi, const uintptr_t *regs,
                      size_t nregs, void *arg) {
    (void)m;
    scratch *sc = arg;
    sc->nthreads++;
    if (lo == NULL || hi == NULL || (const char *)lo >= (const char *)hi)
        record_error("visit: attached thread with range [%p, %p)", lo, hi);
    if (regs == NULL || nregs == 0)
        record_error("visit: attached thread without registers");
    for (int i = 0; i < ATTACHED; i++) {
        const char *l = sc->att_local[i];
        if (sc->att_flag[i] && l >= (const char *)lo && l < (const char *)hi)
            sc->att_found[i]++;
    }
}

static void pause_and_check(atomic_long *counter) {
    scratch sc;
    memset(&sc, 0, sizeof sc);
    gort_stop_the_world(GORT_STW_TEST);
    if (atomic_exchange(&W.inside_pause, 1) != 0)
        record_error("two pauses in force at once");
    long leaves0 = atomic_load(&W.leaves_done);
    for (int i = 0; i < ATTACHED; i++) {
        sc.prog_att[i] = atomic_load(&W.att[i].progress);
        sc.att_flag[i] = atomic_load(&W.att[i].attached);
        sc.att_local[i] = atomic_load(&W.att[i].local);
    }
    for (int i = 0; i < REGION_TASKS; i++) {
        sc.prog_tsk[i] = atomic_load(&W.tsk[i].progress);
        sc.tsk_task[i] = atomic_load_explicit(&W.tsk[i].task, memory_order_acquire);
        sc.tsk_local[i] = atomic_load(&W.tsk[i].local);
    }

    gort_stw_visit_tasks(on_task, &sc);
    gort_stw_visit_threads(on_thread, &sc);
    for (int i = 0; i < REGION_TASKS; i++)
        if (sc.tsk_task[i] != NULL && sc.tsk_found[i] != 1)
            record_error("region task %d visited %d times", i, sc.tsk_found[i]);
    for (int i = 0; i < ATTACHED; i++)
        if (sc.att_flag[i] && sc.att_found[i] != 1)
            record_error("attached thread %d visited %d times with its local in range", i,
                         sc.att_found[i]);
    atomic_fetch_add_explicit(&W.task_visits, sc.ntasks, memory_order_relaxed);
    atomic_fetch_add_explicit(&W.thread_visits, sc.nthreads, memory_order_relaxed);

    unsigned spins = 0;
    for (int i = 0; i < 300; i++) /* give a leave that should wait every chance to return */
        gort_test_relax(&spins);

    long leaves1 = atomic_load(&W.leaves_done);
    if (leaves1 != leaves0) {
        atomic_fetch_add(&W.leave_in_pause, 1);
        record_error("%ld leaves completed during a pause", leaves1 - leaves0);
    }
    for (int i = 0; i < ATTACHED; i++)
        if (atomic_load(&W.att[i].progress) != sc.prog_att[i])
            record_error("attached thread %d ran outside a region during a pause", i);
    for (int i = 0; i < REGION_TASKS; i++)
        if (atomic_load(&W.tsk[i].progress) != sc.prog_tsk[i])
            record_error("region task %d ran outside a region during a pause", i);
    atomic_store(&W.inside_pause, 0);
    gort_start_the_world();
    atomic_fetch_add(counter, 1);
}

/* ---- what happens inside a region: plain C, no runtime call ------------------------------ */

typedef struct wait_arg {
    uint32_t how;
    long cookie;
} wait_arg;

static void plain_wait(uint32_t how) {
    unsigned spins = 0;
    switch (how % 4) {
    case 0:
        break;
    case 1:
        for (uint32_t i = 0; i < how % 200; i++)
            gort_test_relax(&spins);
        break;
    case 2:
        sched_yield();
        break;
    default: {
        struct timespec ts = {0, 50000 + (long)(how % 50) * 1000};
        nanosleep(&ts, NULL);
    }
    }
}

static void *blocking_fn(void *arg) {
    wait_arg *w = arg;
    plain_wait(w->how);
    return (void *)(intptr_t)(w->cookie + 1);
}

/* Right after a leave (or a blocking call) returned, before any safepoint. */
static void after_leave(void) {
    if (atomic_load(&W.inside_pause))
        record_error("go_blocking_leave returned during a pause");
    atomic_fetch_add(&W.leaves_done, 1);
}

static void short_task(void *arg) {
    (void)arg;
    atomic_fetch_add(&W.short_ran, 1);
}

/* One operation of an actor (thread or task); the region's bracket stays in
 * this frame so that `local` (its caller's) is above the frozen range. */
static void one_op(actor *a, stress_rng *rng, volatile long *local) {
    uint32_t r = stress_below(rng, 100);
    if (r < 30) { /* run outside any region, on safepoints */
        int n = 1 + (int)stress_below(rng, 64);
        for (int i = 0; i < n; i++) {
            atomic_fetch_add_explicit(&a->progress, 1, memory_order_relaxed);
            (*local)++;
            go_safepoint();
        }
    } else if (r < 60) {
        uint32_t how = (uint32_t)stress_next(rng);
        atomic_fetch_add(&a->enters, 1);
        go_blocking_enter();
        plain_wait(how);
        go_blocking_leave();
        after_leave();
        atomic_fetch_add(&a->leaves, 1);
    } else if (r < 85) {
        wait_arg w = {(uint32_t)stress_next(rng), (long)stress_next(rng) >> 2};
        atomic_fetch_add(&a->calls, 1);
        void *res = go_blocking_call(blocking_fn, &w);
        after_leave();
        atomic_fetch_add(&a->call_returns, 1);
        if (res != (void *)(intptr_t)(w.cookie + 1))
            atomic_fetch_add(&a->bad_results, 1);
    } else if (r < 92) {
        if (atomic_load(&W.short_spawned) - atomic_load(&W.short_ran) < 200) {
            atomic_fetch_add(&W.short_spawned, 1);
            if (go_spawn(short_task, NULL) != 0) {
                atomic_fetch_sub(&W.short_spawned, 1);
                record_error("go_spawn of a short task failed");
            } else {
                atomic_fetch_add(&a->spawned, 1);
            }
        }
    } else {
        if (!a->is_thread)
            go_yield();
        else
            go_safepoint();
    }
}

/* ---- attached threads -------------------------------------------------------------------- */

static void attached_thread(void *arg) {
    actor *a = arg;
    volatile long local = 0;
    stress_rng rng = stress_rng_make(100 + (uint64_t)a->index);
    atomic_store(&a->local, (const void *)&local);
    while (!atomic_load(&W.stop)) {
        int rc = go_thread_attach();
        if (rc != 0) {
            atomic_fetch_add(&a->attach_failures, 1);
            record_error("attached thread %d: go_thread_attach returned %d", a->index, rc);
            break;
        }
        atomic_fetch_add(&a->attaches, 1);
        atomic_store(&a->attached, 1);
        int ops = 1 + (int)stress_below(&rng, 120);
        for (int i = 0; i < ops && !atomic_load(&W.stop); i++)
            one_op(a, &rng, &local);
        atomic_store(&a->attached, 0);
        go_thread_detach();
        atomic_fetch_add(&a->detaches, 1);
        /* A thread outside the runtime for a moment: a pause does not wait for it. */
        if (stress_below(&rng, 4) == 0)
            sched_yield();
    }
}

/* ---- tasks ------------------------------------------------------------------------------- */

static void region_task(void *arg) {
    actor *a = arg;
    volatile long local = 0;
    stress_rng rng = stress_rng_make(200 + (uint64_t)a->index);
    atomic_store(&a->local, (const void *)&local);
    atomic_store_explicit(&a->task, gort_sched_current_task(), memory_order_release);
    while (!atomic_load(&W.stop))
        one_op(a, &rng, &local);
    atomic_store(&a->task, NULL);
    atomic_fetch_add(&W.tasks_done, 1);
}

static void requester_task(void *arg) {
    (void)arg;
    for (long i = 0; i < W.pauses_each; i++) {
        pause_and_check(&W.pauses_task);
        if (i % 4 == 0)
            go_yield();
    }
    atomic_fetch_add(&W.tasks_done, 1);
}

static void requester_thread(void *arg) {
    (void)arg;
    for (long i = 0; i < W.pauses_each; i++)
        pause_and_check(&W.pauses_thread);
}

/* Attached while it pauses; detaches and attaches again now and then. */
static void requester_attached(void *arg) {
    (void)arg;
    stress_rng rng = stress_rng_make(300);
    bool attached = false;
    for (long i = 0; i < W.pauses_each; i++) {
        if (!attached) {
            int rc = go_thread_attach();
            if (rc != 0) {
                record_error("attached requester: go_thread_attach returned %d", rc);
                return;
            }
            attached = true;
        }
        pause_and_check(&W.pauses_attached);
        if (stress_below(&rng, 16) == 0) {
            go_thread_detach();
            attached = false;
        }
    }
    if (attached)
        go_thread_detach();
}

int main(void) {
    stress_begin("embed_storm");
    long total = stress_scaled(6000);
    W.pauses_each = total / 3 > 0 ? total / 3 : 1;
    int workers = stress_workers(3);
    printf("embed_storm: %ld pauses, %d workers, %d attached threads, %d region tasks\n",
           3 * W.pauses_each, workers, ATTACHED, REGION_TASKS);
    fflush(stdout);

    go_config cfg = {.workers = workers};
    int rc = go_start(&cfg);
    stress_check(rc == 0, "go_start returned %d", rc);
    W.nworkers = go_workers();
    gort_stw_stats st;
    gort_stw_stats_get(&st);
    W.stats_before = st.pauses;

    stress_set_phase("storm");
    for (int i = 0; i < REGION_TASKS; i++) {
        W.tsk[i].index = i;
        stress_check(go_spawn(region_task, &W.tsk[i]) == 0, "go_spawn of a region task failed");
    }
    uv_thread_t att[ATTACHED], req, req_att;
    for (int i = 0; i < ATTACHED; i++) {
        W.att[i].index = i;
        W.att[i].is_thread = true;
        stress_check(uv_thread_create(&att[i], attached_thread, &W.att[i]) == 0,
                     "cannot create a thread");
    }
    stress_check(go_spawn(requester_task, NULL) == 0, "go_spawn of the requester failed");
    stress_check(uv_thread_create(&req, requester_thread, NULL) == 0, "cannot create a thread");
    stress_check(uv_thread_create(&req_att, requester_attached, NULL) == 0,
                 "cannot create a thread");

    uv_thread_join(&req);
    uv_thread_join(&req_att);
    unsigned spins = 0;
    while (atomic_load(&W.pauses_task) < W.pauses_each)
        gort_test_relax(&spins);
    stress_set_phase("stopping");
    atomic_store(&W.stop, 1);
    for (int i = 0; i < ATTACHED; i++)
        uv_thread_join(&att[i]);
    while (atomic_load(&W.tasks_done) < REGION_TASKS + 1)
        gort_test_relax(&spins);
    gort_stw_stats_get(&st);
    W.stats_after = st.pauses;
    rc = go_stop();
    stress_check(rc == 0, "go_stop returned %d", rc);

    stress_check(atomic_load(&W.errors) == 0, "%ld errors, the first: %s", atomic_load(&W.errors),
                 W.first_error);
    long pt = atomic_load(&W.pauses_task), ph = atomic_load(&W.pauses_thread),
         pa = atomic_load(&W.pauses_attached);
    stress_check(pt == W.pauses_each && ph == W.pauses_each && pa == W.pauses_each,
                 "pauses: %ld from the task, %ld from the thread, %ld from the attached thread, "
                 "expected %ld each",
                 pt, ph, pa, W.pauses_each);
    stress_check(W.stats_after - W.stats_before == (uint64_t)(pt + ph + pa),
                 "the runtime counted %llu pauses, the program %ld",
                 (unsigned long long)(W.stats_after - W.stats_before), pt + ph + pa);
    long enters = 0, calls = 0, attaches = 0, region_ops_threads = 0;
    actor *all[ATTACHED + REGION_TASKS];
    for (int i = 0; i < ATTACHED; i++)
        all[i] = &W.att[i];
    for (int i = 0; i < REGION_TASKS; i++)
        all[ATTACHED + i] = &W.tsk[i];
    for (int i = 0; i < ATTACHED + REGION_TASKS; i++) {
        actor *a = all[i];
        const char *what = a->is_thread ? "attached thread" : "region task";
        stress_check(atomic_load(&a->enters) == atomic_load(&a->leaves),
                     "%s %d: %ld enters, %ld leaves", what, a->index, atomic_load(&a->enters),
                     atomic_load(&a->leaves));
        stress_check(atomic_load(&a->calls) == atomic_load(&a->call_returns),
                     "%s %d: %ld blocking calls, %ld returned", what, a->index,
                     atomic_load(&a->calls), atomic_load(&a->call_returns));
        stress_check(atomic_load(&a->bad_results) == 0,
                     "%s %d: %ld blocking calls returned "
                     "the wrong value",
                     what, a->index, atomic_load(&a->bad_results));
        stress_check(atomic_load(&a->attaches) == atomic_load(&a->detaches),
                     "%s %d: %ld attaches, %ld detaches", what, a->index, atomic_load(&a->attaches),
                     atomic_load(&a->detaches));
        enters += atomic_load(&a->enters);
        calls += atomic_load(&a->calls);
        attaches += atomic_load(&a->attaches);
        if (a->is_thread)
            region_ops_threads += atomic_load(&a->enters) + atomic_load(&a->calls);
    }
    stress_check(atomic_load(&W.leaves_done) == enters + calls,
                 "%ld leaves completed, %ld enters and blocking calls", atomic_load(&W.leaves_done),
                 enters + calls);
    stress_check(atomic_load(&W.short_ran) == atomic_load(&W.short_spawned),
                 "%ld short tasks ran of %ld", atomic_load(&W.short_ran),
                 atomic_load(&W.short_spawned));
    stress_check(attaches >= ATTACHED, "only %ld attaches", attaches);
    stress_check(region_ops_threads > 0 && enters + calls > region_ops_threads,
                 "regions: %ld by threads of %ld in all", region_ops_threads, enters + calls);
    printf("embed_storm: %ld pauses (%ld from the task, %ld from the thread, %ld from the attached "
           "thread), %ld regions, %ld blocking calls, %ld attaches, %ld short tasks, %ld task "
           "visits, %ld thread visits\n",
           pt + ph + pa, pt, ph, pa, enters, calls, attaches, atomic_load(&W.short_spawned),
           atomic_load(&W.task_visits), atomic_load(&W.thread_visits));
    return stress_end();
}
