/* test_gc.c - the collected heap (include/gort/gc.h, gc/gc.h, DESIGN.md
 * sections 4 and 7):
 *   1. size classes: for every class, objects of exactly the class size and of
 *      one byte more than the previous class, from go_new and go_alloc_bytes:
 *      alignment (16, or 8 for 8-byte objects), zeroing, no overlap,
 *      gort_gc_object_start of the base and of interior addresses; freed slots
 *      filled with garbage come back zeroed after a collection;
 *   2. interior pointers (stack, registered range, heap field) keep objects
 *      alive; gort_gc_object_start of addresses outside the heap is NULL;
 *      large objects (just above GORT_GC_MAX_SMALL, 100 KiB, 5 MiB) are
 *      zeroed, their pointer fields scanned, their finalizers run once per
 *      element;
 *   3. every kind of root keeps an object (a three-node tree, so the heap
 *      fields are checked too) alive across several collections, its
 *      finalizer not run and its contents intact: a parked task's stack, a
 *      callee-saved register at a safepoint (best effort, see there), an
 *      attached thread's stack, a blocked thread's and a blocked task's frozen
 *      stack, a registered range, a handle, a spawn argument not yet consumed
 *      (checked live: the task cannot run during the collections), a
 *      custom-scan object;
 *   4. finalizers: unreachable objects are freed and finalized exactly once;
 *      A -> B, both finalizable: A's finalizer runs first and B's only in a
 *      later cycle; a finalizer may call go_gc_run_finalizers;
 *   5. out of memory: a hard heap limit makes allocation fail cleanly and the
 *      heap recovers once objects are dropped; go_new_array overflow; the
 *      OS-refusal paths through fault injection (debug builds only);
 *   6. attached threads allocate and collect; statistics; the pacer starts
 *      cycles on its own; GO_STORE, GO_LOAD and go_memmove copy what they
 *      should; a mutator moving objects between lists while another task
 *      collects loses nothing (the barrier).
 * Allocation from a thread that is not attached is fatal:
 * crash_gc_unattached_alloc.c.
 *
 * Rules kept by every test (DESIGN.md section 7 rule 16): conservative stack
 * scanning may keep a dropped object alive, so objects expected to die are
 * allocated in noinline helpers, the stack is cleared (clear_stack) before a
 * collection, and such tests assert that most of a batch died, never a
 * particular object; "at most once" and "never while reachable" are exact.
 * Tasks and threads record failures with CHECK (cmocka is not thread-safe);
 * they are asserted on the test's own thread once the runtime returned.
 * Automatic cycles are off (GORT_GC=off) except in the pacer test, so that
 * cycles happen where the tests say; GORT_DEBUG defaults to poison=1, so a
 * freed object is overwritten at once (TEST_GC_DEBUG overrides it). Nothing
 * fails on timing; a watchdog aborts with the test's name on a hang.
 * Knobs: TEST_GC_FILTER / TEST_GC_SKIP (cmocka name patterns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "gc/gc.h"
#include "gort.h"
#include "sched/sched.h"
#include "tests/gort_test.h"

#define NOINLINE __attribute__((noinline))

/* Work sizes shrink under the sanitizers and valgrind (set in main). */
static int scale_div = 1;

/* ---- watchdog (tests/gort_test.h) ---- */

#ifdef GORT_TSAN
#define WATCH_SECONDS 100
#else
#define WATCH_SECONDS 90
#endif
#define WATCH() GORT_TEST_WATCH()

/* ---- failures recorded by tasks and threads ------------------------------------------------ */

#define MAX_FAILURES 64
static char failure_text[MAX_FAILURES][320];
static atomic_int failure_count;

static void record_failure(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void record_failure(const char *file, int line, const char *fmt, ...) {
    int i = atomic_fetch_add(&failure_count, 1);
    if (i >= MAX_FAILURES)
        return;
    int n = snprintf(failure_text[i], sizeof failure_text[i], "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof failure_text[i])
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure_text[i] + n, sizeof failure_text[i] - (size_t)n, fmt, ap);
    va_end(ap);
}

/* From any task or thread: records a failure instead of asserting. */
#define CHECK(cond) ((cond) ? (void)0 : record_failure(__FILE__, __LINE__, "%s", #cond))
#define CHECKF(cond, ...) ((cond) ? (void)0 : record_failure(__FILE__, __LINE__, __VA_ARGS__))

/* ---- objects --------------------------------------------------------------------------------- */

/* Every object a test checks is a node: its contents derive from its id, so
 * a freed (poisoned, reused) node shows. */
typedef struct node {
    uint64_t magic; /* NODE_MAGIC ^ id */
    uint64_t id;
    struct node *next;
    struct node *other;
    uint64_t payload[4];
} node;

#define NODE_MAGIC 0x6e6f64652d676f72ULL

static void node_finalize(void *obj);
static const size_t node_ptr_offsets[] = {offsetof(node, next), offsetof(node, other)};
/* Finalizable: the finalizer counts per id. */
static const go_type node_type = {"node", sizeof(node), 2, node_ptr_offsets, node_finalize};
/* The same without a finalizer. */
static const go_type plain_node_type = {"plain_node", sizeof(node), 2, node_ptr_offsets, NULL};

/* One pointer: arrays of these are arrays of pointers. */
typedef struct pslot {
    node *p;
} pslot;
static const size_t pslot_ptr_offsets[] = {0};
static const go_type pslot_type = {"pslot", sizeof(pslot), 1, pslot_ptr_offsets, NULL};

static void node_fill(node *n, uint64_t id) {
    n->magic = NODE_MAGIC ^ id;
    n->id = id;
    for (int i = 0; i < 4; i++)
        n->payload[i] = id * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
}

static bool node_intact(const node *n, uint64_t id) {
    if (n->magic != (NODE_MAGIC ^ id) || n->id != id)
        return false;
    for (int i = 0; i < 4; i++)
        if (n->payload[i] != id * 0x9e3779b97f4a7c15ULL + (uint64_t)i)
            return false;
    return true;
}

/* Pointers kept where a conservative scan must not see them. */
#define HIDE_MASK ((uintptr_t)0xa5c3f00d5a3c0ff0ULL)
static inline uintptr_t hide(const void *p) {
    return (uintptr_t)p ^ HIDE_MASK;
}
static inline void *unhide(uintptr_t h) {
    return (void *)(h ^ HIDE_MASK);
}

/* ---- finalizer bookkeeping ------------------------------------------------------------------- */

/* Ids are unique in the process (never reset between tests), so that a node
 * a previous test dropped and this test's collections finalize cannot be
 * mistaken for one of this test's. */
#define MAX_IDS (1 << 18)
static atomic_int fin_count[MAX_IDS];
static atomic_int fin_round[MAX_IDS];   /* gc_round when the finalizer ran */
static atomic_int fin_pred[MAX_IDS];    /* an id that must be finalized before this one */
static atomic_int fin_corrupt;          /* finalizers that saw a damaged node */
static atomic_int fin_bad_id;           /* finalizers that saw an id out of range */
static atomic_int fin_order_violations; /* fin_pred not finalized yet */
static atomic_int gc_round;             /* bumped by full_gc before each collection */
static atomic_int next_id = 1;

static uint64_t take_ids(int n) {
    int first = atomic_fetch_add(&next_id, n);
    if (first + n > MAX_IDS) {
        record_failure(__FILE__, __LINE__, "out of node ids (MAX_IDS %d)", MAX_IDS);
        return 0;
    }
    return (uint64_t)first;
}

static void node_finalize(void *obj) {
    node *n = obj;
    uint64_t id = n->id;
    if (id == 0 || id >= MAX_IDS) {
        atomic_fetch_add(&fin_bad_id, 1);
        return;
    }
    if (!node_intact(n, id))
        atomic_fetch_add(&fin_corrupt, 1);
    int pred = atomic_load(&fin_pred[id]);
    if (pred != 0 && atomic_load(&fin_count[pred]) == 0)
        atomic_fetch_add(&fin_order_violations, 1);
    atomic_store(&fin_round[id], atomic_load(&gc_round));
    atomic_fetch_add(&fin_count[id], 1);
}

static int count_finalized(uint64_t id0, int n) {
    int c = 0;
    for (int i = 0; i < n; i++)
        c += atomic_load(&fin_count[id0 + (uint64_t)i]) > 0;
    return c;
}

static int max_finalized(uint64_t id0, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int c = atomic_load(&fin_count[id0 + (uint64_t)i]);
        m = c > m ? c : m;
    }
    return m;
}

/* Most (90%) of a batch expected dead was finalized, none more than once. */
#define EXPECT_MOST_FINALIZED(id0, n, what)                                                        \
    do {                                                                                           \
        int fin_ = count_finalized((id0), (n));                                                    \
        CHECKF(fin_ * 10 >= (n)*9, "%s: %d of %d unreachable nodes finalized (want >= 90%%)",      \
               (what), fin_, (n));                                                                 \
        CHECKF(max_finalized((id0), (n)) <= 1, "%s: a finalizer ran more than once", (what));      \
    } while (0)

/* ---- helpers that keep the stack clean ------------------------------------------------------- */

/* Overwrites the dead stack below the caller's frame, so that stale copies
 * of pointers left there by helpers do not keep objects alive. */
NOINLINE static void clear_stack(void) {
    char buf[16384];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

NOINLINE static node *new_node(const go_type *t, uint64_t id) {
    node *n = go_new(t);
    if (n != NULL)
        node_fill(n, id);
    return n;
}

/* Three finalizable nodes: root (id0) -> next (id0+1) -> other (id0+2). */
NOINLINE static node *new_tree(uint64_t id0) {
    node *root = new_node(&node_type, id0);
    node *child = new_node(&node_type, id0 + 1);
    node *grandchild = new_node(&node_type, id0 + 2);
    if (root == NULL || child == NULL || grandchild == NULL) {
        record_failure(__FILE__, __LINE__, "new_tree: out of memory");
        return NULL;
    }
    GO_STORE(child->other, grandchild);
    GO_STORE(root->next, child);
    return root;
}

/* The tree is whole and none of its nodes was finalized. */
NOINLINE static bool check_tree(const char *where, const node *root, uint64_t id0) {
    bool ok = root != NULL && node_intact(root, id0) && root->next != NULL &&
              node_intact(root->next, id0 + 1) && root->next->other != NULL &&
              node_intact(root->next->other, id0 + 2);
    CHECKF(ok, "%s: the tree of ids %llu.. is damaged (freed while reachable?)", where,
           (unsigned long long)id0);
    int fin = atomic_load(&fin_count[id0]) + atomic_load(&fin_count[id0 + 1]) +
              atomic_load(&fin_count[id0 + 2]);
    CHECKF(fin == 0, "%s: %d finalizers ran for the reachable tree of ids %llu..", where, fin,
           (unsigned long long)id0);
    return ok && fin == 0;
}

/* n finalizable nodes that nothing references once this returns. */
NOINLINE static void drop_nodes(uint64_t id0, int n) {
    for (int i = 0; i < n; i++)
        CHECK(new_node(&node_type, id0 + (uint64_t)i) != NULL);
}

/* Garbage of the size class of a node, overwritten with junk: a node freed
 * while reachable is likely reused and damaged by it. */
NOINLINE static void churn(void) {
    for (int i = 0; i < 2048; i++) {
        node *n = go_new(&plain_node_type);
        if (n == NULL)
            return;
        memset(&n->payload, 0xee, sizeof n->payload);
        n->magic = 0xeeeeeeeeeeeeeeeeULL;
        n->id = ~(uint64_t)0;
        unsigned char *b = go_alloc_bytes(sizeof(node));
        if (b == NULL)
            return;
        memset(b, 0xee, sizeof(node));
    }
}

/* A full cycle, then the finalizers it queued, then a clean stack. */
NOINLINE static void full_gc(void) {
    clear_stack();
    atomic_fetch_add(&gc_round, 1);
    go_gc_collect();
    go_gc_run_finalizers();
    clear_stack();
}

/* n rounds of collection and churn. */
NOINLINE static void gc_rounds(int n) {
    for (int i = 0; i < n; i++) {
        full_gc();
        churn();
        clear_stack();
    }
    full_gc();
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---- running a test -------------------------------------------------------------------------- */

typedef struct run_cfg {
    int workers;
    size_t heap_limit; /* 0: none */
    bool gc_on;        /* automatic cycles */
    const char *debug; /* GORT_DEBUG; NULL: poison=1 (or TEST_GC_DEBUG) */
} run_cfg;

static void configure(const run_cfg *c) {
    gort_test_set_workers(c->workers);
    setenv("GORT_GC", c->gc_on ? "100" : "off", 1);
    if (c->heap_limit != 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", c->heap_limit);
        setenv("GORT_HEAPLIMIT", buf, 1);
    } else {
        unsetenv("GORT_HEAPLIMIT");
    }
    const char *dbg = c->debug;
    if (dbg == NULL)
        dbg = getenv("TEST_GC_DEBUG") != NULL ? getenv("TEST_GC_DEBUG") : "poison=1";
    setenv("GORT_DEBUG", dbg, 1);
}

/* Asserts that nothing was recorded, printing every recorded failure. */
static void report_failures(void) {
    int n = atomic_load(&failure_count);
    for (int i = 0; i < n && i < MAX_FAILURES; i++)
        print_error("%s\n", failure_text[i]);
    if (n > MAX_FAILURES)
        print_error("... and %d more\n", n - MAX_FAILURES);
    assert_int_equal(atomic_load(&fin_corrupt), 0); /* a finalizer saw a damaged node */
    assert_int_equal(atomic_load(&fin_bad_id), 0);
    assert_int_equal(atomic_load(&fin_order_violations), 0);
    if (n != 0)
        fail_msg("%d check(s) failed in tasks or threads (listed above)", n);
}

/* go_main(fn, arg) with the configuration; asserts fn returned 0 and that
 * nothing failed. */
static void run_main(const run_cfg *c, int (*fn)(void *), void *arg) {
    configure(c);
    int rc = go_main(fn, arg);
    report_failures();
    assert_int_equal(rc, 0);
}

static const run_cfg one_worker = {.workers = 1};
static const run_cfg two_workers = {.workers = 2};

static int test_setup(void **state) {
    (void)state;
    atomic_store(&failure_count, 0);
    return 0;
}

/* =============================================================================================
 * 1. Size classes
 * ============================================================================================= */

#define MAX_CLASSES 128
#define GROUP_MAX 64

/* Types of every class: [class][0: class size, 1: one byte above the
 * previous class], pointer fields at 0 and in the last whole word. Built
 * once: objects keep pointing to their types for the life of the process. */
static go_type class_types[MAX_CLASSES + 1][2];
static size_t class_offsets[MAX_CLASSES + 1][2][2];
static char class_names[MAX_CLASSES + 1][2][24];
static bool class_types_built;

static size_t variant_size(int c, int v) {
    if (v == 0)
        return gort_gc_class_size(c);
    return c == 1 ? 1 : gort_gc_class_size(c - 1) + 1;
}

static void build_class_types(int count) {
    if (class_types_built)
        return;
    class_types_built = true;
    for (int c = 1; c <= count; c++)
        for (int v = 0; v < 2; v++) {
            size_t size = variant_size(c, v);
            go_type *t = &class_types[c][v];
            snprintf(class_names[c][v], sizeof class_names[c][v], "class%d.%zu", c, size);
            t->name = class_names[c][v];
            t->size = size;
            t->nptrs = 0;
            if (size >= 8)
                class_offsets[c][v][t->nptrs++] = 0;
            if (size >= 16)
                class_offsets[c][v][t->nptrs++] = (size - 8) & ~(size_t)7;
            t->ptr_offsets = class_offsets[c][v];
            t->finalize = NULL;
        }
}

typedef struct group {
    int c, v, kind; /* kind 0: go_alloc_bytes, 1: go_new */
    size_t req, cls;
    int n;
    uintptr_t first[GROUP_MAX]; /* hidden addresses of the first allocation */
    int reused;                 /* second-round objects at a first-round address of the class */
} group;

/* Every non-pointer byte of the object becomes 0xa5; pointer fields point
 * to the sentinel (garbage there would be followed by the precise scan). */
static void garbage_fill(unsigned char *p, size_t req, const go_type *t, node *sentinel) {
    if (t == NULL) {
        memset(p, 0xa5, req);
        return;
    }
    size_t at = 0;
    for (size_t i = 0; i < t->nptrs; i++) {
        size_t off = t->ptr_offsets[i];
        if (off > at)
            memset(p + at, 0xa5, off - at);
        GO_STORE(*(node **)(p + off), sentinel);
        at = off + 8;
    }
    if (req > at)
        memset(p + at, 0xa5, req - at);
}

static void check_fresh_object(const group *g, const unsigned char *p, int round) {
    if (p == NULL) {
        record_failure(__FILE__, __LINE__, "class %d (%zu): %s(%zu) returned NULL", g->c, g->cls,
                       g->kind ? "go_new" : "go_alloc_bytes", g->req);
        return;
    }
    size_t align = g->cls <= 8 ? 8 : 16;
    CHECKF(((uintptr_t)p & (align - 1)) == 0, "class %d (%zu): %s(%zu) = %p is not %zu-aligned",
           g->c, g->cls, g->kind ? "go_new" : "go_alloc_bytes", g->req, (const void *)p, align);
    CHECKF(all_zero(p, g->req), "class %d (%zu): %s(%zu) round %d: object %p is not zeroed", g->c,
           g->cls, g->kind ? "go_new" : "go_alloc_bytes", g->req, round, (const void *)p);
    const unsigned char *probe[] = {p, p + g->req / 2, p + g->req - 1, p + g->cls - 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        void *start = gort_gc_object_start(probe[i]);
        CHECKF(start == p, "class %d (%zu): object_start(%p + %td) = %p, not the base", g->c,
               g->cls, (const void *)p, probe[i] - p, start);
    }
}

/* Allocates the group's objects, checks them and fills them with garbage. */
NOINLINE static void alloc_group(group *g, node *sentinel, int round, uintptr_t *out) {
    const go_type *t = g->kind ? &class_types[g->c][g->v] : NULL;
    for (int i = 0; i < g->n; i++) {
        unsigned char *p = g->kind ? go_new(t) : go_alloc_bytes(g->req);
        check_fresh_object(g, p, round);
        if (p == NULL) {
            out[i] = hide(NULL);
            continue;
        }
        garbage_fill(p, g->req, t, sentinel);
        out[i] = hide(p);
    }
}

static int cmp_uintptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct extent {
    uintptr_t start;
    size_t size;
} extent;

static int cmp_extent(const void *a, const void *b) {
    return cmp_uintptr(&((const extent *)a)->start, &((const extent *)b)->start);
}

static void check_no_overlap(extent *all, size_t n) {
    qsort(all, n, sizeof *all, cmp_extent);
    for (size_t i = 1; i < n; i++)
        CHECKF(all[i - 1].start + all[i - 1].size <= all[i].start,
               "objects overlap: %#lx (%zu bytes) and %#lx", (unsigned long)all[i - 1].start,
               all[i - 1].size, (unsigned long)all[i].start);
}

/* What garbage_fill wrote is still there. */
static bool garbage_intact(const unsigned char *p, size_t req, const go_type *t,
                           const node *sentinel) {
    size_t ptr_at[2] = {SIZE_MAX, SIZE_MAX};
    for (size_t i = 0; t != NULL && i < t->nptrs; i++) {
        ptr_at[i] = t->ptr_offsets[i];
        if (*(node *const *)(p + ptr_at[i]) != sentinel)
            return false;
    }
    for (size_t b = 0; b < req; b++) {
        bool in_ptr =
            (b >= ptr_at[0] && b < ptr_at[0] + 8) || (b >= ptr_at[1] && b < ptr_at[1] + 8);
        if (!in_ptr && p[b] != 0xa5)
            return false;
    }
    return true;
}

/* Moves the even-numbered objects of the group into keep (the odd ones stay
 * hidden in g->first, garbage). */
NOINLINE static void keep_every_other(group *g, void **keep) {
    for (int i = 0; i < g->n; i += 2) {
        GO_STORE(keep[i], unhide(g->first[i]));
        g->first[i] = hide(NULL);
    }
}

static struct {
    int count;
    size_t sizes[MAX_CLASSES + 1];
    long objects, reused_bytes_kind, reused_typed_kind;
    int classes_with_reuse;
} sc;

static int size_classes_main(void *arg) {
    (void)arg;
    int count = gort_gc_class_count();
    sc.count = count;
    if (count < 1 || count > MAX_CLASSES) {
        record_failure(__FILE__, __LINE__, "gort_gc_class_count() = %d", count);
        return 0;
    }
    for (int c = 1; c <= count; c++)
        sc.sizes[c] = gort_gc_class_size(c);
    build_class_types(count);
    node *sentinel = new_node(&plain_node_type, 1ULL << 40);
    CHECK(sentinel != NULL);

    int ngroups = count * 4;
    group *groups = calloc((size_t)ngroups, sizeof *groups);
    uintptr_t *second = calloc((size_t)ngroups * GROUP_MAX, sizeof *second);
    extent *all = calloc(2 * (size_t)ngroups * GROUP_MAX, sizeof *all); /* kept + round 2 */
    if (groups == NULL || second == NULL || all == NULL) {
        record_failure(__FILE__, __LINE__, "malloc failed");
        return 0;
    }
    for (int c = 1, k = 0; c <= count; c++)
        for (int v = 0; v < 2; v++)
            for (int kind = 0; kind < 2; kind++, k++) {
                group *g = &groups[k];
                g->c = c;
                g->v = v;
                g->kind = kind;
                g->req = variant_size(c, v);
                g->cls = gort_gc_class_size(c);
                size_t n = 65536 / g->cls;
                g->n = n < 4 ? 4 : n > GROUP_MAX ? GROUP_MAX : (int)n;
            }

    /* Round 1: every object of every group is alive at once. */
    size_t nall = 0;
    for (int k = 0; k < ngroups; k++) {
        alloc_group(&groups[k], sentinel, 1, groups[k].first);
        for (int i = 0; i < groups[k].n; i++)
            if (unhide(groups[k].first[i]) != NULL)
                all[nall++] = (extent){(uintptr_t)unhide(groups[k].first[i]), groups[k].cls};
    }
    sc.objects = (long)nall;
    check_no_overlap(all, nall);

    /* Every other object stays alive, in a registered range: its span then
     * keeps live objects, and the next allocations of the class reuse the
     * freed slots around it (a wholly free span may go back to the page heap
     * and another come out of it: no reuse to check). */
    void **keep = calloc((size_t)ngroups * GROUP_MAX, sizeof *keep);
    CHECK(keep != NULL && go_gc_add_roots(keep, (size_t)ngroups * GROUP_MAX * sizeof *keep) == 0);
    if (keep == NULL)
        return 0;
    for (int k = 0; k < ngroups; k++)
        keep_every_other(&groups[k], &keep[k * GROUP_MAX]);
    clear_stack();
    full_gc();
    for (int k = 0; k < ngroups; k++)
        alloc_group(&groups[k], sentinel, 2, &second[k * GROUP_MAX]);

    /* The kept objects are intact and nothing overlaps them. */
    nall = 0;
    for (int k = 0; k < ngroups; k++)
        for (int i = 0; i < groups[k].n; i++) {
            unsigned char *p = GO_LOAD(keep[k * GROUP_MAX + i]);
            if (p != NULL) {
                CHECKF(
                    garbage_intact(p, groups[k].req,
                                   groups[k].kind ? &class_types[groups[k].c][groups[k].v] : NULL,
                                   sentinel),
                    "class %d (%zu): a live object changed across a collection", groups[k].c,
                    groups[k].cls);
                all[nall++] = (extent){(uintptr_t)p, groups[k].cls};
            }
            if (unhide(second[k * GROUP_MAX + i]) != NULL)
                all[nall++] = (extent){(uintptr_t)unhide(second[k * GROUP_MAX + i]), groups[k].cls};
        }
    check_no_overlap(all, nall);
    memset(all, 0, 2 * (size_t)ngroups * GROUP_MAX * sizeof *all);
    free(all);

    /* Reuse: round-2 objects at the addresses of freed round-1 objects of
     * the same class (each was checked zeroed by alloc_group). */
    for (int c = 1; c <= count; c++) {
        uintptr_t old[4 * GROUP_MAX];
        int nold = 0;
        for (int k = (c - 1) * 4; k < c * 4; k++)
            for (int i = 0; i < groups[k].n; i++)
                if (unhide(groups[k].first[i]) != NULL)
                    old[nold++] = groups[k].first[i];
        qsort(old, (size_t)nold, sizeof old[0], cmp_uintptr);
        int reused_in_class = 0;
        for (int k = (c - 1) * 4; k < c * 4; k++)
            for (int i = 0; i < groups[k].n; i++) {
                uintptr_t h = second[k * GROUP_MAX + i];
                if (unhide(h) != NULL &&
                    bsearch(&h, old, (size_t)nold, sizeof old[0], cmp_uintptr) != NULL) {
                    groups[k].reused++;
                    reused_in_class++;
                    if (groups[k].kind)
                        sc.reused_typed_kind++;
                    else
                        sc.reused_bytes_kind++;
                }
            }
        sc.classes_with_reuse += reused_in_class > 0;
    }
    go_gc_remove_roots(keep);
    free(keep);
    free(second);
    free(groups);
    CHECK(sentinel != NULL && node_intact(sentinel, 1ULL << 40));
    return 0;
}

static void
every_size_class_allocates_aligned_zeroed_objects_and_reuses_freed_slots_zeroed(void **state) {
    (void)state;
    WATCH();
    memset(&sc, 0, sizeof sc);
    run_main(&one_worker, size_classes_main, NULL);
    print_message("[ info ] %d size classes, %ld objects; reused after a collection: %ld untyped, "
                  "%ld typed, in %d classes\n",
                  sc.count, sc.objects, sc.reused_bytes_kind, sc.reused_typed_kind,
                  sc.classes_with_reuse);
    assert_in_range(sc.count, 1, MAX_CLASSES);
    assert_int_equal(sc.sizes[1] <= 16, true);
    for (int c = 2; c <= sc.count; c++) {
        assert_true(sc.sizes[c] > sc.sizes[c - 1]);
        if (sc.sizes[c] > 8)
            assert_int_equal(sc.sizes[c] % 16, 0); /* 16-byte alignment of every slot */
    }
    assert_int_equal(sc.sizes[sc.count], GORT_GC_MAX_SMALL);
    /* Zeroing after reuse is checked object by object above. Where a freed
     * slot goes is the allocator's choice, but with live objects left in
     * every span (keep_every_other), a heap that does not reuse the freed
     * slots of most classes is broken. */
    assert_true(sc.reused_bytes_kind > 0);
    assert_true(sc.reused_typed_kind > 0);
    assert_true(sc.classes_with_reuse * 2 >= sc.count);
}

/* =============================================================================================
 * 2. Interior pointers, lookups, large objects
 * ============================================================================================= */

static char static_probe[64];

#define INTERIOR_OFFSET offsetof(node, payload[1])

/* The interior pointer of a new tree: the caller never sees its base. */
NOINLINE static char *new_tree_interior(uint64_t id0) {
    node *t = new_tree(id0);
    return t == NULL ? NULL : (char *)t + INTERIOR_OFFSET;
}

typedef struct interior_run {
    uint64_t id_stack, id_range, id_field;
} interior_run;

NOINLINE static node *new_holder_with_interior_field(uint64_t id0) {
    node *holder = new_node(&plain_node_type, 1ULL << 41);
    char *in = new_tree_interior(id0);
    if (holder != NULL && in != NULL)
        GO_STORE(holder->other, (node *)in); /* points into the tree's root */
    return holder;
}

static int interior_main(void *arg) {
    interior_run *r = arg;
    r->id_stack = take_ids(3);
    r->id_range = take_ids(3);
    r->id_field = take_ids(3);
    uint64_t ctl = take_ids(100);

    /* Lookups of addresses outside the heap. */
    char local[32];
    void *m = malloc(64);
    CHECK(gort_gc_object_start(NULL) == NULL);
    CHECK(gort_gc_object_start((void *)(uintptr_t)1) == NULL);
    CHECK(gort_gc_object_start(local) == NULL);
    CHECK(gort_gc_object_start(static_probe) == NULL);
    CHECK(gort_gc_object_start(m) == NULL);
    CHECK(gort_gc_object_start((void *)&interior_main) == NULL);
    CHECK(gort_gc_object_start((void *)UINTPTR_MAX) == NULL);
    free(m);

    /* Interior pointer on the stack. */
    char *in_stack = new_tree_interior(r->id_stack);
    /* Interior pointer in a registered range. */
    void **range = calloc(4, sizeof *range);
    CHECK(range != NULL && go_gc_add_roots(range, 4 * sizeof *range) == 0);
    char *in = new_tree_interior(r->id_range);
    GO_STORE(range[1], (void *)in);
    in = NULL;
    /* Interior pointer in a heap field. */
    node *holder = new_holder_with_interior_field(r->id_field);
    drop_nodes(ctl, 100);
    clear_stack();
    gc_rounds(3);

    CHECK(in_stack != NULL);
    if (in_stack != NULL) {
        node *root = (node *)(in_stack - INTERIOR_OFFSET);
        CHECK(gort_gc_object_start(in_stack) == root);
        check_tree("interior pointer on the stack", root, r->id_stack);
    }
    char *from_range = GO_LOAD(range[1]);
    if (from_range != NULL)
        check_tree("interior pointer in a registered range", (node *)(from_range - INTERIOR_OFFSET),
                   r->id_range);
    CHECK(holder != NULL && node_intact(holder, 1ULL << 41));
    if (holder != NULL && holder->other != NULL)
        check_tree("interior pointer in a heap field",
                   (node *)((char *)holder->other - INTERIOR_OFFSET), r->id_field);
    EXPECT_MOST_FINALIZED(ctl, 100, "control batch");
    go_gc_remove_roots(range);
    free(range);
    return 0;
}

static void
interior_pointers_keep_objects_alive_and_lookups_outside_the_heap_are_null(void **state) {
    (void)state;
    WATCH();
    interior_run r = {0};
    run_main(&two_workers, interior_main, &r);
}

/* ---- large objects ---- */

#define LARGE_CHILDREN 16
#define LARGE_ELEM_TAG (1ULL << 42)

static size_t child_index(int k, size_t n) {
    return (size_t)k * (n - 1) / (LARGE_CHILDREN - 1);
}

/* An array of n plain nodes, checked fresh, elements filled, and
 * LARGE_CHILDREN finalizable nodes hung from elements spread over it. */
NOINLINE static node *new_large_array(size_t n, uint64_t id0) {
    node *a = go_new_array(&plain_node_type, n);
    if (a == NULL) {
        record_failure(__FILE__, __LINE__, "go_new_array(node, %zu) returned NULL", n);
        return NULL;
    }
    size_t bytes = n * sizeof(node);
    CHECKF(((uintptr_t)a & 15) == 0, "large array %p not 16-aligned", (void *)a);
    CHECKF(all_zero(a, bytes), "large array of %zu bytes not zeroed", bytes);
    CHECK(gort_gc_object_start(a) == a);
    CHECK(gort_gc_object_start((char *)a + bytes - 1) == a);
    CHECK(gort_gc_object_start(&a[n / 2].payload[1]) == a);
    for (size_t i = 0; i < n; i++)
        node_fill(&a[i], LARGE_ELEM_TAG | i);
    for (int k = 0; k < LARGE_CHILDREN; k++) {
        node *child = new_node(&node_type, id0 + (uint64_t)k);
        CHECK(child != NULL);
        GO_STORE(a[child_index(k, n)].next, child);
    }
    return a;
}

NOINLINE static void check_large_array(const char *what, const node *a, size_t n, uint64_t id0) {
    if (a == NULL)
        return;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !node_intact(&a[i], LARGE_ELEM_TAG | i);
    CHECKF(bad == 0, "%s: %zu of %zu elements damaged", what, bad, n);
    for (int k = 0; k < LARGE_CHILDREN; k++) {
        const node *child = a[child_index(k, n)].next;
        uint64_t id = id0 + (uint64_t)k;
        CHECKF(child != NULL && node_intact(child, id),
               "%s: child %d (element %zu) damaged or gone", what, k, child_index(k, n));
        CHECKF(atomic_load(&fin_count[id]) == 0, "%s: reachable child %d was finalized", what, k);
    }
}

NOINLINE static unsigned char *new_large_bytes(size_t n) {
    unsigned char *b = go_alloc_bytes(n);
    if (b == NULL) {
        record_failure(__FILE__, __LINE__, "go_alloc_bytes(%zu) returned NULL", n);
        return NULL;
    }
    CHECKF(((uintptr_t)b & 15) == 0, "go_alloc_bytes(%zu) = %p not 16-aligned", n, (void *)b);
    CHECKF(all_zero(b, n), "go_alloc_bytes(%zu) not zeroed", n);
    CHECK(gort_gc_object_start(b) == b);
    CHECK(gort_gc_object_start(b + n - 1) == b);
    CHECK(gort_gc_object_start(b + n / 3) == b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 31 + 7);
    return b;
}

static bool large_bytes_intact(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(i * 31 + 7))
            return false;
    return true;
}

#define FIN_ARRAYS 8
#define FIN_ARRAY_LEN 2000

/* Arrays of finalizable nodes that nothing references once this returns. */
NOINLINE static void drop_finalizable_arrays(uint64_t id0) {
    for (int a = 0; a < FIN_ARRAYS; a++) {
        node *arr = go_new_array(&node_type, FIN_ARRAY_LEN);
        CHECK(arr != NULL);
        if (arr == NULL)
            continue;
        for (int i = 0; i < FIN_ARRAY_LEN; i++)
            node_fill(&arr[i], id0 + (uint64_t)(a * FIN_ARRAY_LEN + i));
    }
}

static int large_main(void *arg) {
    (void)arg;
    const size_t n_edge = GORT_GC_MAX_SMALL / sizeof(node) + 1; /* just above the largest class */
    const size_t n_mid = 100 * 1024 / sizeof(node);
    const size_t n_big = 5 * 1024 * 1024 / sizeof(node);
    uint64_t id_edge = take_ids(LARGE_CHILDREN), id_mid = take_ids(LARGE_CHILDREN),
             id_big = take_ids(LARGE_CHILDREN);
    uint64_t id_fin = take_ids(FIN_ARRAYS * FIN_ARRAY_LEN);

    node *edge = new_large_array(n_edge, id_edge);
    node *big = new_large_array(n_big, id_big);
    /* The 100 KiB array is held only through a pointer into its middle. */
    node *mid = new_large_array(n_mid, id_mid);
    mid = mid == NULL ? NULL : mid + n_mid / 2;
    unsigned char *b_edge = new_large_bytes(GORT_GC_MAX_SMALL + 1);
    unsigned char *b_mid = new_large_bytes(100 * 1024);
    unsigned char *b_big = new_large_bytes(5 * 1024 * 1024);
    drop_finalizable_arrays(id_fin);
    clear_stack();
    gc_rounds(3);

    check_large_array("array of 32 KiB + 64", edge, n_edge, id_edge);
    check_large_array("5 MiB array", big, n_big, id_big);
    check_large_array("100 KiB array held by an interior pointer",
                      mid == NULL ? NULL : mid - n_mid / 2, n_mid, id_mid);
    CHECK(b_edge == NULL || large_bytes_intact(b_edge, GORT_GC_MAX_SMALL + 1));
    CHECK(b_mid == NULL || large_bytes_intact(b_mid, 100 * 1024));
    CHECK(b_big == NULL || large_bytes_intact(b_big, 5 * 1024 * 1024));

    /* A dropped array of finalizable nodes: one finalizer per element, all
     * of an array in the same cycle, none twice. */
    int whole = 0;
    for (int a = 0; a < FIN_ARRAYS; a++) {
        uint64_t first = id_fin + (uint64_t)(a * FIN_ARRAY_LEN);
        int fin = count_finalized(first, FIN_ARRAY_LEN);
        CHECKF(fin == 0 || fin == FIN_ARRAY_LEN, "array %d: %d of its %d element finalizers ran", a,
               fin, FIN_ARRAY_LEN);
        CHECKF(max_finalized(first, FIN_ARRAY_LEN) <= 1, "array %d: a finalizer ran twice", a);
        whole += fin == FIN_ARRAY_LEN;
    }
    CHECKF(whole >= FIN_ARRAYS - 2, "only %d of %d dropped arrays were finalized", whole,
           FIN_ARRAYS);
    return 0;
}

static void large_objects_are_zeroed_scanned_and_finalized_once_per_element(void **state) {
    (void)state;
    WATCH();
    run_main(&two_workers, large_main, NULL);
}

/* =============================================================================================
 * 3. Roots: each keeps a tree alive across collections
 * ============================================================================================= */

#define CONTROL 100

/* ---- a parked task's stack ---- */

static struct {
    gort_test_sema wake;
    atomic_int parked, done;
    uint64_t id, ctl;
} pk;

static void parked_holder(void *arg) {
    (void)arg;
    node *t = new_tree(pk.id);
    atomic_store(&pk.parked, 1);
    gort_test_sema_wait(&pk.wake); /* parks: one worker, and main waits by yielding */
    check_tree("parked task's stack", t, pk.id);
    atomic_store(&pk.done, 1);
}

static int parked_main(void *arg) {
    (void)arg;
    pk.id = take_ids(3);
    pk.ctl = take_ids(CONTROL);
    CHECK(go_spawn(parked_holder, NULL) == 0);
    gort_test_yield_until(&pk.parked, 1);
    drop_nodes(pk.ctl, CONTROL);
    clear_stack();
    gc_rounds(3);
    gort_test_sema_post(&pk.wake);
    gort_test_yield_until(&pk.done, 1);
    EXPECT_MOST_FINALIZED(pk.ctl, CONTROL, "control batch");
    return 0;
}

static void object_only_on_a_parked_tasks_stack_stays_alive(void **state) {
    (void)state;
    WATCH();
    memset(&pk, 0, sizeof pk);
    run_main(&one_worker, parked_main, NULL);
}

/* ---- a callee-saved register at a safepoint ----
 *
 * C gives no way to keep a value only in a register. On x86-64 an empty asm
 * with a "+b" constraint puts the pointer in rbx (callee-saved) before and
 * after every go_yield, so the compiler most likely keeps it there across the
 * call rather than spilling it; the switch saves rbx on the task's stack
 * (claimed while runnable) or the task scans itself at the yield. The
 * compiler may still spill it (then the stack slot is what is tested), and
 * new_tree may leave stale copies below the frame; neither can make the test
 * fail, only test less. Elsewhere it is a plain local. */
static struct {
    atomic_int started, stop, done;
    uint64_t id;
} rg;

NOINLINE static void hold_in_register(void) {
    node *t = new_tree(rg.id);
#if defined(__x86_64__)
    __asm__ volatile("" : "+b"(t));
#endif
    atomic_store(&rg.started, 1);
    while (!atomic_load(&rg.stop)) {
        go_yield();
#if defined(__x86_64__)
        __asm__ volatile("" : "+b"(t));
#endif
    }
    check_tree("callee-saved register at a safepoint", t, rg.id);
}

static void register_holder(void *arg) {
    (void)arg;
    hold_in_register();
    atomic_store(&rg.done, 1);
}

static int register_main(void *arg) {
    (void)arg;
    rg.id = take_ids(3);
    uint64_t ctl = take_ids(CONTROL);
    CHECK(go_spawn(register_holder, NULL) == 0);
    gort_test_yield_until(&rg.started, 1);
    drop_nodes(ctl, CONTROL);
    clear_stack();
    gc_rounds(4);
    atomic_store(&rg.stop, 1);
    gort_test_yield_until(&rg.done, 1);
    EXPECT_MOST_FINALIZED(ctl, CONTROL, "control batch");
    return 0;
}

static void object_only_in_a_callee_saved_register_at_a_safepoint_stays_alive(void **state) {
    (void)state;
    WATCH();
    for (int workers = 1; workers <= 2; workers++) {
        memset(&rg, 0, sizeof rg);
        run_cfg c = {.workers = workers};
        run_main(&c, register_main, NULL);
    }
}

/* ---- attached threads: running at safepoints, or blocked in a region ---- */

typedef struct thread_holder {
    bool in_region;
    uint64_t id;
    int attach_rc;
    atomic_int ready, collections_done, finished;
} thread_holder;

/* Runs inside go_blocking_call: no runtime call, no collected object. */
static void *wait_for_collections(void *arg) {
    thread_holder *h = arg;
    atomic_store(&h->ready, 1);
    unsigned spins = 0;
    while (!atomic_load(&h->collections_done))
        gort_test_relax(&spins);
    return NULL;
}

static void holder_thread(void *arg) {
    thread_holder *h = arg;
    h->attach_rc = go_thread_attach();
    if (h->attach_rc != 0) {
        atomic_store(&h->ready, 1);
        atomic_store(&h->finished, 1);
        return;
    }
    node *t = new_tree(h->id); /* kept in this frame or a callee-saved register */
    if (h->in_region) {
        go_blocking_call(wait_for_collections, h);
    } else {
        atomic_store(&h->ready, 1);
        unsigned spins = 0;
        while (!atomic_load(&h->collections_done)) {
            go_safepoint();
            gort_test_relax(&spins);
        }
    }
    check_tree(h->in_region ? "blocked thread's frozen stack" : "attached thread's stack", t,
               h->id);
    go_thread_detach();
    atomic_store(&h->finished, 1);
}

static int thread_holder_main(void *arg) {
    thread_holder *h = arg;
    h->id = take_ids(3);
    uint64_t ctl = take_ids(CONTROL);
    uv_thread_t th;
    if (uv_thread_create(&th, holder_thread, h) != 0) {
        record_failure(__FILE__, __LINE__, "uv_thread_create failed");
        return 0;
    }
    gort_test_wait_flag(&h->ready);
    drop_nodes(ctl, CONTROL);
    clear_stack();
    gc_rounds(3);
    atomic_store(&h->collections_done, 1);
    gort_test_wait_flag(&h->finished);
    uv_thread_join(&th);
    CHECKF(h->attach_rc == 0, "go_thread_attach returned %d", h->attach_rc);
    EXPECT_MOST_FINALIZED(ctl, CONTROL, "control batch");
    return 0;
}

static void object_only_on_an_attached_threads_stack_stays_alive(void **state) {
    (void)state;
    WATCH();
    thread_holder h = {.in_region = false};
    run_main(&two_workers, thread_holder_main, &h);
}

static void object_only_on_a_blocked_threads_frozen_stack_stays_alive(void **state) {
    (void)state;
    WATCH();
    thread_holder h = {.in_region = true};
    run_main(&two_workers, thread_holder_main, &h);
}

/* ---- a task blocked in a region ---- */

static void region_task(void *arg) {
    thread_holder *h = arg;
    node *t = new_tree(h->id);
    go_blocking_call(wait_for_collections, h);
    check_tree("blocked task's frozen stack", t, h->id);
    atomic_store(&h->finished, 1);
}

static int region_task_main(void *arg) {
    thread_holder *h = arg;
    h->id = take_ids(3);
    uint64_t ctl = take_ids(CONTROL);
    CHECK(go_spawn(region_task, h) == 0);
    /* Yield: the region keeps its worker, the other one steals this task. */
    gort_test_yield_until(&h->ready, 1);
    drop_nodes(ctl, CONTROL);
    clear_stack();
    gc_rounds(3);
    atomic_store(&h->collections_done, 1);
    gort_test_yield_until(&h->finished, 1);
    EXPECT_MOST_FINALIZED(ctl, CONTROL, "control batch");
    return 0;
}

static void object_only_on_a_blocked_tasks_frozen_stack_stays_alive(void **state) {
    (void)state;
    WATCH();
    thread_holder h = {.in_region = true};
    run_main(&two_workers, region_task_main, &h);
}

/* ---- a registered range ---- */

#define RANGE_SLOTS 64

NOINLINE static void fill_range(void **slots, uint64_t id0) {
    for (int i = 0; i < RANGE_SLOTS; i++)
        GO_STORE(slots[i], (void *)new_node(&node_type, id0 + (uint64_t)i));
}

NOINLINE static void check_range(void **slots, uint64_t id0) {
    int bad = 0, fin = 0;
    for (int i = 0; i < RANGE_SLOTS; i++) {
        node *n = GO_LOAD(slots[i]);
        bad += n == NULL || !node_intact(n, id0 + (uint64_t)i);
        fin += atomic_load(&fin_count[id0 + (uint64_t)i]);
    }
    CHECKF(bad == 0 && fin == 0, "registered range: %d nodes damaged, %d finalized", bad, fin);
}

static int range_main(void *arg) {
    (void)arg;
    uint64_t id0 = take_ids(RANGE_SLOTS);
    uint64_t ctl = take_ids(CONTROL);
    void **slots = calloc(RANGE_SLOTS, sizeof *slots);
    CHECK(slots != NULL);
    if (slots == NULL)
        return 0;
    CHECK(go_gc_add_roots(NULL, 64) == GO_EINVAL);
    CHECK(go_gc_add_roots(slots, 0) == GO_EINVAL);
    int rc = go_gc_add_roots(slots, RANGE_SLOTS * sizeof *slots);
    CHECKF(rc == 0, "go_gc_add_roots returned %d", rc);
    fill_range(slots, id0);
    drop_nodes(ctl, CONTROL);
    clear_stack();
    gc_rounds(3);
    check_range(slots, id0);
    EXPECT_MOST_FINALIZED(ctl, CONTROL, "control batch");

    /* Removed, the range holds nothing alive (malloc'ed memory is no root). */
    go_gc_remove_roots(slots);
    clear_stack();
    gc_rounds(2);
    EXPECT_MOST_FINALIZED(id0, RANGE_SLOTS, "nodes of a removed range");
    free(slots);
    return 0;
}

static void objects_only_in_a_registered_range_stay_alive_until_it_is_removed(void **state) {
    (void)state;
    WATCH();
    run_main(&two_workers, range_main, NULL);
}

/* ---- handles, used from the test's own (unattached) thread ---- */

#define HANDLES 50

static struct {
    go_handle *h[HANDLES];
    uint64_t id0, ctl;
    atomic_int made;
} hs;

NOINLINE static void make_handles(void) {
    for (int i = 0; i < HANDLES; i++) {
        node *n = new_node(&node_type, hs.id0 + (uint64_t)i);
        CHECK(n != NULL);
        hs.h[i] = go_handle_new(n);
        CHECK(hs.h[i] != NULL);
    }
}

static void handle_maker(void *arg) {
    (void)arg;
    make_handles();
    drop_nodes(hs.ctl, CONTROL);
    atomic_store(&hs.made, 1);
}

static void objects_only_held_by_handles_stay_alive_until_the_handles_are_freed(void **state) {
    (void)state;
    WATCH();
    memset(&hs, 0, sizeof hs);
    hs.id0 = take_ids(HANDLES);
    hs.ctl = take_ids(CONTROL);
    configure(&two_workers);
    assert_int_equal(go_start(NULL), 0);
    assert_int_equal(go_spawn(handle_maker, NULL), 0);
    gort_test_wait_flag(&hs.made);
    /* Collections and finalizers from a thread that is not attached. */
    for (int i = 0; i < 3; i++) {
        atomic_fetch_add(&gc_round, 1);
        go_gc_collect();
        go_gc_run_finalizers();
    }
    int damaged = 0, got_null = 0;
    for (int i = 0; i < HANDLES; i++) {
        node *n = hs.h[i] != NULL ? go_handle_get(hs.h[i]) : NULL;
        got_null += n == NULL;
        damaged += n != NULL && !node_intact(n, hs.id0 + (uint64_t)i);
    }
    int fin_held = count_finalized(hs.id0, HANDLES);
    int fin_ctl = count_finalized(hs.ctl, CONTROL);
    for (int i = 0; i < HANDLES; i++)
        go_handle_free(hs.h[i]);
    go_handle_free(NULL); /* a no-op */
    for (int i = 0; i < 2; i++) {
        atomic_fetch_add(&gc_round, 1);
        go_gc_collect();
        go_gc_run_finalizers();
    }
    int fin_freed = count_finalized(hs.id0, HANDLES);
    assert_int_equal(go_stop(), 0);
    report_failures();
    assert_int_equal(got_null, 0);
    assert_int_equal(damaged, 0);
    assert_int_equal(fin_held, 0);
    assert_true(fin_ctl * 10 >= CONTROL * 9);
    assert_true(fin_freed * 10 >= HANDLES * 9);
    assert_true(max_finalized(hs.id0, HANDLES) <= 1);
    assert_null(go_handle_get(NULL));
}

/* ---- an unconsumed spawn argument ---- */

static struct {
    atomic_int in_region, collections, checker_done, timed_out;
    int seen_collections; /* collections finished when the checker started */
    uint64_t id;
} sa;

static void spawn_arg_checker(void *arg) {
    sa.seen_collections = atomic_load(&sa.collections);
    check_tree("unconsumed spawn argument", arg, sa.id);
    atomic_store(&sa.checker_done, 1);
}

/* Spawns the checker with a new tree as its only reference. */
NOINLINE static int spawn_checker_with_fresh_tree(uint64_t id0) {
    node *t = new_tree(id0);
    if (t == NULL)
        return GO_ENOMEM;
    return go_spawn(spawn_arg_checker, t);
}

static double mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In a region (no runtime call): until the test's thread has collected
 * three times. If collecting needs this worker, give it back after a while
 * rather than hang (the test then checks less, see below). */
static void *region_until_collected(void *arg) {
    (void)arg;
    atomic_store(&sa.in_region, 1);
    double t0 = mono_seconds();
    unsigned spins = 0;
    while (atomic_load(&sa.collections) < 3) {
        if (mono_seconds() - t0 > 10) {
            atomic_store(&sa.timed_out, 1);
            break;
        }
        gort_test_relax(&spins);
    }
    return NULL;
}

static void spawner_in_region(void *arg) {
    (void)arg;
    CHECK(spawn_checker_with_fresh_tree(sa.id) == 0);
    clear_stack();
    /* One worker, held by this region: the checker cannot start. */
    go_blocking_call(region_until_collected, NULL);
}

static void spawn_argument_of_a_task_that_cannot_run_yet_stays_alive(void **state) {
    (void)state;
    WATCH();
    memset(&sa, 0, sizeof sa);
    sa.id = take_ids(3);
    configure(&one_worker);
    assert_int_equal(go_start(NULL), 0);
    assert_int_equal(go_spawn(spawner_in_region, NULL), 0);
    gort_test_wait_flag(&sa.in_region);
    for (int i = 0; i < 3; i++) {
        atomic_fetch_add(&gc_round, 1);
        go_gc_collect();
        go_gc_run_finalizers();
        atomic_fetch_add(&sa.collections, 1);
    }
    gort_test_wait_flag(&sa.checker_done);
    assert_int_equal(go_stop(), 0);
    report_failures();
    if (atomic_load(&sa.timed_out))
        print_message("[ note ] the collections needed the only worker, held by a region for "
                      "10 s: the argument was not checked while unconsumed\n");
    else
        assert_int_equal(sa.seen_collections, 3); /* it ran only after the collections */
}

static int spawner_collects(void *arg) {
    (void)arg;
    CHECK(spawn_checker_with_fresh_tree(sa.id) == 0);
    clear_stack();
    for (int i = 0; i < 3; i++) {
        full_gc();
        churn();
        atomic_fetch_add(&sa.collections, 1);
    }
    gort_test_yield_until(&sa.checker_done, 1);
    return 0;
}

static void spawn_argument_survives_the_spawners_own_collections(void **state) {
    (void)state;
    WATCH();
    memset(&sa, 0, sizeof sa);
    sa.id = take_ids(3);
    run_main(&one_worker, spawner_collects, NULL);
    assert_int_equal(atomic_load(&sa.checker_done), 1);
    print_message("[ info ] the checker started after %d of the spawner's 3 collections\n",
                  sa.seen_collections);
}

/* ---- custom-scan objects ---- */

typedef struct custom {
    uint64_t magic;
    node *ref;
    node *unreported; /* never reported by any scan function */
} custom;

#define CUSTOM_MAGIC 0x637573746f6d2121ULL
#define CUSTOMS 32

static void scan_ptr(void *obj, gort_gc_scanner *s) {
    custom *c = obj;
    gort_gc_scan_ptr(s, __atomic_load_n(&c->ref, __ATOMIC_RELAXED));
}

static void scan_range(void *obj, gort_gc_scanner *s) {
    custom *c = obj;
    gort_gc_scan_range(s, &c->ref, sizeof c->ref);
}

static void scan_nothing(void *obj, gort_gc_scanner *s) {
    (void)obj;
    (void)s;
}

/* CUSTOMS custom objects of scan fn, each referencing a tree (or, for
 * scan_nothing, a single node) by ref; held in slots (a registered range). */
NOINLINE static void make_customs(void **slots, gort_gc_scan_fn fn, uint64_t id0, bool trees) {
    for (int i = 0; i < CUSTOMS; i++) {
        custom *c = gort_gc_new_custom(sizeof(custom), fn);
        if (c == NULL) {
            record_failure(__FILE__, __LINE__, "gort_gc_new_custom returned NULL");
            return;
        }
        CHECK(((uintptr_t)c & 15) == 0);
        CHECK(all_zero(c, sizeof *c));
        c->magic = CUSTOM_MAGIC;
        uint64_t id = id0 + (uint64_t)(trees ? 3 * i : i);
        GO_STORE(c->ref, trees ? new_tree(id) : new_node(&node_type, id));
        GO_STORE(slots[i], (void *)c);
    }
}

static int custom_main(void *arg) {
    (void)arg;
    uint64_t id_ptr = take_ids(3 * CUSTOMS), id_range = take_ids(3 * CUSTOMS),
             id_none = take_ids(CUSTOMS);
    void **slots = calloc(3 * CUSTOMS, sizeof *slots);
    CHECK(slots != NULL && go_gc_add_roots(slots, 3 * CUSTOMS * sizeof *slots) == 0);
    if (slots == NULL)
        return 0;
    make_customs(slots, scan_ptr, id_ptr, true);
    make_customs(slots + CUSTOMS, scan_range, id_range, true);
    make_customs(slots + 2 * CUSTOMS, scan_nothing, id_none, false);
    clear_stack();
    gc_rounds(3);
    for (int i = 0; i < 3 * CUSTOMS; i++) {
        custom *c = GO_LOAD(slots[i]);
        CHECK(c != NULL && c->magic == CUSTOM_MAGIC);
        if (c == NULL || i >= 2 * CUSTOMS)
            continue;
        uint64_t id = (i < CUSTOMS ? id_ptr : id_range) + (uint64_t)(3 * (i % CUSTOMS));
        check_tree(i < CUSTOMS ? "custom object (gort_gc_scan_ptr)"
                               : "custom object (gort_gc_scan_range)",
                   c->ref, id);
    }
    /* What no scan function reports is not kept alive by the object. */
    EXPECT_MOST_FINALIZED(id_none, CUSTOMS, "nodes referenced only by unscanned custom fields");
    go_gc_remove_roots(slots);
    free(slots);
    return 0;
}

static void custom_scan_object_keeps_what_its_scan_function_reports_alive(void **state) {
    (void)state;
    WATCH();
    run_main(&two_workers, custom_main, NULL);
}

/* =============================================================================================
 * 4. Finalizers
 * ============================================================================================= */

#define FIN_BATCH 100

static struct {
    uint64_t id0;
    uintptr_t addr[FIN_BATCH]; /* hidden */
    int finalized_first, finalized_later, freed, max_count;
} fo;

NOINLINE static void drop_batch_remembering_addresses(void) {
    for (int i = 0; i < FIN_BATCH; i++) {
        node *n = new_node(&node_type, fo.id0 + (uint64_t)i);
        CHECK(n != NULL);
        fo.addr[i] = hide(n);
    }
}

static int finalize_once_main(void *arg) {
    (void)arg;
    fo.id0 = take_ids(FIN_BATCH);
    drop_batch_remembering_addresses();
    clear_stack();
    full_gc();
    fo.finalized_first = count_finalized(fo.id0, FIN_BATCH);
    /* The finalized objects are freed by the next cycle. */
    full_gc();
    for (int i = 0; i < FIN_BATCH; i++)
        if (atomic_load(&fin_count[fo.id0 + (uint64_t)i]) > 0)
            fo.freed += gort_gc_object_start(unhide(fo.addr[i])) == NULL;
    churn();
    clear_stack();
    gc_rounds(3);
    fo.finalized_later = count_finalized(fo.id0, FIN_BATCH);
    fo.max_count = max_finalized(fo.id0, FIN_BATCH);
    return 0;
}

static void unreachable_objects_are_finalized_exactly_once_then_freed(void **state) {
    (void)state;
    WATCH();
    memset(&fo, 0, sizeof fo);
    run_main(&two_workers, finalize_once_main, NULL);
    print_message("[ info ] %d of %d finalized by the first cycle, %d freed by the second, %d "
                  "after five\n",
                  fo.finalized_first, FIN_BATCH, fo.freed, fo.finalized_later);
    assert_true(fo.finalized_first * 10 >= FIN_BATCH * 9);
    assert_true(fo.freed * 10 >= fo.finalized_first * 9);
    assert_int_equal(fo.max_count, 1); /* never twice, however many cycles */
}

/* ---- ordering: A -> B, both finalizable ---- */

#define PAIRS 50

NOINLINE static void drop_pairs(uint64_t id0) {
    for (int i = 0; i < PAIRS; i++) {
        uint64_t a = id0 + 2 * (uint64_t)i, b = a + 1;
        atomic_store(&fin_pred[b], (int)a); /* b's finalizer must find a's done */
        node *nb = new_node(&node_type, b);
        node *na = new_node(&node_type, a);
        CHECK(na != NULL && nb != NULL);
        if (na != NULL)
            GO_STORE(na->next, nb);
    }
}

static struct { int a_after_first, b_after_first, a_done, b_done, same_round; } ord;

static int ordering_main(void *arg) {
    (void)arg;
    uint64_t id0 = take_ids(2 * PAIRS);
    drop_pairs(id0);
    clear_stack();
    full_gc();
    for (int i = 0; i < PAIRS; i++) {
        ord.a_after_first += atomic_load(&fin_count[id0 + 2 * (uint64_t)i]) > 0;
        ord.b_after_first += atomic_load(&fin_count[id0 + 2 * (uint64_t)i + 1]) > 0;
    }
    for (int r = 0; r < 4; r++)
        full_gc();
    for (int i = 0; i < PAIRS; i++) {
        uint64_t a = id0 + 2 * (uint64_t)i, b = a + 1;
        int fa = atomic_load(&fin_count[a]), fb = atomic_load(&fin_count[b]);
        CHECKF(fa <= 1 && fb <= 1, "pair %d: finalizers ran %d and %d times", i, fa, fb);
        CHECKF(fb == 0 || fa == 1, "pair %d: B finalized but not A", i);
        ord.a_done += fa == 1;
        ord.b_done += fb == 1;
        if (fa == 1 && fb == 1)
            ord.same_round += atomic_load(&fin_round[a]) >= atomic_load(&fin_round[b]);
    }
    return 0;
}

static void
finalizer_of_an_object_runs_before_that_of_what_it_points_to_and_a_cycle_earlier(void **state) {
    (void)state;
    WATCH();
    memset(&ord, 0, sizeof ord);
    run_main(&two_workers, ordering_main, NULL);
    print_message("[ info ] after one cycle: %d A and %d B finalized; after five: %d and %d\n",
                  ord.a_after_first, ord.b_after_first, ord.a_done, ord.b_done);
    assert_int_equal(ord.b_after_first, 0);           /* B only once A is gone */
    assert_int_equal(ord.same_round, 0);              /* never in A's cycle */
    assert_true(ord.a_after_first * 10 >= PAIRS * 9); /* most A at the first cycle */
    assert_true(ord.b_done * 10 >= PAIRS * 9);        /* most B by a later one */
    assert_int_equal(atomic_load(&fin_order_violations), 0);
}

/* ---- a finalizer that runs the finalizers ---- */

static atomic_int reentrant_ran;

static void reentrant_finalize(void *obj) {
    (void)obj;
    go_gc_run_finalizers(); /* must not wait for itself (rule 14) */
    atomic_fetch_add(&reentrant_ran, 1);
}

static const go_type reentrant_type = {"reentrant", 32, 0, NULL, reentrant_finalize};

NOINLINE static void drop_reentrant(int n) {
    for (int i = 0; i < n; i++)
        CHECK(go_new(&reentrant_type) != NULL);
}

static int reentrant_main(void *arg) {
    (void)arg;
    drop_reentrant(20);
    clear_stack();
    full_gc();
    full_gc();
    return 0;
}

static void finalizer_may_call_go_gc_run_finalizers(void **state) {
    (void)state;
    WATCH();
    atomic_store(&reentrant_ran, 0);
    run_main(&two_workers, reentrant_main, NULL);
    assert_true(atomic_load(&reentrant_ran) >= 18);
    assert_true(atomic_load(&reentrant_ran) <= 20);
}

/* The elements of a finalizable array are finalized one after the other;
 * the array stays alive until the last returns, even when an earlier one
 * runs collections (poison=1 would show a freed array). */
#define FA_LEN 4
#define FA_MAGIC 0x66696e61727261ULL
typedef struct fa_elem {
    uint64_t magic;
    uint64_t index;
} fa_elem;
static atomic_int fa_ran, fa_bad;
static void fa_finalize(void *obj) {
    fa_elem *e = obj;
    if (e->magic != (FA_MAGIC ^ e->index))
        atomic_fetch_add(&fa_bad, 1);
    atomic_fetch_add(&fa_ran, 1);
    if (e->index == 0) { /* the others must survive these */
        go_gc_collect();
        go_gc_collect();
    }
}
static const go_type fa_type = {"fa_elem", sizeof(fa_elem), 0, NULL, fa_finalize};

NOINLINE static void drop_finalizable_array(void) {
    fa_elem *a = go_new_array(&fa_type, FA_LEN);
    CHECK(a != NULL);
    for (int i = 0; a != NULL && i < FA_LEN; i++) {
        a[i].magic = FA_MAGIC ^ (uint64_t)i;
        a[i].index = (uint64_t)i;
    }
}

static int finalizable_array_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 8; round++)
        drop_finalizable_array();
    clear_stack();
    full_gc();
    full_gc();
    return 0;
}

static void a_finalizable_array_outlives_its_elements_finalizers(void **state) {
    (void)state;
    WATCH();
    atomic_store(&fa_ran, 0);
    atomic_store(&fa_bad, 0);
    run_main(&two_workers, finalizable_array_main, NULL);
    assert_int_equal(atomic_load(&fa_bad), 0);
    assert_true(atomic_load(&fa_ran) >= FA_LEN); /* at least one array finalized */
}

/* =============================================================================================
 * 5. Out of memory
 * ============================================================================================= */

#define OOM_LIMIT ((size_t)64 << 20)
#define CHUNK ((size_t)1 << 20)
#define OOM_SLOTS 1024

static struct {
    int chunks, chunks_again;
    long nodes;
    bool node_cap_hit;
} oom;

/* 1 MiB blocks into slots [from, to) until one fails; returns how many. */
NOINLINE static int fill_with_chunks(void **slots, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) {
        unsigned char *p = go_alloc_bytes(CHUNK);
        if (p == NULL)
            break;
        CHECK(p[0] == 0 && p[CHUNK - 1] == 0);
        p[0] = 1;
        GO_STORE(slots[i], (void *)p);
        n++;
    }
    return n;
}

/* Nodes onto a list headed in *head until one fails; returns how many. */
NOINLINE static long fill_with_nodes(void **head, long cap) {
    long n = 0;
    for (; n < cap; n++) {
        node *x = go_new(&plain_node_type);
        if (x == NULL)
            return n;
        GO_STORE(x->next, (node *)*head);
        GO_STORE(*head, (void *)x);
    }
    return n;
}

NOINLINE static void clear_slots(void **slots, int n) {
    for (int i = 0; i < n; i++)
        GO_STORE(slots[i], NULL);
}

static int oom_main(void *arg) {
    (void)arg;
    void **slots = calloc(OOM_SLOTS, sizeof *slots);
    CHECK(slots != NULL && go_gc_add_roots(slots, OOM_SLOTS * sizeof *slots) == 0);
    if (slots == NULL)
        return 0;
    clear_stack();
    full_gc(); /* whatever earlier tests left */

    oom.chunks = fill_with_chunks(slots, 0, OOM_SLOTS - 1);
    long cap = (long)(2 * OOM_LIMIT / sizeof(node));
    oom.nodes = fill_with_nodes(&slots[OOM_SLOTS - 1], cap);
    oom.node_cap_hit = oom.nodes == cap;
    /* Full: every kind of allocation fails, cleanly. */
    CHECK(go_alloc_bytes(CHUNK) == NULL);
    CHECK(go_new_array(&plain_node_type, CHUNK / sizeof(node)) == NULL);
    CHECK(go_new_array(&node_type, 4 * CHUNK / sizeof(node)) == NULL);
    CHECK(go_alloc_bytes(8 * CHUNK) == NULL);

    /* Dropped, the memory comes back. */
    clear_slots(slots, OOM_SLOTS);
    clear_stack();
    full_gc();
    int want = (int)(OOM_LIMIT / 2 / CHUNK);
    oom.chunks_again = fill_with_chunks(slots, 0, want);
    node *n = new_node(&plain_node_type, 1ULL << 43);
    CHECK(n != NULL);
    CHECK(go_new_array(&plain_node_type, 1000) != NULL);
    clear_slots(slots, OOM_SLOTS);
    go_gc_remove_roots(slots);
    free(slots);
    clear_stack();
    full_gc();
    return 0;
}

static void
allocation_fails_cleanly_at_the_hard_heap_limit_and_recovers_after_a_collection(void **state) {
    (void)state;
    WATCH();
    memset(&oom, 0, sizeof oom);
    run_cfg c = {.workers = 2, .heap_limit = OOM_LIMIT};
    run_main(&c, oom_main, NULL);
    print_message("[ info ] under a %zu MiB limit: %d MiB blocks, then %ld nodes; after dropping "
                  "them: %d MiB blocks\n",
                  OOM_LIMIT >> 20, oom.chunks, oom.nodes, oom.chunks_again);
    assert_false(oom.node_cap_hit); /* go_new did return NULL */
    assert_true(oom.chunks >= 1);
    assert_true((size_t)oom.chunks * CHUNK <= OOM_LIMIT);
    assert_true((size_t)oom.chunks * CHUNK >= OOM_LIMIT / 4);
    assert_int_equal(oom.chunks_again, (int)(OOM_LIMIT / 2 / CHUNK));
}

static int overflow_main(void *arg) {
    (void)arg;
    CHECK(go_new_array(&plain_node_type, SIZE_MAX) == NULL);
    CHECK(go_new_array(&plain_node_type, SIZE_MAX / sizeof(node) + 1) == NULL);
    CHECK(go_new_array(&plain_node_type, SIZE_MAX / sizeof(node)) == NULL);
    CHECK(go_new_array(&pslot_type, SIZE_MAX / 8 + 2) == NULL);
    CHECK(go_alloc_bytes(SIZE_MAX) == NULL);
    CHECK(go_alloc_bytes(SIZE_MAX - 4096) == NULL);
    CHECK(go_alloc_bytes((size_t)1 << 62) == NULL);
    CHECK(gort_gc_new_custom(SIZE_MAX, scan_nothing) == NULL);
    CHECK(gort_gc_new_custom(SIZE_MAX - 8, scan_nothing) == NULL);
    /* And the heap still works. */
    node *n = new_node(&node_type, take_ids(1));
    CHECK(n != NULL);
    CHECK(go_new_array(&plain_node_type, 3) != NULL);
    return 0;
}

/* Attached threads mutate linked lists with GO_STORE while the main task runs
 * collections back to back with gcslice=16 (the world, attached threads
 * included, runs between slices with the barrier on) and checkmark=1. Their
 * barrier buffers live in their own caches and are moved into the grey work
 * at every slice; each thread detaches and attaches again every few rounds,
 * which flushes its buffer and releases its cache in the middle of marking
 * (rule 9). Each round unlinks nodes, holds them only in a local across
 * safepoints, and links them back: a shade lost from an attached thread's
 * barrier fails checkmark, a live node freed fails node_intact. */
#define AT_THREADS 2
#define AT_LEN 200
#define AT_CYCLES 40 /* collections the main task runs while the threads work */

static node *at_heads[AT_THREADS]; /* registered by the main task */
static struct {
    atomic_int stop, done, attach_failures;
    atomic_long rounds, moves_while_marking;
} att;

/* Walks list k: every node intact, AT_LEN of them. */
NOINLINE static void at_check(int k) {
    int n = 0;
    for (node *p = at_heads[k]; p != NULL; p = p->next, n++)
        CHECKF(node_intact(p, p->id), "attached thread %d: node %d of its list damaged", k, n);
    CHECKF(n == AT_LEN, "attached thread %d: %d nodes in its list, want %d", k, n, AT_LEN);
}

static void at_thread(void *arg) {
    int k = (int)(intptr_t)arg;
    bool attached = false;
    for (int round = 0; !atomic_load(&att.stop) || round < 16; round++) {
        atomic_fetch_add(&att.rounds, 1);
        if (!attached) {
            if (go_thread_attach() != 0) {
                atomic_fetch_add(&att.attach_failures, 1);
                break;
            }
            attached = true;
        }
        /* A fresh list replaces the last one, which becomes garbage. Ids of
         * its own (no finalizer bookkeeping for these nodes). */
        uint64_t id0 = ((uint64_t)(k + 1) << 48) | (uint64_t)round * AT_LEN;
        node *head = NULL;
        for (int i = 0; i < AT_LEN; i++) {
            node *n = new_node(&plain_node_type, id0 + (uint64_t)i);
            if (n == NULL) {
                record_failure(__FILE__, __LINE__, "go_new returned NULL");
                break;
            }
            GO_STORE(n->next, head);
            head = n;
            if (i % 32 == 0)
                go_safepoint();
        }
        GO_STORE(at_heads[k], head);
        /* Move nodes around: unlink one, keep it only in a local across a
         * safepoint, link it back further down. */
        for (int m = 0; m < 40; m++) {
            node *a = at_heads[k]->next;
            GO_STORE(at_heads[k]->next, a->next); /* shades a (the old value) */
            go_safepoint();
            node *b = at_heads[k];
            for (int s = 0; s < m % 7 && b->next != NULL; s++)
                b = b->next;
            GO_STORE(a->next, b->next);
            GO_STORE(b->next, a);
            GO_STORE(a->other, b); /* a second edge, rewritten every move */
            if (gort_gc_marking())
                atomic_fetch_add(&att.moves_while_marking, 1);
        }
        at_check(k);
        if (round % 8 == 7) { /* in the middle of some cycle, most likely */
            go_thread_detach();
            attached = false;
        }
    }
    if (attached) {
        at_check(k);
        go_thread_detach();
    }
    atomic_fetch_add(&att.done, 1);
}

static int at_main(void *arg) {
    (void)arg;
    CHECK(go_gc_add_roots(at_heads, sizeof at_heads) == 0);
    uv_thread_t th[AT_THREADS];
    for (int k = 0; k < AT_THREADS; k++)
        CHECK(uv_thread_create(&th[k], at_thread, (void *)(intptr_t)k) == 0);
    while (atomic_load(&att.rounds) < 4 * AT_THREADS) /* both threads are at work */
        go_yield();
    for (int i = 0; i < AT_CYCLES; i++)
        go_gc_collect();
    atomic_store(&att.stop, 1);
    while (atomic_load(&att.done) < AT_THREADS)
        go_yield();
    for (int k = 0; k < AT_THREADS; k++)
        uv_thread_join(&th[k]);
    CHECK(atomic_load(&att.attach_failures) == 0);
    go_gc_collect(); /* one more, with every thread gone: the lists stay */
    for (int k = 0; k < AT_THREADS; k++)
        at_check(k);
    go_gc_remove_roots(at_heads);
    return 0;
}

static void attached_threads_mutate_the_heap_under_sliced_marking(void **state) {
    (void)state;
    WATCH();
    run_cfg c = {.workers = 2, .debug = "poison=1,gcslice=16,checkmark=1"};
    run_main(&c, at_main, NULL);
    print_message("[ info ] %d attached threads, %ld rounds during %d sliced collections, %ld "
                  "node moves while marking\n",
                  AT_THREADS, atomic_load(&att.rounds), AT_CYCLES,
                  atomic_load(&att.moves_while_marking));
}

/* An attached thread keeps allocating after go_stop (its cache survives the
 * stop): no cycle may start then, and what it allocated survives the next
 * start's collections. The test's own thread is the attached one. */
#define STOPPED_NODES 20000
static void an_attached_thread_allocates_while_the_runtime_is_stopped(void **state) {
    (void)state;
    WATCH();
    run_cfg c = {.workers = 2, .gc_on = true};
    configure(&c);
    assert_int_equal(go_start(NULL), 0);
    assert_int_equal(go_thread_attach(), 0);
    static pslot *list; /* registered: the nodes live only there */
    list = go_new_array(&pslot_type, STOPPED_NODES);
    assert_non_null(list);
    assert_int_equal(go_gc_add_roots(&list, sizeof list), 0);
    assert_int_equal(go_stop(), 0);
    go_gc_stats before, after;
    go_gc_stats_get(&before);
    uint64_t id0 = 1ULL << 50;
    for (int i = 0; i < STOPPED_NODES; i++) { /* 1.3 MB of nodes */
        node *n = new_node(&plain_node_type, id0 + (uint64_t)i);
        assert_non_null(n);
        GO_STORE(list[i].p, n);
    }
    /* Garbage well past the goal: with workers, a cycle would start. */
    size_t garbage = 0;
    for (go_gc_stats_get(&after);
         after.heap_alloc < before.heap_goal + (8u << 20) && garbage < ((size_t)512 << 20);
         go_gc_stats_get(&after)) {
        for (int k = 0; k < 256; k++)
            assert_non_null(go_alloc_bytes(1024));
        garbage += 256 * 1024;
    }
    assert_int_equal(after.cycles, before.cycles); /* no cycle without workers */
    assert_int_equal(go_start(NULL), 0);
    go_gc_collect();
    go_gc_collect();
    for (int i = 0; i < STOPPED_NODES; i++)
        assert_true(node_intact(list[i].p, id0 + (uint64_t)i));
    go_gc_remove_roots(&list);
    go_thread_detach();
    assert_int_equal(go_stop(), 0);
}

static void go_new_array_and_go_alloc_bytes_of_impossible_sizes_return_null(void **state) {
    (void)state;
    WATCH();
    run_main(&one_worker, overflow_main, NULL);
}

/* ---- OS refusals, through fault injection ----
 *
 * gort_gc_fault_inject(0) makes every later request of memory from the OS
 * fail until gort_gc_fault_inject(-1). Memory the heap already has still
 * serves, so each kind of allocation is repeated (its results kept alive)
 * until it fails, within a budget. */

#define FAULT_SLOTS 65536

static struct {
    long nodes_before_null, bytes_before_null, fin_before_null, ranges_before_enomem;
    bool handle_null, large_null, array_null, custom_null;
} ft;

/* Until an allocation fails, keeping what it returns in slots. kind 0:
 * go_alloc_bytes(size), 1: a plain node, 2: a finalizable node (ids from id0). */
NOINLINE static long alloc_until_null(void **slots, long nslots, size_t size, int kind,
                                      uint64_t id0) {
    for (long i = 0; i < nslots; i++) {
        void *p = kind == 0   ? go_alloc_bytes(size)
                  : kind == 1 ? go_new(&plain_node_type)
                              : go_new(&node_type);
        if (p == NULL)
            return i;
        node_fill(p, kind == 2 ? id0 + (uint64_t)i : 1ULL << 44);
        GO_STORE(slots[i], p);
    }
    return -1; /* never failed */
}

static int fault_main(void *arg) {
    (void)arg;
    void **slots = calloc(FAULT_SLOTS, sizeof *slots);
    void **ranges = calloc(FAULT_SLOTS, sizeof *ranges);
    CHECK(slots != NULL && ranges != NULL);
    if (slots == NULL || ranges == NULL)
        return 0;
    CHECK(go_gc_add_roots(slots, FAULT_SLOTS * sizeof *slots) == 0);

    gort_gc_fault_inject(0);
    /* A large object needs a new span: refused at once. */
    ft.large_null = go_alloc_bytes(4 * CHUNK) == NULL;
    ft.array_null = go_new_array(&plain_node_type, 2 * CHUNK / sizeof(node)) == NULL;
    ft.custom_null = gort_gc_new_custom(3 * CHUNK, scan_nothing) == NULL;
    /* A handle and a finalizable object need the runtime's own memory. */
    node *keep = new_node(&plain_node_type, 1ULL << 44); /* may fail too: then NULL handle */
    go_handle *h = go_handle_new(keep);
    ft.handle_null = h == NULL;
    /* Small objects: whatever spans are at hand, then a refusal. */
    long third = FAULT_SLOTS / 3;
    uint64_t id0 = take_ids((int)third);
    ft.bytes_before_null = alloc_until_null(slots, third, 3000, 0, 0);
    ft.nodes_before_null = alloc_until_null(slots + third, third, 0, 1, 0);
    ft.fin_before_null = alloc_until_null(slots + 2 * third, third, 0, 2, id0);
    /* Registered ranges: the table grows, and that is refused. */
    ft.ranges_before_enomem = -1;
    for (long i = 0; i < FAULT_SLOTS; i++) {
        int rc = go_gc_add_roots(&ranges[i], sizeof ranges[i]);
        if (rc != 0) {
            CHECKF(rc == GO_ENOMEM, "go_gc_add_roots under fault injection returned %d", rc);
            ft.ranges_before_enomem = i;
            break;
        }
    }
    gort_gc_fault_inject(-1);

    /* Everything works again. */
    for (long i = 0; i < FAULT_SLOTS; i++)
        go_gc_remove_roots(&ranges[i]);
    CHECK(go_alloc_bytes(4 * CHUNK) != NULL);
    CHECK(go_new_array(&plain_node_type, 2 * CHUNK / sizeof(node)) != NULL);
    CHECK(gort_gc_new_custom(3 * CHUNK, scan_nothing) != NULL);
    CHECK(go_alloc_bytes(3000) != NULL);
    CHECK(go_new(&plain_node_type) != NULL);
    uint64_t id = take_ids(1);
    CHECK(new_node(&node_type, id) != NULL);
    go_handle *h2 = go_handle_new(go_alloc_bytes(16));
    CHECK(h2 != NULL);
    go_handle_free(h2);
    go_handle_free(h);
    int rc = go_gc_add_roots(ranges, sizeof *ranges);
    CHECKF(rc == 0, "go_gc_add_roots after fault injection returned %d", rc);
    go_gc_remove_roots(ranges);
    clear_slots(slots, FAULT_SLOTS);
    go_gc_remove_roots(slots);
    free(slots);
    free(ranges);
    clear_stack();
    full_gc();
    return 0;
}

static void os_refusals_make_every_allocation_path_fail_cleanly_then_succeed_again(void **state) {
    (void)state;
    WATCH();
    if (!gort_gc_fault_inject(-1)) {
        print_message("[ skip ] this build has no fault injection (GORT_GC_FAULT_INJECTION)\n");
        skip();
    }
    memset(&ft, 0, sizeof ft);
    run_main(&two_workers, fault_main, NULL);
    print_message("[ info ] before a refusal: %ld 3000-byte blocks, %ld nodes, %ld finalizable "
                  "nodes, %ld ranges\n",
                  ft.bytes_before_null, ft.nodes_before_null, ft.fin_before_null,
                  ft.ranges_before_enomem);
    assert_true(ft.large_null);
    assert_true(ft.array_null);
    assert_true(ft.custom_null);
    assert_true(ft.handle_null);
    assert_true(ft.bytes_before_null >= 0);
    assert_true(ft.nodes_before_null >= 0);
    assert_true(ft.fin_before_null >= 0);
    assert_true(ft.ranges_before_enomem >= 0);
}

/* =============================================================================================
 * 6. Attached threads, statistics, the pacer, the barrier and copies
 * ============================================================================================= */

#define ATTACHED_NODES 2000

static struct {
    int attach_rc;
    uint64_t id0;
    int damaged, finalized, bytes_bad;
    atomic_int done;
} at;

NOINLINE static node *build_list(uint64_t id0, int n) {
    node *head = NULL;
    for (int i = 0; i < n; i++) {
        node *x = new_node(&node_type, id0 + (uint64_t)i);
        if (x == NULL) {
            record_failure(__FILE__, __LINE__, "go_new from an attached thread returned NULL");
            return head;
        }
        GO_STORE(x->next, head);
        head = x;
    }
    return head;
}

static void attached_allocator(void *arg) {
    (void)arg;
    at.attach_rc = go_thread_attach();
    if (at.attach_rc != 0) {
        atomic_store(&at.done, 1);
        return;
    }
    node *head = build_list(at.id0, ATTACHED_NODES);
    unsigned char *bytes = go_alloc_bytes(5000);
    if (bytes != NULL)
        memset(bytes, 0x5c, 5000);
    pslot *arr = go_new_array(&pslot_type, 100);
    CHECK(bytes != NULL && arr != NULL);
    if (arr != NULL)
        GO_STORE(arr[50].p, head);
    go_gc_collect(); /* from the attached thread itself */
    go_gc_collect();
    go_gc_run_finalizers();
    int i = ATTACHED_NODES - 1;
    for (node *x = arr != NULL ? arr[50].p : head; x != NULL; x = x->next, i--)
        at.damaged += i < 0 || !node_intact(x, at.id0 + (uint64_t)i);
    at.damaged += i != -1;
    at.finalized = count_finalized(at.id0, ATTACHED_NODES);
    for (int k = 0; bytes != NULL && k < 5000; k++)
        at.bytes_bad += bytes[k] != 0x5c;
    go_thread_detach();
    atomic_store(&at.done, 1);
}

static void attached_thread_allocates_and_collects_with_no_task_running(void **state) {
    (void)state;
    WATCH();
    memset(&at, 0, sizeof at);
    at.id0 = take_ids(ATTACHED_NODES);
    configure(&two_workers);
    assert_int_equal(go_start(NULL), 0);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, attached_allocator, NULL), 0);
    uv_thread_join(&th);
    assert_int_equal(go_stop(), 0);
    report_failures();
    assert_int_equal(at.attach_rc, 0);
    assert_int_equal(at.damaged, 0);
    assert_int_equal(at.finalized, 0);
    assert_int_equal(at.bytes_bad, 0);
}

/* ---- statistics ---- */

static go_gc_stats st0, st1, st2, st_prev;

NOINLINE static void drop_bytes(size_t total, size_t each) {
    for (size_t done = 0; done < total; done += each)
        CHECK(go_alloc_bytes(each) != NULL);
}

static int stats_main(void *arg) {
    (void)arg;
    clear_stack();
    full_gc();
    go_gc_stats_get(&st0);
    drop_bytes(1 << 20, 1024);
    go_gc_stats_get(&st1);
    CHECKF(st1.bytes_allocated >= st0.bytes_allocated + (1 << 20),
           "bytes_allocated grew by %llu after allocating 1 MiB",
           (unsigned long long)(st1.bytes_allocated - st0.bytes_allocated));
    CHECK(st1.heap_alloc >= (1 << 20));
    CHECK(st1.heap_mapped >= st1.heap_alloc);
    st_prev = st1;
    uint64_t pauses = 0;
    for (int r = 0; r < 3; r++) {
        full_gc();
        go_gc_stats_get(&st2);
        CHECKF(st2.cycles >= st_prev.cycles + 1, "cycles went from %llu to %llu",
               (unsigned long long)st_prev.cycles, (unsigned long long)st2.cycles);
        for (uint64_t k = st_prev.cycles + 1; k <= st2.cycles; k++) {
            uint64_t p = st2.pause_ns[(k - 1) % 256];
            CHECKF(p > 0, "pause_ns of completed cycle %llu is 0", (unsigned long long)k);
            pauses += p;
        }
        st_prev = st2;
    }
    CHECK(st2.cycles - st1.cycles <= 256);
    CHECK(st2.pause_max_ns > 0);
    CHECK(st2.pause_total_ns >= st2.pause_max_ns);
    CHECKF(st2.pause_total_ns - st1.pause_total_ns >= pauses,
           "pause_total_ns grew by %llu, less than the cycles' pause_ns (%llu)",
           (unsigned long long)(st2.pause_total_ns - st1.pause_total_ns),
           (unsigned long long)pauses);
    CHECKF(st2.bytes_freed >= st1.bytes_freed + (1 << 19),
           "bytes_freed grew by %llu after 1 MiB of garbage was collected",
           (unsigned long long)(st2.bytes_freed - st1.bytes_freed));
    CHECK(st2.bytes_freed <= st2.bytes_allocated);
    CHECK(st2.bytes_allocated >= st1.bytes_allocated);
    CHECK(st2.heap_alloc < st1.heap_alloc); /* the garbage went */
    CHECK(st2.heap_live <= st2.heap_mapped);
    return 0;
}

static void gc_stats_count_cycles_pauses_and_bytes(void **state) {
    (void)state;
    WATCH();
    run_main(&two_workers, stats_main, NULL);
}

/* ---- the pacer ---- */

static struct {
    go_gc_stats before, after;
    size_t total;
} pc;

NOINLINE static void allocate_garbage(size_t total) {
    for (size_t done = 0; done < total; done += 1024) {
        unsigned char *p = go_alloc_bytes(1024);
        if (p == NULL) {
            record_failure(__FILE__, __LINE__, "go_alloc_bytes returned NULL with no limit");
            return;
        }
        p[0] = 1;
    }
}

static int pacer_main(void *arg) {
    (void)arg;
    go_gc_stats_get(&pc.before);
    pc.total = ((size_t)512 << 20) / (size_t)scale_div;
    allocate_garbage(pc.total);
    go_gc_stats_get(&pc.after);
    return 0;
}

static int collect_once_main(void *arg) {
    (void)arg;
    full_gc();
    return 0;
}

/* After a run with automatic cycles off (as every other test here), a run
 * with them on must start cycles by itself. */
static void
automatic_cycles_keep_a_garbage_heavy_heap_bounded_after_a_run_with_gc_off(void **state) {
    (void)state;
    WATCH();
    run_main(&one_worker, collect_once_main, NULL);
    run_cfg c = {.workers = 2, .gc_on = true};
    run_main(&c, pacer_main, NULL);
    print_message("[ info ] %zu MiB of garbage: %llu cycles, heap_mapped %zu MiB\n", pc.total >> 20,
                  (unsigned long long)(pc.after.cycles - pc.before.cycles),
                  pc.after.heap_mapped >> 20);
    assert_true(pc.after.cycles > pc.before.cycles);
    assert_true(pc.after.bytes_freed > pc.before.bytes_freed);
    /* Almost nothing is live: each cycle sets the minimum goal, 4 MiB, so
     * about one cycle per 4 MiB. Twice that (262 for 512 MiB) was a cycle
     * started right after each other one by garbage not yet swept. */
    uint64_t cycles = pc.after.cycles - pc.before.cycles;
    assert_true(cycles <= (pc.total >> 22) + (pc.total >> 24) + 4);
    /* Memory mapped by the tests before stays mapped for a while (it goes
     * back to the OS after about two seconds unused): compare the growth. */
    assert_true(pc.after.heap_mapped < pc.before.heap_mapped + pc.total / 2);
}

/* ---- GO_STORE, GO_LOAD, go_memmove ---- */

static struct {
    atomic_int written;
    node **slot; /* the writer's target: a variable on the main task's stack */
    uint64_t id;
} ld;

static void writer_task(void *arg) {
    (void)arg;
    node *n = new_node(&node_type, ld.id);
    GO_STORE(*ld.slot, n); /* another task's stack variable: GO_STORE (DESIGN.md §4) */
    atomic_store(&ld.written, 1);
}

static int side_effects;

static void **count_slot(void **p) {
    side_effects++;
    return p;
}

static node *count_value(node *v) {
    side_effects += 100;
    return v;
}

static void memmove_bytes_case(unsigned char *a, unsigned char *b, unsigned char *sa_,
                               unsigned char *sb, size_t len, size_t dst, size_t src, size_t n,
                               bool same) {
    for (size_t i = 0; i < len; i++) {
        a[i] = sa_[i] = (unsigned char)(i * 13 + 1);
        b[i] = sb[i] = (unsigned char)(i * 7 + 200);
    }
    if (same) {
        go_memmove(a + dst, a + src, n);
        memmove(sa_ + dst, sa_ + src, n);
    } else {
        go_memmove(a + dst, b + src, n);
        memmove(sa_ + dst, sb + src, n);
    }
    CHECKF(memcmp(a, sa_, len) == 0 && memcmp(b, sb, len) == 0,
           "go_memmove(dst+%zu, %s+%zu, %zu) differs from memmove", dst, same ? "dst" : "src", src,
           n);
}

#define MM_LEN 192

/* Every offset 0..17 on both sides, lengths 0..96, overlapping and not. */
NOINLINE static void memmove_bytes(unsigned char *a, unsigned char *b) {
    unsigned char sa_[MM_LEN], sb[MM_LEN];
    for (size_t dst = 0; dst < 18; dst++)
        for (size_t src = 0; src < 18; src++)
            for (size_t n = 0; n <= 96; n++) {
                memmove_bytes_case(a, b, sa_, sb, MM_LEN, dst, src, n, true);
                memmove_bytes_case(a, b, sa_, sb, MM_LEN, dst, src, n, false);
            }
}

#define PSLOTS 64

NOINLINE static pslot *new_pslot_array_of_nodes(uint64_t id0) {
    pslot *a = go_new_array(&pslot_type, PSLOTS);
    if (a == NULL)
        return NULL;
    for (int i = 0; i < PSLOTS; i++)
        GO_STORE(a[i].p, new_node(&node_type, id0 + (uint64_t)i));
    return a;
}

static int store_load_memmove_main(void *arg) {
    (void)arg;
    /* GO_STORE evaluates each argument once and stores the value. */
    void *arr[4] = {0};
    void **p = arr;
    node *n = new_node(&node_type, take_ids(1));
    side_effects = 0;
    GO_STORE(*count_slot(p + 2), (void *)count_value(n));
    CHECK(side_effects == 101);
    CHECK(arr[2] == n && arr[0] == NULL && arr[1] == NULL && arr[3] == NULL);
    GO_STORE(arr[2], NULL);
    CHECK(arr[2] == NULL);
    node *holder = new_node(&plain_node_type, 1ULL << 45);
    GO_STORE(holder->next, n);
    CHECK(GO_LOAD(holder->next) == n);
    GO_STORE(holder->next, holder);
    CHECK(GO_LOAD(holder->next) == holder);

    /* GO_LOAD of a variable of this task's stack that another task wrote. */
    node *shared = NULL;
    ld.slot = &shared;
    ld.id = take_ids(1);
    CHECK(go_spawn(writer_task, NULL) == 0);
    gort_test_yield_until(&ld.written, 1);
    clear_stack();
    gc_rounds(1);
    node *got = GO_LOAD(shared);
    CHECK(got != NULL && node_intact(got, ld.id) && atomic_load(&fin_count[ld.id]) == 0);

    /* go_memmove of bytes: plain memory and pointer-free heap memory. */
    unsigned char *ma = malloc(MM_LEN), *mb = malloc(MM_LEN);
    CHECK(ma != NULL && mb != NULL);
    if (ma != NULL && mb != NULL)
        memmove_bytes(ma, mb);
    free(ma);
    free(mb);
    unsigned char *ha = go_alloc_bytes(MM_LEN), *hb = go_alloc_bytes(MM_LEN);
    CHECK(ha != NULL && hb != NULL);
    if (ha != NULL && hb != NULL)
        memmove_bytes(ha, hb);

    /* go_memmove of pointers: the copies keep their referents alive. */
    uint64_t id0 = take_ids(PSLOTS);
    pslot *src = new_pslot_array_of_nodes(id0);
    pslot *dst = go_new_array(&pslot_type, PSLOTS);
    CHECK(src != NULL && dst != NULL);
    if (src == NULL || dst == NULL)
        return 0;
    go_memmove(dst, src, PSLOTS * sizeof(pslot));
    for (int i = 0; i < PSLOTS; i++)
        GO_STORE(src[i].p, NULL);
    clear_stack();
    gc_rounds(2);
    for (int i = 0; i < PSLOTS; i++)
        CHECKF(dst[i].p != NULL && node_intact(dst[i].p, id0 + (uint64_t)i) &&
                   atomic_load(&fin_count[id0 + (uint64_t)i]) == 0,
               "pointer %d copied by go_memmove lost", i);
    /* Overlapping, both directions. */
    go_memmove(&dst[3], &dst[0], (PSLOTS - 3) * sizeof(pslot));
    for (int i = 3; i < PSLOTS; i++)
        CHECK(dst[i].p != NULL && dst[i].p->id == id0 + (uint64_t)(i - 3));
    go_memmove(&dst[0], &dst[5], (PSLOTS - 5) * sizeof(pslot));
    for (int i = 0; i < PSLOTS - 5; i++)
        CHECK(dst[i].p != NULL && dst[i].p->id == id0 + (uint64_t)(i + 2));
    go_memmove(dst, dst, PSLOTS * sizeof(pslot));
    go_memmove(dst, src, 0);
    CHECK(dst[0].p != NULL && dst[0].p->id == id0 + 2);
    return 0;
}

static void go_store_go_load_and_go_memmove_copy_exactly_what_they_should(void **state) {
    (void)state;
    WATCH();
    memset(&ld, 0, sizeof ld);
    run_main(&two_workers, store_load_memmove_main, NULL);
}

/* ---- the barrier: a mutator moves nodes around while another task collects ----
 *
 * STRESS_CHAINS chains hold the nodes; every operation takes a random node
 * (anywhere in the structure, so often one the marker has not reached yet)
 * and moves it to a random place, sometimes yielding while only a local
 * holds it, or replaces it by a new node, or rotates the chain heads with
 * go_memmove. Nodes are found through a table of hidden pointers (malloc'ed,
 * no root), which only ever names nodes that are on a chain: reading it is
 * like reading the pointer through the chain. Every node touched is checked
 * first, so a node freed while reachable is reported at once (poison=1
 * overwrites it, its slot stops being an object). With GORT_DEBUG=gcslice=N
 * the world runs between marking slices with the barrier on, and most
 * operations happen then. The nodes have no finalizer: what finalizable
 * objects point to is marked from the finalizer registry, a root, which
 * would reach every node at once and leave nothing for the barrier to do. */

#define STRESS_NODES 2000
#define STRESS_CHAINS 64

static struct {
    atomic_int stop, collector_done;
    atomic_long cycles;
    long ops, ops_marking, replaced, moved_while_local, live_at_end;
    uint64_t id0;
    int nids;
    bool broken;
} bs;

typedef struct stress {
    pslot *heads;   /* the chains: a heap array of STRESS_CHAINS pointers */
    uintptr_t *ptr; /* hidden pointer of each node, by relative id */
    int *prev;      /* relative id of the node before it, or -(chain + 1) */
    int *live_ids;  /* the relative ids on the chains, dense */
    int *pos;       /* index of each id in live_ids, -1 if not on a chain */
    int nlive, next_new;
    uint64_t rng;
} stress;

static stress *stress_self; /* the running stress's tables, for stress_node */

static void collector_loop(void *arg) {
    (void)arg;
    while (!atomic_load(&bs.stop)) {
        go_gc_collect();
        go_gc_run_finalizers();
        atomic_fetch_add(&bs.cycles, 1);
        go_yield();
    }
    atomic_store(&bs.collector_done, 1);
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The node of relative id i, checked allocated and intact; NULL (and the
 * run is broken) if it is not. */
static node *stress_node(int i) {
    node *x = unhide(stress_self->ptr[i]);
    if (gort_gc_object_start(x) != x || !node_intact(x, bs.id0 + (uint64_t)i)) {
        record_failure(__FILE__, __LINE__,
                       "node %d was freed or damaged while on a chain (after %ld operations, "
                       "%ld of them while marking)",
                       i, bs.ops, bs.ops_marking);
        bs.broken = true;
        return NULL;
    }
    return x;
}

/* The relative id of x (a node read from a chain), checked. */
static int stress_id(const node *x) {
    if (gort_gc_object_start(x) != x) {
        record_failure(__FILE__, __LINE__, "a chain points to %p, not an allocated object",
                       (const void *)x);
        bs.broken = true;
        return -1;
    }
    uint64_t id = x->id;
    if (id < bs.id0 || id >= bs.id0 + (uint64_t)bs.nids) {
        record_failure(__FILE__, __LINE__, "a chain holds a damaged node (id %llu)",
                       (unsigned long long)id);
        bs.broken = true;
        return -1;
    }
    return (int)(id - bs.id0);
}

/* Takes node i (on a chain) off its chain; returns it. */
static node *stress_unlink(stress *s, int i) {
    node *x = stress_node(i);
    if (x == NULL)
        return NULL;
    node *nx = x->next;
    int nid = nx != NULL ? stress_id(nx) : -1;
    if (nx != NULL && nid < 0)
        return NULL;
    int p = s->prev[i];
    if (p >= 0) {
        node *pn = stress_node(p);
        if (pn == NULL)
            return NULL;
        GO_STORE(pn->next, nx); /* deletes the edge to x: x may now be held by a local only */
    } else {
        GO_STORE(s->heads[-p - 1].p, nx);
    }
    if (nx != NULL)
        s->prev[nid] = p;
    return x;
}

/* Puts x (relative id i, on no chain) after node j, or at the head of
 * chain c if j < 0. */
static void stress_insert(stress *s, node *x, int i, int j, int c) {
    node *nx;
    if (j >= 0) {
        node *jn = stress_node(j);
        if (jn == NULL)
            return;
        nx = jn->next;
        GO_STORE(x->next, nx);
        GO_STORE(jn->next, x);
        s->prev[i] = j;
    } else {
        nx = s->heads[c].p;
        GO_STORE(x->next, nx);
        GO_STORE(s->heads[c].p, x);
        s->prev[i] = -(c + 1);
    }
    if (nx != NULL) {
        int nid = stress_id(nx);
        if (nid >= 0)
            s->prev[nid] = i;
    }
}

static void stress_add_live(stress *s, int i) {
    s->pos[i] = s->nlive;
    s->live_ids[s->nlive++] = i;
}

static void stress_remove_live(stress *s, int i) {
    int k = s->pos[i], last = s->live_ids[--s->nlive];
    s->live_ids[k] = last;
    s->pos[last] = k;
    s->pos[i] = -1;
}

/* Puts x (relative id i, on no chain) at a random place. */
static void stress_place(stress *s, node *x, int i) {
    uint64_t r = xorshift(&s->rng);
    int j = -1;
    if (r % 4 != 0 && s->nlive > 1) {
        j = s->live_ids[(r >> 8) % (uint64_t)s->nlive];
        if (j == i)
            j = -1;
    }
    stress_insert(s, x, i, j, (int)((r >> 32) % STRESS_CHAINS));
}

/* Rotates the chain heads by one with go_memmove. */
static void stress_rotate(stress *s) {
    node *last = s->heads[STRESS_CHAINS - 1].p;
    go_memmove(&s->heads[1], &s->heads[0], (STRESS_CHAINS - 1) * sizeof(pslot));
    GO_STORE(s->heads[0].p, last);
    for (int c = 0; c < STRESS_CHAINS; c++) {
        node *h = s->heads[c].p;
        int id = h != NULL ? stress_id(h) : -1;
        if (h != NULL && id < 0)
            return;
        if (id >= 0)
            s->prev[id] = -(c + 1);
    }
}

NOINLINE static void stress_op(stress *s) {
    uint64_t r = xorshift(&s->rng);
    switch (r % 8) {
    case 6: { /* replace: the old node becomes garbage */
        if (s->next_new >= bs.nids)
            break;
        int i = s->live_ids[(r >> 8) % (uint64_t)s->nlive];
        if (stress_unlink(s, i) == NULL)
            return;
        stress_remove_live(s, i);
        int k = s->next_new++;
        node *y = new_node(&plain_node_type, bs.id0 + (uint64_t)k);
        if (y == NULL) {
            record_failure(__FILE__, __LINE__, "go_new returned NULL");
            bs.broken = true;
            return;
        }
        s->ptr[k] = hide(y);
        stress_add_live(s, k);
        stress_place(s, y, k);
        bs.replaced++;
        break;
    }
    case 7:
        if ((r >> 8) % 4 == 0)
            stress_rotate(s);
        break;
    default: { /* move a random node */
        int i = s->live_ids[(r >> 8) % (uint64_t)s->nlive];
        node *x = stress_unlink(s, i);
        if (x == NULL)
            return;
        if ((r >> 40) % 16 == 0) {
            go_yield(); /* only this frame holds x now */
            bs.moved_while_local++;
        }
        stress_place(s, x, i);
        break;
    }
    }
}

NOINLINE static void stress_build(stress *s) {
    for (int i = 0; i < STRESS_NODES; i++) {
        node *x = new_node(&plain_node_type, bs.id0 + (uint64_t)i);
        if (x == NULL) {
            record_failure(__FILE__, __LINE__, "go_new returned NULL");
            bs.broken = true;
            return;
        }
        s->ptr[i] = hide(x);
        stress_add_live(s, i);
        stress_insert(s, x, i, -1, i % STRESS_CHAINS);
    }
}

/* Walks every chain: each node allocated, intact, on a chain once, linked
 * as the table says; as many as the table holds. */
NOINLINE static void stress_check(stress *s) {
    long seen = 0;
    unsigned char *visited = calloc((size_t)bs.nids, 1);
    if (visited == NULL)
        return;
    for (int c = 0; c < STRESS_CHAINS && !bs.broken; c++) {
        int expect_prev = -(c + 1);
        for (node *x = s->heads[c].p; x != NULL && !bs.broken; x = x->next) {
            int i = stress_id(x);
            if (i < 0)
                break;
            CHECKF(node_intact(x, bs.id0 + (uint64_t)i), "node %d damaged", i);
            CHECKF(s->pos[i] >= 0 && !visited[i],
                   "node %d on a chain twice or after it was dropped", i);
            CHECKF(s->prev[i] == expect_prev, "node %d: linked after %d, the table says %d", i,
                   expect_prev, s->prev[i]);
            visited[i] = 1;
            expect_prev = i;
            seen++;
        }
    }
    CHECKF(bs.broken || seen == s->nlive, "%ld nodes on the chains, %d expected", seen, s->nlive);
    bs.live_at_end = seen;
    free(visited);
}

static bool sliced; /* the run marks in slices: make sure operations overlap marking */

static int barrier_main(void *arg) {
    (void)arg;
    long ops = 200000 / scale_div;
    stress s = {.rng = 0x9e3779b97f4a7c15ULL};
    bs.nids = STRESS_NODES + (int)(ops / 8) + 1;
    bs.id0 = take_ids(bs.nids);
    s.heads = go_new_array(&pslot_type, STRESS_CHAINS);
    s.ptr = calloc((size_t)bs.nids, sizeof *s.ptr);
    s.prev = calloc((size_t)bs.nids, sizeof *s.prev);
    s.live_ids = calloc((size_t)bs.nids, sizeof *s.live_ids);
    s.pos = calloc((size_t)bs.nids, sizeof *s.pos);
    stress_self = &s;
    CHECK(s.heads != NULL && s.ptr != NULL && s.prev != NULL && s.live_ids != NULL &&
          s.pos != NULL);
    if (s.heads == NULL || s.ptr == NULL || s.prev == NULL || s.live_ids == NULL || s.pos == NULL)
        return 0;
    for (int i = 0; i < bs.nids; i++)
        s.pos[i] = -1;
    s.next_new = STRESS_NODES;
    stress_build(&s);
    CHECK(go_spawn(collector_loop, NULL) == 0);
    /* ops operations; in sliced runs, until a tenth of them ran while
     * marking too (bounded, so that a slow machine checks less, never hangs). */
    while (!bs.broken) {
        if (bs.ops >= ops && (!sliced || bs.ops_marking >= ops / 10 || bs.ops >= 20 * ops))
            break;
        bool marking = gort_gc_marking();
        stress_op(&s);
        bs.ops++;
        bs.ops_marking += marking;
        go_safepoint();
    }
    atomic_store(&bs.stop, 1);
    gort_test_yield_until(&bs.collector_done, 1);
    if (!bs.broken) {
        clear_stack();
        gc_rounds(2);
        stress_check(&s);
    }
    stress_self = NULL;
    free(s.ptr);
    free(s.prev);
    free(s.live_ids);
    free(s.pos);
    return 0;
}

static void run_barrier_stress(const char *debug, bool in_slices) {
    memset(&bs, 0, sizeof bs);
    sliced = in_slices;
    run_cfg c = {.workers = 2, .debug = debug};
    run_main(&c, barrier_main, NULL);
    print_message("[ info ] GORT_DEBUG=%s: %ld operations (%ld while marking, %ld replacements, "
                  "%ld yields holding a node in a local only) during %ld collections; %ld nodes "
                  "at the end\n",
                  debug, bs.ops, bs.ops_marking, bs.replaced, bs.moved_while_local,
                  atomic_load(&bs.cycles), bs.live_at_end);
    assert_true(atomic_load(&bs.cycles) > 0);
}

static void nodes_moved_around_while_another_task_collects_are_never_lost(void **state) {
    (void)state;
    WATCH();
    run_barrier_stress("poison=1", false);
}

static void nodes_moved_around_under_sliced_marking_with_checkmark_are_never_lost(void **state) {
    (void)state;
    WATCH();
    /* Marking in slices of 32 objects with the world running in between
     * keeps the barrier on during most operations; checkmark verifies the
     * marking of every cycle. */
    run_barrier_stress("poison=1,gcslice=32,checkmark=1", true);
}

/* ============================================================================================= */

static int group_setup(void **state) {
    (void)state;
    return gort_test_watchdog_start("test_gc", WATCH_SECONDS) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    gort_test_watchdog_stop();
    return 0;
}

#define T(f) cmocka_unit_test_setup(f, test_setup)

int main(void) {
#if defined(GORT_TSAN)
    scale_div = 4;
#elif defined(GORT_ASAN)
    scale_div = 2;
#endif
    if (getenv("GORT_UNDER_VALGRIND") != NULL)
        scale_div = 8;
    const struct CMUnitTest tests[] = {
        /* 5 (first: it wants a heap that earlier tests did not grow) */
        T(os_refusals_make_every_allocation_path_fail_cleanly_then_succeed_again),
        /* 1. size classes */
        T(every_size_class_allocates_aligned_zeroed_objects_and_reuses_freed_slots_zeroed),
        /* 2. interior pointers, lookups, large objects */
        T(interior_pointers_keep_objects_alive_and_lookups_outside_the_heap_are_null),
        T(large_objects_are_zeroed_scanned_and_finalized_once_per_element),
        /* 3. roots */
        T(object_only_on_a_parked_tasks_stack_stays_alive),
        T(object_only_in_a_callee_saved_register_at_a_safepoint_stays_alive),
        T(object_only_on_an_attached_threads_stack_stays_alive),
        T(object_only_on_a_blocked_threads_frozen_stack_stays_alive),
        T(object_only_on_a_blocked_tasks_frozen_stack_stays_alive),
        T(objects_only_in_a_registered_range_stay_alive_until_it_is_removed),
        T(objects_only_held_by_handles_stay_alive_until_the_handles_are_freed),
        T(spawn_argument_of_a_task_that_cannot_run_yet_stays_alive),
        T(spawn_argument_survives_the_spawners_own_collections),
        T(custom_scan_object_keeps_what_its_scan_function_reports_alive),
        /* 4. finalizers */
        T(unreachable_objects_are_finalized_exactly_once_then_freed),
        T(finalizer_of_an_object_runs_before_that_of_what_it_points_to_and_a_cycle_earlier),
        T(finalizer_may_call_go_gc_run_finalizers),
        T(a_finalizable_array_outlives_its_elements_finalizers),
        /* 5. out of memory */
        T(allocation_fails_cleanly_at_the_hard_heap_limit_and_recovers_after_a_collection),
        /* 6. attached threads, statistics, pacer, barrier and copies */
        T(attached_thread_allocates_and_collects_with_no_task_running),
        T(gc_stats_count_cycles_pauses_and_bytes),
        T(automatic_cycles_keep_a_garbage_heavy_heap_bounded_after_a_run_with_gc_off),
        T(go_store_go_load_and_go_memmove_copy_exactly_what_they_should),
        T(nodes_moved_around_while_another_task_collects_are_never_lost),
        T(nodes_moved_around_under_sliced_marking_with_checkmark_are_never_lost),
        /* 5 (last: a failure here may crash the process) */
        T(an_attached_thread_allocates_while_the_runtime_is_stopped),
        T(attached_threads_mutate_the_heap_under_sliced_marking),
        T(go_new_array_and_go_alloc_bytes_of_impossible_sizes_return_null),
    };
    const char *filter = getenv("TEST_GC_FILTER");
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    const char *skip_filter = getenv("TEST_GC_SKIP");
    if (skip_filter != NULL)
        cmocka_set_skip_filter(skip_filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
