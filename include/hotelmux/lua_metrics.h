/* lua_metrics.h -- hm.metrics: scripts' own Prometheus series.
 *
 *   hm.metrics.counter(name, labels, n)    add n (default 1) to a counter
 *   hm.metrics.gauge(name, labels, v)      set this worker's value of a gauge
 *   hm.metrics.observe(name, labels, s)    a histogram observation in seconds
 * name must start with "hotelmux_" and be a valid metric name; labels is a
 * table of string values (keys sorted when rendered) or nil. At most 256
 * script families exist per process (names are kept for the process's life);
 * a family keeps its first kind. Bad input raises: it is a script bug. */
#ifndef HM_LUA_METRICS_H
#define HM_LUA_METRICS_H
#include "hotelmux/lua_vm.h"
/* Sets hm.metrics on the table at the top of the stack. */
void hm_lua_metrics_open(lua_State *L, hm_vm_t *vm);
#endif
