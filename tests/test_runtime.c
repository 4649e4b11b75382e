/* test_runtime.c - the platform layer: error strings, configuration from the
 * environment, the monotonic clock and the futex-based event (runtime/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "gort.h"
#include "runtime/rt.h"

/* ---- go_strerror ------------------------------------------------------------ */

static const struct {
    int code;
    const char *name;
} all_codes[] = {
    {GO_EAGAIN, "GO_EAGAIN"},       {GO_ENOMEM, "GO_ENOMEM"},   {GO_EBUSY, "GO_EBUSY"},
    {GO_EINVAL, "GO_EINVAL"},       {GO_ENOSYS, "GO_ENOSYS"},   {GO_ETIMEDOUT, "GO_ETIMEDOUT"},
    {GO_ECANCELED, "GO_ECANCELED"}, {GO_ECLOSED, "GO_ECLOSED"},
};
#define NCODES (sizeof all_codes / sizeof all_codes[0])

static void strerror_names_every_go_code_with_its_own_message(void **state) {
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = go_strerror(all_codes[i].code);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        if (strstr(s, "nknown") != NULL)
            fail_msg("go_strerror(%s) = \"%s\"", all_codes[i].name, s);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, go_strerror(all_codes[j].code)) == 0)
                fail_msg("%s and %s share the message \"%s\"", all_codes[i].name, all_codes[j].name,
                         s);
    }
}

static void strerror_of_a_libuv_code_is_libuvs_message(void **state) {
    (void)state;
    /* GO_Exxx == UV_Exxx: both libraries' codes mean the same thing. */
    assert_string_equal(go_strerror(GO_ENOMEM), uv_strerror(UV_ENOMEM));
    assert_string_equal(go_strerror(GO_EINVAL), uv_strerror(UV_EINVAL));
    assert_string_equal(go_strerror(UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
}

static void strerror_of_closed_mentions_the_channel_being_closed(void **state) {
    (void)state;
    assert_non_null(strstr(go_strerror(GO_ECLOSED), "closed"));
}

static void strerror_of_an_unknown_positive_code_is_unknown_error(void **state) {
    (void)state;
    assert_string_equal(go_strerror(7), "unknown error");
}

static void strerror_of_an_unknown_negative_code_is_a_static_unknown_error(void **state) {
    (void)state;
    /* gort/error.h: "A static string naming err: GO_Exxx, UV_Exxx, or
     * "unknown error"." A code that neither library knows must not produce
     * a fresh heap string per call (LeakSanitizer reports those). */
    const char *a = go_strerror(-123456);
    const char *b = go_strerror(-123456);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(a, "unknown error");
}

/* ---- gort_rt_env_int -------------------------------------------------------- */

#define VAR "GORT_TEST_ENV_INT"

/* Calls gort_rt_env_int with stderr captured into out (NUL-terminated). */
static int64_t env_int_capturing(char *out, size_t outsz, int64_t def, int64_t min, int64_t max,
                                 bool suffix) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    int64_t v = gort_rt_env_int(VAR, def, min, max, suffix);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, outsz - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return v;
}

static void expect_env_value(const char *value, int64_t def, int64_t min, int64_t max, bool suffix,
                             int64_t expected) {
    char err[512];
    setenv(VAR, value, 1);
    int64_t v = env_int_capturing(err, sizeof err, def, min, max, suffix);
    unsetenv(VAR);
    if (v != expected)
        fail_msg("%s=%s gave %lld, expected %lld", VAR, value, (long long)v, (long long)expected);
    if (err[0] != '\0')
        fail_msg("%s=%s printed \"%s\"", VAR, value, err);
}

static void expect_env_rejected(const char *value, int64_t def, int64_t min, int64_t max,
                                bool suffix) {
    char err[512];
    setenv(VAR, value, 1);
    int64_t v = env_int_capturing(err, sizeof err, def, min, max, suffix);
    unsetenv(VAR);
    if (v != def)
        fail_msg("%s=%s gave %lld, expected the default %lld", VAR, value, (long long)v,
                 (long long)def);
    if (strstr(err, VAR) == NULL)
        fail_msg("%s=%s: expected a line naming the variable on stderr, got \"%s\"", VAR, value,
                 err);
    size_t len = strlen(err);
    if (len == 0 || err[len - 1] != '\n' || memchr(err, '\n', len - 1) != NULL)
        fail_msg("%s=%s: expected exactly one line, got \"%s\"", VAR, value, err);
}

static void env_int_returns_the_default_when_unset(void **state) {
    (void)state;
    char err[512];
    unsetenv(VAR);
    assert_int_equal(env_int_capturing(err, sizeof err, 17, 1, 100, true), 17);
    assert_string_equal(err, "");
}

static void env_int_parses_a_decimal_integer(void **state) {
    (void)state;
    expect_env_value("42", 7, 1, 100, false, 42);
}

static void env_int_accepts_the_bounds_of_its_range(void **state) {
    (void)state;
    expect_env_value("1", 7, 1, 100, false, 1);
    expect_env_value("100", 7, 1, 100, false, 100);
}

static void env_int_scales_k_m_g_suffixes_by_powers_of_1024(void **state) {
    (void)state;
    int64_t max = (int64_t)1 << 40;
    expect_env_value("4K", 0, 0, max, true, 4096);
    expect_env_value("3M", 0, 0, max, true, (int64_t)3 << 20);
    expect_env_value("2G", 0, 0, max, true, (int64_t)2 << 30);
}

static void env_int_rejects_a_suffix_when_suffixes_are_not_allowed(void **state) {
    (void)state;
    expect_env_rejected("4K", 9, 0, (int64_t)1 << 40, false);
}

static void env_int_rejects_garbage_with_one_line_naming_the_variable(void **state) {
    (void)state;
    expect_env_rejected("abc", 9, 0, 1000, true);
    expect_env_rejected("12abc", 9, 0, 1000, true);
    expect_env_rejected("4KB", 9, 0, (int64_t)1 << 40, true);
    expect_env_rejected("4X", 9, 0, (int64_t)1 << 40, true);
    expect_env_rejected(" ", 9, 0, 1000, true);
}

static void env_int_rejects_values_out_of_range(void **state) {
    (void)state;
    expect_env_rejected("0", 9, 1, 1000, false);
    expect_env_rejected("1001", 9, 1, 1000, false);
    expect_env_rejected("2K", 9, 1, 1000, true);
}

static void env_int_rejects_values_that_overflow(void **state) {
    (void)state;
    expect_env_rejected("99999999999999999999", 9, 0, INT64_MAX, true);
    expect_env_rejected("9223372036854775807G", 9, 0, INT64_MAX, true);
}

/* ---- go_now ------------------------------------------------------------------ */

static void now_never_goes_backwards(void **state) {
    (void)state;
    int64_t prev = go_now();
    for (int i = 0; i < 100000; i++) {
        int64_t t = go_now();
        if (t < prev)
            fail_msg("go_now went from %lld to %lld", (long long)prev, (long long)t);
        prev = t;
    }
}

static void now_advances_by_at_least_a_sleep(void **state) {
    (void)state;
    int64_t t0 = go_now();
    uv_sleep(2);
    int64_t t1 = go_now();
    assert_true(t1 - t0 >= 2 * 1000 * 1000);
}

typedef struct now_pass {
    gort_rt_event sent;
    int64_t sender_time; /* published by the event */
    int64_t receiver_time;
} now_pass;

static void now_sender(void *arg) {
    now_pass *p = arg;
    p->sender_time = go_now();
    gort_rt_event_set(&p->sent);
}

static void now_is_monotonic_across_threads(void **state) {
    (void)state;
    now_pass p = {0};
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, now_sender, &p), 0);
    gort_rt_event_wait(&p.sent);
    p.receiver_time = go_now();
    uv_thread_join(&th);
    assert_true(p.receiver_time >= p.sender_time);
}

/* ---- gort_rt_event -------------------------------------------------------------- */

static void event_wait_returns_at_once_when_already_set(void **state) {
    (void)state;
    gort_rt_event e = {0};
    gort_rt_event_set(&e);
    gort_rt_event_wait(&e);
    gort_rt_event_wait(&e); /* stays set */
}

typedef struct event_handoff {
    gort_rt_event ready;
    int payload; /* plain: ordered by the event */
} event_handoff;

static void event_setter(void *arg) {
    event_handoff *h = arg;
    uv_sleep(5); /* let the waiter block first most of the time (not required) */
    h->payload = 4242;
    gort_rt_event_set(&h->ready);
}

static void event_set_on_another_thread_wakes_the_waiter_and_publishes_writes(void **state) {
    (void)state;
    event_handoff h = {0};
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, event_setter, &h), 0);
    gort_rt_event_wait(&h.ready);
    int seen = h.payload;
    uv_thread_join(&th);
    assert_int_equal(seen, 4242);
}

typedef struct event_waiter_arg {
    gort_rt_event go;
    atomic_int woke;
} event_waiter_arg;

static void event_waiter(void *arg) {
    event_waiter_arg *a = arg;
    gort_rt_event_wait(&a->go);
    atomic_fetch_add(&a->woke, 1);
}

static void event_set_wakes_every_waiting_thread(void **state) {
    (void)state;
    event_waiter_arg a = {0};
    uv_thread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(uv_thread_create(&th[i], event_waiter, &a), 0);
    uv_sleep(5);
    gort_rt_event_set(&a.go);
    for (int i = 0; i < 4; i++)
        uv_thread_join(&th[i]);
    assert_int_equal(atomic_load(&a.woke), 4);
}

#define PINGPONG_ROUNDS 5000

typedef struct event_pingpong {
    gort_rt_event ping, pong;
    int value;  /* plain: each side touches it only while it holds the turn */
    int errors; /* written by the thread only; read after join */
} event_pingpong;

static void event_ponger(void *arg) {
    event_pingpong *p = arg;
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        gort_rt_event_wait(&p->ping);
        gort_rt_event_reset(&p->ping);
        if (p->value != 2 * i + 1)
            p->errors++;
        p->value++;
        gort_rt_event_set(&p->pong);
    }
}

static void event_reset_rearms_it_for_a_ping_pong_between_threads(void **state) {
    (void)state;
    event_pingpong p = {0};
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, event_ponger, &p), 0);
    int errors = 0;
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        if (p.value != 2 * i)
            errors++;
        p.value++;
        gort_rt_event_set(&p.ping);
        gort_rt_event_wait(&p.pong);
        gort_rt_event_reset(&p.pong);
    }
    uv_thread_join(&th);
    assert_int_equal(errors, 0);
    assert_int_equal(p.errors, 0);
    assert_int_equal(p.value, 2 * PINGPONG_ROUNDS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_names_every_go_code_with_its_own_message),
        cmocka_unit_test(strerror_of_a_libuv_code_is_libuvs_message),
        cmocka_unit_test(strerror_of_closed_mentions_the_channel_being_closed),
        cmocka_unit_test(strerror_of_an_unknown_positive_code_is_unknown_error),
        cmocka_unit_test(strerror_of_an_unknown_negative_code_is_a_static_unknown_error),
        cmocka_unit_test(env_int_returns_the_default_when_unset),
        cmocka_unit_test(env_int_parses_a_decimal_integer),
        cmocka_unit_test(env_int_accepts_the_bounds_of_its_range),
        cmocka_unit_test(env_int_scales_k_m_g_suffixes_by_powers_of_1024),
        cmocka_unit_test(env_int_rejects_a_suffix_when_suffixes_are_not_allowed),
        cmocka_unit_test(env_int_rejects_garbage_with_one_line_naming_the_variable),
        cmocka_unit_test(env_int_rejects_values_out_of_range),
        cmocka_unit_test(env_int_rejects_values_that_overflow),
        cmocka_unit_test(now_never_goes_backwards),
        cmocka_unit_test(now_advances_by_at_least_a_sleep),
        cmocka_unit_test(now_is_monotonic_across_threads),
        cmocka_unit_test(event_wait_returns_at_once_when_already_set),
        cmocka_unit_test(event_set_on_another_thread_wakes_the_waiter_and_publishes_writes),
        cmocka_unit_test(event_set_wakes_every_waiting_thread),
        cmocka_unit_test(event_reset_rearms_it_for_a_ping_pong_between_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
