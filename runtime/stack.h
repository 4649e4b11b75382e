/* runtime/stack.h - task stacks: mapping, guard pages, the overflow handler.
 *
 * A stack is [lo, hi) with a guard region [lo - GORT_RT_STACK_GUARD, lo) below
 * it. The guard is installed in one of three modes, chosen once per process
 * (docs/architecture.md "Stacks"):
 *   1. madv_guard: madvise(MADV_GUARD_INSTALL) (Linux 6.13+). Costs no memory
 *      mapping, so a million guarded stacks fit under vm.max_map_count.
 *   2. mprotect: PROT_NONE guards, two mappings each, while a budget below the
 *      map count lasts.
 *   3. none: past that budget (or when asked), stacks are unguarded; a canary
 *      word at lo and a stack-pointer check at every switch and safepoint
 *      catch an overflow after the fact.
 * An overflow into a guard is reported by a SIGSEGV handler running on the
 * worker's alternate signal stack: "gort: fatal: stack overflow in task <id>
 * (<size>-byte stack)", then abort.
 */
#ifndef GORT_RUNTIME_STACK_H
#define GORT_RUNTIME_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GORT_RT_STACK_GUARD ((size_t)64 * 1024) /* large frames cannot jump over it */
#define GORT_RT_STACK_CANARY 0x6f72742d7374616bULL

typedef enum gort_rt_guard_mode {
    GORT_RT_GUARD_MADV = 0,
    GORT_RT_GUARD_MPROTECT = 1,
    GORT_RT_GUARD_NONE = 2,
} gort_rt_guard_mode;

typedef struct gort_rt_stack {
    void *lo, *hi;        /* usable range */
    bool guarded;         /* a guard region sits below lo */
    bool mprotected;      /* ... installed with mprotect (counts against the budget) */
    bool chunked;         /* carved from a chunk: freed only by gort_rt_stack_unmap_chunks */
    unsigned valgrind_id; /* its registration with valgrind, when built with its header */
} gort_rt_stack;

/* Maps a stack of size bytes (a multiple of the page size). Returns 0 or
 * GO_ENOMEM. Pooled stacks (the scheduler's default size; one size between two
 * gort_rt_stack_unmap_chunks) are carved from chunks of 64: gort_rt_stack_unmap
 * releases their guard accounting, but their memory goes only with
 * gort_rt_stack_unmap_chunks, once no stack is in use (the runtime stopped). */
int gort_rt_stack_map(gort_rt_stack *s, size_t size, bool pooled);
void gort_rt_stack_unmap(gort_rt_stack *s);
void gort_rt_stack_unmap_chunks(void);
/* Gives the pages of a free stack back to the OS, keeping the mapping and
 * its guard. */
void gort_rt_stack_release_pages(gort_rt_stack *s);
/* True if b follows a in the same chunk, separated only by b's guard. */
bool gort_rt_stack_adjacent(const gort_rt_stack *a, const gort_rt_stack *b);
/* Releases the pages of first..last, a run of adjacent stacks, in one call. */
void gort_rt_stack_release_run(const gort_rt_stack *first, const gort_rt_stack *last);

/* The guard mode in force: "madv_guard", "mprotect" or "none" (with the
 * mprotect fallback past its budget, stacks mapped after it ran out are
 * unguarded: gort_rt_stack_unguarded_count says how many). */
const char *gort_rt_stack_guard_mode_name(void);
uint64_t gort_rt_stack_unguarded_count(void);

/* Rounds a requested stack size to whole pages within the supported range;
 * returns 0 if the size is out of range. */
size_t gort_rt_stack_round_size(size_t size);
size_t gort_rt_stack_default_size(void);

/* Checks an unguarded stack: fatal if sp is below lo or the canary is gone. */
void gort_rt_stack_check(const gort_rt_stack *s, const void *sp, uint64_t task_id);

/* The overflow handler. The scheduler tells it, per worker thread, which stack
 * is running and whose it is; it installs itself once per process and an
 * alternate signal stack per thread. */
void gort_rt_stack_handler_install(void);
/* Per worker thread: sets up its alternate signal stack; returns it. */
void *gort_rt_stack_thread_init(void);
void gort_rt_stack_thread_fini(void *altstack);
/* Publishes the running stack of this thread (NULL: none) for the handler. */
void gort_rt_stack_set_running(const gort_rt_stack *s, uint64_t task_id);

#endif
