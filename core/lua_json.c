/* lua_json.c -- hm.json.encode in C (see lua_json.h). */
#include "hotelmux/lua_json.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* lua-cjson's limits, kept so the same values fail the same way. */
#define MAX_DEPTH 1000
#define SPARSE_RATIO 2
#define SPARSE_SAFE 10
/* A buffer grown past this by one big answer is given back after it. */
#define KEEP_CAP (256 * 1024)

/* The output buffer: one per VM, an upvalue of encode, so a Lua error
 * raised mid-encode (a function value, NaN) leaks nothing: the userdata
 * owns the memory and frees it when the VM closes. */
typedef struct {
    char *p;
    size_t len, cap;
} jbuf_t;

static int jbuf_gc(lua_State *L)
{
    jbuf_t *b = lua_touserdata(L, 1);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

static char *grow(lua_State *L, jbuf_t *b, size_t n);

/* Room for n more bytes; the check is inlined at every write, the growing
 * is not (it can raise). */
static inline char *reserve(lua_State *L, jbuf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->p + b->len;
    return grow(L, b, n);
}

static __attribute__((noinline)) char *grow(lua_State *L, jbuf_t *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            luaL_error(L, "hm.json.encode: out of memory");
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        luaL_error(L, "hm.json.encode: out of memory");
    b->p = p;
    b->cap = cap;
    return b->p + b->len;
}

static void put(lua_State *L, jbuf_t *b, const char *s, size_t n)
{
    memcpy(reserve(L, b, n), s, n);
    b->len += n;
}

static void putc_(lua_State *L, jbuf_t *b, char c)
{
    *reserve(L, b, 1) = c;
    b->len++;
}

/* Digits of v (< 10^15) right-aligned before end; returns the start. */
static char *utoa_back(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

size_t hm_json_number(double d, char *out)
{
    static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
    char tmp[HM_JSON_NUMBER_MAX], *end = tmp + sizeof(tmp), *p;
    double a = fabs(d);
    if (d == 0) {
        /* "%.14g" keeps the sign of a negative zero */
        if (signbit(d)) {
            memcpy(out, "-0", 3);
            return 2;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    if (a < 1e14 && a == floor(a)) {
        /* at most 14 digits: "%.14g" prints the integer itself */
        p = utoa_back((uint64_t)a, end);
        goto done;
    }
    if (a >= 1e-4 && a < 1e14) {
        /* A short decimal m / 10^k (k <= 6, m < 10^14) whose nearest double
         * is d: d lies within 2^-53 |d| of it, far inside half a unit of the
         * 14th digit, so "%.14g" prints exactly m / 10^k; the smallest such
         * k leaves no trailing zero, as %g strips them. */
        for (int k = 1; k <= 6; k++) {
            double m = nearbyint(a * pow10[k]);
            if (m >= 1e14)
                break;
            if (m / pow10[k] != a)
                continue;
            uint64_t mi = (uint64_t)m, scale = (uint64_t)pow10[k];
            uint64_t frac = mi % scale;
            p = end;
            for (int i = 0; i < k; i++, frac /= 10)
                *--p = (char)('0' + frac % 10);
            *--p = '.';
            p = utoa_back(mi / scale, p);
            goto done;
        }
    }
    return (size_t)snprintf(out, HM_JSON_NUMBER_MAX, "%.14g", d);
done:
    if (d < 0)
        *--p = '-';
    size_t n = (size_t)(end - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

/* What cjson writes for each byte: 0 = itself, else an escape. */
static const char *const escapes[256] = {
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
    "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
    "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
    "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    ['"'] = "\\\"", ['/'] = "\\/", ['\\'] = "\\\\", [0x7f] = "\\u007f",
};

/* escapes[c] != NULL, as bytes: the scan's table (an eighth of the
 * cache lines of the pointers). */
static const unsigned char must_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['/'] = 1, ['\\'] = 1, [0x7f] = 1,
};

/* How many leading bytes of s (in whole 16-byte blocks) need no escape. */
static size_t clean_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i lo = _mm_set1_epi8(0x1f), q = _mm_set1_epi8('"'), sl = _mm_set1_epi8('/'),
                  bs = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* x <= 0x1f unsigned: min(x, 0x1f) == x */
        __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, lo), x),
                                   _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, sl)),
                                                _mm_or_si128(_mm_cmpeq_epi8(x, bs), _mm_cmpeq_epi8(x, del))));
        if (_mm_movemask_epi8(bad))
            break;
    }
#else
    (void)s;
    (void)n;
#endif
    return i;
}

static void put_string(lua_State *L, jbuf_t *b, int idx)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)lua_tolstring(L, idx, &n);
    /* worst case: every byte 6 characters, plus the quotes */
    if (n > (SIZE_MAX - 2) / 6)
        luaL_error(L, "hm.json.encode: string too long");
    char *o = reserve(L, b, n * 6 + 2), *start = o;
    *o++ = '"';
    size_t run = 0;
    for (size_t i = 0;; i++) {
        /* most text needs no escape: 16 bytes a step where SSE2 is (every
         * x86-64), then a tight scan over a byte table */
        i += clean_prefix(s + i, n - i);
        while (i < n && !must_escape[s[i]])
            i++;
        if (i >= n)
            break;
        const char *e = escapes[s[i]];
        memcpy(o, s + run, i - run);
        o += i - run;
        size_t el = strlen(e);
        memcpy(o, e, el);
        o += el;
        run = i + 1;
    }
    memcpy(o, s + run, n - run);
    o += n - run;
    *o++ = '"';
    b->len += (size_t)(o - start);
}

static void put_number(lua_State *L, jbuf_t *b, int idx)
{
    double d = lua_tonumber(L, idx);
    if (!isfinite(d))
        luaL_error(L, "Cannot serialise %s: %s", luaL_typename(L, idx), "must not be NaN or Inf");
    b->len += hm_json_number(d, reserve(L, b, HM_JSON_NUMBER_MAX));
}

/* cjson's rule: n > 0 when every key is an integer >= 1 and the array is
 * not excessively sparse (then holes are null); else -1 (an object). */
static int array_length(lua_State *L, int idx)
{
    double max = 0;
    int items = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        double k;
        if (lua_type(L, -2) == LUA_TNUMBER && (k = lua_tonumber(L, -2)) >= 1 && floor(k) == k) {
            if (k > max)
                max = k;
            items++;
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 2);
        return -1;
    }
    if (max > (double)items * SPARSE_RATIO && max > SPARSE_SAFE)
        return -1;
    return (int)max;
}

static void put_value(lua_State *L, jbuf_t *b, int idx, int depth);

static void put_table(lua_State *L, jbuf_t *b, int idx, int depth)
{
    if (++depth > MAX_DEPTH || !lua_checkstack(L, 3))
        luaL_error(L, "Cannot serialise, excessive nesting (%d)", depth);
    int n = array_length(L, idx);
    if (n > 0) {
        putc_(L, b, '[');
        for (int i = 1; i <= n; i++) {
            if (i > 1)
                putc_(L, b, ',');
            lua_rawgeti(L, idx, i);
            put_value(L, b, lua_gettop(L), depth);
            lua_pop(L, 1);
        }
        putc_(L, b, ']');
        return;
    }
    putc_(L, b, '{');
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int top = lua_gettop(L);
        if (!first)
            putc_(L, b, ',');
        first = 0;
        int kt = lua_type(L, top - 1);
        if (kt == LUA_TSTRING) {
            put_string(L, b, top - 1);
        } else if (kt == LUA_TNUMBER) {
            /* not lua_tolstring: converting the key in place breaks lua_next */
            putc_(L, b, '"');
            put_number(L, b, top - 1);
            putc_(L, b, '"');
        } else {
            luaL_error(L, "Cannot serialise %s: %s", luaL_typename(L, top - 1),
                       "table key must be a number or string");
        }
        putc_(L, b, ':');
        put_value(L, b, top, depth);
        lua_pop(L, 1);
    }
    putc_(L, b, '}');
}

static void put_value(lua_State *L, jbuf_t *b, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        put_string(L, b, idx);
        return;
    case LUA_TNUMBER:
        put_number(L, b, idx);
        return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put(L, b, "true", 4);
        else
            put(L, b, "false", 5);
        return;
    case LUA_TTABLE:
        put_table(L, b, idx, depth);
        return;
    case LUA_TNIL:
        put(L, b, "null", 4);
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {   /* hm.json.null */
            put(L, b, "null", 4);
            return;
        }
        break;
    default:
        break;
    }
    luaL_error(L, "Cannot serialise %s: %s", luaL_typename(L, idx), "type not supported");
}

static int l_encode(lua_State *L)
{
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    jbuf_t *b = lua_touserdata(L, lua_upvalueindex(1));
    b->len = 0;
    put_value(L, b, 1, 0);
    lua_pushlstring(L, b->p, b->len);
    if (b->cap > KEEP_CAP) {
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
    }
    return 1;
}

void hm_lua_json_push_encode(lua_State *L)
{
    jbuf_t *b = lua_newuserdata(L, sizeof(*b));
    memset(b, 0, sizeof(*b));
    lua_newtable(L);
    lua_pushcfunction(L, jbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, l_encode, 1);
}
