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

int hm_gzip_part(const char *in, size_t len, int level, hm_gzip_part_t *out)
{
    memset(out, 0, sizeof(*out));
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* raw deflate (-15): the header and trailer are the frame's */
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return HM_ENOMEM;
    size_t cap = deflateBound(&z, (uLong)len);
    out->data = malloc(cap ? cap : 1);
    if (!out->data) {
        deflateEnd(&z);
        return HM_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);   /* deflateBound: one call is enough */
    out->len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        hm_gzip_part_free(out);
        return HM_EIO;
    }
    out->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)in, (uInt)len);
    out->raw_len = len;
    return HM_OK;
}

void hm_gzip_part_free(hm_gzip_part_t *p)
{
    free(p->data);
    memset(p, 0, sizeof(*p));
}

int hm_gzip_frame(const char *prefix, size_t plen, const hm_gzip_part_t *part, hm_buf_t *head,
                  unsigned char tail[8])
{
    /* ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255 (unknown) */
    static const unsigned char gz_header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };
    int rc = hm_buf_append(head, gz_header, sizeof(gz_header));
    for (size_t off = 0; rc == HM_OK && off < plen;) {
        size_t n = plen - off < 65535 ? plen - off : 65535;
        /* BFINAL=0 BTYPE=00 (the three bits, then padding to the byte), LEN, NLEN */
        unsigned char hdr[5] = { 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8),
                                 (unsigned char)(~n & 0xff), (unsigned char)((~n >> 8) & 0xff) };
        rc = hm_buf_append(head, hdr, sizeof(hdr));
        if (rc == HM_OK)
            rc = hm_buf_append(head, prefix + off, n);
        off += n;
    }
    if (rc != HM_OK)
        return rc;
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)prefix, (uInt)plen);
    crc = crc32_combine(crc, part->crc, (z_off_t)part->raw_len);
    uint32_t size = (uint32_t)(plen + part->raw_len);
    for (int i = 0; i < 4; i++) {
        tail[i] = (unsigned char)(crc >> (8 * i));
        tail[4 + i] = (unsigned char)(size >> (8 * i));
    }
    return HM_OK;
}
