/* gc/heap.c - the heap's address space, its page heap, spans and size classes.
 *
 * The whole heap is one reservation of address space (PROT_NONE, 64 GiB or
 * the hard limit if larger), aligned to GC_ARENA_SIZE (64 MiB), committed from
 * the bottom up 4 MiB or more at a time (heap_mapped counts what is committed
 * and not returned). A page map with one entry per 8 KiB
 * page gives the span of any heap address in O(1); an address outside the
 * reservation is rejected by one subtraction and compare.
 *
 * The page heap keeps free spans in bins by page count (1..128) and one list
 * for larger ones, coalescing neighbours on free. Invariants, under heap.lock:
 *   - every page of an in-use span maps to it; a free span's first and last
 *     pages map to it and its interior pages map to NULL, so a stale pointer
 *     never finds a span struct through a page that is not its own;
 *   - span structs are never freed (a lookup racing with a free reads a valid
 *     struct whose state says FREE or DEAD), and a struct is published to
 *     lookups by a release store of its state after its fields are written;
 *   - spans are freed only by sweeping, which never runs while marking.
 * Free spans unused for GC_SCAVENGE_AGE_NS go back to the OS (MADV_DONTNEED),
 * from the monitor thread (gort_gc_scavenge_tick).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/heap.h"

#ifdef GORT_RT_ASAN
void __lsan_register_root_region(const void *p, size_t size);
#endif

#define GC_RESERVE_DEFAULT ((size_t)64 << 30)
#define GC_COMMIT_CHUNK ((size_t)4 << 20) /* the heap grows by this much at least */
#define GC_FREE_BINS 128
#define GC_SCAVENGE_AGE_NS ((int64_t)2000000000)

gc_heap gc_heap_state;
uint32_t gc_class_size[GC_NCLASSES];
uint8_t gc_class_npages[GC_NCLASSES];
uint8_t gc_class_by_8[1024 / 8 + 1];      /* sizes <= 1024, by (size + 7) / 8 */
uint8_t gc_class_by_128[32768 / 128 + 1]; /* sizes <= 32768, by (size + 127) / 128 */

static gc_span *free_bins[GC_FREE_BINS + 1]; /* [heap.lock] bin n: free spans of n pages */
static gc_span *free_large;                  /* [heap.lock] free spans of more pages */
static gc_span *spare_structs;               /* [heap.lock] state DEAD, for reuse */
static gc_span *_Atomic all_spans;           /* every struct ever made */

/* ---- size classes ----------------------------------------------------------- */

/* 61 classes: 8, then every 16 bytes to 256, eight per doubling to 4 KiB, four
 * per doubling to 32 KiB. All but the first are multiples of 16, so objects
 * are 16-byte aligned. Each class gets the fewest pages (up to 16) that waste
 * at most an eighth of the span. */
static void classes_init(void) {
    int n = 1;
    gc_class_size[n++] = 8;
    for (uint32_t s = 16; s <= 256; s += 16)
        gc_class_size[n++] = s;
    for (uint32_t base = 256; base < 4096; base *= 2)
        for (uint32_t k = 1; k <= 8; k++)
            gc_class_size[n++] = base + k * base / 8;
    for (uint32_t base = 4096; base < 32768; base *= 2)
        for (uint32_t k = 1; k <= 4; k++)
            gc_class_size[n++] = base + k * base / 4;
    if (n != GC_NCLASSES)
        gort_rt_fatal("heap: %d size classes, expected %d", n - 1, GC_NCLASSES - 1);
    for (int c = 1; c < GC_NCLASSES; c++) {
        size_t size = gc_class_size[c];
        size_t np = 1;
        while (np < 16 &&
               ((np * GC_PAGE_SIZE) % size > np * GC_PAGE_SIZE / 8 || np * GC_PAGE_SIZE < size))
            np++;
        gc_class_npages[c] = (uint8_t)np;
    }
    int c = 1;
    for (size_t i = 0; i <= 1024 / 8; i++) {
        while (gc_class_size[c] < i * 8)
            c++;
        gc_class_by_8[i] = (uint8_t)c;
    }
    c = 1;
    for (size_t i = 0; i <= 32768 / 128; i++) {
        while (gc_class_size[c] < i * 128)
            c++;
        gc_class_by_128[i] = (uint8_t)c;
    }
}

int gort_gc_class_count(void) {
    return GC_NCLASSES - 1;
}

size_t gort_gc_class_size(int c) {
    return c >= 1 && c < GC_NCLASSES ? gc_class_size[c] : 0;
}

/* ---- fault injection ---------------------------------------------------------- */

#ifdef GORT_GC_FAULT_INJECTION
static _Atomic long fail_after = -1;
#endif

bool gort_gc_fault_inject(long n) {
#ifdef GORT_GC_FAULT_INJECTION
    atomic_store(&fail_after, n < 0 ? -1 : n);
    return true;
#else
    (void)n;
    return false;
#endif
}

bool gc_os_fail(void) {
#ifdef GORT_GC_FAULT_INJECTION
    long v = atomic_load(&fail_after);
    while (v > 0 && !atomic_compare_exchange_weak(&fail_after, &v, v - 1)) {
    }
    return v == 0;
#else
    return false;
#endif
}

/* ---- init ---------------------------------------------------------------------- */

void gc_heap_init(void) {
    gc_heap *h = &gc_heap_state;
    classes_init();
    size_t want = GC_RESERVE_DEFAULT;
    if (h->limit > want)
        want = (h->limit + GC_ARENA_SIZE - 1) & ~(GC_ARENA_SIZE - 1);
    void *p = MAP_FAILED;
    for (; want >= GC_ARENA_SIZE * 4; want /= 2) {
        p = mmap(NULL, want + GC_ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
        if (p != MAP_FAILED)
            break;
    }
    if (p == MAP_FAILED)
        gort_rt_fatal("heap: cannot reserve address space (%s)", strerror(errno));
    h->base = ((uintptr_t)p + GC_ARENA_SIZE - 1) & ~(uintptr_t)(GC_ARENA_SIZE - 1);
    h->reserved = want;
    size_t map_bytes = (want >> GC_PAGE_SHIFT) * sizeof(gc_span *);
    void *pm = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pm == MAP_FAILED)
        gort_rt_fatal("heap: cannot map the page map (%s)", strerror(errno));
    h->pagemap = pm;
}

/* ---- metadata memory ----------------------------------------------------------- */

/* Span structs and span bitmaps come from chunks of 4 MiB in huge pages
 * (gort_rt_map_huge): the marker reads the metadata of every object it
 * reaches, and with a large heap, malloc'ed metadata in 4 KiB pages cost it
 * TLB misses on top of cache misses. Blocks are whole multiples of 64 bytes
 * (cache-line aligned), recycled through a free list per size; larger ones
 * come from calloc. Chunks are never returned. */
#define META_CHUNK ((size_t)4 << 20)
#define META_MAX 4096

static gort_rt_lock meta_lock;
static char *meta_next, *meta_end;         /* [meta_lock] */
static void *meta_free[META_MAX / 64 + 1]; /* [meta_lock] by size / 64 */

void *gc_meta_alloc(size_t size) {
    size = (size + 63) & ~(size_t)63;
    if (gc_os_fail())
        return NULL;
    if (size > META_MAX)
        return calloc(1, size);
    gort_rt_lock_acquire(&meta_lock);
    void *p = meta_free[size / 64];
    if (p != NULL) {
        meta_free[size / 64] = *(void **)p;
        gort_rt_lock_release(&meta_lock);
        memset(p, 0, size);
        return p;
    }
    if ((size_t)(meta_end - meta_next) < size) {
        void *c = gort_rt_map_huge(META_CHUNK, false);
        if (c == NULL) {
            gort_rt_lock_release(&meta_lock);
            return NULL;
        }
#ifdef GORT_RT_ASAN
        __lsan_register_root_region(c, META_CHUNK); /* it points to calloc'ed blocks */
#endif
        meta_next = c;
        meta_end = (char *)c + META_CHUNK;
    }
    p = meta_next; /* fresh from mmap: zero */
    meta_next += size;
    gort_rt_lock_release(&meta_lock);
    return p;
}

void gc_meta_free(void *p, size_t size) {
    if (p == NULL)
        return;
    size = (size + 63) & ~(size_t)63;
    if (size > META_MAX) {
        free(p);
        return;
    }
    gort_rt_lock_acquire(&meta_lock);
    *(void **)p = meta_free[size / 64];
    meta_free[size / 64] = p;
    gort_rt_lock_release(&meta_lock);
}

/* ---- span structs -------------------------------------------------------------- */

static gc_span *struct_get(void) { /* [heap.lock] */
    gc_span *s = spare_structs;
    if (s != NULL) {
        spare_structs = s->next;
        gc_span *keep = s->all_next;
        memset(s, 0, sizeof *s);
        s->all_next = keep;
        return s;
    }
    s = gc_meta_alloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->all_next = atomic_load(&all_spans);
    atomic_store(&all_spans, s);
    return s;
}

static void struct_put(gc_span *s) { /* [heap.lock] */
    atomic_store_explicit(&s->state, SPAN_DEAD, memory_order_release);
    s->next = spare_structs;
    spare_structs = s;
}

gc_span *gc_span_all(void) {
    return atomic_load(&all_spans);
}

/* ---- free lists ------------------------------------------------------------------ */

static gc_span **bin_of(size_t npages) {
    return npages <= GC_FREE_BINS ? &free_bins[npages] : &free_large;
}

static void map_set(size_t page, gc_span *s) {
    atomic_store_explicit(&gc_heap_state.pagemap[page], s, memory_order_release);
}

static size_t page_of(uintptr_t addr) {
    return (addr - gc_heap_state.base) >> GC_PAGE_SHIFT;
}

static void free_insert(gc_span *s) {
    gc_span **bin = bin_of(s->npages);
    s->list = LIST_FREE;
    s->prev = NULL;
    s->next = *bin;
    if (*bin != NULL)
        (*bin)->prev = s;
    *bin = s;
    size_t first = page_of(s->start);
    map_set(first, s);
    map_set(first + s->npages - 1, s);
}

static void free_remove(gc_span *s) {
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        *bin_of(s->npages) = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->list = LIST_NONE;
}

/* A free span at the page before (dir < 0) or after s, or NULL. */
static gc_span *free_neighbour(gc_span *s, int dir) {
    gc_heap *h = &gc_heap_state;
    size_t first = page_of(s->start);
    size_t page;
    if (dir < 0) {
        if (first == 0)
            return NULL;
        page = first - 1;
    } else {
        page = first + s->npages;
        if ((page << GC_PAGE_SHIFT) >= atomic_load_explicit(&h->committed, memory_order_relaxed))
            return NULL;
    }
    gc_span *n = atomic_load_explicit(&h->pagemap[page], memory_order_relaxed);
    if (n == NULL || atomic_load_explicit(&n->state, memory_order_relaxed) != SPAN_FREE ||
        n->list != LIST_FREE)
        return NULL;
    return n;
}

/* Inserts free span s, merging it with free neighbours. [heap.lock] */
static void free_coalesce(gc_span *s) {
    gc_heap *h = &gc_heap_state;
    for (int dir = -1; dir <= 1; dir += 2) {
        gc_span *n = free_neighbour(s, dir);
        if (n == NULL)
            continue;
        free_remove(n);
        if (s->scavenged != n->scavenged) { /* the merged span counts as not returned */
            gc_span *ret = s->scavenged ? s : n;
            atomic_fetch_sub(&h->scavenged, ret->npages * GC_PAGE_SIZE);
            s->scavenged = false;
        }
        s->needzero |= n->needzero;
        if (n->free_since > s->free_since)
            s->free_since = n->free_since;
        if (dir < 0) {
            map_set(page_of(s->start), NULL);
            s->start = n->start;
        } else {
            map_set(page_of(s->start) + s->npages - 1, NULL);
        }
        s->npages += n->npages;
        /* n's first and last pages: the interior of s now. */
        size_t nf = page_of(n->start);
        map_set(nf, NULL);
        map_set(nf + n->npages - 1, NULL);
        struct_put(n);
    }
    free_insert(s);
}

/* Commits at least npages more of the reservation. [heap.lock] */
static bool heap_grow(size_t npages) {
    gc_heap *h = &gc_heap_state;
    size_t committed = atomic_load_explicit(&h->committed, memory_order_relaxed);
    size_t need = npages * GC_PAGE_SIZE;
    size_t chunk = (need + GC_COMMIT_CHUNK - 1) & ~(GC_COMMIT_CHUNK - 1);
    if (chunk > h->reserved - committed)
        chunk = h->reserved - committed;
    if (chunk < need || gc_os_fail())
        return false;
    gc_span *s = struct_get();
    if (s == NULL)
        return false;
    void *at = (void *)(h->base + committed);
    if (mprotect(at, chunk, PROT_READ | PROT_WRITE) != 0) {
        struct_put(s);
        return false;
    }
    /* Transparent huge pages where the kernel gives them on request: the
     * marker touches the whole live heap every cycle, and with 4 KiB pages
     * most of its time went to TLB misses; a first touch also costs one
     * fault per 2 MiB instead of 512. */
    (void)madvise(at, chunk, MADV_HUGEPAGE);
#ifdef GORT_RT_ASAN
    __lsan_register_root_region(at, chunk);
#endif
    atomic_store_explicit(&h->committed, committed + chunk, memory_order_relaxed);
    s->start = (uintptr_t)at;
    s->npages = chunk >> GC_PAGE_SHIFT;
    s->free_since = gort_rt_nanotime();
    atomic_store_explicit(&s->state, SPAN_FREE, memory_order_release);
    free_coalesce(s);
    return true;
}

/* The smallest free span of at least npages. [heap.lock] */
static gc_span *free_take(size_t npages) {
    for (size_t n = npages; n <= GC_FREE_BINS; n++)
        if (free_bins[n] != NULL) {
            gc_span *s = free_bins[n];
            free_remove(s);
            return s;
        }
    gc_span *best = NULL;
    for (gc_span *s = free_large; s != NULL; s = s->next)
        if (s->npages >= npages && (best == NULL || s->npages < best->npages))
            best = s;
    if (best != NULL)
        free_remove(best);
    return best;
}

gc_span *gc_span_alloc(size_t npages, int cls, bool noscan) {
    gc_heap *h = &gc_heap_state;
    size_t bytes = npages * GC_PAGE_SIZE;
    gort_rt_lock_acquire(&h->lock);
    if (h->limit != 0 && atomic_load_explicit(&h->inuse, memory_order_relaxed) + bytes > h->limit) {
        gort_rt_lock_release(&h->lock);
        return NULL;
    }
    gc_span *s = free_take(npages);
    if (s == NULL && heap_grow(npages))
        s = free_take(npages);
    if (s == NULL) {
        gort_rt_lock_release(&h->lock);
        return NULL;
    }
    if (s->npages > npages) { /* give the tail back */
        gc_span *rest = struct_get();
        if (rest == NULL) {
            free_insert(s);
            gort_rt_lock_release(&h->lock);
            return NULL;
        }
        rest->start = s->start + bytes;
        rest->npages = s->npages - npages;
        rest->needzero = s->needzero;
        rest->scavenged = s->scavenged;
        rest->free_since = s->free_since;
        atomic_store_explicit(&rest->state, SPAN_FREE, memory_order_release);
        map_set(page_of(s->start) + s->npages - 1, NULL);
        s->npages = npages;
        free_insert(rest);
    }
    if (s->scavenged)
        atomic_fetch_sub(&h->scavenged, bytes);
    /* Every page maps to s; its state stays FREE until published, so
     * lookups reject it meanwhile. */
    size_t first = page_of(s->start);
    for (size_t i = 0; i < npages; i++)
        map_set(first + i, s);
    s->cls = (uint8_t)cls;
    s->noscan = noscan;
    s->scavenged = false;
    s->list = LIST_NONE;
    atomic_fetch_add_explicit(&h->inuse, bytes, memory_order_relaxed);
    gort_rt_lock_release(&h->lock);
    return s;
}

void gc_span_publish(gc_span *s, uint8_t state) {
    atomic_store_explicit(&s->state, state, memory_order_release);
}

void gc_span_free(gc_span *s) {
    gc_heap *h = &gc_heap_state;
    gort_rt_lock_acquire(&h->lock);
    atomic_store_explicit(&s->state, SPAN_FREE, memory_order_release);
    size_t first = page_of(s->start);
    for (size_t i = 1; i + 1 < s->npages; i++)
        map_set(first + i, NULL);
    atomic_fetch_sub_explicit(&h->inuse, s->npages * GC_PAGE_SIZE, memory_order_relaxed);
    s->needzero = true;
    s->scavenged = false;
    s->free_since = gort_rt_nanotime();
    s->allocbits = s->finbits = s->custombits = s->ptrbits = NULL;
    s->marks = NULL;
    s->bits_block = NULL;
    s->bits_bytes = 0;
    s->large_type = NULL;
    s->large_scan = NULL;
    free_coalesce(s);
    gort_rt_lock_release(&h->lock);
}

/* ---- scavenging -------------------------------------------------------------------- */

/* Returns free spans of the list unused for GC_SCAVENGE_AGE_NS until
 * *excess bytes are released. */
static size_t scavenge_list(gc_span *s, int64_t now, size_t *excess) {
    size_t released = 0;
    for (; s != NULL && *excess > 0; s = s->next) {
        if (s->scavenged || now - s->free_since < GC_SCAVENGE_AGE_NS)
            continue;
        size_t bytes = s->npages * GC_PAGE_SIZE;
        if (madvise((void *)s->start, bytes, MADV_DONTNEED) != 0)
            continue;
        s->scavenged = true;
        s->needzero = false;
        released += bytes;
        *excess = *excess > bytes ? *excess - bytes : 0;
    }
    return released;
}

/* The heap keeps what its next cycle will want (the goal and a tenth more,
 * as Go's scavenger): a heap that swings between its live size and its goal
 * reuses its free spans at once, and giving them back would only cost page
 * faults (about 15 us per 4 KiB page here). Only what lies beyond that and
 * has been unused for a while goes back to the OS, biggest spans first. */
void gort_gc_scavenge_tick(int64_t now) {
    static int64_t last; /* only the monitor thread calls */
    gc_heap *h = &gc_heap_state;
    if (h->pagemap == NULL || now - last < 1000000000)
        return;
    last = now;
    size_t retain = gc_heap_goal();
    retain += retain / 10;
    size_t backed = atomic_load(&h->committed) - atomic_load(&h->scavenged);
    if (backed <= retain)
        return;
    size_t excess = backed - retain;
    gort_rt_lock_acquire(&h->lock);
    size_t released = scavenge_list(free_large, now, &excess);
    for (size_t n = GC_FREE_BINS; n >= 1 && excess > 0; n--)
        released += scavenge_list(free_bins[n], now, &excess);
    atomic_fetch_add(&h->scavenged, released);
    gort_rt_lock_release(&h->lock);
}
