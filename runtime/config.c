/* runtime/config.c - the effective configuration of a runtime start.
 *
 * A field of go_config that is zero falls back to its environment variable,
 * then to the default (API.md). A bad value in the environment is reported
 * with one line naming the variable (runtime/env.c), and the default is used;
 * a bad value in go_config itself is the caller's error (GO_EINVAL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/stack.h"

static int64_t env_gc_percent(void) {
    const char *s = getenv("GORT_GC");
    if (s != NULL && strcmp(s, "off") == 0)
        return -1;
    return gort_rt_env_int("GORT_GC", 100, -1, 1000000, false);
}

int gort_rt_config_resolve(const go_config *cfg, gort_rt_config *out) {
    go_config zero = {0};
    if (cfg == NULL)
        cfg = &zero;
    if (cfg->workers < 0 || cfg->workers > 1024)
        return GO_EINVAL;
    out->workers = cfg->workers != 0
                       ? cfg->workers
                       : (int)gort_rt_env_int("GORT_MAXPROCS", gort_rt_ncpu(), 1, 1024, false);

    size_t def = gort_rt_stack_default_size();
    if (cfg->stack_size != 0) {
        out->stack_size = gort_rt_stack_round_size(cfg->stack_size);
        if (out->stack_size == 0)
            return GO_EINVAL;
    } else {
        out->stack_size = gort_rt_stack_round_size(
            (size_t)gort_rt_env_int("GORT_STACK_SIZE", (int64_t)def, 16 * 1024, 1 << 30, true));
        if (out->stack_size == 0)
            out->stack_size = def;
    }

    out->gc_percent = cfg->gc_percent > 0   ? cfg->gc_percent
                      : cfg->gc_percent < 0 ? -1
                                            : (int)env_gc_percent();
    out->memory_limit = cfg->memory_limit != 0
                            ? cfg->memory_limit
                            : (size_t)gort_rt_env_int("GORT_MEMLIMIT", 0, 0, INT64_MAX, true);
    out->heap_limit = cfg->heap_limit != 0
                          ? cfg->heap_limit
                          : (size_t)gort_rt_env_int("GORT_HEAPLIMIT", 0, 0, INT64_MAX, true);
    return 0;
}
