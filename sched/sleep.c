/* sched/sleep.c - go_sleep and the public timers (go_timer, go_after).
 *
 * go_sleep is a wait (sched/wait.h) that only its deadline can win.
 *
 * A go_timer is a collected object holding a timer entry (sched/timer.h) and
 * a noscan channel of one int64_t slot. Its own runtime lock and a sequence
 * number give Go 1.23's guarantees: a firing delivers under the lock, and
 * only if the sequence number it started with is still current; stop and
 * reset bump it and empty the channel under the same lock. So after stop or
 * reset returns, no value from before is received. Lock order: the timer's
 * lock, then a heap's (gort_timer_del) or the channel's (the delivery); the
 * firing takes the timer's lock with no heap lock held, so the order holds.
 * A firing while the last value is unread is dropped (the channel holds one),
 * as Go's Ticker drops ticks for a slow reader.
 */
#include "gc/gc.h"
#include "sched/chan.h"
#include "sched/internal.h"
#include "sched/timer.h"
#include "sched/wait.h"

struct go_timer {
    gort_timer_entry entry;
    gort_rt_lock lock;
    uint64_t seq; /* [lock] */
    go_chan *chan;
};

static void no_unlock(void *arg) {
    (void)arg;
}

void go_sleep(int64_t ns) {
    if (ns <= 0)
        return;
    gort_call call = gort_call_enter();
    gort_wait w;
    gort_wait_init(&w, call.task, gort_deadline_after(ns), 0);
    gort_wait_block(&w, no_unlock, NULL, "sleep");
    gort_call_leave(call);
}

static void timer_scan(void *obj, gort_gc_scanner *s) {
    gort_gc_scan_ptr(s, ((go_timer *)obj)->chan);
}

static void timer_fire(gort_timer_entry *e, int64_t now, uint64_t seq) {
    go_timer *t = (go_timer *)e;
    gort_rt_lock_acquire(&t->lock);
    if (seq == t->seq) /* not stopped or reset since this firing was taken */
        (void)gort_chan_offer(t->chan, &now);
    gort_rt_lock_release(&t->lock);
}

static void drain(go_timer *t) {
    int64_t v;
    while (gort_chan_take(t->chan, &v) == 0) {
    }
}

static void arm(go_timer *t, int64_t ns) {
    int64_t now = gort_rt_nanotime();
    t->entry.when = ns <= 0 ? now : (ns > INT64_MAX - now ? INT64_MAX - 1 : now + ns);
    t->entry.seq = t->seq;
    if (!gort_timer_add(&t->entry))
        gort_rt_fatal("a timer armed while the runtime is not running");
}

go_timer *go_timer_new(int64_t ns, int64_t period_ns) {
    go_chan *c = go_chan_new_noscan(sizeof(int64_t), 1);
    if (c == NULL)
        return NULL;
    go_timer *t = gort_gc_new_custom(sizeof *t, timer_scan);
    if (t == NULL)
        return NULL;
    t->chan = c;
    t->entry.fire = timer_fire;
    t->entry.period = period_ns > 0 ? period_ns : 0;
    t->entry.gc_obj = t;
    gort_call call = gort_call_enter();
    arm(t, ns);
    gort_call_leave(call);
    return t;
}

go_chan *go_timer_chan(go_timer *t) {
    return t == NULL ? NULL : t->chan;
}

static int stop_locked(go_timer *t) {
    int stopped = gort_timer_del(&t->entry, false) ? 1 : 0;
    t->seq++;
    drain(t);
    return stopped;
}

int go_timer_stop(go_timer *t) {
    if (t == NULL)
        return 0;
    gort_call call = gort_call_enter();
    gort_rt_lock_acquire(&t->lock);
    int stopped = stop_locked(t);
    gort_rt_lock_release(&t->lock);
    gort_call_leave(call);
    return stopped;
}

int go_timer_reset(go_timer *t, int64_t ns) {
    if (t == NULL)
        return 0;
    gort_call call = gort_call_enter();
    gort_rt_lock_acquire(&t->lock);
    int stopped = stop_locked(t);
    arm(t, ns);
    gort_rt_lock_release(&t->lock);
    gort_call_leave(call);
    return stopped;
}

go_chan *go_after(int64_t ns) {
    go_timer *t = go_timer_new(ns, 0);
    return t == NULL ? NULL : t->chan;
}
