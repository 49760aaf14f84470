/* lua_log.h -- the `hm.log` Lua module on core/log.c.
 *
 * Lua API (never raises for bad fields; logging must not break a request):
 *   hm.log.debug(msg [, fields])
 *   hm.log.info(msg [, fields])
 *   hm.log.warn(msg [, fields])
 *   hm.log.error(msg [, fields])
 *
 * msg is converted like tostring() (a failing __tostring is reported in the
 * message instead of raising). fields, a table, becomes JSON members of the
 * line after "src":"file.lua:LINE" (the calling Lua function):
 *   strings; numbers (integral values without ".0", NaN/inf as "nan"/"inf"/
 *   "-inf"); booleans; tables as objects, or arrays when their keys are
 *   exactly 1..n; other types as their type name. Tables nest at most
 *   HM_LUA_LOG_MAX_DEPTH levels ("[too deep]" beyond) and a table that
 *   contains itself renders "[cycle]". Past HM_LUA_LOG_MAX_FIELDS bytes no
 *   further members are rendered and "fields_truncated":true is added.
 *   Redaction, at any depth: the value of a key for which
 *   hm_log_is_secret_key() is true, and any string value that starts with
 *   "Bearer " or "Basic " or contains "Signature=" or "APIKey="
 *   (case-insensitive), becomes "[redacted]".
 *   Top-level keys that would collide with the line's own members (ts,
 *   level, worker, request_id, msg, src, fields_error, fields_truncated) are
 *   prefixed with "_". A non-table fields adds "fields_error":"not a table". */
#ifndef HM_LUA_LOG_H
#define HM_LUA_LOG_H

#include <lua.h>

#define HM_LUA_LOG_MAX_DEPTH 8
#define HM_LUA_LOG_MAX_FIELDS (64 * 1024)

/* Push the hm.log module table; returns 1. */
int hm_lua_log_open(lua_State *L);

#endif
