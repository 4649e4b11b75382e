/* sched/timer.c - timer heaps, one per worker (DESIGN.md section 2).
 *
 * Each worker owns a 4-ary min-heap of gort_timer_entry keyed on go_now(),
 * under the heap's runtime lock. A task adds its timers to its own worker's
 * heap; a thread that is not a worker adds to a worker chosen in turn and
 * wakes it when the new timer is its earliest. Entries stay where they were
 * added: removal locks whichever heap the entry names.
 *
 * Firing: the worker publishes its earliest time in timer_due.
 *   - Idle, it arms its uv_timer for ceil(ms)+1 (libuv keeps whole
 *     milliseconds, rounded down) before it sleeps in uv_run, and fires what
 *     is due when uv_run returns; an early return finds nothing due and
 *     re-arms, so nothing fires early.
 *   - Busy, the monitor raises its poll_request once timer_due passed, and the
 *     worker fires its timers at its next safepoint (gort_sched_take_requests);
 *     a worker also fires its due timers before it looks for work elsewhere.
 *   - A worker whose task sits in a blocking region (or far from any
 *     safepoint) cannot fire its timers: the monitor wakes an idle worker,
 *     which fires the overdue entries of the other heaps in place
 *     (gort_timers_take_over). Entries never move between heaps, so rule 10's
 *     shading on a move reduces to shading on insert.
 * A firing pops (or, for a period, re-arms) the entry under the lock, counts
 * it in entry->running, and calls fire with no lock held; a removal that must
 * outlive every firing (an entry in a returning frame) waits for running to
 * drop to zero. The heaps are roots: they report every pending entry's
 * collected object to the marker, and an insert while marking shades it.
 * Epochs: a runtime stop empties every heap and bumps its epoch, so an entry
 * left from before (a stopped go_timer) reads as not pending.
 */
#include <stdlib.h>

#include "sched/internal.h"
#include "sched/timer.h"

/* A heap slot keeps the time inline, and the entry behind a handle: sifting
 * neither compares nor records positions in the entries, which live in the
 * frames of many different tasks (writing each moved entry's position into
 * its frame cost a cache and TLB miss per level: 16% of the timers
 * benchmark's timed round). A handle holds the entry and its slot, in an
 * array of the heap's own; the entry keeps its handle, for removal. */
typedef struct heap_slot {
    int64_t when;
    size_t handle;
} heap_slot;

typedef struct heap_handle {
    gort_timer_entry *e; /* NULL: free */
    size_t pos;          /* the entry's slot; a free handle: the next free one */
} heap_handle;

#define NO_HANDLE SIZE_MAX

struct gort_timer_heap {
    gort_rt_lock lock;
    heap_slot *a;    /* [lock] a 4-ary min-heap on when */
    heap_handle *hd; /* [lock] cap handles */
    size_t n, cap;   /* [lock] */
    size_t hd_free;  /* [lock] first free handle, NO_HANDLE if none */
    uint64_t epoch;  /* [lock] */
    gort_worker *w;  /* the worker whose timer_due mirrors a[0] */
};

#define MAX_HEAPS 1024
static gort_timer_heap *heaps[MAX_HEAPS]; /* by worker index; never freed */
static _Atomic uint32_t next_external;    /* round robin for other threads */

static inline gort_timer_heap *heap_of(gort_worker *w) {
    return heaps[w->index];
}

/* ---- the heap (4-ary: half the depth of a binary one) --------------------- */

static inline void put_at(gort_timer_heap *h, size_t i, heap_slot s) {
    h->a[i] = s;
    h->hd[s.handle].pos = i;
}

/* Handles from..cap-1 become free (ahead of those free already). */
static void free_handles(gort_timer_heap *h, size_t from) {
    for (size_t k = h->cap; k-- > from;) {
        h->hd[k].e = NULL;
        h->hd[k].pos = h->hd_free;
        h->hd_free = k;
    }
}

static void sift_up(gort_timer_heap *h, size_t i) {
    heap_slot s = h->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (h->a[p].when <= s.when)
            break;
        put_at(h, i, h->a[p]);
        i = p;
    }
    put_at(h, i, s);
}

static void sift_down(gort_timer_heap *h, size_t i) {
    heap_slot s = h->a[i];
    for (;;) {
        size_t c = 4 * i + 1;
        if (c >= h->n)
            break;
        size_t end = c + 4 < h->n ? c + 4 : h->n, m = c;
        for (size_t k = c + 1; k < end; k++)
            if (h->a[k].when < h->a[m].when)
                m = k;
        if (s.when <= h->a[m].when)
            break;
        put_at(h, i, h->a[m]);
        i = m;
    }
    put_at(h, i, s);
}

/* Removes the entry in slot i and frees its handle. */
static void remove_at(gort_timer_heap *h, size_t i) {
    size_t gone = h->a[i].handle;
    h->hd[gone].e = NULL;
    h->hd[gone].pos = h->hd_free;
    h->hd_free = gone;
    heap_slot last = h->a[--h->n];
    if (i == h->n)
        return;
    put_at(h, i, last);
    if (i > 0 && h->a[(i - 1) / 4].when > last.when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

static void publish_due(gort_timer_heap *h) {
    atomic_store(&h->w->timer_due, h->n > 0 ? h->a[0].when : INT64_MAX);
}

/* ---- adding and removing -------------------------------------------------- */

bool gort_timer_add(gort_timer_entry *e) {
    gort_worker *self = gort_sched_self();
    gort_worker *w = self;
    if (w == NULL) {
        if (!atomic_load(&gort_sched.running) || gort_sched.nworkers <= 0)
            return false;
        w = &gort_sched
                 .workers[atomic_fetch_add(&next_external, 1) % (uint32_t)gort_sched.nworkers];
    }
    if (e->gc_obj != NULL)
        gort_gc_shade(e->gc_obj); /* rule 10: the heaps were scanned at mark start */
    gort_timer_heap *h = heap_of(w);
    gort_rt_lock_acquire(&h->lock);
    if (h->n == h->cap) {
        size_t old = h->cap, cap = old ? 2 * old : 64;
        heap_slot *a = realloc(h->a, cap * sizeof *a);
        if (a != NULL)
            h->a = a;
        heap_handle *hd = a != NULL ? realloc(h->hd, cap * sizeof *hd) : NULL;
        if (hd == NULL)
            gort_rt_fatal("out of memory for a timer heap of %zu entries", cap);
        h->hd = hd;
        h->cap = cap;
        free_handles(h, old);
    }
    e->epoch = h->epoch;
    atomic_store_explicit(&e->heap, h, memory_order_relaxed);
    size_t id = h->hd_free;
    h->hd_free = h->hd[id].pos;
    h->hd[id].e = e;
    e->handle = id;
    h->a[h->n] = (heap_slot){e->when, id};
    h->hd[id].pos = h->n++;
    sift_up(h, h->n - 1);
    bool earliest = h->hd[id].pos == 0;
    if (earliest)
        publish_due(h);
    gort_rt_lock_release(&h->lock);
    /* A worker that sleeps must re-arm its uv_timer: wake it. A worker adding
     * to its own heap is awake and arms before it sleeps. */
    if (earliest && w != self)
        uv_async_send(&w->wake);
    return true;
}

bool gort_timer_del(gort_timer_entry *e, bool wait) {
    bool removed = false;
    for (;;) {
        gort_timer_heap *h = atomic_load_explicit(&e->heap, memory_order_acquire);
        if (h == NULL)
            break;
        gort_rt_lock_acquire(&h->lock);
        if (atomic_load_explicit(&e->heap, memory_order_relaxed) != h) {
            gort_rt_lock_release(&h->lock); /* fired and re-added elsewhere meanwhile */
            continue;
        }
        if (e->epoch == h->epoch) {
            size_t pos = h->hd[e->handle].pos;
            bool was_first = pos == 0;
            remove_at(h, pos);
            removed = true;
            if (was_first)
                publish_due(h);
        }
        atomic_store_explicit(&e->heap, NULL, memory_order_relaxed);
        gort_rt_lock_release(&h->lock);
        break;
    }
    if (wait)
        while (atomic_load_explicit(&e->running, memory_order_acquire) != 0)
            gort_rt_cpu_relax();
    return removed;
}

/* ---- firing ---------------------------------------------------------------- */

static bool run_heap(gort_timer_heap *h, int64_t now) {
    bool fired = false;
    gort_rt_lock_acquire(&h->lock);
    while (h->n > 0 && h->a[0].when <= now) {
        gort_timer_entry *e = h->hd[h->a[0].handle].e;
        /* Counted as running before it reads as out of any heap (release):
         * gort_timer_del reads e->heap without the lock, and one that saw
         * NULL before the count had gone up returned while this firing was
         * still to come, into a frame its owner had reused (a deadline of a
         * finished wait claimed the next wait at the same address). */
        atomic_fetch_add_explicit(&e->running, 1, memory_order_relaxed);
        if (e->period > 0) {
            e->when += e->period * (1 + (now - e->when) / e->period);
            h->a[0].when = e->when;
            sift_down(h, 0);
        } else {
            remove_at(h, 0);
            atomic_store_explicit(&e->heap, NULL, memory_order_release);
        }
        uint64_t seq = e->seq;
        publish_due(h);
        gort_rt_lock_release(&h->lock);
        e->fire(e, now, seq);
        atomic_fetch_sub_explicit(&e->running, 1, memory_order_release);
        fired = true;
        gort_rt_lock_acquire(&h->lock);
    }
    publish_due(h);
    gort_rt_lock_release(&h->lock);
    return fired;
}

bool gort_timers_run(gort_worker *w, int64_t now) {
    if (atomic_load_explicit(&w->timer_due, memory_order_relaxed) > now)
        return false;
    return run_heap(heap_of(w), now);
}

bool gort_timers_take_over(gort_worker *self, int64_t now, int64_t grace_ns) {
    bool fired = false;
    for (int i = 0; i < gort_sched.nworkers; i++) {
        gort_worker *v = &gort_sched.workers[i];
        int64_t due = atomic_load_explicit(&v->timer_due, memory_order_relaxed);
        if (v == self ? due <= now : due <= now - grace_ns)
            fired |= run_heap(heap_of(v), now);
    }
    return fired;
}

/* The firing work is done by gort_timers_run once uv_run returns. But uv_run
 * runs due timers before it polls: a timer that expired on the way in fires
 * there, and UV_RUN_ONCE would then block in the poll with no timer left
 * (a lost wake-up, seen as timers seconds overdue on an idle worker).
 * uv_stop makes that poll return at once. */
static void timer_cb(uv_timer_t *t) {
    uv_stop(t->loop);
}

int gort_timers_attach(gort_worker *w) {
    if (w->index >= MAX_HEAPS)
        return GO_EINVAL;
    if (heaps[w->index] == NULL) {
        heaps[w->index] = calloc(1, sizeof(gort_timer_heap));
        if (heaps[w->index] == NULL)
            return GO_ENOMEM;
        heaps[w->index]->hd_free = NO_HANDLE;
    }
    heaps[w->index]->w = w;
    atomic_store(&w->timer_due, INT64_MAX);
    return uv_timer_init(&w->loop, &w->timer) == 0 ? 0 : GO_ENOMEM;
}

void gort_timers_arm(gort_worker *w) {
    int64_t due = atomic_load(&w->timer_due);
    if (due == INT64_MAX) {
        uv_timer_stop(&w->timer);
        return;
    }
    int64_t wait = due - gort_rt_nanotime();
    uint64_t ms = wait <= 0 ? 0 : (uint64_t)((wait + 999999) / 1000000) + 1;
    uv_update_time(&w->loop);
    uv_timer_start(&w->timer, timer_cb, ms, 0);
}

void gort_timers_reset(void) {
    for (int i = 0; i < MAX_HEAPS && heaps[i] != NULL; i++) {
        gort_timer_heap *h = heaps[i];
        gort_rt_lock_acquire(&h->lock);
        h->n = 0;
        h->hd_free = NO_HANDLE;
        free_handles(h, 0);
        h->epoch++;
        /* Heaps past this run's workers belong to none (an earlier run had
         * more workers, whose array is gone). */
        if (i < gort_sched.nworkers)
            atomic_store(&h->w->timer_due, INT64_MAX);
        else
            h->w = NULL;
        gort_rt_lock_release(&h->lock);
    }
}

void gort_timers_scan(gort_gc_scanner *s) {
    for (int i = 0; i < gort_sched.nworkers && heaps[i] != NULL; i++) {
        gort_timer_heap *h = heaps[i];
        for (size_t k = 0; k < h->n; k++)
            if (h->hd[h->a[k].handle].e->gc_obj != NULL)
                gort_gc_scan_ptr(s, h->hd[h->a[k].handle].e->gc_obj);
    }
}
