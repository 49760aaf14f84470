/* lua_time.h -- hm.time and hm.sleep.
 *
 *   hm.time.now()        wall-clock seconds (float) from the core's clock
 *   hm.time.monotonic()  seconds from an arbitrary start, never goes back
 *   hm.sleep(seconds)    yields the request's coroutine for that long */
#ifndef HM_LUA_TIME_H
#define HM_LUA_TIME_H

#include "hotelmux/lua_vm.h"

/* Sets hm.time and hm.sleep on the table at the top of the stack. */
void hm_lua_time_open(lua_State *L, hm_vm_t *vm);

#endif
