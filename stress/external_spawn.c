/* external_spawn.c - threads that are not workers spawning all at once, while
 * tasks spawn too.
 *
 * T threads (uv_thread_create, started before go_main's tasks begin spawning
 * and released together) each spawn K tasks with ids from their own range.
 * Each such task may spawn children (ids handed out by an atomic counter past
 * the threads' ranges), and the main task spawns its own batch meanwhile.
 * Every task marks its id in a table with an atomic increment: at the end each
 * handed-out id must have been marked exactly once (a lost task leaves a 0, a
 * task run twice a 2). Threads throttle themselves so that live tasks stay
 * under stress_max_live(). */
#include <stdatomic.h>
#include <stdlib.h>

#include "gort.h"
#include "stress/stress.h"

#define THREADS 4

typedef struct storm {
    long per_thread;     /* K */
    long capacity;       /* size of the id table */
    atomic_uchar *seen;  /* marks per id */
    atomic_long next_id; /* ids past the threads' ranges */
    atomic_long handed_out, ran;
    atomic_long spawn_errors, id_overflow;
    atomic_int go; /* releases the threads together */
    atomic_int threads_done;
    long max_live;
} storm;

typedef struct job {
    storm *s;
    long id;
    int children;
} job;

static void run_job(void *arg);

static void spawn_job(storm *s, long id, int children) {
    job *j = malloc(sizeof *j);
    if (j == NULL) {
        atomic_fetch_add(&s->spawn_errors, 1);
        return;
    }
    *j = (job){s, id, children};
    atomic_fetch_add(&s->handed_out, 1);
    if (go_spawn(run_job, j) != 0) {
        atomic_fetch_add(&s->spawn_errors, 1);
        atomic_fetch_sub(&s->handed_out, 1);
        atomic_fetch_add(&s->seen[id], 1); /* counted as done: the check below skips it */
        free(j);
    }
}

static void run_job(void *arg) {
    job *j = arg;
    storm *s = j->s;
    atomic_fetch_add(&s->seen[j->id], 1);
    for (int i = 0; i < j->children; i++) {
        long id = atomic_fetch_add(&s->next_id, 1);
        if (id >= s->capacity) {
            atomic_fetch_add(&s->id_overflow, 1);
            break;
        }
        spawn_job(s, id, 0);
    }
    free(j);
    atomic_fetch_add(&s->ran, 1);
}

typedef struct thread_arg {
    storm *s;
    int index;
} thread_arg;

static void spawner_thread(void *arg) {
    thread_arg *ta = arg;
    storm *s = ta->s;
    stress_rng rng = stress_rng_make(100 + (uint64_t)ta->index);
    unsigned spins = 0;
    while (!atomic_load(&s->go))
        gort_test_relax(&spins);
    long base = ta->index * s->per_thread;
    for (long i = 0; i < s->per_thread; i++) {
        while (atomic_load(&s->handed_out) - atomic_load(&s->ran) > s->max_live)
            gort_test_relax(&spins);
        spawn_job(s, base + i, stress_below(&rng, 4) == 0 ? 1 + (int)stress_below(&rng, 3) : 0);
    }
    atomic_fetch_add(&s->threads_done, 1);
}

static int storm_main(void *arg) {
    storm *s = arg;
    uv_thread_t th[THREADS];
    thread_arg ta[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ta[i] = (thread_arg){s, i};
        if (uv_thread_create(&th[i], spawner_thread, &ta[i]) != 0)
            return -1;
    }
    atomic_store(&s->go, 1);
    /* The main task spawns too, with ids from the shared counter. */
    for (long i = 0; i < s->per_thread / 4; i++) {
        long id = atomic_fetch_add(&s->next_id, 1);
        if (id >= s->capacity) {
            atomic_fetch_add(&s->id_overflow, 1);
            break;
        }
        while (atomic_load(&s->handed_out) - atomic_load(&s->ran) > s->max_live)
            go_yield();
        spawn_job(s, id, 1);
    }
    while (atomic_load(&s->threads_done) < THREADS)
        go_yield();
    while (atomic_load(&s->ran) < atomic_load(&s->handed_out))
        go_yield();
    for (int i = 0; i < THREADS; i++)
        uv_thread_join(&th[i]);
    return 0;
}

int main(void) {
    stress_begin("external_spawn");
    storm s = {0};
    s.per_thread = stress_scaled(200000);
    /* Thread ranges, then at most 3 children per thread job and the main
     * task's batch with one child each. */
    s.capacity = THREADS * s.per_thread * 4 + s.per_thread;
    s.seen = calloc((size_t)s.capacity, sizeof *s.seen);
    stress_check(s.seen != NULL, "out of memory");
    atomic_store(&s.next_id, THREADS * s.per_thread);
    s.max_live = stress_max_live();
    int workers = stress_workers(4);
    printf("external_spawn: %d threads x %ld tasks plus children, %d workers\n", THREADS,
           s.per_thread, workers);
    fflush(stdout);
    stress_set_phase("spawning");
    int rc = gort_test_run(workers, storm_main, &s);
    stress_check(rc == 0, "go_main returned %d", rc);
    stress_check(atomic_load(&s.spawn_errors) == 0, "%ld spawns failed",
                 atomic_load(&s.spawn_errors));
    stress_check(atomic_load(&s.id_overflow) == 0, "id table overflow");
    long last = atomic_load(&s.next_id);
    for (long id = 0; id < last; id++) {
        int n = atomic_load(&s.seen[id]);
        stress_check(n == 1, "task %ld ran %d times", id, n);
    }
    stress_check(atomic_load(&s.ran) == atomic_load(&s.handed_out), "%ld tasks ran of %ld",
                 atomic_load(&s.ran), atomic_load(&s.handed_out));
    printf("external_spawn: %ld tasks, each ran once\n", atomic_load(&s.handed_out));
    free(s.seen);
    return stress_end();
}
