/* test_lua_sandbox.c -- what scripts can no longer reach, and what they still can.
 *
 * A scratch tree:
 *   <tmp>/allowed/mod_a.lua, pkg/init.lua, sub/b.lua, shebang.lua, link.lua -> ../outside/evil.lua
 *   <tmp>/allowed2/x.lua         (a sibling whose name extends the allowed dir's)
 *   <tmp>/outside/evil.lua
 * and a sandboxed state whose only script directory is <tmp>/allowed. */
#include "hm_test.h"
#include "hotelmux/lua_sandbox.h"

#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];
static char allowed[PATH_MAX + 16];

static void put(const char *rel, const char *src, size_t len)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    HM_CHECK(f != NULL);
    if (f) {
        fwrite(src, 1, len, f);
        fclose(f);
    }
}
#define PUT(rel, src) put((rel), (src), strlen(src))

static void dir(const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    HM_CHECK(mkdir(p, 0700) == 0);
}

static void setup_tree(void)
{
    if (root[0])
        return;
    char tmp[] = "/tmp/hm_test_sandbox_XXXXXX";
    HM_CHECK(mkdtemp(tmp) != NULL);
    HM_CHECK(realpath(tmp, root) != NULL);
    snprintf(allowed, sizeof(allowed), "%s/allowed", root);
    dir("allowed");
    dir("allowed/pkg");
    dir("allowed/sub");
    dir("allowed2");
    dir("outside");
    PUT("allowed/mod_a.lua", "return { v = 1, name = ... }");
    PUT("allowed/pkg/init.lua", "return { v = 'pkg' }");
    PUT("allowed/sub/b.lua", "local a = require 'mod_a' return { v = a.v + 1 }");
    PUT("allowed/shebang.lua", "#!/usr/bin/env luajit\nreturn 'ran'");
    PUT("allowed/bad_syntax.lua", "return (");
    PUT("allowed/uses_outside.lua", "return require 'evil'");
    PUT("allowed2/x.lua", "return 'sibling'");
    PUT("outside/evil.lua", "EVIL_RAN = true return 'evil'");
    char target[PATH_MAX * 2], link[PATH_MAX * 2];
    snprintf(target, sizeof(target), "%s/outside/evil.lua", root);
    snprintf(link, sizeof(link), "%s/allowed/link.lua", root);
    HM_CHECK(symlink(target, link) == 0);
    snprintf(link, sizeof(link), "%s/allowed/linkdir", root);
    snprintf(target, sizeof(target), "%s/outside", root);
    HM_CHECK(symlink(target, link) == 0);
}

static lua_State *new_state(void)
{
    setup_tree();
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    hm_config_t cfg;
    hm_config_defaults(&cfg);
    cfg.lua_path[0] = allowed;
    cfg.npaths = 1;
    HM_CHECK_INT(hm_lua_sandbox(L, &cfg), 0);
    HM_CHECK_INT(lua_gettop(L), 0);   /* balanced */
    /* scripts can find the tree */
    lua_pushstring(L, root);
    lua_setglobal(L, "ROOT");
    return L;
}

/* Run a chunk; returns its result (string/number/boolean/nil) as text, or "ERR: msg". */
static char result[2048];
static const char *run(lua_State *L, const char *code)
{
    lua_settop(L, 0);
    if (luaL_loadstring(L, code) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
        snprintf(result, sizeof(result), "ERR: %s", lua_tostring(L, -1));
    } else if (lua_isboolean(L, -1)) {
        snprintf(result, sizeof(result), "%s", lua_toboolean(L, -1) ? "true" : "false");
    } else if (lua_isnil(L, -1)) {
        snprintf(result, sizeof(result), "nil");
    } else {
        snprintf(result, sizeof(result), "%s", lua_tostring(L, -1));
    }
    lua_settop(L, 0);
    return result;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define CHECK_RUN(L, code, want) do { \
    const char *got__ = run((L), (code)); \
    if (strcmp(got__, (want)) != 0) { \
        fprintf(stderr, "%s:%d: `%s` gave \"%s\", want \"%s\"\n", __FILE__, __LINE__, (code), \
                got__, (want)); \
        hm_test_failures++; \
    } \
} while (0)

/* The chunk must fail (error or nil, err) with a message containing `needle`. */
#define CHECK_ERR(L, code, needle) do { \
    const char *got__ = run((L), (code)); \
    if (!starts(got__, "ERR: ") || strstr(got__, (needle)) == NULL) { \
        fprintf(stderr, "%s:%d: `%s` gave \"%s\", want an error with \"%s\"\n", __FILE__, \
                __LINE__, (code), got__, (needle)); \
        hm_test_failures++; \
    } \
} while (0)

HM_TEST(dangerous_globals_are_gone)
{
    lua_State *L = new_state();
    CHECK_RUN(L, "return io == nil", "true");
    CHECK_RUN(L, "return package.loaded.io == nil", "true");
    CHECK_RUN(L, "return os.execute == nil and os.exit == nil and os.remove == nil", "true");
    CHECK_RUN(L, "return os.rename == nil and os.tmpname == nil and os.setlocale == nil", "true");
    CHECK_RUN(L, "return package.loadlib == nil", "true");
    CHECK_RUN(L, "return package.cpath", "");
    CHECK_RUN(L, "return package.path", "");
    CHECK_RUN(L, "return package.loaded.ffi == nil and package.preload.ffi == nil", "true");
    CHECK_ERR(L, "return require 'ffi'", "ffi");
    CHECK_ERR(L, "return require 'io'", "io");
    CHECK_ERR(L, "return require 'socket'", "socket");   /* no C modules */
    /* debug is trimmed to what error reporting needs, everywhere it is reachable */
    CHECK_RUN(L, "return debug.sethook == nil and debug.getregistry == nil and "
                 "debug.setupvalue == nil and debug.getupvalue == nil", "true");
    CHECK_RUN(L, "return type(debug.traceback) == 'function' and "
                 "type(debug.getinfo) == 'function'", "true");
    CHECK_RUN(L, "return require('debug') == debug and package.loaded.debug.sethook == nil",
              "true");
    /* what scripts need is still there */
    CHECK_RUN(L, "return os.time() > 0 and type(os.clock()) == 'number' and "
                 "string.format('%d', 7) == '7' and math.floor(2.5) == 2 and "
                 "table.concat({1, 2}, ',') == '1,2'", "true");
    lua_close(L);
}

HM_TEST(require_inside_allowed_dir)
{
    lua_State *L = new_state();
    CHECK_RUN(L, "return require('mod_a').v", "1");
    CHECK_RUN(L, "return require('mod_a').name", "mod_a");   /* the loader passes the name */
    CHECK_RUN(L, "return require('mod_a') == package.loaded.mod_a", "true");
    CHECK_RUN(L, "return require('pkg').v", "pkg");          /* <dir>/pkg/init.lua */
    CHECK_RUN(L, "return require('sub.b').v", "2");          /* dots are directories */
    CHECK_RUN(L, "return require('shebang')", "ran");
    CHECK_ERR(L, "return require('bad_syntax')", "error loading module 'bad_syntax'");
    /* a module that is not there lists where it looked, and only there */
    const char *got = run(L, "return require('missing.mod')");
    HM_CHECK(starts(got, "ERR: ") && strstr(got, "missing/mod.lua") != NULL &&
             strstr(got, "missing/mod/init.lua") != NULL && strstr(got, allowed) != NULL);
    HM_CHECK(strstr(got, "/usr/") == NULL);
    lua_close(L);
}

HM_TEST(require_outside_refused)
{
    lua_State *L = new_state();
    CHECK_ERR(L, "return require 'evil'", "evil");                  /* not on the path */
    CHECK_ERR(L, "return require 'uses_outside'", "evil");
    CHECK_ERR(L, "return require '..outside.evil'", "bad module name");
    CHECK_ERR(L, "return require 'sub..evil'", "bad module name");
    CHECK_ERR(L, "return require '...'", "bad module name");
    CHECK_ERR(L, "return require '../outside/evil'", "bad module name");
    CHECK_ERR(L, "return require 'sub/../../outside/evil'", "bad module name");
    CHECK_ERR(L, "return require ''", "bad module name");
    CHECK_ERR(L, "return require '/etc/passwd'", "bad module name");
    /* a symlink inside the allowed dir pointing out of it */
    CHECK_ERR(L, "return require 'link'", "outside the script directories");
    CHECK_ERR(L, "return require 'linkdir.evil'", "outside the script directories");
    CHECK_RUN(L, "return EVIL_RAN == nil", "true");
    /* a sibling directory that merely shares the prefix is not inside */
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed2/x.lua')", "outside the script directories");
    lua_close(L);
}

HM_TEST(loadfile_and_dofile)
{
    lua_State *L = new_state();
    CHECK_RUN(L, "return loadfile(ROOT .. '/allowed/mod_a.lua')().v", "1");
    CHECK_RUN(L, "return dofile(ROOT .. '/allowed/sub/b.lua').v", "2");
    /* loadfile reports (nil, err) instead of raising */
    CHECK_RUN(L, "local f, e = loadfile(ROOT .. '/outside/evil.lua') return f == nil", "true");
    HM_CHECK(strstr(run(L, "local f, e = loadfile(ROOT .. '/outside/evil.lua') return e"),
                    "outside the script directories") != NULL);
    CHECK_ERR(L, "return dofile(ROOT .. '/outside/evil.lua')", "outside the script directories");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/../outside/evil.lua')",
              "outside the script directories");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/sub/../../outside/evil.lua')",
              "outside the script directories");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/link.lua')", "outside the script directories");
    CHECK_ERR(L, "return dofile('/etc/passwd')", "outside the script directories");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/nope.lua')", "outside the script directories");
    CHECK_ERR(L, "return dofile()", "string expected");
    /* ".." that stays inside is fine */
    CHECK_RUN(L, "return dofile(ROOT .. '/allowed/sub/../mod_a.lua').v", "1");
    CHECK_RUN(L, "return EVIL_RAN == nil", "true");
    lua_close(L);
}

HM_TEST(bytecode_refused)
{
    lua_State *L = new_state();
    CHECK_RUN(L, "return load('return 1 + 1')()", "2");
    CHECK_RUN(L, "return loadstring('return ...', 'chunk')(5)", "5");
    CHECK_RUN(L, "local f, e = load('return (') return f == nil and type(e) == 'string'", "true");
    const char *bc = "local bc = string.dump(function() return 'from bytecode' end) ";
    char code[512];
    snprintf(code, sizeof(code), "%s local f, e = load(bc) return f == nil and e", bc);
    CHECK_RUN(L, code, "precompiled bytecode is not allowed");
    snprintf(code, sizeof(code), "%s local f, e = loadstring(bc) return f == nil and e", bc);
    CHECK_RUN(L, code, "precompiled bytecode is not allowed");
    /* hiding the signature behind a header line or BOM does not help either */
    snprintf(code, sizeof(code), "%s local f, e = load('#!x\\n' .. bc) return f == nil", bc);
    CHECK_RUN(L, code, "true");
    snprintf(code, sizeof(code), "%s local f, e = load('\\239\\187\\191' .. bc) return f == nil",
             bc);
    CHECK_RUN(L, code, "true");
    /* function readers (which could stream bytecode) are refused outright */
    CHECK_RUN(L, "local f, e = load(function() return nil end) return f == nil and e",
              "load: only string chunks are allowed");
    CHECK_RUN(L, "local f = load(42) return f == nil", "true");

    /* bytecode files: through dofile/require and through hm_lua_load_script */
    lua_settop(L, 0);
    HM_CHECK_INT(luaL_loadstring(L, "return 'from bytecode'"), 0);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "dump");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    size_t len;
    const char *dump = lua_tolstring(L, -1, &len);
    HM_CHECK(len > 0 && dump[0] == '\033');
    put("allowed/compiled.lua", dump, len);
    char buf[4096];
    HM_CHECK(len + 16 < sizeof(buf));
    memcpy(buf, "#!/bin/luajit\n", 14);
    memcpy(buf + 14, dump, len);
    put("allowed/compiled_shebang.lua", buf, len + 14);
    memcpy(buf, "\xef\xbb\xbf", 3);
    memcpy(buf + 3, dump, len);
    put("allowed/compiled_bom.lua", buf, len + 3);
    lua_settop(L, 0);
    CHECK_ERR(L, "return require 'compiled'", "precompiled bytecode is not allowed");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/compiled.lua')",
              "precompiled bytecode is not allowed");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/compiled_shebang.lua')", "");
    CHECK_ERR(L, "return dofile(ROOT .. '/allowed/compiled_bom.lua')", "");
    lua_close(L);
}

HM_TEST(load_script)
{
    setup_tree();
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/allowed/shebang.lua", root);
    HM_CHECK_INT(hm_lua_load_script(L, p), 0);
    HM_CHECK_INT(lua_gettop(L), 1);
    lua_Debug ar;
    lua_pushvalue(L, 1);
    HM_CHECK(lua_getinfo(L, ">S", &ar) != 0);
    HM_CHECK(ar.source[0] == '@' && strstr(ar.source, "shebang.lua") != NULL);
    HM_CHECK_INT(lua_pcall(L, 0, 1, 0), 0);
    HM_CHECK_STR(lua_tostring(L, -1), "ran");
    lua_settop(L, 0);
    /* errors name the file and line (the skipped #! line still counts) */
    PUT("allowed/err_line.lua", "#!x\n\nerror('boom')");
    snprintf(p, sizeof(p), "%s/allowed/err_line.lua", root);
    HM_CHECK_INT(hm_lua_load_script(L, p), 0);
    HM_CHECK(lua_pcall(L, 0, 0, 0) != 0);
    HM_CHECK(strstr(lua_tostring(L, -1), "err_line.lua:3: boom") != NULL);
    lua_settop(L, 0);
    snprintf(p, sizeof(p), "%s/allowed/compiled.lua", root);
    HM_CHECK_INT(hm_lua_load_script(L, p), LUA_ERRSYNTAX);
    HM_CHECK(strstr(lua_tostring(L, -1), "precompiled bytecode is not allowed") != NULL);
    lua_settop(L, 0);
    snprintf(p, sizeof(p), "%s/allowed/compiled_shebang.lua", root);
    HM_CHECK(hm_lua_load_script(L, p) != 0);
    lua_settop(L, 0);
    snprintf(p, sizeof(p), "%s/allowed/compiled_bom.lua", root);
    HM_CHECK(hm_lua_load_script(L, p) != 0);
    lua_settop(L, 0);
    snprintf(p, sizeof(p), "%s/allowed/does_not_exist.lua", root);
    HM_CHECK_INT(hm_lua_load_script(L, p), LUA_ERRFILE);
    HM_CHECK(strstr(lua_tostring(L, -1), "cannot open") != NULL);
    lua_settop(L, 0);
    snprintf(p, sizeof(p), "%s/allowed", root);   /* a directory cannot be read */
    HM_CHECK(hm_lua_load_script(L, p) != 0);
    HM_CHECK_INT(lua_gettop(L), 1);
    lua_close(L);
}

HM_TEST(path_ok)
{
    setup_tree();
    char *dirs[2] = { allowed, NULL };
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/allowed/mod_a.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 1);
    snprintf(p, sizeof(p), "%s/allowed/sub/../mod_a.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 1);
    snprintf(p, sizeof(p), "%s/allowed/../outside/evil.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 0);
    snprintf(p, sizeof(p), "%s/allowed/link.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 0);
    snprintf(p, sizeof(p), "%s/allowed2/x.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 0);
    snprintf(p, sizeof(p), "%s/allowed", root);   /* the directory itself is not under itself */
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 0);
    snprintf(p, sizeof(p), "%s/allowed/missing.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 1), 0);
    snprintf(p, sizeof(p), "%s/allowed/mod_a.lua", root);
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, dirs, 0), 0);   /* no dirs: nothing allowed */
    /* a missing dir in the list is skipped, the next one still counts */
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/nowhere", root);
    char *two[2] = { missing, allowed };
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, two, 2), 1);
    /* "/" as a script dir allows everything (and is not mangled) */
    char slash[] = "/";
    char *all[1] = { slash };
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, all, 1), 1);
    /* a trailing slash on the dir changes nothing */
    char trailing[PATH_MAX + 32];
    snprintf(trailing, sizeof(trailing), "%s/", allowed);
    char *tr[1] = { trailing };
    HM_CHECK_INT(hm_lua_sandbox_path_ok(p, tr, 1), 1);
}

HM_TEST(widening_the_dirs)
{
    /* Appending to the registry table (as the VM does for lua_path) widens require. */
    lua_State *L = new_state();
    CHECK_ERR(L, "return require 'evil'", "evil");
    lua_getfield(L, LUA_REGISTRYINDEX, HM_SANDBOX_DIRS_KEY);
    HM_CHECK(lua_istable(L, -1));
    HM_CHECK_INT(lua_objlen(L, -1), 1);
    char outside[PATH_MAX + 16];
    snprintf(outside, sizeof(outside), "%s/outside", root);
    lua_pushstring(L, outside);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 1);
    CHECK_RUN(L, "return require 'evil'", "evil");
    lua_close(L);
}

static void rm_tree(void)
{
    static const char *const files[] = {
        "allowed/mod_a.lua", "allowed/pkg/init.lua", "allowed/sub/b.lua", "allowed/shebang.lua",
        "allowed/bad_syntax.lua", "allowed/uses_outside.lua", "allowed/link.lua",
        "allowed/linkdir", "allowed/compiled.lua", "allowed/compiled_shebang.lua",
        "allowed/compiled_bom.lua", "allowed/err_line.lua", "allowed2/x.lua", "outside/evil.lua",
        "allowed/pkg", "allowed/sub", "allowed", "allowed2", "outside", "",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", root, files[i]);
        if (unlink(p) != 0)
            rmdir(p);
    }
}

HM_TEST(cleanup)
{
    if (!root[0])
        return;
    rm_tree();
    struct stat st;
    HM_CHECK(stat(root, &st) != 0);   /* everything created was removed */
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(dangerous_globals_are_gone),
    HM_TEST_ENTRY(require_inside_allowed_dir),
    HM_TEST_ENTRY(require_outside_refused),
    HM_TEST_ENTRY(loadfile_and_dofile),
    HM_TEST_ENTRY(bytecode_refused),
    HM_TEST_ENTRY(load_script),
    HM_TEST_ENTRY(path_ok),
    HM_TEST_ENTRY(widening_the_dirs),
    HM_TEST_ENTRY(cleanup)
)
