/* gc/mark.c - marking: grey work, root jobs, parallel draining, the barrier,
 * and the checkmark verifier.
 *
 * Colors: an object is white while its mark byte is clear, grey once it is
 * set and its address sits in some work buffer, black once scanned. Whoever
 * sets the byte (mark_set: a relaxed load, then a relaxed store; two markers
 * may both win and scan the object twice, harmlessly) owns the duty of
 * scanning the object: there is no recursion, only work buffers:
 *   - one current buffer per marker (a marker per worker index), handed to
 *     the global full list when it fills;
 *   - a barrier buffer in every thread's cache (gc_cache.wbuf), filled by
 *     GO_STORE, GO_LOAD and go_memmove while the world runs with the barrier
 *     on, moved into the full list when it fills and at every pause;
 *   - root jobs (stacks, threads, spawn arguments, handles, registered
 *     ranges, finalizer referents and queue, timer heaps) taken by index, all of them in
 *     the mark-start pause (gc_mark_roots): a stack range or a thread's
 *     saved registers mean something only while the world stays stopped.
 * gc_mark_run runs helpers on every stopped worker (gort_stw_run_parallel).
 * A helper counts itself busy while it holds work; it leaves when it finds no
 * work anywhere and no helper is busy, so the last one out saw everything
 * empty. With a budget (GORT_DEBUG=gcslice=N) helpers stop after about N
 * objects and leave their buffers on the full list for the next slice.
 *
 * Scanning reads heap words with relaxed atomic loads (GO_STORE writes them
 * with relaxed atomic stores); stacks and registered ranges are read by a
 * function built without sanitizer instrumentation, and marked defined for
 * valgrind first (their words may be uninitialised).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/heap.h"
#include "sched/sched.h"
#include "sched/timer.h"

#ifdef GORT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define MAKE_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define MAKE_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define WB_CAP 1022 /* a work buffer is 8 KiB */
#define BUDGET_BATCH 64

typedef struct workbuf {
    struct workbuf *next;
    size_t n;
    uintptr_t obj[WB_CAP];
} workbuf;

enum { MODE_MARK, MODE_CHECK };

struct gort_gc_scanner {
    int mode;
    workbuf *cur;
    uint64_t live;              /* bytes this marker marked */
    int64_t budget_left;        /* objects it may still scan before asking for more */
    uintptr_t checking;         /* MODE_CHECK: the object being verified */
} __attribute__((aligned(64))); /* markers sit side by side: no false sharing */

enum { RJ_RANGE, RJ_WORD, RJ_HANDLES, RJ_ROOTS, RJ_FIN_REFERENTS, RJ_FIN_QUEUE, RJ_TIMERS };

typedef struct root_job {
    int kind;
    const void *lo, *hi;
    const uintptr_t *regs;
    size_t nregs;
    uintptr_t word;
} root_job;

int go_internal_gc_marking;

static struct mark_state {
    gort_rt_lock lock; /* full, empty */
    workbuf *full;
    workbuf *empty;
    _Atomic int64_t nfull;
    root_job *jobs;
    size_t stack_bytes; /* live task stack bytes this cycle scans (for the pacer) */
    size_t njobs, capjobs;
    _Atomic size_t next_job;
    gc_marker *markers; /* one per worker index */
    int nmarkers;
    int nmarkers_init; /* how many of them hold valid state */
    _Atomic int nbusy;
    int nhelpers;                /* helpers of this run (workers) */
    _Atomic int64_t budget;      /* objects left in this slice; INT64_MAX: no limit */
    _Atomic uint64_t live_other; /* bytes marked by barriers and allocate-black */
} mk;

/* ---- work buffers ----------------------------------------------------------------- */

static workbuf *wb_get_empty(void) {
    gort_rt_lock_acquire(&mk.lock);
    workbuf *b = mk.empty;
    if (b != NULL)
        mk.empty = b->next;
    gort_rt_lock_release(&mk.lock);
    if (b == NULL) {
        b = malloc(sizeof *b);
        if (b == NULL)
            gort_rt_fatal("out of memory for the collector's work buffers");
    }
    b->n = 0;
    b->next = NULL;
    return b;
}

static void wb_put_full(workbuf *b) {
    gort_rt_lock_acquire(&mk.lock);
    b->next = mk.full;
    mk.full = b;
    atomic_fetch_add(&mk.nfull, 1);
    gort_rt_lock_release(&mk.lock);
}

static void wb_put_empty(workbuf *b) {
    gort_rt_lock_acquire(&mk.lock);
    b->next = mk.empty;
    mk.empty = b;
    gort_rt_lock_release(&mk.lock);
}

static workbuf *wb_take_full(void) {
    if (atomic_load(&mk.nfull) == 0)
        return NULL;
    gort_rt_lock_acquire(&mk.lock);
    workbuf *b = mk.full;
    if (b != NULL) {
        mk.full = b->next;
        atomic_fetch_sub(&mk.nfull, 1);
    }
    gort_rt_lock_release(&mk.lock);
    return b;
}

static void push(gc_marker *m, uintptr_t obj) {
    if (GORT_UNLIKELY(m->cur == NULL))
        m->cur = wb_get_empty();
    else if (GORT_UNLIKELY(m->cur->n == WB_CAP)) {
        wb_put_full(m->cur);
        m->cur = wb_get_empty();
    }
    m->cur->obj[m->cur->n++] = obj;
}

/* ---- marking an object --------------------------------------------------------------- */

static void describe(const char *what, uintptr_t p) {
    gc_span *s = gc_span_of(p);
    if (s == NULL) {
        fprintf(stderr, "gort: checkmark: %s %p: not in a span\n", what, (void *)p);
        return;
    }
    size_t idx = atomic_load(&s->state) == SPAN_SMALL ? gc_span_index(s, p) : 0;
    fprintf(stderr,
            "gort: checkmark: %s %p: span %p [%p, +%zu pages) class %d%s list %d, slot %zu of "
            "%u, freeindex %u fifs %u nalloc %u, alloc bit %d mark %d fin %d\n",
            what, (void *)p, (void *)s, (void *)s->start, s->npages, s->cls,
            s->noscan ? " noscan" : "", s->list, idx, s->nelems, s->freeindex,
            atomic_load(&s->fifs), s->nalloc, (int)bit_get(s->allocbits, idx),
            (int)mark_get(s, idx), (int)bit_get(s->finbits, idx));
}

static GORT_NOINLINE _Noreturn void check_failed(gc_marker *m, uintptr_t target) {
    describe("marked", m->checking);
    describe("unmarked", target);
    gort_rt_fatal("checkmark: marked object %p points to unmarked object %p (heap corruption "
                  "or a pointer store without GO_STORE)",
                  (void *)m->checking, (void *)target);
}

static inline __attribute__((always_inline)) void mark_word(gc_marker *m, uintptr_t p) {
    gc_span *s;
    size_t idx;
    uintptr_t base = gc_find_object(p, &s, &idx);
    if (base == 0)
        return;
    if (GORT_UNLIKELY(m->mode == MODE_CHECK)) {
        if (!mark_get(s, idx))
            check_failed(m, base);
        return;
    }
    if (!mark_set(s, idx))
        return;
    m->live += s->obj_bytes;
    if (!s->noscan)
        push(m, base);
}

void gc_marker_word(gc_marker *m, uintptr_t p) {
    mark_word(m, p);
}

/* A pointer read from a pointer field of a live heap object: it points to an
 * allocated object (or is NULL, or outside the heap), so the free-slot check
 * of a conservative word is skipped; that saves a load of the allocation
 * bits, a cache miss on a large heap. A field holding garbage that points at
 * a free slot (a bug in the program) only keeps that slot and what its stale
 * words point to for one more cycle: nothing live is freed. */
static inline __attribute__((always_inline)) void mark_field(gc_marker *m, uintptr_t p) {
    gc_span *s = gc_span_of(p);
    if (s == NULL)
        return;
    size_t idx = 0;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SPAN_SMALL) {
        idx = gc_span_index(s, p);
        if (idx >= s->nelems)
            return;
    } else if (atomic_load_explicit(&s->fifs, memory_order_acquire) == 0) {
        return;
    }
    if (GORT_UNLIKELY(m->mode == MODE_CHECK)) {
        if (!mark_get(s, idx))
            check_failed(m, s->start + idx * s->elemsize);
        return;
    }
    if (!mark_set(s, idx))
        return;
    m->live += s->obj_bytes;
    if (!s->noscan)
        push(m, s->start + idx * s->elemsize);
}

__attribute__((no_sanitize("address", "thread"))) static void
scan_words(gc_marker *m, const void *lo, const void *hi) {
    uintptr_t a = ((uintptr_t)lo + 7) & ~(uintptr_t)7;
    uintptr_t b = (uintptr_t)hi & ~(uintptr_t)7;
    if (a >= b)
        return;
    MAKE_DEFINED((void *)a, b - a);
    for (const volatile uintptr_t *w = (const uintptr_t *)a; (uintptr_t)w < b; w++)
        gc_marker_word(m, *w);
}

void gc_marker_range(gc_marker *m, const void *lo, const void *hi) {
    scan_words(m, lo, hi);
}

void gort_gc_scan_ptr(gort_gc_scanner *s, const void *p) {
    gc_marker_word(s, (uintptr_t)p);
}

void gort_gc_scan_range(gort_gc_scanner *s, const void *p, size_t n) {
    scan_words(s, p, (const char *)p + n);
}

static inline uintptr_t load_word(uintptr_t addr) {
    return __atomic_load_n((uintptr_t *)addr, __ATOMIC_RELAXED);
}

void gc_marker_typed(gc_marker *m, uintptr_t base, const go_type *t, size_t count) {
    for (size_t k = 0; k < count; k++)
        for (size_t i = 0; i < t->nptrs; i++)
            mark_field(m, load_word(base + k * t->size + t->ptr_offsets[i]));
}

/* Scans the object at base (allocated, marked). */
static void scan_object(gc_marker *m, uintptr_t base) {
    gc_span *s = gc_span_of(base);
    if (s == NULL)
        gort_rt_fatal("mark: grey object %p is not in the heap", (void *)base);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SPAN_LARGE) {
        if (s->large_scan != NULL)
            s->large_scan((void *)(base + 16), m);
        else if (s->large_type != NULL)
            gc_marker_typed(m, base, s->large_type, s->large_count);
        return;
    }
    size_t idx = gc_span_index(s, base);
    if (atomic_load_explicit(&s->has_custom, memory_order_relaxed) && bit_get(s->custombits, idx)) {
        gort_gc_scan_fn fn = __atomic_load_n((gort_gc_scan_fn *)base, __ATOMIC_RELAXED);
        fn((void *)(base + 16), m);
        return;
    }
    size_t nw = s->elemsize / 8;
    size_t wb = idx * nw, end = wb + nw;
    if (nw <= 64) { /* the object's bits in at most two bitmap words */
        size_t w = wb >> 6, sh = wb & 63;
        uint64_t bits = atomic_load_explicit(&s->ptrbits[w], memory_order_relaxed) >> sh;
        if (sh + nw > 64)
            bits |= atomic_load_explicit(&s->ptrbits[w + 1], memory_order_relaxed) << (64 - sh);
        for (bits &= s->ptr_field; bits != 0; bits &= bits - 1)
            mark_field(m, load_word(base + (size_t)__builtin_ctzll(bits) * 8));
        return;
    }
    for (size_t b = wb; b < end;) {
        uint64_t bits = atomic_load_explicit(&s->ptrbits[b >> 6], memory_order_relaxed) >> (b & 63);
        size_t avail = 64 - (b & 63);
        if (avail > end - b) {
            avail = end - b;
            bits &= ((uint64_t)1 << avail) - 1;
        }
        for (; bits != 0; bits &= bits - 1)
            mark_field(m, load_word(base + (b - wb + (size_t)__builtin_ctzll(bits)) * 8));
        b += avail;
    }
}

/* ---- the mutator side: barrier and shading --------------------------------------------- */

void gc_mark_flush_cache(gc_cache *c) {
    if (c->nwbuf == 0)
        return;
    workbuf *b = wb_get_empty();
    memcpy(b->obj, c->wbuf, (size_t)c->nwbuf * sizeof(uintptr_t));
    b->n = (size_t)c->nwbuf;
    c->nwbuf = 0;
    wb_put_full(b);
}

void go_internal_gc_shade(const void *p) {
    if (!gort_gc_marking())
        return;
    gc_span *s;
    size_t idx;
    uintptr_t base = gc_find_object((uintptr_t)p, &s, &idx);
    if (base == 0 || !mark_set(s, idx))
        return;
    atomic_fetch_add_explicit(&mk.live_other, s->obj_bytes, memory_order_relaxed);
    if (s->noscan)
        return;
    void **slot = gort_sched_gc_local_slot();
    gc_cache *c = slot != NULL ? *slot : NULL;
    if (c == NULL) { /* a thread without a cache: a one-object buffer */
        workbuf *b = wb_get_empty();
        b->obj[b->n++] = base;
        wb_put_full(b);
        return;
    }
    if (c->nwbuf == GC_WBUF_CAP)
        gc_mark_flush_cache(c);
    c->wbuf[c->nwbuf++] = (void *)base;
}

void go_internal_gc_barrier(void *const *slot, void *value) {
    go_internal_gc_shade(__atomic_load_n((void **)slot, __ATOMIC_RELAXED));
    go_internal_gc_shade(value);
}

void gort_gc_shade_range(const void *p, size_t n) {
    if (!gort_gc_marking())
        return;
    uintptr_t a = ((uintptr_t)p + 7) & ~(uintptr_t)7;
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)7;
    for (; a < b; a += 8)
        go_internal_gc_shade((const void *)load_word(a));
}

void go_memmove(void *dst, const void *src, size_t n) {
    if (n == 0 || dst == src)
        return;
    if (gort_gc_marking()) {
        gort_gc_shade_range(dst, n);
        gort_gc_shade_range(src, n);
    }
    /* Whole aligned words move with relaxed atomics (the marker may read
     * them), the rest byte by byte; in the direction that overlap allows. */
    unsigned char *d = dst;
    const unsigned char *s = src;
    bool words = ((uintptr_t)d & 7) == ((uintptr_t)s & 7);
    if (d < s || d >= s + n) {
        size_t i = 0;
        if (words) {
            for (; i < n && ((uintptr_t)(d + i) & 7) != 0; i++)
                d[i] = s[i];
            for (; i + 8 <= n; i += 8)
                __atomic_store_n((uintptr_t *)(d + i),
                                 __atomic_load_n((const uintptr_t *)(s + i), __ATOMIC_RELAXED),
                                 __ATOMIC_RELAXED);
        }
        for (; i < n; i++)
            d[i] = s[i];
    } else {
        size_t i = n;
        if (words) {
            for (; i > 0 && ((uintptr_t)(d + i) & 7) != 0; i--)
                d[i - 1] = s[i - 1];
            for (; i >= 8; i -= 8)
                __atomic_store_n((uintptr_t *)(d + i - 8),
                                 __atomic_load_n((const uintptr_t *)(s + i - 8), __ATOMIC_RELAXED),
                                 __ATOMIC_RELAXED);
        }
        for (; i > 0; i--)
            d[i - 1] = s[i - 1];
    }
}

void gc_mark_new_object(gc_span *s, size_t idx) {
    if (mark_set(s, idx))
        atomic_fetch_add_explicit(&mk.live_other, s->obj_bytes, memory_order_relaxed);
}

/* ---- root jobs ---------------------------------------------------------------------------- */

static void add_job(root_job j) {
    if (mk.njobs == mk.capjobs) {
        size_t cap = mk.capjobs ? mk.capjobs * 2 : 1024;
        root_job *nj = realloc(mk.jobs, cap * sizeof *nj);
        if (nj == NULL)
            gort_rt_fatal("out of memory for the collector's root list");
        mk.jobs = nj;
        mk.capjobs = cap;
    }
    mk.jobs[mk.njobs++] = j;
}

static void visit_task(gort_task *t, const void *lo, const void *hi, void *arg) {
    (void)arg;
    void *spawn_arg = gort_sched_task_spawn_arg(t);
    if (spawn_arg != NULL)
        add_job((root_job){.kind = RJ_WORD, .word = (uintptr_t)spawn_arg});
    if (lo == NULL || hi == NULL)
        return;
    mk.stack_bytes += (size_t)((const char *)hi - (const char *)lo);
    size_t nregs = 0;
    const uintptr_t *regs = gort_sched_task_region_regs(t, &nregs);
    add_job((root_job){.kind = RJ_RANGE, .lo = lo, .hi = hi, .regs = regs, .nregs = nregs});
}

static void visit_thread(gort_member *m, const void *lo, const void *hi, const uintptr_t *regs,
                         size_t nregs, void *arg) {
    (void)m;
    (void)arg;
    if (lo != NULL && hi != NULL)
        add_job((root_job){.kind = RJ_RANGE, .lo = lo, .hi = hi, .regs = regs, .nregs = nregs});
}

void gc_mark_cycle_begin(void) {
    int n = gort_sched_worker_count();
    if (n < 1)
        n = 1;
    if (n > mk.nmarkers) {
        gc_marker *nm = aligned_alloc(64, (size_t)n * sizeof *nm);
        if (nm == NULL)
            gort_rt_fatal("out of memory for the collector's markers");
        if (mk.markers != NULL)
            memcpy(nm, mk.markers, (size_t)mk.nmarkers * sizeof *nm);
        free(mk.markers);
        mk.markers = nm;
        mk.nmarkers = n;
    }
    for (int i = 0; i < mk.nmarkers && mk.markers != NULL; i++)
        if (i < mk.nmarkers_init && mk.markers[i].cur != NULL)
            wb_put_empty(mk.markers[i].cur);
    memset(mk.markers, 0, (size_t)mk.nmarkers * sizeof *mk.markers);
    mk.nmarkers_init = mk.nmarkers;
    atomic_store(&mk.live_other, 0);
    mk.njobs = 0;
    mk.stack_bytes = 0;
    atomic_store(&mk.next_job, 0);
    gort_stw_visit_tasks(visit_task, NULL);
    gort_stw_visit_threads(visit_thread, NULL);
    add_job((root_job){.kind = RJ_HANDLES});
    add_job((root_job){.kind = RJ_ROOTS});
    add_job((root_job){.kind = RJ_FIN_REFERENTS});
    add_job((root_job){.kind = RJ_FIN_QUEUE});
    add_job((root_job){.kind = RJ_TIMERS});
}

static void run_job(gc_marker *m, const root_job *j) {
    switch (j->kind) {
    case RJ_RANGE:
        scan_words(m, j->lo, j->hi);
        for (size_t i = 0; i < j->nregs; i++)
            gc_marker_word(m, j->regs[i]);
        break;
    case RJ_WORD:
        gc_marker_word(m, j->word);
        break;
    case RJ_HANDLES:
        gc_roots_mark_handles(m);
        break;
    case RJ_ROOTS:
        gc_roots_mark_ranges(m);
        break;
    case RJ_FIN_REFERENTS:
        gc_final_mark_referents(m);
        break;
    case RJ_FIN_QUEUE:
        gc_final_mark_queue(m);
        break;
    case RJ_TIMERS:
        gort_timers_scan(m);
        break;
    }
}

/* ---- draining ---------------------------------------------------------------------------- */

/* Takes budget for BUDGET_BATCH objects; false when the slice is over. */
static bool budget_take(gc_marker *m) {
    if (m->budget_left > 0)
        return true;
    if (atomic_load_explicit(&mk.budget, memory_order_relaxed) == INT64_MAX) {
        m->budget_left = INT64_MAX;
        return true;
    }
    int64_t left = atomic_fetch_sub(&mk.budget, BUDGET_BATCH);
    if (left <= 0)
        return false;
    m->budget_left = BUDGET_BATCH;
    return true;
}

/* Gives half of m's buffer to the full list when other helpers have none. */
static void share_work(gc_marker *m) {
    workbuf *b = wb_get_empty();
    size_t half = m->cur->n / 2;
    memcpy(b->obj, m->cur->obj, half * sizeof(uintptr_t));
    memmove(m->cur->obj, m->cur->obj + half, (m->cur->n - half) * sizeof(uintptr_t));
    b->n = half;
    m->cur->n -= half;
    wb_put_full(b);
}

#define PREFETCH_RING 8

/* Drains until no work is reachable or the budget ends; false on the latter.
 * Objects go through a small ring and are prefetched when they enter it, so
 * that the cache miss of one overlaps the scanning of the others. */
static bool drain(gc_marker *m) {
    uintptr_t ring[PREFETCH_RING];
    unsigned head = 0, n = 0, scanned = 0;
    for (;;) {
        while (n < PREFETCH_RING && m->cur != NULL && m->cur->n > 0) {
            uintptr_t o = m->cur->obj[--m->cur->n];
            __builtin_prefetch((const void *)o);
            ring[(head + n++) % PREFETCH_RING] = o;
        }
        if (n > 0) {
            if (!budget_take(m)) { /* give the ring back */
                for (; n > 0; n--, head++)
                    push(m, ring[head % PREFETCH_RING]);
                return false;
            }
            m->budget_left--;
            uintptr_t o = ring[head % PREFETCH_RING];
            head++;
            n--;
            scan_object(m, o);
            if (++scanned % 32 == 0 && m->cur != NULL && m->cur->n >= 16 &&
                atomic_load_explicit(&mk.nfull, memory_order_relaxed) == 0 &&
                atomic_load_explicit(&mk.nbusy, memory_order_relaxed) < mk.nhelpers)
                share_work(m);
            continue;
        }
        workbuf *b = wb_take_full();
        if (b != NULL) {
            if (m->cur != NULL)
                wb_put_empty(m->cur);
            m->cur = b;
            continue;
        }
        return true;
    }
}

static void mark_helper(void *arg, int wi) {
    (void)arg;
    gc_marker *m = &mk.markers[wi];
    atomic_fetch_add(&mk.nbusy, 1);
    for (;;) {
        if (!drain(m)) { /* slice over: leave the work for the next one */
            if (m->cur != NULL && m->cur->n > 0) {
                wb_put_full(m->cur);
                m->cur = NULL;
            }
            atomic_fetch_sub(&mk.nbusy, 1);
            return;
        }
        atomic_fetch_sub(&mk.nbusy, 1);
        for (unsigned spins = 0;; spins++) {
            if (atomic_load(&mk.nfull) > 0) {
                atomic_fetch_add(&mk.nbusy, 1);
                break;
            }
            if (atomic_load(&mk.nbusy) == 0)
                return;
            if (spins % 1024 == 1023)
                sched_yield();
            else
                gort_rt_cpu_relax();
        }
    }
}

bool gc_mark_run(uint64_t budget) {
    atomic_store(&mk.budget, budget == 0 ? INT64_MAX : (int64_t)budget);
    for (int i = 0; i < mk.nmarkers; i++)
        mk.markers[i].budget_left = 0;
    atomic_store(&mk.nbusy, 0);
    mk.nhelpers = gort_sched_worker_count();
    if (gort_sched_worker_count() > mk.nmarkers)
        gort_rt_fatal("mark: the worker count changed during a cycle");
    gort_stw_run_parallel(mark_helper, NULL);
    bool done = atomic_load(&mk.nfull) == 0;
    for (int i = 0; i < mk.nmarkers; i++)
        if (mk.markers[i].cur != NULL && mk.markers[i].cur->n > 0)
            done = false;
    return done;
}

/* Root jobs only, no object scanned: the grey objects they find wait in the
 * markers' buffers for gc_mark_run. */
static void roots_helper(void *arg, int wi) {
    (void)arg;
    gc_marker *m = &mk.markers[wi];
    for (size_t j; (j = atomic_fetch_add(&mk.next_job, 1)) < mk.njobs;)
        run_job(m, &mk.jobs[j]);
}

void gc_mark_roots(void) {
    gort_stw_run_parallel(roots_helper, NULL);
}

static void flush_local(void **slot, void *arg) {
    (void)arg;
    if (*slot != NULL)
        gc_mark_flush_cache(*slot);
}

void gc_mark_flush_buffers(void) {
    gort_stw_visit_gc_locals(flush_local, NULL);
}

uint64_t gc_mark_live_bytes(void) {
    uint64_t live = atomic_load(&mk.live_other);
    for (int i = 0; i < mk.nmarkers; i++)
        live += mk.markers[i].live;
    return live;
}

void gc_mark_abort(void) {
    workbuf *b;
    while ((b = wb_take_full()) != NULL)
        wb_put_empty(b);
    for (int i = 0; i < mk.nmarkers; i++)
        if (mk.markers[i].cur != NULL) {
            wb_put_empty(mk.markers[i].cur);
            mk.markers[i].cur = NULL;
        }
    mk.njobs = 0;
    for (gc_span *s = gc_span_all(); s != NULL; s = s->all_next) {
        uint8_t st = atomic_load(&s->state);
        if ((st == SPAN_SMALL || st == SPAN_LARGE) && s->marks != NULL)
            for (size_t i = 0; i < s->nelems; i++)
                atomic_store_explicit(&s->marks[i], 0, memory_order_relaxed);
    }
}

/* ---- checkmark ------------------------------------------------------------------------------ */

static void check_object(gc_marker *m, uintptr_t base) {
    m->checking = base;
    scan_object(m, base);
}

void gc_mark_checkmark(void) {
    gc_marker m = {.mode = MODE_CHECK};
    size_t checked = 0;
    for (gc_span *s = gc_span_all(); s != NULL; s = s->all_next) {
        uint8_t st = atomic_load(&s->state);
        if ((st != SPAN_SMALL && st != SPAN_LARGE) || s->noscan)
            continue;
        uint32_t fifs = atomic_load_explicit(&s->fifs, memory_order_relaxed);
        if (st == SPAN_LARGE && fifs == 0)
            continue;
        for (size_t i = 0; i < s->nelems; i++) {
            if (st == SPAN_SMALL && i >= fifs && !bit_get(s->allocbits, i))
                continue;
            /* A marked object, or an unmarked finalizable one (its
             * referents were marked on its behalf): no white referent. */
            if (mark_get(s, i) || bit_get(s->finbits, i)) {
                check_object(&m, s->start + i * s->elemsize);
                checked++;
            }
        }
    }
    /* The precise roots: everything they reach is marked (with the walk
     * above, everything reachable from them is). */
    m.checking = 0;
    gc_roots_mark_handles(&m);
    gc_final_mark_queue(&m);
    gort_timers_scan(&m);
    (void)checked;
}

size_t gc_mark_stack_bytes(void) {
    return mk.stack_bytes;
}
