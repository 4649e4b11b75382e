/* crash_sync_misuse.c - misuse of task-aware sync that Go answers with a
 * panic is fatal (include/gort/sync.h, DESIGN.md section 6).
 *
 *   crash_sync_misuse mutex_unlock           unlock of a zeroed (never locked) mutex
 *   crash_sync_misuse mutex_unlock_twice     lock, unlock, unlock
 *   crash_sync_misuse mutex_unlock_thread    unlock of an unlocked mutex from the
 *                                            (unattached) thread that called go_start
 *   crash_sync_misuse wg_negative            go_waitgroup_add(-1) on a zero counter
 *   crash_sync_misuse wg_done_extra          add(2), done, done, done
 *   crash_sync_misuse wg_add_negative_big    add(3), add(-4)
 *   crash_sync_misuse rw_runlock             runlock of a zeroed rwmutex
 *   crash_sync_misuse rw_runlock_twice       rlock, runlock, runlock
 *   crash_sync_misuse rw_runlock_write_locked  lock, then runlock (no reader)
 *   crash_sync_misuse rw_unlock              unlock of a zeroed rwmutex
 *   crash_sync_misuse rw_unlock_twice        lock, unlock, unlock
 *   crash_sync_misuse rw_unlock_read_locked  rlock, then unlock (no writer)
 *
 * Expected: one line "gort: fatal: <what>" on stderr, then SIGABRT
 * (registered in crash_tests.cmake). Each case prints what it is about to do
 * first, so that a missing abort shows what did not fail. */
#include <stdio.h>
#include <string.h>

#include "gort.h"
#include "tests/gort_test.h"

static const char *mode;

static void say(const char *what) {
    fprintf(stderr, "crash_sync_misuse: %s: %s\n", mode, what);
    fflush(stderr);
}

static int misuse(void *arg) {
    (void)arg;
    go_mutex m = GO_MUTEX_INIT;
    go_waitgroup wg = GO_WAITGROUP_INIT;
    go_rwmutex rw = GO_RWMUTEX_INIT;
    if (strcmp(mode, "mutex_unlock") == 0) {
        say("unlock of a zeroed mutex");
        go_mutex_unlock(&m);
    } else if (strcmp(mode, "mutex_unlock_twice") == 0) {
        go_mutex_lock(&m);
        go_mutex_unlock(&m);
        say("second unlock");
        go_mutex_unlock(&m);
    } else if (strcmp(mode, "wg_negative") == 0) {
        say("add(-1) on a zero counter");
        go_waitgroup_add(&wg, -1);
    } else if (strcmp(mode, "wg_done_extra") == 0) {
        go_waitgroup_add(&wg, 2);
        go_waitgroup_done(&wg);
        go_waitgroup_done(&wg);
        say("third done after add(2)");
        go_waitgroup_done(&wg);
    } else if (strcmp(mode, "wg_add_negative_big") == 0) {
        go_waitgroup_add(&wg, 3);
        say("add(-4) after add(3)");
        go_waitgroup_add(&wg, -4);
    } else if (strcmp(mode, "rw_runlock") == 0) {
        say("runlock of a zeroed rwmutex");
        go_rwmutex_runlock(&rw);
    } else if (strcmp(mode, "rw_runlock_twice") == 0) {
        go_rwmutex_rlock(&rw);
        go_rwmutex_runlock(&rw);
        say("second runlock");
        go_rwmutex_runlock(&rw);
    } else if (strcmp(mode, "rw_runlock_write_locked") == 0) {
        go_rwmutex_lock(&rw);
        say("runlock of a write-locked rwmutex");
        go_rwmutex_runlock(&rw);
    } else if (strcmp(mode, "rw_unlock") == 0) {
        say("unlock of a zeroed rwmutex");
        go_rwmutex_unlock(&rw);
    } else if (strcmp(mode, "rw_unlock_twice") == 0) {
        go_rwmutex_lock(&rw);
        go_rwmutex_unlock(&rw);
        say("second unlock");
        go_rwmutex_unlock(&rw);
    } else if (strcmp(mode, "rw_unlock_read_locked") == 0) {
        go_rwmutex_rlock(&rw);
        say("unlock of a read-locked rwmutex");
        go_rwmutex_unlock(&rw);
    } else {
        fprintf(stderr, "crash_sync_misuse: unknown mode %s\n", mode);
        return 2;
    }
    printf("crash_sync_misuse: %s: the runtime did not abort\n", mode);
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv) {
    mode = argc > 1 ? argv[1] : "mutex_unlock";
    if (strcmp(mode, "mutex_unlock_thread") == 0) {
        static go_mutex m; /* static memory: fine for an unattached thread */
        go_config cfg = {.workers = 1};
        if (go_start(&cfg) != 0) {
            printf("go_start failed\n");
            return 1;
        }
        go_mutex_lock(&m);
        go_mutex_unlock(&m);
        say("second unlock, from the thread that called go_start");
        go_mutex_unlock(&m);
        printf("crash_sync_misuse: %s: the runtime did not abort\n", mode);
        return 1;
    }
    int rc = gort_test_run(1, misuse, NULL);
    printf("crash_sync_misuse: %s: go_main returned %d: the runtime did not abort\n", mode, rc);
    return 1;
}
