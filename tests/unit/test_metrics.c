/* test_metrics.c -- registry, per-worker slots, histograms, rendering, caches. */
#include "hm_test.h"
#include "hotelmux/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------- */

static char *render(void)
{
    hm_buf_t b = HM_BUF_INIT;
    int rc = hm_metrics_render(&b);
    HM_CHECK_INT(rc, HM_OK);
    if (b.data == NULL) {
        /* nothing rendered: hand back an empty heap string */
        char *e = calloc(1, 1);
        HM_CHECK(e != NULL);
        return e;
    }
    return b.data;   /* caller frees */
}

/* Occurrences of `line` as a whole line of `text`. */
static int count_line(const char *text, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l == len && memcmp(p, line, len) == 0)
            n++;
        p += l + (nl ? 1 : 0);
    }
    return n;
}

#define CHECK_LINE(text, line) do { \
    if (count_line((text), (line)) != 1) { \
        fprintf(stderr, "%s:%d: line not found once: %s\n", __FILE__, __LINE__, (line)); \
        hm_test_failures++; \
    } \
} while (0)

/* The value on the line starting with `prefix` followed by a space. */
static bool line_value(const char *text, const char *prefix, double *out)
{
    size_t len = strlen(prefix);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l > len && memcmp(p, prefix, len) == 0 && p[len] == ' ') {
            char *end;
            *out = strtod(p + len + 1, &end);
            return end == p + l;
        }
        p += l + (nl ? 1 : 0);
    }
    return false;
}

/* Every line is a comment or `name[{labels}] value` with a value strtod reads
 * whole; label sets are well-formed name="escaped" pairs. */
static bool well_formed(const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            return false;   /* the format ends every line with \n */
        if (strncmp(p, "# HELP ", 7) != 0 && strncmp(p, "# TYPE ", 7) != 0) {
            const char *q = p;
            while (q < nl && *q != '{' && *q != ' ')
                q++;
            if (q == p)
                return false;
            if (*q == '{') {
                q++;
                while (*q != '}') {
                    while (*q != '=' && q < nl)
                        q++;
                    if (q[0] != '=' || q[1] != '"')
                        return false;
                    for (q += 2; *q != '"'; q++) {
                        if (q >= nl)
                            return false;
                        if (*q == '\\')
                            q++;
                    }
                    q++;
                    if (*q == ',')
                        q++;
                    else if (*q != '}')
                        return false;
                }
                q++;
            }
            if (*q != ' ')
                return false;
            char *end;
            strtod(q + 1, &end);
            if (end != nl)
                return false;
        }
        p = nl + 1;
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- lifecycle and argument handling ---------------------------------- */

HM_TEST(test_lifecycle)
{
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_INT(hm_metrics_render(&b), HM_ESTATE);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, "t_x_total", "X.", "") == NULL);
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    HM_CHECK_INT(hm_metrics_init(), HM_ESTATE);

    hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "t_x_total", "X.", "");
    HM_CHECK(s != NULL);
    hm_series_add(s, 0, 5);
    HM_CHECK(hm_series_value(s) == 5);
    hm_metrics_shutdown();
    hm_metrics_shutdown();   /* harmless twice */

    /* A fresh registry: this thread's cache from before must not be used. */
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_metrics_stats_t st;
    hm_metrics_stats(&st);
    HM_CHECK_INT(st.series, 0);
    s = hm_metrics_series(HM_METRIC_COUNTER, "t_x_total", "X.", "");
    HM_CHECK(s != NULL);
    HM_CHECK(hm_series_value(s) == 0);
    hm_metrics_stats(&st);
    HM_CHECK_INT(st.series, 1);
    HM_CHECK_INT(st.families, 1);
    HM_CHECK_INT(st.slow_lookups, 1);
    hm_metrics_shutdown();
}

HM_TEST(test_bad_arguments)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, "9lives", "", "") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, "a-b", "", "") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, "", "", "") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, NULL, "", "") == NULL);

    /* NULL series, bad worker, wrong kind: all ignored, never a crash. */
    hm_series_add(NULL, 0, 1);
    hm_series_set(NULL, 0, 1);
    hm_series_observe(NULL, 0, 1);
    HM_CHECK(hm_series_value(NULL) == 0);

    hm_series_t *c = hm_metrics_series(HM_METRIC_COUNTER, "t_c_total", "C.", NULL);
    HM_CHECK(c != NULL);
    hm_series_add(c, -1, 1);
    hm_series_add(c, HM_MAX_WORKERS, 1);
    hm_series_add(c, 0, -3);     /* counters only go up */
    hm_series_add(c, 0, NAN);
    hm_series_set(c, 0, 7);      /* set is for gauges */
    hm_series_observe(c, 0, 7);  /* observe is for histograms */
    HM_CHECK(hm_series_value(c) == 0);
    hm_series_add(c, HM_METRICS_CONTROL, 2);
    HM_CHECK(hm_series_value(c) == 2);

    hm_series_t *h = hm_metrics_series(HM_METRIC_HISTOGRAM, "t_h_seconds", "H.", "");
    HM_CHECK(h != NULL);
    hm_series_add(h, 0, 1);
    HM_CHECK(hm_series_value(h) == 0);
    hm_metrics_shutdown();
}

HM_TEST(test_kind_mismatch)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_series_t *c = hm_metrics_series(HM_METRIC_COUNTER, "t_k_total", "K.", "a=\"1\"");
    HM_CHECK(c != NULL);
    /* Same labels (thread-cache hit) and new labels (registry path). */
    HM_CHECK(hm_metrics_series(HM_METRIC_GAUGE, "t_k_total", "K.", "a=\"1\"") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_HISTOGRAM, "t_k_total", "K.", "a=\"1\"") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_GAUGE, "t_k_total", "K.", "a=\"2\"") == NULL);
    /* A different pointer to the same name finds the same family. */
    char name[] = "t_k_total";
    HM_CHECK(hm_metrics_series(HM_METRIC_GAUGE, name, "K.", "a=\"1\"") == NULL);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, name, "K.", "a=\"1\"") == c);
    HM_CHECK(hm_metrics_series(HM_METRIC_COUNTER, "t_k_total", "K.", "a=\"1\"") == c);
    hm_metrics_stats_t st;
    hm_metrics_stats(&st);
    HM_CHECK_INT(st.series, 1);
    hm_metrics_shutdown();
}

/* ---- counters and gauges across threads ------------------------------- */

enum { N_THREADS = 8, N_ADDS = 100000 };

typedef struct {
    int worker;
    int iters;
} counter_arg_t;

static void *counter_thread(void *p)
{
    const counter_arg_t *a = p;
    for (int i = 0; i < a->iters; i++) {
        /* Look up every time: exercises the thread cache's lock-free hit. */
        hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "t_ops_total", "Ops.", "op=\"x\"");
        hm_series_add(s, a->worker, 1);
        hm_series_t *g = hm_metrics_series(HM_METRIC_GAUGE, "t_level", "Level.", "");
        hm_series_set(g, a->worker, a->worker + 0.5);
    }
    return NULL;
}

HM_TEST(test_counter_threads)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    pthread_t th[N_THREADS];
    counter_arg_t args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (counter_arg_t){ i, N_ADDS };
        HM_CHECK_INT(pthread_create(&th[i], NULL, counter_thread, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        HM_CHECK_INT(pthread_join(th[i], NULL), 0);
    hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "t_ops_total", "Ops.", "op=\"x\"");
    HM_CHECK(hm_series_value(s) == (double)N_THREADS * N_ADDS);
    hm_series_t *g = hm_metrics_series(HM_METRIC_GAUGE, "t_level", "Level.", "");
    HM_CHECK(hm_series_value(g) == 0.5 * N_THREADS + N_THREADS * (N_THREADS - 1) / 2.0);

    char *text = render();
    CHECK_LINE(text, "t_ops_total{op=\"x\"} 800000");
    CHECK_LINE(text, "t_level 32");
    free(text);
    hm_metrics_shutdown();
}

HM_TEST(test_gauge_per_worker)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_series_t *g = hm_metrics_series(HM_METRIC_GAUGE, "t_conns", "Conns.", "");
    HM_CHECK(g != NULL);
    hm_series_set(g, 0, 1.5);
    hm_series_set(g, 1, 2.5);
    hm_series_set(g, HM_METRICS_CONTROL, -1);
    HM_CHECK(hm_series_value(g) == 3);
    hm_series_set(g, 0, 0.5);   /* replaces worker 0's slot only */
    HM_CHECK(hm_series_value(g) == 2);
    hm_series_add(g, 1, 1);
    hm_series_add(g, 1, -0.25); /* gauges may go down */
    HM_CHECK(hm_series_value(g) == 2.75);
    hm_metrics_shutdown();
}

/* A thread's cache is freed when the thread exits, not kept until shutdown. */
static void *one_lookup_thread(void *p)
{
    HM_UNUSED(p);
    hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "t_tx_total", "T.", ""), 3, 1);
    return NULL;
}

HM_TEST(test_thread_cache_freed_at_exit)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "t_tx_total", "T.", "");
    hm_metrics_stats_t before, after;
    hm_metrics_stats(&before);
    for (int i = 0; i < 4; i++) {
        pthread_t th;
        HM_CHECK_INT(pthread_create(&th, NULL, one_lookup_thread, NULL), 0);
        HM_CHECK_INT(pthread_join(th, NULL), 0);
    }
    hm_metrics_stats(&after);
    HM_CHECK_INT(after.bytes, before.bytes);
    HM_CHECK_INT(after.slow_lookups, before.slow_lookups + 4);
    HM_CHECK(hm_series_value(s) == 4);
    hm_metrics_shutdown();
}

/* ---- histograms ------------------------------------------------------- */

HM_TEST(test_histogram_buckets)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_series_t *h = hm_metrics_series(HM_METRIC_HISTOGRAM, "t_lat_seconds", "Latency.",
                                       "op=\"get\"");
    HM_CHECK(h != NULL);
    const double obs[] = { 0.0001, 0.003, 0.7, 20 };
    double sum = 0;
    for (size_t i = 0; i < HM_ARRAY_SIZE(obs); i++) {
        hm_series_observe(h, 0, obs[i]);
        sum += obs[i];
    }
    HM_CHECK(hm_series_value(h) == 4);

    /* Bounds are inclusive (le); spread over workers. */
    hm_series_t *e = hm_metrics_series(HM_METRIC_HISTOGRAM, "t_lat_seconds", "Latency.", "");
    hm_series_observe(e, 0, 0.5);
    hm_series_observe(e, 5, 10);
    hm_series_observe(e, HM_METRICS_CONTROL, 10.5);

    char *text = render();
    static const char *const want[] = {
        "# HELP t_lat_seconds Latency.",
        "# TYPE t_lat_seconds histogram",
        "t_lat_seconds_bucket{le=\"0.0005\"} 0",
        "t_lat_seconds_bucket{le=\"0.25\"} 0",
        "t_lat_seconds_bucket{le=\"0.5\"} 1",
        "t_lat_seconds_bucket{le=\"5\"} 1",
        "t_lat_seconds_bucket{le=\"10\"} 2",
        "t_lat_seconds_bucket{le=\"+Inf\"} 3",
        "t_lat_seconds_sum 21",
        "t_lat_seconds_count 3",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.0005\"} 1",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.001\"} 1",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.0025\"} 1",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.005\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.01\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.025\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.05\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.1\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.25\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"0.5\"} 2",
        "t_lat_seconds_bucket{op=\"get\",le=\"1\"} 3",
        "t_lat_seconds_bucket{op=\"get\",le=\"2.5\"} 3",
        "t_lat_seconds_bucket{op=\"get\",le=\"5\"} 3",
        "t_lat_seconds_bucket{op=\"get\",le=\"10\"} 3",
        "t_lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4",
        "t_lat_seconds_count{op=\"get\"} 4",
    };
    for (size_t i = 0; i < HM_ARRAY_SIZE(want); i++)
        CHECK_LINE(text, want[i]);
    /* The sum must read back as exactly the double we accumulated. */
    double got = 0;
    HM_CHECK(line_value(text, "t_lat_seconds_sum{op=\"get\"}", &got));
    HM_CHECK(got == sum);
    /* Series of a family in label order: "" sorts before op="get". */
    HM_CHECK(strstr(text, "t_lat_seconds_count 3") < strstr(text, "{op=\"get\",le=\"0.0005\"}"));
    HM_CHECK(well_formed(text));
    free(text);
    hm_metrics_shutdown();
}

/* ---- exact rendering -------------------------------------------------- */

HM_TEST(test_render_exact)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    /* Created out of order on purpose: output is sorted by family, then labels. */
    hm_series_t *z = hm_metrics_series(HM_METRIC_GAUGE, "t_z", "Back\\slash and\nnewline.",
                                       "k=\"b\"");
    hm_series_t *y = hm_metrics_series(HM_METRIC_GAUGE, "t_z", "ignored: first help wins",
                                       "k=\"a\"");
    hm_series_t *a = hm_metrics_series(HM_METRIC_COUNTER, "t_a_total", "A.", "");
    hm_series_t *g1 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"frac\"");
    hm_series_t *g2 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"big\"");
    hm_series_t *g3 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"nan\"");
    hm_series_t *g4 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"pinf\"");
    hm_series_t *g5 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"ninf\"");
    hm_series_t *g6 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"neg\"");
    hm_series_t *g7 = hm_metrics_series(HM_METRIC_GAUGE, "t_m", "M.", "v=\"tiny\"");
    HM_CHECK(z && y && a && g1 && g2 && g3 && g4 && g5 && g6 && g7);
    hm_series_set(z, 0, 2);
    hm_series_set(y, 0, 1);
    hm_series_add(a, 0, 41);
    hm_series_add(a, 7, 1);
    hm_series_set(g1, 0, 0.1);
    hm_series_set(g1, 1, 0.2);   /* 0.1 + 0.2: needs all 17 digits */
    hm_series_set(g2, 0, 1e21);
    hm_series_set(g3, 0, NAN);
    hm_series_set(g4, 0, INFINITY);
    hm_series_set(g5, 0, -INFINITY);
    hm_series_set(g6, 0, -12);
    hm_series_set(g7, 0, 1e-5);

    char *text = render();
    const char *want =
        "# HELP t_a_total A.\n"
        "# TYPE t_a_total counter\n"
        "t_a_total 42\n"
        "# HELP t_m M.\n"
        "# TYPE t_m gauge\n"
        "t_m{v=\"big\"} 1e+21\n"
        "t_m{v=\"frac\"} 0.30000000000000004\n"
        "t_m{v=\"nan\"} NaN\n"
        "t_m{v=\"neg\"} -12\n"
        "t_m{v=\"ninf\"} -Inf\n"
        "t_m{v=\"pinf\"} +Inf\n"
        "t_m{v=\"tiny\"} 1e-05\n"
        "# HELP t_z Back\\\\slash and\\nnewline.\n"
        "# TYPE t_z gauge\n"
        "t_z{k=\"a\"} 1\n"
        "t_z{k=\"b\"} 2\n";
    HM_CHECK_STR(text, want);
    HM_CHECK(well_formed(text));
    free(text);

    /* Appends to what the buffer already holds. */
    hm_buf_t b = HM_BUF_INIT;
    HM_CHECK_INT(hm_buf_puts(&b, "x\n"), HM_OK);
    HM_CHECK_INT(hm_metrics_render(&b), HM_OK);
    HM_CHECK(strncmp(b.data, "x\n# HELP t_a_total A.\n", 22) == 0);
    hm_buf_free(&b);
    hm_metrics_shutdown();
}

/* ---- label escaping --------------------------------------------------- */

HM_TEST(test_label_escape)
{
    char out[64];
    hm_metrics_label_escape(out, sizeof(out), "plain /a/b?c=1");
    HM_CHECK_STR(out, "plain /a/b?c=1");
    hm_metrics_label_escape(out, sizeof(out), "a\"b\\c\nd\te");
    HM_CHECK_STR(out, "a\\\"b\\\\c\\nd\te");
    hm_metrics_label_escape(out, sizeof(out), NULL);
    HM_CHECK_STR(out, "");

    /* Truncation: cap counts the NUL; never half an escape or a UTF-8 char. */
    hm_metrics_label_escape(out, 3, "abc");
    HM_CHECK_STR(out, "ab");
    hm_metrics_label_escape(out, 3, "a\"b");
    HM_CHECK_STR(out, "a");
    hm_metrics_label_escape(out, 4, "a\"b");
    HM_CHECK_STR(out, "a\\\"");
    hm_metrics_label_escape(out, 1, "abc");
    HM_CHECK_STR(out, "");
    hm_metrics_label_escape(out, 3, "a\xc3\xa9");       /* a + é (2 bytes) */
    HM_CHECK_STR(out, "a");
    hm_metrics_label_escape(out, 4, "a\xc3\xa9");
    HM_CHECK_STR(out, "a\xc3\xa9");
    hm_metrics_label_escape(out, 4, "\xe2\x82\xac!");  /* euro sign (3 bytes) */
    HM_CHECK_STR(out, "\xe2\x82\xac");
    hm_metrics_label_escape(out, 3, "\xe2\x82\xac!");
    HM_CHECK_STR(out, "");
    out[0] = 'q';
    hm_metrics_label_escape(out, 0, "abc");           /* cap 0: untouched */
    HM_CHECK(out[0] == 'q');
    hm_metrics_label_escape(NULL, 10, "abc");         /* no crash */

    /* Escaped values render as valid exposition text. */
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    char val[64], labels[96];
    hm_metrics_label_escape(val, sizeof(val), "we\"ird\\\nvalue");
    snprintf(labels, sizeof(labels), "v=\"%s\"", val);
    hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "t_e_total", "E.", labels), 0, 1);
    char *text = render();
    CHECK_LINE(text, "t_e_total{v=\"we\\\"ird\\\\\\nvalue\"} 1");
    HM_CHECK(well_formed(text));
    free(text);
    hm_metrics_shutdown();
}

/* ---- convenience ------------------------------------------------------ */

HM_TEST(test_http_and_outbound)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    hm_metrics_http_request(0, "/hotels/{id}", "GET", 200, 0.002);
    hm_metrics_http_request(1, "/hotels/{id}", "GET", 200, 0.3);
    hm_metrics_http_request(1, "/hotels/{id}", "POST", 503, 0.0001);
    hm_metrics_http_request(2, "/we\"ird", "GET", 404, 2);
    hm_metrics_http_request(2, NULL, NULL, -1, 2);
    hm_metrics_outbound(0, "api.supplier.test", 200, 0.04);
    hm_metrics_outbound(3, "api.supplier.test", 0, 30);

    /* A long route is cut at 255 bytes, not overflowing the stack buffer. */
    char longroute[1000];
    memset(longroute, '"', sizeof(longroute) - 1);
    longroute[sizeof(longroute) - 1] = '\0';
    hm_metrics_http_request(0, longroute, longroute, 200, 0.1);

    char *text = render();
    static const char *const want[] = {
        "# TYPE hotelmux_http_requests_total counter",
        "hotelmux_http_requests_total{route=\"/hotels/{id}\",method=\"GET\",status=\"200\"} 2",
        "hotelmux_http_requests_total{route=\"/hotels/{id}\",method=\"POST\",status=\"503\"} 1",
        "hotelmux_http_requests_total{route=\"/we\\\"ird\",method=\"GET\",status=\"404\"} 1",
        "hotelmux_http_requests_total{route=\"\",method=\"\",status=\"-1\"} 1",
        "# TYPE hotelmux_http_request_duration_seconds histogram",
        "hotelmux_http_request_duration_seconds_bucket{route=\"/hotels/{id}\",le=\"0.0005\"} 1",
        "hotelmux_http_request_duration_seconds_bucket{route=\"/hotels/{id}\",le=\"0.0025\"} 2",
        "hotelmux_http_request_duration_seconds_bucket{route=\"/hotels/{id}\",le=\"0.25\"} 2",
        "hotelmux_http_request_duration_seconds_bucket{route=\"/hotels/{id}\",le=\"0.5\"} 3",
        "hotelmux_http_request_duration_seconds_count{route=\"/hotels/{id}\"} 3",
        "hotelmux_http_request_duration_seconds_count{route=\"/we\\\"ird\"} 1",
        "# TYPE hotelmux_outbound_requests_total counter",
        "hotelmux_outbound_requests_total{host=\"api.supplier.test\",status=\"200\"} 1",
        "hotelmux_outbound_requests_total{host=\"api.supplier.test\",status=\"0\"} 1",
        "hotelmux_outbound_request_duration_seconds_bucket{host=\"api.supplier.test\",le=\"0.05\"} 1",
        "hotelmux_outbound_request_duration_seconds_bucket{host=\"api.supplier.test\",le=\"10\"} 1",
        "hotelmux_outbound_request_duration_seconds_bucket{host=\"api.supplier.test\",le=\"+Inf\"} 2",
        "hotelmux_outbound_request_duration_seconds_sum{host=\"api.supplier.test\"} 30.04",
    };
    for (size_t i = 0; i < HM_ARRAY_SIZE(want); i++)
        CHECK_LINE(text, want[i]);
    /* 127 escaped quotes fill the 255-byte value; 15 for the method. */
    char line[512];
    int n = snprintf(line, sizeof(line), "hotelmux_http_requests_total{route=\"");
    for (int i = 0; i < 127; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "\\\"");
    n += snprintf(line + n, sizeof(line) - (size_t)n, "\",method=\"");
    for (int i = 0; i < 15; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "\\\"");
    snprintf(line + n, sizeof(line) - (size_t)n, "\",status=\"200\"} 1");
    CHECK_LINE(text, line);
    HM_CHECK(well_formed(text));
    free(text);
    hm_metrics_shutdown();
}

/* ---- cardinality ------------------------------------------------------ */

enum { N_SERIES = 5000 };

typedef struct {
    hm_series_t **seen;
    int worker;
    int mismatches;
} many_arg_t;

static void *many_thread(void *p)
{
    many_arg_t *a = p;
    char labels[32];
    for (int i = 0; i < N_SERIES; i++) {
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "t_many_total", "Many.", labels);
        if (s != a->seen[i])
            a->mismatches++;
        hm_series_add(s, a->worker, 1);
    }
    return NULL;
}

HM_TEST(test_many_series)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    static hm_series_t *seen[N_SERIES];
    char labels[32];
    for (int i = N_SERIES - 1; i >= 0; i--) {   /* reverse: render must sort */
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        seen[i] = hm_metrics_series(HM_METRIC_COUNTER, "t_many_total", "Many.", labels);
        HM_CHECK(seen[i] != NULL);
        hm_series_add(seen[i], 0, i);
    }
    /* A few histograms too, interleaved, to cross page boundaries. */
    for (int i = 0; i < 100; i++) {
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        hm_series_observe(hm_metrics_series(HM_METRIC_HISTOGRAM, "t_many_seconds", "H.", labels),
                          1, i * 0.01);
    }
    /* Same pointers from this thread (cache) and another thread (registry). */
    int mismatches = 0;
    for (int i = 0; i < N_SERIES; i++) {
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        if (hm_metrics_series(HM_METRIC_COUNTER, "t_many_total", "Many.", labels) != seen[i])
            mismatches++;
    }
    HM_CHECK_INT(mismatches, 0);
    many_arg_t arg = { seen, 9, 0 };
    pthread_t th;
    HM_CHECK_INT(pthread_create(&th, NULL, many_thread, &arg), 0);
    HM_CHECK_INT(pthread_join(th, NULL), 0);
    HM_CHECK_INT(arg.mismatches, 0);
    for (int i = 0; i < N_SERIES; i++)
        if (hm_series_value(seen[i]) != i + 1)
            mismatches++;
    HM_CHECK_INT(mismatches, 0);

    hm_metrics_stats_t st;
    hm_metrics_stats(&st);
    HM_CHECK_INT(st.series, N_SERIES + 100);
    HM_CHECK_INT(st.families, 2);

    char *text = render();
    HM_CHECK(well_formed(text));
    CHECK_LINE(text, "t_many_total{id=\"0\"} 1");
    CHECK_LINE(text, "t_many_total{id=\"4999\"} 5000");
    CHECK_LINE(text, "t_many_seconds_sum{id=\"99\"} 0.99");
    /* Series lines appear exactly once each, in strcmp order of labels. */
    int lines = 0, sorted = 1;
    char prev[32] = "", cur[32];
    for (const char *p = strstr(text, "\nt_many_total{"); p; p = strstr(p + 1, "\nt_many_total{")) {
        const char *l = p + strlen("\nt_many_total{");
        size_t n = (size_t)(strchr(l, '}') - l);
        HM_CHECK(n < sizeof(cur));
        if (n >= sizeof(cur))
            break;
        memcpy(cur, l, n);
        cur[n] = '\0';
        if (lines > 0 && strcmp(prev, cur) >= 0)
            sorted = 0;
        memcpy(prev, cur, n + 1);
        lines++;
    }
    HM_CHECK_INT(lines, N_SERIES);
    HM_CHECK(sorted);
    free(text);
    hm_metrics_shutdown();
}

/* ---- render while workers write --------------------------------------- */

enum { N_WRITERS = 3, N_WRITES = 20000 };
static atomic_int writers_done;

static void *writer_thread(void *p)
{
    int worker = (int)(intptr_t)p;
    char route[32];
    for (int i = 0; i < N_WRITES; i++) {
        /* New series keep appearing while the scraper renders. */
        snprintf(route, sizeof(route), "/r%d", i % 50);
        hm_metrics_http_request(worker, route, "GET", 200, (i % 100) * 0.001);
        hm_series_observe(hm_metrics_series(HM_METRIC_HISTOGRAM, "t_conc_seconds", "C.", ""),
                          worker, (i % 7) * 0.3);
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Cumulative buckets never decrease and +Inf equals _count, even mid-write. */
static bool histogram_consistent(const char *text, const char *name)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
    const char *p = strstr(text, prefix);
    if (p == NULL)
        return true;   /* not created yet */
    double prev = -1, v = 0;
    for (int i = 0; i < 15; i++) {
        p = strstr(p, "} ");
        if (p == NULL)
            return false;
        v = strtod(p + 2, NULL);
        if (v < prev)
            return false;
        prev = v;
        p += 2;
    }
    snprintf(prefix, sizeof(prefix), "%s_count", name);
    double count;
    return line_value(text, prefix, &count) && count == v;
}

HM_TEST(test_render_concurrent)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    atomic_store(&writers_done, 0);
    pthread_t th[N_WRITERS];
    for (int i = 0; i < N_WRITERS; i++)
        HM_CHECK_INT(pthread_create(&th[i], NULL, writer_thread, (void *)(intptr_t)(i + 1)), 0);
    int renders = 0, bad = 0;
    double last_total = 0;
    while (atomic_load(&writers_done) < N_WRITERS || renders == 0) {
        char *text = render();
        if (!well_formed(text) || !histogram_consistent(text, "t_conc_seconds"))
            bad++;
        double v;
        if (line_value(text, "hotelmux_http_requests_total{route=\"/r0\",method=\"GET\",status=\"200\"}", &v)) {
            if (v < last_total)
                bad++;   /* a counter never goes backwards between scrapes */
            last_total = v;
        }
        free(text);
        renders++;
    }
    for (int i = 0; i < N_WRITERS; i++)
        HM_CHECK_INT(pthread_join(th[i], NULL), 0);
    HM_CHECK_INT(bad, 0);
    fprintf(stderr, "     (%d renders during writes)\n", renders);

    char *text = render();
    char line[128];
    snprintf(line, sizeof(line), "t_conc_seconds_count %d", N_WRITERS * N_WRITES);
    CHECK_LINE(text, line);
    snprintf(line, sizeof(line),
             "hotelmux_http_requests_total{route=\"/r7\",method=\"GET\",status=\"200\"} %d",
             N_WRITERS * N_WRITES / 50);
    CHECK_LINE(text, line);
    free(text);
    hm_metrics_shutdown();
}

/* ---- cost of the per-request call ------------------------------------- */

HM_TEST(test_http_request_cost)
{
    HM_CHECK_INT(hm_metrics_init(), HM_OK);
    static const char *const routes[] = {
        "/v1/hotels/search", "/v1/hotels/{id}", "/v1/hotels/{id}/rates", "/v1/bookings",
        "/v1/bookings/{id}", "/healthz", "/metrics", "/v1/availability",
    };
    static const char *const methods[] = { "GET", "POST" };
    static const int statuses[] = { 200, 404, 502 };
    enum { N_CALLS = 2000000 };
    /* Warm-up: every combination once, so every series and cache slot exists. */
    for (int i = 0; i < 8 * 2 * 3; i++)
        hm_metrics_http_request(0, routes[i % 8], methods[(i / 8) % 2], statuses[i / 16], 0.01);
    hm_metrics_stats_t before, after;
    hm_metrics_stats(&before);
    double t0 = now_s();
    for (int i = 0; i < N_CALLS; i++)
        hm_metrics_http_request(0, routes[i & 7], methods[(i >> 3) & 1], statuses[i % 3],
                                (i & 1023) * 1e-4);
    double dt = now_s() - t0;
    hm_metrics_stats(&after);
    fprintf(stderr, "     hm_metrics_http_request: %.1f ns/call\n", dt * 1e9 / N_CALLS);
    /* Warm calls never reach the registry: no lock, no allocation. */
    HM_CHECK(after.slow_lookups == before.slow_lookups);
    HM_CHECK_INT(after.series, before.series);
    HM_CHECK_INT(after.bytes, before.bytes);
    hm_series_t *s = hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_http_requests_total", "",
                                       "route=\"/healthz\",method=\"GET\",status=\"200\"");
    HM_CHECK(s != NULL && hm_series_value(s) > 0);
    hm_metrics_shutdown();
}

HM_TEST_MAIN(
    HM_TEST_ENTRY(test_lifecycle),
    HM_TEST_ENTRY(test_bad_arguments),
    HM_TEST_ENTRY(test_kind_mismatch),
    HM_TEST_ENTRY(test_counter_threads),
    HM_TEST_ENTRY(test_gauge_per_worker),
    HM_TEST_ENTRY(test_thread_cache_freed_at_exit),
    HM_TEST_ENTRY(test_histogram_buckets),
    HM_TEST_ENTRY(test_render_exact),
    HM_TEST_ENTRY(test_label_escape),
    HM_TEST_ENTRY(test_http_and_outbound),
    HM_TEST_ENTRY(test_many_series),
    HM_TEST_ENTRY(test_render_concurrent),
    HM_TEST_ENTRY(test_http_request_cost),
)
