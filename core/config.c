/* config.c -- read the engine's settings out of the config file's table. */
#include "hotelmux/config.h"
#include "hotelmux/common.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hm_config_defaults(hm_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_port = 8080;
    c->redis_timeout_ms = 50;
    c->gzip_level = 0;   /* off, as in nginx: it costs CPU on every answer (see README) */
    c->gzip_min_bytes = 1024;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n > 0 ? (int)n : 1;
    if (c->workers > HM_MAX_WORKERS - 1)
        c->workers = HM_MAX_WORKERS - 1;
    c->limits.max_connections = 16384;
    c->limits.max_header_bytes = 16384;
    c->limits.max_url_bytes = 8192;
    c->limits.max_headers = 100;
    c->limits.max_body_bytes = 1024 * 1024;
    c->limits.header_timeout_ms = 10000;
    c->limits.body_timeout_ms = 30000;
    c->limits.keepalive_timeout_ms = 75000;
    c->limits.drain_timeout_ms = 10000;
}

char *hm_config_resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || dir == NULL)
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

int hm_config_parse_listen(const char *s, char **host, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return HM_EINVAL;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return HM_EINVAL;
        hlen = (size_t)(colon - s);
    }
    char *end;
    /* digits only: strtol alone would take " 80" and "+80" */
    if (colon[1] < '0' || colon[1] > '9')
        return HM_EINVAL;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
        return HM_EINVAL;
    char *hs = hlen ? strndup(h, hlen) : strdup("0.0.0.0");
    if (hs == NULL)
        return HM_ENOMEM;
    free(*host);
    *host = hs;
    *port = (int)p;
    return HM_OK;
}

/* Read an optional non-negative integer field of the table at the top. */
static int opt_size(lua_State *L, const char *where, const char *key, size_t min, size_t max,
                    size_t *out, char *err, size_t errlen)
{
    lua_getfield(L, -1, key);
    int rc = HM_OK;
    if (!lua_isnil(L, -1)) {
        lua_Number v = lua_tonumber(L, -1);
        /* Range first (NaN fails it): the cast is undefined for NaN, inf and
         * values beyond long long. */
        if (lua_type(L, -1) != LUA_TNUMBER || !(v >= (lua_Number)min && v <= (lua_Number)max) ||
            v != (lua_Number)(long long)v) {
            snprintf(err, errlen, "config: %s%s must be an integer in [%zu, %zu]", where, key, min,
                     max);
            rc = HM_EINVAL;
        } else {
            *out = (size_t)v;
        }
    }
    lua_pop(L, 1);
    return rc;
}

static int opt_ms(lua_State *L, const char *key, unsigned *out, char *err, size_t errlen)
{
    size_t v = *out;
    int rc = opt_size(L, "limits.", key, 1, 3600 * 1000, &v, err, errlen);
    *out = (unsigned)v;
    return rc;
}

static int opt_string(lua_State *L, const char *key, char **out, char *err, size_t errlen)
{
    lua_getfield(L, -1, key);
    int rc = HM_OK;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, errlen, "config: %s must be a string", key);
            rc = HM_EINVAL;
        } else {
            free(*out);
            *out = strdup(lua_tostring(L, -1));
            if (*out == NULL)
                rc = HM_ENOMEM;
        }
    }
    lua_pop(L, 1);
    return rc;
}

/* A list of strings (or one string) resolved against the config dir. */
static int opt_paths(lua_State *L, const char *key, const char *dir, char **out, size_t *n,
                     size_t max, char *err, size_t errlen)
{
    lua_getfield(L, -1, key);
    int rc = HM_OK;
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_newtable(L);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, 1);
        lua_remove(L, -2);
    }
    if (lua_istable(L, -1)) {
        size_t len = lua_objlen(L, -1);
        if (len > max) {
            snprintf(err, errlen, "config: %s has more than %zu entries", key, max);
            rc = HM_EINVAL;
        }
        for (size_t i = 1; rc == HM_OK && i <= len; i++) {
            lua_rawgeti(L, -1, (int)i);
            if (lua_type(L, -1) != LUA_TSTRING) {
                snprintf(err, errlen, "config: %s[%zu] must be a string", key, i);
                rc = HM_EINVAL;
            } else if ((out[*n] = hm_config_resolve(dir, lua_tostring(L, -1))) == NULL) {
                rc = HM_ENOMEM;
            } else {
                (*n)++;
            }
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        snprintf(err, errlen, "config: %s must be a list of paths", key);
        rc = HM_EINVAL;
    }
    lua_pop(L, 1);
    return rc;
}

/* ---- static files: static = { ["/ui/"] = "web" } (core/static.c) ----------
 * Prefix -> directory relative to the config's directory. The prefix must
 * start with '/', gets a trailing '/' added, and may not contain "..", "//",
 * '%', '\\' or control characters. Longest prefix first. */
static int opt_static(lua_State *L, hm_config_t *c, char *err, size_t errlen)
{
    lua_getfield(L, -1, "static");
    int rc = HM_OK;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return HM_OK;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "config: static must be a table of { [\"/prefix/\"] = \"dir\" }");
        lua_pop(L, 1);
        return HM_EINVAL;
    }
    lua_pushnil(L);
    while (rc == HM_OK && lua_next(L, -2) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, errlen, "config: static entries must be [\"/prefix/\"] = \"dir\" strings");
            rc = HM_EINVAL;
        } else if (c->nstatic >= HM_CONFIG_MAX_STATIC) {
            snprintf(err, errlen, "config: static has more than %d entries", HM_CONFIG_MAX_STATIC);
            rc = HM_EINVAL;
        } else {
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            const char *v = lua_tostring(L, -1);
            int bad = n == 0 || k[0] != '/' || n > 200 || strlen(k) != n || strstr(k, "..") ||
                      strstr(k, "//") || strpbrk(k, "%\\?#") || v[0] == '\0';
            for (size_t i = 0; !bad && i < n; i++)
                bad = (unsigned char)k[i] < 0x21 || (unsigned char)k[i] == 0x7f;
            if (bad) {
                snprintf(err, errlen, "config: static[\"%.*s\"]: the prefix must be a plain path "
                         "starting with '/' and the directory a non-empty string", (int)(n > 200 ? 200 : n), k);
                rc = HM_EINVAL;
            } else {
                hm_static_mount_t *m = &c->statics[c->nstatic];
                int slash = k[n - 1] == '/';
                m->prefix = malloc(n + 2);
                m->dir = hm_config_resolve(c->config_dir, v);
                if (m->prefix)
                    snprintf(m->prefix, n + 2, "%s%s", k, slash ? "" : "/");
                c->nstatic++;
                if (m->prefix == NULL || m->dir == NULL)
                    rc = HM_ENOMEM;
                for (size_t i = 0; rc == HM_OK && i + 1 < c->nstatic; i++)
                    if (strcmp(c->statics[i].prefix, m->prefix) == 0) {
                        snprintf(err, errlen, "config: static prefix %s given twice", m->prefix);
                        rc = HM_EINVAL;
                    }
            }
        }
        lua_pop(L, 1);
    }
    if (rc != HM_OK)
        lua_pop(L, 1); /* the key lua_next left */
    lua_pop(L, 1);
    /* longest prefix first, so "/ui/admin/" wins over "/ui/" */
    for (size_t i = 1; i < c->nstatic; i++)
        for (size_t j = i; j > 0 && strlen(c->statics[j].prefix) > strlen(c->statics[j - 1].prefix); j--) {
            hm_static_mount_t t = c->statics[j];
            c->statics[j] = c->statics[j - 1];
            c->statics[j - 1] = t;
        }
    return rc;
}
/* ---- end static files ---------------------------------------------------- */

int hm_config_from_lua(lua_State *L, int idx, const char *config_path, hm_config_t *c, char *err,
                       size_t errlen)
{
    int rc;
    if (!lua_istable(L, idx)) {
        snprintf(err, errlen, "config: %s must return a table", config_path);
        return HM_EINVAL;
    }
    lua_pushvalue(L, idx);
    c->config_path = realpath(config_path, NULL);
    if (c->config_path == NULL)
        c->config_path = strdup(config_path);
    if (c->config_path == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    char *slash = strrchr(c->config_path, '/');
    c->config_dir = slash ? strndup(c->config_path, (size_t)(slash - c->config_path)) : strdup(".");
    if (c->config_dir == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }

    char *listen = NULL;
    if ((rc = opt_string(L, "listen", &listen, err, errlen)) != HM_OK)
        goto out;
    if (listen) {
        rc = hm_config_parse_listen(listen, &c->listen_host, &c->listen_port);
        if (rc != HM_OK)
            snprintf(err, errlen, "config: listen \"%s\" is not HOST:PORT", listen);
        free(listen);
        if (rc != HM_OK)
            goto out;
    }
    size_t workers = (size_t)c->workers;
    if ((rc = opt_size(L, "", "workers", 1, HM_MAX_WORKERS - 1, &workers, err, errlen)) != HM_OK)
        goto out;
    c->workers = (int)workers;
    if ((rc = opt_string(L, "admin_token", &c->admin_token, err, errlen)) != HM_OK)
        goto out;
    if ((rc = opt_string(L, "log_level", &c->log_level, err, errlen)) != HM_OK)
        goto out;
    char *redis = NULL;
    if ((rc = opt_string(L, "redis", &redis, err, errlen)) != HM_OK)
        goto out;
    if (redis) {
        rc = hm_config_parse_listen(redis, &c->redis_host, &c->redis_port);
        if (rc != HM_OK || c->redis_port == 0) {
            snprintf(err, errlen, "config: redis \"%s\" is not HOST:PORT", redis);
            rc = HM_EINVAL;
        }
        free(redis);
        if (rc != HM_OK)
            goto out;
    }
    lua_getfield(L, -1, "access_log");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) {
        lua_pop(L, 1);
        snprintf(err, errlen, "config: access_log must be true or false");
        rc = HM_EINVAL;
        goto out;
    }
    c->access_log = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if ((rc = opt_size(L, "", "gzip_level", 0, 9, &c->gzip_level, err, errlen)) != HM_OK ||
        (rc = opt_size(L, "", "gzip_min_bytes", 0, (size_t)1 << 30, &c->gzip_min_bytes, err, errlen)) != HM_OK)
        goto out;
    size_t rto = c->redis_timeout_ms;
    if ((rc = opt_size(L, "", "redis_timeout_ms", 1, 60000, &rto, err, errlen)) != HM_OK)
        goto out;
    c->redis_timeout_ms = (unsigned)rto;

    lua_getfield(L, -1, "limits");
    if (lua_istable(L, -1)) {
        hm_limits_t *l = &c->limits;
        if ((rc = opt_size(L, "limits.", "max_connections", 1, 10000000, &l->max_connections, err, errlen)) ||
            (rc = opt_size(L, "limits.", "max_header_bytes", 256, 1 << 24, &l->max_header_bytes, err, errlen)) ||
            (rc = opt_size(L, "limits.", "max_url_bytes", 64, 1 << 24, &l->max_url_bytes, err, errlen)) ||
            (rc = opt_size(L, "limits.", "max_headers", 1, 10000, &l->max_headers, err, errlen)) ||
            (rc = opt_size(L, "limits.", "max_body_bytes", 0, (size_t)1 << 32, &l->max_body_bytes, err, errlen)) ||
            (rc = opt_ms(L, "header_timeout_ms", &l->header_timeout_ms, err, errlen)) ||
            (rc = opt_ms(L, "body_timeout_ms", &l->body_timeout_ms, err, errlen)) ||
            (rc = opt_ms(L, "keepalive_timeout_ms", &l->keepalive_timeout_ms, err, errlen)) ||
            (rc = opt_ms(L, "drain_timeout_ms", &l->drain_timeout_ms, err, errlen))) {
            lua_pop(L, 1);
            goto out;
        }
    } else if (!lua_isnil(L, -1)) {
        snprintf(err, errlen, "config: limits must be a table");
        lua_pop(L, 1);
        rc = HM_EINVAL;
        goto out;
    }
    lua_pop(L, 1);

    if ((rc = opt_paths(L, "scripts", c->config_dir, c->scripts, &c->nscripts,
                        HM_CONFIG_MAX_SCRIPTS, err, errlen)) != HM_OK)
        goto out;
    /* The config's own directory is always on the script path. */
    if ((c->lua_path[c->npaths] = strdup(c->config_dir)) == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    c->npaths++;
    rc = opt_paths(L, "lua_path", c->config_dir, c->lua_path, &c->npaths, HM_CONFIG_MAX_PATHS - 1,
                   err, errlen);
    if (rc == HM_OK)
        rc = opt_static(L, c, err, errlen); /* static files (core/static.c) */
out:
    lua_pop(L, 1);
    if (rc == HM_ENOMEM)
        snprintf(err, errlen, "config: out of memory");
    return rc;
}

static char *dup_or_null(const char *s, int *rc)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *rc = HM_ENOMEM;
    return d;
}

int hm_config_copy(hm_config_t *dst, const hm_config_t *src)
{
    int rc = HM_OK;
    *dst = *src;
    dst->config_path = dup_or_null(src->config_path, &rc);
    dst->config_dir = dup_or_null(src->config_dir, &rc);
    dst->listen_host = dup_or_null(src->listen_host, &rc);
    dst->admin_token = dup_or_null(src->admin_token, &rc);
    dst->log_level = dup_or_null(src->log_level, &rc);
    dst->redis_host = dup_or_null(src->redis_host, &rc);
    for (size_t i = 0; i < src->nscripts; i++)
        dst->scripts[i] = dup_or_null(src->scripts[i], &rc);
    for (size_t i = 0; i < src->npaths; i++)
        dst->lua_path[i] = dup_or_null(src->lua_path[i], &rc);
    for (size_t i = 0; i < src->nstatic; i++) { /* static files */
        dst->statics[i].prefix = dup_or_null(src->statics[i].prefix, &rc);
        dst->statics[i].dir = dup_or_null(src->statics[i].dir, &rc);
    }
    if (rc != HM_OK)
        hm_config_free(dst);
    return rc;
}

void hm_config_free(hm_config_t *c)
{
    free(c->config_path);
    free(c->config_dir);
    free(c->listen_host);
    free(c->admin_token);
    free(c->log_level);
    free(c->redis_host);
    for (size_t i = 0; i < c->nscripts; i++)
        free(c->scripts[i]);
    for (size_t i = 0; i < c->npaths; i++)
        free(c->lua_path[i]);
    for (size_t i = 0; i < c->nstatic; i++) { /* static files */
        free(c->statics[i].prefix);
        free(c->statics[i].dir);
    }
    memset(c, 0, sizeof(*c));
}
