/* test_stack_unguarded.c - stacks with GORT_STACK_GUARD=none: no guard, a
 * canary word at the low end and a stack-pointer check (runtime/stack.c).
 * The mode is chosen once per process, at the first stack call, so it is set
 * in main before anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gort.h"
#include "runtime/stack.h"

static void mode_is_none_when_asked(void **state) {
    (void)state;
    assert_string_equal(gort_rt_stack_guard_mode_name(), "none");
}

static void mapped_stack_is_unguarded_and_starts_with_the_canary(void **state) {
    (void)state;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, 64 * 1024, false), 0);
    assert_false(s.guarded);
    assert_false(s.mprotected);
    assert_true(*(uint64_t *)s.lo == GORT_RT_STACK_CANARY);
    gort_rt_stack_unmap(&s);
}

static void unguarded_count_follows_map_and_unmap(void **state) {
    (void)state;
    uint64_t before = gort_rt_stack_unguarded_count();
    gort_rt_stack a, b;
    assert_int_equal(gort_rt_stack_map(&a, 64 * 1024, false), 0);
    assert_int_equal(gort_rt_stack_map(&b, 32 * 1024, false), 0);
    assert_int_equal(gort_rt_stack_unguarded_count(), before + 2);
    gort_rt_stack_unmap(&a);
    assert_int_equal(gort_rt_stack_unguarded_count(), before + 1);
    gort_rt_stack_unmap(&b);
    assert_int_equal(gort_rt_stack_unguarded_count(), before);
}

static void check_accepts_a_stack_pointer_inside_with_the_canary_intact(void **state) {
    (void)state;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, 64 * 1024, false), 0);
    gort_rt_stack_check(&s, (char *)s.hi - 64, 1);
    gort_rt_stack_check(&s, (char *)s.lo + 4096, 1);
    gort_rt_stack_unmap(&s);
}

/* Runs fn(s) in a child process; returns how it died and what it printed. */
typedef void (*child_fn)(gort_rt_stack *s);

static int run_in_child(child_fn fn, char *out, size_t outsz) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        gort_rt_stack s;
        if (gort_rt_stack_map(&s, 64 * 1024, false) != 0)
            _exit(3);
        fn(&s);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < outsz - 1 && (r = read(fds[0], out + n, outsz - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void check_with_sp_near_lo(gort_rt_stack *s) {
    gort_rt_stack_check(s, (char *)s->lo + 16, 77);
}

static void check_reports_a_stack_pointer_near_the_low_end(void **state) {
    (void)state;
    char out[512];
    int status = run_in_child(check_with_sp_near_lo, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "gort: fatal: stack overflow in task 77 (65536-byte stack)\n"));
}

static void check_with_canary_overwritten(gort_rt_stack *s) {
    *(volatile uint64_t *)s->lo = 0;
    gort_rt_stack_check(s, (char *)s->hi - 64, 78);
}

static void check_reports_an_overwritten_canary(void **state) {
    (void)state;
    char out[512];
    int status = run_in_child(check_with_canary_overwritten, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "gort: fatal: stack overflow in task 78 (65536-byte stack)\n"));
}

static void release_pages_keeps_the_canary(void **state) {
    (void)state;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, 64 * 1024, false), 0);
    memset((char *)s.lo + 8, 0x77, 64 * 1024 - 8);
    gort_rt_stack_release_pages(&s);
    assert_true(*(uint64_t *)s.lo == GORT_RT_STACK_CANARY);
    gort_rt_stack_check(&s, (char *)s.hi - 64, 1);
    gort_rt_stack_unmap(&s);
}

/* ---- the scheduler on unguarded stacks ---------------------------------------- */

typedef struct unguarded_run {
    atomic_int done;
    atomic_long sum;
    const char *mode;
} unguarded_run;

static void add_with_yields(void *arg) {
    unguarded_run *r = arg;
    volatile char frame[2048];
    memset((char *)frame, 1, sizeof frame);
    for (int i = 0; i < 10; i++)
        go_yield();
    atomic_fetch_add(&r->sum, frame[100]);
    atomic_fetch_add(&r->done, 1);
}

static int unguarded_main(void *arg) {
    unguarded_run *r = arg;
    for (int i = 0; i < 100; i++)
        if (go_spawn(add_with_yields, r) != 0)
            return 1;
    while (atomic_load(&r->done) < 100)
        go_yield();
    go_sched_stats st;
    go_sched_stats_get(&st);
    r->mode = st.stack_guard;
    return 0;
}

static void tasks_run_on_unguarded_stacks(void **state) {
    (void)state;
    unguarded_run r = {0};
    setenv("GORT_MAXPROCS", "2", 1);
    assert_int_equal(go_main(unguarded_main, &r), 0);
    assert_int_equal(atomic_load(&r.sum), 100);
    assert_non_null(r.mode);
    assert_string_equal(r.mode, "none");
}

int main(void) {
    setenv("GORT_STACK_GUARD", "none", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mode_is_none_when_asked),
        cmocka_unit_test(mapped_stack_is_unguarded_and_starts_with_the_canary),
        cmocka_unit_test(unguarded_count_follows_map_and_unmap),
        cmocka_unit_test(check_accepts_a_stack_pointer_inside_with_the_canary_intact),
        cmocka_unit_test(check_reports_a_stack_pointer_near_the_low_end),
        cmocka_unit_test(check_reports_an_overwritten_canary),
        cmocka_unit_test(release_pages_keeps_the_canary),
        cmocka_unit_test(tasks_run_on_unguarded_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
