/* common.h -- return codes and small helpers shared by every core module.
 *
 * Like libuv, functions return 0 on success and a negative HM_E* code on
 * failure; the caller checks every return. */
#ifndef HM_COMMON_H
#define HM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define HM_OK        0
#define HM_ENOMEM   -1   /* allocation failed */
#define HM_EINVAL   -2   /* bad argument or malformed input */
#define HM_ENOENT   -3   /* not found */
#define HM_EIO      -4   /* system or library I/O failure */
#define HM_ETIMEDOUT -5  /* deadline passed */
#define HM_ELIMIT   -6   /* a configured limit was exceeded */
#define HM_ESTATE   -7   /* call not allowed in the current state */

/* Upper bound on worker threads; per-worker metric slots are sized by it. */
#define HM_MAX_WORKERS 64

#define HM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HM_UNUSED(x) ((void)(x))

const char *hm_strerror(int code);

/* A fast non-cryptographic 64-bit hash for hash tables (all bits mixed). */
uint64_t hm_hash64(const void *data, size_t n);
/* The value of a hex digit, or -1. */
int hm_hexval(int ch);

#endif
