/* test_answer.c -- the answer level's lookups: a copy rendered once and
 * reused while the stored answer and its ages are unchanged. */
#include "hm_test.h"
#include "hotelmux/answer.h"
#include "hotelmux/cache.h"
#include "hotelmux/common.h"

#include <string.h>

/* one part, stored 2.2 s old: it reads 2 until it is 2.5 s old */
static const char DOC[] = "1\n2.200 60.000 1 hb|1\n{\"age\":\"\\u0001hm-age:1\\u0001\"}";

typedef struct {
    hm_answer_copy_t c;
    uint64_t reads;
    int rendered;
} holder_t;

static void store(const char *doc, double now)
{
    HM_CHECK_INT(hm_cache_set("ans", 3, doc, strlen(doc), 60, NULL, 0, now), HM_OK);
}

/* A cache holding DOC, stored at 100. */
static void start(holder_t *h)
{
    memset(h, 0, sizeof(*h));
    HM_CHECK_INT(hm_cache_init(1 << 20), HM_OK);
    store(DOC, 100);
}

static int lookup(holder_t *h, const char *key, double fraction, double now)
{
    return hm_answer_render_copy(key, strlen(key), fraction, now, &h->c, &h->reads, &h->rendered);
}

static int doc_is(const holder_t *h, const char *text)
{
    return h->c.len == strlen(text) && memcmp(h->c.doc, text, h->c.len) == 0;
}

HM_TEST(copy_is_reused_until_an_age_changes)
{
    holder_t h;
    start(&h);
    HM_CHECK_INT(lookup(&h, "ans", 0, 100), HM_OK);
    HM_CHECK_INT(h.rendered, 1);
    HM_CHECK_INT(h.reads, 1);
    HM_CHECK(doc_is(&h, "{\"age\":2}"));
    const char *first = h.c.doc;
    /* 0.2 s on: the same text, not rendered again, but still a read */
    HM_CHECK_INT(lookup(&h, "ans", 0, 100.2), HM_OK);
    HM_CHECK_INT(h.rendered, 0);
    HM_CHECK_INT(h.reads, 2);
    HM_CHECK(h.c.doc == first);
    /* 0.3 s on the age reads 3 */
    HM_CHECK_INT(lookup(&h, "ans", 0, 100.31), HM_OK);
    HM_CHECK_INT(h.rendered, 1);
    HM_CHECK(doc_is(&h, "{\"age\":3}"));
    /* stored again (a refresh): rendered from the new store at once */
    store("1\n0 60 1 hb|1\n{\"age\":\"\\u0001hm-age:1\\u0001\",\"new\":1}", 100.32);
    HM_CHECK_INT(lookup(&h, "ans", 0, 100.33), HM_OK);
    HM_CHECK_INT(h.rendered, 1);
    HM_CHECK(doc_is(&h, "{\"age\":0,\"new\":1}"));
    /* deleted (an invalidation): a miss, whatever the copy holds */
    HM_CHECK_INT(hm_cache_delete("ans", 3), HM_OK);
    HM_CHECK_INT(lookup(&h, "ans", 0, 100.34), HM_ENOENT);
    hm_answer_copy_free(&h.c);
    HM_CHECK(h.c.doc == NULL && h.c.len == 0);
    hm_cache_shutdown();
}

HM_TEST(copy_says_expiring)
{
    holder_t h;
    start(&h);
    /* 2.2 of 60 s used: not within the last 10 %; 57.2 of 60 s: within */
    HM_CHECK_INT(lookup(&h, "ans", 0.1, 100), HM_OK);
    HM_CHECK_INT(h.c.expiring, 0);
    HM_CHECK_INT(lookup(&h, "ans", 0.1, 155), HM_OK);
    HM_CHECK_INT(h.c.expiring, 1);
    /* not an agedoc: an error, the copy untouched */
    HM_CHECK_INT(hm_cache_set("bad", 3, "x", 1, 60, NULL, 0, 100), HM_OK);
    HM_CHECK_INT(lookup(&h, "bad", 0, 100), HM_EINVAL);
    HM_CHECK(h.c.doc != NULL && h.c.expiring == 1);
    hm_answer_copy_free(&h.c);
    hm_cache_shutdown();
}

HM_TEST_MAIN(HM_TEST_ENTRY(copy_is_reused_until_an_age_changes), HM_TEST_ENTRY(copy_says_expiring))
