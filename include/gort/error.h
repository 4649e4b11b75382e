/* gort/error.h - error codes.
 *
 * GO_Exxx equals libuv's UV_Exxx wherever libuv has one (on Linux that is the
 * negated errno value), so a code from either library means the same thing.
 * GO_ECLOSED lies outside libuv's range. runtime/error.c checks the equality
 * at compile time.
 */
#ifndef GORT_ERROR_H
#define GORT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define GO_EAGAIN (-11)     /* UV_EAGAIN: resource temporarily unavailable */
#define GO_ENOMEM (-12)     /* UV_ENOMEM: not enough memory */
#define GO_EBUSY (-16)      /* UV_EBUSY: resource busy (runtime already running) */
#define GO_EINVAL (-22)     /* UV_EINVAL: invalid argument */
#define GO_ENOSYS (-38)     /* UV_ENOSYS: not implemented / not available */
#define GO_ETIMEDOUT (-110) /* UV_ETIMEDOUT: the timeout passed */
#define GO_ECANCELED (-125) /* UV_ECANCELED: the runtime is stopping */
#define GO_ECLOSED (-5001)  /* a channel is closed (outside libuv's range) */

/* A static string naming err: GO_Exxx, UV_Exxx, or "unknown error". */
const char *go_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
