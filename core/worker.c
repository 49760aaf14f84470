/* worker.c -- a worker thread: loop, listener, inbox, generation swap, drain. */
#include "hotelmux/worker.h"
#include "hotelmux/lua_timer.h"
#include "hotelmux/lua_cache.h"
#include "hotelmux/redis.h"
#include "hotelmux/admin.h"
#include "hotelmux/common.h"
#include "hotelmux/http_conn.h"
#include "hotelmux/log.h"
#include "hotelmux/lua_handler.h"
#include "hotelmux/metrics.h"
#include "hotelmux/server.h"
#include "hotelmux/static.h"
#include "hotelmux/task.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK_MS 1000
#define DRAIN_TICK_MS 50

/* Bind a listening socket with SO_REUSEPORT so every worker accepts on the
 * same port and the kernel spreads connections between them. */
static int bind_listener(const char *host, int port, int *out_port, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "listen %s:%d: %s (use a numeric address)", host, port, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "listen %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void on_connection(uv_stream_t *listener, int status)
{
    hm_worker_t *w = listener->data;
    if (status < 0) {
        hm_log(HM_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    hm_conn_accept(w, listener);
}

const char *hm_worker_date(hm_worker_t *w)
{
    time_t now = time(NULL);
    if (now != w->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_sec = now;
    }
    return w->date;
}

static void set_vm(hm_worker_t *w, hm_vm_t *vm)
{
    hm_vm_t *old = w->vm;
    w->vm = vm;
    if (vm)
        hm_lua_timer_init_worker(w);
    /* Requests in flight keep their own reference: old closes when they end. */
    if (old)
        hm_vm_release(old);
}

static void close_noop(uv_handle_t *h) { HM_UNUSED(h); }

/* Drain timeout: whoever is still here is cut off. */
static void on_drain_timeout(uv_timer_t *t)
{
    hm_worker_t *w = t->data;
    hm_log(HM_LOG_WARN, "drain timeout: closing %zu connections, aborting %zu tasks", w->nconns,
           w->ntasks);
    while (w->conns)
        hm_conn_close(w->conns);
    /* Abort root tasks only: a fan-out parent aborts its own jobs. */
    while (w->tasks) {
        hm_task_t *t = w->tasks;
        while (t && t->parent)
            t = t->next;
        hm_task_abort(t ? t : w->tasks);
    }
}

static void finish(hm_worker_t *w)
{
    uv_timer_stop(&w->tick);
    uv_timer_stop(&w->drain_timer);
    uv_close((uv_handle_t *)&w->tick, close_noop);
    uv_close((uv_handle_t *)&w->drain_timer, close_noop);
    uv_close((uv_handle_t *)&w->wakeup, close_noop);
    hm_fanout_gate_close(&w->gate, close_noop);
    hm_sf_mailbox_close(&w->sf_mail, close_noop);
    hm_lua_timer_close_all(w);
    hm_redis_close(w->redis);
    hm_redis_close(w->redis_sub);
    w->redis = w->redis_sub = NULL;
    if (w->client)
        hm_client_close(w->client);
    w->client = NULL;
    set_vm(w, NULL);
}

static void on_tick(uv_timer_t *t)
{
    hm_worker_t *w = t->data;
    if (w->vm)
        hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_lua_memory_bytes",
                                        "Lua memory in use by the worker's current scripts",
                                        w->id_label),
                      w->id, (double)hm_vm_memory(w->vm));
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_open_connections",
                                    "Open client connections", ""),
                  w->id, (double)w->nconns);
    if (w->draining && w->nconns == 0 && w->ntasks == 0)
        finish(w);
}

static void start_drain(hm_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, close_noop);
        w->listening = 0;
    }
    for (hm_conn_t *c = w->conns, *next; c; c = next) {
        next = hm_conn_next(c);
        hm_conn_drain(c);
    }
    uv_timer_start(&w->drain_timer, on_drain_timeout, w->cfg->limits.drain_timeout_ms, 0);
    uv_timer_start(&w->tick, on_tick, 0, DRAIN_TICK_MS);
}

static void reload_done(hm_worker_t *w, hm_msg_t *m)
{
    for (hm_conn_t *c = w->conns; c; c = hm_conn_next(c)) {
        if (hm_conn_ticket(c) != m->ticket)
            continue;
        hm_conn_set_ticket(c, 0);
        hm_header_t h = { "Content-Type", "application/json" };
        hm_admin_respond(w, c, hm_conn_request(c), "/admin/reload", m->status, &h, 1, m->body,
                         strlen(m->body));
        return;
    }
}

static void on_wakeup(uv_async_t *a)
{
    hm_worker_t *w = a->data;
    uv_mutex_lock(&w->inbox_mu);
    hm_msg_t *m = w->inbox;
    w->inbox = w->inbox_tail = NULL;
    uv_mutex_unlock(&w->inbox_mu);
    while (m) {
        hm_msg_t *next = m->next;
        switch (m->type) {
        case HM_MSG_NEW_VM:
            if (w->draining)
                hm_vm_release(m->vm);
            else
                set_vm(w, m->vm);
            break;
        case HM_MSG_STOP:
            start_drain(w);
            break;
        case HM_MSG_RELOAD_DONE:
            reload_done(w, m);
            break;
        }
        free(m->body);
        free(m);
        m = next;
    }
}

int hm_worker_post(hm_worker_t *w, hm_msg_t *m)
{
    m->next = NULL;
    uv_mutex_lock(&w->inbox_mu);
    if (w->inbox_tail)
        w->inbox_tail->next = m;
    else
        w->inbox = m;
    w->inbox_tail = m;
    uv_mutex_unlock(&w->inbox_mu);
    return uv_async_send(&w->wakeup);
}

void hm_worker_conn_closed(hm_worker_t *w)
{
    HM_UNUSED(w); /* drain completion is noticed by the drain tick */
}

int hm_worker_init(hm_worker_t *w, struct hm_server_s *s, int id, const hm_config_t *cfg,
                   hm_vm_t *vm, char *err, size_t errlen)
{
    w->id = id;
    w->server = s;
    w->cfg = cfg;
    w->vm = vm;
    snprintf(w->id_label, sizeof(w->id_label), "worker=\"%d\"", id);
    unsigned char rnd[3] = { 0 };
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    snprintf(w->id_prefix, sizeof(w->id_prefix), "%02x%02x%02x-%d-", rnd[0], rnd[1], rnd[2], id);
    if (uv_loop_init(&w->loop) != 0) {
        snprintf(err, errlen, "worker %d: cannot create its loop", id);
        return HM_EIO;
    }
    /* Idle-time accounting (one clock read around each poll): the fan-out
     * tells a supplier's timeout from the worker's own saturation with it. */
    if (uv_loop_configure(&w->loop, UV_METRICS_IDLE_TIME) != 0)
        hm_log(HM_LOG_WARN, "worker %d: no loop idle-time metrics (timeouts always charge breakers)", id);
    if (hm_fanout_gate_init(&w->gate, &w->loop, id) != 0) {   /* uv_timer_init: cannot fail */
        snprintf(err, errlen, "worker %d: cannot create its fan-out gate", id);
        return HM_EIO;
    }
    uv_mutex_init(&w->inbox_mu);
    w->loop_ok = 1;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    if (hm_sf_mailbox_init(&w->sf_mail, &w->loop) != HM_OK) {
        snprintf(err, errlen, "worker %d: cannot create its singleflight mailbox", id);
        return HM_EIO;
    }
    uv_timer_init(&w->loop, &w->tick);
    uv_timer_init(&w->loop, &w->drain_timer);
    w->wakeup.data = w->tick.data = w->drain_timer.data = w;
    w->client = hm_client_new(&w->loop, id);
    if (w->client == NULL) {
        snprintf(err, errlen, "worker %d: cannot create its HTTP client", id);
        return HM_EIO;
    }
    if (cfg->redis_host) {
        /* The L1 cache is per process: one subscriber per node is enough. */
        w->redis = hm_redis_new(&w->loop, cfg->redis_host, cfg->redis_port, id, NULL, NULL, NULL);
        /* Every worker hears the acks of its own invalidations; worker 0
         * also receives the other nodes' invalidations for the node. */
        char chans[256], ack[128];
        hm_lua_cache_ack_channel(ack, sizeof(ack), id);
        snprintf(chans, sizeof(chans), "%s%s%s", ack, id == 0 ? " " : "", id == 0 ? HM_INVALIDATION_CHANNEL : "");
        w->redis_sub = hm_redis_new(&w->loop, cfg->redis_host, cfg->redis_port, id, chans,
                                    hm_lua_cache_on_invalidation, w);
        if (w->redis == NULL || w->redis_sub == NULL) {
            snprintf(err, errlen, "worker %d: out of memory creating the Redis client", id);
            return HM_ENOMEM;
        }
    }
    /* Worker 0 binds first; with port 0 the others follow the port it got. */
    hm_config_t *mcfg = (hm_config_t *)cfg;
    int port = cfg->listen_port;
    int fd = bind_listener(cfg->listen_host, cfg->listen_port, &port, err, errlen);
    if (fd < 0)
        return HM_EIO;
    mcfg->listen_port = port;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    if (uv_tcp_open(&w->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&w->listener, 4096, on_connection) != 0) {
        snprintf(err, errlen, "worker %d: cannot listen", id);
        return HM_EIO;
    }
    w->listening = 1;
    return HM_OK;
}

static void worker_main(void *arg)
{
    hm_worker_t *w = arg;
    hm_log_set_worker(w->id);
    uv_timer_start(&w->tick, on_tick, 0, TICK_MS);
    hm_lua_timer_init_worker(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int hm_worker_start(hm_worker_t *w)
{
    return uv_thread_create(&w->thread, worker_main, w) == 0 ? HM_OK : HM_EIO;
}

void hm_worker_join(hm_worker_t *w)
{
    uv_thread_join(&w->thread);
}

/* After join (or if the worker never started): free what is left. */
void hm_worker_destroy(hm_worker_t *w)
{
    hm_static_worker_release(w);
    if (!w->loop_ok)
        return;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, close_noop);
        w->listening = 0;
    }
    if (!uv_is_closing((uv_handle_t *)&w->wakeup))
        finish(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        hm_log(HM_LOG_WARN, "worker %d: loop still had handles at exit", w->id);
    uv_mutex_lock(&w->inbox_mu);
    hm_msg_t *m = w->inbox;
    w->inbox = w->inbox_tail = NULL;
    uv_mutex_unlock(&w->inbox_mu);
    while (m) {
        hm_msg_t *next = m->next;
        if (m->vm)
            hm_vm_release(m->vm);
        free(m->body);
        free(m);
        m = next;
    }
    uv_mutex_destroy(&w->inbox_mu);
}

void hm_worker_dispatch(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    if (hm_admin_handle(w, c, req))
        return;
    /* static files (core/static.c, config `static`): before the script routes */
    if (hm_static_handle(w, c, req))
        return;
    hm_lua_handler_run(w, c, req);
}
