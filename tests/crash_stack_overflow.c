/* crash_stack_overflow.c - a task that recurses without bound dies with
 * "gort: fatal: stack overflow in task <id> (<size>-byte stack)" and SIGABRT.
 *
 *   crash_stack_overflow default    the process's default guard (madv_guard or mprotect)
 *   crash_stack_overflow mprotect   GORT_STACK_GUARD=mprotect
 *   crash_stack_overflow none       GORT_STACK_GUARD=none: no guard, so the
 *                                   recursion yields every few frames and the
 *                                   check at the switch catches it (one
 *                                   worker, main yielding: every yield switches)
 *   crash_stack_overflow none-alone GORT_STACK_GUARD=none, the recursing task
 *                                   alone (main parked): its yields find
 *                                   nothing else to run, and must still check
 *
 * The mode is set with setenv before the first stack is mapped (the guard mode
 * is chosen once per process). Registered in crash_tests.cmake. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

static volatile long depth_limit =
    LONG_MAX;                     /* never reached; keeps the recursion finite to compilers */
static int yield_every;           /* 0: never yield */
static const char *expected_mode; /* NULL: any */
static bool main_parks;           /* leave the recursing task alone */
static int workers = 2;

static __attribute__((noinline)) long recurse(long depth) {
    volatile char frame[1024];
    frame[sizeof frame - 1] = (char)depth;
    frame[sizeof frame / 2] = (char)depth;
    frame[0] = (char)depth;
    if (depth >= depth_limit)
        return frame[0];
    if (yield_every > 0 && depth % yield_every == 0)
        go_yield();
    return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1]; /* not a tail call */
}

static void overflow(void *arg) {
    (void)arg;
    recurse(1);
}

static int main_fn(void *arg) {
    (void)arg;
    go_sched_stats st;
    go_sched_stats_get(&st);
    printf("guard mode: %s\n", st.stack_guard);
    fflush(stdout);
    if (expected_mode != NULL && strcmp(st.stack_guard, expected_mode) != 0) {
        printf("expected guard mode %s\n", expected_mode);
        return 3;
    }
    if (go_spawn(overflow, NULL) != 0)
        return 4;
    if (main_parks)
        gort_sched_park(NULL, NULL, "forever"); /* never readied */
    for (;;)
        go_yield(); /* the overflow aborts the process */
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    if (strcmp(mode, "default") == 0) {
        unsetenv("GORT_STACK_GUARD");
    } else if (strcmp(mode, "mprotect") == 0) {
        setenv("GORT_STACK_GUARD", "mprotect", 1);
        expected_mode = "mprotect";
    } else if (strcmp(mode, "none") == 0) {
        setenv("GORT_STACK_GUARD", "none", 1);
        expected_mode = "none";
        yield_every = 4; /* about 4 KiB between checks: well inside the 64 KiB below lo */
        workers = 1;
    } else if (strcmp(mode, "none-alone") == 0) {
        setenv("GORT_STACK_GUARD", "none", 1);
        expected_mode = "none";
        yield_every = 4;
        main_parks = true;
    } else {
        fprintf(stderr, "usage: %s default|mprotect|none|none-alone\n", argv[0]);
        return 2;
    }
    int rc = gort_test_run(workers, main_fn, NULL);
    printf("go_main returned %d: the overflow was not caught\n", rc);
    return 1;
}
