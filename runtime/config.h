/* runtime/config.h - the effective configuration of a runtime start. */
#ifndef GORT_RUNTIME_CONFIG_H
#define GORT_RUNTIME_CONFIG_H

#include <stddef.h>

#include "runtime/rt.h"

typedef struct gort_rt_config {
    int workers;         /* >= 1 */
    size_t stack_size;   /* whole pages */
    int gc_percent;      /* -1: no automatic cycles */
    size_t memory_limit; /* soft; 0: none */
    size_t heap_limit;   /* hard; 0: none */
} gort_rt_config;

/* Fills out from cfg (NULL: all defaults), the environment and the defaults.
 * Returns 0, or GO_EINVAL for a bad value in cfg itself. */
int gort_rt_config_resolve(const go_config *cfg, gort_rt_config *out);

#endif
