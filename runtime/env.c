/* runtime/env.c - configuration from the environment.
 *
 * A bad value is reported with one line naming the variable, and the default
 * is used: a service must not refuse to start over a typo in its environment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/rt.h"

int64_t gort_rt_env_int(const char *name, int64_t def, int64_t min, int64_t max,
                        bool allow_suffix) {
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return def;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    bool ok = errno == 0 && end != s;
    if (ok && allow_suffix && *end != '\0' && end[1] == '\0') {
        int shift = *end == 'K' || *end == 'k'   ? 10
                    : *end == 'M' || *end == 'm' ? 20
                    : *end == 'G' || *end == 'g' ? 30
                                                 : -1;
        if (shift < 0 || v > (INT64_MAX >> shift))
            ok = false;
        else {
            v <<= shift;
            end++;
        }
    }
    if (!ok || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "gort: ignoring %s=%s: expected an integer in [%lld, %lld]%s; using %lld\n",
                name, s, (long long)min, (long long)max, allow_suffix ? " (K, M, G allowed)" : "",
                (long long)def);
        return def;
    }
    return v;
}

int gort_rt_ncpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
