/* sched/sched.h - the scheduler's interface to the rest of the runtime.
 *
 * This is what channels, timers, locks and the collector use: parking and
 * readying tasks, stopping the world, visiting and claiming tasks. Nothing here
 * is public. The protocols behind these calls are written down in the head
 * comments of sched/park.c and sched/stw.c.
 */
#ifndef GORT_SCHED_SCHED_H
#define GORT_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort.h"

typedef struct gort_task gort_task;
typedef struct gort_worker gort_worker;
typedef struct gort_member gort_member; /* a worker or an attached thread */

/* ---- park / ready (sched/park.c) ---------------------------------------- */

/* Called on the worker's scheduler stack once the parking task is fully
 * switched out (its state saved and marked WAITING). It typically releases the
 * lock under which the caller queued itself for a wake-up. Returning false
 * cancels the park: the task is made runnable again at once. It must not park,
 * yield or reach a safepoint. */
typedef bool (*gort_sched_unlock_fn)(gort_task *t, void *arg);

/* Parks the running task until gort_sched_ready(t). From a task only.
 * gort_sched_park_task is the same for a caller that knows it is task self. */
void gort_sched_park(gort_sched_unlock_fn unlock, void *arg, const char *reason);
void gort_sched_park_task(gort_task *self, gort_sched_unlock_fn unlock, void *arg,
                          const char *reason);

/* Makes a parked task runnable. From any thread (a task, a worker's scheduler,
 * a non-worker thread, or the stop-the-world requester). Exactly one ready per
 * park: readying a task that is not parked is fatal. */
void gort_sched_ready(gort_task *t);

/* The running task, or NULL when not called from a task. */
gort_task *gort_sched_current_task(void);
uint64_t gort_sched_task_id(const gort_task *t);
/* Copies the task's name (at most 31 bytes, "" for none) into out[32]; safe
 * against the task exiting meanwhile (the copy may then be another's name). */
void gort_sched_task_name(const gort_task *t, char out[32]);

/* ---- stop-the-world (sched/stw.c) --------------------------------------- */

typedef enum gort_stw_reason {
    GORT_STW_TEST,
    GORT_STW_GC_MARK_START,
    GORT_STW_GC_MARK_TERM,
    GORT_STW_GC_SLICE,
    GORT_STW_REASON_COUNT
} gort_stw_reason;

/* Stops every worker (and later, attached thread) at a safepoint or in place
 * while idle, and returns with the world lock held. From a task or from any
 * thread that is not inside a pause. A task that calls it is switched out and
 * back first, so its registers are on its stack and its saved range is valid
 * for gort_stw_visit_tasks (the frames below it are the requester's own). */
void gort_stop_the_world(gort_stw_reason reason);

/* Releases the world and runs the wake-an-idle-worker check. */
void gort_start_the_world(void);

/* While stopped: runs fn(arg, w) once for every worker w, in parallel on the
 * workers that stopped at a safepoint and on idle workers (woken for it, they
 * take their own share if the requester has not taken it yet); the requester
 * runs its own worker's share and every share nobody else took (blocked
 * workers', late idle ones'). Returns when every call has returned. fn must
 * not park or stop the world; it may find work already done by others. */
typedef void (*gort_stw_parallel_fn)(void *arg, int worker_index);
void gort_stw_run_parallel(gort_stw_parallel_fn fn, void *arg);

/* While stopped: calls fn for every task that is not dead, with the range of
 * its stack that holds live frames, [lo, hi): lo is the stack pointer saved
 * at its last switch, so callee-saved registers are inside the range. Tasks
 * that never ran have an empty range. A task inside a blocking region has
 * lo = the stack pointer at go_blocking_enter, and its callee-saved registers
 * in gort_sched_task_region_regs. */
typedef void (*gort_stw_task_visitor)(gort_task *t, const void *lo, const void *hi, void *arg);
void gort_stw_visit_tasks(gort_stw_task_visitor fn, void *arg);

/* While stopped: calls fn for every attached thread with its stack range
 * [lo, hi) (from the stack pointer saved at its stop or at go_blocking_enter
 * to its real stack base) and the callee-saved registers saved with it. */
typedef void (*gort_stw_thread_visitor)(gort_member *m, const void *lo, const void *hi,
                                        const uintptr_t *regs, size_t nregs, void *arg);
void gort_stw_visit_threads(gort_stw_thread_visitor fn, void *arg);

/* Claims an attached thread that sits in a blocking region while the world
 * runs: its frozen range and registers stay valid, and go_blocking_leave
 * waits, until gort_sched_thread_unclaim. False if it is not in a region. */
bool gort_sched_thread_claim(gort_member *m, const void **lo, const void **hi,
                             const uintptr_t **regs);
void gort_sched_thread_unclaim(gort_member *m);

/* Claiming (the scan bit, Go's _Gscan): while the world runs, the collector
 * claims a task that is parked or runnable so that it cannot resume while its
 * stack is scanned. Returns false if the task is running or dead. A claimed
 * task's stack range is valid until gort_sched_task_unclaim. Claims are runtime
 * locks: never held across a safepoint. */
bool gort_sched_task_claim(gort_task *t, const void **lo, const void **hi);
/* The registers saved by go_blocking_enter while t is in a region, else NULL. */
const uintptr_t *gort_sched_task_region_regs(const gort_task *t, size_t *n);
void gort_sched_task_unclaim(gort_task *t);
/* Claims are possible only between these two calls, each made while the world
 * is stopped (the collector: at mark start and mark termination). Outside, a
 * worker resumes a task with a plain store instead of a compare-and-swap. */
void gort_sched_claims_enable(bool on);

/* Pause accounting: every pause records its time-to-safepoint (from the
 * request until every worker stopped) and its length (request to restart). */
typedef struct gort_stw_stats {
    uint64_t pauses;
    uint64_t last_tts_ns, last_pause_ns;
    uint64_t max_tts_ns, max_pause_ns;
    uint64_t total_pause_ns;
} gort_stw_stats;
void gort_stw_stats_get(gort_stw_stats *out);

/* True while the world is stopped (for assertions). */
bool gort_stw_is_stopped(void);

/* ---- implicit attached sections (sched/stw.c) ---------------------------- */
/* Every runtime call from a thread that is not a worker runs between these,
 * so that it never changes runtime state during a pause. enter returns false
 * (and leaves no section open) when the runtime is not running. */
bool gort_sched_external_enter(void);
void gort_sched_external_leave(void);

/* ---- the collector's per-thread state ----------------------------------- */

/* The calling thread's gc_local slot (gort_member.gc_local): its worker's
 * when called from a task or a worker, its own when attached, NULL otherwise. */
void **gort_sched_gc_local_slot(void);
/* While stopped: calls fn for every worker's and attached thread's slot. */
void gort_stw_visit_gc_locals(void (*fn)(void **slot, void *arg), void *arg);
/* The spawn argument of a task that has not started yet, else NULL. */
void *gort_sched_task_spawn_arg(const gort_task *t);

/* ---- workers ------------------------------------------------------------- */

int gort_sched_worker_count(void);
/* Index of the calling worker thread, or -1 when not on a worker. */
int gort_sched_worker_index(void);

#endif
