/* demo.c - what the scheduler and the collector do with a burst of work.
 *
 * The main task starts a tree of tasks: 16 "branch" tasks each spawn 1,000
 * "leaf" tasks that do a little arithmetic and yield now and then. Work is
 * spawned on whichever worker runs the branch, so idle workers must be woken
 * and must steal to share it. Every leaf also makes garbage (small collected
 * lists it drops) and leaves its result in a collected object whose only
 * reference is its slot in a registered root array. Afterwards the demo
 * prints what the scheduler did (spawns, steals, sleeps), what the collector
 * did (cycles, pauses), and the checksum of the leaves' results, read back
 * from the collected objects. Run it with GORT_MAXPROCS=1, 2, 4... and with
 * GORT_DEBUG=gctrace=1 to see more.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include <gort.h>

#define BRANCHES 16
#define LEAVES 1000

#define GARBAGE_PER_ROUND 64

static atomic_int leaves_done;
static atomic_int branches_done;

/* A collected object: the type lists its pointer field for the collector. */
typedef struct cell {
    struct cell *next;
    uint64_t value;
} cell;
static const size_t cell_ptrs[] = {offsetof(cell, next)};
static const go_type cell_type = {"cell", sizeof(cell), 1, cell_ptrs, NULL};

/* One slot per leaf, registered with go_gc_add_roots: globals are not roots
 * by themselves. */
static cell *results[BRANCHES * LEAVES];

static void leaf(void *arg) {
    uintptr_t n = (uintptr_t)arg;
    uint64_t x = n;
    for (int round = 0; round < 4; round++) {
        cell *garbage = NULL; /* a list that dies at the end of the round */
        for (int i = 0; i < 200; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (i < GARBAGE_PER_ROUND) {
                cell *c = go_new(&cell_type);
                if (c == NULL)
                    return;
                c->value = x;
                GO_STORE(c->next, garbage); /* a pointer store into the heap */
                garbage = c;
            }
        }
        go_yield(); /* a cooperative task gives others a turn */
    }
    cell *r = go_new(&cell_type);
    if (r == NULL)
        return;
    r->value = x >> 32;
    GO_STORE(results[n], r); /* shared memory: GO_STORE */
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
    if (go_gc_add_roots(results, sizeof results) != 0)
        return 1;
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
    printf("  alive:     %" PRIu64 " tasks (the main task, and the collector's sweeper "
           "while it works)\n",
           s.live_tasks);
    go_gc_stats g;
    go_gc_stats_get(&g);
    printf("  collector: %" PRIu64 " cycles, longest pause %.2f ms, %.1f MB allocated, "
           "%.2f MB live after the last cycle\n",
           g.cycles, (double)g.pause_max_ns / 1e6, (double)g.bytes_allocated / 1048576.0,
           (double)g.heap_live / 1048576.0);
    uint64_t want = expected_checksum();
    uint64_t got = 0;
    for (size_t i = 0; i < BRANCHES * LEAVES; i++)
        got += results[i] != NULL ? results[i]->value : 0;
    go_gc_remove_roots(results);
    printf("  checksum:  %016" PRIx64 " (%s)\n", got, got == want ? "correct" : "WRONG");
    return got == want ? 0 : 1;
}

int main(void) {
    int rc = go_main(main_task, NULL);
    if (rc < 0)
        fprintf(stderr, "demo: go_main: %s\n", go_strerror(rc));
    return rc == 0 ? 0 : 1;
}
