/* tests/gort_test.h - helpers shared by the unit tests and the stress programs.
 *
 * Everything here is header-only (static functions) so that each test
 * executable stays self-contained:
 *   - gort_test_run(workers, fn, arg): go_main with GORT_MAXPROCS set;
 *   - a spinlock made of one atomic word (a uv_mutex would be locked by a task
 *     and unlocked by its worker's scheduler in a park's unlock callback, which
 *     ThreadSanitizer reports as an unlock by the wrong thread);
 *   - a task semaphore and a wait group built on gort_sched_park/ready, the
 *     way channels and locks are meant to use them (sched/park.c);
 *   - gort_test_wait_until(flag): a spin with go_safepoint, usable from a
 *     task without parking, and from threads that are not workers;
 *   - a watchdog thread that aborts a test program whose current test hangs.
 * Rule kept by every helper: no runtime call while the spinlock is held,
 * except gort_sched_park, whose unlock callback releases it. A thread that
 * called gort_sched_ready with the lock held could wait for a pause to end
 * while a worker spins on the lock and never reaches its safepoint.
 */
#ifndef GORT_TESTS_GORT_TEST_H
#define GORT_TESTS_GORT_TEST_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "gort.h"
#include "sched/sched.h"

/* ---- running the runtime ------------------------------------------------- */

static inline void gort_test_set_workers(int workers) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", workers);
    setenv("GORT_MAXPROCS", buf, 1);
}

/* go_main(fn, arg) with exactly `workers` worker threads. */
static inline int gort_test_run(int workers, int (*fn)(void *), void *arg) {
    gort_test_set_workers(workers);
    return go_main(fn, arg);
}

/* ---- relaxing ------------------------------------------------------------ */

static inline void gort_test_relax(unsigned *spins) {
    /* Two CPUs and sanitizers: give the CPU away now and then, so a spinner
     * does not starve the thread it waits for. */
    if (++*spins % 256 == 0)
        sched_yield();
#if defined(__x86_64__) || defined(__i386__)
    else
        __builtin_ia32_pause();
#endif
}

/* Spins until *flag != 0, calling go_safepoint() so that a pause requested
 * meanwhile is not held up. From a task (without parking) or any thread. */
static inline void gort_test_wait_flag(atomic_int *flag) {
    unsigned spins = 0;
    while (atomic_load(flag) == 0) {
        go_safepoint();
        gort_test_relax(&spins);
    }
}

/* Spins until *counter >= target, as gort_test_wait_flag. */
static inline void gort_test_wait_count(atomic_int *counter, int target) {
    unsigned spins = 0;
    while (atomic_load(counter) < target) {
        go_safepoint();
        gort_test_relax(&spins);
    }
}

/* Yields until *counter >= target (a task's join by counting). */
static inline void gort_test_yield_until(atomic_int *counter, int target) {
    while (atomic_load(counter) < target)
        go_yield();
}

/* ---- spinlock ------------------------------------------------------------ */

typedef struct gort_test_spinlock {
    atomic_int held;
} gort_test_spinlock;

static inline void gort_test_lock(gort_test_spinlock *l) {
    unsigned spins = 0;
    for (;;) {
        if (atomic_load_explicit(&l->held, memory_order_relaxed) == 0 &&
            atomic_exchange_explicit(&l->held, 1, memory_order_acquire) == 0)
            return;
        gort_test_relax(&spins);
    }
}

static inline void gort_test_unlock(gort_test_spinlock *l) {
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

/* An unlock callback for gort_sched_park: arg is a gort_test_spinlock. */
static inline bool gort_test_unlock_cb(gort_task *t, void *arg) {
    (void)t;
    gort_test_unlock(arg);
    return true;
}

/* ---- task semaphore -------------------------------------------------------- */

/* A waiter lives on the parked task's stack and is linked into the semaphore
 * while the task is parked. */
typedef struct gort_test_waiter {
    gort_task *task;
    struct gort_test_waiter *next;
} gort_test_waiter;

typedef struct gort_test_sema {
    gort_test_spinlock lock;
    int count;                     /* [lock] posts not yet consumed */
    gort_test_waiter *head, *tail; /* [lock] parked waiters, FIFO */
} gort_test_sema;

/* From a task: takes one post, parking until there is one. */
static inline void gort_test_sema_wait(gort_test_sema *s) {
    gort_test_lock(&s->lock);
    if (s->count > 0) {
        s->count--;
        gort_test_unlock(&s->lock);
        return;
    }
    gort_test_waiter w = {.task = gort_sched_current_task(), .next = NULL};
    if (s->tail != NULL)
        s->tail->next = &w;
    else
        s->head = &w;
    s->tail = &w;
    gort_sched_park(gort_test_unlock_cb, &s->lock, "test sema");
}

/* From a task or any thread while the runtime runs: one post; readies the
 * first waiter if there is one. */
static inline void gort_test_sema_post(gort_test_sema *s) {
    gort_test_lock(&s->lock);
    gort_test_waiter *w = s->head;
    if (w != NULL) {
        s->head = w->next;
        if (s->head == NULL)
            s->tail = NULL;
    } else {
        s->count++;
    }
    gort_task *t = w != NULL ? w->task : NULL; /* w dies once t runs again */
    gort_test_unlock(&s->lock);
    if (t != NULL)
        gort_sched_ready(t);
}

/* ---- wait group ---------------------------------------------------------- */

typedef struct gort_test_wg {
    atomic_int pending;
    gort_test_sema done;
} gort_test_wg;

static inline void gort_test_wg_add(gort_test_wg *wg, int n) {
    atomic_fetch_add(&wg->pending, n);
}

static inline void gort_test_wg_done(gort_test_wg *wg) {
    if (atomic_fetch_sub(&wg->pending, 1) == 1)
        gort_test_sema_post(&wg->done);
}

/* From a task, once, after at least one add: parks until every add was
 * matched by a done. It always waits for the last done's post, so that no
 * done touches the group after the waiter has returned (and perhaps freed it). */
static inline void gort_test_wg_wait(gort_test_wg *wg) {
    gort_test_sema_wait(&wg->done);
}

/* ---- watchdog ------------------------------------------------------------ */
/* A test that hangs aborts the program with its name instead of running into
 * ctest's timeout: gort_test_watchdog_start in the group setup,
 * GORT_TEST_WATCH() at the start of each test, gort_test_watchdog_stop in the
 * group teardown. */

static atomic_llong gort_test_watch_deadline; /* 0: disarmed */
static const char *_Atomic gort_test_watch_name = "";
static const char *gort_test_watch_prog = "test";
static int gort_test_watch_seconds = 60;
static atomic_int gort_test_watch_quit;
static uv_thread_t gort_test_watch_thread;

static inline void gort_test_watchdog_main(void *arg) {
    (void)arg;
    while (!atomic_load(&gort_test_watch_quit)) {
        long long d = atomic_load(&gort_test_watch_deadline);
        if (d != 0 && go_now() > d) {
            fprintf(stderr, "%s: watchdog: %s did not finish in %d s (a hang)\n",
                    gort_test_watch_prog, atomic_load(&gort_test_watch_name),
                    gort_test_watch_seconds);
            abort();
        }
        uv_sleep(50);
    }
}

/* 0, or -1 if the thread could not start. */
static inline int gort_test_watchdog_start(const char *prog, int seconds) {
    gort_test_watch_prog = prog;
    gort_test_watch_seconds = seconds;
    return uv_thread_create(&gort_test_watch_thread, gort_test_watchdog_main, NULL) == 0 ? 0 : -1;
}

static inline void gort_test_watchdog_stop(void) {
    atomic_store(&gort_test_watch_quit, 1);
    uv_thread_join(&gort_test_watch_thread);
}

/* Arms the watchdog for the calling test; the next test re-arms it. */
static inline void gort_test_watch(const char *name) {
    atomic_store(&gort_test_watch_name, name);
    atomic_store(&gort_test_watch_deadline,
                 go_now() + (long long)gort_test_watch_seconds * 1000000000LL);
}
#define GORT_TEST_WATCH() gort_test_watch(__func__)

#endif
