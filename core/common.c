/* common.c -- text for the HM_E* return codes. */
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
