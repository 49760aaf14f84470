/* test_answer.c -- the answer level's lookups: a copy rendered once and
 * reused while the stored answer and its ages are unchanged. */
#include "hm_test.h"
#include "hotelmux/answer.h"
#include "hotelmux/cache.h"
#include "hotelmux/common.h"

#include <string.h>

/* one part, stored 2.2 s old: it reads 2 until it is 2.5 s old */
static const char DOC[] = "1\n2.200 60.000 1 hb|1\n{\"age\":\"\\u0001hm-age:1\\u0001\"}";

static void store(const char *doc, double now)
{
    HM_CHECK_INT(hm_cache_set("ans", 3, doc, strlen(doc), 60, NULL, 0, now), HM_OK);
}

HM_TEST(copy_is_reused_until_an_age_changes)
{
    HM_CHECK_INT(hm_cache_init(1 << 20), HM_OK);
    hm_answer_copy_t c = { 0 };
    uint64_t reads;
    int rendered;
    store(DOC, 100);
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0, 100, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(rendered, 1);
    HM_CHECK_INT(reads, 1);
    HM_CHECK(c.len == strlen("{\"age\":2}") && memcmp(c.doc, "{\"age\":2}", c.len) == 0);
    const char *first = c.doc;
    /* 0.2 s on: the same text, not rendered again, but still a read */
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0, 100.2, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(rendered, 0);
    HM_CHECK_INT(reads, 2);
    HM_CHECK(c.doc == first);
    /* 0.3 s on the age reads 3 */
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0, 100.31, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(rendered, 1);
    HM_CHECK(c.len == strlen("{\"age\":3}") && memcmp(c.doc, "{\"age\":3}", c.len) == 0);
    /* stored again (a refresh): rendered from the new store at once */
    store("1\n0 60 1 hb|1\n{\"age\":\"\\u0001hm-age:1\\u0001\",\"new\":1}", 100.32);
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0, 100.33, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(rendered, 1);
    HM_CHECK(c.len == strlen("{\"age\":0,\"new\":1}") && memcmp(c.doc, "{\"age\":0,\"new\":1}", c.len) == 0);
    /* deleted (an invalidation): a miss, whatever the copy holds */
    HM_CHECK_INT(hm_cache_delete("ans", 3), HM_OK);
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0, 100.34, &c, &reads, &rendered), HM_ENOENT);
    hm_answer_copy_free(&c);
    HM_CHECK(c.doc == NULL && c.len == 0);
    hm_cache_shutdown();
}

HM_TEST(copy_says_expiring)
{
    HM_CHECK_INT(hm_cache_init(1 << 20), HM_OK);
    hm_answer_copy_t c = { 0 };
    uint64_t reads;
    int rendered;
    store(DOC, 100);
    /* 2.2 of 60 s used: not within the last 10 %, within the last 97 % */
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0.1, 100, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(c.expiring, 0);
    HM_CHECK_INT(hm_answer_render_copy("ans", 3, 0.1, 155, &c, &reads, &rendered), HM_OK);
    HM_CHECK_INT(c.expiring, 1);
    /* not an agedoc: an error, the copy untouched */
    HM_CHECK_INT(hm_cache_set("bad", 3, "x", 1, 60, NULL, 0, 100), HM_OK);
    HM_CHECK_INT(hm_answer_render_copy("bad", 3, 0, 100, &c, &reads, &rendered), HM_EINVAL);
    HM_CHECK(c.doc != NULL && c.expiring == 1);
    hm_answer_copy_free(&c);
    hm_cache_shutdown();
}

HM_TEST_MAIN(HM_TEST_ENTRY(copy_is_reused_until_an_age_changes), HM_TEST_ENTRY(copy_says_expiring))
