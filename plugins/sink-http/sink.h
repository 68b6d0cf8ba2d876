/*
 * plugins/sink-http/sink.h: what the files of the `http` sink share.
 *
 * The sink is policy only, on the HTTP client service of the SDK
 * (spillway/http.h), which owns connections, engines, TLS, endpoints,
 * compression and authentication: plugin.c holds the descriptor,
 * instance.c the checks and the instance's state, send.c turns a batch
 * into a request and its response into outcomes, classify.c says what a status means (status code sets,
 * rejection reasons; no loop state, so the unit tests link it on its own).
 * ${...} in URLs and headers are the SDK's templates (spillway/template.h).
 *
 * Nothing here is exported from the module: the build exports only the
 * plugin descriptor. The `gcf` sink (plugins/sink-gcf) compiles every file
 * but plugin.c into its own module and embeds an hs_sink.
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

/*
 * The `http` sink's option entries, for its own table and for a sink built
 * on this one (the `gcf` sink) to embed in its table: `type` is the config
 * struct, `m` the path of its struct hs_conf member followed by a dot
 * ("hs."), or nothing when type is struct hs_conf itself.
 */
#define HS_OFF(type, m, f) offsetof(type, m f)
#define HS_OPTION_ENTRIES(type, m)                                                                 \
    SPW_OPTION_HTTP(type, m http, 0),                                                              \
    {"method", SPW_OPT_ENUM, 0, "POST", 0, 0, "POST|PUT|PATCH", HS_OFF(type, m, method),           \
     "HTTP method of delivery requests."},                                                          \
    {"headers", SPW_OPT_LIST, 0, NULL, 0, 256, NULL, HS_OFF(type, m, headers),                     \
     "Extra request headers as 'Name: value' items (a value may use the URL's ${...} variables; "  \
     "it cannot contain a comma)."},                                                                \
    {"content_type", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, HS_OFF(type, m, content_type),           \
     "Content-Type sent instead of the codec's."},                                                  \
    {"success_codes", SPW_OPT_STRING, 0, "200-299", 0, 0, NULL, HS_OFF(type, m, success_codes),    \
     "Status codes meaning delivered, as codes and ranges ('200-299,304')."},                       \
    {"retry_codes", SPW_OPT_STRING, 0, "408,429,500,502-599", 0, 0, NULL,                          \
     HS_OFF(type, m, retry_codes),                                                                  \
     "Status codes meaning try again later (with Retry-After honoured); any other status "         \
     "rejects the request's records."}

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
    uint64_t tag;               /* hs_sink.tag when the request went out */
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
    spw_log_limit warn_limit; /* hs_warn: one line a second */
    spw_counter *c_retry, *c_reject;
    /*
     * For a sink built on this one (gcf): `tag` is copied into each call as
     * its request goes out (the client authenticates inside spw_http_send,
     * so a token hook may set it to what it handed out), and `intercept`,
     * when set, sees each answer before classification with the call's tag;
     * true means it gave the batch back itself.
     */
    uint64_t tag;
    bool (*intercept)(struct hs_sink *s, spw_batch *b, uint64_t tag, const spw_http_response *r);
} hs_sink;

/* instance.c: where a URL's path starts (after scheme://authority), or (size_t)-1 when not
 * absolute http(s). */
size_t hs_url_path_start(const char *url);

/* instance.c: the checks of load time; an instance's state in memory of the caller's (s zeroed
 * first; on failure hs_init has released what it made, else hs_fini does). */
spw_result hs_check(const struct hs_conf *cf, spw_err *err);
spw_result hs_init(hs_sink *s, spw_stage *st, const struct hs_conf *cf, spw_err *err);
void hs_fini(hs_sink *s);

/* instance.c: one warning a second per worker, the rest counted. */
void hs_warn(hs_sink *s, const char *fmt, ...) SPW_PRINTF(2, 3);

/* send.c */
spw_result hs_send(hs_sink *s, spw_batch *b, spw_err *err);
void hs_calls_free(hs_sink *s);

#endif /* SPW_SINK_HTTP_SINK_H */
