/* lua_profile.h -- where scripts spend their time (LuaJIT's sampling profiler).
 *
 * HOTELMUX_LUA_PROFILE=1 samples worker 0's first generation every
 * millisecond (LuaJIT allows one profiler per process) and, when that
 * generation is released (reload or shutdown), prints the top functions and
 * lines with the share of samples and of each VM state (N jit-compiled code,
 * I interpreter, C C functions, G garbage collector, J JIT compiler) to stderr. */
#ifndef HM_LUA_PROFILE_H
#define HM_LUA_PROFILE_H
#include "hotelmux/lua_vm.h"
/* Start when enabled and this is the vm to profile. */
void hm_lua_profile_maybe_start(hm_vm_t *vm);
/* Stop and print, if vm is the one being profiled. */
void hm_lua_profile_finish(hm_vm_t *vm);
#endif
