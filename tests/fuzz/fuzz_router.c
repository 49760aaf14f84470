/* fuzz_router.c -- hm_router_add / hm_router_match on random patterns and paths.
 *
 * Input: lines. "+<m><pattern>" adds a route ("<m>" picks the method),
 * "?<m><path>" matches a path; anything else is ignored. Besides crashing,
 * the driver checks invariants after every call:
 *   - add returns OK, EINVAL or ELIMIT (duplicate (method, pattern));
 *   - a match names a handler that was added, its pattern is a route's, its
 *     params lie inside the looked-up path, are non-empty, at most 8;
 *   - a 405 fills `allow` with a NUL-terminated list that fits;
 *   - every route that was added matches a path built from its own pattern
 *     (captures -> "x", "*" -> "w/z") with its own method. */
#include "fuzz_main.h"

#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/router.h"

#define MAX_ROUTES 64

static const char *const methods[] = { "GET", "POST", "*", "PUT", "HEAD", "DELETE", "PATCH",
                                       "OPTIONS" };

typedef struct {
    char method[16];
    char pattern[256];
    int handler;
} added_t;

static void check_match(const hm_router_t *r, const added_t *added, size_t nadded,
                        const char *method, const char *path, size_t path_len)
{
    hm_route_match_t m;
    memset(&m, 0xa5, sizeof(m));
    char allow[32];
    memset(allow, 'X', sizeof(allow));
    int rc = hm_router_match(r, method, strlen(method), path, path_len, &m, allow, sizeof(allow));
    FUZZ_ASSERT(rc == HM_OK || rc == HM_ENOENT || rc == HM_ESTATE);
    if (rc == HM_OK) {
        FUZZ_ASSERT(m.handler >= 0 && (size_t)m.handler < nadded);
        FUZZ_ASSERT(strcmp(m.pattern, added[m.handler].pattern) == 0);
        FUZZ_ASSERT(m.nparams <= HM_ROUTER_MAX_PARAMS);
        for (size_t i = 0; i < m.nparams; i++) {
            FUZZ_ASSERT(m.params[i].name != NULL && m.params[i].name[0] != '\0');
            FUZZ_ASSERT(m.params[i].len > 0);
            FUZZ_ASSERT(m.params[i].value >= path &&
                        m.params[i].value + m.params[i].len <= path + path_len);
            FUZZ_ASSERT(memchr(m.params[i].value, '/', m.params[i].len) == NULL);
        }
    } else if (rc == HM_ESTATE) {
        FUZZ_ASSERT(memchr(allow, '\0', sizeof(allow)) != NULL);
    }
}

/* A path the pattern matches: captures become "x", a final "*" becomes "w/z". */
static size_t concrete_path(const char *pattern, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 4 < cap;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL)
                return 0;
            out[n++] = 'x';
            p = close + 1;
        } else if (*p == '*' && p[-1] == '/' && p[1] == '\0') {
            memcpy(out + n, "w/z", 3);
            n += 3;
            p++;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_router_t *r = hm_router_new();
    FUZZ_ASSERT(r != NULL);
    added_t added[MAX_ROUTES];
    size_t nadded = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len >= 2 && (p[0] == '+' || p[0] == '?')) {
            const char *method = methods[(unsigned char)p[1] % HM_ARRAY_SIZE(methods)];
            const char *text = p + 2;
            size_t tlen = len - 2;
            if (p[0] == '+' && nadded < MAX_ROUTES && tlen < sizeof(added[0].pattern) &&
                memchr(text, '\0', tlen) == NULL) {
                added_t *a = &added[nadded];
                memcpy(a->pattern, text, tlen);
                a->pattern[tlen] = '\0';
                snprintf(a->method, sizeof(a->method), "%s", method);
                a->handler = (int)nadded;
                size_t before = hm_router_count(r);
                int rc = hm_router_add(r, method, a->pattern, a->handler);
                FUZZ_ASSERT(rc == HM_OK || rc == HM_EINVAL || rc == HM_ELIMIT);
                FUZZ_ASSERT(hm_router_count(r) == before + (rc == HM_OK));
                if (rc == HM_ELIMIT) {
                    int dup = 0;
                    for (size_t i = 0; i < nadded; i++)
                        dup |= strcmp(added[i].method, method) == 0 &&
                               strcmp(added[i].pattern, a->pattern) == 0;
                    FUZZ_ASSERT(dup);
                }
                if (rc == HM_OK)
                    nadded++;
            } else if (p[0] == '?') {
                /* the path is matched in place, not NUL-terminated */
                check_match(r, added, nadded, method, text, tlen);
            }
        }
        p += len + 1;
    }
    for (size_t i = 0; i < nadded; i++) {
        char path[600];
        size_t n = concrete_path(added[i].pattern, path, sizeof(path));
        if (n == 0)
            continue;
        const char *method = strcmp(added[i].method, "*") == 0 ? "GET" : added[i].method;
        hm_route_match_t m;
        int rc = hm_router_match(r, method, strlen(method), path, n, &m, NULL, 0);
        if (rc != HM_OK)
            fprintf(stderr, "route %s %s does not match its own path \"%s\"\n", added[i].method,
                    added[i].pattern, path);
        FUZZ_ASSERT(rc == HM_OK);
        check_match(r, added, nadded, method, path, n);
    }
    hm_router_free(r);
    return 0;
}
