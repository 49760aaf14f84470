/* fuzz_agedoc.c -- stored answers rendered with their ages (core/agedoc.c),
 * on arbitrary bytes.
 *
 * Input: byte 0 picks the elapsed seconds (0..255 scaled, or NaN / a huge
 * value for two of its values), the rest is the document, head included.
 * The text comes from our own encoder, but the strings in it are the
 * suppliers': anything may look like a placeholder. Checked:
 *   - render never writes past HM_AGEDOC_RENDER_MAX (the bound callers
 *     allocate: here exactly that, in its own allocation for ASan);
 *   - it is deterministic, starts with the prefix, and text without any
 *     placeholder mark comes out unchanged;
 *   - a malformed head is HM_EINVAL for render and expiring alike;
 *   - the summary is consistent: min_left >= 0, and max_age is a number
 *     written for some part when any part has data. */
#include "fuzz_main.h"

#include <math.h>
#include <string.h>

#include "hotelmux/agedoc.h"
#include "hotelmux/common.h"

static void ignore(void *ud, const char *label, size_t len)
{
    (void)ud;
    FUZZ_ASSERT(label != NULL || len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    double elapsed = data[0] == 255 ? NAN : data[0] == 254 ? 1e15 : data[0] * 1.7;
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;
    static const char prefix[] = "{\"code\":0,\"data\":{\"basic\":{},";
    size_t plen = sizeof(prefix) - 1, cap = HM_AGEDOC_RENDER_MAX(plen, len);
    char *a = malloc(cap ? cap : 1), *b = malloc(cap ? cap : 1);
    FUZZ_ASSERT(a && b);
    hm_agedoc_info_t ia, ib;
    ssize_t na = hm_agedoc_render(doc, len, elapsed, prefix, plen, a, cap, &ia);
    ssize_t nb = hm_agedoc_render(doc, len, elapsed, prefix, plen, b, cap, &ib);
    FUZZ_ASSERT(na == nb);
    int ne = hm_agedoc_expiring(doc, len, elapsed, 0.2, ignore, NULL);
    if (na < 0) {
        FUZZ_ASSERT(na == HM_EINVAL || na == HM_ENOMEM);
        if (na == HM_EINVAL)
            FUZZ_ASSERT(ne == HM_EINVAL);
    } else {
        FUZZ_ASSERT((size_t)na <= cap);
        FUZZ_ASSERT(memcmp(a, b, (size_t)na) == 0);
        FUZZ_ASSERT(memcmp(a, prefix, plen) == 0);
        FUZZ_ASSERT(ne >= 0 && (size_t)ne <= ia.parts);
        FUZZ_ASSERT(ia.min_left >= 0);
        const char *body = doc + ia.head_len;
        size_t blen = len - ia.head_len;
        if (memmem(body, blen, "\"\\u0001hm-", 10) == NULL) {
            FUZZ_ASSERT((size_t)na == plen + blen);
            FUZZ_ASSERT(memcmp(a + plen, body, blen) == 0);
        }
    }
    free(a);
    free(b);
    return 0;
}
