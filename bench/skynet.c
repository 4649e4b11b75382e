/* bench/skynet.c - the skynet tree: a million tasks talking over unbuffered
 * channels.
 *
 * skynet(parent, num, size): a leaf (size 1) sends num on parent; any other
 * node makes an unbuffered channel, spawns div = 10 children
 * skynet(c, num + i*(size/div), size/div), receives div values, adds them up
 * and sends the sum on parent. With size 1,000,000 (BENCH_SKYNET_SIZE, which
 * must be a power of 10) that is 1,111,111 tasks, the root included, and the
 * root's sum must be size*(size-1)/2 (499999500000). The channels are
 * go_chan_new_noscan(sizeof(int64_t), 0): their values are plain integers.
 *
 * The metric is the wall time in ms from spawning the root until the main
 * task has received its sum. A warm-up tree of size/10 runs first and is not
 * timed (the Go twin, bench/go/skynet, does the same), so that stack pools and
 * the heap have grown. The worker count comes from GORT_MAXPROCS (bench/run.sh
 * runs 1 and 2).
 *
 * How a child gets its arguments, and why the channel stays alive: a channel
 * is a collected object, and malloc'ed memory is not a root, so a malloc'ed
 * argument struct would be the only reference to the parent's channel that
 * the child holds until it has copied it to its stack. Here the parent would
 * keep the channel alive anyway (it is on its stack while it waits for the
 * div values, and it waits until every child has sent), but the benchmark
 * does not lean on that: each child's argument is a collected object from
 * go_new(&skynet_arg_type), whose type declares the channel field. A spawn
 * argument of a task that has not started is a root (docs/gc.md, "Roots"),
 * and once the child runs, it holds the argument and then the channel in its
 * own frame, which its stack scan covers. The argument objects are dropped
 * when the child has read them; the collector reclaims them, as Go's runtime
 * reclaims its goroutine closures (Go copies a go statement's arguments to
 * the new goroutine's stack instead, so its twin allocates only channels).
 *
 * Line:
 *   name=skynet impl=gort metric=<ms> unit=ms procs=<n> size=<size> tasks=<tasks>
 *
 * Wrong results (exit 1): a sum that is not size*(size-1)/2, a channel
 * operation that reports GO_ECLOSED, a spawn or an allocation that fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stddef.h>

#include "bench.h"
#include "gort.h"

enum { DIV = 10 };

typedef struct skynet_arg {
    go_chan *parent; /* the only pointer: declared in skynet_arg_type */
    int64_t num;
    int64_t size;
} skynet_arg;

static const size_t skynet_arg_ptrs[] = {offsetof(skynet_arg, parent)};
static const go_type skynet_arg_type = {
    .name = "skynet_arg",
    .size = sizeof(skynet_arg),
    .nptrs = 1,
    .ptr_offsets = skynet_arg_ptrs,
};

static struct {
    int64_t size, tasks;
    uint64_t elapsed_ns;
    int procs;
} result;

/* A failure inside the tree: there is no one to return it to. */
static _Noreturn void fail(const char *what, int rc) {
    if (rc != 0)
        fprintf(stderr, "bench_skynet: %s failed: %s\n", what, go_strerror(rc));
    else
        fprintf(stderr, "bench_skynet: %s returned NULL\n", what);
    _Exit(1);
}

/* Spawns skynet(parent, num, size) with its arguments in a collected object. */
static void spawn_node(void (*fn)(void *), go_chan *parent, int64_t num, int64_t size) {
    skynet_arg *a = go_new(&skynet_arg_type);
    if (a == NULL)
        fail("go_new", 0);
    GO_STORE(a->parent, parent);
    a->num = num;
    a->size = size;
    int rc = go_spawn(fn, a);
    if (rc != 0)
        fail("go_spawn", rc);
}

static void skynet(void *arg) {
    const skynet_arg *a = arg;
    go_chan *parent = a->parent;
    int64_t num = a->num, size = a->size;
    int rc;
    if (size == 1) {
        if ((rc = go_chan_send(parent, &num)) != 0)
            fail("go_chan_send", rc);
        return;
    }
    go_chan *c = go_chan_new_noscan(sizeof(int64_t), 0);
    if (c == NULL)
        fail("go_chan_new_noscan", 0);
    int64_t sub = size / DIV;
    for (int i = 0; i < DIV; i++)
        spawn_node(skynet, c, num + i * sub, sub);
    int64_t sum = 0;
    for (int i = 0; i < DIV; i++) {
        int64_t v;
        if ((rc = go_chan_recv(c, &v)) != 0)
            fail("go_chan_recv", rc);
        sum += v;
    }
    if ((rc = go_chan_send(parent, &sum)) != 0)
        fail("go_chan_send", rc);
}

/* One whole tree of the given size; returns 0, or -1 after saying what went
 * wrong. */
static int tree(int64_t size, uint64_t *elapsed_ns) {
    go_chan *c = go_chan_new_noscan(sizeof(int64_t), 0);
    if (c == NULL)
        fail("go_chan_new_noscan", 0);
    uint64_t t0 = bench_now_ns();
    spawn_node(skynet, c, 0, size);
    int64_t sum;
    int rc = go_chan_recv(c, &sum);
    uint64_t t1 = bench_now_ns();
    if (rc != 0)
        fail("go_chan_recv", rc);
    int64_t want = size * (size - 1) / 2;
    if (sum != want) {
        fprintf(stderr,
                "bench_skynet: sum is %" PRId64 ", expected %" PRId64 " (size %" PRId64 ")\n", sum,
                want, size);
        return -1;
    }
    *elapsed_ns = t1 - t0;
    return 0;
}

static int bench_main(void *arg) {
    (void)arg;
    uint64_t ns;
    if (result.size >= DIV && tree(result.size / DIV, &ns) != 0)
        return 1;
    if (tree(result.size, &result.elapsed_ns) != 0)
        return 1;
    result.procs = go_workers();
    return 0;
}

int main(void) {
    result.size = bench_env_long("BENCH_SKYNET_SIZE", 1000000);
    for (int64_t s = result.size;; s /= DIV) {
        result.tasks += result.size / s;
        if (s == 1)
            break;
        if (s % DIV != 0) {
            fprintf(stderr, "bench_skynet: BENCH_SKYNET_SIZE=%" PRId64 " is not a power of %d\n",
                    result.size, DIV);
            return 2;
        }
    }
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_skynet: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    printf("name=skynet impl=gort metric=%.1f unit=ms procs=%d size=%" PRId64 " tasks=%" PRId64
           "\n",
           (double)result.elapsed_ns / 1e6, result.procs, result.size, result.tasks);
    return 0;
}
