/* lua_shared.h -- hm.shared: the process-wide dictionary (shdict.h) for scripts.
 *
 *   hm.shared.get(key)                     value or nil
 *   hm.shared.set(key, value [, ttl])      true | nil, "no memory"   (value nil deletes)
 *   hm.shared.add(key, value [, ttl])      true | false, "exists"
 *   hm.shared.incr(key, delta [, init [, min]])
 *                                          new value | nil, "not found" | "not a number" | "below min"
 *   hm.shared.delete(key)
 *   hm.shared.keys(prefix [, max])         array of keys (default max 1000)
 * Values: numbers, strings, booleans. Tables must be encoded (hm.json). */
#ifndef HM_LUA_SHARED_H
#define HM_LUA_SHARED_H
#include <lua.h>
/* Pushes the hm.shared table. */
void hm_lua_shared_open(lua_State *L);
#endif
