/* test_chan.c - channels (include/gort/chan.h, docs/api.md, DESIGN.md
 * sections 2 and 4):
 *   1. every operation and error path: go_chan_new and go_chan_new_noscan of
 *      elements of 0, 1, 3, 8, 24 and 100 bytes and capacities 0, 1 and 1024
 *      (values copied in at the send and out at the receive, exactly
 *      elem_size bytes, nothing beyond); NULL when the buffer's size
 *      overflows; try_ and _timeout operations (timeout 0, GO_FOREVER, values
 *      below -1 give GO_EINVAL, a timed-out operation waited at least its
 *      timeout and left nothing behind); len and cap (NULL: 0); a NULL elem
 *      for a receive that does not want the value;
 *   2. close: buffered values are still received, then GO_ECLOSED with the
 *      value zeroed (and nothing beyond it); every blocked receiver and sender
 *      is woken with GO_ECLOSED and the senders' values are dropped; send,
 *      try_send and send_timeout on a closed channel give GO_ECLOSED, even
 *      when its buffer is full; close racing with senders and receivers
 *      loses and duplicates nothing. Close of a closed or NULL channel is
 *      fatal: crash_chan_close_closed.c, crash_chan_close_null.c;
 *   3. the NULL channel: try_ operations give GO_EAGAIN, _timeout ones
 *      GO_ETIMEDOUT after the timeout, blocking ones block forever (the tasks
 *      are abandoned when go_main returns, as Go abandons goroutines);
 *   4. conformance with Go: the concurrent prime sieve; FIFO order of values
 *      (per sender with several senders, total with one) and of waiting
 *      receivers and senders; the 10,000-task daisy chain; non-blocking
 *      operations against a sleeping partner; zero-size elements; many
 *      producers and consumers on one channel;
 *   5. the collector: a pointer held only by a channel's buffer (wrapped
 *      around, in elements of 8, 24 and 100 bytes) survives collections; a
 *      channel reachable only from a heap object or from another channel's
 *      buffer survives with its values; tokens that move between tasks only
 *      by sends, receives (into locals and straight into heap fields) and
 *      selects, while a task collects back to back with marking in slices
 *      (the world running, the barrier on), are never freed; a receive or
 *      select that writes into a heap field shades the pointer it overwrites
 *      (the deletion-barrier case, DESIGN.md section 7 rule 12);
 *   6. threads that are not tasks: an unattached thread uses channels it
 *      reaches through handles (blocking both ways, try, timeout, close),
 *      with a collection while it is blocked; an attached thread creates a
 *      channel and hands it to a task.
 * Selects are in test_select.c, timers in test_timer.c.
 *
 * How waiters are known to be parked: where a test needs waiters parked in a
 * known order (FIFO of waiters) it runs on ONE worker, where a task that was
 * just spawned runs until it parks before the spawner resumes (the spawner
 * yields until the task has announced itself, then yields again so that a
 * task preempted at a safepoint before its park runs to it first). Elsewhere
 * a short sleep (ct_settle) makes the parked path likely; the checks hold
 * whichever path was taken.
 *
 * Knobs: GORT_TEST_SCALE (sizes), TEST_CHAN_FILTER / TEST_CHAN_SKIP (cmocka
 * name patterns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gc/gc.h"
#include "gort.h"
#include "tests/chan_test.h"

/* =============================================================================================
 * 1. Operations and error paths
 * ============================================================================================= */

#define GUARD 16
#define MAX_ELEM 100

static const size_t elem_sizes[] = {0, 1, 3, 8, 24, 100};
static const size_t capacities[] = {0, 1, 1024};

static uint64_t elem_seed(size_t es, size_t cap, int scan, uint64_t k) {
    return ((uint64_t)es << 40) ^ ((uint64_t)cap << 20) ^ ((uint64_t)scan << 60) ^ k;
}

/* Partner of an unbuffered channel: receives (a->j > 0) or sends (a->j < 0)
 * |a->j| values of a->i bytes, pattern seeds a->k + n. */
static void unbuffered_partner(void *arg) {
    ct_arg *a = arg;
    go_chan *c = a->a;
    size_t es = (size_t)a->i;
    int64_t count = a->j < 0 ? -a->j : a->j;
    bool receive = a->j > 0;
    uint64_t seed0 = (uint64_t)a->k;
    gort_test_wg *wg = a->raw;
    unsigned char buf[MAX_ELEM + GUARD];
    for (int64_t n = 0; n < count; n++) {
        if (receive) {
            memset(buf, 0xAA, sizeof buf);
            int rc = (n % 2 == 0) ? go_chan_recv(c, es == 0 && n % 4 == 0 ? NULL : buf)
                                  : go_chan_recv_timeout(c, buf, GO_FOREVER);
            CHECK_RC(rc, 0);
            CHECKF(ct_check_pattern(buf, es, seed0 + (uint64_t)n) || (es == 0),
                   "unbuffered recv of %zu-byte value %lld: wrong bytes", es, (long long)n);
            CHECKF(ct_all_bytes(buf + es, GUARD, 0xAA) || (es == 0 && n % 4 == 0),
                   "unbuffered recv of %zu-byte value wrote past the element", es);
            if (es == 0)
                CHECKF(ct_all_bytes(buf, sizeof buf, 0xAA), "recv of a zero-size value wrote");
        } else {
            ct_fill_pattern(buf, es, seed0 + (uint64_t)n);
            int rc = (n % 2 == 0) ? go_chan_send(c, es == 0 ? NULL : buf)
                                  : go_chan_send_timeout(c, buf, GO_FOREVER);
            CHECK_RC(rc, 0);
        }
    }
    gort_test_wg_done(wg);
}

/* A send (is_send) or a receive through entry point k % 4: try_, blocking,
 * timeout 0, timeout GO_FOREVER (on a channel where it can proceed, all four
 * must behave alike). */
static int op_by_entry(go_chan *c, bool is_send, void *e, size_t k) {
    switch (k % 4) {
    case 0:
        return is_send ? go_chan_try_send(c, e) : go_chan_try_recv(c, e);
    case 1:
        return is_send ? go_chan_send(c, e) : go_chan_recv(c, e);
    case 2:
        return is_send ? go_chan_send_timeout(c, e, 0) : go_chan_recv_timeout(c, e, 0);
    default:
        return is_send ? go_chan_send_timeout(c, e, GO_FOREVER)
                       : go_chan_recv_timeout(c, e, GO_FOREVER);
    }
}
static void check_one_channel(size_t es, size_t cap, int scan) {
    go_chan *c = scan ? go_chan_new(es, cap) : go_chan_new_noscan(es, cap);
    CHECKF(c != NULL, "go_chan_new%s(%zu, %zu) returned NULL", scan ? "" : "_noscan", es, cap);
    if (c == NULL)
        return;
    CHECKF(go_chan_cap(c) == cap, "cap of a (%zu, %zu) channel is %zu", es, cap, go_chan_cap(c));
    CHECKF(go_chan_len(c) == 0, "len of a new (%zu, %zu) channel is %zu", es, cap, go_chan_len(c));
    unsigned char src[MAX_ELEM + GUARD], dst[MAX_ELEM + GUARD];
    if (cap > 0) {
        for (size_t k = 0; k < cap; k++) {
            ct_fill_pattern(src, es, elem_seed(es, cap, scan, k));
            const void *e = es == 0 && k % 2 == 0 ? NULL : src;
            int rc = op_by_entry(c, true, (void *)e, k);
            CHECKF(rc == 0, "send %zu of %zu into a (%zu, %zu) channel: %d (%s)", k, cap, es, cap,
                   rc, go_strerror(rc));
            memset(src, 0x55, sizeof src); /* the channel holds its own copy */
            CHECKF(go_chan_len(c) == k + 1, "len %zu after %zu sends (%zu, %zu)", go_chan_len(c),
                   k + 1, es, cap);
        }
        CHECK_RC(go_chan_try_send(c, src), GO_EAGAIN);
        CHECK_RC(go_chan_send_timeout(c, src, 0), GO_ETIMEDOUT);
        CHECKF(go_chan_len(c) == cap, "len %zu of a full (%zu, %zu) channel", go_chan_len(c), es,
               cap);
        for (size_t k = 0; k < cap; k++) {
            memset(dst, 0xAA, sizeof dst);
            void *e = es == 0 && k % 2 == 1 ? NULL : dst;
            int rc = op_by_entry(c, false, e, k);
            CHECKF(rc == 0, "recv %zu of %zu from a (%zu, %zu) channel: %d (%s)", k, cap, es, cap,
                   rc, go_strerror(rc));
            CHECKF(ct_check_pattern(dst, es, elem_seed(es, cap, scan, k)),
                   "value %zu of a (%zu, %zu, %s) channel came out wrong (FIFO or copy)", k, es,
                   cap, scan ? "scan" : "noscan");
            CHECKF(ct_all_bytes(dst + es, GUARD, 0xAA),
                   "recv from a (%zu, %zu) channel wrote past the %zu-byte element", es, cap, es);
            CHECKF(go_chan_len(c) == cap - k - 1, "len %zu after %zu receives (%zu, %zu)",
                   go_chan_len(c), k + 1, es, cap);
        }
        memset(dst, 0xAA, sizeof dst);
        CHECK_RC(go_chan_try_recv(c, dst), GO_EAGAIN);
        CHECK_RC(go_chan_recv_timeout(c, dst, 0), GO_ETIMEDOUT);
        CHECKF(ct_all_bytes(dst, sizeof dst, 0xAA), "a failed recv wrote into the element");
    } else {
        memset(dst, 0xAA, sizeof dst);
        CHECK_RC(go_chan_try_send(c, src), GO_EAGAIN);
        CHECK_RC(go_chan_try_recv(c, dst), GO_EAGAIN);
        CHECK_RC(go_chan_send_timeout(c, src, 0), GO_ETIMEDOUT);
        CHECK_RC(go_chan_recv_timeout(c, dst, 0), GO_ETIMEDOUT);
        CHECKF(ct_all_bytes(dst, sizeof dst, 0xAA), "a failed recv wrote into the element");
        /* Hand values over both ways with a partner task. */
        for (int dir = 0; dir < 2; dir++) {
            int count = 12;
            uint64_t seed0 = elem_seed(es, cap, scan, 1000 + 100 * (uint64_t)dir);
            gort_test_wg wg = {0};
            gort_test_wg_add(&wg, 1);
            ct_arg *a = ct_arg_new(c, NULL, NULL, (int64_t)es, dir == 0 ? count : -count);
            if (a == NULL)
                return;
            a->k = (int64_t)seed0;
            a->raw = &wg;
            ct_spawn(unbuffered_partner, a);
            for (int n = 0; n < count; n++) {
                if (dir == 0) {
                    ct_fill_pattern(src, es, seed0 + (uint64_t)n);
                    int rc = (n % 3 == 0) ? go_chan_send_timeout(c, src, 10 * CT_S)
                                          : go_chan_send(c, es == 0 ? NULL : src);
                    CHECK_RC(rc, 0);
                } else {
                    memset(dst, 0xAA, sizeof dst);
                    int rc = (n % 3 == 0) ? go_chan_recv_timeout(c, dst, 10 * CT_S)
                                          : go_chan_recv(c, dst);
                    CHECK_RC(rc, 0);
                    CHECKF(ct_check_pattern(dst, es, seed0 + (uint64_t)n),
                           "unbuffered value %d of %zu bytes came out wrong", n, es);
                    CHECKF(ct_all_bytes(dst + es, GUARD, 0xAA),
                           "unbuffered recv wrote past the %zu-byte element", es);
                }
            }
            gort_test_wg_wait(&wg);
        }
        CHECKF(go_chan_len(c) == 0, "len %zu of an unbuffered channel", go_chan_len(c));
    }
}

static int every_size_main(void *arg) {
    (void)arg;
    for (int scan = 0; scan < 2; scan++)
        for (size_t i = 0; i < sizeof elem_sizes / sizeof *elem_sizes; i++)
            for (size_t j = 0; j < sizeof capacities / sizeof *capacities; j++)
                check_one_channel(elem_sizes[i], capacities[j], scan);
    return 0;
}

static void
channels_of_every_element_size_and_capacity_copy_values_exactly_in_fifo_order(void **state) {
    (void)state;
    WATCH();
    ct_run(2, every_size_main, NULL);
}

/* ---- overflow ----------------------------------------------------------------------------------
 */

static int overflow_main(void *arg) {
    (void)arg;
    static const struct {
        size_t es, cap;
    } bad[] = {
        {SIZE_MAX, 2},
        {SIZE_MAX / 2 + 1, 2},
        {2, SIZE_MAX / 2 + 1},
        {1, SIZE_MAX},
        {8, SIZE_MAX / 8 + 1},
        {3, SIZE_MAX / 4}, /* 3 * cap fits in size_t; slots rounded up to 8 bytes do not */
        {100, SIZE_MAX / 64},
        {(size_t)1 << 32, (size_t)1 << 32},
        {24, SIZE_MAX / 16},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        go_chan *c = go_chan_new(bad[i].es, bad[i].cap);
        CHECKF(c == NULL, "go_chan_new(%zu, %zu) returned a channel (cap %zu), want NULL",
               bad[i].es, bad[i].cap, go_chan_cap(c));
        c = go_chan_new_noscan(bad[i].es, bad[i].cap);
        CHECKF(c == NULL, "go_chan_new_noscan(%zu, %zu) returned a channel (cap %zu), want NULL",
               bad[i].es, bad[i].cap, go_chan_cap(c));
    }
    /* The runtime is fine afterwards. */
    go_chan *c = go_chan_new(8, 4);
    CHECK(c != NULL);
    int64_t v = 5, w = 0;
    if (c != NULL) {
        CHECK_RC(go_chan_send(c, &v), 0);
        CHECK_RC(go_chan_recv(c, &w), 0);
        CHECK(w == 5);
    }
    return 0;
}

static void new_returns_null_when_the_buffer_size_overflows(void **state) {
    (void)state;
    WATCH();
    ct_run(1, overflow_main, NULL);
}

/* ---- try and timeout operations -------------------------------------------------------------- */

static int timeouts_main(void *arg) {
    (void)arg;
    go_chan *full = go_chan_new_noscan(8, 1);
    go_chan *empty = go_chan_new_noscan(8, 1);
    go_chan *unbuf = go_chan_new_noscan(8, 0);
    CHECK(full != NULL && empty != NULL && unbuf != NULL);
    if (full == NULL || empty == NULL || unbuf == NULL)
        return 0;
    int64_t v = 77, w;
    CHECK_RC(go_chan_send(full, &v), 0);

    static const int64_t bad[] = {-2, -3, -1000, -CT_S, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t t = bad[i];
        w = -5;
        CHECKF(go_chan_recv_timeout(empty, &w, t) == GO_EINVAL, "recv_timeout(empty, %lld)",
               (long long)t);
        CHECKF(go_chan_send_timeout(full, &v, t) == GO_EINVAL, "send_timeout(full, %lld)",
               (long long)t);
        CHECKF(go_chan_recv_timeout(unbuf, &w, t) == GO_EINVAL, "recv_timeout(unbuf, %lld)",
               (long long)t);
        CHECKF(go_chan_send_timeout(unbuf, &v, t) == GO_EINVAL, "send_timeout(unbuf, %lld)",
               (long long)t);
        /* ... also when the operation could proceed: it is not carried out. */
        CHECKF(go_chan_recv_timeout(full, &w, t) == GO_EINVAL,
               "recv_timeout(ready channel, %lld) did not return GO_EINVAL", (long long)t);
        CHECKF(go_chan_send_timeout(empty, &v, t) == GO_EINVAL,
               "send_timeout(channel with room, %lld) did not return GO_EINVAL", (long long)t);
        CHECKF(w == -5, "a recv_timeout rejected with GO_EINVAL wrote the element");
        CHECKF(go_chan_len(full) == 1 && go_chan_len(empty) == 0,
               "an operation rejected with GO_EINVAL changed the buffer (len %zu, %zu)",
               go_chan_len(full), go_chan_len(empty));
    }
    w = -5;
    CHECK_RC(go_chan_try_send(full, &v), GO_EAGAIN);
    CHECK_RC(go_chan_try_recv(empty, &w), GO_EAGAIN);
    CHECK_RC(go_chan_send_timeout(full, &v, 0), GO_ETIMEDOUT);
    CHECK_RC(go_chan_recv_timeout(empty, &w, 0), GO_ETIMEDOUT);
    CHECK_RC(go_chan_try_send(unbuf, &v), GO_EAGAIN);
    CHECK_RC(go_chan_try_recv(unbuf, &w), GO_EAGAIN);
    CHECK_RC(go_chan_send_timeout(unbuf, &v, 0), GO_ETIMEDOUT);
    CHECK_RC(go_chan_recv_timeout(unbuf, &w, 0), GO_ETIMEDOUT);
    CHECKF(w == -5, "a failed receive wrote the element (%lld)", (long long)w);
    /* Ready ones succeed with timeout 0. */
    CHECK_RC(go_chan_recv_timeout(full, &w, 0), 0);
    CHECK(w == 77);
    CHECK_RC(go_chan_send_timeout(empty, &v, 0), 0);
    CHECK(go_chan_len(empty) == 1);
    return 0;
}

static void try_and_timeout_operations_report_eagain_etimedout_and_einval(void **state) {
    (void)state;
    WATCH();
    ct_run(1, timeouts_main, NULL);
}

/* A partner that sleeps a->i ns, then sends a->j (a->k == 0) or receives and
 * records into a->j (a->k == 1) on a->a. */
static void sleepy_partner(void *arg) {
    ct_arg *a = arg;
    go_chan *c = a->a;
    gort_test_wg *wg = a->raw;
    go_sleep(a->i);
    if (a->k == 0) {
        int64_t v = a->j;
        CHECK_RC(go_chan_send(c, &v), 0);
    } else {
        int64_t v = 0;
        CHECK_RC(go_chan_recv(c, &v), 0);
        a->j = v;
    }
    gort_test_wg_done(wg);
}

static int timed_waits_main(void *arg) {
    (void)arg;
    go_chan *full = go_chan_new_noscan(8, 1);
    go_chan *empty = go_chan_new_noscan(8, 1);
    go_chan *unbuf = go_chan_new_noscan(8, 0);
    CHECK(full != NULL && empty != NULL && unbuf != NULL);
    if (full == NULL || empty == NULL || unbuf == NULL)
        return 0;
    int64_t v = 1, w = 0;
    CHECK_RC(go_chan_send(full, &v), 0);
    static const int64_t durations[] = {1, CT_US, CT_MS, 5 * CT_MS, 20 * CT_MS};
    for (size_t i = 0; i < sizeof durations / sizeof *durations; i++) {
        int64_t d = durations[i];
        struct {
            const char *what;
            int rc;
            int64_t took;
        } r[4];
        int64_t t0 = go_now();
        r[0].rc = go_chan_recv_timeout(empty, &w, d);
        int64_t t1 = go_now();
        r[1].rc = go_chan_send_timeout(full, &v, d);
        int64_t t2 = go_now();
        r[2].rc = go_chan_recv_timeout(unbuf, &w, d);
        int64_t t3 = go_now();
        r[3].rc = go_chan_send_timeout(unbuf, &v, d);
        int64_t t4 = go_now();
        r[0].what = "recv_timeout(empty)";
        r[0].took = t1 - t0;
        r[1].what = "send_timeout(full)";
        r[1].took = t2 - t1;
        r[2].what = "recv_timeout(unbuffered)";
        r[2].took = t3 - t2;
        r[3].what = "send_timeout(unbuffered)";
        r[3].took = t4 - t3;
        for (int k = 0; k < 4; k++) {
            CHECKF(r[k].rc == GO_ETIMEDOUT, "%s, %lld ns: %d (%s), want GO_ETIMEDOUT", r[k].what,
                   (long long)d, r[k].rc, go_strerror(r[k].rc));
            CHECKF(r[k].took >= d, "%s, %lld ns, returned early: after %lld ns", r[k].what,
                   (long long)d, (long long)r[k].took);
            CHECKF(r[k].took < d + 10 * CT_S, "%s, %lld ns, took %lld ns", r[k].what, (long long)d,
                   (long long)r[k].took);
        }
        /* The timed-out waiters left the channel: no receiver is waiting, no
         * sender's value is left behind to be received later. */
        CHECK_RC(go_chan_try_send(unbuf, &v), GO_EAGAIN);
        CHECK_RC(go_chan_try_recv(unbuf, &w), GO_EAGAIN);
        CHECK(go_chan_len(full) == 1 && go_chan_len(empty) == 0);
    }

    /* A partner comes before the timeout: the wait ends with its value. */
    for (int mode = 0; mode < 4; mode++) {
        gort_test_wg wg = {0};
        gort_test_wg_add(&wg, 1);
        bool partner_sends = mode % 2 == 0;
        int64_t timeout = mode < 2 ? 30 * CT_S : GO_FOREVER;
        ct_arg *a = ct_arg_new(unbuf, NULL, NULL, 10 * CT_MS, partner_sends ? 4242 : 0);
        if (a == NULL)
            return 0;
        a->k = partner_sends ? 0 : 1;
        a->raw = &wg;
        int64_t t0 = go_now();
        ct_spawn(sleepy_partner, a);
        if (partner_sends) {
            w = 0;
            CHECK_RC(go_chan_recv_timeout(unbuf, &w, timeout), 0);
            CHECKF(w == 4242, "recv_timeout got %lld", (long long)w);
        } else {
            int64_t x = 2424;
            CHECK_RC(go_chan_send_timeout(unbuf, &x, timeout), 0);
        }
        int64_t took = go_now() - t0;
        CHECKF(took >= 10 * CT_MS, "the partner slept 10 ms but the wait ended after %lld ns",
               (long long)took);
        CHECKF(took < 20 * CT_S, "a wait with a partner took %lld ns", (long long)took);
        gort_test_wg_wait(&wg);
        if (!partner_sends)
            CHECKF(a->j == 2424, "the partner received %lld", (long long)a->j);
    }
    return 0;
}

static void
timed_out_operations_wait_at_least_their_timeout_and_leave_nothing_behind(void **state) {
    (void)state;
    WATCH();
    ct_run(2, timed_waits_main, NULL);
}

/* ---- len, cap, NULL elem ----------------------------------------------------------------------
 */

static void blocked_sender(void *arg) {
    ct_arg *a = arg;
    go_chan *c = a->a;
    int64_t v = a->i;
    atomic_int *started = a->raw;
    atomic_fetch_add(started, 1);
    int rc = go_chan_send(c, &v);
    CHECK(rc == 0 || rc == GO_ECLOSED);
}

static int len_cap_main(void *arg) {
    (void)arg;
    CHECK(go_chan_len(NULL) == 0);
    CHECK(go_chan_cap(NULL) == 0);
    go_chan *c = go_chan_new(8, 5);
    go_chan *u = go_chan_new(8, 0);
    CHECK(c != NULL && u != NULL);
    if (c == NULL || u == NULL)
        return 0;
    int64_t v = 1;
    for (int i = 0; i < 3; i++)
        CHECK_RC(go_chan_send(c, &v), 0);
    CHECKF(go_chan_len(c) == 3 && go_chan_cap(c) == 5, "len %zu cap %zu", go_chan_len(c),
           go_chan_cap(c));
    /* NULL elem: the value is consumed and dropped. */
    CHECK_RC(go_chan_recv(c, NULL), 0);
    CHECK_RC(go_chan_try_recv(c, NULL), 0);
    CHECK_RC(go_chan_recv_timeout(c, NULL, 0), 0);
    CHECKF(go_chan_len(c) == 0, "len %zu after receiving into NULL", go_chan_len(c));
    v = 9;
    CHECK_RC(go_chan_send(c, &v), 0);
    CHECK_RC(go_chan_recv_timeout(c, NULL, GO_FOREVER), 0);
    CHECK(go_chan_len(c) == 0);
    /* Blocked senders do not count in len, on any channel. */
    static atomic_int started;
    atomic_store(&started, 0);
    ct_arg *a = ct_arg_new(u, NULL, NULL, 11, 0);
    ct_arg *b = ct_arg_new(c, NULL, NULL, 12, 0);
    if (a == NULL || b == NULL)
        return 0;
    a->raw = b->raw = &started;
    for (int i = 0; i < 5; i++)
        CHECK_RC(go_chan_send(c, &v), 0);
    ct_spawn(blocked_sender, a);
    ct_spawn(blocked_sender, b);
    gort_test_yield_until(&started, 2);
    ct_settle();
    CHECKF(go_chan_len(u) == 0 && go_chan_cap(u) == 0, "unbuffered: len %zu cap %zu",
           go_chan_len(u), go_chan_cap(u));
    CHECKF(go_chan_len(c) == 5, "full channel with a blocked sender: len %zu", go_chan_len(c));
    int64_t w = 0;
    CHECK_RC(go_chan_recv(u, &w), 0);
    CHECK(w == 11);
    for (int i = 0; i < 5; i++)
        CHECK_RC(go_chan_recv(c, &w), 0);
    CHECK_RC(go_chan_recv(c, &w), 0);
    CHECKF(w == 12, "the blocked sender's value came out as %lld", (long long)w);
    CHECK(go_chan_len(c) == 0);
    return 0;
}

static void len_and_cap_track_the_buffer_and_a_null_elem_drops_the_value(void **state) {
    (void)state;
    WATCH();
    ct_run(2, len_cap_main, NULL);
}

/* =============================================================================================
 * 2. Close
 * ============================================================================================= */

typedef struct v24 {
    uint64_t a, b, c;
} v24;

static v24 v24_of(uint64_t i) {
    return (v24){i * 3 + 1, i * 5 + 2, ~i};
}

static int close_buffered_main(void *arg) {
    (void)arg;
    go_chan *c = go_chan_new(sizeof(v24), 4);
    go_chan *u = go_chan_new(sizeof(v24), 0);
    CHECK(c != NULL && u != NULL);
    if (c == NULL || u == NULL)
        return 0;
    for (uint64_t i = 0; i < 3; i++) {
        v24 x = v24_of(i);
        CHECK_RC(go_chan_send(c, &x), 0);
    }
    go_chan_close(c);
    CHECKF(go_chan_len(c) == 3 && go_chan_cap(c) == 4, "after close: len %zu cap %zu, want 3 and 4",
           go_chan_len(c), go_chan_cap(c));
    unsigned char buf[sizeof(v24) + GUARD];
    for (uint64_t i = 0; i < 3; i++) {
        memset(buf, 0xAA, sizeof buf);
        int rc = i == 0   ? go_chan_recv(c, buf)
                 : i == 1 ? go_chan_try_recv(c, buf)
                          : go_chan_recv_timeout(c, buf, 0);
        CHECKF(rc == 0, "buffered value %llu after close: %d (%s)", (unsigned long long)i, rc,
               go_strerror(rc));
        v24 want = v24_of(i);
        CHECKF(memcmp(buf, &want, sizeof want) == 0, "buffered value %llu wrong after close",
               (unsigned long long)i);
    }
    CHECK(go_chan_len(c) == 0);
    /* Drained: every kind of receive says GO_ECLOSED and zeroes the value,
     * exactly elem_size bytes of it. */
    for (int round = 0; round < 2; round++) {
        go_chan *ch = round == 0 ? c : u;
        if (round == 1)
            go_chan_close(u);
        for (int kind = 0; kind < 5; kind++) {
            memset(buf, 0xAA, sizeof buf);
            int64_t t0 = go_now();
            int rc;
            switch (kind) {
            case 0:
                rc = go_chan_recv(ch, buf);
                break;
            case 1:
                rc = go_chan_try_recv(ch, buf);
                break;
            case 2:
                rc = go_chan_recv_timeout(ch, buf, 0);
                break;
            case 3:
                rc = go_chan_recv_timeout(ch, buf, GO_FOREVER);
                break;
            default:
                rc = go_chan_recv_timeout(ch, buf, 20 * CT_S);
                break;
            }
            int64_t took = go_now() - t0;
            CHECKF(rc == GO_ECLOSED, "%s closed channel, receive kind %d: %d (%s)",
                   round == 0 ? "buffered" : "unbuffered", kind, rc, go_strerror(rc));
            CHECKF(ct_all_bytes(buf, sizeof(v24), 0),
                   "%s closed channel, receive kind %d: value not zeroed",
                   round == 0 ? "buffered" : "unbuffered", kind);
            CHECKF(ct_all_bytes(buf + sizeof(v24), GUARD, 0xAA),
                   "receive on a closed channel zeroed past the element");
            CHECKF(took < 10 * CT_S, "receive on a closed channel waited %lld ns", (long long)took);
        }
        CHECK_RC(go_chan_recv(ch, NULL), GO_ECLOSED);
    }
    return 0;
}

static void
close_keeps_buffered_values_then_receives_report_eclosed_with_a_zeroed_value(void **state) {
    (void)state;
    WATCH();
    ct_run(1, close_buffered_main, NULL);
}

static int send_on_closed_main(void *arg) {
    (void)arg;
    go_chan *empty = go_chan_new(8, 2);
    go_chan *full = go_chan_new(8, 1);
    go_chan *unbuf = go_chan_new(8, 0);
    go_chan *zero = go_chan_new(0, 3);
    CHECK(empty != NULL && full != NULL && unbuf != NULL && zero != NULL);
    if (empty == NULL || full == NULL || unbuf == NULL || zero == NULL)
        return 0;
    int64_t v = 31, w = 0;
    CHECK_RC(go_chan_send(full, &v), 0);
    go_chan *all[] = {empty, full, unbuf, zero};
    const char *names[] = {"empty buffered", "full buffered", "unbuffered", "zero-size"};
    for (int i = 0; i < 4; i++) {
        go_chan_close(all[i]);
        const void *e = all[i] == zero ? NULL : &v;
        int64_t t0 = go_now();
        CHECKF(go_chan_send(all[i], e) == GO_ECLOSED, "send on a closed %s channel", names[i]);
        CHECKF(go_chan_try_send(all[i], e) == GO_ECLOSED, "try_send on a closed %s channel",
               names[i]);
        CHECKF(go_chan_send_timeout(all[i], e, 0) == GO_ECLOSED,
               "send_timeout(0) on a closed %s channel", names[i]);
        CHECKF(go_chan_send_timeout(all[i], e, GO_FOREVER) == GO_ECLOSED,
               "send_timeout(GO_FOREVER) on a closed %s channel", names[i]);
        CHECKF(go_chan_send_timeout(all[i], e, 20 * CT_S) == GO_ECLOSED,
               "send_timeout(20 s) on a closed %s channel", names[i]);
        int64_t took = go_now() - t0;
        CHECKF(took < 10 * CT_S, "sends on a closed %s channel waited %lld ns", names[i],
               (long long)took);
    }
    CHECKF(go_chan_len(empty) == 0, "sends on a closed channel were buffered (len %zu)",
           go_chan_len(empty));
    CHECKF(go_chan_len(full) == 1, "len of the full closed channel is %zu", go_chan_len(full));
    CHECK_RC(go_chan_recv(full, &w), 0);
    CHECK(w == 31);
    CHECK_RC(go_chan_recv(full, &w), GO_ECLOSED);
    CHECK_RC(go_chan_recv(empty, &w), GO_ECLOSED);
    CHECK_RC(go_chan_recv(zero, NULL), GO_ECLOSED);
    return 0;
}

static void send_try_send_and_send_timeout_on_a_closed_channel_report_eclosed(void **state) {
    (void)state;
    WATCH();
    ct_run(1, send_on_closed_main, NULL);
}

/* ---- close wakes blocked receivers and senders -------------------------------------------------
 */

#define CLOSE_WAITERS 8

typedef struct waiter_rec {
    int rc;
    int zeroed;
    int64_t woke_at;
} waiter_rec;

typedef struct close_shared {
    go_chan *c; /* GO_STORE: registered root */
    atomic_int started;
    waiter_rec rec[CLOSE_WAITERS];
    gort_test_wg wg;
} close_shared;

static close_shared close_sh;

static void closing_receiver(void *arg) {
    intptr_t i = (intptr_t)arg;
    go_chan *c = close_sh.c;
    v24 buf;
    memset(&buf, 0xAA, sizeof buf);
    atomic_fetch_add(&close_sh.started, 1);
    int rc;
    switch (i % 3) {
    case 0:
        rc = go_chan_recv(c, &buf);
        break;
    case 1:
        rc = go_chan_recv_timeout(c, &buf, GO_FOREVER);
        break;
    default:
        rc = go_chan_recv_timeout(c, &buf, 60 * CT_S);
        break;
    }
    close_sh.rec[i].rc = rc;
    close_sh.rec[i].zeroed = ct_all_bytes(&buf, sizeof buf, 0);
    close_sh.rec[i].woke_at = go_now();
    gort_test_wg_done(&close_sh.wg);
}

static void closing_sender(void *arg) {
    intptr_t i = (intptr_t)arg;
    go_chan *c = close_sh.c;
    v24 x = v24_of(1000 + (uint64_t)i);
    atomic_fetch_add(&close_sh.started, 1);
    int rc;
    switch (i % 3) {
    case 0:
        rc = go_chan_send(c, &x);
        break;
    case 1:
        rc = go_chan_send_timeout(c, &x, GO_FOREVER);
        break;
    default:
        rc = go_chan_send_timeout(c, &x, 60 * CT_S);
        break;
    }
    close_sh.rec[i].rc = rc;
    close_sh.rec[i].woke_at = go_now();
    gort_test_wg_done(&close_sh.wg);
}

/* mode 0: receivers on an unbuffered channel; 1: receivers on an empty
 * buffered one; 2: senders on an unbuffered one; 3: senders on a full
 * buffered one (cap 2, holding two values that stay receivable). */
static int close_wakes_main(void *arg) {
    int mode = (int)(intptr_t)arg;
    memset(&close_sh, 0, sizeof close_sh);
    ct_add_roots(&close_sh.c, sizeof close_sh.c);
    go_chan *c = go_chan_new(sizeof(v24), mode == 1 || mode == 3 ? 2 : 0);
    CHECK(c != NULL);
    if (c == NULL)
        return 0;
    GO_STORE(close_sh.c, c);
    if (mode == 3)
        for (uint64_t i = 0; i < 2; i++) {
            v24 x = v24_of(i);
            CHECK_RC(go_chan_send(c, &x), 0);
        }
    gort_test_wg_add(&close_sh.wg, CLOSE_WAITERS);
    for (intptr_t i = 0; i < CLOSE_WAITERS; i++)
        ct_spawn(mode < 2 ? closing_receiver : closing_sender, (void *)i);
    gort_test_yield_until(&close_sh.started, CLOSE_WAITERS);
    ct_settle();
    int64_t t_close = go_now();
    go_chan_close(c);
    gort_test_wg_wait(&close_sh.wg);
    for (int i = 0; i < CLOSE_WAITERS; i++) {
        waiter_rec *r = &close_sh.rec[i];
        CHECKF(r->rc == GO_ECLOSED, "mode %d: blocked %s %d woke with %d (%s), want GO_ECLOSED",
               mode, mode < 2 ? "receiver" : "sender", i, r->rc, go_strerror(r->rc));
        if (mode < 2)
            CHECKF(r->zeroed, "mode %d: receiver %d woken by close: value not zeroed", mode, i);
        CHECKF(r->woke_at - t_close < 20 * CT_S, "mode %d: waiter %d woke %lld ns after close",
               mode, i, (long long)(r->woke_at - t_close));
    }
    if (mode == 3) {
        /* The buffered values are still there, the blocked senders' are not. */
        for (uint64_t i = 0; i < 2; i++) {
            v24 x, want = v24_of(i);
            CHECK_RC(go_chan_recv(c, &x), 0);
            CHECKF(memcmp(&x, &want, sizeof x) == 0, "buffered value %llu after close",
                   (unsigned long long)i);
        }
    }
    v24 x;
    int rc = go_chan_try_recv(c, &x);
    CHECKF(rc == GO_ECLOSED,
           "mode %d: after close the channel gives %d (%s): a blocked sender's "
           "value was delivered?",
           mode, rc, go_strerror(rc));
    go_gc_remove_roots(&close_sh.c);
    return 0;
}

static void close_wakes_every_blocked_receiver_with_eclosed_and_a_zeroed_value(void **state) {
    (void)state;
    WATCH();
    for (intptr_t mode = 0; mode < 2; mode++)
        for (int workers = 1; workers <= 2; workers++)
            ct_run(workers, close_wakes_main, (void *)mode);
}

static void close_wakes_every_blocked_sender_with_eclosed_and_drops_their_values(void **state) {
    (void)state;
    WATCH();
    for (intptr_t mode = 2; mode < 4; mode++)
        for (int workers = 1; workers <= 2; workers++)
            ct_run(workers, close_wakes_main, (void *)mode);
}

/* ---- close racing with traffic --------------------------------------------------------------- */

#define RACE_SENDERS 4
#define RACE_RECEIVERS 3

typedef struct race_shared {
    go_chan *c; /* GO_STORE: registered root */
    atomic_llong sent_sum, sent_count, recv_sum, recv_count;
    atomic_int bad_rc;
    gort_test_wg wg;
} race_shared;

static race_shared race_sh;

static void race_sender(void *arg) {
    intptr_t id = (intptr_t)arg;
    go_chan *c = race_sh.c;
    for (int64_t k = 1;; k++) {
        int64_t v = k * RACE_SENDERS + id;
        int rc;
        do {
            switch (k % 3) {
            case 0:
                rc = go_chan_send(c, &v);
                break;
            case 1:
                rc = go_chan_send_timeout(c, &v, 200 * CT_US);
                break;
            default:
                rc = go_chan_try_send(c, &v);
                if (rc == GO_EAGAIN)
                    go_yield();
                break;
            }
        } while (rc == GO_ETIMEDOUT || rc == GO_EAGAIN);
        if (rc == GO_ECLOSED)
            break;
        if (rc != 0) {
            atomic_fetch_add(&race_sh.bad_rc, 1);
            break;
        }
        atomic_fetch_add(&race_sh.sent_sum, v);
        atomic_fetch_add(&race_sh.sent_count, 1);
    }
    gort_test_wg_done(&race_sh.wg);
}

static void race_receiver(void *arg) {
    intptr_t id = (intptr_t)arg;
    go_chan *c = race_sh.c;
    for (int64_t k = 0;; k++) {
        int64_t v;
        int rc;
        do {
            v = -1; /* a receive that gives GO_ECLOSED must zero it */
            switch ((k + id) % 3) {
            case 0:
                rc = go_chan_recv(c, &v);
                break;
            case 1:
                rc = go_chan_recv_timeout(c, &v, 200 * CT_US);
                break;
            default:
                rc = go_chan_try_recv(c, &v);
                if (rc == GO_EAGAIN)
                    go_yield();
                break;
            }
        } while (rc == GO_ETIMEDOUT || rc == GO_EAGAIN);
        if (rc == GO_ECLOSED) {
            if (v != 0)
                atomic_fetch_add(&race_sh.bad_rc, 1);
            break;
        }
        if (rc != 0) {
            atomic_fetch_add(&race_sh.bad_rc, 1);
            break;
        }
        atomic_fetch_add(&race_sh.recv_sum, v);
        atomic_fetch_add(&race_sh.recv_count, 1);
    }
    gort_test_wg_done(&race_sh.wg);
}

static int close_race_main(void *arg) {
    (void)arg;
    ct_add_roots(&race_sh.c, sizeof race_sh.c);
    ct_rng rng = ct_rng_seed(0xc105e);
    int rounds = (int)ct_scaled(30, 6);
    for (int round = 0; round < rounds; round++) {
        size_t cap = round % 3 == 0 ? 0 : round % 3 == 1 ? 1 : 8;
        go_chan *c = go_chan_new_noscan(8, cap);
        CHECK(c != NULL);
        if (c == NULL)
            break;
        GO_STORE(race_sh.c, c);
        atomic_store(&race_sh.sent_sum, 0);
        atomic_store(&race_sh.sent_count, 0);
        atomic_store(&race_sh.recv_sum, 0);
        atomic_store(&race_sh.recv_count, 0);
        memset(&race_sh.wg, 0, sizeof race_sh.wg);
        gort_test_wg_add(&race_sh.wg, RACE_SENDERS + RACE_RECEIVERS);
        for (intptr_t i = 0; i < RACE_SENDERS; i++)
            ct_spawn(race_sender, (void *)i);
        for (intptr_t i = 0; i < RACE_RECEIVERS; i++)
            ct_spawn(race_receiver, (void *)i);
        go_sleep((int64_t)ct_rand_below(&rng, 5 * CT_MS));
        go_chan_close(c);
        gort_test_wg_wait(&race_sh.wg);
        long long sc = atomic_load(&race_sh.sent_count), rcnt = atomic_load(&race_sh.recv_count);
        long long ss = atomic_load(&race_sh.sent_sum), rs = atomic_load(&race_sh.recv_sum);
        CHECKF(sc == rcnt && ss == rs,
               "round %d (cap %zu): %lld values sent (sum %lld), %lld received (sum %lld)", round,
               cap, sc, ss, rcnt, rs);
    }
    CHECKF(atomic_load(&race_sh.bad_rc) == 0,
           "%d unexpected results (or non-zeroed values on GO_ECLOSED)",
           atomic_load(&race_sh.bad_rc));
    go_gc_remove_roots(&race_sh.c);
    return 0;
}

static void close_racing_with_senders_and_receivers_loses_and_duplicates_nothing(void **state) {
    (void)state;
    WATCH();
    memset(&race_sh, 0, sizeof race_sh);
    ct_run(2, close_race_main, NULL);
}

/* =============================================================================================
 * 3. The NULL channel
 * ============================================================================================= */

static int null_ops_main(void *arg) {
    (void)arg;
    int64_t v = 3, w = -7;
    CHECK_RC(go_chan_try_send(NULL, &v), GO_EAGAIN);
    CHECK_RC(go_chan_try_recv(NULL, &w), GO_EAGAIN);
    CHECK_RC(go_chan_send_timeout(NULL, &v, 0), GO_ETIMEDOUT);
    CHECK_RC(go_chan_recv_timeout(NULL, &w, 0), GO_ETIMEDOUT);
    CHECK_RC(go_chan_send_timeout(NULL, &v, -2), GO_EINVAL);
    CHECK_RC(go_chan_recv_timeout(NULL, &w, -2), GO_EINVAL);
    CHECKF(w == -7, "an operation on the NULL channel wrote the element (%lld)", (long long)w);
    static const int64_t durations[] = {CT_US, 2 * CT_MS, 20 * CT_MS};
    for (size_t i = 0; i < sizeof durations / sizeof *durations; i++) {
        int64_t d = durations[i];
        int64_t t0 = go_now();
        int rc = go_chan_recv_timeout(NULL, &w, d);
        int64_t t1 = go_now();
        CHECKF(rc == GO_ETIMEDOUT, "recv_timeout(NULL, %lld): %d (%s)", (long long)d, rc,
               go_strerror(rc));
        CHECKF(t1 - t0 >= d, "recv_timeout(NULL, %lld) returned after %lld ns", (long long)d,
               (long long)(t1 - t0));
        rc = go_chan_send_timeout(NULL, &v, d);
        int64_t t2 = go_now();
        CHECKF(rc == GO_ETIMEDOUT, "send_timeout(NULL, %lld): %d (%s)", (long long)d, rc,
               go_strerror(rc));
        CHECKF(t2 - t1 >= d, "send_timeout(NULL, %lld) returned after %lld ns", (long long)d,
               (long long)(t2 - t1));
    }
    CHECK(go_chan_len(NULL) == 0 && go_chan_cap(NULL) == 0);
    return 0;
}

static void null_channel_try_operations_give_eagain_and_timed_ones_time_out(void **state) {
    (void)state;
    WATCH();
    ct_run(1, null_ops_main, NULL);
}

static atomic_int null_entered, null_returned;

static void null_forever(void *arg) {
    intptr_t kind = (intptr_t)arg;
    int64_t v = 1;
    atomic_fetch_add(&null_entered, 1);
    switch (kind) {
    case 0:
        go_chan_recv(NULL, &v);
        break;
    case 1:
        go_chan_send(NULL, &v);
        break;
    case 2:
        go_chan_recv_timeout(NULL, &v, GO_FOREVER);
        break;
    default:
        go_chan_send_timeout(NULL, &v, GO_FOREVER);
        break;
    }
    atomic_fetch_add(&null_returned, 1); /* never */
}

static int null_forever_main(void *arg) {
    (void)arg;
    atomic_store(&null_entered, 0);
    atomic_store(&null_returned, 0);
    for (intptr_t k = 0; k < 4; k++)
        ct_spawn(null_forever, (void *)k);
    gort_test_yield_until(&null_entered, 4);
    go_sleep(50 * CT_MS);
    go_gc_collect(); /* a pause does not wait for them, and does not wake them */
    go_sleep(10 * CT_MS);
    CHECKF(atomic_load(&null_returned) == 0, "%d blocking operation(s) on NULL returned",
           atomic_load(&null_returned));
    return 0; /* the four tasks are abandoned */
}

static void null_channel_blocking_operations_block_forever(void **state) {
    (void)state;
    WATCH();
    ct_run(2, null_forever_main, NULL);
    assert_int_equal(atomic_load(&null_returned), 0);
}

/* =============================================================================================
 * 4. Conformance with Go
 * ============================================================================================= */

/* ---- prime sieve -------------------------------------------------------------------------------
 */

static void sieve_generate(void *arg) {
    go_chan *out = ((ct_arg *)arg)->a;
    for (int64_t i = 2;; i++)
        if (go_chan_send(out, &i) != 0)
            return;
}

static void sieve_filter(void *arg) {
    ct_arg *a = arg;
    go_chan *in = a->a, *out = a->b;
    int64_t prime = a->i;
    for (;;) {
        int64_t v;
        if (go_chan_recv(in, &v) != 0)
            return;
        if (v % prime != 0 && go_chan_send(out, &v) != 0)
            return;
    }
}

#define SIEVE_MAX 1000
static int64_t sieve_got[SIEVE_MAX];

static int sieve_main(void *arg) {
    int n = (int)(intptr_t)arg;
    go_chan *ch = go_chan_new_noscan(8, 0);
    CHECK(ch != NULL);
    ct_arg *g = ct_arg_new(ch, NULL, NULL, 0, 0);
    if (ch == NULL || g == NULL)
        return 0;
    ct_spawn(sieve_generate, g);
    for (int i = 0; i < n; i++) {
        int64_t p = 0;
        CHECK_RC(go_chan_recv(ch, &p), 0);
        sieve_got[i] = p;
        go_chan *next = go_chan_new_noscan(8, 0);
        CHECK(next != NULL);
        ct_arg *f = ct_arg_new(ch, next, NULL, p, 0);
        if (next == NULL || f == NULL || p < 2)
            return 0;
        ct_spawn(sieve_filter, f);
        ch = next;
    }
    return 0; /* the generator and the filters are abandoned */
}

static void concurrent_prime_sieve_finds_the_first_primes(void **state) {
    (void)state;
    WATCH();
    int n = (int)ct_scaled(SIEVE_MAX, 50);
    /* The reference: a plain sieve. */
    static bool composite[8000];
    int64_t want[SIEVE_MAX];
    int found = 0;
    for (int64_t i = 2; i < 8000 && found < SIEVE_MAX; i++) {
        if (composite[i])
            continue;
        want[found++] = i;
        for (int64_t j = i * i; j < 8000; j += i)
            composite[j] = true;
    }
    assert_int_equal(found, SIEVE_MAX);
    for (int workers = 2; workers >= 1; workers--) {
        int count = workers == 2 ? n : n / 4;
        memset(sieve_got, 0, sizeof sieve_got);
        ct_run(workers, sieve_main, (void *)(intptr_t)count);
        for (int i = 0; i < count; i++)
            if (sieve_got[i] != want[i])
                fail_msg("%d workers: prime %d is %lld, want %lld", workers, i,
                         (long long)sieve_got[i], (long long)want[i]);
    }
}

/* ---- FIFO of values -------------------------------------------------------------------------- */

#define FIFO_SENDERS 4

static void fifo_sender(void *arg) {
    ct_arg *a = arg;
    go_chan *c = a->a;
    int64_t id = a->i, count = a->j;
    for (int64_t k = 0; k < count; k++) {
        int64_t v = (id << 32) | k;
        int rc;
        switch (id % 3) {
        case 0:
            rc = go_chan_send(c, &v);
            break;
        case 1:
            rc = go_chan_send_timeout(c, &v, GO_FOREVER);
            break;
        default:
            while ((rc = go_chan_send_timeout(c, &v, 30 * CT_S)) == GO_ETIMEDOUT)
                ;
            break;
        }
        CHECK_RC(rc, 0);
    }
}

static int fifo_senders_main(void *arg) {
    int64_t count = (int64_t)(intptr_t)arg;
    static const size_t caps[] = {0, 1, 16};
    for (size_t ci = 0; ci < 3; ci++) {
        go_chan *c = go_chan_new_noscan(8, caps[ci]);
        CHECK(c != NULL);
        if (c == NULL)
            return 0;
        for (int64_t s = 0; s < FIFO_SENDERS; s++)
            ct_spawn(fifo_sender, ct_arg_new(c, NULL, NULL, s, count));
        int64_t next[FIFO_SENDERS] = {0};
        long errors = 0;
        for (int64_t n = 0; n < FIFO_SENDERS * count; n++) {
            int64_t v = -1;
            int rc = n % 2 ? go_chan_recv(c, &v) : go_chan_recv_timeout(c, &v, GO_FOREVER);
            CHECK_RC(rc, 0);
            int64_t s = v >> 32, k = v & 0xffffffff;
            if (s < 0 || s >= FIFO_SENDERS) {
                if (errors++ < 5)
                    CHECKF(false, "cap %zu: received a value from no sender: %llx", caps[ci],
                           (unsigned long long)v);
                continue;
            }
            if (k != next[s] && errors++ < 5)
                CHECKF(false, "cap %zu: sender %lld's value %lld arrived when %lld was next",
                       caps[ci], (long long)s, (long long)k, (long long)next[s]);
            next[s] = k + 1;
        }
        CHECKF(errors == 0, "cap %zu: %ld values out of order", caps[ci], errors);
        for (int s = 0; s < FIFO_SENDERS; s++)
            CHECKF(next[s] == count, "cap %zu: sender %d: last value %lld of %lld", caps[ci], s,
                   (long long)next[s], (long long)count);
        int64_t extra;
        CHECK_RC(go_chan_try_recv(c, &extra), GO_EAGAIN);
    }
    return 0;
}

static void each_senders_values_arrive_in_order_with_several_senders(void **state) {
    (void)state;
    WATCH();
    ct_run(2, fifo_senders_main, (void *)(intptr_t)ct_scaled(20000, 500));
}

static int fifo_total_main(void *arg) {
    int64_t count = (int64_t)(intptr_t)arg;
    static const size_t caps[] = {0, 7, 1024};
    for (size_t ci = 0; ci < 3; ci++) {
        go_chan *c = go_chan_new(8, caps[ci]);
        CHECK(c != NULL);
        if (c == NULL)
            return 0;
        ct_spawn(fifo_sender, ct_arg_new(c, NULL, NULL, 0, count));
        long errors = 0;
        for (int64_t n = 0; n < count; n++) {
            int64_t v = -1;
            int rc;
            if (n % 3 == 0) {
                while ((rc = go_chan_try_recv(c, &v)) == GO_EAGAIN)
                    go_yield();
            } else {
                rc = go_chan_recv(c, &v);
            }
            CHECK_RC(rc, 0);
            if (v != n && errors++ < 5)
                CHECKF(false, "cap %zu: value %lld arrived at position %lld", caps[ci],
                       (long long)v, (long long)n);
        }
        CHECKF(errors == 0, "cap %zu: %ld values out of order", caps[ci], errors);
    }
    return 0;
}

static void one_senders_values_arrive_in_total_order(void **state) {
    (void)state;
    WATCH();
    ct_run(2, fifo_total_main, (void *)(intptr_t)ct_scaled(100000, 2000));
}

/* ---- FIFO of waiters ------------------------------------------------------------------------- */

#define FIFO_WAITERS 8

typedef struct fifo_waiters {
    go_chan *c; /* GO_STORE: registered root */
    atomic_int started;
    int64_t got[FIFO_WAITERS];
    int rc[FIFO_WAITERS];
    gort_test_wg wg;
} fifo_waiters;

static fifo_waiters fw;

static void fifo_waiting_receiver(void *arg) {
    intptr_t i = (intptr_t)arg;
    go_chan *c = fw.c;
    int64_t v = -1;
    atomic_fetch_add(&fw.started, 1);
    switch (i % 3) {
    case 0:
        fw.rc[i] = go_chan_recv(c, &v);
        break;
    case 1:
        fw.rc[i] = go_chan_recv_timeout(c, &v, GO_FOREVER);
        break;
    default:
        fw.rc[i] = go_chan_recv_timeout(c, &v, 60 * CT_S);
        break;
    }
    fw.got[i] = v;
    gort_test_wg_done(&fw.wg);
}

static void fifo_waiting_sender(void *arg) {
    intptr_t i = (intptr_t)arg;
    go_chan *c = fw.c;
    int64_t v = i;
    atomic_fetch_add(&fw.started, 1);
    switch (i % 3) {
    case 0:
        fw.rc[i] = go_chan_send(c, &v);
        break;
    case 1:
        fw.rc[i] = go_chan_send_timeout(c, &v, GO_FOREVER);
        break;
    default:
        fw.rc[i] = go_chan_send_timeout(c, &v, 60 * CT_S);
        break;
    }
    gort_test_wg_done(&fw.wg);
}

/* On one worker: spawns waiter i and returns once it is parked (see the head
 * comment: it runs until it parks before this task resumes). */
static void spawn_parked(go_fn fn, intptr_t i) {
    ct_spawn(fn, (void *)i);
    gort_test_yield_until(&fw.started, (int)i + 1);
    for (int k = 0; k < 3; k++)
        go_yield();
}

/* mode 0: receivers, unbuffered; 1: receivers, empty buffered (cap 4);
 * 2: senders, unbuffered; 3: senders, full buffered (cap 2 holding 100, 101). */
static int fifo_waiters_main(void *arg) {
    int mode = (int)(intptr_t)arg;
    memset(&fw, 0, sizeof fw);
    ct_add_roots(&fw.c, sizeof fw.c);
    go_chan *c = go_chan_new_noscan(8, mode == 1 ? 4 : mode == 3 ? 2 : 0);
    CHECK(c != NULL);
    if (c == NULL)
        return 0;
    GO_STORE(fw.c, c);
    int64_t v;
    if (mode == 3)
        for (v = 100; v < 102; v++)
            CHECK_RC(go_chan_send(c, &v), 0);
    gort_test_wg_add(&fw.wg, FIFO_WAITERS);
    for (intptr_t i = 0; i < FIFO_WAITERS; i++)
        spawn_parked(mode < 2 ? fifo_waiting_receiver : fifo_waiting_sender, i);
    if (mode < 2) {
        for (v = 0; v < FIFO_WAITERS; v++)
            CHECK_RC(go_chan_send(c, &v), 0);
        gort_test_wg_wait(&fw.wg);
        for (int i = 0; i < FIFO_WAITERS; i++) {
            CHECK_RC(fw.rc[i], 0);
            CHECKF(fw.got[i] == i,
                   "mode %d: receiver %d (parked %d-th) got value %lld: waiting receivers "
                   "are not served first in, first out",
                   mode, i, i, (long long)fw.got[i]);
        }
    } else {
        int n = 0;
        if (mode == 3)
            for (int64_t want = 100; want < 102; want++, n++) {
                CHECK_RC(go_chan_recv(c, &v), 0);
                CHECKF(v == want, "mode 3: buffered value %lld came out as %lld", (long long)want,
                       (long long)v);
            }
        for (int64_t want = 0; want < FIFO_WAITERS; want++, n++) {
            v = -1;
            CHECK_RC(go_chan_recv(c, &v), 0);
            CHECKF(v == want,
                   "mode %d: receive %d got %lld, want %lld: waiting senders are not "
                   "served first in, first out",
                   mode, n, (long long)v, (long long)want);
        }
        gort_test_wg_wait(&fw.wg);
        for (int i = 0; i < FIFO_WAITERS; i++)
            CHECK_RC(fw.rc[i], 0);
    }
    CHECK_RC(go_chan_try_recv(c, &v), GO_EAGAIN);
    go_gc_remove_roots(&fw.c);
    return 0;
}

static void waiting_receivers_are_served_in_the_order_they_parked(void **state) {
    (void)state;
    WATCH();
    ct_run(1, fifo_waiters_main, (void *)0);
    ct_run(1, fifo_waiters_main, (void *)1);
}

static void waiting_senders_are_served_in_the_order_they_parked(void **state) {
    (void)state;
    WATCH();
    ct_run(1, fifo_waiters_main, (void *)2);
    ct_run(1, fifo_waiters_main, (void *)3);
}

/* ---- daisy chain ----------------------------------------------------------------------------- */

static void whisper(void *arg) {
    ct_arg *a = arg;
    go_chan *left = a->a, *right = a->b;
    int64_t v;
    if (go_chan_recv(right, &v) == 0)
        CHECK_RC(go_chan_send(left, &(int64_t){v + 1}), 0);
}

static void first_whisper(void *arg) {
    go_chan *right = ((ct_arg *)arg)->a;
    int64_t one = 1;
    CHECK_RC(go_chan_send(right, &one), 0);
}

static int64_t daisy_result;

static int daisy_main(void *arg) {
    int n = (int)(intptr_t)arg;
    go_chan *leftmost = go_chan_new_noscan(8, 0);
    CHECK(leftmost != NULL);
    if (leftmost == NULL)
        return 0;
    go_chan *left = leftmost, *right = leftmost;
    for (int i = 0; i < n; i++) {
        right = go_chan_new_noscan(8, 0);
        ct_arg *a = ct_arg_new(left, right, NULL, 0, 0);
        CHECK(right != NULL);
        if (right == NULL || a == NULL)
            return 0;
        ct_spawn(whisper, a);
        left = right;
    }
    ct_spawn(first_whisper, ct_arg_new(right, NULL, NULL, 0, 0));
    CHECK_RC(go_chan_recv(leftmost, &daisy_result), 0);
    return 0;
}

static void daisy_chain_of_ten_thousand_tasks_passes_the_value_along(void **state) {
    (void)state;
    WATCH();
    int n = (int)ct_scaled(10000, 500);
    for (int workers = 1; workers <= 2; workers++) {
        daisy_result = 0;
        ct_run(workers, daisy_main, (void *)(intptr_t)n);
        assert_int_equal(daisy_result, n + 1);
    }
}

/* ---- non-blocking operations against a sleeping partner -------------------------------------- */

#define PARTNER_SLEEP (50 * CT_MS)

static int sleeping_partner_main(void *arg) {
    (void)arg;
    for (int dir = 0; dir < 2; dir++) {
        go_chan *c = go_chan_new_noscan(8, 0);
        CHECK(c != NULL);
        if (c == NULL)
            return 0;
        gort_test_wg wg = {0};
        gort_test_wg_add(&wg, 1);
        /* dir 0: the partner sleeps, then sends 4711; dir 1: it sleeps, then receives. */
        ct_arg *a = ct_arg_new(c, NULL, NULL, PARTNER_SLEEP, 4711);
        if (a == NULL)
            return 0;
        a->k = dir;
        a->raw = &wg;
        int64_t t0 = go_now();
        ct_spawn(sleepy_partner, a);
        long eagains = 0;
        int64_t first_try = 0, success_at = 0;
        for (;;) {
            int64_t v = -1;
            int64_t t = go_now();
            if (first_try == 0)
                first_try = t;
            int rc = dir == 0 ? go_chan_try_recv(c, &v) : go_chan_try_send(c, &(int64_t){99});
            if (rc == 0) {
                success_at = go_now();
                if (dir == 0)
                    CHECKF(v == 4711, "try_recv got %lld", (long long)v);
                break;
            }
            CHECK_RC(rc, GO_EAGAIN);
            if (rc != GO_EAGAIN)
                break;
            if (dir == 0)
                CHECKF(v == -1, "a try_recv that gave GO_EAGAIN wrote the element");
            eagains++;
            if (t - t0 > 30 * CT_S) {
                CHECKF(false, "dir %d: no success in 30 s", dir);
                break;
            }
            go_sleep(CT_MS / 2);
        }
        if (first_try - t0 < PARTNER_SLEEP)
            CHECKF(eagains > 0, "dir %d: the first try succeeded while the partner slept", dir);
        CHECKF(success_at - t0 >= PARTNER_SLEEP,
               "dir %d: success %lld ns after the spawn, but the partner sleeps %lld ns", dir,
               (long long)(success_at - t0), (long long)PARTNER_SLEEP);
        gort_test_wg_wait(&wg);
        if (dir == 1)
            CHECKF(a->j == 99, "the partner received %lld", (long long)a->j);
    }
    return 0;
}

static void non_blocking_operations_give_eagain_until_a_sleeping_partner_is_ready(void **state) {
    (void)state;
    WATCH();
    ct_run(1, sleeping_partner_main, NULL);
    ct_run(2, sleeping_partner_main, NULL);
}

/* ---- zero-size elements ---------------------------------------------------------------------- */

static void token_producer(void *arg) {
    ct_arg *a = arg;
    go_chan *c = a->a;
    char dummy = 'x';
    for (int64_t k = 0; k < a->i; k++)
        CHECK_RC(go_chan_send(c, k % 2 ? NULL : &dummy), 0);
    go_chan_close(c);
}

static int zero_size_main(void *arg) {
    int64_t tokens = (int64_t)(intptr_t)arg;
    for (int scan = 0; scan < 2; scan++) {
        go_chan *c5 = scan ? go_chan_new(0, 5) : go_chan_new_noscan(0, 5);
        go_chan *c0 = scan ? go_chan_new(0, 0) : go_chan_new_noscan(0, 0);
        CHECK(c5 != NULL && c0 != NULL);
        if (c5 == NULL || c0 == NULL)
            return 0;
        CHECK(go_chan_cap(c5) == 5 && go_chan_cap(c0) == 0);
        for (int i = 0; i < 5; i++) {
            CHECK_RC(go_chan_try_send(c5, NULL), 0);
            CHECKF(go_chan_len(c5) == (size_t)i + 1, "zero-size: len %zu after %d sends",
                   go_chan_len(c5), i + 1);
        }
        CHECK_RC(go_chan_try_send(c5, NULL), GO_EAGAIN);
        CHECK_RC(go_chan_send_timeout(c5, NULL, CT_MS), GO_ETIMEDOUT);
        for (int i = 0; i < 5; i++)
            CHECK_RC(go_chan_try_recv(c5, NULL), 0);
        CHECK_RC(go_chan_try_recv(c5, NULL), GO_EAGAIN);
        CHECK(go_chan_len(c5) == 0);
        /* Tokens through both channels, counted. */
        go_chan *chans[] = {c5, c0};
        for (int k = 0; k < 2; k++) {
            ct_spawn(token_producer, ct_arg_new(chans[k], NULL, NULL, tokens, 0));
            int64_t got = 0;
            char junk = 'j';
            int rc;
            while ((rc = (got % 2 ? go_chan_recv(chans[k], NULL)
                                  : go_chan_recv(chans[k], &junk))) == 0)
                got++;
            CHECK_RC(rc, GO_ECLOSED);
            CHECKF(got == tokens, "zero-size %s channel: %lld tokens of %lld",
                   k == 0 ? "buffered" : "unbuffered", (long long)got, (long long)tokens);
            CHECKF(junk == 'j', "receiving a zero-size value wrote into the element");
        }
    }
    return 0;
}

static void zero_size_elements_carry_no_data_but_are_counted(void **state) {
    (void)state;
    WATCH();
    ct_run(2, zero_size_main, (void *)(intptr_t)ct_scaled(20000, 1000));
}

/* ---- many producers and consumers ------------------------------------------------------------ */

#define MPMC_P 4
#define MPMC_C 4

typedef struct mpmc_shared {
    go_chan *c; /* GO_STORE: registered root */
    int64_t per_producer;
    atomic_int producers_left;
    atomic_llong sum, count;
    long long consumer_count[MPMC_C];
    gort_test_wg wg;
} mpmc_shared;

static mpmc_shared mpmc;

static void mpmc_producer(void *arg) {
    int64_t p = (int64_t)(intptr_t)arg;
    go_chan *c = mpmc.c;
    for (int64_t k = 0; k < mpmc.per_producer; k++) {
        int64_t v = k * MPMC_P + p + 1;
        CHECK_RC(go_chan_send(c, &v), 0);
    }
    if (atomic_fetch_sub(&mpmc.producers_left, 1) == 1)
        go_chan_close(c);
    gort_test_wg_done(&mpmc.wg);
}

static void mpmc_consumer(void *arg) {
    intptr_t id = (intptr_t)arg;
    go_chan *c = mpmc.c;
    long long sum = 0, count = 0;
    int64_t v;
    int rc;
    while ((rc = go_chan_recv(c, &v)) == 0) {
        sum += v;
        count++;
    }
    CHECK_RC(rc, GO_ECLOSED);
    atomic_fetch_add(&mpmc.sum, sum);
    atomic_fetch_add(&mpmc.count, count);
    mpmc.consumer_count[id] = count;
    gort_test_wg_done(&mpmc.wg);
}

static int mpmc_main(void *arg) {
    (void)arg;
    ct_add_roots(&mpmc.c, sizeof mpmc.c);
    static const size_t caps[] = {0, 1, 64};
    for (size_t ci = 0; ci < 3; ci++) {
        go_chan *c = go_chan_new_noscan(8, caps[ci]);
        CHECK(c != NULL);
        if (c == NULL)
            break;
        GO_STORE(mpmc.c, c);
        atomic_store(&mpmc.producers_left, MPMC_P);
        atomic_store(&mpmc.sum, 0);
        atomic_store(&mpmc.count, 0);
        memset(&mpmc.wg, 0, sizeof mpmc.wg);
        gort_test_wg_add(&mpmc.wg, MPMC_P + MPMC_C);
        for (intptr_t i = 0; i < MPMC_C; i++)
            ct_spawn(mpmc_consumer, (void *)i);
        for (intptr_t i = 0; i < MPMC_P; i++)
            ct_spawn(mpmc_producer, (void *)i);
        gort_test_wg_wait(&mpmc.wg);
        long long n = (long long)MPMC_P * mpmc.per_producer;
        long long want_sum = n * (n + 1) / 2;
        CHECKF(atomic_load(&mpmc.count) == n && atomic_load(&mpmc.sum) == want_sum,
               "cap %zu: %lld values (sum %lld) received, want %lld (sum %lld)", caps[ci],
               (long long)atomic_load(&mpmc.count), (long long)atomic_load(&mpmc.sum), n, want_sum);
    }
    go_gc_remove_roots(&mpmc.c);
    return 0;
}

static void many_producers_and_consumers_pass_every_value_exactly_once(void **state) {
    (void)state;
    WATCH();
    memset(&mpmc, 0, sizeof mpmc);
    mpmc.per_producer = ct_scaled(25000, 1000);
    ct_run(2, mpmc_main, NULL);
}

/* =============================================================================================
 * 5. The collector
 * ============================================================================================= */

typedef struct gnode {
    uint64_t magic;
    struct gnode *next;
    uint64_t payload[6];
} gnode;

#define GNODE_MAGIC 0x676e6f64652d6368ULL
static const size_t gnode_ptrs[] = {offsetof(gnode, next)};
static const go_type gnode_type = {"gnode", sizeof(gnode), 1, gnode_ptrs, NULL};

static void gnode_fill(gnode *n, uint64_t id) {
    n->magic = GNODE_MAGIC ^ id;
    for (int i = 0; i < 6; i++)
        n->payload[i] = id * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
}

static bool gnode_intact(const gnode *n, uint64_t id) {
    if (n == NULL || n->magic != (GNODE_MAGIC ^ id))
        return false;
    for (int i = 0; i < 6; i++)
        if (n->payload[i] != id * 0x9e3779b97f4a7c15ULL + (uint64_t)i)
            return false;
    return true;
}

/* A node (id) -> child (id + 1 << 32), both collected. */
NOINLINE static gnode *new_pair(uint64_t id) {
    gnode *n = go_new(&gnode_type), *child = go_new(&gnode_type);
    CHECK(n != NULL && child != NULL);
    if (n == NULL || child == NULL)
        return NULL;
    gnode_fill(n, id);
    gnode_fill(child, id + ((uint64_t)1 << 32));
    GO_STORE(n->next, child);
    return n;
}

static bool pair_intact(const gnode *n, uint64_t id) {
    return gnode_intact(n, id) && gnode_intact(n->next, id + ((uint64_t)1 << 32));
}

/* Garbage of the nodes' size class, filled with junk: a node freed while
 * reachable is likely reused and damaged. */
NOINLINE static void churn(void) {
    for (int i = 0; i < 4096; i++) {
        gnode *n = go_new(&gnode_type);
        if (n == NULL)
            return;
        memset(n->payload, 0xee, sizeof n->payload);
        n->magic = 0xeeeeeeeeeeeeeeeeULL;
    }
}

NOINLINE static void collect_and_churn(int rounds) {
    for (int r = 0; r < rounds; r++) {
        ct_clear_stack();
        go_gc_collect();
        churn();
    }
    ct_clear_stack();
    go_gc_collect();
    ct_clear_stack();
}

/* Element layouts: 8 bytes (the pointer), 24 (tag, pointer, tag), 100 (the
 * pointer at 48 and the child's at 88, the rest tags). */
static size_t layout_size(int layout) {
    return layout == 0 ? 8 : layout == 1 ? 24 : 100;
}

static void layout_pack(int layout, unsigned char *e, gnode *n, uint64_t id) {
    memset(e, 0, 100);
    switch (layout) {
    case 0:
        memcpy(e, &n, sizeof n);
        break;
    case 1:
        memcpy(e, &id, 8);
        memcpy(e + 8, &n, sizeof n);
        memcpy(e + 16, &id, 8);
        break;
    default:
        memset(e, 0x11, 100);
        memcpy(e, &id, 8);
        memcpy(e + 48, &n, sizeof n);
        memcpy(e + 88, &n->next, sizeof n);
        break;
    }
}

static gnode *layout_unpack(int layout, const unsigned char *e, uint64_t *id) {
    gnode *n;
    switch (layout) {
    case 0:
        memcpy(&n, e, sizeof n);
        break;
    case 1:
        memcpy(id, e, 8);
        memcpy(&n, e + 8, sizeof n);
        break;
    default:
        memcpy(id, e, 8);
        memcpy(&n, e + 48, sizeof n);
        break;
    }
    return n;
}

/* Sends count pairs (ids id0..) into c; no copy of the pointers stays on this
 * task's stack once it returns (ct_clear_stack below the caller). */
NOINLINE static void fill_channel(go_chan *c, int layout, uint64_t id0, int count) {
    unsigned char e[100];
    for (int i = 0; i < count; i++) {
        gnode *n = new_pair(id0 + (uint64_t)i);
        if (n == NULL)
            return;
        layout_pack(layout, e, n, id0 + (uint64_t)i);
        CHECK_RC(go_chan_try_send(c, e), 0);
    }
    memset(e, 0, sizeof e);
    __asm__ volatile("" : : "r"(e) : "memory");
}

/* Receives count elements and checks their pairs: ids id0.. in order. */
NOINLINE static void drain_and_check(go_chan *c, int layout, uint64_t id0, int count,
                                     const char *what) {
    unsigned char e[100];
    for (int i = 0; i < count; i++) {
        memset(e, 0, sizeof e);
        int rc = go_chan_try_recv(c, e);
        CHECKF(rc == 0, "%s, layout %d: receive %d: %d (%s)", what, layout, i, rc, go_strerror(rc));
        if (rc != 0)
            return;
        uint64_t id = id0 + (uint64_t)i, tag = id;
        gnode *n = layout_unpack(layout, e, &tag);
        CHECKF(tag == id, "%s, layout %d: element %d carries tag %llu", what, layout, i,
               (unsigned long long)tag);
        CHECKF(pair_intact(n, id),
               "%s, layout %d: the object behind element %d (id %llu) was freed or damaged "
               "while only the channel buffer held it",
               what, layout, i, (unsigned long long)id);
        if (layout == 2) {
            gnode *child;
            memcpy(&child, e + 88, sizeof child);
            CHECKF(n == NULL || child == n->next, "layout 2: element %d's second pointer changed",
                   i);
        }
    }
}

#define BUF_CAP 16

static int buffer_roots_main(void *arg) {
    (void)arg;
    uint64_t id = 1;
    for (int layout = 0; layout < 3; layout++) {
        go_chan *c = go_chan_new(layout_size(layout), BUF_CAP);
        CHECK(c != NULL);
        if (c == NULL)
            return 0;
        /* Full buffer. */
        fill_channel(c, layout, id, BUF_CAP);
        collect_and_churn(3);
        drain_and_check(c, layout, id, BUF_CAP, "full buffer");
        id += BUF_CAP;
        /* A buffer whose live elements wrap around its end: 10 in, 10 out,
         * then 16 in (6 before the end, 10 after the start). */
        fill_channel(c, layout, id, 10);
        drain_and_check(c, layout, id, 10, "before wrapping");
        id += 10;
        fill_channel(c, layout, id, BUF_CAP);
        collect_and_churn(3);
        drain_and_check(c, layout, id, BUF_CAP, "wrapped buffer");
        id += BUF_CAP;
    }
    return 0;
}

static void pointers_held_only_by_a_channel_buffer_survive_collections(void **state) {
    (void)state;
    WATCH();
    ct_run(1, buffer_roots_main, NULL);
    ct_run(2, buffer_roots_main, NULL);
}

typedef struct holder {
    go_chan *c;
    uint64_t tag;
} holder;
static const size_t holder_ptrs[] = {offsetof(holder, c)};
static const go_type holder_type = {"holder", sizeof(holder), 1, holder_ptrs, NULL};

/* A holder whose channel is referenced only by the holder. */
NOINLINE static holder *new_holder(uint64_t id0) {
    holder *h = go_new(&holder_type);
    go_chan *c = go_chan_new(8, 8);
    CHECK(h != NULL && c != NULL);
    if (h == NULL || c == NULL)
        return NULL;
    fill_channel(c, 0, id0, 8);
    GO_STORE(h->c, c);
    h->tag = 0x401de5;
    return h;
}

/* Sends into outer a channel referenced by nothing else. */
NOINLINE static void send_inner(go_chan *outer, uint64_t id0) {
    go_chan *inner = go_chan_new(8, 8);
    CHECK(inner != NULL);
    if (inner == NULL)
        return;
    fill_channel(inner, 0, id0, 8);
    CHECK_RC(go_chan_send(outer, &inner), 0);
}

static int channel_reachability_main(void *arg) {
    (void)arg;
    holder *h = new_holder(5000);
    go_chan *outer = go_chan_new(sizeof(go_chan *), 2);
    CHECK(outer != NULL);
    if (h == NULL || outer == NULL)
        return 0;
    send_inner(outer, 6000);
    collect_and_churn(3);
    CHECK(h->tag == 0x401de5);
    drain_and_check(h->c, 0, 5000, 8, "channel held by a heap object");
    go_chan *inner = NULL;
    CHECK_RC(go_chan_recv(outer, &inner), 0);
    CHECK(inner != NULL && go_chan_cap(inner) == 8 && go_chan_len(inner) == 8);
    if (inner != NULL)
        drain_and_check(inner, 0, 6000, 8, "channel held by another channel's buffer");
    return 0;
}

static void
channel_reachable_only_from_a_heap_object_or_a_channel_survives_with_its_values(void **state) {
    (void)state;
    WATCH();
    ct_run(2, channel_reachability_main, NULL);
}

/* ---- pointers that move only by the runtime's copies, while marking ---------------------------
 */

/* Tokens circulate in a ring of relay tasks. At any moment a token is
 * referenced from one place only: a relay's local, a channel buffer or a
 * waiting sender's value, or a field of a relay's heap box that a receive
 * wrote into directly. Relays sometimes replace a token by a fresh copy,
 * making garbage; a collector task runs cycles back to back, marking in
 * slices with the world running between them (GORT_DEBUG gcslice), so the
 * copies made by sends, receives and selects happen while the barrier is on.
 * Freed objects are poisoned: a token freed while referenced shows. */

typedef struct tok {
    uint64_t magic; /* TOK_MAGIC ^ id */
    struct tok *child;
    uint64_t id, hops;
    uint64_t pad[4];
} tok;
#define TOK_MAGIC 0x746f6b656e2d6368ULL
#define TOK_CHILD_MAGIC 0x6368696c642d746fULL
static const size_t tok_ptrs[] = {offsetof(tok, child)};
static const go_type tok_type = {"tok", sizeof(tok), 1, tok_ptrs, NULL};

typedef struct box {
    tok *p;
    uint64_t junk;
} box;
static const size_t box_ptrs[] = {offsetof(box, p)};
static const go_type box_type = {"box", sizeof(box), 1, box_ptrs, NULL};

#define RING 4
#define TOKENS 6

typedef struct ring_shared {
    go_chan *ring[RING], *done; /* registered root */
    int64_t limit;
    atomic_long bad, replaced, hops, cycles;
    atomic_int stop;
    gort_test_wg wg;
} ring_shared;

static ring_shared rg;

NOINLINE static tok *tok_new(uint64_t id, uint64_t hops) {
    tok *t = go_new(&tok_type), *c = go_new(&tok_type);
    if (t == NULL || c == NULL)
        return NULL;
    t->magic = TOK_MAGIC ^ id;
    t->id = id;
    t->hops = hops;
    c->magic = TOK_CHILD_MAGIC ^ id;
    c->id = id;
    GO_STORE(t->child, c);
    return t;
}

static bool tok_intact(const tok *t) {
    return t != NULL && t->magic == (TOK_MAGIC ^ t->id) && t->id < TOKENS && t->child != NULL &&
           t->child->magic == (TOK_CHILD_MAGIC ^ t->id) && t->child->id == t->id;
}

static void relay(void *arg) {
    intptr_t r = (intptr_t)arg;
    go_chan *in = rg.ring[r], *out = rg.ring[(r + 1) % RING], *done = rg.done;
    box *b = go_new(&box_type);
    CHECK(b != NULL);
    ct_rng rng = ct_rng_seed(0x7e1a + (uint64_t)r);
    for (long k = 0;; k++) {
        int how = (int)ct_rand_below(&rng, 4);
        tok *t = NULL;
        int rc;
        /* Receive: into a local, into the heap box, or by select. */
        if (how == 0 && b != NULL) {
            rc = go_chan_recv(in, &b->p);
            t = b->p;
        } else if (how == 1) {
            go_case cs[2] = {{.chan = in, .dir = GO_RECV, .elem = &t},
                             {.chan = NULL, .dir = GO_RECV, .elem = NULL}};
            rc = go_select(cs, 2, GO_FOREVER);
            rc = rc == 0 ? cs[0].result : rc;
        } else {
            rc = go_chan_recv(in, &t);
        }
        if (rc == GO_ECLOSED)
            break;
        if (rc != 0 || !tok_intact(t)) {
            atomic_fetch_add(&rg.bad, 1);
            break;
        }
        atomic_fetch_add(&rg.hops, 1);
        if (ct_rand_below(&rng, 4) == 0) {
            tok *fresh = tok_new(t->id, t->hops);
            if (fresh != NULL) {
                t = fresh; /* the old one is garbage now */
                atomic_fetch_add(&rg.replaced, 1);
            }
        }
        t->hops++;
        go_chan *dest = (int64_t)t->hops >= rg.limit ? done : out;
        /* Send: from a local, from the heap box, or by select. */
        int send_how = (int)ct_rand_below(&rng, 3);
        if (send_how == 0 && b != NULL) {
            GO_STORE(b->p, t);
            t = NULL;
            rc = go_chan_send(dest, &b->p);
            GO_STORE(b->p, NULL);
        } else if (send_how == 1) {
            go_case cs[1] = {{.chan = dest, .dir = GO_SEND, .elem = &t}};
            rc = go_select(cs, 1, GO_FOREVER);
            rc = rc == 0 ? cs[0].result : rc;
        } else {
            rc = go_chan_send(dest, &t);
        }
        t = NULL;
        if (b != NULL)
            GO_STORE(b->p, NULL);
        if (rc == GO_ECLOSED)
            break;
        if (rc != 0) {
            atomic_fetch_add(&rg.bad, 1);
            break;
        }
    }
    gort_test_wg_done(&rg.wg);
}

static void ring_collector(void *arg) {
    (void)arg;
    while (!atomic_load(&rg.stop)) {
        go_gc_collect();
        atomic_fetch_add(&rg.cycles, 1);
        go_yield();
    }
    gort_test_wg_done(&rg.wg);
}

NOINLINE static void inject_tokens(go_chan *first) {
    for (uint64_t id = 0; id < TOKENS; id++) {
        tok *t = tok_new(id, 0);
        CHECK(t != NULL);
        if (t != NULL)
            CHECK_RC(go_chan_send(first, &t), 0);
    }
}

static int ring_main(void *arg) {
    (void)arg;
    ct_add_roots(&rg, sizeof rg.ring + sizeof rg.done);
    for (int i = 0; i < RING; i++) {
        go_chan *c = go_chan_new(sizeof(tok *), i % 2 ? 2 : 0);
        CHECK(c != NULL);
        if (c == NULL)
            return 0;
        GO_STORE(rg.ring[i], c);
    }
    go_chan *done = go_chan_new(sizeof(tok *), TOKENS);
    CHECK(done != NULL);
    if (done == NULL)
        return 0;
    GO_STORE(rg.done, done);
    gort_test_wg_add(&rg.wg, RING + 1);
    ct_spawn(ring_collector, NULL);
    for (intptr_t r = 0; r < RING; r++)
        ct_spawn(relay, (void *)r);
    inject_tokens(rg.ring[0]);
    bool seen[TOKENS] = {false};
    for (int n = 0; n < TOKENS; n++) {
        tok *t = NULL;
        CHECK_RC(go_chan_recv(done, &t), 0);
        if (!tok_intact(t)) {
            CHECKF(false, "a token came back damaged (freed while only a channel, a box or a "
                          "waiting sender held it?)");
            continue;
        }
        CHECKF(!seen[t->id], "token %llu came back twice", (unsigned long long)t->id);
        seen[t->id] = true;
        CHECKF((int64_t)t->hops == rg.limit, "token %llu: %llu hops", (unsigned long long)t->id,
               (unsigned long long)t->hops);
    }
    atomic_store(&rg.stop, 1);
    for (int i = 0; i < RING; i++)
        go_chan_close(rg.ring[i]);
    gort_test_wg_wait(&rg.wg);
    go_gc_remove_roots(&rg);
    return 0;
}

static void
pointers_moved_only_by_channel_copies_while_marking_in_slices_are_never_lost(void **state) {
    (void)state;
    WATCH();
    const char *old = getenv("GORT_DEBUG");
    char *saved = old != NULL ? strdup(old) : NULL;
    static const char *modes[] = {"poison=1,gcslice=16,checkmark=1", "poison=1"};
    for (int m = 0; m < 2; m++) {
        memset(&rg, 0, sizeof rg);
        rg.limit = ct_scaled(m == 0 ? 2000 : 3000, 40);
        setenv("GORT_DEBUG", modes[m], 1);
        ct_run(2, ring_main, NULL);
        print_message("GORT_DEBUG=%s: %ld hops, %ld tokens replaced, %ld collections\n", modes[m],
                      atomic_load(&rg.hops), atomic_load(&rg.replaced), atomic_load(&rg.cycles));
        assert_int_equal(atomic_load(&rg.bad), 0);
    }
    if (saved != NULL) {
        setenv("GORT_DEBUG", saved, 1);
        free(saved);
    } else {
        unsetenv("GORT_DEBUG");
    }
}

/* ---- a receive that overwrites a heap field shades the old pointer (rule 12) ------------------
 */

/* The deletion-barrier case: a token T is referenced only from the field
 * box->p of a heap object that the marker reaches last (the box hangs at the
 * end of a long chain, and the task holds it only as a hidden word). Once
 * marking has begun (the task's stack was scanned at mark start), the task
 * reads T into a local, then a receive (or a select) writes into box->p: the
 * zero value from a closed channel, or another value. Unless the runtime's
 * copy shades the pointer it overwrites, T ends up referenced only from an
 * already-scanned stack and is freed (and poisoned) at the sweep.
 * The marking is sliced (GORT_DEBUG gcslice) so that the world runs while it
 * lasts; a trial where the cycle ended before the task saw it marking proves
 * nothing and is skipped (counted). */

typedef struct clink {
    struct clink *next;
    tok *p;
    uint64_t pad;
} clink;
static const size_t clink_ptrs[] = {offsetof(clink, next), offsetof(clink, p)};
static const go_type clink_type = {"clink", sizeof(clink), 2, clink_ptrs, NULL};

#define CLINK_MASK ((uintptr_t)0x5a5a0ff0c3c3a5a5ULL)

typedef struct yuasa {
    atomic_int request, stop;
    atomic_long cycles_done;
    long trials, skipped, lost;
    gort_test_wg wg;
} yuasa;

static yuasa yu;

static void yuasa_collector(void *arg) {
    (void)arg;
    long served = 0;
    while (!atomic_load(&yu.stop)) {
        if (atomic_load(&yu.request) > served) {
            served++;
            go_gc_collect();
            atomic_fetch_add(&yu.cycles_done, 1);
        } else {
            go_yield();
        }
    }
    gort_test_wg_done(&yu.wg);
}

/* A chain of n links whose last one is the box, holding a fresh token; the
 * box comes back hidden. Returns the chain's head. */
NOINLINE static clink *build_chain(long n, uint64_t id, uintptr_t *hidden_box) {
    clink *head = NULL;
    clink *box = go_new(&clink_type);
    tok *t = tok_new(id, 0);
    if (box == NULL || t == NULL)
        return NULL;
    GO_STORE(box->p, t);
    clink *tail = box;
    for (long i = 0; i < n; i++) {
        clink *l = go_new(&clink_type);
        if (l == NULL)
            return NULL;
        GO_STORE(l->next, tail);
        tail = l;
    }
    head = tail;
    *hidden_box = (uintptr_t)box ^ CLINK_MASK;
    return head;
}

/* Takes box->p into the caller's hands, then overwrites box->p through a
 * channel operation of the given kind. */
NOINLINE static tok *steal_and_overwrite(uintptr_t hidden_box, int kind, go_chan *closed,
                                         go_chan *full) {
    clink *box = (clink *)(hidden_box ^ CLINK_MASK);
    tok *t = box->p; /* a plain load: no barrier */
    switch (kind) {
    case 0:
        CHECK_RC(go_chan_recv(closed, &box->p), GO_ECLOSED);
        break; /* zeroes it */
    case 1:
        CHECK_RC(go_chan_recv(full, &box->p), 0);
        break; /* another value */
    case 2: {
        go_case cs[1] = {{.chan = full, .dir = GO_RECV, .elem = &box->p}};
        CHECK_RC(go_select(cs, 1, GO_FOREVER), 0);
        break;
    }
    default: {
        go_case cs[1] = {{.chan = closed, .dir = GO_RECV, .elem = &box->p}};
        CHECK_RC(go_select(cs, 1, GO_FOREVER), 0);
        break;
    }
    }
    box = NULL;
    return t;
}

static int yuasa_main(void *arg) {
    (void)arg;
    long chain_len = ct_scaled(20000, 4000);
    go_chan *closed = go_chan_new(sizeof(tok *), 0);
    go_chan *full = go_chan_new(sizeof(tok *), 1);
    CHECK(closed != NULL && full != NULL);
    if (closed == NULL || full == NULL)
        return 0;
    go_chan_close(closed);
    gort_test_wg_add(&yu.wg, 1);
    ct_spawn(yuasa_collector, NULL);
    for (long trial = 0; trial < yu.trials; trial++) {
        int kind = (int)(trial % 4);
        /* Start outside a cycle. */
        while (gort_gc_marking())
            go_yield();
        tok *filler = tok_new(1, 0); /* what a receive from full writes */
        if (kind == 1 || kind == 2)
            CHECK_RC(go_chan_try_send(full, &filler), 0);
        filler = NULL;
        uintptr_t hidden = 0;
        clink *volatile head = build_chain(chain_len, 0, &hidden);
        CHECK(head != NULL);
        if (head == NULL)
            break;
        ct_clear_stack();
        long before = atomic_load(&yu.cycles_done);
        atomic_fetch_add(&yu.request, 1);
        int64_t t0 = go_now();
        while (!gort_gc_marking() && atomic_load(&yu.cycles_done) == before &&
               go_now() - t0 < 10 * CT_S)
            go_yield();
        if (!gort_gc_marking()) {
            yu.skipped++;
            while (atomic_load(&yu.cycles_done) == before)
                go_yield();
            continue;
        }
        tok *volatile kept = steal_and_overwrite(hidden, kind, closed, full);
        hidden = 0;
        while (atomic_load(&yu.cycles_done) == before)
            go_yield();
        churn();
        tok *t = kept;
        if (!tok_intact(t)) {
            yu.lost++;
            CHECKF(false,
                   "trial %ld: a token read from a heap field whose pointer a %s then "
                   "overwrote was freed while a task held it: the runtime's copy did not "
                   "shade the pointer it overwrote (DESIGN.md section 7 rule 12)",
                   trial,
                   kind == 0   ? "receive of the zero value (closed channel)"
                   : kind == 1 ? "receive of a value"
                   : kind == 2 ? "select receive of a value"
                               : "select receive of the zero value (closed channel)");
        }
        kept = NULL;
        head = NULL;
    }
    atomic_store(&yu.stop, 1);
    gort_test_wg_wait(&yu.wg);
    return 0;
}

static void receives_into_a_heap_field_shade_the_pointer_they_overwrite(void **state) {
    (void)state;
    WATCH();
    const char *old = getenv("GORT_DEBUG");
    char *saved = old != NULL ? strdup(old) : NULL;
    setenv("GORT_DEBUG", "poison=1,gcslice=16", 1);
    memset(&yu, 0, sizeof yu);
    yu.trials = 16;
    ct_run(2, yuasa_main, NULL);
    if (saved != NULL) {
        setenv("GORT_DEBUG", saved, 1);
        free(saved);
    } else {
        unsetenv("GORT_DEBUG");
    }
    print_message("%ld trials, %ld skipped (the cycle ended first), %ld tokens lost\n", yu.trials,
                  yu.skipped, yu.lost);
    assert_true(yu.skipped < yu.trials);
}

/* =============================================================================================
 * 6. Threads that are not tasks
 * ============================================================================================= */

typedef struct thread_talk {
    go_handle *req_h, *rep_h, *ctl_h; /* created by the task; the thread only reads them */
    int64_t rounds;
    atomic_int phase; /* the thread's progress, see below */
    atomic_int done;
    int64_t timeout_took;
    int timeout_rc, closed_rc, closed_zeroed, try_rc;
} thread_talk;

/* An unattached thread: it never allocates; it reaches the channels through
 * handles. */
static void unattached_talker(void *arg) {
    thread_talk *t = arg;
    go_chan *req = go_handle_get(t->req_h), *rep = go_handle_get(t->rep_h);
    for (int64_t i = 0; i < t->rounds; i++) {
        int64_t v = -1;
        int rc = i % 2 ? go_chan_recv(req, &v) : go_chan_recv_timeout(req, &v, 60 * CT_S);
        CHECK_RC(rc, 0);
        CHECKF(v == i, "thread: request %lld carried %lld", (long long)i, (long long)v);
        int64_t r = v * 3 + 1;
        rc = i % 3 ? go_chan_send(rep, &r) : go_chan_send_timeout(rep, &r, GO_FOREVER);
        CHECK_RC(rc, 0);
    }
    atomic_store(&t->phase, 1);
    int64_t v = -1;
    t->try_rc = go_chan_try_recv(req, &v);
    int64_t t0 = go_now();
    t->timeout_rc = go_chan_recv_timeout(req, &v, 10 * CT_MS);
    t->timeout_took = go_now() - t0;
    atomic_store(&t->phase, 2);
    v = -1;
    t->closed_rc = go_chan_recv(req, &v); /* blocks until the task closes req */
    t->closed_zeroed = v == 0;
    atomic_store(&t->done, 1);
}

static int unattached_main(void *arg) {
    thread_talk *t = arg;
    go_chan *req = go_chan_new_noscan(8, 0), *rep = go_chan_new_noscan(8, 0);
    CHECK(req != NULL && rep != NULL);
    if (req == NULL || rep == NULL)
        return 0;
    t->req_h = go_handle_new(req);
    t->rep_h = go_handle_new(rep);
    CHECK(t->req_h != NULL && t->rep_h != NULL);
    uv_thread_t th;
    if (uv_thread_create(&th, unattached_talker, t) != 0) {
        CHECK(false);
        return 0;
    }
    for (int64_t i = 0; i < t->rounds; i++) {
        if (i == t->rounds / 2) {
            /* The thread is (about to be) blocked in its receive: a pause
             * must not wait for it. */
            go_sleep(2 * CT_MS);
            go_gc_collect();
        }
        int rc = i % 4 == 1 ? go_chan_send_timeout(req, &i, 60 * CT_S) : go_chan_send(req, &i);
        CHECK_RC(rc, 0);
        int64_t r = -1;
        rc = i % 5 == 2 ? go_chan_recv_timeout(rep, &r, 60 * CT_S) : go_chan_recv(rep, &r);
        CHECK_RC(rc, 0);
        CHECKF(r == i * 3 + 1, "task: reply %lld carried %lld", (long long)i, (long long)r);
    }
    while (atomic_load(&t->phase) < 2)
        go_sleep(CT_MS);
    go_sleep(5 * CT_MS); /* the thread is likely parked in its last receive */
    go_chan_close(req);
    while (!atomic_load(&t->done))
        go_sleep(CT_MS);
    uv_thread_join(&th);
    go_handle_free(t->req_h);
    go_handle_free(t->rep_h);
    return 0;
}

static void
unattached_thread_talks_to_a_task_over_channels_it_reaches_through_handles(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        thread_talk t = {.rounds = ct_scaled(2000, 200)};
        ct_run(workers, unattached_main, &t);
        assert_int_equal(atomic_load(&t.done), 1);
        assert_int_equal(t.try_rc, GO_EAGAIN);
        assert_int_equal(t.timeout_rc, GO_ETIMEDOUT);
        assert_true(t.timeout_took >= 10 * CT_MS);
        assert_int_equal(t.closed_rc, GO_ECLOSED);
        assert_true(t.closed_zeroed);
    }
}

/* An attached thread makes its own channel and hands it to the task over a
 * channel of channels it reaches through a handle. */
static void attached_talker(void *arg) {
    thread_talk *t = arg;
    int rc = go_thread_attach();
    CHECK_RC(rc, 0);
    if (rc != 0) {
        atomic_store(&t->done, 1);
        return;
    }
    go_chan *ctl = go_handle_get(t->ctl_h);
    go_chan *mine = go_chan_new(8, 0);
    CHECK(mine != NULL);
    CHECK_RC(go_chan_send(ctl, &mine), 0);
    for (int64_t i = 0; i < t->rounds; i++) {
        int64_t v = -1;
        CHECK_RC(go_chan_recv(mine, &v), 0);
        CHECKF(v == i * 7, "attached thread: value %lld is %lld", (long long)i, (long long)v);
        if (i % 64 == 0)
            go_safepoint();
    }
    int64_t v = -1;
    t->closed_rc = go_chan_recv(mine, &v);
    t->closed_zeroed = v == 0;
    go_thread_detach();
    atomic_store(&t->done, 1);
}

static int attached_main(void *arg) {
    thread_talk *t = arg;
    go_chan *ctl = go_chan_new(sizeof(go_chan *), 0);
    CHECK(ctl != NULL);
    if (ctl == NULL)
        return 0;
    t->ctl_h = go_handle_new(ctl);
    uv_thread_t th;
    if (uv_thread_create(&th, attached_talker, t) != 0) {
        CHECK(false);
        return 0;
    }
    go_chan *theirs = NULL;
    CHECK_RC(go_chan_recv(ctl, &theirs), 0);
    CHECK(theirs != NULL && go_chan_cap(theirs) == 0);
    if (theirs != NULL) {
        for (int64_t i = 0; i < t->rounds; i++) {
            if (i == t->rounds / 2)
                go_gc_collect();
            int64_t v = i * 7;
            CHECK_RC(go_chan_send(theirs, &v), 0);
        }
        go_chan_close(theirs);
    }
    while (!atomic_load(&t->done))
        go_sleep(CT_MS);
    uv_thread_join(&th);
    go_handle_free(t->ctl_h);
    return 0;
}

static void attached_thread_creates_a_channel_and_hands_it_to_a_task(void **state) {
    (void)state;
    WATCH();
    thread_talk t = {.rounds = ct_scaled(2000, 200)};
    ct_run(2, attached_main, &t);
    assert_int_equal(atomic_load(&t.done), 1);
    assert_int_equal(t.closed_rc, GO_ECLOSED);
    assert_true(t.closed_zeroed);
}

/* ============================================================================================= */

int main(void) {
    ct_prog_name = "test_chan";
    ct_init_scale(ct_prog_name);
    const struct CMUnitTest tests[] = {
        /* 1 */
        T(channels_of_every_element_size_and_capacity_copy_values_exactly_in_fifo_order),
        T(new_returns_null_when_the_buffer_size_overflows),
        T(try_and_timeout_operations_report_eagain_etimedout_and_einval),
        T(timed_out_operations_wait_at_least_their_timeout_and_leave_nothing_behind),
        T(len_and_cap_track_the_buffer_and_a_null_elem_drops_the_value),
        /* 2 */
        T(close_keeps_buffered_values_then_receives_report_eclosed_with_a_zeroed_value),
        T(send_try_send_and_send_timeout_on_a_closed_channel_report_eclosed),
        T(close_wakes_every_blocked_receiver_with_eclosed_and_a_zeroed_value),
        T(close_wakes_every_blocked_sender_with_eclosed_and_drops_their_values),
        T(close_racing_with_senders_and_receivers_loses_and_duplicates_nothing),
        /* 3 */
        T(null_channel_try_operations_give_eagain_and_timed_ones_time_out),
        T(null_channel_blocking_operations_block_forever),
        /* 4 */
        T(concurrent_prime_sieve_finds_the_first_primes),
        T(each_senders_values_arrive_in_order_with_several_senders),
        T(one_senders_values_arrive_in_total_order),
        T(waiting_receivers_are_served_in_the_order_they_parked),
        T(waiting_senders_are_served_in_the_order_they_parked),
        T(daisy_chain_of_ten_thousand_tasks_passes_the_value_along),
        T(non_blocking_operations_give_eagain_until_a_sleeping_partner_is_ready),
        T(zero_size_elements_carry_no_data_but_are_counted),
        T(many_producers_and_consumers_pass_every_value_exactly_once),
        /* 5 */
        T(pointers_held_only_by_a_channel_buffer_survive_collections),
        T(channel_reachable_only_from_a_heap_object_or_a_channel_survives_with_its_values),
        T(pointers_moved_only_by_channel_copies_while_marking_in_slices_are_never_lost),
        T(receives_into_a_heap_field_shade_the_pointer_they_overwrite),
        /* 6 */
        T(unattached_thread_talks_to_a_task_over_channels_it_reaches_through_handles),
        T(attached_thread_creates_a_channel_and_hands_it_to_a_task),
    };
    const char *filter = getenv("TEST_CHAN_FILTER");
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    const char *skip = getenv("TEST_CHAN_SKIP");
    if (skip != NULL)
        cmocka_set_skip_filter(skip);
    return cmocka_run_group_tests(tests, ct_group_setup, ct_group_teardown);
}
