/* runtime/rt.h - the platform layer shared by sched/ and gc/.
 *
 * Owns: fatal errors, environment configuration, huge-page mappings, the
 * monotonic clock, futex waits, and sanitizer detection. Nothing here knows
 * about tasks or workers.
 */
#ifndef GORT_RUNTIME_RT_H
#define GORT_RUNTIME_RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort.h"

/* ---- sanitizers ---------------------------------------------------------- */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_RT_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define GORT_RT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GORT_RT_TSAN)
#define GORT_RT_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GORT_RT_ASAN)
#define GORT_RT_ASAN 1
#endif

/* The sanitizer interfaces the runtime calls (declared here rather than
 * through the sanitizer headers so that gcc builds without them). */
#ifdef GORT_RT_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_set_fiber_name(void *fiber, const char *name);
#endif
#ifdef GORT_RT_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

#define GORT_NOINLINE __attribute__((noinline))
#define GORT_LIKELY(x) __builtin_expect(!!(x), 1)
#define GORT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- fatal errors (runtime/error.c) -------------------------------------- */

/* Prints "gort: fatal: <message>" as one line on stderr and aborts. Safe to
 * call from a signal handler only through gort_rt_fatal_raw. */
_Noreturn void gort_rt_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Async-signal-safe: writes the already-formatted line with write(2). */
_Noreturn void gort_rt_fatal_raw(const char *line, size_t len);

/* ---- environment (runtime/env.c) ----------------------------------------- */

/* Reads a positive integer from the environment variable name. Returns def if
 * the variable is unset; prints one line naming the variable and returns def if
 * its value is not a valid integer in [min, max]. A suffix K, M or G (powers of
 * 1024) is accepted when allow_suffix is true. */
int64_t gort_rt_env_int(const char *name, int64_t def, int64_t min, int64_t max, bool allow_suffix);

/* ---- memory (runtime/mem.c) --------------------------------------------- */
/* Maps size bytes (a multiple of the page size), zeroed, 2 MiB-aligned and
 * advised MADV_HUGEPAGE, populated first if asked; NULL if the mapping
 * fails. Freed with munmap. */
void *gort_rt_map_huge(size_t size, bool populate);
/* Faults in [p, p + len) for writing ahead of use (MADV_POPULATE_WRITE; a
 * kernel before 5.14 refuses it and nothing happens). */
void gort_rt_populate(void *p, size_t len);

/* ---- clock --------------------------------------------------------------- */
int64_t gort_rt_nanotime(void);

/* ---- futex (runtime/futex.c) --------------------------------------------- */

/* Blocks while *addr == expected (or until a wake-up or a spurious return).
 * The caller re-checks its condition with an atomic load: the futex itself
 * carries no memory ordering. */
void gort_rt_futex_wait(_Atomic uint32_t *addr, uint32_t expected);
void gort_rt_futex_wake(_Atomic uint32_t *addr, int count);
struct timespec;
/* As gort_rt_futex_wait, for at most *timeout (relative). */
void gort_rt_futex_wait_timeout(_Atomic uint32_t *addr, uint32_t expected,
                                const struct timespec *timeout);

/* A one-shot (resettable) event: wait blocks until set. */
typedef struct gort_rt_event {
    _Atomic uint32_t state; /* 0 = clear, 1 = set, 2 = clear with a waiter */
} gort_rt_event;
void gort_rt_event_set(gort_rt_event *e);
void gort_rt_event_wait(gort_rt_event *e);
void gort_rt_event_reset(gort_rt_event *e);

/* A runtime lock on one futex word: 0 free, 1 held, 2 held with waiters.
 * Unlike a pthread mutex it may be released on another fiber than the one
 * that took it (ThreadSanitizer tracks its atomics, not an owner), which the
 * stop-the-world lock and the park unlock callbacks need. */
typedef struct gort_rt_lock {
    _Atomic uint32_t word;
} gort_rt_lock;
bool gort_rt_lock_try(gort_rt_lock *l);
void gort_rt_lock_acquire(gort_rt_lock *l);
void gort_rt_lock_release(gort_rt_lock *l);

/* CPU relax for spin loops. */
static inline void gort_rt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A lock for short critical sections on hot paths (channels): one atomic
 * word, taken by compare-and-swap and released by a plain store-release, one
 * atomic read-modify-write per acquire/release pair instead of
 * gort_rt_lock's two (which must learn at release whether to wake a futex
 * sleeper). The price: a waiter never sleeps. It backs off exponentially
 * (2, 4, ..., 1024 pauses between looks at the word, about 40 us in all),
 * then yields the CPU with sched_yield until the holder is done (the holder
 * may have lost its CPU), so it suits only locks that are
 * never held across anything that blocks, and only briefly (a channel
 * operation, at most one close batch). Like gort_rt_lock it may be released
 * on another fiber than the one that took it. */
typedef struct gort_rt_spinlock {
    _Atomic uint32_t word; /* 0 free, 1 held */
} gort_rt_spinlock;
void gort_rt_spinlock_wait(gort_rt_spinlock *l); /* the contended path of acquire */
static inline void gort_rt_spinlock_acquire(gort_rt_spinlock *l) {
    uint32_t free_word = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        gort_rt_spinlock_wait(l);
}
static inline void gort_rt_spinlock_release(gort_rt_spinlock *l) {
    atomic_store_explicit(&l->word, 0, memory_order_release);
}

/* How long a waiter spins before it sleeps on a futex (or, on a spinlock,
 * how many backoff rounds before it yields): scale is the count on real
 * hardware. Under valgrind, which runs one thread at a time, a spinning
 * thread only delays the one it waits for, so every wait spins once. */
int gort_rt_spin_limit(int scale);

/* The calling thread's whole stack, [*lo, *lo + *size) (pthread_getattr_np:
 * the real base, not the stack pointer). *lo is NULL if unknown. */
void gort_rt_thread_stack(void **lo, size_t *size);

/* Number of CPUs available to this process. */
int gort_rt_ncpu(void);

#endif
