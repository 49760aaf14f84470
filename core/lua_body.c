/* lua_body.c -- a response body made in C (see lua_body.h). */
#include "hotelmux/lua_body.h"

#include <lauxlib.h>
#include <stdlib.h>

#define BODY_MT "hm.body"

typedef struct {
    char *data;   /* malloc'd, owned; NULL while empty */
    size_t len;
} body_t;

void hm_lua_body_free(lua_State *L, int idx)
{
    body_t *b = luaL_testudata(L, idx, BODY_MT);
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

static int body_gc(lua_State *L)
{
    hm_lua_body_free(L, 1);
    return 0;
}

static int body_tostring(lua_State *L)
{
    body_t *b = luaL_checkudata(L, 1, BODY_MT);
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    return 1;
}

static int body_len(lua_State *L)
{
    body_t *b = luaL_checkudata(L, 1, BODY_MT);
    lua_pushnumber(L, (lua_Number)b->len);
    return 1;
}

void hm_lua_body_push(lua_State *L)
{
    body_t *b = lua_newuserdata(L, sizeof(*b));
    b->data = NULL;
    b->len = 0;
    if (luaL_newmetatable(L, BODY_MT)) {
        lua_pushcfunction(L, body_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, body_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, body_len);
        lua_setfield(L, -2, "__len");
        lua_pushliteral(L, "hm.body");
        lua_setfield(L, -2, "__metatable");   /* scripts cannot swap it */
    }
    lua_setmetatable(L, -2);
}

void hm_lua_body_adopt(lua_State *L, int idx, char *data, size_t len)
{
    body_t *b = luaL_checkudata(L, idx, BODY_MT);
    free(b->data);
    b->data = data;
    b->len = len;
}

const char *hm_lua_body_bytes(lua_State *L, int idx, size_t *len)
{
    body_t *b = luaL_testudata(L, idx, BODY_MT);
    if (b == NULL)
        return NULL;
    *len = b->len;
    return b->data ? b->data : "";
}
