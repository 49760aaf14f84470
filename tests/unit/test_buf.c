/* test_buf.c -- growth, NUL termination, printf, JSON escaping, consume. */
#include "hm_test.h"
#include "hotelmux/buf.h"
#include "hotelmux/common.h"

#include <stdbool.h>

static bool terminated(const hm_buf_t *b)
{
    return b->data != NULL && b->len < b->cap && b->data[b->len] == '\0';
}

HM_TEST(init_and_free)
{
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    hm_buf_free(&b);   /* freeing an empty buffer is fine */
    hm_buf_reset(&b);
    hm_buf_consume(&b, 10);
    HM_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    HM_CHECK_INT(hm_buf_append(&b, "", 0), HM_OK);   /* empty append still terminates */
    HM_CHECK(terminated(&b));
    HM_CHECK_STR(b.data, "");
    hm_buf_free(&b);
    HM_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

HM_TEST(append_grows_and_terminates)
{
    hm_buf_t b = HM_BUF_INIT;
    char chunk[100];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('A' + i % 26);
    size_t total = 0;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 7) % sizeof(chunk);
        HM_CHECK_INT(hm_buf_append(&b, chunk, n), HM_OK);
        total += n;
        HM_CHECK_INT(b.len, total);
        HM_CHECK(terminated(&b));
    }
    /* contents are the concatenation */
    size_t off = 0;
    bool same = true;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 7) % sizeof(chunk);
        if (memcmp(b.data + off, chunk, n) != 0)
            same = false;
        off += n;
    }
    HM_CHECK(same);
    HM_CHECK_INT(off, b.len);
    /* binary data with NULs is kept whole */
    hm_buf_reset(&b);
    HM_CHECK_INT(b.len, 0);
    HM_CHECK(terminated(&b));
    HM_CHECK_INT(hm_buf_append(&b, "a\0b\0c", 5), HM_OK);
    HM_CHECK_INT(b.len, 5);
    HM_CHECK(memcmp(b.data, "a\0b\0c", 6) == 0);
    hm_buf_free(&b);
}

HM_TEST(reserve)
{
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_INT(hm_buf_reserve(&b, 1000), HM_OK);
    HM_CHECK(b.cap >= 1001);   /* room for the bytes plus a NUL */
    HM_CHECK_INT(b.len, 0);
    size_t cap = b.cap;
    char *data = b.data;
    /* writes within the reservation need no reallocation */
    for (int i = 0; i < 1000; i++)
        HM_CHECK_INT(hm_buf_append(&b, "x", 1), HM_OK);
    HM_CHECK(b.cap == cap && b.data == data);
    HM_CHECK(terminated(&b));
    HM_CHECK_INT(hm_buf_reserve(&b, 0), HM_OK);
    HM_CHECK_INT(hm_buf_reserve(&b, 5000), HM_OK);
    HM_CHECK(b.cap >= b.len + 5001);
    HM_CHECK_INT(b.len, 1000);
    hm_buf_free(&b);
}

HM_TEST(puts_and_printf)
{
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_INT(hm_buf_puts(&b, "hello"), HM_OK);
    HM_CHECK_INT(hm_buf_printf(&b, ", %s #%d %.2f %zu", "world", 42, 1.5, (size_t)7), HM_OK);
    HM_CHECK_STR(b.data, "hello, world #42 1.50 7");
    HM_CHECK_INT(b.len, strlen("hello, world #42 1.50 7"));
    HM_CHECK_INT(hm_buf_printf(&b, "%s", ""), HM_OK);
    HM_CHECK_INT(b.len, strlen("hello, world #42 1.50 7"));
    /* a long formatted string crossing several growth steps */
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hm_buf_reset(&b);
    HM_CHECK_INT(hm_buf_printf(&b, "<%s>", big), HM_OK);
    HM_CHECK_INT(b.len, sizeof(big) + 1);
    HM_CHECK(b.data[0] == '<' && b.data[b.len - 1] == '>' && b.data[b.len] == '\0');
    HM_CHECK(b.data[1] == 'z' && b.data[b.len - 2] == 'z');
    hm_buf_free(&b);
}

static const char *json(hm_buf_t *b, const char *s, size_t n)
{
    hm_buf_reset(b);
    HM_CHECK_INT(hm_buf_json_str(b, s, n), HM_OK);
    HM_CHECK(terminated(b));
    return b->data;
}

HM_TEST(json_str_escaping)
{
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_STR(json(&b, "", 0), "\"\"");
    HM_CHECK_STR(json(&b, "plain", 5), "\"plain\"");
    HM_CHECK_STR(json(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    HM_CHECK_STR(json(&b, "l1\nl2\r\tx", 8), "\"l1\\nl2\\r\\tx\"");
    HM_CHECK_STR(json(&b, "\x01\x1f\b\f", 4), "\"\\u0001\\u001f\\u0008\\u000c\"");
    /* NUL inside the span is escaped, not a terminator */
    HM_CHECK_STR(json(&b, "a\0b", 3), "\"a\\u0000b\"");
    /* DEL and UTF-8 pass through untouched; '/' needs no escape */
    HM_CHECK_STR(json(&b, "\x7f/\xc3\xa9\xe2\x82\xac", 7), "\"\x7f/\xc3\xa9\xe2\x82\xac\"");
    /* only n bytes are read */
    HM_CHECK_STR(json(&b, "abcdef", 3), "\"abc\"");
    /* appends after what is there */
    hm_buf_reset(&b);
    hm_buf_puts(&b, "{\"k\":");
    HM_CHECK_INT(hm_buf_json_str(&b, "v", 1), HM_OK);
    hm_buf_puts(&b, "}");
    HM_CHECK_STR(b.data, "{\"k\":\"v\"}");
    /* every control character, in one go: each becomes an escape */
    char ctl[32];
    for (int i = 0; i < 32; i++)
        ctl[i] = (char)i;
    json(&b, ctl, sizeof(ctl));
    bool raw_ctl = false;
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20)
            raw_ctl = true;
    HM_CHECK(!raw_ctl);
    HM_CHECK(b.data[0] == '"' && b.data[b.len - 1] == '"');
    /* a long string forces growth mid-escape */
    char longs[5000];
    for (size_t i = 0; i < sizeof(longs); i++)
        longs[i] = i % 3 ? 'x' : '"';
    json(&b, longs, sizeof(longs));
    size_t quotes = (sizeof(longs) + 2) / 3;
    HM_CHECK_INT(b.len, sizeof(longs) + quotes + 2);
    hm_buf_free(&b);
}

HM_TEST(consume)
{
    hm_buf_t b = HM_BUF_INIT;
    hm_buf_puts(&b, "GET / HTTP/1.1\r\n\r\nnext");
    hm_buf_consume(&b, 18);
    HM_CHECK_STR(b.data, "next");
    HM_CHECK_INT(b.len, 4);
    hm_buf_consume(&b, 0);
    HM_CHECK_STR(b.data, "next");
    hm_buf_consume(&b, 1);
    HM_CHECK_STR(b.data, "ext");
    hm_buf_consume(&b, 100);   /* more than there is: empties it */
    HM_CHECK_INT(b.len, 0);
    HM_CHECK(terminated(&b));
    HM_CHECK_INT(hm_buf_append(&b, "again", 5), HM_OK);
    HM_CHECK_STR(b.data, "again");
    hm_buf_consume(&b, 5);
    HM_CHECK_INT(b.len, 0);
    HM_CHECK_STR(b.data, "");
    hm_buf_free(&b);
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(init_and_free),
    HM_TEST_ENTRY(append_grows_and_terminates),
    HM_TEST_ENTRY(reserve),
    HM_TEST_ENTRY(puts_and_printf),
    HM_TEST_ENTRY(json_str_escaping),
    HM_TEST_ENTRY(consume)
)
