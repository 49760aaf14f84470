/* lua_http.h -- hm.http: outbound HTTP from scripts, yielding the coroutine.
 *
 *   local res, err = hm.http.request{ method=, url=, headers=, body=, timeout_ms= }
 *     res = { status = 200, headers = { ["content-type"] = "..." }, body = "..." }
 *     err = "timeout" | "<transport error text>" (res is nil then)
 *   local results = hm.http.multi{ req1, req2, ... }
 *     runs them concurrently; results[i] is req i's res table, or
 *     { error = "..." } when it failed. Returns when all are done. */
#ifndef HM_LUA_HTTP_H
#define HM_LUA_HTTP_H

#include "hotelmux/lua_vm.h"

/* Pushes the hm.http table (closures bound to vm). */
void hm_lua_http_open(lua_State *L, hm_vm_t *vm);

#endif
