/* gc/collect.c - the collection cycle, the pacer, statistics, GORT_DEBUG and
 * the hooks sched/ calls.
 *
 * A cycle (DESIGN.md section 4), run by the task or thread that triggered it:
 *   1. sweep termination: finish sweeping the previous cycle (outside any
 *      pause: sweeping may queue finalizers and spawn their runner);
 *   2. stop the world; turn the barrier on; collect the root jobs;
 *   3. mark on every stopped worker. With GORT_DEBUG=gcslice=N the world
 *      restarts after every N objects with the barrier on, and each later
 *      slice first moves the threads' barrier buffers into the grey work;
 *   4. mark termination (world stopped): no grey work left; the verifier
 *      (checkmark=1); barrier off; every cache released (rule 2); every
 *      in-use span becomes unswept; the next goal is set;
 *   5. restart the world; a background sweeper task sweeps while allocators
 *      sweep lazily. go_gc_collect sweeps everything itself before it returns.
 * One cycle runs at a time. Counters under gc.lock: marks_started (cycles that
 * began marking) and cycles_done. go_gc_collect asks for cycle
 * marks_started + 1: the next one if none is marking (joining one that is
 * about to start), else the one after the current (Go's runtime.GC). Who
 * waits parks (a task) or sleeps in a blocking region (a thread).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/heap.h"
#include "sched/sched.h"

#define GC_MIN_GOAL ((size_t)4 << 20)

gc_debug gc_dbg;
_Atomic uint64_t gc_stress_flag;
_Atomic int64_t gc_heap_alloc;
_Atomic uint64_t gc_bytes_allocated, gc_bytes_freed;

typedef struct gc_waiter {
    gort_task *task; /* NULL: a thread, which sleeps on done */
    _Atomic uint32_t done;
    struct gc_waiter *next;
} gc_waiter;

static struct {
    pthread_once_t once;
    gort_rt_lock lock; /* the fields below up to waiters; never held across a safepoint */
    uint64_t marks_started, cycles_done;
    bool running;
    gc_waiter *waiters;

    int gc_percent;
    size_t memory_limit;
    _Atomic int64_t goal;
    _Atomic int sweeper_active;
    _Atomic uint64_t stress_count;
    int64_t t_init;

    pthread_mutex_t stats_lock;
    size_t live;
    uint64_t cycles;
    uint64_t pause_total, pause_max;
    uint64_t pause_ns[256];
} gc = {.once = PTHREAD_ONCE_INIT, .stats_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- GORT_DEBUG ------------------------------------------------------------------------- */

void gort_gc_debug_parse(const char *spec) {
    gc_debug d = {0};
    while (spec != NULL && *spec != '\0') {
        const char *end = strchr(spec, ',');
        size_t len = end != NULL ? (size_t)(end - spec) : strlen(spec);
        char item[64];
        if (len < sizeof item) {
            memcpy(item, spec, len);
            item[len] = '\0';
            char *eq = strchr(item, '=');
            char *bad = NULL;
            unsigned long long v = 0;
            if (eq != NULL) {
                *eq = '\0';
                v = strtoull(eq + 1, &bad, 10);
            }
            if (eq == NULL || *bad != '\0' || bad == eq + 1)
                fprintf(stderr, "gort: ignoring GORT_DEBUG item '%s': expected name=number\n",
                        item);
            else if (strcmp(item, "gctrace") == 0)
                d.gctrace = v != 0;
            else if (strcmp(item, "poison") == 0)
                d.poison = v != 0;
            else if (strcmp(item, "checkmark") == 0)
                d.checkmark = v != 0;
            else if (strcmp(item, "gcstress") == 0)
                d.gcstress = v;
            else if (strcmp(item, "gcslice") == 0)
                d.gcslice = v;
            else if (strcmp(item, "gcstoptheworld") == 0 || strcmp(item, "schedtrace") == 0)
                ; /* gcstoptheworld: every cycle is one pause for now; schedtrace: sched/ */
            else
                fprintf(stderr, "gort: ignoring unknown GORT_DEBUG item '%s'\n", item);
        } else {
            fprintf(stderr, "gort: ignoring an over-long GORT_DEBUG item\n");
        }
        spec = end != NULL ? end + 1 : NULL;
    }
    gc_dbg = d;
    atomic_store(&gc_stress_flag, d.gcstress);
}

/* ---- start and stop ------------------------------------------------------------------------ */

static void set_goal(size_t live, size_t stacks);

static void init_once(void) {
    gc_heap_init();
    gc.t_init = gort_rt_nanotime();
    atomic_store(&gc.goal, (int64_t)GC_MIN_GOAL);
}

void gort_gc_runtime_starting(int gc_percent, size_t memory_limit, size_t heap_limit) {
    if (gc_heap_state.pagemap == NULL)
        gc_heap_state.limit = heap_limit; /* sizes the reservation */
    pthread_once(&gc.once, init_once);
    gc_heap_state.limit = heap_limit;
    gc.gc_percent = gc_percent;
    gc.memory_limit = memory_limit;
    gort_gc_debug_parse(getenv("GORT_DEBUG"));
    pthread_mutex_lock(&gc.stats_lock);
    size_t live = gc.live;
    pthread_mutex_unlock(&gc.stats_lock);
    set_goal(live, 0); /* this start's pacing, from the last cycle's live heap */
}

static void wake_waiters(bool tasks_too) {
    gort_rt_lock_acquire(&gc.lock);
    gc_waiter *w = gc.waiters;
    gc.waiters = NULL;
    gort_rt_lock_release(&gc.lock);
    while (w != NULL) {
        gc_waiter *next = w->next;
        if (w->task != NULL) {
            if (tasks_too)
                gort_sched_ready(w->task);
        } else {
            atomic_store(&w->done, 1);
            gort_rt_futex_wake(&w->done, 1);
        }
        w = next;
    }
}

void gort_gc_runtime_stopped(void) {
    if (gc_heap_state.pagemap == NULL)
        return;
    gort_rt_lock_acquire(&gc.lock);
    bool abort_cycle = gc.running;
    gort_rt_lock_release(&gc.lock);
    if (abort_cycle) { /* its driver was abandoned by go_main's return (rule 13) */
        __atomic_store_n(&go_internal_gc_marking, 0, __ATOMIC_SEQ_CST);
        gc_mark_abort();
        gort_rt_lock_acquire(&gc.lock);
        gc.running = false;
        gc.cycles_done = gc.marks_started;
        gort_rt_lock_release(&gc.lock);
        wake_waiters(false); /* tasks waiting were abandoned with their stacks */
    }
    atomic_store(&gc.sweeper_active, 0);
    gc_final_runtime_stopped();
}

/* ---- the pacer ------------------------------------------------------------------------------- */

/* Go's goal since 1.18: the scan work of the roots (here the live part of
 * task stacks) counts like live heap, so that a program with many parked
 * tasks and little heap does not collect, and scan every stack, at every
 * few megabytes of allocation. */
static void set_goal(size_t live, size_t stacks) {
    size_t goal;
    if (gc.gc_percent < 0)
        goal = SIZE_MAX / 2;
    else
        goal = live + (live + stacks) / 100 * (size_t)gc.gc_percent;
    if (goal < GC_MIN_GOAL)
        goal = GC_MIN_GOAL;
    if (gc.memory_limit != 0 && goal > gc.memory_limit) {
        goal = gc.memory_limit;
        if (goal < live + live / 16 + ((size_t)1 << 20))
            goal = live + live / 16 + ((size_t)1 << 20); /* no back-to-back cycles */
    }
    atomic_store(&gc.goal, (int64_t)(goal > INT64_MAX ? INT64_MAX : goal));
}

/* ---- one cycle ------------------------------------------------------------------------------- */

static void release_cache(void **slot, void *arg) {
    (void)arg;
    if (*slot != NULL) {
        gc_mark_flush_cache(*slot);
        gc_cache_release_all(*slot);
    }
}

static uint64_t last_pause(void) {
    gort_stw_stats st;
    gort_stw_stats_get(&st);
    return st.last_pause_ns;
}

static void between_slices(void) {
    if (gort_sched_current_task() != NULL)
        go_yield();
    else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

static void sweeper_task(void *arg) {
    (void)arg;
    for (;;) {
        for (unsigned n = 1; gc_sweep_one(); n++)
            if (n % 16 == 0)
                go_yield();
        atomic_store(&gc.sweeper_active, 0);
        /* A cycle that ended after our last look found us active and
         * started no sweeper: go on if nobody else did. */
        int expected = 0;
        if (!gc_sweep_pending() ||
            !atomic_compare_exchange_strong(&gc.sweeper_active, &expected, 1))
            return;
    }
}

static void start_sweeper(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&gc.sweeper_active, &expected, 1))
        return;
    go_spawn_opts opts = {.name = "gort sweeper"};
    if (go_spawn_with(sweeper_task, NULL, &opts) != 0)
        atomic_store(&gc.sweeper_active, 0); /* stopping: allocators sweep lazily */
}

/* Runs one cycle; false if a paced one found, once the previous cycle's
 * garbage was swept, that the heap is under its goal after all: until swept,
 * that garbage still counts in gc_heap_alloc, and an allocation right after
 * a cycle saw the heap over the goal the cycle had just set (skynet ran
 * every other cycle back to back, 2.3 MB -> 2.3 MB). */
static bool run_cycle(bool paced) {
    int64_t t0 = gort_rt_nanotime();
    gc_sweep_all(); /* sweep termination */
    size_t heap_before = (size_t)atomic_load(&gc_heap_alloc);
    if (paced && (int64_t)heap_before < atomic_load(&gc.goal))
        return false;
    uint64_t pause = 0, pause_max = 0;

    gort_stop_the_world(GORT_STW_GC_MARK_START);
    if (gc_sweep_pending())
        gort_rt_fatal("gc: unswept spans at mark start");
    gort_rt_lock_acquire(&gc.lock);
    gc.marks_started++;
    gort_rt_lock_release(&gc.lock);
    __atomic_store_n(&go_internal_gc_marking, 1, __ATOMIC_SEQ_CST);
    gc_mark_cycle_begin();
    gc_mark_roots();
    for (;;) {
        gc_mark_flush_buffers();
        if (gc_mark_run(gc_dbg.gcslice))
            break;
        /* A slice ended with grey work left: let the world run. */
        gort_start_the_world();
        uint64_t p = last_pause();
        pause += p;
        if (p > pause_max)
            pause_max = p;
        between_slices();
        gort_stop_the_world(GORT_STW_GC_SLICE);
    }
    if (gc_dbg.checkmark)
        gc_mark_checkmark();
    __atomic_store_n(&go_internal_gc_marking, 0, __ATOMIC_SEQ_CST);
    gort_stw_visit_gc_locals(release_cache, NULL);
    gc_central_mark_done();
    size_t live = (size_t)gc_mark_live_bytes();
    set_goal(live, gc_mark_stack_bytes());
    gort_start_the_world();
    uint64_t p = last_pause();
    pause += p;
    if (p > pause_max)
        pause_max = p;

    int64_t t1 = gort_rt_nanotime();
    pthread_mutex_lock(&gc.stats_lock);
    gc.live = live;
    gc.cycles++;
    uint64_t n = gc.cycles;
    gc.pause_ns[(n - 1) % 256] = pause;
    gc.pause_total += pause;
    if (pause_max > gc.pause_max)
        gc.pause_max = pause_max;
    pthread_mutex_unlock(&gc.stats_lock);
    if (gc_dbg.gctrace)
        fprintf(stderr,
                "gort: gc %" PRIu64 " @%.3fs: pause %.3f ms, heap %.1f -> %.1f -> %.1f MB, "
                "%.3f ms\n",
                n, (double)(t0 - gc.t_init) / 1e9, (double)pause / 1e6,
                (double)heap_before / 1048576.0, (double)live / 1048576.0,
                (double)atomic_load(&gc.goal) / 1048576.0, (double)(t1 - t0) / 1e6);
    return true;
}

static bool unlock_gc(gort_task *t, void *arg) {
    (void)t;
    gort_rt_lock_release(arg);
    return true;
}

/* Waits (gc.lock held; released) until the running cycle ends. */
static void wait_cycle_locked(void) {
    gc_waiter w = {.task = gort_sched_current_task()};
    w.next = gc.waiters;
    gc.waiters = &w;
    if (w.task != NULL) {
        gort_sched_park(unlock_gc, &gc.lock, "gc cycle");
        return;
    }
    gort_rt_lock_release(&gc.lock);
    go_blocking_enter(); /* an attached thread: a pause must not wait for it */
    while (atomic_load(&w.done) == 0)
        gort_rt_futex_wait(&w.done, 0);
    go_blocking_leave();
}

/* Runs or waits for cycles until cycle number target has completed. With
 * only_if_idle, returns at once if another cycle is running; paced (the
 * pacer's trigger, which implies only_if_idle) also returns if the heap
 * turns out to be under its goal once swept. */
static void run_until(uint64_t target, bool only_if_idle, bool paced) {
    for (;;) {
        gort_rt_lock_acquire(&gc.lock);
        if (gc.cycles_done >= target) {
            gort_rt_lock_release(&gc.lock);
            return;
        }
        if (!gc.running) {
            gc.running = true;
            gort_rt_lock_release(&gc.lock);
            bool ran = run_cycle(paced);
            gort_rt_lock_acquire(&gc.lock);
            if (ran)
                gc.cycles_done++;
            gc.running = false;
            gort_rt_lock_release(&gc.lock);
            wake_waiters(true);
            if (!ran)
                return;
            continue;
        }
        if (only_if_idle) {
            gort_rt_lock_release(&gc.lock);
            return;
        }
        wait_cycle_locked();
    }
}

static uint64_t next_target(void) {
    gort_rt_lock_acquire(&gc.lock);
    uint64_t t = gc.marks_started + 1;
    gort_rt_lock_release(&gc.lock);
    return t;
}

static bool runtime_up(void) {
    return gc_heap_state.pagemap != NULL && go_workers() > 0;
}

void go_gc_collect(void) {
    if (!runtime_up())
        return;
    run_until(next_target(), false, false);
    gc_sweep_all();
    gc_final_queue_done();
}

size_t gc_heap_goal(void) {
    int64_t g = atomic_load_explicit(&gc.goal, memory_order_relaxed);
    return g > 0 ? (size_t)g : 0;
}

void gc_collect_for_oom(void) {
    go_gc_collect();
}

void gc_maybe_trigger(void) {
    if (atomic_load_explicit(&gc_heap_alloc, memory_order_relaxed) <
        atomic_load_explicit(&gc.goal, memory_order_relaxed))
        return;
    if ((gc.gc_percent < 0 && gc.memory_limit == 0) || !runtime_up())
        return; /* an attached thread may allocate while the runtime is stopped */
    run_until(next_target(), true, true);
    if (gc_sweep_pending())
        start_sweeper();
}

void gc_stress_tick(void) {
    if (gort_sched_gc_local_slot() == NULL)
        (void)gc_cache_self(); /* fatal: not attached */
    uint64_t every = atomic_load_explicit(&gc_stress_flag, memory_order_relaxed);
    if (every == 0 || atomic_fetch_add(&gc.stress_count, 1) % every != every - 1 || !runtime_up())
        return;
    run_until(next_target(), true, false);
    start_sweeper();
}

/* ---- statistics ------------------------------------------------------------------------------ */

void go_gc_stats_get(go_gc_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&gc.stats_lock);
    out->cycles = gc.cycles;
    out->heap_live = gc.live;
    out->pause_total_ns = gc.pause_total;
    out->pause_max_ns = gc.pause_max;
    memcpy(out->pause_ns, gc.pause_ns, sizeof out->pause_ns);
    pthread_mutex_unlock(&gc.stats_lock);
    int64_t alloc = atomic_load(&gc_heap_alloc);
    out->heap_alloc = alloc > 0 ? (size_t)alloc : 0;
    out->heap_goal = (size_t)atomic_load(&gc.goal);
    out->heap_mapped =
        atomic_load(&gc_heap_state.committed) - atomic_load(&gc_heap_state.scavenged);
    out->bytes_allocated = atomic_load(&gc_bytes_allocated);
    out->bytes_freed = atomic_load(&gc_bytes_freed);
}
