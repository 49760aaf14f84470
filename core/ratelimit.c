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

int hm_ratelimit_take(const char *key, size_t klen, double rate, double burst, double now,
                      double *retry_after)
{
    *retry_after = 0;
    if (!(rate > 0))
        return 1;   /* no limit configured */
    if (!(burst >= 1))
        burst = 1;
    double T = 1.0 / rate, tolerance = (burst - 1) * T;
    size_t b = hm_hash64(key, klen) % NBUCKETS;
    pthread_mutex_lock(&lock);
    cell_t *c = buckets[b];
    while (c && !(c->klen == klen && memcmp(c->key, key, klen) == 0))
        c = c->next;
    double tat = c ? c->tat : now;
    if (tat < now)
        tat = now;
    int allowed = now >= tat - tolerance;
    if (allowed) {
        if (!c) {
            if (nkeys >= MAX_KEYS)
                sweep(now);
            c = nkeys < MAX_KEYS ? malloc(sizeof(*c) + klen + 1) : NULL;
            if (c) {
                c->klen = klen;
                memcpy(c->key, key, klen);
                c->key[klen] = '\0';
                c->next = buckets[b];
                buckets[b] = c;
                nkeys++;
            }
        }
        if (c)
            c->tat = tat + T;
    } else {
        *retry_after = tat - tolerance - now;
    }
    pthread_mutex_unlock(&lock);
    return allowed;
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
