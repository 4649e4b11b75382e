/* bench/parked_chan.c - a million tasks parked in a channel receive: creation
 * time and memory.
 *
 * The channel counterpart of bench/parked.c, whose tasks park through the
 * scheduler's internal park/ready interface: here they park the way user code
 * does, and the way the Go twin's goroutines do. The main task spawns
 * BENCH_PARKED_TASKS tasks (default 1,000,000), all given one unbuffered gate
 * channel (go_chan_new_noscan(0, 0), Go's chan struct{}); each calls
 * go_waitgroup_done on a "parked" wait group, then go_chan_recv on the gate.
 * When the wait group is done (every task has started and is in, or about to
 * enter, its receive; the Go twin counts the same way) the benchmark takes the
 * time per task from the first spawn, and the peak RSS (VmHWM). Then it
 * closes the gate, which wakes every receiver with GO_ECLOSED, waits on a
 * "finished" wait group, runs go_gc_collect() (the Go twin: runtime.GC and
 * debug.FreeOSMemory), sleeps BENCH_PARKED_SETTLE_MS (default 3000) so that
 * the monitor can give surplus stack memory back, and reports the RSS again.
 * Run with 2 workers (GORT_MAXPROCS; bench/run.sh sets it).
 *
 * The gate is each task's spawn argument: a collected object, a root while
 * the task has not started, then on the task's stack (docs/gc.md, "Roots");
 * the main task holds it on its own stack too.
 *
 * Lines:
 *   name=parked_chan impl=gort metric=<ns> unit=ns/task stat=create procs=<n> tasks=<N>
 *   name=parked_chan impl=gort metric=<MB> unit=MB stat=peak_rss procs=<n> tasks=<N>
 *   name=parked_chan impl=gort metric=<MB> unit=MB stat=rss_after_release procs=<n> tasks=<N>
 *
 * Wrong results (exit 1): a receive that returns anything but GO_ECLOSED, a
 * spawn or an allocation that fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <stdatomic.h>

#include "bench.h"
#include "gort.h"

static long ntasks;
static go_waitgroup parked = GO_WAITGROUP_INIT, finished = GO_WAITGROUP_INIT;
static atomic_long wrong;

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, n) == 0)
            v = atol(line + n);
    fclose(f);
    return v;
}

static void parker(void *arg) {
    go_chan *gate = arg;
    go_waitgroup_done(&parked);
    if (go_chan_recv(gate, NULL) != GO_ECLOSED)
        atomic_fetch_add(&wrong, 1);
    go_waitgroup_done(&finished);
}

static int bench_main(void *arg) {
    (void)arg;
    int procs = go_workers();
    go_chan *gate = go_chan_new_noscan(0, 0);
    if (gate == NULL) {
        fprintf(stderr, "bench_parked_chan: go_chan_new_noscan returned NULL\n");
        return 1;
    }
    go_waitgroup_add(&parked, ntasks);
    go_waitgroup_add(&finished, ntasks);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < ntasks; i++) {
        int rc = go_spawn(parker, gate);
        if (rc != 0) {
            fprintf(stderr, "bench_parked_chan: go_spawn #%ld failed: %s\n", i, go_strerror(rc));
            return 1;
        }
        go_safepoint();
    }
    go_waitgroup_wait(&parked);
    uint64_t t1 = bench_now_ns();
    long peak_kb = status_kb("VmHWM:");

    go_chan_close(gate);
    go_waitgroup_wait(&finished);
    long n_wrong = atomic_load(&wrong);
    if (n_wrong != 0) {
        fprintf(stderr,
                "bench_parked_chan: %ld of %ld receives on the closed gate did not return "
                "GO_ECLOSED\n",
                n_wrong, ntasks);
        return 1;
    }
    go_gc_collect();
    go_sleep(bench_env_long("BENCH_PARKED_SETTLE_MS", 3000) * INT64_C(1000000));
    long after_kb = status_kb("VmRSS:");

    printf("name=parked_chan impl=gort metric=%.0f unit=ns/task stat=create procs=%d tasks=%ld\n",
           (double)(t1 - t0) / (double)ntasks, procs, ntasks);
    printf("name=parked_chan impl=gort metric=%ld unit=MB stat=peak_rss procs=%d tasks=%ld\n",
           peak_kb / 1024, procs, ntasks);
    printf(
        "name=parked_chan impl=gort metric=%ld unit=MB stat=rss_after_release procs=%d tasks=%ld\n",
        after_kb / 1024, procs, ntasks);
    return 0;
}

int main(void) {
    ntasks = bench_env_long("BENCH_PARKED_TASKS", 1000000);
    int rc = go_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_parked_chan: go_main: %s\n", go_strerror(rc));
        return 2;
    }
    return rc == 0 ? 0 : 1;
}
