/* lua_shared.c -- hm.shared, the Lua face of shdict.c. */
#include "hotelmux/lua_shared.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>

#include "hotelmux/common.h"
#include "hotelmux/shdict.h"

static void check_value(lua_State *L, int idx, hm_shv_t *v)
{
    v->str = NULL;
    v->len = 0;
    v->num = 0;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
        v->type = HM_SHV_NIL;
        break;
    case LUA_TNUMBER:
        v->type = HM_SHV_NUMBER;
        v->num = lua_tonumber(L, idx);
        break;
    case LUA_TBOOLEAN:
        v->type = HM_SHV_BOOLEAN;
        v->num = lua_toboolean(L, idx);
        break;
    case LUA_TSTRING:
        v->type = HM_SHV_STRING;
        v->str = lua_tolstring(L, idx, &v->len);
        break;
    default:
        luaL_argerror(L, idx, "value must be a number, string, boolean or nil (encode tables)");
    }
}

static double opt_ttl(lua_State *L, int idx)
{
    double ttl = luaL_optnumber(L, idx, 0);
    if (isnan(ttl) || ttl < 0)
        luaL_argerror(L, idx, "ttl must be >= 0 seconds");
    return ttl;
}

static int l_get(lua_State *L)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    hm_shv_t v;
    if (hm_shdict_get(key, klen, &v) != HM_OK)
        return luaL_error(L, "hm.shared.get: out of memory");
    switch (v.type) {
    case HM_SHV_NUMBER: lua_pushnumber(L, v.num); break;
    case HM_SHV_BOOLEAN: lua_pushboolean(L, v.num != 0); break;
    case HM_SHV_STRING:
        lua_pushlstring(L, v.str, v.len);
        free((void *)v.str);
        break;
    default: lua_pushnil(L);
    }
    return 1;
}

static int do_set(lua_State *L, int nx)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    hm_shv_t v;
    check_value(L, 2, &v);
    int rc = hm_shdict_set(key, klen, &v, opt_ttl(L, 3), nx);
    if (rc == HM_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc == HM_ELIMIT) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "exists");
        return 2;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "no memory");
    return 2;
}

static int l_set(lua_State *L) { return do_set(L, 0); }
static int l_add(lua_State *L) { return do_set(L, 1); }

static int l_delete(lua_State *L)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    hm_shv_t nil = { HM_SHV_NIL, 0, NULL, 0 };
    hm_shdict_set(key, klen, &nil, 0, 0);
    return 0;
}

static int l_incr(lua_State *L)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    double delta = luaL_checknumber(L, 2), init = 0, min = 0, out = 0;
    int has_init = !lua_isnoneornil(L, 3), has_min = !lua_isnoneornil(L, 4);
    if (has_init)
        init = luaL_checknumber(L, 3);
    if (has_min)
        min = luaL_checknumber(L, 4);
    int rc = hm_shdict_incr(key, klen, delta, has_init ? &init : NULL, has_min ? &min : NULL, &out);
    if (rc == HM_OK) {
        lua_pushnumber(L, out);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, rc == HM_ENOENT ? "not found" : rc == HM_EINVAL ? "not a number"
                      : rc == HM_ELIMIT ? "below min" : "no memory");
    return 2;
}

static void push_key(void *ud, const char *key, size_t len)
{
    lua_State *L = ud;
    lua_pushlstring(L, key, len);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
}

static int l_keys(lua_State *L)
{
    const char *prefix = luaL_optstring(L, 1, "");
    lua_Integer max = luaL_optinteger(L, 2, 1000);
    if (max < 0)
        return luaL_argerror(L, 2, "max must be >= 0");
    lua_newtable(L);
    if (hm_shdict_keys(prefix, (size_t)max, push_key, L) != HM_OK)
        return luaL_error(L, "hm.shared.keys: out of memory");
    return 1;
}

void hm_lua_shared_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "get", l_get }, { "set", l_set }, { "add", l_add }, { "delete", l_delete },
        { "incr", l_incr }, { "keys", l_keys }, { NULL, NULL },
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
}
