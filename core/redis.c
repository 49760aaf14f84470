/* redis.c -- Redis on a worker's loop (see redis.h). */
#include "hotelmux/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/metrics.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct hm_redis_s {
    uv_loop_t *loop;
    redisAsyncContext *ac;
    char *host;
    int port;
    int worker;
    atomic_int connected;    /* read by the control thread for /admin/status */
    int closing;
    unsigned backoff_ms;
    uv_timer_t reconnect;
    int open_handles;
    char *channel;                 /* subscriber: its channels, space-separated; else NULL */
    hm_redis_message_cb on_message;
    void *msg_data;
};

struct hm_redis_op_s {
    hm_redis_cb cb;
    void *data;
    uv_timer_t timer;
    int worker;
    int fired;         /* cb has run (or will never: cancelled) */
    int reply_done;    /* hiredis has called back */
    int timer_closed;
};

static void connect_now(hm_redis_t *r);

/* ---- hiredis <-> libuv ------------------------------------------------
 * Our own adapter instead of <hiredis/adapters/libuv.h>: that one ignores a
 * poll error (status < 0), so a refused or reset connection is never noticed
 * and the context hangs forever. Here an error is handed to hiredis as both
 * readable and writable, and it finds the socket error itself. */
typedef struct {
    redisAsyncContext *ac;
    uv_poll_t poll;
    int events;
} uv_events_t;

static void ev_poll(uv_poll_t *h, int status, int events)
{
    uv_events_t *p = h->data;
    if (status < 0)
        events = p->events;   /* let hiredis read the error */
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void ev_update(uv_events_t *p, int add, int flag)
{
    p->events = add ? (p->events | flag) : (p->events & ~flag);
    if (p->events)
        uv_poll_start(&p->poll, p->events, ev_poll);
    else
        uv_poll_stop(&p->poll);
}

static void ev_add_read(void *d) { ev_update(d, 1, UV_READABLE); }
static void ev_del_read(void *d) { ev_update(d, 0, UV_READABLE); }
static void ev_add_write(void *d) { ev_update(d, 1, UV_WRITABLE); }
static void ev_del_write(void *d) { ev_update(d, 0, UV_WRITABLE); }
static void ev_closed(uv_handle_t *h) { free(h->data); }

static void ev_cleanup(void *d)
{
    uv_events_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    uv_events_t *p = calloc(1, sizeof(*p));
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init_socket(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->poll.data = p;
    p->ac = ac;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

/* hotelmux_redis_errors_total{kind}: connect, timeout, disconnected, reply, unavailable. */
static hm_series_t *errors_series(const char *kind)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
    return hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_redis_errors_total",
                             "Redis failures: connect, timeout, disconnected, reply (an error "
                             "reply), unavailable (a command with no connection)",
                             labels);
}

static void count_error(int worker, const char *kind)
{
    hm_series_add(errors_series(kind), worker, 1);
}

static void set_connected(hm_redis_t *r, int up)
{
    r->connected = up;
    char labels[64];
    snprintf(labels, sizeof(labels), "worker=\"%d\",role=\"%s\"", r->worker,
             r->channel ? "subscriber" : "commands");
    hm_series_set(hm_metrics_series(HM_METRIC_GAUGE, "hotelmux_redis_connected",
                                    "1 while this worker's Redis connection is up", labels),
                  r->worker, up);
}

static void maybe_free(hm_redis_t *r)
{
    if (r->closing && r->open_handles == 0 && r->ac == NULL) {
        free(r->host);
        free(r->channel);
        free(r);
    }
}

static void on_reconnect_closed(uv_handle_t *h)
{
    hm_redis_t *r = h->data;
    r->open_handles--;
    maybe_free(r);
}

static void on_reconnect_timer(uv_timer_t *t)
{
    hm_redis_t *r = t->data;
    connect_now(r);
}

static void retry_later(hm_redis_t *r)
{
    if (r->closing)
        return;
    unsigned ms = r->backoff_ms ? r->backoff_ms : BACKOFF_MIN_MS;
    r->backoff_ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
    uv_timer_start(&r->reconnect, on_reconnect_timer, ms, 0);
}

static void on_subscribe_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    hm_redis_t *r = privdata;
    redisReply *rep = reply;
    /* ["message", channel, payload] for each message; ["subscribe", ...] once */
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "message") == 0 &&
        rep->element[2]->type == REDIS_REPLY_STRING)
        r->on_message(r->msg_data, rep->element[1]->str ? rep->element[1]->str : "",
                      rep->element[2]->str, rep->element[2]->len);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    hm_redis_t *r = ac->data;
    if (status != REDIS_OK) {
        /* Once per outage at warn level; retries every <= 2 s would flood the log. */
        hm_log(r->backoff_ms > BACKOFF_MIN_MS * 2 ? HM_LOG_DEBUG : HM_LOG_WARN,
               "redis %s:%d: connect failed: %s", r->host, r->port, ac->errstr);
        count_error(r->worker, "connect");
        r->ac = NULL;   /* hiredis frees it after this callback */
        retry_later(r);
        maybe_free(r);
        return;
    }
    r->backoff_ms = 0;
    set_connected(r, 1);
    if (r->channel) {
        /* SUBSCRIBE ch1 ch2 ...: one reply callback serves every message */
        const char *argv[9] = { "SUBSCRIBE" };
        size_t lens[9] = { 9 };
        int argc = 1;
        for (char *p = r->channel; *p && argc < 9;) {
            size_t n = strcspn(p, " ");
            argv[argc] = p;
            lens[argc++] = n;
            p += n;
            p += strspn(p, " ");
        }
        redisAsyncCommandArgv(r->ac, on_subscribe_reply, r, argc, argv, lens);
    }
    hm_log(HM_LOG_INFO, "redis %s:%d connected%s", r->host, r->port, r->channel ? " (subscriber)" : "");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    hm_redis_t *r = ac->data;
    (void)status;
    r->ac = NULL;   /* freed by hiredis after this callback */
    if (r->connected && !r->closing)
        hm_log(HM_LOG_WARN, "redis %s:%d: connection lost, reconnecting", r->host, r->port);
    set_connected(r, 0);
    retry_later(r);
    maybe_free(r);
}

static void connect_now(hm_redis_t *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL || ac->err) {
        hm_log(HM_LOG_DEBUG, "redis %s:%d: connect: %s", r->host, r->port, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        retry_later(r);
        return;
    }
    ac->data = r;
    if (ev_attach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        retry_later(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
}

hm_redis_t *hm_redis_new(uv_loop_t *loop, const char *host, int port, int worker,
                         const char *channel, hm_redis_message_cb on_message, void *msg_data)
{
    hm_redis_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->host = strdup(host)) || (channel && !(r->channel = strdup(channel)))) {
        if (r)
            free(r->host);
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->port = port;
    r->worker = worker;
    static const char *const kinds[] = { "connect", "timeout", "disconnected", "reply", "unavailable" };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        errors_series(kinds[i]);   /* at 0 from the start, for dashboards and alerts */
    r->on_message = on_message;
    r->msg_data = msg_data;
    uv_timer_init(loop, &r->reconnect);
    r->reconnect.data = r;
    r->open_handles = 1;
    set_connected(r, 0);
    connect_now(r);
    return r;
}

/* ---- commands ---------------------------------------------------------- */

static void op_maybe_free(hm_redis_op_t *op)
{
    if (op->reply_done && op->timer_closed)
        free(op);
}

static void op_timer_closed(uv_handle_t *h)
{
    hm_redis_op_t *op = h->data;
    op->timer_closed = 1;
    op_maybe_free(op);
}

static void op_close_timer(hm_redis_op_t *op)
{
    if (!uv_is_closing((uv_handle_t *)&op->timer)) {
        uv_timer_stop(&op->timer);
        uv_close((uv_handle_t *)&op->timer, op_timer_closed);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    hm_redis_op_t *op = privdata;
    op->reply_done = 1;
    if (!op->fired) {
        op->fired = 1;
        redisReply *rep = reply;
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            count_error(op->worker, rep ? "reply" : "disconnected");
        op->cb(op->data, reply, reply ? NULL : "disconnected");
    }
    op_close_timer(op);
    op_maybe_free(op);
}

static void on_op_timeout(uv_timer_t *t)
{
    hm_redis_op_t *op = t->data;
    if (!op->fired) {
        op->fired = 1;
        count_error(op->worker, "timeout");
        op->cb(op->data, NULL, "timeout");
    }
    op_close_timer(op);
}

int hm_redis_command(hm_redis_t *r, unsigned timeout_ms, hm_redis_cb cb, void *data,
                     hm_redis_op_t **op_out, int argc, const char **argv, const size_t *argvlen)
{
    if (op_out)
        *op_out = NULL;
    if (!r || !r->connected || !r->ac || r->closing) {
        if (r)
            count_error(r->worker, "unavailable");
        return HM_EIO;
    }
    hm_redis_op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return HM_ENOMEM;
    op->worker = r->worker;
    op->cb = cb;
    op->data = data;
    if (redisAsyncCommandArgv(r->ac, on_reply, op, argc, argv, argvlen) != REDIS_OK) {
        count_error(r->worker, "unavailable");
        free(op);
        return HM_EIO;
    }
    uv_timer_init(r->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, on_op_timeout, timeout_ms, 0);
    if (op_out)
        *op_out = op;
    return HM_OK;
}

void hm_redis_cancel(hm_redis_op_t *op)
{
    if (!op)
        return;
    op->fired = 1;
    op_close_timer(op);
}

int hm_redis_connected(const hm_redis_t *r) { return r && atomic_load(&((hm_redis_t *)r)->connected); }

void hm_redis_close(hm_redis_t *r)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    uv_timer_stop(&r->reconnect);
    uv_close((uv_handle_t *)&r->reconnect, on_reconnect_closed);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        /* Free now: pending replies are called back with NULL, then
         * on_disconnect runs (when it was connected) and clears r->ac. */
        redisAsyncFree(ac);
        r->ac = NULL;
    }
    set_connected(r, 0);
    maybe_free(r);
}
