/* bench/timers.c - a hundred thousand sleeping tasks: the timer machinery
 * under load.
 *
 * The main task spawns BENCH_TIMERS_TASKS tasks (default 100,000); task i
 * calls go_sleep(d_i) with d_i drawn from 1 to BENCH_TIMERS_MAX_MS ms
 * (default 100) by splitmix64 from a fixed seed, the same sequence as the Go
 * twin's (bench/go/timers), then calls go_waitgroup_done; the main task waits
 * on the wait group. The metric is the wall time from the first spawn until
 * the wait returns, in ms (stat=wall); the ideal is the largest d_i
 * (ideal_ms=), and stat=overshoot is wall minus ideal: what spawning that many
 * tasks, keeping that many timers and waking that many tasks late adds.
 * late_max_ms= is the largest lateness of a single sleep (the time it took
 * minus d_i, measured by the task), spawn_ms= the time of the spawn loop. Run
 * with 2 workers (GORT_MAXPROCS; bench/run.sh sets it).
 *
 * A warm-up round, the same tasks with the same durations, runs first and is
 * not timed, in the Go twin too, so that the timed round starts with stack
 * pools and timer heaps grown. Whether the pooled stacks' pages are still
 * resident then is each runtime's business: gort's monitor gives surplus
 * stacks back to the OS soon after they are freed, and the first touch of a
 * fresh page is slow on this project's VM (see the parked benchmark), so the
 * timed round may still spend much of its time starting tasks.
 *
 * Lines:
 *   name=timers impl=gort metric=<ms> unit=ms stat=wall procs=<n> tasks=<N> ideal_ms=<ms>
 *       late_max_ms=<ms> spawn_ms=<ms>
 *   name=timers impl=gort metric=<ms> unit=ms stat=overshoot procs=<n> tasks=<N>
 *       ideal_ms=<ms>
 *
 * Wrong results (exit 1): a sleep that returned early (go_sleep never does), a
 * spawn that fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stdatomic.h>

#include "bench.h"
#include "gort.h"

/* The seed of the durations, the same in the Go twin. */
#define SEED UINT64_C(20240601)

static long ntasks, max_ms;
static go_waitgroup wg = GO_WAITGROUP_INIT;
static atomic_long early;
static _Atomic uint64_t late_max_ns;

static struct {
    uint64_t wall_ns, spawn_ns, ideal_ns, late_max_ns;
    int procs;
} result;

/* splitmix64: the Go twin draws the same sequence. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void sleeper(void *arg) {
    uint64_t d = (uint64_t)(uintptr_t)arg;
    uint64_t t0 = bench_now_ns();
    go_sleep((int64_t)d);
    uint64_t took = bench_now_ns() - t0;
    if (took < d) {
        atomic_fetch_add(&early, 1);
    } else {
        uint64_t late = took - d, seen = atomic_load_explicit(&late_max_ns, memory_order_relaxed);
        while (late > seen && !atomic_compare_exchange_weak(&late_max_ns, &seen, late)) {
        }
    }
    go_waitgroup_done(&wg);
}

/* One round; returns 0, or -1 after saying what went wrong. */
static int round_of(uint64_t *wall_ns, uint64_t *spawn_ns, uint64_t *ideal_ns) {
    uint64_t state = SEED, ideal = 0;
    atomic_store(&early, 0);
    atomic_store(&late_max_ns, 0);
    go_waitgroup_add(&wg, ntasks);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < ntasks; i++) {
        uint64_t d = (1 + splitmix64(&state) % (uint64_t)max_ms) * 1000000u;
        if (d > ideal)
            ideal = d;
        int rc = go_spawn(sleeper, (void *)(uintptr_t)d);
        if (rc != 0) {
            fprintf(stderr, "bench_timers: go_spawn #%ld failed: %s\n", i, go_strerror(rc));
            return -1;
        }
        go_safepoint();
    }
    uint64_t t1 = bench_now_ns();
    go_waitgroup_wait(&wg);
    uint64_t t2 = bench_now_ns();
    long n_early = atomic_load(&early);
    if (n_early != 0) {
        fprintf(stderr, "bench_timers: %ld of %ld sleeps returned early\n", n_early, ntasks);
        return -1;
    }
    *wall_ns = t2 - t0;
    *spawn_ns = t1 - t0;
    *ideal_ns = ideal;
    return 0;
}

static int bench_main(void *arg) {
    (void)arg;
    uint64_t wall, spawn, ideal;
    if (round_of(&wall, &spawn, &ideal) != 0) /* warm-up */
        return 1;
    if (round_of(&result.wall_ns, &result.spawn_ns, &result.ideal_ns) != 0)
        return 1;
    result.late_max_ns = atomic_load(&late_max_ns);
    result.procs = go_workers();
    return 0;
}

int main(void) {
    ntasks = bench_env_long("BENCH_TIMERS_TASKS", 100000);
    max_ms = bench_env_long("BENCH_TIMERS_MAX_MS", 100);
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_timers: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    double wall_ms = (double)result.wall_ns / 1e6, ideal_ms = (double)result.ideal_ns / 1e6;
    printf("name=timers impl=gort metric=%.1f unit=ms stat=wall procs=%d tasks=%ld ideal_ms=%.1f "
           "late_max_ms=%.1f spawn_ms=%.1f\n",
           wall_ms, result.procs, ntasks, ideal_ms, (double)result.late_max_ns / 1e6,
           (double)result.spawn_ns / 1e6);
    printf("name=timers impl=gort metric=%.1f unit=ms stat=overshoot procs=%d tasks=%ld "
           "ideal_ms=%.1f\n",
           wall_ms - ideal_ms, result.procs, ntasks, ideal_ms);
    return 0;
}
