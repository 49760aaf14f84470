/* common.c -- text for the HM_E* return codes, and small shared helpers. */
#include "hotelmux/common.h"

#include <string.h>

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

/* Eight bytes a step (xxHash64's round), then MurmurHash3's finaliser so
 * every input bit reaches the high bits (cache shards are picked by them).
 * Byte-at-a-time FNV-1a was 9 % of a cached search: the memo hashes the
 * request body and the Authorization header, the cache its key. */
static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t round64(uint64_t acc, uint64_t w)
{
    return rotl64(acc + w * 0xC2B2AE3D27D4EB4FULL, 31) * 0x9E3779B185EBCA87ULL;
}

uint64_t hm_hash64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0x27D4EB2F165667C5ULL ^ (uint64_t)n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = round64(h, w);
    }
    if (n) {
        w = 0;
        memcpy(&w, p, n);
        h = round64(h, w);
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
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
