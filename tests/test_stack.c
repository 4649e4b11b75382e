/* test_stack.c - task stacks (runtime/stack.c) in the guard mode the process
 * picks by default (madv_guard where the kernel has it, else mprotect).
 * The unguarded mode and its canary are in test_stack_unguarded.c: the mode is
 * chosen once per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "gort.h"
#include "runtime/stack.h"

static size_t page(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

static void round_size_rejects_sizes_below_16k(void **state) {
    (void)state;
    assert_int_equal(gort_rt_stack_round_size(0), 0);
    assert_int_equal(gort_rt_stack_round_size(1), 0);
    assert_int_equal(gort_rt_stack_round_size(16 * 1024 - 1), 0);
}

static void round_size_rejects_sizes_above_1g(void **state) {
    (void)state;
    assert_int_equal(gort_rt_stack_round_size(((size_t)1 << 30) + 1), 0);
    assert_int_equal(gort_rt_stack_round_size(SIZE_MAX), 0);
}

static void round_size_keeps_whole_pages_within_bounds(void **state) {
    (void)state;
    assert_int_equal(gort_rt_stack_round_size(16 * 1024), 16 * 1024);
    assert_int_equal(gort_rt_stack_round_size((size_t)1 << 30), (size_t)1 << 30);
    assert_int_equal(gort_rt_stack_round_size(64 * 1024), 64 * 1024);
}

static void round_size_rounds_up_to_a_whole_page(void **state) {
    (void)state;
    assert_int_equal(gort_rt_stack_round_size(16 * 1024 + 1), 16 * 1024 + page());
    assert_int_equal(gort_rt_stack_round_size(100 * 1000),
                     (100 * 1000 + page() - 1) / page() * page());
}

static void default_size_is_a_valid_size(void **state) {
    (void)state;
    size_t d = gort_rt_stack_default_size();
    assert_int_equal(gort_rt_stack_round_size(d), d);
}

static void guard_mode_is_one_of_the_three(void **state) {
    (void)state;
    const char *m = gort_rt_stack_guard_mode_name();
    assert_non_null(m);
    if (strcmp(m, "madv_guard") != 0 && strcmp(m, "mprotect") != 0 && strcmp(m, "none") != 0)
        fail_msg("guard mode \"%s\"", m);
}

static void map_gives_a_page_aligned_range_of_the_requested_size(void **state) {
    (void)state;
    size_t size = gort_rt_stack_round_size(100 * 1000);
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, size, false), 0);
    assert_non_null(s.lo);
    assert_int_equal((uintptr_t)s.lo % page(), 0);
    assert_int_equal((uintptr_t)s.hi % page(), 0);
    assert_int_equal((size_t)((char *)s.hi - (char *)s.lo), size);
    gort_rt_stack_unmap(&s);
    assert_null(s.lo);
    assert_null(s.hi);
}

static void whole_usable_range_can_be_written_and_read_back(void **state) {
    (void)state;
    size_t size = 256 * 1024;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, size, false), 0);
    unsigned char *p = s.lo;
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < size; i++)
        if (p[i] != (unsigned char)(i * 7))
            fail_msg("byte %zu of the stack reads %u", i, p[i]);
    gort_rt_stack_unmap(&s);
}

static void stacks_in_the_default_mode_are_guarded(void **state) {
    (void)state;
    /* Past the mprotect budget stacks are unguarded, but a fresh process is
     * far from it. */
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, 64 * 1024, false), 0);
    assert_true(s.guarded);
    gort_rt_stack_unmap(&s);
}

/* write(2) from an inaccessible address fails with EFAULT instead of raising
 * a signal: a way to probe the guard without crashing. */
static bool readable(const void *addr) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    errno = 0;
    ssize_t n = write(fds[1], addr, 1);
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    if (n == 1)
        return true;
    assert_int_equal(err, EFAULT);
    return false;
}

static void guard_below_a_guarded_stack_is_inaccessible(void **state) {
    (void)state;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, 64 * 1024, false), 0);
    assert_true(s.guarded);
    assert_true(readable(s.lo));
    assert_false(readable((char *)s.lo - 1));
    assert_false(readable((char *)s.lo - GORT_RT_STACK_GUARD));
    gort_rt_stack_unmap(&s);
}

static void release_pages_keeps_the_stack_usable(void **state) {
    (void)state;
    size_t size = 128 * 1024;
    gort_rt_stack s;
    assert_int_equal(gort_rt_stack_map(&s, size, false), 0);
    void *lo = s.lo, *hi = s.hi;
    memset(s.lo, 0x5a, size);
    gort_rt_stack_release_pages(&s);
    assert_ptr_equal(s.lo, lo);
    assert_ptr_equal(s.hi, hi);
    memset(s.lo, 0xa5, size);
    unsigned char *p = s.lo;
    for (size_t i = 0; i < size; i++)
        if (p[i] != 0xa5)
            fail_msg("byte %zu reads %#x after release and rewrite", i, p[i]);
    if (s.guarded)
        assert_false(readable((char *)s.lo - 1));
    gort_rt_stack_unmap(&s);
}

static void many_stacks_can_be_mapped_at_once(void **state) {
    (void)state;
    enum { N = 1000 };
    static gort_rt_stack s[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(gort_rt_stack_map(&s[i], 64 * 1024, false), 0);
    for (int i = 0; i < N; i++) {
        *(volatile char *)((char *)s[i].hi - 1) = 1; /* one touched page each */
        for (int j = 0; j < i; j += 97)
            assert_true(s[j].hi <= s[i].lo || s[i].hi <= s[j].lo);
    }
    for (int i = 0; i < N; i++)
        gort_rt_stack_unmap(&s[i]);
}

static void pooled_stacks_are_distinct_guarded_and_writable(void **state) {
    (void)state;
    /* More than one chunk's worth, so a second chunk is made too. */
    enum { N = 150 };
    static gort_rt_stack s[N];
    size_t size = gort_rt_stack_default_size();
    for (int i = 0; i < N; i++) {
        assert_int_equal(gort_rt_stack_map(&s[i], size, true), 0);
        assert_int_equal((size_t)((char *)s[i].hi - (char *)s[i].lo), size);
        assert_true(s[i].guarded);
    }
    for (int i = 0; i < N; i++) {
        memset(s[i].lo, i & 0xff, size);
        for (int j = 0; j < i; j++)
            if (!(s[j].hi <= s[i].lo || s[i].hi <= s[j].lo))
                fail_msg("pooled stacks %d and %d overlap", j, i);
    }
    for (int i = 0; i < N; i++) {
        unsigned char *p = s[i].lo;
        assert_int_equal(p[0], i & 0xff);
        assert_int_equal(p[size - 1], i & 0xff);
        assert_false(readable((char *)s[i].lo - 1));
    }
    for (int i = 0; i < N; i++)
        gort_rt_stack_unmap(&s[i]);
    gort_rt_stack_unmap_chunks();
}

static void pooled_request_of_another_size_gets_its_own_mapping(void **state) {
    (void)state;
    size_t size = gort_rt_stack_default_size();
    gort_rt_stack a, b;
    assert_int_equal(gort_rt_stack_map(&a, size, true), 0);
    assert_int_equal(gort_rt_stack_map(&b, size + 2 * page(), true), 0);
    assert_int_equal((size_t)((char *)b.hi - (char *)b.lo), size + 2 * page());
    memset(b.lo, 1, size + 2 * page());
    gort_rt_stack_unmap(&b);
    gort_rt_stack_unmap(&a);
    gort_rt_stack_unmap_chunks();
}

int main(void) {
    unsetenv("GORT_STACK_GUARD"); /* the default mode, whatever the caller's environment */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_size_rejects_sizes_below_16k),
        cmocka_unit_test(round_size_rejects_sizes_above_1g),
        cmocka_unit_test(round_size_keeps_whole_pages_within_bounds),
        cmocka_unit_test(round_size_rounds_up_to_a_whole_page),
        cmocka_unit_test(default_size_is_a_valid_size),
        cmocka_unit_test(guard_mode_is_one_of_the_three),
        cmocka_unit_test(map_gives_a_page_aligned_range_of_the_requested_size),
        cmocka_unit_test(whole_usable_range_can_be_written_and_read_back),
        cmocka_unit_test(stacks_in_the_default_mode_are_guarded),
        cmocka_unit_test(guard_below_a_guarded_stack_is_inaccessible),
        cmocka_unit_test(release_pages_keeps_the_stack_usable),
        cmocka_unit_test(many_stacks_can_be_mapped_at_once),
        cmocka_unit_test(pooled_stacks_are_distinct_guarded_and_writable),
        cmocka_unit_test(pooled_request_of_another_size_gets_its_own_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
