/* mapcmd.c -- `hotelmux map` (see mapcmd.h). */
#include "hotelmux/mapcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotelmux/common.h"
#include "hotelmux/roomname.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: hotelmux map [--threshold T] \"ROOM A\" \"ROOM B\"\n"
            "       hotelmux map --best QUERIES CANDIDATES\n"
            "       hotelmux map --matrix QUERIES CANDIDATES\n"
            "       hotelmux map --bench [PAIRS]\n"
            "       hotelmux map --classify TRAIN TEST\n");
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

static int cmd_pair(const char *a, const char *b, double threshold)
{
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
    printf("\ndecision: %s (threshold %.2f)\n", ex.score >= threshold ? "SAME ROOM" : "DIFFERENT",
           threshold);
    return 0;
}

static int cmd_best(const char *qpath, const char *cpath, int matrix)
{
    lines_t q, c;
    if (read_lines(qpath, &q) != HM_OK)
        return 1;
    if (read_lines(cpath, &c) != HM_OK) {
        lines_free(&q);
        return 1;
    }
    hm_room_t *cr = malloc((c.n ? c.n : 1) * sizeof(hm_room_t));
    if (!cr) {
        lines_free(&q);
        lines_free(&c);
        return 1;
    }
    /* empty candidate lines never win */
    size_t nc = 0;
    size_t *idx = malloc((c.n ? c.n : 1) * sizeof(size_t));
    for (size_t i = 0; idx && i < c.n; i++)
        if (c.v[i][0]) {
            hm_room_parse(c.v[i], strlen(c.v[i]), &cr[nc]);
            idx[nc++] = i;
        }
    for (size_t i = 0; idx && i < q.n; i++) {
        hm_room_t r;
        float s = 0;
        hm_room_parse(q.v[i], strlen(q.v[i]), &r);
        if (matrix) {
            for (size_t j = 0; j < nc; j++)
                printf("%s%.5f", j ? "\t" : "", hm_room_score(&r, &cr[j], NULL));
            printf("\n");
            continue;
        }
        int b = q.v[i][0] ? hm_room_best(&r, cr, nc, &s) : -1;
        printf("%s\t%s\t%.4f\n", q.v[i], b >= 0 ? c.v[idx[b]] : "", b >= 0 ? s : 0.0);
    }
    free(idx);
    free(cr);
    lines_free(&q);
    lines_free(&c);
    return 0;
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
    double threshold = HM_MAP_DEFAULT_THRESHOLD;
    int i = 0;
    if (i + 1 < argc && strcmp(argv[i], "--threshold") == 0) {
        threshold = atof(argv[i + 1]);
        i += 2;
    }
    int left = argc - i;
    if (left >= 1 && strcmp(argv[i], "--best") == 0 && left == 3)
        return cmd_best(argv[i + 1], argv[i + 2], 0);
    if (left >= 1 && strcmp(argv[i], "--matrix") == 0 && left == 3)
        return cmd_best(argv[i + 1], argv[i + 2], 1);
    if (left >= 1 && strcmp(argv[i], "--bench") == 0 && left <= 2)
        return cmd_bench(left == 2 ? atol(argv[i + 1]) : 20000000L);
    if (left >= 1 && strcmp(argv[i], "--classify") == 0 && left == 3)
        return cmd_classify(argv[i + 1], argv[i + 2]);
    if (left == 2 && argv[i][0] != '-')
        return cmd_pair(argv[i], argv[i + 1], threshold);
    usage();
    return 2;
}
