/* gc/gc.h - the collector's interface to the rest of the runtime and to tests.
 *
 * sched/ calls the hooks below (runtime copies, spawn arguments, detach,
 * stop); channels and timers use the custom-scan objects. Nothing here is
 * public. The design is in docs/gc.md and DESIGN.md section 4.
 */
#ifndef GORT_GC_GC_H
#define GORT_GC_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort.h"

/* True while the collector marks (the barrier is on). */
static inline bool gort_gc_marking(void) {
    return __atomic_load_n(&go_internal_gc_marking, __ATOMIC_RELAXED) != 0;
}

/* Shades p (any word: non-heap values are ignored) when marking. */
static inline void gort_gc_shade(const void *p) {
    if (gort_gc_marking())
        go_internal_gc_shade(p);
}

/* Shades every aligned word of [p, p+n) conservatively when marking. */
void gort_gc_shade_range(const void *p, size_t n);

/* ---- objects that scan themselves (channels, timers) -------------------- */
typedef struct gort_gc_scanner gort_gc_scanner;
/* Called by the marker for a live object: report every pointer it holds. */
typedef void (*gort_gc_scan_fn)(void *obj, gort_gc_scanner *s);
/* A zeroed object of size bytes scanned by scan, or NULL on out of memory. */
void *gort_gc_new_custom(size_t size, gort_gc_scan_fn scan);
void gort_gc_scan_ptr(gort_gc_scanner *s, const void *p);
void gort_gc_scan_range(gort_gc_scanner *s, const void *p, size_t n); /* conservative */

/* ---- hooks for sched/ --------------------------------------------------- */
/* An attached thread detaches: flush its barrier buffer, release its cache
 * (DESIGN.md section 7 rule 9). */
void gort_gc_release_local(void **gc_local);
/* The workers have exited (go_stop, go_main's return): release their caches
 * and abort a cycle that could not finish (rule 13). */
void gort_gc_runtime_stopped(void);
/* A runtime start: takes the configuration (pacer, limits, GORT_DEBUG). */
void gort_gc_runtime_starting(int gc_percent, size_t memory_limit, size_t heap_limit);
/* From the monitor thread about once a second: returns long-free spans to
 * the OS. */
void gort_gc_scavenge_tick(int64_t now);

/* ---- for tests ---------------------------------------------------------- */
int gort_gc_class_count(void);
size_t gort_gc_class_size(int c); /* c in [1, count] */
#define GORT_GC_MAX_SMALL 32768
/* The start of the allocated object holding p, or NULL (free slot, not heap). */
void *gort_gc_object_start(const void *p);
/* Fault injection: after the next n requests for memory from the OS (the
 * heap growing, span and table metadata, handles, root ranges), every such
 * request fails until gort_gc_fault_inject(-1). Allocations served from
 * memory the heap already has do not ask the OS: allocate something larger
 * than any free span to reach the path. Returns false when this build has no
 * fault injection (only Debug builds have it). */
bool gort_gc_fault_inject(long n);
/* Parses a GORT_DEBUG string now (also read at every start). */
void gort_gc_debug_parse(const char *spec);

#endif
