/* lua_db.h -- hm.db: the SQLite ledger from Lua, off the event loop.
 *
 *   local db = hm.db.open("ledger.sqlite")   -- relative paths: the config's directory
 *   local rows = db:exec("SELECT * FROM orders WHERE ref = ?", ref)   -- { {col = v, ...}, ... }
 *   local r = db:exec("INSERT INTO orders(ref) VALUES (?)", ref)      -- { changes = n, last_id = id }
 *   -- failure: nil, "constraint: UNIQUE constraint failed: orders.ref" (or "sql: ...", "busy: ...")
 *
 * In a request (or any task) every exec runs on libuv's thread pool and yields
 * the coroutine; at script load time it runs synchronously (the control
 * thread). Parameters: numbers, strings, booleans (1/0), nil. */
#ifndef HM_LUA_DB_H
#define HM_LUA_DB_H
#include <lua.h>
#include "hotelmux/lua_vm.h"
/* Pushes the hm.db table. */
void hm_lua_db_open(lua_State *L, hm_vm_t *vm);
#endif
