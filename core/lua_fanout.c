/* lua_fanout.c -- hm.fanout: run several functions concurrently, each in
 * its own coroutine under its own deadline, inside one overall deadline.
 *
 *   local results, busy = hm.fanout({
 *       { name = "hotelbeds", supplier = "hotelbeds", op = "search", timeout_ms = 300, qps = 50,
 *         fn = function() return connector.search(ctx, q) end },
 *       ...
 *   }, { deadline_ms = 1000, gate = true })
 *   -- results[i] = { name, supplier, status = "ok"|"error"|"timeout"|"throttled"|"circuit_open",
 *   --                value = <fn's 1st result>, err = <fn's 2nd result or error>, latency_ms }
 *
 * gate = true (searches, not reservations): the fan-out takes a slot of the
 * worker's gate (fanout_gate.h) first. When the worker is not keeping up it
 * waits, at most what the deadline leaves past the longest job timeout,
 * before any job starts; if it gets no slot, hm.fanout returns nil, "busy: ..."
 * and nothing was called.
 *
 * A job that returns nil, err counts as an error; err.kind "throttled" or
 * "timeout" (the connector's typed errors) set that status. A job with a
 * `supplier` goes through supplier_guard: refused jobs never run (status
 * throttled / circuit_open) and every outcome is recorded. Jobs still running
 * at their deadline are aborted (their HTTP requests are cancelled) and
 * reported as "timeout" (after ready I/O had its turn: give_io_a_turn). The
 * caller resumes as soon as the last job settles. Outcomes go to the breaker,
 * except timeouts of a saturated worker (worker_saturated), and to
 * hotelmux_supplier_requests_total{supplier,op,outcome}. */
#include "hotelmux/lua_fanout.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/clock.h"
#include "hotelmux/fanout_gate.h"
#include "hotelmux/common.h"
#include "hotelmux/metrics.h"
#include "hotelmux/supplier_guard.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#define MAX_JOBS 64

typedef struct fanout_s fanout_t;

typedef struct {
    fanout_t *f;
    int index;
    hm_task_t *child;          /* running; NULL once settled */
    uv_timer_t timer;
    uint64_t start_ns;
    uint64_t idle_start_ns;    /* the loop's idle time when the job started */
    int grace;                 /* the deadline gave ready I/O its turn */
    char name[64];
    char supplier[64];
    char op[24];               /* search, check_avail, book, ... ("call" if not given) */
} job_t;

struct fanout_s {
    hm_vm_t *vm;
    hm_task_t *parent;
    int results_ref;
    int njobs, pending;
    int suspended;             /* the parent has yielded */
    int open_handles;          /* timers not yet closed */
    int done;                  /* parent woken or aborted: free once handles close */
    int grace;                 /* as job_t.grace, for the overall deadline */
    uv_timer_t deadline;
    int deadline_ms;
    hm_gate_waiter_t waiter;   /* first member used: container_of below */
    int gated;                 /* holds a slot of the worker's gate */
    int jobs_ref;              /* the jobs table while queued at the gate */
    uint64_t queued_at;        /* loop time it queued at */
    job_t jobs[];
};

#define FANOUT_OF_WAITER(w) ((fanout_t *)((char *)(w) - offsetof(fanout_t, waiter)))

static void fanout_maybe_free(fanout_t *f)
{
    if (f->done && f->open_handles == 0)
        free(f);
}

static void on_timer_closed(uv_handle_t *h)
{
    fanout_t *f = h->data;
    f->open_handles--;
    fanout_maybe_free(f);
}

static void close_timer(fanout_t *f, uv_timer_t *t)
{
    if (uv_is_closing((uv_handle_t *)t))
        return;
    uv_timer_stop(t);
    t->data = f;
    uv_close((uv_handle_t *)t, on_timer_closed);
}

static const char *status_of_err(lua_State *L, int err_idx)
{
    if (lua_istable(L, err_idx)) {
        lua_getfield(L, err_idx, "kind");
        const char *k = lua_tostring(L, -1);
        const char *s = "error";
        if (k && strcmp(k, "throttled") == 0)
            s = "throttled";
        else if (k && strcmp(k, "timeout") == 0)
            s = "timeout";
        lua_pop(L, 1);
        return s;
    }
    return "error";
}

/* Was the worker saturated for the whole of the job's life? Its loop was
 * idle (waiting in the poll) for under a tenth of it. A timeout then says
 * nothing about the supplier: the gateway could not have read a timely answer
 * (a burst on cold JIT traces, more searches than the cores can compose). */
static int worker_saturated(const job_t *j)
{
    hm_worker_t *w = j->f->vm->worker;
    if (!w)
        return 0;
    uint64_t idle = uv_metrics_idle_time(&w->loop) - j->idle_start_ns;
    uint64_t wall = uv_hrtime() - j->start_ns;
    return idle * 10 < wall;
}

/* hotelmux_supplier_requests_total{supplier,op,outcome}. outcome: ok, error,
 * timeout, throttled (the supplier said slow down), and for calls never
 * sent, rate_limited (our outbound bucket) and circuit_open. */
static void count_request(const job_t *j, const char *esc_supplier, const char *outcome)
{
    char op[48], labels[256];
    hm_metrics_label_escape(op, sizeof(op), j->op[0] ? j->op : "call");
    snprintf(labels, sizeof(labels), "supplier=\"%s\",op=\"%s\",outcome=\"%s\"", esc_supplier, op, outcome);
    hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_supplier_requests_total",
                                    "Supplier calls by supplier, operation and outcome", labels),
                  j->f->vm->worker ? j->f->vm->worker->id : 0, 1);
}

static void record_outcome(job_t *j, const char *status, double retry_after, double latency)
{
    if (!j->supplier[0])
        return;
    hm_outcome_t o = strcmp(status, "ok") == 0          ? HM_OUTCOME_OK
                     : strcmp(status, "timeout") == 0   ? HM_OUTCOME_TIMEOUT
                     : strcmp(status, "throttled") == 0 ? HM_OUTCOME_THROTTLED
                                                        : HM_OUTCOME_ERROR;
    int worker = j->f->vm->worker ? j->f->vm->worker->id : 0;
    char esc[128], labels[256];
    hm_metrics_label_escape(esc, sizeof(esc), j->supplier);
    count_request(j, esc, status);
    snprintf(labels, sizeof(labels), "supplier=\"%s\"", esc);
    if (o == HM_OUTCOME_THROTTLED) {
        hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_supplier_throttles_total",
                                        "Throttle answers from suppliers (Over QPS, 429)", labels),
                      worker, 1);
    }
    if (o == HM_OUTCOME_TIMEOUT && worker_saturated(j)) {
        /* Not a health signal (and a half-open probe slot is freed). Had it
         * been charged, the breakers of healthy suppliers opened after every
         * restart or reload under load, turning searches into empty answers. */
        hm_guard_abandon(j->supplier);
        hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_supplier_stalled_timeouts_total",
                                        "Supplier timeouts while the worker was saturated (not charged to "
                                        "the circuit breaker)", labels),
                      worker, 1);
    } else {
        hm_guard_record(j->supplier, o, retry_after, hm_clock_monotonic());
    }
    if (latency >= 0) {
        hm_series_observe(hm_metrics_series(HM_METRIC_HISTOGRAM, "hotelmux_supplier_latency_seconds",
                                            "Connector call latency by supplier", labels),
                          worker, latency);
    }
}

/* Store the result table on top of L's stack as results[j->index + 1]. */
static void store_result(job_t *j, lua_State *L)
{
    fanout_t *f = j->f;
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->results_ref);
    lua_insert(L, -2);
    lua_rawseti(L, -2, j->index + 1);
    lua_pop(L, 1);
}

/* Push a fresh result table {name, supplier, status, latency_ms} on L. */
static void push_result(job_t *j, lua_State *L, const char *status, double latency)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, j->name);
    lua_setfield(L, -2, "name");
    if (j->supplier[0]) {
        lua_pushstring(L, j->supplier);
        lua_setfield(L, -2, "supplier");
    }
    lua_pushstring(L, status);
    lua_setfield(L, -2, "status");
    lua_pushnumber(L, latency * 1000.0);
    lua_setfield(L, -2, "latency_ms");
}

static void fanout_finish(fanout_t *f);

static void job_settled(job_t *j)
{
    fanout_t *f = j->f;
    j->child = NULL;
    close_timer(f, &j->timer);
    if (--f->pending == 0 && f->suspended)
        fanout_finish(f);
}

static void child_done(hm_task_t *t, int ok, lua_State *co, int nres)
{
    job_t *j = t->data;
    lua_State *L = j->f->vm->L;
    double latency = (double)(uv_hrtime() - j->start_ns) / 1e9;
    const char *status;
    double retry_after = 0;
    if (!ok) {
        status = "error";
        push_result(j, L, status, latency);
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, "script");
        lua_setfield(L, -2, "kind");
        lua_xmove(co, L, 1);   /* the message */
        lua_setfield(L, -2, "message");
        lua_setfield(L, -2, "err");
    } else {
        lua_settop(co, nres < 2 ? 2 : nres);   /* value, err (nil-padded) */
        if (!lua_isnil(co, 1)) {
            status = "ok";
        } else {
            status = status_of_err(co, 2);
            if (lua_istable(co, 2)) {
                lua_getfield(co, 2, "retry_after");
                retry_after = lua_tonumber(co, -1);
                lua_pop(co, 1);
            }
        }
        push_result(j, L, status, latency);
        lua_pushvalue(co, 1);
        lua_pushvalue(co, 2);
        lua_xmove(co, L, 2);
        lua_setfield(L, -3, "err");
        lua_setfield(L, -2, "value");
    }
    store_result(j, L);
    record_outcome(j, status, retry_after, latency);
    job_settled(j);
}

/* A job past its deadline: abort its coroutine (cancelling its I/O). */
static void job_timeout(job_t *j)
{
    lua_State *L = j->f->vm->L;
    hm_task_t *child = j->child;
    double latency = (double)(uv_hrtime() - j->start_ns) / 1e9;
    j->child = NULL;
    hm_task_abort(child);
    push_result(j, L, "timeout", latency);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "timeout");
    lua_setfield(L, -2, "kind");
    lua_pushliteral(L, "deadline passed before the job finished");
    lua_setfield(L, -2, "message");
    lua_setfield(L, -2, "err");
    store_result(j, L);
    record_outcome(j, "timeout", 0, latency);
    j->child = NULL;
    job_settled(j);
}

/* Deadlines fire in libuv's timer phase, before the I/O poll: on a busy loop
 * the answer of a supplier that replied in time can be waiting in its socket
 * when its deadline is seen. Each deadline therefore gives the poll one turn
 * (1 ms; a timer started from the timer phase never runs in the same phase)
 * before it cuts anything, as nginx handles ready events before expired
 * timers. A supplier is not reported timed out, nor its breaker charged, for
 * the gateway's own lag. */
static int give_io_a_turn(uv_timer_t *t, int *grace, uv_timer_cb cb)
{
    if (*grace)
        return 0;
    *grace = 1;
    uv_timer_start(t, cb, 1, 0);
    return 1;
}

static void on_job_timer(uv_timer_t *t)
{
    job_t *j = t->data;
    if (j->child && !give_io_a_turn(t, &j->grace, on_job_timer))
        job_timeout(j);
}

static void on_deadline(uv_timer_t *t)
{
    fanout_t *f = t->data;
    if (f->pending > 0 && give_io_a_turn(t, &f->grace, on_deadline))
        return;
    /* job_timeout may finish the fan-out (and wake the parent) on the last
     * job; mark suspended off first so that happens once, below. */
    int was = f->suspended;
    f->suspended = 0;
    for (int i = 0; i < f->njobs; i++)
        if (f->jobs[i].child)
            job_timeout(&f->jobs[i]);
    f->suspended = was;
    if (f->pending == 0 && f->suspended)
        fanout_finish(f);
}

static void fanout_release(fanout_t *f)
{
    hm_worker_t *w = f->vm->worker;
    int gated = f->gated;
    if (w)
        hm_fanout_gate_cancel(&w->gate, &f->waiter);
    f->gated = 0;
    luaL_unref(f->vm->L, LUA_REGISTRYINDEX, f->jobs_ref);
    luaL_unref(f->vm->L, LUA_REGISTRYINDEX, f->results_ref);
    close_timer(f, &f->deadline);
    for (int i = 0; i < f->njobs; i++)
        close_timer(f, &f->jobs[i].timer);
    f->done = 1;
    fanout_maybe_free(f);
    /* last: the slot may admit another fan-out, which runs its jobs now */
    if (gated && w)
        hm_fanout_gate_leave(&w->gate);
}

static void fanout_finish(fanout_t *f)
{
    hm_task_t *parent = f->parent;
    lua_rawgeti(parent->co, LUA_REGISTRYINDEX, f->results_ref);
    f->suspended = 0;
    fanout_release(f);
    hm_task_wake(parent, 1);
}

/* The parent was aborted (client gone, drain): abort every job. */
static void fanout_cancel(hm_task_t *t, void *data)
{
    HM_UNUSED(t);
    fanout_t *f = data;
    f->suspended = 0;
    for (int i = 0; i < f->njobs; i++) {
        hm_task_t *child = f->jobs[i].child;
        if (child) {
            f->jobs[i].child = NULL;
            hm_task_abort(child);
            if (f->jobs[i].supplier[0])
                hm_guard_abandon(f->jobs[i].supplier);   /* no outcome: free a half-open probe */
        }
    }
    fanout_release(f);
}

static int opt_int_field(lua_State *L, int idx, const char *k, int def)
{
    lua_getfield(L, idx, k);
    int v = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static double opt_num_field(lua_State *L, int idx, const char *k, double def)
{
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

/* A job's timeout: its timeout_ms, within the fan-out's deadline. */
static int job_timeout_ms(lua_State *L, int idx, int deadline_ms)
{
    int t = opt_int_field(L, idx, "timeout_ms", deadline_ms);
    return t <= 0 || t > deadline_ms ? deadline_ms : t;
}

static void copy_str_field(lua_State *L, int idx, const char *k, char *out, size_t cap)
{
    lua_getfield(L, idx, k);
    const char *s = lua_tostring(L, -1);
    snprintf(out, cap, "%s", s ? s : "");
    lua_pop(L, 1);
}

/* Start every job of the table at jobs_idx on L (any thread of the VM).
 * One that finishes without waiting settles at once. */
static void start_jobs(fanout_t *f, lua_State *L, int jobs_idx, int deadline_ms)
{
    hm_task_t *parent = f->parent;
    hm_vm_t *vm = f->vm;
    uv_loop_t *loop = &vm->worker->loop;
    f->pending = f->njobs;
    double now = hm_clock_monotonic();
    uint64_t idle = uv_metrics_idle_time(loop);
    for (int i = 0; i < f->njobs; i++) {
        job_t *j = &f->jobs[i];
        lua_rawgeti(L, jobs_idx, i + 1);
        int jt = lua_gettop(L);
        copy_str_field(L, jt, "name", j->name, sizeof(j->name));
        copy_str_field(L, jt, "supplier", j->supplier, sizeof(j->supplier));
        copy_str_field(L, jt, "op", j->op, sizeof(j->op));
        if (!j->name[0])
            snprintf(j->name, sizeof(j->name), "%s", j->supplier[0] ? j->supplier : "job");
        int timeout_ms = job_timeout_ms(L, jt, deadline_ms);
        j->start_ns = uv_hrtime();
        j->idle_start_ns = idle;
        if (j->supplier[0]) {
            hm_guard_opts_t o;
            hm_guard_opts_default(&o);
            o.qps = opt_num_field(L, jt, "qps", 0);
            o.min_calls = opt_int_field(L, jt, "breaker_min_calls", o.min_calls);
            o.failure_ratio = opt_num_field(L, jt, "breaker_failure_ratio", o.failure_ratio);
            o.open_seconds = opt_num_field(L, jt, "breaker_open_seconds", o.open_seconds);
            hm_guard_verdict_t v = hm_guard_admit(j->supplier, &o, now);
            if (v != HM_GUARD_OK) {
                const char *st = v == HM_GUARD_OPEN ? "circuit_open" : "throttled";
                char esc[128];
                hm_metrics_label_escape(esc, sizeof(esc), j->supplier);
                count_request(j, esc, v == HM_GUARD_OPEN ? "circuit_open" : "rate_limited");
                push_result(j, L, st, 0);
                lua_createtable(L, 0, 2);
                lua_pushstring(L, st);
                lua_setfield(L, -2, "kind");
                lua_pushstring(L, v == HM_GUARD_OPEN ? "circuit breaker open: supplier not called"
                                                     : "rate limit: supplier not called");
                lua_setfield(L, -2, "message");
                lua_setfield(L, -2, "err");
                store_result(j, L);
                lua_settop(L, jt - 1);
                job_settled(j);
                continue;
            }
        }
        hm_task_t *child = hm_task_new(vm, child_done, j, parent->request_id);
        if (!child) {
            lua_settop(L, jt - 1);
            push_result(j, L, "error", 0);
            store_result(j, L);
            job_settled(j);
            continue;
        }
        child->parent = parent;
        child->ari = parent->ari;
        child->route = parent->route;
        snprintf(child->method, sizeof(child->method), "%s", parent->method);
        child->start_ns = j->start_ns;
        j->child = child;
        uv_timer_start(&j->timer, on_job_timer, (uint64_t)timeout_ms, 0);
        lua_getfield(L, jt, "fn");
        lua_xmove(L, child->co, 1);
        lua_settop(L, jt - 1);
        hm_task_run(child, 0);   /* may settle synchronously */
    }
}

/* A queued fan-out's turn came (or it gave up): start its jobs in what is
 * left of its deadline, or answer nil, "busy" without calling anyone. */
static void on_gate(hm_gate_waiter_t *wt, int admitted)
{
    fanout_t *f = FANOUT_OF_WAITER(wt);
    hm_task_t *parent = f->parent;
    lua_State *L = f->vm->L;
    uint64_t waited = uv_now(&f->vm->worker->loop) - f->queued_at;
    if (!admitted || waited >= (uint64_t)f->deadline_ms) {
        f->gated = admitted;
        f->suspended = 0;
        fanout_release(f);
        lua_pushnil(parent->co);
        lua_pushliteral(parent->co, "busy: the gateway is at capacity (searches queued too long)");
        hm_task_wake(parent, 2);
        return;
    }
    f->gated = 1;
    int remaining = f->deadline_ms - (int)waited;
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->jobs_ref);   /* the stack keeps it alive */
    luaL_unref(L, LUA_REGISTRYINDEX, f->jobs_ref);
    f->jobs_ref = LUA_NOREF;
    int top = lua_gettop(L);
    start_jobs(f, L, top, remaining);
    lua_settop(L, top - 1);
    if (f->done)
        return;   /* every job settled at once: job_settled woke the parent */
    uv_timer_start(&f->deadline, on_deadline, (uint64_t)remaining, 0);
}

static int l_fanout(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int njobs = (int)lua_objlen(L, 1);
    if (njobs > MAX_JOBS)
        return luaL_argerror(L, 1, "at most 64 jobs");
    int deadline_ms = 1000, gate = 0;
    if (lua_istable(L, 2)) {
        deadline_ms = opt_int_field(L, 2, "deadline_ms", deadline_ms);
        lua_getfield(L, 2, "gate");
        gate = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (deadline_ms <= 0)
        return luaL_argerror(L, 2, "deadline_ms must be > 0");
    int max_timeout = 0;
    for (int i = 1; i <= njobs; i++) {
        lua_rawgeti(L, 1, i);
        if (!lua_istable(L, -1))
            return luaL_error(L, "hm.fanout: job %d must be a table", i);
        lua_getfield(L, -1, "fn");
        if (!lua_isfunction(L, -1))
            return luaL_error(L, "hm.fanout: job %d needs fn = function", i);
        lua_pop(L, 1);
        int t = job_timeout_ms(L, lua_gettop(L), deadline_ms);
        if (t > max_timeout)
            max_timeout = t;
        lua_pop(L, 1);
    }
    hm_task_t *parent = hm_task_current(L, "hm.fanout");
    hm_vm_t *vm = parent->vm;   /* a running task: on a worker (hm_task_current) */
    fanout_t *f = calloc(1, sizeof(*f) + (size_t)njobs * sizeof(job_t));
    if (!f)
        return luaL_error(L, "hm.fanout: out of memory");
    f->vm = vm;
    f->parent = parent;
    f->njobs = njobs;
    f->deadline_ms = deadline_ms;
    f->jobs_ref = LUA_NOREF;
    lua_createtable(L, njobs, 0);
    f->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    uv_loop_t *loop = &vm->worker->loop;
    uv_timer_init(loop, &f->deadline);
    f->deadline.data = f;
    f->open_handles = 1;
    for (int i = 0; i < njobs; i++) {
        job_t *j = &f->jobs[i];
        j->f = f;
        j->index = i;
        uv_timer_init(loop, &j->timer);
        j->timer.data = j;
        f->open_handles++;
    }
    if (gate && njobs > 0) {
        /* Queue for at most what leaves every job its whole timeout. */
        int rc = hm_fanout_gate_enter(&vm->worker->gate, &f->waiter,
                                      (uint64_t)(deadline_ms - max_timeout), on_gate);
        if (rc < 0) {
            fanout_release(f);
            lua_pushnil(L);
            lua_pushliteral(L, "busy: the gateway is at capacity");
            return 2;
        }
        if (rc == 0) {
            lua_pushvalue(L, 1);
            f->jobs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            f->queued_at = uv_now(loop);
            f->suspended = 1;
            hm_task_suspend(parent, fanout_cancel, f);
            return lua_yield(L, 0);
        }
        f->gated = 1;
    }
    start_jobs(f, L, 1, deadline_ms);
    if (f->pending == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->results_ref);
        fanout_release(f);
        return 1;
    }
    uv_timer_start(&f->deadline, on_deadline, (uint64_t)deadline_ms, 0);
    f->suspended = 1;
    hm_task_suspend(parent, fanout_cancel, f);
    return lua_yield(L, 0);
}

static int l_supplier_state(lua_State *L)
{
    lua_pushstring(L, hm_guard_state(luaL_checkstring(L, 1), hm_clock_monotonic()));
    return 1;
}

void hm_lua_fanout_open(lua_State *L, hm_vm_t *vm)
{
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_fanout, 1);
    lua_setfield(L, -2, "fanout");
    lua_newtable(L);
    lua_pushcfunction(L, l_supplier_state);
    lua_setfield(L, -2, "circuit");
    lua_setfield(L, -2, "supplier");
}
