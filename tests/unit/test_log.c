/* test_log.c -- JSON line shape, levels, thread-local context, secret-key names.
 *
 * stderr is redirected to a temporary file around each logging call and the
 * lines are checked by decoding them with lua-cjson (a real JSON parser). */
#include "hm_test.h"
#include "hotelmux/log.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

extern int luaopen_cjson(lua_State *L);

/* ---- capturing stderr ---------------------------------------------------- */

static FILE *cap_file;
static int cap_saved = -1;
static char captured[65536];

static void cap_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    HM_CHECK(cap_file != NULL);
    cap_saved = dup(STDERR_FILENO);
    dup2(fileno(cap_file), STDERR_FILENO);
}

/* Stop capturing; returns what was written (NUL-terminated). */
static const char *cap_end(void)
{
    fflush(stderr);
    dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    rewind(cap_file);
    size_t n = fread(captured, 1, sizeof(captured) - 1, cap_file);
    captured[n] = '\0';
    fclose(cap_file);
    return captured;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* ---- decoding a line ----------------------------------------------------- */

static lua_State *L;

/* Decode one JSON line into a table at the top of the stack; false if invalid. */
static bool decode(const char *line)
{
    if (L == NULL) {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaopen_cjson(L);
        lua_setglobal(L, "cjson");
    }
    lua_settop(L, 0);
    lua_getglobal(L, "cjson");
    lua_getfield(L, -1, "decode");
    lua_pushstring(L, line);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "not JSON: %s (%s)\n", line, lua_tostring(L, -1));
        return false;
    }
    return lua_istable(L, -1);
}

/* String field of the decoded table (NULL if absent or not a string). */
static const char *field(const char *name)
{
    lua_getfield(L, 1 + 1, name);   /* table is at index 2 (cjson module is 1) */
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);   /* still anchored by the table */
    return s;
}

static double num_field(const char *name, bool *present)
{
    lua_getfield(L, 2, name);
    *present = lua_type(L, -1) == LUA_TNUMBER;
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Keys of the decoded object, in any order, comma-joined and sorted by Lua. */
static const char *keys(void)
{
    static char out[512];
    lua_getglobal(L, "table");
    lua_newtable(L);
    int t = lua_gettop(L);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, t, ++i);
    }
    lua_getfield(L, t - 1, "sort");
    lua_pushvalue(L, t);
    lua_call(L, 1, 0);
    lua_getfield(L, t - 1, "concat");
    lua_pushvalue(L, t);
    lua_pushliteral(L, ",");
    lua_call(L, 2, 1);
    snprintf(out, sizeof(out), "%s", lua_tostring(L, -1));
    lua_pop(L, 3);
    return out;
}

static bool ts_shape(const char *ts)
{
    /* 2024-05-01T12:34:56.789Z */
    if (ts == NULL || strlen(ts) != 24)
        return false;
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++) {
        if (shape[i] == 'd' ? (ts[i] < '0' || ts[i] > '9') : ts[i] != shape[i])
            return false;
    }
    return true;
}

/* ---- cases --------------------------------------------------------------- */

HM_TEST(line_shape)
{
    hm_log_set_level(HM_LOG_DEBUG);
    hm_log_set_worker(-1);
    hm_log_set_request_id(NULL);
    cap_begin();
    hm_log(HM_LOG_INFO, "hello %s #%d", "world", 7);
    const char *out = cap_end();
    HM_CHECK_INT(count_lines(out), 1);
    HM_CHECK(out[0] == '{' && strlen(out) > 2 && strcmp(out + strlen(out) - 2, "}\n") == 0);
    /* the fixed prefix: time first, then level */
    HM_CHECK(strncmp(out, "{\"ts\":\"", 7) == 0);
    HM_CHECK(strstr(out, "\",\"level\":\"info\",\"msg\":\"hello world #7\"}") != NULL);
    HM_CHECK(decode(out));
    HM_CHECK_STR(keys(), "level,msg,ts");
    HM_CHECK(ts_shape(field("ts")));
    HM_CHECK_STR(field("level"), "info");
    HM_CHECK_STR(field("msg"), "hello world #7");
}

HM_TEST(levels_and_filtering)
{
    hm_log_set_worker(-1);
    hm_log_set_request_id(NULL);
    hm_log_set_level(HM_LOG_DEBUG);
    cap_begin();
    hm_log(HM_LOG_DEBUG, "d");
    hm_log(HM_LOG_INFO, "i");
    hm_log(HM_LOG_WARN, "w");
    hm_log(HM_LOG_ERROR, "e");
    const char *out = cap_end();
    HM_CHECK_INT(count_lines(out), 4);
    HM_CHECK(strstr(out, "\"level\":\"debug\",\"msg\":\"d\"") != NULL);
    HM_CHECK(strstr(out, "\"level\":\"info\",\"msg\":\"i\"") != NULL);
    HM_CHECK(strstr(out, "\"level\":\"warn\",\"msg\":\"w\"") != NULL);
    HM_CHECK(strstr(out, "\"level\":\"error\",\"msg\":\"e\"") != NULL);

    hm_log_set_level(HM_LOG_WARN);
    cap_begin();
    hm_log(HM_LOG_DEBUG, "d");
    hm_log(HM_LOG_INFO, "i");
    hm_log(HM_LOG_WARN, "w");
    hm_log(HM_LOG_ERROR, "e");
    out = cap_end();
    HM_CHECK_INT(count_lines(out), 2);
    HM_CHECK(strstr(out, "\"msg\":\"i\"") == NULL);
    HM_CHECK(strstr(out, "\"msg\":\"w\"") != NULL);

    hm_log_set_level(HM_LOG_ERROR);
    cap_begin();
    hm_log(HM_LOG_WARN, "w");
    out = cap_end();
    HM_CHECK_STR(out, "");
    hm_log_set_level(HM_LOG_INFO);
}

HM_TEST(parse_level)
{
    hm_log_level_t l = HM_LOG_ERROR;
    HM_CHECK_INT(hm_log_parse_level("debug", &l), 0);
    HM_CHECK_INT(l, HM_LOG_DEBUG);
    HM_CHECK_INT(hm_log_parse_level("INFO", &l), 0);
    HM_CHECK_INT(l, HM_LOG_INFO);
    HM_CHECK_INT(hm_log_parse_level("Warn", &l), 0);
    HM_CHECK_INT(l, HM_LOG_WARN);
    HM_CHECK_INT(hm_log_parse_level("error", &l), 0);
    HM_CHECK_INT(l, HM_LOG_ERROR);
    l = HM_LOG_WARN;
    HM_CHECK(hm_log_parse_level("warning", &l) != 0);
    HM_CHECK(hm_log_parse_level("", &l) != 0);
    HM_CHECK(hm_log_parse_level("trace", &l) != 0);
    HM_CHECK(hm_log_parse_level("info ", &l) != 0);
    HM_CHECK_INT(l, HM_LOG_WARN);   /* untouched on failure */
}

HM_TEST(context_and_fields)
{
    hm_log_set_level(HM_LOG_INFO);
    hm_log_set_worker(3);
    static const char rid[] = "req-\"42\"\n";
    hm_log_set_request_id(rid);
    HM_CHECK(hm_log_request_id() == rid);
    cap_begin();
    hm_log_fields(HM_LOG_WARN, "\"supplier\":\"acme\",\"ms\":12.5", "slow %s", "answer");
    hm_log_fields(HM_LOG_WARN, "", "empty fields");
    const char *out = cap_end();
    HM_CHECK_INT(count_lines(out), 2);
    const char *nl = strchr(out, '\n');
    char first[1024];
    size_t n = nl ? (size_t)(nl - out) : 0;
    memcpy(first, out, n);
    first[n] = '\0';
    HM_CHECK(decode(first));
    HM_CHECK_STR(keys(), "level,ms,msg,request_id,supplier,ts,worker");
    bool present;
    HM_CHECK(num_field("worker", &present) == 3 && present);
    HM_CHECK_STR(field("request_id"), rid);   /* escaped on the way out, intact on the way back */
    HM_CHECK_STR(field("supplier"), "acme");
    HM_CHECK(num_field("ms", &present) == 12.5 && present);
    HM_CHECK_STR(field("msg"), "slow answer");
    HM_CHECK(nl && decode(nl + 1));
    HM_CHECK_STR(keys(), "level,msg,request_id,ts,worker");   /* "" adds nothing */

    /* context is per thread: another thread sees none of it */
    hm_log_set_request_id(NULL);
    HM_CHECK(hm_log_request_id() == NULL);
    hm_log_set_worker(-1);
    cap_begin();
    hm_log(HM_LOG_INFO, "control");
    out = cap_end();
    HM_CHECK(decode(out));
    HM_CHECK_STR(keys(), "level,msg,ts");
}

static void *thread_log(void *arg)
{
    HM_CHECK(hm_log_request_id() == NULL);   /* not inherited */
    hm_log_set_worker(9);
    for (int i = 0; i < 200; i++)
        hm_log(HM_LOG_INFO, "t%s %d %s", (const char *)arg, i,
               "padding padding padding padding padding padding padding padding");
    return NULL;
}

HM_TEST(threads_do_not_interleave_lines)
{
    hm_log_set_level(HM_LOG_INFO);
    hm_log_set_request_id("main-only");
    cap_begin();
    pthread_t a, b;
    pthread_create(&a, NULL, thread_log, "A");
    pthread_create(&b, NULL, thread_log, "B");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    const char *out = cap_end();
    hm_log_set_request_id(NULL);
    HM_CHECK_INT(count_lines(out), 400);
    int bad = 0, workers = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        char line[512];
        size_t n = (size_t)(nl - p);
        if (n >= sizeof(line) || !decode((memcpy(line, p, n), line[n] = '\0', line)))
            bad++;
        else if (field("request_id") == NULL) {
            bool present;
            if (num_field("worker", &present) == 9 && present)
                workers++;
        }
        p = nl + 1;
    }
    HM_CHECK_INT(bad, 0);
    HM_CHECK_INT(workers, 400);
}

HM_TEST(escaping_in_message)
{
    hm_log_set_level(HM_LOG_INFO);
    hm_log_set_worker(-1);
    hm_log_set_request_id(NULL);
    cap_begin();
    hm_log(HM_LOG_ERROR, "quote \" backslash \\ newline \n tab \t ctl \x01 utf8 \xc3\xa9");
    const char *out = cap_end();
    HM_CHECK_INT(count_lines(out), 1);   /* the newline is escaped, not written */
    HM_CHECK(decode(out));
    HM_CHECK_STR(field("msg"), "quote \" backslash \\ newline \n tab \t ctl \x01 utf8 \xc3\xa9");
}

HM_TEST(secret_keys)
{
    static const char *const secret[] = {
        "password", "Password", "PASSWD", "db_password", "token", "access_token", "X-Auth-Token",
        "secret", "client_secret", "apiKey", "api_key", "X-Api-Key", "signature", "X-Signature",
        "Authorization", "proxy-authorization", "LicenseKey", "license_key", "Cookie",
        "set-cookie", "cvv", "card_number", "CardNumber", "refreshToken",
    };
    static const char *const plain[] = {
        "hotel_id", "currency", "amount", "checkin", "supplier", "status", "msg", "url_path",
        "room_type", "", "k", "keyword_count", "passenger", "tok",
    };
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        if (!hm_log_is_secret_key(secret[i], strlen(secret[i])))
            fprintf(stderr, "not secret: %s\n", secret[i]);
        HM_CHECK(hm_log_is_secret_key(secret[i], strlen(secret[i])));
    }
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (hm_log_is_secret_key(plain[i], strlen(plain[i])))
            fprintf(stderr, "secret: %s\n", plain[i]);
        HM_CHECK(!hm_log_is_secret_key(plain[i], strlen(plain[i])));
    }
    /* only len bytes count: the key need not be NUL-terminated */
    HM_CHECK(!hm_log_is_secret_key("tokenizer", 3));
    HM_CHECK(hm_log_is_secret_key("token=abc", 5));
    HM_CHECK(!hm_log_is_secret_key("hotel_password", 6));
    /* a long name still matches wherever the secret word sits */
    char longkey[200];
    memset(longkey, 'x', sizeof(longkey));
    memcpy(longkey + 120, "_password", 9);
    HM_CHECK(hm_log_is_secret_key(longkey, sizeof(longkey)));
    memcpy(longkey + 120, "_xxxxxxxx", 9);
    HM_CHECK(!hm_log_is_secret_key(longkey, sizeof(longkey)));
    memcpy(longkey + sizeof(longkey) - 5, "token", 5);
    HM_CHECK(hm_log_is_secret_key(longkey, sizeof(longkey)));
}

static void close_lua(void)
{
    if (L)
        lua_close(L);
}

HM_TEST(cleanup)
{
    close_lua();
    L = NULL;
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(line_shape),
    HM_TEST_ENTRY(levels_and_filtering),
    HM_TEST_ENTRY(parse_level),
    HM_TEST_ENTRY(context_and_fields),
    HM_TEST_ENTRY(threads_do_not_interleave_lines),
    HM_TEST_ENTRY(escaping_in_message),
    HM_TEST_ENTRY(secret_keys),
    HM_TEST_ENTRY(cleanup)
)
