/* answer.c -- the answer level's lookup (see answer.h). */
#include "hotelmux/answer.h"

#include <stdlib.h>
#include <string.h>

#include "hotelmux/agedoc.h"
#include "hotelmux/cache.h"
#include "hotelmux/common.h"
#include "hotelmux/metrics.h"

typedef struct {
    const char *prefix;
    size_t plen;
    double now, fraction;
    int want_head;
    hm_answer_t *out;
} visit_t;

/* v rendered `elapsed` seconds after it was stored, after prefix, into a
 * new buffer (*out, the caller's on HM_OK). Under the shard lock: malloc
 * and copy only. */
static int render_new(const hm_cache_view_t *v, double elapsed, const char *prefix, size_t plen, char **out,
                      size_t *len, hm_agedoc_info_t *info, hm_agedoc_hole_fn hole, void *ud)
{
    size_t cap = HM_AGEDOC_RENDER_MAX(plen, v->len);
    char *body = malloc(cap + 1);
    if (body == NULL)
        return HM_ENOMEM;
    ssize_t n = hm_agedoc_render_holes(v->data, v->len, elapsed, prefix, plen, body, cap, info, hole, ud);
    if (n < 0) {
        free(body);
        return (int)n;
    }
    *out = body;
    *len = (size_t)n;
    return HM_OK;
}

static int visit(void *ud, const hm_cache_view_t *v)
{
    visit_t *a = ud;
    hm_answer_t *o = a->out;
    double elapsed = a->now - v->stored_at;
    hm_agedoc_info_t info;
    int rc = render_new(v, elapsed, a->prefix, a->plen, &o->body, &o->len, &info, NULL, NULL);
    if (rc != HM_OK)
        return rc;
    o->age = elapsed > 0 ? elapsed : 0;
    o->reads = v->reads;
    o->expiring = a->fraction > 0 && info.min_left_fraction < a->fraction;
    if (o->expiring && a->want_head && (o->head = malloc(info.head_len)) != NULL) {
        memcpy(o->head, v->data, info.head_len);
        o->head_len = info.head_len;
    }
    return HM_OK;
}

int hm_answer_render(const char *key, size_t klen, const char *prefix, size_t plen, double fraction,
                     int want_head, double now, hm_answer_t *out)
{
    memset(out, 0, sizeof(*out));
    visit_t a = { prefix, plen, now, fraction, want_head, out };
    return hm_cache_visit(key, klen, now, visit, &a);
}

typedef struct {
    double now, fraction;
    hm_answer_copy_t *copy;
    uint64_t reads;
    int rendered;
} copy_visit_t;

/* Where a rendering's numbers went, kept with the copy (gzip.h templates). */
static void copy_hole(void *ud, size_t off, size_t len)
{
    hm_answer_copy_t *c = ud;
    if (c->nholes == c->holes_cap) {
        size_t cap = c->holes_cap ? c->holes_cap * 2 : 32;
        hm_gzip_hole_t *h = realloc(c->holes, cap * sizeof(*h));
        if (h == NULL) {
            c->nholes = SIZE_MAX;   /* lost track: no template for this rendering */
            return;
        }
        c->holes = h;
        c->holes_cap = cap;
    }
    if (c->nholes != SIZE_MAX)
        c->holes[c->nholes++] = (hm_gzip_hole_t){ off, len };
}

/* Under the shard lock, like visit(): a reuse is a comparison, a render
 * one malloc and one pass. */
static int visit_copy(void *ud, const hm_cache_view_t *v)
{
    copy_visit_t *a = ud;
    hm_answer_copy_t *c = a->copy;
    a->reads = v->reads;
    if (c->doc && c->version == v->version && a->now < c->until)
        return HM_OK;
    char *doc = NULL;
    size_t len = 0;
    hm_agedoc_info_t info;
    c->nholes = 0;
    c->crc_ok = 0;
    int rc = render_new(v, a->now - v->stored_at, "", 0, &doc, &len, &info, copy_hole, c);
    if (rc != HM_OK)
        return rc;
    free(c->doc);
    c->doc = doc;
    c->len = len;
    c->version = v->version;
    c->until = a->now + info.stable_for;
    c->expiring = a->fraction > 0 && info.min_left_fraction < a->fraction;
    a->rendered = 1;
    return HM_OK;
}

int hm_answer_render_copy(const char *key, size_t klen, double fraction, double now, hm_answer_copy_t *copy,
                          uint64_t *reads, int *rendered)
{
    copy_visit_t a = { now, fraction, copy, 0, 0 };
    int rc = hm_cache_visit(key, klen, now, visit_copy, &a);
    *reads = a.reads;
    *rendered = a.rendered;
    return rc;
}

void hm_answer_copy_free(hm_answer_copy_t *copy)
{
    free(copy->doc);
    free(copy->holes);
    memset(copy, 0, sizeof(*copy));
}

static hm_series_t *series(int hit)
{
    return hm_metrics_series(HM_METRIC_COUNTER, HM_CACHE_LOOKUPS_FAMILY, HM_CACHE_LOOKUPS_HELP,
                             hit ? "level=\"answer\",result=\"hit\"" : "level=\"answer\",result=\"miss\"");
}

static hm_series_t *hits, *misses;

void hm_answer_declare_series(void)
{
    hits = series(1);
    misses = series(0);
}

void hm_answer_count(int worker, int hit)
{
    hm_series_add(hit ? hits : misses, worker, 1);
}
