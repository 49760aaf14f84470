/* test_cache.c -- the L1 cache: get/set, TTL, LRU under the byte budget, tags. */
#include "hm_test.h"
#include "hotelmux/ari.h"
#include "hotelmux/cache.h"
#include "hotelmux/common.h"

#include <math.h>
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

/* The cache under an injected clock, the way lua_cache.c uses it: the TTL is
 * what the ARI rules allowed (clamped), a read before expiry hits with its age,
 * a read at or after expiry misses and counts as expired. */
static double fake_now;

static int clamp_and_put(const char *key, double policy_ttl, int webhooks)
{
    double ttl = hm_ari_clamp_ttl(1, policy_ttl, webhooks);
    if (ttl <= 0)
        return HM_EINVAL;
    return put(key, "v", ttl, NULL, NULL, fake_now);
}

HM_TEST(hit_before_expiry_miss_after_under_clamps)
{
    hm_cache_clear();
    hm_cache_stats_t s0, s1;
    hm_cache_stats(&s0);
    fake_now = 5000;
    HM_CHECK_INT(clamp_and_put("nowh", 600, 0), HM_OK);   /* no webhooks: 600 -> 60 */
    HM_CHECK_INT(clamp_and_put("wh", 600, 1), HM_OK);     /* webhooks: 600 -> 300 */
    HM_CHECK_INT(clamp_and_put("short", 24, 0), HM_OK);   /* under the clamp: as asked */
    HM_CHECK_INT(clamp_and_put("zero", 0, 1), HM_EINVAL); /* 0 = do not cache */
    HM_CHECK(hm_ari_clamp_ttl(0, 120, 1) == 0);           /* a policy error fails closed */
    char buf[8];
    hm_cache_value_t v;
    fake_now = 5000 + 23.999;
    HM_CHECK_INT(get_str("short", fake_now, buf, sizeof(buf)), HM_OK);
    fake_now = 5000 + 24;
    HM_CHECK_INT(get_str("short", fake_now, buf, sizeof(buf)), HM_ENOENT);
    fake_now = 5000 + 59.9;
    HM_CHECK_INT(hm_cache_get("nowh", 4, fake_now, &v), HM_OK);
    HM_CHECK(v.ttl == 60 && fabs((fake_now - v.stored_at) - 59.9) < 1e-9);
    free(v.data);
    fake_now = 5000 + 60;
    HM_CHECK_INT(get_str("nowh", fake_now, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(hm_cache_get("wh", 2, fake_now, &v), HM_OK);
    HM_CHECK(v.ttl == 300);
    free(v.data);
    fake_now = 5000 + 299.99;
    HM_CHECK_INT(get_str("wh", fake_now, buf, sizeof(buf)), HM_OK);
    fake_now = 5000 + 300;
    HM_CHECK_INT(get_str("wh", fake_now, buf, sizeof(buf)), HM_ENOENT);
    HM_CHECK_INT(get_str("zero", fake_now, buf, sizeof(buf)), HM_ENOENT);
    hm_cache_stats(&s1);
    HM_CHECK(s1.hits - s0.hits == 4);
    HM_CHECK(s1.misses - s0.misses == 4);
    HM_CHECK(s1.expired - s0.expired == 3);
    HM_CHECK(s1.entries == 0);
}

/* An answer of the search's answer level carries its parts' tags: any of
 * HM_CACHE_MAX_TAGS drops it; one more is refused, never silently cut. */
HM_TEST(many_tags_each_invalidates)
{
    char names[HM_CACHE_MAX_TAGS + 1][32], buf[64];
    const char *tags[HM_CACHE_MAX_TAGS + 1];
    for (int i = 0; i <= HM_CACHE_MAX_TAGS; i++) {
        snprintf(names[i], sizeof(names[i]), "hotel:s%d:%d", i % 5, i);
        tags[i] = names[i];
    }
    hm_cache_clear();
    HM_CHECK_INT(hm_cache_set("over", 4, "x", 1, 10, tags, HM_CACHE_MAX_TAGS + 1, 1), HM_EINVAL);
    for (int last = 0; last < HM_CACHE_MAX_TAGS; last += HM_CACHE_MAX_TAGS - 1) {
        HM_CHECK_INT(hm_cache_set("ans", 3, "x", 1, 10, tags, HM_CACHE_MAX_TAGS, 1), HM_OK);
        HM_CHECK_INT(put("other", "y", 10, "hotel:other", NULL, 1), HM_OK);
        uint64_t s0, f0, s1, f1;
        hm_cache_epoch(&s0, &f0);
        HM_CHECK(s0 == f0);
        HM_CHECK(hm_cache_invalidate_tag(names[last], strlen(names[last])) == 1);
        hm_cache_epoch(&s1, &f1);
        HM_CHECK(s1 == s0 + 1 && f1 == f0 + 1);
        HM_CHECK_INT(get_str("ans", 2, buf, sizeof(buf)), HM_ENOENT);
        HM_CHECK_INT(get_str("other", 2, buf, sizeof(buf)), HM_OK);
    }
}

HM_TEST(setup) { HM_CHECK_INT(hm_cache_init(4u << 20), HM_OK); }
HM_TEST(teardown) { hm_cache_shutdown(); }

HM_TEST_MAIN(HM_TEST_ENTRY(setup), HM_TEST_ENTRY(set_get_replace), HM_TEST_ENTRY(ttl_expires_and_reports_age),
             HM_TEST_ENTRY(tags_invalidate_only_their_entries), HM_TEST_ENTRY(byte_budget_evicts_least_recent),
             HM_TEST_ENTRY(hit_before_expiry_miss_after_under_clamps),
             HM_TEST_ENTRY(many_tags_each_invalidates), HM_TEST_ENTRY(teardown))
