/* gort/chan.h - channels, select and timers, with Go's semantics.
 *
 * A channel (go_chan) is an object of the collected heap: it lives while a
 * task, a collected object or a root refers to it. Values are copied in and
 * out by value, elem_size bytes each; a channel made with go_chan_new is
 * scanned conservatively (its buffered values, and the values of senders
 * waiting on it, keep what they point to alive); go_chan_new_noscan makes one
 * whose values hold no pointers. Every blocking call parks the calling task
 * (never its worker); from a thread that is not a task it blocks the thread,
 * in the blocking-region state, so that pauses never wait for it.
 *
 * Semantics are Go's (docs/api.md lists the few differences):
 *   - values and waiting senders and receivers are served first in, first out;
 *   - an unbuffered channel hands a value straight from sender to receiver;
 *   - close wakes every receiver (zero value, GO_ECLOSED: Go's ok == false)
 *     and every blocked sender (GO_ECLOSED); send on a closed channel returns
 *     GO_ECLOSED; close of a closed or NULL channel is fatal;
 *   - operations on a NULL channel block forever (Go's nil channel);
 *     select skips NULL cases, and an empty select with GO_FOREVER blocks
 *     forever.
 * Timeouts: GO_FOREVER (-1) waits forever, 0 does not wait, other negative
 * values give GO_EINVAL. Durations (go_after, go_sleep, timers): a negative
 * one fires at once. Nothing fires early.
 */
#ifndef GORT_CHAN_H
#define GORT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GO_FOREVER ((int64_t)-1)

typedef struct go_chan go_chan;

/* A channel of cap elements of elem_size bytes (cap 0: unbuffered; elem_size
 * 0: values carry no data). NULL on out of memory or when the buffer's size
 * overflows. From a task or an attached thread. */
go_chan *go_chan_new(size_t elem_size, size_t cap);
go_chan *go_chan_new_noscan(size_t elem_size, size_t cap);

int go_chan_send(go_chan *c, const void *elem);     /* 0 | GO_ECLOSED */
int go_chan_recv(go_chan *c, void *elem);           /* 0 | GO_ECLOSED, *elem zeroed */
int go_chan_try_send(go_chan *c, const void *elem); /* 0 | GO_EAGAIN | GO_ECLOSED */
int go_chan_try_recv(go_chan *c, void *elem);       /* 0 | GO_EAGAIN | GO_ECLOSED */
int go_chan_send_timeout(go_chan *c, const void *elem,
                         int64_t timeout_ns); /* ... | GO_ETIMEDOUT | GO_EINVAL */
int go_chan_recv_timeout(go_chan *c, void *elem,
                         int64_t timeout_ns); /* ... | GO_ETIMEDOUT | GO_EINVAL */
void go_chan_close(go_chan *c);               /* fatal on a closed or NULL channel */
size_t go_chan_len(go_chan *c);               /* NULL: 0 */
size_t go_chan_cap(go_chan *c);               /* NULL: 0 */
/* elem may be NULL when elem_size is 0 (and for recv, when the value is not
 * wanted). */

/* A channel that receives one int64_t, go_now() at the firing, once ns have
 * passed (Go's time.After). NULL on out of memory. */
go_chan *go_after(int64_t ns);

/* A timer (a collected object): fires after ns, then every period_ns if
 * period_ns > 0 (a ticker). Each firing delivers an int64_t, go_now(), on its
 * channel, which holds one: a firing while the last value is unread is
 * dropped, as Go's Ticker does. NULL on out of memory. */
typedef struct go_timer go_timer;
go_timer *go_timer_new(int64_t ns, int64_t period_ns);
go_chan *go_timer_chan(go_timer *t);
/* 1 if it stopped a pending firing, else 0. Empties the channel, so that no
 * stale value is received after it returns (Go 1.23 semantics). */
int go_timer_stop(go_timer *t);
/* As go_timer_stop, then the next firing after ns; a ticker keeps its period.
 * Returns what the stop returned. */
int go_timer_reset(go_timer *t, int64_t ns);

typedef enum go_dir { GO_SEND = 1, GO_RECV = 2 } go_dir;
typedef struct go_case {
    go_chan *chan; /* NULL: the case is never ready */
    go_dir dir;
    void *elem; /* value to send, or where to receive (may be NULL) */
    int result; /* set for the chosen case: 0 or GO_ECLOSED (a send case on
                   a closed channel is ready and reports GO_ECLOSED) */
} go_case;

/* Waits until one case can proceed and carries it out: a case is chosen
 * uniformly at random among the ready ones. Returns its index; GO_EAGAIN when
 * timeout_ns is 0 and none is ready (Go's default case); GO_ETIMEDOUT when the
 * timeout passes; GO_EINVAL for a timeout below -1 or a bad direction.
 * n == 0 (or only NULL channels) with GO_FOREVER blocks forever. */
int go_select(go_case *cases, size_t n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
