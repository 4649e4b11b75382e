/* pipeline.c - channels, select, timers and locks together.
 *
 * A generator task sends the numbers 2..N on an unbuffered channel into a
 * chain of filter tasks, Go's concurrent prime sieve: each filter keeps the
 * first number it receives (a prime) and passes on what that prime does not
 * divide. The main task reads the primes off the end of the chain with a
 * select that also watches a ticker (it prints progress every 20 ms) and a
 * deadline from go_after. A pool of workers then sums the squares of the
 * primes: jobs go out on a buffered channel, results are added under a
 * go_mutex, and a go_waitgroup says when the pool is done. The program checks
 * its results (the count of primes below N, the sum against a sequential one)
 * and exits non-zero if one is wrong.
 */
#include <inttypes.h>
#include <stdio.h>

#include <gort.h>

#define LIMIT 10000 /* primes below this: there are 1229 */
#define WORKERS 8

typedef struct filter_arg {
    go_chan *in;
    go_chan *out;
    int64_t prime;
} filter_arg;

/* A collected object: the type lists its pointer fields. */
static const size_t filter_ptrs[] = {offsetof(filter_arg, in), offsetof(filter_arg, out)};
static const go_type filter_type = {
    .name = "filter_arg", .size = sizeof(filter_arg), .nptrs = 2, .ptr_offsets = filter_ptrs};

static void generate(void *arg) {
    go_chan *out = arg;
    for (int64_t i = 2; i < LIMIT; i++)
        go_chan_send(out, &i);
    go_chan_close(out);
}

/* Passes on what its prime does not divide; closes its output when its
 * input closes, so that the close travels down the chain. */
static void filter(void *arg) {
    filter_arg *f = arg;
    go_chan *in = f->in, *out = f->out;
    int64_t prime = f->prime, v;
    while (go_chan_recv(in, &v) == 0)
        if (v % prime != 0)
            go_chan_send(out, &v);
    go_chan_close(out);
}

typedef struct pool {
    go_mutex lock;
    int64_t sum; /* under lock */
    go_waitgroup done;
} pool;

static pool the_pool; /* zeroed: the mutex and the wait group are ready */

static void square_worker(void *arg) {
    go_chan *jobs = arg;
    int64_t p;
    while (go_chan_recv(jobs, &p) == 0) {
        go_mutex_lock(&the_pool.lock);
        the_pool.sum += p * p;
        go_mutex_unlock(&the_pool.lock);
    }
    go_waitgroup_done(&the_pool.done);
}

static int64_t primes[LIMIT];

static int sieve(void) {
    go_chan *stage = go_chan_new_noscan(sizeof(int64_t), 0);
    go_spawn(generate, stage);
    go_timer *ticker = go_timer_new(20 * 1000000, 20 * 1000000);
    go_chan *deadline = go_after((int64_t)60 * 1000000000);
    int nprimes = 0;
    for (;;) {
        int64_t v, now;
        go_case cases[] = {
            {.chan = stage, .dir = GO_RECV, .elem = &v},
            {.chan = go_timer_chan(ticker), .dir = GO_RECV, .elem = &now},
            {.chan = deadline, .dir = GO_RECV, .elem = &now},
        };
        int k = go_select(cases, 3, GO_FOREVER);
        if (k == 1) {
            printf("pipeline: %d primes so far\n", nprimes);
            continue;
        }
        if (k == 2) {
            fprintf(stderr, "pipeline: the sieve did not finish within 60 s\n");
            return -1;
        }
        if (cases[0].result == GO_ECLOSED)
            break; /* the generator finished and every filter closed */
        /* The first value out of the chain is a prime: add its filter. */
        primes[nprimes++] = v;
        filter_arg *f = go_new(&filter_type);
        go_chan *next = go_chan_new_noscan(sizeof(int64_t), 0);
        if (f == NULL || next == NULL)
            return -1;
        GO_STORE(f->in, stage);
        GO_STORE(f->out, next);
        f->prime = v;
        go_spawn(filter, f);
        stage = next;
    }
    go_timer_stop(ticker);
    return nprimes;
}

static int main_task(void *arg) {
    (void)arg;
    int nprimes = sieve();
    if (nprimes != 1229) {
        fprintf(stderr, "pipeline: %d primes below %d, expected 1229\n", nprimes, LIMIT);
        return 1;
    }
    /* The pool: a buffered channel of jobs, a mutex, a wait group. */
    go_chan *jobs = go_chan_new_noscan(sizeof(int64_t), 64);
    go_waitgroup_add(&the_pool.done, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        go_spawn(square_worker, jobs);
    int64_t want = 0;
    for (int i = 0; i < nprimes; i++) {
        go_chan_send(jobs, &primes[i]);
        want += primes[i] * primes[i];
    }
    go_chan_close(jobs); /* the workers drain the buffer, then see the close */
    go_waitgroup_wait(&the_pool.done);
    printf("pipeline: %d primes below %d, sum of squares %" PRId64 "\n", nprimes, LIMIT,
           the_pool.sum);
    if (the_pool.sum != want) {
        fprintf(stderr, "pipeline: sum of squares %" PRId64 ", expected %" PRId64 "\n",
                the_pool.sum, want);
        return 1;
    }
    return 0;
}

int main(void) {
    return go_main(main_task, NULL);
}
