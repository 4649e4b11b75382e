/* sched/lifecycle.c - starting and stopping the runtime: go_start, go_stop,
 * go_main.
 *
 *   start: resolve the configuration (runtime/config.c), reset the
 *          scheduler's state, mark it running, start the workers.
 *   go_stop: (1) mark stopping: spawns from threads that are not workers fail
 *          with GO_ECANCELED from now on (a spawn counts its task before it
 *          checks, so none slips past: sched/task.c); (2) wait until every
 *          task has finished (tasks may still spawn, and their children are
 *          waited for too); (3) tear down.
 *   go_main: start, run main_fn as a task, and tear down as soon as it
 *          returns, abandoning the other tasks (Go's semantics).
 *   teardown: mark not running, wait for the implicit sections in progress,
 *          stop and join the workers (each leaves at its next scheduling
 *          point), free every task and stack.
 * Invariant: lifecycle_lock serializes starts and stops; `running` and
 * `external_active` are never reset wholesale, because threads that are not
 * workers read them at any time.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "runtime/config.h"
#include "sched/internal.h"

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;
static enum { LIFE_STOPPED, LIFE_STARTED, LIFE_MAIN } life; /* [lifecycle_lock] */

/* Task ids never repeat in a process: the counter survives a restart. */
static _Atomic uint64_t saved_next_id = 1;

static gort_rt_config config;

static void sched_reset(void) {
    gort_sched.workers = NULL;
    /* The rings' arrays stay for the next run; tasks left in them are freed
     * through allg. */
    gort_sched.gq_fresh.head = gort_sched.gq_fresh.n = 0;
    gort_sched.gq_woken.head = gort_sched.gq_woken.n = 0;
    atomic_store(&gort_sched.gq_size, 0);
    gort_sched.idle_list = NULL;
    atomic_store(&gort_sched.npidle, 0);
    atomic_store(&gort_sched.nmspinning, 0);
    atomic_store(&gort_sched.free_tasks.n, 0);
    atomic_store(&gort_sched.free_stacks.n, 0);
    atomic_store(&gort_sched.cold_stacks.n, 0);
    gort_sched.allg = NULL;
    gort_sched.nallg = gort_sched.capallg = 0;
    gort_sched.slabs = NULL;
    gort_sched.slab_next = gort_sched.slab_end = NULL;
    atomic_store(&gort_sched.live_tasks, 0);
    atomic_store(&gort_sched.claims_enabled, 0);
    atomic_store(&gort_sched.stopping, 0);
    atomic_store(&gort_sched.shutdown, 0);
    gort_rt_event_reset(&gort_sched.all_tasks_done);
}

static int runtime_start(const go_config *cfg) {
    int rc = gort_rt_config_resolve(cfg, &config);
    if (rc != 0)
        return rc;
    sched_reset();
    gort_gc_runtime_starting(config.gc_percent, config.memory_limit, config.heap_limit);
    int n = config.workers;
    gort_sched.nworkers = n;
    gort_sched.default_stack = config.stack_size;
    gort_sched.workers = aligned_alloc(64, sizeof(gort_worker) * (size_t)n);
    if (gort_sched.workers == NULL)
        return GO_ENOMEM;
    memset(gort_sched.workers, 0, sizeof(gort_worker) * (size_t)n);
    for (int i = 0; i < n; i++)
        atomic_store(&gort_sched.workers[i].m.state, W_EXITED);
    atomic_store(&gort_sched.next_id, atomic_load(&saved_next_id));
    if (uv_mutex_init(&gort_sched.allg_lock) != 0) {
        free(gort_sched.workers);
        return GO_ENOMEM;
    }
    gort_stw_reset();
    atomic_store(&gort_sched.running, 1);
    return 0;
}

static void wait_for_external_sections(void) {
    while (atomic_load(&gort_sched.external_active) != 0)
        gort_rt_cpu_relax();
}

static void runtime_teardown(void) {
    atomic_store(&gort_sched.running, 0);
    wait_for_external_sections(); /* none starts now */
    gort_sched_workers_stop();
    for (int i = 0; i < gort_sched.nworkers; i++)
        gort_gc_release_local(&gort_sched.workers[i].m.gc_local);
    gort_gc_runtime_stopped();
    atomic_store(&saved_next_id, atomic_load(&gort_sched.next_id));
    gort_task_free_all();
    uv_mutex_destroy(&gort_sched.allg_lock);
    free(gort_sched.workers);
    gort_sched.workers = NULL;
    gort_sched.nworkers = 0;
}

int go_start(const go_config *cfg) {
    if (gort_sched_self() != NULL)
        return GO_EBUSY; /* from a task or a worker: the runtime runs */
    pthread_mutex_lock(&lifecycle_lock);
    int rc = GO_EBUSY;
    if (life == LIFE_STOPPED && (rc = runtime_start(cfg)) == 0) {
        rc = gort_sched_workers_start(gort_sched.nworkers);
        if (rc == 0)
            life = LIFE_STARTED;
        else
            runtime_teardown();
    }
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

int go_stop(void) {
    if (gort_sched_current_task() != NULL)
        return GO_EBUSY; /* a task cannot wait for itself to finish */
    pthread_mutex_lock(&lifecycle_lock);
    if (life != LIFE_STARTED) {
        pthread_mutex_unlock(&lifecycle_lock);
        return GO_EINVAL;
    }
    atomic_store(&gort_sched.stopping, 1);
    while (atomic_load(&gort_sched.live_tasks) != 0) {
        gort_rt_event_wait(&gort_sched.all_tasks_done);
        gort_rt_event_reset(&gort_sched.all_tasks_done);
    }
    runtime_teardown();
    life = LIFE_STOPPED;
    pthread_mutex_unlock(&lifecycle_lock);
    return 0;
}

typedef struct main_call {
    int (*fn)(void *);
    void *arg;
    int result;
    gort_rt_event done;
} main_call;

static void main_task(void *arg) {
    main_call *m = arg;
    m->result = m->fn(m->arg);
    gort_rt_event_set(&m->done);
}

int go_main(int (*main_fn)(void *arg), void *arg) {
    if (main_fn == NULL)
        return GO_EINVAL;
    if (gort_sched_self() != NULL)
        return GO_EBUSY; /* from a task or a worker: the runtime runs */
    pthread_mutex_lock(&lifecycle_lock);
    if (life != LIFE_STOPPED) {
        pthread_mutex_unlock(&lifecycle_lock);
        return GO_EBUSY;
    }
    int rc = runtime_start(NULL);
    if (rc != 0) {
        pthread_mutex_unlock(&lifecycle_lock);
        return rc;
    }
    life = LIFE_MAIN;
    pthread_mutex_unlock(&lifecycle_lock);

    main_call m = {.fn = main_fn, .arg = arg};
    go_spawn_opts opts = {.name = "main"};
    rc = go_spawn_with(main_task, &m, &opts);
    if (rc == 0)
        rc = gort_sched_workers_start(gort_sched.nworkers);
    if (rc == 0) {
        gort_rt_event_wait(&m.done);
        rc = m.result;
    }

    pthread_mutex_lock(&lifecycle_lock);
    runtime_teardown();
    life = LIFE_STOPPED;
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

const gort_rt_config *gort_sched_config(void) {
    return &config;
}
