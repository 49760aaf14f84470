/* lua_limit.c -- hm.limit (see lua_limit.h). */
#include "hotelmux/lua_limit.h"

#include <hiredis/hiredis.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/ratelimit.h"
#include "hotelmux/redis.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

/* KEYS[1] = key; ARGV = emission interval (µs), tolerance (µs). Returns
 * {allowed, retry_after_us}. Redis's own clock: nodes' clocks may differ. */
static const char GCRA_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "
    "local T, tol = tonumber(ARGV[1]), tonumber(ARGV[2]) "
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now) "
    "if tat < now then tat = now end "
    "if now < tat - tol then return { 0, tat - tol - now } end "
    "redis.call('SET', KEYS[1], tat + T, 'PX', math.ceil((tat + T - now) / 1000) + 1000) "
    "return { 1, 0 }";

typedef struct {
    hm_task_t *task;
    hm_redis_op_t *op;
    double rate, burst;
    size_t klen;
    char key[];
} limit_wait_t;

static int push_verdict(lua_State *L, int allowed, double retry_after, const char *where)
{
    lua_pushboolean(L, allowed);
    lua_pushnumber(L, retry_after);
    lua_pushstring(L, where);
    return 3;
}

static int local_take(lua_State *L, const char *key, size_t klen, double rate, double burst)
{
    double retry;
    int ok = hm_ratelimit_take(key, klen, rate, burst, hm_clock_monotonic(), &retry);
    return push_verdict(L, ok, retry, "local");
}

static void on_reply(void *data, redisReply *reply, const char *err)
{
    limit_wait_t *w = data;
    hm_task_t *t = w->task;
    (void)err;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        push_verdict(t->co, reply->element[0]->integer == 1,
                     (double)reply->element[1]->integer / 1e6, "redis");
    } else {
        local_take(t->co, w->key, w->klen, w->rate, w->burst);   /* Redis down/slow: this node decides */
    }
    free(w);
    hm_task_wake(t, 3);
}

static void on_cancel(hm_task_t *t, void *data)
{
    (void)t;
    limit_wait_t *w = data;
    hm_redis_cancel(w->op);
    free(w);
}

static int l_take(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    double rate = luaL_checknumber(L, 2), burst = luaL_optnumber(L, 3, 1);
    if (!(rate > 0) || isinf(rate))
        return luaL_argerror(L, 2, "rate must be > 0 requests per second");
    if (!(burst >= 1) || isinf(burst))
        return luaL_argerror(L, 3, "burst must be >= 1");
    hm_worker_t *wk = vm->worker;
    hm_task_t *t = vm->current;
    if (!wk || !hm_redis_connected(wk->redis) || !t || t->co != L || t->waiting)
        return local_take(L, key, klen, rate, burst);
    limit_wait_t *w = calloc(1, sizeof(*w) + klen + 1);
    if (!w)
        return local_take(L, key, klen, rate, burst);
    memcpy(w->key, key, klen);
    w->klen = klen;
    w->rate = rate;
    w->burst = burst;
    w->task = t;
    char rkey[300], emission[32], tolerance[32];
    snprintf(rkey, sizeof(rkey), "hm:rl:%.*s", (int)(klen > 256 ? 256 : klen), key);
    snprintf(emission, sizeof(emission), "%.0f", 1e6 / rate);
    snprintf(tolerance, sizeof(tolerance), "%.0f", (burst - 1) * 1e6 / rate);
    const char *argv[6] = { "EVAL", GCRA_SCRIPT, "1", rkey, emission, tolerance };
    size_t lens[6] = { 4, sizeof(GCRA_SCRIPT) - 1, 1, strlen(rkey), strlen(emission), strlen(tolerance) };
    if (hm_redis_command(wk->redis, wk->cfg->redis_timeout_ms, on_reply, w, &w->op, 6, argv, lens) != HM_OK) {
        free(w);
        return local_take(L, key, klen, rate, burst);
    }
    hm_task_suspend(t, on_cancel, w);
    return lua_yield(L, 0);
}

void hm_lua_limit_open(lua_State *L, hm_vm_t *vm)
{
    lua_newtable(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_take, 1);
    lua_setfield(L, -2, "take");
    lua_setfield(L, -2, "limit");
}
