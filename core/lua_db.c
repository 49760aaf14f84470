/* lua_db.c -- hm.db (see lua_db.h): SQLite calls on the libuv thread pool. */
#include "hotelmux/lua_db.h"
#include "hotelmux/common.h"
#include "hotelmux/db.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_MT "hm.db"
#define MAX_PARAMS 64

typedef struct {
    char *path;   /* absolute or as given */
} ldb_t;

typedef struct {
    uv_work_t req;
    hm_task_t *task;
    int cancelled;     /* the task went away: drop the result */
    char *path;
    char *sql;
    hm_db_value_t params[MAX_PARAMS];
    size_t nparams;
    hm_db_result_t res;
    int rc;
} job_t;

static void job_free(job_t *j)
{
    for (size_t i = 0; i < j->nparams; i++)
        hm_db_value_free(&j->params[i]);
    hm_db_result_free(&j->res);
    free(j->path);
    free(j->sql);
    free(j);
}

/* Push the outcome: rows / {changes,last_id} / nil, err. Returns the count. */
static int push_result(lua_State *L, job_t *j)
{
    hm_db_result_t *r = &j->res;
    if (j->rc != HM_OK || !r->ok) {
        lua_pushnil(L);
        lua_pushstring(L, r->err[0] ? r->err : "database error");
        return 2;
    }
    if (!r->is_query) {
        lua_createtable(L, 0, 2);
        lua_pushnumber(L, (lua_Number)r->changes);
        lua_setfield(L, -2, "changes");
        lua_pushnumber(L, (lua_Number)r->last_id);
        lua_setfield(L, -2, "last_id");
        return 1;
    }
    lua_createtable(L, (int)r->nrows, 0);
    for (size_t i = 0; i < r->nrows; i++) {
        lua_createtable(L, 0, (int)r->ncols);
        for (size_t c = 0; c < r->ncols; c++) {
            hm_db_value_t *v = &r->cells[i * r->ncols + c];
            switch (v->type) {
            case HM_DBV_INT: lua_pushnumber(L, (lua_Number)v->i); break;
            case HM_DBV_REAL: lua_pushnumber(L, v->d); break;
            case HM_DBV_TEXT: lua_pushlstring(L, v->s, v->len); break;
            default: continue; /* NULL: the key is absent */
            }
            lua_setfield(L, -2, r->cols[c]);
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static void run(job_t *j)
{
    hm_db_t *db;
    char err[400];
    memset(&j->res, 0, sizeof(j->res));
    if ((j->rc = hm_db_open(j->path, &db, err, sizeof(err))) != HM_OK) {
        snprintf(j->res.err, sizeof(j->res.err), "open: %s", err);
        return;
    }
    j->rc = hm_db_exec(db, j->sql, j->params, j->nparams, &j->res);
}

static void work_cb(uv_work_t *req)
{
    job_t *j = req->data;
    if (!j->cancelled)
        run(j);
}

static void after_work_cb(uv_work_t *req, int status)
{
    job_t *j = req->data;
    if (j->cancelled) {
        job_free(j);
        return;
    }
    hm_task_t *t = j->task;
    int n;
    if (status == UV_ECANCELED) {
        lua_pushnil(t->co);
        lua_pushliteral(t->co, "cancelled");
        n = 2;
    } else {
        n = push_result(t->co, j);
    }
    job_free(j);
    hm_task_wake(t, n);
}

/* The task is being aborted (deadline, client gone): the work item may be
 * queued (uv_cancel removes it; after_work still runs with UV_ECANCELED) or
 * running (it finishes; after_work drops the result). Either way after_work
 * frees the job and never touches the task. */
static void job_cancel(hm_task_t *t, void *data)
{
    HM_UNUSED(t);
    job_t *j = data;
    j->cancelled = 1;
    j->task = NULL;
    uv_cancel((uv_req_t *)&j->req);
}

static int l_exec(lua_State *L)
{
    ldb_t *d = luaL_checkudata(L, 1, DB_MT);
    size_t sqllen;
    const char *sql = luaL_checklstring(L, 2, &sqllen);
    int top = lua_gettop(L);
    if (top - 2 > MAX_PARAMS)
        return luaL_error(L, "db:exec: at most %d parameters", MAX_PARAMS);
    if (d->path == NULL)
        return luaL_error(L, "db:exec: database is closed");
    hm_vm_t *vm = hm_vm_upvalue(L);
    hm_task_t *t = NULL;
    if (vm->current != NULL && vm->worker != NULL)
        t = hm_task_current(L, "db:exec"); /* raises in a nested coroutine */
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return luaL_error(L, "db:exec: out of memory");
    j->req.data = j;
    j->path = strdup(d->path);
    j->sql = strdup(sql);
    if (j->path == NULL || j->sql == NULL) {
        job_free(j);
        return luaL_error(L, "db:exec: out of memory");
    }
    for (int i = 3; i <= top; i++) {
        hm_db_value_t *v = &j->params[j->nparams++];
        switch (lua_type(L, i)) {
        case LUA_TNIL: v->type = HM_DBV_NULL; break;
        case LUA_TBOOLEAN:
            v->type = HM_DBV_INT;
            v->i = lua_toboolean(L, i);
            break;
        case LUA_TNUMBER: {
            lua_Number x = lua_tonumber(L, i);
            if (x == floor(x) && fabs(x) < 9007199254740992.0) {
                v->type = HM_DBV_INT;
                v->i = (int64_t)x;
            } else {
                v->type = HM_DBV_REAL;
                v->d = x;
            }
            break;
        }
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, i, &len);
            v->s = malloc(len + 1);
            if (v->s == NULL) {
                job_free(j);
                return luaL_error(L, "db:exec: out of memory");
            }
            memcpy(v->s, s, len + 1);
            v->len = len;
            v->type = HM_DBV_TEXT;
            break;
        }
        default: {
            const char *tn = luaL_typename(L, i);
            job_free(j);
            return luaL_error(L, "db:exec: parameter %d is a %s (numbers, strings, booleans, nil)",
                              i - 2, tn);
        }
        }
    }
    if (t == NULL) {
        /* script load time (control thread) or an offline tool: synchronous */
        run(j);
        int n = push_result(L, j);
        job_free(j);
        return n;
    }
    j->task = t;
    if (uv_queue_work(&vm->worker->loop, &j->req, work_cb, after_work_cb) != 0) {
        job_free(j);
        lua_pushnil(L);
        lua_pushliteral(L, "busy: cannot queue the database call");
        return 2;
    }
    hm_task_suspend(t, job_cancel, j);
    return lua_yield(L, 0);
}

static int l_gc(lua_State *L)
{
    ldb_t *d = luaL_checkudata(L, 1, DB_MT);
    free(d->path);
    d->path = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    ldb_t *d = luaL_checkudata(L, 1, DB_MT);
    lua_pushfstring(L, "hm.db(%s)", d->path ? d->path : "closed");
    return 1;
}

static int l_path(lua_State *L)
{
    ldb_t *d = luaL_checkudata(L, 1, DB_MT);
    lua_pushstring(L, d->path ? d->path : "");
    return 1;
}

/* hm.db.open(path): a handle; the file is opened (once per process) by the
 * first exec, on the thread pool. Relative paths are taken from the config's
 * directory. */
static int l_open(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (len == 0)
        return luaL_argerror(L, 1, "empty path");
    char *full;
    const char *dir = (vm->worker && vm->worker->cfg) ? vm->worker->cfg->config_dir : NULL;
    if (path[0] != '/' && strcmp(path, ":memory:") != 0 && dir != NULL) {
        size_t n = strlen(dir) + len + 2;
        full = malloc(n);
        if (full)
            snprintf(full, n, "%s/%s", dir, path);
    } else {
        full = strdup(path);
    }
    if (full == NULL)
        return luaL_error(L, "hm.db.open: out of memory");
    ldb_t *d = lua_newuserdata(L, sizeof(*d));
    d->path = full;
    luaL_getmetatable(L, DB_MT);
    lua_setmetatable(L, -2);
    return 1;
}

void hm_lua_db_open(lua_State *L, hm_vm_t *vm)
{
    if (luaL_newmetatable(L, DB_MT)) {
        lua_newtable(L);
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, l_exec, 1);
        lua_setfield(L, -2, "exec");
        lua_pushcfunction(L, l_path);
        lua_setfield(L, -2, "path");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_open, 1);
    lua_setfield(L, -2, "open");
}
