/* hm_test_lua.h -- for unit tests of Lua APIs: run a chunk, get its result
 * as text. Include after hm_test.h, with lua.h and lauxlib.h. */
#ifndef HM_TEST_LUA_H
#define HM_TEST_LUA_H

#include <lauxlib.h>
#include <stdio.h>

/* The chunk's first result as text ("(type)" when it is neither string nor
 * number), or "LUA ERROR: <message>". The buffer is reused by the next run. */
static const char *hm_test_lua_run(lua_State *L, const char *code)
{
    static char result[8192];
    lua_settop(L, 0);
    if (luaL_dostring(L, code) != 0)
        snprintf(result, sizeof(result), "LUA ERROR: %s", lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
        snprintf(result, sizeof(result), "%s", lua_tostring(L, -1));
    else
        snprintf(result, sizeof(result), "(%s)", luaL_typename(L, -1));
    lua_settop(L, 0);
    return result;
}

#endif
