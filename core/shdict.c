/* shdict.c -- the process-wide shared dictionary (see shdict.h). */
#include "hotelmux/shdict.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/clock.h"
#include "hotelmux/common.h"

#define NSHARDS 16
#define ENTRY_OVERHEAD 64   /* rough per-entry bookkeeping for the budget */

typedef struct entry_s {
    struct entry_s *next;
    uint64_t hash;
    double expires;         /* monotonic seconds; 0 = never */
    hm_shv_type_t type;
    double num;
    char *str;
    size_t len;
    size_t klen;
    char key[];
} entry_t;

typedef struct {
    pthread_mutex_t lock;
    entry_t **slots;
    size_t nslots;
    size_t count;
} shard_t;

static shard_t shards[NSHARDS];
static atomic_size_t used_bytes;
static size_t budget;
static int ready;

static size_t entry_bytes(const entry_t *e)
{
    return sizeof(*e) + e->klen + 1 + (e->str ? e->len + 1 : 0) + ENTRY_OVERHEAD;
}

static void entry_free(entry_t *e)
{
    atomic_fetch_sub(&used_bytes, entry_bytes(e));
    free(e->str);
    free(e);
}

int hm_shdict_init(size_t budget_bytes)
{
    budget = budget_bytes ? budget_bytes : (size_t)64 << 20;
    for (int i = 0; i < NSHARDS; i++) {
        shards[i].nslots = 64;
        shards[i].slots = calloc(shards[i].nslots, sizeof(entry_t *));
        if (!shards[i].slots)
            return HM_ENOMEM;
        pthread_mutex_init(&shards[i].lock, NULL);
    }
    ready = 1;
    return HM_OK;
}

void hm_shdict_shutdown(void)
{
    if (!ready)
        return;
    for (int i = 0; i < NSHARDS; i++) {
        for (size_t s = 0; s < shards[i].nslots; s++)
            for (entry_t *e = shards[i].slots[s], *n; e; e = n) {
                n = e->next;
                entry_free(e);
            }
        free(shards[i].slots);
        pthread_mutex_destroy(&shards[i].lock);
    }
    memset(shards, 0, sizeof(shards));
    ready = 0;
}

static shard_t *shard_of(uint64_t h) { return &shards[h % NSHARDS]; }

/* Find a live entry (dropping it when expired); *link points at its link. */
static entry_t *find(shard_t *sh, const char *key, size_t klen, uint64_t h, entry_t ***link)
{
    entry_t **pp = &sh->slots[(h >> 4) % sh->nslots];
    double now = 0;
    for (entry_t *e; (e = *pp) != NULL; pp = &e->next) {
        if (e->hash != h || e->klen != klen || memcmp(e->key, key, klen) != 0)
            continue;
        if (e->expires > 0) {
            if (now == 0)
                now = hm_clock_monotonic();
            if (e->expires <= now) {
                *pp = e->next;
                sh->count--;
                entry_free(e);
                return NULL;
            }
        }
        if (link)
            *link = pp;
        return e;
    }
    return NULL;
}

static void grow(shard_t *sh)
{
    size_t n = sh->nslots * 2;
    entry_t **slots = calloc(n, sizeof(*slots));
    if (!slots)
        return;   /* keep the longer chains; still correct */
    for (size_t i = 0; i < sh->nslots; i++)
        for (entry_t *e = sh->slots[i], *next; e; e = next) {
            next = e->next;
            entry_t **head = &slots[(e->hash >> 4) % n];
            e->next = *head;
            *head = e;
        }
    free(sh->slots);
    sh->slots = slots;
    sh->nslots = n;
}

int hm_shdict_get(const char *key, size_t klen, hm_shv_t *out)
{
    uint64_t h = hm_hash64(key, klen);
    shard_t *sh = shard_of(h);
    int rc = HM_OK;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find(sh, key, klen, h, NULL);
    if (e) {
        out->type = e->type;
        out->num = e->num;
        if (e->type == HM_SHV_STRING) {
            char *copy = malloc(e->len + 1);
            if (copy) {
                memcpy(copy, e->str, e->len + 1);
                out->str = copy;
                out->len = e->len;
            } else {
                out->type = HM_SHV_NIL;
                rc = HM_ENOMEM;
            }
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int hm_shdict_set(const char *key, size_t klen, const hm_shv_t *v, double ttl, int nx)
{
    uint64_t h = hm_hash64(key, klen);
    shard_t *sh = shard_of(h);
    entry_t **link = NULL;
    entry_t *ne = NULL;
    if (v->type != HM_SHV_NIL) {
        ne = calloc(1, sizeof(*ne) + klen + 1);
        if (!ne)
            return HM_ENOMEM;
        memcpy(ne->key, key, klen);
        ne->klen = klen;
        ne->hash = h;
        ne->type = v->type;
        ne->num = v->num;
        if (v->type == HM_SHV_STRING) {
            ne->str = malloc(v->len + 1);
            if (!ne->str) {
                free(ne);
                return HM_ENOMEM;
            }
            memcpy(ne->str, v->str, v->len);
            ne->str[v->len] = '\0';
            ne->len = v->len;
        }
        ne->expires = ttl > 0 ? hm_clock_monotonic() + ttl : 0;
    }
    pthread_mutex_lock(&sh->lock);
    entry_t *old = find(sh, key, klen, h, &link);
    if (old && nx) {
        pthread_mutex_unlock(&sh->lock);
        free(ne ? ne->str : NULL);
        free(ne);
        return HM_ELIMIT;
    }
    if (ne) {
        size_t add = entry_bytes(ne), drop = old ? entry_bytes(old) : 0;
        if (atomic_load(&used_bytes) + add > budget + drop) {
            pthread_mutex_unlock(&sh->lock);
            free(ne->str);
            free(ne);
            return HM_ENOMEM;
        }
        atomic_fetch_add(&used_bytes, add);
    }
    if (old) {
        *link = old->next;
        sh->count--;
        entry_free(old);
    }
    if (ne) {
        entry_t **head = &sh->slots[(h >> 4) % sh->nslots];
        ne->next = *head;
        *head = ne;
        if (++sh->count > sh->nslots * 2)
            grow(sh);
    }
    pthread_mutex_unlock(&sh->lock);
    return HM_OK;
}

int hm_shdict_incr(const char *key, size_t klen, double delta, const double *init,
                   const double *min, double *result)
{
    uint64_t h = hm_hash64(key, klen);
    shard_t *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find(sh, key, klen, h, NULL);
    int rc = HM_OK;
    if (!e) {
        pthread_mutex_unlock(&sh->lock);
        if (!init)
            return HM_ENOENT;
        double v = *init + delta;
        if (min && v < *min)
            return HM_ELIMIT;
        hm_shv_t nv = { HM_SHV_NUMBER, v, NULL, 0 };
        /* nx: if another thread created it meanwhile, retry on the live entry. */
        rc = hm_shdict_set(key, klen, &nv, 0, 1);
        if (rc == HM_ELIMIT)
            return hm_shdict_incr(key, klen, delta, NULL, min, result);
        if (rc == HM_OK)
            *result = v;
        return rc;
    }
    if (e->type != HM_SHV_NUMBER)
        rc = HM_EINVAL;
    else if (min && e->num + delta < *min)
        rc = HM_ELIMIT;
    else
        *result = (e->num += delta);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int hm_shdict_keys(const char *prefix, size_t max, void (*fn)(void *ud, const char *key, size_t len),
                   void *ud)
{
    size_t plen = strlen(prefix), n = 0, cap = 0;
    char **list = NULL;
    size_t *lens = NULL;
    int rc = HM_OK;
    double now = hm_clock_monotonic();
    for (int i = 0; i < NSHARDS && n < max && rc == HM_OK; i++) {
        shard_t *sh = &shards[i];
        pthread_mutex_lock(&sh->lock);
        for (size_t s = 0; s < sh->nslots && n < max && rc == HM_OK; s++)
            for (entry_t *e = sh->slots[s]; e && n < max; e = e->next) {
                if ((e->expires > 0 && e->expires <= now) || e->klen < plen ||
                    memcmp(e->key, prefix, plen) != 0)
                    continue;
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    char **nl = realloc(list, nc * sizeof(*nl));
                    size_t *nn = nl ? realloc(lens, nc * sizeof(*nn)) : NULL;
                    if (nl)
                        list = nl;
                    if (!nl || !nn) {
                        rc = HM_ENOMEM;
                        break;
                    }
                    lens = nn;
                    cap = nc;
                }
                if ((list[n] = malloc(e->klen + 1)) == NULL) {
                    rc = HM_ENOMEM;
                    break;
                }
                memcpy(list[n], e->key, e->klen + 1);
                lens[n++] = e->klen;
            }
        pthread_mutex_unlock(&sh->lock);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == HM_OK)
            fn(ud, list[i], lens[i]);
        free(list[i]);
    }
    free(list);
    free(lens);
    return rc;
}
