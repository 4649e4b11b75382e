/* runtime/error.c - error codes and fatal errors.
 *
 * Owns go_strerror and the one-line fatal report of DESIGN.md §6: misuse that
 * Go answers with a panic prints "gort: fatal: ..." and aborts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "runtime/rt.h"

_Static_assert(GO_EAGAIN == UV_EAGAIN, "GO_EAGAIN must equal UV_EAGAIN");
_Static_assert(GO_ENOMEM == UV_ENOMEM, "GO_ENOMEM must equal UV_ENOMEM");
_Static_assert(GO_EBUSY == UV_EBUSY, "GO_EBUSY must equal UV_EBUSY");
_Static_assert(GO_EINVAL == UV_EINVAL, "GO_EINVAL must equal UV_EINVAL");
_Static_assert(GO_ENOSYS == UV_ENOSYS, "GO_ENOSYS must equal UV_ENOSYS");
_Static_assert(GO_ETIMEDOUT == UV_ETIMEDOUT, "GO_ETIMEDOUT must equal UV_ETIMEDOUT");
_Static_assert(GO_ECANCELED == UV_ECANCELED, "GO_ECANCELED must equal UV_ECANCELED");
_Static_assert(GO_ECLOSED < UV_EOF && GO_ECLOSED < UV_EAI_ADDRFAMILY,
               "GO_ECLOSED must lie outside libuv's range");

const char *go_strerror(int err) {
    switch (err) {
    case 0:
        return "success";
    case GO_ECLOSED:
        return "channel closed";
        /* GO_ECANCELED is UV_ECANCELED: libuv's text "operation canceled" also
         * covers "the runtime is not running or is stopping". */
#define GORT_UV_CASE(name, message)                                                                \
    case UV_##name:                                                                                \
        return message;
        UV_ERRNO_MAP(GORT_UV_CASE)
#undef GORT_UV_CASE
    default:
        /* Not uv_strerror: for an unknown code it returns a fresh heap string. */
        return "unknown error";
    }
}

_Noreturn void gort_rt_fatal_raw(const char *line, size_t len) {
    ssize_t r = write(STDERR_FILENO, line, len);
    (void)r;
    abort();
}

_Noreturn void gort_rt_fatal(const char *fmt, ...) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "gort: fatal: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    gort_rt_fatal_raw(buf, len);
}
