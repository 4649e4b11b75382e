/* crash_chan_close_closed.c - closing a channel twice is fatal, as Go's
 * "close of closed channel" panic (include/gort/chan.h, DESIGN.md section 6).
 *
 *   crash_chan_close_closed            a buffered channel, holding a value
 *   crash_chan_close_closed unbuffered an unbuffered channel with a receiver
 *                                      that the first close woke
 *
 * Expected: "gort: fatal: close of closed channel ..." on stderr, then
 * SIGABRT (registered in crash_tests.cmake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"

static int _Atomic receiver_done;

static void receiver(void *arg) {
    go_chan *c = arg;
    long v;
    int rc = go_chan_recv(c, &v);
    fprintf(stderr, "receiver woke with %s\n", go_strerror(rc));
    receiver_done = 1;
}

static int main_task(void *arg) {
    int unbuffered = arg != NULL;
    go_chan *c = go_chan_new(sizeof(long), unbuffered ? 0 : 2);
    if (c == NULL) {
        printf("go_chan_new failed\n");
        return 1;
    }
    if (unbuffered) {
        if (go_spawn(receiver, c) != 0) {
            printf("go_spawn failed\n");
            return 1;
        }
        go_sleep(10 * 1000 * 1000);
    } else {
        long v = 7;
        go_chan_send(c, &v);
    }
    go_chan_close(c);
    fprintf(stderr, "first close returned\n");
    while (unbuffered && !receiver_done)
        go_sleep(1000 * 1000);
    go_chan_close(c); /* fatal */
    printf("the second close returned: the runtime did not abort\n");
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv) {
    int unbuffered = argc > 1 && strcmp(argv[1], "unbuffered") == 0;
    setenv("GORT_MAXPROCS", "2", 1);
    int rc = go_main(main_task, unbuffered ? (void *)1 : NULL);
    printf("go_main returned %d: the runtime did not abort\n", rc);
    return 1;
}
