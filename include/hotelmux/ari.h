/* ari.h -- the ARI rules (DESIGN §5), decided in C so no script can change them.
 *
 * 1. A request on an ARI path (checkAvail, book, queryOrders, cancel) never
 *    reads or writes any cache level: its task is marked `ari` when it starts
 *    (and fan-out jobs inherit the mark), and hm.cache refuses it, counting
 *    hotelmux_ari_cache_refusals_total.
 * 2. A search whose check-in is less than 3 hours away is live.
 * 3. A policy TTL is clamped: <= 300 s; <= 60 s for a supplier without
 *    webhooks; anything else (0, negative, NaN, not a number, an error)
 *    means "do not cache". */
#ifndef HM_ARI_H
#define HM_ARI_H

#include <stddef.h>

#define HM_ARI_MAX_TTL 300.0
#define HM_ARI_MAX_TTL_NO_WEBHOOKS 60.0
#define HM_ARI_LIVE_WINDOW (3 * 3600.0)

/* 1 when the path is an ARI path of the client API. */
int hm_ari_path(const char *path, size_t len);

/* The TTL actually allowed for a search entry: 0 = do not cache. `ttl` is
 * what the policy returned (`valid` = 0 when it was not a number or raised). */
double hm_ari_clamp_ttl(int valid, double ttl, int supplier_has_webhooks);

/* Seconds from `now` (epoch) to the earliest plausible check-in moment of a
 * stay starting on `date` ("YYYY-MM-DD"): noon hotel time, in the earliest
 * time zone (UTC+14) unless the hotel's offset is known. -1e18 when the date
 * is unreadable (the caller must then treat the search as live). */
double hm_ari_seconds_to_checkin(const char *date, double now, int have_offset, double utc_offset_hours);

/* Count one refusal (rule 1) for the worker. */
/* Create the refusal series at 0 (so alert rules see them before the first). */
void hm_ari_declare_series(void);
void hm_ari_count_refusal(int worker, const char *what);

#endif
