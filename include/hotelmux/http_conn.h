/* http_conn.h -- one client connection: HTTP/1.1 parsing (llhttp), limits,
 * timeouts and response writing.
 *
 * A connection handles one request at a time: when a request is complete the
 * parser is paused and reading stops until the response is written, so
 * pipelined requests are answered in order and a client cannot make us buffer
 * unbounded input. */
#ifndef HM_HTTP_CONN_H
#define HM_HTTP_CONN_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hotelmux/buf.h"
#include "hotelmux/client.h"

struct hm_worker_s;
struct hm_task_s;

#define HM_REQUEST_ID_MAX 64

typedef struct {
    const char *method;
    size_t method_len;
    const char *path;          /* origin-form path, without the query */
    size_t path_len;
    const char *query;         /* after '?', may be empty */
    size_t query_len;
    hm_header_t *headers;      /* names lower-cased, NUL-terminated */
    size_t nheaders;
    const char *body;
    size_t body_len;
    int http_minor;            /* 0 or 1 (major is always 1) */
    int head;                  /* HEAD: the response carries no body */
    char id[HM_REQUEST_ID_MAX];
    uint64_t start_ns;         /* uv_hrtime() at the first byte */
} hm_request_t;

typedef struct hm_conn_s hm_conn_t;

/* Accept a connection from the worker's listener. */
void hm_conn_accept(struct hm_worker_s *w, uv_stream_t *listener);

/* Send the response to the request being handled, then continue with the next
 * one (or close). `headers` must not include Date, Content-Length or
 * Connection: the connection adds them. */
void hm_conn_respond(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                     const char *body, size_t body_len);
/* The same, the body sent as prefix then body (a small per-request part
 * before a large shared one, without joining them first). hm_conn_respond
 * gzips a JSON or text body of gzip_min_bytes or more for a client that
 * accepts it; the prefixed form sends what it is given (the answer memo
 * frames its own gzip answers, gzip.h). */
void hm_conn_respond_prefixed(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                              const char *prefix, size_t prefix_len, const char *body, size_t body_len);
/* Does this request's client accept gzip, and is gzip on (gzip_level > 0)? */
int hm_conn_wants_gzip(const hm_conn_t *c);
/* A body already gzip'd (gzip.h), sent with Content-Encoding and Vary added
 * to headers (at most 14: HM_EINVAL and nothing sent beyond that). */
int hm_conn_respond_gzipped(hm_conn_t *c, int status, const hm_header_t *headers, size_t nheaders,
                            const char *gz, size_t gz_len);
/* A JSON error in the client API envelope: {"code":status,"msg":msg,"data":null}. */
void hm_conn_respond_error(hm_conn_t *c, int status, const char *msg);

const hm_request_t *hm_conn_request(const hm_conn_t *c);
/* The task working on this connection's request (the conn tells it when it goes away). */
void hm_conn_set_task(hm_conn_t *c, struct hm_task_s *t);
/* Admin reload waits: the worker finds the connection again by ticket. */
void hm_conn_set_ticket(hm_conn_t *c, uint64_t ticket);
uint64_t hm_conn_ticket(const hm_conn_t *c);

/* The worker's connection list (for drain and admin replies). */
hm_conn_t *hm_conn_next(const hm_conn_t *c);

/* Shutdown: close now if idle; otherwise close after the current response. */
void hm_conn_drain(hm_conn_t *c);
/* Close at once (drain timeout). */
void hm_conn_close(hm_conn_t *c);

const char *hm_status_text(int status);

/* ---- detached connections: the same parser, limits, smuggling checks and
 * response writing, with no socket, timers or worker (tests and fuzzing).
 * Bytes come in through hm_conn_feed (as if read from the socket); each
 * complete request goes to io->request instead of the worker, which answers
 * it with hm_conn_respond (then or later); every byte the connection would
 * send goes to io->output. w supplies only cfg->limits, cfg->access_log,
 * draining, the request-id prefix and counter, and the Date cache. */
typedef struct {
    void (*request)(void *ud, hm_conn_t *c, const hm_request_t *req);
    void (*output)(void *ud, const char *data, size_t len);
    void *ud;
} hm_conn_io_t;

enum { HM_CONN_READING, HM_CONN_PAUSED, HM_CONN_HANDLING, HM_CONN_LINGER, HM_CONN_CLOSED };

hm_conn_t *hm_conn_new_detached(struct hm_worker_s *w, const hm_conn_io_t *io);
/* Returns how many bytes the connection took: fewer than len when it stopped
 * reading (backpressure, or closed); in LINGER bytes are taken and dropped. */
size_t hm_conn_feed(hm_conn_t *c, const char *data, size_t len);
/* The client half-closed (what a read of EOF does). */
void hm_conn_feed_eof(hm_conn_t *c);
int hm_conn_detached_state(const hm_conn_t *c);
void hm_conn_free_detached(hm_conn_t *c);

#endif
