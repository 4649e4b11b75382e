/* bench/select.c - a round trip between two tasks that wait in go_select.
 *
 * Like pingpong, but each side waits for the other's value in a two-case
 * go_select rather than a plain receive: { receive from its in-channel,
 * receive from a quit channel }. The main task sends i on a2b, then selects
 * over { b2a, quit } and must get i + 1 from b2a; the partner selects over
 * { a2b, quit } and answers v + 1 on b2a. All channels are unbuffered and
 * made with go_chan_new_noscan (a2b and b2a carry an int64_t, quit nothing).
 * After n round trips the main task closes quit: the partner's select must
 * then choose the quit case with GO_ECLOSED, and the partner reports the
 * number of round trips it served on a done channel. The metric is the
 * elapsed time of the n round trips divided by n: ns per round trip. A short
 * calibration round picks n so that the timed round lasts about a second
 * (BENCH_SELECT_N fixes it instead), as in the Go twin (bench/go/select). The
 * worker count comes from GORT_MAXPROCS (bench/run.sh runs 1 and 2).
 *
 * When a side reaches its select, the other has normally not answered yet
 * and quit is not closed: so each select usually finds no case ready, queues
 * the task on both channels, parks, and is woken through one of them (then
 * leaves the other's queue), the path that Go's twin takes as well.
 *
 * The partner gets its channels in a collected object (go_new), a root while
 * the partner has not started (docs/gc.md, "Roots").
 *
 * Line:
 *   name=select impl=gort metric=<ns> unit=ns/roundtrip procs=<n> roundtrips=<n>
 *
 * Wrong results (exit 1): a reply that is not the value sent plus one, a
 * select that chooses the quit case before quit is closed (or the value case
 * with GO_ECLOSED), a partner that served another number of round trips, a
 * spawn or an allocation that fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stddef.h>

#include "sized.h"

typedef struct chans {
    go_chan *a2b, *b2a, *quit, *done;
} chans;

static const size_t chans_ptrs[] = {offsetof(chans, a2b), offsetof(chans, b2a),
                                    offsetof(chans, quit), offsetof(chans, done)};
static const go_type chans_type = {
    .name = "select_chans",
    .size = sizeof(chans),
    .nptrs = 4,
    .ptr_offsets = chans_ptrs,
};

static _Noreturn void fail(const char *what, int rc) {
    if (rc != 0)
        fprintf(stderr, "bench_select: %s failed: %s\n", what, go_strerror(rc));
    else
        fprintf(stderr, "bench_select: %s returned NULL\n", what);
    _Exit(1);
}

static void partner(void *arg) {
    const chans *ch = arg;
    go_chan *in = ch->a2b, *out = ch->b2a, *quit = ch->quit, *done = ch->done;
    int64_t served = 0, v;
    for (;;) {
        go_case cases[2] = {
            {.chan = in, .dir = GO_RECV, .elem = &v},
            {.chan = quit, .dir = GO_RECV, .elem = NULL},
        };
        int k = go_select(cases, 2, GO_FOREVER);
        if (k == 1) {
            if (cases[1].result != GO_ECLOSED)
                fail("the partner's select (quit case without GO_ECLOSED)", cases[1].result);
            break;
        }
        if (k != 0)
            fail("go_select (partner)", k);
        if (cases[0].result != 0)
            fail("the partner's select (value case)", cases[0].result);
        v++;
        int rc = go_chan_send(out, &v);
        if (rc != 0)
            fail("go_chan_send (partner)", rc);
        served++;
    }
    int rc = go_chan_send(done, &served);
    if (rc != 0)
        fail("go_chan_send (done)", rc);
}

/* One round of n round trips; returns 0, or -1 after saying what went
 * wrong. */
static int round_of(long n, uint64_t *elapsed_ns) {
    chans *ch = go_new(&chans_type);
    if (ch == NULL)
        fail("go_new", 0);
    go_chan *a2b = go_chan_new_noscan(sizeof(int64_t), 0);
    go_chan *b2a = go_chan_new_noscan(sizeof(int64_t), 0);
    go_chan *quit = go_chan_new_noscan(0, 0);
    go_chan *done = go_chan_new_noscan(sizeof(int64_t), 0);
    if (a2b == NULL || b2a == NULL || quit == NULL || done == NULL)
        fail("go_chan_new_noscan", 0);
    GO_STORE(ch->a2b, a2b);
    GO_STORE(ch->b2a, b2a);
    GO_STORE(ch->quit, quit);
    GO_STORE(ch->done, done);
    int rc = go_spawn(partner, ch);
    if (rc != 0)
        fail("go_spawn", rc);
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        if ((rc = go_chan_send(a2b, &v)) != 0)
            fail("go_chan_send", rc);
        go_case cases[2] = {
            {.chan = b2a, .dir = GO_RECV, .elem = &v},
            {.chan = quit, .dir = GO_RECV, .elem = NULL},
        };
        int k = go_select(cases, 2, GO_FOREVER);
        if (k != 0) {
            fprintf(stderr, "bench_select: round trip %" PRId64 ": go_select returned %d (%s)\n", i,
                    k, k < 0 ? go_strerror(k) : "the quit case, which is not closed yet");
            return -1;
        }
        if (cases[0].result != 0 || v != i + 1) {
            fprintf(stderr,
                    "bench_select: round trip %" PRId64 " returned %" PRId64
                    " (result %d), expected %" PRId64 "\n",
                    i, v, cases[0].result, i + 1);
            return -1;
        }
    }
    *elapsed_ns = bench_now_ns() - t0;
    go_chan_close(quit);
    int64_t served;
    if ((rc = go_chan_recv(done, &served)) != 0)
        fail("go_chan_recv (done)", rc);
    if (served != n) {
        fprintf(stderr, "bench_select: the partner served %" PRId64 " round trips, expected %ld\n",
                served, n);
        return -1;
    }
    return 0;
}

int main(void) {
    static const bench_sized b = {
        .name = "select",
        .env = "BENCH_SELECT_N",
        .probe_n = 20000,
        .lo = 100000,
        .hi = 100000000,
        .round = round_of,
        .ops_per_n = 1,
        .unit = "ns/roundtrip",
        .count_key = "roundtrips",
    };
    return bench_sized_main(&b);
}
