/* gzip.h -- gzip answers for clients that accept them (zlib).
 *
 * A search answer is 26-150 KB of JSON; gzip makes it 5-10x smaller on the
 * wire. The core's memo sends one stored answer to many requests that differ
 * only in a short per-request prefix (the session id), so the answer is
 * compressed once and each response is framed around it:
 *
 *   gzip header | stored (uncompressed) deflate block: the prefix |
 *   the answer's own deflate stream (final block) | CRC-32 + size
 *
 * A stored block ends on a byte boundary, so the separately compressed
 * stream can follow it as it is; its back-references never reach before its
 * own start. The CRC of the whole is combined from the parts' CRCs
 * (crc32_combine). Any gzip decoder reads the result as one member. */
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

/* A body compressed on its own: raw deflate ending in a final block. */
typedef struct hm_gzip_part_s {
    char *data;        /* malloc'd; hm_gzip_part_free */
    size_t len;
    uint32_t crc;      /* CRC-32 of the uncompressed bytes */
    size_t raw_len;    /* their length */
} hm_gzip_part_t;

/* level 1..9. HM_OK, HM_ENOMEM or HM_EIO (zlib failed). */
int hm_gzip_part(const char *in, size_t len, int level, hm_gzip_part_t *out);
void hm_gzip_part_free(hm_gzip_part_t *p);

/* The frame around part for a response that starts with prefix (plen may
 * be 0): appends the gzip header and the prefix in stored blocks to head,
 * and writes the 8-byte trailer to tail. HM_OK or HM_ENOMEM. */
int hm_gzip_frame(const char *prefix, size_t plen, const hm_gzip_part_t *part, hm_buf_t *head,
                  unsigned char tail[8]);

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

#endif
