/* lua_cache.h -- hm.cache: the cache for scripts, with the ARI rules (ari.h)
 * enforced here.
 *
 *   hm.cache.get(key)                    value, {age=s, ttl=s, source="l1", reads=n} | nil, why
 *   hm.cache.set(key, value, {ttl=s, tags={...}})
 *                                        static content (ttl <= 7 days) -> true | nil, why
 *   hm.cache.set_search(key, value, q)   a supplier's search answer; the TTL comes
 *       from scripts/policies/ttl.lua (`require "policies.ttl"`, ttl(ctx, q))
 *       clamped by the core; q = { supplier, hotel_id, check_in, nights,
 *       hotness, utc_offset_hours?, tags? }   -> ttl | nil, why
 *   hm.cache.answer(key, prefix[, fraction])
 *                                        a stored answer (an agedoc, agedoc.h) rendered
 *       after prefix with its ages as they are now -> body, age, reads, expiring | nil, why
 *       (body: a C-made response body, lua_body.h; expiring: the labels of its
 *       parts with less than `fraction` of their TTL left, or nil)
 *   hm.cache.render(doc, prefix)         an agedoc rendered as just stored -> body
 *   hm.cache.invalidate(tag)             -> number of entries dropped
 *   hm.cache.stats()                     -> { hits, misses, entries, bytes, ... }
 * In an ARI request every get misses and every set is refused (nil, "ari"),
 * and the refusal is counted. Values are strings (encode tables). */
#ifndef HM_LUA_CACHE_H
#define HM_LUA_CACHE_H
#include "hotelmux/lua_vm.h"

/* With Redis configured the cache has two levels: L1 (this process) and L2
 * (Redis, shared by the nodes). A get that misses L1 asks L2 (yielding, at
 * most redis_timeout_ms; slow or down Redis = a miss) and copies a hit into
 * L1. A set writes both (L2 without waiting). invalidate(tag) drops the tag's
 * entries from L1 and L2 and publishes the tag on HM_INVALIDATION_CHANNEL,
 * returning once Redis has accepted it; every node's subscriber drops its L1
 * entries for the tag and acknowledges; invalidate returns when every other
 * node has (or after 250 ms: nodes_acked < nodes_expected says so). */
#define HM_INVALIDATION_CHANNEL "hotelmux:invalidate"

void hm_lua_cache_open(lua_State *L, hm_vm_t *vm);
/* hm_redis_message_cb for each worker's subscriber: invalidations (worker 0)
 * and acknowledgements of this worker's own invalidations. */
void hm_lua_cache_on_invalidation(void *worker, const char *channel, const char *payload, size_t len);
/* The channel on which other nodes acknowledge this worker's invalidations. */
void hm_lua_cache_ack_channel(char *out, size_t cap, int worker);
#endif
