/* lua_memo.c -- hm.memo (see lua_memo.h). */
#include "hotelmux/lua_memo.h"

#include <lauxlib.h>
#include <math.h>

#include "hotelmux/answer_memo.h"
#include "hotelmux/ari.h"
#include "hotelmux/common.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

static int fail(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static hm_answer_memo_t *memo_of(hm_vm_t *vm)
{
    if (vm->memo == NULL)
        vm->memo = hm_answer_memo_new();
    return vm->memo;
}

static double opt_number(lua_State *L, int idx, const char *field, double dflt)
{
    lua_getfield(L, idx, field);
    double v = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* put(route, currency|false, body, answer_key, opts) */
static int l_put(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t clen = 0, blen, klen;
    const char *route = luaL_checkstring(L, 1);
    const char *cur = lua_toboolean(L, 2) ? luaL_checklstring(L, 2, &clen) : NULL;
    const char *body = luaL_checklstring(L, 3, &blen);
    const char *key = luaL_checklstring(L, 4, &klen);
    luaL_checktype(L, 5, LUA_TTABLE);
    if (vm->current && vm->current->ari) {
        hm_ari_count_refusal(vm->worker ? vm->worker->id : 0, "set");
        return fail(L, "ari");
    }
    hm_memo_answer_t a = { .answer_key = key, .answer_klen = klen };
    lua_getfield(L, 5, "prefix");
    a.prefix = luaL_checklstring(L, -1, &a.prefix_len);
    lua_getfield(L, 5, "after");
    if (!lua_isnil(L, -1))
        a.after = luaL_checklstring(L, -1, &a.after_len);
    lua_getfield(L, 5, "session_header");
    a.session_header = lua_toboolean(L, -1);
    lua_pop(L, 1);
    a.live_at = opt_number(L, 5, "live_at", NAN);
    a.ra_fraction = opt_number(L, 5, "ra_fraction", 0);
    a.ra_min_reads = (uint64_t)fmax(0, opt_number(L, 5, "ra_min_reads", 0));
    a.ra_per_s = fmax(0, opt_number(L, 5, "ra_per_s", 0));
    a.handle = (int)opt_number(L, 5, "handle", 0);
    if (isnan(a.live_at))
        return luaL_argerror(L, 5, "live_at (a wall-clock time) is required");
    hm_answer_memo_t *m = memo_of(vm);
    /* prefix and after stay anchored by opts (index 5) until put copies them */
    int rc = m ? hm_answer_memo_put(m, route, cur, clen, body, blen, &a) : HM_ENOMEM;
    lua_pop(L, 2);
    if (rc != HM_OK)
        return fail(L, hm_strerror(rc));
    lua_pushboolean(L, 1);
    return 1;
}

/* ticket(authorization, exp, { {key, rate, burst}, ... }) */
static int l_ticket(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t alen;
    const char *auth = luaL_checklstring(L, 1, &alen);
    double exp = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    hm_memo_limit_t limits[HM_ANSWER_MEMO_LIMITS];
    size_t n = lua_objlen(L, 3);
    if (n > HM_ANSWER_MEMO_LIMITS)
        return luaL_argerror(L, 3, "too many limits");
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 3, (int)i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_rawgeti(L, -1, 1);
        limits[i].key = luaL_checklstring(L, -1, &limits[i].klen);
        lua_rawgeti(L, -2, 2);
        limits[i].rate = luaL_checknumber(L, -1);
        lua_rawgeti(L, -3, 3);
        limits[i].burst = luaL_optnumber(L, -1, 1);
        lua_pop(L, 4);   /* the key stays anchored by the limits table */
    }
    hm_answer_memo_t *m = memo_of(vm);
    int rc = m ? hm_answer_memo_ticket(m, auth, alen, exp, limits, n) : HM_ENOMEM;
    if (rc != HM_OK)
        return fail(L, hm_strerror(rc));
    lua_pushboolean(L, 1);
    return 1;
}

static void push_hits(void *ud, int handle, uint64_t hits)
{
    lua_State *L = ud;
    lua_pushnumber(L, (lua_Number)hits);
    lua_rawseti(L, -2, handle);
}

static int l_drain(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    lua_newtable(L);
    if (vm->memo)
        hm_answer_memo_drain(vm->memo, push_hits, L);
    return 1;
}

static int l_clear(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    if (vm->memo)
        hm_answer_memo_clear(vm->memo);
    return 0;
}

static int l_stats(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, vm->memo ? (lua_Number)hm_answer_memo_entries(vm->memo) : 0);
    lua_setfield(L, -2, "entries");
    lua_pushnumber(L, vm->memo ? (lua_Number)hm_answer_memo_tickets(vm->memo) : 0);
    lua_setfield(L, -2, "tickets");
    return 1;
}

void hm_lua_memo_open(lua_State *L, hm_vm_t *vm)
{
    hm_answer_memo_declare_series();
    static const luaL_Reg fns[] = {
        { "put", l_put }, { "ticket", l_ticket }, { "drain", l_drain },
        { "clear", l_clear }, { "stats", l_stats }, { NULL, NULL },
    };
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
    lua_setfield(L, -2, "memo");
}
