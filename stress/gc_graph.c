/* gc_graph.c - the collector's stress program: tasks on every worker mutate a
 * random object graph through GO_STORE while collections run all the time, and
 * a shadow model of the graph, kept outside the heap, says what must still be
 * there.
 *
 * The heap graph:
 *   - nodes of three types, each with 4 pointer fields, an id, a kind word
 *     (type, index in its array, home region), a check word over (id, kind)
 *     and a checksum over the id and the ids of its children as the model
 *     records them. Small nodes (64 bytes), big nodes (512 bytes, with a
 *     payload derived from the id), finalizable nodes (64 bytes, a finalizer;
 *     their only children are exchange leaves, which never have children, so
 *     that no cycle runs through them), and arrays of small or finalizable
 *     nodes from go_new_array, linked by interior pointers;
 *   - roots: a registered range (go_gc_add_roots) of 32 region slots, 16
 *     "published" slots and 8 exchange slots;
 *   - a region is the graph hanging off one region slot; a node's home region
 *     is fixed at birth and only the task owning that region changes the node.
 *     Each mutator owns a set of regions for a phase; ownership rotates at
 *     every phase, so objects migrate between tasks and workers. Edges may
 *     point into other regions (through the published slots, refreshed at
 *     every barrier from the reachable objects, and through the exchange
 *     slots); a foreign node is only checked for what never changes in it.
 *   - exchange slots are shared by every task under a spinlock (made of one
 *     atomic word): a task allocates a leaf first, then locks, swaps it in
 *     with GO_STORE and unlocks (no safepoint with the lock held), and then
 *     holds the old leaf in a local across yields before perhaps linking it.
 *
 * What the mutators do (GO_STORE for every store into the heap, the root
 * range or a stack slot another task holds): allocate and link new nodes
 * (now and then holding a new node only in a local across yields and
 * collections first), rewire and cut edges, move a subgraph by cutting an edge
 * and relinking its target after yields (the classic lost-object interleaving
 * for a barrier), replace or reset a region's root (dropping the region at
 * once), copy a node's fields over a new or an existing node or shift them
 * with go_memmove (holding the pointer the copy overwrites in a local across
 * yields), allocate pointer-free buffers (go_alloc_bytes) kept only in a
 * local across yields, and call go_gc_collect about twice per phase (and now
 * and then while holding something in a local). Two ways through other tasks:
 *   - hand-off: a task passes the address of its own stack frame to a child
 *     task; the child takes a gift node out of it (GO_LOAD, then GO_STORE of
 *     NULL), builds a chain of new nodes on it, stores the chain's head into
 *     the parent's stack slot with GO_STORE, yields and perhaps collects,
 *     then says done; the parent waits by yielding (never parking on the slot)
 *     and reads the slot with GO_LOAD;
 *   - orphans: a new node whose only reference is a go_spawn argument; the
 *     spawned task yields and then verifies it.
 * Every visit verifies the node: an allocated object (gort_gc_object_start),
 * check word, payload, checksum over its children's ids, children equal to
 * the model's, finalizer not run. So a freed-and-reused or poisoned object
 * fails loudly (the message names the seed).
 *
 * Phases end at a barrier: every mutator parks; the main task walks the real
 * graph from all roots, verifying every reachable node against the model, and
 * walks the model from its roots, checking that every node it reaches was
 * reached in the heap; then go_gc_collect and the same two walks again; then
 * it refreshes the published slots and releases the mutators.
 *
 * Finalizers: a finalizer checks its object, its children (which must have
 * been kept alive for it) and that it runs once; no node the model reaches
 * may have had its finalizer run (checked at every visit and at
 * every barrier). At the end every root is dropped and go_gc_collect +
 * go_gc_run_finalizers run until the finalizers stop coming: at least 3/4 of
 * the finalizable nodes must have been finalized (conservative roots may keep
 * a few; not all are asserted).
 *
 * The collector's own checks are on from GORT_DEBUG (ctest sets it per
 * variant; stress/CMakeLists.txt): checkmark=1 and poison=1 always, plus
 * gcstress=500 (a cycle every 500 allocations; it also sends every go_new
 * through the slow path) or gcslice=64 (marking in slices with the world
 * running between them; cycles from the program's go_gc_collect calls).
 * Whole-mark cycles cannot see a barrier bug; gcslice ones can. Without
 * GORT_DEBUG the program sets checkmark=1,poison=1,gcstress=500.
 *
 * Sizes scale with GORT_TEST_SCALE (1/20 under TSan, 1/4 under ASan by
 * default, stress/stress.h), with floors; with gcslice the mutators do half
 * the operations. GORT_MAXPROCS sets the workers (default 4).
 * The seed is printed first; replay a run's choices (not its schedule) with
 *     GORT_SEED=<seed> GORT_DEBUG=<as printed> ./stress_gc_graph
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

#define NCHILD 4
#define REGIONS 32
#define NPUB 16
#define NSWAP 8
#define MUTATORS 8
#define HOME_SWAP REGIONS /* the home of exchange leaves: no owner, never changed */
#define BIG_WORDS 56      /* a big node is 64 + 448 bytes */
#define MAX_ARRAY 4
#define MAX_ORPHANS 32
#define DEFAULT_DEBUG "checkmark=1,poison=1,gcstress=500"

/* ---- the objects -------------------------------------------------------------------- */

enum { K_SMALL = 1, K_BIG = 2, K_FIN = 3 };

/* kind word: type (bits 0-7), index in its array (8-15), home region (16-31) */
#define KIND(type, idx, home) ((uint64_t)(type) | (uint64_t)(idx) << 8 | (uint64_t)(home) << 16)
#define KIND_TYPE(k) ((unsigned)((k)&0xff))
#define KIND_INDEX(k) ((unsigned)(((k) >> 8) & 0xff))
#define KIND_HOME(k) ((int)(((k) >> 16) & 0xffff))

typedef struct node {
    struct node *child[NCHILD];
    uint64_t id;    /* never changes */
    uint64_t kind;  /* never changes */
    uint64_t check; /* node_check(id, kind): never changes */
    uint64_t sum;   /* node_sum(id, the ids of the children): kept by the owner */
} node;

typedef struct big_node {
    node n;
    uint64_t payload[BIG_WORDS]; /* payload_word(id, i): never changes */
} big_node;

static void finalize_node(void *obj);

static const size_t node_ptrs[NCHILD] = {offsetof(node, child[0]), offsetof(node, child[1]),
                                         offsetof(node, child[2]), offsetof(node, child[3])};
static const go_type small_type = {"gc_graph.small", sizeof(node), NCHILD, node_ptrs, NULL};
static const go_type big_type = {"gc_graph.big", sizeof(big_node), NCHILD, node_ptrs, NULL};
static const go_type fin_type = {"gc_graph.fin", sizeof(node), NCHILD, node_ptrs, finalize_node};

/* ---- the model -------------------------------------------------------------------- */

/* What the program knows about object `id`, outside the heap. Written by its
 * creator, then only by the owner of its home region (child), by its
 * finalizer (finalized) and by the checker at barriers (the epochs). */
typedef struct shadow_entry {
    node *ptr;
    uint32_t child[NCHILD]; /* ids of the children, 0 for none */
    uint16_t home;
    uint8_t type;
    atomic_uchar finalized; /* finalizer runs */
    uint32_t real_epoch;    /* last barrier walk of the heap that reached it */
    uint32_t model_epoch;   /* last barrier walk of the model that reached it */
} shadow_entry;

/* The registered root range. */
static struct {
    node *region[REGIONS]; /* [owner of the region] */
    node *pub[NPUB];       /* written at barriers only */
    node *swap[NSWAP];     /* [swap_lock[i]] */
} R;

static struct {
    /* configuration */
    int ntasks, phases;
    long ops;        /* per mutator and phase */
    long region_cap; /* a region past this many nodes is reset */
    long collect_period;
    uint32_t id_cap;
    const char *debug;
    /* the model */
    shadow_entry *sh;
    atomic_uint next_id;
    uint32_t root_id[REGIONS]; /* [owner] */
    uint32_t pub_id[NPUB];     /* [checker] */
    uint32_t swap_id[NSWAP];   /* [swap_lock[i]] */
    gort_test_spinlock swap_lock[NSWAP];
    long region_est[REGIONS]; /* [owner] nodes of the region, roughly */
    /* the barrier */
    atomic_int arrived;
    atomic_int phase;
    gort_test_sema checker_sema;
    gort_test_sema mut_sema[MUTATORS];
    gort_test_wg wg;
    atomic_long orphans_spawned, orphans_done;
    /* accounting */
    atomic_long n_nodes, n_fin_created, n_fin_ran, n_collects, n_handoffs, n_orphans, n_moves,
        n_swaps, n_bytes, n_resets, n_memmoves, n_alloc_skipped;
    long max_reached;
    uint64_t cycles_before, cycles_after;
    /* errors */
    atomic_int stop;
    atomic_long errors;
    atomic_int error_reported;
    char first_error[512];
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
    /* At once, in case what follows crashes. */
    fprintf(stderr, "gc_graph FAILED: %s (phase %d, GORT_DEBUG=%s; replay with GORT_SEED=%llu)\n",
            W.first_error, atomic_load(&W.phase), W.debug, (unsigned long long)stress_seed);
    fflush(stderr);
}

static inline bool stopping(void) {
    return atomic_load_explicit(&W.stop, memory_order_relaxed) != 0;
}

static uint64_t node_check(uint64_t id, uint64_t kind) {
    return stress_mix64(id * 0x9e3779b97f4a7c15ULL ^ kind ^ 0x6763677261706821ULL);
}

static uint64_t node_sum(uint64_t id, const uint32_t cid[NCHILD]) {
    uint64_t h = stress_mix64(id ^ 0x5375a3d1c0ffee00ULL);
    for (int i = 0; i < NCHILD; i++)
        h = stress_mix64(h ^ ((uint64_t)cid[i] << 3 | (uint64_t)i));
    return h;
}

static uint64_t payload_word(uint64_t id, int i) {
    return stress_mix64(id << 8 | (uint64_t)i);
}

static inline node *child_at(node *n, int k) {
    return __atomic_load_n(&n->child[k], __ATOMIC_RELAXED);
}

static inline node *load_root(node **slot) {
    return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

/* ---- verification -------------------------------------------------------------------- */

/* Checks what never changes in p: that it is an allocated object (or an
 * element of an allocated array), its check word, its payload, and that the
 * model places its id at p. Reads nothing an owner may be changing, so any
 * task may call it on any object it holds. parent_id/field say where p was
 * found, for the message (0: not in a field). */
static bool check_object(node *p, const char *what, uint64_t parent_id, int field) {
    char where[96] = "";
    if (parent_id != 0)
        snprintf(where, sizeof where, " (field %d of object %llu)", field,
                 (unsigned long long)parent_id);
    if (((uintptr_t)p & 7) != 0) {
        fail_soft("%s%s: misaligned pointer %p", what, where, (void *)p);
        return false;
    }
    char *start = gort_gc_object_start(p);
    if (start == NULL) {
        fail_soft("%s%s: %p is not an allocated object: freed while reachable?", what, where,
                  (void *)p);
        return false;
    }
    uint64_t id = p->id, kind = p->kind, check = p->check;
    if (check != node_check(id, kind)) {
        fail_soft("%s%s: object %p has check word %#llx, not the one of id %llu kind %#llx: freed "
                  "and reused, or poisoned",
                  what, where, (void *)p, (unsigned long long)check, (unsigned long long)id,
                  (unsigned long long)kind);
        return false;
    }
    unsigned type = KIND_TYPE(kind), idx = KIND_INDEX(kind);
    int home = KIND_HOME(kind);
    if (type < K_SMALL || type > K_FIN || idx >= MAX_ARRAY || home > HOME_SWAP) {
        fail_soft("%s%s: object %llu at %p has a bad kind %#llx", what, where,
                  (unsigned long long)id, (void *)p, (unsigned long long)kind);
        return false;
    }
    if (start + idx * sizeof(node) != (char *)p) {
        fail_soft("%s%s: object %llu at %p (element %u) lies in an object starting at %p", what,
                  where, (unsigned long long)id, (void *)p, idx, (void *)start);
        return false;
    }
    if (id == 0 || id >= atomic_load_explicit(&W.next_id, memory_order_relaxed)) {
        fail_soft("%s%s: object at %p has id %llu, never handed out", what, where, (void *)p,
                  (unsigned long long)id);
        return false;
    }
    shadow_entry *s = &W.sh[id];
    if (s->ptr != p || s->type != type || s->home != home) {
        fail_soft("%s%s: object %llu at %p (type %u, home %d): the model has it at %p (type %u, "
                  "home %u)",
                  what, where, (unsigned long long)id, (void *)p, type, home, (void *)s->ptr,
                  s->type, s->home);
        return false;
    }
    if (type == K_BIG) {
        const big_node *b = (const big_node *)p;
        for (int i = 0; i < BIG_WORDS; i++)
            if (b->payload[i] != payload_word(id, i)) {
                fail_soft("%s%s: big object %llu at %p: payload word %d is %#llx: overwritten "
                          "(poisoned?)",
                          what, where, (unsigned long long)id, (void *)p, i,
                          (unsigned long long)b->payload[i]);
                return false;
            }
    }
    return true;
}

/* Everything: check_object, the home (want_home >= 0), the children against
 * the model, the checksum, and that its finalizer has not run. For a node
 * whose fields nobody is changing: its owner's, the checker's at a barrier,
 * or one nobody can reach but the caller. */
static bool verify_full(node *n, int want_home, const char *what) {
    if (!check_object(n, what, 0, 0))
        return false;
    uint64_t id = n->id;
    shadow_entry *s = &W.sh[id];
    if (want_home >= 0 && KIND_HOME(n->kind) != want_home) {
        fail_soft("%s: object %llu has home %d, expected %d: freed and reused?", what,
                  (unsigned long long)id, KIND_HOME(n->kind), want_home);
        return false;
    }
    uint32_t cid[NCHILD];
    for (int i = 0; i < NCHILD; i++) {
        node *c = child_at(n, i);
        cid[i] = 0;
        if (c != NULL) {
            if (!check_object(c, what, id, i))
                return false;
            cid[i] = (uint32_t)c->id;
        }
        if (cid[i] != s->child[i]) {
            fail_soft("%s: object %llu field %d holds object %u, the model says %u: an edge was "
                      "lost or changed",
                      what, (unsigned long long)id, i, cid[i], s->child[i]);
            return false;
        }
    }
    if (KIND_TYPE(n->kind) == K_FIN)
        for (int i = 0; i < NCHILD; i++)
            if (cid[i] != 0 && W.sh[cid[i]].home != HOME_SWAP) {
                fail_soft("%s: finalizable object %llu has child %u, not an exchange leaf", what,
                          (unsigned long long)id, cid[i]);
                return false;
            }
    if (n->sum != node_sum(id, cid)) {
        fail_soft("%s: object %llu at %p: checksum %#llx does not match its children %u %u %u %u",
                  what, (unsigned long long)id, (void *)n, (unsigned long long)n->sum, cid[0],
                  cid[1], cid[2], cid[3]);
        return false;
    }
    if (atomic_load(&s->finalized) != 0) {
        fail_soft("%s: object %llu at %p is reachable, but its finalizer ran", what,
                  (unsigned long long)id, (void *)n);
        return false;
    }
    return true;
}

/* A node the caller holds that belongs to region r (full check) or to
 * somebody else (what never changes, and its finalizer). */
static bool verify_held(node *n, int r, const char *what) {
    if (!check_object(n, what, 0, 0))
        return false;
    if (KIND_HOME(n->kind) == r)
        return verify_full(n, r, what);
    if (atomic_load(&W.sh[n->id].finalized) != 0) {
        fail_soft("%s: object %llu at %p is held by a task, but its finalizer ran", what,
                  (unsigned long long)n->id, (void *)n);
        return false;
    }
    return true;
}

static void finalize_node(void *obj) {
    node *n = obj;
    uint64_t id = n->id, kind = n->kind;
    if (n->check != node_check(id, kind) || KIND_TYPE(kind) != K_FIN || id == 0 ||
        id >= atomic_load(&W.next_id) || W.sh[id].ptr != n) {
        fail_soft("finalizer called for %p, which is not a live finalizable node (id %llu kind "
                  "%#llx)",
                  obj, (unsigned long long)id, (unsigned long long)kind);
        return;
    }
    /* What a finalizable object points to must have outlived it. Its
     * children (exchange leaves) never change, nor does the object. */
    uint32_t cid[NCHILD];
    for (int i = 0; i < NCHILD; i++) {
        node *c = child_at(n, i);
        cid[i] = 0;
        if (c != NULL) {
            if (!check_object(c, "finalizer's object", id, i))
                return;
            cid[i] = (uint32_t)c->id;
        }
        if (cid[i] != W.sh[id].child[i]) {
            fail_soft("finalizer: object %llu field %d holds object %u, the model says %u: its "
                      "referent was freed before it",
                      (unsigned long long)id, i, cid[i], W.sh[id].child[i]);
            return;
        }
        if (c != NULL && KIND_HOME(c->kind) != HOME_SWAP) {
            fail_soft("finalizer: object %llu has child %u, not an exchange leaf",
                      (unsigned long long)id, cid[i]);
            return;
        }
    }
    if (n->sum != node_sum(id, cid)) {
        fail_soft("finalizer: object %llu has a bad checksum", (unsigned long long)id);
        return;
    }
    if (atomic_fetch_add(&W.sh[id].finalized, 1) != 0) {
        fail_soft("finalizer ran twice for object %llu", (unsigned long long)id);
        return;
    }
    atomic_fetch_add(&W.n_fin_ran, 1);
}

/* ---- building ----------------------------------------------------------------------------- */

static uint32_t new_id(void) {
    uint32_t id = atomic_fetch_add(&W.next_id, 1);
    if (id >= W.id_cap) {
        fail_soft("the model is full (%u ids): a sizing bug in the program", W.id_cap);
        return 0;
    }
    return id;
}

static bool ids_left(void) {
    return atomic_load_explicit(&W.next_id, memory_order_relaxed) + 1024 < W.id_cap;
}

/* Fills a fresh object in as node `id` and enters it in the model. */
static bool init_node(node *n, uint32_t id, uint64_t kind) {
    unsigned type = KIND_TYPE(kind);
    size_t size = type == K_BIG ? sizeof(big_node) : sizeof(node);
    const uint64_t *w = (const uint64_t *)n;
    for (size_t i = 0; i < size / 8; i++)
        if (w[i] != 0) {
            fail_soft("go_new returned %p (%s) with word %zu = %#llx, not zeroed", (void *)n,
                      type == K_BIG ? "big" : "small", i, (unsigned long long)w[i]);
            return false;
        }
    static const uint32_t none[NCHILD];
    n->id = id;
    n->kind = kind;
    n->check = node_check(id, kind);
    n->sum = node_sum(id, none);
    if (type == K_BIG)
        for (int i = 0; i < BIG_WORDS; i++)
            ((big_node *)n)->payload[i] = payload_word(id, i);
    shadow_entry *s = &W.sh[id];
    s->ptr = n;
    memset(s->child, 0, sizeof s->child);
    s->home = (uint16_t)KIND_HOME(kind);
    s->type = (uint8_t)type;
    atomic_fetch_add_explicit(&W.n_nodes, 1, memory_order_relaxed);
    if (type == K_FIN)
        atomic_fetch_add_explicit(&W.n_fin_created, 1, memory_order_relaxed);
    return true;
}

static node *new_node(int type, int home) {
    const go_type *t = type == K_BIG ? &big_type : type == K_FIN ? &fin_type : &small_type;
    node *n = go_new(t);
    if (n == NULL) {
        fail_soft("go_new(%s) returned NULL", t->name);
        return NULL;
    }
    uint32_t id = new_id();
    if (id == 0 || !init_node(n, id, KIND(type, 0, home)))
        return NULL;
    return n;
}

/* count consecutive nodes of `type` (small or finalizable) in one object. */
static node *new_array(int type, int home, int count) {
    const go_type *t = type == K_FIN ? &fin_type : &small_type;
    node *a = go_new_array(t, (size_t)count);
    if (a == NULL) {
        fail_soft("go_new_array(%s, %d) returned NULL", t->name, count);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        uint32_t id = new_id();
        if (id == 0 || !init_node(&a[i], id, KIND(type, i, home)))
            return NULL;
    }
    return a;
}

/* n->child[k] = c, in the heap and in the model. The caller owns n. */
static void set_child(node *n, int k, node *c) {
    if (KIND_TYPE(n->kind) == K_FIN && c != NULL && KIND_HOME(c->kind) != HOME_SWAP) {
        fail_soft("program bug: child %llu for finalizable object %llu", (unsigned long long)c->id,
                  (unsigned long long)n->id);
        return;
    }
    GO_STORE(n->child[k], c);
    shadow_entry *s = &W.sh[n->id];
    s->child[k] = c != NULL ? (uint32_t)c->id : 0;
    n->sum = node_sum(n->id, s->child);
}

/* ---- the mutators -------------------------------------------------------------------- */

typedef struct mut {
    int t;
    stress_rng rng;
} mut;

static inline uint32_t below(mut *m, uint32_t n) {
    return stress_below(&m->rng, n);
}

/* A node of region r found by a short random walk from its root, every step
 * verified; never a finalizable one unless allow_fin. NULL when the region is
 * empty or a check failed. */
static node *pick(mut *m, int r, bool allow_fin) {
    node *cur = load_root(&R.region[r]);
    if (cur == NULL || !verify_full(cur, r, "region root"))
        return NULL;
    int steps = (int)below(m, 12);
    for (int s = 0; s < steps; s++) {
        int k0 = (int)below(m, NCHILD);
        node *next = NULL;
        for (int i = 0; i < NCHILD && next == NULL; i++) {
            node *c = child_at(cur, (k0 + i) % NCHILD);
            /* verify_full(cur) checked c's kind word */
            if (c != NULL && KIND_HOME(c->kind) == r && (allow_fin || KIND_TYPE(c->kind) != K_FIN))
                next = c;
        }
        if (next == NULL)
            break;
        if (!verify_full(next, r, "walk"))
            return NULL;
        cur = next;
    }
    return cur;
}

/* A published object: verified, or NULL. */
static node *pick_pub(mut *m, int r) {
    node *p = load_root(&R.pub[below(m, NPUB)]);
    if (p != NULL && !verify_held(p, r, "published object"))
        return NULL;
    return p;
}

/* An exchange leaf read under its lock and then held only by this task. */
static node *peek_swap(mut *m, int r) {
    int i = (int)below(m, NSWAP);
    gort_test_lock(&W.swap_lock[i]);
    node *x = load_root(&R.swap[i]);
    gort_test_unlock(&W.swap_lock[i]);
    if (x != NULL && !verify_held(x, r, "exchange leaf"))
        return NULL;
    return x;
}

/* Yields a few times; rarely collects. Whatever the caller holds in locals
 * only must survive. */
static void hold(mut *m) {
    int n = 1 + (int)below(m, 3);
    for (int i = 0; i < n; i++)
        go_yield();
    if (below(m, 128) == 0) {
        atomic_fetch_add(&W.n_collects, 1);
        go_gc_collect();
    }
}

/* A new finalizable node of region r gets up to two exchange leaves as
 * children (they must outlive it: its finalizer checks them). */
static void fin_children(mut *m, node *n, int r) {
    for (int k = 0; k < 2; k++)
        if (below(m, 2) == 0) {
            node *x = peek_swap(m, r);
            if (stopping())
                return;
            set_child(n, k, x);
        }
}

static void op_new_root(mut *m, int r, bool reset) {
    node *old = load_root(&R.region[r]);
    node *keep = NULL;
    if (!reset && old != NULL)
        keep = pick(m, r, true);
    node *n = new_node(below(m, 4) == 0 ? K_BIG : K_SMALL, r);
    if (n == NULL)
        return;
    if (!reset && old != NULL) {
        set_child(n, (int)below(m, NCHILD), old);
        if (keep != NULL)
            set_child(n, (int)below(m, NCHILD), keep);
    }
    GO_STORE(R.region[r], n);
    W.root_id[r] = (uint32_t)n->id;
    if (reset || old == NULL) {
        W.region_est[r] = 1;
        atomic_fetch_add(&W.n_resets, 1);
    } else {
        W.region_est[r]++;
    }
}

/* A target for an edge out of region r: own nodes, foreign ones, or none. */
static node *pick_target(mut *m, int r, node *self) {
    switch (below(m, 12)) {
    case 0:
    case 1:
    case 2:
        return NULL;
    case 3:
        return self;
    case 4:
        return pick_pub(m, r);
    case 5:
        return below(m, 2) == 0 ? peek_swap(m, r) : load_root(&R.region[r]);
    default:
        return pick(m, r, true);
    }
}

static void op_alloc(mut *m, int r) {
    node *a = pick(m, r, false);
    if (a == NULL)
        return;
    node *arr = NULL, *n;
    int count = 1;
    uint32_t what = below(m, 16);
    if (what < 2) {
        n = new_node(K_FIN, r);
    } else if (what < 4) {
        n = new_node(K_BIG, r);
    } else if (what < 6) {
        count = 2 + (int)below(m, MAX_ARRAY - 1);
        arr = new_array(below(m, 3) == 0 ? K_FIN : K_SMALL, r, count);
        n = arr != NULL ? &arr[below(m, (uint32_t)count)] : NULL;
    } else {
        n = new_node(K_SMALL, r);
    }
    if (n == NULL)
        return;
    W.region_est[r] += count;
    if (KIND_TYPE(n->kind) == K_FIN) {
        for (int i = 0; i < count; i++)
            fin_children(m, arr != NULL ? &arr[i] : n, r);
    } else {
        for (int k = 0; k < NCHILD; k++) {
            node *c = pick_target(m, r, n);
            if (stopping())
                return;
            set_child(n, k, c);
        }
    }
    if (below(m, 4) == 0) {
        /* Only this task's locals hold n (and arr) for a while. */
        hold(m);
        if (!verify_full(n, r, "new node held in a local"))
            return;
    }
    set_child(a, (int)below(m, NCHILD), n);
    if (arr != NULL && below(m, 2) == 0) {
        node *b = pick(m, r, false);
        if (b != NULL)
            set_child(b, (int)below(m, NCHILD), &arr[below(m, (uint32_t)count)]);
    }
}

static void op_rewire(mut *m, int r) {
    node *a = pick(m, r, false);
    if (a == NULL)
        return;
    node *c = pick_target(m, r, a);
    if (!stopping())
        set_child(a, (int)below(m, NCHILD), c);
}

static void op_cut(mut *m, int r) {
    node *a = pick(m, r, false);
    if (a != NULL)
        set_child(a, (int)below(m, NCHILD), NULL);
}

/* Cut an edge, hold its target in a local across yields, link it elsewhere. */
static void op_move(mut *m, int r) {
    node *a = pick(m, r, false);
    if (a == NULL)
        return;
    int k = (int)below(m, NCHILD);
    node *x = child_at(a, k);
    if (x == NULL)
        return;
    set_child(a, k, NULL);
    atomic_fetch_add_explicit(&W.n_moves, 1, memory_order_relaxed);
    if (below(m, 2) == 0)
        hold(m);
    if (!verify_held(x, r, "moved node held in a local"))
        return;
    node *c = pick(m, r, false);
    if (c != NULL)
        set_child(c, (int)below(m, NCHILD), x);
}

/* go_memmove: a node's fields copied into a new node or over another node's,
 * or shifted within the node. A pointer the copy overwrites is first read
 * into a local and held across yields (it must survive: go_memmove shades
 * what it overwrites), then linked again. */
static void op_memmove(mut *m, int r) {
    node *a = pick(m, r, false);
    if (a == NULL)
        return;
    atomic_fetch_add_explicit(&W.n_memmoves, 1, memory_order_relaxed);
    uint32_t how = below(m, 3);
    node *b = NULL, *kept = NULL;
    if (how == 0) {
        b = new_node(K_SMALL, r);
        if (b == NULL)
            return;
        W.region_est[r]++;
    } else if (how == 1) {
        b = pick(m, r, false);
        if (b == NULL)
            return;
    }
    if (b != NULL) {
        kept = child_at(b, (int)below(m, NCHILD));
        go_memmove(&b->child[0], &a->child[0], sizeof a->child);
        shadow_entry *s = &W.sh[b->id];
        memmove(s->child, W.sh[a->id].child, sizeof s->child);
        b->sum = node_sum(b->id, s->child);
    } else {
        bool up = below(m, 2) == 0;
        shadow_entry *s = &W.sh[a->id];
        if (up) {
            kept = child_at(a, NCHILD - 1);
            go_memmove(&a->child[1], &a->child[0], (NCHILD - 1) * sizeof(node *));
            memmove(&s->child[1], &s->child[0], (NCHILD - 1) * sizeof(uint32_t));
        } else {
            kept = child_at(a, 0);
            go_memmove(&a->child[0], &a->child[1], (NCHILD - 1) * sizeof(node *));
            memmove(&s->child[0], &s->child[1], (NCHILD - 1) * sizeof(uint32_t));
        }
        a->sum = node_sum(a->id, s->child);
        b = a;
    }
    if (below(m, 2) == 0)
        hold(m);
    if (!verify_full(b, r, "node written with go_memmove"))
        return;
    if (kept != NULL) {
        if (!verify_held(kept, r, "node overwritten by go_memmove, held in a local"))
            return;
        node *c = pick(m, r, false);
        if (c != NULL)
            set_child(c, (int)below(m, NCHILD), kept);
    }
    if (how == 0) {
        node *c = pick(m, r, false);
        if (c != NULL)
            set_child(c, (int)below(m, NCHILD), b);
    }
}

/* The exchange: allocate first, then lock, swap, unlock; hold the old leaf. */
static void op_swap(mut *m, int r) {
    node *x = new_node(below(m, 3) == 0 ? K_FIN : K_SMALL, HOME_SWAP);
    if (x == NULL)
        return;
    int i = (int)below(m, NSWAP);
    gort_test_lock(&W.swap_lock[i]);
    node *old = load_root(&R.swap[i]);
    GO_STORE(R.swap[i], x);
    W.swap_id[i] = (uint32_t)x->id;
    gort_test_unlock(&W.swap_lock[i]);
    x = NULL;
    atomic_fetch_add_explicit(&W.n_swaps, 1, memory_order_relaxed);
    if (old == NULL)
        return;
    hold(m);
    if (!verify_held(old, r, "exchange leaf held in a local"))
        return;
    if (below(m, 2) == 0) {
        node *a = pick(m, r, false);
        if (a != NULL)
            set_child(a, (int)below(m, NCHILD), old);
    }
}

/* A pointer-free buffer held only in a local across yields. */
static void op_bytes(mut *m) {
    size_t n = 8 + below(m, 4000);
    uint8_t *p = go_alloc_bytes(n);
    if (p == NULL) {
        fail_soft("go_alloc_bytes(%zu) returned NULL", n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0) {
            fail_soft("go_alloc_bytes(%zu) returned %p with byte %zu = %#x, not zeroed", n,
                      (void *)p, i, p[i]);
            return;
        }
    uint64_t tag = stress_next(&m->rng);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(stress_mix64(tag + i / 8) >> (i % 8 * 8));
    atomic_fetch_add_explicit(&W.n_bytes, 1, memory_order_relaxed);
    hold(m);
    if (gort_gc_object_start(p) != p) {
        fail_soft("a buffer of %zu bytes held in a local is no longer allocated at %p", n,
                  (void *)p);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(stress_mix64(tag + i / 8) >> (i % 8 * 8))) {
            fail_soft("a buffer of %zu bytes at %p held in a local changed at byte %zu: freed "
                      "while held?",
                      n, (void *)p, i);
            return;
        }
}

/* ---- hand-off through a stack slot ------------------------------------------------- */

typedef struct handoff {
    node *slot; /* the child's result: GO_STORE by the child, GO_LOAD by the parent */
    node *gift; /* the parent's gift: GO_STORE by the parent, taken by the child */
    int region;
    uint64_t stream;
    int chain; /* nodes the child added */
    atomic_int done;
} handoff;

static void handoff_child(void *arg) {
    handoff *h = arg;
    mut m = {.t = -1, .rng = stress_rng_make(h->stream)};
    node *g = GO_LOAD(h->gift);
    GO_STORE(h->gift, NULL);
    go_yield();
    node *head = g;
    int len = 0;
    /* The parent does not touch its region until done: g is ours to check. */
    if (g == NULL || verify_full(g, h->region, "gift taken out of a parent's frame")) {
        int want = 1 + (int)below(&m, 3);
        for (; len < want; len++) {
            node *n = new_node(K_SMALL, h->region);
            if (n == NULL)
                break;
            set_child(n, 0, head);
            head = n;
            if (below(&m, 2) == 0)
                go_yield();
        }
        GO_STORE(h->slot, head);
    }
    head = NULL;
    g = NULL;
    h->chain = len;
    /* Now the parent's stack slot alone holds the chain. */
    hold(&m);
    if (below(&m, 4) == 0 && go_alloc_bytes(64 + below(&m, 256)) == NULL)
        fail_soft("go_alloc_bytes returned NULL");
    atomic_store_explicit(&h->done, 1, memory_order_release);
}

static void op_handoff(mut *m, int r) {
    node *g = NULL;
    if (below(m, 2) == 0) {
        g = new_node(below(m, 4) == 0 ? K_FIN : K_SMALL, r);
        if (g == NULL)
            return;
        W.region_est[r]++;
        if (KIND_TYPE(g->kind) == K_FIN)
            fin_children(m, g, r);
    } else {
        node *a = pick(m, r, false);
        if (a == NULL)
            return;
        int k = (int)below(m, NCHILD);
        g = child_at(a, k);
        if (g != NULL && KIND_HOME(g->kind) != r)
            g = NULL;
        if (g != NULL)
            set_child(a, k, NULL);
    }
    handoff h;
    memset(&h, 0, sizeof h); /* before its address is given away */
    h.region = r;
    h.stream = stress_next(&m->rng);
    GO_STORE(h.gift, g);
    g = NULL;
    if (go_spawn(handoff_child, &h) != 0) {
        fail_soft("go_spawn of a hand-off child failed");
        return;
    }
    atomic_fetch_add_explicit(&W.n_handoffs, 1, memory_order_relaxed);
    /* Wait without parking on the slot: the child writes it meanwhile. */
    while (atomic_load_explicit(&h.done, memory_order_acquire) == 0)
        go_yield();
    if (stopping())
        return;
    if (GO_LOAD(h.gift) != NULL) {
        fail_soft("hand-off: the child left the gift in the parent's frame");
        return;
    }
    node *x = GO_LOAD(h.slot);
    if (x == NULL)
        return; /* no gift and no chain */
    node *c = x;
    for (int i = 0; i <= h.chain && c != NULL; i++) {
        if (!verify_full(c, r, "chain read from a stack slot with GO_LOAD"))
            return;
        c = child_at(c, 0);
    }
    W.region_est[r] += h.chain;
    node *a = pick(m, r, false);
    if (a != NULL)
        set_child(a, (int)below(m, NCHILD), x);
}

/* ---- orphans: a node whose only reference is a spawn argument ------------------------ */

static void orphan_task(void *arg) {
    node *x = arg;
    go_yield();
    if (go_task_id() % 2 == 0)
        go_yield();
    /* Nobody else reaches x: all of it is ours to check. */
    verify_full(x, -1, "node passed as a spawn argument");
    atomic_fetch_add(&W.orphans_done, 1);
}

static void op_orphan(mut *m, int r) {
    if (atomic_load(&W.orphans_spawned) - atomic_load(&W.orphans_done) >= MAX_ORPHANS)
        return;
    node *c0 = below(m, 2) == 0 ? pick(m, r, true) : NULL;
    node *x = new_node(below(m, 2) == 0 ? K_FIN : K_SMALL, r);
    if (x == NULL)
        return;
    if (KIND_TYPE(x->kind) != K_FIN) {
        set_child(x, 0, c0);
        set_child(x, 3, pick_pub(m, r));
    } else {
        fin_children(m, x, r);
    }
    atomic_fetch_add(&W.orphans_spawned, 1);
    atomic_fetch_add_explicit(&W.n_orphans, 1, memory_order_relaxed);
    if (go_spawn(orphan_task, x) != 0) {
        atomic_fetch_add(&W.orphans_done, 1);
        fail_soft("go_spawn of an orphan failed");
    }
}

/* ---- one operation, the mutator, the barrier -------------------------------------- */

static void do_op(mut *m, int r) {
    /* C code that never polls holds up every pause (gcslice pauses a lot). */
    go_safepoint();
    if (load_root(&R.region[r]) == NULL || W.region_est[r] > W.region_cap) {
        if (ids_left())
            op_new_root(m, r, true);
        return;
    }
    if (below(m, (uint32_t)W.collect_period) == 0) {
        atomic_fetch_add(&W.n_collects, 1);
        go_gc_collect();
    }
    uint32_t op = below(m, 100);
    bool allocating = op < 28 || (op >= 68 && op < 90);
    if (allocating && !ids_left()) {
        atomic_fetch_add_explicit(&W.n_alloc_skipped, 1, memory_order_relaxed);
        op = 30; /* a rewire */
    }
    if (op < 28)
        op_alloc(m, r);
    else if (op < 46)
        op_rewire(m, r);
    else if (op < 58)
        op_move(m, r);
    else if (op < 68)
        op_cut(m, r);
    else if (op < 71)
        op_new_root(m, r, false);
    else if (op < 76)
        op_handoff(m, r);
    else if (op < 79)
        op_orphan(m, r);
    else if (op < 85)
        op_swap(m, r);
    else if (op < 90)
        op_memmove(m, r);
    else if (op < 94)
        op_bytes(m);
    else
        go_yield();
}

static void barrier_arrive(int t) {
    if (atomic_fetch_add(&W.arrived, 1) + 1 == W.ntasks)
        gort_test_sema_post(&W.checker_sema);
    gort_test_sema_wait(&W.mut_sema[t]);
}

static void mutator(void *arg) {
    mut m = {.t = (int)(intptr_t)arg};
    for (int phase = 0; phase < W.phases; phase++) {
        m.rng = stress_rng_make(1000 + (uint64_t)m.t * 100000 + (uint64_t)phase);
        int owned[REGIONS], nown = 0;
        for (int r = 0; r < REGIONS; r++)
            if ((r + phase) % W.ntasks == m.t)
                owned[nown++] = r;
        for (long i = 0; i < W.ops && !stopping(); i++)
            do_op(&m, owned[below(&m, (uint32_t)nown)]);
        barrier_arrive(m.t);
    }
    gort_test_wg_done(&W.wg);
}

/* ---- the checker ------------------------------------------------------------------------ */

typedef struct vec {
    void **v;
    size_t n, cap;
} vec;

static void vec_push(vec *v, void *p) {
    if (v->n == v->cap) {
        v->cap = v->cap != 0 ? 2 * v->cap : 4096;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        if (v->v == NULL) {
            fprintf(stderr, "gc_graph: out of memory\n");
            abort();
        }
    }
    v->v[v->n++] = p;
}

static vec stack, reached;

/* Pushes an object found in a root or a field unless this walk has it already. */
static bool push_new(node *p, uint32_t epoch, const char *what, uint64_t parent_id, int field) {
    if (!check_object(p, what, parent_id, field))
        return false;
    shadow_entry *s = &W.sh[p->id];
    if (s->real_epoch != epoch) {
        s->real_epoch = epoch;
        vec_push(&stack, p);
    }
    return true;
}

/* A root slot against the model's; home >= 0: the slot holds only nodes of
 * that home (region roots are never finalizable, exchange leaves may be). */
static bool check_root(node *p, uint32_t model_id, uint32_t epoch, const char *what, int i,
                       int home, bool fin_ok) {
    char name[48];
    snprintf(name, sizeof name, "%s slot %d", what, i);
    if (p == NULL || model_id == 0) {
        if (p != NULL || model_id != 0) {
            fail_soft("%s holds %p, the model says object %u", name, (void *)p, model_id);
            return false;
        }
        return true;
    }
    if (!push_new(p, epoch, name, 0, 0))
        return false;
    if (p->id != model_id) {
        fail_soft("%s holds object %llu, the model says %u", name, (unsigned long long)p->id,
                  model_id);
        return false;
    }
    if (home >= 0 && (KIND_HOME(p->kind) != home || (!fin_ok && KIND_TYPE(p->kind) == K_FIN))) {
        fail_soft("%s holds object %llu of kind %#llx", name, (unsigned long long)p->id,
                  (unsigned long long)p->kind);
        return false;
    }
    return true;
}

/* With every mutator parked: walks the heap from the roots verifying every
 * node against the model, then the model from its roots, checking that the
 * heap walk reached everything the model reaches. */
static bool check_graph(uint32_t epoch, const char *when) {
    stack.n = reached.n = 0;
    long per_home[REGIONS + 1] = {0};
    for (int r = 0; r < REGIONS; r++)
        if (!check_root(load_root(&R.region[r]), W.root_id[r], epoch, "region", r, r, false))
            return false;
    for (int i = 0; i < NPUB; i++)
        if (!check_root(load_root(&R.pub[i]), W.pub_id[i], epoch, "published", i, -1, true))
            return false;
    for (int i = 0; i < NSWAP; i++)
        if (!check_root(load_root(&R.swap[i]), W.swap_id[i], epoch, "exchange", i, HOME_SWAP, true))
            return false;
    char what[64];
    snprintf(what, sizeof what, "barrier walk %s", when);
    while (stack.n > 0) {
        node *n = stack.v[--stack.n];
        if (!verify_full(n, -1, what))
            return false;
        vec_push(&reached, n);
        per_home[KIND_HOME(n->kind)]++;
        for (int i = 0; i < NCHILD; i++) {
            node *c = child_at(n, i);
            if (c != NULL && !push_new(c, epoch, what, n->id, i))
                return false;
        }
    }
    /* The model's walk, over ids. */
    vec ids = {0};
    for (int r = 0; r < REGIONS; r++)
        vec_push(&ids, (void *)(uintptr_t)W.root_id[r]);
    for (int i = 0; i < NPUB; i++)
        vec_push(&ids, (void *)(uintptr_t)W.pub_id[i]);
    for (int i = 0; i < NSWAP; i++)
        vec_push(&ids, (void *)(uintptr_t)W.swap_id[i]);
    long model_count = 0;
    bool ok = true;
    while (ids.n > 0 && ok) {
        uint32_t id = (uint32_t)(uintptr_t)ids.v[--ids.n];
        if (id == 0)
            continue;
        shadow_entry *s = &W.sh[id];
        if (s->model_epoch == epoch)
            continue;
        s->model_epoch = epoch;
        model_count++;
        if (s->real_epoch != epoch) {
            fail_soft("%s: the model reaches object %u (at %p), the heap walk did not", what, id,
                      (void *)s->ptr);
            ok = false;
        }
        if (atomic_load(&s->finalized) != 0) {
            fail_soft("%s: the model reaches object %u, whose finalizer ran", what, id);
            ok = false;
        }
        for (int i = 0; i < NCHILD; i++)
            vec_push(&ids, (void *)(uintptr_t)s->child[i]);
    }
    free(ids.v);
    if (ok && model_count != (long)reached.n) {
        fail_soft("%s: the model reaches %ld objects, the heap walk %zu", what, model_count,
                  reached.n);
        ok = false;
    }
    if (!ok)
        return false;
    for (int r = 0; r < REGIONS; r++)
        W.region_est[r] = per_home[r];
    if ((long)reached.n > W.max_reached)
        W.max_reached = (long)reached.n;
    return true;
}

/* New published objects: random reachable ones (the last walk's), or none. */
static void refresh_pub(stress_rng *rng) {
    for (int i = 0; i < NPUB; i++) {
        node *p = NULL;
        if (reached.n > 0 && stress_below(rng, 4) != 0)
            p = reached.v[stress_below(rng, (uint32_t)reached.n)];
        GO_STORE(R.pub[i], p);
        W.pub_id[i] = p != NULL ? (uint32_t)p->id : 0;
    }
}

static void wait_orphans(void) {
    while (atomic_load(&W.orphans_done) < atomic_load(&W.orphans_spawned))
        go_yield();
}

static int graph_main(void *arg) {
    (void)arg;
    if (go_gc_add_roots(&R, sizeof R) != 0) {
        fail_soft("go_gc_add_roots failed");
        return -1;
    }
    go_gc_stats st;
    go_gc_stats_get(&st);
    W.cycles_before = st.cycles;
    stress_rng rng = stress_rng_make(7);
    gort_test_wg_add(&W.wg, W.ntasks);
    for (int t = 0; t < W.ntasks; t++)
        if (go_spawn(mutator, (void *)(intptr_t)t) != 0) {
            fprintf(stderr, "gc_graph: go_spawn of a mutator failed\n");
            abort(); /* the barrier would never fill */
        }
    for (int phase = 0; phase < W.phases; phase++) {
        stress_set_phase("mutating");
        gort_test_sema_wait(&W.checker_sema);
        atomic_store(&W.arrived, 0);
        stress_set_phase("barrier checks");
        wait_orphans();
        if (!stopping() && check_graph(2 * (uint32_t)phase + 1, "after the phase")) {
            atomic_fetch_add(&W.n_collects, 1);
            go_gc_collect();
            if (check_graph(2 * (uint32_t)phase + 2, "after a collection at the barrier"))
                refresh_pub(&rng);
        }
        if (atomic_load(&W.n_fin_ran) > atomic_load(&W.n_fin_created))
            fail_soft("%ld finalizers ran for %ld finalizable nodes", atomic_load(&W.n_fin_ran),
                      atomic_load(&W.n_fin_created));
        atomic_store(&W.phase, phase + 1);
        for (int t = 0; t < W.ntasks; t++)
            gort_test_sema_post(&W.mut_sema[t]);
    }
    stress_set_phase("finishing");
    gort_test_wg_wait(&W.wg);
    wait_orphans();

    /* Drop everything; most finalizers must come. */
    stress_set_phase("final collections");
    for (int r = 0; r < REGIONS; r++) {
        GO_STORE(R.region[r], NULL);
        W.root_id[r] = 0;
    }
    for (int i = 0; i < NPUB; i++) {
        GO_STORE(R.pub[i], NULL);
        W.pub_id[i] = 0;
    }
    for (int i = 0; i < NSWAP; i++) {
        GO_STORE(R.swap[i], NULL);
        W.swap_id[i] = 0;
    }
    free(stack.v);
    free(reached.v);
    memset(&stack, 0, sizeof stack);
    memset(&reached, 0, sizeof reached);
    long last = -1;
    for (int round = 0; round < 6 && !stopping(); round++) {
        go_gc_collect();
        go_gc_run_finalizers();
        long ran = atomic_load(&W.n_fin_ran);
        if (ran == last || ran >= atomic_load(&W.n_fin_created))
            break;
        last = ran;
    }
    go_gc_stats_get(&st);
    W.cycles_after = st.cycles;
    printf("gc_graph: after dropping everything: heap_live %zu bytes, heap_alloc %zu, "
           "pause_max %.3f ms\n",
           st.heap_live, st.heap_alloc, (double)st.pause_max_ns / 1e6);
    go_gc_remove_roots(&R);
    return 0;
}

int main(void) {
    stress_begin("gc_graph");
    const char *dbg = getenv("GORT_DEBUG");
    if (dbg == NULL || *dbg == '\0') {
        setenv("GORT_DEBUG", DEFAULT_DEBUG, 1);
        dbg = getenv("GORT_DEBUG");
    }
    W.debug = dbg;
    int workers = stress_workers(4);
    W.ntasks = MUTATORS;
    /* With gcslice every cycle is many pauses: half the operations. Sizes
     * under TSan (scale 1/20) have floors, so that a run still means
     * something there. */
    const char *slice = strstr(dbg, "gcslice=");
    bool sliced = slice != NULL && atoi(slice + strlen("gcslice=")) > 0;
    W.phases = 6 + (int)stress_scaled(34);
    W.ops = stress_scaled(2000);
    if (W.ops < 400)
        W.ops = 400;
    if (sliced)
        W.ops /= 2;
    W.region_cap = 20 + stress_scaled(280);
    if (W.region_cap < 40)
        W.region_cap = 40;
    W.collect_period = W.ops / 2 > 20 ? W.ops / 2 : 20;
    /* About 0.7 new nodes per operation; past the cap, operations that
     * allocate nodes turn into rewires. */
    double ids = (double)W.ntasks * W.phases * W.ops * 1.2 + 8192;
    W.id_cap = ids > 4e9 ? 4000000000u : (uint32_t)ids;
    W.sh = calloc(W.id_cap, sizeof *W.sh);
    stress_check(W.sh != NULL, "cannot allocate the model (%u entries)", W.id_cap);
    atomic_store(&W.next_id, 1);
    printf("gc_graph: GORT_DEBUG=%s, %d workers, %d mutators, %d phases of %ld operations each, "
           "regions up to %ld nodes\n",
           dbg, workers, W.ntasks, W.phases, W.ops, W.region_cap);
    fflush(stdout);

    int rc = gort_test_run(workers, graph_main, NULL);
    stress_check(atomic_load(&W.errors) == 0, "%ld errors, the first: %s", atomic_load(&W.errors),
                 W.first_error);
    stress_check(rc == 0, "go_main returned %d", rc);

    long fin_created = atomic_load(&W.n_fin_created), fin_ran = atomic_load(&W.n_fin_ran);
    printf("gc_graph: %ld nodes (%ld skipped operations), %ld collections asked, %llu cycles, "
           "%ld hand-offs, %ld orphans, %ld moves, %ld exchanges, %ld memmoves, %ld buffers, "
           "%ld resets, at most %ld reachable nodes at a barrier; finalizers: %ld of %ld ran\n",
           atomic_load(&W.n_nodes), atomic_load(&W.n_alloc_skipped), atomic_load(&W.n_collects),
           (unsigned long long)(W.cycles_after - W.cycles_before), atomic_load(&W.n_handoffs),
           atomic_load(&W.n_orphans), atomic_load(&W.n_moves), atomic_load(&W.n_swaps),
           atomic_load(&W.n_memmoves), atomic_load(&W.n_bytes), atomic_load(&W.n_resets),
           W.max_reached, fin_ran, fin_created);
    stress_check(W.cycles_after - W.cycles_before >= (uint64_t)W.phases,
                 "only %llu cycles completed, at least %d collections were asked",
                 (unsigned long long)(W.cycles_after - W.cycles_before), W.phases);
    stress_check(fin_ran <= fin_created, "%ld finalizers ran for %ld finalizable nodes", fin_ran,
                 fin_created);
    stress_check(fin_ran * 4 >= fin_created * 3,
                 "only %ld of %ld finalizers ran after every root was dropped", fin_ran,
                 fin_created);
    for (uint32_t id = 1; id < atomic_load(&W.next_id) && id < W.id_cap; id++)
        stress_check(atomic_load(&W.sh[id].finalized) <= 1, "object %u finalized %d times", id,
                     (int)atomic_load(&W.sh[id].finalized));
    free(W.sh);
    return stress_end();
}
