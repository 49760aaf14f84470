/* test_fanout_gate.c -- admission by loop lag, on a real libuv loop.
 *
 * Lag is made the way a busy worker makes it: a callback that holds the loop
 * (usleep) so the gate's probe fires late. */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/fanout_gate.h"
#include "hotelmux/metrics.h"

#include <unistd.h>
#include <uv.h>

typedef struct {
    hm_gate_waiter_t w;        /* first: the callback gets its address */
    int calls, admitted;
    uint64_t at;               /* loop time of the callback */
    int order;
} waiter_t;

static uv_loop_t loop;
static hm_fanout_gate_t gate;
static int next_order;

static void on_gate(hm_gate_waiter_t *w, int admitted)
{
    waiter_t *x = (waiter_t *)w;
    x->calls++;
    x->admitted = admitted;
    x->at = uv_now(&loop);
    x->order = ++next_order;
}

static void setup(void)
{
    HM_CHECK_INT(uv_loop_init(&loop), 0);
    HM_CHECK_INT(hm_fanout_gate_init(&gate, &loop, 0), 0);
    next_order = 0;
}

static void teardown(void)
{
    hm_fanout_gate_close(&gate, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    HM_CHECK_INT(uv_loop_close(&loop), 0);
}

/* Run the loop for about ms milliseconds (the gate's probe is unref'd). */
static void on_stop(uv_timer_t *t) { uv_stop(t->loop); }
static void run_for(uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_stop, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int fill(int n)
{
    static waiter_t held[64];
    int admitted = 0;
    for (int i = 0; i < n; i++)
        admitted += hm_fanout_gate_enter(&gate, &held[i].w, 1000, on_gate) == 1;
    return admitted;
}

HM_TEST(admits_up_to_the_limit_then_queues_in_order)
{
    setup();
    HM_CHECK_INT(fill(HM_GATE_LIMIT_INITIAL), HM_GATE_LIMIT_INITIAL);
    waiter_t a = { 0 }, b = { 0 };
    HM_CHECK_INT(hm_fanout_gate_enter(&gate, &a.w, 1000, on_gate), 0);
    HM_CHECK_INT(hm_fanout_gate_enter(&gate, &b.w, 1000, on_gate), 0);
    HM_CHECK_INT((int)gate.queued, 2);
    hm_fanout_gate_leave(&gate);            /* one slot: the first in line */
    HM_CHECK_INT(a.calls, 1);
    HM_CHECK_INT(a.admitted, 1);
    HM_CHECK_INT(b.calls, 0);
    hm_fanout_gate_leave(&gate);
    HM_CHECK_INT(b.admitted, 1);
    HM_CHECK(a.order < b.order);
    HM_CHECK_INT(gate.inflight, HM_GATE_LIMIT_INITIAL);
    for (int i = 0; i < HM_GATE_LIMIT_INITIAL; i++)
        hm_fanout_gate_leave(&gate);
    HM_CHECK_INT(gate.inflight, 0);
    teardown();
}

HM_TEST(a_waiter_gives_up_after_its_wait)
{
    setup();
    fill(HM_GATE_LIMIT_INITIAL);
    waiter_t a = { 0 }, now = { 0 };
    uint64_t t0 = uv_now(&loop);
    /* 5 ms: past it at the first probe, which gives up before it admits */
    HM_CHECK_INT(hm_fanout_gate_enter(&gate, &a.w, 5, on_gate), 0);
    HM_CHECK_INT(hm_fanout_gate_enter(&gate, &now.w, 0, on_gate), -1);   /* no wait allowed: refused */
    HM_CHECK_INT(now.calls, 0);
    run_for(80);
    HM_CHECK_INT(a.calls, 1);
    HM_CHECK_INT(a.admitted, 0);
    HM_CHECK(a.at >= t0 + 5);
    HM_CHECK_INT((int)gate.queued, 0);
    for (int i = 0; i < HM_GATE_LIMIT_INITIAL; i++)
        hm_fanout_gate_leave(&gate);
    teardown();
}

HM_TEST(a_cancelled_waiter_is_never_called)
{
    setup();
    fill(HM_GATE_LIMIT_INITIAL);
    waiter_t a = { 0 }, b = { 0 };
    hm_fanout_gate_enter(&gate, &a.w, 1000, on_gate);
    hm_fanout_gate_enter(&gate, &b.w, 1000, on_gate);
    hm_fanout_gate_cancel(&gate, &a.w);
    hm_fanout_gate_cancel(&gate, &a.w);     /* twice: harmless */
    hm_fanout_gate_leave(&gate);
    HM_CHECK_INT(a.calls, 0);
    HM_CHECK_INT(b.admitted, 1);
    for (int i = 0; i < HM_GATE_LIMIT_INITIAL; i++)
        hm_fanout_gate_leave(&gate);
    teardown();
}

/* Without lag the limit grows while it binds, admitting the queue. */
HM_TEST(the_limit_grows_while_the_loop_keeps_up)
{
    setup();
    fill(HM_GATE_LIMIT_INITIAL);
    waiter_t q[4];
    memset(q, 0, sizeof(q));
    for (int i = 0; i < 4; i++)
        HM_CHECK_INT(hm_fanout_gate_enter(&gate, &q[i].w, 5000, on_gate), 0);
    run_for(150);
    HM_CHECK(gate.limit >= HM_GATE_LIMIT_INITIAL + 4);
    for (int i = 0; i < 4; i++)
        HM_CHECK_INT(q[i].admitted, 1);
    for (int i = 0; i < HM_GATE_LIMIT_INITIAL + 4; i++)
        hm_fanout_gate_leave(&gate);
    teardown();
}

static void on_hold(uv_timer_t *t)
{
    (void)t;
    usleep(60 * 1000);   /* the worker busy: the probe fires ~50 ms late */
}

HM_TEST(lag_shrinks_the_limit)
{
    setup();
    fill(HM_GATE_LIMIT_INITIAL);
    uv_timer_t hold;
    uv_timer_init(&loop, &hold);
    uv_timer_start(&hold, on_hold, 1, 0);
    run_for(40);
    HM_CHECK(gate.limit <= HM_GATE_LIMIT_INITIAL * 0.75 + 0.5);
    HM_CHECK(gate.limit >= HM_GATE_LIMIT_MIN);
    /* a queued waiter now waits for the smaller limit, not the old one */
    waiter_t a = { 0 };
    hm_fanout_gate_leave(&gate);
    HM_CHECK_INT(hm_fanout_gate_enter(&gate, &a.w, 1000, on_gate), 0);
    uv_close((uv_handle_t *)&hold, NULL);
    hm_fanout_gate_cancel(&gate, &a.w);
    for (int i = 0; i < HM_GATE_LIMIT_INITIAL - 1; i++)
        hm_fanout_gate_leave(&gate);
    teardown();
}

/* An idle loop: the probe stops, so the gate costs no wake-ups. */
HM_TEST(the_probe_stops_when_nothing_is_gated)
{
    setup();
    fill(1);
    hm_fanout_gate_leave(&gate);
    run_for(30);
    HM_CHECK_INT(gate.probing, 0);
    HM_CHECK(!uv_is_active((uv_handle_t *)&gate.probe));
    teardown();
}

static void init_metrics(void)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
}

HM_TEST_MAIN(HM_TEST_ENTRY(init_metrics),
             HM_TEST_ENTRY(admits_up_to_the_limit_then_queues_in_order),
             HM_TEST_ENTRY(a_waiter_gives_up_after_its_wait),
             HM_TEST_ENTRY(a_cancelled_waiter_is_never_called),
             HM_TEST_ENTRY(the_limit_grows_while_the_loop_keeps_up),
             HM_TEST_ENTRY(lag_shrinks_the_limit),
             HM_TEST_ENTRY(the_probe_stops_when_nothing_is_gated))
