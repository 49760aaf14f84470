/* test_guards.c -- the pure decision modules: ARI rules (ari.c), client rate
 * limits (ratelimit.c), supplier circuit breaker + token bucket
 * (supplier_guard.c) and the shared dictionary (shdict.c). Time is passed in. */
#include "hm_test.h"
#include "hotelmux/ari.h"
#include "hotelmux/common.h"
#include "hotelmux/ratelimit.h"
#include "hotelmux/shdict.h"
#include "hotelmux/supplier_guard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ari(const char *p) { return hm_ari_path(p, strlen(p)); }

HM_TEST(ari_paths)
{
    HM_CHECK(ari("/api/search/checkAvail"));
    HM_CHECK(ari("/api/search/checkAvail/"));
    HM_CHECK(ari("/api/trade/book"));
    HM_CHECK(ari("/api/trade/queryOrders"));
    HM_CHECK(ari("/api/trade/cancel"));
    HM_CHECK(!ari("/api/search/hotelList"));
    HM_CHECK(!ari("/api/search/hotelRates"));
    HM_CHECK(!ari("/api/search/checkAvailX"));
    HM_CHECK(!ari("/api/content/hotel/1"));
}

HM_TEST(ari_ttl_clamp_fails_closed)
{
    HM_CHECK(hm_ari_clamp_ttl(1, 1e9, 1) == 300);
    HM_CHECK(hm_ari_clamp_ttl(1, 1e9, 0) == 60);
    HM_CHECK(hm_ari_clamp_ttl(1, 45, 0) == 45);
    HM_CHECK(hm_ari_clamp_ttl(1, 0, 1) == 0);
    HM_CHECK(hm_ari_clamp_ttl(1, -5, 1) == 0);
    HM_CHECK(hm_ari_clamp_ttl(1, NAN, 1) == 0);
    HM_CHECK(hm_ari_clamp_ttl(1, INFINITY, 0) == 60);
    HM_CHECK(hm_ari_clamp_ttl(0, 30, 1) == 0);   /* the policy raised or returned a non-number */
}

HM_TEST(ari_checkin_distance)
{
    /* 2026-12-01 noon at UTC+4 is 08:00Z = 1796112000 */
    double noon_dubai = 1796112000.0;
    HM_CHECK(fabs(hm_ari_seconds_to_checkin("2026-12-01", noon_dubai - 3600, 1, 4) - 3600) < 1e-6);
    HM_CHECK(fabs(hm_ari_seconds_to_checkin("20261201", noon_dubai, 1, 4)) < 1e-6);
    /* unknown zone: the earliest one (UTC+14) makes it nearer, never farther */
    HM_CHECK(hm_ari_seconds_to_checkin("2026-12-01", noon_dubai, 0, 0) < 0);
    HM_CHECK(hm_ari_seconds_to_checkin("soon", noon_dubai, 1, 4) < -1e17);
    HM_CHECK(hm_ari_seconds_to_checkin("2026-13-01", noon_dubai, 1, 4) < -1e17);
    HM_CHECK(hm_ari_seconds_to_checkin("2026-12-01x", noon_dubai, 1, 4) < -1e17);
    HM_CHECK(hm_ari_seconds_to_checkin(NULL, noon_dubai, 1, 4) < -1e17);
}

HM_TEST(ratelimit_gcra)
{
    hm_ratelimit_reset();
    double retry;
    /* 10/s with a burst of 3: three at once, then one every 100 ms */
    for (int i = 0; i < 3; i++)
        HM_CHECK(hm_ratelimit_take("a", 1, 10, 3, 100.0, &retry));
    HM_CHECK(!hm_ratelimit_take("a", 1, 10, 3, 100.0, &retry));
    HM_CHECK(retry > 0.09 && retry <= 0.1 + 1e-9);
    HM_CHECK(hm_ratelimit_take("b", 1, 10, 3, 100.0, &retry));   /* keys are separate */
    HM_CHECK(hm_ratelimit_take("a", 1, 10, 3, 100.1, &retry));
    HM_CHECK(!hm_ratelimit_take("a", 1, 10, 3, 100.1, &retry));
    HM_CHECK(hm_ratelimit_take("a", 1, 10, 3, 101.0, &retry));   /* refilled */
    HM_CHECK(hm_ratelimit_take("x", 1, 0, 1, 100.0, &retry));     /* rate 0: no limit */
    hm_ratelimit_reset();
}

HM_TEST(ratelimit_all_or_nothing)
{
    hm_ratelimit_reset();
    double retry;
    size_t refused = 99;
    /* an app's overall limit (plenty) and a per-second one of 2 */
    hm_ratelimit_key_t keys[2] = { { "all", 3, 100, 100 }, { "qps", 3, 2, 2 } };
    HM_CHECK_INT(hm_ratelimit_take_all(keys, 2, 50.0, &retry, &refused), 1);
    HM_CHECK_INT(hm_ratelimit_take_all(keys, 2, 50.0, &retry, &refused), 1);
    HM_CHECK_INT(hm_ratelimit_take_all(keys, 2, 50.0, &retry, &refused), 0);
    HM_CHECK_INT(refused, 1);
    HM_CHECK(retry > 0.49 && retry <= 0.5 + 1e-9);
    /* the refusal took nothing from "all": 98 of its burst of 100 are left */
    for (int i = 0; i < 98; i++)
        HM_CHECK(hm_ratelimit_take("all", 3, 100, 100, 50.0, &retry));
    HM_CHECK(!hm_ratelimit_take("all", 3, 100, 100, 50.0, &retry));
    /* no keys: allowed; too many: refused as a bad call */
    HM_CHECK_INT(hm_ratelimit_take_all(keys, 0, 50.0, &retry, NULL), 1);
    hm_ratelimit_key_t many[HM_RATELIMIT_MAX_KEYS + 1] = { { "k", 1, 1, 1 } };
    HM_CHECK_INT(hm_ratelimit_take_all(many, HM_RATELIMIT_MAX_KEYS + 1, 50.0, &retry, NULL), HM_EINVAL);
    hm_ratelimit_reset();
}

HM_TEST(breaker_opens_probes_and_closes)
{
    hm_guard_reset();
    hm_guard_opts_t o;
    hm_guard_opts_default(&o);
    o.min_calls = 4;
    o.failure_ratio = 0.5;
    o.open_seconds = 5;
    double t = 1000;
    for (int i = 0; i < 4; i++) {
        HM_CHECK_INT(hm_guard_admit("s", &o, t), HM_GUARD_OK);
        hm_guard_record("s", i < 2 ? HM_OUTCOME_ERROR : HM_OUTCOME_TIMEOUT, 0, t);
    }
    HM_CHECK_STR(hm_guard_state("s", t), "open");
    HM_CHECK_INT(hm_guard_admit("s", &o, t + 4.9), HM_GUARD_OPEN);
    /* half-open: one probe only */
    HM_CHECK_INT(hm_guard_admit("s", &o, t + 5.1), HM_GUARD_OK);
    HM_CHECK_INT(hm_guard_admit("s", &o, t + 5.2), HM_GUARD_OPEN);
    hm_guard_record("s", HM_OUTCOME_ERROR, 0, t + 5.3);   /* probe failed: open again */
    HM_CHECK_STR(hm_guard_state("s", t + 5.3), "open");
    HM_CHECK_INT(hm_guard_admit("s", &o, t + 10.4), HM_GUARD_OK);
    hm_guard_record("s", HM_OUTCOME_OK, 0, t + 10.5);      /* probe succeeded */
    HM_CHECK_STR(hm_guard_state("s", t + 10.5), "closed");
    /* a healthy mix stays closed */
    for (int i = 0; i < 20; i++) {
        HM_CHECK_INT(hm_guard_admit("s", &o, t + 11), HM_GUARD_OK);
        hm_guard_record("s", i % 4 == 3 ? HM_OUTCOME_ERROR : HM_OUTCOME_OK, 0, t + 11);   /* 25 % */
    }
    HM_CHECK_STR(hm_guard_state("s", t + 11), "closed");
    hm_guard_reset();
}

/* A half-open probe aborted without an outcome (the request it served went
 * away) frees the probe slot: the breaker used to wait for it forever. */
HM_TEST(breaker_abandoned_probe_is_not_waited_for)
{
    hm_guard_reset();
    hm_guard_opts_t o;
    hm_guard_opts_default(&o);
    o.min_calls = 2;
    o.open_seconds = 1;
    double t = 500;
    for (int i = 0; i < 2; i++) {
        HM_CHECK_INT(hm_guard_admit("p", &o, t), HM_GUARD_OK);
        hm_guard_record("p", HM_OUTCOME_ERROR, 0, t);
    }
    HM_CHECK_STR(hm_guard_state("p", t), "open");
    HM_CHECK_INT(hm_guard_admit("p", &o, t + 1.5), HM_GUARD_OK);     /* the probe */
    HM_CHECK_INT(hm_guard_admit("p", &o, t + 1.6), HM_GUARD_OPEN);
    hm_guard_abandon("p");                                           /* aborted */
    HM_CHECK_INT(hm_guard_admit("p", &o, t + 1.7), HM_GUARD_OK);     /* the next probe */
    hm_guard_record("p", HM_OUTCOME_OK, 0, t + 1.8);
    HM_CHECK_STR(hm_guard_state("p", t + 1.8), "closed");
    hm_guard_abandon("p");                                           /* closed: no effect */
    HM_CHECK_STR(hm_guard_state("p", t + 1.8), "closed");
    hm_guard_abandon("nobody");
    hm_guard_reset();
}

HM_TEST(guard_qps_and_throttle_answers)
{
    hm_guard_reset();
    hm_guard_opts_t o;
    hm_guard_opts_default(&o);
    o.qps = 2;
    int ok = 0;
    for (int i = 0; i < 5; i++)
        ok += hm_guard_admit("q", &o, 50.0) == HM_GUARD_OK;
    HM_CHECK_INT(ok, 2);
    HM_CHECK_INT(hm_guard_admit("q", &o, 50.6), HM_GUARD_OK);   /* 1.2 tokens back */
    /* the supplier said "slow down" for 3 s: not a failure, but no calls */
    o.qps = 0;
    hm_guard_record("t", HM_OUTCOME_THROTTLED, 3, 10.0);
    HM_CHECK_INT(hm_guard_admit("t", &o, 12.9), HM_GUARD_THROTTLED);
    HM_CHECK_INT(hm_guard_admit("t", &o, 13.1), HM_GUARD_OK);
    HM_CHECK_STR(hm_guard_state("t", 13.1), "closed");
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_INT(hm_guard_status_json(&b, 13.1), HM_OK);
    HM_CHECK(strstr(b.data, "\"t\":{\"circuit\":\"closed\"") != NULL);
    hm_buf_free(&b);
    hm_guard_reset();
}

static void collect(void *ud, const char *key, size_t len)
{
    (void)key;
    *(size_t *)ud += len;
}

HM_TEST(shdict_values_incr_budget)
{
    HM_CHECK_INT(hm_shdict_init(4096), HM_OK);
    hm_shv_t v = { HM_SHV_STRING, 0, "hello", 5 }, out;
    HM_CHECK_INT(hm_shdict_set("k", 1, &v, 0, 0), HM_OK);
    HM_CHECK_INT(hm_shdict_set("k", 1, &v, 0, 1), HM_ELIMIT);   /* add: exists */
    HM_CHECK_INT(hm_shdict_get("k", 1, &out), HM_OK);
    HM_CHECK(out.type == HM_SHV_STRING && out.len == 5 && memcmp(out.str, "hello", 5) == 0);
    free((void *)out.str);
    double r, init = 3, min = 0;
    HM_CHECK_INT(hm_shdict_incr("n", 1, -1, &init, &min, &r), HM_OK);
    HM_CHECK(r == 2);
    HM_CHECK_INT(hm_shdict_incr("n", 1, -3, NULL, &min, &r), HM_ELIMIT);   /* below min: unchanged */
    HM_CHECK_INT(hm_shdict_incr("n", 1, -2, NULL, &min, &r), HM_OK);
    HM_CHECK(r == 0);
    HM_CHECK_INT(hm_shdict_incr("k", 1, 1, NULL, NULL, &r), HM_EINVAL);    /* not a number */
    HM_CHECK_INT(hm_shdict_incr("none", 4, 1, NULL, NULL, &r), HM_ENOENT);
    size_t total = 0;
    HM_CHECK_INT(hm_shdict_keys("", 100, collect, &total), HM_OK);
    HM_CHECK_INT((int)total, 2);   /* "k" and "n" */
    /* the byte budget refuses what does not fit */
    char big[8192];
    memset(big, 'x', sizeof(big));
    hm_shv_t bv = { HM_SHV_STRING, 0, big, sizeof(big) };
    HM_CHECK_INT(hm_shdict_set("big", 3, &bv, 0, 0), HM_ENOMEM);
    hm_shv_t nil = { HM_SHV_NIL, 0, NULL, 0 };
    HM_CHECK_INT(hm_shdict_set("k", 1, &nil, 0, 0), HM_OK);   /* nil deletes */
    HM_CHECK_INT(hm_shdict_get("k", 1, &out), HM_OK);
    HM_CHECK(out.type == HM_SHV_NIL);
    hm_shdict_shutdown();
}

HM_TEST_MAIN(HM_TEST_ENTRY(ari_paths), HM_TEST_ENTRY(ari_ttl_clamp_fails_closed), HM_TEST_ENTRY(ari_checkin_distance),
             HM_TEST_ENTRY(ratelimit_gcra), HM_TEST_ENTRY(ratelimit_all_or_nothing),
             HM_TEST_ENTRY(breaker_opens_probes_and_closes),
             HM_TEST_ENTRY(breaker_abandoned_probe_is_not_waited_for),
             HM_TEST_ENTRY(guard_qps_and_throttle_answers), HM_TEST_ENTRY(shdict_values_incr_budget))
