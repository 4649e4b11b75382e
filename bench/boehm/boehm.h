/* bench/boehm/boehm.h - what the Boehm-GC twins of the collector benchmarks
 * share (header only; each bench/boehm/<name>.c is its own executable, built
 * by bench/CMakeLists.txt when pkg-config finds bdw-gc, Debian's libgc-dev).
 *
 * The twins use the collector as a C program usually does: GC_MALLOC for
 * every object (scanned conservatively: Boehm does not know where the pointer
 * fields are), statics and thread stacks as roots, and the library's defaults
 * otherwise. Two of those defaults matter here:
 *
 *  - Parallel marking. Debian's libgc is built with it, but the marker
 *    threads start only when the program creates its first thread or calls
 *    GC_start_mark_threads(), which boehm_start() does. Their number (the
 *    initiating thread included) comes from GC_MARKERS when set (bench/run.sh
 *    sets it to the worker count it gives gort and Go), else from the number
 *    of CPUs. The twins report it as procs=.
 *  - All interior pointers are recognised, so the collector adds one byte to
 *    every request so that a pointer just past the end still keeps the object:
 *    a 16-byte request takes a 32-byte slot, a 32-byte one 48. That is the
 *    library's default and is kept; BENCH_BOEHM_INTERIOR=0 turns it off
 *    (GC_set_all_interior_pointers(0) before GC_INIT) to see the difference.
 *    The twins report it as interior= and the slot size as slot=.
 */
#ifndef GORT_BENCH_BOEHM_H
#define GORT_BENCH_BOEHM_H

#define GC_THREADS /* before <gc.h>: thread support, pthread_create redirected */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Initialises the collector and starts its marker threads; returns the number
 * of threads that mark (1 when marking is not parallel). */
static inline int boehm_start(void) {
    const char *interior = getenv("BENCH_BOEHM_INTERIOR");
    if (interior != NULL && strcmp(interior, "0") == 0)
        GC_set_all_interior_pointers(0);
    GC_INIT();
    GC_start_mark_threads();
    return GC_get_parallel() + 1;
}

/* GC_MALLOC, or exit 2 when the heap is exhausted (not a wrong result). */
static inline void *boehm_alloc(size_t n, const char *who) {
    void *p = GC_MALLOC(n);
    if (p == NULL) {
        fprintf(stderr, "%s: GC_MALLOC(%zu) returned NULL\n", who, n);
        exit(2);
    }
    return p;
}

#endif
