/* sched/park.c - parking and readying tasks (Go's gopark/goready).
 *
 * Protocol (what channels, timers, locks and I/O build on):
 *   1. The task queues itself somewhere a waker will find it, under that
 *      structure's lock, and calls gort_sched_park(unlock, lock).
 *   2. It switches to its worker's scheduler. Only there, with the task's
 *      registers saved and its state stored WAITING (release), does the
 *      scheduler call unlock(t, arg).
 *   3. A waker that finds the task (under the lock) calls gort_sched_ready:
 *      WAITING -> RUNNABLE by compare-and-swap (waiting while a claim's scan
 *      bit is set; a checked plain store on a worker outside collections),
 *      then queued in runnext of the waker's worker, or on the global queue's
 *      woken list from another thread, followed by wakep.
 * The lock that unlock releases must be a runtime lock (gort_rt_lock, an
 * atomic word), not a pthread or libuv mutex: it is taken on the task's fiber
 * and released on another (the scheduler's or the next task's), which
 * ThreadSanitizer reports for mutexes with an owner.
 * No wake-up is lost: a waker can only see the task after unlock ran, by
 * which time the task is WAITING with its context saved. Readying a task that
 * is not WAITING is a protocol error and fatal.
 */
#include <string.h>

#include "sched/internal.h"

/* Zeroes the dead stack just below the caller's frame (DESIGN.md section 7
 * rule 16): the frames the task builds after it resumes start with clean
 * slots instead of stale pointers that the conservative scan would keep
 * alive while it waits next time. Neither the asm nor explicit_bzero is
 * optimised away. */
#define DEAD_STACK_CLEAR 256
static GORT_NOINLINE void clear_dead_stack(void) {
    _Alignas(16) unsigned char dead[DEAD_STACK_CLEAR];
#if defined(__x86_64__)
    /* Sixteen 16-byte stores (explicit_bzero cost a libc call and a hundred
     * instructions per park; the compiler's rep stos starts slowly). */
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\t"
                     ".irp off, 0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, "
                     "224, 240\n\t"
                     "movaps %%xmm0, \\off(%0)\n\t"
                     ".endr"
                     :
                     : "r"(dead)
                     : "xmm0", "memory");
#else
    explicit_bzero(dead, sizeof dead);
#endif
}

void gort_sched_park(gort_sched_unlock_fn unlock, void *arg, const char *reason) {
    gort_task *t = gort_sched_current_task();
    if (t == NULL)
        gort_rt_fatal("park called off a task");
    gort_sched_park_task(t, unlock, arg, reason);
}

void gort_sched_park_task(gort_task *t, gort_sched_unlock_fn unlock, void *arg,
                          const char *reason) {
    clear_dead_stack();
    if (gort_sched_is_stw_owner())
        gort_rt_fatal("task %llu parks while it holds the world stopped",
                      (unsigned long long)t->id);
    t->park_unlock = unlock;
    t->park_arg = arg;
    t->wait_reason = reason;
    gort_sched_switch_to_scheduler(t, CMD_PARK);
}

/* Queues a task just made RUNNABLE: in runnext of w, the calling worker, or
 * (w NULL: another thread) on the global queue's woken list. */
static void make_runnable(gort_worker *w, gort_task *t) {
    if (w != NULL) {
        runq_put(w, t, true);
        gort_sched_wakep();
        return;
    }
    if (gort_sched_is_stw_owner()) {
        gq_put_woken(t); /* gort_start_the_world runs wakep */
        return;
    }
    if (!gort_sched_external_enter())
        gort_rt_fatal("ready of task %llu while the runtime is not running",
                      (unsigned long long)t->id);
    gq_put_woken(t);
    gort_sched_wakep();
    gort_sched_external_leave();
}

void gort_sched_ready(gort_task *t) {
    /* On a worker, outside a collection, nothing else writes the state of a
     * WAITING task (its waker was chosen under a lock, or by a claim): a
     * plain store, after a check that still catches a ready of a task that
     * is not parked. claims_enabled changes only while the world is stopped,
     * which a worker's task or scheduler is not while it runs this. A thread
     * that is not a worker takes the compare-and-swap below. */
    gort_worker *w = gort_sched_self();
    if (w != NULL && !atomic_load_explicit(&gort_sched.claims_enabled, memory_order_relaxed)) {
        uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (s != TASK_WAITING)
            gort_rt_fatal("ready of task %llu, which is not parked (state %u)",
                          (unsigned long long)t->id, s);
        atomic_store_explicit(&t->state, TASK_RUNNABLE, memory_order_release);
        make_runnable(w, t);
        return;
    }
    uint32_t s = TASK_WAITING;
    while (!atomic_compare_exchange_weak_explicit(&t->state, &s, TASK_RUNNABLE,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
        if (s == (TASK_WAITING | TASK_SCAN)) {
            gort_rt_cpu_relax();
            s = TASK_WAITING;
            continue;
        }
        if (s != TASK_WAITING)
            gort_rt_fatal("ready of task %llu, which is not parked (state %u)",
                          (unsigned long long)t->id, s);
    }
    make_runnable(w, t);
}
