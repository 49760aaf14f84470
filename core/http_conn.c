/* http_conn.c -- HTTP/1.1 connections: llhttp parsing, limits, timeouts,
 * keep-alive, pipelining and response writing.
 *
 * Life of a connection:
 *   IDLE --first byte--> HEAD --headers done--> BODY --message done-->
 *   HANDLING (reading stopped, parser paused) --response--> IDLE | LINGER
 * Errors answer with a status and go to LINGER: our side is shut down and the
 * client's remaining input is read and dropped for a short while, so the
 * client sees the answer instead of a reset (what nginx calls lingering close). */
#include "hotelmux/http_conn.h"
#include "hotelmux/common.h"
#include "hotelmux/gzip.h"
#include "hotelmux/log.h"
#include "hotelmux/server.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINGER_MS 2000
#define WRITE_TIMEOUT_MS 30000
#define READ_CHUNK 65536
#define SHRINK_ABOVE 65536
#define PIPELINE_BACKLOG (1024 * 1024)   /* unparsed input kept while answering */

enum { ST_IDLE, ST_HEAD, ST_BODY, ST_HANDLING, ST_LINGER };

typedef struct {
    uv_write_t req;
    hm_conn_t *conn;
    size_t len;
    char data[];
} write_req_t;

struct hm_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    hm_worker_t *w;
    struct hm_conn_s *prev, *next;
    llhttp_t parser;
    int state;
    int open_handles;        /* tcp + timer; freed when both are closed */
    int closing;
    int in_process;          /* inside process_input(): don't recurse */
    int complete;            /* a message finished parsing */
    int keep_alive;
    int draining;
    int reading;
    int writes;              /* uv_write requests in flight */
    int close_after_write;
    int err_status;          /* set by a parser callback that refused the request */
    const char *err_msg;
    int field_open;          /* a header name is being received */
    int host_headers;
    uint64_t ticket;
    uint64_t in_base;        /* stream offset of in.data[0] (request-line checks) */
    uint64_t method_end;     /* stream offset just past the method */
    size_t ext_bytes;        /* chunk-extension bytes in this request */
    int value_open;          /* a header value is being received */
    uint64_t value_end;      /* stream offset just past its last piece */
    hm_task_t *task;
    const hm_conn_io_t *io;  /* detached (hm_conn_new_detached): no socket, no worker */

    hm_buf_t in;             /* received, not yet parsed */
    hm_buf_t url;
    hm_buf_t hbuf;           /* "name\0value\0" pairs */
    size_t *hoff;            /* per header: offset of the name and of the value */
    size_t hoff_cap;
    size_t nheaders;
    size_t head_bytes;
    hm_buf_t body;
    hm_header_t *hdrs;
    size_t hdrs_cap;
    hm_buf_t out;            /* response head under construction */
    hm_request_t req;
};

static llhttp_settings_t parser_settings;
static uv_once_t settings_once = UV_ONCE_INIT;

static void process_input(hm_conn_t *c);
static void linger(hm_conn_t *c);
static void read_start(hm_conn_t *c);
static void read_stop(hm_conn_t *c);

/* Decimal digits of v into out (no NUL); returns the length. */
static size_t fmt_uint(char *out, unsigned long long v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    return n;
}

/* ---- status texts ---------------------------------------------------- */

const char *hm_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ---- closing ----------------------------------------------------------- */

static void conn_free(hm_conn_t *c)
{
    hm_buf_free(&c->in);
    hm_buf_free(&c->url);
    hm_buf_free(&c->hbuf);
    hm_buf_free(&c->body);
    hm_buf_free(&c->out);
    free(c->hoff);
    free(c->hdrs);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    hm_conn_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    hm_worker_t *w = c->w;
    conn_free(c);
    hm_worker_conn_closed(w);
}

void hm_conn_close(hm_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->task) {
        /* The handler keeps running; its answer will have nowhere to go. */
        c->task->data = NULL;
        c->task = NULL;
    }
    if (c->io)
        return; /* detached: hm_conn_free_detached frees it */
    hm_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    hm_server_conn_delta(w->server, -1);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    hm_conn_t *c = t->data;
    if (c->state == ST_HEAD || c->state == ST_BODY) {
        c->keep_alive = 0;
        hm_conn_respond_error(c, 408, "request timeout");
        return;
    }
    /* idle keep-alive, a stalled write, or the end of lingering */
    hm_conn_close(c);
}

static void timer_set(hm_conn_t *c, unsigned ms)
{
    if (c->io)
        return; /* detached: no clock */
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hm_conn_t *c = h->data;
    HM_UNUSED(suggested);
    if (hm_buf_reserve(&c->in, READ_CHUNK) != HM_OK) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    hm_conn_t *c = s->data;
    HM_UNUSED(buf);
    if (n == 0)
        return;
    if (n < 0) {
        /* A client may half-close after its request and still wait for the
         * answer: finish it, then close. Otherwise EOF or an error closes;
         * ENOBUFS means our buffer failed. */
        if (n == UV_EOF && (c->state == ST_HANDLING || c->writes > 0)) {
            c->keep_alive = 0;
            read_stop(c);
            return;
        }
        hm_conn_close(c);
        return;
    }
    if (c->state == ST_LINGER)
        return; /* discard: the bytes are in c->in but never parsed */
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    process_input(c);
}

static void read_start(hm_conn_t *c)
{
    if (c->reading || c->closing)
        return;
    if (c->io)
        c->reading = 1;
    else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
    else
        hm_conn_close(c);
}

static void read_stop(hm_conn_t *c)
{
    if (!c->reading)
        return;
    if (c->io == NULL)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

/* ---- llhttp callbacks -------------------------------------------------- */

static hm_conn_t *conn_of(llhttp_t *p) { return p->data; }

static int refuse(hm_conn_t *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return -1;
}

static int cb_message_begin(llhttp_t *p)
{
    hm_conn_t *c = conn_of(p);
    c->state = ST_HEAD;
    c->req.start_ns = uv_hrtime();
    c->req.id[0] = '\0';
    c->req.method = c->req.path = NULL;   /* set when the request is complete */
    c->req.method_len = c->req.path_len = 0;
    c->req.head = 0;
    hm_buf_reset(&c->url);
    hm_buf_reset(&c->hbuf);
    hm_buf_reset(&c->body);
    c->nheaders = 0;
    c->head_bytes = 0;
    c->field_open = 0;
    c->value_open = 0;
    c->host_headers = 0;
    c->ext_bytes = 0;
    timer_set(c, c->w->cfg->limits.header_timeout_ms);
    return 0;
}

#define STREAM_POS(c, at) ((c)->in_base + (uint64_t)((at) - (c)->in.data))

static int cb_method(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    c->method_end = STREAM_POS(c, at + len);
    return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    /* llhttp skips any run of spaces before the target; RFC 9112 3 allows one. */
    if (c->url.len == 0 && STREAM_POS(c, at) != c->method_end + 1)
        return refuse(c, 400, "malformed request line");
    if (c->url.len + len > c->w->cfg->limits.max_url_bytes)
        return refuse(c, 414, "request URI too long");
    c->head_bytes += len;
    return hm_buf_append(&c->url, at, len) == HM_OK ? 0 : refuse(c, 500, "out of memory");
}

static int add_head_bytes(hm_conn_t *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->w->cfg->limits.max_header_bytes)
        return refuse(c, 431, "request header fields too large");
    return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    /* ": " and CRLF count once per header, not once per piece: a name split
     * across reads must cost what it costs in one read. */
    if (add_head_bytes(c, len + (c->field_open ? 0 : 4)))
        return -1;
    if (c->state == ST_BODY) {   /* a chunked trailer: counted, never a header */
        c->field_open = 1;
        return 0;
    }
    if (len == 0)
        return 0;   /* llhttp reports an empty name as a zero-length piece */
    if (!c->field_open) {
        /* A new header starts: a name may arrive in several pieces. */
        if (c->nheaders == c->hoff_cap) {
            size_t cap = c->hoff_cap ? c->hoff_cap * 2 : 32;
            size_t *n = realloc(c->hoff, cap * 2 * sizeof(size_t));
            if (n == NULL)
                return refuse(c, 500, "out of memory");
            c->hoff = n;
            c->hoff_cap = cap;
        }
        c->hoff[c->nheaders * 2] = c->hbuf.len;
        c->field_open = 1;
    }
    if (hm_buf_reserve(&c->hbuf, len) != HM_OK)
        return refuse(c, 500, "out of memory");
    for (size_t i = 0; i < len; i++)
        c->hbuf.data[c->hbuf.len++] = (char)tolower((unsigned char)at[i]);
    c->hbuf.data[c->hbuf.len] = '\0';
    return 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    hm_conn_t *c = conn_of(p);
    if (c->state == ST_BODY) {
        c->field_open = 0;
        return 0;
    }
    if (!c->field_open)
        return refuse(c, 400, "empty header name");
    if (c->nheaders >= c->w->cfg->limits.max_headers)
        return refuse(c, 431, "too many request headers");
    if (hm_buf_append(&c->hbuf, "", 1) != HM_OK) /* the name's NUL */
        return refuse(c, 500, "out of memory");
    c->hoff[c->nheaders * 2 + 1] = c->hbuf.len;
    c->field_open = 0;
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    if (add_head_bytes(c, len))
        return -1;
    /* Trailer fields (after a chunked body) are dropped: they arrive after the
     * Host / Transfer-Encoding / Content-Length checks, and merged into the
     * headers they could smuggle a second Host or any header past them. */
    if (c->state == ST_BODY)
        return 0;
    /* llhttp hands an obs-fold continuation over as one more, non-adjacent
     * piece of the value; RFC 9112 5.2 lets a server reject folding, and a
     * folded value is a smuggling vector. */
    if (c->value_open && STREAM_POS(c, at) != c->value_end)
        return refuse(c, 400, "obsolete line folding in header");
    c->value_open = 1;
    c->value_end = STREAM_POS(c, at + len);
    return hm_buf_append(&c->hbuf, at, len) == HM_OK ? 0 : refuse(c, 500, "out of memory");
}

static int cb_header_value_complete(llhttp_t *p)
{
    hm_conn_t *c = conn_of(p);
    if (c->state == ST_BODY)
        return 0;
    c->value_open = 0;
    if (hm_buf_append(&c->hbuf, "", 1) != HM_OK) /* the value's NUL */
        return refuse(c, 500, "out of memory");
    if (strcmp(c->hbuf.data + c->hoff[c->nheaders * 2], "host") == 0)
        c->host_headers++;
    c->nheaders++;
    return 0;
}

static const char *find_header(hm_conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->nheaders; i++)
        if (strcmp(c->hbuf.data + c->hoff[i * 2], name) == 0)
            return c->hbuf.data + c->hoff[i * 2 + 1];
    return NULL;
}

/* RFC 9112 6.3: in a request, chunked must be the last transfer-coding (else
 * the body length is unknowable: 400); we decode no other coding (501).
 * Returns 0 when Transfer-Encoding is absent or exactly "chunked". */
static int check_transfer_encoding(hm_conn_t *c)
{
    int tokens = 0, chunked_at = -1, chunked_count = 0;
    for (size_t i = 0; i < c->nheaders; i++) {
        if (strcmp(c->hbuf.data + c->hoff[i * 2], "transfer-encoding") != 0)
            continue;
        const char *v = c->hbuf.data + c->hoff[i * 2 + 1];
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',')
                v++;
            if (!*v)
                break;
            size_t n = strcspn(v, ",");
            size_t t = n;
            while (t && (v[t - 1] == ' ' || v[t - 1] == '\t'))
                t--;
            if (t == 7 && strncasecmp(v, "chunked", 7) == 0) {
                chunked_at = tokens;
                chunked_count++;
            }
            tokens++;
            v += n;
        }
        if (tokens == 0)
            return 400;   /* present but empty */
    }
    if (tokens == 0)
        return 0;
    if (chunked_count != 1 || chunked_at != tokens - 1)
        return 400;
    return tokens == 1 ? 0 : 501;
}

/* Write bytes now if the socket takes them (used for "100 Continue"). */
static void write_raw(hm_conn_t *c, const char *data, size_t len);

static int cb_headers_complete(llhttp_t *p)
{
    hm_conn_t *c = conn_of(p);
    const hm_limits_t *lim = &c->w->cfg->limits;
    if (p->http_major != 1 || p->http_minor > 1)
        return refuse(c, 505, "HTTP version not supported");
    if (p->http_minor == 1 && c->host_headers != 1)
        return refuse(c, 400, c->host_headers ? "more than one Host header" : "missing Host header");
    if (c->host_headers > 1)
        return refuse(c, 400, "more than one Host header");
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_len = (p->flags & F_CONTENT_LENGTH) != 0;
    if (has_len && p->content_length > lim->max_body_bytes)
        return refuse(c, 413, "request body too large");
    int te = check_transfer_encoding(c);
    if (te != 0)
        return refuse(c, te, te == 400 ? "chunked must be the final transfer-coding, once"
                                       : "transfer-coding not supported (only chunked)");
    const char *expect = find_header(c, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return refuse(c, 417, "expectation not supported");
        if (chunked || (has_len && p->content_length > 0))
            write_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    c->state = ST_BODY;
    /* A request without a body completes in this same llhttp_execute call
     * (and process_input then stops the timer): re-arming the timer for it
     * would only cost a timer-heap remove + insert per request. */
    if (chunked || (has_len && p->content_length > 0))
        timer_set(c, lim->body_timeout_ms);
    return 0;
}

/* Chunk extensions are ignored, but llhttp would read any amount of them. */
static int cb_chunk_ext(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    HM_UNUSED(at);
    c->ext_bytes += len;
    return c->ext_bytes > 4096 ? refuse(c, 400, "chunk extensions too long") : 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    hm_conn_t *c = conn_of(p);
    if (c->body.len + len > c->w->cfg->limits.max_body_bytes)
        return refuse(c, 413, "request body too large");
    return hm_buf_append(&c->body, at, len) == HM_OK ? 0 : refuse(c, 500, "out of memory");
}

static int cb_message_complete(llhttp_t *p)
{
    hm_conn_t *c = conn_of(p);
    c->complete = 1;
    c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    /* Pause: the rest of the input waits until this request is answered. */
    return HPE_PAUSED;
}

static void settings_init(void)
{
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = cb_message_begin;
    parser_settings.on_method = cb_method;
    parser_settings.on_url = cb_url;
    parser_settings.on_chunk_extension_name = cb_chunk_ext;
    parser_settings.on_chunk_extension_value = cb_chunk_ext;
    parser_settings.on_header_field = cb_header_field;
    parser_settings.on_header_field_complete = cb_header_field_complete;
    parser_settings.on_header_value = cb_header_value;
    parser_settings.on_header_value_complete = cb_header_value_complete;
    parser_settings.on_headers_complete = cb_headers_complete;
    parser_settings.on_body = cb_body;
    parser_settings.on_message_complete = cb_message_complete;
}

/* ---- requests ------------------------------------------------------------ */

static int request_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= HM_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static int build_request(hm_conn_t *c)
{
    hm_request_t *r = &c->req;
    r->method = llhttp_method_name((llhttp_method_t)c->parser.method);
    r->method_len = strlen(r->method);
    r->head = c->parser.method == HTTP_HEAD;
    r->http_minor = c->parser.http_minor;

    /* absolute-form ("GET http://host/path") → its path */
    const char *u = c->url.data ? c->url.data : "";
    size_t ulen = c->url.len;
    if (ulen && u[0] != '/') {
        const char *scheme = strstr(u, "://");
        if (scheme == NULL)
            return refuse(c, 400, "request target must be a path");
        const char *slash = strchr(scheme + 3, '/');
        if (slash == NULL) {
            u = "/";
            ulen = 1;
        } else {
            ulen -= (size_t)(slash - u);
            u = slash;
        }
    }
    if (ulen == 0)
        return refuse(c, 400, "empty request target");
    const char *q = memchr(u, '?', ulen);
    r->path = u;
    r->path_len = q ? (size_t)(q - u) : ulen;
    r->query = q ? q + 1 : "";
    r->query_len = q ? ulen - r->path_len - 1 : 0;
    const char *hash = memchr(r->path, '#', r->path_len);
    if (hash)
        r->path_len = (size_t)(hash - r->path);

    if (c->nheaders > c->hdrs_cap) {
        hm_header_t *h = realloc(c->hdrs, c->nheaders * sizeof(*h));
        if (h == NULL)
            return refuse(c, 500, "out of memory");
        c->hdrs = h;
        c->hdrs_cap = c->nheaders;
    }
    for (size_t i = 0; i < c->nheaders; i++) {
        c->hdrs[i].name = c->hbuf.data + c->hoff[i * 2];
        c->hdrs[i].value = c->hbuf.data + c->hoff[i * 2 + 1];
    }
    r->headers = c->hdrs;
    r->nheaders = c->nheaders;
    r->body = c->body.data ? c->body.data : "";
    r->body_len = c->body.len;

    const char *rid = find_header(c, "x-request-id");
    if (rid && request_id_ok(rid))
        snprintf(r->id, sizeof(r->id), "%s", rid);
    else {
        /* worker prefix + a hex counter, by hand (every request gets one) */
        size_t n = strlen(c->w->id_prefix);
        memcpy(r->id, c->w->id_prefix, n);
        char hex[20], *h = hex + sizeof(hex);
        unsigned long long v = ++c->w->next_request;
        do {
            *--h = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v);
        size_t hl = (size_t)(hex + sizeof(hex) - h);
        if (n + hl >= sizeof(r->id))
            hl = sizeof(r->id) - 1 - n;
        memcpy(r->id + n, h, hl);
        r->id[n + hl] = '\0';
    }
    return 0;
}

static int parse_error_status(llhttp_t *p, llhttp_errno_t e, const char **msg)
{
    switch (e) {
    case HPE_INVALID_VERSION:
        /* "Expected CRLF after version" is junk after a valid version. */
        if (strncmp(llhttp_get_error_reason(p), "Expected", 8) == 0) {
            *msg = "malformed request line";
            return 400;
        }
        *msg = "HTTP version not supported";
        return 505;
    case HPE_INVALID_METHOD: *msg = "invalid method"; return 400;
    case HPE_INVALID_URL: *msg = "invalid request target"; return 400;
    case HPE_INVALID_TRANSFER_ENCODING: *msg = "invalid transfer-encoding"; return 400;
    case HPE_UNEXPECTED_CONTENT_LENGTH: *msg = "content-length with transfer-encoding"; return 400;
    case HPE_INVALID_CONTENT_LENGTH: *msg = "invalid content-length"; return 400;
    case HPE_INVALID_CHUNK_SIZE: *msg = "invalid chunk size"; return 400;
    case HPE_INVALID_HEADER_TOKEN: *msg = "invalid header"; return 400;
    default: *msg = "malformed request"; return 400;
    }
}

static void process_input(hm_conn_t *c)
{
    if (c->in_process)
        return;
    c->in_process = 1;
    while (!c->closing && c->state != ST_HANDLING && c->state != ST_LINGER && c->writes == 0 &&
           c->in.len > 0) {
        llhttp_errno_t e = llhttp_execute(&c->parser, c->in.data, c->in.len);
        size_t used = c->in.len;
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            used = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data);
            if (e == HPE_PAUSED)
                llhttp_resume(&c->parser);
            else
                c->keep_alive = 0; /* we speak no other protocol: answer, then close */
        } else if (e != HPE_OK) {
            const char *msg;
            int status = c->err_status ? c->err_status : parse_error_status(&c->parser, e, &msg);
            if (c->err_status)
                msg = c->err_msg;
            c->keep_alive = 0;
            hm_conn_respond_error(c, status, msg);
            break;
        }
        hm_buf_consume(&c->in, used);
        c->in_base += used;
        if (!c->complete)
            continue;
        c->complete = 0;
        if (build_request(c) != 0) {
            c->keep_alive = 0;
            hm_conn_respond_error(c, c->err_status, c->err_msg);
            break;
        }
        if (c->draining)
            c->keep_alive = 0;
        c->state = ST_HANDLING;
        if (c->io) {
            c->io->request(c->io->ud, c, &c->req);
        } else {
            uv_timer_stop(&c->timer);
            hm_worker_dispatch(c->w, c, &c->req);
        }
    }
    /* Keep reading while a request is handled (no epoll_ctl per request):
     * pipelined input waits in c->in, up to a bound; past it, stop reading
     * until the backlog is parsed (backpressure on a client that only sends). */
    if (!c->closing && c->state != ST_LINGER) {
        if ((c->state == ST_HANDLING || c->writes > 0) && c->in.len > PIPELINE_BACKLOG)
            read_stop(c);
        else
            read_start(c);
    }
    c->in_process = 0;
}

/* ---- writing -------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    HM_UNUSED(req);
    HM_UNUSED(status);
}

/* Stop answering: shut our side, drop what the client still sends, close soon. */
static void linger(hm_conn_t *c)
{
    if (c->closing)
        return;
    c->state = ST_LINGER;
    hm_buf_reset(&c->in);
    timer_set(c, LINGER_MS);
    if (c->io) {
        c->reading = 1; /* what the client still sends is dropped (hm_conn_feed) */
        return;
    }
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        hm_conn_close(c);
        return;
    }
    read_start(c);
}

static void after_response(hm_conn_t *c)
{
    if (c->closing)
        return;
    if (c->close_after_write) {
        linger(c);
        return;
    }
    c->state = ST_IDLE;
    /* Don't keep a big request's buffers around on an idle connection. */
    if (c->body.cap > SHRINK_ABOVE)
        hm_buf_free(&c->body);
    if (c->in.cap > SHRINK_ABOVE && c->in.len == 0)
        hm_buf_free(&c->in);
    timer_set(c, c->w->cfg->limits.keepalive_timeout_ms);
    process_input(c);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *wr = (write_req_t *)req;
    hm_conn_t *c = wr->conn;
    free(wr);
    c->writes--;
    if (status < 0) {
        hm_conn_close(c);
        return;
    }
    if (c->writes > 0)
        return;
    if (c->state == ST_IDLE)
        after_response(c);
    else if (c->state == ST_HEAD || c->state == ST_BODY)
        process_input(c); /* a "100 Continue" went out mid-request */
}

/* Queue bufs after trying to write them at once (the common case: all of it). */
static void write_bufs(hm_conn_t *c, uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (c->io) {
        for (unsigned i = 0; i < nbufs; i++)
            c->io->output(c->io->ud, bufs[i].base, bufs[i].len);
        return; /* all of it, at once */
    }
    if (c->writes == 0) {
        int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
        if (n > 0)
            done = (size_t)n;
        else if (n < 0 && n != UV_EAGAIN) {
            hm_conn_close(c);
            return;
        }
    }
    if (done == total)
        return;
    write_req_t *wr = malloc(sizeof(*wr) + (total - done));
    if (wr == NULL) {
        hm_conn_close(c);
        return;
    }
    wr->conn = c;
    wr->len = 0;
    size_t skip = done;
    for (unsigned i = 0; i < nbufs; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        memcpy(wr->data + wr->len, bufs[i].base + skip, bufs[i].len - skip);
        wr->len += bufs[i].len - skip;
        skip = 0;
    }
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(wr);
        hm_conn_close(c);
        return;
    }
    c->writes++;
    /* Stop reading until the client takes our answer (backpressure). */
    read_stop(c);
    timer_set(c, WRITE_TIMEOUT_MS);
}

static void write_raw(hm_conn_t *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    write_bufs(c, &b, 1);
}

/* One JSON line per response (config access_log = true): no query string,
 * no headers, no body -- nothing that could carry credentials or a guest's
 * personal data; the request id ties it to the script's own log lines. */
static void access_log(hm_conn_t *c, int status, size_t bytes)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char peer[64] = "";
    if (c->io == NULL && uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof(peer));
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, peer, sizeof(peer));
    }
    const hm_request_t *r = &c->req;
    double ms = r->start_ns ? (double)(uv_hrtime() - r->start_ns) / 1e6 : 0;
    hm_buf_t b = HM_BUF_INIT;
    int rc = hm_buf_printf(&b, "\"worker\":%d,\"rid\":", c->w->id);
    rc |= hm_buf_json_str(&b, r->id, strlen(r->id));
    rc |= hm_buf_puts(&b, ",\"method\":");
    rc |= hm_buf_json_str(&b, r->method ? r->method : "", r->method ? r->method_len : 0);
    rc |= hm_buf_puts(&b, ",\"path\":");
    rc |= hm_buf_json_str(&b, r->path ? r->path : "", r->path ? r->path_len : 0);
    rc |= hm_buf_printf(&b, ",\"status\":%d,\"bytes\":%zu,\"ms\":%.3f,\"peer\":\"%s\"", status,
                        bytes, ms, peer);
    if (rc == HM_OK)
        hm_log_access(b.data, b.len);
    hm_buf_free(&b);
}

int hm_conn_wants_gzip(const hm_conn_t *c)
{
    if (c->w->cfg->gzip_level == 0)
        return 0;
    for (size_t i = 0; i < c->req.nheaders; i++)
        if (strcmp(c->req.headers[i].name, "accept-encoding") == 0 && hm_gzip_accepted(c->req.headers[i].value))
            return 1;
    return 0;
}

#define GZIP_MAX_HEADERS 14

int hm_conn_respond_gzipped(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                            const char *gz, size_t gz_len)
{
    hm_header_t hdrs[GZIP_MAX_HEADERS + 2];
    if (nheaders > GZIP_MAX_HEADERS)
        return HM_EINVAL;
    memcpy(hdrs, headers, nheaders * sizeof(*hdrs));
    hdrs[nheaders++] = (hm_header_t){ "Content-Encoding", "gzip" };
    hdrs[nheaders++] = (hm_header_t){ "Vary", "Accept-Encoding" };
    hm_conn_respond_prefixed(c, status, hdrs, nheaders, NULL, 0, gz, gz_len);
    return HM_OK;
}

/* A body worth compressing: JSON or text, long enough, not already encoded
 * by the script, gzip on, a GET-like answer (HEAD goes as it is). 1: for
 * this client; 2: not for this one (the answer still says Vary). */
static int gzip_this(const hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                     size_t body_len)
{
    if (c->w->cfg->gzip_level == 0 || body_len < c->w->cfg->gzip_min_bytes || body_len == 0 || status == 204 ||
        status == 304 || status < 200 || c->req.head || nheaders > GZIP_MAX_HEADERS)
        return 0;
    const char *ct = NULL;
    for (size_t i = 0; i < nheaders; i++) {
        if (strcasecmp(headers[i].name, "content-encoding") == 0)
            return 0;
        if (strcasecmp(headers[i].name, "content-type") == 0)
            ct = headers[i].value;
    }
    if (!hm_gzip_compressible(ct))
        return 0;
    return hm_conn_wants_gzip(c) ? 1 : 2;
}

void hm_conn_respond(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                     const char *body, size_t body_len)
{
    int gz = c->closing || c->state == ST_LINGER ? 0 : gzip_this(c, status, headers, nheaders, body_len);
    if (gz == 1) {
        hm_buf_t out = HM_BUF_INIT;
        int rc = hm_gzip_whole(body, body_len, (int)c->w->cfg->gzip_level, &out);
        if (rc == HM_OK)
            hm_conn_respond_gzipped(c, status, headers, nheaders, out.data, out.len);
        hm_buf_free(&out);
        if (rc == HM_OK)
            return;
    }
    if (gz) {   /* sent as it is, but another client would get it gzip'd: say so to caches */
        hm_header_t hdrs[GZIP_MAX_HEADERS + 1];
        memcpy(hdrs, headers, nheaders * sizeof(*hdrs));
        hdrs[nheaders] = (hm_header_t){ "Vary", "Accept-Encoding" };
        hm_conn_respond_prefixed(c, status, hdrs, nheaders + 1, NULL, 0, body, body_len);
        return;
    }
    hm_conn_respond_prefixed(c, status, headers, nheaders, NULL, 0, body, body_len);
}

void hm_conn_respond_prefixed(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                              const char *prefix, size_t prefix_len, const char *body, size_t body_len)
{
    if (c->closing || c->state == ST_LINGER)
        return;
    body_len += prefix_len; /* from here: the body's whole length */
    if (c->w->cfg->access_log)
        access_log(c, status, body_len);
    c->task = NULL;
    /* Only the answer to a HEAD request goes without its body: an error for
     * the next request on the connection (never dispatched) carries its own. */
    int no_body = (c->state == ST_HANDLING && c->req.head) || status == 204 || status == 304 || (status >= 100 && status < 200);
    if (c->draining)
        c->keep_alive = 0;
    c->close_after_write = !c->keep_alive;
    hm_buf_t *o = &c->out;
    hm_buf_reset(o);
    /* Built with appends, not printf: this runs for every response. */
    char num[24];
    int rc = hm_buf_puts(o, "HTTP/1.1 ");
    rc |= hm_buf_append(o, num, fmt_uint(num, (unsigned long long)status));
    rc |= hm_buf_puts(o, " ");
    rc |= hm_buf_puts(o, hm_status_text(status));
    rc |= hm_buf_puts(o, "\r\nServer: hotelmux\r\nDate: ");
    rc |= hm_buf_puts(o, hm_worker_date(c->w));
    if (status != 204 && status != 304) {
        rc |= hm_buf_puts(o, "\r\nContent-Length: ");
        rc |= hm_buf_append(o, num, fmt_uint(num, body_len));
    }
    if (c->req.id[0]) {
        rc |= hm_buf_puts(o, "\r\nX-Request-Id: ");
        rc |= hm_buf_puts(o, c->req.id);
    }
    if (!c->keep_alive)
        rc |= hm_buf_puts(o, "\r\nConnection: close");
    else if (c->req.http_minor == 0)
        rc |= hm_buf_puts(o, "\r\nConnection: keep-alive");
    for (size_t i = 0; i < nheaders; i++) {
        /* Header injection: a CR or LF in a name or value would let a script
         * split the response; such headers are dropped. */
        if (strpbrk(headers[i].name, "\r\n:") || strpbrk(headers[i].value, "\r\n"))
            continue;
        rc |= hm_buf_puts(o, "\r\n");
        rc |= hm_buf_puts(o, headers[i].name);
        rc |= hm_buf_puts(o, ": ");
        rc |= hm_buf_puts(o, headers[i].value);
    }
    rc |= hm_buf_puts(o, "\r\n\r\n");
    if (!no_body && prefix_len)   /* small: sent with the head */
        rc |= hm_buf_append(o, prefix, prefix_len);
    if (rc != 0) {
        hm_conn_close(c);
        return;
    }
    /* From here the connection is no longer handling: the next request may
     * follow once the answer is written (process_input waits for writes). */
    c->state = ST_IDLE;
    uv_buf_t bufs[2] = { uv_buf_init(o->data, (unsigned)o->len),
                         uv_buf_init((char *)body, (unsigned)(no_body ? 0 : body_len - prefix_len)) };
    write_bufs(c, bufs, bufs[1].len ? 2 : 1);
    if (!c->closing && c->writes == 0)
        after_response(c);
}

void hm_conn_respond_error(hm_conn_t *c, int status, const char *msg)
{
    hm_buf_t j = HM_BUF_INIT;
    if (hm_buf_printf(&j, "{\"code\":%d,\"msg\":", status) != HM_OK ||
        hm_buf_json_str(&j, msg, strlen(msg)) != HM_OK || hm_buf_puts(&j, ",\"data\":null}") != HM_OK) {
        hm_buf_free(&j);
        hm_conn_close(c);
        return;
    }
    hm_header_t h = { "Content-Type", "application/json" };
    hm_conn_respond(c, status, &h, 1, j.data, j.len);
    hm_buf_free(&j);
}

/* ---- accept, drain, accessors ---------------------------------------------- */

void hm_conn_accept(hm_worker_t *w, uv_stream_t *listener)
{
    uv_once(&settings_once, settings_init);
    hm_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return; /* the connection stays in the backlog; libuv retries */
    c->w = w;
    if (uv_tcp_init(&w->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    size_t total = hm_server_conn_delta(w->server, +1);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        hm_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->keep_alive = 1;
    c->state = ST_IDLE;
    if (total > w->cfg->limits.max_connections) {
        c->keep_alive = 0;
        hm_conn_respond_error(c, 503, "too many connections");
        return;
    }
    if (w->draining)
        c->draining = 1;
    /* A connection that never sends a byte gets the header timeout too. */
    timer_set(c, w->cfg->limits.header_timeout_ms);
    read_start(c);
}

void hm_conn_drain(hm_conn_t *c)
{
    c->draining = 1;
    if (c->state == ST_IDLE && c->writes == 0 && c->in.len == 0)
        hm_conn_close(c);
}

hm_conn_t *hm_conn_next(const hm_conn_t *c) { return c->next; }
const hm_request_t *hm_conn_request(const hm_conn_t *c) { return &c->req; }
void hm_conn_set_task(hm_conn_t *c, hm_task_t *t) { c->task = t; }
void hm_conn_set_ticket(hm_conn_t *c, uint64_t ticket) { c->ticket = ticket; }
uint64_t hm_conn_ticket(const hm_conn_t *c) { return c->ticket; }

/* ---- detached connections (no socket: tests and fuzzing) -------------------- */

hm_conn_t *hm_conn_new_detached(hm_worker_t *w, const hm_conn_io_t *io)
{
    uv_once(&settings_once, settings_init);
    hm_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->w = w;
    c->io = io;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->keep_alive = 1;
    c->state = ST_IDLE;
    c->draining = w->draining;
    read_start(c);
    return c;
}

size_t hm_conn_feed(hm_conn_t *c, const char *data, size_t len)
{
    size_t taken = 0;
    /* what on_alloc + on_read do, one read of at most READ_CHUNK bytes at a time */
    while (taken < len && c->reading && !c->closing) {
        size_t n = len - taken < READ_CHUNK ? len - taken : READ_CHUNK;
        if (c->state == ST_LINGER) {
            taken += n; /* dropped */
            continue;
        }
        if (hm_buf_reserve(&c->in, n) != HM_OK) {
            hm_conn_close(c);
            break;
        }
        memcpy(c->in.data + c->in.len, data + taken, n);
        c->in.len += n;
        c->in.data[c->in.len] = '\0';
        taken += n;
        process_input(c);
    }
    return taken;
}

void hm_conn_feed_eof(hm_conn_t *c)
{
    if (c->closing)
        return;
    if (c->state == ST_HANDLING || c->writes > 0) {
        c->keep_alive = 0;
        read_stop(c);
        return;
    }
    hm_conn_close(c);
}

int hm_conn_detached_state(const hm_conn_t *c)
{
    if (c->closing)
        return HM_CONN_CLOSED;
    if (c->state == ST_LINGER)
        return HM_CONN_LINGER;
    if (c->state == ST_HANDLING)
        return HM_CONN_HANDLING;
    return c->reading ? HM_CONN_READING : HM_CONN_PAUSED;
}

void hm_conn_free_detached(hm_conn_t *c)
{
    if (c != NULL)
        conn_free(c);
}
