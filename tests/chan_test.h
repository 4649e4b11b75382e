/* tests/chan_test.h - what test_chan.c, test_select.c and test_timer.c share.
 *
 * Include it after <cmocka.h> (it reports through print_error/fail_msg).
 *
 *   - failures: tasks and threads never assert (cmocka is not thread-safe);
 *     they record with CHECK / CHECKF / CHECK_RC, and ct_run asserts on the
 *     test's own thread once go_main has returned, printing every record;
 *   - sizes: ct_scaled(full) is full times the scale: GORT_TEST_SCALE if set
 *     (a positive number, as the stress programs read it), else 1/10 under
 *     ThreadSanitizer (a TSan fiber is a whole thread state), 1/4 under
 *     AddressSanitizer, 1/10 under valgrind, 1 in plain builds;
 *   - roots: statics and malloc'ed memory are not roots (include/gort/gc.h),
 *     so a struct that tasks share and that holds channel or timer pointers
 *     is registered with ct_add_roots, its pointer fields written with
 *     GO_STORE; spawn arguments that carry channels are go_new objects (a
 *     spawn argument is a root until the task has taken it);
 *   - the watchdog of tests/gort_test.h aborts a hung test with its name;
 *   - a seeded generator (xorshift64*) for tests that pick random durations:
 *     the seeds are fixed, so a failure reruns with the same choices (the
 *     schedule itself is not replayed).
 * Timing: tests check "never early" exactly (go_now before and after), and
 * check lateness only with wide margins (seconds), so that a loaded machine
 * cannot fail them.
 */
#ifndef GORT_TESTS_CHAN_TEST_H
#define GORT_TESTS_CHAN_TEST_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"
#include "tests/gort_test.h"

#define NOINLINE __attribute__((noinline))

#define CT_US ((int64_t)1000)
#define CT_MS ((int64_t)1000000)
#define CT_S ((int64_t)1000000000)

/* ---- failures recorded by tasks and threads ----------------------------------------------- */

#define CT_MAX_FAILURES 64
static char ct_failure_text[CT_MAX_FAILURES][400];
static atomic_int ct_failure_count;

static void ct_record_failure(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ct_record_failure(const char *file, int line, const char *fmt, ...) {
    int i = atomic_fetch_add(&ct_failure_count, 1);
    if (i >= CT_MAX_FAILURES)
        return;
    int n = snprintf(ct_failure_text[i], sizeof ct_failure_text[i], "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof ct_failure_text[i])
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ct_failure_text[i] + n, sizeof ct_failure_text[i] - (size_t)n, fmt, ap);
    va_end(ap);
}

#define CHECK(cond) ((cond) ? (void)0 : ct_record_failure(__FILE__, __LINE__, "%s", #cond))
#define CHECKF(cond, ...) ((cond) ? (void)0 : ct_record_failure(__FILE__, __LINE__, __VA_ARGS__))

static inline bool ct_check_rc(const char *file, int line, const char *expr, int got, int want) {
    if (got == want)
        return true;
    ct_record_failure(file, line, "%s returned %d (%s), want %d (%s)", expr, got, go_strerror(got),
                      want, go_strerror(want));
    return false;
}
/* got is evaluated once. */
#define CHECK_RC(got, want) ct_check_rc(__FILE__, __LINE__, #got, (got), (want))

/* Prints every record and fails the test if there is one. */
static void ct_report(void) {
    int n = atomic_load(&ct_failure_count);
    for (int i = 0; i < n && i < CT_MAX_FAILURES; i++)
        print_error("%s\n", ct_failure_text[i]);
    if (n > CT_MAX_FAILURES)
        print_error("... and %d more\n", n - CT_MAX_FAILURES);
    if (n != 0)
        fail_msg("%d check(s) failed in tasks or threads (listed above)", n);
}

/* ---- sizes ------------------------------------------------------------------------------------
 */

static double ct_scale_value = 1.0;

static void ct_init_scale(const char *prog) {
#if defined(GORT_TSAN)
    ct_scale_value = 0.1;
#elif defined(GORT_ASAN)
    ct_scale_value = 0.25;
#else
    ct_scale_value = 1.0;
#endif
    if (getenv("GORT_UNDER_VALGRIND") != NULL)
        ct_scale_value = 0.1;
    const char *s = getenv("GORT_TEST_SCALE");
    if (s != NULL && *s != '\0') {
        char *end;
        double v = strtod(s, &end);
        if (*end == '\0' && v > 0)
            ct_scale_value = v;
        else
            fprintf(stderr, "%s: ignoring GORT_TEST_SCALE=%s (expected a positive number)\n", prog,
                    s);
    }
}

/* full times the scale, at least min. */
static inline long ct_scaled(long full, long min) {
    double v = (double)full * ct_scale_value;
    long r = (long)v;
    return r < min ? min : r;
}

/* ---- running the runtime ------------------------------------------------------------------------
 */

static int ct_test_setup(void **state) {
    (void)state;
    atomic_store(&ct_failure_count, 0);
    return 0;
}

/* go_main(fn, arg) on `workers` workers; asserts fn returned 0 and that no
 * task or thread recorded a failure. Freed objects are poisoned
 * (GORT_DEBUG=poison=1 unless the environment says otherwise), so that a
 * channel or a value freed while reachable shows. */
static void ct_run(int workers, int (*fn)(void *), void *arg) {
    setenv("GORT_DEBUG", "poison=1", 0);
    gort_test_set_workers(workers);
    int rc = go_main(fn, arg);
    ct_report();
    assert_int_equal(rc, 0);
}

static inline void ct_spawn(go_fn fn, void *arg) {
    int rc = go_spawn(fn, arg);
    CHECKF(rc == 0, "go_spawn returned %d (%s)", rc, go_strerror(rc));
}

/* Registers a struct that tasks share as a root (see the head comment). */
static inline void ct_add_roots(void *p, size_t n) {
    int rc = go_gc_add_roots(p, n);
    CHECKF(rc == 0, "go_gc_add_roots returned %d (%s)", rc, go_strerror(rc));
}

/* Gives spawned tasks time to reach their wait. Tests that use it are
 * correct whether or not the tasks got there; it only makes the path they
 * mean to exercise (a parked waiter) the likely one. */
static inline void ct_settle(void) {
    go_sleep(20 * CT_MS);
}

/* ---- a seeded generator ---------------------------------------------------------------------- */

typedef struct ct_rng {
    uint64_t s;
} ct_rng;

static inline ct_rng ct_rng_seed(uint64_t seed) {
    ct_rng r = {seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL};
    if (r.s == 0)
        r.s = 1;
    return r;
}

static inline uint64_t ct_rand(ct_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n), n > 0 (the modulo bias is negligible here). */
static inline uint64_t ct_rand_below(ct_rng *r, uint64_t n) {
    return (ct_rand(r) >> 11) % n;
}

/* ---- memory helpers ----------------------------------------------------------------------------
 */

static inline bool ct_all_bytes(const void *p, size_t n, unsigned char b) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != b)
            return false;
    return true;
}

/* A byte pattern that differs from element to element and byte to byte. */
static inline unsigned char ct_pattern_byte(uint64_t seed, size_t i) {
    uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ULL + (uint64_t)i * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return (unsigned char)(x | 1); /* never 0, so a zeroed byte shows */
}

static inline void ct_fill_pattern(void *p, size_t n, uint64_t seed) {
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = ct_pattern_byte(seed, i);
}

static inline bool ct_check_pattern(const void *p, size_t n, uint64_t seed) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != ct_pattern_byte(seed, i))
            return false;
    return true;
}

/* Overwrites the dead stack below the caller's frame, so that stale copies
 * of pointers left there by helpers neither keep objects alive nor hide a
 * missing root (DESIGN.md section 7 rule 16). */
NOINLINE __attribute__((unused)) static void ct_clear_stack(void) {
    char buf[16384];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* ---- a spawn argument that carries channels ---------------------------------------------------
 */

/* A collected object, so that the channels it holds stay alive until the task
 * has copied them into its own locals. */
typedef struct ct_arg {
    go_chan *a, *b, *c;
    void *p;
    int64_t i, j, k;
    void *raw; /* not a pointer field: memory outside the heap (a wait group) */
} ct_arg;

static const size_t ct_arg_ptrs[] = {offsetof(ct_arg, a), offsetof(ct_arg, b), offsetof(ct_arg, c),
                                     offsetof(ct_arg, p)};
__attribute__((unused)) static const go_type ct_arg_type = {"ct_arg", sizeof(ct_arg), 4,
                                                            ct_arg_ptrs, NULL};

/* From a task: a new ct_arg (NULL, and a recorded failure, when out of memory). */
static inline ct_arg *ct_arg_new(go_chan *a, go_chan *b, go_chan *c, int64_t i, int64_t j) {
    ct_arg *x = go_new(&ct_arg_type);
    CHECK(x != NULL);
    if (x == NULL)
        return NULL;
    GO_STORE(x->a, a);
    GO_STORE(x->b, b);
    GO_STORE(x->c, c);
    x->i = i;
    x->j = j;
    return x;
}

/* An array of n pointers, scanned: keeps n channels or timers alive. */
typedef struct ct_slot {
    void *p;
} ct_slot;
static const size_t ct_slot_ptrs[] = {0};
__attribute__((unused)) static const go_type ct_slot_type = {"ct_slot", sizeof(ct_slot), 1,
                                                             ct_slot_ptrs, NULL};

/* ---- watchdog -------------------------------------------------------------------------------- */

#ifdef GORT_TSAN
#define CT_WATCH_SECONDS 110
#else
#define CT_WATCH_SECONDS 60
#endif

static const char *ct_prog_name = "test";

static int ct_group_setup(void **state) {
    (void)state;
    return gort_test_watchdog_start(ct_prog_name, CT_WATCH_SECONDS) == 0 ? 0 : -1;
}

static int ct_group_teardown(void **state) {
    (void)state;
    gort_test_watchdog_stop();
    return 0;
}

#define WATCH() GORT_TEST_WATCH()
#define T(f) cmocka_unit_test_setup(f, ct_test_setup)

#endif
