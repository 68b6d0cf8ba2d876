/*
 * plugins/sink-http/sink.h: what the files of the `http` sink share.
 *
 * The sink is policy only, on the HTTP client service of the SDK
 * (spillway/http.h), which owns connections, engines, TLS, endpoints,
 * compression and authentication: plugin.c holds the options and the
 * instance, send.c turns a batch into a request and its response into
 * outcomes, classify.c says what a status means (status code sets,
 * rejection reasons; no loop state, so the unit tests link it on its own).
 * ${...} in URLs and headers are the SDK's templates (spillway/template.h).
 *
 * Nothing here is exported from the module: the build exports only the
 * plugin descriptor.
 */
#ifndef SPW_SINK_HTTP_SINK_H
#define SPW_SINK_HTTP_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <spillway/spillway.h>

/* ---------------------------------------------------------------------- */
/* Configuration (parsed by the core from the option table in plugin.c)    */
/* ---------------------------------------------------------------------- */

enum hs_method { HS_METHOD_POST = 0, HS_METHOD_PUT, HS_METHOD_PATCH };

struct hs_conf {
    const spw_http_conf *http; /* url(s), protocol, timeouts, TLS, auth...: the client's */
    int method;
    spw_strlist headers;
    char *content_type;
    char *success_codes;
    char *retry_codes;
};

/* ---------------------------------------------------------------------- */
/* classify.c: status code sets, outcomes, Retry-After, body excerpts      */
/* ---------------------------------------------------------------------- */

#define HS_STATUS_MIN 100
#define HS_STATUS_MAX 599
/* The reason given for a rejection quotes at most this much of the response body. */
#define HS_EXCERPT_MAX 256

/* A set of HTTP status codes, one bit each. */
typedef struct hs_codes {
    uint8_t bits[(HS_STATUS_MAX + 1 + 7) / 8];
} hs_codes;

/* Parses "200-299,304" into *c. Codes must lie in 100..599. */
spw_result hs_codes_parse(hs_codes *c, const char *s, spw_err *err);
bool hs_codes_has(const hs_codes *c, long status);

/* Which outcome a finished request means for its batch. */
typedef struct hs_verdict {
    spw_result result;     /* SPW_OK, SPW_RETRY or SPW_REJECT (send.c: also SPW_TOO_LARGE) */
    char reason[HS_EXCERPT_MAX + 160];
} hs_verdict;

/*
 * Classifies a finished request: error and error_text as the client gave
 * them, status the HTTP status (0 when none arrived), body the (bounded)
 * response body. A request that got no answer is retried.
 */
void hs_classify(const hs_codes *success, const hs_codes *retry, spw_http_error error,
                 const char *error_text, long status, const uint8_t *body, size_t body_len,
                 hs_verdict *v);

/* Writes a printable, bounded excerpt of p[0..n) into out (at most out_size-1 chars). */
void hs_excerpt(const uint8_t *p, size_t n, char *out, size_t out_size);

/* ---------------------------------------------------------------------- */
/* The instance (plugin.c, send.c)                                         */
/* ---------------------------------------------------------------------- */

/* One request in progress: a batch on its way. */
typedef struct hs_call {
    struct hs_sink *s;
    spw_batch *b;
    spw_buf url;                /* a rendered templated URL */
    spw_buf hstore;             /* rendered templated header values, NUL-terminated */
    spw_http_header *hv;        /* the request's headers */
    size_t cap_hv;
    struct hs_call *next;       /* free list */
} hs_call;

typedef struct hs_sink {
    spw_stage *st;
    const struct hs_conf *cf;
    spw_http *http;
    hs_codes success, retry;
    const char *method_name;
    /* `headers`: fixed ones split once into name and value; templated ones compiled */
    spw_http_header *fixed;
    size_t n_fixed;
    char *fixed_store;
    spw_template **hdr_tpls;
    size_t n_hdr_tpls;
    spw_template **url_tpls;    /* per endpoint, when its URL has variables; else NULL */
    bool templated;             /* some URL or header has variables */
    bool batch_tpl_warned;
    hs_call *free_calls;
    hs_call **calls;            /* every call object, for destroy */
    size_t n_calls, cap_calls;
    uint64_t last_warn_ms;
    uint64_t warn_suppressed;
    spw_counter *c_retry, *c_reject;
} hs_sink;

/* plugin.c: one warning a second per worker, the rest counted. */
void hs_warn(hs_sink *s, const char *fmt, ...) SPW_PRINTF(2, 3);

/* send.c */
spw_result hs_send(hs_sink *s, spw_batch *b, spw_err *err);
void hs_calls_free(hs_sink *s);

#endif /* SPW_SINK_HTTP_SINK_H */
