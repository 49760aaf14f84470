/* test_clock.c -- wall clock with a test offset, monotonic clock. */
#include "hm_test.h"
#include "hotelmux/clock.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

static double sys_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

HM_TEST(now_tracks_the_system_clock)
{
    hm_clock_set_offset(0);
    HM_CHECK(hm_clock_offset() == 0.0);
    double a = sys_now(), n = hm_clock_now(), b = sys_now();
    HM_CHECK(n >= a - 0.001 && n <= b + 0.001);
    HM_CHECK(n > 1.6e9);   /* sub-second precision, seconds since the epoch */
}

HM_TEST(offset_shifts_now)
{
    hm_clock_set_offset(86400.0 * 30);
    HM_CHECK(hm_clock_offset() == 86400.0 * 30);
    double d = hm_clock_now() - sys_now();
    HM_CHECK(fabs(d - 86400.0 * 30) < 0.5);
    hm_clock_set_offset(-3600.25);
    HM_CHECK(hm_clock_offset() == -3600.25);   /* the exact double round-trips */
    d = hm_clock_now() - sys_now();
    HM_CHECK(fabs(d + 3600.25) < 0.5);
    hm_clock_set_offset(1e-9);
    HM_CHECK(hm_clock_offset() == 1e-9);
    hm_clock_set_offset(0);
    HM_CHECK(fabs(hm_clock_now() - sys_now()) < 0.5);
}

HM_TEST(monotonic_ignores_offset_and_never_goes_back)
{
    hm_clock_set_offset(0);
    double m0 = hm_clock_monotonic();
    hm_clock_set_offset(-1e6);
    double m1 = hm_clock_monotonic();
    hm_clock_set_offset(0);
    HM_CHECK(m1 >= m0 && m1 - m0 < 0.5);
    double prev = hm_clock_monotonic();
    int backwards = 0;
    for (int i = 0; i < 100000; i++) {
        double t = hm_clock_monotonic();
        if (t < prev)
            backwards++;
        prev = t;
    }
    HM_CHECK_INT(backwards, 0);
    /* it advances with real time */
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    double s0 = hm_clock_monotonic();
    nanosleep(&ts, NULL);
    double s1 = hm_clock_monotonic();
    HM_CHECK(s1 - s0 >= 0.019 && s1 - s0 < 1.0);
}

/* The offset is shared by all threads: a value set on one is seen whole on another. */
static void *reader(void *arg)
{
    int *torn = arg;
    for (int i = 0; i < 200000; i++) {
        double o = hm_clock_offset();
        if (o != 0.0 && o != 12345.678 && o != -98765.4321)
            (*torn)++;
    }
    return NULL;
}

HM_TEST(offset_is_atomic_across_threads)
{
    hm_clock_set_offset(0);
    int torn = 0;
    pthread_t t;
    HM_CHECK(pthread_create(&t, NULL, reader, &torn) == 0);
    for (int i = 0; i < 200000; i++)
        hm_clock_set_offset(i % 2 ? 12345.678 : -98765.4321);
    pthread_join(t, NULL);
    HM_CHECK_INT(torn, 0);
    hm_clock_set_offset(0);
}

/* Test time travel moves both clocks, by exactly what was asked, and adds up. */
HM_TEST(advance_moves_both_clocks)
{
    hm_clock_set_offset(0);
    double n0 = hm_clock_now(), m0 = hm_clock_monotonic(), a0 = hm_clock_advanced();
    HM_CHECK(hm_clock_advance(61.0) == a0 + 61.0);
    HM_CHECK(hm_clock_advance(0.5) == a0 + 61.5);
    double n1 = hm_clock_now(), m1 = hm_clock_monotonic();
    HM_CHECK(n1 - n0 >= 61.5 && n1 - n0 < 62.0);
    HM_CHECK(m1 - m0 >= 61.5 && m1 - m0 < 62.0);
    HM_CHECK(hm_clock_offset() == 0.0);   /* the offset is a separate knob */
    HM_CHECK(hm_clock_advanced() == a0 + 61.5);
    hm_clock_advance(-61.5);   /* back, for whatever runs after */
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(now_tracks_the_system_clock),
    HM_TEST_ENTRY(offset_shifts_now),
    HM_TEST_ENTRY(monotonic_ignores_offset_and_never_goes_back),
    HM_TEST_ENTRY(offset_is_atomic_across_threads),
    HM_TEST_ENTRY(advance_moves_both_clocks)
)
