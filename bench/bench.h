/* bench/bench.h - helpers shared by the benchmarks (header only: each
 * benchmark source in bench/ is its own executable, see bench/CMakeLists.txt).
 *
 * Every benchmark prints result lines of the form
 *     name=<bench> impl=gort metric=<value> unit=<unit> procs=<workers> [key=value ...]
 * on stdout and nothing else there (except binarytrees, which also prints the
 * Benchmarks Game's check lines; bench/run.sh keeps only the name= lines);
 * diagnostics go to stderr. A benchmark never fails on time: it exits
 * non-zero only when a result is wrong (a counter that does not add up, a
 * pause that was not recorded), and says why on stderr. The Boehm-GC twins in
 * bench/boehm/ include this header too (impl=boehm).
 *
 * Timing uses CLOCK_MONOTONIC directly rather than go_now(), so that the clock
 * under measurement is not part of the code under measurement.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A positive integer from the environment, or def when unset or malformed. */
static inline long bench_env_long(const char *name, long def) {
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v <= 0) {
        fprintf(stderr, "bench: ignoring %s=%s (want a positive integer)\n", name, s);
        return def;
    }
    return v;
}

/* The iteration count that makes a round last about target_ns, given that a
 * probe round of probe_n iterations took probe_ns; clamped to [lo, hi]. The
 * Go twins compute it the same way. */
static inline long bench_calibrate(long probe_n, uint64_t probe_ns, double target_ns, long lo,
                                   long hi) {
    double per = (double)probe_ns / (double)probe_n;
    if (per < 1.0)
        per = 1.0;
    double n = target_ns / per;
    if (n < (double)lo)
        return lo;
    if (n > (double)hi)
        return hi;
    return (long)n;
}

/* Runs the measured round of a calibrating benchmark: n iterations, n from
 * the environment variable env if set, else calibrated so that the round
 * lasts about a second from a probe round of probe_n (clamped to [lo, hi]).
 * round(n, &ns) runs n iterations and returns 0, or -1 after saying what went
 * wrong. Returns 0 with *n_out and *ns_out set, or -1. */
static inline int bench_run_sized(const char *env, long probe_n, long lo, long hi,
                                  int (*round)(long n, uint64_t *ns), long *n_out,
                                  uint64_t *ns_out) {
    long n = bench_env_long(env, 0);
    if (n == 0) {
        uint64_t ns;
        if (round(probe_n, &ns) != 0)
            return -1;
        n = bench_calibrate(probe_n, ns, 1e9, lo, hi);
    }
    if (round(n, ns_out) != 0)
        return -1;
    *n_out = n;
    return 0;
}

static inline int bench_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) in place; afterwards bench_p50 and bench_max read it. */
static inline void bench_sort_u64(uint64_t *v, size_t n) {
    qsort(v, n, sizeof *v, bench_cmp_u64);
}

/* The median of a sorted array (the lower middle one when n is even, so the
 * figure is always a value that was really measured). */
static inline uint64_t bench_p50(const uint64_t *sorted, size_t n) {
    return n == 0 ? 0 : sorted[(n - 1) / 2];
}

/* The q-quantile (0 < q < 1) of a sorted array, by the nearest-rank method. */
static inline uint64_t bench_quantile(const uint64_t *sorted, size_t n, double q) {
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static inline uint64_t bench_max(const uint64_t *sorted, size_t n) {
    return n == 0 ? 0 : sorted[n - 1];
}

#endif
