/* bench/pause.c - the stop-the-world pauses of full collections with a large
 * live heap, while small objects churn and many tasks are parked.
 *
 * Setup, on 2 workers (GORT_MAXPROCS; bench/run.sh sets 2):
 *   1. the main task (go_main) spawns BENCH_PAUSE_PARKED tasks (default
 *      10,000), each of which parks at once through the scheduler's park/ready
 *      interface (as in bench/parked.c), and waits until all are parked;
 *   2. it builds BENCH_PAUSE_MB (default 512) MB of 32-byte nodes (two
 *      pointer fields, set with GO_STORE, and two words) as one balanced
 *      binary tree, whose root is a static registered with go_gc_add_roots;
 *   3. it spawns a churner task that allocates 32-byte objects (one pointer,
 *      to a sentinel) into a ring of 4096 slots as fast as it can, calling
 *      go_safepoint() every 1024 objects;
 *   4. after one warm-up go_gc_collect(), it forces BENCH_PAUSE_CYCLES
 *      (default 5) more, timing each call; before each it spins for
 *      BENCH_PAUSE_GAP_MS (default 50) calling go_yield(), so that the churner
 *      runs between cycles as it does in the twins;
 *   5. it stops the churner, readies the parked tasks and waits for them, and
 *      walks the tree again: its node count and key sum must be intact.
 *
 * Every cycle that completed during step 4, forced or not, gives its pause
 * from go_gc_stats.pause_ns (all the stop-the-world time of that cycle, every
 * phase, each from the request to the restart, as Go's MemStats.PauseNs sums
 * its two phases). The lines are
 *
 *     name=pause impl=gort metric=<us> unit=us stat=pause_max procs=<n> live_mb=512
 *         parked=10000 cycles=<k> forced=5 collect_p50_ms=<ms> churn_mb=<MB> longest_stw_us=<us>
 *     name=pause impl=gort metric=<us> unit=us stat=pause_p50 ... (the same fields)
 *
 * collect_p50_ms= is the median wall time of one go_gc_collect() (the whole
 * cycle, sweep included, mostly concurrent); churn_mb= is what the churner
 * allocated during step 4; longest_stw_us= is go_gc_stats.pause_max_ns, the
 * longest single stop-the-world period of the collector over the whole run
 * (step 2 included). The Go twin is bench/go/pause, the Boehm-GC one
 * bench/boehm/pause.c (whose pause is its whole stop-the-world mark).
 *
 * Wrong results (exit 1): a damaged tree, a cycle whose pause was not
 * recorded (0), or more cycles than the pause_ns ring holds. go_new
 * returning NULL exits 2.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "bench.h"
#include "gort.h"
#include "sched/sched.h"

typedef struct node {
    struct node *left, *right;
    long key, pad;
} node;

typedef struct churn_obj {
    struct churn_obj *p;
    long seq, a, b;
} churn_obj;

static const size_t node_ptrs[] = {offsetof(node, left), offsetof(node, right)};
static const go_type node_type = {
    .name = "pause.node", .size = sizeof(node), .nptrs = 2, .ptr_offsets = node_ptrs};
static const size_t first_word[] = {0};
static const go_type churn_type = {
    .name = "pause.churn", .size = sizeof(churn_obj), .nptrs = 1, .ptr_offsets = first_word};
static const go_type slot_type = {
    .name = "pause.slot", .size = sizeof(void *), .nptrs = 1, .ptr_offsets = first_word};

enum { CHURN_RING = 4096, PAUSE_RING = 256 };

static long live_mb, nparked, forced;
static uint64_t gap_ns;

static node *root; /* registered with go_gc_add_roots */
static gort_task *_Atomic *parked_tasks;
static atomic_long parked, finished;
static atomic_int stop_churn, churn_done;
static atomic_long churned;

static go_gc_stats stats; /* 2 KiB each: not on a task's stack */
static uint64_t pauses[PAUSE_RING];
static struct {
    uint64_t max_ns, p50_ns, collect_p50_ns, longest_stw_ns;
    uint64_t cycles;
    long churn_mb;
    int procs;
} result;

static void *must(void *p) {
    if (p == NULL) {
        fprintf(stderr, "bench_pause: out of memory\n");
        exit(2);
    }
    return p;
}

static bool count_parked(gort_task *t, void *arg) {
    (void)t, (void)arg;
    atomic_fetch_add(&parked, 1);
    return true;
}

static void parker(void *arg) {
    long i = (long)(intptr_t)arg;
    atomic_store(&parked_tasks[i], gort_sched_current_task());
    gort_sched_park(count_parked, NULL, "bench");
    atomic_fetch_add(&finished, 1);
}

/* A balanced tree of n nodes whose keys are *next, *next+1, ... in preorder. */
static node *build(long n, long *next) {
    if (n == 0)
        return NULL;
    node *nd = must(go_new(&node_type));
    nd->key = (*next)++;
    long l = (n - 1) / 2;
    GO_STORE(nd->left, build(l, next));
    GO_STORE(nd->right, build(n - 1 - l, next));
    return nd;
}

static void walk(const node *nd, long *count, long *sum) {
    for (; nd != NULL; nd = nd->right) {
        (*count)++;
        *sum += nd->key;
        walk(nd->left, count, sum);
        go_safepoint(); /* 16 million nodes: a long loop */
    }
}

static void churn(void *arg) {
    (void)arg;
    /* Locals of this task: its stack is a root. */
    churn_obj **slots = must(go_new_array(&slot_type, CHURN_RING));
    churn_obj *sentinel = must(go_new(&churn_type));
    long i = 0;
    while (!atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
        for (int j = 0; j < 1024; j++, i++) {
            churn_obj *o = must(go_new(&churn_type));
            GO_STORE(o->p, sentinel);
            o->seq = i;
            GO_STORE(slots[i & (CHURN_RING - 1)], o);
        }
        atomic_store_explicit(&churned, i, memory_order_relaxed);
        go_safepoint();
    }
    atomic_store(&churn_done, 1);
}

static void spin_ns(uint64_t ns) {
    uint64_t until = bench_now_ns() + ns;
    while (bench_now_ns() < until)
        go_yield();
}

static int bench_main(void *arg) {
    (void)arg;
    result.procs = go_workers();
    long nodes = live_mb * (1L << 20) / 32;
    uint64_t *walls = must(calloc((size_t)forced, sizeof *walls));

    for (long i = 0; i < nparked; i++) {
        int rc = go_spawn(parker, (void *)(intptr_t)i);
        if (rc != 0) {
            fprintf(stderr, "bench_pause: go_spawn: %s\n", go_strerror(rc));
            return 2;
        }
    }
    while (atomic_load(&parked) < nparked)
        go_yield();

    int rc = go_gc_add_roots(&root, sizeof root);
    if (rc != 0) {
        fprintf(stderr, "bench_pause: go_gc_add_roots: %s\n", go_strerror(rc));
        return 2;
    }
    long next = 0;
    GO_STORE(root, build(nodes, &next));

    rc = go_spawn(churn, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_pause: go_spawn: %s\n", go_strerror(rc));
        return 2;
    }

    go_gc_collect();
    go_gc_stats_get(&stats);
    uint64_t c0 = stats.cycles;
    long churn0 = atomic_load(&churned);
    for (long k = 0; k < forced; k++) {
        spin_ns(gap_ns);
        uint64_t t0 = bench_now_ns();
        go_gc_collect();
        walls[k] = bench_now_ns() - t0;
    }
    go_gc_stats_get(&stats);
    uint64_t c1 = stats.cycles;
    long churn1 = atomic_load(&churned);

    atomic_store(&stop_churn, 1);
    while (!atomic_load(&churn_done))
        go_yield();
    for (long i = 0; i < nparked; i++) {
        gort_sched_ready(atomic_load(&parked_tasks[i]));
        go_safepoint();
    }
    while (atomic_load(&finished) < nparked)
        go_yield();

    long count = 0, sum = 0;
    walk(root, &count, &sum);
    GO_STORE(root, NULL);
    go_gc_remove_roots(&root);
    if (count != nodes || sum != nodes * (nodes - 1) / 2) {
        fprintf(stderr,
                "bench_pause: the tree has %ld nodes with key sum %ld, expected %ld and %ld\n",
                count, sum, nodes, nodes * (nodes - 1) / 2);
        return 1;
    }
    uint64_t n = c1 - c0;
    if (n == 0 || n > PAUSE_RING) {
        fprintf(stderr,
                "bench_pause: %llu cycles completed during the measurement: cannot read "
                "their pauses\n",
                (unsigned long long)n);
        return 1;
    }
    for (uint64_t k = c0 + 1; k <= c1; k++) {
        pauses[k - c0 - 1] = stats.pause_ns[(k - 1) % PAUSE_RING];
        if (pauses[k - c0 - 1] == 0) {
            fprintf(stderr, "bench_pause: cycle %llu has no recorded pause\n",
                    (unsigned long long)k);
            return 1;
        }
    }
    bench_sort_u64(pauses, (size_t)n);
    bench_sort_u64(walls, (size_t)forced);
    result.max_ns = bench_max(pauses, (size_t)n);
    result.p50_ns = bench_p50(pauses, (size_t)n);
    result.collect_p50_ns = bench_p50(walls, (size_t)forced);
    result.longest_stw_ns = stats.pause_max_ns;
    result.cycles = n;
    result.churn_mb = (churn1 - churn0) * (long)sizeof(churn_obj) >> 20;
    free(walls);
    return 0;
}

int main(void) {
    live_mb = bench_env_long("BENCH_PAUSE_MB", 512);
    nparked = bench_env_long("BENCH_PAUSE_PARKED", 10000);
    forced = bench_env_long("BENCH_PAUSE_CYCLES", 5);
    gap_ns = (uint64_t)bench_env_long("BENCH_PAUSE_GAP_MS", 50) * 1000000u;
    parked_tasks = calloc((size_t)nparked, sizeof *parked_tasks);
    if (parked_tasks == NULL)
        return 2;
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_pause: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return rc;
    char rest[256];
    snprintf(rest, sizeof rest,
             "procs=%d live_mb=%ld parked=%ld cycles=%llu forced=%ld collect_p50_ms=%.1f "
             "churn_mb=%ld longest_stw_us=%.1f",
             result.procs, live_mb, nparked, (unsigned long long)result.cycles, forced,
             (double)result.collect_p50_ns / 1e6, result.churn_mb,
             (double)result.longest_stw_ns / 1e3);
    printf("name=pause impl=gort metric=%.1f unit=us stat=pause_max %s\n",
           (double)result.max_ns / 1e3, rest);
    printf("name=pause impl=gort metric=%.1f unit=us stat=pause_p50 %s\n",
           (double)result.p50_ns / 1e3, rest);
    return 0;
}
