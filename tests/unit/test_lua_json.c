/* test_lua_json.c -- hm.json.encode writes what lua-cjson wrote, byte for byte. */
#include "hotelmux/lua_json.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
    lua_getfield(L, -1, "decode");
    lua_setglobal(L, "cjson_decode");
    hm_lua_json_push_decode(L);
    lua_setglobal(L, "hm_decode");
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

/* Lua: same_decode(text) -> nil when cjson and hm decode text alike (the
 * same value, the same pairs() order, or the same error), else why. */
static const char *const same_decode_lua =
    "function same_decode(s)\n"
    "  local ok1, v1 = pcall(cjson_decode, s)\n"
    "  local ok2, v2 = pcall(hm_decode, s)\n"
    "  if ok1 ~= ok2 then return 'ok ' .. tostring(ok1) .. ' vs ' .. tostring(ok2) .. ': ' .. tostring(v1) .. ' / ' .. tostring(v2) end\n"
    "  if not ok1 then\n"
    "    if v1 ~= v2 then return 'errors: ' .. tostring(v1) .. ' / ' .. tostring(v2) end\n"
    "    return nil\n"
    "  end\n"
    "  if type(v1) ~= type(v2) then return 'types ' .. type(v1) .. ' ' .. type(v2) end\n"
    "  if type(v1) == 'number' and v1 ~= v1 then\n"
    "    if v2 ~= v2 then return nil end\n"
    "    return 'nan'\n"
    "  end\n"
    "  local a, b = ser(v1), ser(v2)\n"
    "  if a ~= b then return 'values ' .. a:sub(1, 300) .. ' / ' .. b:sub(1, 300) end\n"
    "  return nil\n"
    "end\n"
    /* exact numbers, every key in pairs() order */
    "function ser(v)\n"
    "  local t = type(v)\n"
    "  if t == 'number' then return string.format('%.17g', v) end\n"
    "  if t == 'string' then return string.format('%q', v) end\n"
    "  if t ~= 'table' then return tostring(v) end\n"
    "  local out = {}\n"
    "  for k, x in pairs(v) do out[#out + 1] = ser(k) .. '=' .. ser(x) end\n"
    "  return '{' .. table.concat(out, ',') .. '}'\n"
    "end\n";

static int check_text(lua_State *L, const char *text, size_t len, const char *what)
{
    lua_getglobal(L, "same_decode");
    lua_pushlstring(L, text, len);
    lua_call(L, 1, 1);
    int same = lua_isnil(L, -1);
    if (!same)
        fprintf(stderr, "  %s: %s\n", what, lua_tostring(L, -1));
    lua_pop(L, 1);
    return same;
}

/* Every file under dir (recursively): whole, cut at each of 64 places, one
 * byte changed at 64 places. Returns the files checked. */
static int check_files(lua_State *L, const char *dir, int *bad)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *bad < 5) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            n += check_files(L, path, bad);
            continue;
        }
        if (st.st_size > (1 << 22))
            continue;
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t len = (size_t)st.st_size;
        char *text = malloc(len + 1);
        if (text && fread(text, 1, len, f) == len) {
            n++;
            *bad += !check_text(L, text, len, path);
            for (size_t i = 0; i < 64 && len > 0; i++) {
                size_t at = (len * i) / 64;
                *bad += !check_text(L, text, at, path);
                char keep = text[at];
                static const char flips[] = "\"\\{}[],:0-eu. x\x01\xc3";
                text[at] = flips[i % (sizeof(flips) - 1)];
                *bad += !check_text(L, text, len, path);
                text[at] = keep;
            }
        }
        free(text);
        fclose(f);
    }
    closedir(d);
    return n;
}

HM_TEST(decode_same_as_cjson)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, same_decode_lua), "(nil)");
    const char *prog =
        "local cases = { '{}', '[]', '\"x\"', '12', '-0', '-0.0', '1.5', '0.1', '123456789012345', '1234567890123456',\n"
        "  '12345678901234567890', '1e5', '1E-3', '1.', '.5', '-', '+1', '0x1F', '-0x10', '007', '1.2.3', 'inf', '-inf',\n"
        "  'nan', 'NaN', 'Infinity', 'true', 'false', 'null', 'tru', 'nul', ' [1, 2 ,3 ] ', '[1,]', '[,1]', '{\"a\":}',\n"
        "  '{\"a\" 1}', '{1:2}', '{\"a\":1,}', [[\"\\u00e9\\ud83d\\ude00\\n\\t\\/\\\\\\\"\"]], [[\"\\ud83d\"]],\n"
        "  [[\"\\ude00\"]], [[\"\\u12\"]], [[\"\\x\"]], [[\"\\ud83d\\u0041\"]], '\"abc', [[\"a\\]], '', '   ', '\\0', 'a\\0', '{}\\0junk', '[1] x',\n"
        "  '\\f1', '\"\\1\\31\"', '[1e400, -1e400, 4.9e-324]', '{\"a\":1,\"a\":2}', '[[[[]]]]', '{\"k\":[null,{}]}' }\n"
        "for i = 1, 1100 do cases[#cases + 1] = string.rep('[', i) end\n"
        "cases[#cases + 1] = string.rep('[', 999) .. string.rep(']', 999)\n"
        "cases[#cases + 1] = string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001)\n"
        "for i = 1, 300 do\n"   /* random documents, as text cjson itself wrote */
        "  local function gen(d)\n"
        "    local r = math.random(d > 3 and 5 or 8)\n"
        "    if r == 1 then return math.random() * 10 ^ math.random(-8, 20) end\n"
        "    if r == 2 then return math.random(-1000, 1000) end\n"
        "    if r == 3 then local s = {} for k = 1, math.random(0, 12) do s[k] = string.char(math.random(0, 255)) end return table.concat(s) end\n"
        "    if r == 4 then return math.random(2) == 1 end\n"
        "    if r == 5 then return null end\n"
        "    local t = {}\n"
        "    if r == 6 then for k = 1, math.random(0, 6) do t[k] = gen(d + 1) end\n"
        "    else for k = 1, math.random(0, 8) do t['k' .. math.random(20)] = gen(d + 1) end end\n"
        "    return t\n"
        "  end\n"
        "  cases[#cases + 1] = cjson_encode(gen(0))\n"
        "end\n"
        "for i = 1, 5000 do\n"   /* decimals of 1..18 digits, the point anywhere */
        "  local d = {}\n"
        "  for k = 1, math.random(18) do d[k] = tostring(math.random(0, 9)) end\n"
        "  local at = math.random(0, #d)\n"
        "  if at > 0 and at < #d then table.insert(d, at + 1, '.') end\n"
        "  cases[#cases + 1] = (math.random(2) == 1 and '-' or '') .. table.concat(d)\n"
        "end\n"
        "for i, s in ipairs(cases) do\n"
        "  local why = same_decode(s)\n"
        "  if why then return 'case ' .. i .. ' (' .. s:sub(1, 40) .. '): ' .. why end\n"
        "end\n"
        "if select(2, pcall(hm_decode)) ~= select(2, pcall(cjson_decode)) then return 'no argument' end\n"
        "if select(2, pcall(hm_decode, 1, 2)) ~= select(2, pcall(cjson_decode, 1, 2)) then return 'two arguments' end\n"
        "if hm_decode(42) ~= 42 then return 'a number argument' end\n"
        "return 'same'\n";
    HM_CHECK_STR(run(L, prog), "same");
    /* real supplier answers and the fuzz corpora, whole, cut and altered */
    int bad = 0, files = 0;
    char dir[1024];
    const char *src = getenv("HM_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus", src ? src : HM_SOURCE_DIR);
    files += check_files(L, dir, &bad);
    const char *shared = getenv("HM_SHARED");
    if (shared) {
        snprintf(dir, sizeof(dir), "%s/fixtures", shared);
        files += check_files(L, dir, &bad);
    }
    HM_CHECK(files > 50);
    HM_CHECK_INT(bad, 0);
    lua_close(L);
}

HM_TEST_MAIN(HM_TEST_ENTRY(numbers_as_printf_g14), HM_TEST_ENTRY(same_text_as_cjson),
             HM_TEST_ENTRY(decode_same_as_cjson))
