/* config.h -- the engine's settings, read from the Lua table a config file returns.
 *
 * A config file is Lua: it returns a table (listen, workers, admin_token,
 * limits, scripts, lua_path, routes, suppliers, ...). The C core reads the
 * fields below from it; the whole table stays available to scripts as
 * hm.config. Relative paths resolve against the config file's directory. */
#ifndef HM_CONFIG_H
#define HM_CONFIG_H

#include <stddef.h>

struct lua_State;

#define HM_CONFIG_MAX_SCRIPTS 128
#define HM_CONFIG_MAX_PATHS 16

/* ---- static files (core/static.c) ---------------------------------------- */
#define HM_CONFIG_MAX_STATIC 8
typedef struct {
    char *prefix;        /* URL path prefix, starts and ends with '/' ("/ui/") */
    char *dir;           /* absolute directory (resolved against config_dir) */
} hm_static_mount_t;
/* ---- end static files ---------------------------------------------------- */

typedef struct {
    size_t max_connections;
    size_t max_header_bytes;
    size_t max_url_bytes;
    size_t max_headers;
    size_t max_body_bytes;
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned keepalive_timeout_ms;
    unsigned drain_timeout_ms;
} hm_limits_t;

typedef struct {
    char *config_path;   /* absolute */
    char *config_dir;    /* absolute, no trailing slash */
    char *listen_host;
    int listen_port;
    int workers;
    char *admin_token;   /* NULL: admin endpoints disabled (403) */
    char *log_level;
    char *redis_host;    /* NULL: no Redis (L1 cache only, single node) */
    int redis_port;
    unsigned redis_timeout_ms;  /* a Redis call slower than this counts as a miss */
    int access_log;      /* access_log = true: one JSON line per response on stderr */
    size_t gzip_level;   /* answers to clients that accept gzip: zlib level, 0 = never (the default) */
    size_t gzip_min_bytes; /* ... when at least this long (default 1024) */
    hm_limits_t limits;
    size_t nscripts;
    char *scripts[HM_CONFIG_MAX_SCRIPTS];     /* absolute paths */
    size_t npaths;
    char *lua_path[HM_CONFIG_MAX_PATHS];      /* absolute dirs scripts may require from */
    /* static = { ["/ui/"] = "web" }: longest prefix first (core/static.c) */
    size_t nstatic;
    hm_static_mount_t statics[HM_CONFIG_MAX_STATIC];
} hm_config_t;

void hm_config_defaults(hm_config_t *c);
/* Read the table at stack index idx. On error returns HM_EINVAL and writes a
 * message naming the field into err. */
int hm_config_from_lua(struct lua_State *L, int idx, const char *config_path, hm_config_t *c,
                       char *err, size_t errlen);
/* "host:port", "[v6]:port" or ":port". */
int hm_config_parse_listen(const char *s, char **host, int *port);
/* Deep copy (for handing a config to another owner). */
int hm_config_copy(hm_config_t *dst, const hm_config_t *src);
void hm_config_free(hm_config_t *c);
/* Resolve path against dir unless absolute; malloc'd result. */
char *hm_config_resolve(const char *dir, const char *path);

#endif
