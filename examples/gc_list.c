/* gc_list.c - the collected heap in a few lines.
 *
 * Four tasks each build linked lists of collected nodes, keep the last one
 * alive through a shared registered array, and drop the others. Nodes hold a
 * pointer and a value; a "resource" object with a finalizer hangs off every
 * 1,000th node and counts its own death. At the end the program collects,
 * runs the finalizers and prints the collector's statistics. It shows:
 *   - a go_type listing the pointer fields, go_new, and GO_STORE for every
 *     pointer store into the heap or into shared memory;
 *   - a registered root range (globals are not roots by themselves);
 *   - finalizers, go_gc_collect, go_gc_run_finalizers and go_gc_stats_get.
 * Run it with GORT_DEBUG=gctrace=1 to see one line per cycle.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include <gort.h>

#define TASKS 4
#define LISTS 200
#define LENGTH 5000

typedef struct resource {
    int64_t id;
} resource;

typedef struct node {
    struct node *next;
    resource *res; /* every 1,000th node */
    int64_t value;
} node;

static atomic_int finalized;
static void resource_finalize(void *obj) {
    (void)obj;
    atomic_fetch_add(&finalized, 1);
}

static const go_type resource_type = {"resource", sizeof(resource), 0, NULL, resource_finalize};
static const size_t node_ptrs[] = {offsetof(node, next), offsetof(node, res)};
static const go_type node_type = {"node", sizeof(node), 2, node_ptrs, NULL};

static node *kept[TASKS]; /* registered with go_gc_add_roots: a root */
static atomic_int done;

static node *build(int64_t base) {
    node *head = NULL;
    for (int64_t i = 0; i < LENGTH; i++) {
        node *n = go_new(&node_type);
        if (n == NULL)
            return NULL;
        n->value = base + i;
        GO_STORE(n->next, head);
        if (i % 1000 == 0) {
            resource *r = go_new(&resource_type);
            if (r == NULL)
                return NULL;
            r->id = base + i;
            GO_STORE(n->res, r);
        }
        head = n; /* a local of this task: a plain store */
    }
    return head;
}

static void worker(void *arg) {
    int k = (int)(intptr_t)arg;
    for (int l = 0; l < LISTS; l++) {
        node *list = build((int64_t)l * LENGTH);
        if (list == NULL) {
            fprintf(stderr, "gc_list: out of memory\n");
            break;
        }
        GO_STORE(kept[k], list); /* shared memory: GO_STORE */
    }
    atomic_fetch_add(&done, 1);
}

static int main_task(void *arg) {
    (void)arg;
    if (go_gc_add_roots(kept, sizeof kept) != 0)
        return 1;
    for (int k = 0; k < TASKS; k++)
        go_spawn(worker, (void *)(intptr_t)k);
    while (atomic_load(&done) < TASKS)
        go_yield();

    int64_t sum = 0, length = 0;
    for (node *n = kept[0]; n != NULL; n = n->next) {
        sum += n->value;
        length++;
    }
    go_gc_collect();
    go_gc_run_finalizers();

    go_gc_stats st;
    go_gc_stats_get(&st);
    printf("kept list: %" PRId64 " nodes, sum %" PRId64 "\n", length, sum);
    printf("allocated %.1f MB in %d lists, %" PRIu64 " cycles, live %.2f MB, longest pause "
           "%.3f ms\n",
           (double)st.bytes_allocated / 1048576.0, TASKS * LISTS, st.cycles,
           (double)st.heap_live / 1048576.0, (double)st.pause_max_ns / 1e6);
    printf("finalized %d of %d resources (those of the %d kept lists stay alive)\n",
           atomic_load(&finalized), TASKS * LISTS * (LENGTH / 1000), TASKS);
    go_gc_remove_roots(kept);
    return length == LENGTH && sum == (int64_t)(LISTS - 1) * LENGTH * LENGTH +
                                          (int64_t)LENGTH * (LENGTH - 1) / 2
               ? 0
               : 1;
}

int main(void) {
    return go_main(main_task, NULL);
}
