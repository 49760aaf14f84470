/* lua_profile.h -- where scripts spend their time (LuaJIT's sampling profiler).
 *
 * HOTELMUX_LUA_PROFILE=1 samples worker 0's first generation every
 * millisecond (LuaJIT allows one profiler per process) and, when that
 * generation is released (reload or shutdown), prints the top functions and
 * lines with the share of samples and of each VM state (N jit-compiled code,
 * I interpreter, C C functions, G garbage collector, J JIT compiler) to stderr.
 *
 * What a sample means: LuaJIT's timer counts the process's CPU time
 * (setitimer ITIMER_PROF, every thread), and samples taken while worker 0
 * is not running Lua wait for its next Lua instruction. So "C" includes the
 * host's own work (the event loop, HTTP, curl, other threads) and lands on
 * the first Lua line run after it: the line after a yielding call, a
 * handler's first lines. With workers = 1 and no other load, the C, N and I
 * shares of a line are its own apart from that host time. */
#ifndef HM_LUA_PROFILE_H
#define HM_LUA_PROFILE_H
#include "hotelmux/lua_vm.h"
/* Start when enabled and this is the vm to profile. */
void hm_lua_profile_maybe_start(hm_vm_t *vm);
/* Stop and print, if vm is the one being profiled. */
void hm_lua_profile_finish(hm_vm_t *vm);
#endif
