/* lua_cache.c -- hm.cache (see lua_cache.h). */
#include "hotelmux/lua_cache.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "hotelmux/ari.h"
#include "hotelmux/cache.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#define CONTENT_MAX_TTL (7 * 86400.0)

static int worker_of(hm_vm_t *vm) { return vm->worker ? vm->worker->id : 0; }

/* Rule 1: refuse inside an ARI request. Pushes nil, "ari" and returns 2. */
static int refused_ari(lua_State *L, hm_vm_t *vm, const char *op)
{
    hm_task_t *t = vm->current;
    if (t == NULL || !t->ari)
        return 0;
    hm_ari_count_refusal(worker_of(vm), op);
    lua_pushnil(L);
    lua_pushliteral(L, "ari");
    return 2;
}

static int fail(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static int l_get(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    int n = refused_ari(L, vm, "get");
    if (n)
        return n;
    hm_cache_value_t v;
    double now = hm_clock_monotonic();
    int rc = hm_cache_get(key, klen, now, &v);
    if (rc != HM_OK)
        return fail(L, rc == HM_ENOENT ? "miss" : "no memory");
    lua_pushlstring(L, v.data, v.len);
    free(v.data);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, now - v.stored_at);
    lua_setfield(L, -2, "age");
    lua_pushnumber(L, v.ttl);
    lua_setfield(L, -2, "ttl");
    lua_pushliteral(L, "l1");
    lua_setfield(L, -2, "source");
    return 2;
}

/* Collect up to max tags from the array at idx (strings only) into out. */
static size_t read_tags(lua_State *L, int idx, const char **out, size_t n, size_t max)
{
    if (!lua_istable(L, idx))
        return n;
    size_t len = lua_objlen(L, idx);
    for (size_t i = 1; i <= len && n < max; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) == LUA_TSTRING)
            out[n++] = lua_tostring(L, -1);   /* anchored: the array holds it */
        lua_pop(L, 1);
    }
    return n;
}

static int store(lua_State *L, const char *key, size_t klen, int vidx, double ttl, const char **tags,
                 size_t ntags)
{
    size_t vlen;
    const char *val = lua_tolstring(L, vidx, &vlen);
    int rc = hm_cache_set(key, klen, val, vlen, ttl, tags, ntags, hm_clock_monotonic());
    if (rc == HM_OK)
        return 0;
    return rc == HM_ELIMIT ? -2 : -1;
}

static int l_set(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = refused_ari(L, vm, "set");
    if (n)
        return n;
    lua_getfield(L, 3, "ttl");
    double ttl = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    if (isnan(ttl) || !(ttl > 0))
        return fail(L, "ttl must be a number > 0");
    if (ttl > CONTENT_MAX_TTL)
        ttl = CONTENT_MAX_TTL;
    lua_getfield(L, 3, "tags");
    const char *tags[HM_CACHE_MAX_TAGS];
    size_t ntags = read_tags(L, lua_gettop(L), tags, 0, HM_CACHE_MAX_TAGS);
    int rc = store(L, key, klen, 2, ttl, tags, ntags);
    if (rc)
        return fail(L, rc == -2 ? "too large" : "not stored");
    lua_pushboolean(L, 1);
    return 1;
}

/* Does the supplier push invalidations? Both the config (suppliers[s].webhooks
 * = true) and the connector (features.webhooks = true) must say so: a search
 * script alone cannot lengthen a TTL. */
static int supplier_has_webhooks(lua_State *L, const char *supplier)
{
    int yes = 0;
    int top = lua_gettop(L);
    lua_getglobal(L, "hm");
    lua_getfield(L, -1, "config");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "suppliers");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, supplier);
            if (lua_istable(L, -1)) {
                lua_getfield(L, -1, "webhooks");
                int cfg_yes = lua_toboolean(L, -1);
                lua_pop(L, 1);
                lua_getfield(L, -1, "connector");
                const char *mod = lua_tostring(L, -1);
                if (cfg_yes && mod) {
                    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
                    lua_getfield(L, -1, mod);
                    if (lua_istable(L, -1)) {
                        lua_getfield(L, -1, "features");
                        if (lua_istable(L, -1)) {
                            lua_getfield(L, -1, "webhooks");
                            yes = lua_toboolean(L, -1);
                        }
                    }
                }
            }
        }
    }
    lua_settop(L, top);
    return yes;
}

/* Call policies.ttl's ttl(ctx, q) under pcall. Returns 1 and *ttl, or 0. */
static int policy_ttl(lua_State *L, int qidx, int webhooks, double *ttl)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "policies.ttl");
    if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        hm_log(HM_LOG_WARN, "ttl policy unavailable (not cached): %s",
               lua_isstring(L, -1) ? lua_tostring(L, -1) : "policies.ttl is not a table");
        lua_settop(L, top);
        return 0;
    }
    lua_getfield(L, -1, "ttl");
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, hm_clock_now());
    lua_setfield(L, -2, "now");
    /* q for the policy: the caller's table plus what the core knows. */
    lua_pushvalue(L, qidx);
    lua_pushboolean(L, webhooks);
    lua_setfield(L, -2, "webhooks");
    int ok = lua_pcall(L, 2, 1, 0) == 0;
    int valid = ok && lua_type(L, -1) == LUA_TNUMBER;
    if (!ok)
        hm_log(HM_LOG_WARN, "ttl policy raised (not cached): %s", lua_tostring(L, -1));
    *ttl = valid ? lua_tonumber(L, -1) : 0;
    lua_settop(L, top);
    return valid;
}

static int l_set_search(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = refused_ari(L, vm, "set_search");
    if (n)
        return n;
    lua_getfield(L, 3, "supplier");
    lua_getfield(L, 3, "hotel_id");
    lua_getfield(L, 3, "check_in");
    lua_getfield(L, 3, "utc_offset_hours");
    const char *supplier = lua_tostring(L, -4);
    const char *hotel = lua_tostring(L, -3);
    const char *check_in = lua_tostring(L, -2);
    int have_off = lua_isnumber(L, -1);
    double off = lua_tonumber(L, -1);
    if (!supplier || !hotel || !check_in)
        return fail(L, "q needs supplier, hotel_id and check_in");
    /* Rule 2: close to check-in everything is live. */
    if (hm_ari_seconds_to_checkin(check_in, hm_clock_now(), have_off, off) < HM_ARI_LIVE_WINDOW)
        return fail(L, "live window");
    int webhooks = supplier_has_webhooks(L, supplier);
    double ttl = 0;
    int valid = policy_ttl(L, 3, webhooks, &ttl);
    /* Rule 3: the core clamps whatever the policy said. */
    ttl = hm_ari_clamp_ttl(valid, ttl, webhooks);
    if (ttl <= 0)
        return fail(L, "policy said do not cache");
    char t1[192], t2[96];
    snprintf(t1, sizeof(t1), "hotel:%s:%s", supplier, hotel);
    snprintf(t2, sizeof(t2), "supplier:%s", supplier);
    const char *tags[HM_CACHE_MAX_TAGS] = { t1, t2 };
    lua_getfield(L, 3, "tags");
    size_t ntags = read_tags(L, lua_gettop(L), tags, 2, HM_CACHE_MAX_TAGS);
    int rc = store(L, key, klen, 2, ttl, tags, ntags);
    if (rc)
        return fail(L, rc == -2 ? "too large" : "not stored");
    lua_pushnumber(L, ttl);
    return 1;
}

static int l_invalidate(lua_State *L)
{
    size_t len;
    const char *tag = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, (lua_Integer)hm_cache_invalidate_tag(tag, len));
    return 1;
}

static int l_stats(lua_State *L)
{
    hm_cache_stats_t s;
    hm_cache_stats(&s);
    lua_createtable(L, 0, 9);
#define F(name) (lua_pushnumber(L, (lua_Number)s.name), lua_setfield(L, -2, #name))
    F(hits); F(misses); F(sets); F(evictions); F(expired); F(invalidated); F(entries); F(bytes);
    F(budget);
#undef F
    return 1;
}

void hm_lua_cache_open(lua_State *L, hm_vm_t *vm)
{
    static const luaL_Reg fns[] = {
        { "get", l_get }, { "set", l_set }, { "set_search", l_set_search },
        { "invalidate", l_invalidate }, { "stats", l_stats }, { NULL, NULL },
    };
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
}
