/* answer.h -- the answer level's lookup: a stored answer (an agedoc in L1)
 * rendered for one request.
 *
 * Two callers: hm.cache.answer (api/search.lua, when a repeated search
 * reaches its script) and the answer memo (answer_memo.h, when the core
 * answers a repeated search without entering Lua at all). Both count into
 * hotelmux_cache_requests_total{level="answer"}. */
#ifndef HM_ANSWER_H
#define HM_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "hotelmux/gzip.h"

typedef struct {
    char *body;        /* the rendered answer, malloc'd: the caller frees it */
    size_t len;
    double age;        /* seconds since the answer was stored (>= 0) */
    uint64_t reads;    /* hits since it was stored, this one included */
    int expiring;      /* some part has less than `fraction` of its TTL left */
    char *head;        /* when expiring and want_head: a copy of the agedoc's head
                        * (hm_agedoc_expiring names the parts); the caller frees it */
    size_t head_len;
} hm_answer_t;

/* Render the answer stored under key after prefix, its ages as of `now`
 * (monotonic seconds). fraction > 0 asks whether a part is near its expiry.
 * HM_OK with *out filled; HM_ENOENT on a miss; HM_EINVAL when the entry is
 * not an agedoc; HM_ENOMEM. Counts nothing (see hm_answer_count). */
int hm_answer_render(const char *key, size_t klen, const char *prefix, size_t plen, double fraction,
                     int want_head, double now, hm_answer_t *out);

/* A rendered answer (the document, no prefix) kept by its holder (the
 * memo, one per worker) for the next identical lookup: the stored answer is
 * rendered again only when it was replaced (version) or one of its ages
 * now reads differently (until, at most a second ahead). Between two
 * renders `expiring` keeps the earlier reading, so refresh-ahead may see a
 * part near expiry up to that second late. */
typedef struct {
    char *doc;         /* malloc'd, owned by the copy (hm_answer_copy_free) */
    size_t len;
    uint64_t version;  /* the cache entry it was rendered from (0: none) */
    double until;      /* monotonic seconds: reusable before this */
    int expiring;
    hm_gzip_hole_t *holes;   /* where its numbers are (the rest is the same for the version) */
    size_t nholes, holes_cap;
    int crc_ok;              /* crc and crc_op made (on the first gzip use of a rendering) */
    uint32_t crc;
    unsigned long crc_op;
} hm_answer_copy_t;

/* Bring copy up to date with the answer stored under key as of `now`: on
 * HM_OK copy->doc is the answer to send, *reads the entry's reads and
 * *rendered whether this call rendered it (0: reused). HM_ENOENT on a
 * miss (copy left as it was, to be freed by its holder), HM_EINVAL,
 * HM_ENOMEM. */
int hm_answer_render_copy(const char *key, size_t klen, double fraction, double now, hm_answer_copy_t *copy,
                          uint64_t *reads, int *rendered);

void hm_answer_copy_free(hm_answer_copy_t *copy);

/* Count one answer lookup of worker as a hit or a miss. */
void hm_answer_count(int worker, int hit);
/* Create the two series at 0 (dashboards see them before the first lookup). */
void hm_answer_declare_series(void);

#endif
