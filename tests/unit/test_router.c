/* test_router.c -- route patterns, captures, specificity, 404 vs 405. */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/router.h"

static hm_router_t *make(void)
{
    hm_router_t *r = hm_router_new();
    HM_CHECK_INT(hm_router_add(r, "GET", "/hello", 1), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", "/api/content/hotel/{id}", 2), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", "/api/content/hotel/special", 3), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "POST", "/api/search/hotelList", 4), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "*", "/webhooks/{supplier}", 5), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", "/ui/*", 6), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", "/a/{x}/b/{y}", 7), HM_OK);
    return r;
}

static int match(hm_router_t *r, const char *method, const char *path, hm_route_match_t *m)
{
    return hm_router_match(r, method, strlen(method), path, strlen(path), m, NULL, 0);
}

HM_TEST(literal_and_capture)
{
    hm_router_t *r = make();
    hm_route_match_t m;
    HM_CHECK_INT(match(r, "GET", "/hello", &m), HM_OK);
    HM_CHECK_INT(m.handler, 1);
    HM_CHECK_STR(m.pattern, "/hello");
    HM_CHECK_INT(match(r, "GET", "/api/content/hotel/42", &m), HM_OK);
    HM_CHECK_INT(m.handler, 2);
    HM_CHECK_INT(m.nparams, 1);
    HM_CHECK_STR(m.params[0].name, "id");
    HM_CHECK(m.params[0].len == 2 && memcmp(m.params[0].value, "42", 2) == 0);
    /* literal beats capture */
    HM_CHECK_INT(match(r, "GET", "/api/content/hotel/special", &m), HM_OK);
    HM_CHECK_INT(m.handler, 3);
    HM_CHECK_INT(match(r, "GET", "/a/1/b/2", &m), HM_OK);
    HM_CHECK_INT(m.handler, 7);
    HM_CHECK_INT(m.nparams, 2);
    HM_CHECK(m.params[1].len == 1 && m.params[1].value[0] == '2');
    hm_router_free(r);
}

HM_TEST(not_found_and_wrong_method)
{
    hm_router_t *r = make();
    hm_route_match_t m;
    char allow[64];
    HM_CHECK_INT(match(r, "GET", "/nope", &m), HM_ENOENT);
    HM_CHECK_INT(match(r, "GET", "/hello/extra", &m), HM_ENOENT);
    HM_CHECK_INT(match(r, "GET", "/hell", &m), HM_ENOENT);
    HM_CHECK_INT(match(r, "GET", "/api/content/hotel/", &m), HM_ENOENT); /* empty capture */
    HM_CHECK_INT(hm_router_match(r, "GET", 3, "/api/search/hotelList", 21, &m, allow, sizeof(allow)),
                 HM_ESTATE);
    HM_CHECK_STR(allow, "POST");
    HM_CHECK_INT(match(r, "DELETE", "/hello", &m), HM_ESTATE);
    hm_router_free(r);
}

HM_TEST(head_uses_get_and_any_method)
{
    hm_router_t *r = make();
    hm_route_match_t m;
    HM_CHECK_INT(match(r, "HEAD", "/hello", &m), HM_OK);
    HM_CHECK_INT(m.handler, 1);
    HM_CHECK_INT(match(r, "PUT", "/webhooks/hotelbeds", &m), HM_OK);
    HM_CHECK_INT(m.handler, 5);
    hm_router_free(r);
}

HM_TEST(wildcard)
{
    hm_router_t *r = make();
    hm_route_match_t m;
    HM_CHECK_INT(match(r, "GET", "/ui/app.js", &m), HM_OK);
    HM_CHECK_INT(m.handler, 6);
    HM_CHECK_INT(match(r, "GET", "/ui/a/b/c.css", &m), HM_OK);
    HM_CHECK_INT(m.handler, 6);
    HM_CHECK_INT(match(r, "GET", "/ui/", &m), HM_OK);
    HM_CHECK_INT(match(r, "GET", "/uix", &m), HM_ENOENT);
    hm_router_free(r);
}

HM_TEST(bad_patterns)
{
    hm_router_t *r = hm_router_new();
    HM_CHECK_INT(hm_router_add(r, "GET", "nope", 1), HM_EINVAL);
    HM_CHECK_INT(hm_router_add(r, "GET", "/a/*/b", 1), HM_EINVAL);
    HM_CHECK_INT(hm_router_add(r, "GET", "/a/{}", 1), HM_EINVAL);
    HM_CHECK_INT(hm_router_add(r, "GET", "/a/x{y}", 1), HM_EINVAL);
    HM_CHECK_INT(hm_router_add(r, "GET", "/dup", 1), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", "/dup", 2), HM_ELIMIT);
    HM_CHECK_INT(hm_router_add(r, "POST", "/dup", 2), HM_OK);
    HM_CHECK_INT((long long)hm_router_count(r), 2);
    hm_router_free(r);
}

HM_TEST(root_and_deep_routes)
{
    hm_router_t *r = hm_router_new();
    hm_route_match_t m;
    HM_CHECK_INT(hm_router_add(r, "GET", "/", 1), HM_OK);
    /* 24 segments: the specificity score needs more than 32 bits */
    const char *lit = "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x";
    const char *cap = "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/{last}";
    HM_CHECK_INT(hm_router_add(r, "GET", cap, 2), HM_OK);
    HM_CHECK_INT(hm_router_add(r, "GET", lit, 3), HM_OK);
    HM_CHECK_INT(match(r, "GET", "/", &m), HM_OK);
    HM_CHECK_INT(m.handler, 1);
    HM_CHECK_INT(match(r, "GET", lit, &m), HM_OK);
    HM_CHECK_INT(m.handler, 3);   /* the literal route wins over the capture */
    HM_CHECK_INT(match(r, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/y", &m), HM_OK);
    HM_CHECK_INT(m.handler, 2);
    hm_router_free(r);
}

HM_TEST_MAIN(HM_TEST_ENTRY(root_and_deep_routes), HM_TEST_ENTRY(literal_and_capture), HM_TEST_ENTRY(not_found_and_wrong_method),
             HM_TEST_ENTRY(head_uses_get_and_any_method), HM_TEST_ENTRY(wildcard),
             HM_TEST_ENTRY(bad_patterns))
