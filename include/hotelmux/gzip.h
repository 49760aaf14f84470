/* gzip.h -- gzip answers for clients that accept them (zlib).
 *
 * A search answer is 26-150 KB of JSON; gzip makes it 4-5x smaller on the
 * wire. The core's memo sends one stored answer to many requests that differ
 * only in a short per-request prefix (the session id) and in the ages it
 * fills in, so the answer's text is compressed once and each response is
 * built around it:
 *
 *   gzip header | stored (uncompressed) block: the prefix |
 *   run 0 (deflate, full flush) | stored block: number 1 | run 1 | ... |
 *   empty final stored block | CRC-32 + size
 *
 * A stored block and a full flush both end on a byte boundary, and a run
 * compressed after a full flush refers to nothing before it, so the pieces
 * can be put together per response. The CRC of the whole is combined from
 * the pieces' CRCs. Any gzip decoder reads the result as one member. */
#ifndef HM_GZIP_H
#define HM_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "hotelmux/buf.h"

/* Does this Accept-Encoding value accept gzip? "gzip" (or "x-gzip", or "*")
 * with a q-value above 0; NULL: no. */
int hm_gzip_accepted(const char *accept_encoding);

/* Worth compressing: a Content-Type of JSON, text, JavaScript or XML. */
int hm_gzip_compressible(const char *content_type);

/* A text whose few short spans change between sendings (a stored answer's
 * ages) compressed once: the runs between the spans each end in a full
 * flush (byte-aligned, referring to nothing before them), so each sending
 * puts its own spans between them as stored blocks. Built from one
 * rendering; valid for every rendering whose text outside the spans is the
 * same. */
typedef struct {
    size_t off, len;   /* a span in the text */
} hm_gzip_hole_t;

typedef struct {
    char *data;        /* the runs' deflate output, back to back (malloc'd) */
    size_t *run_end;   /* run i's output ends at data + run_end[i] (nholes + 1 runs) */
    size_t nholes;
} hm_gzip_template_t;

int hm_gzip_template_build(const char *text, size_t len, const hm_gzip_hole_t *holes, size_t nholes, int level,
                           hm_gzip_template_t *t);
void hm_gzip_template_free(hm_gzip_template_t *t);

/* The whole gzip answer for prefix + text (a rendering with the template's
 * runs and its own holes), appended to out. crc and crc_op are the text's
 * CRC-32 and crc32_combine_gen(len), made once per rendering. */
int hm_gzip_template_emit(const hm_gzip_template_t *t, const char *text, size_t len, const hm_gzip_hole_t *holes,
                          uint32_t crc, unsigned long crc_op, const char *prefix, size_t plen, hm_buf_t *out);

/* A whole body as one gzip answer (a template without holes), appended to
 * out. HM_OK, HM_ENOMEM or HM_EIO. */
int hm_gzip_whole(const char *in, size_t len, int level, hm_buf_t *out);

#endif
