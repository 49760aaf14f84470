/* lua_json.c -- hm.json.encode in C (see lua_json.h). */
#include "hotelmux/lua_json.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static void jbuf_free(jbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int jbuf_gc(lua_State *L)
{
    jbuf_free(lua_touserdata(L, 1));
    return 0;
}

/* After a call: memory grown for one unusually big text is given back. */
static void trim(jbuf_t *b)
{
    if (b->cap > KEEP_CAP)
        jbuf_free(b);
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
    if (n == 0)      /* an empty buffer has no memory yet: no memcpy to NULL */
        return;
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
    trim(b);
    return 1;
}

/* Push fn as a closure over its own buffer (a userdata freed by the GC). */
static void push_with_buffer(lua_State *L, lua_CFunction fn)
{
    jbuf_t *b = lua_newuserdata(L, sizeof(*b));
    memset(b, 0, sizeof(*b));
    lua_newtable(L);
    lua_pushcfunction(L, jbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, fn, 1);
}

void hm_lua_json_push_encode(lua_State *L)
{
    push_with_buffer(L, l_encode);
}

/* --- decode ------------------------------------------------------------- */

/* What lua-cjson 2.1 accepts and builds (decode_invalid_numbers on, depth
 * 1000), step for step: the same lua_newtable / lua_rawset / lua_rawseti
 * calls in the same order, so even the tables' layout (and so pairs()
 * order) is the one cjson made; the same errors. Faster because a string
 * without escapes is pushed straight from the text (cjson copied every
 * string first) and plain decimal numbers are converted without strtod. */

typedef struct {
    const char *data, *p;   /* the text (NUL-terminated, as Lua strings are), the cursor */
    jbuf_t *tmp;            /* unescaped strings */
    int depth;
} jparse_t;

enum {
    T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END, T_STRING, T_NUMBER, T_BOOLEAN, T_NULL,
    T_COLON, T_COMMA, T_END, T_WHITESPACE, T_ERROR, T_UNKNOWN
};

static const char *const token_names[] = {
    "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER", "T_BOOLEAN",
    "T_NULL", "T_COLON", "T_COMMA", "T_END", "T_WHITESPACE", "T_ERROR", "T_UNKNOWN",
};

typedef struct {
    int type;
    size_t index;           /* where the token (or its error) is, from 0 */
    const char *str;        /* T_STRING: the text; T_ERROR: the message */
    size_t len;
    double num;
    int boolean;
} jtoken_t;

static void set_error(jparse_t *j, jtoken_t *t, const char *msg)
{
    t->type = T_ERROR;
    t->index = (size_t)(j->p - j->data);
    t->str = msg;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval((unsigned char)s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* A \uXXXX (or a surrogate pair of them) at j->p as UTF-8 into out;
 * advances j->p past it. Returns the byte count, 0 when invalid. */
static size_t unicode_escape(jparse_t *j, char *out)
{
    int cp = hex4(j->p + 2), len = 6;
    if (cp < 0)
        return 0;
    if ((cp & 0xF800) == 0xD800) {
        if (cp & 0x400 || j->p[6] != '\\' || j->p[7] != 'u')
            return 0;                    /* a low surrogate first, or no pair */
        int lo = hex4(j->p + 8);
        if (lo < 0 || (lo & 0xFC00) != 0xDC00)
            return 0;
        cp = (((cp & 0x3FF) << 10) | (lo & 0x3FF)) + 0x10000;
        len = 12;
    }
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    j->p += len;
    return n;
}

/* The length of the run at s without '"', '\\' or NUL (which ends the
 * text): 16 bytes a step with SSE2, then byte by byte. */
static size_t plain_run(const char *s)
{
    const char *p = s;
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), nul = _mm_setzero_si128();
    for (;;) {
        /* never past the NUL: a 16-byte load may not cross into the next
         * page unless the text goes on there */
        if (((uintptr_t)p & 4095) > 4096 - 16)
            break;
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                   _mm_cmpeq_epi8(x, nul));
        int mask = _mm_movemask_epi8(hit);
        if (mask)
            return (size_t)(p - s) + (size_t)__builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (*p != '"' && *p != '\\' && *p != '\0')
        p++;
    return (size_t)(p - s);
}

static void string_token(lua_State *L, jparse_t *j, jtoken_t *t)
{
    const char *s = ++j->p;
    j->p += plain_run(s);
    if (*j->p == '"') {          /* no escape: the text itself */
        t->type = T_STRING;
        t->str = s;
        t->len = (size_t)(j->p - s);
        j->p++;
        return;
    }
    jbuf_t *b = j->tmp;
    b->len = 0;
    put(L, b, s, (size_t)(j->p - s));
    for (;;) {
        char ch = *j->p;
        if (ch == '"')
            break;
        if (ch == '\0') {
            set_error(j, t, "unexpected end of string");
            return;
        }
        if (ch == '\\') {
            char e = j->p[1];
            if (e == 'u') {
                char u8[4];
                size_t n = unicode_escape(j, u8);
                if (n == 0) {
                    set_error(j, t, "invalid unicode escape code");
                    return;
                }
                put(L, b, u8, n);
                continue;
            }
            switch (e) {
            case '"': case '\\': case '/': ch = e; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            default:
                set_error(j, t, "invalid escape code");
                return;
            }
            j->p++;
        }
        putc_(L, b, ch);
        j->p++;
    }
    j->p++;
    t->type = T_STRING;
    t->str = b->p;
    t->len = b->len;
}

/* cjson's json_is_invalid_number: what strtod may read though JSON has no
 * such number (a leading +, 0x, leading zeros, inf, nan). */
static int odd_number(const char *p)
{
    if (*p == '+')
        return 1;
    if (*p == '-')
        p++;
    if (*p == '0')
        return (p[1] | 0x20) == 'x' || (p[1] >= '0' && p[1] <= '9');
    if (*p <= '9')
        return 0;
    return strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0;
}

static void number_token(jparse_t *j, jtoken_t *t)
{
    /* [-]digits[.digits] with at most 15 significant digits and no exponent
     * or hex after it: the integer m and 10^k are exact doubles, so m / 10^k
     * is the correctly rounded value, as strtod's */
    static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                    1e11, 1e12, 1e13, 1e14, 1e15 };
    const char *p = j->p;
    int neg = *p == '-';
    p += neg;
    uint64_t m = 0;
    int digits = 0, frac = 0;
    while (*p >= '0' && *p <= '9' && digits < 16) {
        m = m * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (digits > 0 && *p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && digits < 16) {
            m = m * 10 + (uint64_t)(*p++ - '0');
            digits++;
            frac++;
        }
    }
    char c = *p;
    if (digits > 0 && digits <= 15 && !(c >= '0' && c <= '9') && c != '.' && (c | 0x20) != 'e' &&
        (c | 0x20) != 'x' && (c | 0x20) != 'p' && (c | 0x20) != 'n' && (c | 0x20) != 'i' &&
        !(frac == 0 && p[-1] == '.')) {
        double d = frac ? (double)m / pow10[frac] : (double)m;
        t->type = T_NUMBER;
        t->num = neg ? -d : d;
        j->p = p;
        return;
    }
    char *end;
    t->type = T_NUMBER;
    t->num = strtod(j->p, &end);
    if (end == j->p)
        set_error(j, t, "invalid number");
    else
        j->p = end;
}

static void next_token(lua_State *L, jparse_t *j, jtoken_t *t)
{
    for (;;) {
        char ch = *j->p;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            j->p++;
            continue;
        }
        t->index = (size_t)(j->p - j->data);
        switch (ch) {
        case '{': t->type = T_OBJ_BEGIN; j->p++; return;
        case '}': t->type = T_OBJ_END; j->p++; return;
        case '[': t->type = T_ARR_BEGIN; j->p++; return;
        case ']': t->type = T_ARR_END; j->p++; return;
        case ':': t->type = T_COLON; j->p++; return;
        case ',': t->type = T_COMMA; j->p++; return;
        case '\0': t->type = T_END; return;
        case '"': string_token(L, j, t); return;
        default: break;
        }
        if (ch == '-' || (ch >= '0' && ch <= '9')) {
            number_token(j, t);
        } else if (strncmp(j->p, "true", 4) == 0) {
            t->type = T_BOOLEAN;
            t->boolean = 1;
            j->p += 4;
        } else if (strncmp(j->p, "false", 5) == 0) {
            t->type = T_BOOLEAN;
            t->boolean = 0;
            j->p += 5;
        } else if (strncmp(j->p, "null", 4) == 0) {
            t->type = T_NULL;
            j->p += 4;
        } else if (odd_number(j->p)) {
            number_token(j, t);
        } else {
            set_error(j, t, "invalid token");
        }
        return;
    }
}

static void parse_error(lua_State *L, const char *expected, const jtoken_t *t)
{
    const char *found = t->type == T_ERROR ? t->str : token_names[t->type];
    luaL_error(L, "Expected %s but found %s at character %d", expected, found, (int)t->index + 1);
}

static void descend(lua_State *L, jparse_t *j, int slots)
{
    if (++j->depth <= MAX_DEPTH && lua_checkstack(L, slots))
        return;
    luaL_error(L, "Found too many nested data structures (%d) at character %d", j->depth,
               (int)(j->p - j->data));
}

static void parse_value(lua_State *L, jparse_t *j, jtoken_t *t);

static void parse_object(lua_State *L, jparse_t *j)
{
    jtoken_t t;
    descend(L, j, 3);
    lua_newtable(L);
    next_token(L, j, &t);
    if (t.type == T_OBJ_END) {
        j->depth--;
        return;
    }
    for (;;) {
        if (t.type != T_STRING)
            parse_error(L, "object key string", &t);
        lua_pushlstring(L, t.str, t.len);
        next_token(L, j, &t);
        if (t.type != T_COLON)
            parse_error(L, "colon", &t);
        next_token(L, j, &t);
        parse_value(L, j, &t);
        lua_rawset(L, -3);
        next_token(L, j, &t);
        if (t.type == T_OBJ_END) {
            j->depth--;
            return;
        }
        if (t.type != T_COMMA)
            parse_error(L, "comma or object end", &t);
        next_token(L, j, &t);
    }
}

static void parse_array(lua_State *L, jparse_t *j)
{
    jtoken_t t;
    descend(L, j, 2);
    lua_newtable(L);
    next_token(L, j, &t);
    if (t.type == T_ARR_END) {
        j->depth--;
        return;
    }
    for (int i = 1;; i++) {
        parse_value(L, j, &t);
        lua_rawseti(L, -2, i);
        next_token(L, j, &t);
        if (t.type == T_ARR_END) {
            j->depth--;
            return;
        }
        if (t.type != T_COMMA)
            parse_error(L, "comma or array end", &t);
        next_token(L, j, &t);
    }
}

static void parse_value(lua_State *L, jparse_t *j, jtoken_t *t)
{
    switch (t->type) {
    case T_STRING: lua_pushlstring(L, t->str, t->len); return;
    case T_NUMBER: lua_pushnumber(L, t->num); return;
    case T_BOOLEAN: lua_pushboolean(L, t->boolean); return;
    case T_OBJ_BEGIN: parse_object(L, j); return;
    case T_ARR_BEGIN: parse_array(L, j); return;
    case T_NULL: lua_pushlightuserdata(L, NULL); return;   /* hm.json.null */
    default: parse_error(L, "value", t);
    }
}

static int l_decode(lua_State *L)
{
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    /* a NUL in the first two bytes: the only sign of UTF-16/32 cjson looked for */
    if (len >= 2 && (!s[0] || !s[1]))
        luaL_error(L, "JSON parser does not support UTF-16 or UTF-32");
    jparse_t j = { s, s, lua_touserdata(L, lua_upvalueindex(1)), 0 };
    jtoken_t t;
    next_token(L, &j, &t);
    parse_value(L, &j, &t);
    next_token(L, &j, &t);
    if (t.type != T_END)
        parse_error(L, "the end", &t);
    trim(j.tmp);
    return 1;
}

void hm_lua_json_push_decode(lua_State *L)
{
    push_with_buffer(L, l_decode);
}
