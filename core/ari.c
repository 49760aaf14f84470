/* ari.c -- the ARI rules (see ari.h). */
#include "hotelmux/ari.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hotelmux/metrics.h"

int hm_ari_path(const char *path, size_t len)
{
    static const char *const exact[] = { "/api/search/checkAvail" };
    static const char prefix[] = "/api/trade/";
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        size_t n = strlen(exact[i]);
        /* exact, or followed by a query/extra slash: never let a suffix dodge it */
        if (len >= n && memcmp(path, exact[i], n) == 0 && (len == n || path[n] == '/' || path[n] == '?'))
            return 1;
    }
    return len >= sizeof(prefix) - 1 && memcmp(path, prefix, sizeof(prefix) - 1) == 0;
}

double hm_ari_clamp_ttl(int valid, double ttl, int supplier_has_webhooks)
{
    if (!valid || isnan(ttl) || !(ttl > 0))
        return 0;
    double max = supplier_has_webhooks ? HM_ARI_MAX_TTL : HM_ARI_MAX_TTL_NO_WEBHOOKS;
    return ttl > max ? max : ttl;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

double hm_ari_seconds_to_checkin(const char *date, double now, int have_offset, double utc_offset_hours)
{
    int y, m, d;
    char tail;
    if (!date || (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 &&
                  sscanf(date, "%4d%2d%2d%c", &y, &m, &d, &tail) != 3))
        return -1e18;
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return -1e18;
    double offset = have_offset && isfinite(utc_offset_hours) ? utc_offset_hours : 14.0;
    double noon_local = (double)days_from_civil(y, m, d) * 86400.0 + 12 * 3600.0;
    return noon_local - offset * 3600.0 - now;
}

static hm_series_t *refusals(const char *what)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "op=\"%s\"", what);
    return hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_ari_cache_refusals_total",
                             "hm.cache calls refused because the request is ARI (live only)", labels);
}

void hm_ari_count_refusal(int worker, const char *what) { hm_series_add(refusals(what), worker, 1); }

void hm_ari_declare_series(void)
{
    static const char *const ops[] = { "get", "set", "set_search", "flight", "await" };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        refusals(ops[i]);
}
