/* gort.h - the public API of gort, the Go runtime model for C programs.
 *
 * This umbrella header is the only thing users include. Every public name
 * starts with go_ (functions, types) or GO_ (macros, constants). Functions that
 * can fail return int: 0 (or a non-negative count) on success, a negative
 * GO_Exxx code otherwise; go_strerror() names any code.
 *
 * Which calls are allowed from which thread is stated per function in
 * docs/api.md (and docs/embedding.md once attached threads exist).
 */
#ifndef GORT_H
#define GORT_H

#include "gort/error.h"
#include "gort/task.h"
#include "gort/gc.h"
#include "gort/chan.h"
#include "gort/sync.h"

#endif
