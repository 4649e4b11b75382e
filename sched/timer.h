/* sched/timer.h - the runtime's timers: one heap per worker (sched/timer.c).
 *
 * What channels, select, locks, go_sleep and go_timer build on. An entry is
 * embedded in its owner (a waiting task's frame, a go_timer object) and is
 * linked into at most one worker's heap at a time. Its fire callback runs on a
 * worker's scheduler context, with no runtime lock held, once its time came:
 * it must not park, allocate or reach a safepoint.
 */
#ifndef GORT_SCHED_TIMER_H
#define GORT_SCHED_TIMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gc/gc.h"

typedef struct gort_timer_entry gort_timer_entry;
typedef struct gort_timer_heap gort_timer_heap;
/* seq: the entry's seq when this firing was taken from the heap. */
typedef void (*gort_timer_fire_fn)(gort_timer_entry *e, int64_t now, uint64_t seq);

struct gort_timer_entry {
    int64_t when;   /* go_now() at which it fires */
    int64_t period; /* > 0: re-armed by period after each firing */
    gort_timer_fire_fn fire;
    void *gc_obj;                  /* the collected object that holds the entry, or NULL:
                                      the heaps are roots for it */
    uint64_t seq;                  /* the owner's arming generation, set before adding;
                                      handed to fire, so that the owner can drop
                                      firings of an earlier arming */
    gort_timer_heap *_Atomic heap; /* where it is pending; NULL: nowhere */
    size_t handle;                 /* [heap lock] its handle in the heap */
    uint64_t epoch;                /* [heap lock] the heap's epoch at insertion */
    _Atomic uint32_t running;      /* firings in progress */
};

/* Makes e pending at e->when (absolute, go_now()) in the calling worker's
 * heap, or a worker's chosen in turn from another thread. e must not be
 * pending. While the collector marks, e->gc_obj is shaded (DESIGN.md section 7
 * rule 10). False when no worker runs (the runtime is stopped). */
bool gort_timer_add(gort_timer_entry *e);

/* Removes e if pending: true if it was. With wait, also waits until no
 * firing of e is in progress (for entries that live in a frame about to
 * return); without, a firing may still be running when it returns. */
bool gort_timer_del(gort_timer_entry *e, bool wait);

/* ---- for the scheduler and the collector -------------------------------- */
struct gort_worker;
/* The worker's heap, created at its first start. */
int gort_timers_attach(struct gort_worker *w);
/* Fires every due timer of w's heap; true if one fired. */
bool gort_timers_run(struct gort_worker *w, int64_t now);
/* Fires the timers of other workers overdue by more than grace_ns (their
 * owner sits in a blocking region, or in a long stretch without a
 * safepoint); true if one fired. */
bool gort_timers_take_over(struct gort_worker *self, int64_t now, int64_t grace_ns);
/* Arms w's uv_timer for its earliest timer before w sleeps in uv_run. On w. */
void gort_timers_arm(struct gort_worker *w);
/* The runtime stops: every heap forgets its entries (go_timer objects made
 * before are then stopped; waiting tasks are gone). */
void gort_timers_reset(void);
/* While the world is stopped: reports every pending entry's gc_obj. */
void gort_timers_scan(gort_gc_scanner *s);

#endif
