/* lua_mapping.c -- hm.mapping (see lua_mapping.h). */
#include "hotelmux/lua_mapping.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/config.h"
#include "hotelmux/lua_sandbox.h"
#include "hotelmux/roomassign.h"
#include "hotelmux/roomname.h"

/* A mapping table is small (one row per supplier room); refuse anything huge. */
#define READ_TABLE_MAX (64u << 20)

static void push_mask(lua_State *L, uint32_t m, const char *(*nm)(unsigned))
{
    lua_newtable(L);
    int k = 1;
    for (unsigned b = 0; b < 32; b++)
        if (m & (1u << b)) {
            const char *s = nm(b);
            if (!s)
                continue;
            lua_pushstring(L, s);
            lua_rawseti(L, -2, k++);
        }
}

#define SET_INT(L, name, v) (lua_pushinteger((L), (v)), lua_setfield((L), -2, (name)))

static int l_parse(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    hm_room_t r;
    hm_room_parse(s, len, &r);
    const hm_room_attrs_t *a = &r.a;
    lua_createtable(L, 0, 16);
    lua_pushstring(L, r.norm);
    lua_setfield(L, -2, "normalised");
    push_mask(L, a->tier, hm_room_tier_name);
    lua_setfield(L, -2, "tier");
    push_mask(L, a->unit, hm_room_unit_name);
    lua_setfield(L, -2, "unit");
    push_mask(L, a->beds, hm_room_bed_name);
    lua_setfield(L, -2, "beds");
    SET_INT(L, "bed_count", a->bed_count);
    lua_pushboolean(L, a->bed_alt);
    lua_setfield(L, -2, "bed_alt");
    push_mask(L, a->view, hm_room_view_name);
    lua_setfield(L, -2, "view");
    lua_pushboolean(L, a->partial_view);
    lua_setfield(L, -2, "partial_view");
    if (a->tower) {
        lua_pushstring(L, a->tower_name);
        lua_setfield(L, -2, "tower");
    }
    lua_pushboolean(L, a->accessible > 0);
    lua_setfield(L, -2, "accessible");
    if (a->smoking) {
        lua_pushstring(L, a->smoking > 0 ? "yes" : "no");
        lua_setfield(L, -2, "smoking");
    }
    SET_INT(L, "occupancy", a->occupancy);
    SET_INT(L, "bedrooms", a->bedrooms);
    lua_pushboolean(L, a->sofa_bed);
    lua_setfield(L, -2, "sofa_bed");
    push_mask(L, a->rate, hm_room_rate_name);
    lua_setfield(L, -2, "rate_words");
    return 1;
}

static int l_score(lua_State *L)
{
    size_t la, lb;
    const char *a = luaL_checklstring(L, 1, &la);
    const char *b = luaL_checklstring(L, 2, &lb);
    int explain = lua_toboolean(L, 3);
    hm_room_t ra, rb;
    hm_room_explain_t ex;
    hm_room_parse(a, la, &ra);
    hm_room_parse(b, lb, &rb);
    hm_room_score(&ra, &rb, &ex);
    lua_pushnumber(L, ex.score);
    if (!explain)
        return 1;
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, ex.tok_cos);
    lua_setfield(L, -2, "tokens");
    lua_pushnumber(L, ex.chr_cos);
    lua_setfield(L, -2, "chars");
    lua_pushnumber(L, ex.sim);
    lua_setfield(L, -2, "similarity");
    lua_pushnumber(L, ex.penalty);
    lua_setfield(L, -2, "penalty");
    push_mask(L, ex.conflicts, hm_room_conflict_name);
    lua_setfield(L, -2, "conflicts");
    return 2;
}

static int l_best(lua_State *L)
{
    size_t lq;
    const char *q = luaL_checklstring(L, 1, &lq);
    luaL_checktype(L, 2, LUA_TTABLE);
    hm_room_t rq, rc;
    hm_room_parse(q, lq, &rq);
    int n = (int)lua_objlen(L, 2), best = 0;
    float bs = -1.0f;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        size_t lc;
        const char *c = lua_tolstring(L, -1, &lc);
        if (c) {
            hm_room_parse(c, lc, &rc);
            float s = hm_room_score(&rq, &rc, NULL);
            if (s > bs) {
                bs = s;
                best = i;
            }
        }
        lua_pop(L, 1);
    }
    if (best == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, best);
    lua_pushnumber(L, bs);
    return 2;
}

/* One argument of assign: a name, or a room's list of names. */
static int room_names(lua_State *L, int idx, int k, int nest)
{
    lua_rawgeti(L, idx, k);
    int n = lua_type(L, -1) == LUA_TSTRING ? 1 : (nest && lua_istable(L, -1)) ? (int)lua_objlen(L, -1) : -1;
    lua_pop(L, 1);
    return n;
}

/* Pairs scored by one assign call: far above any hotel's room lists
 * (hundreds), low enough that a runaway call cannot take the worker's
 * memory (12 bytes a pair while deciding). */
#define ASSIGN_MAX_PAIRS (1u << 20)

/* hm.mapping.assign(names, rooms, threshold, margin) -> picks: one supplier's
 * room names one-to-one onto candidate rooms (roomassign.h). rooms[j] is a
 * name or a list of names (a room several suppliers name: it scores its best
 * name; an identical name scores 1). picks[i] = { room = j | nil, score =,
 * merged = bool }. Every buffer is a userdata, so a Lua error on the way
 * (bad argument, out of memory) leaks nothing. */
static int l_assign(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    double threshold = luaL_checknumber(L, 3), margin = luaL_optnumber(L, 4, 0);
    int nq = (int)lua_objlen(L, 1), nr = (int)lua_objlen(L, 2), nm = 0;
    for (int i = 1; i <= nq; i++)
        if (room_names(L, 1, i, 0) < 0)
            return luaL_argerror(L, 1, "names must be strings");
    if (nq == 0) {
        lua_newtable(L);
        return 1;
    }
    /* every name is scored against every room and every room name: bound both */
    for (int j = 1; j <= nr; j++) {
        int k = room_names(L, 2, j, 1);
        if (k < 0)
            return luaL_argerror(L, 2, "rooms must be names or lists of names");
        nm += k;
        if ((size_t)nq * (size_t)(nm > j ? nm : j) > ASSIGN_MAX_PAIRS)
            return luaL_error(L, "hm.mapping.assign: %d names x %d rooms is too many pairs", nq, nr);
    }
    luaL_checkstack(L, 12, "hm.mapping.assign");
    hm_room_t *q = lua_newuserdata(L, ((size_t)nq + 1) * sizeof(hm_room_t));
    hm_room_t *mem = lua_newuserdata(L, ((size_t)nm + 1) * sizeof(hm_room_t));
    const char **mname = lua_newuserdata(L, ((size_t)nm + 1) * sizeof(char *));
    size_t *mlen = lua_newuserdata(L, ((size_t)nm + 1) * sizeof(size_t));
    int *first = lua_newuserdata(L, ((size_t)nr + 1) * sizeof(int)); /* room j: members first[j]..first[j+1]-1 */
    float *m = lua_newuserdata(L, ((size_t)nq * nr + 1) * sizeof(float));
    hm_room_pick_t *pick = lua_newuserdata(L, ((size_t)nq + 1) * sizeof(hm_room_pick_t));
    int k = 0;
    for (int j = 1; j <= nr; j++) {
        first[j - 1] = k;
        lua_rawgeti(L, 2, j);
        int single = lua_type(L, -1) == LUA_TSTRING, n = single ? 1 : (int)lua_objlen(L, -1);
        for (int t = 1; t <= n; t++) {
            if (!single)
                lua_rawgeti(L, -1, t);
            size_t len;
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (s == NULL || k >= nm)
                return luaL_argerror(L, 2, "rooms must be names or lists of names");
            mname[k] = s; /* a string held by the rooms table: stays valid during the call */
            mlen[k] = len;
            hm_room_parse(s, len, &mem[k++]);
            if (!single)
                lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    first[nr] = k;
    for (int i = 0; i < nq; i++) {
        lua_rawgeti(L, 1, i + 1);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        hm_room_parse(s, len, &q[i]);
        for (int j = 0; j < nr; j++) {
            float best = 0.0f;
            for (int t = first[j]; t < first[j + 1]; t++) {
                /* the very same name: the same room (as mapping.best_room has it) */
                float v = (len > 0 && len == mlen[t] && memcmp(s, mname[t], len) == 0)
                              ? 1.0f
                              : hm_room_score(&q[i], &mem[t], NULL);
                if (v > best)
                    best = v;
            }
            m[(size_t)i * nr + j] = best;
        }
        lua_pop(L, 1);
    }
    int rc = hm_room_assign(m, (size_t)nq, (size_t)nr, NULL, threshold, margin, pick);
    if (rc != HM_OK)
        return luaL_error(L, "hm.mapping.assign: %s", hm_strerror(rc));
    lua_createtable(L, nq, 0);
    for (int i = 0; i < nq; i++) {
        lua_createtable(L, 0, 3);
        if (pick[i].cand >= 0) {
            lua_pushinteger(L, pick[i].cand + 1);
            lua_setfield(L, -2, "room");
        }
        lua_pushnumber(L, pick[i].score);
        lua_setfield(L, -2, "score");
        lua_pushboolean(L, pick[i].merged);
        lua_setfield(L, -2, "merged");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* hm.mapping.read_table(path) -> text | nil, err. Relative paths are taken
 * from the config's directory (the first sandbox directory); the file must
 * end in ".csv" and lie under the script directories, so this widens the
 * sandbox by nothing a script could not already require. */
static int l_read_table(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (len < 5 || strcmp(path + len - 4, ".csv") != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: not a .csv file", path);
        return 2;
    }
    char *dirs[HM_CONFIG_MAX_PATHS];
    size_t nd = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, HM_SANDBOX_DIRS_KEY);
    if (lua_istable(L, -1)) {
        size_t n = lua_objlen(L, -1);
        for (size_t i = 0; i < n && nd < HM_CONFIG_MAX_PATHS; i++) {
            lua_rawgeti(L, -1, (int)i + 1);
            const char *d = lua_tostring(L, -1);
            lua_pop(L, 1);
            if (d)
                dirs[nd++] = (char *)d; /* anchored by the registry table */
        }
    }
    /* absolute: as is; relative: the first sandbox directory holding it */
    const char *fp = NULL;
    for (size_t i = 0; i < (path[0] == '/' ? 1 : nd); i++) {
        if (path[0] == '/')
            lua_pushstring(L, path);
        else
            lua_pushfstring(L, "%s/%s", dirs[i], path);
        const char *cand = lua_tostring(L, -1);
        if (nd > 0 && hm_lua_sandbox_path_ok(cand, dirs, nd)) {
            fp = cand; /* stays on the stack */
            break;
        }
        lua_pop(L, 1);
    }
    if (fp == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: missing or outside the script directories", path);
        return 2;
    }
    FILE *f = fopen(fp, "rb");
    if (f == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", fp, strerror(errno));
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[8192];
    size_t n, total = 0;
    int too_big = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        total += n;
        if (total > READ_TABLE_MAX) {
            too_big = 1;
            break;
        }
        luaL_addlstring(&b, chunk, n);
    }
    int err = ferror(f);
    fclose(f);
    luaL_pushresult(&b);
    if (err || too_big) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", fp, too_big ? "larger than 64 MB" : "read error");
        return 2;
    }
    return 1;
}

void hm_lua_mapping_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"parse", l_parse},
        {"score", l_score},
        {"best", l_best},
        {"assign", l_assign},
        {"read_table", l_read_table},
        {NULL, NULL},
    };
    lua_createtable(L, 0, 5);
    luaL_register(L, NULL, fns);
}
