/* gzip.c -- gzip answers framed around a body compressed once (see the header). */
#include "hotelmux/gzip.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "hotelmux/common.h"

/* One coding of an Accept-Encoding list: "name" or "name;q=0.5". */
static int coding_accepts(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    size_t name = 0;
    while (name < n && s[name] != ';' && !isspace((unsigned char)s[name]))
        name++;
    int gzip = (name == 4 && strncasecmp(s, "gzip", 4) == 0) || (name == 6 && strncasecmp(s, "x-gzip", 6) == 0) ||
               (name == 1 && s[0] == '*');
    if (!gzip)
        return 0;
    /* q=0 (0, 0.0, 0.00...) refuses it; anything else accepts */
    for (size_t i = name; i + 1 < n; i++) {
        if ((s[i] == 'q' || s[i] == 'Q') && s[i + 1] == '=') {
            const char *q = s + i + 2, *end = s + n;
            int nonzero = 0;
            for (; q < end && (isdigit((unsigned char)*q) || *q == '.'); q++)
                nonzero |= *q >= '1' && *q <= '9';
            return nonzero;
        }
    }
    return 1;
}

int hm_gzip_accepted(const char *v)
{
    if (!v)
        return 0;
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t n = comma ? (size_t)(comma - v) : strlen(v);
        if (coding_accepts(v, n))
            return 1;
        v += n + (comma ? 1 : 0);
    }
    return 0;
}

int hm_gzip_compressible(const char *ct)
{
    if (!ct)
        return 0;
    return strncasecmp(ct, "application/json", 16) == 0 || strncasecmp(ct, "text/", 5) == 0 ||
           strncasecmp(ct, "application/javascript", 22) == 0 || strncasecmp(ct, "application/xml", 15) == 0;
}

static uint32_t crc_of(const char *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p, (uInt)n);
}

/* A stored block's header for n (<= 65535) bytes, on a byte boundary: BFINAL,
 * BTYPE=00 (then padding to the byte), LEN, NLEN. */
static int stored_header(hm_buf_t *out, size_t n, int final)
{
    unsigned char hdr[5] = { (unsigned char)(final ? 1 : 0), (unsigned char)(n & 0xff), (unsigned char)(n >> 8),
                             (unsigned char)(~n & 0xff), (unsigned char)((~n >> 8) & 0xff) };
    return hm_buf_append(out, hdr, sizeof(hdr));
}

/* The gzip header, then the prefix in stored blocks (each on a byte
 * boundary, so what follows may start a block of its own). */
static int frame_head(const char *prefix, size_t plen, hm_buf_t *head)
{
    /* ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255 (unknown) */
    static const unsigned char gz_header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };
    int rc = hm_buf_append(head, gz_header, sizeof(gz_header));
    for (size_t off = 0; rc == HM_OK && off < plen;) {
        size_t n = plen - off < 65535 ? plen - off : 65535;
        rc = stored_header(head, n, 0);
        if (rc == HM_OK)
            rc = hm_buf_append(head, prefix + off, n);
        off += n;
    }
    return rc;
}

static void put_tail(unsigned char tail[8], uint32_t crc, size_t total)
{
    uint32_t size = (uint32_t)total;
    for (int i = 0; i < 4; i++) {
        tail[i] = (unsigned char)(crc >> (8 * i));
        tail[4 + i] = (unsigned char)(size >> (8 * i));
    }
}

int hm_gzip_template_build(const char *text, size_t len, const hm_gzip_hole_t *holes, size_t nholes, int level,
                           hm_gzip_template_t *t)
{
    memset(t, 0, sizeof(*t));
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return HM_ENOMEM;
    /* each run: its bound plus a flush marker; enough for all of them */
    size_t cap = deflateBound(&z, (uLong)len) + (nholes + 1) * 16;
    t->data = malloc(cap);
    t->run_end = malloc((nholes + 1) * sizeof(*t->run_end));
    int rc = t->data && t->run_end ? HM_OK : HM_ENOMEM;
    z.next_out = (Bytef *)t->data;
    z.avail_out = (uInt)cap;
    size_t at = 0;
    for (size_t i = 0; rc == HM_OK && i <= nholes; i++) {
        size_t end = i < nholes ? holes[i].off : len;
        if (end < at || end > len) {
            rc = HM_EINVAL;
            break;
        }
        if (end > at) {   /* an empty run sends nothing */
            z.next_in = (Bytef *)(uintptr_t)(text + at);
            z.avail_in = (uInt)(end - at);
            if (deflate(&z, Z_FULL_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0)
                rc = HM_EIO;
        }
        t->run_end[i] = cap - z.avail_out;
        if (i < nholes)
            at = holes[i].off + holes[i].len;
    }
    deflateEnd(&z);
    if (rc != HM_OK) {
        hm_gzip_template_free(t);
        return rc;
    }
    t->nholes = nholes;
    return HM_OK;
}

void hm_gzip_template_free(hm_gzip_template_t *t)
{
    free(t->data);
    free(t->run_end);
    memset(t, 0, sizeof(*t));
}

int hm_gzip_template_emit(const hm_gzip_template_t *t, const char *text, size_t len, const hm_gzip_hole_t *holes,
                          uint32_t crc, unsigned long crc_op, const char *prefix, size_t plen, hm_buf_t *out)
{
    unsigned char tail[8];
    int rc = frame_head(prefix, plen, out);
    /* the text's CRC combined with the prefix's by the operator made for the
     * text's length: no pass over the text per request */
    put_tail(tail, (uint32_t)crc32_combine_op(crc_of(prefix, plen), crc, crc_op), plen + len);
    size_t from = 0;
    for (size_t i = 0; rc == HM_OK && i <= t->nholes; i++) {
        rc = hm_buf_append(out, t->data + from, t->run_end[i] - from);
        from = t->run_end[i];
        if (rc == HM_OK && i < t->nholes) {
            if (holes[i].off + holes[i].len > len || holes[i].len > 65535)
                return HM_EINVAL;
            rc = stored_header(out, holes[i].len, 0);
            if (rc == HM_OK)
                rc = hm_buf_append(out, text + holes[i].off, holes[i].len);
        }
    }
    if (rc == HM_OK)
        rc = stored_header(out, 0, 1);   /* the last block: empty, final */
    if (rc == HM_OK)
        rc = hm_buf_append(out, tail, sizeof(tail));
    return rc;
}

int hm_gzip_whole(const char *in, size_t len, int level, hm_buf_t *out)
{
    hm_gzip_template_t t;
    int rc = hm_gzip_template_build(in, len, NULL, 0, level, &t);
    if (rc != HM_OK)
        return rc;
    rc = hm_buf_reserve(out, t.run_end[0] + 32);
    if (rc == HM_OK)
        rc = hm_gzip_template_emit(&t, in, len, NULL, crc_of(in, len), crc32_combine_gen((z_off_t)len), NULL, 0,
                                   out);
    hm_gzip_template_free(&t);
    return rc;
}
