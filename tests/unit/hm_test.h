/* hm_test.h -- a minimal unit-test harness (one binary per core module).
 *
 * Each test file defines its cases with HM_TEST(name) and lists them in
 * HM_TEST_MAIN(...). A failed check prints file:line and the expression and
 * makes the binary exit 1; ctest reports it. */
#ifndef HM_TEST_H
#define HM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hm_test_failures;

#define HM_CHECK(expr) do { \
    if (!(expr)) { \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
        hm_test_failures++; \
    } \
} while (0)

#define HM_CHECK_INT(a, b) do { \
    long long hm__a = (long long)(a), hm__b = (long long)(b); \
    if (hm__a != hm__b) { \
        fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
                __FILE__, __LINE__, #a, #b, hm__a, hm__b); \
        hm_test_failures++; \
    } \
} while (0)

#define HM_CHECK_STR(a, b) do { \
    const char *hm__a = (a), *hm__b = (b); \
    if (hm__a == NULL || hm__b == NULL || strcmp(hm__a, hm__b) != 0) { \
        fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", \
                __FILE__, __LINE__, #a, #b, hm__a ? hm__a : "(null)", \
                hm__b ? hm__b : "(null)"); \
        hm_test_failures++; \
    } \
} while (0)

typedef struct { const char *name; void (*fn)(void); } hm_test_case_t;

#define HM_TEST(name) static void name(void)
#define HM_TEST_ENTRY(name) { #name, name }

#define HM_TEST_MAIN(...) \
int main(void) { \
    static const hm_test_case_t cases[] = { __VA_ARGS__ }; \
    size_t n = sizeof(cases) / sizeof(cases[0]), passed = 0; \
    for (size_t i = 0; i < n; i++) { \
        int before = hm_test_failures; \
        cases[i].fn(); \
        if (hm_test_failures == before) passed++; \
        fprintf(stderr, "%s %s\n", hm_test_failures == before ? "ok  " : "FAIL", cases[i].name); \
    } \
    fprintf(stderr, "%zu passed, %zu failed\n", passed, n - passed); \
    return hm_test_failures ? 1 : 0; \
}

#endif
