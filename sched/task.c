/* sched/task.c - tasks: spawning, running their entry, recycling; go_main.
 *
 * A task's life: go_spawn takes a task struct from a pool (per-worker, then
 * global, then malloc; every struct ever made stays in sched.allg so that a
 * pause can visit every task) and queues it RUNNABLE, without a stack. The
 * worker that first runs it gives it a stack from the stack pools (per-worker,
 * then global, then a new mapping), so a spawn storm that outruns execution
 * holds task structs, not stacks. When fn returns the task switches to its
 * scheduler for the last time; the scheduler returns the stack and the struct
 * to its own pools (overflowing half to the global ones, under sched.pool_lock;
 * all the pools are arrays, so moving a batch touches no pooled memory).
 * Invariants:
 *  - A task without a stack (started == false) has its spawn argument in
 *    t->arg and an empty stack range.
 *  - Pooled stacks are of the default size; others are unmapped on exit.
 *  - Task ids come from one process-wide counter, 16 at a time per worker, and
 *    are never reused.
 *  - live_tasks counts tasks spawned and not yet recycled; when it drops to
 *    zero while go_stop waits, the last recycle wakes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/gc.h"
#include "sched/internal.h"

struct gort_sched gort_sched;

#define ID_BATCH 16

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

/* ---- pools -------------------------------------------------------------- */

/* A worker's own pool is an array local[0, *nlocal) of capacity cap; the
 * global ones are gort_pools, changed under sched.pool_lock. The _locked
 * helpers expect that lock held. */

static size_t pool_count(gort_pool *p) {
    return atomic_load_explicit(&p->n, memory_order_relaxed);
}

/* Makes room in p for need elements of elem bytes; false if memory ran out. */
static bool pool_reserve_locked(gort_pool *p, size_t need, size_t elem) {
    if (need <= p->cap)
        return true;
    size_t cap = p->cap != 0 ? p->cap : 1024;
    while (cap < need)
        cap *= 2;
    void *v = realloc(p->v, cap * elem);
    if (v == NULL)
        return false;
    p->v = v;
    p->cap = cap;
    return true;
}

/* Moves up to max elements off the top of p into dst; returns how many. */
static size_t pool_pop_locked(gort_pool *p, void *dst, size_t max, size_t elem) {
    size_t n = pool_count(p), k = n < max ? n : max;
    memcpy(dst, (char *)p->v + (n - k) * elem, k * elem);
    atomic_store_explicit(&p->n, n - k, memory_order_relaxed);
    return k;
}

/* Appends k elements from src to p, whose room the caller reserved. */
static void pool_push_locked(gort_pool *p, const void *src, size_t k, size_t elem) {
    size_t n = pool_count(p);
    memcpy((char *)p->v + n * elem, src, k * elem);
    atomic_store_explicit(&p->n, n + k, memory_order_relaxed);
}

/* Fills an empty local pool up to half its capacity from p, in one lock
 * hold (fewer if p runs out). */
static void pool_refill(gort_pool *p, void *local, int *nlocal, int cap, size_t elem) {
    if (pool_count(p) == 0)
        return;
    gort_rt_lock_acquire(&gort_sched.pool_lock);
    *nlocal = (int)pool_pop_locked(p, local, (size_t)cap / 2, elem);
    gort_rt_lock_release(&gort_sched.pool_lock);
}

/* Moves the older half of a full local pool to p; fatal if p cannot grow
 * (what names the pool in the message). */
static void pool_share(gort_pool *p, void *local, int *nlocal, int cap, size_t elem,
                       const char *what) {
    size_t k = (size_t)cap / 2;
    gort_rt_lock_acquire(&gort_sched.pool_lock);
    if (!pool_reserve_locked(p, pool_count(p) + k, elem))
        gort_rt_fatal("out of memory: cannot grow the %s pool to %zu entries", what,
                      pool_count(p) + k);
    pool_push_locked(p, local, k, elem);
    gort_rt_lock_release(&gort_sched.pool_lock);
    memmove(local, (char *)local + k * elem, ((size_t)cap - k) * elem);
    *nlocal -= (int)k;
}

/* Takes one element off p into dst; false if p was empty. */
static bool pool_take_one(gort_pool *p, void *dst, size_t elem) {
    if (pool_count(p) == 0)
        return false;
    gort_rt_lock_acquire(&gort_sched.pool_lock);
    size_t k = pool_pop_locked(p, dst, 1, elem);
    gort_rt_lock_release(&gort_sched.pool_lock);
    return k == 1;
}

/* ---- task structs -------------------------------------------------------- */

/* Task structs are carved from slabs (never returned before teardown: they
 * stay in sched.allg and are reused through the pools). Slabs double in size,
 * from 64 KiB to 4 MiB, so a spawn storm costs few mappings and no malloc.
 * Slabs of 2 MiB and more are mapped in huge pages (gort_rt_map_huge): with
 * 4 KiB pages, the first write to each page of a new slab cost a spawn storm
 * about 1 us per task on this project's VM. All slabs are populated when
 * mapped. */
#define SLAB_HUGE ((size_t)2 << 20)
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
        task_slab *slab;
        if (size >= SLAB_HUGE) {
            slab = gort_rt_map_huge(size, true);
        } else {
            slab = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            slab = slab != MAP_FAILED ? slab : NULL;
        }
        if (slab == NULL) {
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
    if (w != NULL) {
        if (w->nfree_tasks == 0)
            pool_refill(&gort_sched.free_tasks, w->free_tasks, &w->nfree_tasks, GORT_LOCAL_TASKS,
                        sizeof *w->free_tasks);
        if (w->nfree_tasks > 0)
            return w->free_tasks[--w->nfree_tasks];
    } else {
        gort_task *t;
        if (pool_take_one(&gort_sched.free_tasks, &t, sizeof t))
            return t;
    }
    return task_new();
}

static void task_free(gort_worker *w, gort_task *t) {
    if (w->nfree_tasks == GORT_LOCAL_TASKS)
        pool_share(&gort_sched.free_tasks, w->free_tasks, &w->nfree_tasks, GORT_LOCAL_TASKS,
                   sizeof *w->free_tasks, "task");
    w->free_tasks[w->nfree_tasks++] = t;
}

/* ---- stacks -------------------------------------------------------------- */

uint64_t gort_task_stack_draws(void) {
    uint64_t n = 0;
    for (int i = 0; i < gort_sched.nworkers; i++)
        n += atomic_load_explicit(&gort_sched.workers[i].n_stack_draws, memory_order_relaxed);
    return n;
}

static bool stack_get(gort_worker *w, gort_rt_stack *out) {
    gort_sched_count(&w->n_stack_draws);
    if (w->nfree_stacks == 0)
        pool_refill(&gort_sched.free_stacks, w->free_stacks, &w->nfree_stacks, GORT_LOCAL_STACKS,
                    sizeof *out);
    if (w->nfree_stacks > 0) {
        *out = w->free_stacks[--w->nfree_stacks];
        return true;
    }
    if (pool_take_one(&gort_sched.cold_stacks, out, sizeof *out))
        return true;
    return gort_rt_stack_map(out, gort_sched.default_stack, true) == 0;
}

/* Stack scavenging (called by the monitor's scavenger thread): the global
 * pool keeps STACKS_KEPT_PER_WORKER warm stacks per worker; beyond that,
 * stacks give their pages back to the OS (MADV_DONTNEED keeps the mapping and
 * guard) and move to the cold array, at most SCAVENGE_BATCH per call, so that
 * the caller can stop between calls once tasks draw on the pool again. Big
 * batches: sorted, more of their stacks are neighbours released by one
 * madvise (with batches of 4,096, a million freed stacks, scattered over
 * the pool's list, took over a minute to release instead of about a second).
 * A cold stack costs its first touch again when reused. Returns how many
 * stacks it released. */
#define STACKS_KEPT_PER_WORKER 64
#define SCAVENGE_BATCH 65536

static int stack_cmp(const void *a, const void *b) {
    const gort_rt_stack *x = a, *y = b;
    return (char *)x->lo < (char *)y->lo ? -1 : (char *)x->lo > (char *)y->lo;
}

size_t gort_task_scavenge_stacks(void) {
    size_t keep = (size_t)STACKS_KEPT_PER_WORKER * (size_t)gort_sched.nworkers;
    if (pool_count(&gort_sched.free_stacks) <= keep)
        return 0;
    gort_rt_stack *batch = malloc(SCAVENGE_BATCH * sizeof *batch);
    if (batch == NULL)
        return 0;
    size_t n = 0;
    gort_rt_lock_acquire(&gort_sched.pool_lock);
    size_t warm = pool_count(&gort_sched.free_stacks);
    if (warm > keep) {
        n = warm - keep < SCAVENGE_BATCH ? warm - keep : SCAVENGE_BATCH;
        /* Room in the cold pool first, so that none is lost; only this thread
         * adds to it, so the room is still there below. */
        if (pool_reserve_locked(&gort_sched.cold_stacks, pool_count(&gort_sched.cold_stacks) + n,
                                sizeof *batch))
            pool_pop_locked(&gort_sched.free_stacks, batch, n, sizeof *batch);
        else
            n = 0;
    }
    gort_rt_lock_release(&gort_sched.pool_lock);
    /* Neighbours in a chunk give their pages back in one call: every madvise
     * costs a TLB shootdown on each CPU the process runs on. */
    qsort(batch, n, sizeof *batch, stack_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && gort_rt_stack_adjacent(&batch[j - 1], &batch[j]))
            j++;
        gort_rt_stack_release_run(&batch[i], &batch[j - 1]);
        i = j;
    }
    gort_rt_lock_acquire(&gort_sched.pool_lock);
    pool_push_locked(&gort_sched.cold_stacks, batch, n, sizeof *batch);
    gort_rt_lock_release(&gort_sched.pool_lock);
    free(batch);
    return n;
}

static void stack_put(gort_worker *w, const gort_rt_stack *s) {
    if (w->nfree_stacks == GORT_LOCAL_STACKS)
        pool_share(&gort_sched.free_stacks, w->free_stacks, &w->nfree_stacks, GORT_LOCAL_STACKS,
                   sizeof *s, "stack");
    w->free_stacks[w->nfree_stacks++] = *s;
}

/* Unmaps the stacks of a pool (at teardown; the array is kept for the next run). */
static void pool_unmap_stacks(gort_pool *p) {
    gort_rt_stack *v = p->v;
    for (size_t i = 0; i < pool_count(p); i++)
        gort_rt_stack_unmap(&v[i]);
    atomic_store(&p->n, 0);
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
    gort_gc_shade(t->arg); /* the spawn argument leaves its root (rule 11) */
    t->fn(t->arg);
    gort_sched_exit_task(t);
}

/* live_tasks: a spawn counts its task before it checks `stopping` (both
 * seq_cst), and go_stop sets `stopping` before it reads the count, so either
 * go_stop waits for the task or the spawn sees `stopping` and backs out. */
static void task_uncount(void) {
    if (atomic_fetch_sub(&gort_sched.live_tasks, 1) == 1 && atomic_load(&gort_sched.stopping))
        gort_rt_event_set(&gort_sched.all_tasks_done);
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
    t->fn = NULL;
    t->arg = NULL;
    t->started = false;
    atomic_store_explicit(&t->state, TASK_FREE, memory_order_release);
    task_free(w, t);
    task_uncount();
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
    const char *name = opts != NULL && opts->name != NULL ? opts->name : "";

    go_safepoint(); /* a spawn loop must not hold a pause off; may switch workers */
    gort_worker *w = gort_sched_self();
    if (w == NULL && !gort_sched_external_enter())
        return GO_ECANCELED;
    if (w != NULL && !atomic_load_explicit(&gort_sched.running, memory_order_relaxed))
        return GO_ECANCELED;
    int rc = 0;
    atomic_fetch_add(&gort_sched.live_tasks, 1);
    if (w == NULL && atomic_load(&gort_sched.stopping)) {
        /* From another thread once go_stop has begun: refused. */
        task_uncount();
        rc = GO_ECANCELED;
        goto out;
    }
    gort_task *t = task_alloc(w);
    if (t == NULL) {
        task_uncount();
        rc = GO_ENOMEM;
        goto out;
    }
    t->id = next_task_id(w);
    t->fn = fn;
    t->arg = arg;
    gort_gc_shade(arg); /* a task spawned while marking starts black */
    size_t i = 0;
    for (; i < GORT_TASK_NAME_MAX - 1 && name[i] != '\0'; i++)
        atomic_store_explicit(&t->name[i], name[i], memory_order_relaxed);
    atomic_store_explicit(&t->name[i], '\0', memory_order_relaxed);
    t->stack_size = stack_size;
    t->started = false;
    t->cmd = CMD_NONE;
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

int go_spawn(go_fn fn, void *arg) {
    return go_spawn_with(fn, arg, NULL);
}

gort_task *gort_sched_current_task(void) {
    gort_worker *w = gort_sched_self();
    return w != NULL ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
}

uint64_t gort_sched_task_id(const gort_task *t) {
    return t->id;
}
void gort_sched_task_name(const gort_task *t, char out[GORT_TASK_NAME_MAX]) {
    for (size_t i = 0; i < GORT_TASK_NAME_MAX; i++)
        out[i] = atomic_load_explicit(&t->name[i], memory_order_relaxed);
    out[GORT_TASK_NAME_MAX - 1] = '\0';
}

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
    if (t != NULL) {
        /* REQ_WORKER may be meant for another worker: check our own flags. */
        if (gort_sched_requests_pending(gort_sched_self()))
            gort_sched_switch_to_scheduler(t, CMD_SAFEPOINT);
        return;
    }
    gort_member *m = gort_sched_attached_self();
    if (m != NULL)
        gort_stw_poll(m);
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
    }
    while (gort_sched.slabs != NULL) {
        task_slab *slab = gort_sched.slabs;
        gort_sched.slabs = slab->next;
        munmap(slab, slab->size);
    }
    free(gort_sched.allg);
    gort_sched.allg = NULL;
    gort_sched.nallg = gort_sched.capallg = 0;
    for (int i = 0; i < gort_sched.nworkers; i++) {
        gort_worker *w = &gort_sched.workers[i];
        while (w->nfree_stacks > 0)
            gort_rt_stack_unmap(&w->free_stacks[--w->nfree_stacks]);
    }
    pool_unmap_stacks(&gort_sched.free_stacks);
    pool_unmap_stacks(&gort_sched.cold_stacks);
    gort_rt_stack_unmap_chunks();
}
