/* roomassign.c -- greedy one-to-one room assignment (see roomassign.h). */
#include "hotelmux/roomassign.h"

#include <stdint.h>
#include <stdlib.h>

#include "hotelmux/common.h"

typedef struct {
    float s;
    uint32_t i, j;
} cell_t;

/* Highest score first; equal scores: lower query, then lower candidate, so
 * the result never depends on qsort's (unstable) order. */
static int cell_cmp(const void *pa, const void *pb)
{
    const cell_t *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    if (a->i != b->i)
        return a->i < b->i ? -1 : 1;
    return a->j < b->j ? -1 : (a->j > b->j);
}

int hm_room_assign(const float *scores, size_t nq, size_t nc, const int *group, double threshold,
                   double margin, hm_room_pick_t *out)
{
    if ((nq && !out) || (nq && nc && !scores) || nq > UINT32_MAX || nc > UINT32_MAX)
        return HM_EINVAL;
    for (size_t j = 0; group && j < nc; j++)
        if (group[j] < 0 || (size_t)group[j] >= nc)
            return HM_EINVAL;
    for (size_t i = 0; i < nq; i++)
        out[i] = (hm_room_pick_t){-1, 0.0f, -1.0f, 0};
    if (nq == 0 || nc == 0)
        return HM_OK;
    if (nq > SIZE_MAX / sizeof(cell_t) / nc)
        return HM_ENOMEM;
    cell_t *cells = malloc(nq * nc * sizeof(cell_t));
    unsigned char *done = calloc(nq, 1), *taken = calloc(nc, 1); /* taken: by room (group) */
    if (!cells || !done || !taken) {
        free(cells);
        free(done);
        free(taken);
        return HM_ENOMEM;
    }
    /* Only pairs that share something are candidates at all (as for the
     * argmax: a score of 0 is "no match", not a weak one). */
    size_t n = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nc; j++)
            if (scores[i * nc + j] > 0.0f)
                cells[n++] = (cell_t){scores[i * nc + j], (uint32_t)i, (uint32_t)j};
    qsort(cells, n, sizeof(cell_t), cell_cmp);
    /* Walking the pairs best first, the first pair met for an undecided
     * query whose room is free is that query's best free candidate: rooms
     * are only ever taken, never freed, so every better pair of this query
     * was met earlier with a room already taken. */
    for (size_t k = 0; k < n; k++) {
        const cell_t *c = &cells[k];
        size_t gj = group ? (size_t)group[c->j] : c->j;
        if (done[c->i] || taken[gj])
            continue;
        done[c->i] = 1;
        float second = -1.0f;
        const float *row = scores + (size_t)c->i * nc;
        for (size_t j = 0; j < nc; j++) {
            size_t g = group ? (size_t)group[j] : j;
            if (g != gj && !taken[g] && row[j] > second)
                second = row[j];
        }
        hm_room_pick_t *p = &out[c->i];
        p->cand = (int)c->j;
        p->score = c->s;
        p->second = second;
        /* in double, like the argmax path's decision (same numbers, same verdict) */
        p->merged = (double)c->s >= threshold && (double)c->s - (second < 0 ? 0 : second) >= margin;
        if (p->merged)
            taken[gj] = 1;
    }
    free(cells);
    free(done);
    free(taken);
    return HM_OK;
}
