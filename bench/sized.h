/* bench/sized.h - main() of the calibrated gort benchmarks (pingpong, select,
 * chanbuf, mutex): inside go_main, one round sized by bench_run_sized, then
 * the result line
 *     name=<name> impl=gort metric=<ns per op> unit=<unit> procs=<workers>
 *         <count_key>=<ops> [<extra_key>=<extra_value>]
 * Apart from bench.h, which the Boehm-GC twins include without gort.
 */
#ifndef GORT_BENCH_SIZED_H
#define GORT_BENCH_SIZED_H

#include "bench.h"
#include "gort.h"

typedef struct bench_sized {
    const char *name;                   /* name= of the line; bench_<name> in messages */
    const char *env;                    /* the variable that fixes n */
    long probe_n, lo, hi;               /* bench_run_sized's calibration */
    int (*round)(long n, uint64_t *ns); /* as for bench_run_sized */
    long ops_per_n;                     /* operations counted per iteration */
    const char *unit;                   /* of the metric: elapsed ns per operation */
    const char *count_key;              /* the key of the operation count */
    const char *extra_key;              /* one more integer field, or NULL */
    long extra_value;
} bench_sized;

static struct {
    long n;
    uint64_t elapsed_ns;
    int procs;
} bench_sized_result;

static int bench_sized_task(void *arg) {
    const bench_sized *b = arg;
    if (bench_run_sized(b->env, b->probe_n, b->lo, b->hi, b->round, &bench_sized_result.n,
                        &bench_sized_result.elapsed_ns) != 0)
        return 1;
    bench_sized_result.procs = go_workers();
    return 0;
}

/* Returns main's exit status: 0, 1 for a wrong result, 2 if go_main failed. */
static inline int bench_sized_main(const bench_sized *b) {
    int rc = go_main(bench_sized_task, (void *)b);
    if (rc < 0) {
        fprintf(stderr, "bench_%s: go_main: %s\n", b->name, go_strerror(rc));
        return 2;
    }
    if (rc != 0)
        return 1;
    long ops = b->ops_per_n * bench_sized_result.n;
    printf("name=%s impl=gort metric=%.1f unit=%s procs=%d %s=%ld", b->name,
           (double)bench_sized_result.elapsed_ns / (double)ops, b->unit, bench_sized_result.procs,
           b->count_key, ops);
    if (b->extra_key != NULL)
        printf(" %s=%ld", b->extra_key, b->extra_value);
    printf("\n");
    return 0;
}

#endif
