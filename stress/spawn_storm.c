/* spawn_storm.c - a million tasks (scaled), spawned in waves from tasks.
 *
 * Each wave mixes three shapes, chosen from the seed:
 *   - flat: the wave's root task spawns many leaves directly;
 *   - trees: recursive fan-out, every node spawning `branch` children down to
 *     `depth` (children are spawned before the parent finishes, from whichever
 *     worker the parent runs on);
 *   - chains: each task spawns the next one and finishes at once.
 * Every task adds a value to a sum; whoever spawns a task first adds the same
 * value to the expected sum and counts the spawn. At the end of each wave the
 * sums and counts must match (a task lost, run twice or with a wrong argument
 * shows up there); the waves keep the number of live tasks under
 * stress_max_live(). */
#include <stdatomic.h>
#include <stdlib.h>

#include "gort.h"
#include "stress/stress.h"

typedef struct wave {
    gort_test_wg wg; /* every task of the wave */
    atomic_long spawned, ran;
    atomic_long expected_sum, sum;
    atomic_long spawn_errors;
} wave;

typedef struct node {
    wave *w;
    long value;
    int depth, branch; /* trees */
    int chain_left;    /* chains */
} node;

static void node_task(void *arg);

/* Spawns a child of the wave; on failure the child's share is undone. */
static void spawn_child(wave *w, long value, int depth, int branch, int chain_left) {
    node *n = malloc(sizeof *n);
    if (n == NULL) {
        atomic_fetch_add(&w->spawn_errors, 1);
        return;
    }
    *n = (node){w, value, depth, branch, chain_left};
    gort_test_wg_add(&w->wg, 1);
    atomic_fetch_add(&w->spawned, 1);
    atomic_fetch_add(&w->expected_sum, value);
    if (go_spawn(node_task, n) != 0) {
        atomic_fetch_add(&w->spawn_errors, 1);
        atomic_fetch_sub(&w->spawned, 1);
        atomic_fetch_sub(&w->expected_sum, value);
        free(n);
        gort_test_wg_done(&w->wg);
    }
}

static void node_task(void *arg) {
    node *n = arg;
    wave *w = n->w;
    atomic_fetch_add(&w->sum, n->value);
    atomic_fetch_add(&w->ran, 1);
    if (n->depth > 0)
        for (int i = 0; i < n->branch; i++)
            spawn_child(w, n->value * 7 + i + 1, n->depth - 1, n->branch, 0);
    if (n->chain_left > 0)
        spawn_child(w, n->value + 3, 0, 0, n->chain_left - 1);
    free(n);
    gort_test_wg_done(&w->wg);
}

typedef struct storm {
    long target; /* tasks in total */
    long max_live;
    long total_spawned, total_ran;
    int waves;
    long errors;
    char msg[256];
} storm;

static long tree_size(int branch, int depth) {
    long n = 1, level = 1;
    for (int d = 0; d < depth; d++) {
        level *= branch;
        n += level;
    }
    return n;
}

static int storm_main(void *arg) {
    storm *s = arg;
    stress_rng rng = stress_rng_make(0);
    while (s->total_spawned < s->target) {
        wave *w = calloc(1, sizeof *w);
        if (w == NULL)
            return -1;
        long budget =
            s->max_live < s->target - s->total_spawned ? s->max_live : s->target - s->total_spawned;
        gort_test_wg_add(&w->wg, 1); /* the wave itself, until every root is spawned */
        long planned = 0;
        while (planned < budget) {
            long left = budget - planned;
            switch (stress_below(&rng, 3)) {
            case 0: { /* a flat burst */
                long n = 1 + stress_below(&rng, 2000);
                if (n > left)
                    n = left;
                for (long i = 0; i < n; i++)
                    spawn_child(w, (long)stress_below(&rng, 1000000), 0, 0, 0);
                planned += n;
                break;
            }
            case 1: { /* a fan-out tree */
                int branch = 2 + (int)stress_below(&rng, 4), depth = 1 + (int)stress_below(&rng, 5);
                while (depth > 0 && tree_size(branch, depth) > left)
                    depth--;
                spawn_child(w, (long)stress_below(&rng, 1000), depth, branch, 0);
                planned += tree_size(branch, depth);
                break;
            }
            default: { /* a chain */
                long len = 1 + stress_below(&rng, 200);
                if (len > left)
                    len = left;
                spawn_child(w, (long)stress_below(&rng, 1000), 0, 0, (int)len - 1);
                planned += len;
                break;
            }
            }
        }
        gort_test_wg_done(&w->wg);
        gort_test_wg_wait(&w->wg);
        long spawned = atomic_load(&w->spawned), ran = atomic_load(&w->ran);
        long exp = atomic_load(&w->expected_sum), sum = atomic_load(&w->sum);
        long errs = atomic_load(&w->spawn_errors);
        if (spawned != ran || exp != sum || errs != 0 || spawned != planned) {
            snprintf(s->msg, sizeof s->msg,
                     "wave %d: planned %ld, spawned %ld, ran %ld, sum %ld expected %ld, %ld spawn "
                     "errors",
                     s->waves, planned, spawned, ran, sum, exp, errs);
            s->errors++;
            free(w);
            return 1;
        }
        s->total_spawned += spawned;
        s->total_ran += ran;
        s->waves++;
        free(w);
    }
    return 0;
}

int main(void) {
    stress_begin("spawn_storm");
    storm s = {.target = stress_scaled(1000000), .max_live = stress_max_live() / 2};
    if (s.max_live > 50000)
        s.max_live = 50000;
    int workers = stress_workers(4);
    printf("spawn_storm: %ld tasks in waves of up to %ld, %d workers\n", s.target, s.max_live,
           workers);
    fflush(stdout);
    stress_set_phase("spawning");
    int rc = gort_test_run(workers, storm_main, &s);
    stress_check(rc == 0, "go_main returned %d: %s", rc, s.msg);
    stress_check(s.total_spawned >= s.target, "spawned %ld of %ld", s.total_spawned, s.target);
    stress_check(s.total_ran == s.total_spawned, "ran %ld of %ld", s.total_ran, s.total_spawned);
    printf("spawn_storm: %ld tasks in %d waves\n", s.total_spawned, s.waves);
    return stress_end();
}
