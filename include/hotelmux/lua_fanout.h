/* lua_fanout.h -- hm.fanout (concurrent jobs with deadlines) and
 * hm.supplier.circuit(name) (breaker state); see lua_fanout.c. */
#ifndef HM_LUA_FANOUT_H
#define HM_LUA_FANOUT_H
#include "hotelmux/lua_vm.h"
/* Sets hm.fanout and hm.supplier on the table at the top of the stack. */
void hm_lua_fanout_open(lua_State *L, hm_vm_t *vm);
#endif
