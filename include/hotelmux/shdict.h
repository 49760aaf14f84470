/* shdict.h -- a process-wide key/value store shared by every worker.
 *
 * Each worker has its own Lua state, so state that must be the same for all
 * of them (a simulated supplier's inventory, counters) lives here, as with
 * OpenResty's lua_shared_dict. Keys are strings; values are numbers, strings
 * or booleans, copied in and out (no pointer into the store escapes a call).
 * Sharded by key hash, a mutex per shard; operations are O(1) except keys().
 * A byte budget bounds the memory held; a TTL (seconds, monotonic clock)
 * expires an entry lazily. */
#ifndef HM_SHDICT_H
#define HM_SHDICT_H

#include <stddef.h>

typedef enum { HM_SHV_NIL, HM_SHV_NUMBER, HM_SHV_STRING, HM_SHV_BOOLEAN } hm_shv_type_t;

typedef struct {
    hm_shv_type_t type;
    double num;            /* number, or boolean as 0/1 */
    const char *str;       /* string (input: borrowed; output: malloc'd, caller frees) */
    size_t len;
} hm_shv_t;

/* Once per process; budget_bytes 0 = 64 MiB. */
int hm_shdict_init(size_t budget_bytes);
void hm_shdict_shutdown(void);

/* out->type == HM_SHV_NIL when absent or expired. Returns HM_OK or HM_ENOMEM. */
int hm_shdict_get(const char *key, size_t klen, hm_shv_t *out);
/* ttl <= 0: no expiry. nx: only if absent (returns HM_ELIMIT "exists" otherwise).
 * A NIL value deletes. HM_ENOMEM when the budget is exhausted. */
int hm_shdict_set(const char *key, size_t klen, const hm_shv_t *v, double ttl, int nx);
/* Atomically add delta to a number; an absent key starts at *init when init is
 * non-NULL (else HM_ENOENT). Not a number: HM_EINVAL. min: when non-NULL, a
 * result below *min is refused with HM_ELIMIT and nothing changes. */
int hm_shdict_incr(const char *key, size_t klen, double delta, const double *init,
                   const double *min, double *result);
/* Call fn for each live key starting with prefix (up to max keys; a copy of
 * the key list is taken first, so fn may use the store). */
int hm_shdict_keys(const char *prefix, size_t max, void (*fn)(void *ud, const char *key, size_t len),
                   void *ud);

#endif
