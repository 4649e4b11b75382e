/* runtime/context.h - switching between stacks.
 *
 * Owns the machine context of a task or of a worker's scheduler stack, and the
 * one function that switches between two of them. Two backends, chosen at
 * configure time (GORT_CONTEXT): hand-written x86-64 assembly
 * (context_x86_64.S, the default) and ucontext (context_ucontext.c).
 *
 * Invariants:
 *  1. After a context switched out, ctx->sp is the lowest address of its live
 *     stack, and every callee-saved register is stored at or above it (the
 *     assembly pushes them; the ucontext backend spills them into its frame
 *     with __builtin_unwind_init before swapcontext). A conservative scan of
 *     [ctx->sp, stack top) therefore sees every pointer the context holds.
 *  2. Every switch is announced to ThreadSanitizer (__tsan_switch_to_fiber)
 *     and AddressSanitizer (__sanitizer_start/finish_switch_fiber) right
 *     before the switch, from an always_inline wrapper, so no instrumented
 *     frame returns on the wrong stack (DESIGN.md §5).
 *  3. A context that dies switches out with gort_rt_context_switch_final: ASan
 *     is told to drop its fake stack, and its TSan fiber is destroyed later by
 *     whoever runs next, never while it runs.
 */
#ifndef GORT_RUNTIME_CONTEXT_H
#define GORT_RUNTIME_CONTEXT_H

#include <stddef.h>

#include "runtime/rt.h"

#ifdef GORT_CONTEXT_UCONTEXT
#include <ucontext.h>
#endif

typedef struct gort_rt_context {
    void *sp; /* saved stack pointer; must stay the first field (assembly) */
#ifdef GORT_CONTEXT_UCONTEXT
    ucontext_t uc;
#endif
#ifdef GORT_RT_ASAN
    const void *stack_lo; /* bounds, for ASan */
    size_t stack_size;
#endif
#ifdef GORT_RT_TSAN
    void *tsan_fiber;
#endif
#ifdef GORT_RT_ASAN
    void *asan_fake_stack;
#endif
} gort_rt_context;

typedef void (*gort_rt_context_entry)(void *arg);

/* Prepares ctx to run entry(arg) on [lo, hi) at its first switch-in. entry
 * must never return. Creates its TSan fiber. */
void gort_rt_context_make(gort_rt_context *ctx, void *lo, void *hi, gort_rt_context_entry entry,
                          void *arg);
/* Makes ctx describe the calling thread's own stack (a worker's scheduler). */
void gort_rt_context_init_thread(gort_rt_context *ctx);
/* Releases what gort_rt_context_make created; never on the running context. */
void gort_rt_context_destroy(gort_rt_context *ctx);

/* The backend's raw switch: saves the current context into from, resumes to. */
void gort_rt_context_swap(gort_rt_context *from, gort_rt_context *to);

/* The first thing a context's entry function does. */
static inline __attribute__((always_inline)) void gort_rt_context_started(void) {
#ifdef GORT_RT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

/* Records a context's stack bounds for AddressSanitizer. */
static inline void gort_rt_context_set_bounds(gort_rt_context *ctx, const void *lo, size_t size) {
#ifdef GORT_RT_ASAN
    ctx->stack_lo = lo;
    ctx->stack_size = size;
#else
    (void)ctx, (void)lo, (void)size;
#endif
}

static inline __attribute__((always_inline)) void gort_rt_context_switch(gort_rt_context *from,
                                                                         gort_rt_context *to) {
#ifdef GORT_RT_ASAN
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo, to->stack_size);
#endif
#ifdef GORT_RT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    gort_rt_context_swap(from, to);
#ifdef GORT_RT_ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
}

/* Switches away from a context that will never run again. */
static inline __attribute__((always_inline)) _Noreturn void
gort_rt_context_switch_final(gort_rt_context *from, gort_rt_context *to) {
#ifdef GORT_RT_ASAN
    __sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#endif
#ifdef GORT_RT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    gort_rt_context_swap(from, to);
    __builtin_unreachable();
}

#endif
