/* sched/runq.c - run queues: per-worker rings, runnext, and the global queue.
 *
 * Each worker owns a ring of RUNQ_SIZE tasks (Go's runq):
 *   1. Only the owner writes slots and advances runq_tail (store-release).
 *      Work that needs a wake-up (spawn, ready) always enters through runnext
 *      by a seq_cst exchange, which orders the wake-up check that follows it
 *      (sched/worker.c "Wake-up protocol"); the task it displaces was already
 *      visible.
 *   2. Anyone takes from runq_head by compare-and-swap: the owner one at a
 *      time, a thief half of what it sees (runq_steal).
 *   3. A slot is read before the CAS that claims it; a failed CAS discards the
 *      read. Slots are relaxed atomics so that a stale read is not a data race.
 *   4. runnext holds the task readied last by this worker's running task; it
 *      runs before the ring (a ready-then-park pair hands over the worker
 *      without queueing), and thieves take it only after finding the ring
 *      empty.
 *   5. When the ring is full, the owner moves half of it, plus the new task,
 *      to the global queue in one batch.
 * The global queue is two FIFO rings of task pointers under sched.gq_lock
 * (growable arrays: taking a batch out touches no task, where walking a
 * linked list through the tasks took a cache miss per task with the lock
 * held, 7% of the timers benchmark): woken tasks (readied
 * after they ran: a sleeper whose timer fired, a receiver handed a value) and
 * fresh ones (tasks not started yet, and tasks that yielded or were
 * preempted, which go behind everything as in Go). Workers take woken tasks
 * first: finishing a started task frees its stack, starting a new one takes
 * one, and a woken task waits on behalf of whoever woke it. (With 100,000
 * sleepers spawned faster than they start, woken ones queued behind
 * unstarted ones were served 100-1000 ms late, and every late one held its
 * stack meanwhile.) Its length over both lists is also kept in the atomic
 * gq_size (changed by seq_cst read-modify-writes) so that it can be checked
 * without the lock. Workers check it first once every 61 schedules, taking a
 * fresh task first, so that neither list starves behind a busy local ring or
 * behind the other.
 * With a single worker there are no thieves and no idle worker to wake for
 * what it queues itself, so rules 1 and 2 use plain stores there (sole_worker).
 * Costs: put, get and steal are O(1) per task; a batch to the global queue is
 * O(RUNQ_SIZE/2) once per RUNQ_SIZE/2 puts.
 */
#include <stdlib.h>
#include <time.h>

#include "sched/internal.h"

#define RUNNEXT_GRACE_NS 3000

/* Under gq_lock: appends t to r, growing it (doubling) when full. */
static void ring_push(gort_task_ring *r, gort_task *t) {
    if (r->n == r->cap) {
        size_t cap = r->cap != 0 ? 2 * r->cap : 1024;
        gort_task **slots = malloc(cap * sizeof *slots);
        if (slots == NULL)
            gort_rt_fatal("out of memory: cannot grow the global run queue to %zu tasks", cap);
        for (size_t k = 0; k < r->n; k++)
            slots[k] = r->slots[(r->head + k) & (r->cap - 1)];
        free(r->slots);
        r->slots = slots;
        r->cap = cap;
        r->head = 0;
    }
    r->slots[(r->head + r->n) & (r->cap - 1)] = t;
    r->n++;
}

/* Under gq_lock: takes the oldest task of r, NULL if empty. */
static gort_task *ring_pop(gort_task_ring *r) {
    if (r->n == 0)
        return NULL;
    gort_task *t = r->slots[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
    return t;
}

static bool runq_put_slow(gort_worker *w, gort_task *t, uint32_t h, uint32_t tl) {
    gort_task *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tl - h) / 2;
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&w->runq[(h + i) % RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&w->runq_head, &h, h + n, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    batch[n] = t;
    bool started[RUNQ_SIZE / 2 + 1]; /* read before taking the lock */
    for (uint32_t i = 0; i <= n; i++)
        started[i] = batch[i]->started;
    gort_rt_lock_acquire(&gort_sched.gq_lock);
    for (uint32_t i = 0; i <= n; i++)
        ring_push(started[i] ? &gort_sched.gq_woken : &gort_sched.gq_fresh, batch[i]);
    atomic_fetch_add(&gort_sched.gq_size, (int64_t)n + 1);
    gort_rt_lock_release(&gort_sched.gq_lock);
    return true;
}

/* With one worker nobody steals, and nobody needs waking for a task this
 * worker queues (it is running): runnext and the ring's head are then this
 * worker's alone, and plain loads and stores replace the exchange and the
 * compare-and-swaps (two read-modify-writes per hand-off; pingpong on 1
 * worker spent a quarter of its time in runq_put and runq_get: 125 -> 113 ns
 * per round trip). */
static bool sole_worker(void) {
    return gort_sched.nworkers == 1;
}

void runq_put(gort_worker *w, gort_task *t, bool next) {
    if (next) {
        if (sole_worker()) {
            gort_task *old = atomic_load_explicit(&w->runnext, memory_order_relaxed);
            atomic_store_explicit(&w->runnext, t, memory_order_relaxed);
            t = old;
        } else {
            t = atomic_exchange(&w->runnext, t);
        }
        if (t == NULL)
            return;
    }
    for (;;) {
        uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
        if (tl - h < RUNQ_SIZE) {
            atomic_store_explicit(&w->runq[tl % RUNQ_SIZE], t, memory_order_relaxed);
            atomic_store_explicit(&w->runq_tail, tl + 1, memory_order_release);
            return;
        }
        if (runq_put_slow(w, t, h, tl))
            return;
    }
}

gort_task *runq_get(gort_worker *w, bool *inherit) {
    bool sole = sole_worker();
    gort_task *next = atomic_load_explicit(&w->runnext, memory_order_relaxed);
    if (next != NULL) {
        if (sole) {
            atomic_store_explicit(&w->runnext, NULL, memory_order_relaxed);
            *inherit = true;
            return next;
        }
        if (atomic_compare_exchange_strong(&w->runnext, &next, NULL)) {
            *inherit = true;
            return next;
        }
    }
    *inherit = false;
    for (;;) {
        uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
        if (h == tl)
            return NULL;
        gort_task *t = atomic_load_explicit(&w->runq[h % RUNQ_SIZE], memory_order_relaxed);
        if (sole) {
            atomic_store_explicit(&w->runq_head, h + 1, memory_order_relaxed);
            return t;
        }
        if (atomic_compare_exchange_weak_explicit(&w->runq_head, &h, h + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return t;
    }
}

/* Takes half of victim's ring into w's ring starting at slot index start.
 * Returns how many were taken. */
static uint32_t runq_grab(gort_worker *victim, gort_task *_Atomic *ring, uint32_t start,
                          bool steal_runnext) {
    for (;;) {
        uint32_t h = atomic_load_explicit(&victim->runq_head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&victim->runq_tail, memory_order_acquire);
        uint32_t n = tl - h;
        n = n - n / 2;
        if (n == 0) {
            if (!steal_runnext)
                return 0;
            gort_task *next = atomic_load(&victim->runnext);
            if (next == NULL)
                return 0;
            /* A running victim is about to switch to its runnext (a task it
             * just readied, typically the partner of a ping-pong): give it
             * a few microseconds first, as Go does, rather than move the
             * pair apart and pay a wake-up on every exchange. Asleep, not
             * spinning: a thief polling runnext's cache line slows the
             * victim's every exchange, and the kernel's timer slack makes
             * the sleep tens of microseconds, during which wakep sees this
             * worker spinning and sends no further wake-ups (pingpong on 2
             * workers: 440 ns per round trip spinning, 175 asleep). */
            if (atomic_load_explicit(&victim->current, memory_order_relaxed) != NULL) {
                struct timespec ts = {0, RUNNEXT_GRACE_NS};
                nanosleep(&ts, NULL);
            }
            if (!atomic_compare_exchange_strong(&victim->runnext, &next, NULL))
                return 0;
            atomic_store_explicit(&ring[start % RUNQ_SIZE], next, memory_order_relaxed);
            return 1;
        }
        if (n > RUNQ_SIZE / 2)
            continue; /* head and tail read at different times: retry */
        for (uint32_t i = 0; i < n; i++) {
            gort_task *t =
                atomic_load_explicit(&victim->runq[(h + i) % RUNQ_SIZE], memory_order_relaxed);
            atomic_store_explicit(&ring[(start + i) % RUNQ_SIZE], t, memory_order_relaxed);
        }
        if (atomic_compare_exchange_strong_explicit(&victim->runq_head, &h, h + n,
                                                    memory_order_acq_rel, memory_order_relaxed))
            return n;
    }
}

gort_task *runq_steal(gort_worker *w, gort_worker *victim, bool steal_runnext) {
    uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    uint32_t n = runq_grab(victim, w->runq, tl, steal_runnext);
    if (n == 0)
        return NULL;
    n--;
    gort_task *t = atomic_load_explicit(&w->runq[(tl + n) % RUNQ_SIZE], memory_order_relaxed);
    if (n > 0)
        atomic_store_explicit(&w->runq_tail, tl + n, memory_order_release);
    gort_sched_count(&w->n_steal);
    return t;
}

bool runq_empty(gort_worker *w) {
    for (;;) {
        uint32_t h = atomic_load(&w->runq_head);
        uint32_t tl = atomic_load(&w->runq_tail);
        gort_task *next = atomic_load(&w->runnext);
        if (atomic_load(&w->runq_tail) == tl)
            return h == tl && next == NULL;
    }
}

static void gq_put_on(gort_task_ring *r, gort_task *t) {
    gort_rt_lock_acquire(&gort_sched.gq_lock);
    ring_push(r, t);
    atomic_fetch_add(&gort_sched.gq_size, 1);
    gort_rt_lock_release(&gort_sched.gq_lock);
}

void gq_put(gort_task *t) {
    gq_put_on(&gort_sched.gq_fresh, t);
}

void gq_put_woken(gort_task *t) {
    gq_put_on(&gort_sched.gq_woken, t);
}

/* Under gq_lock: the oldest woken task, else the oldest fresh one (the other
 * way round with fresh_first). */
static gort_task *gq_pop_locked(bool fresh_first) {
    gort_task_ring *first = fresh_first ? &gort_sched.gq_fresh : &gort_sched.gq_woken;
    gort_task_ring *second = fresh_first ? &gort_sched.gq_woken : &gort_sched.gq_fresh;
    gort_task *t = ring_pop(first);
    return t != NULL ? t : ring_pop(second);
}

gort_task *gq_get_locked(gort_worker *w, int max, bool fresh_first) {
    int64_t size = atomic_load(&gort_sched.gq_size);
    if (size == 0)
        return NULL;
    int64_t n = size / gort_sched.nworkers + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    /* Only as many as the local ring has room for, so that runq_put below
     * never spills back to the global queue (whose lock we hold). */
    uint32_t used = atomic_load(&w->runq_tail) - atomic_load(&w->runq_head);
    if (n > (int64_t)(RUNQ_SIZE - used) + 1)
        n = (int64_t)(RUNQ_SIZE - used) + 1;
    gort_task *first = gq_pop_locked(fresh_first);
    for (int64_t i = 1; i < n; i++)
        runq_put(w, gq_pop_locked(fresh_first), false);
    atomic_fetch_sub(&gort_sched.gq_size, n);
    return first;
}
