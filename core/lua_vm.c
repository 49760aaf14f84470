/* lua_vm.c -- build one script generation: state, sandbox, hm API, config,
 * scripts, routes, self-checks. */
#include "hotelmux/lua_vm.h"
#include "hotelmux/common.h"
#include "hotelmux/answer_memo.h"
#include "hotelmux/lua_cache.h"
#include "hotelmux/lua_crypto.h"
#include "hotelmux/lua_db.h"
#include "hotelmux/lua_fanout.h"
#include "hotelmux/lua_http.h"
#include "hotelmux/lua_json.h"
#include "hotelmux/lua_limit.h"
#include "hotelmux/lua_log.h"
#include "hotelmux/lua_memo.h"
#include "hotelmux/lua_metrics.h"
#include "hotelmux/lua_mapping.h"
#include "hotelmux/lua_money.h"
#include "hotelmux/lua_profile.h"
#include "hotelmux/lua_sandbox.h"
#include "hotelmux/lua_shared.h"
#include "hotelmux/lua_time.h"
#include "hotelmux/lua_timer.h"
#include "hotelmux/lua_xml.h"
#include "hotelmux/static.h" /* static files */
#include "hotelmux/worker.h"

#include <lauxlib.h>
#include <stdatomic.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int luaopen_cjson(lua_State *L);

#define VM_LOADING_KEY "hm.loading"

static atomic_size_t vms_live;

size_t hm_vm_live(void) { return atomic_load(&vms_live); }

hm_vm_t *hm_vm_upvalue(lua_State *L)
{
    return (hm_vm_t *)lua_touserdata(L, lua_upvalueindex(1));
}

void hm_vm_retain(hm_vm_t *vm) { vm->refs++; }

void hm_vm_release(hm_vm_t *vm)
{
    if (--vm->refs > 0)
        return;
    hm_lua_profile_finish(vm);
    lua_close(vm->L);
    hm_answer_memo_free(vm->memo);
    hm_router_free(vm->router);
    free(vm->pool);
    free(vm);
    atomic_fetch_sub(&vms_live, 1);
}

lua_State *hm_vm_coroutine(hm_vm_t *vm, int *ref)
{
    if (vm->npool > 0) {
        *ref = vm->pool[--vm->npool];
        lua_rawgeti(vm->L, LUA_REGISTRYINDEX, *ref);
        lua_State *co = lua_tothread(vm->L, -1);
        lua_pop(vm->L, 1);
        return co;
    }
    lua_State *co = lua_newthread(vm->L);
    if (co == NULL)
        return NULL;
    *ref = luaL_ref(vm->L, LUA_REGISTRYINDEX);
    return co;
}

void hm_vm_coroutine_done(hm_vm_t *vm, lua_State *co, int ref, int reusable)
{
    /* A coroutine that returned normally is back at status 0 with an empty
     * frame and can run a new function; one that raised is dead. */
    if (reusable && lua_status(co) == 0 && vm->npool < 256) {
        if (vm->npool == vm->pool_cap) {
            size_t cap = vm->pool_cap ? vm->pool_cap * 2 : 16;
            int *p = realloc(vm->pool, cap * sizeof(*p));
            if (p == NULL)
                goto drop;
            vm->pool = p;
            vm->pool_cap = cap;
        }
        lua_settop(co, 0);
        vm->pool[vm->npool++] = ref;
        return;
    }
drop:
    luaL_unref(vm->L, LUA_REGISTRYINDEX, ref);
}

size_t hm_vm_memory(hm_vm_t *vm)
{
    return (size_t)lua_gc(vm->L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(vm->L, LUA_GCCOUNTB, 0);
}

static int vm_loading(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, VM_LOADING_KEY);
    int loading = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return loading;
}

/* Register the function at stack index fn for (method, pattern). Raises on error. */
static void add_route(lua_State *L, hm_vm_t *vm, const char *method, const char *pattern, int fn)
{
    if (!lua_isfunction(L, fn))
        luaL_error(L, "route %s %s: handler must be a function", method, pattern);
    lua_pushvalue(L, fn);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    int rc = hm_router_add(vm->router, method, pattern, ref);
    if (rc != HM_OK) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        if (rc == HM_ELIMIT)
            luaL_error(L, "route %s %s is declared twice", method, pattern);
        luaL_error(L, "route %s %s: bad pattern (must start with '/', segments literal, {name} "
                      "or a final *)", method, pattern);
    }
}

static int method_ok(const char *m)
{
    static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                         "OPTIONS", "*" };
    for (size_t i = 0; i < HM_ARRAY_SIZE(known); i++)
        if (strcmp(m, known[i]) == 0)
            return 1;
    return 0;
}

/* hm.route(method, pattern, handler) -- only while scripts load. */
static int l_route(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    const char *method = luaL_checkstring(L, 1);
    const char *pattern = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (!vm_loading(L))
        return luaL_error(L, "hm.route: routes can only be declared while scripts load");
    if (!method_ok(method))
        return luaL_error(L, "hm.route: unknown method '%s'", method);
    add_route(L, vm, method, pattern, 3);
    return 0;
}

/* config.routes = { ["GET /path"] = fn, ... }; the config table is at `idx`. */
static void load_config_routes(lua_State *L, hm_vm_t *vm, int idx)
{
    lua_getfield(L, idx, "routes");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "config: routes must be a table of [\"METHOD /path\"] = function");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char method[16];
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *sp = key ? strchr(key, ' ') : NULL;
        if (sp == NULL || (size_t)(sp - key) >= sizeof(method))
            luaL_error(L, "config: routes key %s must be \"METHOD /path\"",
                       key ? key : "(not a string)");
        memcpy(method, key, (size_t)(sp - key));
        method[sp - key] = '\0';
        if (!method_ok(method))
            luaL_error(L, "config: routes[\"%s\"]: unknown method '%s'", key, method);
        add_route(L, vm, method, sp + 1, lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Run a loaded chunk's module's self_check(): failure = raises or returns false. */
static void self_check(lua_State *L, const char *path)
{
    if (!lua_istable(L, -1))
        return;
    lua_getfield(L, -1, "self_check");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_isfunction(L, -1))
        luaL_error(L, "%s: self_check must be a function", path);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 2);
    if (lua_isboolean(L, -2) && !lua_toboolean(L, -2))
        luaL_error(L, "%s: self_check failed: %s", path,
                   lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no reason given)");
    lua_pop(L, 2);
}

typedef struct {
    hm_vm_t *vm;
    const char *config_path;
    hm_config_t *cfg;
    char *err;
    size_t errlen;
} load_args_t;

/* hm.self_url() -> "http://127.0.0.1:PORT": this server, for scripts that
 * call routes of the same process (the demo's simulated suppliers). */
static int l_self_url(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    if (vm->worker == NULL)
        return luaL_error(L, "hm.self_url: only available in a running server");
    const hm_config_t *c = vm->worker->cfg;
    const char *host = c->listen_host ? c->listen_host : "127.0.0.1";
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        host = "127.0.0.1";
    int v6 = strchr(host, ':') != NULL;
    if (strcmp(host, "::") == 0)
        host = "::1";
    lua_pushfstring(L, v6 ? "http://[%s]:%d" : "http://%s:%d", host, c->listen_port);
    return 1;
}

static void install_hm(lua_State *L, hm_vm_t *vm)
{
    lua_newtable(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_route, 1);
    lua_setfield(L, -2, "route");
    luaopen_cjson(L);
    /* cjson's table, with our encode and decode (lua_json.h: the same
     * text and the same tables as cjson with sparse arrays as objects,
     * faster); cjson.null stays hm.json.null. cjson's encode_* settings
     * would configure an encoder nobody calls: not offered. */
    static const char *const cjson_encode_only[] = {
        "encode_sparse_array", "encode_max_depth", "encode_number_precision",
        "encode_keep_buffer", "encode_invalid_numbers",
    };
    for (size_t i = 0; i < sizeof(cjson_encode_only) / sizeof(cjson_encode_only[0]); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, cjson_encode_only[i]);
    }
    hm_lua_json_push_decode(L);
    lua_setfield(L, -2, "decode");
    hm_lua_json_push_encode(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "encode");
    vm->json_encode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setfield(L, -2, "json");
    hm_lua_xml_open(L);
    lua_setfield(L, -2, "xml");
    hm_lua_crypto_open(L);
    lua_setfield(L, -2, "crypto");
    hm_lua_log_open(L);
    lua_setfield(L, -2, "log");
    hm_lua_http_open(L, vm);
    lua_setfield(L, -2, "http");
    hm_lua_time_open(L, vm);
    hm_lua_shared_open(L);
    lua_setfield(L, -2, "shared");
    hm_lua_money_open(L);
    lua_setfield(L, -2, "money");
    hm_lua_mapping_open(L);
    lua_setfield(L, -2, "mapping");
    hm_lua_db_open(L, vm);
    lua_setfield(L, -2, "db");
    hm_lua_fanout_open(L, vm);
    hm_lua_timer_open(L, vm);
    hm_lua_cache_open(L, vm);
    lua_setfield(L, -2, "cache");
    hm_lua_limit_open(L, vm);
    hm_lua_memo_open(L, vm);
    hm_lua_metrics_open(L, vm);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, l_self_url, 1);
    lua_setfield(L, -2, "self_url");
    lua_pushinteger(L, vm->worker ? vm->worker->id : -1);
    lua_setfield(L, -2, "worker_id");
    lua_pushnumber(L, (lua_Number)vm->generation);
    lua_setfield(L, -2, "generation");
    lua_newtable(L);
    lua_setfield(L, -2, "scripts");
    lua_setglobal(L, "hm");
}

/* Everything that can raise, run under lua_pcall. */
static int vm_load(lua_State *L)
{
    load_args_t *a = lua_touserdata(L, 1);
    hm_vm_t *vm = a->vm;
    hm_config_t boot;

    /* Until the config says otherwise, scripts may only come from its directory. */
    hm_config_defaults(&boot);
    char *dir = strdup(a->config_path);
    if (dir == NULL)
        return luaL_error(L, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    boot.lua_path[0] = dir;
    boot.npaths = 1;
    luaL_openlibs(L);
    hm_lua_sandbox(L, &boot);
    free(dir);
    install_hm(L, vm);

    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, VM_LOADING_KEY);
    if (hm_lua_load_script(L, a->config_path) != 0)
        return lua_error(L);
    lua_call(L, 0, 1);
    int cfg_idx = lua_gettop(L);
    if (hm_config_from_lua(L, cfg_idx, a->config_path, a->cfg, a->err, a->errlen) != HM_OK) {
        lua_pushstring(L, a->err);
        return lua_error(L);
    }
    /* static files (core/static.c): read once per generation, on the control
     * thread, with worker 0's state; an error fails this load like a script's. */
    if (vm->worker && vm->worker->id == 0 && hm_static_load(a->cfg, a->err, a->errlen) != HM_OK) {
        lua_pushstring(L, a->err);
        return lua_error(L);
    }
    lua_getglobal(L, "hm");
    lua_pushvalue(L, cfg_idx);
    lua_setfield(L, -2, "config");
    lua_pop(L, 1);

    /* Widen the sandbox to the configured script path. */
    lua_getfield(L, LUA_REGISTRYINDEX, HM_SANDBOX_DIRS_KEY);
    for (size_t i = 1; i < a->cfg->npaths; i++) {
        lua_pushstring(L, a->cfg->lua_path[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_pop(L, 1);

    load_config_routes(L, vm, cfg_idx);
    for (size_t i = 0; i < a->cfg->nscripts; i++) {
        const char *path = a->cfg->scripts[i];
        if (!hm_lua_sandbox_path_ok(path, a->cfg->lua_path, a->cfg->npaths))
            return luaL_error(L, "%s: script is missing or outside the script directories", path);
        if (hm_lua_load_script(L, path) != 0)
            return lua_error(L);
        lua_call(L, 0, 1);
        self_check(L, path);
        /* hm.scripts[<file name without .lua>] = what the script returned */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t blen = strlen(base);
        if (blen > 4 && strcmp(base + blen - 4, ".lua") == 0)
            blen -= 4;
        lua_getglobal(L, "hm");
        lua_getfield(L, -1, "scripts");
        lua_pushlstring(L, base, blen);
        lua_pushvalue(L, -4);
        lua_settable(L, -3);
        lua_pop(L, 3);
        vm->nscripts++;
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, VM_LOADING_KEY);
    return 0;
}

/* An offline state (no worker, no config): sandbox over `dirs` and the hm
 * API, for tools such as `hotelmux replay`. */
typedef struct {
    hm_vm_t *vm;
    char *const *dirs;
    size_t ndirs;
} offline_args_t;

static int vm_load_offline(lua_State *L)
{
    offline_args_t *a = lua_touserdata(L, 1);
    hm_config_t boot;
    hm_config_defaults(&boot);
    for (size_t i = 0; i < a->ndirs && i < HM_CONFIG_MAX_PATHS; i++)
        boot.lua_path[boot.npaths++] = a->dirs[i];
    luaL_openlibs(L);
    hm_lua_sandbox(L, &boot);
    install_hm(L, a->vm);
    return 0;
}

/* A vm with its state and router, one reference; NULL on allocation failure. */
static hm_vm_t *vm_alloc(char *err, size_t errlen)
{
    hm_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm && (vm->router = hm_router_new()) != NULL && (vm->L = luaL_newstate()) != NULL) {
        vm->refs = 1;
        return vm;
    }
    if (vm) {
        hm_router_free(vm->router);
        free(vm);
    }
    snprintf(err, errlen, "out of memory creating a Lua state");
    return NULL;
}

/* Undo vm_alloc for a vm that never went live. */
static void vm_discard(hm_vm_t *vm)
{
    lua_close(vm->L);
    hm_answer_memo_free(vm->memo);   /* a config's own code may have filled it */
    hm_router_free(vm->router);
    free(vm);
}

/* Run loader(vm, args) under pcall; the message goes to err on failure. */
static int vm_run_loader(hm_vm_t *vm, lua_CFunction loader, void *args, char *err, size_t errlen)
{
    lua_pushcfunction(vm->L, loader);
    lua_pushlightuserdata(vm->L, args);
    if (lua_pcall(vm->L, 1, 0, 0) == 0) {
        lua_settop(vm->L, 0);
        atomic_fetch_add(&vms_live, 1);
        return HM_OK;
    }
    const char *msg = lua_tostring(vm->L, -1);
    snprintf(err, errlen, "%s", msg ? msg : "(error object is not a string)");
    return HM_EINVAL;
}

int hm_vm_new_offline(char *const *dirs, size_t ndirs, hm_vm_t **out, char *err, size_t errlen)
{
    hm_vm_t *vm = vm_alloc(err, errlen);
    if (vm == NULL)
        return HM_ENOMEM;
    offline_args_t args = { vm, dirs, ndirs };
    if (vm_run_loader(vm, vm_load_offline, &args, err, errlen) != HM_OK) {
        vm_discard(vm);
        return HM_EINVAL;
    }
    *out = vm;
    return HM_OK;
}

int hm_vm_new(const char *config_path, struct hm_worker_s *w, uint64_t generation, hm_vm_t **out,
              hm_config_t *cfg, char *err, size_t errlen)
{
    hm_config_t local;
    hm_config_t *c = cfg ? cfg : &local;
    hm_config_defaults(c);
    err[0] = '\0';
    hm_vm_t *vm = vm_alloc(err, errlen);
    if (vm == NULL)
        return HM_ENOMEM;
    vm->worker = w;
    vm->generation = generation;
    load_args_t args = { vm, config_path, c, err, errlen };
    if (vm_run_loader(vm, vm_load, &args, err, errlen) != HM_OK) {
        hm_config_free(c);
        vm_discard(vm);
        return HM_EINVAL;
    }
    if (cfg == NULL)
        hm_config_free(&local);
    hm_lua_profile_maybe_start(vm);
    *out = vm;
    return HM_OK;
}
