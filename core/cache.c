/* cache.c -- the L1 cache (see cache.h): sharded LRU + TTL + tag index. */
#include "hotelmux/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/dlist.h"

#define NSHARDS 16
#define ENTRY_OVERHEAD 96

typedef struct tag_s tag_t;
typedef struct entry_s entry_t;

/* One entry's membership in one tag's list. */
typedef struct tag_link_s {
    struct tag_link_s *prev, *next;
    tag_t *tag;
    entry_t *owner;
} tag_link_t;

struct tag_s {
    tag_t *chain;
    uint64_t hash;
    tag_link_t *head;
    size_t count;
    size_t len;
    char name[];
};

struct entry_s {
    entry_t *chain;                /* hash bucket */
    entry_t *lru_prev, *lru_next;  /* head = most recent */
    uint64_t hash;
    double expires, stored_at, ttl;
    uint64_t reads;                /* gets since it was stored (under the shard lock) */
    uint64_t version;              /* which store this is (see hm_cache_view_t) */
    size_t klen, vlen, bytes;
    int ntags;
    tag_link_t *tags;              /* ntags links, in the same allocation (after key) */
    char *val;
    char key[];
};

typedef struct {
    pthread_mutex_t lock;
    entry_t **buckets;
    size_t nbuckets, count, bytes, budget;
    entry_t *lru_head, *lru_tail;
    tag_t **tags;
    size_t ntagbuckets;
    uint64_t hits, misses, sets, evictions, expired, invalidated;
} shard_t;

static shard_t shards[NSHARDS];
static size_t total_budget;
static int ready;
static atomic_uint_least64_t stores;   /* entry versions: never 0, never reused */

int hm_cache_init(size_t budget_bytes)
{
    total_budget = budget_bytes ? budget_bytes : (size_t)128 << 20;
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];
        memset(s, 0, sizeof(*s));
        s->nbuckets = 256;
        s->ntagbuckets = 256;
        s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
        s->tags = calloc(s->ntagbuckets, sizeof(*s->tags));
        if (!s->buckets || !s->tags)
            return HM_ENOMEM;
        s->budget = total_budget / NSHARDS;
        pthread_mutex_init(&s->lock, NULL);
    }
    ready = 1;
    return HM_OK;
}

/* ---- tag index --------------------------------------------------------- */

static tag_t *tag_find(shard_t *s, const char *name, size_t len, uint64_t h, int create)
{
    tag_t **b = &s->tags[h % s->ntagbuckets];
    for (tag_t *t = *b; t; t = t->chain)
        if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0)
            return t;
    if (!create)
        return NULL;
    tag_t *t = calloc(1, sizeof(*t) + len + 1);
    if (!t)
        return NULL;
    t->hash = h;
    t->len = len;
    memcpy(t->name, name, len);
    t->chain = *b;
    *b = t;
    return t;
}

static void tag_drop_if_empty(shard_t *s, tag_t *t)
{
    if (t->count > 0)
        return;
    tag_t **pp = &s->tags[t->hash % s->ntagbuckets];
    while (*pp != t)
        pp = &(*pp)->chain;
    *pp = t->chain;
    free(t);
}

static void tag_unlink(shard_t *s, tag_link_t *l)
{
    tag_t *t = l->tag;
    if (l->prev)
        l->prev->next = l->next;
    else
        t->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    t->count--;
    tag_drop_if_empty(s, t);
}

/* ---- entries ----------------------------------------------------------- */

static void lru_unlink(shard_t *s, entry_t *e)
{
    HM_DLIST_UNLINK(s->lru_head, s->lru_tail, e, lru_prev, lru_next);
}

static void lru_push_front(shard_t *s, entry_t *e)
{
    HM_DLIST_PREPEND(s->lru_head, s->lru_tail, e, lru_prev, lru_next);
}

static void entry_remove(shard_t *s, entry_t *e)
{
    entry_t **pp = &s->buckets[e->hash % s->nbuckets];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(s, e);
    for (int i = 0; i < e->ntags; i++)
        tag_unlink(s, &e->tags[i]);
    s->count--;
    s->bytes -= e->bytes;
    free(e->val);
    free(e);
}

static entry_t *entry_find(shard_t *s, const char *key, size_t klen, uint64_t h)
{
    for (entry_t *e = s->buckets[h % s->nbuckets]; e; e = e->chain)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

static void grow(shard_t *s)
{
    size_t n = s->nbuckets * 2;
    entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (entry_t *e = s->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash % n];
            b[e->hash % n] = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static shard_t *shard_of(uint64_t h) { return &shards[(h >> 56) % NSHARDS]; }

int hm_cache_visit(const char *key, size_t klen, double now, hm_cache_visit_fn fn, void *ud)
{
    if (!ready)
        return HM_ENOENT;
    uint64_t h = hm_hash64(key, klen);
    shard_t *s = shard_of(h);
    int rc = HM_ENOENT;
    pthread_mutex_lock(&s->lock);
    entry_t *e = entry_find(s, key, klen, h);
    if (e && e->expires <= now) {
        entry_remove(s, e);
        s->expired++;
        e = NULL;
    }
    if (e) {
        hm_cache_view_t v = { e->val, e->vlen, e->stored_at, e->ttl, ++e->reads, e->version };
        rc = fn(ud, &v);
        if (rc == HM_OK) {
            lru_unlink(s, e);
            lru_push_front(s, e);
            s->hits++;
        }
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int copy_out(void *ud, const hm_cache_view_t *v)
{
    hm_cache_value_t *out = ud;
    out->data = malloc(v->len + 1);
    if (out->data == NULL)
        return HM_ENOMEM;
    memcpy(out->data, v->data, v->len);
    out->data[v->len] = '\0';
    out->len = v->len;
    out->stored_at = v->stored_at;
    out->ttl = v->ttl;
    out->reads = v->reads;
    return HM_OK;
}

int hm_cache_get(const char *key, size_t klen, double now, hm_cache_value_t *out)
{
    return hm_cache_visit(key, klen, now, copy_out, out);
}

int hm_cache_set(const char *key, size_t klen, const char *val, size_t vlen, double ttl,
                 const char *const *tags, size_t ntags, double now)
{
    if (!ready)
        return HM_ESTATE;
    if (!(ttl > 0) || klen == 0 || klen > HM_CACHE_MAX_KEY || ntags > HM_CACHE_MAX_TAGS)
        return HM_EINVAL;
    uint64_t h = hm_hash64(key, klen);
    shard_t *s = shard_of(h);
    size_t bytes = sizeof(entry_t) + klen + vlen + ENTRY_OVERHEAD;
    for (size_t i = 0; i < ntags; i++)
        bytes += strlen(tags[i]) + 16 + sizeof(tag_link_t);
    if (bytes > s->budget / 4)
        return HM_ELIMIT;
    /* the tag links follow the key, aligned: most entries carry 2 tags, an
     * answer of the search's answer level up to HM_CACHE_MAX_TAGS */
    size_t links_at = (sizeof(entry_t) + klen + 1 + _Alignof(tag_link_t) - 1) / _Alignof(tag_link_t) *
                      _Alignof(tag_link_t);
    entry_t *e = calloc(1, links_at + ntags * sizeof(tag_link_t));
    char *v = malloc(vlen + 1);
    if (!e || !v) {
        free(e);
        free(v);
        return HM_ENOMEM;
    }
    e->tags = (tag_link_t *)(void *)((char *)e + links_at);
    memcpy(e->key, key, klen);
    memcpy(v, val, vlen);
    v[vlen] = '\0';
    e->val = v;
    e->klen = klen;
    e->vlen = vlen;
    e->hash = h;
    e->bytes = bytes;
    e->stored_at = now;
    e->version = atomic_fetch_add(&stores, 1) + 1;
    e->ttl = ttl;
    e->expires = now + ttl;
    pthread_mutex_lock(&s->lock);
    entry_t *old = entry_find(s, key, klen, h);
    if (old)
        entry_remove(s, old);
    while (s->bytes + bytes > s->budget && s->lru_tail) {
        entry_remove(s, s->lru_tail);
        s->evictions++;
    }
    for (size_t i = 0; i < ntags; i++) {
        size_t tl = strlen(tags[i]);
        tag_t *t = tag_find(s, tags[i], tl, hm_hash64(tags[i], tl), 1);
        int dup = 0;
        for (int k = 0; k < e->ntags; k++)
            dup |= e->tags[k].tag == t;
        if (!t || dup)
            continue;   /* out of memory (no index for this tag), or listed twice */
        tag_link_t *l = &e->tags[e->ntags++];
        l->tag = t;
        l->owner = e;
        l->prev = NULL;
        l->next = t->head;
        if (t->head)
            t->head->prev = l;
        t->head = l;
        t->count++;
    }
    e->chain = s->buckets[h % s->nbuckets];
    s->buckets[h % s->nbuckets] = e;
    lru_push_front(s, e);
    s->count++;
    s->bytes += bytes;
    s->sets++;
    if (s->count > s->nbuckets * 2)
        grow(s);
    pthread_mutex_unlock(&s->lock);
    return HM_OK;
}

int hm_cache_delete(const char *key, size_t klen)
{
    if (!ready)
        return HM_ENOENT;
    uint64_t h = hm_hash64(key, klen);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    entry_t *e = entry_find(s, key, klen, h);
    if (e)
        entry_remove(s, e);
    pthread_mutex_unlock(&s->lock);
    return e ? HM_OK : HM_ENOENT;
}

/* Invalidations started and finished (see hm_cache_epoch). */
static _Atomic uint64_t inval_started, inval_finished;

void hm_cache_epoch(uint64_t *started, uint64_t *finished)
{
    *finished = atomic_load(&inval_finished);
    *started = atomic_load(&inval_started);
}

/* Per-tag invalidation counters, hashed into slots (a collision only makes
 * a fenced store more cautious): a supplier answer fetched for one hotel is
 * fenced by that hotel's invalidations, not by every webhook on the node. */
#define TAG_EPOCH_SLOTS 4096
static _Atomic uint64_t tag_epochs[TAG_EPOCH_SLOTS];

uint64_t hm_cache_tag_epoch(const char *tag, size_t tlen)
{
    return atomic_load(&tag_epochs[hm_hash64(tag, tlen) % TAG_EPOCH_SLOTS]);
}

size_t hm_cache_invalidate_tag(const char *tag, size_t tlen)
{
    if (!ready)
        return 0;
    atomic_fetch_add(&inval_started, 1);
    uint64_t h = hm_hash64(tag, tlen);
    atomic_fetch_add(&tag_epochs[h % TAG_EPOCH_SLOTS], 1);   /* before the walk: see the header */
    size_t n = 0;
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        tag_t *t = tag_find(s, tag, tlen, h, 0);
        /* Each removal unlinks from this tag's list (and frees the tag when
         * its last entry goes), so always take the current head. */
        while (t && t->head) {
            int last = t->count == 1;
            entry_remove(s, t->head->owner);
            n++;
            s->invalidated++;
            if (last)
                break;
        }
        pthread_mutex_unlock(&s->lock);
    }
    atomic_fetch_add(&inval_finished, 1);
    return n;
}

void hm_cache_stats(hm_cache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->budget = total_budget;
    for (int i = 0; i < NSHARDS && ready; i++) {
        shard_t *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        out->hits += s->hits;
        out->misses += s->misses;
        out->sets += s->sets;
        out->evictions += s->evictions;
        out->expired += s->expired;
        out->invalidated += s->invalidated;
        out->entries += s->count;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->lock);
    }
}

void hm_cache_clear(void)
{
    for (int i = 0; i < NSHARDS && ready; i++) {
        shard_t *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        while (s->lru_head)
            entry_remove(s, s->lru_head);
        pthread_mutex_unlock(&s->lock);
    }
}

void hm_cache_shutdown(void)
{
    if (!ready)
        return;
    hm_cache_clear();
    for (int i = 0; i < NSHARDS; i++) {
        free(shards[i].buckets);
        free(shards[i].tags);
        pthread_mutex_destroy(&shards[i].lock);
    }
    ready = 0;
}
