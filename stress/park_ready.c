/* park_ready.c - ping-pong chains of park/ready across the workers.
 *
 * Rings of tasks pass a token: task i of a ring parks on its semaphore
 * (gort_sched_park with an unlock callback that releases the semaphore's
 * spinlock, sched/park.c), and when woken bumps the ring's counter and readies
 * task i+1. Rings of two are ping-pong pairs; longer rings make every hand-off
 * a cross-worker wake-up sooner or later. Some rings start several tokens, so
 * a task can be readied while it is still running (the post is then counted
 * and consumed without parking). Some hand-offs yield first, so the waker is
 * not always the last to run on its worker.
 * Checks: every ring passes exactly rounds * tokens hand-offs and every
 * semaphore ends empty. A lost wake-up hangs a ring: the watchdog turns that
 * into a failure with a message. */
#include <stdatomic.h>
#include <stdlib.h>

#include "gort.h"
#include "stress/stress.h"

typedef struct ring {
    int size, tokens;
    long rounds;          /* hand-offs per token */
    gort_test_sema *sema; /* one per member */
    atomic_long handoffs;
    long *member_wakes; /* each written by its member only */
} ring;

typedef struct member_arg {
    ring *r;
    int index;
    gort_test_wg *wg;
} member_arg;

static void member(void *arg) {
    member_arg *m = arg;
    ring *r = m->r;
    stress_rng rng = stress_rng_make((uint64_t)(uintptr_t)r + (uint64_t)m->index);
    /* Each token makes `rounds` laps; a member sees every token on every lap. */
    long wakes = r->rounds * r->tokens;
    for (long k = 0; k < wakes; k++) {
        gort_test_sema_wait(&r->sema[m->index]);
        r->member_wakes[m->index]++;
        atomic_fetch_add_explicit(&r->handoffs, 1, memory_order_relaxed);
        if (stress_below(&rng, 16) == 0)
            go_yield();
        /* The last member does not pass a token on after its last lap. */
        bool last_lap = k >= wakes - r->tokens;
        if (!(m->index == r->size - 1 && last_lap))
            gort_test_sema_post(&r->sema[(m->index + 1) % r->size]);
    }
    gort_test_wg_done(m->wg);
}

typedef struct storm {
    int nrings;
    ring *rings;
    long rounds;
    int errors;
} storm;

static int storm_main(void *arg) {
    storm *s = arg;
    gort_test_wg wg = {0};
    int nmembers = 0;
    for (int i = 0; i < s->nrings; i++)
        nmembers += s->rings[i].size;
    member_arg *args = calloc((size_t)nmembers, sizeof *args);
    if (args == NULL)
        return -1;
    gort_test_wg_add(&wg, nmembers);
    int k = 0;
    for (int i = 0; i < s->nrings; i++) {
        ring *r = &s->rings[i];
        for (int j = 0; j < r->size; j++) {
            args[k] = (member_arg){r, j, &wg};
            if (go_spawn(member, &args[k]) != 0)
                return -2;
            k++;
        }
        /* The tokens start at member 0. */
        for (int t = 0; t < r->tokens; t++)
            gort_test_sema_post(&r->sema[0]);
    }
    gort_test_wg_wait(&wg);
    free(args);
    return 0;
}

int main(void) {
    stress_begin("park_ready");
    storm s = {0};
    stress_rng rng = stress_rng_make(1);
    long total = stress_scaled(4000000); /* hand-offs in all */
    s.nrings = 64;
    if (s.nrings * 8 > stress_max_live())
        s.nrings = (int)(stress_max_live() / 8);
    s.rings = calloc((size_t)s.nrings, sizeof *s.rings);
    stress_check(s.rings != NULL, "out of memory");
    long expected_total = 0;
    int sizes = 0;
    for (int i = 0; i < s.nrings; i++) {
        ring *r = &s.rings[i];
        /* Half of the rings are ping-pong pairs. */
        r->size = i % 2 == 0 ? 2 : 3 + (int)stress_below(&rng, 6);
        r->tokens = stress_below(&rng, 4) == 0 ? 2 + (int)stress_below(&rng, 2) : 1;
        if (r->tokens > r->size)
            r->tokens = r->size;
        r->rounds = total / s.nrings / r->size / r->tokens;
        if (r->rounds < 2)
            r->rounds = 2;
        r->sema = calloc((size_t)r->size, sizeof *r->sema);
        r->member_wakes = calloc((size_t)r->size, sizeof *r->member_wakes);
        stress_check(r->sema != NULL && r->member_wakes != NULL, "out of memory");
        expected_total += r->rounds * r->tokens * r->size;
        sizes += r->size;
    }
    int workers = stress_workers(4);
    printf("park_ready: %d rings (%d tasks), %ld hand-offs, %d workers\n", s.nrings, sizes,
           expected_total, workers);
    fflush(stdout);
    stress_set_phase("passing tokens");
    int rc = gort_test_run(workers, storm_main, &s);
    stress_check(rc == 0, "go_main returned %d", rc);
    for (int i = 0; i < s.nrings; i++) {
        ring *r = &s.rings[i];
        long want = r->rounds * r->tokens * r->size;
        stress_check(atomic_load(&r->handoffs) == want,
                     "ring %d passed %ld hand-offs, expected %ld", i, atomic_load(&r->handoffs),
                     want);
        for (int j = 0; j < r->size; j++) {
            stress_check(r->member_wakes[j] == r->rounds * r->tokens,
                         "ring %d member %d woke %ld times, expected %ld", i, j, r->member_wakes[j],
                         r->rounds * r->tokens);
            stress_check(r->sema[j].count == 0 && r->sema[j].head == NULL,
                         "ring %d member %d: semaphore left with %d posts", i, j, r->sema[j].count);
        }
        free(r->sema);
        free(r->member_wakes);
    }
    free(s.rings);
    return stress_end();
}
