/* bench/spawn.c - the cost of a task's whole life: spawn, first run, exit.
 *
 * The main task (go_main) spawns N tasks (1,000,000; BENCH_SPAWN_TASKS
 * overrides), each of which increments one atomic counter and returns, then
 * waits until the counter reaches N by polling it with go_yield() (there is
 * nothing to block on yet). The metric is the elapsed time from the first
 * spawn to the moment the counter is seen complete, divided by N: ns per task.
 * The extra field spawn_loop= is the share of that spent in the spawn loop
 * alone, per task.
 *
 * The spawn loop calls go_safepoint() after each spawn, as any long loop
 * should (go_spawn itself does not switch): the runtime's 10 ms time slice
 * then applies to the spawner as Go's preemption applies to the spawning
 * goroutine, and a slow machine does not make the monitor report the main
 * task as stalled. The safepoint costs one relaxed load.
 *
 * The worker count comes from GORT_MAXPROCS (bench/run.sh runs the binary with
 * 1 and with 2). A warm-up round of N/10 tasks runs first and is not timed, so
 * that stack pools and run queues have reached their working size, as in the
 * Go twin (bench/go/spawn).
 *
 * Wrong results (exit 1): a spawn that fails, or a counter that does not end
 * at exactly N.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stdatomic.h>

#include "bench.h"
#include "gort.h"

static atomic_long counter;

static struct {
    long tasks;
    uint64_t total_ns;
    uint64_t spawn_ns;
    int procs;
} result;

static void increment(void *arg) {
    atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
}

/* One round of n tasks; returns 0, or -1 after saying what went wrong. */
static int round_of(long n, uint64_t *total_ns, uint64_t *spawn_ns) {
    atomic_store(&counter, 0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int rc = go_spawn(increment, &counter);
        if (rc != 0) {
            fprintf(stderr, "bench_spawn: go_spawn #%ld failed: %s\n", i, go_strerror(rc));
            return -1;
        }
        go_safepoint();
    }
    uint64_t t1 = bench_now_ns();
    while (atomic_load_explicit(&counter, memory_order_acquire) < n)
        go_yield();
    uint64_t t2 = bench_now_ns();
    long seen = atomic_load(&counter);
    if (seen != n) {
        fprintf(stderr, "bench_spawn: counter is %ld, expected %ld\n", seen, n);
        return -1;
    }
    *total_ns = t2 - t0;
    *spawn_ns = t1 - t0;
    return 0;
}

static int bench_main(void *arg) {
    (void)arg;
    uint64_t total, spawn;
    long warm = result.tasks / 10 > 0 ? result.tasks / 10 : 1;
    if (round_of(warm, &total, &spawn) != 0)
        return 1;
    if (round_of(result.tasks, &result.total_ns, &result.spawn_ns) != 0)
        return 1;
    result.procs = go_workers();
    return 0;
}

int main(void) {
    result.tasks = bench_env_long("BENCH_SPAWN_TASKS", 1000000);
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_spawn: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    printf("name=spawn impl=gort metric=%.1f unit=ns/task procs=%d tasks=%ld spawn_loop=%.1f\n",
           (double)result.total_ns / (double)result.tasks, result.procs, result.tasks,
           (double)result.spawn_ns / (double)result.tasks);
    return 0;
}
