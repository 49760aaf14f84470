/* lua_vm.h -- one script generation on one worker: a sandboxed LuaJIT state
 * with the `hm` API, the config file and every script loaded, and the routes
 * they declared.
 *
 * A vm is built on the control thread (all file I/O happens there), validated,
 * then handed to its worker, which alone uses it from then on. It is
 * reference counted: the worker holds one reference while the vm is current,
 * and every task (request coroutine) holds one, so requests in flight finish
 * on the generation they started on and the state is closed when the last one
 * ends. */
#ifndef HM_LUA_VM_H
#define HM_LUA_VM_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "hotelmux/config.h"
#include "hotelmux/router.h"

struct hm_worker_s;
struct hm_task_s;

typedef struct hm_vm_s {
    lua_State *L;
    struct hm_worker_s *worker;  /* NULL in a check-only vm (hotelmux -t, config probe) */
    hm_router_t *router;
    uint64_t generation;
    int refs;
    struct hm_task_s *current;   /* the task whose coroutine runs right now */
    int json_encode_ref;         /* registry ref of cjson.encode */
    int *pool;                   /* registry refs of idle coroutines, reused */
    size_t npool, pool_cap;
    size_t nscripts;
    struct hm_answer_memo_s *memo;  /* hm.memo (answer_memo.h), made on first use */
} hm_vm_t;

/* Build a vm: new state, sandbox, hm API, run the config file, load its
 * scripts, run their self-checks. On success *out owns the vm (refs = 1) and,
 * when cfg is non-NULL, *cfg receives the parsed settings (caller frees).
 * On failure returns < 0 with a message (file:line where known) in err. */
int hm_vm_new(const char *config_path, struct hm_worker_s *w, uint64_t generation, hm_vm_t **out,
              hm_config_t *cfg, char *err, size_t errlen);

void hm_vm_retain(hm_vm_t *vm);
/* Drops a reference; the state is closed and the vm freed at zero. Must run
 * on the thread that owns the vm. */
void hm_vm_release(hm_vm_t *vm);

/* The vm a C function was called from (stored as upvalue 1 of hm's C closures). */
hm_vm_t *hm_vm_upvalue(lua_State *L);

/* Take an idle coroutine (or make one). Its registry ref goes to *ref. */
lua_State *hm_vm_coroutine(hm_vm_t *vm, int *ref);
/* Give a coroutine back: reused if it finished cleanly, else released. */
void hm_vm_coroutine_done(hm_vm_t *vm, lua_State *co, int ref, int reusable);

/* How many vms exist in the process (a reload leak shows up here). */
size_t hm_vm_live(void);

/* Bytes of Lua memory in use. */
size_t hm_vm_memory(hm_vm_t *vm);

/* A state with the sandbox (over dirs) and the hm API but no worker and no
 * config, for offline tools (`hotelmux replay`). Release with hm_vm_release. */
int hm_vm_new_offline(char *const *dirs, size_t ndirs, hm_vm_t **out, char *err, size_t errlen);

#endif
