/* roomname.c -- room-name normaliser + similarity model (see roomname.h). */
#include "hotelmux/roomname.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"

/* ---------------------------------------------------------------- lexicon */

enum {
    K_WORD = 0,   /* residual word: kept as a token */
    K_GENERIC,    /* residual word of little weight (floor, corner, ...) */
    K_STOP,       /* dropped */
    K_ROOM,       /* "room": dropped, marks a plain room */
    K_NUM,        /* val = number */
    K_BED,        /* val = HM_BED_* */
    K_BEDWORD,    /* bed, beds */
    K_SOFA,       /* sofa, sofabed, sleeper */
    K_TIER,       /* val = HM_TIER_* */
    K_STANDARD,   /* standard / traditional: default tier */
    K_UNIT,       /* val = HM_UNIT_* */
    K_JUNIOR,     /* junior, jr */
    K_VIEWKIND,   /* val = HM_VIEW_* (needs "view" or "front" nearby) */
    K_VIEWWORD,   /* val = HM_VIEW_*: a view by itself (oceanfront, seaview) */
    K_VIEW,       /* view, views, vw */
    K_FRONT,      /* front */
    K_PARTIAL,    /* partial, partly, side */
    K_ACCESS,     /* accessible and friends */
    K_NON,        /* non, no */
    K_SMOKING,    /* smoking, smoke, smk */
    K_NONSMOKING, /* nonsmoking, nsmk */
    K_RATE,       /* val = HM_RATE_*: stripped */
    K_HALF, K_FULL, K_ALL, K_ONLY,
    K_FEE,        /* fee, charge: strips a preceding "resort"/"no" too */
    K_OCC,        /* guests, adults, persons */
    K_SLEEPS,
    K_BEDROOM,
    K_TOWER,      /* tower, wing, building */
    K_OR
};

typedef struct { const char *w; uint8_t kind; uint32_t val; const char *canon; } lex_t;

/* Sorted by w (strcmp); checked once by the unit tests via lookups. */
static const lex_t LEX[] = {
    {"a", K_STOP, 0, NULL}, {"aaa", K_RATE, HM_RATE_OTHER, NULL},
    {"aarp", K_RATE, HM_RATE_OTHER, NULL}, {"acc", K_ACCESS, 0, NULL},
    {"accessibility", K_ACCESS, 0, NULL}, {"accessible", K_ACCESS, 0, NULL},
    {"ada", K_ACCESS, 0, NULL}, {"adult", K_OCC, 0, NULL}, {"adults", K_OCC, 0, NULL},
    {"advance", K_RATE, HM_RATE_OTHER, NULL}, {"all", K_ALL, 0, NULL},
    {"an", K_STOP, 0, NULL}, {"and", K_STOP, 0, NULL}, {"apartment", K_UNIT, HM_UNIT_APARTMENT, NULL},
    {"apartments", K_UNIT, HM_UNIT_APARTMENT, NULL}, {"apt", K_UNIT, HM_UNIT_APARTMENT, NULL},
    {"at", K_STOP, 0, NULL}, {"bb", K_RATE, HM_RATE_BREAKFAST, NULL},
    {"bdrm", K_BEDROOM, 0, NULL}, {"beach", K_VIEWKIND, HM_VIEW_BEACH, NULL},
    {"beachfront", K_VIEWWORD, HM_VIEW_OCEANFRONT, NULL},
    {"bed", K_BEDWORD, 0, NULL}, {"bedded", K_BEDWORD, 0, NULL},
    {"bedroom", K_BEDROOM, 0, NULL}, {"bedrooms", K_BEDROOM, 0, NULL}, {"beds", K_BEDWORD, 0, NULL}, {"bfast", K_RATE, HM_RATE_BREAKFAST, NULL},
    {"board", K_RATE, HM_RATE_OTHER, NULL}, {"bonus", K_RATE, HM_RATE_OTHER, NULL},
    {"breakfast", K_RATE, HM_RATE_BREAKFAST, NULL}, {"brkfst", K_RATE, HM_RATE_BREAKFAST, NULL},
    {"building", K_TOWER, 0, NULL}, {"bungalow", K_UNIT, HM_UNIT_BUNGALOW, NULL},
    {"bunk", K_BED, HM_BED_BUNK, NULL}, {"business", K_TIER, HM_TIER_BUSINESS, NULL},
    {"cabana", K_UNIT, HM_UNIT_CABANA, NULL}, {"cancellation", K_RATE, HM_RATE_OTHER, NULL},
    {"chalet", K_UNIT, HM_UNIT_CHALET, NULL}, {"charge", K_FEE, 0, NULL},
    {"chg", K_FEE, 0, NULL}, {"city", K_VIEWKIND, HM_VIEW_CITY, NULL},
    {"cityview", K_VIEWWORD, HM_VIEW_CITY, NULL}, {"classic", K_TIER, HM_TIER_CLASSIC, NULL},
    {"club", K_TIER, HM_TIER_CLUB, NULL}, {"comfort", K_TIER, HM_TIER_COMFORT, NULL},
    {"comp", K_RATE, HM_RATE_OTHER, NULL}, {"complimentary", K_RATE, HM_RATE_OTHER, NULL},
    {"corner", K_GENERIC, 0, NULL}, {"cottage", K_UNIT, HM_UNIT_COTTAGE, NULL},
    {"courtyard", K_VIEWKIND, HM_VIEW_COURTYARD, NULL}, {"dbl", K_BED, HM_BED_DOUBLE, NULL},
    {"deal", K_RATE, HM_RATE_OTHER, NULL}, {"delux", K_TIER, HM_TIER_DELUXE, NULL},
    {"deluxe", K_TIER, HM_TIER_DELUXE, NULL}, {"disability", K_ACCESS, 0, NULL},
    {"disabled", K_ACCESS, 0, NULL}, {"discount", K_RATE, HM_RATE_OTHER, NULL},
    {"dlx", K_TIER, HM_TIER_DELUXE, NULL}, {"dorm", K_UNIT, HM_UNIT_DORM, NULL},
    {"dormitory", K_UNIT, HM_UNIT_DORM, NULL}, {"double", K_BED, HM_BED_DOUBLE, NULL},
    {"doubles", K_BED, HM_BED_DOUBLE, NULL}, {"economy", K_TIER, HM_TIER_ECONOMY, NULL},
    {"eight", K_NUM, 8, NULL}, {"exec", K_TIER, HM_TIER_EXECUTIVE, NULL},
    {"executive", K_TIER, HM_TIER_EXECUTIVE, NULL}, {"family", K_UNIT, HM_UNIT_FAMILY, NULL},
    {"fee", K_FEE, 0, NULL}, {"fi", K_RATE, HM_RATE_OTHER, NULL},
    {"five", K_NUM, 5, NULL}, {"flexible", K_RATE, HM_RATE_OTHER, NULL},
    {"floor", K_GENERIC, 0, NULL}, {"floors", K_GENERIC, 0, "floor"}, {"for", K_STOP, 0, NULL},
    {"four", K_NUM, 4, NULL}, {"free", K_RATE, HM_RATE_OTHER, NULL},
    {"front", K_FRONT, 0, NULL}, {"full", K_FULL, 0, NULL},
    {"garden", K_VIEWKIND, HM_VIEW_GARDEN, NULL}, {"golf", K_VIEWKIND, HM_VIEW_GOLF, NULL},
    {"grand", K_TIER, HM_TIER_GRAND, NULL}, {"guest", K_OCC, 0, NULL}, {"guests", K_OCC, 0, NULL},
    {"half", K_HALF, 0, NULL}, {"handicap", K_ACCESS, 0, NULL},
    {"handicapped", K_ACCESS, 0, NULL}, {"harbor", K_VIEWKIND, HM_VIEW_HARBOUR, NULL},
    {"harbour", K_VIEWKIND, HM_VIEW_HARBOUR, NULL}, {"hc", K_ACCESS, 0, NULL},
    {"hearing", K_ACCESS, 0, NULL}, {"high", K_GENERIC, 0, NULL},
    {"in", K_STOP, 0, NULL}, {"incl", K_RATE, HM_RATE_OTHER, NULL},
    {"included", K_RATE, HM_RATE_OTHER, NULL}, {"includes", K_RATE, HM_RATE_OTHER, NULL},
    {"inclusive", K_RATE, HM_RATE_OTHER, NULL}, {"internet", K_RATE, HM_RATE_OTHER, NULL},
    {"jr", K_JUNIOR, 0, NULL}, {"junior", K_JUNIOR, 0, NULL}, {"k", K_BED, HM_BED_KING, NULL},
    {"kg", K_BED, HM_BED_KING, NULL}, {"king", K_BED, HM_BED_KING, NULL},
    {"kings", K_BED, HM_BED_KING, NULL}, {"kng", K_BED, HM_BED_KING, NULL},
    {"lagoon", K_VIEWKIND, HM_VIEW_LAGOON, NULL}, {"lake", K_VIEWKIND, HM_VIEW_LAKE, NULL},
    {"landmark", K_VIEWKIND, HM_VIEW_LANDMARK, NULL}, {"level", K_GENERIC, 0, NULL},
    {"loft", K_UNIT, HM_UNIT_LOFT, NULL},
    /* lounge access is what a club / executive floor room comes with */
    {"lounge", K_TIER, HM_TIER_CLUB, NULL}, {"luxury", K_TIER, HM_TIER_LUXURY, NULL},
    {"member", K_RATE, HM_RATE_OTHER, NULL}, {"membership", K_RATE, HM_RATE_OTHER, NULL},
    {"mobility", K_ACCESS, 0, NULL}, {"mountain", K_VIEWKIND, HM_VIEW_MOUNTAIN, NULL},
    {"mtn", K_VIEWKIND, HM_VIEW_MOUNTAIN, NULL}, {"no", K_NON, 0, NULL},
    {"non", K_NON, 0, NULL}, {"nonrefundable", K_RATE, HM_RATE_NONREFUNDABLE, NULL},
    {"nonsmoking", K_NONSMOKING, 0, NULL}, {"nosmok", K_NONSMOKING, 0, NULL},
    {"nosmoking", K_NONSMOKING, 0, NULL}, {"ns", K_NONSMOKING, 0, NULL},
    {"nsmk", K_NONSMOKING, 0, NULL}, {"ocean", K_VIEWKIND, HM_VIEW_SEA, NULL},
    {"oceanfront", K_VIEWWORD, HM_VIEW_OCEANFRONT, NULL}, {"oceanview", K_VIEWWORD, HM_VIEW_SEA, NULL},
    {"of", K_STOP, 0, NULL}, {"offer", K_RATE, HM_RATE_OTHER, NULL}, {"on", K_STOP, 0, NULL},
    {"one", K_NUM, 1, NULL}, {"only", K_ONLY, 0, NULL}, {"or", K_OR, 0, NULL},
    {"package", K_RATE, HM_RATE_OTHER, NULL}, {"park", K_VIEWKIND, HM_VIEW_PARK, NULL},
    {"parking", K_RATE, HM_RATE_OTHER, NULL}, {"partial", K_PARTIAL, 0, NULL},
    {"partical", K_PARTIAL, 0, NULL}, {"partly", K_PARTIAL, 0, NULL},
    {"pax", K_OCC, 0, NULL}, {"penthouse", K_UNIT, HM_UNIT_PENTHOUSE, NULL},
    {"people", K_OCC, 0, NULL}, {"person", K_OCC, 0, NULL}, {"persons", K_OCC, 0, NULL},
    {"pkg", K_RATE, HM_RATE_OTHER, NULL}, {"points", K_RATE, HM_RATE_OTHER, NULL},
    {"pool", K_VIEWKIND, HM_VIEW_POOL, NULL}, {"premier", K_TIER, HM_TIER_PREMIER, NULL},
    {"premium", K_TIER, HM_TIER_PREMIUM, NULL}, {"prepaid", K_RATE, HM_RATE_OTHER, NULL},
    {"prepay", K_RATE, HM_RATE_OTHER, NULL}, {"presidential", K_UNIT, HM_UNIT_PRESIDENTIAL, NULL},
    {"promo", K_RATE, HM_RATE_OTHER, NULL}, {"promotion", K_RATE, HM_RATE_OTHER, NULL},
    {"q", K_BED, HM_BED_QUEEN, NULL}, {"qn", K_BED, HM_BED_QUEEN, NULL},
    {"queen", K_BED, HM_BED_QUEEN, NULL}, {"queens", K_BED, HM_BED_QUEEN, NULL},
    {"rate", K_RATE, HM_RATE_OTHER, NULL}, {"refundable", K_RATE, HM_RATE_REFUNDABLE, NULL},
    {"resort", K_VIEWKIND, HM_VIEW_RESORT, NULL}, {"river", K_VIEWKIND, HM_VIEW_RIVER, NULL},
    {"rm", K_ROOM, 0, NULL}, {"roll", K_ACCESS, 0, NULL}, {"room", K_ROOM, 0, NULL},
    {"rooms", K_ROOM, 0, NULL}, {"rsrt", K_VIEWKIND, HM_VIEW_RESORT, NULL},
    {"sea", K_VIEWKIND, HM_VIEW_SEA, NULL}, {"seafront", K_VIEWWORD, HM_VIEW_OCEANFRONT, NULL},
    {"seaview", K_VIEWWORD, HM_VIEW_SEA, NULL}, {"seven", K_NUM, 7, NULL},
    {"sgl", K_BED, HM_BED_SINGLE, NULL}, {"side", K_PARTIAL, 0, NULL},
    {"single", K_BED, HM_BED_SINGLE, NULL}, {"singles", K_BED, HM_BED_SINGLE, NULL},
    {"six", K_NUM, 6, NULL}, {"skyline", K_VIEWKIND, HM_VIEW_CITY, NULL},
    {"sleeper", K_SOFA, 0, NULL}, {"sleeps", K_SLEEPS, 0, NULL}, {"smk", K_SMOKING, 0, NULL},
    {"smoke", K_SMOKING, 0, NULL}, {"smoking", K_SMOKING, 0, NULL}, {"sofa", K_SOFA, 0, NULL},
    {"sofabed", K_SOFA, 0, NULL}, {"standard", K_STANDARD, 0, NULL},
    {"std", K_STANDARD, 0, NULL}, {"ste", K_UNIT, HM_UNIT_SUITE, NULL},
    {"studio", K_UNIT, HM_UNIT_STUDIO, NULL}, {"suite", K_UNIT, HM_UNIT_SUITE, NULL},
    {"suites", K_UNIT, HM_UNIT_SUITE, NULL}, {"sup", K_TIER, HM_TIER_SUPERIOR, NULL},
    {"superior", K_TIER, HM_TIER_SUPERIOR, NULL}, {"the", K_STOP, 0, NULL},
    {"three", K_NUM, 3, NULL}, {"to", K_STOP, 0, NULL}, {"tower", K_TOWER, 0, NULL},
    {"traditional", K_STANDARD, 0, NULL}, {"twin", K_BED, HM_BED_TWIN, NULL},
    {"twins", K_BED, HM_BED_TWIN, NULL}, {"twn", K_BED, HM_BED_TWIN, NULL}, {"two", K_NUM, 2, NULL},
    {"type", K_STOP, 0, NULL}, {"view", K_VIEW, 0, NULL}, {"views", K_VIEW, 0, NULL},
    {"villa", K_UNIT, HM_UNIT_VILLA, NULL}, {"villas", K_UNIT, HM_UNIT_VILLA, NULL},
    {"vw", K_VIEW, 0, NULL}, {"w", K_STOP, 0, NULL}, {"water", K_VIEWKIND, HM_VIEW_WATER, NULL},
    {"wheelchair", K_ACCESS, 0, NULL}, {"wi", K_RATE, HM_RATE_OTHER, NULL},
    {"wifi", K_RATE, HM_RATE_OTHER, NULL}, {"wing", K_TOWER, 0, NULL}, {"with", K_STOP, 0, NULL},
};

static int lex_cmp(const void *k, const void *e)
{
    return strcmp((const char *)k, ((const lex_t *)e)->w);
}

static const lex_t *lex_find(const char *w)
{
    return bsearch(w, LEX, HM_ARRAY_SIZE(LEX), sizeof(LEX[0]), lex_cmp);
}

static const char *const TIER_NAMES[] = {"superior", "deluxe", "premier", "premium", "executive",
    "club", "luxury", "classic", "comfort", "business", "economy", "grand"};
static const char *const UNIT_NAMES[] = {"suite", "junior_suite", "studio", "villa", "apartment",
    "family", "bungalow", "cabana", "cottage", "loft", "penthouse", "presidential", "chalet", "dorm"};
static const char *const BED_NAMES[] = {"king", "queen", "double", "twin", "single", "bunk"};
static const char *const VIEW_NAMES[] = {"city", "sea", "oceanfront", "garden", "pool", "mountain",
    "lake", "river", "water", "resort", "courtyard", "park", "harbour", "lagoon", "golf", "beach",
    "landmark", "any"};
static const char *const RATE_NAMES[] = {"refundable", "non_refundable", "breakfast", "half_board",
    "full_board", "all_inclusive", "room_only", "other"};
static const char *const RC_NAMES[] = {"bed_type", "bed_count", "unit", "tier", "view",
    "partial_view", "tower", "accessible", "smoking", "occupancy", "bedrooms"};

#define NAME_AT(arr, bit) ((bit) < HM_ARRAY_SIZE(arr) ? (arr)[bit] : NULL)
const char *hm_room_tier_name(unsigned bit) { return NAME_AT(TIER_NAMES, bit); }
const char *hm_room_unit_name(unsigned bit) { return NAME_AT(UNIT_NAMES, bit); }
const char *hm_room_bed_name(unsigned bit) { return NAME_AT(BED_NAMES, bit); }
const char *hm_room_view_name(unsigned bit) { return NAME_AT(VIEW_NAMES, bit); }
const char *hm_room_rate_name(unsigned bit) { return NAME_AT(RATE_NAMES, bit); }
const char *hm_room_conflict_name(unsigned bit) { return NAME_AT(RC_NAMES, bit); }

static int first_bit(uint32_t m)
{
    return m ? __builtin_ctz(m) : -1;
}

/* -------------------------------------------------------------- tokenizer */

#define MAX_WORDS 64
#define WORD_CAP 24

typedef struct {
    char w[WORD_CAP];
    uint8_t kind, used, num;  /* used: consumed by an attribute or dropped */
    uint32_t val;
    const char *canon;
} word_t;

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || c >= 0x80; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static void push_word(word_t *ws, int *n, const char *s, size_t len)
{
    if (*n >= MAX_WORDS || len == 0)
        return;
    word_t *w = &ws[*n];
    if (len >= WORD_CAP)
        len = WORD_CAP - 1;
    memcpy(w->w, s, len);
    w->w[len] = '\0';
    w->used = 0;
    w->num = 0;
    w->val = 0;
    w->canon = NULL;
    const lex_t *e = lex_find(w->w);
    if (e) {
        w->kind = e->kind;
        w->val = e->val;
        w->canon = e->canon;
    } else if (is_digit((unsigned char)w->w[0])) {
        int all = 1;
        for (size_t i = 0; i < len; i++)
            all &= is_digit((unsigned char)w->w[i]);
        long v = all ? strtol(w->w, NULL, 10) : 0;
        if (all && v > 0 && v < 100) {
            w->kind = K_NUM;
            w->val = (uint32_t)v;
        } else {
            w->kind = K_GENERIC;
        }
    } else {
        w->kind = K_WORD;
    }
    (*n)++;
}

static int is_ordinal(const char *s, size_t len)
{
    return len == 2 && (!memcmp(s, "st", 2) || !memcmp(s, "nd", 2) || !memcmp(s, "rd", 2) ||
                        !memcmp(s, "th", 2));
}

static int tokenize(const char *in, size_t len, word_t *ws)
{
    char buf[256];
    int n = 0;
    size_t i = 0;
    while (i < len && n < MAX_WORDS) {
        /* one alnum run, lowercased */
        size_t bl = 0;
        while (i < len) {
            unsigned char c = (unsigned char)in[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (!is_alpha(c) && !is_digit(c))
                break;
            if (bl < sizeof(buf) - 1)
                buf[bl++] = (char)c;
            i++;
        }
        /* split at digit/letter boundaries, keeping ordinals (19th) */
        size_t s = 0;
        while (s < bl) {
            size_t e = s + 1;
            int d = is_digit((unsigned char)buf[s]);
            while (e < bl && is_digit((unsigned char)buf[e]) == d)
                e++;
            if (d && e < bl) {
                size_t e2 = e;
                while (e2 < bl && !is_digit((unsigned char)buf[e2]))
                    e2++;
                if (is_ordinal(buf + e, e2 - e)) {
                    push_word(ws, &n, buf + s, e2 - s);
                    ws[n - 1].kind = K_GENERIC;
                    s = e2;
                    continue;
                }
            }
            push_word(ws, &n, buf + s, e - s);
            s = e;
        }
        while (i < len) {
            unsigned char c = (unsigned char)in[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (is_alpha(c) || is_digit(c))
                break;
            i++;
        }
    }
    return n;
}

/* ------------------------------------------------------------- features */

static uint32_t fnv(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}
#define FNV0 2166136261u

typedef struct {
    uint32_t h[HM_ROOM_MAX_TOK + HM_ROOM_MAX_CHR];
    float w[HM_ROOM_MAX_TOK + HM_ROOM_MAX_CHR];
    uint8_t d[HM_ROOM_MAX_TOK + HM_ROOM_MAX_CHR];   /* HM_DIM_* of the feature */
    int n, cap;
} fvec_t;

static void fv_add(fvec_t *v, uint32_t h, float w, uint8_t dim)
{
    for (int i = 0; i < v->n; i++)
        if (v->h[i] == h) {
            v->w[i] += w;
            return;
        }
    if (v->n < v->cap) {
        v->d[v->n] = dim;
        v->h[v->n] = h;
        v->w[v->n++] = w;
    }
}

static void fv_tok(fvec_t *v, uint8_t dim, const char *prefix, const char *s, float w)
{
    uint32_t h = fnv(FNV0, prefix, strlen(prefix));
    fv_add(v, fnv(h, s, strlen(s)), w, dim);
}

/* sort by hash, L2-normalise, copy out */
static uint16_t fv_finish(fvec_t *v, uint32_t *oh, float *ow, float *dimsq)
{
    for (int i = 1; i < v->n; i++) {
        uint32_t h = v->h[i];
        float w = v->w[i];
        uint8_t d = v->d[i];
        int j = i - 1;
        while (j >= 0 && v->h[j] > h) {
            v->h[j + 1] = v->h[j];
            v->w[j + 1] = v->w[j];
            v->d[j + 1] = v->d[j];
            j--;
        }
        v->h[j + 1] = h;
        v->w[j + 1] = w;
        v->d[j + 1] = d;
    }
    double ss = 0;
    for (int i = 0; i < v->n; i++)
        ss += (double)v->w[i] * v->w[i];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int i = 0; i < v->n; i++) {
        oh[i] = v->h[i];
        ow[i] = v->w[i] * inv;
        if (dimsq)
            dimsq[v->d[i]] += ow[i] * ow[i];
    }
    return (uint16_t)v->n;
}

static void norm_append(char *norm, size_t *nl, const char *s)
{
    size_t l = strlen(s);
    if (*nl + l + 2 >= HM_ROOM_NORM_CAP)
        return;
    if (*nl)
        norm[(*nl)++] = ' ';
    memcpy(norm + *nl, s, l);
    *nl += l;
    norm[*nl] = '\0';
}

/* plural strip for residual words: "lounges" -> "lounge" (not "ss", not short) */
static void stem(const char *w, char *out)
{
    size_t l = strlen(w);
    memcpy(out, w, l + 1);
    if (l > 4 && out[l - 1] == 's' && out[l - 2] != 's' && out[l - 2] != 'u' && out[l - 2] != 'i')
        out[l - 1] = '\0';
}

/* ---------------------------------------------------------------- parsing */

#define WATERISH (HM_VIEW_SEA | HM_VIEW_OCEANFRONT | HM_VIEW_LAKE | HM_VIEW_RIVER | \
                  HM_VIEW_HARBOUR | HM_VIEW_LAGOON | HM_VIEW_BEACH | HM_VIEW_WATER)

void hm_room_parse(const char *name, size_t len, hm_room_t *out)
{
    word_t ws[MAX_WORDS];
    memset(out, 0, sizeof(*out));
    hm_room_attrs_t *a = &out->a;
    int n = tokenize(name, len, ws);

    int saw_view = 0, saw_or_beds = 0, last_bed = -1, saw_standard = 0;
    uint8_t count_by_type[HM_BED_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        word_t *w = &ws[i];
        word_t *nx = i + 1 < n ? &ws[i + 1] : NULL;
        word_t *pv = i > 0 ? &ws[i - 1] : NULL;
        switch (w->kind) {
        case K_STANDARD:
            saw_standard = 1;
            w->used = 1;
            break;
        case K_STOP: case K_ROOM: case K_BEDWORD:
            w->used = 1;
            break;
        case K_OR:
            w->used = 1;
            if (last_bed >= 0) {
                /* "king or (two) queen(s)" */
                for (int j = i + 1; j < n && j <= i + 2; j++)
                    if (ws[j].kind == K_BED)
                        saw_or_beds = 1;
            }
            break;
        case K_RATE:
            w->used = 1;
            a->rate |= w->val;
            break;
        case K_HALF: case K_FULL:
            if (nx && !strcmp(nx->w, "board")) {
                a->rate |= w->kind == K_HALF ? HM_RATE_HALF_BOARD : HM_RATE_FULL_BOARD;
                w->used = nx->used = 1;
                nx->kind = K_STOP;
            } else {
                w->kind = K_GENERIC;
            }
            break;
        case K_ALL:
            if (nx && !strcmp(nx->w, "inclusive")) {
                a->rate |= HM_RATE_ALL_INCLUSIVE;
                w->used = nx->used = 1;
                nx->kind = K_STOP;
            } else {
                w->used = 1;
            }
            break;
        case K_ONLY:
            w->used = 1;
            if (pv && pv->kind == K_ROOM)
                a->rate |= HM_RATE_ROOM_ONLY;
            break;
        case K_FEE:
            w->used = 1;
            for (int j = i - 1; j >= 0 && j >= i - 2; j--)
                if (ws[j].kind == K_VIEWKIND && ws[j].val == HM_VIEW_RESORT) {
                    ws[j].used = 1;
                    ws[j].kind = K_STOP;
                    if (j > 0 && ws[j - 1].kind == K_NON)
                        ws[j - 1].used = 1;
                }
            break;
        case K_NON:
            w->used = 1;
            if (nx && nx->kind == K_SMOKING) {
                nx->kind = K_NONSMOKING;
            } else if (nx && nx->kind == K_RATE && nx->val == HM_RATE_REFUNDABLE) {
                nx->val = HM_RATE_NONREFUNDABLE;
            }
            break;
        case K_SMOKING:
            w->used = 1;
            a->smoking = 1;
            break;
        case K_NONSMOKING:
            w->used = 1;
            a->smoking = -1;
            break;
        case K_ACCESS:
            w->used = 1;
            a->accessible = 1;
            break;
        case K_NUM:
            if (nx && nx->kind == K_OCC) {
                a->occupancy = (uint8_t)w->val;
                w->used = nx->used = 1;
            } else if (nx && nx->kind == K_BEDROOM) {
                a->bedrooms = (uint8_t)w->val;
                w->used = nx->used = 1;
            } else if (pv && pv->kind == K_SLEEPS) {
                a->occupancy = (uint8_t)w->val;
                w->used = pv->used = 1;
            }
            break;
        case K_OCC: case K_SLEEPS: case K_BEDROOM:
            if (!w->used)
                w->kind = K_GENERIC;
            break;
        case K_BED: {
            int bit = first_bit(w->val);
            a->beds |= (uint8_t)w->val;
            w->used = 1;
            int cnt = 0;
            if (pv && pv->kind == K_NUM && !pv->used) {
                cnt = (int)pv->val;
                pv->used = 1;
            } else if (i >= 2 && ws[i - 2].kind == K_NUM && !ws[i - 2].used &&
                       (pv->kind == K_WORD || pv->kind == K_GENERIC)) {
                cnt = (int)ws[i - 2].val;   /* "2 large double" */
                ws[i - 2].used = 1;
            }
            if (cnt > 0 && cnt < 10 && cnt > count_by_type[bit])
                count_by_type[bit] = (uint8_t)cnt;
            last_bed = bit;
            break;
        }
        case K_SOFA:
            w->used = 1;
            a->sofa_bed = 1;
            break;
        case K_TIER:
            w->used = 1;
            a->tier |= w->val;
            break;
        case K_JUNIOR:
            w->used = 1;
            a->unit |= HM_UNIT_JUNIOR_SUITE;
            if (nx && nx->kind == K_UNIT && nx->val == HM_UNIT_SUITE) {
                nx->used = 1;
                nx->kind = K_STOP;
            }
            break;
        case K_UNIT:
            w->used = 1;
            a->unit |= w->val;
            break;
        case K_VIEWWORD:
            w->used = 1;
            a->view |= w->val;
            break;
        case K_VIEWKIND: {
            /* a view only when "view"/"front" follows within 3 words */
            int is_view = 0, front = 0;
            for (int j = i + 1; j < n && j <= i + 3; j++) {
                if (ws[j].kind == K_VIEW) { is_view = 1; break; }
                if (ws[j].kind == K_FRONT) { front = j == i + 1; is_view = 1; break; }
                if (ws[j].kind != K_VIEWKIND && ws[j].kind != K_STOP && ws[j].kind != K_OR)
                    break;
            }
            if (front) {
                uint32_t v = w->val;
                a->view |= (v == HM_VIEW_SEA || v == HM_VIEW_BEACH) ? HM_VIEW_OCEANFRONT : v;
                w->used = nx->used = 1;
            } else if (is_view) {
                a->view |= w->val;
                w->used = 1;
            } else {
                w->kind = K_WORD;
            }
            if (is_view && pv && pv->kind == K_PARTIAL) {
                a->partial_view = 1;
                pv->used = 1;
            }
            break;
        }
        case K_VIEW:
            w->used = 1;
            saw_view = 1;
            break;
        case K_PARTIAL:
            break;   /* decided by the view word after it */
        case K_FRONT: case K_TOWER: case K_WORD: case K_GENERIC:
            break;
        }
    }
    if (saw_view && a->view == 0)
        a->view = HM_VIEW_ANY;
    /* tower / wing name: the residual word before (or after) it */
    for (int i = 0; i < n; i++) {
        if (ws[i].kind != K_TOWER)
            continue;
        const word_t *nm = NULL;
        if (i > 0 && ws[i - 1].kind == K_WORD && !ws[i - 1].used)
            nm = &ws[i - 1];
        else if (i + 1 < n && ws[i + 1].kind == K_WORD && !ws[i + 1].used)
            nm = &ws[i + 1];
        if (nm && a->tower == 0) {
            a->tower = fnv(FNV0, nm->w, strlen(nm->w));
            snprintf(a->tower_name, sizeof(a->tower_name), "%s", nm->w);
        }
    }
    /* beds: counts per type, "or" = alternatives */
    a->bed_alt = (uint8_t)saw_or_beds;
    if (!a->bed_alt) {
        int total = 0;
        for (int b = 0; b < HM_BED_COUNT; b++)
            total += count_by_type[b];
        a->bed_count = (uint8_t)(total > 20 ? 20 : total);
        if (a->bed_count == 0 && a->beds == HM_BED_TWIN)
            a->bed_count = 2;    /* a twin room: two beds */
        if (a->bed_count == 0 && a->beds == HM_BED_KING)
            a->bed_count = 1;    /* "King Room" = "1 King Bed" */
    }

    /* ---- features: canonical tokens + char 3-grams of the canonical text */
    fvec_t tv = {.n = 0, .cap = HM_ROOM_MAX_TOK};
    char *norm = out->norm;
    size_t nl = 0;
    char tmp[48];
    for (unsigned b = 0; b < HM_TIER_COUNT; b++)
        if (a->tier & (1u << b)) {
            fv_tok(&tv, HM_DIM_TIER, "t:", TIER_NAMES[b], 1.0f);
            norm_append(norm, &nl, TIER_NAMES[b]);
        }
    /* "standard" / "traditional" is the default class (no tier bit, no
     * penalty) but a name that says it is closer to another that says it:
     * a weak tier token and its letters (ties "Room, Ocean View" vs
     * "Standard Room, Ocean View" go to the one that words it alike). */
    if (saw_standard && a->tier == 0) {
        fv_tok(&tv, HM_DIM_TIER, "t:", "standard", 0.5f);
        norm_append(norm, &nl, "standard");
    }
    for (unsigned b = 0; b < HM_UNIT_COUNT; b++)
        if (a->unit & (1u << b)) {
            fv_tok(&tv, HM_DIM_UNIT, "u:", UNIT_NAMES[b], 1.2f);
            norm_append(norm, &nl, UNIT_NAMES[b]);
        }
    for (unsigned b = 0; b < HM_BED_COUNT; b++)
        if (a->beds & (1u << b)) {
            fv_tok(&tv, HM_DIM_BED, "b:", BED_NAMES[b], 1.0f);
            if (count_by_type[b] > 1 && !a->bed_alt) {
                snprintf(tmp, sizeof(tmp), "%ux%s", count_by_type[b], BED_NAMES[b]);
                fv_tok(&tv, HM_DIM_BED, "bc:", tmp, 0.7f);
            }
            norm_append(norm, &nl, BED_NAMES[b]);
        }
    if (a->bed_count > 1) {
        snprintf(tmp, sizeof(tmp), "%u", a->bed_count);
        fv_tok(&tv, HM_DIM_BED, "n:", tmp, 0.5f);
    }
    for (unsigned b = 0; b < HM_VIEW_COUNT; b++)
        if (a->view & (1u << b)) {
            snprintf(tmp, sizeof(tmp), "%s%sview", a->partial_view ? "partial-" : "", VIEW_NAMES[b]);
            fv_tok(&tv, HM_DIM_VIEW, "v:", tmp, 1.0f);
            fv_tok(&tv, HM_DIM_VIEW, "v:", VIEW_NAMES[b], 0.5f);
            norm_append(norm, &nl, tmp);
        }
    if (a->view & WATERISH)   /* lake / sea / river / harbour view ~ "water view" */
        fv_tok(&tv, HM_DIM_VIEW, "v:", "water-family", 0.7f);
    if (a->accessible) {
        fv_tok(&tv, 0, "a:", "accessible", 1.0f);
        norm_append(norm, &nl, "accessible");
    }
    if (a->sofa_bed) {
        fv_tok(&tv, HM_DIM_BED, "a:", "sofabed", 0.4f);
        norm_append(norm, &nl, "sofabed");
    }
    if (a->smoking) {
        fv_tok(&tv, HM_DIM_SMOKING, "a:", a->smoking > 0 ? "smoking" : "nonsmoking", 0.3f);
    }
    if (a->bedrooms) {
        snprintf(tmp, sizeof(tmp), "%ubedroom", a->bedrooms);
        fv_tok(&tv, HM_DIM_BEDROOMS, "a:", tmp, 1.0f);
        norm_append(norm, &nl, tmp);
    }
    for (int i = 0; i < n; i++) {
        word_t *w = &ws[i];
        if (w->used || w->kind == K_NUM || w->kind == K_PARTIAL || w->kind == K_OR)
            continue;
        stem(w->canon ? w->canon : w->w, tmp);
        float wt = w->kind == K_WORD ? 1.0f : 0.5f;
        if (w->kind == K_TOWER)
            wt = 0.5f;
        fv_tok(&tv, 0, "w:", tmp, wt);
        norm_append(norm, &nl, tmp);
    }
    out->ntok = fv_finish(&tv, out->tok, out->tokw, out->dimsq);
    for (int d = 1; d < HM_DIM_COUNT; d++)
        if (out->dimsq[d] > 0)
            out->dims |= (uint8_t)(1u << d);

    fvec_t cv = {.n = 0, .cap = HM_ROOM_MAX_CHR};
    char pad[HM_ROOM_NORM_CAP + 2];
    size_t pl = 0;
    pad[pl++] = ' ';
    memcpy(pad + pl, norm, nl);
    pl += nl;
    pad[pl++] = ' ';
    for (size_t i = 0; i + 3 <= pl; i++)
        fv_add(&cv, fnv(FNV0, pad + i, 3), 1.0f, 0);
    out->nchr = fv_finish(&cv, out->chr, out->chrw, NULL);
}

/* ---------------------------------------------------------------- scoring */

static float dot(const uint32_t *ah, const float *aw, int an, const uint32_t *bh, const float *bw,
                 int bn)
{
    float s = 0;
    int i = 0, j = 0;
    while (i < an && j < bn) {
        if (ah[i] == bh[j])
            s += aw[i++] * bw[j++];
        else if (ah[i] < bh[j])
            i++;
        else
            j++;
    }
    return s;
}

#define SEAISH (HM_VIEW_SEA | HM_VIEW_OCEANFRONT | HM_VIEW_BEACH)
#define EXEC_GROUP (HM_TIER_EXECUTIVE | HM_TIER_CLUB | HM_TIER_BUSINESS)

static uint32_t view_expand(uint32_t v)
{
    if (v & HM_VIEW_WATER)
        v |= WATERISH;
    return v;
}

float hm_room_score(const hm_room_t *a, const hm_room_t *b, hm_room_explain_t *ex)
{
    float tc = dot(a->tok, a->tokw, a->ntok, b->tok, b->tokw, b->ntok);
    /* An attribute dimension stated on one side only (bed, view, tier, ...)
     * is left out of that side's norm: missing information is not evidence
     * against a match (the attribute checks below handle disagreement). */
    uint8_t only_a = (uint8_t)(a->dims & ~b->dims), only_b = (uint8_t)(b->dims & ~a->dims);
    if (only_a | only_b) {
        float ma = 1.0f, mb = 1.0f;
        for (int d = 1; d < HM_DIM_COUNT; d++) {
            if (only_a & (1u << d)) ma -= a->dimsq[d];
            if (only_b & (1u << d)) mb -= b->dimsq[d];
        }
        float den = ma * mb;
        tc = den > 1e-6f ? tc / sqrtf(den) : 0.0f;
        if (tc > 1.0f) tc = 1.0f;
    }
    float cc = dot(a->chr, a->chrw, a->nchr, b->chr, b->chrw, b->nchr);
    float sim = 0.55f * tc + 0.45f * cc;
    float pen = 1.0f;
    uint32_t conf = 0;
    const hm_room_attrs_t *x = &a->a, *y = &b->a;

    /* beds: twin and single are the same kind of bed */
    if (x->beds && y->beds) {
        uint8_t bx = x->beds, by = y->beds;
        if (bx & (HM_BED_TWIN | HM_BED_SINGLE)) bx |= HM_BED_TWIN | HM_BED_SINGLE;
        if (by & (HM_BED_TWIN | HM_BED_SINGLE)) by |= HM_BED_TWIN | HM_BED_SINGLE;
        if ((bx & by) == 0) {
            conf |= HM_RC_BED_TYPE;
            /* US usage: "twin room" often means two beds of any size; a two-bed
             * room against a two-queen/double room is a weaker conflict than
             * against a king. */
            int twin_x = (x->beds & HM_BED_TWIN) != 0, twin_y = (y->beds & HM_BED_TWIN) != 0;
            int two_x = x->bed_count == 2, two_y = y->bed_count == 2;
            if ((twin_x && two_y && (y->beds & (HM_BED_QUEEN | HM_BED_DOUBLE))) ||
                (twin_y && two_x && (x->beds & (HM_BED_QUEEN | HM_BED_DOUBLE))))
                pen *= 0.7f;
            else
                pen *= 0.3f;
        }
    }
    if (x->bed_count && y->bed_count && !x->bed_alt && !y->bed_alt && x->bed_count != y->bed_count) {
        conf |= HM_RC_BED_COUNT;
        pen *= 0.5f;
    }
    if (x->unit != y->unit) {
        if (x->unit && y->unit && (x->unit & y->unit) == 0) {
            conf |= HM_RC_UNIT;
            pen *= 0.45f;
        } else {
            pen *= 0.9f;
        }
    }
    if (x->tier && y->tier && (x->tier & y->tier) == 0) {
        uint32_t gx = x->tier & EXEC_GROUP ? x->tier | EXEC_GROUP : x->tier;
        uint32_t gy = y->tier & EXEC_GROUP ? y->tier | EXEC_GROUP : y->tier;
        conf |= HM_RC_TIER;
        pen *= (gx & gy) ? 0.85f : 0.65f;
    }
    uint32_t vx = x->view & ~(uint32_t)HM_VIEW_ANY, vy = y->view & ~(uint32_t)HM_VIEW_ANY;
    if (vx && vy) {
        uint32_t ex_ = view_expand(vx), ey = view_expand(vy);
        if ((ex_ & ey) == 0) {
            if ((vx & SEAISH) && (vy & SEAISH)) {
                pen *= 0.85f;     /* ocean view vs oceanfront */
            } else {
                conf |= HM_RC_VIEW;
                pen *= 0.55f;
            }
        } else if (x->partial_view != y->partial_view) {
            conf |= HM_RC_PARTIAL;
            pen *= 0.75f;
        }
    }
    if (x->tower && y->tower && x->tower != y->tower) {
        conf |= HM_RC_TOWER;
        pen *= 0.5f;
    }
    if (x->accessible != y->accessible) {
        conf |= HM_RC_ACCESSIBLE;
        pen *= 0.7f;
    }
    if (x->smoking && y->smoking && x->smoking != y->smoking) {
        conf |= HM_RC_SMOKING;
        pen *= 0.6f;
    }
    if (x->occupancy && y->occupancy && x->occupancy != y->occupancy) {
        conf |= HM_RC_OCCUPANCY;
        pen *= 0.75f;
    }
    if (x->bedrooms && y->bedrooms && x->bedrooms != y->bedrooms) {
        conf |= HM_RC_BEDROOMS;
        pen *= 0.5f;
    }
    float s = sim * pen;
    if (s > 1.0f) s = 1.0f;
    if (s < 0.0f) s = 0.0f;
    if (ex) {
        ex->tok_cos = tc;
        ex->chr_cos = cc;
        ex->sim = sim;
        ex->penalty = pen;
        ex->score = s;
        ex->conflicts = conf;
    }
    return s;
}

int hm_room_best(const hm_room_t *q, const hm_room_t *cands, size_t n, float *score)
{
    int best = -1;
    float bs = -1.0f;
    for (size_t i = 0; i < n; i++) {
        float s = hm_room_score(q, &cands[i], NULL);
        if (s > bs) {
            bs = s;
            best = (int)i;
        }
    }
    if (score)
        *score = best < 0 ? 0.0f : bs;
    return best;
}

static void mask_fmt(char *out, size_t cap, size_t *ol, const char *key, uint32_t m,
                     const char *(*nm)(unsigned))
{
    int k = snprintf(out + *ol, cap - *ol, "%s%s=", *ol ? " " : "", key);
    if (k < 0 || (size_t)k >= cap - *ol) return;
    *ol += (size_t)k;
    if (!m) {
        k = snprintf(out + *ol, cap - *ol, "-");
        if (k > 0 && (size_t)k < cap - *ol) *ol += (size_t)k;
        return;
    }
    int first = 1;
    for (unsigned b = 0; b < 32; b++)
        if (m & (1u << b)) {
            const char *s = nm(b);
            k = snprintf(out + *ol, cap - *ol, "%s%s", first ? "" : ",", s ? s : "?");
            if (k < 0 || (size_t)k >= cap - *ol) return;
            *ol += (size_t)k;
            first = 0;
        }
}

void hm_room_attrs_format(const hm_room_attrs_t *a, char *out, size_t cap)
{
    size_t ol = 0;
    if (cap == 0) return;
    out[0] = '\0';
    mask_fmt(out, cap, &ol, "tier", a->tier, hm_room_tier_name);
    mask_fmt(out, cap, &ol, "unit", a->unit, hm_room_unit_name);
    mask_fmt(out, cap, &ol, "beds", a->beds, hm_room_bed_name);
    int k = snprintf(out + ol, cap - ol, " bed_count=%u%s", a->bed_count, a->bed_alt ? " bed_alt=1" : "");
    if (k > 0 && (size_t)k < cap - ol) ol += (size_t)k;
    mask_fmt(out, cap, &ol, "view", a->view, hm_room_view_name);
    k = snprintf(out + ol, cap - ol, "%s tower=%s accessible=%d smoking=%s occupancy=%u bedrooms=%u sofa_bed=%u",
                 a->partial_view ? " partial_view=1" : "", a->tower ? a->tower_name : "-",
                 a->accessible, a->smoking > 0 ? "yes" : a->smoking < 0 ? "no" : "-",
                 a->occupancy, a->bedrooms, a->sofa_bed);
    if (k > 0 && (size_t)k < cap - ol) ol += (size_t)k;
    mask_fmt(out, cap, &ol, "rate_words", a->rate, hm_room_rate_name);
}

/* ------------------------------------------------------------- classifier */

#define CAT_BITS 16
#define CAT_DIM (1u << CAT_BITS)

typedef struct { uint32_t off, n; uint16_t label; } cat_ex_t;

struct hm_roomcat {
    char *labels[HM_ROOMCAT_MAX_LABELS];
    int nlabels;
    cat_ex_t *ex;
    size_t nex, capex;
    uint32_t *feat;         /* bucket indexes of all examples */
    size_t nfeat, capfeat;
    float *w;               /* CAT_DIM * nlabels, averaged after training */
};

/* Feature buckets of a text: tokens + char n-grams + attribute bits. */
static int cat_features(const char *text, size_t len, uint32_t *out, int cap)
{
    hm_room_t r;
    hm_room_parse(text, len, &r);
    int n = 0;
    for (int i = 0; i < r.ntok && n < cap; i++)
        out[n++] = r.tok[i] & (CAT_DIM - 1);
    for (int i = 0; i < r.nchr && n < cap; i++)
        out[n++] = (r.chr[i] * 2654435761u) >> (32 - CAT_BITS);
    /* attribute bits and their combinations with unit/tier */
    uint32_t keys[] = {1u + r.a.tier, 5000u + r.a.unit, 90000u + r.a.beds,
                       130000u + (uint32_t)r.a.accessible, 140000u + r.a.bed_count,
                       150000u + r.a.unit * 4096u + r.a.tier,
                       160000u + r.a.unit * 64u + r.a.beds + 4096u * (uint32_t)r.a.accessible,
                       170000u + r.a.bedrooms, 180000u + (r.a.view != 0)};
    for (size_t k = 0; k < HM_ARRAY_SIZE(keys) && n < cap; k++)
        out[n++] = ((keys[k] + 0x9e3779b9u * (uint32_t)(k + 1)) * 2246822519u) >> (32 - CAT_BITS);
    out[n < cap ? n++ : cap - 1] = 0;  /* bias */
    return n;
}

int hm_roomcat_new(hm_roomcat_t **out)
{
    *out = calloc(1, sizeof(hm_roomcat_t));
    return *out ? HM_OK : HM_ENOMEM;
}

void hm_roomcat_free(hm_roomcat_t *c)
{
    if (!c) return;
    for (int i = 0; i < c->nlabels; i++)
        free(c->labels[i]);
    free(c->ex);
    free(c->feat);
    free(c->w);
    free(c);
}

int hm_roomcat_add(hm_roomcat_t *c, const char *text, size_t len, const char *label)
{
    int li = -1;
    for (int i = 0; i < c->nlabels; i++)
        if (!strcmp(c->labels[i], label)) { li = i; break; }
    if (li < 0) {
        if (c->nlabels >= HM_ROOMCAT_MAX_LABELS || c->w) return HM_ELIMIT;
        if (!(c->labels[c->nlabels] = strdup(label))) return HM_ENOMEM;
        li = c->nlabels++;
    }
    uint32_t f[HM_ROOM_MAX_TOK + HM_ROOM_MAX_CHR + 16];
    int nf = cat_features(text, len, f, (int)HM_ARRAY_SIZE(f));
    if (c->nex == c->capex) {
        size_t nc = c->capex ? c->capex * 2 : 1024;
        cat_ex_t *e = realloc(c->ex, nc * sizeof(*e));
        if (!e) return HM_ENOMEM;
        c->ex = e; c->capex = nc;
    }
    while (c->nfeat + (size_t)nf > c->capfeat) {
        size_t nc = c->capfeat ? c->capfeat * 2 : 65536;
        uint32_t *p = realloc(c->feat, nc * sizeof(*p));
        if (!p) return HM_ENOMEM;
        c->feat = p; c->capfeat = nc;
    }
    memcpy(c->feat + c->nfeat, f, (size_t)nf * sizeof(uint32_t));
    c->ex[c->nex++] = (cat_ex_t){.off = (uint32_t)c->nfeat, .n = (uint32_t)nf, .label = (uint16_t)li};
    c->nfeat += (size_t)nf;
    return HM_OK;
}

static int cat_argmax(const float *w, int L, const uint32_t *f, int nf)
{
    float sc[HM_ROOMCAT_MAX_LABELS];
    for (int l = 0; l < L; l++) sc[l] = 0;
    for (int i = 0; i < nf; i++) {
        const float *row = w + (size_t)f[i] * (size_t)L;
        for (int l = 0; l < L; l++) sc[l] += row[l];
    }
    int best = 0;
    for (int l = 1; l < L; l++)
        if (sc[l] > sc[best]) best = l;
    return best;
}

int hm_roomcat_train(hm_roomcat_t *c, int epochs)
{
    int L = c->nlabels;
    if (L == 0 || c->nex == 0) return HM_EINVAL;
    free(c->w);
    c->w = calloc((size_t)CAT_DIM * (size_t)L, sizeof(float));
    float *u = calloc((size_t)CAT_DIM * (size_t)L, sizeof(float));
    size_t *order = malloc(c->nex * sizeof(size_t));
    if (!c->w || !u || !order) { free(u); free(order); return HM_ENOMEM; }
    for (size_t i = 0; i < c->nex; i++) order[i] = i;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    float t = 1.0f;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = c->nex - 1; i > 0; i--) {   /* deterministic shuffle */
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            size_t j = (size_t)(rng % (i + 1));
            size_t tmp = order[i]; order[i] = order[j]; order[j] = tmp;
        }
        for (size_t k = 0; k < c->nex; k++, t += 1.0f) {
            const cat_ex_t *e = &c->ex[order[k]];
            const uint32_t *f = c->feat + e->off;
            int p = cat_argmax(c->w, L, f, (int)e->n);
            if (p == e->label) continue;
            for (uint32_t i = 0; i < e->n; i++) {
                size_t base = (size_t)f[i] * (size_t)L;
                c->w[base + e->label] += 1.0f; u[base + e->label] += t;
                c->w[base + p] -= 1.0f;        u[base + p] -= t;
            }
        }
    }
    for (size_t i = 0; i < (size_t)CAT_DIM * (size_t)L; i++)
        c->w[i] -= u[i] / t;
    free(u);
    free(order);
    return HM_OK;
}

const char *hm_roomcat_predict(const hm_roomcat_t *c, const char *text, size_t len)
{
    if (!c->w) return NULL;
    uint32_t f[HM_ROOM_MAX_TOK + HM_ROOM_MAX_CHR + 16];
    int nf = cat_features(text, len, f, (int)HM_ARRAY_SIZE(f));
    return c->labels[cat_argmax(c->w, c->nlabels, f, nf)];
}
