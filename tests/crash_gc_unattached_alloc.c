/* crash_gc_unattached_alloc.c - allocating from a thread that is not attached
 * to the runtime is fatal (DESIGN.md sections 2 and 6, include/gort/gc.h).
 *
 *   crash_gc_unattached_alloc new       go_new from the thread that called go_start
 *   crash_gc_unattached_alloc bytes     go_alloc_bytes from that thread
 *   crash_gc_unattached_alloc array     go_new_array from that thread
 *   crash_gc_unattached_alloc large     go_alloc_bytes of a large object from that thread
 *   crash_gc_unattached_alloc thread    go_new from a plain thread the program started
 *   crash_gc_unattached_alloc detached  go_new from a thread after go_thread_detach
 *                                       (its allocations while attached succeed)
 *
 * Expected: one line "gort: fatal: ... alloc... not attached ..." on stderr,
 * then SIGABRT (registered in crash_tests.cmake). */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "gort.h"

typedef struct pair {
    struct pair *next;
    long value;
} pair;

static const size_t pair_ptrs[] = {0};
static const go_type pair_type = {"pair", sizeof(pair), 1, pair_ptrs, NULL};

static void new_from_plain_thread(void *arg) {
    (void)arg;
    void *p = go_new(&pair_type); /* fatal */
    printf("go_new from a plain thread returned %p: the runtime did not abort\n", p);
    fflush(stdout);
}

static void new_after_detach(void *arg) {
    (void)arg;
    if (go_thread_attach() != 0) {
        printf("go_thread_attach failed\n");
        return;
    }
    pair *p = go_new(&pair_type);
    if (p == NULL) {
        printf("go_new from an attached thread returned NULL\n");
        return;
    }
    p->value = 42;
    go_thread_detach();
    fprintf(stderr, "attached allocation ok; now detached\n");
    void *q = go_new(&pair_type); /* fatal */
    printf("go_new after go_thread_detach returned %p: the runtime did not abort\n", q);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "new";
    go_config cfg = {.workers = 1};
    if (go_start(&cfg) != 0) {
        printf("go_start failed\n");
        return 1;
    }
    void *p = NULL;
    if (strcmp(mode, "new") == 0) {
        p = go_new(&pair_type);
    } else if (strcmp(mode, "bytes") == 0) {
        p = go_alloc_bytes(24);
    } else if (strcmp(mode, "array") == 0) {
        p = go_new_array(&pair_type, 10);
    } else if (strcmp(mode, "large") == 0) {
        p = go_alloc_bytes(1 << 20);
    } else if (strcmp(mode, "thread") == 0 || strcmp(mode, "detached") == 0) {
        uv_thread_t th;
        if (uv_thread_create(&th,
                             strcmp(mode, "thread") == 0 ? new_from_plain_thread : new_after_detach,
                             NULL) != 0) {
            printf("uv_thread_create failed\n");
            return 1;
        }
        uv_thread_join(&th);
    } else {
        fprintf(stderr, "usage: %s new|bytes|array|large|thread|detached\n", argv[0]);
        return 2;
    }
    printf("allocation in mode %s returned %p: the runtime did not abort\n", mode, p);
    return 1;
}
