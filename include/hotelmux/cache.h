/* cache.h -- the L1 cache: in-process, shared by every worker.
 *
 * Sharded (a mutex per shard), each shard an LRU list plus a hash table,
 * all bounded by one byte budget: a set that would exceed it evicts from the
 * tail of its shard's LRU. Every entry has its own TTL (monotonic clock,
 * passed in so tests can move time) and up to HM_CACHE_MAX_TAGS tags. A tag
 * index per shard (tag -> entries) makes invalidation by tag touch only the
 * entries that carry it: never a key scan (DESIGN §5 rule 4).
 *
 * Values are bytes, copied in and out: nothing inside the cache escapes a
 * call. The ARI rules are not enforced here but by the callers (lua_cache.c),
 * which decide whether a request may use the cache at all. */
#ifndef HM_CACHE_H
#define HM_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* A search entry has 2 tags; a rendered answer carries the union of its
 * parts' (api/search.lua), so a one-hotel answer over 16 suppliers fits. */
#define HM_CACHE_MAX_TAGS 32

/* The lookups counter, by level (l1, l2, answer) and result. */
#define HM_CACHE_LOOKUPS_FAMILY "hotelmux_cache_requests_total"
#define HM_CACHE_LOOKUPS_HELP "Cache lookups by level and result (hit ratio per level)"
#define HM_CACHE_MAX_KEY 512

typedef struct {
    char *data;          /* malloc'd copy (caller frees), NUL-terminated */
    size_t len;
    double stored_at;    /* monotonic seconds */
    double ttl;          /* seconds it was stored for */
    uint64_t reads;      /* gets of this entry since it was stored, this one included */
} hm_cache_value_t;

/* What a visitor sees of an entry: valid only during the call. */
typedef struct {
    const char *data;
    size_t len;
    double stored_at, ttl;
    uint64_t reads;
    uint64_t version;    /* differs for every store, so a copy made from this
                          * entry can tell later that it is still the same one */
} hm_cache_view_t;

/* Runs under the entry's shard lock: keep it short, no other cache call.
 * HM_OK counts the hit; anything else is returned by hm_cache_visit. */
typedef int (*hm_cache_visit_fn)(void *ud, const hm_cache_view_t *v);

typedef struct {
    uint64_t hits, misses, sets, evictions, expired, invalidated;
    size_t entries, bytes, budget;
} hm_cache_stats_t;

int hm_cache_init(size_t budget_bytes);
void hm_cache_shutdown(void);

/* HM_OK with *out filled, HM_ENOENT on miss/expired, HM_ENOMEM. */
int hm_cache_get(const char *key, size_t klen, double now, hm_cache_value_t *out);
/* Like get, but fn reads the value in place (no copy): a big value is
 * rendered straight into the caller's buffer. HM_ENOENT on miss. */
int hm_cache_visit(const char *key, size_t klen, double now, hm_cache_visit_fn fn, void *ud);
/* ttl > 0 required (HM_EINVAL otherwise). Replaces an existing entry.
 * HM_ELIMIT when the value alone is bigger than a shard's share of the budget. */
int hm_cache_set(const char *key, size_t klen, const char *val, size_t vlen, double ttl,
                 const char *const *tags, size_t ntags, double now);
int hm_cache_delete(const char *key, size_t klen);
/* Drop every entry tagged `tag`; returns how many. */
size_t hm_cache_invalidate_tag(const char *tag, size_t tlen);
/* How many tag invalidations have started and finished (finished read
 * first). A value derived from several entries (the search's answer level)
 * is safe to store only if started == finished before its entries were read
 * and started has not moved once it is stored: no invalidation overlapped. */
void hm_cache_epoch(uint64_t *started, uint64_t *finished);
/* How many invalidations of `tag` have started (a hashed slot: other tags may
 * share it). Read before fetching a value for that tag; if it moved by the
 * time the value is stored (checked again after storing), an invalidation
 * overtook the fetch and the value must not stay. */
uint64_t hm_cache_tag_epoch(const char *tag, size_t tlen);
void hm_cache_stats(hm_cache_stats_t *out);
/* Drop everything (tests). */
void hm_cache_clear(void);

#endif
