/* bench/yield.c - the cost of one task switch through go_yield().
 *
 * Two tasks yield to each other on one worker (bench/run.sh sets
 * GORT_MAXPROCS=1): the main task spawns a partner, and both call go_yield()
 * n times in a loop. The metric is the elapsed time divided by the total
 * number of yields of both tasks (2n): ns per switch. Each round takes about a
 * second: a short calibration round picks n (BENCH_YIELD_ROUNDS=<n per task>
 * fixes it instead).
 *
 * Each task checks after every yield that the other one ran in between; the
 * extra field noswitch= counts the yields after which it had not (0 when the
 * two strictly alternate, as they should on one worker). It is reported, not
 * judged: with more than one worker the two may run side by side.
 *
 * Wrong results (exit 1): a spawn that fails, or iteration counts that do not
 * add up.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdatomic.h>

#include "bench.h"
#include "gort.h"

/* Each count is written by its own task and read by the other. */
static atomic_long main_count, partner_count;
static atomic_int partner_started, partner_done;
static atomic_long noswitch;
static long rounds; /* yields per task in the current round */

static struct {
    long rounds;
    uint64_t elapsed_ns;
    long noswitch;
    int procs;
} result;

/* Counts n yields of the calling task; mine is its own count, other the
 * other task's, other_done its finished flag. */
static void yield_loop(long n, atomic_long *mine, atomic_long *other, atomic_int *other_done) {
    long missed = 0;
    for (long i = 0; i < n; i++) {
        atomic_store_explicit(mine, i + 1, memory_order_relaxed);
        long before = atomic_load_explicit(other, memory_order_relaxed);
        go_yield();
        if (atomic_load_explicit(other, memory_order_relaxed) == before &&
            (other_done == NULL || !atomic_load_explicit(other_done, memory_order_relaxed)))
            missed++;
    }
    atomic_fetch_add(&noswitch, missed);
}

static void partner(void *arg) {
    (void)arg;
    atomic_store(&partner_started, 1);
    yield_loop(rounds, &partner_count, &main_count, NULL);
    atomic_store(&partner_done, 1);
}

/* One round of n yields per task; returns 0, or -1 after saying what went
 * wrong. */
static int round_of(long n, uint64_t *elapsed_ns) {
    rounds = n;
    atomic_store(&main_count, 0);
    atomic_store(&partner_count, 0);
    atomic_store(&partner_started, 0);
    atomic_store(&partner_done, 0);
    atomic_store(&noswitch, 0);
    int rc = go_spawn(partner, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_yield: go_spawn failed: %s\n", go_strerror(rc));
        return -1;
    }
    while (!atomic_load(&partner_started))
        go_yield();
    uint64_t t0 = bench_now_ns();
    /* The partner may already be done when this loop ends (it started one
     * yield earlier): the main task's own loop never waits for it. */
    yield_loop(n, &main_count, &partner_count, &partner_done);
    while (!atomic_load(&partner_done))
        go_yield();
    uint64_t t1 = bench_now_ns();
    if (atomic_load(&main_count) != n || atomic_load(&partner_count) != n) {
        fprintf(stderr, "bench_yield: counts %ld and %ld, expected %ld each\n",
                atomic_load(&main_count), atomic_load(&partner_count), n);
        return -1;
    }
    *elapsed_ns = t1 - t0;
    return 0;
}

static int bench_main(void *arg) {
    (void)arg;
    long fixed = bench_env_long("BENCH_YIELD_ROUNDS", 0);
    long n = fixed;
    if (n == 0) {
        const long probe = 200000;
        uint64_t ns;
        if (round_of(probe, &ns) != 0)
            return 1;
        double per_switch = (double)ns / (2.0 * (double)probe);
        if (per_switch < 1.0)
            per_switch = 1.0;
        n = (long)(1e9 / (2.0 * per_switch)); /* about one second */
        if (n < 1000000)
            n = 1000000;
        if (n > 500000000)
            n = 500000000;
    }
    if (round_of(n, &result.elapsed_ns) != 0)
        return 1;
    result.rounds = n;
    result.noswitch = atomic_load(&noswitch);
    result.procs = go_workers();
    return 0;
}

int main(void) {
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_yield: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    long switches = 2 * result.rounds;
    printf("name=yield impl=gort metric=%.1f unit=ns/switch procs=%d switches=%ld noswitch=%ld\n",
           (double)result.elapsed_ns / (double)switches, result.procs, switches, result.noswitch);
    return 0;
}
