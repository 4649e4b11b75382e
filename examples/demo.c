/* demo.c - what the scheduler does with a burst of work.
 *
 * The main task starts a tree of tasks: 16 "branch" tasks each spawn 1,000
 * "leaf" tasks that do a little arithmetic and yield now and then. Work is
 * spawned on whichever worker runs the branch, so idle workers must be woken
 * and must steal to share it. Afterwards the demo prints what the scheduler
 * did: how many tasks ran on each worker count, steals, sleeps, and the
 * checksum of the leaves' results. Run it with GORT_MAXPROCS=1, 2, 4... to
 * compare.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include <gort.h>

#define BRANCHES 16
#define LEAVES 1000

static _Atomic uint64_t checksum;
static atomic_int leaves_done;
static atomic_int branches_done;

static void leaf(void *arg) {
    uint64_t x = (uint64_t)(uintptr_t)arg;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 200; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        go_yield(); /* a cooperative task gives others a turn */
    }
    atomic_fetch_add(&checksum, x >> 32);
    atomic_fetch_add(&leaves_done, 1);
}

static void branch(void *arg) {
    uintptr_t b = (uintptr_t)arg;
    for (uintptr_t i = 0; i < LEAVES; i++) {
        int rc = go_spawn(leaf, (void *)(b * LEAVES + i));
        if (rc != 0) {
            fprintf(stderr, "demo: go_spawn: %s\n", go_strerror(rc));
            return;
        }
    }
    atomic_fetch_add(&branches_done, 1);
}

static uint64_t expected_checksum(void) {
    uint64_t sum = 0;
    for (uint64_t n = 0; n < (uint64_t)BRANCHES * LEAVES; n++) {
        uint64_t x = n;
        for (int i = 0; i < 800; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        sum += x >> 32;
    }
    return sum;
}

static int main_task(void *arg) {
    (void)arg;
    int64_t t0 = go_now();
    for (uintptr_t b = 0; b < BRANCHES; b++)
        go_spawn_with(branch, (void *)b, &(go_spawn_opts){.name = "branch"});
    while (atomic_load(&leaves_done) < BRANCHES * LEAVES)
        go_yield();
    int64_t t1 = go_now();

    go_sched_stats s;
    go_sched_stats_get(&s);
    printf("gort demo: %d workers, stack guards: %s\n", s.workers, s.stack_guard);
    printf("  tasks:     %d branches spawned %d leaves, all finished in %.1f ms\n", BRANCHES,
           BRANCHES * LEAVES, (double)(t1 - t0) / 1e6);
    printf("  scheduler: %" PRIu64 " tasks spawned from tasks, %" PRIu64 " schedules "
           "(tasks resumed after a yield count again)\n",
           s.spawned, s.schedules);
    printf("  sharing:   %" PRIu64 " steals from other workers' queues, %" PRIu64
           " times a worker slept for lack of work\n",
           s.steals, s.idle_sleeps);
    printf("  alive:     %" PRIu64 " tasks (the main task)\n", s.live_tasks);
    uint64_t want = expected_checksum();
    uint64_t got = atomic_load(&checksum);
    printf("  checksum:  %016" PRIx64 " (%s)\n", got, got == want ? "correct" : "WRONG");
    return got == want ? 0 : 1;
}

int main(void) {
    int rc = go_main(main_task, NULL);
    if (rc < 0)
        fprintf(stderr, "demo: go_main: %s\n", go_strerror(rc));
    return rc == 0 ? 0 : 1;
}
