/* test_lua_log.c -- hm.log lines captured from stderr and checked field by field. */
#include "hotelmux/log.h"
#include "hotelmux/lua_log.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <unistd.h>

#include "hm_test.h"

/* --- a small JSON validator, so every line is checked to be one object --- */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_container(const char *p, int depth, char close, int object)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = json_string(p);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        p = json_value(json_ws(p), depth + 1);
        if (!p)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
        p = json_ws(p);
    }
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    switch (*p) {
    case '{': return json_container(p, depth, '}', 1);
    case '[': return json_container(p, depth, ']', 0);
    case '"': return json_string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return json_number(p);
    }
}

/* One JSON object followed by exactly one newline. */
static int is_json_line(const char *s)
{
    if (*s != '{')
        return 0;
    const char *e = json_value(s, 0);
    return e != NULL && e[0] == '\n' && e[1] == '\0';
}

/* --- harness ------------------------------------------------------------ */

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    hm_lua_log_open(L);
    lua_setfield(L, -2, "log");
    lua_setglobal(L, "hm");
    return L;
}

static char captured[256 * 1024];
static char lua_err[1024];

/* Run code as chunk "@scripts/connectors/demo.lua" with stderr captured
 * into `captured`; returns it. A Lua error lands in lua_err. */
static const char *capture(lua_State *L, const char *code)
{
    captured[0] = lua_err[0] = '\0';
    FILE *tmp = tmpfile();
    if (tmp == NULL)
        return "(tmpfile failed)";
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = luaL_loadbuffer(L, code, strlen(code), "@scripts/connectors/demo.lua");
    if (rc == 0)
        rc = lua_pcall(L, 0, 0, 0);
    if (rc != 0)
        snprintf(lua_err, sizeof(lua_err), "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    if (lua_err[0])
        fprintf(stderr, "lua error: %s\n", lua_err);
    return captured;
}

#define HAS(s, needle) do { \
    if (strstr((s), (needle)) == NULL) { \
        fprintf(stderr, "%s:%d: missing %s in: %s\n", __FILE__, __LINE__, (needle), (s)); \
        hm_test_failures++; \
    } \
} while (0)

#define HASNT(s, needle) do { \
    if (strstr((s), (needle)) != NULL) { \
        fprintf(stderr, "%s:%d: unexpected %s in: %s\n", __FILE__, __LINE__, (needle), (s)); \
        hm_test_failures++; \
    } \
} while (0)

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* --- tests -------------------------------------------------------------- */

HM_TEST(basic_line)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L, "local x = 1\nhm.log.info('hello \"world\"', { hotel = 'H42', rooms = 3 })\n");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"level\":\"info\"");
    HAS(out, "\"msg\":\"hello \\\"world\\\"\"");
    HAS(out, "\"src\":\"scripts/connectors/demo.lua:2\"");
    HAS(out, "\"hotel\":\"H42\"");
    HAS(out, "\"rooms\":3");
    HM_CHECK_STR(lua_err, "");
    /* every level name, and src follows the calling line */
    out = capture(L, "hm.log.debug('d')\nhm.log.warn('w')\n\nhm.log.error('e', {})\n");
    HM_CHECK_INT(count_lines(out), 3);
    HAS(out, "\"level\":\"debug\",\"msg\":\"d\",\"src\":\"scripts/connectors/demo.lua:1\"}");
    HAS(out, "\"level\":\"warn\",\"msg\":\"w\",\"src\":\"scripts/connectors/demo.lua:2\"}");
    HAS(out, "\"level\":\"error\",\"msg\":\"e\",\"src\":\"scripts/connectors/demo.lua:4\"}");
    /* from inside a function: the function's line, not the chunk's */
    out = capture(L, "local function f()\n  hm.log.info('in f')\nend\nf()\n");
    HAS(out, "\"src\":\"scripts/connectors/demo.lua:2\"");
    lua_close(L);
}

HM_TEST(number_formatting)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L, "hm.log.info('n', { i = 42, f = 1.5, neg = -3, big = 1e20, tiny = 0.1,"
                                 " nan = 0/0, inf = 1/0, ninf = -1/0, z = -0.0, two53 = 2^53, arr = { 1, 2.25, -7 } })");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"i\":42");
    HASNT(out, "\"i\":42.");   /* an integer, not 42.0 (not "42.0" anywhere: the timestamp may hold it) */
    HAS(out, "\"f\":1.5");
    HAS(out, "\"neg\":-3");
    HAS(out, "\"big\":1e+20");
    HAS(out, "\"tiny\":0.1");
    HAS(out, "\"nan\":\"nan\"");
    HAS(out, "\"inf\":\"inf\"");
    HAS(out, "\"ninf\":\"-inf\"");
    HAS(out, "\"z\":0");
    HAS(out, "\"two53\":9.007199254741e+15");
    HAS(out, "\"arr\":[1,2.25,-7]");
    lua_close(L);
}

HM_TEST(redaction_at_depth)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L,
        "hm.log.warn('auth', {\n"
        "  user = 'bob', password = 'hunter2', Authorization = { scheme = 'x', v = 'y' },\n"
        "  req = { headers = { ['X-Api-Key'] = 'k-111', accept = 'xml' },\n"
        "          deeper = { list = { 'plain', 'Bearer tok-222', { client_secret = 's-333' } } } },\n"
        "  hdr = 'basic Zm9vOmJhcg==', url = 'https://api.example/x?a=1&signature=sig-444',\n"
        "  q = 'apikey=key-555', ok = 'Basically fine', [1] = 'Bearer tok-666',\n"
        "})");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"user\":\"bob\"");
    HAS(out, "\"password\":\"[redacted]\"");
    HAS(out, "\"Authorization\":\"[redacted]\"");
    HAS(out, "\"X-Api-Key\":\"[redacted]\"");
    HAS(out, "\"accept\":\"xml\"");
    HAS(out, "\"list\":[\"plain\",\"[redacted]\",{\"client_secret\":\"[redacted]\"}]");
    HAS(out, "\"hdr\":\"[redacted]\"");
    HAS(out, "\"url\":\"[redacted]\"");
    HAS(out, "\"q\":\"[redacted]\"");
    HAS(out, "\"ok\":\"Basically fine\"");
    HAS(out, "\"1\":\"[redacted]\"");
    static const char *const secrets[] = { "hunter2", "scheme", "k-111", "tok-222", "s-333",
                                           "Zm9v", "sig-444", "key-555", "tok-666" };
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        HASNT(out, secrets[i]);
    lua_close(L);
}

HM_TEST(message_tostring)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L, "hm.log.info(42)\nhm.log.info(1.5)\nhm.log.info(nil)\nhm.log.info(false)\nhm.log.info()\n"
                                 "hm.log.info(setmetatable({}, { __tostring = function() return 'custom!' end }))\n"
                                 "hm.log.info(setmetatable({}, { __tostring = function() error('boom') end }))\n"
                                 "hm.log.info({})\nhm.log.info('a\\nb\\1')\n");
    HM_CHECK_STR(lua_err, "");
    HM_CHECK_INT(count_lines(out), 9);
    HAS(out, "\"msg\":\"42\"");
    HAS(out, "\"msg\":\"1.5\"");
    HAS(out, "\"msg\":\"nil\"");
    HAS(out, "\"msg\":\"false\"");
    HAS(out, "\"msg\":\"custom!\"");
    HAS(out, "\"msg\":\"(tostring failed: scripts/connectors/demo.lua:7: boom)\"");
    HAS(out, "\"msg\":\"table: 0x");
    HAS(out, "\"msg\":\"a\\nb\\u0001\"");
    lua_close(L);
}

HM_TEST(bad_fields_never_raise)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L, "hm.log.info('s', 'not a table')\nhm.log.info('n', 5)\nhm.log.info('nil', nil)\n"
                                 "hm.log.info('f', print)\n");
    HM_CHECK_STR(lua_err, "");
    HM_CHECK_INT(count_lines(out), 4);
    HAS(out, "\"msg\":\"s\",\"src\":\"scripts/connectors/demo.lua:1\",\"fields_error\":\"not a table\"}");
    HAS(out, "\"msg\":\"n\",\"src\":\"scripts/connectors/demo.lua:2\",\"fields_error\":\"not a table\"}");
    HAS(out, "\"msg\":\"nil\",\"src\":\"scripts/connectors/demo.lua:3\"}");
    HAS(out, "\"msg\":\"f\",\"src\":\"scripts/connectors/demo.lua:4\",\"fields_error\":\"not a table\"}");

    /* odd values and keys, nesting limit, cycles, metatables never called */
    out = capture(L, "local t = { fn = print, co = coroutine.create(print), ud = io.stdout, flag = true,"
                     " [true] = 'bk', [2.5] = 'fk', empty = {}, list = { 'a', 'b' }, holes = { 1, nil, 3 },\n"
                     " deep = { a = { b = { c = { d = { e = { f = { g = { h = { i = { j = 1 } } } } } } } } } },\n"
                     " meta = setmetatable({}, { __index = function() error('no') end, __pairs = function() error('no') end }) }\n"
                     "t.self = t\nt.list[3] = t.list\n"
                     "hm.log.info('odd', t)\n");
    HM_CHECK_STR(lua_err, "");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"fn\":\"function\"");
    HAS(out, "\"co\":\"thread\"");
    HAS(out, "\"ud\":\"userdata\"");
    HAS(out, "\"flag\":true");
    HAS(out, "\"true\":\"bk\"");
    HAS(out, "\"2.5\":\"fk\"");
    HAS(out, "\"empty\":{}");
    HAS(out, "\"list\":[\"a\",\"b\",\"[cycle]\"]");
    HAS(out, "\"self\":\"[cycle]\"");
    HAS(out, "\"meta\":{}");
    /* deep is level 1 ... g is level 8; h's table would be level 9 */
    HAS(out, "\"g\":{\"h\":\"[too deep]\"}");
    HASNT(out, "\"i\"");
    lua_close(L);
}

HM_TEST(reserved_keys_and_truncation)
{
    hm_log_set_level(HM_LOG_DEBUG);
    lua_State *L = new_state();
    const char *out = capture(L, "hm.log.info('real', { msg = 'spoof', level = 'error', src = 'x', other = 1 })");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"msg\":\"real\"");
    HAS(out, "\"_msg\":\"spoof\"");
    HAS(out, "\"_level\":\"error\"");
    HAS(out, "\"_src\":\"x\"");
    HAS(out, "\"level\":\"info\"");
    HAS(out, "\"other\":1");

    out = capture(L, "local t = {}\nfor i = 1, 2000 do t['k' .. i] = string.rep('v', 100) end\n"
                     "hm.log.info('big', { t = t, after = 'x' })\n");
    HM_CHECK(is_json_line(out));
    HAS(out, "\"fields_truncated\":true");
    HM_CHECK(strlen(out) < HM_LUA_LOG_MAX_FIELDS + 4096);
    lua_close(L);
}

HM_TEST(level_filtering)
{
    lua_State *L = new_state();
    hm_log_set_level(HM_LOG_WARN);
    const char *out = capture(L, "hm.log.debug('d1')\nhm.log.info('i1')\nhm.log.warn('w1')\nhm.log.error('e1')\n");
    HM_CHECK_INT(count_lines(out), 2);
    HASNT(out, "d1");
    HASNT(out, "i1");
    HAS(out, "\"level\":\"warn\",\"msg\":\"w1\"");
    HAS(out, "\"level\":\"error\",\"msg\":\"e1\"");
    hm_log_set_level(HM_LOG_ERROR);
    out = capture(L, "hm.log.warn('w2', { a = 1 })\n");
    HM_CHECK_STR(out, "");
    hm_log_set_level(HM_LOG_DEBUG);
    out = capture(L, "hm.log.debug('d2')\n");
    HAS(out, "\"level\":\"debug\",\"msg\":\"d2\"");
    hm_log_set_level(HM_LOG_INFO);
    lua_close(L);
}

/* An allocator that fails past a limit, to raise Lua memory errors at every
 * point inside the C function: the fields buffer must still be freed (ASan
 * and valgrind report it otherwise) and nothing may crash. */
typedef struct { size_t used, limit; } budget_t;

static void *budget_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    budget_t *b = ud;
    if (nsize == 0) {
        free(p);
        b->used -= osize;
        return NULL;
    }
    if (nsize > osize && b->used + (nsize - osize) > b->limit)
        return NULL;
    void *q = realloc(p, nsize);
    if (q != NULL)
        b->used = b->used - osize + nsize;
    return q;
}

HM_TEST(memory_errors_do_not_leak)
{
    hm_log_set_level(HM_LOG_ERROR + 1); /* render everything, print nothing */
    static const char code[] =
        "local t = { user = 'bob', token = 'x', n = 1.5, list = { 1, 2, { a = string.rep('z', 3000) } } }\n"
        "for i = 1, 40 do t['k' .. i] = { i, 'v' .. i } end\n"
        "t.deep = { { { { { { { { 'eight' } } } } } } } }\n"
        "local msg = setmetatable({}, { __tostring = function() return string.rep('m', 500) end })\n"
        "hm.log.error(msg, t)\n"
        /* a fresh coroutine has a small stack that must grow while rendering */
        "coroutine.wrap(function() hm.log.error(msg, t) end)()\n";
    int failures = 0, successes = 0;
    for (size_t extra = 0; extra < 160 * 1024; extra += 512) {
        budget_t b = { 0, (size_t)-1 };
        lua_State *L = lua_newstate(budget_alloc, &b);
        HM_CHECK(L != NULL);
        if (L == NULL)
            return;
        luaL_openlibs(L);
        lua_newtable(L);
        hm_lua_log_open(L);
        lua_setfield(L, -2, "log");
        lua_setglobal(L, "hm");
        lua_gc(L, LUA_GCCOLLECT, 0);
        b.limit = b.used + extra;
        if (luaL_dostring(L, code) != 0)
            failures++;
        else
            successes++;
        b.limit = (size_t)-1;
        lua_close(L);
    }
    HM_CHECK(failures > 0);
    HM_CHECK(successes > 0);
    hm_log_set_level(HM_LOG_INFO);
}

HM_TEST_MAIN(HM_TEST_ENTRY(basic_line), HM_TEST_ENTRY(number_formatting), HM_TEST_ENTRY(redaction_at_depth),
             HM_TEST_ENTRY(message_tostring), HM_TEST_ENTRY(bad_fields_never_raise),
             HM_TEST_ENTRY(reserved_keys_and_truncation), HM_TEST_ENTRY(level_filtering),
             HM_TEST_ENTRY(memory_errors_do_not_leak))
