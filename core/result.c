/* core/result.c: names of results and the error-text helper. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <spillway/result.h>

const char *spw_result_str(spw_result r) {
    switch (r) {
    case SPW_OK: return "ok";
    case SPW_RETRY: return "retry";
    case SPW_REJECT: return "rejected";
    case SPW_SKIP: return "skipped";
    case SPW_TOO_LARGE: return "too large";
    case SPW_ERR_NOMEM: return "out of memory";
    case SPW_ERR_INVAL: return "invalid input";
    case SPW_ERR_CONFIG: return "invalid configuration";
    case SPW_ERR_IO: return "I/O error";
    case SPW_ERR_NOSPACE: return "no space left";
    case SPW_ERR_RANGE: return "out of range";
    case SPW_ERR_ABI: return "incompatible plugin ABI";
    case SPW_ERR_NOTFOUND: return "not found";
    case SPW_ERR_STATE: return "invalid state";
    case SPW_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown result";
}

spw_result spw_err_set(spw_err *err, spw_result r, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return r;
}

char *spw_printable(char *out, size_t out_size, const void *p, size_t n, size_t max) {
    if (!out || out_size == 0)
        return out;
    const unsigned char *b = p;
    size_t take = n < max ? n : max, o = 0;
    for (size_t i = 0; i < take && o + 1 < out_size; i++)
        out[o++] = b[i] >= 0x20 && b[i] < 0x7F ? (char)b[i] : '?';
    out[o] = '\0';
    if (n > take && o + 4 <= out_size)
        memcpy(out + o, "...", 4);
    return out;
}
