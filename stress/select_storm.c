/* select_storm.c - select storms: tasks selecting over several channels with
 * random timeouts while others send, receive and close the channels, with
 * the collector running.
 *
 * Each round makes NCH channels (unbuffered and small buffers) in a collected
 * object, and runs:
 *   - agents: each owns a range of ids and offers them one at a time, each as
 *     a message {item pointer, id, tag} whose item is a go_new object; an
 *     attempt is a go_select mixing 1-3 send cases (the pending message on
 *     random channels), 0-3 receive cases, now and then a NULL case and a
 *     go_after timer case, with a timeout of 0, a few microseconds or
 *     GO_FOREVER (only with a send case: a drainer always takes it, or the
 *     channel gets closed); or a plain send_timeout / try_send / blocking
 *     send. A send that returned GO_ECLOSED, GO_ETIMEDOUT or GO_EAGAIN is
 *     retried (on other channels) up to a limit; then the id is given up;
 *   - drainers: select over every channel not yet seen closed, receiving,
 *     until all are closed and empty;
 *   - a closer: closes random channels at random times while the agents run
 *     (so sends race with close, and blocked senders are woken by it), and
 *     the rest once every agent is done;
 *   - a collector task forcing go_gc_collect in a loop.
 *
 * Accounting, exact: each id is either delivered (its send succeeded: the
 * select chose its send case with result 0, or a send returned 0) and then
 * received exactly once, or given up, and then never received: a failed
 * attempt that delivered anyway shows as a receipt of a given-up id, or as a
 * second receipt after the retry. Per select: the returned index is a real
 * case; GO_EAGAIN only with timeout 0 and GO_ETIMEDOUT only with a positive
 * one; the buffers of the cases not chosen are untouched; a receive from a
 * closed channel yields zeros; a timer fires no earlier than asked. Every
 * received item is an allocated object with intact contents (poison=1 shows
 * a freed one). GORT_DEBUG defaults to checkmark=1,poison=1.
 *
 * Sizes scale with GORT_TEST_SCALE; GORT_MAXPROCS sets the workers (default
 * 4); rounds stop starting after GORT_STRESS_BUDGET seconds (default 20).
 * Replay a run's choices with GORT_SEED=<seed>.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "gort.h"
#include "stress/stress.h"

#define MAX_NCH 8
#define MAX_CASES 8
#define MAX_ATTEMPTS 6
#define DEFAULT_DEBUG "checkmark=1,poison=1"

typedef struct item {
    struct item *self;
    uint64_t id;
    uint64_t check;
    uint64_t pad[3];
} item;
static const size_t item_ptrs[] = {offsetof(item, self)};
static const go_type item_type = {"select_storm.item", sizeof(item), 1, item_ptrs, NULL};

typedef struct world {
    go_chan *ch[MAX_NCH];
} world;
static const size_t world_ptrs[MAX_NCH] = {
    offsetof(world, ch[0]), offsetof(world, ch[1]), offsetof(world, ch[2]), offsetof(world, ch[3]),
    offsetof(world, ch[4]), offsetof(world, ch[5]), offsetof(world, ch[6]), offsetof(world, ch[7])};
static const go_type world_type = {"select_storm.world", sizeof(world), MAX_NCH, world_ptrs, NULL};

typedef struct targ {
    world *w;
    uint64_t index;
} targ;
static const size_t targ_ptrs[] = {offsetof(targ, w)};
static const go_type targ_type = {"select_storm.targ", sizeof(targ), 1, targ_ptrs, NULL};

static const go_type garbage_type = {"select_storm.garbage", 64, 0, NULL, NULL};

typedef struct msg {
    item *p;
    uint64_t id;
    uint64_t tag;
} msg;

enum { OUT_NONE = 0, OUT_DELIVERED = 1, OUT_GIVEN_UP = 2 };

static struct {
    /* this round */
    int round, nch, agents, drainers;
    long quota;
    uint64_t total;
    atomic_uchar *outcome; /* by the agent owning the id */
    atomic_uchar *received;
    atomic_int agents_done, closer_done, gc_stop, gc_done;
    gort_test_wg wg;
    /* totals */
    atomic_long n_delivered, n_given_up, n_recv, n_selects, n_timeouts, n_eagain, n_closed_sends,
        n_closed_recvs, n_timer_fired, n_gc, n_closes;
    /* errors */
    atomic_int stop;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[512];
    const char *debug;
} W;

__attribute__((format(printf, 1, 2))) static void fail_soft(const char *fmt, ...) {
    atomic_fetch_add(&W.errors, 1);
    atomic_store(&W.stop, 1);
    if (atomic_exchange(&W.error_reported, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.first_error, sizeof W.first_error, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "select_storm FAILED: %s (round %d, GORT_DEBUG=%s; replay with GORT_SEED=%llu)\n",
            W.first_error, W.round, W.debug, (unsigned long long)stress_seed);
    fflush(stderr);
}

static uint64_t item_check(uint64_t id) {
    return stress_mix64(id + 0x5e1ec7);
}
static uint64_t msg_tag(uint64_t id) {
    return stress_mix64(id ^ 0x73746f726d000000ULL);
}

/* ---- receiving ----------------------------------------------------------------------------- */

static void got(const msg *m, const char *who) {
    uint64_t id = m->id;
    if (id >= W.total || m->tag != msg_tag(id)) {
        fail_soft("%s received a bad message: id %llu tag %#llx", who, (unsigned long long)id,
                  (unsigned long long)m->tag);
        return;
    }
    item *p = m->p;
    if (p == NULL || gort_gc_object_start(p) != (void *)p) {
        fail_soft("%s: id %llu: item %p is not an allocated object (freed while in flight?)", who,
                  (unsigned long long)id, (void *)p);
        return;
    }
    if (p->id != id || p->check != item_check(id) || p->self != p) {
        fail_soft("%s: id %llu: item %p damaged (id %llu, check %#llx, self %p): freed and "
                  "reused, or poisoned",
                  who, (unsigned long long)id, (void *)p, (unsigned long long)p->id,
                  (unsigned long long)p->check, (void *)p->self);
        return;
    }
    unsigned char before = atomic_fetch_add(&W.received[id], 1);
    if (before != 0)
        fail_soft("%s: id %llu received %u times", who, (unsigned long long)id, before + 1u);
    atomic_fetch_add_explicit(&W.n_recv, 1, memory_order_relaxed);
}

static void check_zero(const msg *m, const char *who) {
    if (m->p != NULL || m->id != 0 || m->tag != 0)
        fail_soft("%s: receive on a closed channel left a non-zero value (id %llu)", who,
                  (unsigned long long)m->id);
}

#define SENTINEL 0xA7

static bool untouched(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != SENTINEL)
            return false;
    return true;
}

/* ---- agents ---------------------------------------------------------------------------------- */

typedef struct agent {
    world *w;
    int me;
    stress_rng rng;
    bool closed[MAX_NCH]; /* seen closed by this agent */
    int nclosed;
} agent;

static void saw_closed(agent *a, int ch) {
    if (!a->closed[ch]) {
        a->closed[ch] = true;
        a->nclosed++;
    }
}

/* Picks a random channel, preferring ones not seen closed. */
static int pick_channel(agent *a) {
    int ch = (int)stress_below(&a->rng, (uint32_t)W.nch);
    for (int tries = 0; tries < 3 && a->closed[ch]; tries++)
        ch = (int)stress_below(&a->rng, (uint32_t)W.nch);
    return ch;
}

/* One attempt with go_select. Returns 1 if the pending message was sent, 0 if
 * not, and receives whatever the select chose. */
static int attempt_select(agent *a, msg *pending) {
    go_case cases[MAX_CASES];
    msg rbuf[MAX_CASES];
    int64_t tbuf[MAX_CASES];
    int kind[MAX_CASES]; /* 0 send, 1 recv, 2 timer, 3 null */
    int chan_of[MAX_CASES];
    int64_t timer_ns[MAX_CASES] = {0};
    int64_t t_made[MAX_CASES] = {0};
    int n = 0;
    int nsend = 1 + (int)stress_below(&a->rng, 3);
    int nrecv = (int)stress_below(&a->rng, 4);
    for (int i = 0; i < nsend; i++) {
        int ch = pick_channel(a);
        chan_of[n] = ch;
        kind[n] = 0;
        cases[n++] = (go_case){a->w->ch[ch], GO_SEND, pending, 1};
    }
    for (int i = 0; i < nrecv; i++) {
        int ch = pick_channel(a);
        chan_of[n] = ch;
        kind[n] = 1;
        cases[n++] = (go_case){a->w->ch[ch], GO_RECV, NULL, 1}; /* elem set below */
    }
    if (stress_below(&a->rng, 8) == 0) {
        chan_of[n] = -1;
        kind[n] = 3;
        cases[n++] = (go_case){NULL, stress_below(&a->rng, 2) ? GO_RECV : GO_SEND, NULL, 1};
    }
    if (stress_below(&a->rng, 6) == 0) {
        int64_t d = (int64_t)stress_below(&a->rng, 300) * 1000;
        int64_t t0 = go_now(); /* before: a lower bound of the timer's start */
        go_chan *tc = go_after(d);
        if (tc != NULL) {
            chan_of[n] = -1;
            kind[n] = 2;
            timer_ns[n] = d;
            t_made[n] = t0;
            cases[n++] = (go_case){tc, GO_RECV, NULL, 1};
        }
    }
    /* shuffle, so that send cases are not always first */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)stress_below(&a->rng, (uint32_t)(i + 1));
        go_case tc = cases[i];
        cases[i] = cases[j];
        cases[j] = tc;
        int tk = kind[i];
        kind[i] = kind[j];
        kind[j] = tk;
        int tch = chan_of[i];
        chan_of[i] = chan_of[j];
        chan_of[j] = tch;
        int64_t tn = timer_ns[i];
        timer_ns[i] = timer_ns[j];
        timer_ns[j] = tn;
        int64_t tm = t_made[i];
        t_made[i] = t_made[j];
        t_made[j] = tm;
    }
    /* receive buffers: fixed up after the shuffle */
    for (int i = 0; i < n; i++) {
        if (kind[i] == 1 || kind[i] == 3)
            cases[i].elem = &rbuf[i];
        else if (kind[i] == 2)
            cases[i].elem = &tbuf[i];
    }
    memset(rbuf, SENTINEL, sizeof rbuf);
    memset(tbuf, SENTINEL, sizeof tbuf);
    uint32_t r = stress_below(&a->rng, 10);
    int64_t to = r < 3 ? 0 : r < 7 ? 1000 + (int64_t)stress_below(&a->rng, 200) * 1000 : GO_FOREVER;
    msg saved = *pending;
    atomic_fetch_add_explicit(&W.n_selects, 1, memory_order_relaxed);
    int idx = go_select(cases, (size_t)n, to);
    if (memcmp(&saved, pending, sizeof saved) != 0)
        fail_soft("agent %d: select changed the value of a send case", a->me);
    if (idx == GO_EAGAIN || idx == GO_ETIMEDOUT) {
        if (idx == GO_EAGAIN && to != 0)
            fail_soft("agent %d: select with timeout %lld returned GO_EAGAIN", a->me,
                      (long long)to);
        if (idx == GO_ETIMEDOUT && to <= 0)
            fail_soft("agent %d: select with timeout %lld returned GO_ETIMEDOUT", a->me,
                      (long long)to);
        atomic_fetch_add_explicit(idx == GO_EAGAIN ? &W.n_eagain : &W.n_timeouts, 1,
                                  memory_order_relaxed);
        for (int i = 0; i < n; i++)
            if ((kind[i] == 1 || kind[i] == 3) && !untouched(&rbuf[i], sizeof(msg)))
                fail_soft("agent %d: select timed out but wrote case %d's buffer", a->me, i);
        if (to == 0)
            go_yield(); /* a select with timeout 0 is no safepoint */
        return 0;
    }
    if (idx < 0 || idx >= n) {
        fail_soft("agent %d: select over %d cases returned %d (%s)", a->me, n, idx,
                  idx < 0 ? go_strerror(idx) : "out of range");
        return 0;
    }
    if (kind[idx] == 3) {
        fail_soft("agent %d: select chose a NULL-channel case", a->me);
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (i != idx && (kind[i] == 1 || kind[i] == 3) && !untouched(&rbuf[i], sizeof(msg)))
            fail_soft("agent %d: select chose case %d but wrote case %d's buffer", a->me, idx, i);
    int res = cases[idx].result;
    if (res != 0 && res != GO_ECLOSED) {
        fail_soft("agent %d: chosen case result %d", a->me, res);
        return 0;
    }
    switch (kind[idx]) {
    case 0:
        if (res == 0)
            return 1;
        saw_closed(a, chan_of[idx]);
        atomic_fetch_add_explicit(&W.n_closed_sends, 1, memory_order_relaxed);
        return 0;
    case 1:
        if (res == 0) {
            got(&rbuf[idx], "agent select");
        } else {
            check_zero(&rbuf[idx], "agent select");
            saw_closed(a, chan_of[idx]);
            atomic_fetch_add_explicit(&W.n_closed_recvs, 1, memory_order_relaxed);
        }
        return 0;
    default: { /* the timer */
        int64_t when = tbuf[idx], now = go_now();
        int64_t due = t_made[idx] + timer_ns[idx];
        if (res != 0)
            fail_soft("agent %d: a go_after channel reported closed", a->me);
        else if (now < due)
            fail_soft("agent %d: go_after(%lld ns) fired %lld ns early (select returned then)",
                      a->me, (long long)timer_ns[idx], (long long)(due - now));
        else if (when < due)
            fail_soft("agent %d: go_after(%lld ns) delivered %lld, %lld ns before it was due "
                      "(go_now() at firing must be >= start + ns; select returned %lld ns after "
                      "the due time)",
                      a->me, (long long)timer_ns[idx], (long long)when, (long long)(due - when),
                      (long long)(now - due));
        atomic_fetch_add_explicit(&W.n_timer_fired, 1, memory_order_relaxed);
        return 0;
    }
    }
}

/* One attempt with a plain send call. */
static int attempt_plain(agent *a, msg *pending) {
    int ch = pick_channel(a);
    go_chan *c = a->w->ch[ch];
    uint32_t how = stress_below(&a->rng, 3);
    int rc;
    if (how == 0) {
        rc = go_chan_try_send(c, pending);
        if (rc == GO_EAGAIN) {
            atomic_fetch_add_explicit(&W.n_eagain, 1, memory_order_relaxed);
            go_yield();
        }
    } else if (how == 1) {
        rc = go_chan_send_timeout(c, pending, 1000 + (int64_t)stress_below(&a->rng, 300) * 1000);
        if (rc == GO_ETIMEDOUT)
            atomic_fetch_add_explicit(&W.n_timeouts, 1, memory_order_relaxed);
    } else {
        rc = go_chan_send(c, pending); /* a drainer takes it, or close ends it */
    }
    if (rc == 0)
        return 1;
    if (rc == GO_ECLOSED) {
        saw_closed(a, ch);
        atomic_fetch_add_explicit(&W.n_closed_sends, 1, memory_order_relaxed);
    } else if (rc != GO_EAGAIN && rc != GO_ETIMEDOUT) {
        fail_soft("agent %d: send returned %d (%s)", a->me, rc, go_strerror(rc));
    }
    return 0;
}

static void agent_task(void *arg) {
    targ *ta = arg;
    agent a = {.w = ta->w, .me = (int)ta->index};
    a.rng = stress_rng_make(((uint64_t)W.round << 24) + 100 + (uint64_t)a.me);
    uint64_t base = (uint64_t)a.me * (uint64_t)W.quota;
    for (long k = 0; k < W.quota; k++) {
        uint64_t id = base + (uint64_t)k;
        if (atomic_load_explicit(&W.stop, memory_order_relaxed)) {
            atomic_store(&W.outcome[id], OUT_GIVEN_UP); /* never offered */
            continue;
        }
        item *it = go_new(&item_type);
        if (it == NULL) {
            fail_soft("out of memory");
            atomic_store(&W.outcome[id], OUT_GIVEN_UP);
            continue;
        }
        it->id = id;
        it->check = item_check(id);
        GO_STORE(it->self, it);
        msg pending = {it, id, msg_tag(id)};
        int sent = 0;
        for (int att = 0; att < MAX_ATTEMPTS && !sent; att++) {
            if (a.nclosed == W.nch)
                break; /* every channel is closed */
            sent = stress_below(&a.rng, 4) == 0 ? attempt_plain(&a, &pending)
                                                : attempt_select(&a, &pending);
        }
        atomic_store(&W.outcome[id], sent ? OUT_DELIVERED : OUT_GIVEN_UP);
        atomic_fetch_add_explicit(sent ? &W.n_delivered : &W.n_given_up, 1, memory_order_relaxed);
        if (stress_below(&a.rng, 16) == 0)
            go_yield();
    }
    atomic_fetch_add(&W.agents_done, 1);
    gort_test_wg_done(&W.wg);
}

/* ---- drainers ----------------------------------------------------------------------------------
 */

static void drainer_task(void *arg) {
    targ *ta = arg;
    world *w = ta->w;
    int me = (int)ta->index;
    stress_rng rng = stress_rng_make(((uint64_t)W.round << 24) + 5000 + (uint64_t)me);
    go_case cases[MAX_NCH];
    msg buf[MAX_NCH];
    int open = W.nch;
    for (int i = 0; i < W.nch; i++)
        cases[i] = (go_case){w->ch[i], GO_RECV, &buf[i], 1};
    while (open > 0) {
        memset(buf, SENTINEL, sizeof buf);
        uint32_t r = stress_below(&rng, 8);
        int64_t to = r < 6   ? GO_FOREVER
                     : r < 7 ? 1000 + (int64_t)stress_below(&rng, 100) * 1000
                             : 0;
        int idx = go_select(cases, (size_t)W.nch, to);
        if (idx == GO_EAGAIN || idx == GO_ETIMEDOUT) {
            if (to == GO_FOREVER || (idx == GO_EAGAIN) != (to == 0))
                fail_soft("drainer %d: select with timeout %lld returned %d", me, (long long)to,
                          idx);
            if (to == 0)
                go_yield();
            continue;
        }
        if (idx < 0 || idx >= W.nch || cases[idx].chan == NULL) {
            fail_soft("drainer %d: select returned %d", me, idx);
            return;
        }
        for (int i = 0; i < W.nch; i++)
            if (i != idx && !untouched(&buf[i], sizeof(msg)))
                fail_soft("drainer %d: select chose case %d but wrote case %d's buffer", me, idx,
                          i);
        if (cases[idx].result == GO_ECLOSED) {
            check_zero(&buf[idx], "drainer");
            cases[idx].chan = NULL;
            open--;
        } else if (cases[idx].result == 0) {
            got(&buf[idx], "drainer");
        } else {
            fail_soft("drainer %d: result %d", me, cases[idx].result);
        }
        /* now and then a pause, so that agents' timed selects do time out */
        uint32_t p = stress_below(&rng, 32);
        if (p == 0)
            go_yield();
        else if (p == 1)
            go_sleep((int64_t)stress_below(&rng, 400) * 1000);
    }
    gort_test_wg_done(&W.wg);
}

/* ---- closer and collector -------------------------------------------------------------------- */

static void closer_task(void *arg) {
    targ *ta = arg;
    world *w = ta->w;
    stress_rng rng = stress_rng_make(((uint64_t)W.round << 24) + 7777);
    bool closed[MAX_NCH] = {false};
    int early = (int)stress_below(&rng, (uint32_t)W.nch); /* at least one stays open */
    for (int k = 0; k < early; k++) {
        go_sleep((int64_t)stress_below(&rng, 20000) * 1000);
        int ch = (int)stress_below(&rng, (uint32_t)W.nch);
        if (!closed[ch]) {
            closed[ch] = true;
            go_chan_close(w->ch[ch]);
            atomic_fetch_add(&W.n_closes, 1);
        }
    }
    while (atomic_load(&W.agents_done) < W.agents)
        go_sleep(200 * 1000);
    for (int ch = 0; ch < W.nch; ch++)
        if (!closed[ch]) {
            go_chan_close(w->ch[ch]);
            atomic_fetch_add(&W.n_closes, 1);
        }
    gort_test_wg_done(&W.wg);
}

static void collector_task(void *arg) {
    (void)arg;
    stress_collector_loop(((uint64_t)W.round << 24) + 9999, &garbage_type, &W.gc_stop, &W.n_gc,
                          &W.gc_done);
}

/* ---- main ------------------------------------------------------------------------------------ */

typedef struct config {
    int rounds;
    long ids;
    double budget_s;
    int workers;
} config;

static bool spawn_with_world(go_fn fn, world *w, int index) {
    targ *a = go_new(&targ_type);
    if (a == NULL)
        return false;
    GO_STORE(a->w, w);
    a->index = (uint64_t)index;
    return go_spawn(fn, a) == 0;
}

static int storm_main(void *arg) {
    config *cfg = arg;
    stress_rng rng = stress_rng_make(3);
    static const size_t caps[] = {0, 0, 0, 1, 2, 8};
    long max_agents = stress_max_live() / 8;
    if (max_agents > 48)
        max_agents = 48;
    for (int round = 0; round < cfg->rounds && !atomic_load(&W.stop); round++) {
        if (stress_elapsed() > cfg->budget_s) {
            printf("select_storm: time budget of %.0f s reached after %d rounds\n", cfg->budget_s,
                   round);
            break;
        }
        W.round = round;
        W.nch = 2 + (int)stress_below(&rng, MAX_NCH - 1);
        W.agents = 2 + (int)stress_below(&rng, (uint32_t)max_agents - 1);
        W.drainers = 1 + (int)stress_below(&rng, 4);
        W.quota = cfg->ids / cfg->rounds / W.agents;
        if (W.quota < 1)
            W.quota = 1;
        W.total = (uint64_t)W.quota * (uint64_t)W.agents;
        W.outcome = calloc(W.total, 1);
        W.received = calloc(W.total, 1);
        stress_check(W.outcome != NULL && W.received != NULL, "out of memory");
        atomic_store(&W.agents_done, 0);
        world *w = go_new(&world_type);
        if (w == NULL) {
            fail_soft("out of memory");
            return 1;
        }
        char shape[64];
        int len = 0;
        for (int i = 0; i < W.nch; i++) {
            size_t cap = caps[stress_below(&rng, sizeof caps / sizeof caps[0])];
            go_chan *c = go_chan_new(sizeof(msg), cap);
            if (c == NULL) {
                fail_soft("out of memory");
                return 1;
            }
            GO_STORE(w->ch[i], c);
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%zu", i ? "," : "", cap);
        }
        printf("select_storm: round %d: %d channels (caps %s), %d agents x %ld ids, %d drainers\n",
               round, W.nch, shape, W.agents, W.quota, W.drainers);
        fflush(stdout);
        stress_set_phase("storming");
        atomic_store(&W.gc_stop, 0);
        atomic_store(&W.gc_done, 0);
        if (go_spawn(collector_task, NULL) != 0) {
            fail_soft("go_spawn failed");
            return 1;
        }
        gort_test_wg_add(&W.wg, W.agents + W.drainers + 1);
        bool ok = true;
        for (int i = 0; i < W.drainers; i++)
            ok &= spawn_with_world(drainer_task, w, i);
        for (int i = 0; i < W.agents; i++)
            ok &= spawn_with_world(agent_task, w, i);
        ok &= spawn_with_world(closer_task, w, 0);
        if (!ok) {
            fail_soft("cannot spawn");
            return 1;
        }
        gort_test_wg_wait(&W.wg);
        atomic_store(&W.gc_stop, 1);
        gort_test_yield_until(&W.gc_done, 1);
        /* the accounting */
        long delivered = 0, given_up = 0;
        for (uint64_t id = 0; id < W.total && !atomic_load(&W.stop); id++) {
            unsigned o = atomic_load(&W.outcome[id]), r = atomic_load(&W.received[id]);
            if (o == OUT_DELIVERED) {
                delivered++;
                if (r != 1)
                    fail_soft("id %llu: sent successfully but received %u times",
                              (unsigned long long)id, r);
            } else if (o == OUT_GIVEN_UP) {
                given_up++;
                if (r != 0)
                    fail_soft("id %llu: every send reported failure (closed, timed out or not "
                              "ready) but it was received %u time(s)",
                              (unsigned long long)id, r);
            } else {
                fail_soft("id %llu: no outcome recorded", (unsigned long long)id);
            }
        }
        if (!atomic_load(&W.stop))
            printf("select_storm: round %d: %ld delivered, %ld given up\n", round, delivered,
                   given_up);
        free(W.outcome);
        free(W.received);
        W.outcome = NULL;
        W.received = NULL;
    }
    return 0;
}

int main(void) {
    stress_begin("select_storm");
    const char *dbg = stress_debug_default(DEFAULT_DEBUG);
    W.debug = dbg;
    config cfg = {
        .rounds = 12,
        .ids = stress_scaled(400000),
        .budget_s = stress_budget_s(20),
        .workers = stress_workers(4),
    };
    if (cfg.ids < cfg.rounds * 40)
        cfg.ids = cfg.rounds * 40;
    printf("select_storm: %d rounds, %ld ids, %d workers, GORT_DEBUG=%s\n", cfg.rounds, cfg.ids,
           cfg.workers, dbg);
    fflush(stdout);
    int rc = gort_test_run(cfg.workers, storm_main, &cfg);
    if (atomic_load(&W.errors) != 0)
        stress_fail("%ld error(s); first: %s", atomic_load(&W.errors), W.first_error);
    stress_check(rc == 0, "go_main returned %d", rc);
    printf("select_storm: %ld delivered, %ld given up, %ld received; %ld selects (%ld timed out, "
           "%ld not ready), %ld sends and %ld receives on closed channels, %ld timer firings, "
           "%ld closes, %ld forced collections\n",
           atomic_load(&W.n_delivered), atomic_load(&W.n_given_up), atomic_load(&W.n_recv),
           atomic_load(&W.n_selects), atomic_load(&W.n_timeouts), atomic_load(&W.n_eagain),
           atomic_load(&W.n_closed_sends), atomic_load(&W.n_closed_recvs),
           atomic_load(&W.n_timer_fired), atomic_load(&W.n_closes), atomic_load(&W.n_gc));
    return stress_end();
}
