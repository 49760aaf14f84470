/* answer_memo.h -- repeated searches answered by the core without Lua.
 *
 * A repeated search is answered from a stored answer (answer.h) that the
 * core renders, yet running its script around that still cost more than
 * the render: the request table, the ticket and limit checks, the script's
 * memo lookup, the response table (~50k instructions of a ~52k search).
 * This is Varnish's step before VCL. The script (api/search.lua) tells the
 * core, per worker:
 *   - "this exact request (route, Currency header, body) is answered by the
 *     stored answer K after prefix P, while the stay is not live yet", and
 *   - the tickets it has verified, with each one's expiry and the limits
 *     of its app;
 * and the core answers such a request itself: a known, unexpired ticket,
 * its limits taken, the answer rendered, the headers the script would set.
 *
 * Anything less plain passes the request on to the script unchanged: an
 * unknown or expired ticket, a limit that refuses (the script answers the
 * 429), limits kept in Redis (cluster-wide: the script's call yields), the
 * stored answer gone, a part due for refresh-ahead (once a second per
 * entry, so the script can schedule it), a repeated Authorization or
 * Currency header. So the memo decides nothing the script would not; it
 * only skips running it. One cost of that: when a later limit refuses
 * after an earlier one allowed, the script takes the earlier one again.
 *
 * Owned by its vm (one per worker and generation): a reload starts empty.
 * Each table is emptied when full, as the script's own memo is. Not thread
 * safe: only the vm's worker thread uses it. */
#ifndef HM_ANSWER_MEMO_H
#define HM_ANSWER_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "hotelmux/http_conn.h"
#include "hotelmux/ratelimit.h"

struct hm_worker_s;
typedef struct hm_answer_memo_s hm_answer_memo_t;

/* Most entries / tickets a memo keeps before it starts over. */
#define HM_ANSWER_MEMO_MAX 4096
/* Most limits one ticket's app is checked against. */
#define HM_ANSWER_MEMO_LIMITS 4

/* A limit as hm.limit.take sees it (key, requests per second, burst). */
typedef hm_ratelimit_key_t hm_memo_limit_t;

/* How one request is answered. */
typedef struct {
    const char *answer_key;   /* the stored answer's cache key */
    size_t answer_klen;
    const char *prefix;       /* what comes before the answer, up to the session id */
    size_t prefix_len;
    const char *after;        /* non-NULL: a new random session id (16 hex digits) goes
                               * between prefix and after; NULL: prefix is the whole */
    size_t after_len;
    int session_header;       /* the new session id is also sent as Session-Id */
    double live_at;           /* wall clock (hm_clock_now): served only before it */
    double ra_fraction;       /* refresh-ahead: a part with less than this fraction of
                               * its TTL left ... */
    uint64_t ra_min_reads;    /* ... in an answer read this often passes to the script */
    double ra_per_s;          /* at most this many such passes a second in this worker
                               * (the script's refresh budget; more would be dropped
                               * there after a needless trip); 0: no bound */
    int handle;               /* the script's id for the entry (hm_answer_memo_drain) */
} hm_memo_answer_t;

hm_answer_memo_t *hm_answer_memo_new(void);
void hm_answer_memo_free(hm_answer_memo_t *m);   /* NULL is fine */

/* Add or replace the entry for (route, currency, body); currency NULL means
 * the request has no Currency header. HM_OK, HM_EINVAL, HM_ENOMEM. */
int hm_answer_memo_put(hm_answer_memo_t *m, const char *route, const char *currency, size_t clen,
                       const char *body, size_t blen, const hm_memo_answer_t *a);

/* Remember a verified ticket: the exact Authorization header, its expiry
 * (wall clock) and its app's limits. HM_OK, HM_EINVAL, HM_ENOMEM. */
int hm_answer_memo_ticket(hm_answer_memo_t *m, const char *auth, size_t alen, double exp,
                          const hm_memo_limit_t *limits, size_t nlimits);

/* Answer req on c when the memo can (1), else leave it untouched (0).
 * route is the pattern the request matched. */
int hm_answer_memo_serve(hm_answer_memo_t *m, struct hm_worker_s *w, hm_conn_t *c,
                         const hm_request_t *req, const char *route);

/* Call fn(ud, handle, hits) for each entry served since the last drain
 * (the script counts them as searches of their hotels) and reset them. */
typedef void (*hm_answer_memo_drain_fn)(void *ud, int handle, uint64_t hits);
void hm_answer_memo_drain(hm_answer_memo_t *m, hm_answer_memo_drain_fn fn, void *ud);

/* Create hotelmux_answer_memo_total{result} at 0 (before any worker serves). */
void hm_answer_memo_declare_series(void);

/* Forget every entry (the tickets stay: they do not depend on the entries). */
void hm_answer_memo_clear(hm_answer_memo_t *m);
size_t hm_answer_memo_entries(const hm_answer_memo_t *m);
size_t hm_answer_memo_tickets(const hm_answer_memo_t *m);

#endif
