/* test_answer_memo.c -- the answer memo's tables (serving is tested over
 * HTTP in tests/integration/test_answer_cache.py, class CoreMemo). */
#include "hm_test.h"
#include "hotelmux/answer_memo.h"
#include "hotelmux/common.h"

#include <stdio.h>
#include <string.h>

static hm_memo_answer_t answer(const char *key, int handle)
{
    hm_memo_answer_t a = { .answer_key = key, .answer_klen = strlen(key), .prefix = "{\"basic\":",
                           .prefix_len = 9, .live_at = 1e12, .handle = handle };
    return a;
}

static int drained[8];
static void collect(void *ud, int handle, uint64_t hits)
{
    (void)ud;
    if (handle >= 0 && handle < 8)
        drained[handle] += (int)hits;
}

HM_TEST(put_replaces_and_counts)
{
    hm_answer_memo_t *m = hm_answer_memo_new();
    HM_CHECK(m != NULL);
    hm_memo_answer_t a = answer("k1", 1);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, "{}", 2, &a), HM_OK);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, "{}", 2, &a), HM_OK);   /* replaced */
    HM_CHECK_INT(hm_answer_memo_entries(m), 1);
    /* no header, an empty header and a header are three requests */
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", "", 0, "{}", 2, &a), HM_OK);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", "EUR", 3, "{}", 2, &a), HM_OK);
    /* the route and the body are part of the key; a body may hold NULs */
    HM_CHECK_INT(hm_answer_memo_put(m, "/s", NULL, 0, "{}", 2, &a), HM_OK);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, "{\0}", 3, &a), HM_OK);
    HM_CHECK_INT(hm_answer_memo_entries(m), 5);
    /* bad calls */
    hm_memo_answer_t bad = answer("", 1);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, "{}", 2, &bad), HM_EINVAL);
    HM_CHECK_INT(hm_answer_memo_put(m, NULL, NULL, 0, "{}", 2, &a), HM_EINVAL);
    hm_answer_memo_clear(m);
    HM_CHECK_INT(hm_answer_memo_entries(m), 0);
    hm_answer_memo_free(m);
    hm_answer_memo_free(NULL);
}

HM_TEST(full_memo_starts_over)
{
    hm_answer_memo_t *m = hm_answer_memo_new();
    hm_memo_answer_t a = answer("k", 0);
    char body[32];
    for (int i = 0; i < HM_ANSWER_MEMO_MAX + 10; i++) {
        int n = snprintf(body, sizeof(body), "{\"h\":%d}", i);
        HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, body, (size_t)n, &a), HM_OK);
    }
    HM_CHECK_INT(hm_answer_memo_entries(m), 10);
    hm_answer_memo_free(m);
}

HM_TEST(tickets)
{
    hm_answer_memo_t *m = hm_answer_memo_new();
    hm_memo_limit_t lim[2] = { { "app:a:all", 9, 100, 100 }, { "app:a:day", 9, 11.5, 1e6 } };
    HM_CHECK_INT(hm_answer_memo_ticket(m, "Bearer x", 8, 1e10, lim, 2), HM_OK);
    HM_CHECK_INT(hm_answer_memo_ticket(m, "Bearer x", 8, 1e10, lim, 2), HM_OK);
    HM_CHECK_INT(hm_answer_memo_tickets(m), 1);
    hm_memo_limit_t zero = { "k", 1, 0, 1 };
    HM_CHECK_INT(hm_answer_memo_ticket(m, "Bearer y", 8, 1e10, &zero, 1), HM_EINVAL);
    HM_CHECK_INT(hm_answer_memo_ticket(m, "Bearer y", 8, 1e10, lim, HM_ANSWER_MEMO_LIMITS + 1), HM_EINVAL);
    HM_CHECK_INT(hm_answer_memo_ticket(m, "", 0, 1e10, lim, 2), HM_EINVAL);
    /* entries go, tickets stay */
    hm_answer_memo_clear(m);
    HM_CHECK_INT(hm_answer_memo_tickets(m), 1);
    hm_answer_memo_free(m);
}

HM_TEST(drain_of_nothing_served)
{
    hm_answer_memo_t *m = hm_answer_memo_new();
    hm_memo_answer_t a = answer("k", 3);
    HM_CHECK_INT(hm_answer_memo_put(m, "/r", NULL, 0, "{}", 2, &a), HM_OK);
    memset(drained, 0, sizeof(drained));
    hm_answer_memo_drain(m, collect, NULL);
    HM_CHECK_INT(drained[3], 0);
    hm_answer_memo_free(m);
}

HM_TEST_MAIN(HM_TEST_ENTRY(put_replaces_and_counts), HM_TEST_ENTRY(full_memo_starts_over),
             HM_TEST_ENTRY(tickets), HM_TEST_ENTRY(drain_of_nothing_served))
