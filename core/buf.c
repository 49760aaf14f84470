/* buf.c -- growable byte buffer. */
#include "hotelmux/buf.h"
#include "hotelmux/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hm_buf_reserve(hm_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* +1 keeps room for a NUL */
    if (need <= b->cap)
        return HM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return HM_ENOMEM;
    b->data = p;
    b->cap = cap;
    return HM_OK;
}

int hm_buf_append(hm_buf_t *b, const void *p, size_t n)
{
    if (hm_buf_reserve(b, n) != HM_OK)
        return HM_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return HM_OK;
}

int hm_buf_puts(hm_buf_t *b, const char *s)
{
    return hm_buf_append(b, s, strlen(s));
}

int hm_buf_vprintf(hm_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return HM_EINVAL;
    if (hm_buf_reserve(b, (size_t)n) != HM_OK)
        return HM_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return HM_OK;
}

int hm_buf_printf(hm_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hm_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int hm_buf_json_str(hm_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (hm_buf_reserve(b, n + 2) != HM_OK)
        return HM_ENOMEM;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 0;
        switch (c) {
        case '"': esc[0] = '\\'; esc[1] = '"'; elen = 2; break;
        case '\\': esc[0] = '\\'; esc[1] = '\\'; elen = 2; break;
        case '\n': esc[0] = '\\'; esc[1] = 'n'; elen = 2; break;
        case '\r': esc[0] = '\\'; esc[1] = 'r'; elen = 2; break;
        case '\t': esc[0] = '\\'; esc[1] = 't'; elen = 2; break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        }
        if (elen) {
            if (hm_buf_append(b, esc, elen) != HM_OK)
                return HM_ENOMEM;
        } else {
            if (hm_buf_reserve(b, 1) != HM_OK)
                return HM_ENOMEM;
            b->data[b->len++] = (char)c;
        }
    }
    if (hm_buf_append(b, "\"", 1) != HM_OK)
        return HM_ENOMEM;
    return HM_OK;
}

void hm_buf_consume(hm_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void hm_buf_reset(hm_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void hm_buf_free(hm_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
