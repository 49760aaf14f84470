/* agedoc.c -- stored answers whose age fields are filled in when served
 * (see agedoc.h for the format and why). */
#include "hotelmux/agedoc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"

typedef struct {
    double age, ttl;
    int has;
    const char *label;
    size_t label_len;
} part_t;

typedef struct {
    part_t small[64];   /* most answers: no allocation */
    part_t *parts;
    size_t n;
    size_t body;        /* offset of the document */
} head_t;

static void head_free(head_t *h)
{
    if (h->parts != h->small)
        free(h->parts);
}

/* A non-negative decimal ("12", "3.25") in [*p, end); advances *p. Not
 * strtod: the head is not NUL-terminated per line and the locale must not
 * matter. */
static int parse_num(const char **p, const char *end, double *out)
{
    const char *s = *p;
    double v = 0, scale = 0;
    int digits = 0;
    for (; s < end; s++) {
        if (*s >= '0' && *s <= '9') {
            if (scale > 0) {
                scale /= 10;
                v += (*s - '0') * scale;
            } else {
                v = v * 10 + (*s - '0');
            }
            digits++;
        } else if (*s == '.' && scale == 0) {
            scale = 1;
        } else {
            break;
        }
    }
    if (digits == 0 || digits > 30)
        return HM_EINVAL;
    *out = v;
    *p = s;
    return HM_OK;
}

static int parse_head(const char *doc, size_t len, head_t *h)
{
    const char *p = doc, *end = doc + len;
    double n;
    h->parts = h->small;
    h->n = 0;
    if (parse_num(&p, end, &n) != HM_OK || p >= end || *p != '\n' || n > HM_AGEDOC_MAX_PARTS ||
        n != floor(n))
        return HM_EINVAL;
    p++;
    if (n > HM_ARRAY_SIZE(h->small)) {
        h->parts = malloc((size_t)n * sizeof(part_t));
        if (h->parts == NULL)
            return HM_ENOMEM;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        part_t *pt = &h->parts[i];
        double has;
        if (parse_num(&p, end, &pt->age) != HM_OK || p >= end || *p++ != ' ' ||
            parse_num(&p, end, &pt->ttl) != HM_OK || p >= end || *p++ != ' ' ||
            parse_num(&p, end, &has) != HM_OK || has > 1) {
            head_free(h);
            return HM_EINVAL;
        }
        pt->has = has == 1;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || (nl > p && *p != ' ')) {
            head_free(h);
            return HM_EINVAL;
        }
        pt->label = nl > p ? p + 1 : p;
        pt->label_len = (size_t)(nl - pt->label);
        p = nl + 1;
        h->n = i + 1;
    }
    h->body = (size_t)(p - doc);
    return HM_OK;
}

/* Seconds as a whole number, bounded (a stored 1e30 must not overflow the
 * conversion, and any written number stays shorter than its placeholder). */
static long whole(double s)
{
    s = floor(s + 0.5);
    return s > 1e9 ? 1000000000L : s < -1e9 ? -1000000000L : (long)s;
}

/* A part's age and remaining TTL `elapsed` seconds after storing. */
static long age_now(const part_t *pt, double elapsed)
{
    return whole(pt->age + elapsed);
}

static long left_now(const part_t *pt, double elapsed)
{
    return whole(pt->ttl) - age_now(pt, elapsed);
}

static size_t put_long(char *out, long v)
{
    char tmp[24];
    size_t n = 0, k = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    return k;
}

#define MARK_OPEN "\"\\u0001hm-"
#define MARK_CLOSE "\\u0001\""

/* The next MARK_OPEN at or after from, or NULL. Found by its backslash,
 * not by memmem: memmem keys on the leading quote, which is every few bytes
 * of JSON, while a backslash is rare in an answer, and memchr skips the
 * text between at vector speed (memmem was 7 % of a cached search). */
static const char *find_mark(const char *from, const char *start, const char *end)
{
    const size_t open = sizeof(MARK_OPEN) - 1;
    for (const char *b = from + 1; b < end; b++) {
        b = memchr(b, '\\', (size_t)(end - b));
        if (b == NULL || (size_t)(end - b) < open - 1)
            return NULL;
        if (b[-1] != '"' || memcmp(b - 1, MARK_OPEN, open) != 0)   /* b - 1 >= from */
            continue;
        /* The quote must open a string, not be an escaped one inside a
         * supplier's text (an odd run of backslashes before it). */
        const char *q = b - 1;
        while (q > start && q[-1] == '\\')
            q--;
        if (((b - 1) - q) % 2 == 0)
            return b - 1;
    }
    return NULL;
}

/* The placeholder whose name starts at q (after MARK_OPEN): its value in
 * *v and where the text goes on after it, or NULL when it is not one. */
static const char *placeholder(const char *q, const char *end, const head_t *h, double elapsed,
                               const hm_agedoc_info_t *sum, long *v)
{
    if ((size_t)(end - q) >= 7 && memcmp(q, "age:max", 7) == 0) {
        *v = sum->max_age;
        q += 7;
    } else if ((size_t)(end - q) >= 8 && memcmp(q, "left:min", 8) == 0) {
        *v = sum->min_left;
        q += 8;
    } else if ((size_t)(end - q) > 4 && memcmp(q, "age:", 4) == 0) {
        double idx;
        q += 4;
        if (parse_num(&q, end, &idx) != HM_OK || idx < 1 || idx > (double)h->n || idx != floor(idx))
            return NULL;
        *v = age_now(&h->parts[(size_t)idx - 1], elapsed);
    } else {
        return NULL;
    }
    const size_t close = sizeof(MARK_CLOSE) - 1;
    if ((size_t)(end - q) < close || memcmp(q, MARK_CLOSE, close) != 0)
        return NULL;
    return q + close;
}

ssize_t hm_agedoc_render(const char *doc, size_t len, double elapsed, const char *prefix,
                         size_t prefix_len, char *out, size_t cap, hm_agedoc_info_t *info)
{
    return hm_agedoc_render_holes(doc, len, elapsed, prefix, prefix_len, out, cap, info, NULL, NULL);
}

ssize_t hm_agedoc_render_holes(const char *doc, size_t len, double elapsed, const char *prefix,
                               size_t prefix_len, char *out, size_t cap, hm_agedoc_info_t *info,
                               hm_agedoc_hole_fn hole, void *ud)
{
    head_t h;
    int rc = parse_head(doc, len, &h);
    if (rc != HM_OK)
        return rc;
    if (!(elapsed >= 0))
        elapsed = 0;   /* NaN or a clock step back: as stored */
    hm_agedoc_info_t sum = { h.n, 0, 0, 0, 1.0, h.body, 1.0 };
    for (size_t i = 0; i < h.n; i++) {
        const part_t *pt = &h.parts[i];
        /* A part's age reads the same until it rounds to the next second
         * (whole() rounds at .5); a hair early, for the floating point. */
        double x = pt->age + elapsed, next = floor(x + 0.5) + 0.5 - x - 1e-6;
        if (next < sum.stable_for)
            sum.stable_for = next > 0 ? next : 0;
        if (!pt->has)
            continue;
        long age = age_now(pt, elapsed), left = left_now(pt, elapsed);
        if (!sum.any || age > sum.max_age)
            sum.max_age = age;
        if (!sum.any || left < sum.min_left)
            sum.min_left = left;
        double frac = pt->ttl > 0 ? (pt->ttl - pt->age - elapsed) / pt->ttl : 0;
        if (frac < sum.min_left_fraction)
            sum.min_left_fraction = frac;
        sum.any = 1;
    }
    if (sum.min_left < 0)
        sum.min_left = 0;
    if (prefix_len + (len - h.body) > cap) {
        head_free(&h);
        return HM_ELIMIT;
    }
    char *o = out;
    memcpy(o, prefix, prefix_len);
    o += prefix_len;
    const char *p = doc + h.body, *end = doc + len;
    const size_t open = sizeof(MARK_OPEN) - 1;
    for (const char *from = p;;) {
        const char *m = find_mark(from, doc + h.body, end);
        if (m == NULL)
            break;
        memcpy(o, p, (size_t)(m - p));
        o += m - p;
        long v;
        const char *q = placeholder(m + open, end, &h, elapsed, &sum, &v);
        if (q == NULL) {
            /* Not one of ours (say a supplier's room name that happens to
             * start like one): copied as it is, never an error. */
            memcpy(o, m, open);
            o += open;
            p = from = m + open;
            continue;
        }
        size_t wrote = put_long(o, v);
        if (hole)
            hole(ud, (size_t)(o - out) - prefix_len, wrote);
        o += wrote;
        p = from = q;
    }
    head_free(&h);
    memcpy(o, p, (size_t)(end - p));
    o += end - p;
    if (info)
        *info = sum;
    return o - out;
}

int hm_agedoc_expiring(const char *doc, size_t len, double elapsed, double fraction,
                       hm_agedoc_part_fn fn, void *ud)
{
    head_t h;
    int rc = parse_head(doc, len, &h);
    if (rc != HM_OK)
        return rc;
    int n = 0;
    for (size_t i = 0; i < h.n; i++) {
        const part_t *pt = &h.parts[i];
        if (pt->has && pt->ttl > 0 && pt->ttl - pt->age - elapsed < fraction * pt->ttl) {
            fn(ud, pt->label, pt->label_len);
            n++;
        }
    }
    head_free(&h);
    return n;
}
