/* lua_body.h -- a response body made in C, handed to a script as a value.
 *
 * hm.cache.answer and hm.cache.render build a search answer (tens of KB) in
 * C. As a Lua string it would be copied and hashed into the string table
 * and soon collected again; as a body it is one malloc'd buffer that the
 * handler returns as { body = b } and the connection writes directly.
 * tostring(b) gives its text (tests, logs); #b its length. */
#ifndef HM_LUA_BODY_H
#define HM_LUA_BODY_H

#include <lua.h>
#include <stddef.h>

/* Push an empty body (no allocation yet, so this is the only step that may
 * raise a Lua error); fill it later with hm_lua_body_adopt. */
void hm_lua_body_push(lua_State *L);
/* Give the body at idx the malloc'd buffer data (len bytes); it frees it. */
void hm_lua_body_adopt(lua_State *L, int idx, char *data, size_t len);
/* Free the body's bytes now (it is empty after): the handler does it once
 * the response is written, so a body returned by a handler is consumed. */
void hm_lua_body_free(lua_State *L, int idx);
/* The bytes of the body at idx, or NULL when that value is not a body. */
const char *hm_lua_body_bytes(lua_State *L, int idx, size_t *len);

#endif
