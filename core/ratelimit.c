/* ratelimit.c -- in-process GCRA (see ratelimit.h). */
#include "hotelmux/ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"

#define NBUCKETS 4096
#define MAX_KEYS 100000

typedef struct cell_s {
    struct cell_s *next;
    double tat;
    size_t klen;
    char key[];
} cell_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cell_t *buckets[NBUCKETS];
static size_t nkeys;

/* Drop keys whose tat has passed: they are back to a full burst anyway. */
static void sweep(double now)
{
    for (size_t b = 0; b < NBUCKETS; b++)
        for (cell_t **pp = &buckets[b]; *pp;) {
            cell_t *c = *pp;
            if (c->tat <= now) {
                *pp = c->next;
                free(c);
                nkeys--;
            } else {
                pp = &c->next;
            }
        }
}

/* The cell of key in bucket b, or NULL. Under the lock. */
static cell_t *cell_find(size_t b, const char *key, size_t klen)
{
    cell_t *c = buckets[b];
    while (c && !(c->klen == klen && memcmp(c->key, key, klen) == 0))
        c = c->next;
    return c;
}

int hm_ratelimit_take_all(const hm_ratelimit_key_t *keys, size_t n, double now, double *retry_after,
                          size_t *refused)
{
    size_t bs[HM_RATELIMIT_MAX_KEYS];
    double tats[HM_RATELIMIT_MAX_KEYS];
    *retry_after = 0;
    if (n > HM_RATELIMIT_MAX_KEYS)
        return HM_EINVAL;
    for (size_t i = 0; i < n; i++)
        bs[i] = hm_hash64(keys[i].key, keys[i].klen) % NBUCKETS;
    /* One lock for all of a request's limits: every worker takes the same
     * app keys on every request, and each acquisition is a chance to wait
     * for a holder the scheduler has just preempted. */
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        const hm_ratelimit_key_t *k = &keys[i];
        if (!(k->rate > 0))
            continue;   /* no limit configured */
        double T = 1.0 / k->rate, tolerance = ((k->burst >= 1 ? k->burst : 1) - 1) * T;
        cell_t *c = cell_find(bs[i], k->key, k->klen);
        double tat = c ? c->tat : now;
        if (tat < now)
            tat = now;
        if (now < tat - tolerance) {   /* refused: nothing is taken from any key */
            pthread_mutex_unlock(&lock);
            *retry_after = tat - tolerance - now;
            if (refused)
                *refused = i;
            return 0;
        }
        tats[i] = tat + T;
    }
    /* Allowed: commit. Each cell is found again rather than kept from the
     * check: making a cell for a new key may sweep, which frees cells. */
    for (size_t i = 0; i < n; i++) {
        const hm_ratelimit_key_t *k = &keys[i];
        if (!(k->rate > 0))
            continue;
        cell_t *c = cell_find(bs[i], k->key, k->klen);
        if (!c) {
            if (nkeys >= MAX_KEYS)
                sweep(now);
            c = nkeys < MAX_KEYS ? malloc(sizeof(*c) + k->klen + 1) : NULL;
            if (c == NULL)
                continue;   /* full or out of memory: allowed, not remembered */
            c->klen = k->klen;
            memcpy(c->key, k->key, k->klen);
            c->key[k->klen] = '\0';
            c->next = buckets[bs[i]];
            buckets[bs[i]] = c;
            nkeys++;
        }
        c->tat = tats[i];
    }
    pthread_mutex_unlock(&lock);
    return 1;
}

int hm_ratelimit_take(const char *key, size_t klen, double rate, double burst, double now,
                      double *retry_after)
{
    hm_ratelimit_key_t k = { key, klen, rate, burst };
    return hm_ratelimit_take_all(&k, 1, now, retry_after, NULL);
}

void hm_ratelimit_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        while (buckets[b]) {
            cell_t *c = buckets[b];
            buckets[b] = c->next;
            free(c);
        }
    nkeys = 0;
    pthread_mutex_unlock(&lock);
}
