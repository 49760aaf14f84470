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

/* The uv_timer timeout (ms) that fires no sooner than `sec` seconds from now:
 * the loop's clock is refreshed and its millisecond truncation accounted for,
 * so hm.sleep and hm.timer.at never end early (a stale loop clock made a
 * 250 ms sleep return after 249.8 ms). */
uint64_t hm_lua_timer_ms(uv_loop_t *loop, double sec);

/* Sets hm.time and hm.sleep on the table at the top of the stack. */
void hm_lua_time_open(lua_State *L, hm_vm_t *vm);

#endif
