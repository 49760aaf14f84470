/* router.h -- maps (method, path) to a handler id.
 *
 * Patterns are paths whose segments are literal or `{name}` captures, with an
 * optional final `*` segment matching any rest ("/ui/ *" without the space). Literal segments win
 * over captures when both match (the most specific route is chosen). A router
 * belongs to one script generation and is immutable once that generation
 * takes traffic, so lookups need no lock. */
#ifndef HM_ROUTER_H
#define HM_ROUTER_H

#include <stddef.h>

#define HM_ROUTER_MAX_PARAMS 8

typedef struct hm_router_s hm_router_t;

typedef struct {
    const char *name;   /* capture name (owned by the router) */
    const char *value;  /* points into the looked-up path; not NUL-terminated */
    size_t len;
} hm_route_param_t;

typedef struct {
    int handler;                      /* the id given to hm_router_add */
    const char *pattern;              /* owned by the router: the metrics label */
    size_t nparams;
    hm_route_param_t params[HM_ROUTER_MAX_PARAMS];
} hm_route_match_t;

hm_router_t *hm_router_new(void);
void hm_router_free(hm_router_t *r);

/* method: "GET", "POST", ... or "*" for any. Returns HM_EINVAL for a bad
 * pattern and HM_ELIMIT for a duplicate (method, pattern). */
int hm_router_add(hm_router_t *r, const char *method, const char *pattern, int handler);

/* 0 on match; HM_ENOENT when no pattern matches the path; HM_ESTATE when a
 * pattern matches but not for this method (405: `allow` then lists the methods,
 * comma-separated, if non-NULL). */
int hm_router_match(const hm_router_t *r, const char *method, size_t method_len, const char *path,
                    size_t path_len, hm_route_match_t *m, char *allow, size_t allow_cap);

size_t hm_router_count(const hm_router_t *r);

#endif
