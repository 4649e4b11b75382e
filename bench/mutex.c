/* bench/mutex.c - a contended go_mutex.
 *
 * The main task spawns 4 tasks that each do m times: go_mutex_lock, increment
 * a shared counter, go_mutex_unlock; then waits for them on a go_waitgroup.
 * Run with 2 workers (GORT_MAXPROCS; bench/run.sh sets it), so two tasks at a
 * time really contend and the other two wait their turn on the run queues or
 * in the mutex. The counter must end at 4m. The metric is the elapsed time
 * from the first spawn until the wait returns, divided by the 4m lock/unlock
 * pairs: ns per pair. A short calibration round picks m so that the timed
 * round lasts about a second (BENCH_MUTEX_M fixes it instead), as in the Go
 * twin (bench/go/mutex: sync.Mutex, sync.WaitGroup, GOMAXPROCS=2).
 *
 * Each iteration ends with go_safepoint() after the unlock, as any long loop
 * in gort should have (one relaxed load; it lets the 10 ms time slice apply,
 * as Go's preemption applies to its goroutines).
 *
 * Line:
 *   name=mutex impl=gort metric=<ns> unit=ns/lock procs=<n> locks=<4m> tasks=4
 *
 * Wrong results (exit 1): a counter that does not end at 4m, a spawn that
 * fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>

#include "sized.h"

enum { TASKS = 4 };

static go_mutex mu = GO_MUTEX_INIT;
static int64_t counter; /* under mu */
static go_waitgroup wg = GO_WAITGROUP_INIT;
static long per_task; /* m in the current round */

static void contender(void *arg) {
    (void)arg;
    long m = per_task;
    for (long i = 0; i < m; i++) {
        go_mutex_lock(&mu);
        counter++;
        go_mutex_unlock(&mu);
        go_safepoint();
    }
    go_waitgroup_done(&wg);
}

/* One round of m lock/unlock pairs per task; returns 0, or -1 after saying
 * what went wrong. */
static int round_of(long m, uint64_t *elapsed_ns) {
    per_task = m;
    counter = 0;
    go_waitgroup_add(&wg, TASKS);
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < TASKS; i++) {
        int rc = go_spawn(contender, NULL);
        if (rc != 0) {
            fprintf(stderr, "bench_mutex: go_spawn failed: %s\n", go_strerror(rc));
            return -1;
        }
    }
    go_waitgroup_wait(&wg);
    uint64_t t1 = bench_now_ns();
    go_mutex_lock(&mu);
    int64_t seen = counter;
    go_mutex_unlock(&mu);
    if (seen != (int64_t)TASKS * m) {
        fprintf(stderr, "bench_mutex: counter is %" PRId64 ", expected %" PRId64 "\n", seen,
                (int64_t)TASKS * m);
        return -1;
    }
    *elapsed_ns = t1 - t0;
    return 0;
}

int main(void) {
    static const bench_sized b = {
        .name = "mutex",
        .env = "BENCH_MUTEX_M",
        .probe_n = 50000,
        .lo = 250000,
        .hi = 250000000L,
        .round = round_of,
        .ops_per_n = TASKS,
        .unit = "ns/lock",
        .count_key = "locks",
        .extra_key = "tasks",
        .extra_value = TASKS,
    };
    return bench_sized_main(&b);
}
