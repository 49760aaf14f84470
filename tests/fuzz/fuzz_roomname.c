/* fuzz_roomname.c -- the room-name normaliser (core/roomname.c) in C and
 * through hm.mapping (core/lua_mapping.c), on arbitrary bytes.
 *
 * Input: byte 0 splits the rest into two names a | b at (size * byte0 / 256)
 * and, with bit 0 of the last byte, trains the category classifier on them.
 * Names may hold anything: NULs, invalid UTF-8, megabytes. Checked:
 *   - parse is deterministic, its canonical text is NUL-terminated within
 *     HM_ROOM_NORM_CAP, token/char counts within bounds, features sorted, weights
 *     finite; a tower name is NUL-terminated;
 *   - score is in 0..1 (not NaN), symmetric, equal to the explained score;
 *   - best picks an index in range, and its score is the candidate's;
 *   - attrs_format fits any buffer (and NUL-terminates it);
 *   - hm.mapping.parse/score/best answer without raising, with the same
 *     numbers as C;
 *   - hm.mapping.assign({a, b}, {b, {a, b}}) answers a pick per name, rooms
 *     in range, scores in 0..1, no room merged twice. */
#include "fuzz_main.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <string.h>

#include "hotelmux/lua_mapping.h"
#include "hotelmux/roomname.h"

static void check_room(const hm_room_t *r)
{
    FUZZ_ASSERT(memchr(r->norm, '\0', sizeof(r->norm)) != NULL);
    FUZZ_ASSERT(memchr(r->a.tower_name, '\0', sizeof(r->a.tower_name)) != NULL);
    FUZZ_ASSERT(r->ntok <= HM_ROOM_MAX_TOK && r->nchr <= HM_ROOM_MAX_CHR);
    double sq = 0;
    for (size_t i = 0; i < r->ntok; i++) {
        FUZZ_ASSERT(isfinite(r->tokw[i]));
        sq += (double)r->tokw[i] * r->tokw[i];
        if (i)
            FUZZ_ASSERT(r->tok[i - 1] <= r->tok[i]);
    }
    FUZZ_ASSERT(sq < 1.01);
    sq = 0;
    for (size_t i = 0; i < r->nchr; i++) {
        FUZZ_ASSERT(isfinite(r->chrw[i]));
        sq += (double)r->chrw[i] * r->chrw[i];
        if (i)
            FUZZ_ASSERT(r->chr[i - 1] <= r->chr[i]);
    }
    FUZZ_ASSERT(sq < 1.01);
    for (size_t d = 0; d < HM_DIM_COUNT; d++)
        FUZZ_ASSERT(isfinite(r->dimsq[d]));
}

static void parse_checked(const char *s, size_t n, hm_room_t *out)
{
    hm_room_parse(s, n, out);
    check_room(out);
    hm_room_t again;
    hm_room_parse(s, n, &again);
    FUZZ_ASSERT(strcmp(out->norm, again.norm) == 0);
    FUZZ_ASSERT(memcmp(&out->a, &again.a, offsetof(hm_room_attrs_t, tower_name)) == 0);
    FUZZ_ASSERT(out->ntok == again.ntok && out->nchr == again.nchr);
}

static void call(lua_State *L, int nargs, int nres)
{
    if (lua_pcall(L, nargs, nres, 0) != 0) {
        fprintf(stderr, "hm.mapping raised: %s\n", lua_tostring(L, -1));
        FUZZ_ASSERT(0);
    }
}

/* Pushes the list { x, y }. */
static void push_pair(lua_State *L, const char *x, size_t lx, const char *y, size_t ly)
{
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, x, lx);
    lua_rawseti(L, -2, 1);
    lua_pushlstring(L, y, ly);
    lua_rawseti(L, -2, 2);
}

static void lua_side(const char *a, size_t la, const char *b, size_t lb, float score)
{
    lua_State *L = luaL_newstate();
    FUZZ_ASSERT(L != NULL);
    luaL_openlibs(L);
    hm_lua_mapping_open(L);
    int m = lua_gettop(L);

    lua_getfield(L, m, "parse");
    lua_pushlstring(L, a, la);
    call(L, 1, 1);
    FUZZ_ASSERT(lua_istable(L, -1));
    lua_getfield(L, -1, "normalised");
    FUZZ_ASSERT(lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 2);

    lua_getfield(L, m, "score");
    lua_pushlstring(L, a, la);
    lua_pushlstring(L, b, lb);
    lua_pushboolean(L, 1);
    call(L, 3, 2);
    FUZZ_ASSERT(lua_type(L, -2) == LUA_TNUMBER && lua_istable(L, -1));
    double ls = lua_tonumber(L, -2);
    FUZZ_ASSERT(fabs(ls - score) < 1e-4);
    lua_pop(L, 2);

    lua_getfield(L, m, "best");
    lua_pushlstring(L, a, la);
    push_pair(L, b, lb, a, la);
    call(L, 2, 2);
    if (!lua_isnil(L, -2)) {
        lua_Number i = lua_tonumber(L, -2);
        FUZZ_ASSERT(i == 1 || i == 2);
        lua_Number s = lua_tonumber(L, -1);
        FUZZ_ASSERT(s >= 0 && s <= 1);
    }
    lua_pop(L, 2);

    lua_getfield(L, m, "assign");
    push_pair(L, a, la, b, lb);
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, b, lb);
    lua_rawseti(L, -2, 1);
    push_pair(L, a, la, b, lb);
    lua_rawseti(L, -2, 2);
    lua_pushnumber(L, 0.5);
    lua_pushnumber(L, 0.02);
    call(L, 4, 1);
    FUZZ_ASSERT(lua_istable(L, -1) && lua_objlen(L, -1) == 2);
    int merged_room[2] = {0, 0};
    for (int k = 1; k <= 2; k++) {
        lua_rawgeti(L, -1, k);
        lua_getfield(L, -1, "room");
        lua_getfield(L, -2, "score");
        lua_getfield(L, -3, "merged");
        int room = lua_isnil(L, -3) ? 0 : (int)lua_tointeger(L, -3);
        FUZZ_ASSERT(room >= 0 && room <= 2);
        FUZZ_ASSERT(lua_tonumber(L, -2) >= 0 && lua_tonumber(L, -2) <= 1);
        if (lua_toboolean(L, -1)) {
            FUZZ_ASSERT(room > 0);
            merged_room[k - 1] = room;
        }
        lua_pop(L, 4);
    }
    FUZZ_ASSERT(merged_room[0] == 0 || merged_room[0] != merged_room[1]);
    lua_close(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t split = (size - 1) * data[0] / 256;
    const char *a = (const char *)data + 1, *b = a + split;
    size_t la = split, lb = size - 1 - split;

    static hm_room_t ra, rb, cands[2];
    parse_checked(a, la, &ra);
    parse_checked(b, lb, &rb);

    hm_room_explain_t ex;
    float s = hm_room_score(&ra, &rb, &ex);
    FUZZ_ASSERT(!isnan(s) && s >= 0.0f && s <= 1.0f);
    FUZZ_ASSERT(s == hm_room_score(&rb, &ra, NULL));
    FUZZ_ASSERT(ex.score == s && isfinite(ex.sim) && isfinite(ex.penalty));
    FUZZ_ASSERT(ex.conflicts < (1u << HM_RC_COUNT));
    float self = hm_room_score(&ra, &ra, NULL);
    FUZZ_ASSERT(!isnan(self) && self >= 0.0f && self <= 1.0f);

    cands[0] = rb;
    cands[1] = ra;
    float best;
    int i = hm_room_best(&ra, cands, 2, &best);
    FUZZ_ASSERT(i == 0 || i == 1);
    FUZZ_ASSERT(best == hm_room_score(&ra, &cands[i], NULL));
    FUZZ_ASSERT(hm_room_best(&ra, cands, 0, &best) == -1);

    char line[512];
    for (size_t cap = 1; cap <= sizeof(line); cap = cap * 3 + 1) {
        memset(line, 'X', sizeof(line));
        hm_room_attrs_format(&ra.a, line, cap);
        FUZZ_ASSERT(memchr(line, '\0', cap) != NULL);
        FUZZ_ASSERT(line[cap < sizeof(line) ? cap : sizeof(line) - 1] == 'X' || cap == sizeof(line));
    }

    if (data[size - 1] & 1) {
        hm_roomcat_t *c;
        FUZZ_ASSERT(hm_roomcat_new(&c) == 0);
        FUZZ_ASSERT(hm_roomcat_add(c, a, la, "a") == 0);
        FUZZ_ASSERT(hm_roomcat_add(c, b, lb, "b") == 0);
        FUZZ_ASSERT(hm_roomcat_train(c, 3) == 0);
        const char *p = hm_roomcat_predict(c, a, la);
        FUZZ_ASSERT(p != NULL && (strcmp(p, "a") == 0 || strcmp(p, "b") == 0));
        hm_roomcat_free(c);
    }

    lua_side(a, la, b, lb, s);
    return 0;
}
