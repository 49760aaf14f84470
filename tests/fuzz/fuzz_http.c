/* fuzz_http.c -- bytes from a client -> core/http_conn.c (llhttp, limits,
 * smuggling checks, request building, response writing) -> the router.
 *
 * The connection is the real one, detached from its socket
 * (hm_conn_new_detached): bytes go in through hm_conn_feed, complete requests
 * come out to this driver, which matches them against an API-like route table
 * and answers with hm_conn_respond; every byte the connection writes comes back
 * here and is checked.
 *
 * Input: byte 0 is a flag byte, the rest is what the client sends.
 *   bit 0..1  chunk size for the split run: 1, 3, 7 or 16 bytes (+ input bytes)
 *   bit 2     answer later: a request waits while more input arrives
 *   bit 3     small limits (url 64, header bytes 512, 8 headers, body 64)
 *   bit 4     the client half-closes (EOF) after its last byte
 *   bit 5     the worker is draining
 *
 * The stream is run twice: all at once, and in small chunks. Both runs must
 * give the same transcript (requests as the handler sees them, statuses
 * answered): how the network splits the input must not change how it is
 * parsed (a smuggling vector otherwise). One latitude: when a request has
 * two faults (say an over-long URL that also holds a bad byte), which one is
 * reported may depend on the split (llhttp validates a span before it hands
 * it over), so a refusal by the connection is compared as "refused", not by
 * its status; the requests before it and the refusal itself must match.
 * Checked on every request:
 *   - method is a token, the path starts with '/' and has no '?', '#', CTL or
 *     space, the query and params lie inside the request;
 *   - header names are non-empty lower-case tokens, values hold no CR/LF;
 *   - HTTP/1.1 has exactly one Host; never both Transfer-Encoding and
 *     Content-Length; a Content-Length equals the body length; the body, URL
 *     and header count respect the limits;
 * and on every response: "HTTP/1.1 NNN Reason", CRLF-separated "Name: value"
 * lines, exactly one Content-Length (except 1xx/204/304) that the body that
 * follows matches (a HEAD answer carries none), nothing after a
 * "Connection: close" answer. */
#include "fuzz_main.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "hotelmux/buf.h"
#include "hotelmux/common.h"
#include "hotelmux/http_conn.h"
#include "hotelmux/router.h"
#include "hotelmux/worker.h"

static const char *const routes[][2] = {
    { "POST", "/api/auth/ticket" },       { "POST", "/api/search/hotelList" },
    { "POST", "/api/search/hotelRates" },  { "POST", "/api/search/checkAvail" },
    { "POST", "/api/trade/book" },         { "POST", "/api/trade/cancel" },
    { "GET", "/hotel/{id}" },              { "GET", "/hotel/{id}/rooms/{room}" },
    { "POST", "/webhooks/{supplier}" },    { "*", "/sim/*" },
    { "GET", "/health" },                  { "GET", "/ready" },
    { "GET", "/metrics" },                 { "GET", "/hello" },
    { "POST", "/echo" },                   { "PUT", "/echo" },
    { "GET", "/" },                        { "*", "/admin/*" },
};

static hm_router_t *router;

typedef struct {
    hm_conn_t *conn;
    const hm_limits_t *lim;
    hm_buf_t transcript;
    int deferred;              /* answer outside the request callback */
    int pending;               /* a request waits for its answer */
    int pending_head;          /* ... and it is a HEAD */
    int answering_head;        /* hm_conn_respond for a HEAD is running */
    int in_answer;             /* the next head is answer()'s (not the connection's own) */
    size_t body_due;           /* bytes of body the last head announced */
    int closed_by_answer;      /* a "Connection: close" answer went out */
    int saw_output_after_close;
    size_t requests;
} run_t;

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

static const char *header(const hm_request_t *r, const char *name, size_t *count)
{
    const char *v = NULL;
    *count = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, name) == 0) {
            if (v == NULL)
                v = r->headers[i].value;
            (*count)++;
        }
    return v;
}

static void check_request(run_t *run, const hm_request_t *r)
{
    const hm_limits_t *lim = run->lim;
    FUZZ_ASSERT(r->method != NULL && r->method_len > 0 && strlen(r->method) == r->method_len);
    for (size_t i = 0; i < r->method_len; i++)
        FUZZ_ASSERT(isupper((unsigned char)r->method[i]) || r->method[i] == '-');
    FUZZ_ASSERT(r->path != NULL && r->path_len > 0 && r->path[0] == '/');
    FUZZ_ASSERT(memchr(r->path, '?', r->path_len) == NULL && memchr(r->path, '#', r->path_len) == NULL);
    FUZZ_ASSERT(!has_ctl(r->path, r->path_len) && memchr(r->path, ' ', r->path_len) == NULL);
    FUZZ_ASSERT(r->query != NULL && !has_ctl(r->query, r->query_len));
    FUZZ_ASSERT(r->path_len + r->query_len <= lim->max_url_bytes);
    FUZZ_ASSERT(r->http_minor == 0 || r->http_minor == 1);
    FUZZ_ASSERT(r->head == (strcmp(r->method, "HEAD") == 0));
    FUZZ_ASSERT(r->nheaders <= lim->max_headers);
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        FUZZ_ASSERT(n[0] != '\0');
        for (const char *p = n; *p; p++)
            FUZZ_ASSERT(!isupper((unsigned char)*p) && *p != ':' && *p != ' ' &&
                        !has_ctl(p, 1));
        FUZZ_ASSERT(strpbrk(v, "\r\n") == NULL);
    }
    size_t nhost, nte, ncl;
    header(r, "host", &nhost);
    const char *te = header(r, "transfer-encoding", &nte);
    const char *cl = header(r, "content-length", &ncl);
    FUZZ_ASSERT(nhost <= 1);
    if (r->http_minor == 1)
        FUZZ_ASSERT(nhost == 1);
    FUZZ_ASSERT(!(te && cl));   /* CL.TE / TE.CL smuggling */
    if (cl && ncl == 1) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        FUZZ_ASSERT(n == r->body_len);
    }
    if (!te && !cl)
        FUZZ_ASSERT(r->body_len == 0);
    FUZZ_ASSERT(r->body_len <= lim->max_body_bytes);
    size_t idl = strlen(r->id);
    FUZZ_ASSERT(idl > 0 && idl < HM_REQUEST_ID_MAX);
}

static void record_request(run_t *run, const hm_request_t *r)
{
    hm_buf_t *t = &run->transcript;
    int rc = hm_buf_printf(t, "REQ %s 1.%d ", r->method, r->http_minor);
    rc |= hm_buf_append(t, r->path, r->path_len);
    rc |= hm_buf_puts(t, "?");
    rc |= hm_buf_append(t, r->query, r->query_len);
    for (size_t i = 0; i < r->nheaders; i++)
        rc |= hm_buf_printf(t, "\n %s=%s", r->headers[i].name, r->headers[i].value);
    rc |= hm_buf_printf(t, "\n body %zu:", r->body_len);
    rc |= hm_buf_append(t, r->body, r->body_len);
    rc |= hm_buf_puts(t, "\n");
    FUZZ_ASSERT(rc == HM_OK);
}

static void answer(run_t *run)
{
    const hm_request_t *r = hm_conn_request(run->conn);
    hm_route_match_t m;
    char allow[64];
    int rc = hm_router_match(router, r->method, r->method_len, r->path, r->path_len, &m, allow,
                             sizeof(allow));
    FUZZ_ASSERT(rc == HM_OK || rc == HM_ENOENT || rc == HM_ESTATE);
    size_t n;
    const char *echo = header(r, "x-echo", &n);
    hm_header_t hdrs[3] = { { "Content-Type", "text/plain" }, { "X-Echo", echo ? echo : "-" },
                            { "Allow", allow } };
    char body[256];
    int blen;
    int status;
    if (rc == HM_OK) {
        FUZZ_ASSERT(m.nparams <= HM_ROUTER_MAX_PARAMS);
        for (size_t i = 0; i < m.nparams; i++)
            FUZZ_ASSERT(m.params[i].value >= r->path &&
                        m.params[i].value + m.params[i].len <= r->path + r->path_len);
        status = strcmp(m.pattern, "/health") == 0 ? 204 : 200;
        blen = snprintf(body, sizeof(body), "route %d params %zu body %zu", m.handler, m.nparams,
                        r->body_len);
    } else {
        status = rc == HM_ESTATE ? 405 : 404;
        blen = snprintf(body, sizeof(body), "no route");
    }
    FUZZ_ASSERT(hm_buf_printf(&run->transcript, "ANSWER %d\n", status) == HM_OK);
    run->pending = 0;
    run->answering_head = r->head;
    run->in_answer = 1;
    hm_conn_respond(run->conn, status, hdrs, rc == HM_ESTATE ? 3 : 2, body, (size_t)blen);
    /* hm_conn_respond may go on to parse and refuse the next request */
    FUZZ_ASSERT(!run->in_answer);
}

static void on_request(void *ud, hm_conn_t *c, const hm_request_t *req)
{
    run_t *run = ud;
    FUZZ_ASSERT(c == run->conn);
    FUZZ_ASSERT(!run->pending);
    FUZZ_ASSERT(!run->closed_by_answer);
    check_request(run, req);
    record_request(run, req);
    run->requests++;
    run->pending = 1;
    run->pending_head = req->head;
    if (!run->deferred)
        answer(run);
}

/* One response head: status line, header lines, CRLF CRLF. */
static void check_head(run_t *run, const char *d, size_t len)
{
    FUZZ_ASSERT(len >= 17 && memcmp(d, "HTTP/1.1 ", 9) == 0);
    FUZZ_ASSERT(isdigit((unsigned char)d[9]) && isdigit((unsigned char)d[10]) &&
                isdigit((unsigned char)d[11]) && d[12] == ' ');
    int status = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
    FUZZ_ASSERT(status >= 100 && status <= 599);
    FUZZ_ASSERT(memcmp(d + len - 4, "\r\n\r\n", 4) == 0);
    /* every CR is followed by LF, every LF preceded by CR: no split headers */
    for (size_t i = 0; i < len; i++) {
        if (d[i] == '\r')
            FUZZ_ASSERT(i + 1 < len && d[i + 1] == '\n');
        if (d[i] == '\n')
            FUZZ_ASSERT(i > 0 && d[i - 1] == '\r');
        FUZZ_ASSERT(d[i] != '\0');
    }
    const char *line = memchr(d, '\n', len) + 1, *end = d + len - 2;
    int ncl = 0, close = 0;
    size_t cl = 0;
    while (line < end) {
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        FUZZ_ASSERT(eol != NULL);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        FUZZ_ASSERT(colon != NULL && colon > line && colon[1] == ' ');
        size_t nl = (size_t)(colon - line);
        if (nl == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            ncl++;
            cl = strtoul(colon + 2, NULL, 10);
        }
        if (nl == 10 && strncasecmp(line, "Connection", 10) == 0 &&
            strncmp(colon + 2, "close", 5) == 0)
            close = 1;
        line = eol + 2;
    }
    if (status < 200 || status == 204 || status == 304)
        FUZZ_ASSERT(ncl == 0);
    else
        FUZZ_ASSERT(ncl == 1);
    if (!run->in_answer && status >= 400) {
        /* the connection refused the request: it must close */
        FUZZ_ASSERT(close);
        FUZZ_ASSERT(hm_buf_puts(&run->transcript, "REFUSED close\n") == HM_OK);
    } else {
        FUZZ_ASSERT(hm_buf_printf(&run->transcript, "STATUS %d%s\n", status,
                                  close ? " close" : "") == HM_OK);
    }
    /* a HEAD answer announces its length but sends no body */
    run->body_due = run->in_answer && run->answering_head ? 0 : cl;
    run->in_answer = run->answering_head = 0;
    if (close)
        run->closed_by_answer = 1;
}

static void on_output(void *ud, const char *data, size_t len)
{
    run_t *run = ud;
    FUZZ_ASSERT(len > 0);
    if (run->closed_by_answer && run->body_due == 0)
        run->saw_output_after_close = 1;
    FUZZ_ASSERT(!run->saw_output_after_close);
    if (run->body_due) {
        /* the body that the last head announced, in one piece */
        FUZZ_ASSERT(len == run->body_due);
        run->body_due = 0;
        return;
    }
    check_head(run, data, len);
}

static void run_stream(run_t *run, hm_worker_t *w, const uint8_t *data, size_t size, size_t chunk,
                       int eof)
{
    hm_conn_io_t io = { on_request, on_output, run };
    w->next_request = 0;
    run->conn = hm_conn_new_detached(w, &io);
    FUZZ_ASSERT(run->conn != NULL);
    size_t off = 0;
    unsigned step = 0;
    while (off < size) {
        /* chunked run: vary the piece sizes a little (1..chunk+3) */
        size_t n = chunk ? chunk + (step++ * 7 + data[off]) % 4 : size;
        if (n > size - off)
            n = size - off;
        size_t took = hm_conn_feed(run->conn, (const char *)data + off, n);
        FUZZ_ASSERT(took <= n);
        if (took < n) {
            /* it stopped reading: closed (a detached conn never backs up on input this small) */
            FUZZ_ASSERT(hm_conn_detached_state(run->conn) == HM_CONN_CLOSED);
            break;
        }
        off += n;
        /* a deferred answer: sometimes more input arrives first */
        if (run->pending && (!run->deferred || (data[off - 1] & 1)))
            while (run->pending)
                answer(run);
    }
    while (run->pending)
        answer(run);
    if (eof)
        hm_conn_feed_eof(run->conn);
    FUZZ_ASSERT(run->body_due == 0);
    int st = hm_conn_detached_state(run->conn);
    if (run->closed_by_answer)
        FUZZ_ASSERT(st == HM_CONN_LINGER || st == HM_CONN_CLOSED);
    hm_conn_free_detached(run->conn);
    run->conn = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (router == NULL) {
        router = hm_router_new();
        FUZZ_ASSERT(router != NULL);
        for (size_t i = 0; i < HM_ARRAY_SIZE(routes); i++)
            FUZZ_ASSERT(hm_router_add(router, routes[i][0], routes[i][1], (int)i) == HM_OK);
    }
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    data++;
    size--;

    hm_config_t cfg;
    hm_config_defaults(&cfg);
    if (flags & 8) {
        cfg.limits.max_url_bytes = 64;
        cfg.limits.max_header_bytes = 512;
        cfg.limits.max_headers = 8;
        cfg.limits.max_body_bytes = 64;
    }
    static hm_worker_t w;   /* only cfg, draining, id prefix/counter and date are used */
    w.cfg = &cfg;
    w.draining = (flags & 32) != 0;
    snprintf(w.id_prefix, sizeof(w.id_prefix), "fz-0-");

    static const size_t chunks[] = { 1, 3, 7, 16 };
    run_t whole = { .lim = &cfg.limits, .deferred = (flags & 4) != 0 };
    run_t split = whole;
    run_stream(&whole, &w, data, size, 0, (flags & 16) != 0);
    run_stream(&split, &w, data, size, chunks[flags & 3], (flags & 16) != 0);
    if (whole.transcript.len != split.transcript.len ||
        (whole.transcript.len &&
         memcmp(whole.transcript.data, split.transcript.data, whole.transcript.len) != 0)) {
        fprintf(stderr, "--- all at once:\n%.*s--- in chunks of %zu:\n%.*s",
                (int)whole.transcript.len, whole.transcript.data ? whole.transcript.data : "",
                chunks[flags & 3], (int)split.transcript.len,
                split.transcript.data ? split.transcript.data : "");
        FUZZ_ASSERT(!"the split changed the parse");
    }
    hm_buf_free(&whole.transcript);
    hm_buf_free(&split.transcript);
    hm_config_free(&cfg);
    return 0;
}
