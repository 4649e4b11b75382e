/* bench/boehm/binarytrees.c - the Boehm-GC twin of bench/binarytrees.c: the
 * Computer Language Benchmarks Game's binary-trees program on one thread,
 * with nodes from GC_MALLOC.
 *
 * With max = BENCH_BINARYTREES_DEPTH (default 18, at least 6): a stretch tree
 * of depth max+1 is built, checked and dropped; a long-lived tree of depth max
 * is built and kept; then for d = 4, 6, ..., max, 2^(max-d+4) trees of depth d
 * are built, checked and dropped; finally the long-lived tree is checked. A
 * node is two pointers (16 bytes requested: a 32-byte slot with the library's
 * default interior-pointer padding, see boehm.h). The usual check lines go to
 * stdout (bench/run.sh keeps only the name= lines), then
 *
 *   name=binarytrees impl=boehm metric=<ms> unit=ms stat=time procs=<markers> depth=<max>
 *       gcs=<k> slot=32 interior=1
 *   name=binarytrees impl=boehm metric=<KiB> unit=KiB stat=peak_rss ... (the same fields)
 *
 * The time runs from the first allocation to the last check line; the peak
 * RSS is getrusage's ru_maxrss at the end. One thread allocates; the marker
 * threads (GC_MARKERS, bench/run.sh sets 2) mark in parallel within each
 * stop-the-world collection. gcs= counts the collections.
 *
 * Exit 1 when a check differs from the node count it must have.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdbool.h>
#include <sys/resource.h>

#include "bench.h"
#include "boehm.h"

enum { MIN_DEPTH = 4 };

typedef struct node {
    struct node *left, *right;
} node;

static bool failed;

static node *bottom_up(int depth) {
    node *l = NULL, *r = NULL;
    if (depth > 0) {
        l = bottom_up(depth - 1);
        r = bottom_up(depth - 1);
    }
    node *n = boehm_alloc(sizeof *n, "boehm_binarytrees");
    n->left = l;
    n->right = r;
    return n;
}

static long check(const node *n) {
    if (n->left == NULL)
        return 1;
    return 1 + check(n->left) + check(n->right);
}

static long nodes(int depth) {
    return (1L << (depth + 1)) - 1;
}

static void verify(const char *what, int depth, long got, long want) {
    if (got != want) {
        fprintf(stderr, "boehm_binarytrees: %s of depth %d: check %ld, expected %ld\n", what, depth,
                got, want);
        failed = true;
    }
}

int main(void) {
    long max_depth = bench_env_long("BENCH_BINARYTREES_DEPTH", 18);
    if (max_depth < MIN_DEPTH + 2)
        max_depth = MIN_DEPTH + 2;
    if (max_depth > 30) {
        fprintf(stderr, "boehm_binarytrees: depth %ld is too large (at most 30)\n", max_depth);
        return 2;
    }
    int max = (int)max_depth;
    int markers = boehm_start();
    size_t gc0 = GC_get_gc_no();

    uint64_t t0 = bench_now_ns();
    int stretch = max + 1;
    long c = check(bottom_up(stretch));
    printf("stretch tree of depth %d\t check: %ld\n", stretch, c);
    verify("stretch tree", stretch, c, nodes(stretch));

    node *long_lived = bottom_up(max);

    for (int d = MIN_DEPTH; d <= max; d += 2) {
        long iterations = 1L << (max - d + MIN_DEPTH);
        long sum = 0;
        for (long i = 0; i < iterations; i++)
            sum += check(bottom_up(d));
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, sum);
        verify("trees", d, sum, iterations * nodes(d));
    }

    c = check(long_lived);
    printf("long lived tree of depth %d\t check: %ld\n", max, c);
    verify("long lived tree", max, c, nodes(max));
    uint64_t t1 = bench_now_ns();

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t gcs = GC_get_gc_no() - gc0;
    size_t slot = GC_size(long_lived);
    int interior = GC_get_all_interior_pointers();
    printf("name=binarytrees impl=boehm metric=%.1f unit=ms stat=time procs=%d depth=%d gcs=%zu "
           "slot=%zu interior=%d\n",
           (double)(t1 - t0) / 1e6, markers, max, gcs, slot, interior);
    printf(
        "name=binarytrees impl=boehm metric=%ld unit=KiB stat=peak_rss procs=%d depth=%d gcs=%zu "
        "slot=%zu interior=%d\n",
        ru.ru_maxrss, markers, max, gcs, slot, interior);
    return failed ? 1 : 0;
}
