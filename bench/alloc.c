/* bench/alloc.c - allocation throughput of the collected heap for 16-, 64-
 * and 256-byte objects, collections included.
 *
 * For each size the main task (go_main) allocates N objects with go_new
 * (BENCH_ALLOC_N for all three; default 40,000,000 of 16 bytes, 16,000,000 of
 * 64 and 5,000,000 of 256, about a second each for Go on this project's VM).
 * Each object's type has one pointer field, its first word, so that it is
 * scanned as Go's are; the field is set (GO_STORE) to one long-lived sentinel
 * object and the second word holds the object's sequence number. The object is
 * then stored (GO_STORE) into a ring of 1024 slots, an array from
 * go_new_array of a one-pointer type, which keeps the last 1024 alive: the
 * collector has a little to mark and runs as the heap grows, as the pacer
 * decides. A warm-up of N/10 objects precedes the timed loop. The metric is
 * the timed loop's elapsed time divided by N; gcs= counts the cycles that
 * completed meanwhile.
 *
 *     name=alloc impl=gort metric=<ns> unit=ns/object procs=<n> size=16 objects=<N> gcs=<k>
 *
 * The worker count comes from GORT_MAXPROCS (bench/run.sh sets 2: one
 * allocating task, and a worker for the collector's background marking). The
 * Go twin is bench/go/alloc, the Boehm-GC one bench/boehm/alloc.c.
 *
 * Wrong results (exit 1): a ring that does not hold the last 1024 objects,
 * each with its sentinel pointer, afterwards. go_new returning NULL exits 2.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdbool.h>
#include <stddef.h>

#include "bench.h"
#include "gort.h"

enum { RING = 1024, NSIZES = 3 };

/* The head of every object; the rest up to the type's size is zeroed. */
typedef struct obj {
    struct obj *p;
    long seq;
} obj;

static const size_t first_word[] = {0};
static const go_type obj_types[NSIZES] = {
    {.name = "alloc.obj16", .size = 16, .nptrs = 1, .ptr_offsets = first_word},
    {.name = "alloc.obj64", .size = 64, .nptrs = 1, .ptr_offsets = first_word},
    {.name = "alloc.obj256", .size = 256, .nptrs = 1, .ptr_offsets = first_word},
};
static const long default_n[NSIZES] = {40000000, 16000000, 5000000};
/* One ring slot: a pointer. */
static const go_type slot_type = {
    .name = "alloc.slot", .size = sizeof(void *), .nptrs = 1, .ptr_offsets = first_word};

static go_gc_stats stats; /* 2 KiB: not on the task's stack */
static int procs;
static struct {
    double ns_per_object;
    long n;
    uint64_t gcs;
} results[NSIZES];

static void *must(void *p) {
    if (p == NULL) {
        fprintf(stderr, "bench_alloc: out of memory\n");
        exit(2);
    }
    return p;
}

static void loop(const go_type *t, obj **ring, long n, obj *sentinel) {
    for (long i = 0; i < n; i++) {
        obj *o = must(go_new(t));
        GO_STORE(o->p, sentinel);
        o->seq = i;
        GO_STORE(ring[i & (RING - 1)], o);
    }
}

/* Slot k must hold the object with seq = k mod 1024 among the last 1024. */
static bool verify(size_t size, obj *const *ring, long n, const obj *sentinel) {
    for (long k = 0; k < RING && k < n; k++) {
        const obj *o = ring[k];
        long seq = o == NULL ? -1 : o->seq;
        if (o == NULL || o->p != sentinel || (seq & (RING - 1)) != k || seq < n - RING ||
            seq >= n) {
            fprintf(stderr,
                    "bench_alloc: size %zu: ring slot %ld holds seq %ld (sentinel %s), expected "
                    "one of the last %d of %ld\n",
                    size, k, seq, o != NULL && o->p == sentinel ? "ok" : "wrong", RING, n);
            return false;
        }
    }
    return true;
}

static int bench_main(void *arg) {
    (void)arg;
    bool ok = true;
    procs = go_workers();
    for (int s = 0; s < NSIZES; s++) {
        const go_type *t = &obj_types[s];
        long n = bench_env_long("BENCH_ALLOC_N", default_n[s]);
        /* Locals of this task: its stack is a root. */
        obj **ring = must(go_new_array(&slot_type, RING));
        obj *sentinel = must(go_new(t));
        loop(t, ring, n / 10, sentinel);
        go_gc_stats_get(&stats);
        uint64_t gc0 = stats.cycles;
        uint64_t t0 = bench_now_ns();
        loop(t, ring, n, sentinel);
        uint64_t t1 = bench_now_ns();
        go_gc_stats_get(&stats);
        results[s].ns_per_object = (double)(t1 - t0) / (double)n;
        results[s].n = n;
        results[s].gcs = stats.cycles - gc0;
        if (!verify(t->size, ring, n, sentinel))
            ok = false;
    }
    return ok ? 0 : 1;
}

int main(void) {
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_alloc: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    for (int s = 0; s < NSIZES; s++)
        printf("name=alloc impl=gort metric=%.2f unit=ns/object procs=%d size=%zu objects=%ld "
               "gcs=%llu\n",
               results[s].ns_per_object, procs, obj_types[s].size, results[s].n,
               (unsigned long long)results[s].gcs);
    return rc == 0 ? 0 : 1;
}
