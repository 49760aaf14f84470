/* supplier_guard.c -- circuit breaker + token bucket per supplier (see the header). */
#include "hotelmux/supplier_guard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/metrics.h"

#define MAX_WINDOW 64
#define NAME_MAX_LEN 64

enum { CLOSED, OPEN, HALF_OPEN };

typedef struct guard_s {
    struct guard_s *next;
    char name[NAME_MAX_LEN];
    hm_guard_opts_t opts;
    /* token bucket */
    double tokens, last_refill, blocked_until;
    /* breaker */
    int state;
    double opened_at;
    int probing;
    uint8_t ring[MAX_WINDOW];   /* 1 = failure */
    int ring_len, ring_pos, failures;
    uint64_t calls, total_failures, opens;
} guard_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static guard_t *guards;

void hm_guard_opts_default(hm_guard_opts_t *o)
{
    o->qps = 0;
    o->window = 20;
    o->min_calls = 10;
    o->failure_ratio = 0.5;
    o->open_seconds = 5;
}

static void set_state_metric(guard_t *g)
{
    char label[NAME_MAX_LEN * 2 + 16], esc[NAME_MAX_LEN * 2];
    hm_metrics_label_escape(esc, sizeof(esc), g->name);
    snprintf(label, sizeof(label), "supplier=\"%s\"", esc);
    /* Under the guard mutex, so the control slot has one writer at a time. */
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_circuit_open",
                                    "1 while a supplier's circuit breaker is open or half-open", label),
                  HM_METRICS_CONTROL, g->state == CLOSED ? 0 : 1);
}

static guard_t *find(const char *name, int create)
{
    for (guard_t *g = guards; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return g;
    if (!create)
        return NULL;
    guard_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    snprintf(g->name, sizeof(g->name), "%s", name);
    hm_guard_opts_default(&g->opts);
    g->tokens = -1;   /* filled on first admit */
    g->next = guards;
    guards = g;
    set_state_metric(g);   /* the gauge exists (0) from the supplier's first call */
    return g;
}

static void open_circuit(guard_t *g, double now)
{
    g->state = OPEN;
    g->opened_at = now;
    g->probing = 0;
    g->opens++;
    set_state_metric(g);
}

hm_guard_verdict_t hm_guard_admit(const char *supplier, const hm_guard_opts_t *o, double now)
{
    pthread_mutex_lock(&lock);
    guard_t *g = find(supplier, 1);
    hm_guard_verdict_t v = HM_GUARD_OK;
    if (!g)
        goto out;   /* out of memory: fail open, the call itself is still bounded */
    g->opts = *o;
    if (g->opts.window < 1 || g->opts.window > MAX_WINDOW)
        g->opts.window = g->opts.window < 1 ? 1 : MAX_WINDOW;
    if (g->state == OPEN) {
        if (now - g->opened_at < g->opts.open_seconds) {
            v = HM_GUARD_OPEN;
            goto out;
        }
        g->state = HALF_OPEN;
        g->probing = 0;
    }
    if (g->state == HALF_OPEN) {
        if (g->probing) {
            v = HM_GUARD_OPEN;
            goto out;
        }
    }
    if (now < g->blocked_until) {
        v = HM_GUARD_THROTTLED;
        goto out;
    }
    if (g->opts.qps > 0) {
        double burst = g->opts.qps < 1 ? 1 : g->opts.qps;
        if (g->tokens < 0) {
            g->tokens = burst;
            g->last_refill = now;
        }
        g->tokens += (now - g->last_refill) * g->opts.qps;
        if (g->tokens > burst)
            g->tokens = burst;
        g->last_refill = now;
        if (g->tokens < 1) {
            v = HM_GUARD_THROTTLED;
            goto out;
        }
        g->tokens -= 1;
    }
    if (g->state == HALF_OPEN)
        g->probing = 1;
out:
    pthread_mutex_unlock(&lock);
    return v;
}

void hm_guard_record(const char *supplier, hm_outcome_t outcome, double retry_after, double now)
{
    pthread_mutex_lock(&lock);
    guard_t *g = find(supplier, 1);
    if (!g) {
        pthread_mutex_unlock(&lock);
        return;
    }
    g->calls++;
    if (outcome == HM_OUTCOME_THROTTLED) {
        /* The supplier's own "slow down": not a health failure, but no call
         * until it said we may come back. */
        double wait = retry_after > 0 ? retry_after : 1.0;
        if (wait > 300)
            wait = 300;
        if (now + wait > g->blocked_until)
            g->blocked_until = now + wait;
        if (g->state == HALF_OPEN)
            g->probing = 0;
        pthread_mutex_unlock(&lock);
        return;
    }
    int failed = outcome != HM_OUTCOME_OK;
    g->total_failures += (uint64_t)failed;
    if (g->state == HALF_OPEN) {
        g->probing = 0;
        if (failed) {
            open_circuit(g, now);
        } else {
            g->state = CLOSED;
            g->ring_len = g->ring_pos = g->failures = 0;
            set_state_metric(g);
        }
        pthread_mutex_unlock(&lock);
        return;
    }
    if (g->state == OPEN) {   /* a call admitted before it opened */
        pthread_mutex_unlock(&lock);
        return;
    }
    int w = g->opts.window;
    if (g->ring_len == w) {
        g->failures -= g->ring[g->ring_pos];
    } else {
        g->ring_len++;
    }
    g->ring[g->ring_pos] = (uint8_t)failed;
    g->failures += failed;
    g->ring_pos = (g->ring_pos + 1) % w;
    if (g->ring_len >= g->opts.min_calls &&
        (double)g->failures >= g->opts.failure_ratio * (double)g->ring_len) {
        open_circuit(g, now);
        g->ring_len = g->ring_pos = g->failures = 0;
    }
    pthread_mutex_unlock(&lock);
}

void hm_guard_abandon(const char *supplier)
{
    pthread_mutex_lock(&lock);
    guard_t *g = find(supplier, 0);
    if (g && g->state == HALF_OPEN)
        g->probing = 0;
    pthread_mutex_unlock(&lock);
}

static const char *state_name(const guard_t *g, double now)
{
    if (g->state == OPEN && now - g->opened_at >= g->opts.open_seconds)
        return "half_open";
    return g->state == CLOSED ? "closed" : g->state == OPEN ? "open" : "half_open";
}

const char *hm_guard_state(const char *supplier, double now)
{
    pthread_mutex_lock(&lock);
    guard_t *g = find(supplier, 0);
    const char *s = g ? state_name(g, now) : "closed";
    pthread_mutex_unlock(&lock);
    return s;
}

int hm_guard_status_json(hm_buf_t *out, double now)
{
    int rc = hm_buf_puts(out, "{");
    pthread_mutex_lock(&lock);
    for (guard_t *g = guards; g && rc == HM_OK; g = g->next) {
        rc = hm_buf_printf(out, "%s", g == guards ? "" : ",");
        if (rc == HM_OK)
            rc = hm_buf_json_str(out, g->name, strlen(g->name));
        if (rc == HM_OK)
            rc = hm_buf_printf(out,
                               ":{\"circuit\":\"%s\",\"calls\":%llu,\"failures\":%llu,\"opens\":%llu,"
                               "\"throttledForSeconds\":%.3f}",
                               state_name(g, now), (unsigned long long)g->calls,
                               (unsigned long long)g->total_failures, (unsigned long long)g->opens,
                               g->blocked_until > now ? g->blocked_until - now : 0.0);
    }
    pthread_mutex_unlock(&lock);
    return rc == HM_OK ? hm_buf_puts(out, "}") : rc;
}

void hm_guard_reset(void)
{
    pthread_mutex_lock(&lock);
    while (guards) {
        guard_t *g = guards;
        guards = g->next;
        free(g);
    }
    pthread_mutex_unlock(&lock);
}
