/* lua_timer.c -- hm.timer.at and init_worker (see lua_timer.h). */
#include "hotelmux/lua_timer.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>

#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/lua_time.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

typedef struct hm_timer_s {
    uv_timer_t timer;
    hm_worker_t *w;
    hm_vm_t *vm;               /* one reference held until the timer ends */
    int fn_ref;
    struct hm_timer_s *prev, *next;
} hm_timer_t;

static void unlink_timer(hm_timer_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->w->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

/* Unlink, drop the function and the vm reference, close the handle. */
static void timer_end(hm_timer_t *t)
{
    unlink_timer(t);
    luaL_unref(t->vm->L, LUA_REGISTRYINDEX, t->fn_ref);
    hm_vm_release(t->vm);
    uv_close((uv_handle_t *)&t->timer, timer_closed);
}

/* Start fn (on the top of vm->L's stack, popped) in a background task. */
static void run_background(hm_vm_t *vm, const char *id)
{
    hm_task_t *task = hm_task_new(vm, NULL, NULL, id);
    if (task == NULL) {
        lua_pop(vm->L, 1);
        hm_log(HM_LOG_ERROR, "%s: out of memory starting a background task", id);
        return;
    }
    task->route = NULL;
    task->start_ns = uv_hrtime();
    lua_xmove(vm->L, task->co, 1);
    hm_task_run(task, 0);
}

static void timer_fired(uv_timer_t *h)
{
    hm_timer_t *t = h->data;
    hm_vm_t *vm = t->vm;
    int live = t->w->vm == vm && !t->w->draining;
    if (live) {
        hm_vm_retain(vm);
        lua_rawgeti(vm->L, LUA_REGISTRYINDEX, t->fn_ref);
    }
    timer_end(t);
    if (live) {
        run_background(vm, "timer");
        hm_vm_release(vm);
    }
}

static int l_timer_at(lua_State *L)
{
    double sec = luaL_checknumber(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!(sec >= 0) || sec > 86400 * 30)
        return luaL_argerror(L, 1, "seconds must be between 0 and 30 days");
    hm_task_t *task = hm_task_current(L, "hm.timer.at");
    hm_worker_t *w = task->vm->worker;
    if (w->draining) {
        lua_pushnil(L);
        lua_pushliteral(L, "worker is stopping");
        return 2;
    }
    hm_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL || uv_timer_init(&w->loop, &t->timer) != 0) {
        free(t);
        lua_pushnil(L);
        lua_pushliteral(L, "out of memory");
        return 2;
    }
    t->timer.data = t;
    t->w = w;
    t->vm = task->vm;
    hm_vm_retain(t->vm);
    lua_pushvalue(L, 2);
    t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->next = w->timers;
    if (w->timers)
        w->timers->prev = t;
    w->timers = t;
    uv_timer_start(&t->timer, timer_fired, hm_lua_timer_ms(&w->loop, sec), 0);
    lua_pushboolean(L, 1);
    return 1;
}

void hm_lua_timer_open(lua_State *L, hm_vm_t *vm)
{
    lua_newtable(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_timer_at, 1);
    lua_setfield(L, -2, "at");
    lua_setfield(L, -2, "timer");
}

void hm_lua_timer_init_worker(hm_worker_t *w)
{
    hm_vm_t *vm = w->vm;
    if (vm == NULL)
        return;
    lua_State *L = vm->L;
    hm_vm_retain(vm);
    lua_getglobal(L, "hm");
    lua_getfield(L, -1, "scripts");
    int scripts = lua_gettop(L);
    lua_pushnil(L);
    while (lua_istable(L, scripts) && lua_next(L, scripts)) {
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "init_worker");
            if (lua_isfunction(L, -1))
                run_background(vm, "init_worker");
            else
                lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, scripts - 2);
    hm_vm_release(vm);
}

void hm_lua_timer_close_all(hm_worker_t *w)
{
    while (w->timers) {
        hm_timer_t *t = w->timers;
        uv_timer_stop(&t->timer);
        timer_end(t);
    }
}
