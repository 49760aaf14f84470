/* admin.c -- health, readiness, metrics and the admin API. */
#include "hotelmux/admin.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/lua_vm.h"
#include "hotelmux/metrics.h"
#include "hotelmux/server.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hm_header_t json_ct = { "Content-Type", "application/json" };

static int path_is(const hm_request_t *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

static int method_is(const hm_request_t *r, const char *m)
{
    size_t n = strlen(m);
    return r->method_len == n && memcmp(r->method, m, n) == 0;
}

void hm_admin_respond(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req, const char *route,
                      int status, const hm_header_t *headers, size_t nheaders, const char *body,
                      size_t len)
{
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)req->method_len, req->method);
    hm_metrics_http_request(w->id, route, method, status,
                            (double)(uv_hrtime() - req->start_ns) / 1e9);
    hm_conn_respond(c, status, headers, nheaders, body, len);
}

static void respond_json(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req, const char *route,
                         int status, const char *body)
{
    hm_admin_respond(w, c, req, route, status, &json_ct, 1, body, strlen(body));
}

static void respond_envelope_error(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req,
                                   const char *route, int status, const char *msg)
{
    hm_buf_t b = HM_BUF_INIT;
    if (hm_buf_printf(&b, "{\"code\":%d,\"msg\":\"%s\",\"data\":null}", status, msg) != HM_OK) {
        hm_conn_close(c);
        return;
    }
    respond_json(w, c, req, route, status, b.data);
    hm_buf_free(&b);
}

/* Bearer token check in constant time (the token is a secret). */
static int authorized(hm_worker_t *w, const hm_request_t *req, int *status, const char **msg)
{
    const char *token = w->cfg->admin_token;
    if (token == NULL || token[0] == '\0') {
        *status = 403;
        *msg = "admin API disabled: set admin_token in the config";
        return 0;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, "authorization") != 0)
            continue;
        const char *v = req->headers[i].value;
        if (strncasecmp(v, "Bearer ", 7) != 0)
            break;
        v += 7;
        size_t n = strlen(v), t = strlen(token);
        if (n == t && CRYPTO_memcmp(v, token, n) == 0)
            return 1;
        break;
    }
    *status = 401;
    *msg = "missing or wrong admin token";
    return 0;
}

static int method_allowed(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req,
                          const char *route, const char *allow)
{
    if (method_is(req, allow) || (strcmp(allow, "GET") == 0 && method_is(req, "HEAD")))
        return 1;
    hm_header_t h[2] = { json_ct, { "Allow", allow } };
    const char *body = "{\"code\":405,\"msg\":\"method not allowed\",\"data\":null}";
    hm_admin_respond(w, c, req, route, 405, h, 2, body, strlen(body));
    return 0;
}

static void metrics(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_lua_states",
                                    "Lua states alive (current and draining generations)", ""),
                  HM_METRICS_CONTROL, (double)hm_vm_live());
    hm_buf_t b = HM_BUF_INIT;
    if (hm_metrics_render(&b) != HM_OK) {
        hm_buf_free(&b);
        respond_envelope_error(w, c, req, "/metrics", 500, "cannot render metrics");
        return;
    }
    hm_header_t h = { "Content-Type", "text/plain; version=0.0.4; charset=utf-8" };
    hm_admin_respond(w, c, req, "/metrics", 200, &h, 1, b.data, b.len);
    hm_buf_free(&b);
}

/* POST /admin/clock?advance=SECONDS: test time travel (clock.h), only when
 * the process was started with HOTELMUX_TEST_CLOCK=1 (never in production:
 * without it the path does not exist). */
static int test_clock_enabled(void)
{
    const char *e = getenv("HOTELMUX_TEST_CLOCK");
    return e && strcmp(e, "1") == 0;
}

static int clock_advance(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    const char *route = "/admin/clock";
    int status;
    const char *msg;
    if (!authorized(w, req, &status, &msg)) {
        respond_envelope_error(w, c, req, route, status, msg);
        return 1;
    }
    if (!method_allowed(w, c, req, route, "POST"))
        return 1;
    char q[64];
    double s = NAN;
    if (req->query_len > 8 && req->query_len < sizeof(q) && memcmp(req->query, "advance=", 8) == 0) {
        memcpy(q, req->query + 8, req->query_len - 8);
        q[req->query_len - 8] = '\0';
        char *end;
        s = strtod(q, &end);
        if (*end != '\0')
            s = NAN;
    }
    if (!isfinite(s) || s < 0 || s > 86400.0 * 365) {
        respond_envelope_error(w, c, req, route, 400, "advance=SECONDS (0..1 year) required");
        return 1;
    }
    char body[160];
    snprintf(body, sizeof(body), "{\"code\":0,\"msg\":\"success\",\"data\":{\"advanced\":%.3f}}",
             hm_clock_advance(s));
    respond_json(w, c, req, route, 200, body);
    return 1;
}

int hm_admin_handle(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    if (path_is(req, "/health")) {
        if (method_allowed(w, c, req, "/health", "GET"))
            respond_json(w, c, req, "/health", 200, "{\"status\":\"ok\"}");
        return 1;
    }
    if (path_is(req, "/ready")) {
        if (!method_allowed(w, c, req, "/ready", "GET"))
            return 1;
        if (w->draining || w->vm == NULL)
            respond_json(w, c, req, "/ready", 503, "{\"status\":\"draining\"}");
        else
            respond_json(w, c, req, "/ready", 200, "{\"status\":\"ready\"}");
        return 1;
    }
    if (path_is(req, "/metrics")) {
        if (method_allowed(w, c, req, "/metrics", "GET"))
            metrics(w, c, req);
        return 1;
    }
    if (req->path_len < 7 || memcmp(req->path, "/admin/", 7) != 0)
        return 0;
    int is_status = path_is(req, "/admin/status"), is_reload = path_is(req, "/admin/reload");
    if (path_is(req, "/admin/clock") && test_clock_enabled())
        return clock_advance(w, c, req);
    if (!is_status && !is_reload)
        return 0;
    const char *route = is_status ? "/admin/status" : "/admin/reload";
    int status;
    const char *msg;
    if (!authorized(w, req, &status, &msg)) {
        respond_envelope_error(w, c, req, route, status, msg);
        return 1;
    }
    if (is_status) {
        if (!method_allowed(w, c, req, route, "GET"))
            return 1;
        hm_buf_t b = HM_BUF_INIT;
        int rc = hm_buf_puts(&b, "{\"code\":0,\"msg\":\"success\",\"data\":");
        rc |= hm_server_status_json(w->server, &b);
        rc |= hm_buf_puts(&b, "}");
        if (rc != HM_OK)
            respond_envelope_error(w, c, req, route, 500, "out of memory");
        else
            respond_json(w, c, req, route, 200, b.data);
        hm_buf_free(&b);
        return 1;
    }
    if (!method_allowed(w, c, req, route, "POST"))
        return 1;
    /* The control thread reloads; the answer comes back as RELOAD_DONE. */
    static _Thread_local uint64_t tickets;
    uint64_t ticket = ((uint64_t)(w->id + 1) << 48) | ++tickets;
    hm_conn_set_ticket(c, ticket);
    hm_server_request_reload(w->server, w->id, ticket);
    return 1;
}
