/* crash_chan_close_null.c - closing the NULL channel is fatal, as Go's
 * "close of nil channel" panic (include/gort/chan.h, DESIGN.md section 6).
 *
 * Expected: "gort: fatal: close of nil channel ..." on stderr, then SIGABRT
 * (registered in crash_tests.cmake). */
#include <stdio.h>
#include <stdlib.h>

#include "gort.h"

static int main_task(void *arg) {
    (void)arg;
    go_chan_close(NULL); /* fatal */
    printf("go_chan_close(NULL) returned: the runtime did not abort\n");
    fflush(stdout);
    return 1;
}

int main(void) {
    setenv("GORT_MAXPROCS", "1", 1);
    int rc = go_main(main_task, NULL);
    printf("go_main returned %d: the runtime did not abort\n", rc);
    return 1;
}
