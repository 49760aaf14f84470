/* fuzz_config.c -- hm_config_from_lua and hm_config_parse_listen on random input.
 *
 * Running random bytes as Lua would mostly fuzz LuaJIT (and hang on loops), so
 * the input is instead decoded into a config table: a sequence of
 * (key, typed value) records, keys drawn from the real field names (plus
 * limits.* and unknown ones), values of every Lua type the reader may meet,
 * numbers as raw doubles (NaN, inf, -0, huge...). The same bytes are also
 * given to hm_config_parse_listen as a string. Invariants:
 *   - the Lua stack is balanced; the result is OK or EINVAL with a message
 *     that starts "config: ";
 *   - on OK every value is inside its documented range and paths are absolute;
 *   - a deep copy compares equal; free releases everything (LeakSanitizer). */
#include "fuzz_main.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/config.h"

static const char *const top_keys[] = { "listen", "workers", "admin_token", "log_level", "limits",
                                        "scripts", "lua_path", "redis", "redis_timeout_ms",
                                        "suppliers" };
static const char *const limit_keys[] = { "max_connections", "max_header_bytes", "max_url_bytes",
                                          "max_headers", "max_body_bytes", "header_timeout_ms",
                                          "body_timeout_ms", "keepalive_timeout_ms",
                                          "drain_timeout_ms" };

typedef struct {
    const uint8_t *p, *end;
} reader_t;

static int rd_byte(reader_t *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static void push_value(lua_State *L, reader_t *r, int depth);

static void push_string(lua_State *L, reader_t *r)
{
    size_t n = (size_t)rd_byte(r) % 48;
    if (n > (size_t)(r->end - r->p))
        n = (size_t)(r->end - r->p);
    lua_pushlstring(L, (const char *)r->p, n);
    r->p += n;
}

static void push_table(lua_State *L, reader_t *r, int depth, int limits)
{
    lua_newtable(L);
    int n = rd_byte(r) % 10;
    for (int i = 0; i < n && r->p < r->end; i++) {
        int k = rd_byte(r);
        if (limits && k % 4 != 3)
            lua_pushstring(L, limit_keys[(size_t)k % HM_ARRAY_SIZE(limit_keys)]);
        else if (k % 3 == 0)
            lua_pushinteger(L, (k / 3) % 140 + 1);   /* array part, up to past the limits */
        else
            push_string(L, r);
        push_value(L, r, depth + 1);
        if (lua_isnil(L, -2) || lua_isnil(L, -1)) {
            lua_pop(L, 2);
            continue;
        }
        lua_rawset(L, -3);
    }
}

static void push_value(lua_State *L, reader_t *r, int depth)
{
    int t = rd_byte(r);
    switch (depth > 3 ? t % 6 : t % 9) {
    case 0: lua_pushnil(L); break;
    case 1: lua_pushboolean(L, t & 0x10); break;
    case 2: {   /* a raw double: every bit pattern, NaNs and infinities included */
        double d = 0;
        size_t n = (size_t)(r->end - r->p) < sizeof(d) ? (size_t)(r->end - r->p) : sizeof(d);
        memcpy(&d, r->p, n);
        r->p += n;
        lua_pushnumber(L, d);
        break;
    }
    case 3: lua_pushnumber(L, (double)(rd_byte(r) | rd_byte(r) << 8) - 64); break;
    case 4: {   /* near the edges of the ranges */
        static const double edges[] = { 0, 1, 63, 64, 255, 256, 10000, 10001, 3600000, 3600001,
                                        4294967296.0, 4294967297.0, 1e7, 1e7 + 1, -1, 0.5,
                                        9.2233720368547758e18, 1.8446744073709552e19, 1e300,
                                        -0.0 };
        lua_pushnumber(L, edges[(size_t)rd_byte(r) % HM_ARRAY_SIZE(edges)]);
        break;
    }
    case 5: push_string(L, r); break;
    case 6: push_table(L, r, depth, 0); break;
    case 7: push_table(L, r, depth, 1); break;
    default: {   /* a list of strings, as scripts/lua_path want */
        lua_newtable(L);
        int n = rd_byte(r) % 20;
        for (int i = 1; i <= n; i++) {
            push_string(L, r);
            lua_rawseti(L, -2, i);
        }
        break;
    }
    }
}

static void check_ok(const hm_config_t *c)
{
    FUZZ_ASSERT(c->config_path && c->config_path[0] == '/');
    FUZZ_ASSERT(c->config_dir && c->config_dir[0] == '/');
    FUZZ_ASSERT(c->listen_port >= 0 && c->listen_port <= 65535);
    FUZZ_ASSERT(c->workers >= 1 && c->workers <= HM_MAX_WORKERS - 1);
    FUZZ_ASSERT(c->redis_timeout_ms >= 1 && c->redis_timeout_ms <= 60000);
    FUZZ_ASSERT(c->redis_host == NULL || (c->redis_port >= 1 && c->redis_port <= 65535));
    FUZZ_ASSERT(c->limits.max_connections >= 1 && c->limits.max_connections <= 10000000);
    FUZZ_ASSERT(c->limits.max_header_bytes >= 256 && c->limits.max_header_bytes <= 1 << 24);
    FUZZ_ASSERT(c->limits.max_url_bytes >= 64 && c->limits.max_url_bytes <= 1 << 24);
    FUZZ_ASSERT(c->limits.max_headers >= 1 && c->limits.max_headers <= 10000);
    FUZZ_ASSERT(c->limits.max_body_bytes <= (size_t)1 << 32);
    const unsigned *ms[] = { &c->limits.header_timeout_ms, &c->limits.body_timeout_ms,
                             &c->limits.keepalive_timeout_ms, &c->limits.drain_timeout_ms };
    for (size_t i = 0; i < HM_ARRAY_SIZE(ms); i++)
        FUZZ_ASSERT(*ms[i] >= 1 && *ms[i] <= 3600 * 1000);
    FUZZ_ASSERT(c->nscripts <= HM_CONFIG_MAX_SCRIPTS);
    FUZZ_ASSERT(c->npaths >= 1 && c->npaths <= HM_CONFIG_MAX_PATHS);
    FUZZ_ASSERT(strcmp(c->lua_path[0], c->config_dir) == 0);
    for (size_t i = 0; i < c->nscripts; i++)
        FUZZ_ASSERT(c->scripts[i] != NULL);
    for (size_t i = 0; i < c->npaths; i++)
        FUZZ_ASSERT(c->lua_path[i] != NULL);
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* hm_config_parse_listen on the raw bytes (up to the first NUL) */
    char listen[128];
    size_t ln = size < sizeof(listen) - 1 ? size : sizeof(listen) - 1;
    memcpy(listen, data, ln);
    listen[ln] = '\0';
    char *host = NULL;
    int port = -1;
    int rc = hm_config_parse_listen(listen, &host, &port);
    FUZZ_ASSERT(rc == HM_OK || rc == HM_EINVAL);
    if (rc == HM_OK) {
        FUZZ_ASSERT(host != NULL && port >= 0 && port <= 65535);
        FUZZ_ASSERT(strlen(host) < ln || ln == 0 || strcmp(host, "0.0.0.0") == 0);
    } else {
        FUZZ_ASSERT(host == NULL && port == -1);
    }
    free(host);

    /* the table */
    lua_State *L = luaL_newstate();
    FUZZ_ASSERT(L != NULL);
    reader_t r = { data, data + size };
    lua_pushliteral(L, "below");
    lua_newtable(L);
    int nfields = 0;
    while (r.p < r.end && nfields++ < 24) {
        int k = rd_byte(&r);
        if (k % 8 == 7)
            push_string(L, &r);   /* an unknown key: ignored by the reader */
        else
            lua_pushstring(L, top_keys[(size_t)k % HM_ARRAY_SIZE(top_keys)]);
        push_value(L, &r, 0);
        if (lua_isnil(L, -2) || lua_isnil(L, -1)) {
            lua_pop(L, 2);
            continue;
        }
        lua_rawset(L, -3);
    }
    int top = lua_gettop(L);
    hm_config_t c;
    hm_config_defaults(&c);
    char err[256];
    err[0] = '\0';
    /* a path that exists so realpath succeeds and config_dir is absolute */
    rc = hm_config_from_lua(L, top, "/tmp/../tmp/hm_fuzz_config.lua", &c, err, sizeof(err));
    FUZZ_ASSERT(lua_gettop(L) == top);
    FUZZ_ASSERT(strcmp(lua_tostring(L, 1), "below") == 0);
    FUZZ_ASSERT(rc == HM_OK || rc == HM_EINVAL);
    if (rc == HM_OK) {
        check_ok(&c);
        hm_config_t copy;
        FUZZ_ASSERT(hm_config_copy(&copy, &c) == HM_OK);
        FUZZ_ASSERT(same_str(copy.listen_host, c.listen_host) &&
                    same_str(copy.admin_token, c.admin_token) &&
                    same_str(copy.log_level, c.log_level) &&
                    same_str(copy.redis_host, c.redis_host) && copy.nscripts == c.nscripts &&
                    copy.npaths == c.npaths);
        for (size_t i = 0; i < c.nscripts; i++)
            FUZZ_ASSERT(strcmp(copy.scripts[i], c.scripts[i]) == 0 &&
                        copy.scripts[i] != c.scripts[i]);
        hm_config_free(&copy);
    } else {
        FUZZ_ASSERT(strncmp(err, "config: ", 8) == 0);
    }
    hm_config_free(&c);
    lua_close(L);
    return 0;
}
