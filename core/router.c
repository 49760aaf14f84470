/* router.c -- method + path pattern matching.
 *
 * Routes are few (tens), so a scored linear scan over pre-split patterns is
 * both simple and fast: no allocation per lookup, one pass over the path per
 * route. */
#include "hotelmux/router.h"
#include "hotelmux/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 32

typedef struct {
    const char *text;  /* literal text, or capture name */
    size_t len;
    int capture;       /* 1 = {name} */
} segment_t;

typedef struct {
    char method[16];
    char *pattern;
    char *names;       /* storage for segment texts */
    segment_t seg[MAX_SEGMENTS];
    size_t nseg;
    int wildcard;      /* trailing "*" */
    int handler;
} route_t;

/* What rejects most routes for a path, kept apart from route_t (which is
 * large) in a dense array that a lookup scans: segment count, and the first
 * segment when it is literal. */
typedef struct {
    uint64_t key0;     /* seg_key of the first segment, when lit0 */
    size_t len0;
    size_t nseg;
    int lit0, wildcard;
} route_head_t;

struct hm_router_s {
    route_t *routes;
    route_head_t *heads;
    size_t n, cap;
};

hm_router_t *hm_router_new(void)
{
    return calloc(1, sizeof(hm_router_t));
}

void hm_router_free(hm_router_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
        free(r->routes[i].names);
    }
    free(r->routes);
    free(r->heads);
    free(r);
}

size_t hm_router_count(const hm_router_t *r) { return r->n; }

/* Up to the first 8 bytes of a segment as one number: most routes differ
 * from the request path in their first segment ("api", "sim", "admin"), and
 * one compare (with the length) rejects them. */
static uint64_t seg_key(const char *s, size_t len)
{
    uint64_t k = 0;
    memcpy(&k, s, len < sizeof(k) ? len : sizeof(k));
    return k;
}

static int split_pattern(route_t *rt)
{
    const char *p = rt->pattern;
    if (p[0] != '/')
        return HM_EINVAL;
    rt->names = strdup(p);
    if (rt->names == NULL)
        return HM_ENOMEM;
    char *s = rt->names + 1;
    rt->nseg = 0;
    if (*s == '\0') {
        /* "/" itself: one empty literal segment, as a trailing slash gets */
        rt->seg[rt->nseg].text = s;
        rt->seg[rt->nseg].len = 0;
        rt->nseg++;
    }
    while (*s) {
        char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (rt->wildcard)
            return HM_EINVAL; /* "*" must be last */
        if (len == 1 && s[0] == '*') {
            rt->wildcard = 1;
        } else {
            if (rt->nseg == MAX_SEGMENTS)
                return HM_EINVAL;
            segment_t *sg = &rt->seg[rt->nseg++];
            if (len >= 2 && s[0] == '{' && s[len - 1] == '}') {
                sg->capture = 1;
                sg->text = s + 1;
                sg->len = len - 2;
                if (sg->len == 0 || memchr(sg->text, '{', sg->len) || memchr(sg->text, '}', sg->len))
                    return HM_EINVAL;
                s[len - 1] = '\0'; /* the name is used as a C string (Lua params key) */
            } else {
                if (memchr(s, '{', len) || memchr(s, '}', len) || memchr(s, '*', len))
                    return HM_EINVAL;
                sg->text = s;
                sg->len = len;
            }
        }
        if (end == NULL)
            break;
        *end = '\0';
        s = end + 1;
        if (*s == '\0' && !rt->wildcard) {
            /* trailing slash: an empty literal last segment */
            if (rt->nseg == MAX_SEGMENTS)
                return HM_EINVAL;
            segment_t *sg = &rt->seg[rt->nseg++];
            sg->text = s;
            sg->len = 0;
        }
    }
    size_t ncap = 0;
    for (size_t i = 0; i < rt->nseg; i++)
        ncap += (size_t)rt->seg[i].capture;
    return ncap > HM_ROUTER_MAX_PARAMS ? HM_EINVAL : HM_OK;
}

int hm_router_add(hm_router_t *r, const char *method, const char *pattern, int handler)
{
    size_t mlen = strlen(method);
    if (mlen == 0 || mlen >= sizeof(r->routes[0].method))
        return HM_EINVAL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->routes[i].method, method) == 0 && strcmp(r->routes[i].pattern, pattern) == 0)
            return HM_ELIMIT;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        route_t *nr = realloc(r->routes, cap * sizeof(*nr));
        if (nr == NULL)
            return HM_ENOMEM;
        r->routes = nr;
        route_head_t *nh = realloc(r->heads, cap * sizeof(*nh));
        if (nh == NULL)
            return HM_ENOMEM;
        r->heads = nh;
        r->cap = cap;
    }
    route_t *rt = &r->routes[r->n];
    memset(rt, 0, sizeof(*rt));
    memcpy(rt->method, method, mlen + 1);
    rt->handler = handler;
    rt->pattern = strdup(pattern);
    if (rt->pattern == NULL)
        return HM_ENOMEM;
    int rc = split_pattern(rt);
    if (rc != HM_OK) {
        free(rt->pattern);
        free(rt->names);
        return rc;
    }
    route_head_t *hd = &r->heads[r->n];
    memset(hd, 0, sizeof(*hd));
    hd->nseg = rt->nseg;
    hd->wildcard = rt->wildcard;
    if (rt->nseg > 0 && !rt->seg[0].capture) {
        hd->lit0 = 1;
        hd->len0 = rt->seg[0].len;
        hd->key0 = seg_key(rt->seg[0].text, rt->seg[0].len);
    }
    r->n++;
    return HM_OK;
}

/* A request path cut at its slashes once per lookup, so each route compares
 * segments instead of scanning the path again (with ~80 routes in the demo,
 * rescanning was 9,000 instructions a request). Only the first
 * MAX_SEGMENTS + 1 are kept: a longer path matches no route but a wildcard. */
typedef struct {
    const char *text[MAX_SEGMENTS + 1];
    size_t len[MAX_SEGMENTS + 1];
    size_t n;
    uint64_t key0;     /* seg_key of the first segment */
} path_segs_t;

static int split_path(const char *path, size_t path_len, path_segs_t *ps)
{
    const char *p = path + 1, *end = path + path_len;
    ps->n = 0;
    if (path_len == 0 || path[0] != '/')
        return HM_EINVAL;
    while (p <= end && ps->n < HM_ARRAY_SIZE(ps->text)) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash ? slash : end;
        ps->text[ps->n] = p;
        ps->len[ps->n++] = (size_t)(seg_end - p);
        p = seg_end + 1; /* steps past end after the last segment */
    }
    ps->key0 = seg_key(ps->text[0], ps->len[0]);   /* n >= 1: "/" has one empty segment */
    return HM_OK;
}

/* Match one route against the path; returns a specificity score (higher is
 * better) or -1. Literal segments score 2, captures 1, a wildcard 0. Base-3
 * digits over up to MAX_SEGMENTS + 2 places need 64 bits (3^34 < 2^63). */
static int may_match(const route_head_t *hd, const path_segs_t *ps)
{
    if (hd->nseg > ps->n || (!hd->wildcard && hd->nseg < ps->n))
        return 0;
    return !hd->lit0 || (hd->len0 == ps->len[0] && hd->key0 == ps->key0);
}

static long long match_route(const hm_router_t *r, size_t i_route, const path_segs_t *ps,
                             hm_route_match_t *m)
{
    const route_t *rt = &r->routes[i_route];
    long long score = 1;
    size_t np = 0;
    if (!may_match(&r->heads[i_route], ps))
        return -1;
    for (size_t i = 0; i < rt->nseg; i++) {
        const segment_t *sg = &rt->seg[i];
        size_t len = ps->len[i];
        if (sg->capture) {
            if (len == 0)
                return -1;
            if (m) {
                m->params[np].name = sg->text;
                m->params[np].value = ps->text[i];
                m->params[np].len = len;
            }
            np++;
            score = score * 3 + 1;
        } else {
            if (len != sg->len || memcmp(ps->text[i], sg->text, len) != 0)
                return -1;
            score = score * 3 + 2;
        }
    }
    if (m)
        m->nparams = np;
    return rt->wildcard ? score * 3 : score * 3 + 1;
}

int hm_router_match(const hm_router_t *r, const char *method, size_t method_len, const char *path,
                    size_t path_len, hm_route_match_t *m, char *allow, size_t allow_cap)
{
    long long best = -1;
    int path_matched = 0;
    const route_t *best_rt = NULL;
    size_t best_i = 0;
    path_segs_t ps;
    if (split_path(path, path_len, &ps) != HM_OK)
        return HM_ENOENT;
    for (size_t i = 0; i < r->n; i++) {
        if (!may_match(&r->heads[i], &ps))
            continue;
        const route_t *rt = &r->routes[i];
        long long score = match_route(r, i, &ps, NULL);
        if (score < 0)
            continue;
        path_matched = 1;
        int any = rt->method[0] == '*' && rt->method[1] == '\0';
        int same = strlen(rt->method) == method_len && memcmp(rt->method, method, method_len) == 0;
        /* HEAD is served by a GET route (the server drops the body). */
        int head_get = method_len == 4 && memcmp(method, "HEAD", 4) == 0 &&
                       strcmp(rt->method, "GET") == 0;
        if (!(any || same || head_get))
            continue;
        if (score > best) {
            best = score;
            best_rt = rt;
            best_i = i;
        }
    }
    if (best_rt) {
        match_route(r, best_i, &ps, m);
        m->handler = best_rt->handler;
        m->pattern = best_rt->pattern;
        return HM_OK;
    }
    if (!path_matched)
        return HM_ENOENT;
    if (allow && allow_cap) {
        size_t used = 0;
        allow[0] = '\0';
        for (size_t i = 0; i < r->n; i++) {
            const route_t *rt = &r->routes[i];
            if (match_route(r, i, &ps, NULL) < 0)
                continue;
            size_t ml = strlen(rt->method);
            if (used + ml + 3 >= allow_cap)
                break;
            if (used) {
                memcpy(allow + used, ", ", 2);
                used += 2;
            }
            memcpy(allow + used, rt->method, ml);
            used += ml;
            allow[used] = '\0';
        }
    }
    return HM_ESTATE;
}
