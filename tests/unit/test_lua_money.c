/* test_lua_money.c -- exact decimal money: parse, format, rounding. */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/lua_money.h"

#include <string.h>

static const char *roundtrip(const char *in)
{
    static char out[48];
    int64_t v;
    if (hm_money_parse(in, strlen(in), &v) != HM_OK)
        return "ERR";
    hm_money_format(v, out, sizeof(out));
    return out;
}

HM_TEST(format_keeps_two_to_six_decimals)
{
    HM_CHECK_STR(roundtrip("0"), "0.00");
    HM_CHECK_STR(roundtrip("84.5"), "84.50");
    HM_CHECK_STR(roundtrip("-0.5"), "-0.50");
    HM_CHECK_STR(roundtrip("+7"), "7.00");
    HM_CHECK_STR(roundtrip("123456789.123456"), "123456789.123456");
    HM_CHECK_STR(roundtrip("1.100000"), "1.10");
    HM_CHECK_STR(roundtrip(" 12.30 "), "12.30");
    HM_CHECK_STR(roundtrip(".5"), "0.50");
}

HM_TEST(more_than_six_decimals_round_half_up)
{
    HM_CHECK_STR(roundtrip("0.0000005"), "0.000001");
    HM_CHECK_STR(roundtrip("0.0000004999"), "0.00");
    HM_CHECK_STR(roundtrip("2.9999999"), "3.00");
    HM_CHECK_STR(roundtrip("-2.9999999"), "-3.00");
}

HM_TEST(malformed_and_out_of_range)
{
    int64_t v;
    const char *bad[] = { "", "-", ".", "1e5", "1,5", "12.3.4", "abc", "0x10", "--1", "1 2" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        HM_CHECK_INT(hm_money_parse(bad[i], strlen(bad[i]), &v), HM_EINVAL);
    HM_CHECK_INT(hm_money_parse("99999999999999999999", 20, &v), HM_ELIMIT);
    HM_CHECK_INT(hm_money_parse("9000000000000", 13, &v), HM_OK);
    char out[48];
    hm_money_format(v, out, sizeof(out));
    HM_CHECK_STR(out, "9000000000000.00");
    hm_money_format(-v, out, 8);   /* truncated, still terminated */
    HM_CHECK_INT((int)strlen(out), 7);
}

/* The 64-bit parser checks each step against the limit before taking it. */
HM_TEST(limit_edges_in_64_bits)
{
    int64_t v;
    HM_CHECK_INT(hm_money_parse("-9000000000000", 14, &v), HM_OK);
    HM_CHECK_INT(v, -9000000000000000000LL);
    HM_CHECK_INT(hm_money_parse("9000000000000.000001", 20, &v), HM_ELIMIT);
    HM_CHECK_INT(hm_money_parse("8999999999999.9999995", 21, &v), HM_OK);
    HM_CHECK_INT(v, 9000000000000000000LL);
    HM_CHECK_INT(hm_money_parse("8999999999999.9999999", 21, &v), HM_OK);
    HM_CHECK_STR(roundtrip("8999999999999.999999"), "8999999999999.999999");
    HM_CHECK_INT(hm_money_parse("18446744073709551616", 20, &v), HM_ELIMIT);
    HM_CHECK_INT(hm_money_parse("90000000000000", 14, &v), HM_ELIMIT);
    HM_CHECK_STR(roundtrip("0.000000000000000000001"), "0.00");
    HM_CHECK_STR(roundtrip("00000000000000000000012.5"), "12.50");
}

HM_TEST_MAIN(HM_TEST_ENTRY(format_keeps_two_to_six_decimals), HM_TEST_ENTRY(more_than_six_decimals_round_half_up),
             HM_TEST_ENTRY(malformed_and_out_of_range), HM_TEST_ENTRY(limit_edges_in_64_bits))
