/* runtime/context_common.c - creating contexts (see runtime/context.h).
 *
 * The frame laid out here for the assembly backend must match the pop order of
 * context_x86_64.S; the ucontext backend builds its contexts with makecontext.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "runtime/context.h"

#ifndef GORT_CONTEXT_UCONTEXT
void gort_rt_context_trampoline(void);

void gort_rt_context_make(gort_rt_context *ctx, void *lo, void *hi, gort_rt_context_entry entry,
                          void *arg) {
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    uint64_t *frame =
        (uint64_t *)(top - 80); /* 16-aligned; the callee's frame starts 16 below top */
    frame[0] = 0x1F80 | ((uint64_t)0x037F << 32); /* MXCSR and x87 control word defaults */
    frame[1] = 0;                                 /* r15 */
    frame[2] = 0;                                 /* r14 */
    frame[3] = 0;                                 /* r13 */
    frame[4] = (uint64_t)(uintptr_t)arg;          /* r12: the entry's argument */
    frame[5] = (uint64_t)(uintptr_t)entry;        /* rbx: the entry */
    frame[6] = 0;                                 /* rbp: end of the frame chain */
    frame[7] = (uint64_t)(uintptr_t)gort_rt_context_trampoline;
    ctx->sp = frame;
    gort_rt_context_set_bounds(ctx, lo, (size_t)((char *)hi - (char *)lo));
#ifdef GORT_RT_TSAN
    ctx->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef GORT_RT_ASAN
    ctx->asan_fake_stack = NULL;
#endif
}
#endif

void gort_rt_thread_stack(void **lo, size_t *size) {
    pthread_attr_t attr;
    *lo = NULL;
    *size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, lo, size);
        pthread_attr_destroy(&attr);
    }
}

void gort_rt_context_init_thread(gort_rt_context *ctx) {
    memset(ctx, 0, sizeof *ctx);
    void *addr;
    size_t size;
    gort_rt_thread_stack(&addr, &size);
    gort_rt_context_set_bounds(ctx, addr, size);
#ifdef GORT_RT_TSAN
    ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void gort_rt_context_destroy(gort_rt_context *ctx) {
#ifdef GORT_RT_TSAN
    if (ctx->tsan_fiber != NULL)
        __tsan_destroy_fiber(ctx->tsan_fiber);
    ctx->tsan_fiber = NULL;
#endif
    (void)ctx;
}
