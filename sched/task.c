/* sched/task.c - tasks: spawning, running their entry, recycling; go_main.
 *
 * A task's life: go_spawn takes a task struct from a pool (per-worker, then
 * global, then malloc; every struct ever made stays in sched.allg so that a
 * pause can visit every task) and queues it RUNNABLE, without a stack. The
 * worker that first runs it gives it a stack from the stack pools (per-worker,
 * then global, then a new mapping), so a spawn storm that outruns execution
 * holds task structs, not stacks. When fn returns the task switches to its
 * scheduler for the last time; the scheduler returns the stack and the struct
 * to its own pools (overflowing half to the global ones).
 * Invariants:
 *  - A task without a stack (started == false) has its spawn argument in
 *    t->arg and an empty stack range.
 *  - Pooled stacks are of the default size; others are unmapped on exit.
 *  - Task ids come from one process-wide counter, 16 at a time per worker, and
 *    are never reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sched/internal.h"

struct gort_sched gort_sched;

#define LOCAL_POOL_MAX 64
#define ID_BATCH 16

/* A pooled stack keeps its own descriptor in its top bytes. */
typedef struct pooled_stack {
    gort_rt_stack stack;
    struct pooled_stack *next;
} pooled_stack;

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- ids ----------------------------------------------------------------- */

static uint64_t next_task_id(gort_worker *w) {
    if (w == NULL)
        return atomic_fetch_add(&gort_sched.next_id, 1);
    if (w->id_next == w->id_end) {
        w->id_next = atomic_fetch_add(&gort_sched.next_id, ID_BATCH);
        w->id_end = w->id_next + ID_BATCH;
    }
    return w->id_next++;
}

/* ---- task structs -------------------------------------------------------- */

/* Task structs are carved from slabs (never returned before teardown: they
 * stay in sched.allg and are reused through the pools). Slabs double in size,
 * from 64 KiB to 4 MiB, so a spawn storm costs few mappings and no malloc. */
typedef struct task_slab {
    struct task_slab *next;
    size_t size;
} task_slab;

#define TASK_STRIDE ((sizeof(gort_task) + 63) & ~(size_t)63)

static gort_task *task_new(void) {
    uv_mutex_lock(&gort_sched.allg_lock);
    if (gort_sched.nallg == gort_sched.capallg) {
        size_t cap = gort_sched.capallg ? gort_sched.capallg * 2 : 1024;
        gort_task **a = realloc(gort_sched.allg, cap * sizeof *a);
        if (a == NULL) {
            uv_mutex_unlock(&gort_sched.allg_lock);
            return NULL;
        }
        gort_sched.allg = a;
        gort_sched.capallg = cap;
    }
    if (gort_sched.slab_next == NULL || gort_sched.slab_next + TASK_STRIDE > gort_sched.slab_end) {
        size_t size = gort_sched.slabs == NULL ? (size_t)64 << 10 : gort_sched.slabs->size * 2;
        if (size > (size_t)4 << 20)
            size = (size_t)4 << 20;
        task_slab *slab = mmap(NULL, size, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (slab == MAP_FAILED) {
            uv_mutex_unlock(&gort_sched.allg_lock);
            return NULL;
        }
        slab->size = size;
        slab->next = gort_sched.slabs;
        gort_sched.slabs = slab;
        gort_sched.slab_next = (char *)slab + 64;
        gort_sched.slab_end = (char *)slab + size;
    }
    gort_task *t = (gort_task *)gort_sched.slab_next;
    gort_sched.slab_next += TASK_STRIDE;
    t->allg_index = gort_sched.nallg;
    gort_sched.allg[gort_sched.nallg++] = t;
    uv_mutex_unlock(&gort_sched.allg_lock);
    return t;
}

static gort_task *task_alloc(gort_worker *w) {
    if (w != NULL && w->free_tasks != NULL) {
        gort_task *t = w->free_tasks;
        w->free_tasks = t->next;
        w->nfree_tasks--;
        return t;
    }
    if (atomic_load_explicit(&gort_sched.nfree_tasks, memory_order_relaxed) > 0) {
        uv_mutex_lock(&gort_sched.lock);
        gort_task *t = gort_sched.free_tasks;
        if (t != NULL) {
            gort_sched.free_tasks = t->next;
            gort_sched.nfree_tasks--;
            /* Refill the local pool with up to half of what remains. */
            while (w != NULL && gort_sched.free_tasks != NULL && w->nfree_tasks < LOCAL_POOL_MAX / 2) {
                gort_task *u = gort_sched.free_tasks;
                gort_sched.free_tasks = u->next;
                gort_sched.nfree_tasks--;
                u->next = w->free_tasks;
                w->free_tasks = u;
                w->nfree_tasks++;
            }
        }
        uv_mutex_unlock(&gort_sched.lock);
        if (t != NULL)
            return t;
    }
    return task_new();
}

static void task_free(gort_worker *w, gort_task *t) {
    t->next = w->free_tasks;
    w->free_tasks = t;
    if (++w->nfree_tasks <= LOCAL_POOL_MAX)
        return;
    uv_mutex_lock(&gort_sched.lock);
    while (w->nfree_tasks > LOCAL_POOL_MAX / 2) {
        gort_task *u = w->free_tasks;
        w->free_tasks = u->next;
        w->nfree_tasks--;
        u->next = gort_sched.free_tasks;
        gort_sched.free_tasks = u;
        gort_sched.nfree_tasks++;
    }
    uv_mutex_unlock(&gort_sched.lock);
}

/* ---- stacks -------------------------------------------------------------- */

static pooled_stack *pooled_of(const gort_rt_stack *s) {
    return (pooled_stack *)((char *)s->hi - sizeof(pooled_stack));
}

static bool stack_get(gort_worker *w, gort_rt_stack *out) {
    pooled_stack *p = (pooled_stack *)w->free_stacks;
    if (p != NULL) {
        w->free_stacks = (gort_rt_stack *)p->next;
        w->nfree_stacks--;
        *out = p->stack;
        return true;
    }
    if (atomic_load_explicit(&gort_sched.nfree_stacks, memory_order_relaxed) > 0) {
        uv_mutex_lock(&gort_sched.lock);
        p = (pooled_stack *)gort_sched.free_stacks;
        if (p != NULL) {
            gort_sched.free_stacks = (gort_rt_stack *)p->next;
            gort_sched.nfree_stacks--;
        }
        uv_mutex_unlock(&gort_sched.lock);
        if (p != NULL) {
            *out = p->stack;
            return true;
        }
    }
    return gort_rt_stack_map(out, gort_sched.default_stack, true) == 0;
}

static void stack_put(gort_worker *w, const gort_rt_stack *s) {
    pooled_stack *p = pooled_of(s);
    p->stack = *s;
    p->next = (pooled_stack *)w->free_stacks;
    w->free_stacks = (gort_rt_stack *)p;
    if (++w->nfree_stacks <= LOCAL_POOL_MAX / 4)
        return;
    uv_mutex_lock(&gort_sched.lock);
    while (w->nfree_stacks > LOCAL_POOL_MAX / 8) {
        pooled_stack *q = (pooled_stack *)w->free_stacks;
        w->free_stacks = (gort_rt_stack *)q->next;
        w->nfree_stacks--;
        q->next = (pooled_stack *)gort_sched.free_stacks;
        gort_sched.free_stacks = (gort_rt_stack *)q;
        gort_sched.nfree_stacks++;
    }
    uv_mutex_unlock(&gort_sched.lock);
}

static void stack_list_unmap(gort_rt_stack *list) {
    pooled_stack *p = (pooled_stack *)list;
    while (p != NULL) {
        pooled_stack *next = p->next;
        gort_rt_stack s = p->stack;
        gort_rt_stack_unmap(&s);
        p = next;
    }
}

bool gort_task_prepare_stack(gort_worker *w, gort_task *t) {
    if (t->stack_size == 0) {
        if (!stack_get(w, &t->stack))
            return false;
    } else if (gort_rt_stack_map(&t->stack, t->stack_size, false) != 0) {
        return false;
    }
    gort_rt_context_make(&t->ctx, t->stack.lo, t->stack.hi, gort_task_entry, t);
    t->started = true;
    return true;
}

/* ---- life and death ------------------------------------------------------ */

void gort_task_entry(void *arg) {
    gort_rt_context_started();
    gort_sched_after_resume();
    gort_task *t = arg;
    t->fn(t->arg);
    gort_sched_exit_task(t);
}

void gort_task_recycle(gort_worker *w, gort_task *t) {
    atomic_store_explicit(&t->state, TASK_DEAD, memory_order_release);
    gort_rt_context_destroy(&t->ctx);
#ifdef GORT_RT_ASAN
    /* The task's frames never returned: drop their poison before reuse. */
    __asan_unpoison_memory_region(t->stack.lo, (size_t)((char *)t->stack.hi - (char *)t->stack.lo));
#endif
    if (t->stack_size == 0)
        stack_put(w, &t->stack);
    else
        gort_rt_stack_unmap(&t->stack);
    memset(&t->stack, 0, sizeof t->stack);
    free(t->name);
    t->name = NULL;
    t->fn = NULL;
    t->arg = NULL;
    t->started = false;
    atomic_fetch_sub_explicit(&gort_sched.live_tasks, 1, memory_order_relaxed);
    atomic_store_explicit(&t->state, TASK_FREE, memory_order_release);
    task_free(w, t);
}

int go_spawn_with(go_fn fn, void *arg, const go_spawn_opts *opts) {
    if (fn == NULL)
        return GO_EINVAL;
    size_t stack_size = 0;
    if (opts != NULL && opts->stack_size != 0) {
        stack_size = gort_rt_stack_round_size(opts->stack_size);
        if (stack_size == 0)
            return GO_EINVAL;
        if (stack_size == gort_sched.default_stack)
            stack_size = 0;
    }
    char *name = NULL;
    if (opts != NULL && opts->name != NULL && (name = strdup(opts->name)) == NULL)
        return GO_ENOMEM;

    gort_worker *w = gort_sched_self();
    if (w == NULL && !gort_sched_external_enter()) {
        free(name);
        return GO_ECANCELED;
    }
    if (w != NULL && !atomic_load_explicit(&gort_sched.running, memory_order_relaxed)) {
        free(name);
        return GO_ECANCELED;
    }
    int rc = 0;
    gort_task *t = task_alloc(w);
    if (t == NULL) {
        free(name);
        rc = GO_ENOMEM;
        goto out;
    }
    t->id = next_task_id(w);
    t->fn = fn;
    t->arg = arg;
    t->name = name;
    t->stack_size = stack_size;
    t->started = false;
    t->cmd = CMD_NONE;
    atomic_fetch_add_explicit(&gort_sched.live_tasks, 1, memory_order_relaxed);
    atomic_store_explicit(&t->state, TASK_RUNNABLE, memory_order_release);
    if (w != NULL) {
        gort_sched_count(&w->n_spawn);
        runq_put(w, t, true);
    } else {
        gq_put(t);
    }
    gort_sched_wakep();
out:
    if (w == NULL)
        gort_sched_external_leave();
    return rc;
}

int go_spawn(go_fn fn, void *arg) { return go_spawn_with(fn, arg, NULL); }

gort_task *gort_sched_current_task(void) {
    gort_worker *w = gort_sched_self();
    return w != NULL ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
}

uint64_t gort_sched_task_id(const gort_task *t) { return t->id; }
const char *gort_sched_task_name(const gort_task *t) { return t->name; }

void go_yield(void) {
    gort_task *t = gort_sched_current_task();
    if (t != NULL)
        gort_sched_switch_to_scheduler(t, CMD_YIELD);
}

uint64_t go_task_id(void) {
    gort_task *t = gort_sched_current_task();
    return t != NULL ? t->id : 0;
}

int go_workers(void) {
    return atomic_load(&gort_sched.running) ? gort_sched.nworkers : 0;
}

void go_internal_safepoint_slow(void) {
    gort_task *t = gort_sched_current_task();
    if (t == NULL)
        return;
    if (safepoint_word_load() != 0)
        gort_sched_switch_to_scheduler(t, CMD_SAFEPOINT);
}

void go_sched_stats_get(go_sched_stats *out) {
    memset(out, 0, sizeof *out);
    out->workers = go_workers();
    out->live_tasks = (uint64_t)atomic_load(&gort_sched.live_tasks);
    if (out->workers > 0) {
        for (int i = 0; i < gort_sched.nworkers; i++) {
            gort_worker *w = &gort_sched.workers[i];
            out->spawned += atomic_load_explicit(&w->n_spawn, memory_order_relaxed);
            out->schedules += atomic_load_explicit(&w->n_sched, memory_order_relaxed);
            out->steals += atomic_load_explicit(&w->n_steal, memory_order_relaxed);
            out->idle_sleeps += atomic_load_explicit(&w->n_idle, memory_order_relaxed);
        }
    }
    gort_stw_stats s;
    gort_stw_stats_get(&s);
    out->pauses = s.pauses;
    out->pause_total_ns = s.total_pause_ns;
    out->pause_max_ns = s.max_pause_ns;
    out->stack_guard = gort_rt_stack_guard_mode_name();
}

/* ---- the runtime's life -------------------------------------------------- */

/* Frees every task and stack; only when no worker runs. */
void gort_task_free_all(void) {
    for (size_t i = 0; i < gort_sched.nallg; i++) {
        gort_task *t = gort_sched.allg[i];
        uint32_t s = atomic_load(&t->state) & TASK_STATE_MASK;
        if (s != TASK_FREE && t->started) {
            gort_rt_context_destroy(&t->ctx);
            gort_rt_stack_unmap(&t->stack);
        }
        free(t->name);
    }
    while (gort_sched.slabs != NULL) {
        task_slab *slab = gort_sched.slabs;
        gort_sched.slabs = slab->next;
        munmap(slab, slab->size);
    }
    free(gort_sched.allg);
    gort_sched.allg = NULL;
    gort_sched.nallg = gort_sched.capallg = 0;
    for (int i = 0; i < gort_sched.nworkers; i++)
        stack_list_unmap(gort_sched.workers[i].free_stacks);
    stack_list_unmap(gort_sched.free_stacks);
    gort_rt_stack_unmap_chunks();
}

/* Task ids never repeat in a process: the counter survives a restart. */
static _Atomic uint64_t saved_next_id = 1;

static int runtime_start(int workers) {
    size_t stack = (size_t)gort_rt_env_int("GORT_STACK_SIZE", (int64_t)gort_rt_stack_default_size(),
                                           16 * 1024, 1 << 30, true);
    if (gort_rt_stack_round_size(stack) == 0)
        stack = gort_rt_stack_default_size();
    if (workers <= 0)
        workers = (int)gort_rt_env_int("GORT_MAXPROCS", gort_rt_ncpu(), 1, 1024, false);
    memset(&gort_sched, 0, sizeof gort_sched);
    gort_sched.nworkers = workers;
    gort_sched.default_stack = gort_rt_stack_round_size(stack);
    gort_sched.workers = aligned_alloc(64, sizeof(gort_worker) * (size_t)workers);
    if (gort_sched.workers == NULL)
        return GO_ENOMEM;
    memset(gort_sched.workers, 0, sizeof(gort_worker) * (size_t)workers);
    for (int i = 0; i < workers; i++)
        atomic_store(&gort_sched.workers[i].state, W_EXITED);
    atomic_store(&gort_sched.next_id, atomic_load(&saved_next_id));
    if (uv_mutex_init(&gort_sched.lock) != 0 || uv_mutex_init(&gort_sched.allg_lock) != 0)
        return GO_ENOMEM;
    gort_stw_reset();
    atomic_store(&gort_sched.running, 1);
    return 0;
}

static void runtime_teardown(void) {
    atomic_store(&gort_sched.running, 0);
    /* Let implicit sections that began before finish: none starts now. */
    while (atomic_load(&gort_sched.external_active) != 0)
        gort_rt_cpu_relax();
    gort_sched_workers_stop();
    atomic_store(&saved_next_id, atomic_load(&gort_sched.next_id));
    gort_task_free_all();
    uv_mutex_destroy(&gort_sched.lock);
    uv_mutex_destroy(&gort_sched.allg_lock);
    free(gort_sched.workers);
    gort_sched.workers = NULL;
    gort_sched.nworkers = 0;
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

static bool runtime_active;

int go_main(int (*main_fn)(void *arg), void *arg) {
    if (main_fn == NULL)
        return GO_EINVAL;
    pthread_mutex_lock(&lifecycle_lock);
    if (runtime_active) {
        pthread_mutex_unlock(&lifecycle_lock);
        return GO_EBUSY;
    }
    runtime_active = true;
    pthread_mutex_unlock(&lifecycle_lock);

    int rc = runtime_start(0);
    if (rc == 0) {
        main_call m = {.fn = main_fn, .arg = arg};
        go_spawn_opts opts = {.name = "main"};
        rc = go_spawn_with(main_task, &m, &opts);
        if (rc == 0)
            rc = gort_sched_workers_start(gort_sched.nworkers);
        if (rc == 0) {
            gort_rt_event_wait(&m.done);
            rc = m.result;
        }
        runtime_teardown();
    }
    pthread_mutex_lock(&lifecycle_lock);
    runtime_active = false;
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}
