/* client.c -- outbound HTTP(S): libcurl's multi interface driven by libuv.
 *
 * curl tells us which sockets to watch (socket_cb) and when to wake it
 * (timer_cb); we translate that into uv_poll and uv_timer handles and call
 * curl_multi_socket_action from their callbacks. Completions are gathered
 * after every socket_action and delivered from the loop, so a callback never
 * runs inside hm_client_request() and may itself start or cancel requests.
 *
 * Ownership: the client owns every op until its callback has returned (or it
 * was cancelled). Easy handles are kept in a small free list and reused, which
 * keeps their TLS session and DNS data warm; connections themselves are reused
 * through the multi handle's connection cache.
 *
 * Sockets: each fd curl watches gets a sock_ctx_t (indexed by fd) with one
 * uv_poll handle for the socket's life: no handle is closed and re-created per
 * transfer. curl sends CURL_POLL_REMOVE every time a transfer ends and its
 * connection goes back to the pool, then CURL_POLL_IN for the next transfer on
 * it; stopping and restarting the watch each time cost three epoll_ctl per
 * transfer. So a connection socket (one our CURLOPT_OPENSOCKETFUNCTION made)
 * that was watched for reading is "parked" on REMOVE instead: still watched,
 * unref'd, and the next CURL_POLL_IN finds it armed. If a parked socket turns
 * readable (the server closed the idle connection), the watch stops and curl's
 * own liveness check drops the connection when it next looks at it.
 * curl closes connection sockets through our CURLOPT_CLOSESOCKETFUNCTION,
 * which closes the handle before the fd, parked or not. A socket curl closes
 * by itself (the resolver's socketpair) is never parked: its watch is stopped
 * by then, and a stopped uv_poll is safe to restart on whatever socket next
 * gets that fd number (libuv issue 1495 is about active ones).
 * curl_multi_assign is not used: a late REMOVE cannot reach a freed ctx. */
#include "hotelmux/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hotelmux/buf.h"
#include "hotelmux/common.h"
#include "hotelmux/metrics.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 30000L
/* curl's own overall timeout, past ours: only a backstop (see sweep). */
#define CLIENT_BACKSTOP_MS 5000L
#define CLIENT_MAX_CONNECT_MS 10000L
#define CLIENT_MAX_RESPONSE_BYTES (64u * 1024 * 1024)
#define CLIENT_MAX_RESPONSE_HEADERS 256
#define CLIENT_EASY_POOL 64

typedef struct sock_ctx_s {
    uv_poll_t poll;                /* first: the close callback frees the ctx through it */
    curl_socket_t fd;
    hm_client_t *client;
    int poll_init;                 /* poll initialised (must be closed through uv_close) */
    int events;                    /* UV_READABLE/UV_WRITABLE being watched, 0 = stopped */
    int conn;                      /* made by open_socket: closed only through close_socket */
    int parked;                    /* idle in curl's pool, still watched (unref'd) */
    struct sock_ctx_s *prev, *next;
} sock_ctx_t;

struct hm_client_op_s {
    hm_client_t *client;
    CURL *easy;
    struct curl_slist *req_headers;
    hm_client_cb cb;
    void *data;
    hm_buf_t body;
    hm_buf_t hdr_text;             /* response headers: "name\0value\0" each */
    size_t nheaders;
    int too_big;                   /* response exceeded a limit */
    int in_multi;                  /* added to the multi handle, not yet finished */
    int cancelled;                 /* cancelled while waiting in a completion batch */
    char host[256];                /* metrics label */
    char errbuf[CURL_ERROR_SIZE];
    uint64_t start_ns;
    uint64_t deadline;             /* now_ms() the op times out at */
    CURLcode result;               /* how it ended, while in a completion batch */
    hm_client_op_t *prev, *next;   /* active list */
};

struct hm_client_s {
    uv_loop_t *loop;
    int worker;
    CURLM *multi;
    uv_timer_t timer;
    uv_timer_t sweep;              /* times ops out at their deadlines */
    uint64_t sweep_due;            /* 0: not armed */
    int sweep_deferred;
    hm_client_op_t *active;
    size_t pending;
    sock_ctx_t *socks;             /* every ctx, for close */
    sock_ctx_t **byfd;             /* every ctx, by fd */
    size_t nbyfd;
    int env_proxy;                 /* a proxy variable is set: let curl read the environment */
    CURL *pool[CLIENT_EASY_POOL];
    size_t npool;
    int open_handles;              /* uv handles not yet closed */
    int closing;
    int dispatching;               /* inside a completion batch: defer the free */
};

int hm_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? HM_OK : HM_EIO;
}

void hm_client_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ---- op lifetime ------------------------------------------------------- */

static void op_unlink(hm_client_op_t *op)
{
    hm_client_t *c = op->client;
    if (op->prev)
        op->prev->next = op->next;
    else
        c->active = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    c->pending--;
}

static void op_free(hm_client_op_t *op)
{
    hm_client_t *c = op->client;
    if (op->easy) {
        if (c->npool < CLIENT_EASY_POOL && !c->closing) {
            c->pool[c->npool++] = op->easy;   /* op_setup sets every per-request option */
        } else {
            curl_easy_cleanup(op->easy);
        }
    }
    curl_slist_free_all(op->req_headers);
    hm_buf_free(&op->hdr_text);
    hm_buf_free(&op->body);
    free(op);
}

static void client_maybe_free(hm_client_t *c)
{
    if (!c->closing || c->open_handles > 0 || c->dispatching)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    free(c->byfd);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    hm_client_t *c = h->data;
    if (h->type == UV_POLL)
        free(h);   /* sock_ctx_t begins with its uv_poll_t */
    c->open_handles--;
    client_maybe_free(c);
}

/* ---- completion -------------------------------------------------------- */

static void deliver(hm_client_op_t *op, CURLcode code)
{
    hm_client_res_t res;
    memset(&res, 0, sizeof(res));
    long status = 0;
    curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
    if (op->too_big) {
        res.error = HM_EIO;
        res.errmsg = "response too large";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        res.error = HM_ETIMEDOUT;
        res.errmsg = "timeout";
    } else if (code != CURLE_OK) {
        res.error = HM_EIO;
        res.errmsg = op->errbuf[0] ? op->errbuf : curl_easy_strerror(code);
    }
    res.status = res.error ? 0 : status;
    hm_header_t headers[CLIENT_MAX_RESPONSE_HEADERS];
    const char *p = op->hdr_text.data;
    for (size_t i = 0; i < op->nheaders; i++) {
        headers[i].name = p;
        p += strlen(p) + 1;
        headers[i].value = p;
        p += strlen(p) + 1;
    }
    res.headers = headers;
    res.nheaders = op->nheaders;
    if (hm_buf_reserve(&op->body, 1) != HM_OK) {
        res.error = HM_ENOMEM;
        res.errmsg = "out of memory";
    } else {
        op->body.data[op->body.len] = '\0';   /* reserve alone does not terminate */
    }
    res.body = op->body.data ? op->body.data : "";
    res.body_len = op->body.len;
    res.seconds = (double)(uv_hrtime() - op->start_ns) / 1e9;
    hm_metrics_outbound(op->client->worker, op->host, res.status, res.seconds);
    op->cb(op->data, &res);
}

static void on_timer(uv_timer_t *t);
static void on_sweep(uv_timer_t *t);

/* An op out of the multi handle and the active list, onto a completion
 * batch (at *tail); returns the batch's new tail. */
static hm_client_op_t **take(hm_client_t *c, hm_client_op_t *op, CURLcode result, hm_client_op_t **tail)
{
    curl_multi_remove_handle(c->multi, op->easy);
    op->in_multi = 0;
    op_unlink(op);
    op->result = result;
    *tail = op;
    return &op->next;
}

/* Run a batch's callbacks, then free its ops. Taken first, run after: a
 * callback may cancel an op of the same batch (it is then marked and
 * skipped), start requests or close the client. */
static void dispatch(hm_client_t *c, hm_client_op_t *batch)
{
    c->dispatching++;
    for (hm_client_op_t *op = batch, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (!op->cancelled && !c->closing)
            deliver(op, op->result);
        op_free(op);
    }
    c->dispatching--;
}

/* Deadlines are ours, not curl's: curl checks a transfer's timeout before it
 * reads the transfer's socket, so on a loop that was busy past a deadline it
 * failed transfers whose answers had arrived in time. The sweep runs at the
 * earliest deadline, gives the poll one turn when it is late (the answers
 * waiting are read first), then times out what is still due. */
static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;   /* not uv_now: a long callback leaves it behind */
}

static void sweep_arm(hm_client_t *c, uint64_t due)
{
    if (c->closing || (c->sweep_due && c->sweep_due <= due))
        return;
    uint64_t now = now_ms();
    c->sweep_due = due;
    c->sweep_deferred = 0;
    uv_timer_start(&c->sweep, on_sweep, due > now ? due - now : 0, 0);
}

static void on_sweep(uv_timer_t *t)
{
    hm_client_t *c = t->data;
    uint64_t now = now_ms();
    if (!c->sweep_deferred && now > c->sweep_due + 1) {
        c->sweep_deferred = 1;
        uv_timer_start(&c->sweep, on_sweep, 1, 0);
        return;
    }
    c->sweep_due = 0;
    hm_client_op_t *batch = NULL, **tail = &batch;
    uint64_t next = 0;
    for (hm_client_op_t *op = c->active, *nx; op; op = nx) {
        nx = op->next;
        if (op->deadline > now) {
            if (!next || op->deadline < next)
                next = op->deadline;
            continue;
        }
        tail = take(c, op, CURLE_OPERATION_TIMEDOUT, tail);
    }
    dispatch(c, batch);
    /* callbacks may have added ops (each arms for itself) */
    if (next)
        sweep_arm(c, next);
    client_maybe_free(c);
}

#define BATCH_MAX 64

/* Collect finished transfers (at most a batch), then run their callbacks. */
static void check_multi(hm_client_t *c)
{
    hm_client_op_t *batch = NULL, **tail = &batch;
    size_t n = 0;
    CURLMsg *msg;
    int left;
    while (n < BATCH_MAX && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        hm_client_op_t *op = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&op);
        tail = take(c, op, msg->data.result, tail);   /* invalidates msg */
        n++;
    }
    dispatch(c, batch);
    /* More than one batch worth finished: come back on the next tick. */
    if (n == BATCH_MAX && !c->closing)
        uv_timer_start(&c->timer, on_timer, 0, 0);
    client_maybe_free(c);
}

/* ---- curl <-> libuv glue ----------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);

static void on_timer(uv_timer_t *t)
{
    hm_client_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi(c);
}

static void sock_unlink(hm_client_t *c, sock_ctx_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    if ((size_t)s->fd < c->nbyfd && c->byfd[s->fd] == s)
        c->byfd[s->fd] = NULL;
}

/* Forget a ctx; its memory goes in the handle's close callback (or now, when
 * its poll was never initialised). The fd itself is not touched. */
static void sock_release(hm_client_t *c, sock_ctx_t *s)
{
    sock_unlink(c, s);
    if (s->poll_init) {
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);   /* stops the watch too */
    } else {
        free(s);
    }
}

static sock_ctx_t *sock_get(hm_client_t *c, curl_socket_t fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd < c->nbyfd && c->byfd[fd])
        return c->byfd[fd];
    if ((size_t)fd >= c->nbyfd) {
        size_t n = c->nbyfd ? c->nbyfd : 64;
        while (n <= (size_t)fd)
            n *= 2;
        sock_ctx_t **t = realloc(c->byfd, n * sizeof(*t));
        if (!t)
            return NULL;
        memset(t + c->nbyfd, 0, (n - c->nbyfd) * sizeof(*t));
        c->byfd = t;
        c->nbyfd = n;
    }
    sock_ctx_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->fd = fd;
    s->client = c;
    s->next = c->socks;
    if (c->socks)
        c->socks->prev = s;
    c->socks = s;
    c->byfd[fd] = s;
    return s;
}

static int sock_watch(hm_client_t *c, sock_ctx_t *s, int events)
{
    if (!s->poll_init) {
        if (uv_poll_init_socket(c->loop, &s->poll, s->fd) != 0)
            return -1;
        s->poll.data = c;
        s->poll_init = 1;
        c->open_handles++;
    }
    if (events == s->events)
        return 0;
    if (events == 0) {
        uv_poll_stop(&s->poll);
    } else if (uv_poll_start(&s->poll, events, on_poll) != 0) {
        s->events = 0;
        return -1;
    }
    s->events = events;
    return 0;
}

static void sock_unpark(sock_ctx_t *s)
{
    if (s->parked) {
        s->parked = 0;
        uv_ref((uv_handle_t *)&s->poll);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx_t *s = (sock_ctx_t *)p;
    hm_client_t *c = s->client;
    if (s->parked) {   /* an idle connection closed (or broken) by its server */
        sock_unpark(s);
        sock_watch(c, s, 0);
        return;
    }
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_multi(c);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    hm_client_t *c = userp;
    if (what == CURL_POLL_REMOVE) {
        sock_ctx_t *s = (size_t)fd < c->nbyfd ? c->byfd[fd] : NULL;
        if (s && s->poll_init && !s->parked) {
            if (s->conn && s->events == UV_READABLE && !c->closing) {
                s->parked = 1;
                uv_unref((uv_handle_t *)&s->poll);
            } else {
                sock_watch(c, s, 0);   /* the fd may be closed already: stopping is still safe */
            }
        }
        return 0;
    }
    sock_ctx_t *s = sock_get(c, fd);
    if (!s)
        return -1;
    sock_unpark(s);
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return sock_watch(c, s, events);
}

static curl_socket_t open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    hm_client_t *c = userp;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd >= 0) {
        sock_ctx_t *s = sock_get(c, fd);
        if (s)
            s->conn = 1;   /* without a ctx it is simply never parked */
    }
    return fd;
}

static int close_socket(void *userp, curl_socket_t fd)
{
    hm_client_t *c = userp;
    sock_ctx_t *s = (size_t)fd < c->nbyfd ? c->byfd[fd] : NULL;
    if (s)
        sock_release(c, s);   /* the watch ends before the fd number can be reused */
    return close(fd);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    hm_client_t *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- transfer callbacks ------------------------------------------------ */

static size_t write_cb(char *p, size_t size, size_t n, void *userp)
{
    hm_client_op_t *op = userp;
    size_t len = size * n;
    if (op->body.len + len > CLIENT_MAX_RESPONSE_BYTES) {
        op->too_big = 1;
        return 0;   /* aborts the transfer */
    }
    return hm_buf_append(&op->body, p, len) == HM_OK ? len : 0;
}

/* Append p[0..n), trimmed of blanks and CR/LF, lower-cased if asked, and a NUL. */
static int append_trimmed(hm_buf_t *b, const char *p, size_t n, int lower)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (hm_buf_reserve(b, n + 1) != HM_OK)
        return HM_ENOMEM;
    char *out = b->data + b->len;
    for (size_t i = 0; i < n; i++)
        out[i] = lower ? (char)tolower((unsigned char)p[i]) : p[i];
    out[n] = '\0';
    b->len += n + 1;
    return HM_OK;
}

static size_t header_cb(char *p, size_t size, size_t n, void *userp)
{
    hm_client_op_t *op = userp;
    size_t len = size * n;
    /* A status line starts a new header block (after 100 Continue). */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        hm_buf_reset(&op->hdr_text);
        op->nheaders = 0;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return len;   /* blank line or junk: ignore */
    if (op->nheaders >= CLIENT_MAX_RESPONSE_HEADERS) {
        op->too_big = 1;
        return 0;
    }
    if (append_trimmed(&op->hdr_text, p, (size_t)(colon - p), 1) != HM_OK ||
        append_trimmed(&op->hdr_text, colon + 1, len - (size_t)(colon - p) - 1, 0) != HM_OK)
        return 0;
    op->nheaders++;
    return len;
}

/* ---- public API -------------------------------------------------------- */

hm_client_t *hm_client_new(uv_loop_t *loop, int worker)
{
    hm_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    c->worker = worker;
    c->multi = curl_multi_init();
    if (!c->multi || uv_timer_init(loop, &c->timer) != 0) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c);
        return NULL;
    }
    c->timer.data = c;
    uv_timer_init(loop, &c->sweep);   /* cannot fail once the first one did not */
    c->sweep.data = c;
    c->open_handles = 2;
    static const char *const proxy_vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                              "all_proxy", "ALL_PROXY" };
    for (size_t i = 0; i < HM_ARRAY_SIZE(proxy_vars); i++)
        if (getenv(proxy_vars[i]))
            c->env_proxy = 1;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Concurrent connections per host and worker. A transfer over the cap
     * waits inside curl, on its caller's deadline: at 64, a worker with 32
     * five-supplier searches in flight (the simulators share one host) queued
     * its calls until they timed out and opened healthy suppliers' breakers. */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 512L);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 1024L);
    return c;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 1;
    return 0;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    hm_buf_t line = HM_BUF_INIT;
    /* "Name;" is curl's way of sending a header with an empty value. */
    int rc = value[0] ? hm_buf_printf(&line, "%s: %s", name, value)
                      : hm_buf_printf(&line, "%s;", name);
    if (rc != HM_OK)
        return rc;
    struct curl_slist *l = curl_slist_append(*list, line.data);
    hm_buf_free(&line);
    if (!l)
        return HM_ENOMEM;
    *list = l;
    return HM_OK;
}

/* The URL's host for the metrics label; url is valid_url(). No full parse:
 * "scheme://[userinfo@]host[:port][/?#...]", IPv6 literals in brackets. */
static void host_of(const char *url, char *out, size_t cap)
{
    const char *h = strstr(url, "://") + 3;
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    if (n && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        n = rb ? (size_t)(rb + 1 - h) : n;
    } else {
        const char *colon = memchr(h, ':', n);
        n = colon ? (size_t)(colon - h) : n;
    }
    if (n == 0 || n >= cap) {
        snprintf(out, cap, "unknown");
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[n] = '\0';
}

static int valid_url(const char *url)
{
    return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
           !has_ctl(url);
}

static int valid_method(const char *m)
{
    if (!*m || strlen(m) > 20)
        return 0;
    for (; *m; m++)
        if (!isupper((unsigned char)*m))
            return 0;
    return 1;
}

/* A new easy handle with the options every request shares. */
static CURL *easy_new(hm_client_t *c)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");   /* every encoding curl decodes */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "hotelmux/" HM_VERSION);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    /* Without proxy variables, tell curl so: it would read them per transfer. */
    if (!c->env_proxy) {
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    }
    return e;
}

static int op_setup(hm_client_op_t *op, const hm_client_req_t *req)
{
    CURL *e = op->easy;
    const char *method = req->method ? req->method : "GET";
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    int rc;

    for (size_t i = 0; i < req->nheaders; i++) {
        const hm_header_t *h = &req->headers[i];
        if (!h->name || !h->value || !h->name[0] || strchr(h->name, ':') || has_ctl(h->name) ||
            has_ctl(h->value))
            return HM_EINVAL;
        if ((rc = add_header(&op->req_headers, h->name, h->value)) != HM_OK)
            return rc;
    }
    /* "Expect:" removes curl's own header: it would otherwise wait up to a
     * second for 100 Continue before sending bigger bodies. */
    struct curl_slist *l = curl_slist_append(op->req_headers, "Expect:");
    if (!l)
        return HM_ENOMEM;
    op->req_headers = l;
    if (req->request_id && !has_ctl(req->request_id) &&
        (rc = add_header(&op->req_headers, "X-Request-Id", req->request_id)) != HM_OK)
        return rc;

    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, op);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout + CLIENT_BACKSTOP_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout < CLIENT_MAX_CONNECT_MS ? timeout : CLIENT_MAX_CONNECT_MS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, op->req_headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, op);

    /* The handle may come from the pool: every method option is set (or
     * cleared) here, HTTPGET first since it resets NOBODY and POST. */
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || req->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return HM_OK;
}

int hm_client_request(hm_client_t *c, const hm_client_req_t *req, hm_client_cb cb, void *data,
                      hm_client_op_t **op_out)
{
    if (op_out)
        *op_out = NULL;
    if (c->closing)
        return HM_ESTATE;
    if (!cb || !valid_url(req->url) || (req->method && !valid_method(req->method)) ||
        (req->body_len && !req->body))
        return HM_EINVAL;
    hm_client_op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return HM_ENOMEM;
    op->client = c;
    op->cb = cb;
    op->data = data;
    op->easy = c->npool ? c->pool[--c->npool] : easy_new(c);
    int rc = op->easy ? op_setup(op, req) : HM_ENOMEM;
    if (rc != HM_OK) {
        op_free(op);
        return rc;
    }
    host_of(req->url, op->host, sizeof(op->host));
    op->start_ns = uv_hrtime();
    if (curl_multi_add_handle(c->multi, op->easy) != CURLM_OK) {
        op_free(op);
        return HM_EIO;
    }
    op->next = c->active;
    if (c->active)
        c->active->prev = op;
    c->active = op;
    c->pending++;
    op->in_multi = 1;
    op->deadline = now_ms() + (uint64_t)(req->timeout_ms > 0 ? req->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS);
    sweep_arm(c, op->deadline);
    if (op_out)
        *op_out = op;
    return HM_OK;
}

void hm_client_cancel(hm_client_t *c, hm_client_op_t *op)
{
    if (!op)
        return;
    if (!op->in_multi) {
        op->cancelled = 1;   /* finished, waiting in the current batch */
        return;
    }
    curl_multi_remove_handle(c->multi, op->easy);
    op->in_multi = 0;
    op_unlink(op);
    op_free(op);
}

size_t hm_client_pending(const hm_client_t *c)
{
    return c->pending;
}

void hm_client_close(hm_client_t *c)
{
    if (!c || c->closing)
        return;
    while (c->active)
        hm_client_cancel(c, c->active);
    c->closing = 1;
    /* Cleanup may report cached connections' sockets as removed (socket_cb
     * closes them); any left are closed below. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_release(c, c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->sweep, on_handle_closed);
}
