/* lua_timer.h -- hm.timer.at and the init_worker hook.
 *
 *   hm.timer.at(seconds, fn)   run fn in a background coroutine on this
 *                              worker after `seconds` -> true | nil, err
 * A script module may return `init_worker = function() ... end`; it runs
 * in a background coroutine on every worker each time a generation starts
 * serving there (startup and each reload), the place to arm timers.
 * A timer whose generation was replaced by a reload is dropped when it fires
 * (the new generation's init_worker arms its own), so reloads never leave
 * old code running. Timers are closed when the worker stops. */
#ifndef HM_LUA_TIMER_H
#define HM_LUA_TIMER_H
#include "hotelmux/lua_vm.h"
struct hm_worker_s;
/* Sets hm.timer on the table at the top of the stack. */
void hm_lua_timer_open(lua_State *L, hm_vm_t *vm);
/* Run every script's init_worker on w (worker thread, w->vm current). */
void hm_lua_timer_init_worker(struct hm_worker_s *w);
/* Close every pending timer of w (worker stopping). */
void hm_lua_timer_close_all(struct hm_worker_s *w);
#endif
