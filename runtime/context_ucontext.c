/* runtime/context_ucontext.c - the portable context backend (GORT_CONTEXT=ucontext).
 *
 * Slower than the assembly (swapcontext saves the signal mask with a system
 * call at every switch) but needs nothing per architecture. To keep invariant 1
 * of runtime/context.h, the switch spills the callee-saved registers into its
 * own frame (__builtin_unwind_init) and publishes the address of a local below
 * them as the saved stack pointer, so a scan from there covers them.
 */
#include <stdint.h>
#include <string.h>

#include "runtime/context.h"

static void context_entry(unsigned hi_fn, unsigned lo_fn, unsigned hi_arg, unsigned lo_arg) {
    gort_rt_context_entry fn = (gort_rt_context_entry)(((uintptr_t)hi_fn << 32) | (uintptr_t)lo_fn);
    void *arg = (void *)(((uintptr_t)hi_arg << 32) | (uintptr_t)lo_arg);
    fn(arg);
    __builtin_trap(); /* entries never return */
}

void gort_rt_context_make(gort_rt_context *ctx, void *lo, void *hi, gort_rt_context_entry entry,
                          void *arg) {
    memset(&ctx->uc, 0, sizeof ctx->uc);
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = (size_t)((char *)hi - (char *)lo);
    ctx->uc.uc_link = NULL;
    uintptr_t f = (uintptr_t)entry, a = (uintptr_t)arg;
    makecontext(&ctx->uc, (void (*)(void))context_entry, 4, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a);
    ctx->sp = hi; /* nothing live yet */
    gort_rt_context_set_bounds(ctx, lo, (size_t)((char *)hi - (char *)lo));
#ifdef GORT_RT_TSAN
    ctx->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef GORT_RT_ASAN
    ctx->asan_fake_stack = NULL;
#endif
}

__attribute__((noinline)) void gort_rt_context_swap(gort_rt_context *from, gort_rt_context *to) {
    void *volatile marker = NULL;
    __builtin_unwind_init();
    from->sp = (void *)&marker;
    swapcontext(&from->uc, &to->uc);
    (void)marker;
}
