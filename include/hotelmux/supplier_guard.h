/* supplier_guard.h -- per-supplier circuit breaker and outbound rate limit.
 *
 * Shared by every worker (one mutex-protected record per supplier name), so
 * a supplier's QPS allowance and its health are the same for the whole
 * process. The fan-out asks admit() before calling a connector and reports
 * the outcome after.
 *
 * Breaker: a ring of the last `window` outcomes. It opens when at least
 * `min_calls` are in the ring and the failure share (errors and timeouts)
 * reaches `failure_ratio`; after `open_seconds` one probe is let through
 * (half-open): success closes it, failure opens it again.
 * Rate limit: a token bucket of `qps` tokens per second (burst = qps, at
 * least 1); a throttle answer from the supplier blocks calls until its
 * retry-after (default 1 s) has passed. */
#ifndef HM_SUPPLIER_GUARD_H
#define HM_SUPPLIER_GUARD_H

#include "hotelmux/buf.h"

typedef enum { HM_GUARD_OK = 0, HM_GUARD_THROTTLED, HM_GUARD_OPEN } hm_guard_verdict_t;
typedef enum { HM_OUTCOME_OK, HM_OUTCOME_ERROR, HM_OUTCOME_TIMEOUT, HM_OUTCOME_THROTTLED } hm_outcome_t;

typedef struct {
    double qps;             /* <= 0: unlimited */
    int window;             /* default 20 */
    int min_calls;          /* default 10 */
    double failure_ratio;   /* default 0.5 */
    double open_seconds;    /* default 5 */
} hm_guard_opts_t;

void hm_guard_opts_default(hm_guard_opts_t *o);

/* now: monotonic seconds (passed in for tests). A probe admitted in half-open
 * state must be followed by hm_guard_record. */
hm_guard_verdict_t hm_guard_admit(const char *supplier, const hm_guard_opts_t *o, double now);
void hm_guard_record(const char *supplier, hm_outcome_t outcome, double retry_after, double now);
/* An admitted call that ended without an outcome (aborted: its caller went
 * away or an enclosing job timed out). Not a health signal either way, but a
 * half-open breaker's probe slot is freed: without this the breaker waited
 * for the lost probe forever and the supplier stayed circuit_open. */
void hm_guard_abandon(const char *supplier);

/* "closed" | "open" | "half_open" (for tests and status). */
const char *hm_guard_state(const char *supplier, double now);
/* Append {"name":{"circuit":..,"calls":..,"failures":..,"throttledFor":..},...} */
int hm_guard_status_json(hm_buf_t *out, double now);
/* Forget every supplier (tests). */
void hm_guard_reset(void);

#endif
