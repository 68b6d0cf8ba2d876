/* core/result.c: names of results and the error-text helper. */
#include <stdarg.h>
#include <stdio.h>
#include <spillway/result.h>

const char *spw_result_str(spw_result r) {
    switch (r) {
    case SPW_OK: return "ok";
    case SPW_RETRY: return "retry";
    case SPW_REJECT: return "rejected";
    case SPW_SKIP: return "skipped";
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
