/* lua_money.h -- hm.money: exact decimal arithmetic for prices.
 *
 * Money never goes through a float: amounts are decimal strings ("123.40"),
 * held internally as integers of 10^-6 units (128-bit intermediates), so
 * sums and conversions are exact and reproducible. Results are strings with
 * at least 2 and at most 6 decimals ("84.5" -> "84.50").
 *
 *   hm.money.norm(x)            number or string -> decimal string | nil, err
 *   hm.money.add(a, b) sub(a, b) mul(a, b)
 *   hm.money.div(a, b [, places=6])
 *   hm.money.round(a [, places=2])  half away from zero (commercial rounding)
 *   hm.money.cmp(a, b)          -1, 0, 1
 *   hm.money.is_zero(a)  hm.money.to_number(a) (for display only)
 * Arithmetic raises on a malformed amount (a bug in the caller, not data). */
#ifndef HM_LUA_MONEY_H
#define HM_LUA_MONEY_H
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define HM_MONEY_SCALE 1000000

/* Parse a decimal string into 10^-6 units (more decimals are rounded). */
int hm_money_parse(const char *s, size_t len, int64_t *out);
/* Format units as a decimal string with 2..6 decimals into out (>= 32 bytes). */
void hm_money_format(int64_t v, char *out, size_t cap);
/* Pushes the hm.money table. */
void hm_lua_money_open(lua_State *L);
#endif
