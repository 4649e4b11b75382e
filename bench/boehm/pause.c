/* bench/boehm/pause.c - the Boehm-GC twin of bench/pause.c: the world-stopped
 * time of full collections with a large live heap while small objects churn.
 *
 * Setup: the main thread builds BENCH_PAUSE_MB (default 512) MB of 32-byte
 * nodes (two pointers and two words; GC_MALLOC'ed, so each takes a 48-byte
 * slot with the library's default interior-pointer padding, see boehm.h) as
 * one balanced binary tree reachable from a static; then a churner thread
 * (created through GC_pthread_create, so registered) allocates 32-byte objects
 * into a ring of 4096 (one pointer each, to a sentinel) as fast as it can.
 * After one warm-up GC_gcollect(), the main thread forces BENCH_PAUSE_CYCLES
 * (default 5) more, timing each call; before each it spins for
 * BENCH_PAUSE_GAP_MS (default 50) with sched_yield(), so that the churner
 * runs between collections (a collection holds the allocation lock from start
 * to end, and back-to-back ones would starve it). Afterwards the churner stops and the
 * tree is walked again: its node count and key sum must be intact.
 *
 * What is measured: every collection is a stop-the-world mark (Boehm's
 * collector is not incremental unless asked, and the twin does not ask), so a
 * collection's pause is the time from just before the world is stopped to
 * just after it is restarted, taken from the collector's own event callback
 * (GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD; libgc 8.2 has no
 * GC_get_stopped_mark_total_time). Every collection that ran during the forced
 * ones counts (the churner's too). The reclaim phase that follows the restart
 * holds the allocation lock, so allocating threads wait for it as well:
 * collect_p50_ms= (the median wall time of one GC_gcollect() call) includes it.
 *
 * Boehm has no tasks. The parked tasks and goroutines of the other two have no
 * counterpart by default; BENCH_PAUSE_BOEHM_THREADS=k parks k registered
 * threads (64 KiB stacks) on a condition variable instead, each of which the
 * collector then stops and scans in every pause.
 *
 *   name=pause impl=boehm metric=<us> unit=us stat=pause_max procs=<markers> live_mb=512
 *       parked=0 cycles=<k> forced=5 collect_p50_ms=<ms> churn_mb=<MB> slot=48 interior=1
 *   name=pause impl=boehm metric=<us> unit=us stat=pause_p50 ... (the same fields)
 *
 * Exit 1 when the tree is damaged or no collection was recorded.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bench.h"
#include "boehm.h"

typedef struct node {
    struct node *left, *right;
    long key, pad;
} node;

typedef struct churn_obj {
    struct churn_obj *p;
    long seq, a, b;
} churn_obj;

enum { CHURN_RING = 4096, MAX_CYCLES = 4096 };

static node *root; /* statics are roots for Boehm */
static churn_obj **churn_slots;
static atomic_int stop_churn;
static atomic_long churned;

/* Written by the event callback, which runs with the allocation lock held;
 * read by the main thread once the churner has stopped. */
static uint64_t stop_started, cycle_pause;
static uint64_t pauses[MAX_CYCLES];
static size_t npauses;
static bool recording, overflow;

static void on_collection_event(GC_EventType e) {
    switch (e) {
    case GC_EVENT_START:
        cycle_pause = 0;
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        stop_started = bench_now_ns();
        break;
    case GC_EVENT_POST_START_WORLD:
        cycle_pause += bench_now_ns() - stop_started;
        break;
    case GC_EVENT_END:
        if (recording) {
            if (npauses < MAX_CYCLES)
                pauses[npauses++] = cycle_pause;
            else
                overflow = true;
        }
        break;
    default:
        break;
    }
}

static node *build(long n, long *next) {
    if (n == 0)
        return NULL;
    node *nd = boehm_alloc(sizeof *nd, "boehm_pause");
    nd->key = (*next)++;
    long l = (n - 1) / 2;
    nd->left = build(l, next);
    nd->right = build(n - 1 - l, next);
    return nd;
}

static void walk(const node *nd, long *count, long *sum) {
    for (; nd != NULL; nd = nd->right) {
        (*count)++;
        *sum += nd->key;
        walk(nd->left, count, sum);
    }
}

static void *churn(void *arg) {
    (void)arg;
    churn_obj *sentinel = boehm_alloc(sizeof *sentinel, "boehm_pause");
    long i = 0;
    while (!atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
        for (int j = 0; j < 1024; j++, i++) {
            churn_obj *o = boehm_alloc(sizeof *o, "boehm_pause");
            o->p = sentinel;
            o->seq = i;
            churn_slots[i & (CHURN_RING - 1)] = o;
        }
        atomic_store_explicit(&churned, i, memory_order_relaxed);
    }
    return NULL;
}

/* The optional parked threads. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static bool released;

static void *parker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&park_lock);
    while (!released)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    return NULL;
}

int main(void) {
    long live_mb = bench_env_long("BENCH_PAUSE_MB", 512);
    long forced = bench_env_long("BENCH_PAUSE_CYCLES", 5);
    uint64_t gap_ns = (uint64_t)bench_env_long("BENCH_PAUSE_GAP_MS", 50) * 1000000u;
    const char *threads_env = getenv("BENCH_PAUSE_BOEHM_THREADS");
    long nparked = threads_env != NULL && *threads_env != '\0'
                       ? bench_env_long("BENCH_PAUSE_BOEHM_THREADS", 0)
                       : 0;
    long nodes = live_mb * (1L << 20) / 32;
    int markers = boehm_start();

    pthread_t *parked = calloc((size_t)(nparked > 0 ? nparked : 1), sizeof *parked);
    uint64_t *walls = calloc((size_t)forced, sizeof *walls);
    if (parked == NULL || walls == NULL)
        return 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < nparked; i++) {
        int rc = pthread_create(&parked[i], &attr, parker, NULL);
        if (rc != 0) {
            fprintf(stderr, "boehm_pause: pthread_create #%ld: %s\n", i, strerror(rc));
            return 2;
        }
    }

    long next = 0;
    root = build(nodes, &next);

    churn_slots = boehm_alloc(CHURN_RING * sizeof *churn_slots, "boehm_pause");
    pthread_t churner;
    int rc = pthread_create(&churner, NULL, churn, NULL);
    if (rc != 0) {
        fprintf(stderr, "boehm_pause: pthread_create: %s\n", strerror(rc));
        return 2;
    }

    GC_set_on_collection_event(on_collection_event);
    GC_gcollect();
    long c0 = atomic_load(&churned);
    GC_alloc_lock();
    recording = true;
    GC_alloc_unlock();
    for (long k = 0; k < forced; k++) {
        uint64_t until = bench_now_ns() + gap_ns;
        while (bench_now_ns() < until)
            sched_yield();
        uint64_t t0 = bench_now_ns();
        GC_gcollect();
        walls[k] = bench_now_ns() - t0;
    }
    GC_alloc_lock();
    recording = false;
    size_t n = npauses;
    GC_alloc_unlock();
    long c1 = atomic_load(&churned);
    atomic_store(&stop_churn, 1);
    pthread_join(churner, NULL);

    pthread_mutex_lock(&park_lock);
    released = true;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    for (long i = 0; i < nparked; i++)
        pthread_join(parked[i], NULL);

    long count = 0, sum = 0;
    walk(root, &count, &sum);
    if (count != nodes || sum != nodes * (nodes - 1) / 2) {
        fprintf(stderr,
                "boehm_pause: the tree has %ld nodes with key sum %ld, expected %ld and %ld\n",
                count, sum, nodes, nodes * (nodes - 1) / 2);
        return 1;
    }
    if (n == 0 || overflow) {
        fprintf(stderr, "boehm_pause: %s\n",
                n == 0 ? "no collection was recorded" : "too many collections to record");
        return 1;
    }

    bench_sort_u64(pauses, n);
    bench_sort_u64(walls, (size_t)forced);
    char rest[256];
    snprintf(rest, sizeof rest,
             "procs=%d live_mb=%ld parked=%ld cycles=%zu forced=%ld collect_p50_ms=%.1f "
             "churn_mb=%ld slot=%zu interior=%d",
             markers, live_mb, nparked, n, forced, (double)bench_p50(walls, (size_t)forced) / 1e6,
             (c1 - c0) * 32 >> 20, GC_size(root), GC_get_all_interior_pointers());
    printf("name=pause impl=boehm metric=%.1f unit=us stat=pause_max %s\n",
           (double)bench_max(pauses, n) / 1e3, rest);
    printf("name=pause impl=boehm metric=%.1f unit=us stat=pause_p50 %s\n",
           (double)bench_p50(pauses, n) / 1e3, rest);
    return 0;
}
