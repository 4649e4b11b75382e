/* bench/parked.c - a million parked tasks: creation time and memory.
 *
 * The main task spawns BENCH_PARKED_TASKS tasks (default 1,000,000); each
 * parks at once through the scheduler's park/ready interface (written before
 * channels existed; bench/parked_chan.c parks them in a channel receive, as
 * the Go twin does). When all are parked the benchmark reports the time per
 * task from the first spawn to the last park, and the peak RSS; then it readies
 * them all, waits for them to finish, lets the monitor give the surplus stack
 * memory back to the OS for BENCH_PARKED_SETTLE_MS (default 3000), and reports
 * the RSS again. The Go twin parks goroutines on a channel.
 *
 * Lines:
 *   name=parked impl=gort metric=<ns> unit=ns/task stat=create procs=<n> tasks=<N>
 *   name=parked impl=gort metric=<MB> unit=MB stat=peak_rss procs=<n> tasks=<N>
 *   name=parked impl=gort metric=<MB> unit=MB stat=rss_after_release procs=<n> tasks=<N>
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "bench.h"
#include "gort.h"
#include "sched/sched.h"

static long ntasks;
static gort_task *_Atomic *slots;
static atomic_long parked, finished;

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

static bool count_parked(gort_task *t, void *arg) {
    (void)t, (void)arg;
    atomic_fetch_add(&parked, 1);
    return true;
}

static void parker(void *arg) {
    long i = (long)(intptr_t)arg;
    atomic_store(&slots[i], gort_sched_current_task());
    gort_sched_park(count_parked, NULL, "bench");
    atomic_fetch_add(&finished, 1);
}

static int bench_main(void *arg) {
    (void)arg;
    int procs = go_workers();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < ntasks; i++) {
        int rc = go_spawn(parker, (void *)(intptr_t)i);
        if (rc != 0) {
            fprintf(stderr, "bench_parked: go_spawn: %s\n", go_strerror(rc));
            return 1;
        }
    }
    while (atomic_load(&parked) < ntasks)
        go_yield();
    uint64_t t1 = bench_now_ns();
    long peak_kb = status_kb("VmHWM:");

    for (long i = 0; i < ntasks; i++) {
        gort_sched_ready(atomic_load(&slots[i]));
        go_safepoint();
    }
    while (atomic_load(&finished) < ntasks)
        go_yield();
    uint64_t settle_until =
        bench_now_ns() + (uint64_t)bench_env_long("BENCH_PARKED_SETTLE_MS", 3000) * 1000000u;
    while (bench_now_ns() < settle_until)
        go_yield();
    long after_kb = status_kb("VmRSS:");

    printf("name=parked impl=gort metric=%.0f unit=ns/task stat=create procs=%d tasks=%ld\n",
           (double)(t1 - t0) / (double)ntasks, procs, ntasks);
    printf("name=parked impl=gort metric=%ld unit=MB stat=peak_rss procs=%d tasks=%ld\n",
           peak_kb / 1024, procs, ntasks);
    printf("name=parked impl=gort metric=%ld unit=MB stat=rss_after_release procs=%d tasks=%ld\n",
           after_kb / 1024, procs, ntasks);
    return 0;
}

int main(void) {
    ntasks = bench_env_long("BENCH_PARKED_TASKS", 1000000);
    slots = calloc((size_t)ntasks, sizeof *slots);
    if (slots == NULL)
        return 1;
    int rc = go_main(bench_main, NULL);
    if (rc != 0)
        fprintf(stderr, "bench_parked: go_main: %d\n", rc);
    return rc == 0 ? 0 : 1;
}
