/* sched/chan.h - what the rest of the runtime uses of channels (sched/chan.c). */
#ifndef GORT_SCHED_CHAN_H
#define GORT_SCHED_CHAN_H

#include "gort.h"

/* go_chan_try_send and go_chan_try_recv for the runtime's own use (timers
 * firing on a worker's scheduler, a timer's stop under its lock): no
 * safepoint, no implicit section. c must not be NULL. */
int gort_chan_offer(go_chan *c, const void *elem);
int gort_chan_take(go_chan *c, void *elem);

#endif
