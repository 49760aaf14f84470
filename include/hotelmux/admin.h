/* admin.h -- built-in endpoints served in C, before any script route:
 * GET /health, GET /ready, GET /metrics, GET /admin/status, POST /admin/reload
 * (the admin ones need `Authorization: Bearer <admin_token>`). */
#ifndef HM_ADMIN_H
#define HM_ADMIN_H

#include "hotelmux/http_conn.h"
#include "hotelmux/worker.h"

/* 1 if req was a built-in endpoint (answered or being answered), else 0. */
int hm_admin_handle(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req);

/* Answer and count the request in the metrics. */
void hm_admin_respond(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req, const char *route,
                      int status, const hm_header_t *headers, size_t nheaders, const char *body,
                      size_t len);

#endif
