/*
 * plugins/aws-common/aws-sink.c: helpers the AWS sinks share (see
 * aws-sink.h): throttled warnings, response excerpts for rejection
 * reasons, deadline-bounded timeouts, Retry-After and the AWS SDKs'
 * endpoint override variables.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "aws-sink.h"

void aws_warn(aws_warner *w, spw_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw_vlog_limited(w->st, &w->lim, level, fmt, ap);
    va_end(ap);
}

spw_result aws_check_signing(const spw_http_conf *http, const char *service, spw_err *err) {
    if (strcmp(spw_http_conf_auth(http), "aws-sigv4") != 0)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "auth = %s: the %s API takes SigV4-signed requests only; remove "
                           "the auth line (this sink's default is aws-sigv4)",
                           spw_http_conf_auth(http), service);
    if (strcmp(spw_http_conf_aws_service(http), service) != 0)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "aws_service = %s: requests to the %s API are signed for '%s'; "
                           "remove the aws_service line (this sink's default is %s)",
                           spw_http_conf_aws_service(http), service, service, service);
    return SPW_OK;
}

void aws_excerpt(const uint8_t *p, size_t n, char *out, size_t out_size) {
    size_t o = 0;
    bool space = false, cut = false;
    if (out_size < 4) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    size_t room = out_size - 4; /* room for "..." and the NUL */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            space = o > 0;
            continue;
        }
        if (o + (space ? 2 : 1) > room) {
            cut = true;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        /* Printable ASCII only: reasons end up in logs and JSON dead letters. */
        out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (cut)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

uint64_t aws_request_timeout(spw_stage *st, const spw_http_conf *cf, spw_batch *b) {
    uint64_t now = uv_now(spw_stage_loop(st));
    uint64_t deadline = spw_batch_deadline(b);
    uint64_t tmo = spw_http_conf_timeout(cf);
    if (deadline > now && deadline - now < tmo)
        tmo = deadline - now;
    return tmo ? tmo : 1;
}

bool aws_retry_after(const spw_http_response *r, spw_batch *b) {
    uint64_t ms;
    if (r->error == SPW_HTTP_OK &&
        spw_http_retry_after(spw_http_response_header(r, "Retry-After"), &ms) && ms > 0) {
        spw_batch_retry_after(b, ms);
        return true;
    }
    return false;
}

const char *aws_endpoint_env(const char *env_service) {
    char name[96];
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (ignore && strcasecmp(ignore, "true") == 0)
        return NULL;
    snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", env_service);
    const char *v = getenv(name);
    if (v && *v)
        return v;
    v = getenv("AWS_ENDPOINT_URL");
    return v && *v ? v : NULL;
}

spw_result aws_json_escape(spw_buf *out, const void *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    spw_result rc = spw_buf_reserve(out, n + 16);
    size_t run = 0; /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < n && rc == SPW_OK; i++) {
        uint8_t ch = s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            run++;
            continue;
        }
        rc = spw_buf_append(out, s + i - run, run);
        run = 0;
        if (rc != SPW_OK)
            break;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            rc = spw_buf_append(out, e, 2);
        } else if (ch == '\n') {
            rc = spw_buf_append(out, "\\n", 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            rc = spw_buf_append(out, e, 6);
        }
    }
    if (rc == SPW_OK && run)
        rc = spw_buf_append(out, s + n - run, run);
    return rc;
}

spw_result aws_hex(spw_buf *out, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    spw_result rc = spw_buf_reserve(out, 2 * n);
    if (rc != SPW_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = (uint8_t)hex[p[i] >> 4];
        out->data[out->len++] = (uint8_t)hex[p[i] & 15];
    }
    return SPW_OK;
}
