/* bench/binarytrees.c - the Computer Language Benchmarks Game's binary-trees
 * program on one task: allocation, tracing and reclaiming of many small
 * short-lived objects beside a long-lived tree.
 *
 * With max = BENCH_BINARYTREES_DEPTH (default 18, at least 6), the main task
 * (go_main) builds and checks a stretch tree of depth max+1 and drops it;
 * builds a long-lived tree of depth max and keeps it; then for d = 4, 6, ...,
 * max builds, checks and drops 2^(max-d+4) trees of depth d, one after the
 * other; finally checks the long-lived tree. A node is two pointers, a 16-byte
 * object from go_new(&node_type) whose go_type lists both fields; a parent is
 * allocated after its two subtrees and its fields are set with GO_STORE (they
 * are fields of a heap object). A tree of depth d has 2^(d+1)-1 nodes and its
 * check is its node count. The usual check lines
 *
 *     stretch tree of depth 19	 check: 1048575
 *     262144	 trees of depth 4	 check: 8126464
 *     ...
 *     long lived tree of depth 18	 check: 524287
 *
 * go to stdout (bench/run.sh keeps only the name= lines), then
 *
 *     name=binarytrees impl=gort metric=<ms> unit=ms stat=time procs=<n> depth=<max> gcs=<k>
 *     name=binarytrees impl=gort metric=<KiB> unit=KiB stat=peak_rss ... (the same fields)
 *
 * The time runs from the first allocation to the last check line; the peak
 * RSS is getrusage's ru_maxrss, read in the process at the end; gcs= counts
 * the collector's cycles. The worker count comes from GORT_MAXPROCS
 * (bench/run.sh sets 2): the program is one task, the collector's background
 * marking may use the other worker. The Go twin is bench/go/binarytrees, the
 * Boehm-GC one bench/boehm/binarytrees.c.
 *
 * Wrong results (exit 1): a check that differs from the node count it must
 * have. go_new returning NULL exits 2.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "bench.h"
#include "gort.h"

enum { MIN_DEPTH = 4 };

typedef struct node {
    struct node *left, *right;
} node;

static const size_t node_ptrs[] = {offsetof(node, left), offsetof(node, right)};
static const go_type node_type = {
    .name = "binarytrees.node",
    .size = sizeof(node),
    .nptrs = 2,
    .ptr_offsets = node_ptrs,
};

static int max_depth;
static bool failed;
static go_gc_stats stats; /* 2 KiB: not on the task's stack */
static struct {
    uint64_t ns;
    long maxrss_kb;
    uint64_t gcs;
    int procs;
} result;

static node *bottom_up(int depth) {
    node *l = NULL, *r = NULL;
    if (depth > 0) {
        l = bottom_up(depth - 1);
        r = bottom_up(depth - 1);
    }
    node *n = go_new(&node_type);
    if (n == NULL) {
        fprintf(stderr, "bench_binarytrees: go_new returned NULL (out of memory)\n");
        exit(2);
    }
    GO_STORE(n->left, l);
    GO_STORE(n->right, r);
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
        fprintf(stderr, "bench_binarytrees: %s of depth %d: check %ld, expected %ld\n", what, depth,
                got, want);
        failed = true;
    }
}

static int bench_main(void *arg) {
    (void)arg;
    int max = max_depth;
    go_gc_stats_get(&stats);
    uint64_t gc0 = stats.cycles;

    uint64_t t0 = bench_now_ns();
    int stretch = max + 1;
    long c = check(bottom_up(stretch));
    printf("stretch tree of depth %d\t check: %ld\n", stretch, c);
    verify("stretch tree", stretch, c, nodes(stretch));

    /* A local of this task: its stack is a root. */
    node *long_lived = bottom_up(max);

    for (int d = MIN_DEPTH; d <= max; d += 2) {
        long iterations = 1L << (max - d + MIN_DEPTH);
        long sum = 0;
        for (long i = 0; i < iterations; i++) {
            sum += check(bottom_up(d));
            go_safepoint();
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, sum);
        verify("trees", d, sum, iterations * nodes(d));
    }

    c = check(long_lived);
    printf("long lived tree of depth %d\t check: %ld\n", max, c);
    verify("long lived tree", max, c, nodes(max));
    uint64_t t1 = bench_now_ns();

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    go_gc_stats_get(&stats);
    result.ns = t1 - t0;
    result.maxrss_kb = ru.ru_maxrss;
    result.gcs = stats.cycles - gc0;
    result.procs = go_workers();
    return failed ? 1 : 0;
}

int main(void) {
    long depth = bench_env_long("BENCH_BINARYTREES_DEPTH", 18);
    if (depth < MIN_DEPTH + 2)
        depth = MIN_DEPTH + 2;
    if (depth > 30) {
        fprintf(stderr, "bench_binarytrees: depth %ld is too large (at most 30)\n", depth);
        return 2;
    }
    max_depth = (int)depth;
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_binarytrees: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    printf("name=binarytrees impl=gort metric=%.1f unit=ms stat=time procs=%d depth=%d gcs=%llu\n",
           (double)result.ns / 1e6, result.procs, max_depth, (unsigned long long)result.gcs);
    printf("name=binarytrees impl=gort metric=%ld unit=KiB stat=peak_rss procs=%d depth=%d "
           "gcs=%llu\n",
           result.maxrss_kb, result.procs, max_depth, (unsigned long long)result.gcs);
    return rc == 0 ? 0 : 1;
}
