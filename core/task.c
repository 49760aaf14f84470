/* task.c -- Lua coroutines driven by the worker's loop. */
#include "hotelmux/task.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/worker.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static void task_link(hm_task_t *t)
{
    hm_worker_t *w = t->vm->worker;
    if (w == NULL)
        return;
    t->next = w->tasks;
    if (w->tasks)
        w->tasks->prev = t;
    w->tasks = t;
    w->ntasks++;
}

static void task_unlink(hm_task_t *t)
{
    hm_worker_t *w = t->vm->worker;
    if (w == NULL)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    w->ntasks--;
}

hm_task_t *hm_task_new(hm_vm_t *vm, hm_task_done_cb done, void *data, const char *request_id)
{
    hm_task_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->co = hm_vm_coroutine(vm, &t->co_ref);
    if (t->co == NULL) {
        free(t);
        return NULL;
    }
    t->vm = vm;
    hm_vm_retain(vm);
    t->done = done;
    t->data = data;
    if (request_id) {   /* a bounded copy, without printf on every request */
        size_t n = strnlen(request_id, sizeof(t->request_id) - 1);
        memcpy(t->request_id, request_id, n);
        t->request_id[n] = '\0';
    }
    task_link(t);
    return t;
}

static void task_free(hm_task_t *t, int reusable)
{
    hm_vm_t *vm = t->vm;
    task_unlink(t);
    hm_vm_coroutine_done(vm, t->co, t->co_ref, reusable);
    free(t);
    hm_vm_release(vm);
}

static void task_finish(hm_task_t *t, int ok)
{
    int nres = lua_gettop(t->co);
    if (t->done)
        t->done(t, ok, t->co, nres);
    task_free(t, ok);
}

/* Resume the coroutine and settle what it did: waiting again, finished, or failed. */
static void task_resume(hm_task_t *t, int nargs)
{
    hm_vm_t *vm = t->vm;
    struct hm_task_s *prev = vm->current;
    const char *prev_id = hm_log_request_id();
    vm->current = t;
    hm_log_set_request_id(t->request_id[0] ? t->request_id : NULL);
    int st = lua_resume(t->co, nargs);
    vm->current = prev;
    if (st == LUA_YIELD) {
        if (!t->waiting) {
            /* A bare coroutine.yield() in the handler's own coroutine: nobody
             * would ever resume it, so fail it now instead of hanging. */
            lua_settop(t->co, 0);
            lua_pushstring(t->co, "handler yielded outside an hm.* call (coroutine.yield from the "
                                  "request coroutine is not allowed)");
            hm_log(HM_LOG_ERROR, "script error: %s", lua_tostring(t->co, -1));
            task_finish(t, 0);
        }
    } else if (st == 0) {
        task_finish(t, 1);
    } else {
        const char *msg = lua_tostring(t->co, -1);
        luaL_traceback(vm->L, t->co, msg ? msg : "(error object is not a string)", 0);
        hm_log(HM_LOG_ERROR, "script error: %s", lua_tostring(vm->L, -1));
        lua_pop(vm->L, 1);
        if (msg == NULL) {
            lua_settop(t->co, 0);
            lua_pushstring(t->co, "(error object is not a string)");
        }
        task_finish(t, 0);
    }
    hm_log_set_request_id(prev_id);
}

void hm_task_run(hm_task_t *t, int nargs)
{
    task_resume(t, nargs);
}

hm_task_t *hm_task_current(lua_State *L, const char *what)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    hm_task_t *t = vm->current;
    if (vm->worker == NULL || t == NULL)
        luaL_error(L, "%s: only available while handling a request (not at script load time)", what);
    else if (t->co != L)
        luaL_error(L, "%s: must be called from the request's coroutine, not a nested coroutine", what);
    else if (t->waiting)
        luaL_error(L, "%s: task is already waiting", what);
    return t;
}

void hm_task_suspend(hm_task_t *t, hm_task_cancel_cb cancel, void *wait_data)
{
    t->waiting = 1;
    t->cancel = cancel;
    t->wait_data = wait_data;
}

void hm_task_wake(hm_task_t *t, int nargs)
{
    t->waiting = 0;
    t->cancel = NULL;
    t->wait_data = NULL;
    task_resume(t, nargs);
}

void hm_task_abort(hm_task_t *t)
{
    if (t->waiting && t->cancel)
        t->cancel(t, t->wait_data);
    t->waiting = 0;
    task_free(t, 0);
}
