/* test_client.c -- the outbound HTTP client against a tiny in-process server.
 *
 * The server is a minimal HTTP/1.1 responder on libuv running its own loop in
 * a second thread (127.0.0.1, ephemeral port). It keeps connections alive and
 * counts accepts, so reuse is observable. Paths:
 *   /echo            200, body = the raw request (head + body) as received
 *   /headers         200 with mixed-case header names
 *   /gzip            gzip-encoded body (400 if the request did not accept gzip)
 *   /delay/<ms>      200 "late" after <ms> milliseconds
 *   /status/<n>      status <n>, body "s"
 *   /big             1 MiB of a known pattern
 * The client side runs on the test's own loop in the main thread. */
#include "hm_test.h"
#include "hotelmux/buf.h"
#include "hotelmux/client.h"
#include "hotelmux/common.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <uv.h>
#include <zlib.h>

/* ---- the test server ---------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    uv_thread_t thread;
    int port;
    atomic_int accepted;
    atomic_int requests;
    atomic_int closed;     /* connections the server closed */
} server_t;

typedef struct {
    uv_tcp_t tcp;          /* first: the handle's address is the conn's */
    uv_timer_t delay;
    server_t *srv;
    hm_buf_t in;
    hm_buf_t pending_out;  /* response held back by /delay */
    int timer_open;
    int closing;
    int busy;              /* a delayed response is pending: stop parsing */
} conn_t;

static const char gzip_text[] =
    "Hotel availability, hotel availability, hotel availability: compressed by the "
    "test server with zlib so the client has something to inflate.";

static void big_fill(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 1000) % 26);
}
#define BIG_LEN (1024u * 1024u)

static void conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->timer_open > 0)
        return;
    hm_buf_free(&c->in);
    hm_buf_free(&c->pending_out);
    free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    atomic_fetch_add(&c->srv->closed, 1);
    uv_timer_stop(&c->delay);
    uv_close((uv_handle_t *)&c->delay, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

typedef struct {
    uv_write_t req;
    char *data;
} write_req_t;

static void on_written(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    free(wr->data);
    free(wr);
    HM_UNUSED(status);
}

static void conn_send(conn_t *c, const char *p, size_t n)
{
    if (c->closing)
        return;
    write_req_t *wr = malloc(sizeof(*wr));
    wr->data = malloc(n ? n : 1);
    memcpy(wr->data, p, n);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(wr->data);
        free(wr);
        conn_close(c);
    }
}

static void respond(hm_buf_t *out, int status, const char *extra_headers, const char *body,
                    size_t body_len)
{
    hm_buf_printf(out, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, body_len,
                  extra_headers ? extra_headers : "");
    hm_buf_append(out, body, body_len);
}

static int gzip_compress(const char *in, size_t n, hm_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&zs, (uLong)n);
    hm_buf_reserve(out, bound);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    out->len += zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -1;
}

static void on_bye_shutdown(uv_shutdown_t *req, int status)
{
    conn_close(req->data);
    free(req);
    HM_UNUSED(status);
}

static void on_delay(uv_timer_t *t)
{
    conn_t *c = t->data;
    c->busy = 0;
    conn_send(c, c->pending_out.data, c->pending_out.len);
    hm_buf_reset(&c->pending_out);
}

/* Answer one complete request (head of head_len bytes, then body). */
static void serve(conn_t *c, const char *req, size_t head_len, size_t body_len)
{
    atomic_fetch_add(&c->srv->requests, 1);
    char path[256] = "";
    const char *sp = memchr(req, ' ', head_len);
    if (sp) {
        const char *sp2 = memchr(sp + 1, ' ', head_len - (size_t)(sp + 1 - req));
        size_t n = sp2 ? (size_t)(sp2 - sp - 1) : 0;
        if (n < sizeof(path)) {
            memcpy(path, sp + 1, n);
            path[n] = '\0';
        }
    }
    hm_buf_t out = HM_BUF_INIT;
    if (strcmp(path, "/echo") == 0) {
        respond(&out, 200, "Content-Type: application/octet-stream\r\n", req, head_len + body_len);
    } else if (strcmp(path, "/headers") == 0) {
        respond(&out, 200, "X-Mixed-Case: SomeValue\r\nCONTENT-TYPE: Text/Plain\r\n"
                "x-Trailing-Space:   padded  \r\n", "ok", 2);
    } else if (strcmp(path, "/gzip") == 0) {
        /* The client must have asked for gzip. */
        char head[4096];
        size_t hn = head_len < sizeof(head) - 1 ? head_len : sizeof(head) - 1;
        for (size_t i = 0; i < hn; i++)
            head[i] = (char)tolower((unsigned char)req[i]);
        head[hn] = '\0';
        const char *ae = strstr(head, "\r\naccept-encoding:");
        const char *eol = ae ? strstr(ae + 2, "\r\n") : NULL;
        const char *gz = ae ? strstr(ae, "gzip") : NULL;
        if (!gz || gz > eol) {
            respond(&out, 400, NULL, "no gzip", 7);
        } else {
            hm_buf_t z = HM_BUF_INIT;
            if (gzip_compress(gzip_text, sizeof(gzip_text) - 1, &z) == 0)
                respond(&out, 200, "Content-Encoding: gzip\r\n", z.data, z.len);
            else
                respond(&out, 500, NULL, "zlib", 4);
            hm_buf_free(&z);
        }
    } else if (strncmp(path, "/delay/", 7) == 0) {
        respond(&c->pending_out, 200, NULL, "late", 4);
        c->busy = 1;
        uv_timer_start(&c->delay, on_delay, (uint64_t)atoi(path + 7), 0);
    } else if (strcmp(path, "/bye") == 0) {
        /* a keep-alive answer, then the server drops the idle connection */
        respond(&out, 200, NULL, "bye", 3);
        conn_send(c, out.data, out.len);
        hm_buf_reset(&out);
        uv_shutdown_t *sd = malloc(sizeof(*sd));
        sd->data = c;
        if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_bye_shutdown) != 0) {
            free(sd);
            conn_close(c);
        }
        c->busy = 1;   /* nothing more is read from it */
    } else if (strncmp(path, "/status/", 8) == 0) {
        respond(&out, atoi(path + 8), NULL, "s", 1);
    } else if (strcmp(path, "/big") == 0) {
        char *big = malloc(BIG_LEN);
        big_fill(big, BIG_LEN);
        respond(&out, 200, NULL, big, BIG_LEN);
        free(big);
    } else {
        respond(&out, 404, NULL, "nf", 2);
    }
    if (out.len)
        conn_send(c, out.data, out.len);
    hm_buf_free(&out);
}

static size_t content_length(const char *head, size_t n)
{
    for (size_t i = 0; i + 16 < n; i++) {
        if ((i == 0 || head[i - 1] == '\n') && strncasecmp(head + i, "content-length:", 15) == 0)
            return (size_t)strtoul(head + i + 15, NULL, 10);
    }
    return 0;
}

static void parse_requests(conn_t *c)
{
    while (!c->busy && !c->closing) {
        char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (!end)
            return;
        size_t head_len = (size_t)(end - c->in.data) + 4;
        size_t body_len = content_length(c->in.data, head_len);
        if (c->in.len < head_len + body_len)
            return;
        serve(c, c->in.data, head_len, body_len);
        hm_buf_consume(&c->in, head_len + body_len);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    HM_UNUSED(h);
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        conn_close(c);
    } else if (nread > 0) {
        hm_buf_append(&c->in, buf->base, (size_t)nread);
        parse_requests(c);
    }
    free(buf->base);
}

static void on_connection(uv_stream_t *l, int status)
{
    server_t *srv = l->data;
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(&srv->loop, &c->tcp);
    uv_timer_init(&srv->loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    c->timer_open = 2;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    atomic_fetch_add(&srv->accepted, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    if (h->data == arg)
        uv_close(h, NULL);     /* the listener and the stop async */
    else
        conn_close(h->data);   /* a connection's socket or timer: closes both */
}

static void on_stop(uv_async_t *a)
{
    server_t *srv = a->data;
    uv_walk(&srv->loop, close_walk, srv);
}

static void server_thread(void *arg)
{
    server_t *srv = arg;
    uv_run(&srv->loop, UV_RUN_DEFAULT);
}

static server_t *server_start(void)
{
    server_t *srv = calloc(1, sizeof(*srv));
    HM_CHECK(uv_loop_init(&srv->loop) == 0);
    uv_tcp_init(&srv->loop, &srv->listener);
    srv->listener.data = srv;
    uv_async_init(&srv->loop, &srv->stop, on_stop);
    srv->stop.data = srv;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    HM_CHECK(uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0) == 0);
    HM_CHECK(uv_listen((uv_stream_t *)&srv->listener, 128, on_connection) == 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
    srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    HM_CHECK(uv_thread_create(&srv->thread, server_thread, srv) == 0);
    return srv;
}

static void server_stop(server_t *srv)
{
    uv_async_send(&srv->stop);
    uv_thread_join(&srv->thread);
    HM_CHECK_INT(uv_loop_close(&srv->loop), 0);
    free(srv);
}

/* ---- client side helpers ----------------------------------------------- */

typedef struct {
    int calls;
    int error;
    long status;
    hm_buf_t body;
    hm_buf_t headers;  /* "name: value\n" lines as received */
    int upper_in_name;
    double seconds;
} result_t;

static void result_free(result_t *r)
{
    hm_buf_free(&r->body);
    hm_buf_free(&r->headers);
}

static void on_done(void *data, const hm_client_res_t *res)
{
    result_t *r = data;
    r->calls++;
    r->error = res->error;
    r->status = res->status;
    r->seconds = res->seconds;
    hm_buf_reset(&r->body);
    hm_buf_append(&r->body, res->body, res->body_len);
    HM_CHECK(res->body != NULL && res->body[res->body_len] == '\0');
    if (res->error)
        HM_CHECK(res->errmsg != NULL && res->errmsg[0] != '\0');
    hm_buf_reset(&r->headers);
    for (size_t i = 0; i < res->nheaders; i++) {
        hm_buf_printf(&r->headers, "%s: %s\n", res->headers[i].name, res->headers[i].value);
        for (const char *p = res->headers[i].name; *p; p++)
            if (isupper((unsigned char)*p))
                r->upper_in_name = 1;
    }
}

typedef struct {
    uv_loop_t loop;
    hm_client_t *client;
    server_t *srv;
    uv_timer_t tick;   /* keeps UV_RUN_ONCE from blocking forever */
    char base[64];
} env_t;

static void on_tick(uv_timer_t *t) { HM_UNUSED(t); }

static void env_open(env_t *e)
{
    memset(e, 0, sizeof(*e));
    HM_CHECK_INT(hm_client_global_init(), HM_OK);
    HM_CHECK(uv_loop_init(&e->loop) == 0);
    e->client = hm_client_new(&e->loop, 0);
    HM_CHECK(e->client != NULL);
    e->srv = server_start();
    snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", e->srv->port);
    uv_timer_init(&e->loop, &e->tick);
    uv_timer_start(&e->tick, on_tick, 10, 10);
}

/* Run the loop until *counter reaches want or timeout_ms passes. */
static bool run_until(env_t *e, const int *counter, int want, unsigned timeout_ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    while (*counter < want && uv_hrtime() < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
    return *counter >= want;
}

static void run_for(env_t *e, unsigned ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
}

static void env_close(env_t *e)
{
    hm_client_close(e->client);
    uv_close((uv_handle_t *)&e->tick, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);   /* until the client's handles are closed */
    HM_CHECK_INT(uv_loop_close(&e->loop), 0);
    server_stop(e->srv);
    hm_client_global_cleanup();
}

static int request(env_t *e, const char *method, const char *path, const hm_header_t *h,
                   size_t nh, const char *body, size_t body_len, long timeout_ms, result_t *r,
                   hm_client_op_t **op)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", e->base, path);
    hm_client_req_t req = { .method = method, .url = url, .headers = h, .nheaders = nh,
                            .body = body, .body_len = body_len, .timeout_ms = timeout_ms };
    return hm_client_request(e->client, &req, on_done, r, op);
}

/* GET path, wait for it (the nth answer recorded in r), expect a 200. */
static void get_ok(env_t *e, const char *path, result_t *r, int nth)
{
    HM_CHECK_INT(request(e, NULL, path, NULL, 0, NULL, 0, 0, r, NULL), HM_OK);
    HM_CHECK(run_until(e, &r->calls, nth, 1500));
    HM_CHECK_INT(r->status, 200);
    HM_CHECK_INT(r->error, 0);
}

static bool has_header(const result_t *r, const char *line)
{
    return r->headers.data && strstr(r->headers.data, line) != NULL;
}

static bool body_has(const result_t *r, const char *s)
{
    return r->body.data && strstr(r->body.data, s) != NULL;
}

/* ---- cases -------------------------------------------------------------- */

HM_TEST(get_roundtrip)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    hm_header_t h[] = { { "X-Custom", "hello world" }, { "X-Empty", "" } };
    char url[256];
    snprintf(url, sizeof(url), "%s/echo", e.base);
    hm_client_req_t req = { .url = url, .headers = h, .nheaders = 2, .request_id = "rid-123" };
    HM_CHECK_INT(hm_client_request(e.client, &req, on_done, &r, NULL), HM_OK);
    HM_CHECK_INT(r.calls, 0);
    HM_CHECK_INT(hm_client_pending(e.client), 1);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.calls, 1);
    HM_CHECK_INT(r.error, 0);
    HM_CHECK_INT(r.status, 200);
    HM_CHECK(strncmp(r.body.data ? r.body.data : "", "GET /echo HTTP/1.1\r\n", 20) == 0);
    HM_CHECK(body_has(&r, "\r\nX-Custom: hello world\r\n"));
    HM_CHECK(body_has(&r, "\r\nX-Empty:"));
    HM_CHECK(body_has(&r, "\r\nX-Request-Id: rid-123\r\n"));
    HM_CHECK(body_has(&r, "\r\nUser-Agent: hotelmux/"));
    HM_CHECK(!body_has(&r, "Expect:"));
    HM_CHECK(!body_has(&r, "Content-Length"));
    HM_CHECK(has_header(&r, "content-type: application/octet-stream\n"));
    HM_CHECK(r.seconds >= 0 && r.seconds < 5);
    HM_CHECK_INT(hm_client_pending(e.client), 0);
    result_free(&r);
    env_close(&e);
}

HM_TEST(post_and_custom_methods_send_body)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    static const char body[] = "{\"a\":1}\0binary\r\n\r\ntail";
    size_t blen = sizeof(body) - 1;
    hm_header_t h[] = { { "Content-Type", "application/json" }, { "Authorization", "Bearer t" } };
    HM_CHECK_INT(request(&e, "POST", "/echo", h, 2, body, blen, 0, &r, NULL), HM_OK);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.error, 0);
    HM_CHECK_INT(r.status, 200);
    HM_CHECK(strncmp(r.body.data ? r.body.data : "", "POST /echo HTTP/1.1\r\n", 21) == 0);
    HM_CHECK(body_has(&r, "\r\nContent-Type: application/json\r\n"));
    HM_CHECK(body_has(&r, "\r\nAuthorization: Bearer t\r\n"));
    char cl[64];
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", blen);
    HM_CHECK(body_has(&r, cl));
    /* the body arrived whole, embedded NUL included, right after the head */
    HM_CHECK(r.body.len > blen && memcmp(r.body.data + r.body.len - blen, body, blen) == 0);
    HM_CHECK(r.body.len > blen + 4 &&
             memcmp(r.body.data + r.body.len - blen - 4, "\r\n\r\n", 4) == 0);

    /* PUT with a body, DELETE without one, POST with an empty body */
    result_t p = { 0 }, d = { 0 }, z = { 0 };
    HM_CHECK_INT(request(&e, "PUT", "/echo", NULL, 0, "xyz", 3, 0, &p, NULL), HM_OK);
    HM_CHECK_INT(request(&e, "DELETE", "/echo", NULL, 0, NULL, 0, 0, &d, NULL), HM_OK);
    HM_CHECK_INT(request(&e, "POST", "/echo", NULL, 0, NULL, 0, 0, &z, NULL), HM_OK);
    int done = 0;
    uint64_t deadline = uv_hrtime() + 1500000000u;
    while ((done = p.calls + d.calls + z.calls) < 3 && uv_hrtime() < deadline)
        uv_run(&e.loop, UV_RUN_ONCE);
    HM_CHECK_INT(done, 3);
    HM_CHECK(strncmp(p.body.data ? p.body.data : "", "PUT /echo ", 10) == 0);
    HM_CHECK(p.body.len >= 3 && memcmp(p.body.data + p.body.len - 3, "xyz", 3) == 0);
    HM_CHECK(strncmp(d.body.data ? d.body.data : "", "DELETE /echo ", 13) == 0);
    HM_CHECK(d.body.len >= 4 && memcmp(d.body.data + d.body.len - 4, "\r\n\r\n", 4) == 0);
    HM_CHECK(strncmp(z.body.data ? z.body.data : "", "POST /echo ", 11) == 0);
    HM_CHECK(body_has(&z, "\r\nContent-Length: 0\r\n"));
    result_free(&r);
    result_free(&p);
    result_free(&d);
    result_free(&z);
    env_close(&e);
}

HM_TEST(response_headers_lower_cased)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    HM_CHECK_INT(request(&e, NULL, "/headers", NULL, 0, NULL, 0, 0, &r, NULL), HM_OK);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.status, 200);
    HM_CHECK(has_header(&r, "x-mixed-case: SomeValue\n"));   /* value keeps its case */
    HM_CHECK(has_header(&r, "content-type: Text/Plain\n"));
    HM_CHECK(has_header(&r, "x-trailing-space: padded\n"));   /* trimmed both sides */
    HM_CHECK(has_header(&r, "content-length: 2\n"));
    HM_CHECK_INT(r.upper_in_name, 0);
    HM_CHECK_STR(r.body.data, "ok");
    result_free(&r);
    env_close(&e);
}

HM_TEST(gzip_response_decoded)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    HM_CHECK_INT(request(&e, NULL, "/gzip", NULL, 0, NULL, 0, 0, &r, NULL), HM_OK);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.error, 0);
    HM_CHECK_INT(r.status, 200);   /* 400 would mean no Accept-Encoding: gzip */
    HM_CHECK_INT(r.body.len, sizeof(gzip_text) - 1);
    HM_CHECK_STR(r.body.data, gzip_text);
    HM_CHECK(has_header(&r, "content-encoding: gzip\n"));
    result_free(&r);
    env_close(&e);
}

HM_TEST(status_and_big_body)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 }, b = { 0 };
    HM_CHECK_INT(request(&e, NULL, "/status/503", NULL, 0, NULL, 0, 0, &r, NULL), HM_OK);
    HM_CHECK_INT(request(&e, NULL, "/big", NULL, 0, NULL, 0, 0, &b, NULL), HM_OK);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK(run_until(&e, &b.calls, 1, 1500));
    HM_CHECK_INT(r.error, 0);   /* an HTTP error status is not a transport error */
    HM_CHECK_INT(r.status, 503);
    HM_CHECK_STR(r.body.data, "s");
    HM_CHECK_INT(b.error, 0);
    HM_CHECK_INT(b.status, 200);
    HM_CHECK_INT(b.body.len, BIG_LEN);
    char *want = malloc(BIG_LEN);
    big_fill(want, BIG_LEN);
    HM_CHECK(b.body.len == BIG_LEN && memcmp(b.body.data, want, BIG_LEN) == 0);
    free(want);
    result_free(&r);
    result_free(&b);
    env_close(&e);
}

HM_TEST(timeout)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    uint64_t t0 = uv_hrtime();
    HM_CHECK_INT(request(&e, NULL, "/delay/1500", NULL, 0, NULL, 0, 150, &r, NULL), HM_OK);
    HM_CHECK(run_until(&e, &r.calls, 1, 1200));
    double took = (double)(uv_hrtime() - t0) / 1e9;
    HM_CHECK_INT(r.calls, 1);
    HM_CHECK_INT(r.error, HM_ETIMEDOUT);
    HM_CHECK_INT(r.status, 0);
    HM_CHECK(took >= 0.14 && took < 1.0);
    HM_CHECK(r.seconds >= 0.14 && r.seconds < 1.0);
    HM_CHECK_INT(hm_client_pending(e.client), 0);
    result_free(&r);
    env_close(&e);
}

HM_TEST(connection_refused)
{
    /* A port nobody listens on: bind one, note it, close it. */
    uv_loop_t tmp;
    uv_loop_init(&tmp);
    uv_tcp_t t;
    uv_tcp_init(&tmp, &t);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    HM_CHECK(uv_tcp_bind(&t, (const struct sockaddr *)&addr, 0) == 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&tmp, UV_RUN_DEFAULT);
    uv_loop_close(&tmp);

    env_t e;
    env_open(&e);
    result_t r = { 0 };
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    hm_client_req_t req = { .url = url };
    HM_CHECK_INT(hm_client_request(e.client, &req, on_done, &r, NULL), HM_OK);
    HM_CHECK_INT(r.calls, 0);   /* even a fast failure is delivered from the loop */
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.calls, 1);
    HM_CHECK_INT(r.error, HM_EIO);
    HM_CHECK_INT(r.status, 0);
    result_free(&r);
    env_close(&e);
}

/* A callback that starts another request from inside a callback. */
typedef struct {
    env_t *e;
    int left;
    int calls;
    int ok;
} chain_t;

static void on_chain(void *data, const hm_client_res_t *res)
{
    chain_t *ch = data;
    ch->calls++;
    if (res->error == 0 && res->status == 200 && res->body_len > 0)
        ch->ok++;
    if (--ch->left > 0) {
        char url[128];
        snprintf(url, sizeof(url), "%s/echo", ch->e->base);
        hm_client_req_t req = { .url = url };
        int calls_before = ch->calls;
        HM_CHECK_INT(hm_client_request(ch->e->client, &req, on_chain, ch, NULL), HM_OK);
        HM_CHECK_INT(ch->calls, calls_before);   /* not re-entered synchronously */
    }
}

HM_TEST(keepalive_reuse)
{
    env_t e;
    env_open(&e);
    /* 5 sequential requests, each started after the previous one finished */
    result_t r = { 0 };
    for (int i = 0; i < 5; i++)
        get_ok(&e, "/echo", &r, i + 1);
    HM_CHECK_INT(r.calls, 5);
    HM_CHECK_INT(atomic_load(&e.srv->requests), 5);
    HM_CHECK_INT(atomic_load(&e.srv->accepted), 1);
    /* and 5 more chained from inside callbacks: still the same connection */
    chain_t ch = { .e = &e, .left = 5 };
    char url[128];
    snprintf(url, sizeof(url), "%s/echo", e.base);
    hm_client_req_t req = { .url = url };
    HM_CHECK_INT(hm_client_request(e.client, &req, on_chain, &ch, NULL), HM_OK);
    HM_CHECK(run_until(&e, &ch.calls, 5, 1500));
    HM_CHECK_INT(ch.ok, 5);
    HM_CHECK_INT(atomic_load(&e.srv->requests), 10);
    HM_CHECK_INT(atomic_load(&e.srv->accepted), 1);
    result_free(&r);
    env_close(&e);
}

/* The server closes keep-alive connections the client holds idle in its pool,
 * sometimes before the client's loop has seen it: every next request still
 * succeeds, on a new connection (whose fd number is often the old one's).
 * (A request sent before the server's close arrives may fail: HTTP's own race.) */
HM_TEST(server_closes_idle_connection)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    for (int i = 0; i < 10; i++) {
        get_ok(&e, "/bye", &r, 2 * i + 1);
        for (int ms = 0; atomic_load(&e.srv->closed) < i + 1 && ms < 1500; ms++)
            run_for(&e, 1);
        HM_CHECK_INT(atomic_load(&e.srv->closed), i + 1);
        if (i % 2)
            run_for(&e, 5);   /* and the client's loop sees it too */
        get_ok(&e, "/echo", &r, 2 * i + 2);
    }
    HM_CHECK_INT(atomic_load(&e.srv->requests), 20);
    HM_CHECK_INT(atomic_load(&e.srv->accepted), 11);   /* each /echo after a /bye reconnects */
    result_free(&r);
    env_close(&e);
}

HM_TEST(invalid_requests)
{
    env_t e;
    env_open(&e);
    result_t r = { 0 };
    char good[128];
    snprintf(good, sizeof(good), "%s/echo", e.base);
    hm_client_op_t *op = (hm_client_op_t *)&r;   /* must be reset to NULL */
    struct { const char *url, *method; hm_header_t h; const char *body; size_t blen; } bad[] = {
        { NULL, NULL, { NULL, NULL }, NULL, 0 },
        { "ftp://127.0.0.1/x", NULL, { NULL, NULL }, NULL, 0 },
        { "file:///etc/passwd", NULL, { NULL, NULL }, NULL, 0 },
        { "127.0.0.1/x", NULL, { NULL, NULL }, NULL, 0 },
        { "http://127.0.0.1/x\r\nX-Evil: 1", NULL, { NULL, NULL }, NULL, 0 },
        { "http://127.0.0.1/x\n", NULL, { NULL, NULL }, NULL, 0 },
        { good, "get", { NULL, NULL }, NULL, 0 },
        { good, "GE T", { NULL, NULL }, NULL, 0 },
        { good, "", { NULL, NULL }, NULL, 0 },
        { good, "GET\r\n", { NULL, NULL }, NULL, 0 },
        { good, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", { NULL, NULL }, NULL, 0 },
        { good, NULL, { "X-A\r\nX-B", "v" }, NULL, 0 },
        { good, NULL, { "X-A", "v\r\nX-Injected: 1" }, NULL, 0 },
        { good, NULL, { "X-A", "v\nX-Injected: 1" }, NULL, 0 },
        { good, NULL, { "X-A", "v\r" }, NULL, 0 },
        { good, NULL, { "X-A:", "v" }, NULL, 0 },
        { good, NULL, { "", "v" }, NULL, 0 },
        { good, NULL, { NULL, "v" }, NULL, 0 },
        { good, NULL, { "X-A", NULL }, NULL, 0 },
        { good, "POST", { NULL, NULL }, NULL, 5 },   /* body_len without body */
    };
    for (size_t i = 0; i < HM_ARRAY_SIZE(bad); i++) {
        hm_client_req_t req = { .url = bad[i].url, .method = bad[i].method, .body = bad[i].body,
                                .body_len = bad[i].blen };
        if (bad[i].h.name || bad[i].h.value) {
            req.headers = &bad[i].h;
            req.nheaders = 1;
        }
        op = (hm_client_op_t *)&r;
        int rc = hm_client_request(e.client, &req, on_done, &r, &op);
        if (rc != HM_EINVAL)
            fprintf(stderr, "invalid request #%zu accepted (rc %d)\n", i, rc);
        HM_CHECK_INT(rc, HM_EINVAL);
        HM_CHECK(op == NULL);
        HM_CHECK_INT(hm_client_pending(e.client), 0);
    }
    /* no callback: EINVAL too */
    hm_client_req_t ok = { .url = good };
    HM_CHECK_INT(hm_client_request(e.client, &ok, NULL, NULL, NULL), HM_EINVAL);
    run_for(&e, 30);
    HM_CHECK_INT(r.calls, 0);
    /* the client still works after all that */
    HM_CHECK_INT(hm_client_request(e.client, &ok, on_done, &r, &op), HM_OK);
    HM_CHECK(op != NULL);
    HM_CHECK(run_until(&e, &r.calls, 1, 1500));
    HM_CHECK_INT(r.status, 200);
    HM_CHECK_INT(atomic_load(&e.srv->requests), 1);
    result_free(&r);
    env_close(&e);
}

HM_TEST(cancel_prevents_callback)
{
    env_t e;
    env_open(&e);
    result_t a = { 0 }, b = { 0 }, c = { 0 };
    hm_client_op_t *opa = NULL, *opb = NULL;
    /* cancelled right away, before the loop ran */
    HM_CHECK_INT(request(&e, NULL, "/echo", NULL, 0, NULL, 0, 0, &a, &opa), HM_OK);
    HM_CHECK(opa != NULL);
    hm_client_cancel(e.client, opa);
    HM_CHECK_INT(hm_client_pending(e.client), 0);
    /* cancelled while the server is sitting on it */
    HM_CHECK_INT(request(&e, NULL, "/delay/200", NULL, 0, NULL, 0, 0, &b, &opb), HM_OK);
    HM_CHECK_INT(request(&e, NULL, "/echo", NULL, 0, NULL, 0, 0, &c, NULL), HM_OK);
    HM_CHECK_INT(hm_client_pending(e.client), 2);
    run_for(&e, 60);
    HM_CHECK_INT(b.calls, 0);
    hm_client_cancel(e.client, opb);
    hm_client_cancel(e.client, NULL);   /* harmless */
    HM_CHECK_INT(hm_client_pending(e.client), c.calls ? 0 : 1);
    HM_CHECK(run_until(&e, &c.calls, 1, 1500));
    run_for(&e, 300);   /* past the delayed answer */
    HM_CHECK_INT(a.calls, 0);
    HM_CHECK_INT(b.calls, 0);
    HM_CHECK_INT(c.calls, 1);
    HM_CHECK_INT(c.status, 200);
    HM_CHECK_INT(hm_client_pending(e.client), 0);
    result_free(&a);
    result_free(&b);
    result_free(&c);
    env_close(&e);
}

/* Two ops; whichever completes first cancels the other (in the same batch it
 * is skipped, otherwise it is removed from the transfer). */
typedef struct {
    env_t *e;
    hm_client_op_t *ops[2];
    int calls[2];
    int cancelled;
} pair_t;

static void on_pair(pair_t *p, int me)
{
    p->calls[me]++;
    if (!p->cancelled) {
        p->cancelled = 1;
        hm_client_cancel(p->e->client, p->ops[1 - me]);
    }
}
static void on_pair0(void *d, const hm_client_res_t *res) { HM_UNUSED(res); on_pair(d, 0); }
static void on_pair1(void *d, const hm_client_res_t *res) { HM_UNUSED(res); on_pair(d, 1); }

HM_TEST(cancel_from_callback)
{
    env_t e;
    env_open(&e);
    for (int round = 0; round < 5; round++) {
        pair_t p = { .e = &e };
        char url[128];
        snprintf(url, sizeof(url), "%s/echo", e.base);
        hm_client_req_t req = { .url = url };
        HM_CHECK_INT(hm_client_request(e.client, &req, on_pair0, &p, &p.ops[0]), HM_OK);
        HM_CHECK_INT(hm_client_request(e.client, &req, on_pair1, &p, &p.ops[1]), HM_OK);
        int total = 0;
        uint64_t deadline = uv_hrtime() + 1000000000u;
        while (hm_client_pending(e.client) > 0 && uv_hrtime() < deadline)
            uv_run(&e.loop, UV_RUN_ONCE);
        run_for(&e, 20);
        total = p.calls[0] + p.calls[1];
        HM_CHECK_INT(total, 1);
        HM_CHECK_INT(hm_client_pending(e.client), 0);
    }
    env_close(&e);
}

HM_TEST(close_with_requests_in_flight)
{
    env_t e;
    env_open(&e);
    result_t r[6];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 5; i++)
        HM_CHECK_INT(request(&e, "POST", "/delay/1000", NULL, 0, "x", 1, 0, &r[i], NULL), HM_OK);
    HM_CHECK_INT(request(&e, NULL, "/echo", NULL, 0, NULL, 0, 0, &r[5], NULL), HM_OK);
    HM_CHECK_INT(hm_client_pending(e.client), 6);
    HM_CHECK(run_until(&e, &r[5].calls, 1, 1500));
    run_for(&e, 30);   /* the delayed ones are connected and waiting */
    hm_client_t *c = e.client;
    hm_client_close(c);
    hm_client_close(c);   /* idempotent while closing */
    e.client = NULL;
    uv_close((uv_handle_t *)&e.tick, NULL);
    uv_run(&e.loop, UV_RUN_DEFAULT);   /* returns once every handle is closed */
    HM_CHECK_INT(uv_loop_close(&e.loop), 0);
    for (int i = 0; i < 5; i++)
        HM_CHECK_INT(r[i].calls, 0);
    HM_CHECK_INT(r[5].calls, 1);
    for (int i = 0; i < 6; i++)
        result_free(&r[i]);
    server_stop(e.srv);
    hm_client_global_cleanup();
}

HM_TEST(concurrent_requests)
{
    env_t e;
    env_open(&e);
    enum { N = 20 };
    result_t r[N];
    memset(r, 0, sizeof(r));
    char paths[N][32];
    for (int i = 0; i < N; i++) {
        /* every other one waits a bit so they overlap */
        if (i % 2)
            snprintf(paths[i], sizeof(paths[i]), "/delay/%d", 20 + i * 5);
        else
            snprintf(paths[i], sizeof(paths[i]), "/echo");
        char body[32];
        int n = snprintf(body, sizeof(body), "req-%d", i);
        HM_CHECK_INT(request(&e, "POST", paths[i], NULL, 0, body, (size_t)n, 0, &r[i], NULL),
                     HM_OK);
    }
    HM_CHECK_INT(hm_client_pending(e.client), N);
    uint64_t deadline = uv_hrtime() + 1500000000u;
    while (hm_client_pending(e.client) > 0 && uv_hrtime() < deadline)
        uv_run(&e.loop, UV_RUN_ONCE);
    HM_CHECK_INT(hm_client_pending(e.client), 0);
    for (int i = 0; i < N; i++) {
        HM_CHECK_INT(r[i].calls, 1);
        HM_CHECK_INT(r[i].error, 0);
        HM_CHECK_INT(r[i].status, 200);
        if (i % 2) {
            HM_CHECK_STR(r[i].body.data, "late");
        } else {
            char want[32];
            int n = snprintf(want, sizeof(want), "req-%d", i);
            HM_CHECK(r[i].body.len > (size_t)n &&
                     memcmp(r[i].body.data + r[i].body.len - n, want, (size_t)n) == 0);
        }
        result_free(&r[i]);
    }
    HM_CHECK_INT(atomic_load(&e.srv->requests), N);
    env_close(&e);
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(get_roundtrip),
    HM_TEST_ENTRY(post_and_custom_methods_send_body),
    HM_TEST_ENTRY(response_headers_lower_cased),
    HM_TEST_ENTRY(gzip_response_decoded),
    HM_TEST_ENTRY(status_and_big_body),
    HM_TEST_ENTRY(timeout),
    HM_TEST_ENTRY(connection_refused),
    HM_TEST_ENTRY(keepalive_reuse),
    HM_TEST_ENTRY(server_closes_idle_connection),
    HM_TEST_ENTRY(invalid_requests),
    HM_TEST_ENTRY(cancel_prevents_callback),
    HM_TEST_ENTRY(cancel_from_callback),
    HM_TEST_ENTRY(close_with_requests_in_flight),
    HM_TEST_ENTRY(concurrent_requests)
)
