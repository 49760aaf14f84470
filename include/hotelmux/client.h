/* client.h -- outbound HTTP(S): libcurl multi driven by a libuv loop.
 *
 * One hm_client_t per worker loop. Connections are kept alive and reused
 * through the multi handle's connection cache; responses are decompressed
 * (Accept-Encoding: gzip, deflate). Nothing blocks the loop: curl's sockets are
 * watched with uv_poll and its timeouts with a uv_timer
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION).
 *
 * Ownership: the request struct and its strings are copied by
 * hm_client_request(); the response passed to the callback (and every pointer
 * in it) is valid only during the callback. */
#ifndef HM_CLIENT_H
#define HM_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct hm_client_s hm_client_t;
typedef struct hm_client_op_s hm_client_op_t;

typedef struct {
    const char *name;
    const char *value;
} hm_header_t;

typedef struct {
    const char *method;          /* NULL = "GET" */
    const char *url;             /* http:// or https:// */
    const hm_header_t *headers;  /* may be NULL */
    size_t nheaders;
    const char *body;            /* may be NULL */
    size_t body_len;
    long timeout_ms;             /* whole-request timeout; <= 0 = client default (30 s) */
    const char *request_id;      /* sent as X-Request-Id when non-NULL */
} hm_client_req_t;

typedef struct {
    int error;                   /* 0, HM_ETIMEDOUT or HM_EIO */
    const char *errmsg;          /* human text when error != 0 */
    long status;                 /* HTTP status, 0 when no answer */
    const hm_header_t *headers;  /* response headers, names lower-cased, in order */
    size_t nheaders;
    const char *body;            /* decoded body (NUL-terminated) */
    size_t body_len;
    double seconds;              /* wall time from start to completion */
} hm_client_res_t;

typedef void (*hm_client_cb)(void *data, const hm_client_res_t *res);

/* Once per process, before any thread uses the client (curl_global_init). */
int hm_client_global_init(void);
void hm_client_global_cleanup(void);

/* worker: the worker index for metrics (hm_metrics_outbound). */
hm_client_t *hm_client_new(uv_loop_t *loop, int worker);

/* Start a request; cb runs exactly once from the loop (never from inside this call)
 * unless the op is cancelled first. *op_out (optional) identifies it for cancel. */
int hm_client_request(hm_client_t *c, const hm_client_req_t *req, hm_client_cb cb, void *data,
                      hm_client_op_t **op_out);

/* Abort an op in flight; its callback will not run. */
void hm_client_cancel(hm_client_t *c, hm_client_op_t *op);

/* Number of ops in flight (for drain and tests). */
size_t hm_client_pending(const hm_client_t *c);

/* Cancel everything and close the loop handles; the client is freed once its
 * handles are closed (run the loop until then). */
void hm_client_close(hm_client_t *c);

#endif
