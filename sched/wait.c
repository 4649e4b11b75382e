/* sched/wait.c - blocking and waking one call's wait (protocol in sched/wait.h).
 *
 * Tasks park through gort_sched_park. The unlock callback arms the deadline's
 * timer, then releases the queue locks: by the time any waker can reach the
 * task it is WAITING, so the waker that claimed the wait readies it. A wait
 * whose unlock takes several steps (GORT_WAIT_STEPS) adds the handshake, so
 * that the task stays parked until the last step is done.
 *
 * Threads that are not tasks block on the wait's futex word, having left
 * their implicit attached section and, when attached, entered a blocking
 * region: a pause never waits for them. Their deadline is the futex timeout;
 * a thread whose deadline passed claims its own wait like any waker.
 */
#include <time.h>

#include "sched/internal.h"
#include "sched/wait.h"

enum { WAIT_ACTIVE = 0, WAIT_PARKED = 1, WAIT_WOKEN = 2 };

static __thread bool tls_in_section; /* a thread that is not a task: inside gort_call */

GORT_NOINLINE gort_call gort_call_enter(void) {
    gort_call c = {false, gort_sched_current_task()};
    if (c.task != NULL) {
        /* Every channel, select, lock and timer call is a safepoint, so that
         * a loop of try_ calls or of uncontended locks does not hold off
         * pauses (not from a worker's scheduler, where timers fire). */
        go_safepoint();
        return c;
    }
    if (gort_sched_self() != NULL || tls_in_section)
        return c; /* a worker's scheduler; or nested in an open section */
    c.section = gort_sched_external_enter();
    tls_in_section = c.section;
    return c;
}

GORT_NOINLINE void gort_call_leave(gort_call c) {
    if (c.section) {
        tls_in_section = false;
        gort_sched_external_leave();
    }
}

static void deadline_fire(gort_timer_entry *e, int64_t now, uint64_t seq) {
    (void)now;
    (void)seq;
    gort_wait *w = (gort_wait *)((char *)e - offsetof(gort_wait, timer));
    if (gort_wait_claim(w)) /* winner stays NULL: the deadline won */
        gort_wait_wake(w);
}

void gort_wait_init(gort_wait *w, gort_task *self, int64_t deadline, unsigned flags) {
    w->task = self;
    w->contended = (flags & GORT_WAIT_SEVERAL) != 0 || deadline != INT64_MAX;
    w->steps = (flags & GORT_WAIT_STEPS) != 0;
    atomic_store_explicit(&w->claimed, 0, memory_order_relaxed);
    atomic_store_explicit(&w->handshake, WAIT_ACTIVE, memory_order_relaxed);
    atomic_store_explicit(&w->woken, 0, memory_order_relaxed);
    w->winner = NULL;
    w->deadline = deadline;
    if (w->task != NULL && deadline != INT64_MAX) {
        w->timer.when = deadline;
        w->timer.period = 0;
        w->timer.fire = deadline_fire;
        w->timer.gc_obj = NULL;
        atomic_store_explicit(&w->timer.heap, NULL, memory_order_relaxed);
        atomic_store_explicit(&w->timer.running, 0, memory_order_relaxed);
    }
}

void gort_wait_wake(gort_wait *w) {
    gort_task *t = w->task;
    if (t != NULL) {
        if (!w->steps || atomic_exchange_explicit(&w->handshake, WAIT_WOKEN,
                                                  memory_order_acq_rel) == WAIT_PARKED)
            gort_sched_ready(t);
        return;
    }
    /* A thread: once the word is 1 it may return and its frame be reused;
     * a futex wake on the stale address is harmless. */
    atomic_store_explicit(&w->woken, 1, memory_order_release);
    gort_rt_futex_wake(&w->woken, 1);
}

void gort_wake_list_wake(gort_wake_list *l) {
    gort_waiter *n = l->head;
    while (n != NULL) {
        gort_waiter *next = n->wake_next; /* before the wake: the node dies with its frame */
        gort_wait_wake(n->wait);
        n = next;
    }
    l->head = l->tail = NULL;
}

typedef struct park_arg {
    gort_wait *w;
    gort_wait_unlock_fn unlock;
    void *arg;
} park_arg;

/* On the scheduler, the task WAITING: arm the deadline, release the queues.
 * Once a lock is released a waker may ready the task and another worker run
 * it: after that, nothing of its frame is touched, except (steps) until the
 * handshake says the waker came after us. */
static bool park_commit(gort_task *t, void *arg) {
    (void)t;
    park_arg *p = arg;
    gort_wait *w = p->w;
    gort_wait_unlock_fn unlock = p->unlock;
    void *unlock_arg = p->arg;
    bool steps = w->steps;
    /* Armed before any lock is released, while the frame is surely ours; a
     * firing from here on finds the task WAITING. The entry stays valid: the
     * task removes it (waiting out a firing) before its frame goes. */
    if (w->deadline != INT64_MAX && !gort_timer_add(&w->timer))
        gort_rt_fatal("a timed wait while the runtime is not running");
    unlock(unlock_arg);
    if (!steps)
        return true;
    return atomic_exchange_explicit(&w->handshake, WAIT_PARKED, memory_order_acq_rel) != WAIT_WOKEN;
}

static void thread_block(gort_wait *w) {
    bool section = tls_in_section;
    if (section)
        gort_sched_external_leave();
    bool attached = gort_sched_attached_self() != NULL;
    if (attached)
        go_blocking_enter();
    for (;;) {
        if (atomic_load_explicit(&w->woken, memory_order_acquire) != 0)
            break;
        if (w->deadline == INT64_MAX) {
            gort_rt_futex_wait(&w->woken, 0);
            continue;
        }
        int64_t left = w->deadline - gort_rt_nanotime();
        if (left <= 0) {
            if (gort_wait_claim(w))
                break; /* the deadline won: winner stays NULL */
            /* A waker claimed it: it is about to set the word. */
            while (atomic_load_explicit(&w->woken, memory_order_acquire) == 0)
                gort_rt_futex_wait(&w->woken, 0);
            break;
        }
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        gort_rt_futex_wait_timeout(&w->woken, 0, &ts);
    }
    if (attached)
        go_blocking_leave();
    if (section) {
        if (!gort_sched_external_enter())
            section = false; /* the runtime stopped meanwhile */
        tls_in_section = section;
    }
}

gort_waiter *gort_wait_block(gort_wait *w, gort_wait_unlock_fn unlock, void *arg,
                             const char *reason) {
    if (w->task == NULL) {
        unlock(arg);
        thread_block(w);
        return w->winner;
    }
    park_arg p = {w, unlock, arg};
    gort_sched_park_task(w->task, park_commit, &p, reason);
    if (w->deadline != INT64_MAX)
        gort_timer_del(&w->timer, true);
    return w->winner;
}

static void no_unlock(void *arg) {
    (void)arg;
}

_Noreturn void gort_wait_forever(const char *reason) {
    for (;;) {
        gort_wait w;
        gort_wait_init(&w, gort_sched_current_task(), INT64_MAX, 0);
        gort_wait_block(&w, no_unlock, NULL, reason);
        /* nothing can win it */
    }
}
