/* lua_handler.c -- from an HTTP request to a script's coroutine and back. */
#include "hotelmux/lua_handler.h"
#include "hotelmux/lua_body.h"
#include "hotelmux/answer_memo.h"
#include "hotelmux/ari.h"
#include "hotelmux/admin.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/metrics.h"
#include "hotelmux/task.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* Push the form-decoded s[0..n) ('+' is a space, %XX a byte). */
static void push_decoded(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            luaL_addchar(&b, ' ');
        } else if (s[i] == '%' && i + 2 < n && (hi = hm_hexval((unsigned char)s[i + 1])) >= 0 &&
                   (lo = hm_hexval((unsigned char)s[i + 2])) >= 0) {
            luaL_addchar(&b, (char)(hi * 16 + lo));
            i += 2;
        } else {
            luaL_addchar(&b, s[i]);
        }
    }
    luaL_pushresult(&b);
}

static void push_args(lua_State *L, const char *q, size_t n)
{
    lua_newtable(L);
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && q[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
            push_decoded(L, q + i, klen);
            if (eq)
                push_decoded(L, eq + 1, (size_t)(q + end - eq - 1));
            else
                lua_pushliteral(L, "");
            lua_settable(L, -3); /* a repeated key: the last one wins */
        }
        i = end + 1;
    }
}

void hm_lua_push_request(lua_State *L, const hm_request_t *req, const hm_route_match_t *m)
{
    lua_createtable(L, 0, 9);
    lua_pushlstring(L, req->method, req->method_len);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, req->path, req->path_len);
    lua_setfield(L, -2, "path");
    lua_pushlstring(L, req->query, req->query_len);
    lua_setfield(L, -2, "query");
    push_args(L, req->query, req->query_len);
    lua_setfield(L, -2, "args");
    lua_createtable(L, 0, (int)req->nheaders);
    for (size_t i = 0; i < req->nheaders; i++) {
        /* The table is new and has no metatable: raw access, and the name is
         * interned once (not once for the lookup and again for the store). */
        lua_pushstring(L, req->headers[i].name);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isstring(L, -1)) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, req->headers[i].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, req->headers[i].value);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, req->body, req->body_len);
    lua_setfield(L, -2, "body");
    lua_createtable(L, 0, m ? (int)m->nparams : 0);
    for (size_t i = 0; m && i < m->nparams; i++) {
        push_decoded(L, m->params[i].value, m->params[i].len);
        lua_setfield(L, -2, m->params[i].name);
    }
    lua_setfield(L, -2, "params");
    lua_pushstring(L, req->id);
    lua_setfield(L, -2, "id");
}

static void record(hm_task_t *t, int status)
{
    hm_metrics_http_request(t->vm->worker->id, t->route, t->method, status,
                            (double)(uv_hrtime() - t->start_ns) / 1e9);
}

static void fail(hm_task_t *t, hm_conn_t *c, const char *why)
{
    if (why)
        hm_log(HM_LOG_ERROR, "route %s: %s", t->route, why);
    record(t, 500);
    if (c == NULL)
        return;
    char body[160];
    int n = snprintf(body, sizeof(body),
                     "{\"code\":500,\"msg\":\"internal server error\",\"data\":null,"
                     "\"requestId\":\"%s\"}", t->request_id);
    hm_header_t h = { "Content-Type", "application/json" };
    hm_conn_respond(c, 500, &h, 1, body, (size_t)n);
}

#define MAX_RESPONSE_HEADERS 64

/* Turn what the handler returned (at co's index 1) into the response. */
static void on_done(hm_task_t *t, int ok, lua_State *co, int nres)
{
    hm_conn_t *c = t->data;
    if (!ok) {
        fail(t, c, NULL); /* already logged with its traceback */
        return;
    }
    int type = nres > 0 ? lua_type(co, 1) : LUA_TNIL;
    hm_header_t hdrs[MAX_RESPONSE_HEADERS];
    size_t nh = 0, len = 0;
    const char *body = NULL;
    int status = 200, body_idx = 0;
    if (type == LUA_TNIL) {
        status = 204;
    } else if (type == LUA_TSTRING) {
        body = lua_tolstring(co, 1, &len);
        hdrs[nh++] = (hm_header_t){ "Content-Type", "text/plain; charset=utf-8" };
    } else if (type == LUA_TTABLE) {
        lua_getfield(co, 1, "status");
        if (!lua_isnil(co, -1)) {
            lua_Number s = lua_tonumber(co, -1);
            if (lua_type(co, -1) != LUA_TNUMBER || s != (lua_Number)(int)s || s < 100 || s > 599) {
                fail(t, c, "handler returned a bad status (must be an integer 100..599)");
                return;
            }
            status = (int)s;
        }
        lua_getfield(co, 1, "headers");
        int hidx = lua_gettop(co), has_ct = 0;
        if (lua_istable(co, hidx)) {
            lua_pushnil(co);
            while (lua_next(co, hidx)) {
                if (lua_type(co, -2) != LUA_TSTRING ||
                    (lua_type(co, -1) != LUA_TSTRING && lua_type(co, -1) != LUA_TNUMBER)) {
                    fail(t, c, "handler returned headers that are not name = string pairs");
                    return;
                }
                if (nh == MAX_RESPONSE_HEADERS) {
                    fail(t, c, "handler returned too many headers");
                    return;
                }
                if (lua_type(co, -1) == LUA_TNUMBER) {
                    /* Store the text form back so the string stays anchored
                     * by the table (setting an existing key is allowed mid-next). */
                    lua_tostring(co, -1);
                    lua_pushvalue(co, -2);
                    lua_pushvalue(co, -2);
                    lua_rawset(co, hidx);
                }
                const char *name = lua_tostring(co, -2), *value = lua_tostring(co, -1);
                if (strcasecmp(name, "content-type") == 0)
                    has_ct = 1;
                /* The connection owns framing headers. */
                if (strcasecmp(name, "content-length") != 0 && strcasecmp(name, "connection") != 0 &&
                    strcasecmp(name, "date") != 0 && strcasecmp(name, "transfer-encoding") != 0)
                    hdrs[nh++] = (hm_header_t){ name, value };
                lua_pop(co, 1);
            }
        } else if (!lua_isnil(co, hidx)) {
            fail(t, c, "handler returned headers that are not a table");
            return;
        }
        lua_getfield(co, 1, "json");
        if (!lua_isnil(co, -1)) {
            lua_rawgeti(co, LUA_REGISTRYINDEX, t->vm->json_encode_ref);
            lua_insert(co, -2);
            if (lua_pcall(co, 1, 1, 0) != 0) {
                char why[300];
                snprintf(why, sizeof(why), "cannot encode json: %s", lua_tostring(co, -1));
                fail(t, c, why);
                return;
            }
            body = lua_tolstring(co, -1, &len);
            if (!has_ct && nh < MAX_RESPONSE_HEADERS)
                hdrs[nh++] = (hm_header_t){ "Content-Type", "application/json" };
        } else {
            lua_pop(co, 1);
            lua_getfield(co, 1, "body");
            if (lua_type(co, -1) == LUA_TSTRING) {
                body = lua_tolstring(co, -1, &len);
            } else if (lua_type(co, -1) == LUA_TUSERDATA && (body = hm_lua_body_bytes(co, -1, &len))) {
                /* made in C (hm.cache.answer): written as it is, then freed */
                body_idx = lua_gettop(co);
            } else if (!lua_isnil(co, -1)) {
                fail(t, c, "handler returned a body that is not a string");
                return;
            }
        }
    } else {
        char why[96];
        snprintf(why, sizeof(why), "handler returned a %s (expected a table, string or nil)",
                 lua_typename(co, type));
        fail(t, c, why);
        return;
    }
    record(t, status);
    if (c)
        hm_conn_respond(c, status, hdrs, nh, body ? body : "", body ? len : 0);
    /* The connection wrote it or copied what it could not write yet: free a
     * C-made body now, not when the GC (which sees a few bytes of userdata
     * for tens of KB of malloc) gets to it. */
    if (body_idx)
        hm_lua_body_free(co, body_idx);
}

void hm_lua_handler_run(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    hm_vm_t *vm = w->vm;
    hm_route_match_t m;
    char allow[128];
    if (vm == NULL) {
        hm_conn_respond_error(c, 503, "no scripts loaded");
        return;
    }
    int rc = hm_router_match(vm->router, req->method, req->method_len, req->path, req->path_len,
                             &m, allow, sizeof(allow));
    if (rc == HM_ENOENT) {
        const char *body = "{\"code\":404,\"msg\":\"not found\",\"data\":null}";
        hm_header_t h = { "Content-Type", "application/json" };
        hm_admin_respond(w, c, req, "(unmatched)", 404, &h, 1, body, strlen(body));
        return;
    }
    if (rc == HM_ESTATE) {
        const char *body = "{\"code\":405,\"msg\":\"method not allowed\",\"data\":null}";
        hm_header_t h[2] = { { "Content-Type", "application/json" }, { "Allow", allow } };
        hm_admin_respond(w, c, req, "(unmatched)", 405, h, 2, body, strlen(body));
        return;
    }
    /* By the path and by the route it matched: no spelling of an ARI path
     * reaches a handler without the mark, nor the answer memo. */
    int ari = hm_ari_path(req->path, req->path_len) || hm_ari_path(m.pattern, strlen(m.pattern));
    if (!ari && vm->memo && hm_answer_memo_serve(vm->memo, w, c, req, m.pattern))
        return;
    hm_task_t *t = hm_task_new(vm, on_done, c, req->id);
    if (t == NULL) {
        hm_conn_respond_error(c, 503, "out of memory");
        return;
    }
    t->route = m.pattern;
    t->ari = ari;
    t->start_ns = req->start_ns;
    /* what snprintf("%.*s") did, without the printf machinery on every request */
    size_t mlen = req->method_len < sizeof(t->method) - 1 ? req->method_len : sizeof(t->method) - 1;
    memcpy(t->method, req->method, mlen);
    t->method[mlen] = '\0';
    lua_State *co = t->co;
    lua_rawgeti(co, LUA_REGISTRYINDEX, m.handler);
    hm_lua_push_request(co, req, &m);
    hm_conn_set_task(c, t);
    hm_task_run(t, 1);
}
