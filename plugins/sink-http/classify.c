/*
 * plugins/sink-http/classify.c: what a finished request means for the
 * events it carried. The sink only classifies (the core owns retry timing
 * and dead-lettering), so this file is the sink's whole policy:
 *
 *   - no HTTP answer at all (connect refused, reset, timeout, TLS failure):
 *     retry (the HTTP client counts it against the endpoint);
 *   - a status in `success_codes`: delivered;
 *   - a status in `retry_codes`: retry;
 *   - any other status: rejected, because resending the same bytes to the
 *     same destination will get the same answer. The reason quotes the
 *     status and a bounded, printable excerpt of the body, since that is
 *     what an operator reading the dead-letter file needs.
 *
 * It depends on nothing but libc and the SDK, so the unit tests link it
 * alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sink.h"

spw_result hs_codes_parse(hs_codes *c, const char *s, spw_err *err) {
    memset(c, 0, sizeof *c);
    if (!s || !*s)
        return spw_err_set(err, SPW_ERR_CONFIG, "an empty list of status codes");
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *end;
        long lo = strtol(p, &end, 10), hi;
        if (end == p)
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s': expected a status code at '%.20s'", s, p);
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        hi = lo;
        if (*p == '-') {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            hi = strtol(p, &end, 10);
            if (end == p)
                return spw_err_set(err, SPW_ERR_CONFIG, "'%s': a range needs an upper bound", s);
            p = end;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        if (lo < HS_STATUS_MIN || hi > HS_STATUS_MAX || lo > hi)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "'%s': %ld-%ld is not a range of status codes within %d-%d", s, lo,
                               hi, HS_STATUS_MIN, HS_STATUS_MAX);
        for (long v = lo; v <= hi; v++)
            c->bits[v / 8] |= (uint8_t)(1u << (v % 8));
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p)
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s': unexpected '%c'", s, *p);
    }
    return SPW_OK;
}

bool hs_codes_has(const hs_codes *c, long status) {
    if (status < HS_STATUS_MIN || status > HS_STATUS_MAX)
        return false;
    return (c->bits[status / 8] >> (status % 8)) & 1u;
}

void hs_excerpt(const uint8_t *p, size_t n, char *out, size_t out_size) {
    size_t o = 0;
    bool space = false;
    if (out_size == 0)
        return;
    /* Whitespace runs collapse to one space, so an indented JSON error still says something. */
    for (size_t i = 0; i < n && o + 1 < out_size; i++) {
        unsigned char ch = p[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            if (o > 0)
                space = true;
            continue;
        }
        if (space) {
            if (o + 2 >= out_size)
                break;
            out[o++] = ' ';
            space = false;
        }
        /* Printable ASCII only: the reason ends up in logs and JSON dead letters. */
        out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[o] = '\0';
}

void hs_classify(const hs_codes *success, const hs_codes *retry, spw_http_error error,
                 const char *error_text, long status, const uint8_t *body, size_t body_len,
                 hs_verdict *v) {
    memset(v, 0, sizeof *v);
    if (error != SPW_HTTP_OK) {
        v->result = SPW_RETRY;
        snprintf(v->reason, sizeof v->reason, "%s",
                 error_text && *error_text ? error_text : spw_http_error_name(error));
        return;
    }
    if (hs_codes_has(success, status)) {
        v->result = SPW_OK;
        return;
    }
    char ex[HS_EXCERPT_MAX + 1];
    hs_excerpt(body, body_len, ex, sizeof ex);
    bool cut = body_len > 0 && strlen(ex) >= HS_EXCERPT_MAX;
    if (hs_codes_has(retry, status)) {
        v->result = SPW_RETRY;
    } else {
        v->result = SPW_REJECT;
    }
    snprintf(v->reason, sizeof v->reason, "HTTP %ld%s%s%s", status, ex[0] ? ": " : "", ex,
             cut ? "..." : "");
}
