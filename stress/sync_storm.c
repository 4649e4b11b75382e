/* sync_storm.c - storms on the task-aware locks (include/gort/sync.h) with
 * invariants, tasks moving between workers, and the collector forced all the
 * while.
 *
 * Each round allocates an arena (a zeroed go_new object) holding every sync
 * object and the data they guard, and runs at once:
 *   - mutex workers: lock a random one of 8 mutexes (lock, or trylock and
 *     yield), check nobody else is inside (an owner word), increment its plain
 *     counter, now and then across a yield or a sleep (so the holder parks
 *     and may come back on another worker), sometimes take two mutexes in
 *     address order; now and then spawn a few sub-tasks joined with a
 *     go_waitgroup inside a fresh collected object;
 *   - rwmutex writers and readers over a pair of plain words: a writer writes
 *     both (across a yield), a reader must never see them differ or go back
 *     in time;
 *   - a bounded queue made of a go_mutex and two go_conds (not full, not
 *     empty), waits with go_cond_wait or go_cond_wait_timeout, signal or
 *     broadcast: producers push every id of their range once, consumers pop
 *     until the queue is closed and empty;
 *   - semaphore users: at most `units` inside (acquire, tryacquire, or
 *     acquire_timeout);
 *   - every task first runs go_once_do on the arena's once: its fn runs once
 *     and everybody sees what it wrote;
 *   - a plain thread (attached in odd rounds) locking the same mutexes and
 *     read-locking the rwmutex, reaching the arena through a go_handle;
 *   - a task forcing go_gc_collect in a loop, allocating garbage.
 * The main task joins the tasks with the arena's go_waitgroup.
 *
 * Checks after each round: every counter equals the increments its lockers
 * recorded; no overlap was ever seen inside a mutex, a write lock or beyond
 * the semaphore's units; no torn or stale pair; every queued id was popped
 * exactly once, and pushes equal pops; the semaphore ends with exactly its
 * units; the once ran once; every sub-task group added up. Plain counters are
 * plain on purpose: under ThreadSanitizer a lock that does not order its
 * critical sections shows as a data race.
 *
 * Sizes scale with GORT_TEST_SCALE; GORT_MAXPROCS sets the workers (default
 * 4); rounds stop starting after GORT_STRESS_BUDGET seconds (default 20);
 * GORT_DEBUG defaults to checkmark=1,poison=1. Replay a run's choices with
 * GORT_SEED=<seed>.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"
#include "sched/sched.h"
#include "stress/stress.h"

#define NLOCKS 8
#define QCAP_MAX 16
#define DEFAULT_DEBUG "checkmark=1,poison=1"

typedef struct arena {
    struct arena *self;
    go_mutex locks[NLOCKS];
    long counters[NLOCKS];  /* [locks[i]] */
    uint64_t owner[NLOCKS]; /* [locks[i]] the holder's tag while held */
    go_rwmutex rw;
    uint64_t pair[2]; /* [rw] */
    long rw_writes;   /* [rw, write] */
    go_mutex qm;
    go_cond not_full, not_empty;
    uint64_t ring[QCAP_MAX]; /* [qm] */
    int qhead, qcount, qcap; /* [qm] */
    int qclosed;             /* [qm] */
    long qpushed, qpopped;   /* [qm] */
    go_sem sem;
    go_once once;
    int once_runs, once_value; /* written by the once's fn */
    go_waitgroup wg;
} arena;

static const size_t arena_ptrs[] = {offsetof(arena, self)};
static const go_type arena_type = {"sync_storm.arena", sizeof(arena), 1, arena_ptrs, NULL};

typedef struct child {
    go_waitgroup wg;
    arena *a;
    long result; /* atomic adds by the sub-tasks */
} child;
static const size_t child_ptrs[] = {offsetof(child, a)};
static const go_type child_type = {"sync_storm.child", sizeof(child), 1, child_ptrs, NULL};

typedef struct targ {
    arena *a;
    uint64_t index;
} targ;
static const size_t targ_ptrs[] = {offsetof(targ, a)};
static const go_type targ_type = {"sync_storm.targ", sizeof(targ), 1, targ_ptrs, NULL};

static const go_type garbage_type = {"sync_storm.garbage", 80, 0, NULL, NULL};

static struct {
    /* this round */
    int round;
    int n_mutex, n_writers, n_readers, n_prod, n_cons, n_sem, units;
    long ops;                       /* per task */
    long per_prod;                  /* ids per producer */
    atomic_uchar *seen;             /* queue ids */
    atomic_long expect[NLOCKS];     /* increments of the arena counters */
    atomic_long expect_ext[NLOCKS]; /* increments of ext_counter */
    long ext_counter[NLOCKS];       /* [arena locks[i]] plain, shared with the thread */
    atomic_int prod_done, sem_inside, max_sem_inside, gc_stop, gc_done, thread_done;
    go_handle *handle;
    int attach, attach_rc;
    /* totals */
    atomic_long n_lock_ops, n_rw_reads, n_rw_writes, n_queue, n_sem_ops, n_subtasks, n_migrations,
        n_cond_timeouts, n_gc, n_thread_ops;
    /* errors */
    atomic_int stop;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[512];
    const char *debug;
} W;

__attribute__((format(printf, 1, 2))) static void fail_soft(const char *fmt, ...) {
    atomic_fetch_add(&W.errors, 1);
    atomic_store(&W.stop, 1);
    if (atomic_exchange(&W.error_reported, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.first_error, sizeof W.first_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sync_storm FAILED: %s (round %d, GORT_DEBUG=%s; replay with GORT_SEED=%llu)\n",
            W.first_error, W.round, W.debug, (unsigned long long)stress_seed);
    fflush(stderr);
}

static inline bool stopping(void) {
    return atomic_load_explicit(&W.stop, memory_order_relaxed) != 0;
}

/* go_sleep or go_yield, counting the times the task came back on another
 * worker. */
static void move_around(stress_rng *r) {
    int before = gort_sched_worker_index();
    /* rarely: a sleep costs a timer tick (about a millisecond) */
    if (stress_below(r, 32) == 0)
        go_sleep((int64_t)stress_below(r, 100) * 1000);
    else
        go_yield();
    if (gort_sched_worker_index() != before)
        atomic_fetch_add_explicit(&W.n_migrations, 1, memory_order_relaxed);
}

/* ---- once ----------------------------------------------------------------------------------- */

static void once_fn(void *arg) {
    arena *a = arg;
    a->once_runs++;
    go_yield(); /* the others wait for the whole fn */
    a->once_value = 42;
}

static void do_once(arena *a, const char *who) {
    go_once_do(&a->once, once_fn, a);
    if (a->once_value != 42 || a->once_runs != 1)
        fail_soft("%s: after go_once_do: value %d, runs %d", who, a->once_value, a->once_runs);
}

/* ---- mutexes ----------------------------------------------------------------------------------
 */

static void lock_one(arena *a, int j, uint64_t tag, stress_rng *r, bool thread) {
    if (!thread && stress_below(r, 4) == 0) {
        while (go_mutex_trylock(&a->locks[j]) != 0)
            go_yield();
    } else {
        go_mutex_lock(&a->locks[j]);
    }
    if (a->owner[j] != 0)
        fail_soft("mutex %d: entered by %#llx while %#llx was inside", j, (unsigned long long)tag,
                  (unsigned long long)a->owner[j]);
    /* An unattached thread never stores into a collected object (DESIGN.md
     * section 2): it only checks the word; its own counter is outside. */
    if (!thread || W.attach)
        a->owner[j] = tag;
}

static void unlock_one(arena *a, int j, uint64_t tag, bool thread) {
    if (!thread || W.attach) {
        if (a->owner[j] != tag)
            fail_soft("mutex %d: owner word %#llx changed while %#llx held it", j,
                      (unsigned long long)a->owner[j], (unsigned long long)tag);
        a->owner[j] = 0;
    } else if (a->owner[j] != 0) {
        fail_soft("mutex %d: owner word %#llx set while the thread held it", j,
                  (unsigned long long)a->owner[j]);
    }
    go_mutex_unlock(&a->locks[j]);
}

static void sub_task(void *arg) {
    child *c = arg;
    arena *a = c->a;
    stress_rng r = stress_rng_make(go_task_id() * 77 + (uint64_t)W.round);
    do_once(a, "sub-task");
    int j = (int)stress_below(&r, NLOCKS);
    uint64_t tag = go_task_id() << 8 | 0x5;
    lock_one(a, j, tag, &r, false);
    a->counters[j]++;
    unlock_one(a, j, tag, false);
    atomic_fetch_add(&W.expect[j], 1);
    __atomic_fetch_add(&c->result, 1, __ATOMIC_RELAXED);
    atomic_fetch_add_explicit(&W.n_subtasks, 1, memory_order_relaxed);
    go_waitgroup_done(&c->wg);
}

static void spawn_children(arena *a, stress_rng *r) {
    child *c = go_new(&child_type);
    if (c == NULL) {
        fail_soft("out of memory");
        return;
    }
    GO_STORE(c->a, a);
    int n = 1 + (int)stress_below(r, 4);
    go_waitgroup_add(&c->wg, n);
    for (int i = 0; i < n; i++)
        if (go_spawn(sub_task, c) != 0) {
            fail_soft("go_spawn of a sub-task failed");
            go_waitgroup_done(&c->wg);
        }
    if (stress_below(r, 2) == 0)
        go_gc_collect(); /* c lives on this stack and in the sub-tasks' arguments */
    go_waitgroup_wait(&c->wg);
    long got = __atomic_load_n(&c->result, __ATOMIC_RELAXED);
    if (got != n)
        fail_soft("a wait group of %d sub-tasks returned with %ld done", n, got);
}

static void mutex_worker(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 100 + t->index);
    uint64_t tag = go_task_id() << 8 | 0x1;
    do_once(a, "mutex worker");
    long mine[NLOCKS] = {0}, mine_ext[NLOCKS] = {0};
    for (long i = 0; i < W.ops && !stopping(); i++) {
        uint32_t what = stress_below(&r, 64);
        if (what == 0) {
            spawn_children(a, &r);
            continue;
        }
        int j = (int)stress_below(&r, NLOCKS);
        if (what < 6) { /* two locks, in index order */
            int k = (int)stress_below(&r, NLOCKS);
            if (k == j)
                k = (j + 1) % NLOCKS;
            int lo = j < k ? j : k, hi = j < k ? k : j;
            lock_one(a, lo, tag, &r, false);
            lock_one(a, hi, tag, &r, false);
            long v = a->counters[lo];
            if (stress_below(&r, 4) == 0)
                move_around(&r);
            a->counters[lo] = v + 1;
            a->counters[hi]++;
            mine[lo]++;
            mine[hi]++;
            unlock_one(a, hi, tag, false);
            unlock_one(a, lo, tag, false);
        } else {
            lock_one(a, j, tag, &r, false);
            long v = a->counters[j];
            if (stress_below(&r, 8) == 0)
                move_around(&r);
            a->counters[j] = v + 1;
            mine[j]++;
            if (stress_below(&r, 4) == 0) {
                W.ext_counter[j]++;
                mine_ext[j]++;
            }
            unlock_one(a, j, tag, false);
        }
        atomic_fetch_add_explicit(&W.n_lock_ops, 1, memory_order_relaxed);
        if (stress_below(&r, 16) == 0)
            go_yield();
    }
    for (int j = 0; j < NLOCKS; j++) {
        atomic_fetch_add(&W.expect[j], mine[j]);
        atomic_fetch_add(&W.expect_ext[j], mine_ext[j]);
    }
    go_waitgroup_done(&a->wg);
}

/* ---- rwmutex -----------------------------------------------------------------------------------
 */

static void rw_writer(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 2000 + t->index);
    do_once(a, "writer");
    for (long i = 0; i < W.ops && !stopping(); i++) {
        go_rwmutex_lock(&a->rw);
        if (a->pair[0] != a->pair[1])
            fail_soft("writer found a torn pair (%llu, %llu)", (unsigned long long)a->pair[0],
                      (unsigned long long)a->pair[1]);
        uint64_t v = (uint64_t)++a->rw_writes;
        a->pair[0] = v;
        if (stress_below(&r, 8) == 0)
            move_around(&r);
        a->pair[1] = v;
        go_rwmutex_unlock(&a->rw);
        atomic_fetch_add_explicit(&W.n_rw_writes, 1, memory_order_relaxed);
        if (stress_below(&r, 4) == 0)
            go_yield();
    }
    go_waitgroup_done(&a->wg);
}

static void rw_reader(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 3000 + t->index);
    do_once(a, "reader");
    uint64_t last = 0;
    for (long i = 0; i < W.ops * 2 && !stopping(); i++) {
        go_rwmutex_rlock(&a->rw);
        uint64_t x = a->pair[0];
        if (stress_below(&r, 8) == 0)
            move_around(&r);
        uint64_t y = a->pair[1];
        go_rwmutex_runlock(&a->rw);
        if (x != y)
            fail_soft("reader saw a torn pair (%llu, %llu)", (unsigned long long)x,
                      (unsigned long long)y);
        if (x < last)
            fail_soft("reader saw the pair go back from %llu to %llu", (unsigned long long)last,
                      (unsigned long long)x);
        last = x;
        atomic_fetch_add_explicit(&W.n_rw_reads, 1, memory_order_relaxed);
        if (stress_below(&r, 4) == 0)
            go_yield();
    }
    go_waitgroup_done(&a->wg);
}

/* ---- the bounded queue -------------------------------------------------------------------------
 */

static void cond_wait_some(go_cond *cv, go_mutex *m, stress_rng *r) {
    if (stress_below(r, 3) == 0) {
        int rc = go_cond_wait_timeout(cv, m, 1000 + (int64_t)stress_below(r, 300) * 1000);
        if (rc == GO_ETIMEDOUT)
            atomic_fetch_add_explicit(&W.n_cond_timeouts, 1, memory_order_relaxed);
        else if (rc != 0)
            fail_soft("go_cond_wait_timeout returned %d", rc);
    } else {
        go_cond_wait(cv, m);
    }
}

static void queue_producer(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 4000 + t->index);
    do_once(a, "producer");
    uint64_t base = t->index * (uint64_t)W.per_prod;
    for (long k = 0; k < W.per_prod; k++) {
        go_mutex_lock(&a->qm);
        while (a->qcount == a->qcap && !stopping())
            cond_wait_some(&a->not_full, &a->qm, &r);
        if (a->qcount == a->qcap) { /* stopping after a failure */
            go_mutex_unlock(&a->qm);
            break;
        }
        a->ring[(a->qhead + a->qcount) % a->qcap] = base + (uint64_t)k;
        a->qcount++;
        a->qpushed++;
        if (stress_below(&r, 8) == 0)
            go_cond_broadcast(&a->not_empty);
        else
            go_cond_signal(&a->not_empty);
        go_mutex_unlock(&a->qm);
        if (stress_below(&r, 16) == 0)
            move_around(&r);
    }
    if (atomic_fetch_add(&W.prod_done, 1) + 1 == W.n_prod) {
        go_mutex_lock(&a->qm);
        a->qclosed = 1;
        go_cond_broadcast(&a->not_empty);
        go_mutex_unlock(&a->qm);
    }
    go_waitgroup_done(&a->wg);
}

static void queue_consumer(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 5000 + t->index);
    do_once(a, "consumer");
    uint64_t total = (uint64_t)W.per_prod * (uint64_t)W.n_prod;
    for (;;) {
        go_mutex_lock(&a->qm);
        while (a->qcount == 0 && !a->qclosed && !stopping())
            cond_wait_some(&a->not_empty, &a->qm, &r);
        if (a->qcount == 0) {
            go_mutex_unlock(&a->qm);
            break;
        }
        uint64_t id = a->ring[a->qhead];
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qcount--;
        a->qpopped++;
        if (stress_below(&r, 8) == 0)
            go_cond_broadcast(&a->not_full);
        else
            go_cond_signal(&a->not_full);
        go_mutex_unlock(&a->qm);
        if (id >= total) {
            fail_soft("popped id %llu, never pushed", (unsigned long long)id);
        } else {
            unsigned char before = atomic_fetch_add(&W.seen[id], 1);
            if (before != 0)
                fail_soft("id %llu popped %u times", (unsigned long long)id, before + 1u);
        }
        atomic_fetch_add_explicit(&W.n_queue, 1, memory_order_relaxed);
        if (stress_below(&r, 16) == 0)
            move_around(&r);
    }
    go_waitgroup_done(&a->wg);
}

/* ---- semaphore ------------------------------------------------------------------------------- */

static void sem_user(void *arg) {
    targ *t = arg;
    arena *a = t->a;
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 6000 + t->index);
    do_once(a, "semaphore user");
    for (long i = 0; i < W.ops && !stopping(); i++) {
        switch (stress_below(&r, 3)) {
        case 0:
            go_sem_acquire(&a->sem);
            break;
        case 1:
            while (go_sem_tryacquire(&a->sem) != 0)
                go_yield();
            break;
        default:
            for (;;) {
                int rc =
                    go_sem_acquire_timeout(&a->sem, 1000 + (int64_t)stress_below(&r, 200) * 1000);
                if (rc == 0)
                    break;
                if (rc != GO_ETIMEDOUT) {
                    fail_soft("go_sem_acquire_timeout returned %d", rc);
                    break;
                }
            }
        }
        int n = atomic_fetch_add(&W.sem_inside, 1) + 1;
        if (n > W.units)
            fail_soft("%d tasks inside a semaphore of %d units", n, W.units);
        int m = atomic_load(&W.max_sem_inside);
        while (n > m && !atomic_compare_exchange_weak(&W.max_sem_inside, &m, n)) {
        }
        if (stress_below(&r, 4) == 0)
            move_around(&r);
        atomic_fetch_sub(&W.sem_inside, 1);
        go_sem_release(&a->sem);
        atomic_fetch_add_explicit(&W.n_sem_ops, 1, memory_order_relaxed);
    }
    go_waitgroup_done(&a->wg);
}

/* ---- the thread and the collector ------------------------------------------------------------ */

static void plain_thread(void *arg) {
    (void)arg;
    if (W.attach)
        W.attach_rc = go_thread_attach();
    stress_rng r = stress_rng_make(((uint64_t)W.round << 24) + 8000);
    arena *a = go_handle_get(W.handle); /* the handle keeps it alive */
    long mine_ext[NLOCKS] = {0};
    uint64_t tag = 0xabcdef00ULL | (uint64_t)W.round;
    for (long i = 0; i < W.ops && !stopping(); i++) {
        int j = (int)stress_below(&r, NLOCKS);
        lock_one(a, j, tag, &r, true);
        W.ext_counter[j]++;
        mine_ext[j]++;
        unlock_one(a, j, tag, true);
        if (stress_below(&r, 4) == 0) {
            go_rwmutex_rlock(&a->rw);
            uint64_t x = a->pair[0], y = a->pair[1];
            go_rwmutex_runlock(&a->rw);
            if (x != y)
                fail_soft("thread saw a torn pair (%llu, %llu)", (unsigned long long)x,
                          (unsigned long long)y);
        }
        if (W.attach)
            go_safepoint();
        atomic_fetch_add_explicit(&W.n_thread_ops, 1, memory_order_relaxed);
        if (stress_below(&r, 32) == 0)
            uv_sleep(1);
    }
    for (int j = 0; j < NLOCKS; j++)
        atomic_fetch_add(&W.expect_ext[j], mine_ext[j]);
    if (W.attach)
        go_thread_detach();
    atomic_store(&W.thread_done, 1);
}

static void collector_task(void *arg) {
    (void)arg;
    stress_collector_loop(((uint64_t)W.round << 24) + 9999, &garbage_type, &W.gc_stop, &W.n_gc,
                          &W.gc_done);
}

/* ---- main ------------------------------------------------------------------------------------ */

typedef struct config {
    int rounds;
    long ops;
    double budget_s;
    int workers;
} config;

static bool spawn_in(go_fn fn, arena *a, int index) {
    targ *t = go_new(&targ_type);
    if (t == NULL)
        return false;
    GO_STORE(t->a, a);
    t->index = (uint64_t)index;
    return go_spawn(fn, t) == 0;
}

static void check_round(arena *a) {
    for (int j = 0; j < NLOCKS; j++) {
        if (a->counters[j] != atomic_load(&W.expect[j]))
            fail_soft("mutex %d: counter %ld, but its lockers counted %ld increments", j,
                      a->counters[j], atomic_load(&W.expect[j]));
        if (W.ext_counter[j] != atomic_load(&W.expect_ext[j]))
            fail_soft("mutex %d: shared counter %ld, but tasks and the thread counted %ld", j,
                      W.ext_counter[j], atomic_load(&W.expect_ext[j]));
        if (a->owner[j] != 0)
            fail_soft("mutex %d: owner word left at %#llx", j, (unsigned long long)a->owner[j]);
        if (go_mutex_trylock(&a->locks[j]) != 0)
            fail_soft("mutex %d still locked at the end", j);
        else
            go_mutex_unlock(&a->locks[j]);
    }
    long want_writes = stopping() ? a->rw_writes : (long)W.n_writers * W.ops;
    if (a->rw_writes != want_writes || a->pair[0] != (uint64_t)a->rw_writes ||
        a->pair[1] != (uint64_t)a->rw_writes)
        fail_soft("rwmutex: %ld writes (expected %ld), pair (%llu, %llu)", a->rw_writes,
                  want_writes, (unsigned long long)a->pair[0], (unsigned long long)a->pair[1]);
    uint64_t total = (uint64_t)W.per_prod * (uint64_t)W.n_prod;
    if (!stopping()) {
        if (a->qpushed != (long)total || a->qpopped != (long)total || a->qcount != 0)
            fail_soft("queue: %ld pushed, %ld popped, %d left (expected %llu each, 0 left)",
                      a->qpushed, a->qpopped, a->qcount, (unsigned long long)total);
        for (uint64_t id = 0; id < total; id++)
            if (atomic_load(&W.seen[id]) != 1) {
                fail_soft("queue: id %llu popped %u times", (unsigned long long)id,
                          (unsigned)atomic_load(&W.seen[id]));
                break;
            }
    }
    for (int i = 0; i < W.units; i++)
        if (go_sem_tryacquire(&a->sem) != 0) {
            fail_soft("semaphore: only %d of %d units left at the end", i, W.units);
            break;
        }
    if (go_sem_tryacquire(&a->sem) == 0)
        fail_soft("semaphore: more than %d units at the end", W.units);
    if (a->once_runs != 1)
        fail_soft("once ran %d times", a->once_runs);
    if (W.attach_rc != 0)
        fail_soft("go_thread_attach returned %d", W.attach_rc);
}

static int storm_main(void *arg) {
    config *cfg = arg;
    stress_rng rng = stress_rng_make(5);
    for (int round = 0; round < cfg->rounds && !stopping(); round++) {
        if (stress_elapsed() > cfg->budget_s) {
            printf("sync_storm: time budget of %.0f s reached after %d rounds\n", cfg->budget_s,
                   round);
            break;
        }
        W.round = round;
        W.n_mutex = 2 + (int)stress_below(&rng, 15);
        W.n_writers = 1 + (int)stress_below(&rng, 3);
        W.n_readers = 1 + (int)stress_below(&rng, 10);
        W.n_prod = 1 + (int)stress_below(&rng, 6);
        W.n_cons = 1 + (int)stress_below(&rng, 6);
        W.n_sem = 2 + (int)stress_below(&rng, 10);
        W.units = 1 + (int)stress_below(&rng, 4);
        W.ops = cfg->ops;
        W.per_prod = cfg->ops * 2;
        W.attach = round % 2;
        W.attach_rc = 0;
        for (int j = 0; j < NLOCKS; j++) {
            atomic_store(&W.expect[j], 0);
            atomic_store(&W.expect_ext[j], 0);
            W.ext_counter[j] = 0;
        }
        atomic_store(&W.prod_done, 0);
        atomic_store(&W.sem_inside, 0);
        atomic_store(&W.thread_done, 0);
        W.seen = calloc((size_t)W.per_prod * (size_t)W.n_prod, 1);
        stress_check(W.seen != NULL, "out of memory");

        arena *a = go_new(&arena_type);
        if (a == NULL) {
            fail_soft("out of memory");
            return 1;
        }
        GO_STORE(a->self, a);
        a->qcap = 1 + (int)stress_below(&rng, QCAP_MAX);
        go_sem_init(&a->sem, W.units);
        W.handle = go_handle_new(a);
        if (W.handle == NULL) {
            fail_soft("out of memory (handle)");
            return 1;
        }
        int ntasks = W.n_mutex + W.n_writers + W.n_readers + W.n_prod + W.n_cons + W.n_sem;
        printf("sync_storm: round %d: %d mutex workers, %d writers, %d readers, %d producers and "
               "%d consumers (queue of %d), %d semaphore users (%d units), %s thread, %ld ops\n",
               round, W.n_mutex, W.n_writers, W.n_readers, W.n_prod, W.n_cons, a->qcap, W.n_sem,
               W.units, W.attach ? "an attached" : "a plain", W.ops);
        fflush(stdout);
        stress_set_phase("storming");
        atomic_store(&W.gc_stop, 0);
        atomic_store(&W.gc_done, 0);
        if (go_spawn(collector_task, NULL) != 0) {
            fail_soft("go_spawn failed");
            return 1;
        }
        go_waitgroup_add(&a->wg, ntasks);
        uv_thread_t th;
        if (uv_thread_create(&th, plain_thread, NULL) != 0) {
            fail_soft("uv_thread_create failed");
            return 1;
        }
        bool ok = true;
        for (int i = 0; i < W.n_mutex; i++)
            ok &= spawn_in(mutex_worker, a, i);
        for (int i = 0; i < W.n_writers; i++)
            ok &= spawn_in(rw_writer, a, i);
        for (int i = 0; i < W.n_readers; i++)
            ok &= spawn_in(rw_reader, a, i);
        for (int i = 0; i < W.n_prod; i++)
            ok &= spawn_in(queue_producer, a, i);
        for (int i = 0; i < W.n_cons; i++)
            ok &= spawn_in(queue_consumer, a, i);
        for (int i = 0; i < W.n_sem; i++)
            ok &= spawn_in(sem_user, a, i);
        if (!ok) {
            fail_soft("cannot spawn");
            return 1;
        }
        stress_set_phase("waiting on the arena's wait group");
        if (stress_below(&rng, 2) == 0) {
            while (go_waitgroup_wait_timeout(&a->wg, 5 * 1000 * 1000) == GO_ETIMEDOUT) {
            }
        } else {
            go_waitgroup_wait(&a->wg);
        }
        stress_set_phase("joining the thread");
        while (!atomic_load(&W.thread_done))
            go_sleep(500 * 1000);
        uv_thread_join(&th);
        atomic_store(&W.gc_stop, 1);
        gort_test_yield_until(&W.gc_done, 1);
        go_handle_free(W.handle);
        W.handle = NULL;
        check_round(a);
        free(W.seen);
        W.seen = NULL;
    }
    return 0;
}

int main(void) {
    stress_begin("sync_storm");
    const char *dbg = stress_debug_default(DEFAULT_DEBUG);
    W.debug = dbg;
    config cfg = {
        .rounds = 10,
        .ops = stress_scaled(2000),
        .budget_s = stress_budget_s(20),
        .workers = stress_workers(4),
    };
    if (cfg.ops < 20)
        cfg.ops = 20;
    printf("sync_storm: %d rounds, %ld ops per task, %d workers, GORT_DEBUG=%s\n", cfg.rounds,
           cfg.ops, cfg.workers, dbg);
    fflush(stdout);
    int rc = gort_test_run(cfg.workers, storm_main, &cfg);
    if (atomic_load(&W.errors) != 0)
        stress_fail("%ld error(s); first: %s", atomic_load(&W.errors), W.first_error);
    stress_check(rc == 0, "go_main returned %d", rc);
    printf("sync_storm: %ld lock ops, %ld reads and %ld writes, %ld queued ids, %ld semaphore ops, "
           "%ld sub-tasks, %ld thread ops, %ld cond timeouts, %ld migrations, %ld forced "
           "collections\n",
           atomic_load(&W.n_lock_ops), atomic_load(&W.n_rw_reads), atomic_load(&W.n_rw_writes),
           atomic_load(&W.n_queue), atomic_load(&W.n_sem_ops), atomic_load(&W.n_subtasks),
           atomic_load(&W.n_thread_ops), atomic_load(&W.n_cond_timeouts),
           atomic_load(&W.n_migrations), atomic_load(&W.n_gc));
    return stress_end();
}
