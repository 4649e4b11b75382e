/* gc/final.c - finalizers, handles and registered root ranges: the roots the
 * collector keeps in tables rather than finds on stacks.
 *
 * Finalizers (Go's semantics, DESIGN.md section 4):
 *   - an object of a type with finalize has its span's finalizer bit set and
 *     an entry in the registry (address -> type, element count);
 *   - every cycle marks what registered objects point to, not the objects
 *     themselves (root job RJ_FIN_REFERENTS), so their referents outlive them;
 *   - sweep finds an unmarked object with the bit: it keeps it (mark bit set,
 *     rule 4), clears the bit and moves the entry onto the queue, a root;
 *   - a runner task (spawned outside any pause) pops entries and runs the
 *     finalizer once per element; the object stays a root (on the running
 *     list) until the last element's finalizer returns, and the next cycle
 *     frees it if nothing reaches it any more. Popping shades the object
 *     while marking (rule 4).
 * go_gc_run_finalizers runs the queue on the caller and then waits until no
 * finalizer runs elsewhere; one called from a finalizer does not wait for
 * itself (rule 14): each running finalizer is recorded with its runner's id.
 *
 * Handles and ranges change under their locks from any thread; those locks
 * are runtime locks (no safepoint while held), so a pause never stops a
 * holder, and root jobs take them while the world is stopped. Threads that are
 * not attached change them inside an implicit attached section. While
 * marking, new, get and free shade the handle's object, and add and remove
 * shade a range's words (rule 3); a range is scanned only while the world is
 * stopped, so remove never meets a scan in progress.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/heap.h"
#include "sched/sched.h"

typedef struct fin_entry {
    uintptr_t obj;
    const go_type *type;
    size_t count;
    struct fin_entry *next;
} fin_entry;

typedef struct fin_running {
    uint64_t runner;
    uintptr_t obj; /* still a root while its finalizers run (an array has several) */
    struct fin_running *next;
} fin_running;

static struct {
    gort_rt_lock lock;
    fin_entry **buckets; /* registry: chained hash on the object address */
    size_t nbuckets, nentries;
    fin_entry *qhead, *qtail; /* queue, FIFO */
    fin_running *running;     /* finalizers running now */
    _Atomic int runner_active;
    _Atomic int pending; /* something was queued since the last runner check */
} fin;

struct go_handle {
    void *_Atomic obj;
    go_handle *prev, *next;
};

typedef struct root_range {
    void *start;
    size_t len;
} root_range;

static struct {
    gort_rt_lock lock;
    go_handle *handles;
    root_range *ranges;
    size_t nranges, capranges;
} roots;

/* ---- the calling context ------------------------------------------------------------- */

/* An id for the caller: its task id, else its thread. */
static uint64_t caller_id(void) {
    uint64_t id = go_task_id();
    return id != 0 ? id : (uint64_t)pthread_self() | (uint64_t)1 << 63;
}

/* Threads that are neither tasks nor attached change runtime tables inside an
 * implicit attached section, so never during a pause. */
static bool external_enter(void) {
    return gort_sched_gc_local_slot() == NULL && gort_sched_external_enter();
}

static void external_leave(bool entered) {
    if (entered)
        gort_sched_external_leave();
}

/* ---- registry ------------------------------------------------------------------------- */

static size_t hash_of(uintptr_t p, size_t n) {
    return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & (n - 1);
}

static bool registry_grow(void) { /* [fin.lock] */
    size_t n = fin.nbuckets ? fin.nbuckets * 2 : 1024;
    if (gc_os_fail())
        return false;
    fin_entry **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return false;
    for (size_t i = 0; i < fin.nbuckets; i++)
        for (fin_entry *e = fin.buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t h = hash_of(e->obj, n);
            e->next = nb[h];
            nb[h] = e;
        }
    free(fin.buckets);
    fin.buckets = nb;
    fin.nbuckets = n;
    return true;
}

bool gc_final_register(void *obj, const go_type *t, size_t count) {
    if (gc_os_fail())
        return false;
    fin_entry *e = malloc(sizeof *e);
    if (e == NULL)
        return false;
    e->obj = (uintptr_t)obj;
    e->type = t;
    e->count = count;
    gort_rt_lock_acquire(&fin.lock);
    if (fin.nentries >= fin.nbuckets && !registry_grow() && fin.nbuckets == 0) {
        gort_rt_lock_release(&fin.lock);
        free(e);
        return false;
    }
    size_t h = hash_of(e->obj, fin.nbuckets);
    e->next = fin.buckets[h];
    fin.buckets[h] = e;
    fin.nentries++;
    gort_rt_lock_release(&fin.lock);
    return true;
}

void gc_final_queue(void *obj) {
    gort_rt_lock_acquire(&fin.lock);
    fin_entry *e = NULL;
    if (fin.nbuckets != 0) {
        fin_entry **pp = &fin.buckets[hash_of((uintptr_t)obj, fin.nbuckets)];
        while (*pp != NULL && (*pp)->obj != (uintptr_t)obj)
            pp = &(*pp)->next;
        e = *pp;
        if (e != NULL) {
            *pp = e->next;
            fin.nentries--;
        }
    }
    if (e == NULL)
        gort_rt_fatal("finalizer: object %p has the finalizer bit but no registration", obj);
    e->next = NULL;
    if (fin.qtail != NULL)
        fin.qtail->next = e;
    else
        fin.qhead = e;
    fin.qtail = e;
    atomic_store(&fin.pending, 1);
    gort_rt_lock_release(&fin.lock);
}

/* ---- root jobs -------------------------------------------------------------------------- */

void gc_final_mark_referents(gc_marker *m) {
    gort_rt_lock_acquire(&fin.lock);
    for (size_t i = 0; i < fin.nbuckets; i++)
        for (fin_entry *e = fin.buckets[i]; e != NULL; e = e->next)
            if (e->type->nptrs != 0)
                gc_marker_typed(m, e->obj, e->type, e->count);
    gort_rt_lock_release(&fin.lock);
}

void gc_final_mark_queue(gc_marker *m) {
    gort_rt_lock_acquire(&fin.lock);
    for (fin_entry *e = fin.qhead; e != NULL; e = e->next)
        gc_marker_word(m, e->obj);
    for (fin_running *r = fin.running; r != NULL; r = r->next)
        gc_marker_word(m, r->obj);
    gort_rt_lock_release(&fin.lock);
}

void gc_roots_mark_handles(gc_marker *m) {
    gort_rt_lock_acquire(&roots.lock);
    for (go_handle *h = roots.handles; h != NULL; h = h->next)
        gc_marker_word(m, (uintptr_t)atomic_load_explicit(&h->obj, memory_order_relaxed));
    gort_rt_lock_release(&roots.lock);
}

void gc_roots_mark_ranges(gc_marker *m) {
    gort_rt_lock_acquire(&roots.lock);
    for (size_t i = 0; i < roots.nranges; i++)
        gc_marker_range(m, roots.ranges[i].start,
                        (char *)roots.ranges[i].start + roots.ranges[i].len);
    gort_rt_lock_release(&roots.lock);
}

/* ---- running finalizers ------------------------------------------------------------------ */

/* Pops and runs one queued finalizer; false if the queue was empty. */
static bool run_one(void) {
    fin_running me = {.runner = caller_id()};
    gort_rt_lock_acquire(&fin.lock);
    fin_entry *e = fin.qhead;
    if (e == NULL) {
        gort_rt_lock_release(&fin.lock);
        return false;
    }
    fin.qhead = e->next;
    if (fin.qhead == NULL)
        fin.qtail = NULL;
    me.obj = e->obj;
    me.next = fin.running;
    fin.running = &me;
    gort_rt_lock_release(&fin.lock);

    gort_gc_shade((void *)e->obj); /* it leaves the queue, a root (rule 4) */
    for (size_t k = 0; k < e->count; k++)
        e->type->finalize((char *)e->obj + k * e->type->size);

    gort_rt_lock_acquire(&fin.lock);
    fin_running **pp = &fin.running;
    while (*pp != &me)
        pp = &(*pp)->next;
    *pp = me.next;
    gort_rt_lock_release(&fin.lock);
    free(e);
    return true;
}

static void runner_task(void *arg) {
    (void)arg;
    for (;;) {
        while (run_one())
            go_safepoint();
        atomic_store(&fin.runner_active, 0);
        /* Something queued after our last look, whose queuer saw us active? */
        gort_rt_lock_acquire(&fin.lock);
        bool more = fin.qhead != NULL;
        gort_rt_lock_release(&fin.lock);
        int expected = 0;
        if (!more || !atomic_compare_exchange_strong(&fin.runner_active, &expected, 1))
            return;
    }
}

void gc_final_queue_done(void) {
    if (atomic_load_explicit(&fin.pending, memory_order_relaxed) == 0)
        return;
    if (gort_stw_is_stopped())
        return; /* never from inside a pause: the next sweep outside one does it */
    atomic_store(&fin.pending, 0);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&fin.runner_active, &expected, 1))
        return;
    go_spawn_opts opts = {.name = "gort finalizers"};
    if (go_spawn_with(runner_task, NULL, &opts) != 0) {
        atomic_store(&fin.runner_active, 0);
        atomic_store(&fin.pending, 1);
    }
}

void go_gc_run_finalizers(void) {
    while (run_one())
        go_safepoint();
    uint64_t me = caller_id();
    for (unsigned spins = 0;; spins++) {
        gort_rt_lock_acquire(&fin.lock);
        bool others = false;
        for (fin_running *r = fin.running; r != NULL; r = r->next)
            if (r->runner != me)
                others = true;
        bool queued = fin.qhead != NULL;
        gort_rt_lock_release(&fin.lock);
        if (queued) {
            while (run_one())
                go_safepoint();
            continue;
        }
        if (!others)
            return;
        if (gort_sched_current_task() != NULL)
            go_yield();
        else {
            struct timespec ts = {0, 200000};
            go_blocking_enter();
            nanosleep(&ts, NULL);
            go_blocking_leave();
        }
    }
}

void gc_final_runtime_stopped(void) {
    /* A runner abandoned by go_main's return is gone with its stack. */
    atomic_store(&fin.runner_active, 0);
    gort_rt_lock_acquire(&fin.lock);
    fin.running = NULL;
    if (fin.qhead != NULL)
        atomic_store(&fin.pending, 1);
    gort_rt_lock_release(&fin.lock);
}

/* ---- handles --------------------------------------------------------------------------------- */

go_handle *go_handle_new(void *obj) {
    if (gc_os_fail())
        return NULL;
    go_handle *h = malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    atomic_init(&h->obj, obj);
    bool ext = external_enter();
    gort_gc_shade(obj);
    gort_rt_lock_acquire(&roots.lock);
    h->prev = NULL;
    h->next = roots.handles;
    if (h->next != NULL)
        h->next->prev = h;
    roots.handles = h;
    gort_rt_lock_release(&roots.lock);
    external_leave(ext);
    return h;
}

void *go_handle_get(go_handle *h) {
    if (h == NULL)
        return NULL;
    void *obj = atomic_load_explicit(&h->obj, memory_order_relaxed);
    if (gort_gc_marking()) {
        /* Inside an implicit section from other threads: marking cannot end
         * (and sweeping begin) between the check in gort_gc_shade and the
         * mark it sets. */
        bool ext = external_enter();
        gort_gc_shade(obj);
        external_leave(ext);
    }
    return obj;
}

void go_handle_free(go_handle *h) {
    if (h == NULL)
        return;
    bool ext = external_enter();
    gort_gc_shade(atomic_load_explicit(&h->obj, memory_order_relaxed));
    gort_rt_lock_acquire(&roots.lock);
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        roots.handles = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    gort_rt_lock_release(&roots.lock);
    external_leave(ext);
    free(h);
}

/* ---- registered ranges ------------------------------------------------------------------------
 */

int go_gc_add_roots(void *start, size_t len) {
    if (start == NULL || len == 0 || (uintptr_t)start + len < (uintptr_t)start)
        return GO_EINVAL;
    bool ext = external_enter();
    int rc = 0;
    gort_rt_lock_acquire(&roots.lock);
    if (roots.nranges == roots.capranges) {
        size_t cap = roots.capranges ? roots.capranges * 2 : 16;
        root_range *nr = gc_os_fail() ? NULL : realloc(roots.ranges, cap * sizeof *nr);
        if (nr == NULL)
            rc = GO_ENOMEM;
        else {
            roots.ranges = nr;
            roots.capranges = cap;
        }
    }
    if (rc == 0)
        roots.ranges[roots.nranges++] = (root_range){start, len};
    gort_rt_lock_release(&roots.lock);
    if (rc == 0)
        gort_gc_shade_range(start, len);
    external_leave(ext);
    return rc;
}

void go_gc_remove_roots(void *start) {
    bool ext = external_enter();
    gort_rt_lock_acquire(&roots.lock);
    for (size_t i = 0; i < roots.nranges; i++)
        if (roots.ranges[i].start == start) {
            gort_gc_shade_range(start, roots.ranges[i].len);
            roots.ranges[i] = roots.ranges[--roots.nranges];
            break;
        }
    gort_rt_lock_release(&roots.lock);
    external_leave(ext);
}
