/* metrics.h -- Prometheus counters, gauges and histograms.
 *
 * Series live in one process-wide registry (created under a mutex, never
 * freed before hm_metrics_shutdown). Each series keeps one slot per worker so
 * the hot path is a relaxed atomic add to a slot no other thread writes; a
 * scrape sums the slots. Lookups go through a per-thread cache first, so the
 * registry mutex is taken only the first time a thread uses a series.
 *
 * `labels` is the pre-rendered label set without braces, e.g.
 * `route="/hello",status="200"` (use hm_metrics_label_escape for values), or
 * "" for none. `worker` is 0..HM_MAX_WORKERS-1; the control thread uses
 * HM_METRICS_CONTROL. Two threads must never use the same worker index at
 * the same time (updates would be lost; the slot write is not a locked RMW).
 *
 * A thread's lookup cache is freed when the thread exits (pthread key
 * destructor) or by hm_metrics_shutdown, whichever comes first. Call
 * hm_metrics_shutdown only once no other thread uses metrics any more: it
 * frees every series. */
#ifndef HM_METRICS_H
#define HM_METRICS_H

#include "hotelmux/buf.h"
#include "hotelmux/common.h"

#define HM_METRICS_CONTROL (HM_MAX_WORKERS - 1)

typedef enum { HM_METRIC_COUNTER, HM_METRIC_GAUGE, HM_METRIC_HISTOGRAM } hm_metric_kind_t;

typedef struct hm_series_s hm_series_t;

int hm_metrics_init(void);
void hm_metrics_shutdown(void);

/* Find or create. `family` and `help` must be string literals (kept by pointer).
 * Returns NULL on allocation failure, a kind mismatch for the family, a family
 * name that is not a valid Prometheus metric name, or before hm_metrics_init. */
hm_series_t *hm_metrics_series(hm_metric_kind_t kind, const char *family, const char *help,
                               const char *labels);

/* These ignore a NULL series, a worker out of range and a series of the wrong
 * kind, so a failed hm_metrics_series() can be passed straight in. A negative
 * or NaN add to a counter is ignored (counters only go up). */
void hm_series_add(hm_series_t *s, int worker, double v);      /* counter or gauge */
void hm_series_set(hm_series_t *s, int worker, double v);      /* gauge: this worker's slot */
void hm_series_observe(hm_series_t *s, int worker, double v);  /* histogram (seconds) */

/* Sum over workers (counter/gauge value; histogram count). For tests and /admin/status. */
double hm_series_value(const hm_series_t *s);

/* Append the Prometheus text exposition format (version 0.0.4) of every series:
 * families sorted by name, series sorted by labels. HM_ESTATE before init. */
int hm_metrics_render(hm_buf_t *out);

/* Escape a label value (\\, \", \n) into out (NUL-terminated, truncated to cap;
 * truncation never splits an escape pair or a UTF-8 sequence). */
void hm_metrics_label_escape(char *out, size_t cap, const char *value);

/* Convenience for the two families every request touches. Label values are
 * escaped and cut at 255 bytes (method at 31); `route` must be the route
 * pattern, not the raw path, or the series count grows without bound. */
void hm_metrics_http_request(int worker, const char *route, const char *method, int status,
                             double seconds);
void hm_metrics_outbound(int worker, const char *host, long status, double seconds);

/* Registry size and how often a lookup missed its thread cache (and so took
 * the registry mutex); for /admin/status and tests. */
typedef struct {
    size_t families;
    size_t series;
    size_t bytes;           /* heap held by the registry and the thread caches */
    uint64_t slow_lookups;  /* hm_metrics_series calls that took the mutex */
} hm_metrics_stats_t;

void hm_metrics_stats(hm_metrics_stats_t *st);

#endif
