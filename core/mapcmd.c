/* mapcmd.c -- `hotelmux map` (see mapcmd.h). */
#include "hotelmux/mapcmd.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hotelmux/common.h"
#include "hotelmux/roomassign.h"
#include "hotelmux/roomname.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: hotelmux map [OPTIONS] \"ROOM A\" \"ROOM B\"      explain one pair\n"
            "       hotelmux map [OPTIONS] --best [--assign] QUERIES CANDIDATES\n"
            "       hotelmux map [OPTIONS] --suggest [--assign] [--supplier S] [--hotel H] ROOMS CANONICAL\n"
            "       hotelmux map --write-table REVIEW [--table EXISTING.csv]\n"
            "       hotelmux map --matrix QUERIES CANDIDATES\n"
            "       hotelmux map --bench [PAIRS]\n"
            "       hotelmux map --classify TRAIN TEST\n"
            "OPTIONS: --policy FILE (default: $HOTELMUX_MAPPING_POLICY, ./scripts/policies/mapping.lua,\n"
            "         then the source tree's), --threshold T (overrides the policy's merge_threshold)\n"
            "--assign: one-to-one, for one supplier's rooms of one hotel (a supplier lists each room\n"
            "         once): best pairs are decided first and each candidate room is merged with at\n"
            "         most one query (the way hotelRates groups); without it each query takes its\n"
            "         own best candidate\n"
            "See docs/mapping.md.\n");
}

/* The decision rule's numbers, from scripts/policies/mapping.lua (the file
 * hotelRates uses) unless --threshold overrides. */
typedef struct {
    double threshold, margin;
    char source[512];
} policy_t;

static int policy_path(const char *given, char *out, size_t cap)
{
    const char *env = getenv("HOTELMUX_MAPPING_POLICY");
    const char *tries[3] = {given, env && *env ? env : NULL, "scripts/policies/mapping.lua"};
    for (int i = 0; i < 3; i++)
        if (tries[i]) {
            if (i == 0 || access(tries[i], R_OK) == 0) {
                snprintf(out, cap, "%s", tries[i]);
                return HM_OK;
            }
        }
    snprintf(out, cap, "%s/scripts/policies/mapping.lua", HM_SOURCE_DIR);
    return access(out, R_OK) == 0 ? HM_OK : HM_ENOENT;
}

/* Run the policy file in a bare state (it only defines tables and functions
 * when loaded) and read merge_threshold and min_margin. */
static int policy_load(const char *given, policy_t *p)
{
    char path[512];
    if (policy_path(given, path, sizeof(path)) != HM_OK) {
        fprintf(stderr, "hotelmux map: no mapping policy found (scripts/policies/mapping.lua);"
                        " give --policy FILE or --threshold T\n");
        return HM_ENOENT;
    }
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return HM_ENOMEM;
    luaL_openlibs(L);
    int rc = HM_OK;
    if (luaL_loadfile(L, path) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
        fprintf(stderr, "hotelmux map: %s\n", lua_tostring(L, -1));
        rc = HM_EINVAL;
    } else if (!lua_istable(L, -1)) {
        fprintf(stderr, "hotelmux map: %s does not return a table\n", path);
        rc = HM_EINVAL;
    } else {
        lua_getfield(L, -1, "merge_threshold");
        lua_getfield(L, -2, "min_margin");
        if (!lua_isnumber(L, -2)) {
            fprintf(stderr, "hotelmux map: %s has no numeric merge_threshold\n", path);
            rc = HM_EINVAL;
        } else {
            p->threshold = lua_tonumber(L, -2);
            p->margin = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
            snprintf(p->source, sizeof(p->source), "%s", path);
        }
    }
    lua_close(L);
    return rc;
}

typedef struct { char **v; size_t n, cap; } lines_t;

static void lines_free(lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* One entry per line (CR/LF stripped, empty lines kept so output aligns). */
static int read_lines(const char *path, lines_t *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hotelmux map: cannot open %s\n", path);
        return HM_EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = HM_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 256;
            char **v = realloc(out->v, nc * sizeof(char *));
            if (!v) { rc = HM_ENOMEM; break; }
            out->v = v;
            out->cap = nc;
        }
        if (!(out->v[out->n] = strdup(line))) { rc = HM_ENOMEM; break; }
        out->n++;
    }
    free(line);
    fclose(f);
    if (rc != HM_OK)
        lines_free(out);
    return rc;
}

static void print_room(const char *label, const char *name, const hm_room_t *r)
{
    char buf[512];
    hm_room_attrs_format(&r->a, buf, sizeof(buf));
    printf("%s: %s\n  normalised: %s\n  attributes: %s\n", label, name, r->norm, buf);
}

static int cmd_pair(const char *a, const char *b, const policy_t *pol)
{
    double threshold = pol->threshold;
    hm_room_t ra, rb;
    hm_room_explain_t ex;
    hm_room_parse(a, strlen(a), &ra);
    hm_room_parse(b, strlen(b), &rb);
    hm_room_score(&ra, &rb, &ex);
    print_room("A", a, &ra);
    print_room("B", b, &rb);
    printf("scores: tokens=%.3f chars=%.3f similarity=%.3f penalty=%.3f score=%.3f\n",
           ex.tok_cos, ex.chr_cos, ex.sim, ex.penalty, ex.score);
    printf("conflicts:");
    if (!ex.conflicts)
        printf(" none");
    for (unsigned bit = 0; bit < HM_RC_COUNT; bit++)
        if (ex.conflicts & (1u << bit))
            printf(" %s", hm_room_conflict_name(bit));
    printf("\ndecision: %s (score %.3f %s merge_threshold %.2f, %s)\n",
           ex.score >= threshold ? "SAME ROOM" : "DIFFERENT", ex.score, ex.score >= threshold ? ">=" : "<",
           threshold, pol->source);
    return 0;
}

/* The policy's rule: best >= threshold and beating the runner-up (another
 * room: a different text, or a different id in --suggest) by the margin. */
static int decide(const policy_t *pol, float best, float second)
{
    return best >= pol->threshold && (double)best - (second < 0 ? 0 : second) >= pol->margin;
}

/* "ID<TAB>NAME" or "NAME" (the id is then the name). Splits in place. */
static void split_id(char *line, const char **id, const char **name)
{
    char *tab = strchr(line, '\t');
    if (tab) {
        *tab = '\0';
        *id = line;
        *name = tab + 1;
    } else {
        *id = *name = line;
    }
}

/* Candidate rooms from a file, parsed once. with_ids: lines "ID<TAB>NAME"
 * (several lines may share an id) and "#" comments; else one name a line.
 * Empty lines never become candidates. */
typedef struct {
    lines_t lines;
    hm_room_t *room;
    const char **id, **name;
    size_t n;
} cands_t;

static void cands_free(cands_t *c)
{
    free(c->room);
    free(c->id);
    free(c->name);
    lines_free(&c->lines);
}

static int cands_load(const char *path, int with_ids, cands_t *c)
{
    memset(c, 0, sizeof(*c));
    if (read_lines(path, &c->lines) != HM_OK)
        return HM_EIO;
    size_t cap = c->lines.n ? c->lines.n : 1;
    c->room = malloc(cap * sizeof(hm_room_t));
    c->id = malloc(cap * sizeof(char *));
    c->name = malloc(cap * sizeof(char *));
    if (!c->room || !c->id || !c->name) {
        cands_free(c);
        fprintf(stderr, "hotelmux map: out of memory\n");
        return HM_ENOMEM;
    }
    for (size_t i = 0; i < c->lines.n; i++) {
        char *l = c->lines.v[i];
        if (!l[0] || (with_ids && l[0] == '#'))
            continue;
        if (with_ids)
            split_id(l, &c->id[c->n], &c->name[c->n]);
        else
            c->id[c->n] = c->name[c->n] = l;
        hm_room_parse(c->name[c->n], strlen(c->name[c->n]), &c->room[c->n]);
        c->n++;
    }
    return HM_OK;
}

/* The best candidate for q (-1 if none shares anything), its score, and the
 * runner-up's: the best score of a candidate with another id (another room). */
static int best_two(const hm_room_t *q, const cands_t *c, float *best, float *second)
{
    int b = -1;
    float bs = -1, sec = -1;
    for (size_t j = 0; j < c->n; j++) {
        float s = hm_room_score(q, &c->room[j], NULL);
        if (s > bs) {
            if (b >= 0 && strcmp(c->id[b], c->id[j]) != 0)
                sec = bs;
            bs = s;
            b = (int)j;
        } else if (s > sec && strcmp(c->id[b], c->id[j]) != 0) {
            sec = s;
        }
    }
    *best = bs < 0 ? 0 : bs;
    *second = sec;
    return bs > 0 ? b : -1;
}

/* Every query's pick. Default: each query alone takes its best candidate
 * (best_two). assign: one-to-one within the list (roomassign.h), for when
 * QUERIES is one supplier's rooms of one hotel: a candidate room merged with
 * one query is out of the running for the others. */
static int pick_all(const hm_room_t *q, size_t nq, const cands_t *c, int assign, const policy_t *pol,
                    hm_room_pick_t *out)
{
    if (!assign) {
        for (size_t i = 0; i < nq; i++) {
            float bs = 0, second = -1;
            int b = best_two(&q[i], c, &bs, &second);
            out[i] = (hm_room_pick_t){b, b >= 0 ? bs : 0.0f, second, b >= 0 && decide(pol, bs, second)};
        }
        return HM_OK;
    }
    float *m = NULL;
    int *group = NULL;
    int rc = HM_ENOMEM;
    if (c->n && nq <= SIZE_MAX / sizeof(float) / c->n && (m = malloc(nq * c->n * sizeof(float))) &&
        (group = malloc(c->n * sizeof(int)))) {
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < c->n; j++)
                m[i * c->n + j] = hm_room_score(&q[i], &c->room[j], NULL);
        /* lines with one id are names of one room (--suggest); in --best the
         * id is the name, so a name listed twice is still one room */
        for (size_t j = 0; j < c->n; j++) {
            size_t k = 0;
            while (strcmp(c->id[k], c->id[j]) != 0)
                k++;
            group[j] = (int)k;
        }
        rc = hm_room_assign(m, nq, c->n, group, pol->threshold, pol->margin, out);
    } else if (c->n == 0) {
        rc = hm_room_assign(NULL, nq, 0, NULL, pol->threshold, pol->margin, out);
    }
    free(m);
    free(group);
    if (rc != HM_OK)
        fprintf(stderr, "hotelmux map: --assign: %s\n", hm_strerror(rc));
    return rc;
}

static int cmd_best(const char *qpath, const char *cpath, int matrix, int assign, const policy_t *pol)
{
    lines_t q;
    cands_t c;
    if (read_lines(qpath, &q) != HM_OK)
        return 1;
    if (cands_load(cpath, 0, &c) != HM_OK) {
        lines_free(&q);
        return 1;
    }
    int rc = HM_ENOMEM;
    hm_room_t *r = malloc((q.n ? q.n : 1) * sizeof(hm_room_t));
    hm_room_pick_t *pick = matrix ? NULL : malloc((q.n ? q.n : 1) * sizeof(hm_room_pick_t));
    if (r && (matrix || pick)) {
        /* an empty line is an empty room: it scores 0 and gets no candidate */
        for (size_t i = 0; i < q.n; i++)
            hm_room_parse(q.v[i], strlen(q.v[i]), &r[i]);
        rc = matrix ? HM_OK : pick_all(r, q.n, &c, assign, pol, pick);
    } else {
        fprintf(stderr, "hotelmux map: out of memory\n");
    }
    for (size_t i = 0; rc == HM_OK && i < q.n; i++) {
        if (matrix) {
            for (size_t j = 0; j < c.n; j++)
                printf("%s%.5f", j ? "\t" : "", hm_room_score(&r[i], &c.room[j], NULL));
            printf("\n");
            continue;
        }
        const hm_room_pick_t *p = &pick[i];
        printf("%s\t%s\t%.4f\t%s\n", q.v[i], p->cand >= 0 ? c.name[p->cand] : "", p->score,
               p->merged ? "same" : "new");
    }
    free(pick);
    free(r);
    cands_free(&c);
    lines_free(&q);
    return rc == HM_OK ? 0 : 1;
}

/* A tab or newline in a TSV field would shift the columns. */
static void tsv_field(const char *s, char end)
{
    for (; *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
    putchar(end);
}

/* --suggest: for each supplier room, the canonical room the policy would
 * merge it into, as a review sheet (TSV with a header) whose first column
 * is the decision: "yes" at or above the policy's threshold and margin, else
 * "no". The engineer edits it (flip a decision, fix a canonical id) and
 * feeds it to --write-table. CANONICAL may list several names per id (each
 * supplier's known name): a room scores its best name. */
static int cmd_suggest(const char *rpath, const char *cpath, const char *supplier, const char *hotel,
                       int assign, const policy_t *pol)
{
    cands_t r, c;
    if (cands_load(rpath, 1, &r) != HM_OK)
        return 1;
    if (cands_load(cpath, 1, &c) != HM_OK) {
        cands_free(&r);
        return 1;
    }
    hm_room_pick_t *pick = malloc((r.n ? r.n : 1) * sizeof(hm_room_pick_t));
    if (!pick || pick_all(r.room, r.n, &c, assign, pol, pick) != HM_OK) {
        if (!pick)
            fprintf(stderr, "hotelmux map: out of memory\n");
        free(pick);
        cands_free(&r);
        cands_free(&c);
        return 1;
    }
    printf("decision\tscore\tsupplier\thotel_id\troom\troom_name\tcanonical_room_id\tcanonical_name\n");
    size_t yes = 0, no = 0;
    for (size_t i = 0; i < r.n; i++) {
        int b = pick[i].cand, ok = pick[i].merged;
        ok ? yes++ : no++;
        printf("%s\t%.4f\t", ok ? "yes" : "no", pick[i].score);
        tsv_field(supplier, '\t');
        tsv_field(hotel, '\t');
        tsv_field(r.id[i], '\t');
        tsv_field(r.name[i], '\t');
        tsv_field(b >= 0 ? c.id[b] : "", '\t');
        tsv_field(b >= 0 ? c.name[b] : "", '\n');
    }
    fprintf(stderr, "hotelmux map: %zu suggested (score >= %.2f, margin %.2f, %s), %zu left for review\n",
            yes, pol->threshold, pol->margin, pol->source, no);
    free(pick);
    cands_free(&r);
    cands_free(&c);
    return 0;
}

/* ---- --write-table: review sheet (+ existing table) -> mapping CSV ---- */
#define ROW_FIELDS 4
typedef struct {
    char *f[ROW_FIELDS]; /* supplier, hotel_id, room, canonical_room_id; NULL f[0] = verbatim line */
    char *line;          /* comment line kept as is */
} row_t;

typedef struct { row_t *v; size_t n, cap; } rows_t;

static void rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (int k = 0; k < ROW_FIELDS; k++)
            free(r->v[i].f[k]);
        free(r->v[i].line);
    }
    free(r->v);
}

static row_t *rows_push(rows_t *r)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        row_t *v = realloc(r->v, nc * sizeof(row_t));
        if (!v)
            return NULL;
        r->v = v;
        r->cap = nc;
    }
    row_t *x = &r->v[r->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

/* One CSV line -> up to ROW_FIELDS fields (double quotes, "" escapes). */
static int csv_split(const char *line, char **f)
{
    int k = 0;
    const char *p = line;
    for (;;) {
        size_t cap = strlen(p) + 1, n = 0;
        char *buf = malloc(cap);
        if (!buf)
            return HM_ENOMEM;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    buf[n++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    buf[n++] = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                buf[n++] = *p++;
        }
        buf[n] = '\0';
        if (k < ROW_FIELDS)
            f[k++] = buf;
        else
            free(buf);
        if (*p != ',')
            break;
        p++;
    }
    return k;
}

static void csv_put(const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s == '\r' || *s == '\n' ? ' ' : *s);
    }
    putchar('"');
}

static int same_key(const row_t *a, char *const *f)
{
    return strcmp(a->f[0], f[0]) == 0 && strcmp(a->f[1], f[1]) == 0 && strcasecmp(a->f[2], f[2]) == 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int cmd_write_table(const char *review, const char *existing)
{
    rows_t rows = {0};
    int rc = HM_OK;
    size_t kept = 0, added = 0, changed = 0, same = 0, skipped = 0, bad = 0;
    if (existing) {
        lines_t e;
        if (read_lines(existing, &e) != HM_OK)
            return 1;
        for (size_t i = 0; rc == HM_OK && i < e.n; i++) {
            const char *t = e.v[i];
            while (isspace((unsigned char)*t))
                t++;
            if (!*t || strncasecmp(t, "supplier,", 9) == 0)
                continue;
            row_t *x = rows_push(&rows);
            if (!x) {
                rc = HM_ENOMEM;
                break;
            }
            if (*t == '#') {
                if (!(x->line = strdup(e.v[i])))
                    rc = HM_ENOMEM;
                continue;
            }
            int k = csv_split(e.v[i], x->f);
            if (k < 0) {
                rc = k;
            } else if (k < ROW_FIELDS) {
                fprintf(stderr, "hotelmux map: %s:%zu: not supplier,hotel_id,room,canonical_room_id\n",
                        existing, i + 1);
                rc = HM_EINVAL;
            } else {
                kept++;
            }
        }
        lines_free(&e);
    }
    lines_t r;
    if (rc == HM_OK && read_lines(review, &r) != HM_OK)
        rc = HM_EIO;
    else if (rc == HM_OK) {
        for (size_t i = 0; rc == HM_OK && i < r.n; i++) {
            char *col[8] = {0};
            int n = 0;
            for (char *p = r.v[i]; n < 8;) {
                col[n++] = p;
                char *tab = strchr(p, '\t');
                if (!tab)
                    break;
                *tab = '\0';
                p = tab + 1;
            }
            if (n == 1 && !*trim(col[0]))
                continue;
            if (col[0][0] == '#' || strcmp(col[0], "decision") == 0)
                continue;
            if (n < 7) {
                fprintf(stderr, "hotelmux map: %s:%zu: expected the --suggest columns"
                                " (decision, score, supplier, hotel_id, room, room_name, canonical_room_id, ...)\n",
                        review, i + 1);
                bad++;
                continue;
            }
            if (strcasecmp(trim(col[0]), "yes") != 0) {
                skipped++;
                continue;
            }
            char *f[ROW_FIELDS] = {trim(col[2]), trim(col[3]), trim(col[4]), trim(col[6])};
            if (!*f[0] || !*f[1] || !*f[2] || !*f[3]) {
                fprintf(stderr, "hotelmux map: %s:%zu: confirmed but a field is empty"
                                " (supplier, hotel_id, room, canonical_room_id)\n", review, i + 1);
                bad++;
                continue;
            }
            row_t *hit = NULL;
            for (size_t j = 0; j < rows.n; j++)
                if (rows.v[j].f[0] && same_key(&rows.v[j], f))
                    hit = &rows.v[j];
            if (hit && strcmp(hit->f[3], f[3]) == 0) {
                same++;
                continue;
            }
            if (hit) {
                fprintf(stderr, "hotelmux map: %s,%s,%s: %s -> %s\n", f[0], f[1], f[2], hit->f[3], f[3]);
                char *v = strdup(f[3]);
                if (!v) {
                    rc = HM_ENOMEM;
                    break;
                }
                free(hit->f[3]);
                hit->f[3] = v;
                changed++;
                continue;
            }
            row_t *x = rows_push(&rows);
            if (!x) {
                rc = HM_ENOMEM;
                break;
            }
            for (int k = 0; k < ROW_FIELDS && rc == HM_OK; k++)
                if (!(x->f[k] = strdup(f[k])))
                    rc = HM_ENOMEM;
            if (rc == HM_OK && !x->f[ROW_FIELDS - 1])
                rc = HM_ENOMEM;
            added++;
        }
        lines_free(&r);
    }
    if (rc == HM_OK && bad == 0) {
        printf("supplier,hotel_id,room,canonical_room_id\n");
        for (size_t i = 0; i < rows.n; i++) {
            const row_t *x = &rows.v[i];
            if (x->line) {
                printf("%s\n", x->line);
                continue;
            }
            for (int k = 0; k < ROW_FIELDS; k++) {
                if (k)
                    putchar(',');
                csv_put(x->f[k]);
            }
            putchar('\n');
        }
        fprintf(stderr, "hotelmux map: %zu rows added, %zu changed, %zu already there, %zu kept;"
                        " %zu review lines not confirmed\n", added, changed, same, kept - changed, skipped);
    } else if (rc != HM_OK && rc != HM_EIO) {
        fprintf(stderr, "hotelmux map: write-table: %s\n", hm_strerror(rc));
    } else if (bad) {
        fprintf(stderr, "hotelmux map: %zu bad review lines: nothing written\n", bad);
    }
    rows_free(&rows);
    return rc == HM_OK && bad == 0 ? 0 : 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_bench(long pairs)
{
    static const char *names[] = {
        "King Room with City View", "Deluxe King - City View", "King Bed City View",
        "Deluxe Room, 1 King Bed", "Superior Twin Room", "Room, 2 Queen Beds, Ocean View",
        "Junior Suite, 1 King Bed, Accessible (Roll-in Shower)", "Standard Double Room (Non Refundable)",
        "Club Room, City View (Club Lounge Access for 2 guests)", "Kona Tower Partial Ocean View",
        "Premier Queen Room With Two Queen Beds", "One Bedroom Suite with Kitchenette",
        "Executive King Room - Breakfast Included", "Family Room, 2 Double Beds, Garden View",
        "Studio, 1 King Bed with Sofa bed, Corner", "Villa, 2 Bedrooms, Private Pool"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    hm_room_t r[N];
    double t0 = now_s();
    for (int i = 0; i < N; i++)
        hm_room_parse(names[i], strlen(names[i]), &r[i]);
    for (int rep = 0; rep < 2000; rep++)
        for (int i = 0; i < N; i++)
            hm_room_parse(names[i], strlen(names[i]), &r[i]);
    double tp = now_s() - t0;
    volatile float sink = 0;
    t0 = now_s();
    long done = 0;
    while (done < pairs) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                sink += hm_room_score(&r[i], &r[j], NULL);
        done += N * N;
    }
    double dt = now_s() - t0;
    (void)sink;
    printf("parse: %.0f names/s (%.2f us each)\n", (N * 2000.0) / tp, tp / (N * 2000.0) * 1e6);
    printf("score: %ld pairs in %.3f s on one core: %.0f pairs/s (%.0f ns a pair)\n", done, dt,
           done / dt, dt / done * 1e9);
    return 0;
}

static int cmd_classify(const char *train, const char *test)
{
    lines_t tr, te;
    if (read_lines(train, &tr) != HM_OK)
        return 1;
    if (read_lines(test, &te) != HM_OK) {
        lines_free(&tr);
        return 1;
    }
    hm_roomcat_t *c = NULL;
    int rc = hm_roomcat_new(&c);
    for (size_t i = 0; rc == HM_OK && i < tr.n; i++) {
        char *tab = strchr(tr.v[i], '\t');
        if (!tab)
            continue;
        *tab = '\0';
        rc = hm_roomcat_add(c, tab + 1, strlen(tab + 1), tr.v[i]);
    }
    if (rc == HM_OK)
        rc = hm_roomcat_train(c, 8);
    for (size_t i = 0; rc == HM_OK && i < te.n; i++)
        printf("%s\n", hm_roomcat_predict(c, te.v[i], strlen(te.v[i])));
    if (rc != HM_OK)
        fprintf(stderr, "hotelmux map: classify: %s\n", hm_strerror(rc));
    hm_roomcat_free(c);
    lines_free(&tr);
    lines_free(&te);
    return rc == HM_OK ? 0 : 1;
}

int hm_mapcmd_main(int argc, char **argv)
{
    policy_t pol = {HM_MAP_DEFAULT_THRESHOLD, 0, ""};
    const char *policy = NULL, *threshold = NULL, *supplier = NULL, *hotel = NULL, *table = NULL;
    char *pos[4];
    const char *mode = NULL;
    int npos = 0, assign = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--policy") == 0 && has)
            policy = argv[++i];
        else if (strcmp(a, "--threshold") == 0 && has)
            threshold = argv[++i];
        else if (strcmp(a, "--supplier") == 0 && has)
            supplier = argv[++i];
        else if (strcmp(a, "--hotel") == 0 && has)
            hotel = argv[++i];
        else if (strcmp(a, "--table") == 0 && has)
            table = argv[++i];
        else if (strcmp(a, "--assign") == 0)
            assign = 1;
        else if (a[0] == '-' && a[1] == '-' && mode == NULL && npos == 0 &&
                 (strcmp(a, "--best") == 0 || strcmp(a, "--matrix") == 0 || strcmp(a, "--bench") == 0 ||
                  strcmp(a, "--classify") == 0 || strcmp(a, "--suggest") == 0 ||
                  strcmp(a, "--write-table") == 0))
            mode = a + 2;
        else if (a[0] == '-' && a[1] == '-') {
            usage();
            return 2;
        } else if (npos < 4)
            pos[npos++] = argv[i];
        else {
            usage();
            return 2;
        }
    }
    /* --assign is about one list against another: --best and --suggest only */
    if (assign && !(mode && (strcmp(mode, "best") == 0 || strcmp(mode, "suggest") == 0))) {
        usage();
        return 2;
    }
    if (mode && strcmp(mode, "bench") == 0 && npos <= 1)
        return cmd_bench(npos == 1 ? atol(pos[0]) : 20000000L);
    if (mode && strcmp(mode, "classify") == 0 && npos == 2)
        return cmd_classify(pos[0], pos[1]);
    if (mode && strcmp(mode, "matrix") == 0 && npos == 2)
        return cmd_best(pos[0], pos[1], 1, 0, &pol);
    if (mode && strcmp(mode, "write-table") == 0 && npos == 1)
        return cmd_write_table(pos[0], table);
    int known = (!mode && npos == 2) || (mode && npos == 2 &&
                                         (strcmp(mode, "best") == 0 || strcmp(mode, "suggest") == 0));
    if (!known) {
        usage();
        return 2;
    }
    /* the decision needs the policy's numbers (one source of truth) */
    if (threshold) {
        char *end;
        pol.threshold = strtod(threshold, &end);
        if (*end || end == threshold || pol.threshold < 0 || pol.threshold > 1) {
            fprintf(stderr, "hotelmux map: --threshold wants a number in 0..1\n");
            return 2;
        }
    }
    policy_t file = pol;
    if (policy_load(policy, &file) == HM_OK) {
        pol.margin = file.margin;
        if (!threshold)
            pol.threshold = file.threshold;
        if (threshold)
            snprintf(pol.source, sizeof(pol.source), "--threshold; margin from the policy");
        else
            memcpy(pol.source, file.source, sizeof(pol.source));
    } else if (threshold) {
        snprintf(pol.source, sizeof(pol.source), "--threshold, no policy file: margin 0");
    } else {
        return 1;
    }
    if (!mode)
        return cmd_pair(pos[0], pos[1], &pol);
    if (strcmp(mode, "best") == 0)
        return cmd_best(pos[0], pos[1], 0, assign, &pol);
    return cmd_suggest(pos[0], pos[1], supplier ? supplier : "", hotel ? hotel : "", assign, &pol);
}
