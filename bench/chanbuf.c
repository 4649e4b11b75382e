/* bench/chanbuf.c - streaming values through a buffered channel.
 *
 * A producer task sends the int64_t values 0, 1, ..., n-1 through a channel of
 * capacity 1024 (go_chan_new_noscan(sizeof(int64_t), 1024)) and closes it; the
 * main task receives until the channel reports GO_ECLOSED (Go's range over a
 * channel). With one producer the values must arrive in order, so the
 * consumer checks each one, then the count and the sum (n*(n-1)/2). The
 * metric is the elapsed time from the spawn of the producer to the receive
 * that sees the channel closed, divided by n: ns per item. A short calibration
 * round picks n so that the timed round lasts about a second
 * (BENCH_CHANBUF_N fixes it instead), as in the Go twin (bench/go/chanbuf).
 * Run with 2 workers (GORT_MAXPROCS; bench/run.sh sets it), so producer and
 * consumer may run side by side.
 *
 * The producer gets its channel in a collected object (go_new), a root while
 * the producer has not started (docs/gc.md, "Roots").
 *
 * Line:
 *   name=chanbuf impl=gort metric=<ns> unit=ns/item procs=<n> items=<n> cap=1024
 *
 * Wrong results (exit 1): a value out of order, a count or sum that does not
 * add up, a send that reports GO_ECLOSED, a spawn or an allocation that fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stddef.h>

#include "sized.h"

enum { CAP = 1024 };

typedef struct producer_arg {
    go_chan *c;
    int64_t n;
} producer_arg;

static const size_t producer_arg_ptrs[] = {offsetof(producer_arg, c)};
static const go_type producer_arg_type = {
    .name = "chanbuf_producer_arg",
    .size = sizeof(producer_arg),
    .nptrs = 1,
    .ptr_offsets = producer_arg_ptrs,
};

static _Noreturn void fail(const char *what, int rc) {
    if (rc != 0)
        fprintf(stderr, "bench_chanbuf: %s failed: %s\n", what, go_strerror(rc));
    else
        fprintf(stderr, "bench_chanbuf: %s returned NULL\n", what);
    _Exit(1);
}

static void producer(void *arg) {
    const producer_arg *a = arg;
    go_chan *c = a->c;
    int64_t n = a->n;
    for (int64_t i = 0; i < n; i++) {
        int rc = go_chan_send(c, &i);
        if (rc != 0)
            fail("go_chan_send", rc);
    }
    go_chan_close(c);
}

/* One round of n items; returns 0, or -1 after saying what went wrong. */
static int round_of(long n, uint64_t *elapsed_ns) {
    producer_arg *a = go_new(&producer_arg_type);
    if (a == NULL)
        fail("go_new", 0);
    go_chan *c = go_chan_new_noscan(sizeof(int64_t), CAP);
    if (c == NULL)
        fail("go_chan_new_noscan", 0);
    GO_STORE(a->c, c);
    a->n = n;
    uint64_t t0 = bench_now_ns();
    int rc = go_spawn(producer, a);
    if (rc != 0)
        fail("go_spawn", rc);
    int64_t count = 0, sum = 0, v;
    while ((rc = go_chan_recv(c, &v)) == 0) {
        if (v != count) {
            fprintf(stderr, "bench_chanbuf: item %" PRId64 " is %" PRId64 "\n", count, v);
            return -1;
        }
        sum += v;
        count++;
    }
    uint64_t t1 = bench_now_ns();
    if (rc != GO_ECLOSED) {
        fprintf(stderr, "bench_chanbuf: go_chan_recv: %s\n", go_strerror(rc));
        return -1;
    }
    if (v != 0) {
        fprintf(stderr,
                "bench_chanbuf: a receive from the closed channel gave %" PRId64
                ", not the zero value\n",
                v);
        return -1;
    }
    if (count != n || sum != (int64_t)n * (n - 1) / 2) {
        fprintf(stderr,
                "bench_chanbuf: received %" PRId64 " items summing to %" PRId64
                ", expected %ld summing to %" PRId64 "\n",
                count, sum, n, (int64_t)n * (n - 1) / 2);
        return -1;
    }
    *elapsed_ns = t1 - t0;
    return 0;
}

int main(void) {
    static const bench_sized b = {
        .name = "chanbuf",
        .env = "BENCH_CHANBUF_N",
        .probe_n = 200000,
        .lo = 1000000,
        .hi = 1000000000,
        .round = round_of,
        .ops_per_n = 1,
        .unit = "ns/item",
        .count_key = "items",
        .extra_key = "cap",
        .extra_value = CAP,
    };
    return bench_sized_main(&b);
}
