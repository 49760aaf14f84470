/* lua_time.h -- hm.time and hm.sleep.
 *
 *   hm.time.now()        wall-clock seconds (float) from the core's clock
 *   hm.time.monotonic()  seconds from an arbitrary start, never goes back
 *   hm.sleep(seconds)    yields the request's coroutine for that long */
#ifndef HM_LUA_TIME_H
#define HM_LUA_TIME_H

#include <stdint.h>
#include <uv.h>

#include "hotelmux/lua_vm.h"

/* The uv_timer timeout (ms) for `sec` seconds from now, with the loop's clock
 * refreshed first: the time cached at the start of the loop iteration made a
 * 250 ms hm.sleep end after 249.8 ms. (libuv's clock is in whole ms, so a
 * timer can still fire up to 1 ms early when another event wakes the loop
 * in that last millisecond.) */
uint64_t hm_lua_timer_ms(uv_loop_t *loop, double sec);

/* Sets hm.time and hm.sleep on the table at the top of the stack. */
void hm_lua_time_open(lua_State *L, hm_vm_t *vm);

#endif
