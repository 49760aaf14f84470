/* lua_log.c -- hm.log: structured log lines from scripts.
 *
 * The fields JSON is built in a C buffer owned by a Lua userdata (freed by
 * __gc) so that a Lua error raised while rendering (out of memory, a string
 * conversion) cannot leak it; on the normal path it is freed before return.
 * Tables are read with raw access only, so no script code runs while
 * rendering fields; only a __tostring on msg runs, under pcall. */
#include "hotelmux/lua_log.h"
#include "hotelmux/buf.h"
#include "hotelmux/log.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CTX_MT "hm.log.ctx"

typedef struct {
    hm_buf_t out;
    const void *path[HM_LUA_LOG_MAX_DEPTH + 1]; /* tables being rendered, outermost first */
    int truncated;
    int oom;
} log_ctx_t;

static int ctx_gc(lua_State *L)
{
    log_ctx_t *c = luaL_checkudata(L, 1, CTX_MT);
    hm_buf_free(&c->out);
    return 0;
}

/* --- output helpers: after a failed append everything is a no-op --------- */

static void put(log_ctx_t *c, const char *s)
{
    if (!c->oom && hm_buf_puts(&c->out, s) != 0)
        c->oom = 1;
}

static void put_str(log_ctx_t *c, const char *s, size_t n)
{
    if (!c->oom && hm_buf_json_str(&c->out, s, n) != 0)
        c->oom = 1;
}

/* --- scalars ------------------------------------------------------------ */

/* JSON for a number. NaN and infinities are not JSON numbers: quoted. */
static void put_number(log_ctx_t *c, lua_Number v)
{
    char tmp[64];
    if (isnan(v)) {
        put(c, "\"nan\"");
        return;
    }
    if (isinf(v)) {
        put(c, v > 0 ? "\"inf\"" : "\"-inf\"");
        return;
    }
    /* Integral values print without ".0" while exactly representable. */
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    else
        snprintf(tmp, sizeof(tmp), "%.14g", (double)v); /* what tostring() shows */
    put(c, tmp);
}

static int starts_with_ci(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    if (n < p)
        return 0;
    for (size_t i = 0; i < p; i++)
        if (tolower((unsigned char)s[i]) != prefix[i])
            return 0;
    return 1;
}

static int contains_ci(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (starts_with_ci(s + i, n - i, needle))
            return 1;
    return 0;
}

/* Values that carry their own credential, whatever key they sit under. */
static int looks_like_credential(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    return starts_with_ci(s, n, "bearer ") || starts_with_ci(s, n, "basic ") ||
           contains_ci(s, n, "signature=") || contains_ci(s, n, "apikey=");
}

static void put_string_value(log_ctx_t *c, const char *s, size_t n)
{
    if (looks_like_credential(s, n))
        put(c, "\"[redacted]\"");
    else
        put_str(c, s, n);
}

/* --- tables ------------------------------------------------------------- */

static void render_value(lua_State *L, log_ctx_t *c, int idx, int depth);

static int is_reserved_key(const char *k)
{
    static const char *const names[] = {
        "ts", "level", "worker", "request_id", "msg", "src", "fields_error", "fields_truncated",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(k, names[i]) == 0)
            return 1;
    return 0;
}

/* Write the key at kidx as a JSON string; returns whether it names a secret.
 * Reads the key without converting it: lua_tolstring on a number key would
 * change it in place and break lua_next. */
static int put_key(lua_State *L, log_ctx_t *c, int kidx, int top)
{
    switch (lua_type(L, kidx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *k = lua_tolstring(L, kidx, &n);
        if (top && is_reserved_key(k)) {
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "_%s", k);
            put_str(c, tmp, strlen(tmp));
        } else {
            put_str(c, k, n);
        }
        return hm_log_is_secret_key(k, n);
    }
    case LUA_TNUMBER: {
        char tmp[64];
        lua_Number v = lua_tonumber(L, kidx);
        if (v == floor(v) && fabs(v) < 9007199254740992.0)
            snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
        else
            snprintf(tmp, sizeof(tmp), "%.14g", (double)v);
        put_str(c, tmp, strlen(tmp));
        return 0;
    }
    case LUA_TBOOLEAN:
        put(c, lua_toboolean(L, kidx) ? "\"true\"" : "\"false\"");
        return 0;
    default: {
        const char *t = luaL_typename(L, kidx);
        put_str(c, t, strlen(t));
        return 0;
    }
    }
}

static int over_budget(log_ctx_t *c)
{
    if (c->oom)
        return 1;
    if (c->out.len > HM_LUA_LOG_MAX_FIELDS) {
        c->truncated = 1;
        return 1;
    }
    return 0;
}

/* Members of the table at idx as "k":v pairs. At the top level each member
 * is preceded by a comma (it follows "src"); inside an object they are
 * comma-separated. */
static void render_members(lua_State *L, log_ctx_t *c, int idx, int depth, int top)
{
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (over_budget(c)) {
            lua_pop(L, 2);
            break;
        }
        if (top || !first)
            put(c, ",");
        first = 0;
        int secret = put_key(L, c, lua_gettop(L) - 1, top);
        put(c, ":");
        if (secret)
            put(c, "\"[redacted]\"");
        else
            render_value(L, c, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
}

/* Array when the keys are exactly 1..n (n > 0); otherwise an object. */
static size_t array_length(lua_State *L, int idx)
{
    size_t n = lua_objlen(L, idx), count = 0;
    int is_array = n > 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        count++;
        if (is_array) {
            lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
            if (!(k >= 1 && k <= (lua_Number)n && k == floor(k)))
                is_array = 0;
        }
        lua_pop(L, 1);
    }
    return is_array && count == n ? n : 0;
}

static void render_table(lua_State *L, log_ctx_t *c, int idx, int depth)
{
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < depth; i++) {
        if (c->path[i] == self) {
            put(c, "\"[cycle]\"");
            return;
        }
    }
    if (depth > HM_LUA_LOG_MAX_DEPTH) {
        put(c, "\"[too deep]\"");
        return;
    }
    c->path[depth] = self;
    luaL_checkstack(L, 4, "log fields");
    size_t n = array_length(L, idx);
    if (n == 0) {
        put(c, "{");
        render_members(L, c, idx, depth, 0);
        put(c, "}");
        return;
    }
    put(c, "[");
    for (size_t i = 1; i <= n; i++) {
        if (over_budget(c))
            break;
        if (i > 1)
            put(c, ",");
        lua_rawgeti(L, idx, (int)i);
        render_value(L, c, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    put(c, "]");
}

/* idx is absolute; depth is the nesting level a table here would have. */
static void render_value(lua_State *L, log_ctx_t *c, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        put_string_value(c, s, n);
        break;
    }
    case LUA_TNUMBER:
        put_number(c, lua_tonumber(L, idx));
        break;
    case LUA_TBOOLEAN:
        put(c, lua_toboolean(L, idx) ? "true" : "false");
        break;
    case LUA_TNIL:
        put(c, "null");
        break;
    case LUA_TTABLE:
        render_table(L, c, idx, depth);
        break;
    default: {
        const char *t = luaL_typename(L, idx);
        put_str(c, t, strlen(t));
        break;
    }
    }
}

/* --- message ------------------------------------------------------------ */

static int call_tostring(lua_State *L)
{
    if (!luaL_callmeta(L, 1, "__tostring") || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "'__tostring' must return a string");
    return 1;
}

/* Push the value at idx converted as tostring() would. */
static void push_message(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        lua_pushvalue(L, idx);
        return;
    case LUA_TNUMBER:
        lua_pushvalue(L, idx);
        lua_tolstring(L, -1, NULL); /* converts the copy, not the argument */
        return;
    case LUA_TNIL:
    case LUA_TNONE:
        lua_pushliteral(L, "nil");
        return;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        return;
    default:
        break;
    }
    if (luaL_getmetafield(L, idx, "__tostring")) {
        lua_pop(L, 1);
        lua_pushcfunction(L, call_tostring);
        lua_pushvalue(L, idx);
        if (lua_pcall(L, 1, 1, 0) != 0) {
            const char *err = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            lua_pushfstring(L, "(tostring failed: %s)", err);
            lua_remove(L, -2);
        }
        return;
    }
    lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
}

/* --- entry point -------------------------------------------------------- */

/* Upvalue 1: level, upvalue 2: the ctx metatable. */
static int l_log(lua_State *L)
{
    hm_log_level_t level = (hm_log_level_t)lua_tointeger(L, lua_upvalueindex(1));
    lua_settop(L, 2);

    /* The caller's position, read before anything is called from here. */
    char src[LUA_IDSIZE + 24] = "?";
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        if (ar.currentline > 0)
            snprintf(src, sizeof(src), "%s:%d", ar.short_src, ar.currentline);
        else
            snprintf(src, sizeof(src), "%s", ar.short_src);
    }

    log_ctx_t *c = lua_newuserdata(L, sizeof(*c)); /* index 3 */
    memset(c, 0, sizeof(*c));
    c->out = (hm_buf_t)HM_BUF_INIT;
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_setmetatable(L, -2);

    push_message(L, 1); /* index 4 */

    put(c, "\"src\":");
    put_str(c, src, strlen(src));
    if (lua_type(L, 2) == LUA_TTABLE) {
        c->path[0] = lua_topointer(L, 2);
        render_members(L, c, 2, 0, 1);
    } else if (!lua_isnil(L, 2)) {
        put(c, ",\"fields_error\":\"not a table\"");
    }
    if (c->truncated)
        put(c, ",\"fields_truncated\":true");
    if (c->oom) {
        /* Keep the line, lose the fields. */
        hm_buf_free(&c->out);
        c->oom = 0;
        put(c, "\"src\":");
        put_str(c, src, strlen(src));
        put(c, ",\"fields_error\":\"out of memory\"");
    }

    hm_log_fields(level, c->oom ? NULL : c->out.data, "%s", lua_tostring(L, 4));
    hm_buf_free(&c->out);
    return 0;
}

int hm_lua_log_open(lua_State *L)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    static const hm_log_level_t levels[] = { HM_LOG_DEBUG, HM_LOG_INFO, HM_LOG_WARN, HM_LOG_ERROR };

    luaL_newmetatable(L, CTX_MT);
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        lua_pushinteger(L, levels[i]);
        luaL_getmetatable(L, CTX_MT);
        lua_pushcclosure(L, l_log, 2);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}
