/* lua_http.c -- hm.http.request / hm.http.multi on the worker's hm_client.
 *
 * The calling coroutine yields until every request it started has finished;
 * other requests keep being served meanwhile. */
#include "hotelmux/lua_http.h"
#include "hotelmux/client.h"
#include "hotelmux/common.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define MULTI_MAX 1000

typedef struct wait_s wait_t;

typedef struct {
    wait_t *wait;
    size_t index;
    hm_client_op_t *op;   /* NULL once finished */
} slot_t;

struct wait_s {
    hm_task_t *task;
    int multi;            /* 1: results go into the table at results_ref */
    int results_ref;
    size_t remaining, n;
    slot_t slots[];
};

/* Push {status, headers, body} for a finished response onto L. */
static void push_response(lua_State *L, const hm_client_res_t *res)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)res->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, (int)res->nheaders);
    for (size_t i = 0; i < res->nheaders; i++) {
        /* Repeated headers are joined with ", " (RFC 9110 5.3); set-cookie
         * is the exception nobody here needs. */
        lua_getfield(L, -1, res->headers[i].name);
        if (lua_isstring(L, -1)) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, res->headers[i].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, res->headers[i].value);
        }
        lua_setfield(L, -2, res->headers[i].name);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body ? res->body : "", res->body ? res->body_len : 0);
    lua_setfield(L, -2, "body");
}

static const char *error_text(const hm_client_res_t *res)
{
    if (res->error == HM_ETIMEDOUT)
        return "timeout";
    return res->errmsg && res->errmsg[0] ? res->errmsg : "request failed";
}

/* The request's own task: fan-out jobs run as children of it. */
static hm_task_t *root_of(hm_task_t *t)
{
    while (t->parent)
        t = t->parent;
    return t;
}

static void on_done(void *data, const hm_client_res_t *res)
{
    slot_t *slot = data;
    wait_t *w = slot->wait;
    lua_State *co = w->task->co;
    slot->op = NULL;
    root_of(w->task)->upstream_last_ns = uv_hrtime();
    if (w->multi) {
        lua_rawgeti(co, LUA_REGISTRYINDEX, w->results_ref);
        if (res->error) {
            lua_createtable(co, 0, 1);
            lua_pushstring(co, error_text(res));
            lua_setfield(co, -2, "error");
        } else {
            push_response(co, res);
        }
        lua_rawseti(co, -2, (int)slot->index + 1);
        lua_pop(co, 1);
    } else if (res->error) {
        lua_pushnil(co);
        lua_pushstring(co, error_text(res));
    } else {
        push_response(co, res);
    }
    if (--w->remaining > 0)
        return;
    hm_task_t *t = w->task;
    int nargs = 1;
    if (w->multi) {
        lua_rawgeti(co, LUA_REGISTRYINDEX, w->results_ref);
        luaL_unref(co, LUA_REGISTRYINDEX, w->results_ref);
    } else {
        nargs = res->error ? 2 : 1;
    }
    free(w);
    hm_task_wake(t, nargs);
}

static void wait_cancel(hm_task_t *t, void *data)
{
    wait_t *w = data;
    for (size_t i = 0; i < w->n; i++)
        if (w->slots[i].op)
            hm_client_cancel(t->vm->worker->client, w->slots[i].op);
    if (w->multi)
        luaL_unref(t->vm->L, LUA_REGISTRYINDEX, w->results_ref);
    free(w);
}

/* Read the request table at idx into req; header storage goes to hdrs
 * (caller frees). Raises on bad input, so allocate nothing before the checks
 * that can raise... except hdrs, which the caller owns via a userdata. */
static void read_request(lua_State *L, int idx, hm_client_req_t *req, hm_header_t **hdrs)
{
    memset(req, 0, sizeof(*req));
    if (!lua_istable(L, idx))
        luaL_error(L, "hm.http: request must be a table {url=..., method=..., headers=..., body=...}");
    lua_getfield(L, idx, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "hm.http: request.url must be a string");
    req->url = lua_tostring(L, -1);
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)
        luaL_error(L, "hm.http: request.url must start with http:// or https:// (got '%s')",
                   req->url);
    lua_pop(L, 1); /* the string stays anchored by the request table */
    lua_getfield(L, idx, "method");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "hm.http: request.method must be a string");
        req->method = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "hm.http: request.body must be a string");
        req->body = lua_tolstring(L, -1, &req->body_len);
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "timeout_ms");
    if (!lua_isnil(L, -1)) {
        lua_Number ms = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(ms > 0) || ms > 3600000)
            luaL_error(L, "hm.http: request.timeout_ms must be a number in (0, 3600000]");
        req->timeout_ms = (long)ms;
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    if (lua_istable(L, -1)) {
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "hm.http: request.headers must map names to string values");
            n++;
            lua_pop(L, 1);
        }
        *hdrs = calloc(n ? n : 1, sizeof(hm_header_t));
        if (*hdrs == NULL)
            luaL_error(L, "hm.http: out of memory");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            /* both strings are anchored by the headers table */
            (*hdrs)[req->nheaders].name = lua_tostring(L, -2);
            (*hdrs)[req->nheaders].value = lua_tostring(L, -1);
            req->nheaders++;
            lua_pop(L, 1);
        }
        req->headers = *hdrs;
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "hm.http: request.headers must be a table");
    }
    lua_pop(L, 1);
}

/* Start requests for the tables at stack indexes first..first+n-1. */
static int start(lua_State *L, const char *what, int first, size_t n, int multi)
{
    hm_task_t *t = hm_task_current(L, what);
    hm_client_t *client = t->vm->worker->client;
    /* Validate everything before starting anything, so a bad entry in a
     * multi never leaves requests running. */
    for (size_t i = 0; i < n; i++) {
        hm_header_t *hdrs = NULL;
        hm_client_req_t tmp;
        read_request(L, first + (int)i, &tmp, &hdrs);
        free(hdrs);
    }
    wait_t *w = calloc(1, sizeof(*w) + n * sizeof(slot_t));
    if (w == NULL)
        return luaL_error(L, "%s: out of memory", what);
    w->task = t;
    w->multi = multi;
    w->n = n;
    hm_task_t *root = root_of(t);
    if (!root->upstream_first_ns)
        root->upstream_first_ns = uv_hrtime();
    if (multi) {
        lua_createtable(L, (int)n, 0);
        w->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    for (size_t i = 0; i < n; i++) {
        hm_header_t *hdrs = NULL;
        hm_client_req_t req;
        read_request(L, first + (int)i, &req, &hdrs); /* validated above: cannot raise */
        req.request_id = t->request_id[0] ? t->request_id : NULL;
        w->slots[i].wait = w;
        w->slots[i].index = i;
        int rc = hm_client_request(client, &req, on_done, &w->slots[i], &w->slots[i].op);
        free(hdrs);
        if (rc != 0) {
            for (size_t k = 0; k < i; k++)
                hm_client_cancel(client, w->slots[k].op);
            if (multi)
                luaL_unref(L, LUA_REGISTRYINDEX, w->results_ref);
            free(w);
            return luaL_error(L, "%s: cannot start request: %s", what, hm_strerror(rc));
        }
        w->remaining++;
    }
    hm_task_suspend(t, wait_cancel, w);
    return lua_yield(L, 0);
}

static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    return start(L, "hm.http.request", 1, 1, 0);
}

static int l_multi(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = lua_objlen(L, 1);
    if (n == 0) {
        lua_newtable(L);
        return 1;
    }
    if (n > MULTI_MAX)
        return luaL_error(L, "hm.http.multi: at most %d requests at once", MULTI_MAX);
    lua_settop(L, 1);
    luaL_checkstack(L, (int)n + 8, "hm.http.multi");
    for (size_t i = 1; i <= n; i++)
        lua_rawgeti(L, 1, (int)i);
    return start(L, "hm.http.multi", 2, n, 1);
}

/* hm.http.span() -> seconds from this request's first outbound call to its
 * last answer (nil before any answer, or outside a request): the time spent
 * waiting on suppliers, so a handler can tell it from its own (Server-Timing). */
static int l_span(lua_State *L)
{
    hm_task_t *cur = hm_vm_upvalue(L)->current;   /* nil outside a request: nothing to report */
    if (!cur)
        return 0;
    hm_task_t *t = root_of(cur);
    if (!t->upstream_first_ns || t->upstream_last_ns < t->upstream_first_ns)
        return 0;
    lua_pushnumber(L, (double)(t->upstream_last_ns - t->upstream_first_ns) / 1e9);
    return 1;
}

void hm_lua_http_open(lua_State *L, hm_vm_t *vm)
{
    lua_newtable(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_request, 1);
    lua_setfield(L, -2, "request");
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_multi, 1);
    lua_setfield(L, -2, "multi");
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_span, 1);
    lua_setfield(L, -2, "span");
}
