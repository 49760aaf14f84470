/* test_singleflight.c -- lead/follow, wake-ups through a worker's mailbox (also
 * from another thread), cancel, the landed grace, a lapsed lease, failures. */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/singleflight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int woken;
static char last[128];

static void done(hm_sf_waiter_t *w)
{
    woken++;
    snprintf(last, sizeof(last), "%s", w->ok ? w->value : w->err);
    free(w->value);
    w->value = NULL;
}

static void noop_close(uv_handle_t *h) { (void)h; }

static int begin(const char *k, double now)
{
    char *v = NULL;
    size_t n = 0;
    int rc = hm_sf_begin(k, strlen(k), 2.0, now, &v, &n);
    if (v)
        snprintf(last, sizeof(last), "%s", v);
    free(v);
    return rc;
}

static size_t land(const char *k, const char *v, double now)
{
    return hm_sf_land(k, strlen(k), v, v ? strlen(v) : 0, v ? NULL : "boom", now);
}

HM_TEST(lead_follow_land_wakes_every_waiter)
{
    uv_loop_t loop;
    hm_sf_mailbox_t mb;
    HM_CHECK(uv_loop_init(&loop) == 0);
    HM_CHECK_INT(hm_sf_mailbox_init(&mb, &loop), HM_OK);
    woken = 0;
    HM_CHECK_INT(begin("k1", 100), HM_SF_LEAD);
    HM_CHECK_INT(begin("k1", 100.5), HM_SF_FOLLOW);
    hm_sf_waiter_t w[3];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 3; i++) {
        w[i].mailbox = &mb;
        w[i].done = done;
        HM_CHECK_INT(hm_sf_wait("k1", 2, &w[i], 100.5), HM_OK);
    }
    hm_sf_cancel(&w[1]);                        /* timed out: never woken */
    HM_CHECK_INT((int)land("k1", "answer", 101), 2);
    HM_CHECK_INT(woken, 0);                     /* only on the mailbox's loop */
    uv_run(&loop, UV_RUN_NOWAIT);
    HM_CHECK_INT(woken, 2);
    HM_CHECK_STR(last, "answer");
    /* within the grace the landed value answers begin() and wait() */
    HM_CHECK_INT(begin("k1", 101.9), HM_SF_LANDED);
    HM_CHECK_STR(last, "answer");
    hm_sf_waiter_t late = { .mailbox = &mb, .done = done };
    HM_CHECK_INT(hm_sf_wait("k1", 2, &late, 101.9), HM_SF_LANDED);
    HM_CHECK(late.ok && strcmp(late.value, "answer") == 0);
    free(late.value);
    /* after it: nothing in the air, and the next miss leads again */
    HM_CHECK_INT(hm_sf_wait("k1", 2, &late, 102), HM_ENOENT);
    HM_CHECK_INT(begin("k1", 102), HM_SF_LEAD);
    HM_CHECK_INT((int)land("k1", "again", 102.1), 0);
    /* an invalidation drops landed values: the next miss leads */
    HM_CHECK_INT(begin("k1", 102.2), HM_SF_LANDED);
    HM_CHECK_INT((int)hm_sf_forget_landed(), 1);
    HM_CHECK_INT(begin("k1", 102.3), HM_SF_LEAD);
    HM_CHECK_INT((int)land("k1", NULL, 102.4), 0);
    hm_sf_mailbox_close(&mb, noop_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    HM_CHECK(uv_loop_close(&loop) == 0);
}

HM_TEST(failure_wakes_with_the_error_and_ends_the_flight)
{
    uv_loop_t loop;
    hm_sf_mailbox_t mb;
    HM_CHECK(uv_loop_init(&loop) == 0);
    HM_CHECK_INT(hm_sf_mailbox_init(&mb, &loop), HM_OK);
    woken = 0;
    HM_CHECK_INT(begin("k2", 200), HM_SF_LEAD);
    hm_sf_waiter_t w = { .mailbox = &mb, .done = done };
    HM_CHECK_INT(hm_sf_wait("k2", 2, &w, 200), HM_OK);
    HM_CHECK_INT((int)land("k2", NULL, 200.1), 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    HM_CHECK_INT(woken, 1);
    HM_CHECK_STR(last, "boom");
    HM_CHECK_INT(begin("k2", 200.2), HM_SF_LEAD);   /* not kept: retried */
    /* a leader whose lease lapsed is replaced; its waiters stay parked and
     * the new leader's landing wakes them */
    HM_CHECK_INT(hm_sf_wait("k2", 2, &w, 200.3), HM_OK);
    HM_CHECK_INT(begin("k2", 202.3), HM_SF_LEAD);
    HM_CHECK_INT((int)land("k2", "second", 202.5), 1);
    /* a waiter queued but cancelled before its loop ran is never woken */
    hm_sf_waiter_t q = { .mailbox = &mb, .done = done };
    HM_CHECK_INT(begin("k3", 300), HM_SF_LEAD);
    HM_CHECK_INT(hm_sf_wait("k3", 2, &q, 300), HM_OK);
    HM_CHECK_INT((int)land("k3", "x", 300.1), 1);
    hm_sf_cancel(&q);
    uv_run(&loop, UV_RUN_NOWAIT);
    HM_CHECK_INT(woken, 2);
    HM_CHECK_STR(last, "second");
    hm_sf_mailbox_close(&mb, noop_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    HM_CHECK(uv_loop_close(&loop) == 0);
}

/* The leader lands on another thread: the waiter wakes on its own loop. */
static void lander(void *arg)
{
    (void)arg;
    land("k4", "from-thread", 400.1);
}

static void stop_when_woken(uv_idle_t *h)
{
    if (woken)
        uv_idle_stop(h);
}

HM_TEST(land_from_another_thread)
{
    uv_loop_t loop;
    hm_sf_mailbox_t mb;
    uv_idle_t idle;
    uv_thread_t th;
    HM_CHECK(uv_loop_init(&loop) == 0);
    HM_CHECK_INT(hm_sf_mailbox_init(&mb, &loop), HM_OK);
    woken = 0;
    HM_CHECK_INT(begin("k4", 400), HM_SF_LEAD);
    hm_sf_waiter_t w = { .mailbox = &mb, .done = done };
    HM_CHECK_INT(hm_sf_wait("k4", 2, &w, 400), HM_OK);
    HM_CHECK(uv_thread_create(&th, lander, NULL) == 0);
    uv_thread_join(&th);
    uv_idle_init(&loop, &idle);
    uv_idle_start(&idle, stop_when_woken);
    while (!woken)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&idle, noop_close);
    HM_CHECK_STR(last, "from-thread");
    hm_sf_mailbox_close(&mb, noop_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    HM_CHECK(uv_loop_close(&loop) == 0);
    hm_sf_shutdown();
    HM_CHECK_INT((int)hm_sf_count(), 0);
}

HM_TEST_MAIN(HM_TEST_ENTRY(lead_follow_land_wakes_every_waiter),
             HM_TEST_ENTRY(failure_wakes_with_the_error_and_ends_the_flight),
             HM_TEST_ENTRY(land_from_another_thread))
