/* gort/task.h - the runtime, tasks (green threads) and time.
 *
 * A task is a function with its own stack, multiplexed with the others over a
 * few worker threads. Tasks are cooperative: they switch at scheduler entries
 * (spawn does not switch; yield, park and every wait do) and at go_safepoint(),
 * which long loops should call: a task that never reaches a safepoint keeps
 * its worker, and delays every stop-the-world pause.
 */
#ifndef GORT_TASK_H
#define GORT_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct go_config {
    int workers;         /* 0: GORT_MAXPROCS if set, else the number of CPUs */
    size_t stack_size;   /* 0: GORT_STACK_SIZE if set, else the default */
    int gc_percent;      /* 0: GORT_GC if set, else 100; negative: no automatic cycles */
    size_t memory_limit; /* soft; 0: GORT_MEMLIMIT if set, else none */
    size_t heap_limit;   /* hard; 0: GORT_HEAPLIMIT if set, else none */
} go_config;             /* may grow in later versions; zero means default */

/* Starts the runtime with the defaults, runs main_fn(arg) as a task and
 * returns its result as soon as it returns, without waiting for other tasks
 * (Go's semantics: they are abandoned and their stacks reclaimed). The calling
 * thread waits and does not become a worker. May be called again afterwards.
 * Returns GO_EBUSY if the runtime is already running, GO_ENOMEM if it cannot
 * start. */
int go_main(int (*main_fn)(void *arg), void *arg);

/* Starts the runtime for embedding: the workers run until go_stop. cfg may be
 * NULL (all defaults); a zero field means its default (API.md). From a thread
 * that is not a task. GO_EBUSY if the runtime runs already, GO_EINVAL for a
 * bad value in cfg, GO_ENOMEM. */
int go_start(const go_config *cfg);

/* Waits until every task has finished (tasks spawned meanwhile by tasks
 * included), then stops the workers. From the moment it is called, go_spawn
 * from threads that are not workers fails with GO_ECANCELED. The runtime can
 * be started again afterwards. From a thread that is not a task: GO_EBUSY
 * from a task, GO_EINVAL without a go_start. */
int go_stop(void);

typedef void (*go_fn)(void *arg);

typedef struct go_spawn_opts {
    size_t stack_size; /* 0: the runtime's default */
    const char *name;  /* copied (the first 31 bytes); NULL: none */
} go_spawn_opts;

/* Makes fn(arg) a new runnable task. From a task or any thread of the process
 * while the runtime runs. 0, or GO_ENOMEM, GO_EINVAL (fn NULL, or a stack size
 * too small or too large), GO_ECANCELED (the runtime is not running or is
 * stopping). */
int go_spawn(go_fn fn, void *arg);
int go_spawn_with(go_fn fn, void *arg, const go_spawn_opts *opts); /* opts may be NULL */

/* Lets the other runnable tasks run; from a task (elsewhere: returns at once). */
void go_yield(void);

/* The running task's id, unique for the life of the process; 0 off a task. */
uint64_t go_task_id(void);

/* Number of worker threads running; 0 when the runtime is not running. */
int go_workers(void);

/* What the scheduler has done since the runtime started (for demos, tests and
 * monitoring; counters are approximate while tasks run). From any thread. */
typedef struct go_sched_stats {
    int workers;          /* worker threads running */
    uint64_t live_tasks;  /* spawned and not yet finished */
    uint64_t spawned;     /* tasks spawned from tasks (others go to the global queue) */
    uint64_t schedules;   /* times a worker picked a task to run */
    uint64_t steals;      /* times a worker stole from another's queue */
    uint64_t idle_sleeps; /* times a worker went to sleep for lack of work */
    uint64_t pauses;      /* stop-the-world pauses */
    uint64_t pause_total_ns, pause_max_ns;
    const char *stack_guard; /* "madv_guard", "mprotect" or "none" */
} go_sched_stats;
void go_sched_stats_get(go_sched_stats *out);

/* Attached threads and blocking regions (docs/embedding.md).
 *
 * go_thread_attach makes the calling thread (not a worker, not a task) a
 * mutator like a task: a stop-the-world pause waits for it to reach a
 * safepoint (go_safepoint, or any runtime call), so long stretches of its own
 * code must call go_safepoint or run in a blocking region. Returns 0,
 * GO_EBUSY if already attached, GO_EINVAL from a worker or a task,
 * GO_ECANCELED if the runtime is not running, GO_ENOMEM. An attachment
 * survives go_stop and a new go_start; go_thread_detach ends it (a no-op on a
 * thread that is not attached).
 *
 * go_blocking_enter/leave bracket code that touches no collected object and
 * calls no runtime function (a blocking system call, a long computation in
 * plain C): a pause never waits for it, and leave waits while a pause is in
 * force. From a task (which keeps its worker meanwhile: a region must not wait
 * for another task) or an attached thread; a no-op on other threads.
 * go_blocking_call(fn, arg) runs fn(arg) as a region with the caller's frames
 * frozen: the recommended form. */
int go_thread_attach(void);
void go_thread_detach(void);
void go_blocking_enter(void);
void go_blocking_leave(void);
void *go_blocking_call(void *(*fn)(void *), void *arg);

/* Monotonic nanoseconds. */
int64_t go_now(void);

/* Sleeps at least ns nanoseconds (a task parks; another thread blocks in the
 * blocking-region state). ns <= 0 returns at once. Never returns early. */
void go_sleep(int64_t ns);

/* A safepoint: one relaxed load of the runtime's request word; only when some
 * request is pending (a stop-the-world pause, a time slice that expired) does
 * it call into the runtime. From any thread; a no-op off a task. The two
 * go_internal_ names below belong to this inline function only. */
extern int go_internal_safepoint_word;
void go_internal_safepoint_slow(void);
static inline void go_safepoint(void) {
    if (__builtin_expect(__atomic_load_n(&go_internal_safepoint_word, __ATOMIC_RELAXED) != 0, 0))
        go_internal_safepoint_slow();
}

#ifdef __cplusplus
}
#endif

#endif
