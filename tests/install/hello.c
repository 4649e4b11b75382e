/* hello.c - the install test's program: built against an installed gort with
 * CMake (find_package) and with pkg-config, using only <gort.h>. */
#include <gort.h>
#include <stdio.h>

static int answer; /* written by the spawned task, read after it is done */
static int done;

static void child(void *arg) {
    __atomic_store_n(&answer, *(int *)arg, __ATOMIC_RELAXED);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

static int main_task(void *arg) {
    (void)arg;
    static int forty_two = 42;
    int err = go_spawn(child, &forty_two);
    if (err != 0) {
        printf("go_spawn failed: %s\n", go_strerror(err));
        return 1;
    }
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        go_yield();
    printf("gort install test: task %d says %d\n", go_task_id() != 0,
           __atomic_load_n(&answer, __ATOMIC_RELAXED));
    return 0;
}

int main(void) {
    int rc = go_main(main_task, NULL);
    if (rc != 0) {
        printf("go_main returned %d\n", rc);
        return 1;
    }
    return 0;
}
