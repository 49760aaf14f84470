/* lua_sandbox.c -- strip the standard library down to what scripts need. */
#include "hotelmux/lua_sandbox.h"
#include "hotelmux/common.h"

#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hm_lua_sandbox_path_ok(const char *path, char *const *dirs, size_t ndirs)
{
    char *real = realpath(path, NULL);
    if (real == NULL)
        return 0;
    int ok = 0;
    for (size_t i = 0; i < ndirs && !ok; i++) {
        char *d = realpath(dirs[i], NULL);
        if (d == NULL)
            continue;
        size_t n = strlen(d);
        ok = strncmp(real, d, n) == 0 && (real[n] == '/' || (n == 1 && d[0] == '/'));
        free(d);
    }
    free(real);
    return ok;
}

/* Shorten a path for chunk names: relative to the working directory if under it. */
static const char *display_path(const char *path, char *cwd, size_t cap)
{
    if (getcwd(cwd, cap) == NULL)
        return path;
    size_t n = strlen(cwd);
    if (strncmp(path, cwd, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

int hm_lua_load_script(lua_State *L, const char *path)
{
    char cwd[PATH_MAX], name[PATH_MAX + 2];
    snprintf(name, sizeof(name), "@%s", display_path(path, cwd, sizeof(cwd)));
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lua_pushfstring(L, "cannot open %s", path);
        return LUA_ERRFILE;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        luaL_addlstring(&b, chunk, n);
    int err = ferror(f);
    fclose(f);
    luaL_pushresult(&b);
    if (err) {
        lua_pop(L, 1);
        lua_pushfstring(L, "cannot read %s", path);
        return LUA_ERRFILE;
    }
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    if (len > 0 && src[0] == '\033') {
        lua_pop(L, 1);
        lua_pushfstring(L, "%s: precompiled bytecode is not allowed", path);
        return LUA_ERRSYNTAX;
    }
    /* Skip a leading "#!" line, as luaL_loadfile does. */
    size_t skip = 0;
    if (len > 1 && src[0] == '#') {
        while (skip < len && src[skip] != '\n')
            skip++;
    }
    int rc = luaL_loadbuffer(L, src + skip, len - skip, name);
    lua_remove(L, -2);
    return rc;
}

/* Upvalue 1: table of allowed directories. */
static int collect_dirs(lua_State *L, char **dirs, size_t max)
{
    size_t n = lua_objlen(L, lua_upvalueindex(1));
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, lua_upvalueindex(1), (int)i + 1);
        dirs[i] = (char *)lua_tostring(L, -1); /* anchored by the upvalue table */
        lua_pop(L, 1);
    }
    return (int)n;
}

static int load_checked(lua_State *L, const char *path)
{
    char *dirs[HM_CONFIG_MAX_PATHS];
    int n = collect_dirs(L, dirs, HM_CONFIG_MAX_PATHS);
    if (!hm_lua_sandbox_path_ok(path, dirs, (size_t)n)) {
        lua_pushfstring(L, "%s: outside the script directories", path);
        return LUA_ERRFILE;
    }
    return hm_lua_load_script(L, path);
}

static int sb_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (load_checked(L, path) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static int sb_dofile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (load_checked(L, path) != 0)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* package.loaders entry: module "a.b" → <dir>/a/b.lua or <dir>/a/b/init.lua. */
static int sb_loader(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (strstr(name, "..") || strchr(name, '/') || name[0] == '\0') {
        lua_pushfstring(L, "\n\tbad module name '%s'", name);
        return 1;
    }
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s", name);
    for (char *p = rel; *p; p++)
        if (*p == '.')
            *p = '/';
    char *dirs[HM_CONFIG_MAX_PATHS];
    int n = collect_dirs(L, dirs, HM_CONFIG_MAX_PATHS);
    luaL_Buffer tried;
    luaL_buffinit(L, &tried);
    for (int i = 0; i < n; i++) {
        static const char *const forms[] = { "%s/%s.lua", "%s/%s/init.lua" };
        for (int k = 0; k < 2; k++) {
            char path[PATH_MAX * 2];
            snprintf(path, sizeof(path), forms[k], dirs[i], rel);
            if (access(path, R_OK) != 0) {
                lua_pushfstring(L, "\n\tno file '%s'", path);
                luaL_addvalue(&tried);
                continue;
            }
            luaL_pushresult(&tried);
            lua_pop(L, 1);
            if (load_checked(L, path) != 0)
                return luaL_error(L, "error loading module '%s':\n\t%s", name, lua_tostring(L, -1));
            return 1;
        }
    }
    luaL_pushresult(&tried);
    return 1;
}

/* load/loadstring that refuse bytecode (crafted bytecode can corrupt LuaJIT's memory). */
static int sb_load(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, 1);
        if (s[0] == '\033') {
            lua_pushnil(L);
            lua_pushliteral(L, "precompiled bytecode is not allowed");
            return 2;
        }
        size_t len;
        s = lua_tolstring(L, 1, &len);
        const char *name = luaL_optstring(L, 2, s);
        if (luaL_loadbuffer(L, s, len, name) != 0) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 2;
        }
        return 1;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "load: only string chunks are allowed");
    return 2;
}

static void set_nil(lua_State *L, const char *table, const char *field)
{
    lua_getglobal(L, table);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_setfield(L, -2, field);
    }
    lua_pop(L, 1);
}

/* LuaJIT seeds math.random with the same constant in every state: two
 * workers (or two processes) drawing "random" ids would draw the same ones.
 * Each state gets its own seed. */
static int seed_random(lua_State *L)
{
    uint32_t seed;
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        return HM_EIO;
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushnumber(L, (lua_Number)seed);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != 0)
        lua_pop(L, 1);   /* the error message */
    lua_pop(L, 1);       /* math */
    return rc == 0 ? HM_OK : HM_EIO;
}

int hm_lua_sandbox(lua_State *L, const hm_config_t *cfg)
{
    if (seed_random(L) != HM_OK)
        return luaL_error(L, "cannot seed math.random");
    static const char *const os_gone[] = { "execute", "exit", "remove", "rename", "tmpname",
                                           "setlocale" };
    for (size_t i = 0; i < HM_ARRAY_SIZE(os_gone); i++)
        set_nil(L, "os", os_gone[i]);
    lua_pushnil(L);
    lua_setglobal(L, "io");
    set_nil(L, "package", "loadlib");

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushnil(L);
    lua_setfield(L, -2, "io");
    lua_pushnil(L);
    lua_setfield(L, -2, "ffi");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushnil(L);
    lua_setfield(L, -2, "ffi");
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "path");

    /* Allowed directories, shared by the loaders below as an upvalue. */
    lua_newtable(L);
    for (size_t i = 0; i < cfg->npaths; i++) {
        lua_pushstring(L, cfg->lua_path[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, HM_SANDBOX_DIRS_KEY);
    /* package.loaders = { preload, sandboxed file loader } */
    lua_getfield(L, -2, "loaders");
    lua_rawgeti(L, -1, 1);
    lua_newtable(L);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, sb_loader, 1);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -4, "loaders");
    lua_pop(L, 1); /* old loaders */

    lua_pushvalue(L, -1);
    lua_pushcclosure(L, sb_loadfile, 1);
    lua_setglobal(L, "loadfile");
    lua_pushcclosure(L, sb_dofile, 1);
    lua_setglobal(L, "dofile");
    lua_pop(L, 1); /* package */

    lua_pushcfunction(L, sb_load);
    lua_setglobal(L, "loadstring");
    lua_pushcfunction(L, sb_load);
    lua_setglobal(L, "load");

    /* debug: only what error reporting needs. */
    lua_getglobal(L, "debug");
    lua_newtable(L);
    lua_getfield(L, -2, "traceback");
    lua_setfield(L, -2, "traceback");
    lua_getfield(L, -2, "getinfo");
    lua_setfield(L, -2, "getinfo");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "debug");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "debug");
    lua_pop(L, 4);
    return 0;
}
