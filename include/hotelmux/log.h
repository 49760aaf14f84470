/* log.h -- structured log lines (one JSON object per line on stderr).
 *
 * Every line carries time, level, worker and, when a request is being served,
 * its request id. The worker and request id are thread-local context that the
 * worker sets around the work it does, so callers never pass them. */
#ifndef HM_LOG_H
#define HM_LOG_H

#include <stddef.h>

typedef enum { HM_LOG_DEBUG = 0, HM_LOG_INFO, HM_LOG_WARN, HM_LOG_ERROR } hm_log_level_t;

void hm_log_set_level(hm_log_level_t level);
int hm_log_parse_level(const char *name, hm_log_level_t *out);
/* -1 = not a worker thread (the control thread). */
void hm_log_set_worker(int worker);
/* NULL clears it. The string must live until cleared or replaced. */
void hm_log_set_request_id(const char *id);
const char *hm_log_request_id(void);

/* fields_json: pre-rendered JSON members ("\"k\":1,\"s\":\"x\"") without braces, or NULL.
 * The caller is responsible for having redacted secrets in them. */
void hm_log_fields(hm_log_level_t level, const char *fields_json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define hm_log(level, ...) hm_log_fields((level), NULL, __VA_ARGS__)

/* True when a field name names a secret (password, token, secret, key, signature,
 * authorization, ...): its value must be logged as "[redacted]". */
int hm_log_is_secret_key(const char *key, size_t len);
/* One access-log line: {"ts":..,"type":"access",<fields_json>} (not level-filtered). */
void hm_log_access(const char *fields_json, size_t len);

#endif
