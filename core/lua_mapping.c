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
        {"read_table", l_read_table},
        {NULL, NULL},
    };
    lua_createtable(L, 0, 4);
    luaL_register(L, NULL, fns);
}
