/* ratelimit.h -- rate limits for clients (per appKey, per API class).
 *
 * GCRA (the generic cell rate algorithm): one number per key, the
 * "theoretical arrival time" of the next request. A request at `now` is
 * allowed when now >= tat - (burst - 1) * T, where T = 1/rate; then
 * tat = max(tat, now) + T. With Redis (lua_limit.c) the same algorithm runs
 * as one atomic script shared by all nodes; this file is the in-process
 * version used alone on one node and as the fallback when Redis is down. */
#ifndef HM_RATELIMIT_H
#define HM_RATELIMIT_H

#include <stddef.h>

/* allowed: 1/0; *retry_after: seconds until this request would be allowed. */
int hm_ratelimit_take(const char *key, size_t klen, double rate, double burst, double now,
                      double *retry_after);
/* Several limits at once, all or nothing: allowed (1) takes one request
 * from every key; refused (0) takes from none, with *retry_after for the
 * first refusing key and its index in *refused (may be NULL). A key with
 * rate <= 0 is no limit. HM_EINVAL for more than HM_RATELIMIT_MAX_KEYS. */
#define HM_RATELIMIT_MAX_KEYS 8
typedef struct {
    const char *key;
    size_t klen;
    double rate, burst;
} hm_ratelimit_key_t;
int hm_ratelimit_take_all(const hm_ratelimit_key_t *keys, size_t n, double now, double *retry_after,
                          size_t *refused);

/* Forget every key (tests, shutdown). */
void hm_ratelimit_reset(void);

#endif
