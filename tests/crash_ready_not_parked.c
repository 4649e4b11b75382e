/* crash_ready_not_parked.c - readying a task that is not parked is fatal
 * (sched/park.c: exactly one ready per park).
 *
 *   crash_ready_not_parked running   a task readies itself while it runs
 *   crash_ready_not_parked twice     a parked task is readied twice in a row
 *
 * Expected: "gort: fatal: ready of task <id>, which is not parked ..." on
 * stderr, then SIGABRT (registered in crash_tests.cmake). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

static gort_task *_Atomic parked;

static bool publish(gort_task *t, void *arg) {
    (void)arg;
    atomic_store(&parked, t);
    return true;
}

static void park_once(void *arg) {
    (void)arg;
    gort_sched_park(publish, NULL, "crash test");
}

static int ready_running(void *arg) {
    (void)arg;
    gort_sched_ready(gort_sched_current_task());
    return 0; /* not reached */
}

static int ready_twice(void *arg) {
    (void)arg;
    if (go_spawn(park_once, NULL) != 0)
        return 1;
    while (atomic_load(&parked) == NULL)
        go_yield();
    gort_task *t = atomic_load(&parked);
    gort_sched_ready(t);
    gort_sched_ready(t); /* one worker: t has not run since; fatal */
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "running";
    int rc;
    if (strcmp(mode, "running") == 0)
        rc = gort_test_run(2, ready_running, NULL);
    else if (strcmp(mode, "twice") == 0)
        rc = gort_test_run(1, ready_twice, NULL);
    else {
        fprintf(stderr, "usage: %s running|twice\n", argv[0]);
        return 2;
    }
    printf("go_main returned %d: the runtime did not abort\n", rc);
    return 1;
}
