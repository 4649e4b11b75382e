/* sched/monitor.c - the monitor thread (Go's sysmon).
 *
 * One thread per running runtime wakes every millisecond (every 10 ms while
 * every worker idles) and, for each worker:
 *   1. Time slices: if the worker has run the same slice (schedtick unchanged)
 *      for 10 ms, it raises the worker's preempt flag and REQ_WORKER in the
 *      safepoint word. The task yields at its next safepoint, to the global
 *      queue; a park or yield through the scheduler ends the slice too, and a
 *      task waiting in runnext then goes to the ring instead of inheriting
 *      the slice, so ping-ponging tasks cannot starve a third.
 *   2. Timers: if the worker's earliest timer (timer_due, on go_now()) is due
 *      while it runs tasks, it raises poll_request: the worker polls its loop
 *      without blocking and fires its timers at its next safepoint. A timer
 *      still overdue 2 ms later (the worker sits in a blocking region) makes
 *      it wake an idle worker, which fires it (sched/timer.c).
 *   3. Stalls: a task that keeps its worker away from every safepoint for
 *      over a second delays every pause; it is reported on stderr once per
 *      stall with its id, name and how long. A worker inside a blocking region
 *      is not stalled.
 *   4. Memory: once no stack has been drawn from the pools for half a
 *      second, it asks the scavenger thread to return the pages of surplus
 *      pooled stacks to the OS (gort_task_scavenge_stacks). The scavenger
 *      works in batches and stops when tasks draw stacks again. It is a
 *      thread of its own because every madvise costs a TLB shootdown (tens
 *      of microseconds each on a VM): a monitor scavenging 20,000 stacks was
 *      deaf for 380 ms, with no time slice ending and no timer polled.
 * REQ_WORKER is cleared by the monitor once no worker has a request left; a
 * safepoint that sees it checks its own worker's flags before it switches, so
 * a bit meant for another worker costs it a function call, nothing more.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "gc/gc.h"
#include "sched/internal.h"
#include "sched/timer.h"

#define SLICE_NS (10 * 1000 * 1000)
#define STALL_NS ((int64_t)1000 * 1000 * 1000)
#define TICK_BUSY_NS (1000 * 1000)
#define TICK_IDLE_NS (10 * 1000 * 1000)
#define TAKEOVER_NS (2 * 1000 * 1000)
#define STACK_IDLE_NS (500 * 1000 * 1000)

typedef struct observed {
    uint32_t schedtick;
    int64_t since; /* when schedtick was first seen with this value */
    bool reported; /* this stall was reported */
} observed;

enum { SCAVENGER_IDLE, SCAVENGER_WANTED, SCAVENGER_STOP };

static struct {
    uv_thread_t thread;
    _Atomic uint32_t stop; /* futex word */
    observed *obs;
    bool running;
    uint64_t last_draws; /* gort_task_stack_draws() at the previous tick */
    int64_t last_draw;   /* when a tick last saw a stack drawn */
    uv_thread_t scavenger;
    _Atomic uint32_t scavenge; /* futex word: SCAVENGER_* */
} monitor;

/* Returns surplus stacks to the OS, a batch at a time, while no task draws a
 * stack; then waits for the monitor to ask again. */
static void scavenger_main(void *arg) {
    (void)arg;
    for (;;) {
        uint32_t s = atomic_load(&monitor.scavenge);
        if (s == SCAVENGER_STOP)
            return;
        if (s == SCAVENGER_IDLE) {
            gort_rt_futex_wait(&monitor.scavenge, SCAVENGER_IDLE);
            continue;
        }
        uint64_t draws = gort_task_stack_draws();
        while (atomic_load(&monitor.scavenge) == SCAVENGER_WANTED &&
               gort_task_stack_draws() == draws && gort_task_scavenge_stacks() > 0) {
        }
        uint32_t wanted = SCAVENGER_WANTED;
        atomic_compare_exchange_strong(&monitor.scavenge, &wanted, SCAVENGER_IDLE);
    }
}

static void report_stall(gort_worker *w, int64_t ns) {
    gort_task *t = atomic_load_explicit(&w->current, memory_order_relaxed);
    uint64_t id = atomic_load_explicit(&w->current_id, memory_order_relaxed);
    char name[GORT_TASK_NAME_MAX] = "";
    if (t != NULL)
        gort_sched_task_name(t, name);
    fprintf(stderr,
            "gort: task %" PRIu64 " (%s) has kept worker %d away from a safepoint for %" PRId64
            " ms: every stop-the-world pause waits for it (call go_safepoint in long loops, or "
            "use a blocking region)\n",
            id, name[0] != '\0' ? name : "unnamed", w->index, ns / 1000000);
}

static bool examine(gort_worker *w, observed *o, int64_t now) {
    uint32_t st = atomic_load(&w->m.state);
    bool busy = (st == W_RUNNING || st == W_STOPPED) &&
                atomic_load_explicit(&w->current, memory_order_relaxed) != NULL;
    uint32_t tick = atomic_load_explicit(&w->schedtick, memory_order_relaxed);
    /* A stopped worker sits at a safepoint: a long pause (a collection run
     * by its task) is not a stall of that task. */
    if (!busy || tick != o->schedtick || st == W_STOPPED) {
        o->schedtick = tick;
        o->since = now;
        o->reported = false;
        return busy;
    }
    int64_t ran = now - o->since;
    if (ran >= SLICE_NS && !atomic_load(&w->preempt)) {
        atomic_store(&w->preempt, 1);
        safepoint_word_set(REQ_WORKER);
    }
    if (ran >= STALL_NS && !o->reported && st == W_RUNNING) {
        o->reported = true;
        report_stall(w, ran);
    }
    return true;
}

static void monitor_main(void *arg) {
    (void)arg;
    int64_t tick = TICK_BUSY_NS;
    while (!atomic_load(&monitor.stop)) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = tick};
        gort_rt_futex_wait_timeout(&monitor.stop, 0, &ts);
        int64_t now = gort_rt_nanotime();
        bool any_busy = false, any_request = false;
        for (int i = 0; i < gort_sched.nworkers; i++) {
            gort_worker *w = &gort_sched.workers[i];
            any_busy |= examine(w, &monitor.obs[i], now);
            if (atomic_load(&w->m.state) == W_RUNNING &&
                atomic_load_explicit(&w->timer_due, memory_order_relaxed) <= now &&
                !atomic_load(&w->poll_request)) {
                atomic_store(&w->poll_request, 1);
                safepoint_word_set(REQ_WORKER);
            }
            /* A timer left overdue (its worker sits in a blocking region, or
             * far from a safepoint): an idle worker takes it over. */
            if (atomic_load_explicit(&w->timer_due, memory_order_relaxed) <= now - TAKEOVER_NS &&
                atomic_load(&gort_sched.npidle) > 0)
                gort_sched_wakep();
            any_request |= atomic_load(&w->preempt) || atomic_load(&w->poll_request);
        }
        if (!any_request && (safepoint_word_load() & REQ_WORKER))
            safepoint_word_clear(REQ_WORKER);
        /* Give surplus stacks back only once nobody drew on the pool for a
         * while: a program that runs waves of tasks (a benchmark's rounds,
         * a server's bursts) keeps its stacks warm between them. */
        uint64_t draws = gort_task_stack_draws();
        if (draws != monitor.last_draws) {
            monitor.last_draws = draws;
            monitor.last_draw = now;
        } else if (now - monitor.last_draw >= STACK_IDLE_NS) {
            uint32_t idle = SCAVENGER_IDLE;
            if (atomic_compare_exchange_strong(&monitor.scavenge, &idle, SCAVENGER_WANTED))
                gort_rt_futex_wake(&monitor.scavenge, 1);
            monitor.last_draw = now; /* ask again in half a second, not every tick */
        }
        gort_gc_scavenge_tick(now); /* free heap spans unused for a while */
        tick = any_busy ? TICK_BUSY_NS : TICK_IDLE_NS;
    }
}

bool gort_sched_take_requests(gort_worker *w) {
    if (atomic_load_explicit(&w->poll_request, memory_order_relaxed) &&
        atomic_exchange(&w->poll_request, 0)) {
        uv_run(&w->loop, UV_RUN_NOWAIT);
        gort_timers_run(w, gort_rt_nanotime());
    }
    if (!atomic_load_explicit(&w->preempt, memory_order_relaxed) ||
        !atomic_exchange(&w->preempt, 0))
        return false;
    /* End the slice: what waits in runnext must not inherit it. */
    gort_task *next = atomic_exchange(&w->runnext, NULL);
    if (next != NULL)
        runq_put(w, next, false);
    atomic_store_explicit(&w->schedtick,
                          atomic_load_explicit(&w->schedtick, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return true;
}

int gort_sched_monitor_start(void) {
    monitor.obs = calloc((size_t)gort_sched.nworkers, sizeof *monitor.obs);
    if (monitor.obs == NULL)
        return GO_ENOMEM;
    atomic_store(&monitor.stop, 0);
    atomic_store(&monitor.scavenge, SCAVENGER_IDLE);
    monitor.last_draws = 0;
    monitor.last_draw = gort_rt_nanotime();
    if (uv_thread_create(&monitor.scavenger, scavenger_main, NULL) != 0) {
        free(monitor.obs);
        return GO_ENOMEM;
    }
    if (uv_thread_create(&monitor.thread, monitor_main, NULL) != 0) {
        atomic_store(&monitor.scavenge, SCAVENGER_STOP);
        gort_rt_futex_wake(&monitor.scavenge, 1);
        uv_thread_join(&monitor.scavenger);
        free(monitor.obs);
        return GO_ENOMEM;
    }
    monitor.running = true;
    return 0;
}

void gort_sched_monitor_stop(void) {
    if (!monitor.running)
        return;
    monitor.running = false;
    atomic_store(&monitor.stop, 1);
    gort_rt_futex_wake(&monitor.stop, 1);
    uv_thread_join(&monitor.thread);
    atomic_store(&monitor.scavenge, SCAVENGER_STOP);
    gort_rt_futex_wake(&monitor.scavenge, 1);
    uv_thread_join(&monitor.scavenger);
    free(monitor.obs);
    monitor.obs = NULL;
}
