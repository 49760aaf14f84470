/* server.c -- the control thread: workers, signals, reload, status. */
#include "hotelmux/server.h"
#include "hotelmux/supplier_guard.h"
#include "hotelmux/cache.h"
#include "hotelmux/redis.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/lua_vm.h"
#include "hotelmux/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t hm_server_conn_delta(hm_server_t *s, int d)
{
    if (d >= 0)
        return atomic_fetch_add(&s->nconns, (size_t)d) + (size_t)d;
    return atomic_fetch_sub(&s->nconns, (size_t)-d) - (size_t)-d;
}

static void count_reload(int ok)
{
    hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_reloads_total",
                                    "Script reloads by result",
                                    ok ? "result=\"success\"" : "result=\"failure\""),
                  HM_METRICS_CONTROL, 1);
}

/* Build one new vm per worker; hand them over only if every one loaded. */
static int reload(hm_server_t *s, char *err, size_t errlen)
{
    hm_vm_t *vms[HM_MAX_WORKERS] = { 0 };
    uv_mutex_lock(&s->mu);
    uint64_t gen = s->generation + 1;
    uv_mutex_unlock(&s->mu);
    int rc = HM_OK;
    for (int i = 0; i < s->nworkers && rc == HM_OK; i++)
        rc = hm_vm_new(s->config_path, &s->workers[i], gen, &vms[i], NULL, err, errlen);
    if (rc != HM_OK) {
        for (int i = 0; i < s->nworkers; i++)
            if (vms[i])
                hm_vm_release(vms[i]); /* never ran on a worker: safe to free here */
        uv_mutex_lock(&s->mu);
        s->reloads_failed++;
        snprintf(s->last_error, sizeof(s->last_error), "%s", err);
        s->last_error_at = hm_clock_now();
        uv_mutex_unlock(&s->mu);
        count_reload(0);
        hm_log(HM_LOG_ERROR, "reload failed, generation %llu keeps running: %s",
               (unsigned long long)(gen - 1), err);
        return rc;
    }
    for (int i = 0; i < s->nworkers; i++) {
        hm_msg_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            /* Out of memory mid-switch: this worker keeps its generation. */
            hm_vm_release(vms[i]);
            continue;
        }
        m->type = HM_MSG_NEW_VM;
        m->vm = vms[i];
        hm_worker_post(&s->workers[i], m);
    }
    uv_mutex_lock(&s->mu);
    s->generation = gen;
    s->loaded_at = hm_clock_now();
    s->reloads_ok++;
    uv_mutex_unlock(&s->mu);
    count_reload(1);
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_script_generation",
                                    "Generation number of the running scripts", ""),
                  HM_METRICS_CONTROL, (double)gen);
    hm_log(HM_LOG_INFO, "reloaded: generation %llu", (unsigned long long)gen);
    return HM_OK;
}

static void on_wakeup(uv_async_t *a)
{
    hm_server_t *s = a->data;
    uv_mutex_lock(&s->mu);
    hm_reload_req_t *list = s->reloads;
    s->reloads = NULL;
    uv_mutex_unlock(&s->mu);
    if (list == NULL)
        return;
    /* Several admin requests that arrived together share one reload. */
    char err[2048];
    int rc = reload(s, err, sizeof(err));
    while (list) {
        hm_reload_req_t *r = list;
        list = r->next;
        hm_msg_t *m = calloc(1, sizeof(*m));
        hm_buf_t b = HM_BUF_INIT;
        uv_mutex_lock(&s->mu);
        unsigned long long gen = (unsigned long long)s->generation;
        uv_mutex_unlock(&s->mu);
        int ok = rc == HM_OK;
        int brc = ok ? hm_buf_printf(&b, "{\"code\":0,\"msg\":\"success\",\"data\":{\"generation\":%llu}}", gen)
                     : (hm_buf_puts(&b, "{\"code\":422,\"msg\":") | hm_buf_json_str(&b, err, strlen(err)) |
                        hm_buf_printf(&b, ",\"data\":{\"generation\":%llu}}", gen));
        if (m == NULL || brc != HM_OK) {
            free(m);
            hm_buf_free(&b);
        } else {
            m->type = HM_MSG_RELOAD_DONE;
            m->ticket = r->ticket;
            m->status = ok ? 200 : 422;
            m->body = b.data;
            hm_worker_post(&s->workers[r->worker], m);
        }
        free(r);
    }
}

void hm_server_request_reload(hm_server_t *s, int worker, uint64_t ticket)
{
    hm_reload_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return; /* the admin request times out on its side */
    r->worker = worker;
    r->ticket = ticket;
    uv_mutex_lock(&s->mu);
    r->next = s->reloads;
    s->reloads = r;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->wakeup);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    hm_server_t *s = sig->data;
    if (signum == SIGHUP) {
        char err[2048];
        hm_log(HM_LOG_INFO, "SIGHUP: reloading scripts");
        reload(s, err, sizeof(err));
        return;
    }
    hm_log(HM_LOG_INFO, "%s: draining and stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    uv_mutex_lock(&s->mu);
    s->stopping = 1;
    uv_mutex_unlock(&s->mu);
    uv_stop(&s->loop);
}

int hm_server_check(const char *config_path, char *err, size_t errlen)
{
    hm_vm_t *vm;
    hm_config_t cfg;
    int rc = hm_vm_new(config_path, NULL, 0, &vm, &cfg, err, errlen);
    if (rc != HM_OK)
        return rc;
    hm_vm_release(vm);
    hm_config_free(&cfg);
    return HM_OK;
}

int hm_server_init(hm_server_t *s, const char *config_path, const char *listen_override, char *err,
                   size_t errlen)
{
    memset(s, 0, sizeof(*s));
    atomic_init(&s->nconns, 0);
    s->config_path = strdup(config_path);
    if (s->config_path == NULL) {
        snprintf(err, errlen, "out of memory");
        return HM_ENOMEM;
    }
    /* A check-only vm reads the settings and proves every script loads. */
    hm_vm_t *probe;
    int rc = hm_vm_new(config_path, NULL, 0, &probe, &s->cfg, err, errlen);
    if (rc != HM_OK)
        return rc;
    hm_vm_release(probe);
    if (listen_override &&
        hm_config_parse_listen(listen_override, &s->cfg.listen_host, &s->cfg.listen_port) != HM_OK) {
        snprintf(err, errlen, "--listen %s: expected HOST:PORT", listen_override);
        return HM_EINVAL;
    }
    if (s->cfg.listen_host == NULL && (s->cfg.listen_host = strdup("0.0.0.0")) == NULL)
        return HM_ENOMEM;
    if (s->cfg.log_level) {
        hm_log_level_t lvl;
        if (hm_log_parse_level(s->cfg.log_level, &lvl) != 0) {
            snprintf(err, errlen, "config: log_level must be debug, info, warn or error");
            return HM_EINVAL;
        }
        hm_log_set_level(lvl);
    }
    uv_mutex_init(&s->mu);
    s->started_at = s->loaded_at = hm_clock_now();
    s->generation = 1;
    s->nworkers = s->cfg.workers;
    s->workers = calloc((size_t)s->nworkers, sizeof(hm_worker_t));
    if (s->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        return HM_ENOMEM;
    }
    for (int i = 0; i < s->nworkers; i++) {
        hm_vm_t *vm;
        s->workers[i].id = i;   /* hm.worker_id is read while the scripts load */
        rc = hm_vm_new(config_path, &s->workers[i], 1, &vm, NULL, err, errlen);
        if (rc == HM_OK)
            rc = hm_worker_init(&s->workers[i], s, i, &s->cfg, vm, err, errlen);
        if (rc != HM_OK) {
            s->nworkers = i; /* destroy only what was made */
            return rc;
        }
    }
    uv_loop_init(&s->loop);
    uv_signal_init(&s->loop, &s->sig_hup);
    uv_signal_init(&s->loop, &s->sig_term);
    uv_signal_init(&s->loop, &s->sig_int);
    uv_async_init(&s->loop, &s->wakeup, on_wakeup);
    s->sig_hup.data = s->sig_term.data = s->sig_int.data = s->wakeup.data = s;
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_script_generation",
                                    "Generation number of the running scripts", ""),
                  HM_METRICS_CONTROL, 1);
    return HM_OK;
}

static void close_cb(uv_handle_t *h) { HM_UNUSED(h); }

int hm_server_run(hm_server_t *s)
{
    uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    for (int i = 0; i < s->nworkers; i++) {
        if (hm_worker_start(&s->workers[i]) != HM_OK) {
            hm_log(HM_LOG_ERROR, "cannot start worker %d", i);
            s->nworkers = i;
            break;
        }
    }
    hm_log(HM_LOG_INFO, "hotelmux %s listening on %s:%d with %d workers", HM_VERSION,
           s->cfg.listen_host, s->cfg.listen_port, s->nworkers);
    uv_run(&s->loop, UV_RUN_DEFAULT);

    for (int i = 0; i < s->nworkers; i++) {
        hm_msg_t *m = calloc(1, sizeof(*m));
        if (m) {
            m->type = HM_MSG_STOP;
            hm_worker_post(&s->workers[i], m);
        }
    }
    for (int i = 0; i < s->nworkers; i++)
        hm_worker_join(&s->workers[i]);
    uv_close((uv_handle_t *)&s->sig_hup, close_cb);
    uv_close((uv_handle_t *)&s->sig_term, close_cb);
    uv_close((uv_handle_t *)&s->sig_int, close_cb);
    uv_close((uv_handle_t *)&s->wakeup, close_cb);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    hm_log(HM_LOG_INFO, "stopped");
    return 0;
}

void hm_server_destroy(hm_server_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        hm_worker_destroy(&s->workers[i]);
    free(s->workers);
    while (s->reloads) {
        hm_reload_req_t *r = s->reloads;
        s->reloads = r->next;
        free(r);
    }
    hm_config_free(&s->cfg);
    free(s->config_path);
}

int hm_server_status_json(hm_server_t *s, hm_buf_t *out)
{
    size_t conns = atomic_load(&s->nconns);
    uv_mutex_lock(&s->mu);
    double now = hm_clock_now();
    int rc = hm_buf_printf(out,
        "{\"version\":\"%s\",\"uptimeSeconds\":%.3f,\"workers\":%d,\"connections\":%zu,"
        "\"generation\":{\"number\":%llu,\"loadedAt\":%.3f,\"ageSeconds\":%.3f},"
        "\"reloads\":{\"success\":%llu,\"failure\":%llu,\"lastError\":",
        HM_VERSION, now - s->started_at, s->nworkers, conns, (unsigned long long)s->generation,
        s->loaded_at, now - s->loaded_at, (unsigned long long)s->reloads_ok,
        (unsigned long long)s->reloads_failed);
    if (s->last_error[0]) {
        rc |= hm_buf_json_str(out, s->last_error, strlen(s->last_error));
        rc |= hm_buf_printf(out, ",\"lastErrorAt\":%.3f", s->last_error_at);
    } else {
        rc |= hm_buf_puts(out, "null");
    }
    int stopping = s->stopping;
    uv_mutex_unlock(&s->mu);
    rc |= hm_buf_printf(out, "},\"luaStates\":%zu,\"draining\":%s,\"suppliers\":", hm_vm_live(),
                        stopping ? "true" : "false");
    rc |= hm_guard_status_json(out, hm_clock_monotonic());
    hm_cache_stats_t cs;
    hm_cache_stats(&cs);
    rc |= hm_buf_printf(out, ",\"cache\":{\"l1\":{\"entries\":%zu,\"bytes\":%zu,\"budget\":%zu,"
                             "\"hits\":%llu,\"misses\":%llu,\"evictions\":%llu,\"invalidated\":%llu}}",
                        cs.entries, cs.bytes, cs.budget, (unsigned long long)cs.hits,
                        (unsigned long long)cs.misses, (unsigned long long)cs.evictions,
                        (unsigned long long)cs.invalidated);
    int up = 0;
    for (int i = 0; i < s->nworkers; i++)
        up += hm_redis_connected(s->workers[i].redis);
    if (s->cfg.redis_host)
        rc |= hm_buf_printf(out, ",\"redis\":{\"configured\":true,\"address\":\"%s:%d\",\"connectedWorkers\":%d,"
                                 "\"subscriber\":%s}",
                            s->cfg.redis_host, s->cfg.redis_port, up,
                            s->nworkers && hm_redis_connected(s->workers[0].redis_sub) ? "true" : "false");
    else
        rc |= hm_buf_puts(out, ",\"redis\":{\"configured\":false}");
    rc |= hm_buf_puts(out, "}");
    return rc ? HM_ENOMEM : HM_OK;
}
