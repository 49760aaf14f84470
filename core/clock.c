/* clock.c -- wall and monotonic time with a test offset. */
#include "hotelmux/clock.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* The offset is a double stored as bits so it can be atomic without locks. */
static _Atomic unsigned long long clock_offset_bits;
/* Test time travel (hm_clock_advance): moves both clocks forward. */
static _Atomic unsigned long long clock_advance_bits;

static double load_bits(_Atomic unsigned long long *p)
{
    unsigned long long bits = atomic_load_explicit(p, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static void store_bits(_Atomic unsigned long long *p, double d)
{
    unsigned long long bits;
    memcpy(&bits, &d, sizeof(bits));
    atomic_store_explicit(p, bits, memory_order_relaxed);
}

void hm_clock_set_offset(double seconds) { store_bits(&clock_offset_bits, seconds); }

double hm_clock_offset(void) { return load_bits(&clock_offset_bits); }

double hm_clock_advance(double seconds)
{
    unsigned long long old = atomic_load(&clock_advance_bits), next;
    double d;
    do {
        memcpy(&d, &old, sizeof(d));
        d += seconds;
        memcpy(&next, &d, sizeof(next));
    } while (!atomic_compare_exchange_weak(&clock_advance_bits, &old, next));
    return d;
}

double hm_clock_advanced(void) { return load_bits(&clock_advance_bits); }

double hm_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + hm_clock_offset() +
           load_bits(&clock_advance_bits);
}

double hm_clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + load_bits(&clock_advance_bits);
}
