/* gc/alloc.c - allocation: per-thread caches, central span lists, sweeping.
 *
 * Each worker and attached thread has a gc_cache (its gort_member.gc_local)
 * holding one span per span class; go_new takes the next free slot of that
 * span with no atomic read-modify-write (the fast path). When the span is full
 * the slow path, which is a safepoint, hands it back to the central list of
 * its class and takes another: a swept span with free slots, else an unswept
 * one it sweeps itself (lazy sweeping), else a fresh span from the page heap.
 *
 * Central lists, per span class, under the class's lock:
 *   partial  swept this cycle, has free slots
 *   full     swept this cycle, no free slot (large objects live here)
 *   unswept  not yet swept since the last mark termination
 * Mark termination (world stopped) releases every cache (DESIGN.md section 7
 * rule 2) and moves partial and full onto unswept. A sweeper pops a span
 * before sweeping it, so it owns it alone; sweeps_active counts sweeps in
 * progress so that sweep termination can wait for them. Sweeping never runs
 * while marking: the next cycle finishes it before it stops the world.
 *
 * Sweeping a span turns its mark bits into allocation bits. An unmarked object
 * with the finalizer bit is kept (its mark bit set first, rule 4), its bit
 * cleared, and queued for its finalizer (gc/final.c).
 */
#include <stdlib.h>
#include <string.h>

#include "gc/heap.h"
#include "sched/sched.h"

#ifdef GORT_RT_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
#define ASAN_POISON(p, n) __asan_poison_memory_region((p), (n))
#define ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define ASAN_POISON(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define POISON_WORD 0xdeadbeefdeadbeefULL

typedef struct central {
    gort_rt_lock lock;
    gc_span *list[LIST_UNSWEPT + 1]; /* by LIST_* */
} central;

static central centrals[GC_NSPC]; /* spc 0 and 1 (class 0): large objects, on list full */
static _Atomic int sweeps_active;
static _Atomic int64_t unswept_spans;
static _Alignas(16) char zerobase[16]; /* what zero-byte allocations return */

/* ---- lists -------------------------------------------------------------------- */

static void list_push(central *c, gc_span *s, uint8_t which) {
    s->list = which;
    s->prev = NULL;
    s->next = c->list[which];
    if (s->next != NULL)
        s->next->prev = s;
    c->list[which] = s;
    if (which == LIST_UNSWEPT)
        atomic_fetch_add_explicit(&unswept_spans, 1, memory_order_relaxed);
}

static void list_remove(central *c, gc_span *s) {
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->list[s->list] = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->list == LIST_UNSWEPT)
        atomic_fetch_sub_explicit(&unswept_spans, 1, memory_order_relaxed);
    s->next = s->prev = NULL;
    s->list = LIST_NONE;
}

static central *central_of(const gc_span *s) {
    return &centrals[s->cls * 2 + (s->noscan ? 1 : 0)];
}

/* ---- sweeping ------------------------------------------------------------------ */

enum { SWEPT_FREED, SWEPT_FULL, SWEPT_PARTIAL };

/* What a sweep does with a span it finds empty. */
typedef enum empty_policy {
    EMPTY_KEEP,    /* an allocator of its class takes it as it is */
    EMPTY_RETAIN,  /* keep it one cycle on the partial list (background sweeping) */
    EMPTY_RELEASE, /* back to the page heap now (go_gc_collect, sweep termination) */
} empty_policy;

static void poison_object(void *p, size_t n) {
    if (gc_dbg.poison) {
        uint64_t *w = p;
        for (size_t i = 0; i < n / 8; i++)
            w[i] = POISON_WORD;
    }
    ASAN_POISON(p, n);
}

static void span_release_memory(gc_span *s) {
    gc_meta_free(s->bits_block, s->bits_bytes);
    gc_span_free(s);
}

static uint64_t below_mask(uint32_t freeindex, size_t w) {
    size_t lo = w * 64;
    if (freeindex >= lo + 64)
        return ~(uint64_t)0;
    if (freeindex <= lo)
        return 0;
    return ((uint64_t)1 << (freeindex - lo)) - 1;
}

/* The caller owns s (popped from a list, or holds it otherwise). A span left
 * empty is kept as it is, with no page-heap round trip, when an allocator
 * wants a span of its class, or by the background sweeper when an allocator
 * took it since it was last swept (a heap that swings between live and goal
 * refills the same spans every cycle); an empty span nobody took for a whole
 * cycle, or any empty span when go_gc_collect sweeps, goes back to the page
 * heap, where other classes and large objects can have its pages. */
static int sweep_span(gc_span *s, empty_policy empty) {
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SPAN_LARGE) {
        bool marked = mark_get(s, 0);
        if (!marked && bit_get(s->finbits, 0)) {
            /* kept for its finalizer (rule 4) */
            bit_put(s->finbits, 0, false);
            gc_final_queue((void *)s->start);
            marked = true;
        }
        if (marked) {
            atomic_store_explicit(&s->marks[0], 0, memory_order_relaxed);
            return SWEPT_FULL;
        }
        size_t bytes = s->npages * GC_PAGE_SIZE;
        atomic_fetch_sub_explicit(&gc_heap_alloc, (int64_t)bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&gc_bytes_freed, bytes, memory_order_relaxed);
        if (gc_dbg.poison)
            poison_object((void *)s->start, s->large_size < 4096 ? s->large_size : 4096);
        span_release_memory(s);
        return SWEPT_FREED;
    }
    size_t nfreed = 0, nalloc = 0;
    for (size_t w = 0; w < s->bits_words; w++) {
        uint64_t allocated = atomic_load_explicit(&s->allocbits[w], memory_order_relaxed) |
                             below_mask(s->freeindex, w);
        uint64_t marked = 0;
        if (allocated != 0) /* eight mark bytes (each 0 or 1) into eight bits at a time */
            for (size_t k = 0; k < 8; k++) {
                uint64_t bytes;
                memcpy(&bytes, (const void *)&s->marks[w * 64 + k * 8], 8);
                marked |= ((bytes * 0x0102040810204080ULL) >> 56) << (k * 8);
            }
        uint64_t dead = allocated & ~marked;
        uint64_t fin = dead & atomic_load_explicit(&s->finbits[w], memory_order_relaxed);
        if (fin != 0) {
            marked |= fin; /* kept for their finalizers (rule 4) */
            dead &= ~fin;
            atomic_store_explicit(&s->finbits[w],
                                  atomic_load_explicit(&s->finbits[w], memory_order_relaxed) & ~fin,
                                  memory_order_relaxed);
            for (uint64_t f = fin; f != 0; f &= f - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(f);
                gc_final_queue((void *)(s->start + i * s->elemsize));
            }
        }
        if (dead != 0) {
            uint64_t custom = atomic_load_explicit(&s->custombits[w], memory_order_relaxed);
            if (custom & dead)
                atomic_store_explicit(&s->custombits[w], custom & ~dead, memory_order_relaxed);
            nfreed += (size_t)__builtin_popcountll(dead);
            for (uint64_t d = dead; d != 0; d &= d - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(d);
                poison_object((void *)(s->start + i * s->elemsize), s->elemsize);
            }
        }
        atomic_store_explicit(&s->allocbits[w], marked, memory_order_relaxed);
        nalloc += (size_t)__builtin_popcountll(marked);
    }
    memset((void *)s->marks, 0, s->bits_words * 64); /* no marker runs during sweeping */
    s->freeindex = 0;
    s->alloc_cache = 0;
    s->nalloc = (uint32_t)nalloc;
    atomic_store_explicit(&s->fifs, 0, memory_order_release);
    if (nfreed != 0) {
        s->needzero = true;
        size_t bytes = nfreed * s->elemsize;
        atomic_fetch_sub_explicit(&gc_heap_alloc, (int64_t)bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&gc_bytes_freed, bytes, memory_order_relaxed);
    }
    if (nalloc == 0 &&
        (empty == EMPTY_RELEASE || (empty == EMPTY_RETAIN && s->idle_sweeps++ > 0))) {
        span_release_memory(s);
        return SWEPT_FREED;
    }
    return nalloc == s->nelems ? SWEPT_FULL : SWEPT_PARTIAL;
}

/* Pops an unswept span of central c and sweeps it. Returns the span if it
 * has free slots and want_partial (the caller then owns it), else NULL.
 * *none is set when c had no unswept span. */
static gc_span *sweep_from(central *c, bool want_partial, empty_policy empty, bool *none) {
    gort_rt_lock_acquire(&c->lock);
    gc_span *s = c->list[LIST_UNSWEPT];
    if (s == NULL) {
        gort_rt_lock_release(&c->lock);
        *none = true;
        return NULL;
    }
    *none = false;
    list_remove(c, s);
    atomic_fetch_add(&sweeps_active, 1);
    gort_rt_lock_release(&c->lock);
    int r = sweep_span(s, want_partial ? EMPTY_KEEP : empty);
    if (r == SWEPT_PARTIAL && want_partial) {
        /* The caller owns s until it is in its cache: no safepoint before
         * that (rule 5), so the finalizer runner this sweep may need is
         * started by the caller's next slow path, not here (go_spawn is a
         * safepoint: a whole cycle could pass while s is in no list and in
         * no cache, and s would miss its sweep and keep stale marks). */
        atomic_fetch_sub(&sweeps_active, 1);
        return s;
    }
    if (r != SWEPT_FREED) {
        gort_rt_lock_acquire(&c->lock);
        list_push(c, s, r == SWEPT_FULL ? LIST_FULL : LIST_PARTIAL);
        gort_rt_lock_release(&c->lock);
    }
    atomic_fetch_sub(&sweeps_active, 1);
    gc_final_queue_done();
    return NULL;
}

bool gc_sweep_pending(void) {
    return atomic_load_explicit(&unswept_spans, memory_order_relaxed) > 0;
}

bool gc_sweep_one(void) {
    static _Atomic unsigned next_spc;
    if (!gc_sweep_pending())
        return false;
    unsigned start = atomic_fetch_add_explicit(&next_spc, 1, memory_order_relaxed);
    for (unsigned k = 0; k < GC_NSPC; k++) {
        bool none;
        sweep_from(&centrals[(start + k) % GC_NSPC], false, EMPTY_RETAIN, &none);
        if (!none)
            return true;
    }
    return false;
}

void gc_sweep_all(void) {
    for (int spc = 0; spc < GC_NSPC; spc++) {
        bool none = false;
        while (!none) {
            sweep_from(&centrals[spc], false, EMPTY_RELEASE, &none);
            go_safepoint(); /* between spans: none is held */
        }
    }
    /* A sweep in progress elsewhere is between two safepoints of its thread:
     * it ends soon. */
    for (unsigned spins = 0; atomic_load(&sweeps_active) != 0; spins++) {
        go_safepoint(); /* an attached thread waiting here must not hold a pause off */
        if (spins % 64 == 63 && gort_sched_current_task() != NULL)
            go_yield();
        else
            gort_rt_cpu_relax();
    }
}

void gc_central_mark_done(void) {
    for (int spc = 0; spc < GC_NSPC; spc++) {
        central *c = &centrals[spc];
        gort_rt_lock_acquire(&c->lock);
        for (int which = LIST_PARTIAL; which <= LIST_FULL; which++) {
            gc_span *s;
            while ((s = c->list[which]) != NULL) {
                list_remove(c, s);
                list_push(c, s, LIST_UNSWEPT);
            }
        }
        gort_rt_lock_release(&c->lock);
    }
}

/* ---- spans for the caches -------------------------------------------------------- */

/* Sets the span's bitmaps up; false on out of memory. */
static bool span_bits_init(gc_span *s, size_t nelems, bool with_ptrbits) {
    size_t words = (nelems + 63) / 64;
    size_t ptrwords = with_ptrbits ? s->npages * GC_PAGE_SIZE / 8 / 64 : 0;
    size_t markwords = words * 8; /* a byte per object, whole words of 64 */
    size_t bytes = (3 * words + ptrwords + markwords) * sizeof(uint64_t);
    _Atomic uint64_t *b = gc_meta_alloc(bytes);
    if (b == NULL)
        return false;
    s->bits_block = b;
    s->bits_bytes = bytes;
    s->bits_words = words;
    s->allocbits = b;
    s->finbits = b + words;
    s->custombits = b + 2 * words;
    s->ptrbits = with_ptrbits ? b + 3 * words : NULL;
    s->marks = (_Atomic uint8_t *)(b + 3 * words + ptrwords);
    atomic_store_explicit(&s->has_custom, false, memory_order_relaxed);
    return true;
}

static gc_span *span_new_small(int spc) {
    int cls = spc / 2;
    bool noscan = spc & 1;
    gc_span *s = gc_span_alloc(gc_class_npages[cls], cls, noscan);
    if (s == NULL)
        return NULL;
    size_t size = gc_class_size[cls];
    size_t nelems = s->npages * GC_PAGE_SIZE / size;
    if (!span_bits_init(s, nelems, !noscan)) {
        gc_span_free(s);
        return NULL;
    }
    ASAN_UNPOISON((void *)s->start, s->npages * GC_PAGE_SIZE);
    s->elemsize = (uint32_t)size;
    s->obj_bytes = size;
    s->ptr_field = size / 8 >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << (size / 8)) - 1;
    s->nelems = (uint32_t)nelems;
    s->divmul = (((uint64_t)1 << 32) + size - 1) / size;
    s->freeindex = 0;
    s->nalloc = 0;
    s->alloc_cache = 0;
    s->idle_sweeps = 0;
    atomic_store_explicit(&s->fifs, 0, memory_order_relaxed);
    gc_span_publish(s, SPAN_SMALL);
    return s;
}

/* A span of class spc with a free slot, owned by the caller; NULL if the
 * page heap has none to give. */
static gc_span *central_take(int spc) {
    central *c = &centrals[spc];
    for (;;) {
        gort_rt_lock_acquire(&c->lock);
        gc_span *s = c->list[LIST_PARTIAL];
        if (s != NULL) {
            list_remove(c, s);
            gort_rt_lock_release(&c->lock);
            s->idle_sweeps = 0;
            return s;
        }
        gort_rt_lock_release(&c->lock);
        bool none;
        s = sweep_from(c, true, EMPTY_KEEP, &none);
        if (s != NULL) {
            s->idle_sweeps = 0;
            return s;
        }
        if (none)
            return span_new_small(spc);
    }
}

/* Hands a cached span back to its central list. */
static void central_put(gc_span *s) {
    central *c = central_of(s);
    size_t unused = (size_t)(s->nelems - s->nalloc) * s->elemsize;
    atomic_fetch_sub_explicit(&gc_heap_alloc, (int64_t)unused, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gc_bytes_allocated, unused, memory_order_relaxed);
    gort_rt_lock_acquire(&c->lock);
    list_push(c, s, s->nalloc == s->nelems ? LIST_FULL : LIST_PARTIAL);
    gort_rt_lock_release(&c->lock);
}

void gc_cache_release_all(gc_cache *c) {
    for (int spc = 0; spc < GC_NSPC; spc++) {
        gc_span *s = c->alloc[spc];
        if (s != NULL) {
            c->alloc[spc] = NULL;
            central_put(s);
        }
    }
    c->memo_type = NULL;
}

/* The calling thread's cache, once it has one: go_new's fast path reads it
 * directly. Runtime thread-locals are otherwise read through noinline
 * accessors, because a task may resume on another worker after a switch and
 * the compiler must not reuse a thread-local address across one; go_new
 * reads this one once, at its start, and switches nowhere on its fast path,
 * and everything after a possible switch (the slow path) asks again through
 * gc_cache_self. A worker's cache is its member's; its thread-local dies
 * with the worker thread, before the cache is freed (runtime teardown); a
 * detaching thread clears its own. */
static __thread gc_cache *tls_cache;

void gort_gc_release_local(void **gc_local) {
    gc_cache *c = *gc_local;
    if (c == NULL)
        return;
    if (tls_cache == c)
        tls_cache = NULL;
    gc_mark_flush_cache(c);
    gc_cache_release_all(c);
    *gc_local = NULL;
    free(c);
}

/* ---- the calling thread's cache ------------------------------------------------- */

gc_cache *gc_cache_self(void) {
    void **slot = gort_sched_gc_local_slot();
    if (GORT_UNLIKELY(slot == NULL))
        gort_rt_fatal("allocation from a thread that is not attached to the runtime "
                      "(call go_thread_attach first)");
    gc_cache *c = *slot;
    if (GORT_UNLIKELY(c == NULL)) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            gort_rt_fatal("out of memory for an allocation cache");
        *slot = c;
    }
    tls_cache = c;
    return c;
}

/* ---- pointer bitmaps --------------------------------------------------------------- */

static void check_type(const go_type *t) {
    if (GORT_UNLIKELY(t == NULL))
        gort_rt_fatal("go_new: NULL type");
    for (size_t i = 0; i < t->nptrs; i++) {
        size_t off = t->ptr_offsets[i];
        if (off % 8 != 0 || off + 8 > t->size)
            gort_rt_fatal("go_new: type %s: pointer field at offset %zu is not an aligned "
                          "word inside its %zu bytes",
                          t->name != NULL ? t->name : "(unnamed)", off, t->size);
    }
}

/* The pointer words of n objects of t, as a mask (the caller checked that
 * n * t->size <= 512). */
static uint64_t type_mask(const go_type *t, size_t n) {
    uint64_t one = 0;
    for (size_t i = 0; i < t->nptrs; i++)
        one |= (uint64_t)1 << (t->ptr_offsets[i] / 8);
    uint64_t m = 0;
    for (size_t k = 0; k < n; k++)
        m |= one << (k * t->size / 8);
    return m;
}

/* Writes nw bits (nw <= 64; field: nw ones) of mask at bit wb of bm. [owner] */
static inline void ptrbits_assign(_Atomic uint64_t *bm, size_t wb, size_t nw, uint64_t field,
                                  uint64_t mask) {
    size_t w = wb >> 6, sh = wb & 63;
    uint64_t old = atomic_load_explicit(&bm[w], memory_order_relaxed);
    atomic_store_explicit(&bm[w], (old & ~(field << sh)) | (mask << sh), memory_order_relaxed);
    if (sh + nw > 64) {
        uint64_t f2 = ((uint64_t)1 << (sh + nw - 64)) - 1;
        old = atomic_load_explicit(&bm[w + 1], memory_order_relaxed);
        atomic_store_explicit(&bm[w + 1], (old & ~f2) | (mask >> (64 - sh)), memory_order_relaxed);
    }
}

/* Pointer bits of a slot: t repeated n times, or none (t NULL). */
static void ptrbits_write(gc_cache *c, gc_span *s, size_t idx, const go_type *t, size_t n) {
    size_t nw = s->elemsize / 8;
    size_t wb = idx * nw;
    if (nw <= 64) {
        uint64_t mask;
        if (t == NULL)
            mask = 0;
        else if (n == 1 && c->memo_type == t)
            mask = c->memo_mask;
        else {
            check_type(t);
            mask = type_mask(t, n);
            if (n == 1) {
                c->memo_type = t;
                c->memo_mask = mask;
            }
        }
        ptrbits_assign(s->ptrbits, wb, nw, s->ptr_field, mask);
        return;
    }
    for (size_t k = 0; k < nw; k += 64) {
        size_t bits = nw - k < 64 ? nw - k : 64;
        ptrbits_assign(s->ptrbits, wb + k, bits,
                       bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1, 0);
    }
    if (t == NULL)
        return;
    check_type(t);
    for (size_t e = 0; e < n; e++)
        for (size_t i = 0; i < t->nptrs; i++)
            bit_put(s->ptrbits, wb + (e * t->size + t->ptr_offsets[i]) / 8, true);
}

/* ---- allocation ---------------------------------------------------------------------- */

/* Zeroes a slot of a span that held data. Up to 64 bytes (every class is 8
 * or a multiple of 16) with plain stores, written out so that the compiler
 * does not turn them back into a call to memset. */
static inline void zero_small(void *p, size_t bytes) {
    uint64_t *w = p;
    w[0] = 0;
    if (bytes > 8) {
        w[1] = 0;
        if (bytes > 16) {
            w[2] = w[3] = 0;
            if (bytes > 32) {
                w[4] = w[5] = 0;
                if (bytes > 48)
                    w[6] = w[7] = 0;
            }
        }
    }
}

static inline void zero_slot(void *p, size_t bytes) {
    ASAN_UNPOISON(p, bytes);
    if (bytes <= 64)
        zero_small(p, bytes);
    else
        memset(p, 0, bytes);
}

/* The next free slot at or after s->freeindex into s->alloc_cache; false if none. */
static bool span_refill_cache(gc_span *s) {
    uint32_t idx = s->freeindex;
    while (idx < s->nelems) {
        uint64_t free =
            ~atomic_load_explicit(&s->allocbits[idx >> 6], memory_order_relaxed) >> (idx & 63);
        if (free != 0) {
            idx += (uint32_t)__builtin_ctzll(free);
            if (idx >= s->nelems)
                break;
            s->freeindex = idx;
            s->alloc_cache = free >> __builtin_ctzll(free);
            return true;
        }
        idx = (idx | 63) + 1;
    }
    s->freeindex = s->nelems;
    s->alloc_cache = 0;
    return false;
}

static inline int64_t span_take(gc_span *s) {
    uint64_t ac = s->alloc_cache;
    if (GORT_UNLIKELY(ac == 0)) {
        if (!span_refill_cache(s))
            return -1;
        ac = s->alloc_cache;
    }
    unsigned b = (unsigned)__builtin_ctzll(ac);
    uint32_t idx = s->freeindex + b;
    if (GORT_UNLIKELY(idx >= s->nelems)) {
        s->freeindex = s->nelems;
        s->alloc_cache = 0;
        return -1;
    }
    s->freeindex = idx + 1;
    s->alloc_cache = (ac >> b) >> 1;
    s->nalloc++;
    return idx;
}

/* A slot of class spc from the calling thread's cache, refilling it (a
 * safepoint: the task may come back on another worker, so the cache is
 * looked up again). Returns NULL when out of memory. */
static GORT_NOINLINE void *alloc_slow(int spc, gc_cache **cp, gc_span **sp, size_t *idxp) {
    go_safepoint();
    gc_final_queue_done(); /* finalizers queued by a lazy sweep: start their runner */
    gc_maybe_trigger();
    bool collected = false;
    for (;;) {
        gc_cache *c = gc_cache_self();
        gc_span *old = c->alloc[spc];
        if (old != NULL) {
            int64_t idx = span_take(old);
            if (idx >= 0) { /* a cycle in between did not take it, and it has room */
                *cp = c;
                *sp = old;
                *idxp = (size_t)idx;
                return (void *)(old->start + (size_t)idx * old->elemsize);
            }
            c->alloc[spc] = NULL;
            central_put(old);
        }
        gc_span *s = central_take(spc);
        if (s == NULL) {
            if (collected)
                return NULL;
            gc_collect_for_oom();
            collected = true;
            continue;
        }
        /* A sweep on the way may have reached a safepoint (it starts the
         * finalizer runner) and the task may now run on another worker,
         * whose cache may hold a span of this class: hand that one back
         * rather than lose it from every list. */
        c = gc_cache_self();
        if (c->alloc[spc] != NULL) {
            gc_span *other = c->alloc[spc];
            c->alloc[spc] = NULL;
            central_put(other);
        }
        size_t avail = (size_t)(s->nelems - s->nalloc) * s->elemsize;
        atomic_fetch_add_explicit(&gc_heap_alloc, (int64_t)avail, memory_order_relaxed);
        atomic_fetch_add_explicit(&gc_bytes_allocated, avail, memory_order_relaxed);
        c->alloc[spc] = s;
        int64_t idx = span_take(s);
        if (idx < 0)
            gort_rt_fatal("heap: a span with free slots has none (class %d)", spc / 2);
        *cp = c;
        *sp = s;
        *idxp = (size_t)idx;
        return (void *)(s->start + (size_t)idx * s->elemsize);
    }
}

/* Allocates size bytes (small) of span class noscan or not, and types the
 * slot: t repeated n times (NULL: no pointer fields), or a custom scan. */
static inline void *alloc_small(size_t size, const go_type *t, size_t n, gort_gc_scan_fn scan) {
    bool noscan = t == NULL && scan == NULL;
    int spc = (int)gc_size_to_class(size) * 2 + (noscan ? 1 : 0);
    gc_cache *c = gc_cache_self();
    gc_span *s = c->alloc[spc];
    int64_t i;
    size_t idx;
    void *p;
    if (GORT_LIKELY(s != NULL) && (i = span_take(s)) >= 0) {
        idx = (size_t)i;
        p = (void *)(s->start + idx * s->elemsize);
    } else {
        p = alloc_slow(spc, &c, &s, &idx);
        if (p == NULL)
            return NULL;
    }
    if (s->needzero)
        zero_slot(p, s->elemsize);
    if (!noscan) {
        ptrbits_write(c, s, idx, t, n);
        if (scan != NULL) { /* the header, before the object is published */
            __atomic_store_n((gort_gc_scan_fn *)p, scan, __ATOMIC_RELAXED);
            bit_put(s->custombits, idx, true);
            atomic_store_explicit(&s->has_custom, true, memory_order_relaxed);
        }
    }
    if (GORT_UNLIKELY(gort_gc_marking()))
        gc_mark_new_object(s, idx);
    atomic_store_explicit(&s->fifs, s->freeindex, memory_order_release);
    return p;
}

static void *alloc_large(size_t size, const go_type *t, size_t n, gort_gc_scan_fn scan) {
    if (t != NULL)
        check_type(t);
    if (size > gc_heap_state.reserved)
        return NULL; /* more than the heap's address space: no collection helps */
    go_safepoint();
    gc_maybe_trigger();
    (void)gc_cache_self(); /* fatal on an unattached thread */
    size_t npages = (size + GC_PAGE_SIZE - 1) / GC_PAGE_SIZE;
    bool noscan = t == NULL && scan == NULL;
    gc_span *s = gc_span_alloc(npages, 0, noscan);
    if (s == NULL) {
        gc_collect_for_oom();
        s = gc_span_alloc(npages, 0, noscan);
        if (s == NULL)
            return NULL;
    }
    if (!span_bits_init(s, 1, false)) {
        gc_span_free(s);
        return NULL;
    }
    void *p = (void *)s->start;
    ASAN_UNPOISON(p, npages * GC_PAGE_SIZE);
    if (s->needzero)
        memset(p, 0, size);
    s->elemsize =
        (uint32_t)(npages * GC_PAGE_SIZE > UINT32_MAX ? UINT32_MAX : npages * GC_PAGE_SIZE);
    s->obj_bytes = npages * GC_PAGE_SIZE;
    s->nelems = 1;
    s->divmul = 0;
    s->nalloc = 1;
    s->large_size = size;
    s->large_type = t;
    s->large_count = n;
    s->large_scan = scan;
    if (scan != NULL)
        __atomic_store_n((gort_gc_scan_fn *)p, scan, __ATOMIC_RELAXED);
    bit_put(s->allocbits, 0, true);
    size_t bytes = npages * GC_PAGE_SIZE;
    atomic_fetch_add_explicit(&gc_heap_alloc, (int64_t)bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&gc_bytes_allocated, bytes, memory_order_relaxed);
    if (gort_gc_marking())
        gc_mark_new_object(s, 0);
    gc_span_publish(s, SPAN_LARGE);
    atomic_store_explicit(&s->fifs, 1, memory_order_release);
    central *c = &centrals[noscan ? 1 : 0];
    gort_rt_lock_acquire(&c->lock);
    list_push(c, s, LIST_FULL);
    gort_rt_lock_release(&c->lock);
    return p;
}

/* The span and index of an object this thread just allocated. */
static void object_slot(void *p, gc_span **s, size_t *idx) {
    *s = gc_span_of((uintptr_t)p);
    *idx = atomic_load_explicit(&(*s)->state, memory_order_relaxed) == SPAN_LARGE
               ? 0
               : gc_span_index(*s, (uintptr_t)p);
}

static void *alloc_typed(const go_type *t, size_t n) {
    if (GORT_UNLIKELY(atomic_load_explicit(&gc_stress_flag, memory_order_relaxed) != 0))
        gc_stress_tick();
    size_t size;
    if (__builtin_mul_overflow(t->size, n, &size))
        return NULL;
    if (size == 0)
        return zerobase;
    const go_type *scan_t = t->nptrs != 0 ? t : NULL;
    void *p = size <= GORT_GC_MAX_SMALL ? alloc_small(size, scan_t, n, NULL)
                                        : alloc_large(size, scan_t, n, NULL);
    if (p != NULL && t->finalize != NULL) {
        gc_span *s;
        size_t idx;
        object_slot(p, &s, &idx);
        bit_put(s->finbits, idx, true);
        if (!gc_final_register(p, t, n)) {
            bit_put(s->finbits, idx, false);
            return NULL;
        }
    }
    return p;
}

/* The fast path: an object of at most 512 bytes of the memoised type (or of
 * no pointers), without finalizer, from the span of the calling thread's
 * cache, while the collector does not mark: no call, so no register saves.
 * Everything else goes through go_new_slow. */
static GORT_NOINLINE void *go_new_slow(const go_type *t) {
    if (GORT_UNLIKELY(t == NULL))
        check_type(t);
    return alloc_typed(t, 1);
}

void *go_new(const go_type *t) {
    gc_cache *c = tls_cache;
    if (GORT_LIKELY(c != NULL && t != NULL)) {
        size_t size = t->size;
        bool noscan = t->nptrs == 0;
        if (GORT_LIKELY(size - 1 < 512 && t->finalize == NULL && (noscan || c->memo_type == t) &&
                        !gort_gc_marking() &&
                        atomic_load_explicit(&gc_stress_flag, memory_order_relaxed) == 0)) {
            gc_span *s = c->alloc[gc_class_by_8[(size + 7) >> 3] * 2 + noscan];
            uint64_t ac;
            if (GORT_LIKELY(s != NULL && (ac = s->alloc_cache) != 0 &&
                            (s->elemsize <= 64 || !s->needzero))) {
                unsigned b = (unsigned)__builtin_ctzll(ac);
                uint32_t idx = s->freeindex + b;
                if (GORT_LIKELY(idx < s->nelems)) {
                    s->freeindex = idx + 1;
                    s->alloc_cache = (ac >> b) >> 1;
                    s->nalloc++;
                    size_t bytes = s->elemsize;
                    void *p = (void *)(s->start + idx * bytes);
                    if (s->needzero) {
                        ASAN_UNPOISON(p, bytes);
                        zero_small(p, bytes);
                    }
                    if (!noscan)
                        ptrbits_assign(s->ptrbits, idx * (bytes / 8), bytes / 8, s->ptr_field,
                                       c->memo_mask);
                    atomic_store_explicit(&s->fifs, idx + 1, memory_order_release);
                    return p;
                }
            }
        }
    }
    return go_new_slow(t);
}

void *go_new_array(const go_type *t, size_t n) {
    check_type(t);
    return alloc_typed(t, n);
}

void *go_alloc_bytes(size_t n) {
    if (GORT_UNLIKELY(atomic_load_explicit(&gc_stress_flag, memory_order_relaxed) != 0))
        gc_stress_tick();
    if (n == 0)
        return zerobase;
    return n <= GORT_GC_MAX_SMALL ? alloc_small(n, NULL, 1, NULL) : alloc_large(n, NULL, 1, NULL);
}

/* Custom objects: a hidden header word holds the scan function; the object
 * proper starts 16 bytes in, so it stays 16-byte aligned. */
void *gort_gc_new_custom(size_t size, gort_gc_scan_fn scan) {
    if (size > SIZE_MAX - 16)
        return NULL;
    size_t total = size + 16;
    char *base = total <= GORT_GC_MAX_SMALL ? alloc_small(total, NULL, 1, scan)
                                            : alloc_large(total, NULL, 1, scan);
    return base == NULL ? NULL : base + 16;
}

void *gort_gc_object_start(const void *p) {
    gc_span *s;
    size_t idx;
    return (void *)gc_find_object((uintptr_t)p, &s, &idx);
}
