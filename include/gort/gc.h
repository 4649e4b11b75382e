/* gort/gc.h - the collected heap.
 *
 * Objects come from go_new (typed: the collector knows where their pointer
 * fields are), go_new_array and go_alloc_bytes (no pointers, never scanned).
 * Nothing frees them: the collector reclaims what no root reaches. Roots are
 * task stacks, attached threads' stacks, ranges registered with
 * go_gc_add_roots, handles and spawn arguments. Statics, thread-locals and
 * malloc'ed memory are NOT roots unless registered (docs/gc.md).
 *
 * The one rule (DESIGN.md section 4): every pointer store goes through
 * GO_STORE, except a store into a local variable of the running task whose
 * address no other task or thread holds. Copies of memory that holds pointers
 * use go_memmove; reading a pointer out of another task's stack variable uses
 * GO_LOAD.
 *
 * Allocation is allowed from tasks and attached threads; from any other thread
 * it is fatal. go_gc_collect, go_gc_run_finalizers and the handle and root
 * functions may be called from any thread while the runtime runs.
 */
#ifndef GORT_GC_H
#define GORT_GC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct go_type {
    const char *name;
    size_t size;                 /* bytes of one object */
    size_t nptrs;                /* number of pointer fields */
    const size_t *ptr_offsets;   /* their byte offsets (offsetof), multiples of 8 */
    void (*finalize)(void *obj); /* optional; run once the object is unreachable */
} go_type;

/* A zeroed object of type t, 16-byte aligned (8 if it is 8 bytes), or NULL
 * when out of memory (after a last full collection). */
void *go_new(const go_type *t);
/* n consecutive objects of t->size bytes, each with t's pointer fields; NULL
 * on out of memory or overflow. A finalizer runs once per element. */
void *go_new_array(const go_type *t, size_t n);
/* n zeroed bytes that hold no pointers (never scanned); NULL on out of memory. */
void *go_alloc_bytes(size_t n);

/* ---- the barrier ---------------------------------------------------------- */
/* Internal: read by the inline code below. Nonzero while the collector marks. */
extern int go_internal_gc_marking;
void go_internal_gc_barrier(void *const *slot, void *value);
void go_internal_gc_shade(const void *p);

static inline void *go_internal_gc_load(void *const *slot) {
    void *v = __atomic_load_n((void **)slot, __ATOMIC_RELAXED);
    if (__builtin_expect(__atomic_load_n(&go_internal_gc_marking, __ATOMIC_RELAXED) != 0, 0))
        go_internal_gc_shade(v);
    return v;
}

/* Stores value into the pointer-sized lvalue with the write barrier, then a
 * relaxed atomic store. Each argument is evaluated once. */
#define GO_STORE(lvalue, value)                                                                    \
    do {                                                                                           \
        __typeof__(lvalue) *go_store_slot_ = &(lvalue);                                            \
        __typeof__(lvalue) go_store_value_ = (value);                                              \
        _Static_assert(sizeof(*go_store_slot_) == sizeof(void *),                                  \
                       "GO_STORE: pointer-sized slots only");                                      \
        if (__builtin_expect(__atomic_load_n(&go_internal_gc_marking, __ATOMIC_RELAXED) != 0, 0))  \
            go_internal_gc_barrier((void *const *)go_store_slot_, (void *)go_store_value_);        \
        __atomic_store_n(go_store_slot_, go_store_value_, __ATOMIC_RELAXED);                       \
    } while (0)

/* Reads a pointer from a variable that another task may write (a slot on
 * another task's stack): a relaxed atomic load that shades the value while
 * the collector marks. */
#define GO_LOAD(lvalue) ((__typeof__(lvalue))go_internal_gc_load((void *const *)&(lvalue)))

/* memmove for memory that holds pointers: the overwritten and the copied words
 * are shaded while marking; aligned whole words are copied atomically. */
void go_memmove(void *dst, const void *src, size_t n);

/* ---- collections and finalizers --------------------------------------------- */
/* Runs a full cycle, sweep included: joins a cycle that has not started
 * marking, else waits for the current one and runs the next (Go's
 * runtime.GC). Conservative roots may still keep a dropped object alive. */
void go_gc_collect(void);
/* Runs queued finalizers on the caller; returns when the queue is empty and
 * no finalizer is running (a finalizer that calls it does not wait for
 * itself). */
void go_gc_run_finalizers(void);

/* ---- handles and registered ranges ------------------------------------------ */
typedef struct go_handle go_handle;  /* keeps an object alive for code outside tasks */
go_handle *go_handle_new(void *obj); /* NULL on out of memory */
void *go_handle_get(go_handle *h);
void go_handle_free(go_handle *h);

/* Registers [start, start+len) as a root, scanned conservatively (aligned
 * words); pointer stores into it use GO_STORE. 0, GO_EINVAL, GO_ENOMEM. */
int go_gc_add_roots(void *start, size_t len);
void go_gc_remove_roots(void *start);

/* ---- statistics ----------------------------------------------------------------- */
typedef struct go_gc_stats {
    uint64_t cycles;    /* completed cycles */
    size_t heap_live;   /* bytes marked at the end of the last cycle */
    size_t heap_alloc;  /* bytes in allocated objects now, unswept garbage included */
    size_t heap_goal;   /* heap_alloc at which the next cycle should finish */
    size_t heap_mapped; /* bytes of heap address space backed by memory */
    uint64_t bytes_allocated, bytes_freed; /* cumulative */
    uint64_t pause_total_ns;               /* all stop-the-world time, every phase of every cycle */
    uint64_t pause_max_ns;                 /* the longest single stop-the-world period */
    uint64_t pause_ns[256];                /* stop-the-world time of cycle k (all its phases) at
                                              [(k-1) % 256], as Go's MemStats.PauseNs */
} go_gc_stats;
void go_gc_stats_get(go_gc_stats *out);

#ifdef __cplusplus
}
#endif

#endif
