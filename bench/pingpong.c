/* bench/pingpong.c - a round trip between two tasks over unbuffered channels.
 *
 * The main task spawns a partner and the two bounce an int64_t over two
 * unbuffered channels (go_chan_new_noscan(sizeof(int64_t), 0)): the main task
 * sends i on ping and receives on pong; the partner receives v on ping and
 * sends v + 1 on pong, n times. Each reply must be i + 1. The metric is the
 * elapsed time of the n round trips divided by n: ns per round trip (two
 * handoffs, each of which parks one task and readies the other). A short
 * calibration round picks n so that the timed round lasts about a second
 * (BENCH_PINGPONG_N fixes it instead); the Go twin (bench/go/pingpong)
 * calibrates itself the same way. The worker count comes from GORT_MAXPROCS
 * (bench/run.sh runs 1 and 2).
 *
 * The partner gets its channels in a collected object (go_new), a root while
 * the partner has not started (docs/gc.md, "Roots"); the main task holds them
 * on its stack throughout as well.
 *
 * Line:
 *   name=pingpong impl=gort metric=<ns> unit=ns/roundtrip procs=<n> roundtrips=<n>
 *
 * Wrong results (exit 1): a reply that is not the value sent plus one, a
 * channel operation that reports GO_ECLOSED, a spawn or an allocation that
 * fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stddef.h>

#include "sized.h"

typedef struct pair {
    go_chan *ping, *pong;
    int64_t n;
} pair;

static const size_t pair_ptrs[] = {offsetof(pair, ping), offsetof(pair, pong)};
static const go_type pair_type = {
    .name = "pingpong_pair",
    .size = sizeof(pair),
    .nptrs = 2,
    .ptr_offsets = pair_ptrs,
};

static _Noreturn void fail(const char *what, int rc) {
    if (rc != 0)
        fprintf(stderr, "bench_pingpong: %s failed: %s\n", what, go_strerror(rc));
    else
        fprintf(stderr, "bench_pingpong: %s returned NULL\n", what);
    _Exit(1);
}

static void partner(void *arg) {
    const pair *p = arg;
    go_chan *ping = p->ping, *pong = p->pong;
    int64_t n = p->n;
    int rc;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        if ((rc = go_chan_recv(ping, &v)) != 0)
            fail("go_chan_recv (partner)", rc);
        v++;
        if ((rc = go_chan_send(pong, &v)) != 0)
            fail("go_chan_send (partner)", rc);
    }
}

/* One round of n round trips; returns 0, or -1 after saying what went
 * wrong. */
static int round_of(long n, uint64_t *elapsed_ns) {
    pair *p = go_new(&pair_type);
    if (p == NULL)
        fail("go_new", 0);
    go_chan *ping = go_chan_new_noscan(sizeof(int64_t), 0);
    go_chan *pong = go_chan_new_noscan(sizeof(int64_t), 0);
    if (ping == NULL || pong == NULL)
        fail("go_chan_new_noscan", 0);
    GO_STORE(p->ping, ping);
    GO_STORE(p->pong, pong);
    p->n = n;
    int rc = go_spawn(partner, p);
    if (rc != 0)
        fail("go_spawn", rc);
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        if ((rc = go_chan_send(ping, &v)) != 0)
            fail("go_chan_send", rc);
        if ((rc = go_chan_recv(pong, &v)) != 0)
            fail("go_chan_recv", rc);
        if (v != i + 1) {
            fprintf(stderr,
                    "bench_pingpong: round trip %" PRId64 " returned %" PRId64 ", expected %" PRId64
                    "\n",
                    i, v, i + 1);
            return -1;
        }
    }
    *elapsed_ns = bench_now_ns() - t0;
    return 0;
}

int main(void) {
    static const bench_sized b = {
        .name = "pingpong",
        .env = "BENCH_PINGPONG_N",
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
