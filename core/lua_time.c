/* lua_time.c -- hm.time.now/monotonic and hm.sleep (a yielding timer). */
#include "hotelmux/lua_time.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>

uint64_t hm_lua_timer_ms(uv_loop_t *loop, double sec)
{
    uv_update_time(loop);   /* the cached loop time may be stale by this iteration's work */
    return (uint64_t)ceil(sec * 1000.0);
}

typedef struct {
    uv_timer_t timer;
    hm_task_t *task;
} sleep_t;

static int l_now(lua_State *L)
{
    lua_pushnumber(L, hm_clock_now());
    return 1;
}

static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, hm_clock_monotonic());
    return 1;
}

static void sleep_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sleep_fired(uv_timer_t *timer)
{
    sleep_t *s = timer->data;
    hm_task_t *t = s->task;
    uv_close((uv_handle_t *)timer, sleep_closed);
    hm_task_wake(t, 0);
}

static void sleep_cancel(hm_task_t *t, void *data)
{
    HM_UNUSED(t);
    sleep_t *s = data;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, sleep_closed);
}

static int l_sleep(lua_State *L)
{
    lua_Number sec = luaL_checknumber(L, 1);
    if (!(sec >= 0) || sec > 86400)
        return luaL_argerror(L, 1, "seconds must be between 0 and 86400");
    hm_task_t *t = hm_task_current(L, "hm.sleep");
    sleep_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return luaL_error(L, "hm.sleep: out of memory");
    if (uv_timer_init(&t->vm->worker->loop, &s->timer) != 0) {
        free(s);
        return luaL_error(L, "hm.sleep: cannot create a timer");
    }
    s->timer.data = s;
    s->task = t;
    uv_timer_start(&s->timer, sleep_fired, hm_lua_timer_ms(&t->vm->worker->loop, sec), 0);
    hm_task_suspend(t, sleep_cancel, s);
    return lua_yield(L, 0);
}

void hm_lua_time_open(lua_State *L, hm_vm_t *vm)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_monotonic);
    lua_setfield(L, -2, "monotonic");
    lua_setfield(L, -2, "time");
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_sleep, 1);
    lua_setfield(L, -2, "sleep");
}
