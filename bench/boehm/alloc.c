/* bench/boehm/alloc.c - the Boehm-GC twin of bench/alloc.c: allocation
 * throughput for 16-, 64- and 256-byte objects, collections included.
 *
 * For each size, the main thread allocates N objects with GC_MALLOC
 * (BENCH_ALLOC_N for all three; default 40,000,000 of 16 bytes, 16,000,000 of
 * 64 and 5,000,000 of 256). Each object's first word points to one long-lived
 * sentinel object and its second holds its sequence number; it is stored into
 * a ring of 1024 slots (a GC_MALLOC'ed array reachable from a static) that
 * keeps the last 1024 alive, so the collector has something to mark and runs
 * as the heap grows. A warm-up of N/10 objects precedes the timed loop. The
 * metric is the timed loop's elapsed time divided by N; gcs= counts the
 * collections meanwhile, slot= is what one object really takes (boehm.h).
 *
 *   name=alloc impl=boehm metric=<ns> unit=ns/object procs=<markers> size=16 objects=<N>
 *       gcs=<k> slot=32 interior=1
 *
 * Exit 1 when the ring does not hold the last 1024 objects with their
 * sentinel pointer afterwards.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdbool.h>

#include "bench.h"
#include "boehm.h"

enum { RING = 1024 };

/* The head of every object; the rest up to the size is zeroed padding. */
typedef struct obj {
    struct obj *p;
    long seq;
} obj;

static obj **ring; /* a static: a root for Boehm */

static void loop(size_t size, long n, obj *sentinel) {
    for (long i = 0; i < n; i++) {
        obj *o = boehm_alloc(size, "boehm_alloc");
        o->p = sentinel;
        o->seq = i;
        ring[i & (RING - 1)] = o;
    }
}

/* Slot k must hold the object with seq = k mod 1024 among the last 1024. */
static bool verify(size_t size, long n, const obj *sentinel) {
    for (long k = 0; k < RING && k < n; k++) {
        const obj *o = ring[k];
        long seq = o == NULL ? -1 : o->seq;
        if (o == NULL || o->p != sentinel || (seq & (RING - 1)) != k || seq < n - RING ||
            seq >= n) {
            fprintf(stderr,
                    "boehm_alloc: size %zu: ring slot %ld holds seq %ld (sentinel %s), expected "
                    "one of the last %d of %ld\n",
                    size, k, seq, o != NULL && o->p == sentinel ? "ok" : "wrong", RING, n);
            return false;
        }
    }
    return true;
}

int main(void) {
    static const size_t sizes[] = {16, 64, 256};
    static const long defaults[] = {40000000, 16000000, 5000000};
    int markers = boehm_start();
    int interior = GC_get_all_interior_pointers();
    bool ok = true;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        long n = bench_env_long("BENCH_ALLOC_N", defaults[s]);
        ring = boehm_alloc(RING * sizeof *ring, "boehm_alloc");
        obj *sentinel = boehm_alloc(size, "boehm_alloc");
        loop(size, n / 10, sentinel);
        size_t gc0 = GC_get_gc_no();
        uint64_t t0 = bench_now_ns();
        loop(size, n, sentinel);
        uint64_t t1 = bench_now_ns();
        size_t gcs = GC_get_gc_no() - gc0;
        printf("name=alloc impl=boehm metric=%.2f unit=ns/object procs=%d size=%zu objects=%ld "
               "gcs=%zu slot=%zu interior=%d\n",
               (double)(t1 - t0) / (double)n, markers, size, n, gcs, GC_size(sentinel), interior);
        fflush(stdout);
        if (!verify(size, n, sentinel))
            ok = false;
        ring = NULL;
    }
    return ok ? 0 : 1;
}
