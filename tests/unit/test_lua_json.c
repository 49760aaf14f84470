/* test_lua_json.c -- hm.json.encode writes what lua-cjson wrote, byte for byte. */
#include "hotelmux/lua_json.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "hm_test.h"
#include "hm_test_lua.h"

extern int luaopen_cjson(lua_State *L);

/* A state with cjson (as the core set it up before: sparse arrays as
 * objects) and ours side by side: globals cjson_encode, hm_encode. */
static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaopen_cjson(L);
    lua_getfield(L, -1, "encode_sparse_array");
    lua_pushboolean(L, 1);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "encode");
    lua_setglobal(L, "cjson_encode");
    lua_getfield(L, -1, "null");
    lua_setglobal(L, "null");
    lua_pop(L, 1);
    hm_lua_json_push_encode(L);
    lua_setglobal(L, "hm_encode");
    return L;
}

static const char *run(lua_State *L, const char *code) { return hm_test_lua_run(L, code); }

static const char *num(double d)
{
    static char out[HM_JSON_NUMBER_MAX];
    hm_json_number(d, out);
    return out;
}

static int same_as_printf(double d)
{
    char want[64], got[HM_JSON_NUMBER_MAX];
    snprintf(want, sizeof(want), "%.14g", d);
    size_t n = hm_json_number(d, got);
    if (strcmp(want, got) != 0 || n != strlen(want)) {
        fprintf(stderr, "  %.17g: want %s, got %s\n", d, want, got);
        return 0;
    }
    return 1;
}

HM_TEST(numbers_as_printf_g14)
{
    HM_CHECK_STR(num(0), "0");
    HM_CHECK_STR(num(-0.0), "-0");
    HM_CHECK_STR(num(42), "42");
    HM_CHECK_STR(num(-7), "-7");
    HM_CHECK_STR(num(123.45), "123.45");
    HM_CHECK_STR(num(0.1), "0.1");
    HM_CHECK_STR(num(1.005), "1.005");
    HM_CHECK_STR(num(99999999999999.0), "99999999999999");
    HM_CHECK_STR(num(100000000000000.0), "1e+14");
    HM_CHECK_STR(num(1.0 / 3), "0.33333333333333");
    HM_CHECK_STR(num(0.0001), "0.0001");
    HM_CHECK_STR(num(0.00001), "1e-05");
    HM_CHECK_STR(num(1e300), "1e+300");
    /* money amounts, integers, ratios and arbitrary doubles */
    const double fixed[] = { 0.5, 0.05, 0.25, 2.675, 1234.567, 1e-4, 9.9999e-5, 123456789.123456,
                             12345678.1234567, 4503599627370496.5, 0.1 + 0.2, 1e13, 1e14 - 1,
                             -0.000123, 5e-324, 1.7976931348623157e308, 0.30000000000000004 };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        HM_CHECK(same_as_printf(fixed[i]));
        HM_CHECK(same_as_printf(-fixed[i]));
    }
    uint64_t x = 88172645463325252ULL;
    int bad = 0;
    for (int i = 0; i < 200000 && bad < 5; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        switch (i % 5) {
        case 0: d = (double)(int64_t)(x % 100000000) / 100; break;          /* cents */
        case 1: d = (double)(int64_t)(x % 2000000000) / 1000000; break;     /* 10^-6 units */
        case 2: d = (double)(int64_t)(x >> 11) / (double)(1ULL << 20); break;
        case 3: d = (double)(x % 1000000) * pow(10, (double)(int)(x % 37) - 18); break;
        default: memcpy(&d, &x, sizeof(d)); if (!isfinite(d)) continue; break;
        }
        if (!same_as_printf(d) || !same_as_printf(-d))
            bad++;
    }
    HM_CHECK_INT(bad, 0);
}

/* Each value, encoded by both, must come out the same (or fail alike). */
HM_TEST(same_text_as_cjson)
{
    lua_State *L = new_state();
    const char *prog =
        "local cases = {\n"
        "  {}, { 1, 2, 3 }, { a = 1 }, 'x', 12.5, true, false, null,\n"
        "  { s = 'q\"uote\\\\back/slash\\n\\r\\t\\b\\f\\1\\31\\127\\128\\255 \\u{e9}' },\n"
        "  { [1] = 'a', [3] = 'c' }, { [1] = 1, [20] = 2 }, { [1] = 1, [2] = 2, x = 3 },\n"
        "  { [1.5] = 'f', [-1] = 'n', [0] = 'z' }, { [1e20] = 1 }, { nested = { { {}, { {} } } } },\n"
        "  { a = null, b = { null, null } }, { price = { amount = 123.45, text = '123.45' } },\n"
        "  { [1] = 'a', [2] = nil, [3] = 'c', [4] = 'd' }, { n = -0.0 }, { n = 1/3 }, { big = 2^60 },\n"
        "  string.rep('long ', 5000), { string.rep('/', 300) },\n"
        "}\n"
        "for i = 1, 200 do\n"   /* random nested tables */
        "  local t = {}\n"
        "  for j = 1, math.random(0, 12) do\n"
        "    local r = math.random(6)\n"
        "    local v = r == 1 and math.random() * 1000 or r == 2 and ('s' .. math.random(1000) .. '/\\0')\n"
        "              or r == 3 and { math.random(10), 'x', { y = true } } or r == 4 and null\n"
        "              or r == 5 and math.random(-5, 5) or {}\n"
        "    if math.random(3) == 1 then t[#t + 1] = v else t['k' .. j] = v end\n"
        "  end\n"
        "  cases[#cases + 1] = t\n"
        "end\n"
        "for pos = 0, 40 do\n"   /* every escape at every place of a 16-byte block */
        "  for _, ch in ipairs({ '\"', '/', '\\\\', '\\0', '\\31', '\\127', '\\128', '\\255', ' ', '~' }) do\n"
        "    cases[#cases + 1] = string.rep('a', pos) .. ch .. string.rep('\\200', 40 - pos)\n"
        "  end\n"
        "end\n"
        "for i, v in ipairs(cases) do\n"
        "  local a, b = cjson_encode(v), hm_encode(v)\n"
        "  if a ~= b then return 'case ' .. i .. ': cjson ' .. a .. ' hm ' .. b end\n"
        "end\n"
        "local bad = { { f = print }, { [true] = 1 }, { n = 0/0 }, { n = math.huge }, print }\n"
        "for i, v in ipairs(bad) do\n"
        "  local ok1, e1 = pcall(cjson_encode, v)\n"
        "  local ok2, e2 = pcall(hm_encode, v)\n"
        "  if ok1 or ok2 or e1 ~= e2 then return 'bad ' .. i .. ': ' .. tostring(e1) .. ' vs ' .. tostring(e2) end\n"
        "end\n"
        "local deep = {}\n"
        "local t = deep\n"
        "for i = 1, 1100 do t[1] = {}; t = t[1] end\n"
        "local ok, e = pcall(hm_encode, deep)\n"
        "if ok or not e:find('excessive nesting (1001)', 1, true) then return 'deep: ' .. tostring(e) end\n"
        "if select(2, pcall(hm_encode)) ~= select(2, pcall(cjson_encode)) then return 'no argument' end\n"
        "return 'same'\n";
    HM_CHECK_STR(run(L, prog), "same");
    /* after an error mid-encode the buffer is reused cleanly */
    HM_CHECK_STR(run(L, "pcall(hm_encode, { a = string.rep('x', 100000), f = print })\n"
                        "return hm_encode({ ok = 1 })"), "{\"ok\":1}");
    lua_close(L);
}

HM_TEST_MAIN(HM_TEST_ENTRY(numbers_as_printf_g14), HM_TEST_ENTRY(same_text_as_cjson))
