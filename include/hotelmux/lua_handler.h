/* lua_handler.h -- run a script route for a request.
 *
 * The handler gets a `req` table and returns its answer:
 *   req = { method, path, query, args = {decoded query}, headers = {lower-case names},
 *           body, params = {route captures}, id }
 *   return { status = 200, headers = {...}, body = "..." }
 *   return { status = 200, json = <table> }   -- encoded with hm.json
 *   return "text"                             -- 200 text/plain
 *   return nil                                -- 204
 * A handler that raises gives the client a 500 in the JSON envelope; the
 * error and its traceback go to the log. */
#ifndef HM_LUA_HANDLER_H
#define HM_LUA_HANDLER_H

#include "hotelmux/http_conn.h"
#include "hotelmux/worker.h"

void hm_lua_handler_run(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req);

/* Push the req table for `req` (params from the route match may be NULL). */
void hm_lua_push_request(lua_State *L, const hm_request_t *req, const hm_route_match_t *m);

#endif
