/* yield_storm.c - many tasks yielding across the workers.
 *
 * N tasks each run R rounds of: bump its own counter, check that nobody else
 * touched its slot meanwhile, yield. Some rounds (chosen from the seed) also
 * spawn a short-lived task, so that yields compete with fresh work in the run
 * queues and the global queue. At the end every counter must be exactly R,
 * every short task must have run once, and the per-task check must never
 * have failed (a task resumed twice, or two workers running one task, breaks
 * it). The workers each task ran on are recorded to report migrations. */
#include <stdatomic.h>
#include <stdlib.h>

#include "gort.h"
#include "sched/sched.h"
#include "stress/stress.h"

typedef struct slot {
    atomic_long rounds;
    atomic_int owner_inside; /* 1 while the task runs a round: never seen as 1 on entry */
    long migrations;         /* written by the task only */
    uint32_t workers_seen;   /* bitmask, by the task only */
} slot;

typedef struct storm {
    int ntasks;
    long rounds;
    slot *slots;
    atomic_long overlaps;
    atomic_long extra_spawned, extra_ran;
    atomic_long spawn_errors;
    gort_test_wg wg, extra_wg;
} storm;

typedef struct yielder_arg {
    storm *s;
    int index;
} yielder_arg;

static void extra_task(void *arg) {
    storm *s = arg;
    atomic_fetch_add(&s->extra_ran, 1);
    go_yield();
    gort_test_wg_done(&s->extra_wg);
}

static void yielder(void *arg) {
    yielder_arg *a = arg;
    storm *s = a->s;
    slot *me = &s->slots[a->index];
    stress_rng rng = stress_rng_make((uint64_t)a->index + 1);
    int last_worker = gort_sched_worker_index();
    for (long r = 0; r < s->rounds; r++) {
        if (atomic_exchange(&me->owner_inside, 1) != 0)
            atomic_fetch_add(&s->overlaps, 1);
        atomic_fetch_add_explicit(&me->rounds, 1, memory_order_relaxed);
        if (stress_below(&rng, 64) == 0) {
            gort_test_wg_add(&s->extra_wg, 1);
            atomic_fetch_add(&s->extra_spawned, 1);
            if (go_spawn(extra_task, s) != 0) {
                atomic_fetch_add(&s->spawn_errors, 1);
                atomic_fetch_sub(&s->extra_spawned, 1);
                gort_test_wg_done(&s->extra_wg);
            }
        }
        atomic_store(&me->owner_inside, 0);
        go_yield();
        int w = gort_sched_worker_index();
        if (w != last_worker)
            me->migrations++;
        last_worker = w;
        if (w >= 0 && w < 32)
            me->workers_seen |= 1u << w;
    }
    gort_test_wg_done(&s->wg);
}

static int storm_main(void *arg) {
    storm *s = arg;
    yielder_arg *args = calloc((size_t)s->ntasks, sizeof *args);
    if (args == NULL)
        return -1;
    gort_test_wg_add(&s->wg, s->ntasks);
    gort_test_wg_add(&s->extra_wg, 1); /* released below, once the yielders are done */
    for (int i = 0; i < s->ntasks; i++) {
        args[i] = (yielder_arg){s, i};
        if (go_spawn(yielder, &args[i]) != 0) {
            atomic_fetch_add(&s->spawn_errors, 1);
            gort_test_wg_done(&s->wg);
        }
    }
    gort_test_wg_wait(&s->wg);
    gort_test_wg_done(&s->extra_wg);
    gort_test_wg_wait(&s->extra_wg);
    free(args);
    return 0;
}

int main(void) {
    stress_begin("yield_storm");
    storm s = {0};
    long total = stress_scaled(20000000); /* yields in total */
    s.ntasks = 1000;
    if (s.ntasks > stress_max_live() / 4)
        s.ntasks = (int)(stress_max_live() / 4);
    s.rounds = total / s.ntasks;
    if (s.rounds < 10)
        s.rounds = 10;
    s.slots = calloc((size_t)s.ntasks, sizeof *s.slots);
    stress_check(s.slots != NULL, "out of memory");
    int workers = stress_workers(4);
    printf("yield_storm: %d tasks x %ld yields, %d workers\n", s.ntasks, s.rounds, workers);
    fflush(stdout);
    stress_set_phase("yielding");
    int rc = gort_test_run(workers, storm_main, &s);
    stress_check(rc == 0, "go_main returned %d", rc);
    stress_check(atomic_load(&s.spawn_errors) == 0, "%ld spawns failed",
                 atomic_load(&s.spawn_errors));
    stress_check(atomic_load(&s.overlaps) == 0,
                 "%ld rounds overlapped another run of the same task", atomic_load(&s.overlaps));
    long migrations = 0;
    uint32_t seen = 0;
    for (int i = 0; i < s.ntasks; i++) {
        long r = atomic_load(&s.slots[i].rounds);
        stress_check(r == s.rounds, "task %d ran %ld rounds, expected %ld", i, r, s.rounds);
        migrations += s.slots[i].migrations;
        seen |= s.slots[i].workers_seen;
    }
    stress_check(atomic_load(&s.extra_ran) == atomic_load(&s.extra_spawned),
                 "%ld short tasks ran of %ld spawned", atomic_load(&s.extra_ran),
                 atomic_load(&s.extra_spawned));
    printf("yield_storm: %ld short tasks, %ld migrations, workers seen %#x\n",
           atomic_load(&s.extra_spawned), migrations, seen);
    free(s.slots);
    return stress_end();
}
