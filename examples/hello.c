/* hello.c - the smallest gort program: tasks, yields and a join by counting. */
#include <stdatomic.h>
#include <stdio.h>

#include <gort.h>

static atomic_int done;

static void greet(void *arg) {
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++)
        go_yield(); /* let the others run */
    printf("hello from task %d (id %llu)\n", n, (unsigned long long)go_task_id());
    atomic_fetch_add(&done, 1);
}

static int main_task(void *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++)
        go_spawn(greet, (void *)(intptr_t)i);
    while (atomic_load(&done) < 4)
        go_yield();
    printf("%d workers, all tasks done\n", go_workers());
    return 0;
}

int main(void) {
    return go_main(main_task, NULL);
}
