/* stress/stress.h - what every stress program shares: one size knob, the
 * seed, a watchdog, and failure reporting.
 *
 * Size: stress_scaled(full) is full * stress_scale(), at least 1. The scale is
 *   - GORT_TEST_SCALE if set: a positive number, fractional or not ("0.1"
 *     runs a tenth of the full sizes, "4" four times them);
 *   - else 1/20 under ThreadSanitizer (each TSan fiber is a whole thread state
 *     of hundreds of KiB, DESIGN.md section 5), 1/4 under AddressSanitizer,
 *     and 1 otherwise (the release build runs the full sizes).
 * stress_max_live() bounds how many tasks a program keeps alive at once: low
 * thousands under TSan whatever the scale.
 *
 * Seed: GORT_SEED if set, else taken from the clock and the pid; printed first
 * thing, so that a failing run can be replayed with GORT_SEED=<seed>. The
 * schedule itself is not replayed (threads), only the program's own choices.
 *
 * Watchdog: stress_begin starts a thread that aborts the process with a
 * message if stress_end is not reached within GORT_STRESS_TIMEOUT seconds
 * (default 120), so that a lost wake-up or a deadlocked pause fails loudly
 * instead of running into ctest's timeout.
 *
 * Failures: programs count mismatches while tasks run (never assert on a
 * worker) and call stress_check / stress_fail on the main thread afterwards;
 * either prints "<name> FAILED: ..." with the seed and exits 1.
 */
#ifndef GORT_STRESS_STRESS_H
#define GORT_STRESS_STRESS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "gort.h"
#include "tests/gort_test.h"

static const char *stress_name = "stress";
static uint64_t stress_seed;
static int64_t stress_t0;

static inline double stress_scale(void) {
    const char *s = getenv("GORT_TEST_SCALE");
    if (s != NULL && *s != '\0') {
        char *end;
        double v = strtod(s, &end);
        if (*end == '\0' && v > 0)
            return v;
        fprintf(stderr, "%s: ignoring GORT_TEST_SCALE=%s (expected a positive number)\n",
                stress_name, s);
    }
#if defined(GORT_TSAN)
    return 1.0 / 20;
#elif defined(GORT_ASAN)
    return 1.0 / 4;
#else
    return 1.0;
#endif
}

static inline long stress_scaled(long full) {
    double v = (double)full * stress_scale();
    return v < 1 ? 1 : (long)v;
}

static inline long stress_max_live(void) {
#if defined(GORT_TSAN)
    return 1500;
#else
    return 100000;
#endif
}

static inline int stress_workers(int def) {
    const char *s = getenv("GORT_MAXPROCS");
    if (s != NULL && atoi(s) > 0)
        return atoi(s);
    return def;
}

/* ---- random numbers (xorshift64*), one state per user ------------------------- */

typedef struct stress_rng {
    uint64_t s;
} stress_rng;

static inline stress_rng stress_rng_make(uint64_t stream) {
    uint64_t x = stress_seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1));
    stress_rng r = {x != 0 ? x : 1};
    return r;
}

static inline uint64_t stress_next(stress_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n). */
static inline uint32_t stress_below(stress_rng *r, uint32_t n) {
    return (uint32_t)(stress_next(r) % n);
}

/* ---- failure -------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static inline _Noreturn void stress_fail(const char *fmt,
                                                                               ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s FAILED: ", stress_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (replay with GORT_SEED=%llu)\n", (unsigned long long)stress_seed);
    va_end(ap);
    exit(1);
}

#define stress_check(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            stress_fail(__VA_ARGS__);                                                              \
    } while (0)

/* ---- watchdog ------------------------------------------------------------------------- */

static atomic_int stress_finished;
static uv_thread_t stress_watchdog_thread;
static double stress_timeout_s;
static const char *_Atomic stress_phase = "starting";

/* What the program is doing now, for the watchdog's message. */
static inline void stress_set_phase(const char *phase) {
    atomic_store(&stress_phase, phase);
}

static inline void stress_watchdog(void *arg) {
    (void)arg;
    int64_t deadline = go_now() + (int64_t)(stress_timeout_s * 1e9);
    while (!atomic_load(&stress_finished)) {
        if (go_now() > deadline) {
            fprintf(stderr,
                    "%s FAILED: watchdog: not finished after %.0f s (phase: %s): a hang, a lost "
                    "wake-up or a deadlocked pause (seed %llu)\n",
                    stress_name, stress_timeout_s, atomic_load(&stress_phase),
                    (unsigned long long)stress_seed);
            abort();
        }
        uv_sleep(50);
    }
}

/* A 64-bit mixer (splitmix64's finaliser): checksums and tags of ids. */
static inline uint64_t stress_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* One turn of a program's collector task: a forced cycle, then up to 63
 * objects of garbage. */
static inline void stress_collect_turn(stress_rng *r, const go_type *garbage) {
    go_gc_collect();
    for (uint32_t i = stress_below(r, 64); i > 0; i--)
        (void)go_new(garbage);
}

/* The body of a program's collector task: collection turns, each counted in
 * *turns, with pauses of up to 2 ms between them, until *stop; then sets
 * *done. */
static inline void stress_collector_loop(uint64_t stream, const go_type *garbage, atomic_int *stop,
                                         atomic_long *turns, atomic_int *done) {
    stress_rng r = stress_rng_make(stream);
    while (!atomic_load(stop)) {
        stress_collect_turn(&r, garbage);
        atomic_fetch_add_explicit(turns, 1, memory_order_relaxed);
        go_sleep((int64_t)stress_below(&r, 2000) * 1000);
    }
    atomic_store(done, 1);
}

/* GORT_DEBUG, set to dflt when the environment leaves it empty (the runtime
 * reads it at start); returns the value in force. */
static inline const char *stress_debug_default(const char *dflt) {
    const char *dbg = getenv("GORT_DEBUG");
    if (dbg == NULL || *dbg == '\0') {
        setenv("GORT_DEBUG", dflt, 1);
        dbg = dflt;
    }
    return dbg;
}

/* GORT_STRESS_BUDGET seconds (positive), else dflt: after that long a
 * program starts no new round. */
static inline double stress_budget_s(double dflt) {
    const char *b = getenv("GORT_STRESS_BUDGET");
    return b != NULL && atof(b) > 0 ? atof(b) : dflt;
}

static inline void stress_begin(const char *name) {
    stress_name = name;
    const char *s = getenv("GORT_SEED");
    if (s != NULL && *s != '\0')
        stress_seed = strtoull(s, NULL, 10);
    else
        stress_seed = (uint64_t)go_now() ^ ((uint64_t)getpid() << 32);
    const char *t = getenv("GORT_STRESS_TIMEOUT");
    stress_timeout_s = t != NULL && atof(t) > 0 ? atof(t) : 120;
    printf("%s: seed=%llu scale=%g (replay with GORT_SEED=%llu)\n", name,
           (unsigned long long)stress_seed, stress_scale(), (unsigned long long)stress_seed);
    fflush(stdout);
    stress_t0 = go_now();
    if (uv_thread_create(&stress_watchdog_thread, stress_watchdog, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the watchdog\n", name);
        exit(1);
    }
}

static inline double stress_elapsed(void) {
    return (double)(go_now() - stress_t0) / 1e9;
}

/* Stops the watchdog and prints the verdict; returns the exit status. */
static inline int stress_end(void) {
    atomic_store(&stress_finished, 1);
    uv_thread_join(&stress_watchdog_thread);
    printf("%s: ok in %.2f s\n", stress_name, stress_elapsed());
    return 0;
}

#endif
