/* sched/worker.c - worker threads: the schedule loop, idling and wake-ups.
 *
 * Each worker is an OS thread with a scheduler context (its own thread stack,
 * Go's g0) from which it switches into tasks; a task switches back with a
 * command (yield, park, exit, safepoint, stop-the-world) that the scheduler
 * carries out on its own stack. Parking is therefore safe by construction:
 * when the unlock callback runs, the task is already switched out.
 *
 * Schedule loop, per worker:
 *   1. Poll for a pending pause (sched/stw.c) and for shutdown.
 *   2. Once every 61 schedules take one task from the global queue first.
 *   3. runnext, then the local ring, then the global queue.
 *   4. Steal half of another worker's ring (runnext on the last of 4 rounds),
 *      as a "spinning" worker, if fewer than half the busy workers spin.
 *   5. Otherwise go idle: join the idle list under sched.idle_lock, stop spinning,
 *      re-check every queue, poll for about a millisecond (light sleep), then
 *      sleep in uv_run on the worker's own loop.
 *
 * Wake-up protocol (Go's spinning protocol):
 *   - Whoever makes work runnable (spawn, ready) calls gort_sched_wakep()
 *     after publishing it. wakep wakes one idle worker, as a spinning one, if
 *     there is an idle worker and no worker spins: it claims the worker under
 *     idle_lock and, unless the worker is still in its light sleep (which
 *     looks at its claim under the same lock at every poll, and sets
 *     light_sleep false under it before sleeping in the kernel), signals it
 *     with uv_async_send, the only thread-safe libuv call.
 *   - A spinning worker that finds work stops spinning and calls wakep, so
 *     that the last spinner to find work wakes another.
 *   - A spinning worker going idle decrements nmspinning and then re-checks
 *     every queue. Both sides publish with a sequentially consistent
 *     read-modify-write or store (runq_tail, runnext, gq_size, npidle,
 *     nmspinning) before they load what the other side publishes, so at least
 *     one of them sees the other: no work is left behind with every worker
 *     asleep.
 *   - uv_async_send coalesces; a worker that wakes re-checks everything, and a
 *     wake-up meant for it that it no longer needs is harmless.
 * Invariant (under sched.idle_lock): a worker is in the idle list iff it is idle and no wakep has
 * claimed it; wake_spinning tells a claimed worker that the waker counted it
 * in nmspinning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/internal.h"
#include "sched/timer.h"

static __thread gort_worker *tls_self;
static __thread bool tls_stw_owner;

GORT_NOINLINE gort_worker *gort_sched_self(void) {
    return tls_self;
}
/* Every allocation asks this: one thread-local read on a worker. */
GORT_NOINLINE void **gort_sched_gc_local_slot(void) {
    gort_worker *w = tls_self;
    if (GORT_LIKELY(w != NULL))
        return &w->m.gc_local;
    gort_member *m = gort_sched_attached_self();
    return m != NULL ? &m->gc_local : NULL;
}
GORT_NOINLINE void gort_sched_set_self(gort_worker *w) {
    tls_self = w;
}
GORT_NOINLINE bool gort_sched_is_stw_owner(void) {
    return tls_stw_owner;
}
GORT_NOINLINE void gort_sched_set_stw_owner(bool owner) {
    tls_stw_owner = owner;
}

int gort_sched_worker_count(void) {
    return gort_sched.nworkers;
}

int gort_sched_worker_index(void) {
    gort_worker *w = gort_sched_self();
    return w != NULL ? w->index : -1;
}

/* ---- wake-ups ------------------------------------------------------------ */

void gort_sched_wakep(void) {
    if (atomic_load(&gort_sched.npidle) == 0 || atomic_load(&gort_sched.nmspinning) != 0)
        return;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&gort_sched.nmspinning, &zero, 1))
        return;
    gort_rt_lock_acquire(&gort_sched.idle_lock);
    gort_worker *w = gort_sched.idle_list;
    if (w != NULL) {
        gort_sched.idle_list = w->idle_next;
        w->idle_next = NULL;
        w->in_idle_list = false;
        w->wake_spinning = true;
        atomic_fetch_sub(&gort_sched.npidle, 1);
    }
    bool signal = w != NULL && !w->light_sleep;
    gort_rt_lock_release(&gort_sched.idle_lock);
    if (w == NULL) {
        atomic_fetch_sub(&gort_sched.nmspinning, 1);
        return;
    }
    if (signal)
        uv_async_send(&w->wake);
}

static void reset_spinning(gort_worker *w) {
    w->spinning = false;
    atomic_fetch_sub(&gort_sched.nmspinning, 1);
    gort_sched_wakep();
}

static void become_spinning(gort_worker *w) {
    if (!w->spinning) {
        w->spinning = true;
        atomic_fetch_add(&gort_sched.nmspinning, 1);
    }
}

/* Under sched.idle_lock: removes w from the idle list if it is still there, or
 * takes over the spinning state a wakep gave it. */
static void leave_idle_list_locked(gort_worker *w) {
    if (w->in_idle_list) {
        gort_worker **pp = &gort_sched.idle_list;
        while (*pp != w)
            pp = &(*pp)->idle_next;
        *pp = w->idle_next;
        w->idle_next = NULL;
        w->in_idle_list = false;
        atomic_fetch_sub(&gort_sched.npidle, 1);
    } else if (w->wake_spinning) {
        w->wake_spinning = false;
        w->spinning = true; /* the waker already counted us in nmspinning */
    }
}

static bool any_work_visible(gort_worker *self) {
    if (atomic_load(&gort_sched.gq_size) > 0)
        return true;
    for (int i = 0; i < gort_sched.nworkers; i++) {
        gort_worker *v = &gort_sched.workers[i];
        if (v != self && !runq_empty(v))
            return true;
    }
    return self != NULL && !runq_empty(self);
}

bool gort_sched_work_queued(void) {
    return any_work_visible(NULL);
}

static uint32_t next_rand(gort_worker *w) {
    uint64_t x = w->rand_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rand_state = x;
    return (uint32_t)x;
}

/* How overdue another worker's timer must be before an idle worker fires it. */
#define TAKEOVER_GRACE_NS (1000 * 1000)

/* An idle worker first polls IDLE_POLLS times, IDLE_POLL_NS apart (the
 * kernel's timer slack makes each about 55 us), about a millisecond in all,
 * then sleeps in uv_run until signalled. */
#define IDLE_POLLS 20
#define IDLE_POLL_NS 3000

/* A pause or shutdown interrupts stealing. Not REQ_WORKER: it may stand for
 * another worker's request, which that worker clears only at its safepoint,
 * and this worker takes its own requests at the top of its loop. */
static bool should_stop_looking(void) {
    return (safepoint_word_load() & (REQ_STW | REQ_SHUTDOWN)) != 0;
}

/* ---- finding work -------------------------------------------------------- */

static gort_task *find_runnable(gort_worker *w, bool *inherited) {
    *inherited = false;
    for (;;) {
        gort_stw_poll(&w->m);
        if (atomic_load_explicit(&gort_sched.shutdown, memory_order_relaxed))
            return NULL;
        gort_sched_take_requests(w); /* the monitor's poll request fires due timers */
        gort_task *t;
        if (atomic_load_explicit(&w->schedtick, memory_order_relaxed) % 61 == 0 &&
            atomic_load(&gort_sched.gq_size) > 0) {
            gort_rt_lock_acquire(&gort_sched.gq_lock);
            t = gq_get_locked(w, 1, true);
            gort_rt_lock_release(&gort_sched.gq_lock);
            if (t != NULL)
                return t;
        }
        bool inherit;
        if ((t = runq_get(w, &inherit)) != NULL) {
            if (inherit)
                *inherited = true;
            return t;
        }
        if (atomic_load(&gort_sched.gq_size) > 0) {
            gort_rt_lock_acquire(&gort_sched.gq_lock);
            t = gq_get_locked(w, 0, false);
            gort_rt_lock_release(&gort_sched.gq_lock);
            if (t != NULL)
                return t;
        }

        /* Steal, as a spinning worker. Limit spinners to half the busy workers
         * so that a burst of wake-ups does not burn every CPU. */
        int n = gort_sched.nworkers;
        int busy = n - atomic_load(&gort_sched.npidle);
        if (n > 1 && (w->spinning || 2 * atomic_load(&gort_sched.nmspinning) < busy)) {
            become_spinning(w);
            bool interrupted = false;
            for (int round = 0; round < 4 && !interrupted; round++) {
                uint32_t start = next_rand(w);
                for (int k = 0; k < n; k++) {
                    if (should_stop_looking()) {
                        interrupted = true;
                        break;
                    }
                    gort_worker *v = &gort_sched.workers[(start + (uint32_t)k) % (uint32_t)n];
                    if (v == w)
                        continue;
                    if ((t = runq_steal(w, v, round == 3)) != NULL)
                        return t;
                }
            }
            if (interrupted)
                continue;
        }

        /* Fire what is due here, and what other workers left overdue (their
         * task sits in a blocking region): it may ready tasks. */
        if (gort_timers_take_over(w, gort_rt_nanotime(), TAKEOVER_GRACE_NS))
            continue;

        /* Go idle. */
        if (atomic_load(&gort_sched.gq_size) > 0) {
            gort_rt_lock_acquire(&gort_sched.gq_lock);
            t = gq_get_locked(w, 0, false);
            gort_rt_lock_release(&gort_sched.gq_lock);
            if (t != NULL)
                return t;
            continue;
        }
        gort_rt_lock_acquire(&gort_sched.idle_lock);
        if (atomic_load(&gort_sched.shutdown)) {
            gort_rt_lock_release(&gort_sched.idle_lock);
            return NULL;
        }
        gort_stw_enter_idle(&w->m);
        w->in_idle_list = true;
        w->light_sleep = true;
        w->idle_next = gort_sched.idle_list;
        gort_sched.idle_list = w;
        atomic_fetch_add(&gort_sched.npidle, 1);
        gort_rt_lock_release(&gort_sched.idle_lock);
        if (w->spinning) {
            w->spinning = false;
            atomic_fetch_sub(&gort_sched.nmspinning, 1);
        }

        if (any_work_visible(w)) {
            gort_stw_exit_idle(&w->m);
            gort_rt_lock_acquire(&gort_sched.idle_lock);
            leave_idle_list_locked(w);
            gort_rt_lock_release(&gort_sched.idle_lock);
            become_spinning(w);
            continue;
        }

        gort_sched_count(&w->n_idle);
        for (int polls = 0;;) {
            if (polls < IDLE_POLLS) {
                /* Light sleep: poll for a while before sleeping in the
                 * kernel. A wakep meanwhile only claims this worker, with
                 * no uv_async_send: on 2 workers exchanging tasks, the
                 * waker's eventfd write and the IPI that woke the sleeper
                 * cost the busy worker 7-10% of its time. */
                polls++;
                struct timespec ts = {0, IDLE_POLL_NS};
                nanosleep(&ts, NULL);
            } else {
                gort_rt_lock_acquire(&gort_sched.idle_lock);
                bool deep = w->in_idle_list && !atomic_load(&gort_sched.shutdown) && runq_empty(w);
                if (deep)
                    w->light_sleep = false; /* from now on wakep signals */
                gort_rt_lock_release(&gort_sched.idle_lock);
                if (deep) {
                    gort_timers_arm(w);
                    uv_run(&w->loop, UV_RUN_ONCE);
                }
            }
            gort_stw_exit_idle(&w->m);
            gort_timers_take_over(w, gort_rt_nanotime(), TAKEOVER_GRACE_NS);
            gort_rt_lock_acquire(&gort_sched.idle_lock);
            bool woken = !w->in_idle_list || atomic_load(&gort_sched.shutdown) || !runq_empty(w);
            if (woken) {
                leave_idle_list_locked(w);
                gort_rt_lock_release(&gort_sched.idle_lock);
                break;
            }
            /* A coalesced or stale wake-up: still in the idle list, so any
             * wakep since would have claimed us. Sleep again. */
            gort_stw_enter_idle(&w->m);
            gort_rt_lock_release(&gort_sched.idle_lock);
        }
    }
}

/* ---- running tasks ------------------------------------------------------- */

/* RUNNABLE -> RUNNING. A compare-and-swap only while claims are possible (the
 * collector's scan bit); otherwise a plain store, since nothing else writes
 * the state of a task that sits in a run queue. gort_sched_claims_enabled
 * changes only while the world is stopped, when no worker is here. */
static void make_running(gort_task *t) {
    if (!atomic_load_explicit(&gort_sched.claims_enabled, memory_order_relaxed)) {
        atomic_store_explicit(&t->state, TASK_RUNNING, memory_order_relaxed);
        return;
    }
    uint32_t s = TASK_RUNNABLE;
    while (!atomic_compare_exchange_weak_explicit(&t->state, &s, TASK_RUNNING, memory_order_acquire,
                                                  memory_order_relaxed)) {
        if (s == (TASK_RUNNABLE | TASK_SCAN)) {
            gort_rt_cpu_relax(); /* the collector is scanning its stack */
            s = TASK_RUNNABLE;
            continue;
        }
        if (s != TASK_RUNNABLE)
            gort_rt_fatal("scheduler: task %llu picked to run in state %u",
                          (unsigned long long)t->id, s);
    }
}

/* Carries out what task p asked for when it switched out (YIELD, PARK or
 * EXIT). Runs on the same worker in whatever context was switched to: the
 * scheduler, or the next task after a direct switch. p's context is saved by
 * then, so p may now become visible to other workers. */
static void finish_switch_out(gort_worker *w, gort_task *p) {
    switch (p->cmd) {
    case CMD_YIELD:
        atomic_store_explicit(&p->state, TASK_RUNNABLE, memory_order_release);
        /* Behind everything that waits: when the global queue holds tasks, a
         * yielder requeued locally would keep the ring busy and leave them to
         * the one-in-61 fairness check (Go queues every Gosched globally). */
        if (atomic_load_explicit(&gort_sched.gq_size, memory_order_relaxed) > 0)
            gq_put(p);
        else
            runq_put(w, p, false);
        return;
    case CMD_PARK: {
        gort_sched_unlock_fn unlock = p->park_unlock;
        void *arg = p->park_arg;
        atomic_store_explicit(&p->state, TASK_WAITING, memory_order_release);
        /* From here on a waker may ready p and another worker may run it:
         * touch nothing of p's. */
        if (unlock != NULL && !unlock(p, arg))
            gort_sched_ready(p);
        return;
    }
    case CMD_EXIT:
        gort_task_recycle(w, p);
        return;
    default:
        gort_rt_fatal("scheduler: task %llu switched out with command %d",
                      (unsigned long long)p->id, (int)p->cmd);
    }
}

/* In a task, right after its switch-in returned (or at its first run):
 * completes the switch-out of the task that ran before it on this worker. */
void gort_sched_after_resume(void) {
    gort_worker *w = gort_sched_self();
    gort_task *p = w->prev;
    if (p != NULL) {
        w->prev = NULL;
        finish_switch_out(w, p);
    }
}

static void new_slice(gort_worker *w) {
    atomic_store_explicit(&w->schedtick,
                          atomic_load_explicit(&w->schedtick, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void enter_task(gort_worker *w, gort_task *t) {
    if (!t->started && !gort_task_prepare_stack(w, t))
        gort_rt_fatal("out of memory: cannot map a stack for task %llu", (unsigned long long)t->id);
    atomic_store_explicit(&w->current_id, t->id, memory_order_relaxed);
    atomic_store_explicit(&w->current, t, memory_order_relaxed);
    gort_rt_stack_set_running(&t->stack, t->id);
}

/* Picks the next task for a direct task-to-task switch: only from this
 * worker's runnext and ring, and only when nothing asks for the scheduler (a
 * pending request, tasks waiting in the global queue). NULL: go through the
 * scheduler. */
static gort_task *pick_direct(gort_worker *w) {
    if (gort_sched_requests_pending(w) ||
        atomic_load_explicit(&gort_sched.gq_size, memory_order_relaxed) > 0)
        return NULL;
    bool inherit;
    gort_task *next = runq_get(w, &inherit);
    if (next == NULL)
        return NULL;
    make_running(next);
    if (!inherit)
        new_slice(w);
    gort_sched_count(&w->n_sched);
    enter_task(w, next);
    return next;
}

/* Switches into t from the scheduler. Returns when some task switches back to
 * the scheduler: the task to resume at once, or NULL to schedule another. */
static gort_task *run(gort_worker *w, gort_task *t) {
    enter_task(w, t);
    w->prev = NULL;
    gort_rt_context_switch(&w->sched_ctx, &t->ctx);
    gort_rt_stack_set_running(NULL, 0);
    atomic_store_explicit(&w->current, NULL, memory_order_relaxed);
    gort_task *p = w->prev; /* the task that switched back: t, or one t switched to */
    w->prev = NULL;
    switch (p->cmd) {
    case CMD_SAFEPOINT:
        gort_stw_poll(&w->m);
        if (atomic_load(&gort_sched.shutdown))
            return NULL; /* abandoned: go_main returned */
        if (gort_sched_take_requests(w)) {
            /* Its slice is over: behind everything that waits, as Go puts a
             * preempted goroutine on the global queue. */
            atomic_store_explicit(&p->state, TASK_RUNNABLE, memory_order_release);
            gq_put(p);
            return NULL;
        }
        return p;
    case CMD_STW:
        gort_stw_stop_from_scheduler(w);
        return p;
    default:
        finish_switch_out(w, p);
        return NULL;
    }
}

static void schedule_loop(gort_worker *w) {
    gort_task *t = NULL;
    for (;;) {
        if (t == NULL) {
            gort_sched_take_requests(w);
            bool inherit;
            t = find_runnable(w, &inherit);
            if (t == NULL)
                return;
            if (w->spinning)
                reset_spinning(w);
            make_running(t);
            if (!inherit)
                new_slice(w);
            gort_sched_count(&w->n_sched);
        }
        t = run(w, t);
    }
}

void gort_sched_switch_to_scheduler(gort_task *t, task_cmd cmd) {
    if (!t->stack.guarded) /* an unguarded stack is checked at every switch */
        gort_rt_stack_check(&t->stack, __builtin_frame_address(0), t->id);
    gort_worker *w = gort_sched_self();
    t->cmd = cmd;
    w->prev = t;
    gort_task *next = (cmd == CMD_YIELD || cmd == CMD_PARK) ? pick_direct(w) : NULL;
    if (next != NULL)
        gort_rt_context_switch(&t->ctx, &next->ctx);
    else if (cmd == CMD_YIELD && !gort_sched_requests_pending(w) &&
             atomic_load_explicit(&gort_sched.gq_size, memory_order_relaxed) == 0) {
        w->prev = NULL; /* nothing else to run here: carry on */
        return;
    } else
        gort_rt_context_switch(&t->ctx, &w->sched_ctx);
    gort_sched_after_resume();
}

_Noreturn void gort_sched_exit_task(gort_task *t) {
    gort_worker *w = gort_sched_self();
    t->cmd = CMD_EXIT;
    w->prev = t;
    gort_task *next = pick_direct(w);
    if (next != NULL)
        gort_rt_context_switch_final(&t->ctx, &next->ctx);
    gort_rt_context_switch_final(&t->ctx, &w->sched_ctx);
}

/* ---- threads ------------------------------------------------------------- */

static void wake_cb(uv_async_t *handle) {
    (void)handle; /* everything is re-checked after uv_run returns */
}

static void worker_main(void *arg) {
    gort_worker *w = arg;
    gort_sched_set_self(w);
    gort_rt_context_init_thread(&w->sched_ctx);
    w->altstack = gort_rt_stack_thread_init();
    schedule_loop(w);
    /* Leaving for good: count as idle from now on, so a pause requested
     * during shutdown stops this worker in place instead of waiting for it. */
    gort_stw_enter_idle(&w->m);
    gort_rt_stack_thread_fini(w->altstack);
    w->altstack = NULL;
    gort_sched_set_self(NULL);
}

int gort_sched_workers_start(int n) {
    gort_rt_stack_handler_install();
    for (int i = 0; i < n; i++) {
        gort_worker *w = &gort_sched.workers[i];
        w->index = i;
        w->m.index = i;
        w->m.is_worker = true;
        w->rand_state = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
        if (uv_loop_init(&w->loop) != 0 || uv_async_init(&w->loop, &w->wake, wake_cb) != 0 ||
            gort_timers_attach(w) != 0)
            return GO_ENOMEM;
        atomic_store(&w->m.state, W_RUNNING);
    }
    for (int i = 0; i < n; i++) {
        gort_worker *w = &gort_sched.workers[i];
        uv_thread_options_t opts = {.flags = UV_THREAD_HAS_STACK_SIZE, .stack_size = 1 << 20};
        if (uv_thread_create_ex(&w->thread, &opts, worker_main, w) != 0)
            gort_rt_fatal("cannot create worker thread %d", i);
    }
    return gort_sched_monitor_start();
}

static void close_cb(uv_handle_t *h) {
    (void)h;
}

void gort_sched_workers_stop(void) {
    gort_sched_monitor_stop();
    atomic_store(&gort_sched.shutdown, 1);
    safepoint_word_set(REQ_SHUTDOWN);
    for (int i = 0; i < gort_sched.nworkers; i++)
        uv_async_send(&gort_sched.workers[i].wake);
    for (int i = 0; i < gort_sched.nworkers; i++)
        uv_thread_join(&gort_sched.workers[i].thread);
    /* The threads are gone: their loops may now be closed from here. */
    for (int i = 0; i < gort_sched.nworkers; i++) {
        gort_worker *w = &gort_sched.workers[i];
        uv_close((uv_handle_t *)&w->wake, close_cb);
        uv_close((uv_handle_t *)&w->timer, close_cb);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        atomic_store(&w->m.state, W_EXITED);
    }
    gort_timers_reset();
    safepoint_word_clear(REQ_SHUTDOWN);
}
