/* test_config.c -- reading the config table: good values, defaults, every bad
 * value named in the error, paths resolved against the config's directory. */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/config.h"

#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

/* A scratch directory holding config.lua (and a symlink to it). */
static char tmpdir[PATH_MAX];
static char cfgpath[PATH_MAX + 32];
static char realdir[PATH_MAX];

static void setup_dir(void)
{
    if (tmpdir[0])
        return;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hm_test_config_XXXXXX");
    HM_CHECK(mkdtemp(tmpdir) != NULL);
    HM_CHECK(realpath(tmpdir, realdir) != NULL);   /* /tmp may itself be a symlink */
    snprintf(cfgpath, sizeof(cfgpath), "%s/config.lua", tmpdir);
}

static void write_config(const char *src)
{
    setup_dir();
    FILE *f = fopen(cfgpath, "w");
    HM_CHECK(f != NULL);
    if (f) {
        fputs(src, f);
        fclose(f);
    }
}

typedef struct {
    int rc;
    char err[512];
    hm_config_t cfg;
} load_t;

/* Evaluate `src` as the config file and read it; the stack must stay balanced. */
static load_t *load_src(const char *src)
{
    static load_t out;
    write_config(src);
    memset(&out, 0, sizeof(out));
    hm_config_defaults(&out.cfg);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushliteral(L, "sentinel");
    int rc = luaL_dofile(L, cfgpath);
    HM_CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    int top = lua_gettop(L);
    out.rc = hm_config_from_lua(L, top, cfgpath, &out.cfg, out.err, sizeof(out.err));
    HM_CHECK_INT(lua_gettop(L), top);    /* nothing left behind, nothing taken */
    HM_CHECK_STR(lua_tostring(L, 1), "sentinel");
    lua_close(L);
    return &out;
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

HM_TEST(defaults)
{
    hm_config_t c;
    memset(&c, 0x5a, sizeof(c));
    hm_config_defaults(&c);
    HM_CHECK_INT(c.listen_port, 8080);
    HM_CHECK(c.listen_host == NULL && c.admin_token == NULL && c.log_level == NULL);
    HM_CHECK(c.redis_host == NULL);
    HM_CHECK_INT(c.redis_timeout_ms, 50);
    HM_CHECK(c.config_path == NULL && c.config_dir == NULL);
    HM_CHECK(c.workers >= 1 && c.workers <= HM_MAX_WORKERS - 1);
    HM_CHECK_INT(c.nscripts, 0);
    HM_CHECK_INT(c.npaths, 0);
    HM_CHECK_INT(c.limits.max_connections, 16384);
    HM_CHECK_INT(c.limits.max_header_bytes, 16384);
    HM_CHECK_INT(c.limits.max_url_bytes, 8192);
    HM_CHECK_INT(c.limits.max_headers, 100);
    HM_CHECK_INT(c.limits.max_body_bytes, 1024 * 1024);
    HM_CHECK_INT(c.limits.header_timeout_ms, 10000);
    HM_CHECK_INT(c.limits.body_timeout_ms, 30000);
    HM_CHECK_INT(c.limits.keepalive_timeout_ms, 75000);
    HM_CHECK_INT(c.limits.drain_timeout_ms, 10000);
    hm_config_free(&c);   /* defaults own nothing */

    /* an empty table keeps every default and adds the config dir to lua_path */
    load_t *l = load_src("return {}");
    HM_CHECK_INT(l->rc, HM_OK);
    hm_config_t d;
    hm_config_defaults(&d);
    HM_CHECK_INT(l->cfg.listen_port, 8080);
    HM_CHECK(l->cfg.listen_host == NULL);
    HM_CHECK_INT(l->cfg.workers, d.workers);
    HM_CHECK(l->cfg.redis_host == NULL);
    HM_CHECK_INT(l->cfg.redis_timeout_ms, 50);
    HM_CHECK(memcmp(&l->cfg.limits, &d.limits, sizeof(d.limits)) == 0);
    HM_CHECK_INT(l->cfg.nscripts, 0);
    HM_CHECK_INT(l->cfg.npaths, 1);
    HM_CHECK_STR(l->cfg.lua_path[0], realdir);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s/config.lua", realdir);
    HM_CHECK_STR(l->cfg.config_path, want);
    HM_CHECK_STR(l->cfg.config_dir, realdir);
    HM_CHECK(l->cfg.config_path[0] == '/' && l->cfg.config_dir[0] == '/');
    HM_CHECK(l->cfg.config_dir[strlen(l->cfg.config_dir) - 1] != '/');
    hm_config_free(&l->cfg);

    /* a partial limits table changes only what it names */
    l = load_src("return { limits = { max_headers = 7 } }");
    HM_CHECK_INT(l->rc, HM_OK);
    HM_CHECK_INT(l->cfg.limits.max_headers, 7);
    HM_CHECK_INT(l->cfg.limits.max_header_bytes, 16384);
    HM_CHECK_INT(l->cfg.limits.drain_timeout_ms, 10000);
    hm_config_free(&l->cfg);
}

HM_TEST(good_config)
{
    load_t *l = load_src(
        "return {\n"
        "  listen = '127.0.0.1:9090',\n"
        "  workers = 3,\n"
        "  admin_token = 's3cret',\n"
        "  log_level = 'debug',\n"
        "  redis = 'cache.local:6380', redis_timeout_ms = 200,\n"
        "  limits = { max_connections = 100, max_header_bytes = 4096, max_url_bytes = 1024,\n"
        "             max_headers = 20, max_body_bytes = 0, header_timeout_ms = 1,\n"
        "             body_timeout_ms = 2000, keepalive_timeout_ms = 3000,\n"
        "             drain_timeout_ms = 3600000 },\n"
        "  scripts = { 'app.lua', 'sub/dir/b.lua', '/abs/c.lua' },\n"
        "  lua_path = { 'lib', '/opt/hm/lua' },\n"
        "  suppliers = { acme = { url = 'http://x' } },  -- other fields are the scripts'\n"
        "}\n");
    HM_CHECK_INT(l->rc, HM_OK);
    hm_config_t *c = &l->cfg;
    HM_CHECK_STR(c->listen_host, "127.0.0.1");
    HM_CHECK_INT(c->listen_port, 9090);
    HM_CHECK_INT(c->workers, 3);
    HM_CHECK_STR(c->admin_token, "s3cret");
    HM_CHECK_STR(c->log_level, "debug");
    HM_CHECK_STR(c->redis_host, "cache.local");
    HM_CHECK_INT(c->redis_port, 6380);
    HM_CHECK_INT(c->redis_timeout_ms, 200);
    HM_CHECK_INT(c->limits.max_connections, 100);
    HM_CHECK_INT(c->limits.max_header_bytes, 4096);
    HM_CHECK_INT(c->limits.max_url_bytes, 1024);
    HM_CHECK_INT(c->limits.max_headers, 20);
    HM_CHECK_INT(c->limits.max_body_bytes, 0);
    HM_CHECK_INT(c->limits.header_timeout_ms, 1);
    HM_CHECK_INT(c->limits.body_timeout_ms, 2000);
    HM_CHECK_INT(c->limits.keepalive_timeout_ms, 3000);
    HM_CHECK_INT(c->limits.drain_timeout_ms, 3600000);

    /* relative paths resolve against the config's directory; absolute stay */
    char want[PATH_MAX + 64];
    HM_CHECK_INT(c->nscripts, 3);
    snprintf(want, sizeof(want), "%s/app.lua", realdir);
    HM_CHECK_STR(c->scripts[0], want);
    snprintf(want, sizeof(want), "%s/sub/dir/b.lua", realdir);
    HM_CHECK_STR(c->scripts[1], want);
    HM_CHECK_STR(c->scripts[2], "/abs/c.lua");
    HM_CHECK_INT(c->npaths, 3);
    HM_CHECK_STR(c->lua_path[0], realdir);   /* always first */
    snprintf(want, sizeof(want), "%s/lib", realdir);
    HM_CHECK_STR(c->lua_path[1], want);
    HM_CHECK_STR(c->lua_path[2], "/opt/hm/lua");

    /* a deep copy owns its own strings */
    hm_config_t copy;
    HM_CHECK_INT(hm_config_copy(&copy, c), HM_OK);
    HM_CHECK(copy.listen_host != c->listen_host && copy.scripts[0] != c->scripts[0]);
    HM_CHECK_STR(copy.listen_host, "127.0.0.1");
    HM_CHECK_STR(copy.scripts[1], c->scripts[1]);
    HM_CHECK_STR(copy.lua_path[2], "/opt/hm/lua");
    HM_CHECK_STR(copy.admin_token, "s3cret");
    HM_CHECK(copy.redis_host != c->redis_host);
    HM_CHECK_STR(copy.redis_host, "cache.local");
    HM_CHECK_INT(copy.limits.max_headers, 20);
    hm_config_free(c);
    HM_CHECK(c->listen_host == NULL && c->nscripts == 0);   /* free clears */
    HM_CHECK_STR(copy.config_dir, realdir);   /* still valid after the original is gone */
    hm_config_free(&copy);
}

HM_TEST(single_string_paths_and_symlinked_config)
{
    setup_dir();
    /* the config read through a symlink in another directory resolves to its real home */
    char linkdir[PATH_MAX + 16], link[PATH_MAX + 48];
    snprintf(linkdir, sizeof(linkdir), "%s/links", tmpdir);
    mkdir(linkdir, 0700);
    snprintf(link, sizeof(link), "%s/cfg.lua", linkdir);
    write_config("return { scripts = 'one.lua', lua_path = 'vendor' }");
    unlink(link);
    HM_CHECK(symlink(cfgpath, link) == 0);

    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    HM_CHECK_INT(luaL_dofile(L, link), 0);
    hm_config_t c;
    hm_config_defaults(&c);
    char err[256] = "";
    HM_CHECK_INT(hm_config_from_lua(L, -1, link, &c, err, sizeof(err)), HM_OK);
    char want[PATH_MAX + 64];
    HM_CHECK_INT(c.nscripts, 1);
    snprintf(want, sizeof(want), "%s/one.lua", realdir);
    HM_CHECK_STR(c.scripts[0], want);
    HM_CHECK_INT(c.npaths, 2);
    snprintf(want, sizeof(want), "%s/vendor", realdir);
    HM_CHECK_STR(c.lua_path[1], want);
    HM_CHECK_STR(c.config_dir, realdir);
    hm_config_free(&c);
    lua_close(L);
    unlink(link);
    rmdir(linkdir);
}

/* src must fail with an error mentioning every one of the needles. */
static void expect_error(const char *src, const char *needle1, const char *needle2)
{
    load_t *l = load_src(src);
    HM_CHECK_INT(l->rc, HM_EINVAL);
    bool ok = strncmp(l->err, "config: ", 8) == 0 && contains(l->err, needle1) &&
              (needle2 == NULL || contains(l->err, needle2));
    if (!ok)
        fprintf(stderr, "for `%s`: error \"%s\" lacks \"%s\"%s%s\n", src, l->err, needle1,
                needle2 ? " / " : "", needle2 ? needle2 : "");
    HM_CHECK(ok);
    hm_config_free(&l->cfg);   /* whatever was read before the error is released */
}

HM_TEST(bad_values_name_the_field)
{
    expect_error("return { listen = 8080 }", "listen", "string");
    expect_error("return { listen = 'localhost' }", "listen", "HOST:PORT");
    expect_error("return { listen = 'h:99999' }", "listen", "h:99999");
    expect_error("return { listen = 'h:' }", "listen", NULL);
    expect_error("return { listen = 'h:-1' }", "listen", NULL);
    expect_error("return { listen = 'h:80x' }", "listen", NULL);
    expect_error("return { listen = '[::1]80' }", "listen", NULL);
    expect_error("return { listen = '[::1:80' }", "listen", NULL);
    expect_error("return { workers = 0 }", "workers", "integer");
    expect_error("return { workers = 64 }", "workers", "[1, 63]");
    expect_error("return { workers = 2.5 }", "workers", NULL);
    expect_error("return { workers = '4' }", "workers", NULL);
    expect_error("return { workers = -1 }", "workers", NULL);
    expect_error("return { workers = math.huge }", "workers", NULL);
    expect_error("return { workers = -math.huge }", "workers", NULL);
    expect_error("return { workers = 0/0 }", "workers", NULL);
    expect_error("return { workers = 2^63 }", "workers", NULL);
    expect_error("return { workers = true }", "workers", NULL);
    expect_error("return { admin_token = 42 }", "admin_token", "string");
    expect_error("return { admin_token = {} }", "admin_token", NULL);
    expect_error("return { log_level = false }", "log_level", "string");
    expect_error("return { redis = 6379 }", "redis", "string");
    expect_error("return { redis = 'localhost' }", "redis", "HOST:PORT");
    expect_error("return { redis = 'localhost:0' }", "redis", "localhost:0");
    expect_error("return { redis = 'localhost:65536' }", "redis", NULL);
    expect_error("return { redis_timeout_ms = 0 }", "redis_timeout_ms", "[1, 60000]");
    expect_error("return { redis_timeout_ms = 60001 }", "redis_timeout_ms", NULL);
    expect_error("return { redis_timeout_ms = 0/0 }", "redis_timeout_ms", NULL);
    expect_error("return { redis = '127.0.0.1:6379', redis_timeout_ms = 'fast' }",
                 "redis_timeout_ms", NULL);
    expect_error("return { limits = 5 }", "limits", "table");
    expect_error("return { limits = 'big' }", "limits", "table");
    expect_error("return { limits = { max_connections = 0 } }", "limits.max_connections", NULL);
    expect_error("return { limits = { max_connections = 1e8 } }", "limits.max_connections", NULL);
    expect_error("return { limits = { max_header_bytes = 255 } }", "limits.max_header_bytes",
                 "[256, ");
    expect_error("return { limits = { max_url_bytes = 63 } }", "limits.max_url_bytes", NULL);
    expect_error("return { limits = { max_headers = 10001 } }", "limits.max_headers", NULL);
    expect_error("return { limits = { max_body_bytes = -1 } }", "limits.max_body_bytes", NULL);
    expect_error("return { limits = { max_body_bytes = 2^32 + 1 } }", "limits.max_body_bytes",
                 NULL);
    expect_error("return { limits = { max_body_bytes = 1/0 } }", "limits.max_body_bytes", NULL);
    expect_error("return { limits = { header_timeout_ms = 0 } }", "limits.header_timeout_ms",
                 NULL);
    expect_error("return { limits = { body_timeout_ms = 3600001 } }", "limits.body_timeout_ms",
                 NULL);
    expect_error("return { limits = { keepalive_timeout_ms = 1.5 } }",
                 "limits.keepalive_timeout_ms", NULL);
    expect_error("return { limits = { drain_timeout_ms = '10' } }", "limits.drain_timeout_ms",
                 NULL);
    expect_error("return { limits = { drain_timeout_ms = 0/0 } }", "limits.drain_timeout_ms",
                 NULL);
    expect_error("return { scripts = 5 }", "scripts", "list");
    expect_error("return { scripts = { 'a.lua', 7 } }", "scripts[2]", "string");
    expect_error("return { scripts = { 'a.lua', {} } }", "scripts[2]", NULL);
    expect_error("return { lua_path = true }", "lua_path", NULL);
    expect_error("return { lua_path = { 'x', 'y', false } }", "lua_path[3]", NULL);
    /* too many entries */
    expect_error("local t = {} for i = 1, 129 do t[i] = 's' .. i .. '.lua' end "
                 "return { scripts = t }", "scripts", "more than 128");
    expect_error("local t = {} for i = 1, 16 do t[i] = 'd' .. i end return { lua_path = t }",
                 "lua_path", "more than 15");
    /* errors late in the table after earlier fields were read (leaks show under ASan) */
    expect_error("return { listen = ':1', admin_token = 't', log_level = 'info',"
                 " scripts = { 'a', 'b' }, lua_path = { 'l', 9 } }", "lua_path[2]", NULL);

    /* the limit counts hold exactly at their edges */
    load_t *l = load_src("local t = {} for i = 1, 128 do t[i] = 's' .. i end "
                         "local p = {} for i = 1, 15 do p[i] = 'd' .. i end "
                         "return { scripts = t, lua_path = p, workers = 63,"
                         " limits = { max_body_bytes = 2^32, max_header_bytes = 256 } }");
    HM_CHECK_INT(l->rc, HM_OK);
    HM_CHECK_INT(l->cfg.nscripts, 128);
    HM_CHECK_INT(l->cfg.npaths, 16);
    HM_CHECK_INT(l->cfg.workers, 63);
    HM_CHECK(l->cfg.limits.max_body_bytes == (size_t)1 << 32);
    HM_CHECK_INT(l->cfg.limits.max_header_bytes, 256);
    hm_config_free(&l->cfg);
}

HM_TEST(not_a_table)
{
    setup_dir();
    lua_State *L = luaL_newstate();
    lua_pushinteger(L, 5);
    hm_config_t c;
    hm_config_defaults(&c);
    char err[256] = "";
    HM_CHECK_INT(hm_config_from_lua(L, 1, cfgpath, &c, err, sizeof(err)), HM_EINVAL);
    HM_CHECK(contains(err, "must return a table"));
    HM_CHECK(contains(err, "config.lua"));
    HM_CHECK_INT(lua_gettop(L), 1);
    hm_config_free(&c);
    lua_close(L);
}

HM_TEST(parse_listen)
{
    char *host = NULL;
    int port = -1;
    HM_CHECK_INT(hm_config_parse_listen("127.0.0.1:80", &host, &port), HM_OK);
    HM_CHECK_STR(host, "127.0.0.1");
    HM_CHECK_INT(port, 80);
    HM_CHECK_INT(hm_config_parse_listen(":8081", &host, &port), HM_OK);   /* replaces host */
    HM_CHECK_STR(host, "0.0.0.0");
    HM_CHECK_INT(port, 8081);
    HM_CHECK_INT(hm_config_parse_listen("[::1]:443", &host, &port), HM_OK);
    HM_CHECK_STR(host, "::1");
    HM_CHECK_INT(port, 443);
    HM_CHECK_INT(hm_config_parse_listen("[::]:0", &host, &port), HM_OK);
    HM_CHECK_STR(host, "::");
    HM_CHECK_INT(port, 0);
    HM_CHECK_INT(hm_config_parse_listen("example.com:65535", &host, &port), HM_OK);
    HM_CHECK_STR(host, "example.com");
    HM_CHECK_INT(port, 65535);
    static const char *const bad[] = { "", "80", "host", "host:", "host:65536", "host:-1",
                                       "host:8o", "[::1]", "[::1]:", "[::1]x:80", "[::1:80",
                                       "host: 80", "host:+80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (hm_config_parse_listen(bad[i], &host, &port) != HM_EINVAL)
            fprintf(stderr, "accepted listen \"%s\"\n", bad[i]);
        HM_CHECK_STR(host, "example.com");   /* untouched on failure */
        HM_CHECK_INT(port, 65535);
    }
    free(host);
}

HM_TEST(resolve)
{
    char *p = hm_config_resolve("/etc/hm", "a.lua");
    HM_CHECK_STR(p, "/etc/hm/a.lua");
    free(p);
    p = hm_config_resolve("/etc/hm", "/abs/a.lua");
    HM_CHECK_STR(p, "/abs/a.lua");
    free(p);
    p = hm_config_resolve(NULL, "rel/a.lua");
    HM_CHECK_STR(p, "rel/a.lua");
    free(p);
    p = hm_config_resolve("/", "x");
    HM_CHECK(p && (strcmp(p, "//x") == 0 || strcmp(p, "/x") == 0));
    free(p);
}

HM_TEST(cleanup)
{
    if (!tmpdir[0])
        return;
    unlink(cfgpath);
    HM_CHECK(rmdir(tmpdir) == 0);
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(defaults),
    HM_TEST_ENTRY(good_config),
    HM_TEST_ENTRY(single_string_paths_and_symlinked_config),
    HM_TEST_ENTRY(bad_values_name_the_field),
    HM_TEST_ENTRY(not_a_table),
    HM_TEST_ENTRY(parse_listen),
    HM_TEST_ENTRY(resolve),
    HM_TEST_ENTRY(cleanup)
)
