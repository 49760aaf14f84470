/* lua_limit.h -- hm.limit.take(key, rate_per_s, burst) -> allowed, retry_after_s, where
 *
 * GCRA (ratelimit.h). With Redis configured the check runs as one atomic
 * script in Redis (on Redis's clock), so the limit holds for the whole
 * cluster; when Redis is down or slower than redis_timeout_ms the node's own
 * limiter answers instead (`where` = "redis" or "local"). */
#ifndef HM_LUA_LIMIT_H
#define HM_LUA_LIMIT_H
#include "hotelmux/lua_vm.h"
/* Sets hm.limit on the table at the top of the stack. */
void hm_lua_limit_open(lua_State *L, hm_vm_t *vm);
#endif
