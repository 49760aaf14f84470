/* fanout_gate.c -- admission of searches' fan-outs by loop lag (see the header). */
#include "hotelmux/fanout_gate.h"

#include <stdio.h>
#include <string.h>

#include "hotelmux/dlist.h"
#include "hotelmux/metrics.h"

static void count(const hm_fanout_gate_t *g, const char *event)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "event=\"%s\"", event);
    hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_fanout_gate_total",
                                    "Searches' fan-outs that waited for the worker to keep up "
                                    "(queued) and that gave up waiting (busy)", labels),
                  g->worker, 1);
}

static void publish_limit(const hm_fanout_gate_t *g)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "worker=\"%d\"", g->worker);
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_fanout_gate_limit",
                                    "Searches' fan-outs a worker lets run at once (adapts to its loop lag)",
                                    labels),
                  g->worker, g->limit);
}

static void unlink_waiter(hm_fanout_gate_t *g, hm_gate_waiter_t *w)
{
    HM_DLIST_UNLINK(g->head, g->tail, w, prev, next);
    w->queued = 0;
    g->queued--;
}

static void on_probe(uv_timer_t *t);

static void probe_arm(hm_fanout_gate_t *g)
{
    if (g->probing)
        return;
    g->probing = 1;
    /* loop time is read at the start of an iteration: refresh it, or a probe
     * armed after a long callback would count that callback as lag */
    uv_update_time(g->probe.loop);
    g->probe_due = uv_now(g->probe.loop) + HM_GATE_PROBE_MS;
    uv_timer_start(&g->probe, on_probe, HM_GATE_PROBE_MS, 0);
}

/* Admit from the head while slots are free. Each callback may start work or
 * leave at once (a fan-out whose jobs all settled synchronously), so the
 * queue is read again after every one. */
static void admit_waiting(hm_fanout_gate_t *g)
{
    if (g->admitting)
        return;   /* a callback's fan-out left at once: the loop below goes on */
    g->admitting = 1;
    while (g->head && (double)g->inflight < g->limit) {
        hm_gate_waiter_t *w = g->head;
        unlink_waiter(g, w);
        g->inflight++;
        w->cb(w, 1);
    }
    g->admitting = 0;
}

/* Waiters queue in arrival order but with their own waits: scan them all
 * (the queue is short; its length is bounded by the waits), again after
 * each callback, which may change the queue. */
static void give_up_expired(hm_fanout_gate_t *g, uint64_t now)
{
    for (;;) {
        hm_gate_waiter_t *w = g->head;
        while (w && w->give_up_at > now)
            w = w->next;
        if (!w)
            return;
        unlink_waiter(g, w);
        count(g, "busy");
        w->cb(w, 0);
    }
}

static void on_probe(uv_timer_t *t)
{
    hm_fanout_gate_t *g = t->data;
    /* the clock, not loop time: a callback that held the loop earlier in this
     * same timer phase is lag too */
    uv_update_time(t->loop);
    uint64_t now = uv_now(t->loop);
    uint64_t lag = now > g->probe_due ? now - g->probe_due : 0;
    g->probing = 0;
    double before = g->limit;
    if (lag > HM_GATE_LAG_TARGET_MS) {
        if (now - g->last_decrease >= 100) {
            g->limit *= 0.75;
            if (g->limit < HM_GATE_LIMIT_MIN)
                g->limit = HM_GATE_LIMIT_MIN;
            g->last_decrease = now;
        }
    } else if (g->queued > 0 || (double)g->inflight + 1 >= g->limit) {
        if (g->limit < HM_GATE_LIMIT_MAX)
            g->limit += 1;
    }
    if (g->limit != before)
        publish_limit(g);
    give_up_expired(g, now);
    admit_waiting(g);
    if (g->inflight > 0 || g->queued > 0)
        probe_arm(g);
}

int hm_fanout_gate_init(hm_fanout_gate_t *g, uv_loop_t *loop, int worker)
{
    memset(g, 0, sizeof(*g));
    g->limit = HM_GATE_LIMIT_INITIAL;
    g->worker = worker;
    int rc = uv_timer_init(loop, &g->probe);
    if (rc != 0)
        return rc;
    g->probe.data = g;
    uv_unref((uv_handle_t *)&g->probe);   /* never keeps a draining loop alive */
    return 0;
}

void hm_fanout_gate_close(hm_fanout_gate_t *g, uv_close_cb cb)
{
    if (uv_is_closing((uv_handle_t *)&g->probe))
        return;
    uv_timer_stop(&g->probe);
    g->probing = 0;
    uv_close((uv_handle_t *)&g->probe, cb);
}

int hm_fanout_gate_enter(hm_fanout_gate_t *g, hm_gate_waiter_t *w, uint64_t max_wait_ms, hm_gate_cb cb)
{
    if (uv_is_closing((uv_handle_t *)&g->probe))
        return 1;   /* draining: no more probes, let the last searches through */
    probe_arm(g);
    if (!g->head && ((double)g->inflight < g->limit || g->inflight == 0)) {
        g->inflight++;
        return 1;
    }
    if (max_wait_ms == 0) {
        count(g, "busy");
        return -1;
    }
    w->cb = cb;
    w->give_up_at = uv_now(g->probe.loop) + max_wait_ms;
    HM_DLIST_APPEND(g->head, g->tail, w, prev, next);
    w->queued = 1;
    g->queued++;
    count(g, "queued");
    return 0;
}

void hm_fanout_gate_cancel(hm_fanout_gate_t *g, hm_gate_waiter_t *w)
{
    if (w->queued)
        unlink_waiter(g, w);
}

void hm_fanout_gate_leave(hm_fanout_gate_t *g)
{
    if (g->inflight > 0)
        g->inflight--;
    if (!uv_is_closing((uv_handle_t *)&g->probe))
        admit_waiting(g);
}
