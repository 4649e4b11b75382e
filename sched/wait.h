/* sched/wait.h - one blocking call's wait for a wake-up (sched/wait.c).
 *
 * What channels, select, locks and go_sleep share. A gort_wait lives in the
 * frame of the blocking call. The caller queues one or more gort_waiter nodes
 * (one per channel or lock it waits on) under the locks of those queues, then
 * calls gort_wait_block, which releases the locks and blocks: a task parks, a
 * thread that is not a task sleeps on a futex in the blocking-region state.
 *
 * Exactly one waker wins a wait: a waker first claims it (gort_wait_claim, a
 * compare-and-swap, under the lock of the queue where it found the node), then
 * fills in the result, releases its locks and calls gort_wait_wake. A deadline
 * is a timer whose firing claims the wait the same way. Nodes whose wait was
 * claimed elsewhere are skipped and dropped by the wakers that meet them; the
 * woken caller removes its nodes still queued.
 *
 * A task's wakers can find it only once it is parked: its deadline's timer
 * is armed, and the queue lock released, by the park's unlock callback, when
 * the task is already WAITING. So a waker readies it directly, and the
 * callback touches nothing of the task's frame once the lock is released.
 * An unlock in several steps (select's locks, a cond's queue then its mutex)
 * reads the frame between steps: such a wait (GORT_WAIT_STEPS) has a
 * handshake word, which the callback and the waker both exchange when done;
 * whichever comes second readies the task (the callback by cancelling the
 * park). When only one waker can ever find a wait (one node, no deadline),
 * claiming it is a plain store: the node leaves its queue as it is claimed.
 */
#ifndef GORT_SCHED_WAIT_H
#define GORT_SCHED_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/rt.h"
#include "sched/sched.h"
#include "sched/timer.h"

typedef struct gort_waiter gort_waiter;

typedef struct gort_wait {
    gort_task *task;            /* NULL: an OS thread that is not a task */
    bool contended;             /* several wakers may race for it: claim by CAS */
    bool steps;                 /* GORT_WAIT_STEPS: wakes go through handshake */
    _Atomic uint32_t claimed;   /* 1 once a waker or the deadline won it */
    _Atomic uint32_t handshake; /* steps: WAIT_ACTIVE, WAIT_PARKED, WAIT_WOKEN */
    _Atomic uint32_t woken;     /* threads: the futex word, 1 once woken */
    gort_waiter *winner;        /* written by the claimer; NULL: the deadline */
    int64_t deadline;           /* go_now() value, or INT64_MAX */
    gort_timer_entry timer;     /* tasks with a deadline */
} gort_wait;

/* A node in a queue of waiters (doubly linked: O(1) removal). */
struct gort_waiter {
    gort_wait *wait;
    gort_waiter *next, *prev;
    void *elem;     /* channels: the value to send or where to receive */
    void *chan;     /* select: the channel of this case */
    int result;     /* written by the claimer */
    uint32_t index; /* select: the case index */
    bool queued;    /* [queue lock] linked in its queue */
    bool is_send;
    gort_waiter *wake_next; /* a waker's list of waits to wake after unlocking */
};

typedef struct gort_waitq {
    gort_waiter *head, *tail;
} gort_waitq;

enum {
    GORT_WAIT_SEVERAL = 1, /* it queues more than one node (select) */
    GORT_WAIT_STEPS = 2,   /* its unlock callback releases in several steps */
};
/* Starts a wait for the calling task self (NULL: the caller is a thread that
 * is not running a task), with an absolute deadline (INT64_MAX: none) and
 * GORT_WAIT_* flags. */
void gort_wait_init(gort_wait *w, gort_task *self, int64_t deadline, unsigned flags);

static inline bool gort_wait_claim(gort_wait *w) {
    if (!w->contended) {
        atomic_store_explicit(&w->claimed, 1, memory_order_relaxed);
        return true;
    }
    uint32_t expected = 0;
    return atomic_load_explicit(&w->claimed, memory_order_relaxed) == 0 &&
           atomic_compare_exchange_strong_explicit(&w->claimed, &expected, 1, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* Wakes a claimed wait. With no runtime lock held. */
void gort_wait_wake(gort_wait *w);

/* Releases the queue locks through unlock(arg) and blocks until a waker or
 * the deadline wins (returns at once if one already has). Then stops the
 * deadline's timer. Returns the winning node, NULL for the deadline. The
 * caller removes its other nodes. */
typedef void (*gort_wait_unlock_fn)(void *arg);
gort_waiter *gort_wait_block(gort_wait *w, gort_wait_unlock_fn unlock, void *arg,
                             const char *reason);

/* Blocks forever (an operation on a NULL channel, an empty select). */
_Noreturn void gort_wait_forever(const char *reason);

/* ---- queues: under the owner's lock ----------------------------------- */
static inline void gort_waitq_push(gort_waitq *q, gort_waiter *n) {
    n->next = NULL;
    n->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    n->queued = true;
}
static inline void gort_waitq_push_front(gort_waitq *q, gort_waiter *n) {
    n->prev = NULL;
    n->next = q->head;
    if (q->head != NULL)
        q->head->prev = n;
    else
        q->tail = n;
    q->head = n;
    n->queued = true;
}
static inline void gort_waitq_remove(gort_waitq *q, gort_waiter *n) {
    if (!n->queued)
        return;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->next = n->prev = NULL;
    n->queued = false;
}
/* Takes the first node whose wait this caller claims, and makes it the
 * wait's winner; drops the nodes of waits already won elsewhere. NULL if
 * none. */
static inline gort_waiter *gort_waitq_claim_first(gort_waitq *q) {
    gort_waiter *n;
    while ((n = q->head) != NULL) {
        gort_waitq_remove(q, n);
        if (gort_wait_claim(n->wait)) {
            n->wait->winner = n;
            return n;
        }
    }
    return NULL;
}

/* Claimed nodes a waker collects under its lock and wakes, oldest first, once
 * it has released the lock. */
typedef struct gort_wake_list {
    gort_waiter *head, *tail;
} gort_wake_list;

static inline void gort_wake_list_add(gort_wake_list *l, gort_waiter *n) {
    n->wake_next = NULL;
    if (l->tail != NULL)
        l->tail->wake_next = n;
    else
        l->head = n;
    l->tail = n;
}

/* Wakes every node of l, in order; l is empty afterwards. */
void gort_wake_list_wake(gort_wake_list *l);

/* ---- the calling thread's kind ------------------------------------------ */
/* Every public call that may block or ready a task starts with
 * gort_call_enter and ends with gort_call_leave: from a thread that is not a
 * worker, the call runs as an implicit attached section (DESIGN.md
 * section 2), left while it blocks. */
typedef struct gort_call {
    bool section;    /* an implicit attached section is open */
    gort_task *task; /* the calling task, or NULL: asked once per call */
} gort_call;
gort_call gort_call_enter(void);
void gort_call_leave(gort_call c);

/* Deadline for a timeout (GO_FOREVER: INT64_MAX). */
static inline int64_t gort_deadline_after(int64_t ns) {
    if (ns < 0)
        return INT64_MAX;
    int64_t now = gort_rt_nanotime();
    return ns > INT64_MAX - now ? INT64_MAX - 1 : now + ns;
}

#endif
