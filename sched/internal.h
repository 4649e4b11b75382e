/* sched/internal.h - the scheduler's own structures, shared by the files of sched/ only.
 *
 * Ownership (who may touch which field) is written beside each field:
 *   [owner]   only the worker that owns the structure, on its scheduler stack
 *             or on the task it runs;
 *   [atomic]  any thread, with atomic operations;
 *   [xx_lock] under that lock of struct gort_sched;
 *   [task]    the task itself while it runs, or whoever holds it in a queue.
 */
#ifndef GORT_SCHED_INTERNAL_H
#define GORT_SCHED_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "runtime/config.h"
#include "runtime/context.h"
#include "runtime/rt.h"
#include "runtime/stack.h"
#include "sched/sched.h"

/* ---- tasks --------------------------------------------------------------- */

/* Task states. The scan bit may be set on RUNNABLE and WAITING tasks by a
 * claim; whoever wants to move such a task to another state waits for it to
 * clear. */
enum {
    TASK_FREE = 0,     /* in a pool, not a task right now */
    TASK_RUNNABLE = 1, /* in a run queue (or being handed to a worker) */
    TASK_RUNNING = 2,  /* current on a worker */
    TASK_WAITING = 3,  /* parked */
    TASK_DEAD = 4,     /* finished, being recycled */
    TASK_REGION = 5,   /* running inside a blocking region: its stack above
                          region_sp is frozen and may be claimed */
    TASK_STATE_MASK = 0xff,
    TASK_SCAN = 0x100,
};

/* What a task asks its worker's scheduler when it switches to it. */
typedef enum task_cmd {
    CMD_NONE,
    CMD_YIELD,     /* requeue at the tail of the local run queue */
    CMD_PARK,      /* mark WAITING, run the unlock callback */
    CMD_EXIT,      /* recycle */
    CMD_SAFEPOINT, /* honour pending requests, then resume (or requeue) */
    CMD_STW,       /* stop the world for the task, then resume it */
} task_cmd;

#define GORT_TASK_NAME_MAX 32
/* Stacks and task structs a worker keeps for itself before it shares half
 * with the others (sched/task.c). */
#define GORT_LOCAL_STACKS 16
#define GORT_LOCAL_TASKS 64

struct gort_task {
    gort_rt_context ctx;    /* [task] saved context; ctx.sp is the saved stack pointer */
    _Atomic uint32_t state; /* [atomic] TASK_* | TASK_SCAN */
    task_cmd cmd;           /* [task] set before switching to the scheduler */
    uint64_t id;            /* [task] */
    go_fn fn;               /* [task] entry; arg is its unconsumed spawn argument until it runs */
    void *arg;
    gort_rt_stack stack;                   /* [task] lo == NULL until the task first runs */
    size_t stack_size;                     /* [task] requested size (0: default) */
    bool started;                          /* [task] has run at least once */
    _Atomic char name[GORT_TASK_NAME_MAX]; /* [spawner writes, anyone reads] a copy,
                                      truncated; "" for none. Atomic bytes: the
                                      monitor may read it while the task exits */
    gort_task *next;                       /* [queue] link in the global queue or a free list */
    gort_sched_unlock_fn park_unlock;      /* [task] for CMD_PARK */
    void *park_arg;
    const char *wait_reason;
    size_t allg_index;          /* [lock allg] position in sched.allg */
    gort_worker *region_worker; /* [task] in a region: the worker whose member holds
                                   the stack pointer and registers saved at enter */
};

/* ---- workers ------------------------------------------------------------- */

/* Member states, for stop-the-world (sched/stw.c): workers and attached
 * threads are members. */
enum {
    W_RUNNING = 0,        /* running tasks or its scheduler */
    W_IDLE = 1,           /* asleep in uv_run, or about to */
    W_REGION = 2,         /* blocked in a region (a second stop-the-world requester) */
    W_STOPPED = 3,        /* stopped at a safepoint, taking part in the pause */
    W_STOPPED_IDLE = 4,   /* was idle: stopped in place, not woken */
    W_STOPPED_REGION = 5, /* was in a region: stopped in place */
    W_EXITED = 6,         /* thread not running (before start, after stop) */
    W_STOPPED_EXITED = 7, /* exited, counted by a pause (so that counting is by CAS too) */
};

/* A thread that takes part in stop-the-world: a worker, or an attached thread
 * (sched/attach.c). */
typedef struct gort_member {
    _Atomic uint32_t state; /* [atomic] W_* */
    int index;              /* workers 0..n-1, attached threads from n on */
    bool is_worker;
    uint64_t last_job_gen; /* [owner] */
    /* What a scan of a stopped or blocked thread needs (attached threads and
     * blocking regions): the stack pointer at the stop or at
     * go_blocking_enter, the stack's top, and the callee-saved registers. */
    const void *saved_sp; /* [owner, read while stopped or claimed] */
    const void *stack_hi; /* attached threads: the real stack base */
    uintptr_t saved_regs[8];
    _Atomic uint32_t scan;    /* a claim of a blocked attached thread (sched/attach.c) */
    void *gc_local;           /* the collector's per-thread cache and barrier buffer */
    struct gort_member *next; /* [world lock] list of attached threads */
} gort_member;

#define RUNQ_SIZE 256

struct gort_worker {
    gort_member m; /* must stay first */
    int index;
    gort_rt_context sched_ctx;  /* [owner] the scheduler's context (the thread's own stack) */
    gort_task *_Atomic current; /* [owner writes, atomic reads] the running task */
    gort_task *prev;            /* [owner] the task that just switched out, whose
                                   command the resumed context carries out */

    /* Run queue (sched/runq.c): the owner pushes at tail, anyone takes at head. */
    _Atomic uint32_t runq_head; /* [atomic] consumers advance it by CAS */
    _Atomic uint32_t runq_tail; /* [atomic] only the owner advances it */
    gort_task *_Atomic runq[RUNQ_SIZE];
    gort_task *_Atomic runnext; /* [atomic] the task readied last by this worker's task */

    _Atomic uint32_t schedtick;  /* [owner writes, monitor reads] a new time slice
                                    began: every schedule except from runnext */
    _Atomic int preempt;         /* [atomic] the monitor asks the running task to yield */
    _Atomic int poll_request;    /* [atomic] the monitor asks for a non-blocking poll */
    _Atomic int64_t timer_due;   /* [atomic] earliest timer of this worker (INT64_MAX: none) */
    _Atomic uint64_t current_id; /* [owner writes, monitor reads] id of the running task */
    bool spinning;               /* [owner] counted in sched.nmspinning */
    uint64_t rand_state;         /* [owner] for steal order */

    /* Idle list (sched/worker.c). */
    bool in_idle_list;      /* [idle_lock] */
    bool wake_spinning;     /* [idle_lock] set by wakep: the waker counted us as spinning */
    bool light_sleep;       /* [idle_lock] idle and polling: wakep need not signal it */
    gort_worker *idle_next; /* [idle_lock] */

    uv_loop_t loop; /* [owner] its poller; only uv_async_send from elsewhere */
    uv_async_t wake;
    uv_timer_t timer; /* [owner] armed for the earliest timer before sleeping (sched/timer.c) */
    uv_thread_t thread;
    void *altstack; /* [owner] for the overflow handler */

    /* Recycling (sched/task.c). */
    gort_task *free_tasks[GORT_LOCAL_TASKS]; /* [owner] */
    int nfree_tasks;
    gort_rt_stack free_stacks[GORT_LOCAL_STACKS]; /* [owner] stacks of the default size */
    int nfree_stacks;
    uint64_t id_next, id_end; /* [owner] cached range of task ids */

    /* Stop-the-world (sched/stw.c). */
    gort_stw_reason pending_stw_reason; /* [owner] set by a task before CMD_STW */

    /* Counters for the demo and tests. [owner writes, atomic reads] */
    _Atomic uint64_t n_sched, n_steal, n_spawn, n_idle;
    _Atomic uint64_t n_stack_draws; /* stacks taken for new tasks (the scavenger's clock) */
} __attribute__((aligned(64)));

/* ---- the scheduler ------------------------------------------------------- */

/* Bits of go_internal_safepoint_word. */
enum {
    REQ_STW = 1,
    REQ_SHUTDOWN = 2,
    REQ_WORKER = 4, /* some worker has preempt or poll_request set (sched/monitor.c) */
};

/* go_internal_safepoint_word is a plain int in the public header (its inline
 * reader uses __atomic_load_n), so the runtime uses the same builtins on it. */
static inline int safepoint_word_load(void) {
    return __atomic_load_n(&go_internal_safepoint_word, __ATOMIC_RELAXED);
}
static inline void safepoint_word_set(int bits) {
    __atomic_fetch_or(&go_internal_safepoint_word, bits, __ATOMIC_SEQ_CST);
}
static inline void safepoint_word_clear(int bits) {
    __atomic_fetch_and(&go_internal_safepoint_word, ~bits, __ATOMIC_SEQ_CST);
}

/* A FIFO of task pointers in a growable ring (the global queue's lists):
 * taking tasks out touches the array, not the tasks. */
typedef struct gort_task_ring {
    gort_task **slots; /* capacity cap, a power of two (0: none yet) */
    size_t cap, head, n;
} gort_task_ring;

/* A global pool: a growable array used as a LIFO, of pooled stacks (of the
 * default size, gort_rt_stack) or of free task structs (gort_task *). Moving
 * a batch between a worker's pool and this touches the array, not the cold
 * stacks and structs. Changed under sched.pool_lock; n is read without it
 * as a hint. */
typedef struct gort_pool {
    void *v;
    _Atomic size_t n;
    size_t cap; /* in elements */
} gort_pool;

struct gort_sched {
    int nworkers;
    gort_worker *workers;
    size_t default_stack;

    /* Three runtime locks (spin, then futex), so that the global queue, the
     * idle list and the pools do not serialize each other. */
    gort_rt_lock gq_lock;
    gort_rt_lock idle_lock;
    gort_rt_lock pool_lock;
    gort_task_ring gq_fresh; /* [gq_lock] new, preempted and yielding tasks */
    gort_task_ring gq_woken; /* [gq_lock] started tasks readied */
    _Atomic int64_t gq_size; /* [atomic; changed under gq_lock by seq_cst RMW] both lists */
    gort_worker *idle_list;  /* [idle_lock] */
    _Atomic int npidle;      /* [atomic; changed under idle_lock] */
    _Atomic int nmspinning;  /* [atomic] */
    gort_pool free_tasks;    /* [pool_lock] global task pool */
    gort_pool free_stacks;   /* [pool_lock] global stack pool */
    gort_pool cold_stacks;   /* [pool_lock] pooled stacks whose pages went back to the OS */

    uv_mutex_t allg_lock; /* every task struct ever made, for visiting */
    gort_task **allg;
    size_t nallg, capallg;
    struct task_slab *slabs; /* [allg_lock] where task structs are carved from */
    char *slab_next, *slab_end;

    _Atomic uint64_t next_id;   /* task ids, handed out in batches */
    _Atomic int64_t live_tasks; /* [atomic] tasks spawned and not yet dead */
    _Atomic int claims_enabled; /* [changed only while the world is stopped] the
                                   collector may set scan bits (sched/stw.c) */

    /* Lifecycle (sched/lifecycle.c). running and external_active are never
     * reset by a start: threads that are not workers may read them at any time. */
    _Atomic int running;          /* 1 while workers run and spawns are accepted */
    _Atomic int stopping;         /* 1 once go_stop began: spawns from other threads fail */
    _Atomic int shutdown;         /* 1 once the workers were told to exit */
    _Atomic int external_active;  /* [atomic] threads inside an implicit attached section */
    gort_rt_event all_tasks_done; /* set when live_tasks drops to 0 while stopping */
};

extern struct gort_sched gort_sched;

/* Bumps a counter that only its owner writes (no locked instruction). */
static inline void gort_sched_count(_Atomic uint64_t *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ---- the calling thread -------------------------------------------------- */
/* Read through noinline accessors: a task may resume on another OS thread, so
 * the compiler must not keep a thread-local address across a switch. */
gort_worker *gort_sched_self(void);
void gort_sched_set_self(gort_worker *w);
bool gort_sched_is_stw_owner(void);
void gort_sched_set_stw_owner(bool owner);

/* ---- run queues (sched/runq.c) ------------------------------------------- */
void runq_put(gort_worker *w, gort_task *t, bool next);
/* Takes runnext, else the head of the ring; *inherit says it was runnext, so
 * the task continues the current time slice (Go's inheritTime). */
gort_task *runq_get(gort_worker *w, bool *inherit);
gort_task *runq_steal(gort_worker *w, gort_worker *victim, bool steal_runnext);
bool runq_empty(gort_worker *w);
void gq_put(gort_task *t);       /* takes sched.gq_lock */
void gq_put_woken(gort_task *t); /* a readied task; takes sched.gq_lock */
/* Under sched.gq_lock: takes up to max tasks (0: a fair share), the woken
 * list first unless fresh_first; returns one and queues the rest locally. */
gort_task *gq_get_locked(gort_worker *w, int max, bool fresh_first);

/* ---- worker loop (sched/worker.c) ---------------------------------------- */
void gort_sched_wakep(void);
/* True if any run queue or the global queue holds a task. */
bool gort_sched_work_queued(void);
int gort_sched_workers_start(int n);
void gort_sched_workers_stop(void);
/* Switches the running task t out with cmd: straight to the next task of
 * this worker's queue when it can (yield, park), else to the scheduler.
 * Returns when the task runs again (possibly on another worker). */
void gort_sched_switch_to_scheduler(gort_task *t, task_cmd cmd);
_Noreturn void gort_sched_exit_task(gort_task *t);
void gort_sched_after_resume(void);

/* ---- tasks (sched/task.c) ------------------------------------------------ */
void gort_task_entry(void *arg);
/* The scheduler's part of a task's death and of its first run. */
void gort_task_recycle(gort_worker *w, gort_task *t);
bool gort_task_prepare_stack(gort_worker *w, gort_task *t);
void gort_task_free_all(void);
size_t gort_task_scavenge_stacks(void);
/* Stacks drawn for tasks so far, over every worker (approximate). */
uint64_t gort_task_stack_draws(void);

/* ---- the monitor (sched/monitor.c) --------------------------------------- */
/* True if something asks worker w's running task to come to the scheduler:
 * a pause, shutdown, or the monitor's preempt or poll request for w. */
static inline bool gort_sched_requests_pending(gort_worker *w) {
    int word = safepoint_word_load();
    if (word & (REQ_STW | REQ_SHUTDOWN))
        return true;
    return (word & REQ_WORKER) && (atomic_load_explicit(&w->preempt, memory_order_relaxed) ||
                                   atomic_load_explicit(&w->poll_request, memory_order_relaxed));
}
int gort_sched_monitor_start(void);
void gort_sched_monitor_stop(void);
/* On the scheduler: carries out the monitor's requests to this worker.
 * Returns true if the running task's time slice is over. */
bool gort_sched_take_requests(gort_worker *w);

/* ---- lifecycle (sched/lifecycle.c) --------------------------------------- */
const gort_rt_config *gort_sched_config(void);

/* Records where the calling function's live stack begins, with its
 * callee-saved registers copied into regs (DESIGN.md §7 rule 1). always_inline:
 * the frame is the caller's. */
static inline __attribute__((always_inline)) const void *gort_sched_save_context(uintptr_t *regs) {
#if defined(__x86_64__)
    __asm__ volatile("movq %%rbx, 0(%0)\n\t"
                     "movq %%rbp, 8(%0)\n\t"
                     "movq %%r12, 16(%0)\n\t"
                     "movq %%r13, 24(%0)\n\t"
                     "movq %%r14, 32(%0)\n\t"
                     "movq %%r15, 40(%0)\n\t"
                     :
                     : "r"(regs)
                     : "memory");
#else
    (void)regs;
    __builtin_unwind_init();
#endif
    return __builtin_frame_address(0);
}

/* The attached-thread record of the calling thread, or NULL (sched/attach.c). */
gort_member *gort_sched_attached_self(void);

/* ---- stop-the-world (sched/stw.c) ---------------------------------------- */
/* On a worker's scheduler, or an attached thread's runtime call: stops this
 * member if a pause is pending. */
void gort_stw_poll(gort_member *m);
/* Member state transitions against a pending pause. */
void gort_stw_enter_idle(gort_member *m);
void gort_stw_exit_idle(gort_member *m);
void gort_stw_enter_region(gort_member *m);
void gort_stw_exit_region(gort_member *m);
/* The world lock, for attach and detach: held, no pause can be in force. */
void gort_stw_world_lock(void);
void gort_stw_world_unlock(void);
/* Attached threads, under the world lock. */
extern gort_member *gort_stw_attached;
extern int gort_stw_nattached;
/* Called from the scheduler for CMD_STW. */
void gort_stw_stop_from_scheduler(gort_worker *w);
void gort_stw_reset(void);

#endif
