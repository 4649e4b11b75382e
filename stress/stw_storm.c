/* stw_storm.c - 10,000 stop-the-world pauses (scaled) while everything else
 * that interacts with a pause happens at once.
 *
 * Cast:
 *   - spinners: tasks looping on go_safepoint(), bumping their own counters
 *     (and yielding now and then: nothing preempts them yet);
 *   - parkers: tasks parked on their own semaphores, readied by waker tasks,
 *     by a poster thread that is not a worker, and now and then by the pause
 *     requester while the world is stopped;
 *   - a spawner task keeping a few hundred short-lived tasks coming;
 *   - a requester task pausing as fast as it can (3/4 of the pauses);
 *   - a controller thread (not a worker) pausing too (1/4) and, in every
 *     phase, making the world quiet: spinners, wakers, spawner and requester
 *     park on a gate, so that every worker goes idle, and then pausing with
 *     every worker idle (stopped in place, not woken) before opening the gate.
 * Every pause checks, with the world stopped: gort_stw_is_stopped; that no
 * spinner moves between the stop and the restart; that gort_stw_run_parallel
 * runs its function once for every worker index, on that worker or on the
 * requester; that gort_stw_visit_tasks visits each published spinner and
 * parker exactly once with the address of one of its locals inside
 * [lo, hi), and gives every task a sane range.
 * Final checks: pause counts against the runtime's statistics, posts against
 * wake-ups plus what is left in the semaphores, short tasks spawned against
 * run. A deadlocked pause or a lost wake-up trips the watchdog. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"
#include "runtime/stack.h"
#include "sched/sched.h"
#include "stress/stress.h"

#define SPINNERS 2
#define PARKERS 32
#define WAKERS 2
#define MAX_PHASES 64
#define MAX_WORKERS 64
#define MAX_VISITS 4096
#define SHORT_LIVE 200

/* ---- a gate (as in tests/test_stw.c) ---------------------------------------------------- */

typedef struct gate {
    gort_test_spinlock lock;
    bool open;
    gort_test_waiter *head;
    atomic_int parked;
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
    gort_sched_park(gate_unlock_cb, g, "quiet gate");
}

static void gate_open(gate *g) {
    gort_test_lock(&g->lock);
    g->open = true;
    gort_test_waiter *w = g->head;
    g->head = NULL;
    gort_test_unlock(&g->lock);
    while (w != NULL) {
        gort_test_waiter *next = w->next;
        gort_sched_ready(w->task);
        w = next;
    }
}

/* ---- the world --------------------------------------------------------------------------------
 */

/* A task whose frame holds `local` publishes both; the pause checks that the
 * visit range of `task` contains `local`. task is stored last (release) and
 * cleared before the frame dies. */
typedef struct published {
    const void *local;
    gort_task *_Atomic task;
} published;

typedef struct world {
    int nworkers;
    /* spinners */
    atomic_long spin_count[SPINNERS];
    published spin_pub[SPINNERS];
    /* parkers */
    gort_test_sema parker_sema[PARKERS];
    atomic_long parker_wakes[PARKERS];
    published parker_pub[PARKERS];
    atomic_long posts;
    /* short tasks */
    atomic_long short_spawned, short_ran;
    /* control */
    atomic_int stop;
    atomic_int quiet_gen; /* the gate to wait at; 0: none */
    atomic_int quiet;     /* wakers hold off while 1 */
    gate quiet_gate[MAX_PHASES + 1];
    gort_test_sema controller_done;
    gort_test_wg wg;
    int phases;
    long task_pauses_per_phase, thread_pauses_per_phase;
    /* accounting */
    atomic_long pauses_task, pauses_thread, pauses_quiet, ready_in_pause;
    atomic_long visits_total;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[256];
    uint64_t stats_before, stats_after;
} world;

static world W;

__attribute__((format(printf, 1, 2))) static void record_error(const char *fmt, ...) {
    atomic_fetch_add(&W.errors, 1);
    if (atomic_exchange(&W.error_reported, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.first_error, sizeof W.first_error, fmt, ap);
    va_end(ap);
}

/* A task calls this at the head of its loop: parks at the current gate if
 * the controller asked for quiet since it last looked. */
static void maybe_quiet(int *seen_gen) {
    int g = atomic_load(&W.quiet_gen);
    if (g != *seen_gen) {
        *seen_gen = g;
        gate_wait(&W.quiet_gate[g]);
    }
}

/* ---- the pause and its checks ------------------------------------------------------------------
 */

typedef struct visit {
    gort_task *task;
    const void *lo, *hi;
} visit;

typedef struct pause_scratch {
    visit v[MAX_VISITS];
    int n, overflow;
    long before[SPINNERS], after[SPINNERS];
    atomic_int ran[MAX_WORKERS];
    atomic_int ran_on[MAX_WORKERS];
    stress_rng rng;
} pause_scratch;

static void record_visit(gort_task *t, const void *lo, const void *hi, void *arg) {
    pause_scratch *sc = arg;
    if ((lo == NULL) != (hi == NULL))
        record_error("visit: task %llu has range [%p, %p)",
                     (unsigned long long)gort_sched_task_id(t), lo, hi);
    if (lo != NULL &&
        ((const char *)lo > (const char *)hi ||
         (size_t)((const char *)hi - (const char *)lo) > gort_rt_stack_default_size()))
        record_error("visit: task %llu has range [%p, %p)",
                     (unsigned long long)gort_sched_task_id(t), lo, hi);
    if (sc->n == MAX_VISITS) {
        sc->overflow = 1;
        return;
    }
    sc->v[sc->n++] = (visit){t, lo, hi};
}

static void check_published(pause_scratch *sc, published *p, const char *what, int index) {
    gort_task *t = atomic_load_explicit(&p->task, memory_order_acquire);
    if (t == NULL || sc->overflow)
        return;
    int found = 0;
    const visit *v = NULL;
    for (int i = 0; i < sc->n; i++)
        if (sc->v[i].task == t) {
            found++;
            v = &sc->v[i];
        }
    if (found != 1) {
        record_error("%s %d visited %d times", what, index, found);
        return;
    }
    const char *l = p->local;
    if (v->lo == NULL || l < (const char *)v->lo || l >= (const char *)v->hi)
        record_error("%s %d: local %p outside its range [%p, %p)", what, index, p->local, v->lo,
                     v->hi);
}

static void parallel_fn(void *arg, int w) {
    pause_scratch *sc = arg;
    if (w < 0 || w >= MAX_WORKERS) {
        record_error("run_parallel: worker index %d", w);
        return;
    }
    atomic_fetch_add(&sc->ran[w], 1);
    atomic_store(&sc->ran_on[w], gort_sched_worker_index());
}

static void sample_spinners(long *out) {
    for (int i = 0; i < SPINNERS; i++)
        out[i] = atomic_load(&W.spin_count[i]);
}

static void pause_and_check(pause_scratch *sc, atomic_long *counter) {
    int self = gort_sched_worker_index();
    gort_stop_the_world(GORT_STW_TEST);
    if (!gort_stw_is_stopped())
        record_error("gort_stw_is_stopped is false inside a pause");
    sample_spinners(sc->before);

    sc->n = 0;
    sc->overflow = 0;
    gort_stw_visit_tasks(record_visit, sc);
    atomic_fetch_add_explicit(&W.visits_total, sc->n, memory_order_relaxed);
    for (int i = 0; i < SPINNERS; i++)
        check_published(sc, &W.spin_pub[i], "spinner", i);
    for (int i = 0; i < PARKERS; i++)
        check_published(sc, &W.parker_pub[i], "parker", i);

    for (int w = 0; w < W.nworkers; w++) {
        atomic_store(&sc->ran[w], 0);
        atomic_store(&sc->ran_on[w], -2);
    }
    gort_stw_run_parallel(parallel_fn, sc);
    for (int w = 0; w < W.nworkers; w++) {
        int n = atomic_load(&sc->ran[w]), on = atomic_load(&sc->ran_on[w]);
        if (n != 1)
            record_error("run_parallel ran worker %d's share %d times", w, n);
        else if (on != w && on != self)
            record_error("run_parallel ran worker %d's share on worker %d (requester %d)", w, on,
                         self);
    }

    /* Now and then the requester readies a parker while the world is stopped. */
    if (stress_below(&sc->rng, 4) == 0) {
        atomic_fetch_add(&W.posts, 1);
        gort_test_sema_post(&W.parker_sema[stress_below(&sc->rng, PARKERS)]);
        atomic_fetch_add(&W.ready_in_pause, 1);
    }

    unsigned spins = 0;
    for (int i = 0; i < 200; i++)
        gort_test_relax(&spins);
    sample_spinners(sc->after);
    for (int i = 0; i < SPINNERS; i++)
        if (sc->before[i] != sc->after[i])
            record_error("spinner %d moved from %ld to %ld during a pause", i, sc->before[i],
                         sc->after[i]);
    atomic_fetch_add(counter, 1);
    gort_start_the_world();
}

/* ---- tasks ----------------------------------------------------------------------------------- */

static void spinner(void *arg) {
    int i = (int)(intptr_t)arg;
    volatile long local = i;
    int seen = 0;
    W.spin_pub[i].local = (const void *)&local;
    atomic_store_explicit(&W.spin_pub[i].task, gort_sched_current_task(), memory_order_release);
    while (!atomic_load(&W.stop)) {
        maybe_quiet(&seen);
        atomic_fetch_add_explicit(&W.spin_count[i], 1, memory_order_relaxed);
        local++;
        go_safepoint();
        /* Time slices are not enforced yet (DESIGN.md section 3): a spinner
         * that never yields would starve the tasks queued behind it. */
        if (local % 128 == 0)
            go_yield();
    }
    atomic_store(&W.spin_pub[i].task, NULL);
    gort_test_wg_done(&W.wg);
}

static void parker(void *arg) {
    int i = (int)(intptr_t)arg;
    volatile long local = i;
    W.parker_pub[i].local = (const void *)&local;
    atomic_store_explicit(&W.parker_pub[i].task, gort_sched_current_task(), memory_order_release);
    while (!atomic_load(&W.stop)) {
        gort_test_sema_wait(&W.parker_sema[i]);
        atomic_fetch_add(&W.parker_wakes[i], 1);
        local++;
    }
    atomic_store(&W.parker_pub[i].task, NULL);
    gort_test_wg_done(&W.wg);
}

static void waker(void *arg) {
    stress_rng rng = stress_rng_make(200 + (uint64_t)(intptr_t)arg);
    int seen = 0;
    while (!atomic_load(&W.stop)) {
        maybe_quiet(&seen);
        if (!atomic_load(&W.quiet)) {
            atomic_fetch_add(&W.posts, 1);
            gort_test_sema_post(&W.parker_sema[stress_below(&rng, PARKERS)]);
        }
        go_yield();
    }
    gort_test_wg_done(&W.wg);
}

static void short_task(void *arg) {
    if ((intptr_t)arg & 1)
        go_yield();
    atomic_fetch_add(&W.short_ran, 1);
}

static void spawner(void *arg) {
    (void)arg;
    stress_rng rng = stress_rng_make(300);
    int seen = 0;
    while (!atomic_load(&W.stop)) {
        maybe_quiet(&seen);
        if (atomic_load(&W.short_spawned) - atomic_load(&W.short_ran) < SHORT_LIVE) {
            atomic_fetch_add(&W.short_spawned, 1);
            if (go_spawn(short_task, (void *)(intptr_t)stress_below(&rng, 2)) != 0) {
                atomic_fetch_sub(&W.short_spawned, 1);
                record_error("go_spawn of a short task failed");
            }
        }
        go_yield();
    }
    gort_test_wg_done(&W.wg);
}

static void requester_task(void *arg) {
    (void)arg;
    static pause_scratch sc;
    sc.rng = stress_rng_make(400);
    int seen = 0;
    while (!atomic_load(&W.stop)) {
        maybe_quiet(&seen);
        pause_and_check(&sc, &W.pauses_task);
        go_yield();
    }
    gort_test_wg_done(&W.wg);
}

/* ---- threads that are not workers ---------------------------------------------------------------
 */

static void poster_thread(void *arg) {
    (void)arg;
    stress_rng rng = stress_rng_make(500);
    unsigned spins = 0;
    while (!atomic_load(&W.stop)) {
        if (!atomic_load(&W.quiet)) {
            atomic_fetch_add(&W.posts, 1);
            gort_test_sema_post(&W.parker_sema[stress_below(&rng, PARKERS)]);
        }
        for (int i = 0; i < 64; i++)
            gort_test_relax(&spins);
    }
}

/* Tasks that park at a quiet gate: spinners, wakers, the spawner, the requester. */
#define QUIET_TASKS (SPINNERS + WAKERS + 2)

static void controller_thread(void *arg) {
    (void)arg;
    static pause_scratch sc;
    sc.rng = stress_rng_make(600);
    unsigned spins = 0;
    for (int phase = 0; phase < W.phases; phase++) {
        stress_set_phase("busy pauses");
        for (long i = 0; i < W.thread_pauses_per_phase; i++)
            pause_and_check(&sc, &W.pauses_thread);
        while (atomic_load(&W.pauses_task) < (phase + 1) * W.task_pauses_per_phase)
            gort_test_relax(&spins);

        /* Quiet: every task parks, every worker goes idle. */
        stress_set_phase("making the world quiet");
        int g = phase + 1;
        atomic_store(&W.quiet, 1);
        atomic_store(&W.quiet_gen, g);
        while (atomic_load(&W.quiet_gate[g].parked) < QUIET_TASKS)
            gort_test_relax(&spins);
        while (atomic_load(&W.short_ran) < atomic_load(&W.short_spawned))
            gort_test_relax(&spins);
        uv_sleep(1); /* lets the workers fall asleep; nothing depends on it */
        stress_set_phase("quiet pauses");
        for (int i = 0; i < 3; i++)
            pause_and_check(&sc, &W.pauses_quiet);
        atomic_store(&W.quiet, 0);
        gate_open(&W.quiet_gate[g]);
    }
    stress_set_phase("finishing");
    gort_test_sema_post(&W.controller_done);
}

static int storm_main(void *arg) {
    (void)arg;
    W.nworkers = go_workers();
    gort_stw_stats st;
    gort_stw_stats_get(&st);
    W.stats_before = st.pauses;
    int ntasks = SPINNERS + PARKERS + WAKERS + 2;
    gort_test_wg_add(&W.wg, ntasks);
    int failures = 0;
    for (int i = 0; i < SPINNERS; i++)
        failures += go_spawn(spinner, (void *)(intptr_t)i) != 0;
    for (int i = 0; i < PARKERS; i++)
        failures += go_spawn(parker, (void *)(intptr_t)i) != 0;
    for (int i = 0; i < WAKERS; i++)
        failures += go_spawn(waker, (void *)(intptr_t)i) != 0;
    failures += go_spawn(spawner, NULL) != 0;
    failures += go_spawn(requester_task, NULL) != 0;
    if (failures != 0)
        return -1; /* the wait group would never drain */
    uv_thread_t poster, controller;
    if (uv_thread_create(&poster, poster_thread, NULL) != 0 ||
        uv_thread_create(&controller, controller_thread, NULL) != 0)
        return -2;

    gort_test_sema_wait(&W.controller_done);
    atomic_store(&W.stop, 1);
    for (int i = 0; i < PARKERS; i++) {
        atomic_fetch_add(&W.posts, 1);
        gort_test_sema_post(&W.parker_sema[i]);
    }
    gort_test_wg_wait(&W.wg);
    while (atomic_load(&W.short_ran) < atomic_load(&W.short_spawned))
        go_yield();
    uv_thread_join(&controller);
    uv_thread_join(&poster);
    gort_stw_stats_get(&st);
    W.stats_after = st.pauses;
    return 0;
}

int main(void) {
    stress_begin("stw_storm");
    long total = stress_scaled(10000);
    W.phases = (int)(total / 50);
    if (W.phases < 2)
        W.phases = 2;
    if (W.phases > MAX_PHASES)
        W.phases = MAX_PHASES;
    W.task_pauses_per_phase = total * 3 / 4 / W.phases + 1;
    W.thread_pauses_per_phase = total / 4 / W.phases + 1;
    int workers = stress_workers(4);
    stress_check(workers <= MAX_WORKERS, "at most %d workers", MAX_WORKERS);
    printf("stw_storm: about %ld pauses in %d phases, %d workers\n", total, W.phases, workers);
    fflush(stdout);
    int rc = gort_test_run(workers, storm_main, NULL);
    stress_check(rc == 0, "go_main returned %d", rc);
    stress_check(atomic_load(&W.errors) == 0, "%ld errors, the first: %s", atomic_load(&W.errors),
                 W.first_error);
    long task = atomic_load(&W.pauses_task), thread = atomic_load(&W.pauses_thread),
         quiet = atomic_load(&W.pauses_quiet);
    stress_check(W.stats_after - W.stats_before == (uint64_t)(task + thread + quiet),
                 "the runtime counted %llu pauses, the program %ld",
                 (unsigned long long)(W.stats_after - W.stats_before), task + thread + quiet);
    stress_check(task >= W.phases * W.task_pauses_per_phase, "only %ld pauses from the task", task);
    stress_check(quiet == 3L * W.phases, "%ld quiet pauses, expected %d", quiet, 3 * W.phases);
    long wakes = 0, left = 0;
    for (int i = 0; i < PARKERS; i++) {
        wakes += atomic_load(&W.parker_wakes[i]);
        left += W.parker_sema[i].count;
        stress_check(W.parker_sema[i].head == NULL, "parker %d still queued", i);
    }
    stress_check(wakes + left == atomic_load(&W.posts), "%ld posts, but %ld wake-ups and %ld left",
                 atomic_load(&W.posts), wakes, left);
    stress_check(atomic_load(&W.short_ran) == atomic_load(&W.short_spawned),
                 "%ld short tasks ran of %ld", atomic_load(&W.short_ran),
                 atomic_load(&W.short_spawned));
    printf("stw_storm: %ld pauses (%ld from the task, %ld from the thread, %ld with the world "
           "quiet), %ld readies inside pauses, %ld wake-ups, %ld short tasks, %ld visits\n",
           task + thread + quiet, task, thread, quiet, atomic_load(&W.ready_in_pause), wakes,
           atomic_load(&W.short_spawned), atomic_load(&W.visits_total));
    return stress_end();
}
