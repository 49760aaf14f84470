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

#endif
