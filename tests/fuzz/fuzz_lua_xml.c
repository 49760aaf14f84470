/* fuzz_lua_xml.c -- hm.xml (core/lua_xml.c) on random bytes, through its Lua binding.
 *
 * The first byte picks the entry point, the rest is its input:
 *   0  hm.xml.parse(s), then the element tree is walked and checked
 *   1  hm.xml.doc(s): root(), a few fixed XPath queries, free() twice
 *   2  hm.xml.xpath(s, expr, ns) with "expr\ndocument"
 *   3  hm.xml.escape(s): the output must contain no markup characters
 * Every call runs under pcall in a fresh state; data errors must come back as
 * (nil, string), never as a raise. */
#include "fuzz_main.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include "hotelmux/lua_xml.h"

static int initialised;

/* Check an element table at the top of the stack; returns the element count. */
static size_t walk(lua_State *L, int depth)
{
    FUZZ_ASSERT(depth <= HM_XML_MAX_DEPTH + 1);
    FUZZ_ASSERT(lua_istable(L, -1));
    lua_getfield(L, -1, "tag");
    FUZZ_ASSERT(lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 1);
    lua_getfield(L, -1, "text");
    FUZZ_ASSERT(lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 1);
    lua_getfield(L, -1, "ns");
    FUZZ_ASSERT(lua_isnil(L, -1) || lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 1);
    lua_getfield(L, -1, "attr");
    FUZZ_ASSERT(lua_istable(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        FUZZ_ASSERT(lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    size_t n = 1, len = lua_objlen(L, -1);
    for (size_t i = 1; i <= len; i++) {
        lua_rawgeti(L, -1, (int)i);
        n += walk(L, depth + 1);
        lua_pop(L, 1);
    }
    return n;
}

/* After a data call: either a result or (nil, non-empty message). */
static int ok_or_nil_err(lua_State *L, int nres)
{
    if (!lua_isnil(L, -nres))
        return 1;
    FUZZ_ASSERT(nres == 2 && lua_type(L, -1) == LUA_TSTRING && lua_objlen(L, -1) > 0);
    return 0;
}

static void call(lua_State *L, int nargs, int nres)
{
    int rc = lua_pcall(L, nargs, nres, 0);
    if (rc != 0)
        fprintf(stderr, "hm.xml raised: %s\n", lua_tostring(L, -1));
    FUZZ_ASSERT(rc == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!initialised) {
        hm_lua_xml_global_init();
        initialised = 1;
    }
    if (size == 0)
        return 0;
    int mode = data[0] & 3;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    lua_State *L = luaL_newstate();
    FUZZ_ASSERT(L != NULL);
    hm_lua_xml_open(L);
    int xml = lua_gettop(L);

    switch (mode) {
    case 0:
        lua_getfield(L, xml, "parse");
        lua_pushlstring(L, s, len);
        call(L, 1, 2);
        if (ok_or_nil_err(L, 2)) {
            lua_pop(L, 1);
            walk(L, 1);
        }
        break;
    case 1: {
        lua_getfield(L, xml, "doc");
        lua_pushlstring(L, s, len);
        call(L, 1, 2);
        if (!ok_or_nil_err(L, 2))
            break;
        lua_pop(L, 1);
        int doc = lua_gettop(L);
        lua_getfield(L, doc, "root");
        lua_pushvalue(L, doc);
        call(L, 1, 1);
        walk(L, 1);
        lua_pop(L, 1);
        static const char *const exprs[] = { "//*", "//@*", "//text()", "count(//*)", "/",
                                             "string(/*)", "//comment()", "//*[@id]" };
        for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
            lua_getfield(L, doc, "xpath");
            lua_pushvalue(L, doc);
            lua_pushstring(L, exprs[i]);
            call(L, 2, 2);
            lua_pop(L, 2);
        }
        for (int i = 0; i < 2; i++) {   /* free is idempotent */
            lua_getfield(L, doc, "free");
            lua_pushvalue(L, doc);
            call(L, 1, 0);
        }
        /* a freed doc raises on use instead of touching freed memory */
        lua_getfield(L, doc, "root");
        lua_pushvalue(L, doc);
        FUZZ_ASSERT(lua_pcall(L, 1, 1, 0) != 0);
        break;
    }
    case 2: {
        const char *nl = memchr(s, '\n', len);
        size_t elen = nl ? (size_t)(nl - s) : len;
        const char *doc = nl ? nl + 1 : "<r/>";
        size_t dlen = nl ? len - elen - 1 : 4;
        lua_getfield(L, xml, "xpath");
        lua_pushlstring(L, doc, dlen);
        lua_pushlstring(L, s, elen);
        lua_newtable(L);
        lua_pushliteral(L, "urn:a");
        lua_setfield(L, -2, "a");
        lua_pushliteral(L, "http://schemas.xmlsoap.org/soap/envelope/");
        lua_setfield(L, -2, "soap");
        /* an XPath expression is data too: (nil, err) or a result, no raise */
        int rc = lua_pcall(L, 3, 2, 0);
        if (rc != 0) {
            /* an expression with an embedded NUL may be rejected as an argument error */
            FUZZ_ASSERT(memchr(s, '\0', elen) != NULL);
        } else {
            ok_or_nil_err(L, 2);
        }
        break;
    }
    case 3: {
        lua_getfield(L, xml, "escape");
        lua_pushlstring(L, s, len);
        call(L, 1, 1);
        size_t olen;
        const char *out = lua_tolstring(L, -1, &olen);
        FUZZ_ASSERT(out != NULL && olen >= len);
        for (size_t i = 0; i < olen; i++) {
            char c = out[i];
            FUZZ_ASSERT(c != '<' && c != '>' && c != '"' && c != '\'' && c != '\t' && c != '\n' &&
                        c != '\r');
            if (c == '&') {
                const char *semi = memchr(out + i, ';', olen - i);
                FUZZ_ASSERT(semi != NULL && semi - (out + i) <= 5);
            }
        }
        break;
    }
    }
    lua_close(L);
    return 0;
}
