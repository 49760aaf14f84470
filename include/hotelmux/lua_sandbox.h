/* lua_sandbox.h -- what scripts may and may not touch.
 *
 * Scripts get the Lua standard library minus everything that reaches the
 * machine: no io, no os.execute/exit/remove/rename/tmpname, no package.loadlib
 * or C modules, no ffi, a trimmed debug table. `require`, `loadfile` and
 * `dofile` only read .lua files under the configured script directories, and
 * `load`/`loadstring` refuse precompiled bytecode. */
#ifndef HM_LUA_SANDBOX_H
#define HM_LUA_SANDBOX_H

#include "hotelmux/config.h"

struct lua_State;

/* Registry key of the table of allowed directories (append to widen it). */
#define HM_SANDBOX_DIRS_KEY "hm.sandbox_dirs"

/* Apply to a state that has had luaL_openlibs(). Returns 0 or raises. */
int hm_lua_sandbox(struct lua_State *L, const hm_config_t *cfg);

/* 1 if the file (after resolving symlinks and "..") lies under one of dirs. */
int hm_lua_sandbox_path_ok(const char *path, char *const *dirs, size_t ndirs);

/* Read a whole script file and load it as a chunk named "@<display path>",
 * leaving the function (or an error message) on the stack like luaL_loadfile. */
int hm_lua_load_script(struct lua_State *L, const char *path);

#endif
