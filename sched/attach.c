/* sched/attach.c - attached threads and blocking regions.
 *
 * An attached thread (go_thread_attach) is a member of stop-the-world like a
 * worker: a pause waits for it to reach a safepoint (go_safepoint, or any
 * runtime call), where it saves its registers and stack pointer and waits.
 * Its stack, from the stack pointer saved at the stop up to the real stack
 * base recorded at attach (pthread_getattr_np, §7 rule 15), is a root.
 *
 * A blocking region (go_blocking_enter/leave, Go's syscall state) is a stretch
 * of code that touches no collected object and calls no runtime function:
 *   1. enter copies the callee-saved registers and the stack pointer into the
 *      task's (or attached thread's) descriptor (§7 rule 1), marks the task
 *      TASK_REGION, then moves its member RUNNING -> REGION by compare-and-
 *      swap, straight to STOPPED_REGION and counted down when a pause is
 *      pending (§7 rule 6). A pause never waits for it. A task keeps its
 *      worker; if that worker's queue holds tasks, an idle worker is woken to
 *      steal them (§7 rule 7).
 *   2. leave moves the member back to RUNNING, waiting while a pause holds it
 *      (STOPPED_REGION), then the task back to RUNNING, waiting while a claim
 *      holds its scan bit; an attached thread waits on its member's scan bit.
 * Invariants: attach and detach hold the world lock, so the list of attached
 * threads never changes during a pause; a thread detaches in the REGION state
 * so that a pause never waits for a thread blocked on the world lock.
 * Attached threads survive go_stop: the list lives as long as the process.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "sched/internal.h"

static __thread gort_member *tls_attached;
static int next_attached_index;

GORT_NOINLINE gort_member *gort_sched_attached_self(void) {
    return tls_attached;
}

int go_thread_attach(void) {
    if (gort_sched_self() != NULL)
        return GO_EINVAL; /* a worker, or a task: already a mutator */
    if (gort_sched_attached_self() != NULL)
        return GO_EBUSY;
    gort_member *m = calloc(1, sizeof *m);
    if (m == NULL)
        return GO_ENOMEM;
    void *addr;
    size_t size;
    gort_rt_thread_stack(&addr, &size);
    if (addr == NULL) {
        free(m);
        return GO_EINVAL;
    }
    m->stack_hi = (char *)addr + size;
    m->is_worker = false;
    gort_stw_world_lock();
    if (!atomic_load(&gort_sched.running)) {
        gort_stw_world_unlock();
        free(m);
        return GO_ECANCELED;
    }
    atomic_store(&m->state, W_RUNNING);
    m->index = 1 << 20 | next_attached_index++;
    m->next = gort_stw_attached;
    gort_stw_attached = m;
    gort_stw_nattached++;
    gort_stw_world_unlock();
    tls_attached = m;
    return 0;
}

void go_thread_detach(void) {
    gort_member *m = gort_sched_attached_self();
    if (m == NULL)
        return;
    if (atomic_load(&m->state) != W_RUNNING)
        gort_rt_fatal("go_thread_detach inside a blocking region");
    /* Barrier buffer into the grey work, cache back to the heap (rule 9). */
    gort_gc_release_local(&m->gc_local);
    m->saved_sp = gort_sched_save_context(m->saved_regs);
    gort_stw_enter_region(m);
    gort_stw_world_lock();
    gort_member **pp = &gort_stw_attached;
    while (*pp != m)
        pp = &(*pp)->next;
    *pp = m->next;
    gort_stw_nattached--;
    gort_stw_world_unlock();
    tls_attached = NULL;
    while (atomic_load(&m->scan) != 0) /* a claim that began before we left the list */
        gort_rt_cpu_relax();
    free(m);
}

void go_blocking_enter(void) {
    gort_task *t = gort_sched_current_task();
    if (t != NULL) {
        gort_worker *w = gort_sched_self();
        w->m.saved_sp = gort_sched_save_context(w->m.saved_regs);
        t->region_worker = w;
        atomic_store_explicit(&t->state, TASK_REGION, memory_order_release);
        gort_stw_enter_region(&w->m);
        if (!runq_empty(w))
            gort_sched_wakep(); /* let an idle worker steal what waits here */
        return;
    }
    gort_member *m = gort_sched_attached_self();
    if (m != NULL) {
        m->saved_sp = gort_sched_save_context(m->saved_regs);
        gort_stw_enter_region(m);
    }
}

void go_blocking_leave(void) {
    gort_task *t = gort_sched_current_task();
    if (t != NULL) {
        gort_worker *w = gort_sched_self();
        gort_stw_exit_region(&w->m);
        uint32_t s = TASK_REGION;
        while (!atomic_compare_exchange_weak_explicit(&t->state, &s, TASK_RUNNING,
                                                      memory_order_acquire, memory_order_relaxed)) {
            if (s != (TASK_REGION | TASK_SCAN))
                gort_rt_fatal("go_blocking_leave without go_blocking_enter (task %llu)",
                              (unsigned long long)t->id);
            gort_rt_cpu_relax(); /* the collector is scanning the frozen stack */
            s = TASK_REGION;
        }
        return;
    }
    gort_member *m = gort_sched_attached_self();
    if (m != NULL) {
        gort_stw_exit_region(m);
        while (atomic_load(&m->scan) != 0)
            gort_rt_cpu_relax();
    }
}

GORT_NOINLINE void *go_blocking_call(void *(*fn)(void *), void *arg) {
    go_blocking_enter();
    void *result = fn(arg);
    go_blocking_leave();
    return result;
}

bool gort_sched_thread_claim(gort_member *m, const void **lo, const void **hi,
                             const uintptr_t **regs) {
    uint32_t expected = 0;
    if (atomic_load(&m->state) != W_REGION ||
        !atomic_compare_exchange_strong(&m->scan, &expected, 1))
        return false;
    if (atomic_load(&m->state) != W_REGION) { /* it left meanwhile */
        atomic_store(&m->scan, 0);
        return false;
    }
    *lo = m->saved_sp;
    *hi = m->stack_hi;
    *regs = m->saved_regs;
    return true;
}

void gort_sched_thread_unclaim(gort_member *m) {
    atomic_store(&m->scan, 0);
}
