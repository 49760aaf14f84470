/* agedoc.h -- stored answers whose age fields are filled in when served.
 *
 * A search answer composed from cached entries is stored whole (the answer
 * level, api/search.lua) so the next identical search costs no decoding or
 * encoding. But each rate in it says how old its data is (freshness
 * .ageSeconds), and that advances while the answer sits in the cache: the
 * stored text keeps placeholders where the ages go, and every hit fills them
 * in with the ages as they are now. Rendering is a copy with a few numbers
 * written into it, done in C, so a hit's cost is one pass over the bytes.
 *
 * An agedoc is text:
 *
 *   <n>\n
 *   n lines: <age> <ttl> <has>[ <label>]\n    one per part (a cached entry)
 *   the document
 *
 * age and ttl are seconds (decimal) when stored; has is 1 when the part's
 * data is in the document (only those count for the summary below); the
 * label is the caller's (say which entry the part is) and opaque here. In
 * the document, where a JSON number is wanted, a string placeholder:
 *
 *   "\u0001hm-age:<i>\u0001"   part i's age now (1-based)
 *   "\u0001hm-age:max\u0001"   the oldest age now among the parts with data
 *   "\u0001hm-left:min\u0001"  the shortest remaining TTL now among them (>= 0)
 *
 * exactly as a JSON encoder writes the string "\1hm-age:3\1": api/search.lua
 * puts those strings in its answer and encodes it as usual. Ages are rounded
 * to whole seconds; a part's remaining TTL is its rounded TTL minus its age. */
#ifndef HM_AGEDOC_H
#define HM_AGEDOC_H

#include <stddef.h>
#include <sys/types.h>

/* Most parts a document may have (a 50-hotel list over 16 suppliers fits). */
#define HM_AGEDOC_MAX_PARTS 4096

typedef struct {
    size_t parts;          /* parts in the head */
    int any;               /* some part has data: max_age / min_left are set */
    long max_age, min_left;
    double min_left_fraction;   /* min over parts with data of left/ttl (1 when none) */
    size_t head_len;       /* bytes before the document (hm_agedoc_expiring needs only those) */
    double stable_for;     /* seconds after `elapsed` during which every filled-in
                            * number, so the whole text, stays the same (<= 1) */
} hm_agedoc_info_t;

/* The rendered size is at most prefix_len + len (a placeholder is longer
 * than any number written for it). */
#define HM_AGEDOC_RENDER_MAX(prefix_len, len) ((prefix_len) + (len))

/* Write prefix, then the document with its placeholders filled in for
 * `elapsed` seconds since it was stored, into out (cap bytes). Returns the
 * bytes written, or HM_EINVAL for a malformed head, HM_ELIMIT when out is
 * too small, HM_ENOMEM. Text that only looks like a placeholder (a part
 * that is not there, no closing mark) is copied as it is. info may be NULL. */
ssize_t hm_agedoc_render(const char *doc, size_t len, double elapsed, const char *prefix,
                         size_t prefix_len, char *out, size_t cap, hm_agedoc_info_t *info);

/* The same, calling hole(ud, off, len) for each number written (off from
 * the start of the document in out, after the prefix): where the text of
 * one rendering differs from another's (gzip.h templates). */
typedef void (*hm_agedoc_hole_fn)(void *ud, size_t off, size_t len);
ssize_t hm_agedoc_render_holes(const char *doc, size_t len, double elapsed, const char *prefix,
                               size_t prefix_len, char *out, size_t cap, hm_agedoc_info_t *info,
                               hm_agedoc_hole_fn hole, void *ud);

/* Call fn for each part whose remaining TTL after `elapsed` is below
 * `fraction` of its TTL (the refresh-ahead candidates), with its label.
 * Returns how many, or HM_EINVAL for a malformed head. */
typedef void (*hm_agedoc_part_fn)(void *ud, const char *label, size_t label_len);
int hm_agedoc_expiring(const char *doc, size_t len, double elapsed, double fraction,
                       hm_agedoc_part_fn fn, void *ud);

#endif
