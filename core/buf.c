/*
 * core/buf.c: growable byte buffers. Growth doubles so appends are
 * amortised O(1); every size computation is checked against SPW_BUF_MAX
 * so no input can make a buffer wrap or grow without bound.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/buf.h>

spw_result spw_buf_reserve(spw_buf *b, size_t extra) {
    if (extra > SPW_BUF_MAX || b->len > SPW_BUF_MAX - extra)
        return SPW_ERR_NOSPACE;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return SPW_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SPW_BUF_MAX / 2 ? SPW_BUF_MAX : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return SPW_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return SPW_OK;
}

spw_result spw_buf_append(spw_buf *b, const void *p, size_t n) {
    if (n == 0)
        return SPW_OK;
    spw_result r = spw_buf_reserve(b, n);
    if (r != SPW_OK)
        return r;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return SPW_OK;
}

spw_result spw_buf_printf(spw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SPW_ERR_INVAL;
    /* +1 for vsnprintf's NUL, which is not counted in len. */
    spw_result r = spw_buf_reserve(b, (size_t)n + 1);
    if (r != SPW_OK)
        return r;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SPW_OK;
}

spw_result spw_buf_append_base64(spw_buf *b, const void *src, size_t n) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > (SPW_BUF_MAX / 4) * 3)
        return SPW_ERR_NOSPACE;
    size_t out = (n + 2) / 3 * 4;
    spw_result r = spw_buf_reserve(b, out);
    if (r != SPW_OK)
        return r;
    const uint8_t *p = src;
    char *o = (char *)b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len += out;
    return SPW_OK;
}

void spw_buf_free(spw_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
