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

/* The Base64 digit for a 6-bit value, as a constant expression. */
#define B64(x) \
    (char)((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26 : (x) < 62 ? '0' + (x) - 52 : (x) == 62 ? '+' : '/')
/* Both digits of every 12-bit value, built at compile time: a 3-byte group
 * then costs two table reads instead of four (digests and tokens are
 * Base64-encoded in every JSON record). */
#define B64P(i) {B64((i) >> 6), B64((i) & 63)},
#define B64P4(i) B64P(i) B64P((i) + 1) B64P((i) + 2) B64P((i) + 3)
#define B64P16(i) B64P4(i) B64P4((i) + 4) B64P4((i) + 8) B64P4((i) + 12)
#define B64P64(i) B64P16(i) B64P16((i) + 16) B64P16((i) + 32) B64P16((i) + 48)
#define B64P256(i) B64P64(i) B64P64((i) + 64) B64P64((i) + 128) B64P64((i) + 192)
#define B64P1024(i) B64P256(i) B64P256((i) + 256) B64P256((i) + 512) B64P256((i) + 768)
static const char b64_pairs[4096][2] = {
    B64P1024(0) B64P1024(1024) B64P1024(2048) B64P1024(3072)
};

spw_result spw_buf_append_base64(spw_buf *b, const void *src, size_t n) {
    if (n > (SPW_BUF_MAX / 4) * 3)
        return SPW_ERR_NOSPACE;
    size_t out = (n + 2) / 3 * 4;
    if (b->cap - b->len < out) {
        spw_result r = spw_buf_reserve(b, out);
        if (r != SPW_OK)
            return r;
    }
    const uint8_t *p = src;
    char *o = (char *)b->data + b->len;
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* While a fourth byte is there to read, one load and a swap. */
    for (; i + 4 <= n; i += 3) {
        uint32_t v;
        memcpy(&v, p + i, 4);
        v = __builtin_bswap32(v) >> 8;
        memcpy(o, b64_pairs[v >> 12], 2);
        memcpy(o + 2, b64_pairs[v & 4095], 2);
        o += 4;
    }
#endif
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        memcpy(o, b64_pairs[v >> 12], 2);
        memcpy(o + 2, b64_pairs[v & 4095], 2);
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        memcpy(o, b64_pairs[v >> 12], 2);
        o[2] = i + 1 < n ? b64_pairs[(v >> 6) & 63][1] : '=';
        o[3] = '=';
    }
    b->len += out;
    return SPW_OK;
}

void spw_buf_free(spw_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
