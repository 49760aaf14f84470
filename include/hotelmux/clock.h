/* clock.h -- the core's clock.
 *
 * Everything that asks "what time is it" for business logic (TTLs, check-in
 * distance, signatures' timestamps) goes through here, so tests can move time
 * with an offset instead of sleeping (the h2o habit of passing the clock in). */
#ifndef HM_CLOCK_H
#define HM_CLOCK_H

/* Wall-clock seconds since the epoch, plus the configured offset. */
double hm_clock_now(void);
/* Monotonic seconds. */
double hm_clock_monotonic(void);
/* Shift hm_clock_now() by `seconds` (tests, HOTELMUX_CLOCK_OFFSET). */
void hm_clock_set_offset(double seconds);
double hm_clock_offset(void);
/* Tests: move both clocks (wall and monotonic) forward by `seconds` (cache
 * TTLs, shared-dict expiry, breaker and rate-limit windows all see it; libuv
 * timers do not). Returns the total advance so far. Reachable only through
 * POST /admin/clock?advance=S when HOTELMUX_TEST_CLOCK=1 is set. */
double hm_clock_advance(double seconds);
double hm_clock_advanced(void);

#endif
