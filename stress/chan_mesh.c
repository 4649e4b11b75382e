/* chan_mesh.c - many-to-many channel meshes with the collector running.
 *
 * Each round builds a mesh: a few channels (unbuffered, small and large
 * buffers; now and then a go_chan_new_noscan one carrying plain values), P
 * producers and C consumers. Every value is a message {item pointer, id,
 * tag}: the item is a go_new object (id, a check word, a payload derived from
 * the id, a pointer to itself and to a pointer-free tail from go_alloc_bytes
 * holding the id and a checksum), so that the channel buffers, the values of
 * blocked senders and the consumers' stacks are the only roots of objects in
 * flight. Producers pick a channel at random and send with a blocking send, a
 * send with a timeout (retried on GO_ETIMEDOUT) or try_send (retried on
 * GO_EAGAIN after a yield): a retry after a failed attempt would deliver the
 * id twice if the failed attempt had delivered it. Consumers are either bound
 * to one channel (blocking recv, recv with a timeout, try_recv) or select
 * over every channel; all of them run until the channels they read are
 * closed and drained (GO_ECLOSED with a zeroed value). The main task closes
 * every channel once the producers are done.
 *
 * Checks, per message: the tag matches the id and the channel it came on, the
 * item is an allocated object (gort_gc_object_start) whose id, check word,
 * payload, self pointer and tail are intact (a freed object is poisoned:
 * GORT_DEBUG=poison=1); per round: every id arrived exactly once, and a value
 * received after close is all zeros. A separate task forces go_gc_collect in a
 * loop (and allocates garbage) the whole time; GORT_DEBUG defaults to
 * checkmark=1,poison=1 (the collector verifies every cycle's marking).
 *
 * Sizes scale with GORT_TEST_SCALE (stress/stress.h); GORT_MAXPROCS sets the
 * workers (default 4); rounds stop starting after GORT_STRESS_BUDGET seconds
 * (default 20). Replay a run's choices with GORT_SEED=<seed>.
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

#define MAX_CH 6
#define PAYLOAD 5
#define DEFAULT_DEBUG "checkmark=1,poison=1"

/* ---- objects ------------------------------------------------------------------------ */

typedef struct tail {
    uint64_t id;
    uint64_t sum;
} tail;

typedef struct item {
    tail *t;
    struct item *self;
    uint64_t id;
    uint64_t check;
    uint64_t payload[PAYLOAD];
} item;

static const size_t item_ptrs[] = {offsetof(item, t), offsetof(item, self)};
static const go_type item_type = {"chan_mesh.item", sizeof(item), 2, item_ptrs, NULL};

typedef struct mesh {
    go_chan *ch[MAX_CH];
} mesh;

static const size_t mesh_ptrs[MAX_CH] = {offsetof(mesh, ch[0]), offsetof(mesh, ch[1]),
                                         offsetof(mesh, ch[2]), offsetof(mesh, ch[3]),
                                         offsetof(mesh, ch[4]), offsetof(mesh, ch[5])};
static const go_type mesh_type = {"chan_mesh.mesh", sizeof(mesh), MAX_CH, mesh_ptrs, NULL};

/* A task's argument: a collected object, so that the mesh it points to stays
 * reachable from the spawn argument and then from the task's stack. */
typedef struct targ {
    mesh *m;
    uint64_t index;
} targ;

static const size_t targ_ptrs[] = {offsetof(targ, m)};
static const go_type targ_type = {"chan_mesh.targ", sizeof(targ), 1, targ_ptrs, NULL};

static const go_type garbage_type = {"chan_mesh.garbage", 48, 0, NULL, NULL};

typedef struct msg {
    item *p;
    uint64_t id;
    uint64_t tag;
} msg;

/* ---- the round ------------------------------------------------------------------------ */

enum { C_BOUND_RECV, C_BOUND_TIMEOUT, C_BOUND_TRY, C_SELECT, C_KINDS };

static struct {
    /* this round */
    int nch;
    size_t cap[MAX_CH];
    bool noscan[MAX_CH];
    int producers, consumers;
    long per_producer;
    uint64_t total;
    atomic_uchar *seen;
    int kind[64];
    gort_test_wg prod_wg, cons_wg;
    atomic_int gc_stop, gc_done;
    /* totals */
    atomic_long n_msgs, n_items, n_send_retries, n_recv_timeouts, n_closed_seen, n_gc;
    /* errors */
    atomic_int stop;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[512];
    int round;
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
    fprintf(stderr, "chan_mesh FAILED: %s (round %d, GORT_DEBUG=%s; replay with GORT_SEED=%llu)\n",
            W.first_error, W.round, W.debug, (unsigned long long)stress_seed);
    fflush(stderr);
}

static uint64_t item_check(uint64_t id) {
    return stress_mix64(id ^ 0x6d6573682d636b21ULL);
}
static uint64_t payload_word(uint64_t id, int i) {
    return stress_mix64((id << 4) + (uint64_t)i + 0x1234);
}
static uint64_t tail_sum(uint64_t id) {
    return stress_mix64(id * 31 + 7);
}
static uint64_t msg_tag(uint64_t id, int ch) {
    return stress_mix64(id ^ 0x7461670000000000ULL) ^ (uint64_t)ch;
}

static item *make_item(uint64_t id) {
    item *it = go_new(&item_type);
    tail *t = go_alloc_bytes(sizeof(tail));
    if (it == NULL || t == NULL)
        return NULL;
    t->id = id;
    t->sum = tail_sum(id);
    it->id = id;
    it->check = item_check(id);
    for (int i = 0; i < PAYLOAD; i++)
        it->payload[i] = payload_word(id, i);
    GO_STORE(it->t, t);
    GO_STORE(it->self, it);
    return it;
}

/* Checks a message received from channel ch. */
static void verify(const msg *mm, int ch) {
    uint64_t id = mm->id;
    if (id >= W.total) {
        fail_soft("channel %d delivered id %llu, never sent (total %llu)", ch,
                  (unsigned long long)id, (unsigned long long)W.total);
        return;
    }
    if (mm->tag != msg_tag(id, ch)) {
        fail_soft("id %llu on channel %d: tag %#llx, expected %#llx (sent on another channel, or "
                  "a torn copy)",
                  (unsigned long long)id, ch, (unsigned long long)mm->tag,
                  (unsigned long long)msg_tag(id, ch));
        return;
    }
    item *p = mm->p;
    if (W.noscan[ch]) {
        if (p != NULL)
            fail_soft("id %llu on noscan channel %d carries pointer %p", (unsigned long long)id, ch,
                      (void *)p);
    } else if (p == NULL) {
        fail_soft("id %llu on channel %d: NULL item", (unsigned long long)id, ch);
        return;
    } else {
        if (gort_gc_object_start(p) != (void *)p) {
            fail_soft("id %llu: item %p is not an allocated object (freed while in flight?)",
                      (unsigned long long)id, (void *)p);
            return;
        }
        if (p->id != id || p->check != item_check(id) || p->self != p) {
            fail_soft("id %llu: item %p damaged: id %llu check %#llx self %p (freed and reused, "
                      "or poisoned)",
                      (unsigned long long)id, (void *)p, (unsigned long long)p->id,
                      (unsigned long long)p->check, (void *)p->self);
            return;
        }
        for (int i = 0; i < PAYLOAD; i++)
            if (p->payload[i] != payload_word(id, i)) {
                fail_soft("id %llu: payload word %d is %#llx", (unsigned long long)id, i,
                          (unsigned long long)p->payload[i]);
                return;
            }
        tail *t = p->t;
        if (t == NULL || gort_gc_object_start(t) != (void *)t || t->id != id ||
            t->sum != tail_sum(id)) {
            fail_soft("id %llu: tail %p missing or damaged (freed while its item lived?)",
                      (unsigned long long)id, (void *)t);
            return;
        }
    }
    unsigned char before = atomic_fetch_add(&W.seen[id], 1);
    if (before != 0)
        fail_soft("id %llu received %u times", (unsigned long long)id, before + 1u);
    atomic_fetch_add_explicit(&W.n_msgs, 1, memory_order_relaxed);
}

static void check_zero(const msg *mm, int ch, const char *how) {
    if (mm->p != NULL || mm->id != 0 || mm->tag != 0)
        fail_soft("%s on closed channel %d: value not zeroed (id %llu, p %p)", how, ch,
                  (unsigned long long)mm->id, (void *)mm->p);
}

/* ---- producers -------------------------------------------------------------------------- */

static void producer(void *arg) {
    targ *a = arg;
    mesh *m = a->m;
    int me = (int)a->index;
    stress_rng rng = stress_rng_make(((uint64_t)W.round << 20) + 1000 + (uint64_t)me);
    uint64_t base = (uint64_t)me * (uint64_t)W.per_producer;
    for (long k = 0; k < W.per_producer && !atomic_load_explicit(&W.stop, memory_order_relaxed);
         k++) {
        uint64_t id = base + (uint64_t)k;
        int ch = (int)stress_below(&rng, (uint32_t)W.nch);
        msg mm = {NULL, id, msg_tag(id, ch)};
        if (!W.noscan[ch]) {
            mm.p = make_item(id);
            if (mm.p == NULL) {
                fail_soft("out of memory making item %llu", (unsigned long long)id);
                break;
            }
            atomic_fetch_add_explicit(&W.n_items, 1, memory_order_relaxed);
            if (stress_below(&rng, 8) == 0)
                go_yield(); /* the item lives only in this frame for a while */
        }
        go_chan *c = m->ch[ch];
        uint32_t how = stress_below(&rng, 8);
        int rc;
        if (how < 5) {
            rc = go_chan_send(c, &mm);
        } else if (how < 7) {
            /* 0 now and then: a timeout of 0 does not reach a safepoint, so
             * that retry yields (a loop without one would hold off pauses) */
            int64_t to = (int64_t)stress_below(&rng, 300) * 1000;
            int tries = 0;
            while ((rc = go_chan_send_timeout(c, &mm, to)) == GO_ETIMEDOUT) {
                atomic_fetch_add_explicit(&W.n_send_retries, 1, memory_order_relaxed);
                if (to == 0) {
                    if (++tries == 64) { /* see below */
                        rc = go_chan_send(c, &mm);
                        break;
                    }
                    go_yield();
                }
            }
        } else {
            /* On an unbuffered channel whose readers only try_recv, try_send
             * never meets a receiver: fall back to a blocking send. */
            int tries = 0;
            while ((rc = go_chan_try_send(c, &mm)) == GO_EAGAIN) {
                atomic_fetch_add_explicit(&W.n_send_retries, 1, memory_order_relaxed);
                if (++tries == 64) {
                    rc = go_chan_send(c, &mm);
                    break;
                }
                go_yield();
            }
        }
        if (rc != 0) {
            fail_soft("producer %d: send of id %llu on channel %d returned %d (%s) before close",
                      me, (unsigned long long)id, ch, rc, go_strerror(rc));
            break;
        }
        if (stress_below(&rng, 32) == 0)
            go_yield();
    }
    gort_test_wg_done(&W.prod_wg);
}

/* ---- consumers ---------------------------------------------------------------------------- */

static void consumer_bound(mesh *m, int me, int ch, int kind, stress_rng *rng) {
    go_chan *c = m->ch[ch];
    long misses = 0;
    for (;;) {
        msg mm;
        memset(&mm, 0x5a, sizeof mm);
        int rc;
        if (kind == C_BOUND_RECV) {
            rc = go_chan_recv(c, &mm);
        } else if (kind == C_BOUND_TIMEOUT) {
            int64_t to = stress_below(rng, 4) == 0 ? 0 : (int64_t)stress_below(rng, 500) * 1000;
            rc = go_chan_recv_timeout(c, &mm, to);
            if (rc == GO_ETIMEDOUT) {
                atomic_fetch_add_explicit(&W.n_recv_timeouts, 1, memory_order_relaxed);
                if (to == 0)
                    go_yield();
                continue;
            }
        } else {
            rc = go_chan_try_recv(c, &mm);
            if (rc == GO_EAGAIN) {
                /* and the same the other way round */
                if (++misses % 64 == 0)
                    rc = go_chan_recv_timeout(c, &mm, 1000 * 1000);
                if (rc == GO_EAGAIN || rc == GO_ETIMEDOUT) {
                    go_yield();
                    continue;
                }
            }
        }
        if (rc == GO_ECLOSED) {
            check_zero(&mm, ch, "recv");
            atomic_fetch_add_explicit(&W.n_closed_seen, 1, memory_order_relaxed);
            return;
        }
        if (rc != 0) {
            fail_soft("consumer %d: recv on channel %d returned %d (%s)", me, ch, rc,
                      go_strerror(rc));
            return;
        }
        verify(&mm, ch);
        if (stress_below(rng, 16) == 0)
            go_yield();
    }
}

static void consumer_select(mesh *m, int me, stress_rng *rng) {
    go_case cases[MAX_CH];
    msg buf[MAX_CH];
    int open = W.nch;
    for (int i = 0; i < W.nch; i++)
        cases[i] = (go_case){m->ch[i], GO_RECV, &buf[i], 1};
    while (open > 0) {
        memset(buf, 0x5a, sizeof buf);
        uint32_t r = stress_below(rng, 8);
        int64_t to = r < 5 ? GO_FOREVER : r < 7 ? (int64_t)stress_below(rng, 500) * 1000 : 0;
        int idx = go_select(cases, (size_t)W.nch, to);
        if (idx == GO_ETIMEDOUT || idx == GO_EAGAIN) {
            if (to == GO_FOREVER)
                fail_soft("consumer %d: select with GO_FOREVER returned %d", me, idx);
            if (idx == GO_EAGAIN && to != 0)
                fail_soft("consumer %d: select with a %lld ns timeout returned GO_EAGAIN", me,
                          (long long)to);
            if (idx == GO_ETIMEDOUT && to == 0)
                fail_soft("consumer %d: select with timeout 0 returned GO_ETIMEDOUT", me);
            atomic_fetch_add_explicit(&W.n_recv_timeouts, 1, memory_order_relaxed);
            if (to == 0)
                go_yield();
            continue;
        }
        if (idx < 0 || idx >= W.nch || cases[idx].chan == NULL) {
            fail_soft("consumer %d: select returned %d (%s)", me, idx,
                      idx < 0 ? go_strerror(idx) : "a NULL case");
            return;
        }
        /* the other cases' buffers are untouched */
        for (int i = 0; i < W.nch; i++) {
            if (i == idx)
                continue;
            const unsigned char *b = (const unsigned char *)&buf[i];
            for (size_t k = 0; k < sizeof(msg); k++)
                if (b[k] != 0x5a) {
                    fail_soft("consumer %d: select chose case %d but wrote case %d's buffer", me,
                              idx, i);
                    return;
                }
        }
        if (cases[idx].result == GO_ECLOSED) {
            check_zero(&buf[idx], idx, "select");
            atomic_fetch_add_explicit(&W.n_closed_seen, 1, memory_order_relaxed);
            cases[idx].chan = NULL; /* never ready again */
            open--;
            continue;
        }
        if (cases[idx].result != 0) {
            fail_soft("consumer %d: select case %d result %d", me, idx, cases[idx].result);
            return;
        }
        verify(&buf[idx], idx);
    }
}

static void consumer(void *arg) {
    targ *a = arg;
    mesh *m = a->m;
    int me = (int)a->index;
    stress_rng rng = stress_rng_make(((uint64_t)W.round << 20) + 5000 + (uint64_t)me);
    int kind = W.kind[me];
    if (kind == C_SELECT)
        consumer_select(m, me, &rng);
    else
        consumer_bound(m, me, me % W.nch, kind, &rng);
    gort_test_wg_done(&W.cons_wg);
}

/* ---- the collector's pusher ---------------------------------------------------------------- */

static void collector(void *arg) {
    (void)arg;
    stress_rng rng = stress_rng_make(((uint64_t)W.round << 20) + 9999);
    while (!atomic_load(&W.gc_stop)) {
        stress_collect_turn(&rng, &garbage_type);
        atomic_fetch_add_explicit(&W.n_gc, 1, memory_order_relaxed);
        if (stress_below(&rng, 2) == 0)
            go_sleep((int64_t)stress_below(&rng, 1000) * 1000);
        else
            go_yield();
    }
    atomic_store(&W.gc_done, 1);
}

/* ---- main ------------------------------------------------------------------------------------ */

typedef struct config {
    int rounds;
    long items;
    double budget_s;
    int workers;
} config;

static targ *new_targ(mesh *m, int index) {
    targ *a = go_new(&targ_type);
    if (a == NULL)
        return NULL;
    GO_STORE(a->m, m);
    a->index = (uint64_t)index;
    return a;
}

static int mesh_main(void *arg) {
    config *cfg = arg;
    stress_rng rng = stress_rng_make(7);
    static const size_t caps[] = {0, 0, 1, 3, 16, 128};
    long max_tasks = stress_max_live() / 4;
    if (max_tasks > 64)
        max_tasks = 64;
    for (int round = 0; round < cfg->rounds && !atomic_load(&W.stop); round++) {
        if (stress_elapsed() > cfg->budget_s) {
            printf("chan_mesh: time budget of %.0f s reached after %d rounds\n", cfg->budget_s,
                   round);
            break;
        }
        W.round = round;
        W.nch = 1 + (int)stress_below(&rng, MAX_CH);
        W.producers = 1 + (int)stress_below(&rng, (uint32_t)(max_tasks / 2));
        W.consumers = 1 + (int)stress_below(&rng, (uint32_t)(max_tasks / 2));
        if (round % 3 == 0) { /* fan-in and fan-out extremes now and then */
            if (stress_below(&rng, 2) == 0)
                W.consumers = 1;
            else
                W.producers = 1;
        }
        W.per_producer = cfg->items / cfg->rounds / W.producers;
        if (W.per_producer < 1)
            W.per_producer = 1;
        W.total = (uint64_t)W.per_producer * (uint64_t)W.producers;
        mesh *m = go_new(&mesh_type);
        if (m == NULL) {
            fail_soft("out of memory (mesh)");
            return 1;
        }
        char shape[160];
        int len = 0;
        for (int i = 0; i < W.nch; i++) {
            W.cap[i] = caps[stress_below(&rng, sizeof caps / sizeof caps[0])];
            W.noscan[i] = stress_below(&rng, 5) == 0;
            go_chan *c = W.noscan[i] ? go_chan_new_noscan(sizeof(msg), W.cap[i])
                                     : go_chan_new(sizeof(msg), W.cap[i]);
            if (c == NULL) {
                fail_soft("out of memory (channel)");
                return 1;
            }
            GO_STORE(m->ch[i], c);
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%zu%s", i ? "," : "",
                            W.cap[i], W.noscan[i] ? "n" : "");
        }
        bool any_select = false;
        for (int i = 0; i < W.consumers; i++) {
            W.kind[i] = (int)stress_below(&rng, C_KINDS);
            any_select |= W.kind[i] == C_SELECT;
        }
        /* every channel needs a reader: a select consumer reads them all */
        if (!any_select && W.consumers < W.nch)
            W.kind[0] = C_SELECT;
        W.seen = calloc(W.total, sizeof *W.seen);
        stress_check(W.seen != NULL, "out of memory");
        printf("chan_mesh: round %d: %d channels (caps %s), %d producers x %ld, %d consumers\n",
               round, W.nch, shape, W.producers, W.per_producer, W.consumers);
        fflush(stdout);

        atomic_store(&W.gc_stop, 0);
        atomic_store(&W.gc_done, 0);
        if (go_spawn(collector, NULL) != 0) {
            fail_soft("go_spawn failed");
            return 1;
        }
        gort_test_wg_add(&W.prod_wg, W.producers);
        gort_test_wg_add(&W.cons_wg, W.consumers);
        stress_set_phase("meshing");
        for (int i = 0; i < W.consumers; i++) {
            targ *a = new_targ(m, i);
            if (a == NULL || go_spawn(consumer, a) != 0) {
                fail_soft("cannot spawn consumer %d", i);
                return 1;
            }
        }
        for (int i = 0; i < W.producers; i++) {
            targ *a = new_targ(m, i);
            if (a == NULL || go_spawn(producer, a) != 0) {
                fail_soft("cannot spawn producer %d", i);
                return 1;
            }
        }
        gort_test_wg_wait(&W.prod_wg);
        stress_set_phase("closing and draining");
        for (int i = 0; i < W.nch; i++)
            go_chan_close(m->ch[i]);
        gort_test_wg_wait(&W.cons_wg);
        atomic_store(&W.gc_stop, 1);
        gort_test_yield_until(&W.gc_done, 1);
        for (int i = 0; i < W.nch; i++) {
            msg mm;
            memset(&mm, 0x77, sizeof mm);
            int rc = go_chan_try_recv(m->ch[i], &mm);
            if (rc != GO_ECLOSED)
                fail_soft("channel %d: try_recv after the drain returned %d, expected GO_ECLOSED",
                          i, rc);
            else
                check_zero(&mm, i, "try_recv");
            if (go_chan_len(m->ch[i]) != 0)
                fail_soft("channel %d holds %zu values after the drain", i, go_chan_len(m->ch[i]));
        }
        if (!atomic_load(&W.stop)) {
            for (uint64_t id = 0; id < W.total; id++)
                if (atomic_load(&W.seen[id]) != 1) {
                    fail_soft("id %llu (producer %llu) received %u times, expected once",
                              (unsigned long long)id,
                              (unsigned long long)(id / (uint64_t)W.per_producer),
                              (unsigned)atomic_load(&W.seen[id]));
                    break;
                }
        }
        free(W.seen);
        W.seen = NULL;
    }
    return 0;
}

int main(void) {
    stress_begin("chan_mesh");
    const char *dbg = stress_debug_default(DEFAULT_DEBUG);
    W.debug = dbg;
    config cfg = {
        .rounds = 16,
        .items = stress_scaled(400000),
        .budget_s = stress_budget_s(20),
        .workers = stress_workers(4),
    };
    if (cfg.items < cfg.rounds * 50)
        cfg.items = cfg.rounds * 50;
    printf("chan_mesh: %d rounds, %ld messages, %d workers, GORT_DEBUG=%s\n", cfg.rounds, cfg.items,
           cfg.workers, dbg);
    fflush(stdout);
    int rc = gort_test_run(cfg.workers, mesh_main, &cfg);
    if (atomic_load(&W.errors) != 0)
        stress_fail("%ld error(s); first: %s", atomic_load(&W.errors), W.first_error);
    stress_check(rc == 0, "go_main returned %d", rc);
    printf("chan_mesh: %ld messages (%ld items) verified, %ld send retries, %ld receive timeouts, "
           "%ld closes seen, %ld forced collections\n",
           atomic_load(&W.n_msgs), atomic_load(&W.n_items), atomic_load(&W.n_send_retries),
           atomic_load(&W.n_recv_timeouts), atomic_load(&W.n_closed_seen), atomic_load(&W.n_gc));
    return stress_end();
}
