/* test_gzip.c -- Accept-Encoding, and gzip answers framed around a body
 * compressed once, read back by zlib's own gzip decoder (which checks the
 * CRC and the length in the trailer). */
#include "hm_test.h"
#include "hotelmux/buf.h"
#include "hotelmux/common.h"
#include "hotelmux/gzip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

HM_TEST(accept_encoding)
{
    HM_CHECK(hm_gzip_accepted("gzip"));
    HM_CHECK(hm_gzip_accepted("GZIP"));
    HM_CHECK(hm_gzip_accepted("gzip, deflate, br"));
    HM_CHECK(hm_gzip_accepted("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    HM_CHECK(hm_gzip_accepted("deflate,x-gzip"));
    HM_CHECK(hm_gzip_accepted("*"));
    HM_CHECK(hm_gzip_accepted(" gzip ;q=0.001"));
    HM_CHECK(!hm_gzip_accepted("gzip;q=0"));
    HM_CHECK(!hm_gzip_accepted("gzip; q=0.000"));
    HM_CHECK(!hm_gzip_accepted("*;q=0"));
    HM_CHECK(!hm_gzip_accepted("identity"));
    HM_CHECK(!hm_gzip_accepted("deflate, br"));
    HM_CHECK(!hm_gzip_accepted("gzipx"));
    HM_CHECK(!hm_gzip_accepted(""));
    HM_CHECK(!hm_gzip_accepted(NULL));
}

HM_TEST(compressible_types)
{
    HM_CHECK(hm_gzip_compressible("application/json"));
    HM_CHECK(hm_gzip_compressible("application/json; charset=utf-8"));
    HM_CHECK(hm_gzip_compressible("text/html"));
    HM_CHECK(hm_gzip_compressible("application/xml"));
    HM_CHECK(!hm_gzip_compressible("image/png"));
    HM_CHECK(!hm_gzip_compressible("application/octet-stream"));
    HM_CHECK(!hm_gzip_compressible(NULL));
}

/* gunzip with zlib (gzip wrapper: it verifies CRC-32 and ISIZE). */
static char *gunzip(const char *in, size_t len, size_t *out_len)
{
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (!out || inflateInit2(&z, 16 + 15) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    int trailing = z.avail_in != 0;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || trailing) {
        free(out);
        return NULL;
    }
    return out;
}

/* A rendering of t's text (holes: where it differs), sent after prefix */
static void emit_once(const hm_gzip_template_t *t, const char *prefix, size_t plen, const char *text, size_t len,
                      const hm_gzip_hole_t *holes, hm_buf_t *wire)
{
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, (uInt)len);
    HM_CHECK_INT(hm_gzip_template_emit(t, text, len, holes, crc, crc32_combine_gen((z_off_t)len), prefix, plen,
                                       wire), HM_OK);
}

/* prefix (per request) + body (compressed once) -> the bytes a client gets */
static void check_round_trip(const char *prefix, size_t plen, const char *body, size_t blen, int level)
{
    hm_gzip_template_t t;
    HM_CHECK_INT(hm_gzip_template_build(body, blen, NULL, 0, level, &t), HM_OK);
    hm_buf_t wire = HM_BUF_INIT;
    emit_once(&t, prefix, plen, body, blen, NULL, &wire);
    size_t n = 0;
    char *plain = gunzip(wire.data, wire.len, &n);
    HM_CHECK(plain != NULL);
    if (plain) {
        HM_CHECK_INT(n, plen + blen);
        HM_CHECK(plen == 0 || memcmp(plain, prefix, plen) == 0);
        HM_CHECK(blen == 0 || memcmp(plain + plen, body, blen) == 0);
    }
    free(plain);
    hm_buf_free(&wire);
    hm_gzip_template_free(&t);
}

HM_TEST(framed_answers_read_back)
{
    size_t blen = 200000;
    char *body = malloc(blen);
    for (size_t i = 0; i < blen; i++)   /* JSON-ish, repetitive enough to compress */
        body[i] = "{\"rate\":\"123.45\",\"room\":\"DBL\"}"[i % 30] + (char)(i / 7919 % 3);
    const char *sid = "{\"code\":0,\"msg\":\"success\",\"data\":{\"basic\":{\"sessionId\":\"3f2a9c01d4e5b6a7\"},";
    check_round_trip(sid, strlen(sid), body, blen, 1);
    check_round_trip(NULL, 0, body, blen, 6);          /* no prefix: a plain gzip member */
    check_round_trip(sid, strlen(sid), "", 0, 1);      /* an empty body */
    /* a prefix longer than one stored block (65535 bytes) */
    check_round_trip(body, 70000, body + 70000, 1000, 1);
    /* hm_gzip_whole: the same, in one call */
    hm_buf_t whole = HM_BUF_INIT;
    HM_CHECK_INT(hm_gzip_whole(body, blen, 1, &whole), HM_OK);
    size_t n = 0;
    char *plain = gunzip(whole.data, whole.len, &n);
    HM_CHECK(plain && n == blen && memcmp(plain, body, blen) == 0);
    free(plain);
    hm_buf_free(&whole);
    free(body);
}

HM_TEST(the_same_part_serves_many_prefixes)
{
    const char *body = "{\"rooms\":[]}";
    hm_gzip_template_t t;
    HM_CHECK_INT(hm_gzip_template_build(body, strlen(body), NULL, 0, 1, &t), HM_OK);
    const char *a = "{\"sid\":\"aaaa\",", *b = "{\"sid\":\"bbbbbbbb\",";
    hm_buf_t fa = HM_BUF_INIT, fb = HM_BUF_INIT;
    emit_once(&t, a, strlen(a), body, strlen(body), NULL, &fa);
    emit_once(&t, b, strlen(b), body, strlen(body), NULL, &fb);
    /* each trailer has its own CRC and size */
    HM_CHECK(memcmp(fa.data + fa.len - 8, fb.data + fb.len - 8, 8) != 0);
    hm_buf_free(&fa);
    hm_buf_free(&fb);
    hm_gzip_template_free(&t);
}

/* Render "<lit0>N1<lit1>N2...<litK>" with the numbers in nums; holes out. */
static size_t render(char *out, const char *const *lits, size_t nlits, const long *nums, hm_gzip_hole_t *holes)
{
    size_t n = 0;
    for (size_t i = 0; i < nlits; i++) {
        size_t l = strlen(lits[i]);
        memcpy(out + n, lits[i], l);
        n += l;
        if (i + 1 < nlits) {
            holes[i].off = n;
            n += (size_t)sprintf(out + n, "%ld", nums[i]);
            holes[i].len = n - holes[i].off;
        }
    }
    return n;
}

static void check_emit(const hm_gzip_template_t *t, const char *text, size_t len, const hm_gzip_hole_t *holes,
                       const char *prefix)
{
    hm_buf_t out = HM_BUF_INIT;
    emit_once(t, prefix, strlen(prefix), text, len, holes, &out);
    size_t n = 0;
    char *plain = gunzip(out.data, out.len, &n);
    HM_CHECK(plain != NULL);
    if (plain) {
        HM_CHECK_INT(n, strlen(prefix) + len);
        HM_CHECK(memcmp(plain, prefix, strlen(prefix)) == 0 && memcmp(plain + strlen(prefix), text, len) == 0);
    }
    free(plain);
    hm_buf_free(&out);
}

/* Built from one rendering, sent for later ones whose numbers differ (and
 * so do their lengths), with any prefix; adjacent holes and holes at the
 * ends make empty runs. */
HM_TEST(a_template_serves_every_rendering)
{
    static char big[60000];
    for (size_t i = 0; i + 1 < sizeof(big); i++)
        big[i] = "{\"rate\":{\"amount\":\"ageSeconds\":"[i % 31];
    const char *lits[] = { "", "{\"a\":", big, ",\"b\":", "", ",\"c\":[1,2,3]}", "" };
    size_t nl = sizeof(lits) / sizeof(lits[0]);
    long first[] = { 7, 9, 99, 5, 1, 0 }, later[] = { 8, 10, 100000, 123456789, 22, 3 };
    char *a = malloc(70000), *b = malloc(70000);
    hm_gzip_hole_t ha[6], hb[6];
    size_t la = render(a, lits, nl, first, ha), lb = render(b, lits, nl, later, hb);
    hm_gzip_template_t t;
    HM_CHECK_INT(hm_gzip_template_build(a, la, ha, nl - 1, 1, &t), HM_OK);
    HM_CHECK((size_t)t.run_end[nl - 1] < la / 4);   /* the runs compressed */
    check_emit(&t, a, la, ha, "{\"sid\":\"abc\",");
    check_emit(&t, b, lb, hb, "{\"sid\":\"another one\",");
    check_emit(&t, b, lb, hb, "");
    hm_gzip_template_free(&t);
    /* holes out of order are refused */
    hm_gzip_hole_t bad[2] = { { 10, 2 }, { 5, 1 } };
    HM_CHECK_INT(hm_gzip_template_build(a, la, bad, 2, 1, &t), HM_EINVAL);
    free(a);
    free(b);
}

HM_TEST_MAIN(HM_TEST_ENTRY(accept_encoding), HM_TEST_ENTRY(compressible_types),
             HM_TEST_ENTRY(framed_answers_read_back), HM_TEST_ENTRY(the_same_part_serves_many_prefixes),
             HM_TEST_ENTRY(a_template_serves_every_rendering))
