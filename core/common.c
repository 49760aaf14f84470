/* common.c -- text for the HM_E* return codes, and small shared helpers. */
#include "hotelmux/common.h"

const char *hm_strerror(int code)
{
    switch (code) {
    case HM_OK: return "ok";
    case HM_ENOMEM: return "out of memory";
    case HM_EINVAL: return "invalid argument";
    case HM_ENOENT: return "not found";
    case HM_EIO: return "i/o error";
    case HM_ETIMEDOUT: return "timed out";
    case HM_ELIMIT: return "limit exceeded";
    case HM_ESTATE: return "not allowed in this state";
    default: return "unknown error";
    }
}

uint64_t hm_hash64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);   /* fold high bits down: callers take h % buckets */
}

int hm_hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}
