/* buf.h -- a growable byte buffer. The owner calls hm_buf_free() once. */
#ifndef HM_BUF_H
#define HM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data;   /* NUL-terminated when len < cap (always, after any append) */
    size_t len;
    size_t cap;
} hm_buf_t;

#define HM_BUF_INIT { NULL, 0, 0 }

int hm_buf_reserve(hm_buf_t *b, size_t extra);
int hm_buf_append(hm_buf_t *b, const void *p, size_t n);
int hm_buf_puts(hm_buf_t *b, const char *s);
int hm_buf_printf(hm_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hm_buf_vprintf(hm_buf_t *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal (with quotes), escaping as RFC 8259 asks. */
int hm_buf_json_str(hm_buf_t *b, const char *s, size_t n);
/* Drop the first n bytes (consumed input), keeping the rest. */
void hm_buf_consume(hm_buf_t *b, size_t n);
void hm_buf_reset(hm_buf_t *b);
void hm_buf_free(hm_buf_t *b);

#endif
