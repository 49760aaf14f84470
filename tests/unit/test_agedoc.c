/* test_agedoc.c -- stored answers with their ages filled in when served. */
#include "hm_test.h"
#include "hotelmux/agedoc.h"
#include "hotelmux/common.h"

#include <string.h>

/* Two parts with data (ages 10 and 3.4, TTLs 60 and 120), one without. */
static const char DOC[] =
    "3\n"
    "10.000 60.000 1 hotelbeds|1000007\n"
    "3.400 120.000 1 expedia|215\n"
    "0.000 60.000 0 dida|9\n"
    "\"freshness\":{\"ageSeconds\":\"\\u0001hm-age:max\\u0001\",\"ttlSeconds\":\"\\u0001hm-left:min\\u0001\"},"
    "\"rates\":[{\"a\":\"\\u0001hm-age:1\\u0001\"},{\"a\":\"\\u0001hm-age:2\\u0001\"}]}";

static ssize_t render(const char *doc, double elapsed, char *out, size_t cap, hm_agedoc_info_t *info)
{
    return hm_agedoc_render(doc, strlen(doc), elapsed, "{\"basic\":1,", 11, out, cap, info);
}

/* render, then a NUL after the text (empty on an error) for HM_CHECK_STR */
static ssize_t render_text(const char *doc, double elapsed, char *out, size_t cap, hm_agedoc_info_t *info)
{
    ssize_t n = render(doc, elapsed, out, cap - 1, info);
    out[n > 0 ? n : 0] = '\0';
    return n;
}

HM_TEST(fills_ages_as_stored)
{
    char out[512];
    hm_agedoc_info_t info;
    ssize_t n = render_text(DOC, 0, out, sizeof(out), &info);
    HM_CHECK(n > 0);
    HM_CHECK_STR(out, "{\"basic\":1,\"freshness\":{\"ageSeconds\":10,\"ttlSeconds\":50},"
                      "\"rates\":[{\"a\":10},{\"a\":3}]}");
    HM_CHECK_INT(info.parts, 3);
    HM_CHECK_INT(info.any, 1);
    HM_CHECK_INT(info.max_age, 10);
    HM_CHECK_INT(info.min_left, 50);
}

HM_TEST(ages_advance_together)
{
    char out[512];
    hm_agedoc_info_t info;
    ssize_t n = render_text(DOC, 25.2, out, sizeof(out), &info);
    HM_CHECK(n > 0);
    /* 10 + 25.2 = 35; 3.4 + 25.2 = 28.6 -> 29; left: 60 - 35 = 25, 120 - 29 = 91 */
    HM_CHECK_STR(out, "{\"basic\":1,\"freshness\":{\"ageSeconds\":35,\"ttlSeconds\":25},"
                      "\"rates\":[{\"a\":35},{\"a\":29}]}");
    /* past every TTL: the remaining TTL says 0, never negative */
    n = render(DOC, 500, out, sizeof(out), &info);
    HM_CHECK(n > 0);
    HM_CHECK_INT(info.min_left, 0);
    HM_CHECK(info.min_left_fraction < 0);
    /* a clock that went back renders as stored */
    n = render(DOC, -3, out, sizeof(out), &info);
    HM_CHECK_INT(info.max_age, 10);
}

HM_TEST(lookalikes_are_copied_not_filled)
{
    /* A supplier's text that starts like a placeholder: no such part, no
     * closing mark, an unknown name. Copied as it is; never an error. */
    const char *doc = "1\n2 60 1 a|b\n"
                      "[\"\\u0001hm-age:7\\u0001\",\"\\u0001hm-age:1\",\"\\u0001hm-x\\u0001\",\"\\u0001hm-age:1\\u0001\"]";
    char out[512];
    ssize_t n = render_text(doc, 0, out, sizeof(out), NULL);
    HM_CHECK(n > 0);
    HM_CHECK_STR(out, "{\"basic\":1,[\"\\u0001hm-age:7\\u0001\",\"\\u0001hm-age:1\",\"\\u0001hm-x\\u0001\",2]");
}

HM_TEST(other_escapes_are_copied)
{
    /* Marks are found by their backslash: every other escape (a quote, a
     * backslash, \n, a \u0001 without "hm-", a mark's text after an escaped
     * quote inside a supplier's string) is copied as it is, and a mark at the
     * very start of the document or right after another is filled. */
    const char *doc = "1\n2 60 1 a|b\n"
                      "\"\\u0001hm-age:1\\u0001\"\"\\u0001hm-age:1\\u0001\","
                      "\"a\\\"b\\\\\\n\\u0001x\",\"q\\\"\\u0001hm-age:1\\u0001\",\"q\\\\\",\"\\u0001hm-age:1\\u0001\"";
    char out[512];
    ssize_t n = render_text(doc, 0, out, sizeof(out), NULL);
    HM_CHECK(n > 0);
    HM_CHECK_STR(out, "{\"basic\":1,22,\"a\\\"b\\\\\\n\\u0001x\",\"q\\\"\\u0001hm-age:1\\u0001\",\"q\\\\\",2");
}

HM_TEST(no_parts_with_data)
{
    const char *doc = "1\n0 60 0 a|b\n{\"x\":\"\\u0001hm-age:max\\u0001\"}";
    char out[128];
    hm_agedoc_info_t info;
    ssize_t n = render(doc, 5, out, sizeof(out), &info);
    HM_CHECK(n > 0);
    HM_CHECK_INT(info.any, 0);
    HM_CHECK(info.min_left_fraction == 1.0);
}

HM_TEST(malformed_heads_and_small_buffers)
{
    char out[512];
    const char *bad[] = { "", "x\n", "2\n1 2 1 a\n", "1\n1 2 3 a\n", "1\n1 2 1a\nbody", "1\n-1 2 1 a\n",
                          "1\n1e9 2 1 a\n", "5000\n", "1.5\n1 2 1 a\n", "1\n1 2 1 a" };
    for (size_t i = 0; i < HM_ARRAY_SIZE(bad); i++)
        HM_CHECK_INT(render(bad[i], 0, out, sizeof(out), NULL), HM_EINVAL);
    HM_CHECK_INT(render(DOC, 0, out, 20, NULL), HM_ELIMIT);
    /* the bound the callers allocate is enough */
    size_t cap = HM_AGEDOC_RENDER_MAX(11, strlen(DOC));
    HM_CHECK(render(DOC, 1e12, out, cap, NULL) > 0);
}

HM_TEST(stable_until_an_age_rounds_differently)
{
    char a[512], b[512];
    hm_agedoc_info_t info, later;
    /* ages 10, 3.4, 0: the 3.4 reaches 3.5 (and reads 4) first, 0.1 s on */
    HM_CHECK(render_text(DOC, 0, a, sizeof(a), &info) > 0);
    HM_CHECK(info.stable_for > 0.0999 && info.stable_for < 0.1);
    HM_CHECK(render_text(DOC, info.stable_for, b, sizeof(b), &later) > 0);
    HM_CHECK_STR(b, a);
    HM_CHECK(render_text(DOC, 0.1 + 1e-6, b, sizeof(b), &later) > 0);
    HM_CHECK(strcmp(a, b) != 0);
    /* never more than a second, even with no parts */
    HM_CHECK(render_text("0\n{}", 0, a, sizeof(a), &info) > 0);
    HM_CHECK(info.stable_for <= 1.0 && info.stable_for > 0.99);
}

static int calls;
static char seen[256];
static void collect(void *ud, const char *label, size_t len)
{
    (void)ud;
    calls++;
    strncat(seen, label, len);
    strcat(seen, ";");
}

HM_TEST(expiring_parts)
{
    /* after 40 s: part 1 has 60 - 50 = 10 s of 60 left (17 %), part 2 76.6 of 120 (64 %) */
    calls = 0;
    seen[0] = '\0';
    HM_CHECK_INT(hm_agedoc_expiring(DOC, strlen(DOC), 40, 0.2, collect, NULL), 1);
    HM_CHECK_STR(seen, "hotelbeds|1000007;");
    seen[0] = '\0';
    HM_CHECK_INT(hm_agedoc_expiring(DOC, strlen(DOC), 0, 0.2, collect, NULL), 0);
    /* the part without data is never a candidate */
    HM_CHECK_INT(hm_agedoc_expiring(DOC, strlen(DOC), 1000, 0.2, collect, NULL), 2);
    HM_CHECK_INT(hm_agedoc_expiring("x", 1, 0, 0.2, collect, NULL), HM_EINVAL);
}

HM_TEST_MAIN(HM_TEST_ENTRY(fills_ages_as_stored), HM_TEST_ENTRY(ages_advance_together),
             HM_TEST_ENTRY(lookalikes_are_copied_not_filled), HM_TEST_ENTRY(other_escapes_are_copied),
             HM_TEST_ENTRY(no_parts_with_data),
             HM_TEST_ENTRY(malformed_heads_and_small_buffers), HM_TEST_ENTRY(expiring_parts),
             HM_TEST_ENTRY(stable_until_an_age_rounds_differently))
