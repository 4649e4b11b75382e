/* bench/stw.c - stop-the-world: pause length and time-to-safepoint.
 *
 * The requester is the main task (go_main). It calls
 *     gort_stop_the_world(GORT_STW_TEST); gort_start_the_world();
 * 10,000 times (BENCH_STW_PAUSES overrides) and after each pause reads
 * gort_stw_stats_get(): last_tts_ns (from the request until every worker has
 * stopped) and last_pause_ns (from the request until the restart). Between two
 * pauses the world runs: the requester spins for about 20 us, calling
 * go_safepoint(), then yields, so that the workers really run again before the
 * next request. 200 warm-up pauses precede each scenario and are not counted.
 *
 * Two scenarios, on 2 workers (bench/run.sh sets GORT_MAXPROCS=2):
 *   idle  the requester is the only task: its own worker stops itself, and the
 *         other worker is asleep in its loop (stopped in place, not woken).
 *   busy  4 spinner tasks keep both workers running: each spins for about
 *         10 us calling go_safepoint() in a tight loop, then yields, so the
 *         requester gets its turn; a pause must wait for the spinner on the
 *         other worker to reach its next go_safepoint().
 * For each scenario it prints the p50 and the max of both figures:
 *     name=stw impl=gort metric=<ns> unit=ns stat=pause_p50 scenario=busy procs=2
 * and likewise pause_max, tts_p50, tts_max, and the 99th percentiles
 * (pause_p99, tts_p99), which tell a lone slow pause (the kernel descheduling
 * a worker thread) from a slow tail. Extra fields:
 *   pauses=           how many were measured;
 *   other=            pauses the stats counted beyond ours (a collector's),
 *                     whose last_* figures may then be theirs;
 *   preempted=        the process's involuntary context switches while
 *                     measuring: how often the kernel took a core from one of
 *                     its threads, the usual cause of a slow maximum on a
 *                     shared 2-core machine;
 *   spinner_workers=  (busy only) on how many workers the spinners ran.
 *
 * Wrong results (exit 1): a pause that the stats did not count, a pause
 * shorter than its own time-to-safepoint, gort_stw_is_stopped() false inside
 * a pause, or a spinner that never ran.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "bench.h"
#include "gort.h"
#include "sched/sched.h"

#define SPINNERS 4
#define WARMUP_PAUSES 200
#define REQUESTER_SPIN_NS 20000
#define SPINNER_SPIN_NS 10000
#define MAX_WORKERS 64

static atomic_int spinners_stop, spinners_done;
static atomic_long spinner_spins;
static atomic_int spinner_worker_seen[MAX_WORKERS];

typedef struct scenario_result {
    const char *name;
    long pauses;
    long other;
    int spinner_workers; /* -1: no spinners in this scenario */
    long preempted;      /* involuntary context switches of the process */
    uint64_t pause_p50, pause_p99, pause_max, tts_p50, tts_p99, tts_max;
} scenario_result;

static long pauses_wanted;
static uint64_t *pause_ns, *tts_ns;
static scenario_result results[2];
static int procs;

/* Spins for about ns nanoseconds, reaching a safepoint every few iterations.
 * Returns the number of iterations. */
static long spin_for(uint64_t ns) {
    long spins = 0;
    uint64_t end = bench_now_ns() + ns;
    do {
        for (int k = 0; k < 16; k++) {
            go_safepoint();
            spins++;
            __asm__ volatile("" ::: "memory");
        }
    } while (bench_now_ns() < end);
    return spins;
}

static void spinner(void *arg) {
    (void)arg;
    long spins = 0;
    while (!atomic_load_explicit(&spinners_stop, memory_order_relaxed)) {
        int w = gort_sched_worker_index();
        if (w >= 0 && w < MAX_WORKERS)
            atomic_store_explicit(&spinner_worker_seen[w], 1, memory_order_relaxed);
        spins += spin_for(SPINNER_SPIN_NS);
        go_yield();
    }
    atomic_fetch_add(&spinner_spins, spins);
    atomic_fetch_add(&spinners_done, 1);
}

/* n pauses; with record, their figures go to pause_ns/tts_ns. Returns 0, or -1
 * after saying what went wrong. *other counts pauses not ours. */
static int pauses(long n, bool record, long *other) {
    for (long i = 0; i < n; i++) {
        gort_stw_stats before, after;
        gort_stw_stats_get(&before);
        gort_stop_the_world(GORT_STW_TEST);
        bool stopped = gort_stw_is_stopped();
        gort_start_the_world();
        gort_stw_stats_get(&after);
        if (!stopped) {
            fprintf(stderr, "bench_stw: gort_stw_is_stopped() is false inside pause %ld\n", i);
            return -1;
        }
        if (after.pauses < before.pauses + 1) {
            fprintf(stderr,
                    "bench_stw: pause %ld not counted (stats.pauses %" PRIu64 " -> %" PRIu64 ")\n",
                    i, before.pauses, after.pauses);
            return -1;
        }
        /* Holds for any single pause. It assumes no other requester: one that
         * stops the world between our restart and our read would have written
         * its own last_tts_ns already. Nothing here allocates, so no
         * collection runs. */
        if (after.last_pause_ns < after.last_tts_ns) {
            fprintf(stderr,
                    "bench_stw: pause %ld: last_pause_ns %" PRIu64 " < last_tts_ns %" PRIu64 "\n",
                    i, after.last_pause_ns, after.last_tts_ns);
            return -1;
        }
        *other += (long)(after.pauses - before.pauses - 1);
        if (record) {
            pause_ns[i] = after.last_pause_ns;
            tts_ns[i] = after.last_tts_ns;
        }
        spin_for(REQUESTER_SPIN_NS);
        go_yield();
    }
    return 0;
}

static int scenario(scenario_result *r, const char *name, int spinners) {
    r->name = name;
    r->spinner_workers = -1;
    atomic_store(&spinners_stop, 0);
    atomic_store(&spinners_done, 0);
    atomic_store(&spinner_spins, 0);
    for (int w = 0; w < MAX_WORKERS; w++)
        atomic_store(&spinner_worker_seen[w], 0);
    for (int i = 0; i < spinners; i++) {
        int rc = go_spawn(spinner, NULL);
        if (rc != 0) {
            fprintf(stderr, "bench_stw: go_spawn failed: %s\n", go_strerror(rc));
            return -1;
        }
    }
    long other = 0;
    if (pauses(WARMUP_PAUSES, false, &other) != 0)
        return -1;
    other = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    if (pauses(pauses_wanted, true, &other) != 0)
        return -1;
    getrusage(RUSAGE_SELF, &ru1);
    r->preempted = ru1.ru_nivcsw - ru0.ru_nivcsw;
    atomic_store(&spinners_stop, 1);
    while (atomic_load(&spinners_done) < spinners)
        go_yield();
    if (spinners > 0) {
        if (atomic_load(&spinner_spins) == 0) {
            fprintf(stderr, "bench_stw: scenario %s: the spinners never ran\n", name);
            return -1;
        }
        r->spinner_workers = 0;
        for (int w = 0; w < MAX_WORKERS; w++)
            r->spinner_workers += atomic_load(&spinner_worker_seen[w]);
    }
    size_t n = (size_t)pauses_wanted;
    bench_sort_u64(pause_ns, n);
    bench_sort_u64(tts_ns, n);
    r->pauses = pauses_wanted;
    r->other = other;
    r->pause_p50 = bench_p50(pause_ns, n);
    r->pause_p99 = bench_quantile(pause_ns, n, 0.99);
    r->pause_max = bench_max(pause_ns, n);
    r->tts_p50 = bench_p50(tts_ns, n);
    r->tts_p99 = bench_quantile(tts_ns, n, 0.99);
    r->tts_max = bench_max(tts_ns, n);
    return 0;
}

static int bench_main(void *arg) {
    (void)arg;
    procs = go_workers();
    if (scenario(&results[0], "busy", SPINNERS) != 0)
        return 1;
    if (scenario(&results[1], "idle", 0) != 0)
        return 1;
    return 0;
}

static void print_stat(const scenario_result *r, const char *stat, uint64_t v) {
    printf("name=stw impl=gort metric=%" PRIu64 " unit=ns stat=%s scenario=%s procs=%d pauses=%ld "
           "other=%ld preempted=%ld",
           v, stat, r->name, procs, r->pauses, r->other, r->preempted);
    if (r->spinner_workers >= 0)
        printf(" spinner_workers=%d", r->spinner_workers);
    printf("\n");
}

int main(void) {
    pauses_wanted = bench_env_long("BENCH_STW_PAUSES", 10000);
    pause_ns = calloc((size_t)pauses_wanted, sizeof *pause_ns);
    tts_ns = calloc((size_t)pauses_wanted, sizeof *tts_ns);
    if (pause_ns == NULL || tts_ns == NULL) {
        fprintf(stderr, "bench_stw: out of memory\n");
        return 2;
    }
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_stw: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        const scenario_result *r = &results[i];
        print_stat(r, "pause_p50", r->pause_p50);
        print_stat(r, "pause_p99", r->pause_p99);
        print_stat(r, "pause_max", r->pause_max);
        print_stat(r, "tts_p50", r->tts_p50);
        print_stat(r, "tts_p99", r->tts_p99);
        print_stat(r, "tts_max", r->tts_max);
    }
    free(pause_ns);
    free(tts_ns);
    return 0;
}
