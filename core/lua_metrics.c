/* lua_metrics.c -- hm.metrics (see lua_metrics.h). */
#include "hotelmux/lua_metrics.h"

#include <lauxlib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/buf.h"
#include "hotelmux/common.h"
#include "hotelmux/metrics.h"
#include "hotelmux/worker.h"

#define MAX_FAMILIES 256
#define MAX_LABELS 8

/* The registry keeps family names by pointer: script names are interned here
 * once and live until exit (bounded by MAX_FAMILIES). */
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static char *names[MAX_FAMILIES];
static size_t nnames;

static const char *intern(const char *name)
{
    const char *out = NULL;
    pthread_mutex_lock(&names_mu);
    for (size_t i = 0; i < nnames && !out; i++)
        if (strcmp(names[i], name) == 0)
            out = names[i];
    if (!out && nnames < MAX_FAMILIES && (names[nnames] = strdup(name)) != NULL)
        out = names[nnames++];
    pthread_mutex_unlock(&names_mu);
    return out;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Render the labels table at idx as k="v",... (keys sorted, values escaped). */
static void render_labels(lua_State *L, int idx, hm_buf_t *out)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    const char *keys[MAX_LABELS];
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || n == MAX_LABELS)
            luaL_error(L, "hm.metrics: labels must be at most %d string keys", MAX_LABELS);
        keys[n++] = lua_tostring(L, -2);   /* anchored by the table */
        lua_pop(L, 1);
    }
    qsort(keys, n, sizeof(keys[0]), by_key);
    for (size_t i = 0; i < n; i++) {
        for (const char *p = keys[i]; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                  (p != keys[i] && *p >= '0' && *p <= '9')))
                luaL_error(L, "hm.metrics: bad label name '%s'", keys[i]);
        lua_getfield(L, idx, keys[i]);
        const char *v = lua_tostring(L, -1);
        if (!v)
            luaL_error(L, "hm.metrics: label %s must be a string or number", keys[i]);
        char esc[512];
        hm_metrics_label_escape(esc, sizeof(esc), v);
        lua_pop(L, 1);
        if (hm_buf_printf(out, "%s%s=\"%s\"", i ? "," : "", keys[i], esc) != HM_OK)
            luaL_error(L, "hm.metrics: out of memory");
    }
}

static int record(lua_State *L, hm_metric_kind_t kind, double dflt)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    const char *name = luaL_checkstring(L, 1);
    double v = luaL_optnumber(L, 3, dflt);
    if (strncmp(name, "hotelmux_", 9) != 0)
        return luaL_argerror(L, 1, "metric names from scripts start with hotelmux_");
    hm_buf_t labels = HM_BUF_INIT;
    render_labels(L, 2, &labels);
    const char *family = intern(name);
    hm_series_t *s = family ? hm_metrics_series(kind, family, "Defined by a script (hm.metrics)",
                                                labels.data ? labels.data : "")
                            : NULL;
    hm_buf_free(&labels);
    if (!s)
        return luaL_error(L, "hm.metrics: cannot record %s (bad name, another kind, or too many families)",
                          name);
    int worker = vm->worker ? vm->worker->id : HM_METRICS_CONTROL;
    if (kind == HM_METRIC_COUNTER)
        hm_series_add(s, worker, v);
    else if (kind == HM_METRIC_GAUGE)
        hm_series_set(s, worker, v);
    else
        hm_series_observe(s, worker, v);
    return 0;
}

static int l_counter(lua_State *L) { return record(L, HM_METRIC_COUNTER, 1); }
static int l_gauge(lua_State *L) { luaL_checknumber(L, 3); return record(L, HM_METRIC_GAUGE, 0); }
static int l_observe(lua_State *L) { luaL_checknumber(L, 3); return record(L, HM_METRIC_HISTOGRAM, 0); }

void hm_lua_metrics_open(lua_State *L, hm_vm_t *vm)
{
    static const luaL_Reg fns[] = {
        { "counter", l_counter }, { "gauge", l_gauge }, { "observe", l_observe }, { NULL, NULL },
    };
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
    lua_setfield(L, -2, "metrics");
}
