/* lua_json.h -- hm.json.encode and decode, in C.
 *
 * Byte for byte what lua-cjson 2.1 writes with encode_sparse_array(true)
 * (the core's setting): object keys in lua_next order, "/" escaped as "\/",
 * control characters and DEL as \u00XX, numbers as "%.14g", a table whose
 * keys are 1..n (holes allowed up to the sparse rule) as an array, an empty
 * table as {}, nil and hm.json.null as null; NaN/Inf, functions, userdata
 * and nesting deeper than 1000 raise the same errors as cjson. It replaces
 * cjson.encode because encoding showed in search profiles (every number went
 * through snprintf, every table was walked by a generic strbuf); decode
 * replaces cjson.decode for the same reason (every string copied twice).
 *
 *   hm.json.encode(value) -> string
 *   hm.json.decode(string) -> value (raises on malformed text) */
#ifndef HM_LUA_JSON_H
#define HM_LUA_JSON_H
#include <lua.h>
#include <stddef.h>

/* Longest text hm_json_number writes, with its NUL. */
#define HM_JSON_NUMBER_MAX 32

/* Format a finite number as "%.14g" does (C locale) into out; returns its
 * length. Integers and short decimals take a path without printf. */
size_t hm_json_number(double d, char *out);

/* Pushes the function hm.json.encode (a closure owning its output buffer). */
void hm_lua_json_push_encode(lua_State *L);
/* Pushes the function hm.json.decode: lua-cjson's decoder (invalid numbers
 * such as 0x1F or inf accepted, depth 1000, null = hm.json.null), the same
 * tables built by the same steps and the same errors, with less copying. */
void hm_lua_json_push_decode(lua_State *L);

#endif
