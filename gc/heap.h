/* gc/heap.h - the collector's own structures, shared by the files of gc/ only.
 *
 *   gc/heap.c     address space, page heap, spans, size classes, lookup
 *   gc/alloc.c    per-thread caches, central span lists, go_new, sweeping
 *   gc/mark.c     grey work, roots, parallel marking, barrier, checkmark
 *   gc/collect.c  the cycle, the pacer, statistics, GORT_DEBUG, hooks
 *   gc/final.c    finalizers, handles, registered ranges
 *
 * Ownership of a span's fields:
 *   - start, npages, cls, elemsize, nelems, divmul, noscan, large_*: written
 *     while the span is not published (state FREE), then fixed until it is
 *     freed; span freeing happens only by sweeping, never while marking.
 *   - freeindex, alloc_cache: the cache that holds the span, or the sweeper
 *     that owns it (popped from a central list).
 *   - fifs (free index for scan): release-stored by the owner after an object
 *     below it was zeroed and typed; the marker trusts slots below it.
 *   - allocbits: written by the sweeper only.
 *   - marks: one byte per object, set by a relaxed atomic store (marker,
 *     barrier, allocate-black) after a relaxed load saw it clear, cleared by
 *     the sweeper. Two markers may both see it clear and both grey the
 *     object: it is then scanned twice, which is harmless, and saves the
 *     locked read-modify-write that a shared bit would need (Boehm's mark
 *     bytes; DESIGN.md section 5 asked for compare-and-swap, docs/gc.md says
 *     why not).
 *   - ptrbits: one bit per word of the span, written by the owner when it
 *     allocates a slot (before the fifs release store), read by the marker.
 */
#ifndef GORT_GC_HEAP_H
#define GORT_GC_HEAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gc/gc.h"
#include "runtime/rt.h"

#define GC_PAGE_SHIFT 13
#define GC_PAGE_SIZE ((size_t)1 << GC_PAGE_SHIFT)
#define GC_ARENA_SIZE ((size_t)64 << 20) /* the reservation's alignment */
#define GC_NCLASSES 62                   /* class 0 is "large"; 1..61 are small */
#define GC_NSPC (GC_NCLASSES * 2)        /* span classes: class * 2 + noscan */

/* ---- spans ------------------------------------------------------------------- */

enum { SPAN_FREE = 0, SPAN_SMALL = 1, SPAN_LARGE = 2, SPAN_DEAD = 3 };

/* Which central list a span is on (gc/alloc.c). */
enum { LIST_NONE = 0, LIST_PARTIAL, LIST_FULL, LIST_UNSWEPT, LIST_FREE };

typedef struct gc_span gc_span;
struct gc_span {
    _Atomic uint8_t state; /* SPAN_*; published with release */
    uint8_t cls;           /* small: size class; large: 0 */
    bool noscan;
    bool needzero;  /* slots may hold old data */
    uint8_t list;   /* LIST_* (under the owning list's lock) */
    bool scavenged; /* free span: its pages went back to the OS */
    uintptr_t start;
    size_t npages;
    uint32_t elemsize;  /* small: class size */
    size_t obj_bytes;   /* small: elemsize; large: the span's bytes (for live accounting) */
    uint64_t ptr_field; /* scan spans: a mask of elemsize / 8 bits (all ones past 64) */
    uint32_t nelems;
    uint64_t divmul; /* offset * divmul >> 32 == offset / elemsize within the span */

    /* Allocation state. */
    uint32_t freeindex;
    uint32_t nalloc;      /* slots allocated (set by sweep, counted by the owner) */
    uint8_t idle_sweeps;  /* sweeps that found it empty since an allocator last took it */
    uint64_t alloc_cache; /* bit k: slot freeindex + k is free */
    _Atomic uint32_t fifs;

    /* Bitmaps of nelems bits (small) or one bit (large), plus ptrbits. */
    _Atomic uint64_t *allocbits, *finbits, *custombits;
    _Atomic uint8_t *marks;    /* a byte per object */
    _Atomic bool has_custom;   /* some object of the span scans itself */
    _Atomic uint64_t *ptrbits; /* scan spans: a bit per word of the span */
    void *bits_block;          /* where the bitmaps live (gc_meta_alloc) */
    size_t bits_bytes;
    size_t bits_words; /* words per nelems bitmap */

    /* Large objects: one per span. */
    size_t large_size;
    const go_type *large_type; /* NULL: noscan or custom */
    size_t large_count;
    gort_gc_scan_fn large_scan;

    int64_t free_since;   /* free spans: when they became free (for the scavenger) */
    gc_span *next, *prev; /* list links */
    gc_span *all_next;    /* every span struct ever made (never freed) */
};

static inline bool bit_get(_Atomic uint64_t *bits, size_t i) {
    return (atomic_load_explicit(&bits[i >> 6], memory_order_relaxed) >> (i & 63)) & 1;
}
static inline bool mark_get(const gc_span *s, size_t i) {
    return atomic_load_explicit(&s->marks[i], memory_order_relaxed) != 0;
}
/* Marks object i; true if it was unmarked (the caller greys it). */
static inline bool mark_set(const gc_span *s, size_t i) {
    if (atomic_load_explicit(&s->marks[i], memory_order_relaxed) != 0)
        return false;
    atomic_store_explicit(&s->marks[i], 1, memory_order_relaxed);
    return true;
}
/* Single-writer updates (the span's owner). */
static inline void bit_put(_Atomic uint64_t *bits, size_t i, bool v) {
    uint64_t m = (uint64_t)1 << (i & 63);
    uint64_t w = atomic_load_explicit(&bits[i >> 6], memory_order_relaxed);
    atomic_store_explicit(&bits[i >> 6], v ? w | m : w & ~m, memory_order_relaxed);
}

/* ---- gc/heap.c: address space and page heap -------------------------------- */

typedef struct gc_heap {
    uintptr_t base;            /* arena-aligned start of the reservation */
    size_t reserved;           /* bytes reserved */
    _Atomic size_t committed;  /* bytes from base made readable and writable */
    gc_span *_Atomic *pagemap; /* span of each page; NULL for free interiors */
    gort_rt_lock lock;         /* the page heap: free lists, committing, span structs */
    _Atomic size_t inuse;      /* bytes in in-use spans */
    _Atomic size_t scavenged;  /* bytes of free spans returned to the OS */
    size_t limit;              /* hard limit on inuse (0: none) */
} gc_heap;
extern gc_heap gc_heap_state;

extern uint32_t gc_class_size[GC_NCLASSES];
extern uint8_t gc_class_npages[GC_NCLASSES];

void gc_heap_init(void); /* once */
extern uint8_t gc_class_by_8[1024 / 8 + 1];
extern uint8_t gc_class_by_128[32768 / 128 + 1];
static inline size_t gc_size_to_class(size_t size) { /* 0 for large */
    if (size <= 1024)
        return gc_class_by_8[(size + 7) >> 3];
    if (size <= 32768)
        return gc_class_by_128[(size + 127) >> 7];
    return 0;
}
/* A span of npages in state SMALL or LARGE (not yet published to lookups:
 * the caller fills it and calls gc_span_publish), or NULL when the limit or
 * the OS refuses. */
gc_span *gc_span_alloc(size_t npages, int cls, bool noscan);
void gc_span_publish(gc_span *s, uint8_t state);
void gc_span_free(gc_span *s); /* back to the page heap (sweeper only) */
/* Every span struct ever made: walk with all_next, state checked (STW only). */
gc_span *gc_span_all(void);
bool gc_os_fail(void); /* fault injection: true if this OS request must fail */
/* Zeroed metadata memory (span structs, bitmaps), 64-byte aligned; NULL on
 * out of memory. Freed with its size. */
void *gc_meta_alloc(size_t size);
void gc_meta_free(void *p, size_t size);

static inline gc_span *gc_span_of(uintptr_t p) {
    gc_heap *h = &gc_heap_state;
    uintptr_t off = p - h->base;
    if (off >= h->reserved)
        return NULL;
    gc_span *s = atomic_load_explicit(&h->pagemap[off >> GC_PAGE_SHIFT], memory_order_acquire);
    if (s == NULL)
        return NULL;
    uint8_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    return st == SPAN_SMALL || st == SPAN_LARGE ? s : NULL;
}

static inline size_t gc_span_index(const gc_span *s, uintptr_t p) {
    return (size_t)(((uint64_t)(p - s->start) * s->divmul) >> 32);
}

/* The allocated object holding p: sets *span and *idx and returns its base,
 * or 0 (not heap, free slot). */
static inline uintptr_t gc_find_object(uintptr_t p, gc_span **span, size_t *idx) {
    gc_span *s = gc_span_of(p);
    if (s == NULL)
        return 0;
    size_t i = 0;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SPAN_SMALL) {
        i = gc_span_index(s, p);
        if (i >= s->nelems)
            return 0;
        if (i >= atomic_load_explicit(&s->fifs, memory_order_acquire) && !bit_get(s->allocbits, i))
            return 0;
    } else if (atomic_load_explicit(&s->fifs, memory_order_acquire) == 0) {
        return 0;
    }
    *span = s;
    *idx = i;
    return s->start + i * s->elemsize;
}

/* ---- gc/alloc.c ------------------------------------------------------------- */

#define GC_WBUF_CAP 256

/* A thread's cache (gort_member.gc_local): only its owner touches it, except
 * the stop-the-world requester while the world is stopped. */
typedef struct gc_cache {
    gc_span *alloc[GC_NSPC];
    const go_type *memo_type; /* the last type's pointer mask */
    uint64_t memo_mask;
    uint64_t stress_count;
    int nwbuf; /* barrier buffer: grey objects shaded by this thread's barrier */
    void *wbuf[GC_WBUF_CAP];
} gc_cache;

gc_cache *gc_cache_self(void);          /* fatal on a thread that is not attached */
void gc_cache_release_all(gc_cache *c); /* spans back to the central lists */
/* Mark termination, world stopped: every in-use span becomes unswept. */
void gc_central_mark_done(void);
/* Sweeps one unswept span; false when none is left. */
bool gc_sweep_one(void);
void gc_sweep_all(void); /* and waits for sweeps in progress */
bool gc_sweep_pending(void);

/* ---- gc/mark.c -------------------------------------------------------------- */

/* A marker: one per worker index while marking, plus special ones (the
 * checkmark verifier). It is the gort_gc_scanner that custom scan functions
 * receive. */
typedef struct gort_gc_scanner gc_marker;

void gc_mark_cycle_begin(void);   /* world stopped: set up markers, collect root jobs */
size_t gc_mark_stack_bytes(void); /* bytes of task stacks the cycle's root jobs scan */
/* World stopped, at mark start: runs every root job (stacks, threads,
 * handles, ranges, finalizers) in this pause, whatever the slice budget: a
 * stack range or a thread's saved registers are valid only while the world
 * stays stopped (a thread may detach, a task exit, between slices). */
void gc_mark_roots(void);
/* World stopped: drain grey work on every worker, at most budget objects
 * (0: no limit), after gc_mark_roots. Returns true when no grey work is left. */
bool gc_mark_run(uint64_t budget);
/* World stopped: move every thread's barrier buffer into the grey work. */
void gc_mark_flush_buffers(void);
/* Moves one cache's barrier buffer into the grey work (its owner, or the
 * world stopped). */
void gc_mark_flush_cache(gc_cache *c);
void gc_mark_checkmark(void); /* the verifier (world stopped, marking done) */
void gc_mark_abort(void);     /* drops grey work and clears every mark bit */
uint64_t gc_mark_live_bytes(void);
/* Greys the object holding word p (any value). */
void gc_marker_word(gc_marker *m, uintptr_t p);
/* Greys what every aligned word of [lo, hi) points to (conservative). */
void gc_marker_range(gc_marker *m, const void *lo, const void *hi);
/* Sets the mark bit of a new object when marking (allocate black). */
void gc_mark_new_object(gc_span *s, size_t idx);
/* Scans the pointer fields of count objects of type t at base. */
void gc_marker_typed(gc_marker *m, uintptr_t base, const go_type *t, size_t count);

/* ---- gc/final.c ------------------------------------------------------------- */

/* A finalizable object was allocated (span finbit already set). false: OOM. */
bool gc_final_register(void *obj, const go_type *t, size_t count);
/* Sweep found obj unmarked with its finbit: queue it. */
void gc_final_queue(void *obj);
void gc_final_queue_done(void); /* outside pauses: start the runner if needed */
/* Root jobs (world stopped). */
void gc_final_mark_referents(gc_marker *m); /* of registered objects, not themselves */
void gc_final_mark_queue(gc_marker *m);
void gc_roots_mark_handles(gc_marker *m);
void gc_roots_mark_ranges(gc_marker *m);
void gc_final_runtime_stopped(void);

/* ---- gc/collect.c ------------------------------------------------------------ */

typedef struct gc_debug {
    int gctrace, poison, checkmark;
    uint64_t gcstress, gcslice;
} gc_debug;
extern gc_debug gc_dbg;
extern _Atomic uint64_t gc_stress_flag; /* nonzero when gcstress is on (fast path test) */

/* Heap accounting, bytes. */
extern _Atomic int64_t gc_heap_alloc;
extern _Atomic uint64_t gc_bytes_allocated, gc_bytes_freed;

/* Called by the allocator's slow path: starts a cycle when the heap reached
 * its goal. */
void gc_maybe_trigger(void);
/* A full collection for the allocator's out-of-memory path. */
void gc_collect_for_oom(void);
size_t gc_heap_goal(void); /* the pacer's current goal, bytes */
void gc_stress_tick(void);

#endif
