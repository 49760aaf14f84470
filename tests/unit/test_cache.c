/* test_cache.c -- the L1 cache: get/set, TTL, LRU under the byte budget, tags. */
#include "hm_test.h"
#include "hotelmux/cache.h"
#include "hotelmux/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_str(const char *key, double now, char *out, size_t cap)
{
    hm_cache_value_t v;
    int rc = hm_cache_get(key, strlen(key), now, &v);
    if (rc == HM_OK) {
        snprintf(out, cap, "%s", v.data);
        free(v.data);
    }
    return rc;
}

static int put(const char *key, const char *val, double ttl, const char *t1, const char *t2, double now)
{
    const char *tags[2] = { t1, t2 };
    size_t n = t2 ? 2 : t1 ? 1 : 0;
    return hm_cache_set(key, strlen(key), val, strlen(val), ttl, tags, n, now);
}

HM_TEST(set_get_replace)
{
    char buf[64];
    hm_cache_clear();
    HM_CHECK_INT(put("k1", "v1", 10, NULL, NULL, 100), HM_OK);
    HM_CHECK_INT(get_str("k1", 101, buf, sizeof(buf)), HM_OK);
    HM_CHECK_STR(buf, "v1");
    HM_CHECK_INT(put("k1", "v2", 10, NULL, NULL, 100), HM_OK);
    HM_CHECK_INT(get_str("k1", 101, buf, sizeof(buf)), HM_OK);
    HM_CHECK_STR(buf, "v2");
    HM_CHECK_INT(get_str("nope", 101, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(hm_cache_delete("k1", 2), HM_OK);
    HM_CHECK_INT(get_str("k1", 101, buf, sizeof(buf)), HM_ENOENT);
}

HM_TEST(ttl_expires_and_reports_age)
{
    hm_cache_clear();
    HM_CHECK_INT(put("t", "x", 5, NULL, NULL, 1000), HM_OK);
    hm_cache_value_t v;
    HM_CHECK_INT(hm_cache_get("t", 1, 1004.5, &v), HM_OK);
    HM_CHECK(v.stored_at == 1000 && v.ttl == 5);
    free(v.data);
    HM_CHECK_INT(hm_cache_get("t", 1, 1005.0, &v), HM_ENOENT);
    HM_CHECK_INT(put("bad", "x", 0, NULL, NULL, 1), HM_EINVAL);
    HM_CHECK_INT(put("bad", "x", -1, NULL, NULL, 1), HM_EINVAL);
}

HM_TEST(tags_invalidate_only_their_entries)
{
    char buf[64];
    hm_cache_clear();
    HM_CHECK_INT(put("a", "1", 60, "hotel:1", "sup:hb", 0), HM_OK);
    HM_CHECK_INT(put("b", "2", 60, "hotel:1", NULL, 0), HM_OK);
    HM_CHECK_INT(put("c", "3", 60, "hotel:2", "sup:hb", 0), HM_OK);
    HM_CHECK_INT(put("d", "4", 60, "hotel:1", "hotel:1", 0), HM_OK);   /* duplicate tag */
    HM_CHECK_INT((int)hm_cache_invalidate_tag("hotel:1", 7), 3);
    HM_CHECK_INT(get_str("a", 1, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(get_str("b", 1, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(get_str("d", 1, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(get_str("c", 1, buf, sizeof(buf)), HM_OK);
    HM_CHECK_INT((int)hm_cache_invalidate_tag("hotel:1", 7), 0);
    HM_CHECK_INT((int)hm_cache_invalidate_tag("sup:hb", 6), 1);
    HM_CHECK_INT(get_str("c", 1, buf, sizeof(buf)), HM_ENOENT);
    hm_cache_stats_t st;
    hm_cache_stats(&st);
    HM_CHECK_INT((int)st.entries, 0);
    HM_CHECK_INT((int)st.bytes, 0);
}

HM_TEST(byte_budget_evicts_least_recent)
{
    hm_cache_clear();
    char key[32], val[2048];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        HM_CHECK_INT(put(key, val, 60, "all", NULL, 0), HM_OK);
        if (i % 100 == 0) {   /* keep key-0 hot */
            hm_cache_value_t v;
            if (hm_cache_get("key-0", 5, 1, &v) == HM_OK)
                free(v.data);
        }
    }
    hm_cache_stats_t st;
    hm_cache_stats(&st);
    HM_CHECK(st.bytes <= st.budget);
    HM_CHECK(st.evictions > 0);
    hm_cache_value_t v;
    HM_CHECK_INT(hm_cache_get("key-4999", 8, 1, &v), HM_OK);
    free(v.data);
    HM_CHECK_INT(hm_cache_get("key-1", 5, 1, &v), HM_ENOENT);
    HM_CHECK((int)hm_cache_invalidate_tag("all", 3) == (int)st.entries);
}

HM_TEST(setup) { HM_CHECK_INT(hm_cache_init(4u << 20), HM_OK); }
HM_TEST(teardown) { hm_cache_shutdown(); }

HM_TEST_MAIN(HM_TEST_ENTRY(setup), HM_TEST_ENTRY(set_get_replace), HM_TEST_ENTRY(ttl_expires_and_reports_age),
             HM_TEST_ENTRY(tags_invalidate_only_their_entries), HM_TEST_ENTRY(byte_budget_evicts_least_recent),
             HM_TEST_ENTRY(teardown))
