/* task.h -- a Lua coroutine driven by a worker's event loop.
 *
 * Every request handler runs in its own task. A C primitive that waits (HTTP,
 * sleep) finds the running task with hm_task_current(), starts its operation,
 * registers how to cancel it with hm_task_suspend() and returns lua_yield();
 * the operation's callback pushes the results onto the task's coroutine and
 * calls hm_task_wake(). The loop never blocks; the coroutine sees an ordinary
 * function call that returned later. (The pattern of ngx_http_lua_sleep.c.) */
#ifndef HM_TASK_H
#define HM_TASK_H

#include <lua.h>

#include "hotelmux/lua_vm.h"

typedef struct hm_task_s hm_task_t;

/* ok = 1: the function returned; its nres results are on co at 1..nres.
 * ok = 0: it raised; the message (with file:line) is on co's top and has been
 * logged with a traceback. The task is freed right after this returns. */
typedef void (*hm_task_done_cb)(hm_task_t *t, int ok, lua_State *co, int nres);
typedef void (*hm_task_cancel_cb)(hm_task_t *t, void *wait_data);

struct hm_task_s {
    hm_vm_t *vm;              /* holds a reference */
    lua_State *co;
    int co_ref;
    hm_task_done_cb done;
    void *data;               /* the owner's (e.g. the connection) */
    int waiting;              /* suspended in a primitive */
    hm_task_cancel_cb cancel;
    void *wait_data;
    char request_id[64];
    const char *route;        /* route pattern (owned by vm's router): metrics label */
    char method[16];
    uint64_t start_ns;
    struct hm_task_s *parent;       /* set for hm.fanout jobs: aborted through the parent */
    /* The request's outbound HTTP span, kept on its root task (hm.http.span):
     * first call started, last answer received (uv_hrtime ns; 0 = none). */
    uint64_t upstream_first_ns, upstream_last_ns;
    int ari;                        /* an ARI request (ari.h): no cache, ever */
    struct hm_task_s *prev, *next;  /* the worker's list of live tasks */
};

/* A new task on vm with its coroutine; push the function and its arguments on
 * t->co, then hm_task_run(). NULL on allocation failure. */
hm_task_t *hm_task_new(hm_vm_t *vm, hm_task_done_cb done, void *data, const char *request_id);
void hm_task_run(hm_task_t *t, int nargs);

/* For primitives: the running task if L is its coroutine; otherwise raises a
 * Lua error naming `what` (called outside a request, or from a nested coroutine). */
hm_task_t *hm_task_current(lua_State *L, const char *what);
void hm_task_suspend(hm_task_t *t, hm_task_cancel_cb cancel, void *wait_data);
/* Resume with nargs values already pushed on t->co. */
void hm_task_wake(hm_task_t *t, int nargs);

/* Abort: cancel the pending wait, drop the coroutine, free the task; done is not called. */
void hm_task_abort(hm_task_t *t);

#endif
