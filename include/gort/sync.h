/* gort/sync.h - task-aware locks and coordination (Go's sync package).
 *
 * Waiting parks the calling task, never its worker; from a thread that is not
 * a task it blocks the thread, in the blocking-region state. Zeroed memory is
 * a ready object (every GO_*_INIT except GO_SEM_INIT is all zeros), so these
 * can live inside collected objects, statics or malloc'ed memory. The fields
 * are private. Misuse that Go answers with a panic (unlock of an unlocked
 * mutex, a negative wait group counter) is fatal. None of them may be copied
 * once in use.
 */
#ifndef GORT_SYNC_H
#define GORT_SYNC_H

#include <stdint.h>

#include "gort/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A FIFO of waiters under a lock word: private to the runtime. */
typedef struct go_internal_waitq {
    uint32_t lock;
    uint32_t count; /* semaphores: the units available */
    void *head, *tail;
} go_internal_waitq;

/* Mutual exclusion with Go's two modes: normal (a woken waiter competes with
 * newcomers) and starvation (after a waiter waited over 1 ms, the lock is
 * handed straight to waiters in FIFO order until the queue drains). */
typedef struct go_mutex {
    int32_t state;
    uint32_t pad_;
    go_internal_waitq sema;
} go_mutex;
#define GO_MUTEX_INIT                                                                              \
    { 0 }
void go_mutex_lock(go_mutex *m);
void go_mutex_unlock(go_mutex *m); /* fatal if not locked */
int go_mutex_trylock(go_mutex *m); /* 0 | GO_EAGAIN */

/* Readers-writer lock: a writer waiting blocks new readers (no writer
 * starves), as Go's RWMutex. */
typedef struct go_rwmutex {
    go_mutex w;
    int32_t reader_count;
    int32_t reader_wait;
    go_internal_waitq writer_sem, reader_sem;
} go_rwmutex;
#define GO_RWMUTEX_INIT                                                                            \
    { 0 }
void go_rwmutex_rlock(go_rwmutex *rw);
void go_rwmutex_runlock(go_rwmutex *rw); /* fatal if not read-locked */
void go_rwmutex_lock(go_rwmutex *rw);
void go_rwmutex_unlock(go_rwmutex *rw); /* fatal if not locked */

/* Condition variable: waiters are woken in FIFO order. */
typedef struct go_cond {
    go_internal_waitq q;
} go_cond;
#define GO_COND_INIT                                                                               \
    { 0 }
void go_cond_wait(go_cond *cv, go_mutex *m);
int go_cond_wait_timeout(go_cond *cv, go_mutex *m,
                         int64_t timeout_ns); /* 0 | GO_ETIMEDOUT | GO_EINVAL */
void go_cond_signal(go_cond *cv);
void go_cond_broadcast(go_cond *cv);

/* Wait group: wait returns once the counter is zero. */
typedef struct go_waitgroup {
    int64_t counter;
    go_internal_waitq q;
} go_waitgroup;
#define GO_WAITGROUP_INIT                                                                          \
    { 0 }
void go_waitgroup_add(go_waitgroup *wg, int64_t delta); /* fatal if the counter goes negative */
void go_waitgroup_done(go_waitgroup *wg);
void go_waitgroup_wait(go_waitgroup *wg);
int go_waitgroup_wait_timeout(go_waitgroup *wg,
                              int64_t timeout_ns); /* 0 | GO_ETIMEDOUT | GO_EINVAL */

/* Runs fn once; every caller returns after that run has returned. */
typedef struct go_once {
    uint32_t done;
    uint32_t pad_;
    go_mutex m;
} go_once;
#define GO_ONCE_INIT                                                                               \
    { 0 }
void go_once_do(go_once *o, go_fn fn, void *arg);

/* Counting semaphore, FIFO. */
typedef struct go_sem {
    go_internal_waitq q;
} go_sem;
#define GO_SEM_INIT(n)                                                                             \
    {                                                                                              \
        { 0, (uint32_t)(n), 0, 0 }                                                                 \
    }
void go_sem_init(go_sem *s, int64_t n); /* n in [0, UINT32_MAX] */
void go_sem_acquire(go_sem *s);
void go_sem_release(go_sem *s);
int go_sem_tryacquire(go_sem *s);                          /* 0 | GO_EAGAIN */
int go_sem_acquire_timeout(go_sem *s, int64_t timeout_ns); /* 0 | GO_ETIMEDOUT | GO_EINVAL */

#ifdef __cplusplus
}
#endif

#endif
