/* clock.c -- wall and monotonic time with a test offset. */
#include "hotelmux/clock.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* The offset is a double stored as bits so it can be atomic without locks. */
static _Atomic unsigned long long clock_offset_bits;

void hm_clock_set_offset(double seconds)
{
    unsigned long long bits;
    memcpy(&bits, &seconds, sizeof(bits));
    atomic_store_explicit(&clock_offset_bits, bits, memory_order_relaxed);
}

double hm_clock_offset(void)
{
    unsigned long long bits = atomic_load_explicit(&clock_offset_bits, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

double hm_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + hm_clock_offset();
}

double hm_clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
