/* runtime/stack.c - task stacks (see runtime/stack.h for the guard modes).
 *
 * Each stack is one anonymous mapping (MAP_NORESERVE | MAP_STACK: only touched
 * pages cost memory, and MAP_STACK keeps transparent huge pages away so a
 * parked task costs one 4 KiB page, not 2 MiB). Adjacent stacks of the same
 * kind merge into few kernel mappings unless mprotect splits them, which is why
 * the mprotect mode has a budget.
 *
 * The SIGSEGV handler runs on a per-thread alternate stack. It reports an
 * overflow when the faulting address lies in the guard below the stack that
 * this thread is running; any other fault is handed to the handler that was
 * installed before ours (or the default action).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/rt.h"
#include "runtime/stack.h"

#ifdef GORT_HAVE_VALGRIND /* set by CMake when valgrind's header is installed */
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define STACK_MIN ((size_t)16 * 1024)
#define STACK_MAX ((size_t)1024 * 1024 * 1024)
#if defined(GORT_RT_TSAN) || defined(GORT_RT_ASAN)
#define STACK_DEFAULT ((size_t)256 * 1024) /* sanitizers need room for their frames */
#else
#define STACK_DEFAULT ((size_t)64 * 1024)
#endif

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static gort_rt_guard_mode guard_mode;
static int64_t mprotect_budget; /* guards mprotect may still install */
static _Atomic int64_t mprotect_used;
static _Atomic uint64_t unguarded_count;
static size_t page_size;

static void guard_mode_init(void) {
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    /* Budget: half of the map count (each guard costs two mappings), minus a
     * margin for the rest of the process. */
    long max_map = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &max_map) != 1)
            max_map = 65530;
        fclose(f);
    }
    mprotect_budget = (max_map - 8192) / 2;
    if (mprotect_budget < 0)
        mprotect_budget = 0;

    const char *want = getenv("GORT_STACK_GUARD");
    if (want != NULL && strcmp(want, "none") == 0) {
        guard_mode = GORT_RT_GUARD_NONE;
        return;
    }
    if (want != NULL && strcmp(want, "mprotect") == 0) {
        guard_mode = GORT_RT_GUARD_MPROTECT;
        return;
    }
    if (want != NULL && *want != '\0' && strcmp(want, "madv_guard") != 0)
        fprintf(stderr,
                "gort: ignoring GORT_STACK_GUARD=%s: expected madv_guard, mprotect or none\n",
                want);
    /* Probe MADV_GUARD_INSTALL on a scratch mapping. */
    void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    guard_mode = GORT_RT_GUARD_MPROTECT;
    if (p != MAP_FAILED) {
        if (madvise(p, page_size, MADV_GUARD_INSTALL) == 0)
            guard_mode = GORT_RT_GUARD_MADV;
        munmap(p, page_size);
    }
}

const char *gort_rt_stack_guard_mode_name(void) {
    pthread_once(&guard_once, guard_mode_init);
    switch (guard_mode) {
    case GORT_RT_GUARD_MADV:
        return "madv_guard";
    case GORT_RT_GUARD_MPROTECT:
        return "mprotect";
    default:
        return "none";
    }
}

uint64_t gort_rt_stack_unguarded_count(void) {
    return atomic_load(&unguarded_count);
}

size_t gort_rt_stack_default_size(void) {
    return STACK_DEFAULT;
}

size_t gort_rt_stack_round_size(size_t size) {
    pthread_once(&guard_once, guard_mode_init);
    if (size < STACK_MIN || size > STACK_MAX)
        return 0;
    return (size + page_size - 1) & ~(page_size - 1);
}

/* Stacks of the default size are carved from chunks of CHUNK_STACKS stacks:
 * one mmap and, at teardown, one munmap per chunk instead of per stack (each
 * munmap of touched memory costs a TLB shootdown on every CPU the process ran
 * on). Chunked stacks are recycled through the scheduler's pools and unmapped
 * only by gort_rt_stack_unmap_chunks. */
#define CHUNK_STACKS 64

typedef struct stack_chunk {
    struct stack_chunk *next;
    char *base;
    size_t size;
} stack_chunk;

static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static stack_chunk *chunks;
static size_t chunk_stack_size; /* the size chunks were made for */
static char *chunk_next, *chunk_end;

static void install_guard(gort_rt_stack *s, char *guard_base) {
    s->guarded = false;
    s->mprotected = false;
    if (guard_mode == GORT_RT_GUARD_MADV) {
        s->guarded = madvise(guard_base, GORT_RT_STACK_GUARD, MADV_GUARD_INSTALL) == 0;
    } else if (guard_mode == GORT_RT_GUARD_MPROTECT) {
        if (atomic_fetch_add(&mprotect_used, 1) < mprotect_budget &&
            mprotect(guard_base, GORT_RT_STACK_GUARD, PROT_NONE) == 0) {
            s->guarded = true;
            s->mprotected = true;
        } else {
            atomic_fetch_sub(&mprotect_used, 1);
        }
    }
    if (!s->guarded) {
        atomic_fetch_add(&unguarded_count, 1);
        *(uint64_t *)s->lo = GORT_RT_STACK_CANARY;
    }
}

static char *map_region(size_t total) {
    char *base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return base == MAP_FAILED ? NULL : base;
}

int gort_rt_stack_map(gort_rt_stack *s, size_t size, bool pooled) {
    pthread_once(&guard_once, guard_mode_init);
    size_t total = size + GORT_RT_STACK_GUARD;
    char *base = NULL;
    s->chunked = false;
    pthread_mutex_lock(&chunk_lock);
    if (chunk_stack_size == 0 && pooled)
        chunk_stack_size = size;
    if (pooled && size == chunk_stack_size) {
        if (chunk_next == chunk_end) {
            stack_chunk *c = malloc(sizeof *c);
            char *region = c != NULL ? map_region(total * CHUNK_STACKS) : NULL;
            if (region == NULL) {
                pthread_mutex_unlock(&chunk_lock);
                free(c);
                return GO_ENOMEM;
            }
            c->base = region;
            c->size = total * CHUNK_STACKS;
            c->next = chunks;
            chunks = c;
            chunk_next = region;
            chunk_end = region + c->size;
        }
        base = chunk_next;
        chunk_next += total;
        s->chunked = true;
    }
    pthread_mutex_unlock(&chunk_lock);
    if (!s->chunked && (base = map_region(total)) == NULL)
        return GO_ENOMEM;
    s->lo = base + GORT_RT_STACK_GUARD;
    s->hi = base + total;
    install_guard(s, base);
    /* Every task writes its stack's top page first thing. Populating that
     * page here costs a system call but saves the page fault, which on a VM
     * costs more: 3 us for the call plus 16 us for the first write, against
     * 24 us for a faulting first write, here (parked_chan's create time fell
     * 12%). */
    gort_rt_populate((char *)s->hi - page_size, page_size);
#ifdef GORT_HAVE_VALGRIND
    /* Tell memcheck it is a stack, so that switching onto it is not taken
     * for a huge stack-pointer change. */
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#endif
    return 0;
}

void gort_rt_stack_unmap(gort_rt_stack *s) {
#ifdef GORT_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
#ifdef GORT_RT_ASAN
    __asan_unpoison_memory_region(s->lo, (size_t)((char *)s->hi - (char *)s->lo));
#endif
    if (s->mprotected)
        atomic_fetch_sub(&mprotect_used, 1);
    if (!s->guarded)
        atomic_fetch_sub(&unguarded_count, 1);
    if (s->mprotected && s->chunked) /* undo the split so the chunk can merge again */
        mprotect((char *)s->lo - GORT_RT_STACK_GUARD, GORT_RT_STACK_GUARD, PROT_READ | PROT_WRITE);
    if (!s->chunked)
        munmap((char *)s->lo - GORT_RT_STACK_GUARD,
               (size_t)((char *)s->hi - (char *)s->lo) + GORT_RT_STACK_GUARD);
    s->lo = s->hi = NULL;
}

void gort_rt_stack_unmap_chunks(void) {
    pthread_mutex_lock(&chunk_lock);
    while (chunks != NULL) {
        stack_chunk *c = chunks;
        chunks = c->next;
#ifdef GORT_RT_ASAN
        __asan_unpoison_memory_region(c->base, c->size);
#endif
        munmap(c->base, c->size);
        free(c);
    }
    chunk_next = chunk_end = NULL;
    chunk_stack_size = 0;
    pthread_mutex_unlock(&chunk_lock);
}

void gort_rt_stack_release_pages(gort_rt_stack *s) {
    /* MADV_DONTNEED keeps guards installed by MADV_GUARD_INSTALL. The canary of
     * an unguarded stack lives in its lowest page: keep that page. */
    char *from = (char *)s->lo + (s->guarded ? 0 : page_size);
    madvise(from, (size_t)((char *)s->hi - from), MADV_DONTNEED);
}

bool gort_rt_stack_adjacent(const gort_rt_stack *a, const gort_rt_stack *b) {
    return a->chunked && b->chunked && a->guarded && b->guarded &&
           (char *)b->lo - GORT_RT_STACK_GUARD == (char *)a->hi;
}

void gort_rt_stack_release_run(const gort_rt_stack *first, const gort_rt_stack *last) {
    if (first == last) {
        gort_rt_stack_release_pages((gort_rt_stack *)first);
        return;
    }
    /* The guards in between survive MADV_DONTNEED (MADV_GUARD_INSTALL markers
     * and mprotect'ed ranges alike); only guarded stacks are ever adjacent. */
    madvise(first->lo, (size_t)((char *)last->hi - (char *)first->lo), MADV_DONTNEED);
}

/* ---- overflow detection -------------------------------------------------- */

static _Noreturn void report_overflow(uint64_t task_id, size_t size) {
    char line[128];
    char digits[2][24];
    uint64_t v[2] = {task_id, size};
    int len[2];
    for (int k = 0; k < 2; k++) {
        char tmp[24];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + v[k] % 10);
            v[k] /= 10;
        } while (v[k] != 0);
        for (int i = 0; i < n; i++)
            digits[k][i] = tmp[n - 1 - i];
        len[k] = n;
    }
    size_t off = 0;
    const char *parts[] = {"gort: fatal: stack overflow in task ", NULL, " (", NULL,
                           "-byte stack)\n"};
    for (int i = 0; i < 5; i++) {
        const char *p = parts[i];
        size_t n;
        if (p == NULL) {
            p = digits[i == 1 ? 0 : 1];
            n = (size_t)len[i == 1 ? 0 : 1];
        } else {
            n = strlen(p);
        }
        memcpy(line + off, p, n);
        off += n;
    }
    gort_rt_fatal_raw(line, off);
}

void gort_rt_stack_check(const gort_rt_stack *s, const void *sp, uint64_t task_id) {
    if (s->guarded)
        return;
    if ((const char *)sp < (const char *)s->lo + 256 ||
        *(const uint64_t *)s->lo != GORT_RT_STACK_CANARY)
        report_overflow(task_id, (size_t)((char *)s->hi - (char *)s->lo));
}

static __thread const gort_rt_stack *running_stack;
static __thread uint64_t running_task_id;
static struct sigaction previous_segv, previous_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

void gort_rt_stack_set_running(const gort_rt_stack *s, uint64_t task_id) {
    running_stack = s;
    running_task_id = task_id;
}

static void segv_handler(int sig, siginfo_t *info, void *uctx) {
    const gort_rt_stack *s = running_stack;
    if (s != NULL && s->guarded) {
        const char *addr = info->si_addr;
        if (addr >= (const char *)s->lo - GORT_RT_STACK_GUARD && addr < (const char *)s->lo)
            report_overflow(running_task_id, (size_t)((char *)s->hi - (char *)s->lo));
    }
    /* Not ours: hand the fault to whoever was there before. */
    struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction != NULL) {
            prev->sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN &&
               prev->sa_handler != NULL) {
        prev->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return, so the fault happens again. */
    signal(sig, SIG_DFL);
}

static void handler_install_once(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
}

void gort_rt_stack_handler_install(void) {
    pthread_once(&handler_once, handler_install_once);
}

#define ALTSTACK_SIZE ((size_t)64 * 1024)

void *gort_rt_stack_thread_init(void) {
    void *alt =
        mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (alt == MAP_FAILED)
        return NULL;
    stack_t ss = {.ss_sp = alt, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(alt, ALTSTACK_SIZE);
        return NULL;
    }
    return alt;
}

void gort_rt_stack_thread_fini(void *altstack) {
    running_stack = NULL;
    if (altstack == NULL)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(altstack, ALTSTACK_SIZE);
}
