/* runtime/futex.c - futex waits, events, runtime locks and the monotonic clock.
 *
 * Linux futexes, used for the few places where a thread must sleep until
 * another says so (a stopped worker waiting for the world to restart, go_main
 * waiting for its main task). The memory ordering is always carried by the
 * atomic operations on the futex word, which ThreadSanitizer understands; the
 * syscall only sleeps.
 */
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/rt.h"

#ifdef GORT_HAVE_VALGRIND /* set by CMake when valgrind's header is installed */
#include <valgrind/valgrind.h>
#endif

int gort_rt_spin_limit(int scale) {
#ifdef GORT_HAVE_VALGRIND
    static int under_valgrind = -1; /* racy first read is benign: same value */
    int v = __atomic_load_n(&under_valgrind, __ATOMIC_RELAXED);
    if (v < 0) {
        v = RUNNING_ON_VALGRIND ? 1 : 0;
        __atomic_store_n(&under_valgrind, v, __ATOMIC_RELAXED);
    }
    if (v)
        return 1;
#endif
    return scale;
}

void gort_rt_futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void gort_rt_futex_wait_timeout(_Atomic uint32_t *addr, uint32_t expected,
                                const struct timespec *timeout) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

void gort_rt_futex_wake(_Atomic uint32_t *addr, int count) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

void gort_rt_event_set(gort_rt_event *e) {
    if (atomic_exchange(&e->state, 1) == 2)
        gort_rt_futex_wake(&e->state, 1 << 30);
}

void gort_rt_event_wait(gort_rt_event *e) {
    for (int spin = 0, n = gort_rt_spin_limit(100); spin < n; spin++) {
        if (atomic_load(&e->state) == 1)
            return;
        gort_rt_cpu_relax();
    }
    for (;;) {
        uint32_t s = atomic_load(&e->state);
        if (s == 1)
            return;
        if (s == 0 && !atomic_compare_exchange_strong(&e->state, &s, 2))
            continue;
        gort_rt_futex_wait(&e->state, 2);
    }
}

void gort_rt_event_reset(gort_rt_event *e) {
    atomic_store(&e->state, 0);
}

bool gort_rt_lock_try(gort_rt_lock *l) {
    uint32_t free_word = 0;
    return atomic_compare_exchange_strong(&l->word, &free_word, 1);
}

void gort_rt_lock_acquire(gort_rt_lock *l) {
    if (gort_rt_lock_try(l))
        return;
    /* Spin reading, not writing, so the holder keeps its cache line. */
    for (int i = 0, n = gort_rt_spin_limit(100); i < n; i++) {
        gort_rt_cpu_relax();
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 && gort_rt_lock_try(l))
            return;
    }
    while (atomic_exchange(&l->word, 2) != 0)
        gort_rt_futex_wait(&l->word, 2);
}

void gort_rt_lock_release(gort_rt_lock *l) {
    if (atomic_exchange(&l->word, 0) == 2)
        gort_rt_futex_wake(&l->word, 1);
}

/* Backing off without reading the word leaves the line to the holder: two
 * workers hammering one channel (chanbuf) lost a quarter of their time to the
 * line bouncing between them while a waiter polled it every pause, and to
 * sched_yield after 100 polls (1.3 us a call on this VM). */
void gort_rt_spinlock_wait(gort_rt_spinlock *l) {
    for (int round = 0, n = gort_rt_spin_limit(10);; round++) {
        if (round < n) {
            for (int i = 0; i < (2 << round); i++)
                gort_rt_cpu_relax();
        } else {
            sched_yield(); /* the holder may have lost its CPU */
        }
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0) {
            uint32_t free_word = 0;
            if (atomic_compare_exchange_weak_explicit(&l->word, &free_word, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
    }
}

int64_t gort_rt_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t go_now(void) {
    return gort_rt_nanotime();
}
