/* sched/stw.c - safepoints, stop-the-world, implicit attached sections.
 *
 * A pause (DESIGN.md §3):
 *   1. The requester takes the world lock. A worker whose task requests while
 *      another pause holds the lock waits as a blocked worker (W_REGION), so
 *      the holder counts it as stopped and does its share (§7 rule 8).
 *   2. It sets stw.stopwait to the number of workers, makes stw.gen odd and
 *      raises REQ_STW in the safepoint word (seq_cst read-modify-writes).
 *   3. It stops idle and blocked workers in place, without waking them, by
 *      compare-and-swap W_IDLE->W_STOPPED_IDLE and W_REGION->W_STOPPED_REGION,
 *      counting each down. Running workers stop themselves at their next
 *      safepoint (W_RUNNING->W_STOPPED) and count down; the last one
 *      notifies the requester.
 *   4. It waits until stopwait is 0 and no thread is inside an implicit
 *      attached section (a runtime call from a non-worker thread).
 *   5. While stopped it may run a function on every worker in parallel
 *      (workers stopped at a safepoint run their own share; idle workers are
 *      woken with uv_async_send and claim their own share by compare-and-
 *      swap while they wait out the pause; the requester runs its own share
 *      and claims every other one left), and visit every task.
 *   6. Restart: stw.gen becomes even first (so a worker that resumes cannot
 *      read a stale odd value), then every stopped state goes back to what it
 *      was, then the stopped workers are woken, the lock released, and wakep
 *      runs so that work readied during the pause does not sleep (rule 7).
 * Transitions into idle or a region race with step 3 through the state word
 * (rule 6): the member moves to W_IDLE by CAS and then reads stw.gen; the
 * requester makes stw.gen odd and then reads the states. Both are seq_cst, so
 * at least one sees the other: the requester stops it in place, or the member
 * sees the odd generation and notifies the requester, which rescans the
 * members while it waits. Only the requester moves a member into a STOPPED_*
 * state in place, so no member can count itself down for a pause that has
 * already ended. Every exit from idle or a region is a CAS from W_IDLE (W_REGION) that
 * waits while the state is W_STOPPED_IDLE (W_STOPPED_REGION): it happens
 * before the worker touches any queue.
 * Invariant: while stw.gen is odd, no worker other than the requester's runs
 * a task, and no thread is inside an implicit attached section.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>

#include "sched/internal.h"

int go_internal_safepoint_word;

static gort_rt_lock world_lock; /* released on the requester's fiber, not its scheduler's */

static struct stw_state {
    _Atomic uint64_t gen;      /* odd while a pause is requested or in force */
    _Atomic int32_t stopwait;  /* workers that have not stopped yet */
    _Atomic uint32_t notify;   /* futex word: the requester sleeps on it */
    _Atomic uint32_t wake;     /* futex word: stopped workers sleep on it */
    gort_worker *owner_worker; /* [world lock] the requester's worker, or NULL */
    int64_t t_request;         /* [world lock] */
    bool stopped;              /* [world lock] */
    /* The parallel function. */
    gort_stw_parallel_fn job_fn;
    void *job_arg;
    _Atomic uint64_t job_gen;
    _Atomic int32_t job_remaining;
    _Atomic int32_t job_idle_running;  /* idle workers inside a claim attempt or a share */
    _Atomic uint8_t job_claimed[1024]; /* shares taken, by worker index (see run_parallel) */
    /* Statistics: written by the requester, read by anyone, under stats_lock. */
    gort_stw_stats stats;
    pthread_mutex_t stats_lock;
} stw = {.stats_lock = PTHREAD_MUTEX_INITIALIZER};

#define SPIN_ITERATIONS gort_rt_spin_limit(20000) /* about 50-100 us of pause instructions */

static void notify_requester(void) {
    atomic_fetch_add(&stw.notify, 1);
    gort_rt_futex_wake(&stw.notify, 1);
}

static void wake_stopped(void) {
    atomic_fetch_add(&stw.wake, 1);
    gort_rt_futex_wake(&stw.wake, INT_MAX);
}

static bool world_is_stopped(void) {
    return atomic_load(&stw.stopwait) == 0 && atomic_load(&gort_sched.external_active) == 0;
}

static bool job_done(void) {
    return atomic_load(&stw.job_remaining) == 0 && atomic_load(&stw.job_idle_running) == 0;
}

static void requester_wait(bool (*done)(void)) {
    for (int i = 0;; i++) {
        uint32_t n = atomic_load(&stw.notify);
        if (done())
            return;
        if (i < SPIN_ITERATIONS) {
            gort_rt_cpu_relax();
            continue;
        }
        gort_rt_futex_wait(&stw.notify, n);
    }
}

/* Runs share i of the current parallel function if nobody took it yet. */
static bool claim_share(int i) {
    uint8_t expected = 0;
    return atomic_compare_exchange_strong(&stw.job_claimed[i], &expected, 1);
}

/* An idle worker woken during a pause (run_parallel wakes them) runs its own
 * share of a parallel function unless the requester took it first. */
static void idle_worker_help(gort_member *m) {
    uint64_t jg = atomic_load_explicit(&stw.job_gen, memory_order_acquire);
    if (jg == m->last_job_gen)
        return;
    m->last_job_gen = jg;
    atomic_fetch_add(&stw.job_idle_running, 1);
    if (claim_share(m->index))
        stw.job_fn(stw.job_arg, m->index);
    if (atomic_fetch_sub(&stw.job_idle_running, 1) == 1)
        notify_requester();
}

/* Waits while m->state == stopped_state; returns when it changed. */
static void wait_while_state(gort_member *m, uint32_t stopped_state) {
    for (int i = 0;; i++) {
        uint32_t wk = atomic_load(&stw.wake);
        if (atomic_load(&m->state) != stopped_state)
            return;
        if (m->is_worker && stopped_state == W_STOPPED_IDLE &&
            atomic_load_explicit(&stw.job_gen, memory_order_relaxed) != m->last_job_gen) {
            idle_worker_help(m);
            i = 0;
            continue;
        }
        if (i < SPIN_ITERATIONS) {
            gort_rt_cpu_relax();
            continue;
        }
        gort_rt_futex_wait(&stw.wake, wk);
    }
}

/* ---- the member's side --------------------------------------------------- */

static void stop_self(gort_member *m) {
    if (!m->is_worker) /* an attached thread stops on its own stack */
        m->saved_sp = gort_sched_save_context(m->saved_regs);
    uint32_t s = W_RUNNING;
    if (!atomic_compare_exchange_strong(&m->state, &s, W_STOPPED))
        gort_rt_fatal("stop-the-world: member %d reached a safepoint in state %u", m->index, s);
    m->last_job_gen = atomic_load(&stw.job_gen);
    if (atomic_fetch_sub(&stw.stopwait, 1) == 1)
        notify_requester();
    for (int i = 0;; i++) {
        uint32_t wk = atomic_load(&stw.wake);
        if (atomic_load(&m->state) != W_STOPPED)
            return;
        uint64_t jg = atomic_load_explicit(&stw.job_gen, memory_order_acquire);
        if (m->is_worker && jg != m->last_job_gen) {
            m->last_job_gen = jg;
            stw.job_fn(stw.job_arg, m->index);
            if (atomic_fetch_sub(&stw.job_remaining, 1) == 1)
                notify_requester();
            i = 0;
            continue;
        }
        if (i < SPIN_ITERATIONS) {
            gort_rt_cpu_relax();
            continue;
        }
        gort_rt_futex_wait(&stw.wake, wk);
    }
}

void gort_stw_poll(gort_member *m) {
    if (!(safepoint_word_load() & REQ_STW))
        return;
    if (!(atomic_load(&stw.gen) & 1))
        return; /* a stale request bit: the pause is over */
    if (gort_sched_is_stw_owner())
        return; /* our own task asked for this pause */
    stop_self(m);
}

/* Only the requester moves a member into a STOPPED_* state in place: a member
 * that stopped itself after reading an odd generation could do so for a pause
 * that ended meanwhile, and count down the next one's stopwait. So a member
 * that goes idle or blocked during a pending pause only tells the requester,
 * which rescans. */
static void enter_stoppable(gort_member *m, uint32_t to) {
    uint32_t s = W_RUNNING;
    if (!atomic_compare_exchange_strong(&m->state, &s, to))
        gort_rt_fatal("stop-the-world: member %d leaving state %u, expected running", m->index, s);
    if (atomic_load(&stw.gen) & 1)
        notify_requester();
}

static void exit_stoppable(gort_member *m, uint32_t from, uint32_t stopped_from) {
    for (;;) {
        uint32_t s = atomic_load(&m->state);
        if (s == W_RUNNING)
            return;
        if (s == from) {
            if (atomic_compare_exchange_strong(&m->state, &s, W_RUNNING))
                return;
            continue;
        }
        if (s == stopped_from) {
            wait_while_state(m, stopped_from);
            continue;
        }
        gort_rt_fatal("stop-the-world: member %d in state %u, expected %u", m->index, s, from);
    }
}

void gort_stw_enter_idle(gort_member *m) {
    enter_stoppable(m, W_IDLE);
}
void gort_stw_exit_idle(gort_member *m) {
    exit_stoppable(m, W_IDLE, W_STOPPED_IDLE);
}
void gort_stw_enter_region(gort_member *m) {
    enter_stoppable(m, W_REGION);
}
void gort_stw_exit_region(gort_member *m) {
    exit_stoppable(m, W_REGION, W_STOPPED_REGION);
}

/* ---- implicit attached sections ------------------------------------------ */

static __thread int external_depth;

bool gort_sched_external_enter(void) {
    if (gort_sched_is_stw_owner() || external_depth > 0) {
        external_depth++;
        return true;
    }
    gort_member *m = gort_sched_attached_self();
    if (m != NULL && atomic_load_explicit(&m->state, memory_order_relaxed) != W_RUNNING)
        gort_rt_fatal("runtime call from a thread inside a blocking region");
    for (;;) {
        /* Look before touching the counter: while a pause is pending or the
         * runtime is down, callers wait or fail without it, so a storm of
         * calls cannot keep it from draining. */
        uint64_t g = atomic_load(&stw.gen);
        if (g & 1) {
            /* An attached thread is a member the pause waits for: it stops at
             * this safepoint. Others wait for the pause to end. */
            if (m != NULL) {
                gort_stw_poll(m);
                continue;
            }
            for (int i = 0;; i++) {
                uint32_t wk = atomic_load(&stw.wake);
                if (atomic_load(&stw.gen) != g)
                    break;
                if (i < SPIN_ITERATIONS) {
                    gort_rt_cpu_relax();
                    continue;
                }
                gort_rt_futex_wait(&stw.wake, wk);
            }
            continue;
        }
        if (!atomic_load(&gort_sched.running))
            return false;
        atomic_fetch_add(&gort_sched.external_active, 1);
        if (!(atomic_load(&stw.gen) & 1) && atomic_load(&gort_sched.running)) {
            external_depth = 1;
            return true;
        }
        /* A pause or a teardown began meanwhile: step back out. */
        if (atomic_fetch_sub(&gort_sched.external_active, 1) == 1)
            notify_requester();
    }
}

void gort_sched_external_leave(void) {
    if (--external_depth > 0 || gort_sched_is_stw_owner())
        return;
    if (atomic_fetch_sub(&gort_sched.external_active, 1) == 1 && (atomic_load(&stw.gen) & 1))
        notify_requester();
}

/* ---- the requester's side ------------------------------------------------ */

gort_member *gort_stw_attached;
int gort_stw_nattached;

void gort_stw_world_lock(void) {
    gort_rt_lock_acquire(&world_lock);
}
void gort_stw_world_unlock(void) {
    gort_rt_lock_release(&world_lock);
}

/* Stops a member that is idle or blocked in place; true if it counts as
 * stopped without a safepoint. */
static bool stop_in_place(gort_member *m) {
    uint32_t s = atomic_load(&m->state);
    return (s == W_IDLE && atomic_compare_exchange_strong(&m->state, &s, W_STOPPED_IDLE)) ||
           (s == W_REGION && atomic_compare_exchange_strong(&m->state, &s, W_STOPPED_REGION)) ||
           (s == W_EXITED && atomic_compare_exchange_strong(&m->state, &s, W_STOPPED_EXITED));
}

/* Stops in place, and counts, every member other than me that is idle or
 * blocked; the requester runs it until the world is stopped. */
static void stop_idle_members(gort_member *me) {
    for (int i = 0; i < gort_sched.nworkers; i++) {
        gort_member *m = &gort_sched.workers[i].m;
        if (m != me && stop_in_place(m))
            atomic_fetch_sub(&stw.stopwait, 1);
    }
    for (gort_member *m = gort_stw_attached; m != NULL; m = m->next)
        if (m != me && stop_in_place(m))
            atomic_fetch_sub(&stw.stopwait, 1);
}

static void restart_member(gort_member *m) {
    uint32_t s = atomic_load(&m->state);
    if (s == W_STOPPED)
        atomic_store(&m->state, W_RUNNING);
    else if (s == W_STOPPED_IDLE)
        atomic_store(&m->state, W_IDLE);
    else if (s == W_STOPPED_REGION)
        atomic_store(&m->state, W_REGION);
    else if (s == W_STOPPED_EXITED)
        atomic_store(&m->state, W_EXITED);
}

/* self: the requester's worker (its task switched out first), or NULL for a
 * thread that is not a worker; an attached thread counts its own member as
 * stopped, as a worker does. */
static void stop_world(gort_worker *self, gort_stw_reason reason) {
    gort_member *me = self != NULL ? &self->m : gort_sched_attached_self();
    if (me != NULL && !me->is_worker)
        me->saved_sp = gort_sched_save_context(me->saved_regs);
    if (!gort_rt_lock_try(&world_lock)) {
        /* Another pause holds the world: wait as a blocked member. */
        if (me != NULL)
            gort_stw_enter_region(me);
        gort_rt_lock_acquire(&world_lock);
        if (me != NULL)
            gort_stw_exit_region(me);
    }
    int64_t t0 = gort_rt_nanotime();
    stw.owner_worker = self;
    (void)reason; /* not recorded yet: pause statistics are not split by reason */
    stw.t_request = t0;
    gort_sched_set_stw_owner(true);

    int n = gort_sched.nworkers;
    atomic_store(&stw.stopwait, n + gort_stw_nattached);
    atomic_fetch_add(&stw.gen, 1); /* odd: requested */
    safepoint_word_set(REQ_STW);
    if (me != NULL) {
        uint32_t s = W_RUNNING;
        if (!atomic_compare_exchange_strong(&me->state, &s, W_STOPPED))
            gort_rt_fatal("stop-the-world: requesting member %d in state %u", me->index, s);
        me->last_job_gen = atomic_load(&stw.job_gen);
        atomic_fetch_sub(&stw.stopwait, 1);
    }
    /* A member that goes idle or blocked from now on notifies us (it reads
     * the odd generation): rescan only when the notify counter moved. */
    uint32_t seen = atomic_load(&stw.notify);
    stop_idle_members(me);
    for (int i = 0;; i++) {
        uint32_t note = atomic_load(&stw.notify);
        if (note != seen) {
            seen = note;
            stop_idle_members(me);
        }
        if (world_is_stopped())
            break;
        if (i < SPIN_ITERATIONS) {
            gort_rt_cpu_relax();
            continue;
        }
        gort_rt_futex_wait(&stw.notify, note);
    }
    int64_t t1 = gort_rt_nanotime();
    uint64_t tts = (uint64_t)(t1 - t0);
    pthread_mutex_lock(&stw.stats_lock);
    stw.stats.last_tts_ns = tts;
    if (tts > stw.stats.max_tts_ns)
        stw.stats.max_tts_ns = tts;
    pthread_mutex_unlock(&stw.stats_lock);
    stw.stopped = true;
}

void gort_stw_stop_from_scheduler(gort_worker *w) {
    stop_world(w, w->pending_stw_reason);
}

void gort_stop_the_world(gort_stw_reason reason) {
    gort_task *t = gort_sched_current_task();
    if (t == NULL) {
        if (gort_sched_is_stw_owner())
            gort_rt_fatal("stop-the-world: requested while this thread holds the world");
        stop_world(NULL, reason);
        return;
    }
    /* Switch out so the task's registers are saved on its stack and its range
     * is valid for visiting; the scheduler stops the world and resumes us. */
    gort_sched_self()->pending_stw_reason = reason;
    gort_sched_switch_to_scheduler(t, CMD_STW);
}

void gort_start_the_world(void) {
    if (!gort_sched_is_stw_owner() || !stw.stopped)
        gort_rt_fatal("start-the-world: the world is not stopped by this thread");
    stw.stopped = false;
    safepoint_word_clear(REQ_STW);
    atomic_fetch_add(&stw.gen, 1); /* even: running */
    for (int i = 0; i < gort_sched.nworkers; i++)
        restart_member(&gort_sched.workers[i].m);
    for (gort_member *m = gort_stw_attached; m != NULL; m = m->next)
        restart_member(m);
    uint64_t pause = (uint64_t)(gort_rt_nanotime() - stw.t_request);
    pthread_mutex_lock(&stw.stats_lock);
    stw.stats.pauses++;
    stw.stats.last_pause_ns = pause;
    stw.stats.total_pause_ns += pause;
    if (pause > stw.stats.max_pause_ns)
        stw.stats.max_pause_ns = pause;
    pthread_mutex_unlock(&stw.stats_lock);
    stw.owner_worker = NULL;
    gort_sched_set_stw_owner(false);
    wake_stopped();
    gort_rt_lock_release(&world_lock);
    if (gort_sched_work_queued())
        gort_sched_wakep(); /* work readied during the pause must not sleep (rule 7) */
}

void gort_stw_run_parallel(gort_stw_parallel_fn fn, void *arg) {
    if (!gort_sched_is_stw_owner() || !stw.stopped)
        gort_rt_fatal("stop-the-world: run_parallel outside a pause");
    int n = gort_sched.nworkers;
    bool participant[n > 0 ? n : 1];
    int32_t count = 0, nidle = 0;
    /* The function first: an idle worker that claims a share reset below
     * reads it after its claim (the claim synchronizes with the reset). */
    stw.job_fn = fn;
    stw.job_arg = arg;
    for (int i = 0; i < n; i++) {
        gort_worker *w = &gort_sched.workers[i];
        uint32_t s = atomic_load(&w->m.state);
        participant[i] = w != stw.owner_worker && s == W_STOPPED;
        count += participant[i];
        nidle += s == W_STOPPED_IDLE;
        atomic_store(&stw.job_claimed[i], participant[i] ? 1 : 0);
    }
    atomic_store(&stw.job_remaining, count);
    atomic_fetch_add_explicit(&stw.job_gen, 1, memory_order_release);
    if (count > 0 || nidle > 0)
        wake_stopped();
    /* Idle workers sleep in uv_run: wake them so that they take their own
     * shares (idle_worker_help) while we take the others'. Whichever claims
     * a share first runs it; a worker woken too late finds it taken. */
    for (int i = 0; i < n; i++)
        if (atomic_load(&gort_sched.workers[i].m.state) == W_STOPPED_IDLE)
            uv_async_send(&gort_sched.workers[i].wake);
    if (stw.owner_worker != NULL && claim_share(stw.owner_worker->index))
        fn(arg, stw.owner_worker->index);
    for (int i = 0; i < n; i++)
        if (!participant[i] && claim_share(i))
            fn(arg, i);
    requester_wait(job_done);
}

void gort_stw_visit_tasks(gort_stw_task_visitor fn, void *arg) {
    if (!gort_sched_is_stw_owner() || !stw.stopped)
        gort_rt_fatal("stop-the-world: visit_tasks outside a pause");
    uv_mutex_lock(&gort_sched.allg_lock);
    for (size_t i = 0; i < gort_sched.nallg; i++) {
        gort_task *t = gort_sched.allg[i];
        uint32_t s = atomic_load(&t->state) & TASK_STATE_MASK;
        if (s == TASK_FREE || s == TASK_DEAD)
            continue;
        const void *lo = !t->started        ? NULL
                         : s == TASK_REGION ? t->region_worker->m.saved_sp
                                            : t->ctx.sp;
        const void *hi = t->started ? t->stack.hi : NULL;
        fn(t, lo, hi, arg);
    }
    uv_mutex_unlock(&gort_sched.allg_lock);
}

void gort_stw_visit_gc_locals(void (*fn)(void **slot, void *arg), void *arg) {
    if (!gort_sched_is_stw_owner() || !stw.stopped)
        gort_rt_fatal("stop-the-world: visit_gc_locals outside a pause");
    for (int i = 0; i < gort_sched.nworkers; i++)
        fn(&gort_sched.workers[i].m.gc_local, arg);
    for (gort_member *m = gort_stw_attached; m != NULL; m = m->next)
        fn(&m->gc_local, arg);
}

void *gort_sched_task_spawn_arg(const gort_task *t) {
    return t->started ? NULL : t->arg;
}

void gort_stw_visit_threads(gort_stw_thread_visitor fn, void *arg) {
    if (!gort_sched_is_stw_owner() || !stw.stopped)
        gort_rt_fatal("stop-the-world: visit_threads outside a pause");
    for (gort_member *m = gort_stw_attached; m != NULL; m = m->next)
        fn(m, m->saved_sp, m->stack_hi, m->saved_regs, 6, arg);
}

const uintptr_t *gort_sched_task_region_regs(const gort_task *t, size_t *n) {
    if ((atomic_load(&t->state) & TASK_STATE_MASK) != TASK_REGION) {
        *n = 0;
        return NULL;
    }
    *n = 6;
    return t->region_worker->m.saved_regs;
}

void gort_sched_claims_enable(bool on) {
    if (!gort_stw_is_stopped())
        gort_rt_fatal("claims enabled or disabled while the world runs");
    atomic_store(&gort_sched.claims_enabled, on ? 1 : 0);
}

bool gort_sched_task_claim(gort_task *t, const void **lo, const void **hi) {
    if (!atomic_load_explicit(&gort_sched.claims_enabled, memory_order_relaxed))
        gort_rt_fatal("task claimed outside gort_sched_claims_enable");
    uint32_t s = atomic_load(&t->state);
    for (;;) {
        if (s != TASK_RUNNABLE && s != TASK_WAITING && s != TASK_REGION)
            return false;
        if (atomic_compare_exchange_weak(&t->state, &s, s | TASK_SCAN))
            break;
    }
    *lo = !t->started ? NULL : s == TASK_REGION ? t->region_worker->m.saved_sp : t->ctx.sp;
    *hi = t->started ? t->stack.hi : NULL;
    return true;
}

void gort_sched_task_unclaim(gort_task *t) {
    atomic_fetch_and(&t->state, ~(uint32_t)TASK_SCAN);
}

void gort_stw_stats_get(gort_stw_stats *out) {
    pthread_mutex_lock(&stw.stats_lock);
    *out = stw.stats;
    pthread_mutex_unlock(&stw.stats_lock);
}

bool gort_stw_is_stopped(void) {
    return gort_sched_is_stw_owner() && stw.stopped;
}

void gort_stw_reset(void) {
    /* Not external_active: threads that are not workers change it at any
     * time, even while the runtime is stopped, and it balances itself. */
    atomic_store(&stw.stopwait, 0);
}
