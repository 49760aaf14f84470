/* lua_money.c -- hm.money, exact decimal money (see lua_money.h). */
#include "hotelmux/lua_money.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hotelmux/common.h"

#define MAX_UNITS ((int64_t)9000000000000000000LL)

int hm_money_parse(const char *s, size_t len, int64_t *out)
{
    /* 64-bit throughout: MAX_UNITS * 10 + 9 fits no int64_t, so every step
     * is checked before it is taken (this runs for most amounts of every
     * rate of every search; 128-bit steps cost twice as much). */
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    uint64_t v = 0;
    int digits = 0, frac = -1, round_up = 0;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (ch < '0' || ch > '9')
            return HM_EINVAL;
        digits++;
        if (frac >= 6) {          /* beyond 10^-6: only the first dropped digit rounds */
            if (frac == 6)
                round_up = ch >= '5';
            frac++;
            continue;
        }
        unsigned d = (unsigned)(ch - '0');
        if (v > ((uint64_t)MAX_UNITS - d) / 10)
            return HM_ELIMIT;
        v = v * 10 + d;
        if (frac >= 0)
            frac++;
    }
    if (digits == 0)
        return HM_EINVAL;
    for (int f = frac < 0 ? 0 : (frac > 6 ? 6 : frac); f < 6; f++) {
        if (v > (uint64_t)MAX_UNITS / 10)
            return HM_ELIMIT;
        v *= 10;
    }
    v += (uint64_t)round_up;
    if (v > (uint64_t)MAX_UNITS)
        return HM_ELIMIT;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return HM_OK;
}

void hm_money_format(int64_t v, char *out, size_t cap)
{
    /* By hand, not snprintf: prices are formatted for every rate of every
     * search, and printf's machinery showed in profiles. */
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char tmp[40], *p = tmp + sizeof(tmp);
    uint64_t frac = a % HM_MONEY_SCALE, whole = a / HM_MONEY_SCALE;
    int digits = 6;
    while (digits > 2 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    for (int i = 0; i < digits; i++, frac /= 10)
        *--p = (char)('0' + frac % 10);
    *--p = '.';
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Read an amount argument: a decimal string, or a number (supplier JSON). */
static int to_units(lua_State *L, int idx, int64_t *out)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER) {
        /* A supplier's JSON number: its nearest 10^-6 (what "%.6f" gives). */
        double d = lua_tonumber(L, idx);
        if (!isfinite(d) || fabs(d) > 9e12)
            return HM_EINVAL;
        *out = (int64_t)llround(d * HM_MONEY_SCALE);
        return HM_OK;
    }
    if (t != LUA_TSTRING)
        return HM_EINVAL;
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    return hm_money_parse(s, len, out);
}

static int64_t check_units(lua_State *L, int idx)
{
    int64_t v;
    if (to_units(L, idx, &v) != HM_OK)
        luaL_argerror(L, idx, lua_pushfstring(L, "not a decimal amount: %s",
                                              luaL_typename(L, idx)[0] == 's' ? lua_tostring(L, idx)
                                                                               : luaL_typename(L, idx)));
    return v;
}

/* Push v as a decimal string. When argument 1 already is that very text
 * (a canonical amount normalised or rounded again, a sum with zero), it is
 * returned as it is: pushing a new string hashes and interns it, which cost
 * more than the arithmetic. */
static int push_units(lua_State *L, __int128 v)
{
    if (v > (__int128)MAX_UNITS || v < -(__int128)MAX_UNITS)
        return luaL_error(L, "hm.money: amount out of range");
    char buf[48];
    hm_money_format((int64_t)v, buf, sizeof(buf));
    size_t n = strlen(buf), in_len;
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *in = lua_tolstring(L, 1, &in_len);
        if (in_len == n && memcmp(in, buf, n) == 0) {
            lua_pushvalue(L, 1);
            return 1;
        }
    }
    lua_pushlstring(L, buf, n);
    return 1;
}

/* Divide rounding half away from zero. */
static __int128 div_round(__int128 n, __int128 d)
{
    __int128 q = n / d, r = n % d;
    if (r < 0)
        r = -r;
    if (2 * r >= (d < 0 ? -d : d))
        q += ((n < 0) != (d < 0)) ? -1 : 1;
    return q;
}

static int l_norm(lua_State *L)
{
    int64_t v;
    if (to_units(L, 1, &v) != HM_OK) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid amount");
        return 2;
    }
    return push_units(L, v);
}

static int l_add(lua_State *L) { return push_units(L, (__int128)check_units(L, 1) + check_units(L, 2)); }
static int l_sub(lua_State *L) { return push_units(L, (__int128)check_units(L, 1) - check_units(L, 2)); }

static int l_mul(lua_State *L)
{
    __int128 p = (__int128)check_units(L, 1) * check_units(L, 2);
    return push_units(L, div_round(p, HM_MONEY_SCALE));
}

static __int128 pow10i(int n)
{
    __int128 p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

static int check_places(lua_State *L, int idx, int def)
{
    lua_Integer p = luaL_optinteger(L, idx, def);
    if (p < 0 || p > 6)
        luaL_argerror(L, idx, "places must be 0..6");
    return (int)p;
}

/* div_round for 64-bit operands (d > 0): no 128-bit division. */
static int64_t div_round64(int64_t n, int64_t d)
{
    int64_t q = n / d, r = n % d;
    if (r < 0)
        r = -r;
    if (2 * r >= d)
        q += n < 0 ? -1 : 1;
    return q;
}

static int l_round(lua_State *L)
{
    int64_t v = check_units(L, 1);
    int64_t step = (int64_t)pow10i(6 - check_places(L, 2, 2));
    return push_units(L, (__int128)div_round64(v, step) * step);
}

static int l_div(lua_State *L)
{
    int64_t a = check_units(L, 1), b = check_units(L, 2);
    if (b == 0)
        return luaL_error(L, "hm.money.div: division by zero");
    __int128 q = div_round((__int128)a * HM_MONEY_SCALE, b);
    __int128 step = pow10i(6 - check_places(L, 3, 6));
    return push_units(L, div_round(q, step) * step);
}

static int l_cmp(lua_State *L)
{
    int64_t a = check_units(L, 1), b = check_units(L, 2);
    lua_pushinteger(L, a < b ? -1 : a > b);
    return 1;
}

static int l_is_zero(lua_State *L)
{
    lua_pushboolean(L, check_units(L, 1) == 0);
    return 1;
}

static int l_to_number(lua_State *L)
{
    lua_pushnumber(L, (double)check_units(L, 1) / HM_MONEY_SCALE);
    return 1;
}

void hm_lua_money_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "norm", l_norm }, { "add", l_add }, { "sub", l_sub }, { "mul", l_mul },
        { "div", l_div }, { "round", l_round }, { "cmp", l_cmp }, { "is_zero", l_is_zero },
        { "to_number", l_to_number }, { NULL, NULL },
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
}
