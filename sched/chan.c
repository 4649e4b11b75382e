/* sched/chan.c - channels and select (Go's chan.go and select.go semantics).
 *
 * A channel is a collected object made by gort_gc_new_custom: this header,
 * then a ring buffer of cap slots, each elem_size rounded up to 8 bytes so
 * that the conservative scan sees aligned words. Its scan callback reports the
 * buffer and the values of waiting senders (both roots while the channel
 * lives), unless the channel is noscan.
 *
 * Everything is under the channel's runtime lock:
 *   - a receive takes from a waiting sender first (unbuffered: straight from
 *     its value; buffered and full: the oldest slot, and the sender's value
 *     goes into the freed slot, which keeps FIFO order), then from the buffer;
 *   - a send hands its value to a waiting receiver first, else into the
 *     buffer;
 *   - otherwise the caller queues a node (sched/wait.h) and blocks.
 * Waiter queues are doubly linked FIFOs: taking the first claimable node and
 * removing one's own node are O(1) (apart from dropping nodes of selects that
 * already won elsewhere, each dropped once). Readies happen after the lock is
 * released.
 *
 * Copies into user memory and between tasks follow go_memmove's rules
 * (DESIGN.md section 4): while marking, the overwritten and the copied words
 * are shaded; whole aligned words move with relaxed atomics. Zeroing (a
 * receive on a closed channel, a slot emptied) shades the overwritten words
 * too (section 7 rule 12).
 *
 * select locks every channel of its cases in address order (each once), polls
 * the cases in a random order (so a ready case is chosen uniformly), and
 * otherwise queues one node per case, all sharing one wait: the first waker
 * to claim the wait wins, and the others skip its nodes. Locks are never held
 * across a safepoint: blocking releases them in the park's unlock callback.
 */
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "sched/internal.h"
#include "sched/chan.h"
#include "sched/wait.h"

#define CLOSE_BATCH 1024 /* waiters woken per lock hold by a close */

struct go_chan {
    gort_rt_spinlock lock;
    bool closed; /* [lock] */
    bool noscan;
    size_t elem_size, slot_size, cap;
    _Atomic size_t qcount;   /* [lock writes; go_chan_len reads] values in the buffer */
    size_t sendx, recvx;     /* [lock] ring indices */
    gort_waitq recvq, sendq; /* [lock] */
    _Alignas(16) unsigned char buf[];
};

/* ---- copies --------------------------------------------------------------- */

static inline void copy_value(void *dst, const void *src, size_t n) {
    if (n == 8 && (((uintptr_t)dst | (uintptr_t)src) & 7) == 0) {
        if (gort_gc_marking()) {
            gort_gc_shade((const void *)__atomic_load_n((uintptr_t *)dst, __ATOMIC_RELAXED));
            gort_gc_shade((const void *)__atomic_load_n((const uintptr_t *)src, __ATOMIC_RELAXED));
        }
        __atomic_store_n((uintptr_t *)dst,
                         __atomic_load_n((const uintptr_t *)src, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        return;
    }
    go_memmove(dst, src, n);
}

static void zero_value(void *dst, size_t n) {
    if (dst == NULL || n == 0)
        return;
    if (gort_gc_marking())
        gort_gc_shade_range(dst, n);
    unsigned char *d = dst;
    size_t i = 0;
    for (; i < n && ((uintptr_t)(d + i) & 7) != 0; i++)
        d[i] = 0;
    for (; i + 8 <= n; i += 8)
        __atomic_store_n((uintptr_t *)(d + i), 0, __ATOMIC_RELAXED);
    for (; i < n; i++)
        d[i] = 0;
}

/* dst or src NULL: the value is discarded, or zero. */
static inline void move_value(go_chan *c, void *dst, const void *src) {
    if (c->elem_size == 0 || dst == NULL)
        return;
    if (src == NULL)
        zero_value(dst, c->elem_size);
    else
        copy_value(dst, src, c->elem_size);
}

static inline void *slot(go_chan *c, size_t i) {
    return c->buf + i * c->slot_size;
}

/* ---- the object ------------------------------------------------------------- */

static void chan_scan(void *obj, gort_gc_scanner *s) {
    go_chan *c = obj;
    if (c->noscan || c->elem_size == 0)
        return;
    /* The world is stopped: no channel lock is held (never across a safepoint). */
    gort_gc_scan_range(s, c->buf, c->cap * c->slot_size);
    for (gort_waiter *n = c->sendq.head; n != NULL; n = n->next)
        if (n->elem != NULL && ((uintptr_t)n->elem & 7) == 0)
            gort_gc_scan_range(s, n->elem, c->elem_size & ~(size_t)7);
}

static go_chan *chan_new(size_t elem_size, size_t cap, bool noscan) {
    if (elem_size > SIZE_MAX / 2)
        return NULL;
    size_t slot_size = (elem_size + 7) & ~(size_t)7;
    if (slot_size != 0 && cap > (SIZE_MAX / 2 - sizeof(go_chan)) / slot_size)
        return NULL;
    go_chan *c = gort_gc_new_custom(sizeof(go_chan) + cap * slot_size, chan_scan);
    if (c == NULL)
        return NULL;
    c->noscan = noscan;
    c->elem_size = elem_size;
    c->slot_size = slot_size;
    c->cap = cap;
    return c;
}

go_chan *go_chan_new(size_t elem_size, size_t cap) {
    return chan_new(elem_size, cap, false);
}

go_chan *go_chan_new_noscan(size_t elem_size, size_t cap) {
    return chan_new(elem_size, cap, true);
}

size_t go_chan_len(go_chan *c) {
    return c == NULL ? 0 : atomic_load_explicit(&c->qcount, memory_order_relaxed);
}

size_t go_chan_cap(go_chan *c) {
    return c == NULL ? 0 : c->cap;
}

/* ---- the operations under the lock ------------------------------------------ */

static inline void set_qcount(go_chan *c, size_t n) {
    atomic_store_explicit(&c->qcount, n, memory_order_relaxed);
}

/* A send that can complete now: to a waiting receiver (returned in *wake, to
 * be woken after unlocking) or into the buffer. */
static bool send_locked(go_chan *c, const void *elem, gort_waiter **wake) {
    gort_waiter *r = gort_waitq_claim_first(&c->recvq);
    if (r != NULL) {
        move_value(c, r->elem, elem);
        r->result = 0;
        *wake = r;
        return true;
    }
    size_t q = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (q < c->cap) {
        move_value(c, slot(c, c->sendx), elem);
        if (++c->sendx == c->cap)
            c->sendx = 0;
        set_qcount(c, q + 1);
        return true;
    }
    return false;
}

/* A receive that can complete now: from a waiting sender or the buffer. */
static bool recv_locked(go_chan *c, void *elem, gort_waiter **wake) {
    gort_waiter *s = gort_waitq_claim_first(&c->sendq);
    if (s != NULL) {
        if (c->cap == 0) {
            move_value(c, elem, s->elem);
        } else {
            /* Full buffer: take the oldest, the sender's value takes its slot. */
            void *sl = slot(c, c->recvx);
            move_value(c, elem, sl);
            move_value(c, sl, s->elem);
            if (++c->recvx == c->cap)
                c->recvx = 0;
            c->sendx = c->recvx;
        }
        s->result = 0;
        *wake = s;
        return true;
    }
    size_t q = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (q > 0) {
        void *sl = slot(c, c->recvx);
        move_value(c, elem, sl);
        if (!c->noscan)
            zero_value(sl, c->elem_size); /* the buffer must not keep it alive */
        if (++c->recvx == c->cap)
            c->recvx = 0;
        set_qcount(c, q - 1);
        return true;
    }
    return false;
}

static void chan_unlock(void *arg) {
    gort_rt_spinlock_release(&((go_chan *)arg)->lock);
}

static void wake_one(gort_waiter *n) {
    if (n != NULL)
        gort_wait_wake(n->wait);
}

/* Sleeps until the timeout passes (a NULL channel's timed operation). */
static int nil_wait(int64_t timeout_ns, const char *reason) {
    if (timeout_ns == 0)
        return GO_ETIMEDOUT;
    if (timeout_ns < 0)
        gort_wait_forever(reason);
    go_sleep(timeout_ns);
    return GO_ETIMEDOUT;
}

/* timeout_ns: GO_FOREVER, 0 (try: GO_EAGAIN) or a positive wait; try_mode
 * says which code "not ready" gives at 0. */
/* With c locked and the operation unable to proceed: fails at once for a
 * zero timeout, else queues a node on q and blocks (the lock is released
 * there). The result the waker left, or GO_ETIMEDOUT. */
static int wait_on(gort_task *self, go_chan *c, gort_waitq *q, void *elem, bool is_send,
                   int64_t timeout_ns, bool try_mode) {
    if (timeout_ns == 0) {
        gort_rt_spinlock_release(&c->lock);
        return try_mode ? GO_EAGAIN : GO_ETIMEDOUT;
    }
    gort_wait w;
    gort_wait_init(&w, self, gort_deadline_after(timeout_ns), 0);
    gort_waiter n = {.wait = &w, .elem = elem, .is_send = is_send};
    gort_waitq_push(q, &n);
    if (gort_wait_block(&w, chan_unlock, c, is_send ? "chan send" : "chan receive") != NULL)
        return n.result;
    gort_rt_spinlock_acquire(&c->lock);
    gort_waitq_remove(q, &n);
    gort_rt_spinlock_release(&c->lock);
    return GO_ETIMEDOUT;
}

/* timeout_ns: GO_FOREVER, 0 (not ready: GO_EAGAIN for try_mode, else
 * GO_ETIMEDOUT) or a positive wait. */
static int send_core(gort_task *self, go_chan *c, const void *elem, int64_t timeout_ns,
                     bool try_mode) {
    gort_rt_spinlock_acquire(&c->lock);
    if (c->closed) {
        gort_rt_spinlock_release(&c->lock);
        return GO_ECLOSED;
    }
    gort_waiter *wake = NULL;
    if (send_locked(c, elem, &wake)) {
        gort_rt_spinlock_release(&c->lock);
        wake_one(wake);
        return 0;
    }
    return wait_on(self, c, &c->sendq, (void *)elem, true, timeout_ns, try_mode);
}

static int recv_core(gort_task *self, go_chan *c, void *elem, int64_t timeout_ns, bool try_mode) {
    gort_rt_spinlock_acquire(&c->lock);
    gort_waiter *wake = NULL;
    if (recv_locked(c, elem, &wake)) {
        gort_rt_spinlock_release(&c->lock);
        wake_one(wake);
        return 0;
    }
    if (c->closed) {
        gort_rt_spinlock_release(&c->lock);
        zero_value(elem, c->elem_size);
        return GO_ECLOSED;
    }
    return wait_on(self, c, &c->recvq, elem, false, timeout_ns, try_mode);
}

/* The public entry of every send and receive: argument checks, the NULL
 * channel, the implicit section (or the safepoint, from a task). */
static int chan_op(bool is_send, go_chan *c, void *elem, int64_t timeout_ns, bool try_mode) {
    if (timeout_ns < -1)
        return GO_EINVAL;
    if (c == NULL)
        return try_mode ? GO_EAGAIN
                        : nil_wait(timeout_ns,
                                   is_send ? "chan send (nil chan)" : "chan receive (nil chan)");
    gort_call call = gort_call_enter();
    int rc = is_send ? send_core(call.task, c, elem, timeout_ns, try_mode)
                     : recv_core(call.task, c, elem, timeout_ns, try_mode);
    gort_call_leave(call);
    return rc;
}

/* For the runtime's own use (timers): no safepoint, no section, never a
 * wait (so no task is asked for). */
int gort_chan_offer(go_chan *c, const void *elem) {
    return send_core(NULL, c, elem, 0, true);
}
int gort_chan_take(go_chan *c, void *elem) {
    return recv_core(NULL, c, elem, 0, true);
}

int go_chan_send(go_chan *c, const void *elem) {
    return chan_op(true, c, (void *)elem, GO_FOREVER, false);
}
int go_chan_recv(go_chan *c, void *elem) {
    return chan_op(false, c, elem, GO_FOREVER, false);
}
int go_chan_try_send(go_chan *c, const void *elem) {
    return chan_op(true, c, (void *)elem, 0, true);
}
int go_chan_try_recv(go_chan *c, void *elem) {
    return chan_op(false, c, elem, 0, true);
}
int go_chan_send_timeout(go_chan *c, const void *elem, int64_t timeout_ns) {
    return chan_op(true, c, (void *)elem, timeout_ns, false);
}
int go_chan_recv_timeout(go_chan *c, void *elem, int64_t timeout_ns) {
    return chan_op(false, c, elem, timeout_ns, false);
}

static unsigned long long caller_id(void) {
    gort_task *t = gort_sched_current_task();
    return t == NULL ? 0 : (unsigned long long)gort_sched_task_id(t);
}

void go_chan_close(go_chan *c) {
    if (c == NULL)
        gort_rt_fatal("close of nil channel (task %llu)", caller_id());
    gort_call call = gort_call_enter();
    gort_rt_spinlock_acquire(&c->lock);
    if (c->closed) {
        gort_rt_spinlock_release(&c->lock);
        gort_rt_fatal("close of closed channel (task %llu)", caller_id());
    }
    c->closed = true;
    /* Every waiter queued now gets GO_ECLOSED. Once closed is set no waiter
     * joins the queues, so they can be emptied in batches, with the lock
     * dropped and a safepoint between batches: a close that wakes a million
     * tasks must not hold pauses off. */
    for (;;) {
        gort_wake_list list = {0};
        gort_waiter *n;
        int batch = 0;
        while (batch < CLOSE_BATCH && (n = gort_waitq_claim_first(&c->recvq)) != NULL) {
            zero_value(n->elem, c->elem_size);
            n->result = GO_ECLOSED;
            gort_wake_list_add(&list, n);
            batch++;
        }
        while (batch < CLOSE_BATCH && (n = gort_waitq_claim_first(&c->sendq)) != NULL) {
            n->result = GO_ECLOSED;
            gort_wake_list_add(&list, n);
            batch++;
        }
        bool more = c->recvq.head != NULL || c->sendq.head != NULL;
        gort_rt_spinlock_release(&c->lock);
        gort_wake_list_wake(&list);
        if (!more)
            break;
        if (gort_sched_current_task() != NULL)
            go_safepoint(); /* not inside a thread's implicit section */
        gort_rt_spinlock_acquire(&c->lock);
    }
    gort_call_leave(call);
}

/* ---- select ------------------------------------------------------------------ */

#define SELECT_STACK_CASES 16

static GORT_NOINLINE uint32_t select_rand(void) {
    static __thread uint64_t state;
    if (state == 0)
        state = (uint64_t)gort_rt_nanotime() * 0x9e3779b97f4a7c15ULL | 1;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 32);
}

typedef struct lockset {
    go_chan **chans; /* sorted by address, each once */
    size_t n;
} lockset;

static void lockset_lock(lockset *ls) {
    for (size_t i = 0; i < ls->n; i++)
        gort_rt_spinlock_acquire(&ls->chans[i]->lock);
}

static void lockset_unlock(void *arg) {
    lockset *ls = arg;
    for (size_t i = ls->n; i-- > 0;)
        gort_rt_spinlock_release(&ls->chans[i]->lock);
}

static int cmp_chan(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (go_chan *const *)a, y = (uintptr_t) * (go_chan *const *)b;
    return x < y ? -1 : x > y;
}

/* Carries out case i if it can proceed now. */
static bool select_try_case(go_case *k, gort_waiter **wake) {
    go_chan *c = k->chan;
    if (k->dir == GO_RECV) {
        if (recv_locked(c, k->elem, wake)) {
            k->result = 0;
            return true;
        }
        if (c->closed) {
            zero_value(k->elem, c->elem_size);
            k->result = GO_ECLOSED;
            return true;
        }
        return false;
    }
    if (c->closed) {
        k->result = GO_ECLOSED;
        return true;
    }
    if (send_locked(c, k->elem, wake)) {
        k->result = 0;
        return true;
    }
    return false;
}

int go_select(go_case *cases, size_t n, int64_t timeout_ns) {
    if (timeout_ns < -1)
        return GO_EINVAL;
    size_t nact = 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].dir != GO_SEND && cases[i].dir != GO_RECV)
            return GO_EINVAL;
        nact += cases[i].chan != NULL;
    }
    if (nact == 0) {
        if (timeout_ns == 0)
            return GO_EAGAIN;
        return nil_wait(timeout_ns, "select (no cases)");
    }
    if (n > UINT32_MAX)
        return GO_EINVAL;

    uint32_t order_stack[SELECT_STACK_CASES];
    go_chan *chans_stack[SELECT_STACK_CASES];
    gort_waiter nodes_stack[SELECT_STACK_CASES];
    uint32_t *order = order_stack;
    go_chan **chans = chans_stack;
    gort_waiter *nodes = nodes_stack;
    if (nact > SELECT_STACK_CASES) {
        order = malloc(nact * sizeof *order);
        chans = malloc(nact * sizeof *chans);
        nodes = malloc(nact * sizeof *nodes);
        if (order == NULL || chans == NULL || nodes == NULL)
            gort_rt_fatal("out of memory for a select of %zu cases", n);
    }

    /* Poll order: a random permutation of the active cases. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].chan == NULL)
            continue;
        size_t j = select_rand() % (k + 1);
        order[k] = order[j];
        order[j] = (uint32_t)i;
        chans[k] = cases[i].chan;
        k++;
    }
    /* Lock order: by address, each channel once. */
    if (nact > 1) {
        if (nact <= SELECT_STACK_CASES) {
            for (size_t i = 1; i < nact; i++)
                for (size_t j = i; j > 0 && (uintptr_t)chans[j - 1] > (uintptr_t)chans[j]; j--) {
                    go_chan *t = chans[j];
                    chans[j] = chans[j - 1];
                    chans[j - 1] = t;
                }
        } else {
            qsort(chans, nact, sizeof *chans, cmp_chan);
        }
    }
    size_t nuniq = 0;
    for (size_t i = 0; i < nact; i++)
        if (nuniq == 0 || chans[nuniq - 1] != chans[i])
            chans[nuniq++] = chans[i];
    lockset ls = {chans, nuniq};

    gort_call call = gort_call_enter();
    lockset_lock(&ls);
    int chosen = -1;
    gort_waiter *wake = NULL;
    for (size_t i = 0; i < nact; i++) {
        if (select_try_case(&cases[order[i]], &wake)) {
            chosen = (int)order[i];
            break;
        }
    }
    if (chosen >= 0 || timeout_ns == 0) {
        lockset_unlock(&ls);
        wake_one(wake);
        gort_call_leave(call);
        if (chosen < 0)
            chosen = GO_EAGAIN;
        goto out;
    }

    gort_wait w;
    gort_wait_init(&w, call.task, gort_deadline_after(timeout_ns),
                   GORT_WAIT_SEVERAL | GORT_WAIT_STEPS);
    k = 0;
    for (size_t i = 0; i < n; i++) {
        go_case *cs = &cases[i];
        if (cs->chan == NULL)
            continue;
        gort_waiter *nd = &nodes[k++];
        *nd = (gort_waiter){.wait = &w,
                            .elem = cs->elem,
                            .chan = cs->chan,
                            .index = (uint32_t)i,
                            .is_send = cs->dir == GO_SEND};
        gort_waitq_push(nd->is_send ? &cs->chan->sendq : &cs->chan->recvq, nd);
    }
    gort_waiter *won = gort_wait_block(&w, lockset_unlock, &ls, "select");
    /* Take the other nodes off their queues. */
    lockset_lock(&ls);
    for (size_t i = 0; i < nact; i++) {
        go_chan *c = nodes[i].chan;
        gort_waitq_remove(nodes[i].is_send ? &c->sendq : &c->recvq, &nodes[i]);
    }
    lockset_unlock(&ls);
    gort_call_leave(call);
    if (won == NULL) {
        chosen = GO_ETIMEDOUT;
    } else {
        chosen = (int)won->index;
        cases[chosen].result = won->result;
    }
out:
    if (order != order_stack) {
        free(order);
        free(chans);
        free(nodes);
    }
    return chosen;
}
