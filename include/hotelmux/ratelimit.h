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
/* Forget every key (tests, shutdown). */
void hm_ratelimit_reset(void);

#endif
