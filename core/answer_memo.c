/* answer_memo.c -- repeated searches answered by the core (see answer_memo.h). */
#include "hotelmux/answer_memo.h"
#include "hotelmux/gzip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zlib.h>

#include "hotelmux/answer.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/lua_crypto.h"
#include "hotelmux/metrics.h"
#include "hotelmux/ratelimit.h"
#include "hotelmux/redis.h"
#include "hotelmux/worker.h"

#define NBUCKETS (2 * HM_ANSWER_MEMO_MAX)   /* a power of two */
#define SID_HEX 16
/* Rendered answers kept per worker (entry_t.copy): beyond this a served
 * answer is rendered for its request and dropped. With a Zipf-like load
 * the first answers served are the hot ones, which are the ones worth it. */
#define COPY_BUDGET (16u << 20)
/* gzip templates kept per worker (entry_t.gz): one per answer version, kept
 * apart from the copies (a copy dropped for its budget is rendered again
 * from the same version, and its template still fits it). */
#define GZ_BUDGET (16u << 20)

/* One request's answer. Its strings follow it in the same allocation:
 * the lookup key (route \0 currency-mark \0 body), the answer key, prefix
 * and after; so an entry is one malloc and one free. */
typedef struct entry_s {
    struct entry_s *next;
    uint64_t hash;
    const char *key, *answer_key, *prefix, *after;
    size_t klen, answer_klen, prefix_len, after_len;
    int has_after, session_header, handle;
    double live_at, ra_fraction, ra_next, ra_per_s;
    uint64_t ra_min_reads, hits;
    hm_answer_copy_t copy;   /* the answer as last rendered for this entry */
    hm_gzip_template_t gz;   /* the copy's text compressed once per version (its ages apart) */
    uint64_t gz_version;     /* the copy.version it was built from */
} entry_t;

typedef struct ticket_s {
    struct ticket_s *next;
    uint64_t hash;
    const char *auth;
    size_t alen, nlimits;
    double exp;
    hm_memo_limit_t limits[HM_ANSWER_MEMO_LIMITS];
} ticket_t;

struct hm_answer_memo_s {
    entry_t *entries[NBUCKETS];
    ticket_t *tickets[NBUCKETS];
    size_t nentries, ntickets;
    size_t copy_bytes;   /* sum of the entries' copy.len */
    size_t gz_bytes;     /* sum of their gzip templates' sizes */
    double ra_second;    /* the second ra_passes counts in (monotonic, whole) */
    double ra_passes;    /* refresh-ahead passes to the script in it */
};

hm_answer_memo_t *hm_answer_memo_new(void) { return calloc(1, sizeof(hm_answer_memo_t)); }

static size_t gz_len(const entry_t *e)
{
    return e->gz.run_end ? e->gz.run_end[e->gz.nholes] : 0;
}

/* Drop e's gzip template, keeping m->gz_bytes right. */
static void gz_drop(hm_answer_memo_t *m, entry_t *e)
{
    m->gz_bytes -= gz_len(e);
    hm_gzip_template_free(&e->gz);
}

/* Drop e's rendered copy, keeping m->copy_bytes right. */
static void copy_drop(hm_answer_memo_t *m, entry_t *e)
{
    m->copy_bytes -= e->copy.len;
    hm_answer_copy_free(&e->copy);
}

static void entry_free(hm_answer_memo_t *m, entry_t *e)
{
    copy_drop(m, e);
    gz_drop(m, e);
    free(e);
}

static void clear_entries(hm_answer_memo_t *m)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (entry_t *e = m->entries[i], *next; e; e = next) {
            next = e->next;
            entry_free(m, e);
        }
        m->entries[i] = NULL;
    }
    m->nentries = 0;
}

static void clear_tickets(hm_answer_memo_t *m)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (ticket_t *t = m->tickets[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
        m->tickets[i] = NULL;
    }
    m->ntickets = 0;
}

void hm_answer_memo_clear(hm_answer_memo_t *m) { clear_entries(m); }

void hm_answer_memo_free(hm_answer_memo_t *m)
{
    if (m == NULL)
        return;
    clear_entries(m);
    clear_tickets(m);
    free(m);
}

size_t hm_answer_memo_entries(const hm_answer_memo_t *m) { return m->nentries; }
size_t hm_answer_memo_tickets(const hm_answer_memo_t *m) { return m->ntickets; }

/* ---- keys ------------------------------------------------------------------ */

/* The lookup key: route \0 ('-' | '+' currency) \0 body. The mark keeps "no
 * Currency header" apart from an empty one. */
static size_t key_len(size_t rlen, size_t clen, size_t blen) { return rlen + 1 + 1 + clen + 1 + blen; }

static void key_write(char *out, const char *route, size_t rlen, const char *cur, size_t clen,
                      const char *body, size_t blen)
{
    memcpy(out, route, rlen);
    out += rlen;
    *out++ = '\0';
    *out++ = cur ? '+' : '-';
    if (clen)
        memcpy(out, cur, clen);
    out += clen;
    *out++ = '\0';
    if (blen)
        memcpy(out, body, blen);
}

/* Hash of the key without building it (serve has no buffer for it): the
 * parts hashed in turn, each folded into the next. */
static uint64_t key_hash(const char *route, size_t rlen, const char *cur, size_t clen, const char *body,
                         size_t blen)
{
    uint64_t h = hm_hash64(route, rlen);
    h ^= hm_hash64(cur ? cur : "", clen) + (cur ? 0x9e3779b97f4a7c15ULL : 0) + (h << 6) + (h >> 2);
    h ^= hm_hash64(body, blen) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static int key_equal(const entry_t *e, const char *route, size_t rlen, const char *cur, size_t clen,
                     const char *body, size_t blen)
{
    if (e->klen != key_len(rlen, clen, blen))
        return 0;
    const char *k = e->key;
    if (memcmp(k, route, rlen) != 0 || k[rlen] != '\0' || k[rlen + 1] != (cur ? '+' : '-'))
        return 0;
    k += rlen + 2;
    if ((clen && memcmp(k, cur, clen) != 0) || k[clen] != '\0')
        return 0;
    return blen == 0 || memcmp(k + clen + 1, body, blen) == 0;
}

static entry_t **entry_slot(hm_answer_memo_t *m, uint64_t h, const char *route, size_t rlen,
                            const char *cur, size_t clen, const char *body, size_t blen)
{
    entry_t **p = &m->entries[h & (NBUCKETS - 1)];
    while (*p && !((*p)->hash == h && key_equal(*p, route, rlen, cur, clen, body, blen)))
        p = &(*p)->next;
    return p;
}

static ticket_t **ticket_slot(hm_answer_memo_t *m, uint64_t h, const char *auth, size_t alen)
{
    ticket_t **p = &m->tickets[h & (NBUCKETS - 1)];
    while (*p && !((*p)->hash == h && (*p)->alen == alen && memcmp((*p)->auth, auth, alen) == 0))
        p = &(*p)->next;
    return p;
}

/* Copy n bytes to *at and advance it; the copy's start. */
static const char *stash(char **at, const char *s, size_t n)
{
    char *start = *at;
    if (n)
        memcpy(start, s, n);
    start[n] = '\0';
    *at += n + 1;
    return start;
}

/* ---- filling ---------------------------------------------------------------- */

int hm_answer_memo_put(hm_answer_memo_t *m, const char *route, const char *currency, size_t clen,
                       const char *body, size_t blen, const hm_memo_answer_t *a)
{
    if (route == NULL || a == NULL || a->answer_key == NULL || a->prefix == NULL || a->answer_klen == 0)
        return HM_EINVAL;
    size_t rlen = strlen(route), klen = key_len(rlen, clen, blen);
    size_t after_len = a->after ? a->after_len : 0;
    entry_t *e = malloc(sizeof(*e) + klen + 1 + a->answer_klen + 1 + a->prefix_len + 1 + after_len + 1);
    if (e == NULL)
        return HM_ENOMEM;
    uint64_t h = key_hash(route, rlen, currency, clen, body, blen);
    char *at = (char *)(e + 1);
    key_write(at, route, rlen, currency, clen, body, blen);
    e->key = at;
    at += klen + 1;
    e->klen = klen;
    e->answer_key = stash(&at, a->answer_key, a->answer_klen);
    e->answer_klen = a->answer_klen;
    e->prefix = stash(&at, a->prefix, a->prefix_len);
    e->prefix_len = a->prefix_len;
    e->after = stash(&at, a->after ? a->after : "", after_len);
    e->after_len = after_len;
    e->has_after = a->after != NULL;
    e->session_header = a->session_header;
    e->handle = a->handle;
    e->live_at = a->live_at;
    e->ra_fraction = a->ra_fraction;
    e->ra_min_reads = a->ra_min_reads;
    e->ra_per_s = a->ra_per_s;
    e->ra_next = 0;
    e->hits = 0;
    memset(&e->copy, 0, sizeof(e->copy));
    memset(&e->gz, 0, sizeof(e->gz));
    e->gz_version = 0;
    e->hash = h;
    entry_t **p = entry_slot(m, h, route, rlen, currency, clen, body, blen);
    if (*p) {   /* replace */
        e->next = (*p)->next;
        entry_free(m, *p);
        *p = e;
        return HM_OK;
    }
    if (m->nentries >= HM_ANSWER_MEMO_MAX) {
        clear_entries(m);
        p = entry_slot(m, h, route, rlen, currency, clen, body, blen);
    }
    e->next = NULL;
    *p = e;
    m->nentries++;
    return HM_OK;
}

int hm_answer_memo_ticket(hm_answer_memo_t *m, const char *auth, size_t alen, double exp,
                          const hm_memo_limit_t *limits, size_t nlimits)
{
    if (auth == NULL || alen == 0 || nlimits > HM_ANSWER_MEMO_LIMITS || (nlimits && limits == NULL))
        return HM_EINVAL;
    size_t extra = alen + 1;
    for (size_t i = 0; i < nlimits; i++) {
        if (limits[i].key == NULL || !(limits[i].rate > 0) || !(limits[i].burst >= 1))
            return HM_EINVAL;
        extra += limits[i].klen + 1;
    }
    ticket_t *t = malloc(sizeof(*t) + extra);
    if (t == NULL)
        return HM_ENOMEM;
    char *at = (char *)(t + 1);
    t->auth = stash(&at, auth, alen);
    t->alen = alen;
    t->exp = exp;
    t->nlimits = nlimits;
    for (size_t i = 0; i < nlimits; i++) {
        t->limits[i] = limits[i];
        t->limits[i].key = stash(&at, limits[i].key, limits[i].klen);
    }
    t->hash = hm_hash64(auth, alen);
    ticket_t **p = ticket_slot(m, t->hash, auth, alen);
    if (*p) {
        t->next = (*p)->next;
        free(*p);
        *p = t;
        return HM_OK;
    }
    if (m->ntickets >= HM_ANSWER_MEMO_MAX) {
        clear_tickets(m);
        p = ticket_slot(m, t->hash, auth, alen);
    }
    t->next = NULL;
    *p = t;
    m->ntickets++;
    return HM_OK;
}

void hm_answer_memo_drain(hm_answer_memo_t *m, hm_answer_memo_drain_fn fn, void *ud)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        for (entry_t *e = m->entries[i]; e; e = e->next)
            if (e->hits) {
                fn(ud, e->handle, e->hits);
                e->hits = 0;
            }
}

/* ---- serving ---------------------------------------------------------------- */

static hm_series_t *served_series, *passed_series;

static hm_series_t *series(const char *labels)
{
    return hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_answer_memo_total",
                             "Repeated searches the core answered itself (served) or handed "
                             "to their script (passed)", labels);
}

void hm_answer_memo_declare_series(void)
{
    served_series = series("result=\"served\"");
    passed_series = series("result=\"passed\"");
}

static void count(int worker, int served)
{
    hm_series_add(served ? served_series : passed_series, worker, 1);
}

/* The value of header `name` (lower case); *dup = 1 when it is repeated. */
static const char *header(const hm_request_t *req, const char *name, int *dup)
{
    const char *v = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, name) != 0)
            continue;
        if (v)
            *dup = 1;
        v = req->headers[i].value;
    }
    return v;
}

/* gzip: the answer's text compressed once per stored version (a new
 * rendering changes only its ages), each response the request's prefix,
 * the compressed runs and this rendering's ages in stored blocks between
 * them (gzip.h). 1 when sent. */
static int send_gzip(hm_answer_memo_t *m, hm_worker_t *w, hm_conn_t *c, entry_t *e, const hm_header_t *hdrs,
                     size_t nh, const char *prefix, size_t plen)
{
    hm_answer_copy_t *cp = &e->copy;
    if (cp->nholes == SIZE_MAX)
        return 0;
    if (!e->gz.data || e->gz_version != cp->version) {
        gz_drop(m, e);
        if (hm_gzip_template_build(cp->doc, cp->len, cp->holes, cp->nholes, (int)w->cfg->gzip_level, &e->gz) !=
            HM_OK)
            return 0;
        e->gz_version = cp->version;
        m->gz_bytes += gz_len(e);
    }
    if (e->gz.nholes != cp->nholes)
        return 0;   /* not the rendering it was built for (cannot happen for one version) */
    if (!cp->crc_ok) {
        cp->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)cp->doc, (uInt)cp->len);
        cp->crc_op = crc32_combine_gen((z_off_t)cp->len);
        cp->crc_ok = 1;
    }
    hm_buf_t out = HM_BUF_INIT;
    int sent = hm_buf_reserve(&out, gz_len(e) + plen + 64 + cp->nholes * 16) == HM_OK &&
               hm_gzip_template_emit(&e->gz, cp->doc, cp->len, cp->holes, cp->crc, cp->crc_op, prefix, plen,
                                     &out) == HM_OK &&
               hm_conn_respond_gzipped(c, 200, hdrs, nh, out.data, out.len) == HM_OK;
    hm_buf_free(&out);
    return sent;
}

_Static_assert(HM_ANSWER_MEMO_LIMITS <= HM_RATELIMIT_MAX_KEYS, "a ticket's limits are taken at once");

/* The ticket's limits, all allowed (1) or one refused (0): all or none
 * taken, so the script that answers a refusal charges nothing twice. */
static int take_limits(const ticket_t *t, double now)
{
    double retry;
    return hm_ratelimit_take_all(t->limits, t->nlimits, now, &retry, NULL) == 1;
}

/* One more refresh-ahead pass this second, if e's budget allows it. When
 * an expiry time is shared by many answers (entries warmed together) every
 * one of them asks at once; the script would drop all but its budget. */
static int ra_budget(hm_answer_memo_t *m, const entry_t *e, double mono)
{
    if (e->ra_per_s <= 0)
        return 1;
    double second = floor(mono);
    if (second != m->ra_second) {
        m->ra_second = second;
        m->ra_passes = 0;
    }
    if (m->ra_passes >= e->ra_per_s)
        return 0;
    m->ra_passes++;
    return 1;
}

static void pass_free(char *prefix, const char *small)
{
    if (prefix != small)
        free(prefix);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
}

int hm_answer_memo_serve(hm_answer_memo_t *m, hm_worker_t *w, hm_conn_t *c, const hm_request_t *req,
                         const char *route)
{
    if (m->nentries == 0 || m->ntickets == 0 || req->head)
        return 0;
    int dup = 0;
    const char *cur = header(req, "currency", &dup);
    size_t rlen = strlen(route), clen = cur ? strlen(cur) : 0;
    uint64_t h = key_hash(route, rlen, cur, clen, req->body, req->body_len);
    entry_t *e = *entry_slot(m, h, route, rlen, cur, clen, req->body, req->body_len);
    if (e == NULL)
        return 0;
    /* From here on the script would have found its own memo entry: a pass
     * is counted, so a test or a dashboard sees how often the core declines. */
    const char *auth = header(req, "authorization", &dup);
    if (dup || auth == NULL) {
        count(w->id, 0);
        return 0;
    }
    size_t alen = strlen(auth);
    ticket_t *t = *ticket_slot(m, hm_hash64(auth, alen), auth, alen);
    double now = hm_clock_now();
    /* Limits kept in Redis are shared by every node: the script's take
     * yields for the round trip, which this path cannot. */
    if (t == NULL || !(now < t->exp) || !(now < e->live_at) || hm_redis_connected(w->redis)) {
        count(w->id, 0);
        return 0;
    }
    /* The prefix, with a new session id when the entry wants one. */
    char sid[SID_HEX + 1] = "";
    char small[512], *prefix = small;
    size_t plen = e->prefix_len + (e->has_after ? SID_HEX + e->after_len : 0);
    if (plen > sizeof(small) && (prefix = malloc(plen)) == NULL) {
        count(w->id, 0);
        return 0;
    }
    memcpy(prefix, e->prefix, e->prefix_len);
    if (e->has_after) {
        unsigned char raw[SID_HEX / 2];
        if (hm_crypto_random(raw, sizeof(raw)) != HM_OK) {
            if (prefix != small)
                free(prefix);
            count(w->id, 0);
            return 0;
        }
        hex(raw, sizeof(raw), sid);
        sid[SID_HEX] = '\0';
        memcpy(prefix + e->prefix_len, sid, SID_HEX);
        memcpy(prefix + e->prefix_len + SID_HEX, e->after, e->after_len);
    }
    double mono = hm_clock_monotonic();
    uint64_t reads;
    int rendered;
    size_t before = e->copy.len;
    int rc = hm_answer_render_copy(e->answer_key, e->answer_klen, e->ra_fraction, mono, &e->copy, &reads,
                                   &rendered);
    (void)rendered;   /* a new rendering of the same version keeps its template */
    m->copy_bytes = m->copy_bytes - before + e->copy.len;
    if (rc != HM_OK) {
        copy_drop(m, e);   /* gone (expired, invalidated): so are its copy and template */
        gz_drop(m, e);
        pass_free(prefix, small);
        count(w->id, 0);
        return 0;
    }
    /* A part near its expiry in a much-read answer: the script schedules
     * its refresh. Once a second per entry, within the worker's budget;
     * served here in between and beyond it. */
    if (e->copy.expiring && reads >= e->ra_min_reads && mono >= e->ra_next) {
        e->ra_next = mono + 1;
        if (ra_budget(m, e, mono)) {
            pass_free(prefix, small);
            count(w->id, 0);
            return 0;
        }
    }
    /* Limits last: a request the script would have answered anyway must
     * not have been charged twice. */
    if (!take_limits(t, mono)) {
        pass_free(prefix, small);
        count(w->id, 0);
        return 0;
    }
    hm_answer_count(w->id, 1);
    count(w->id, 1);
    e->hits++;
    double seconds = (double)(uv_hrtime() - req->start_ns) / 1e9;
    char cost[32];
    snprintf(cost, sizeof(cost), "%ld", (long)(seconds * 1000));
    hm_header_t hdrs[5] = { { "Content-Type", "application/json" },
                            { "Request-Id", req->id },
                            { "Server-Cost-Milliseconds", cost },
                            { "Session-Id", sid } };
    size_t nh = e->has_after && e->session_header ? 4 : 3;
    char method[16];
    size_t mlen = req->method_len < sizeof(method) - 1 ? req->method_len : sizeof(method) - 1;
    memcpy(method, req->method, mlen);
    method[mlen] = '\0';
    hm_metrics_http_request(w->id, route, method, 200, seconds);
    int sent = 0, negotiated = w->cfg->gzip_level > 0 && e->copy.len >= w->cfg->gzip_min_bytes;
    if (negotiated && hm_conn_wants_gzip(c))
        sent = send_gzip(m, w, c, e, hdrs, nh, prefix, plen);
    if (!sent) {
        if (negotiated)   /* another client would get it gzip'd: say so to caches */
            hdrs[nh++] = (hm_header_t){ "Vary", "Accept-Encoding" };
        hm_conn_respond_prefixed(c, 200, hdrs, nh, prefix, plen, e->copy.doc, e->copy.len);
    }
    pass_free(prefix, small);
    if (m->copy_bytes > COPY_BUDGET)   /* over budget: not kept */
        copy_drop(m, e);
    if (m->gz_bytes > GZ_BUDGET)
        gz_drop(m, e);
    return 1;
}
