/* log.c -- structured JSON log lines on stderr.
 *
 * A line is built in a buffer and written with one write(2) so lines from
 * different workers never interleave. */
#include "hotelmux/log.h"
#include "hotelmux/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int log_level = HM_LOG_INFO;
static _Thread_local int log_worker = -1;
static _Thread_local const char *log_request_id;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void hm_log_set_level(hm_log_level_t level) { atomic_store(&log_level, (int)level); }
void hm_log_set_worker(int worker) { log_worker = worker; }
void hm_log_set_request_id(const char *id) { log_request_id = id; }
const char *hm_log_request_id(void) { return log_request_id; }

int hm_log_parse_level(const char *name, hm_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (hm_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int hm_log_is_secret_key(const char *key, size_t len)
{
    /* Substrings, case-insensitive: "apiKey", "X-Signature", "client_secret",
     * "Authorization", "LicenseKey", "password" all match. */
    static const char *const needles[] = {
        "secret", "password", "passwd", "token", "apikey", "api_key", "api-key",
        "signature", "authorization", "licensekey", "license_key", "cookie", "cvv",
        "card_number", "cardnumber",
    };
    /* The whole key is searched: a secret word past any fixed prefix length
     * must still be found (redaction fails closed). */
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
        size_t n = strlen(needles[i]);
        for (size_t at = 0; at + n <= len; at++)
            if (strncasecmp(key + at, needles[i], n) == 0)
                return 1;
    }
    return 0;
}

static void timestamp(char *stamp, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(stamp, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void hm_log_access(const char *fields_json, size_t len)
{
    char stamp[40];
    timestamp(stamp, sizeof(stamp));
    hm_buf_t line = HM_BUF_INIT;
    if (hm_buf_printf(&line, "{\"ts\":\"%s\",\"type\":\"access\",", stamp) == 0 &&
        hm_buf_append(&line, fields_json, len) == 0 && hm_buf_puts(&line, "}\n") == 0) {
        ssize_t w = write(STDERR_FILENO, line.data, line.len);
        (void)w;
    }
    hm_buf_free(&line);
}

void hm_log_fields(hm_log_level_t level, const char *fields_json, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level))
        return;
    char stamp[40];
    timestamp(stamp, sizeof(stamp));

    hm_buf_t msg = HM_BUF_INIT, line = HM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = hm_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (rc != 0)
        goto out;
    rc |= hm_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\"", stamp, level_names[level]);
    if (log_worker >= 0)
        rc |= hm_buf_printf(&line, ",\"worker\":%d", log_worker);
    if (log_request_id) {
        rc |= hm_buf_puts(&line, ",\"request_id\":");
        rc |= hm_buf_json_str(&line, log_request_id, strlen(log_request_id));
    }
    rc |= hm_buf_puts(&line, ",\"msg\":");
    rc |= hm_buf_json_str(&line, msg.data, msg.len);
    if (fields_json && fields_json[0]) {
        rc |= hm_buf_puts(&line, ",");
        rc |= hm_buf_puts(&line, fields_json);
    }
    rc |= hm_buf_puts(&line, "}\n");
    if (rc == 0) {
        ssize_t w = write(STDERR_FILENO, line.data, line.len);
        (void)w; /* nowhere left to report a failed log write */
    }
out:
    hm_buf_free(&msg);
    hm_buf_free(&line);
}
