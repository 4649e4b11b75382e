/* sched/sync.c - task-aware locks: mutex, rwmutex, cond, waitgroup, once,
 * semaphore (Go's sync package).
 *
 * Every wait is a gort_wait (sched/wait.h) on a go_internal_waitq: a FIFO of
 * waiter nodes under the queue's lock word, plus a count of units for
 * semaphores. A released unit is handed straight to the first waiter (it
 * never goes back to the count while someone waits), so a wake-up is never
 * lost and a woken waiter never has to queue again.
 *
 * go_mutex follows Go's two-mode algorithm on one state word (locked, woken,
 * starving, waiter count): in normal mode a woken waiter competes with
 * arriving tasks, which spin a little on a multi-worker runtime; a waiter that
 * waited over 1 ms switches the mutex to starvation mode, where unlock hands
 * ownership straight to the first waiter and newcomers queue at the tail,
 * until a waiter that waited less than 1 ms, or the last one, switches back.
 * A waiter woken in normal mode that loses the race queues again at the head.
 * go_rwmutex is Go's: readers count up; a writer takes the inner mutex,
 * subtracts a large constant so new readers block, and waits for the readers
 * already inside.
 *
 * Zero is the ready state of every object. Misuse Go panics on is fatal.
 * None of this touches collected memory, so threads that are not tasks call
 * it without an implicit attached section; their waits block in the
 * blocking-region state when attached (sched/wait.c).
 */
#include "sched/internal.h"
#include "sched/wait.h"

/* ---- the wait queue and its semaphore -------------------------------------- */

static inline gort_rt_lock *q_lock(go_internal_waitq *q) {
    return (gort_rt_lock *)&q->lock;
}
static inline gort_waitq *q_list(go_internal_waitq *q) {
    return (gort_waitq *)&q->head;
}
static inline _Atomic uint32_t *q_count(go_internal_waitq *q) {
    return (_Atomic uint32_t *)&q->count;
}

static void q_unlock(void *arg) {
    gort_rt_lock_release(q_lock(arg));
}

static bool sema_try(go_internal_waitq *q) {
    uint32_t v = atomic_load_explicit(q_count(q), memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(q_count(q), &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* Takes one unit, waiting until the deadline (INT64_MAX: none). lifo queues
 * at the head. 0 or GO_ETIMEDOUT. */
static int sema_acquire(go_internal_waitq *q, bool lifo, int64_t deadline, const char *reason) {
    if (sema_try(q))
        return 0;
    gort_rt_lock_acquire(q_lock(q));
    if (sema_try(q)) {
        gort_rt_lock_release(q_lock(q));
        return 0;
    }
    if (deadline != INT64_MAX && deadline <= gort_rt_nanotime()) {
        gort_rt_lock_release(q_lock(q));
        return GO_ETIMEDOUT;
    }
    gort_wait w;
    gort_wait_init(&w, gort_sched_current_task(), deadline, 0);
    gort_waiter n = {.wait = &w};
    if (lifo)
        gort_waitq_push_front(q_list(q), &n);
    else
        gort_waitq_push(q_list(q), &n);
    int rc = 0;
    if (gort_wait_block(&w, q_unlock, q, reason) == NULL) {
        gort_rt_lock_acquire(q_lock(q));
        gort_waitq_remove(q_list(q), &n);
        gort_rt_lock_release(q_lock(q));
        rc = GO_ETIMEDOUT;
    }
    return rc;
}

/* Gives one unit: to the first waiter, else to the count. */
static void sema_release(go_internal_waitq *q) {
    gort_rt_lock_acquire(q_lock(q));
    gort_waiter *n = gort_waitq_claim_first(q_list(q));
    if (n == NULL) {
        uint32_t v = atomic_load_explicit(q_count(q), memory_order_relaxed);
        if (v == UINT32_MAX)
            gort_rt_fatal("semaphore count overflow");
        atomic_fetch_add_explicit(q_count(q), 1, memory_order_release);
    }
    gort_rt_lock_release(q_lock(q));
    if (n != NULL)
        gort_wait_wake(n->wait);
}

static int64_t deadline_of(int64_t timeout_ns) {
    return gort_deadline_after(timeout_ns);
}

/* ---- mutex ------------------------------------------------------------------ */

enum {
    M_LOCKED = 1,
    M_WOKEN = 2,
    M_STARVING = 4,
    M_WAITER_SHIFT = 3,
    M_WAITER = 1 << M_WAITER_SHIFT,
};
#define STARVATION_NS (1000 * 1000)
#define SPIN_ROUNDS 4

static inline _Atomic int32_t *m_state(go_mutex *m) {
    return (_Atomic int32_t *)&m->state;
}

static bool can_spin(int iter) {
    return iter < SPIN_ROUNDS && gort_sched.nworkers > 1 && gort_sched_current_task() != NULL;
}

static GORT_NOINLINE void mutex_lock_slow(go_mutex *m) {
    int64_t wait_start = 0;
    bool starving = false, awoke = false;
    int iter = 0;
    int32_t old = atomic_load_explicit(m_state(m), memory_order_relaxed);
    for (;;) {
        /* Spin while it is locked in normal mode: the owner may release soon. */
        if ((old & (M_LOCKED | M_STARVING)) == M_LOCKED && can_spin(iter)) {
            if (!awoke && (old & M_WOKEN) == 0 && (old >> M_WAITER_SHIFT) != 0 &&
                atomic_compare_exchange_weak(m_state(m), &old, old | M_WOKEN))
                awoke = true;
            for (int i = 0; i < 30; i++)
                gort_rt_cpu_relax();
            iter++;
            old = atomic_load_explicit(m_state(m), memory_order_relaxed);
            continue;
        }
        int32_t new = old;
        if ((old & M_STARVING) == 0)
            new |= M_LOCKED; /* newcomers do not take a starving mutex */
        if ((old & (M_LOCKED | M_STARVING)) != 0)
            new += M_WAITER;
        if (starving && (old & M_LOCKED) != 0)
            new |= M_STARVING;
        if (awoke) {
            if ((new &M_WOKEN) == 0)
                gort_rt_fatal("mutex state corrupt (woken flag lost)");
            new &= ~M_WOKEN;
        }
        if (!atomic_compare_exchange_weak_explicit(m_state(m), &old, new, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        if ((old & (M_LOCKED | M_STARVING)) == 0)
            return; /* locked it */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gort_rt_nanotime();
        sema_acquire(&m->sema, lifo, INT64_MAX, "mutex lock");
        starving = starving || gort_rt_nanotime() - wait_start > STARVATION_NS;
        old = atomic_load_explicit(m_state(m), memory_order_relaxed);
        if ((old & M_STARVING) != 0) {
            /* Handed to us: take it, leave starvation mode if we are the
             * last waiter or did not wait long. */
            if ((old & (M_LOCKED | M_WOKEN)) != 0 || (old >> M_WAITER_SHIFT) == 0)
                gort_rt_fatal("mutex state corrupt (starvation hand-off)");
            int32_t delta = M_LOCKED - M_WAITER;
            if (!starving || (old >> M_WAITER_SHIFT) == 1)
                delta -= M_STARVING;
            atomic_fetch_add_explicit(m_state(m), delta, memory_order_acquire);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

void go_mutex_lock(go_mutex *m) {
    go_safepoint(); /* a loop of uncontended locks must not hold off pauses */
    int32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(m_state(m), &expected, M_LOCKED,
                                                memory_order_acquire, memory_order_relaxed))
        return;
    mutex_lock_slow(m);
}

int go_mutex_trylock(go_mutex *m) {
    int32_t old = atomic_load_explicit(m_state(m), memory_order_relaxed);
    if ((old & (M_LOCKED | M_STARVING)) != 0)
        return GO_EAGAIN;
    return atomic_compare_exchange_strong_explicit(m_state(m), &old, old | M_LOCKED,
                                                   memory_order_acquire, memory_order_relaxed)
               ? 0
               : GO_EAGAIN;
}

static GORT_NOINLINE void mutex_unlock_slow(go_mutex *m, int32_t new) {
    if (((new + M_LOCKED) & M_LOCKED) == 0)
        gort_rt_fatal("unlock of unlocked mutex");
    if ((new &M_STARVING) != 0) {
        sema_release(&m->sema); /* hand-off: the first waiter owns it now */
        return;
    }
    int32_t old = new;
    for (;;) {
        /* Nobody to wake, or someone already woken or owning it. */
        if ((old >> M_WAITER_SHIFT) == 0 || (old & (M_LOCKED | M_WOKEN | M_STARVING)) != 0)
            return;
        new = (old - M_WAITER) | M_WOKEN;
        if (atomic_compare_exchange_weak_explicit(m_state(m), &old, new, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            sema_release(&m->sema);
            return;
        }
    }
}

void go_mutex_unlock(go_mutex *m) {
    int32_t new = atomic_fetch_sub_explicit(m_state(m), M_LOCKED, memory_order_release) - M_LOCKED;
    if (new != 0)
        mutex_unlock_slow(m, new);
}

/* ---- rwmutex ---------------------------------------------------------------- */

#define RW_MAX_READERS (1 << 30)

static inline _Atomic int32_t *rw_readers(go_rwmutex *rw) {
    return (_Atomic int32_t *)&rw->reader_count;
}
static inline _Atomic int32_t *rw_wait(go_rwmutex *rw) {
    return (_Atomic int32_t *)&rw->reader_wait;
}

void go_rwmutex_rlock(go_rwmutex *rw) {
    if (atomic_fetch_add_explicit(rw_readers(rw), 1, memory_order_acquire) + 1 < 0)
        sema_acquire(&rw->reader_sem, false, INT64_MAX, "rwmutex rlock"); /* a writer is pending */
}

void go_rwmutex_runlock(go_rwmutex *rw) {
    int32_t r = atomic_fetch_sub_explicit(rw_readers(rw), 1, memory_order_release) - 1;
    if (r >= 0)
        return;
    if (r + 1 == 0 || r + 1 == -RW_MAX_READERS)
        gort_rt_fatal("runlock of unlocked rwmutex");
    /* A writer is pending: the last reader it waits for lets it in. */
    if (atomic_fetch_sub_explicit(rw_wait(rw), 1, memory_order_acq_rel) - 1 == 0)
        sema_release(&rw->writer_sem);
}

void go_rwmutex_lock(go_rwmutex *rw) {
    go_mutex_lock(&rw->w);
    int32_t r = atomic_fetch_sub_explicit(rw_readers(rw), RW_MAX_READERS, memory_order_acq_rel);
    if (r != 0 && atomic_fetch_add_explicit(rw_wait(rw), r, memory_order_acq_rel) + r != 0)
        sema_acquire(&rw->writer_sem, false, INT64_MAX, "rwmutex lock");
}

void go_rwmutex_unlock(go_rwmutex *rw) {
    int32_t r = atomic_fetch_add_explicit(rw_readers(rw), RW_MAX_READERS, memory_order_release) +
                RW_MAX_READERS;
    if (r >= RW_MAX_READERS)
        gort_rt_fatal("unlock of unlocked rwmutex");
    for (int32_t i = 0; i < r; i++)
        sema_release(&rw->reader_sem);
    go_mutex_unlock(&rw->w);
}

/* ---- cond ------------------------------------------------------------------- */

typedef struct cond_unlock {
    go_internal_waitq *q;
    go_mutex *m;
} cond_unlock;

/* Runs once the waiter is parked (or, for a thread, before it blocks):
 * releases the queue, then the mutex. go_mutex_unlock may ready a waiter of
 * the mutex, which is allowed here; it never parks. */
static void cond_release(void *arg) {
    cond_unlock *u = arg;
    gort_rt_lock_release(q_lock(u->q));
    go_mutex_unlock(u->m);
}

int go_cond_wait_timeout(go_cond *cv, go_mutex *m, int64_t timeout_ns) {
    if (timeout_ns < -1)
        return GO_EINVAL;
    if (timeout_ns == 0) { /* no wait: let others in, then report the timeout */
        go_mutex_unlock(m);
        go_mutex_lock(m);
        return GO_ETIMEDOUT;
    }
    go_internal_waitq *q = &cv->q;
    gort_wait w;
    gort_wait_init(&w, gort_sched_current_task(), deadline_of(timeout_ns), GORT_WAIT_STEPS);
    gort_waiter n = {.wait = &w};
    /* Queued before the mutex is released: a signal after the unlock finds
     * us. The queue's lock is held until we are parked. */
    gort_rt_lock_acquire(q_lock(q));
    gort_waitq_push(q_list(q), &n);
    cond_unlock u = {q, m};
    int rc = 0;
    if (gort_wait_block(&w, cond_release, &u, "cond wait") == NULL) {
        gort_rt_lock_acquire(q_lock(q));
        gort_waitq_remove(q_list(q), &n);
        gort_rt_lock_release(q_lock(q));
        rc = GO_ETIMEDOUT;
    }
    go_mutex_lock(m);
    return rc;
}

void go_cond_wait(go_cond *cv, go_mutex *m) {
    go_cond_wait_timeout(cv, m, GO_FOREVER);
}

void go_cond_signal(go_cond *cv) {
    go_internal_waitq *q = &cv->q;
    gort_rt_lock_acquire(q_lock(q));
    gort_waiter *n = gort_waitq_claim_first(q_list(q));
    gort_rt_lock_release(q_lock(q));
    if (n != NULL)
        gort_wait_wake(n->wait);
}

static void wake_all(go_internal_waitq *q) {
    gort_wake_list list = {0};
    gort_waiter *n;
    gort_rt_lock_acquire(q_lock(q));
    while ((n = gort_waitq_claim_first(q_list(q))) != NULL)
        gort_wake_list_add(&list, n);
    gort_rt_lock_release(q_lock(q));
    gort_wake_list_wake(&list);
}

void go_cond_broadcast(go_cond *cv) {
    wake_all(&cv->q);
}

/* ---- waitgroup -------------------------------------------------------------- */

static inline _Atomic int64_t *wg_counter(go_waitgroup *wg) {
    return (_Atomic int64_t *)&wg->counter;
}

void go_waitgroup_add(go_waitgroup *wg, int64_t delta) {
    int64_t v = atomic_fetch_add_explicit(wg_counter(wg), delta, memory_order_acq_rel) + delta;
    if (v < 0)
        gort_rt_fatal("negative waitgroup counter");
    if (v == 0 && delta != 0)
        wake_all(&wg->q);
}

void go_waitgroup_done(go_waitgroup *wg) {
    go_waitgroup_add(wg, -1);
}

int go_waitgroup_wait_timeout(go_waitgroup *wg, int64_t timeout_ns) {
    if (timeout_ns < -1)
        return GO_EINVAL;
    if (atomic_load_explicit(wg_counter(wg), memory_order_acquire) == 0)
        return 0;
    if (timeout_ns == 0)
        return GO_ETIMEDOUT;
    go_internal_waitq *q = &wg->q;
    gort_rt_lock_acquire(q_lock(q));
    if (atomic_load_explicit(wg_counter(wg), memory_order_acquire) == 0) {
        gort_rt_lock_release(q_lock(q));
        return 0;
    }
    gort_wait w;
    gort_wait_init(&w, gort_sched_current_task(), deadline_of(timeout_ns), 0);
    gort_waiter n = {.wait = &w};
    gort_waitq_push(q_list(q), &n);
    int rc = 0;
    if (gort_wait_block(&w, q_unlock, q, "waitgroup wait") == NULL) {
        gort_rt_lock_acquire(q_lock(q));
        gort_waitq_remove(q_list(q), &n);
        gort_rt_lock_release(q_lock(q));
        rc = GO_ETIMEDOUT;
    }
    return rc;
}

void go_waitgroup_wait(go_waitgroup *wg) {
    go_waitgroup_wait_timeout(wg, GO_FOREVER);
}

/* ---- once ------------------------------------------------------------------- */

void go_once_do(go_once *o, go_fn fn, void *arg) {
    if (__atomic_load_n(&o->done, __ATOMIC_ACQUIRE) != 0)
        return;
    go_mutex_lock(&o->m);
    if (__atomic_load_n(&o->done, __ATOMIC_RELAXED) == 0) {
        fn(arg);
        __atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
    }
    go_mutex_unlock(&o->m);
}

/* ---- semaphore -------------------------------------------------------------- */

void go_sem_init(go_sem *s, int64_t n) {
    if (n < 0 || n > (int64_t)UINT32_MAX)
        gort_rt_fatal("go_sem_init: count %lld out of range", (long long)n);
    *s = (go_sem){{0, (uint32_t)n, NULL, NULL}};
}

void go_sem_acquire(go_sem *s) {
    sema_acquire(&s->q, false, INT64_MAX, "semaphore acquire");
}

void go_sem_release(go_sem *s) {
    sema_release(&s->q);
}

int go_sem_tryacquire(go_sem *s) {
    return sema_try(&s->q) ? 0 : GO_EAGAIN;
}

int go_sem_acquire_timeout(go_sem *s, int64_t timeout_ns) {
    if (timeout_ns < -1)
        return GO_EINVAL;
    if (timeout_ns == 0)
        return sema_try(&s->q) ? 0 : GO_ETIMEDOUT;
    return sema_acquire(&s->q, false, deadline_of(timeout_ns), "semaphore acquire");
}
