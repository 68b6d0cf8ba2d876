/*
 * plugins/sink-http/http.h: what the files of the `http` sink share.
 *
 * The sink is one libcurl multi handle per instance (per worker), driven by
 * the worker's libuv loop (multi.c), a pool of reusable easy handles, one
 * per request in progress (request.c), a list of endpoints with health
 * state (endpoints.c), and helpers with no libcurl state at all, which the
 * unit tests link on their own: status classification (classify.c), URL
 * and header templates (template.c), the AWS SigV4 signer (sigv4.c), gzip
 * (gzip.c) and credentials (auth.c).
 *
 * Nothing here is exported from the module: the build exports only the
 * plugin descriptor, so the hs_ functions are visible across these files
 * and nowhere else.
 */
#ifndef SPW_SINK_HTTP_H
#define SPW_SINK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <uv.h>
#include <zlib.h>
#include <spillway/spillway.h>

/* ---------------------------------------------------------------------- */
/* Configuration (parsed by the core from the option table in plugin.c)    */
/* ---------------------------------------------------------------------- */

/* `protocol` choices, in table order: the last two are the vendor's names. */
enum hs_protocol { HS_PROTO_HTTP2 = 0, HS_PROTO_HTTP11, HS_PROTO_H2C, HS_PROTO_V_HTTP2, HS_PROTO_V_HTTP11 };
enum hs_method { HS_METHOD_POST = 0, HS_METHOD_PUT, HS_METHOD_PATCH };
enum hs_auth { HS_AUTH_NONE = 0, HS_AUTH_BASIC, HS_AUTH_BEARER, HS_AUTH_HEADER, HS_AUTH_SIGV4 };
enum hs_compression { HS_COMP_NONE = 0, HS_COMP_GZIP };
enum hs_tls_version { HS_TLS_12 = 0, HS_TLS_13, HS_TLS_10, HS_TLS_11 };
enum hs_engine { HS_ENGINE_NATIVE = 0, HS_ENGINE_LIBCURL };

struct hs_conf {
    char *url;
    spw_strlist urls;
    int protocol;
    int engine;
    int method;
    spw_strlist headers;
    char *content_type;
    char *user_agent;

    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t connection_ttl_ms;
    int64_t max_connections;
    int64_t max_streams;
    spw_strlist connect_to;
    char *proxy;

    char *success_codes;
    char *retry_codes;
    int64_t max_body_size;
    int64_t response_max;

    int compression;
    int64_t compression_threshold;
    int64_t compression_level;

    int64_t failure_threshold;
    int64_t cooldown_ms;
    char *health_check_path;
    int64_t health_check_interval_ms;
    int64_t health_check_threshold;
    int64_t health_check_timeout_ms;

    int auth;
    char *username;
    char *password;
    char *token;
    char *auth_header;
    char *auth_value;
    char *aws_region;
    char *aws_service;
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token;
    char *aws_profile;
    char *aws_credentials_file;

    char *tls_ca_file;
    char *tls_ca_path;
    char *tls_cert;
    char *tls_key;
    char *tls_key_password;
    bool tls_verify;
    int tls_min_version;
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
    spw_result result;     /* SPW_OK, SPW_RETRY or SPW_REJECT */
    bool endpoint_failed;  /* counts against the endpoint's health */
    char reason[HS_EXCERPT_MAX + 160];
} hs_verdict;

/*
 * Classifies a finished request: cc is the transfer's CURLcode (as an int),
 * curl_msg the error buffer text (may be empty), status the HTTP status (0
 * when none arrived), body the (bounded) response body.
 */
void hs_classify(const hs_codes *success, const hs_codes *retry, int cc, const char *curl_msg,
                 long status, const uint8_t *body, size_t body_len, hs_verdict *v);

/* Writes a printable, bounded excerpt of p[0..n) into out (at most out_size-1 chars). */
void hs_excerpt(const uint8_t *p, size_t n, char *out, size_t out_size);

/*
 * Parses a Retry-After value: delta seconds, or an HTTP-date compared with
 * now_unix_s. Returns true with *ms set (capped at one hour) when valid.
 */
bool hs_retry_after_parse(const char *value, int64_t now_unix_s, uint64_t *ms);

/* ---------------------------------------------------------------------- */
/* template.c: ${var} in URL paths/queries and header values               */
/* ---------------------------------------------------------------------- */

enum hs_var {
    HS_VAR_NAMESPACE = 0,
    HS_VAR_SET,
    HS_VAR_DIGEST,     /* 40 lowercase hex digits */
    HS_VAR_DIGEST_B64, /* standard Base64 (as in the payloads) */
    HS_VAR_KEY,
    HS_VAR_MSG,
    HS_VAR_GEN,
    HS_VAR_LUT,
};

typedef struct hs_tpl_part {
    bool is_var;
    enum hs_var var;
    size_t off, len; /* literal: bytes of src */
} hs_tpl_part;

typedef struct hs_tpl {
    char *src;
    hs_tpl_part *parts;
    size_t n;
    bool has_vars;
} hs_tpl;

enum hs_enc { HS_ENC_URL, HS_ENC_HEADER };

/* Compiles s (copied). Unknown variables and unterminated "${" are errors. */
spw_result hs_tpl_compile(hs_tpl *t, const char *s, spw_err *err);
void hs_tpl_free(hs_tpl *t);
/* Appends t with the event's values substituted (URL: percent-encoded; header: control bytes replaced). */
spw_result hs_tpl_render(const hs_tpl *t, const spw_event *ev, enum hs_enc enc, spw_buf *out);
/* Where a URL's path starts (after scheme://authority), or (size_t)-1 when not absolute http(s). */
size_t hs_url_path_start(const char *url);

/* ---------------------------------------------------------------------- */
/* sigv4.c: AWS Signature Version 4                                        */
/* ---------------------------------------------------------------------- */

typedef struct hs_sig_hdr {
    const char *name;  /* any case */
    const char *value; /* trimmed and space-collapsed when canonicalised */
} hs_sig_hdr;

typedef struct hs_sigv4_req {
    const char *method;
    const char *path; /* the request path as sent, without the query */
    size_t path_len;
    const char *query; /* without '?', may be NULL */
    size_t query_len;
    const hs_sig_hdr *headers; /* every header to sign, host and x-amz-date included */
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *amz_date; /* YYYYMMDDTHHMMSSZ */
} hs_sigv4_req;

typedef struct hs_sigv4 {
    char region[64];
    char service[64];
    const char *secret;  /* borrowed */
    char key_date[9];    /* date the cached signing key is for */
    uint8_t key[32];
    spw_buf creq, sts;   /* scratch: the last canonical request and string to sign */
} hs_sigv4;

/* Formats unix seconds as YYYYMMDDTHHMMSSZ (out: 17 bytes). */
void hs_amz_date(int64_t unix_s, char out[17]);
/* Signs req; on success `auth` holds the Authorization header value (appended). */
spw_result hs_sigv4_sign(hs_sigv4 *sg, const char *access_key_id, const hs_sigv4_req *req,
                         spw_buf *auth);
void hs_sigv4_free(hs_sigv4 *sg);

/* ---------------------------------------------------------------------- */
/* gzip.c                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct hs_gzip {
    z_stream zs;
    bool ready;
} hs_gzip;

spw_result hs_gzip_init(hs_gzip *g, int level);
/* Replaces out's content with the gzip encoding of p[0..n). */
spw_result hs_gzip_compress(hs_gzip *g, const uint8_t *p, size_t n, spw_buf *out);
void hs_gzip_free(hs_gzip *g);

/* ---------------------------------------------------------------------- */
/* auth.c: AWS credentials                                                 */
/* ---------------------------------------------------------------------- */

typedef struct hs_aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL when none */
    char source[96];     /* where they came from, for the log (never the values) */
} hs_aws_creds;

/* From options, else the environment, else the shared credentials file. */
spw_result hs_aws_creds_load(const struct hs_conf *cf, hs_aws_creds *c, spw_err *err);
void hs_aws_creds_free(hs_aws_creds *c);

/* ---------------------------------------------------------------------- */
/* The instance                                                            */
/* ---------------------------------------------------------------------- */

struct hs_sink;
struct hs_req;
typedef struct hs_h2conn hs_h2conn;

typedef struct hs_endpoint {
    struct hs_sink *s;
    unsigned idx;
    hs_tpl url;          /* the URL (a template when it has variables) */
    char *base;          /* scheme://authority, for health checks and logs */
    char *host;          /* Host header value, for SigV4 */
    bool healthy;
    unsigned failures;   /* consecutive */
    unsigned probe_ok;   /* consecutive successful health checks */
    spw_timer *timer;    /* cool-down or health-check interval while out */
    struct hs_req *probe;
    bool probing;
    /* nghttp2 engine (h2.c) */
    bool h2_use;         /* its requests go through nghttp2 (else libcurl) */
    bool https;          /* TLS (for the native engines) */
    char *tls_name;      /* the URL's host: TLS name check and SNI */
    char *dial_host;     /* where the native engines connect (after connect_to) */
    uint16_t dial_port;
    hs_h2conn *h2conns;  /* open connections */
    unsigned h2_nconns;
    struct hs_req *h2q_head, *h2q_tail; /* requests waiting for room on a connection */
} hs_endpoint;

/* Per-request header slots beyond the templated ones: content type, encoding, host, date,
 * token, authorization, spare. */
#define HS_DYN_FIXED 8

/* One request in progress (or idle in the pool). */
typedef struct hs_req {
    struct hs_sink *s;
    CURL *easy;
    spw_batch *batch;       /* NULL for a health check */
    hs_endpoint *ep;
    uint64_t started_ms;
    size_t body_len;
    spw_buf url;
    spw_buf resp;           /* response body, at most response_max bytes */
    spw_buf gz;             /* the compressed body */
    spw_buf hdr;            /* storage for this request's own headers, NUL-separated */
    struct curl_slist *dyn; /* nodes of this request's own headers, chained to the static list */
    size_t n_dyn, cap_dyn;
    char errbuf[CURL_ERROR_SIZE];
    struct hs_req *next;    /* free list */
    bool busy;
    bool is_probe;          /* a health check: GET, no auth */
    /* nghttp2 engine (h2.c); easy is NULL there */
    const uint8_t *body;    /* what is sent (the batch body or gz) */
    size_t body_off;        /* how much of it nghttp2 has taken */
    hs_h2conn *conn;        /* carrying it; NULL while waiting or idle */
    int32_t stream_id;
    bool queued;            /* waiting in its endpoint's queue */
    long status;            /* final status once the response headers arrived */
    uint64_t deadline_ms;   /* uv_now clock */
    uint64_t timeout_ms;
    char retry_after[64];
    char clen[24];          /* content-length value */
    struct hs_req *qprev, *qnext; /* its connection's list or its endpoint's queue */
} hs_req;

/* One socket curl asked us to watch. */
typedef struct hs_sock {
    uv_poll_t poll;
    struct hs_sink *s;
    curl_socket_t fd;
    struct hs_sock *prev, *next;
} hs_sock;

typedef struct hs_sink {
    spw_stage *st;
    const struct hs_conf *cf;
    uv_loop_t *loop;

    /* multi.c */
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t kick;        /* curl asked for a timeout of 0: run it next loop turn */
    hs_sock *socks;        /* every socket being watched */
    unsigned open_handles; /* libuv handles not yet closed: the instance is freed at 0 */
    bool closing;

    /* request.c */
    hs_req **reqs;         /* every request object, for destroy */
    size_t n_reqs, cap_reqs;
    hs_req *free_reqs;
    unsigned busy;
    struct curl_slist *static_hdrs;
    struct curl_slist *connect_to;
    hs_tpl *hdr_tpls;      /* headers with variables */
    size_t n_hdr_tpls;
    hs_codes success, retry;
    hs_gzip gz;
    const char *method_name;
    bool templated;        /* some URL or header has variables */

    /* auth */
    hs_aws_creds aws;
    hs_sigv4 sig;
    spw_buf sig_auth;

    /* endpoints.c */
    hs_endpoint *eps;
    size_t n_eps;
    size_t rr;

    /* h2.c: the nghttp2 engine, when this instance uses it */
    bool h2;
    struct hs_h2 *h2s;

    /* logging */
    uint64_t last_warn_ms;
    uint64_t warn_suppressed;
    bool batch_tpl_warned;

    spw_counter *c_requests, *c_2xx, *c_3xx, *c_4xx, *c_5xx, *c_transport, *c_retry, *c_reject,
        *c_bytes, *c_ep_down, *c_ep_up, *c_probes;
} hs_sink;

/* plugin.c */
void hs_warn(hs_sink *s, const char *fmt, ...) SPW_PRINTF(2, 3);

/* multi.c */
spw_result hs_multi_init(hs_sink *s, spw_err *err);
spw_result hs_multi_add(hs_sink *s, hs_req *r);
/* Removes every easy handle's transfer and closes the loop handles (destroy). */
void hs_multi_close(hs_sink *s);
/* A loop handle of the instance was closed; the last one frees the instance. */
void hs_handle_closed(hs_sink *s);

/* request.c */
spw_result hs_requests_init(hs_sink *s, spw_err *err);
hs_req *hs_req_get(hs_sink *s);
/* Applies the options shared by every request (TLS, protocol, timeouts) to a new easy handle. */
spw_result hs_easy_setup(hs_sink *s, hs_req *r, spw_err *err);
/* easy: with a libcurl handle (every request of the libcurl engine, and health checks). */
hs_req *hs_req_new(hs_sink *s, bool easy, spw_err *err);
/* True when this libcurl cannot reuse h2c prior-knowledge connections (before 8.0.0). */
bool hs_h2c_reuse_broken(void);
spw_result hs_send(hs_sink *s, spw_batch *b, spw_err *err);
/* A transfer finished (called from multi.c with the request already removed from the multi). */
void hs_req_finished(hs_sink *s, hs_req *r, CURLcode cc);
/*
 * A delivery request ended, whatever the engine: cc is a CURLcode (CURLE_OK
 * when an HTTP answer arrived), status its status, retry_after the value of
 * its Retry-After header or NULL. Classifies, counts, reports the endpoint's
 * health, releases r and gives the batch back.
 */
void hs_req_complete(hs_sink *s, hs_req *r, int cc, long status, const char *retry_after);
void hs_requests_abort(hs_sink *s);
void hs_requests_free(hs_sink *s);

/* endpoints.c */
spw_result hs_endpoints_init(hs_sink *s, spw_err *err);
hs_endpoint *hs_endpoint_pick(hs_sink *s);
void hs_endpoint_report(hs_endpoint *ep, bool failed, const char *why);
void hs_probe_finished(hs_endpoint *ep, CURLcode cc, long status);
void hs_endpoints_free(hs_sink *s);

/* h2.c: HTTP/2 over nghttp2 (h2c, and h2 over TLS) */
/* True when this instance's configuration is served by the nghttp2 engine. */
bool hs_h2_selected(const struct hs_conf *cf);
spw_result hs_h2_init(hs_sink *s, spw_err *err);
/* Sends r (URL, headers and body prepared by hs_send) within timeout_ms. */
spw_result hs_h2_submit(hs_sink *s, hs_req *r, uint64_t timeout_ms);
/* Detaches every request (they stay busy, for hs_requests_abort) and closes the connections. */
void hs_h2_close(hs_sink *s);

/* addr.c: host and port of a base URL (scheme://[userinfo@]host[:port]; host owned by caller). */
spw_result hs_addr_parse(const char *base, char **host, uint16_t *port);
/* Applies one connect_to item (HOST:PORT:CONNECT-HOST:CONNECT-PORT) to ep->dial_host/dial_port. */
void hs_addr_connect_to(const char *item, hs_endpoint *ep);

/* request.c: hands r, prepared for the nghttp2 engine, to libcurl instead (ALPN chose HTTP/1.1). */
void hs_req_to_curl(hs_sink *s, hs_req *r);

/* tls.c: client TLS for the nghttp2 engine (OpenSSL over memory BIOs) */
typedef struct hs_tls hs_tls;
enum { HS_TLS_OK = 0, HS_TLS_ERROR = -1, HS_TLS_CLOSED = -2 };
/* An SSL_CTX configured from the tls_* options (ALPN h2, http/1.1). */
spw_result hs_tls_ctx_new(const struct hs_conf *cf, void **ctx, spw_err *err);
void hs_tls_ctx_free(void *ctx);
/* A client session for host (checked and sent as SNI unless an IP address); NULL: no memory. */
hs_tls *hs_tls_new(void *ctx, const char *host, bool verify);
void hs_tls_free(hs_tls *t);
/* Starts the handshake: the ClientHello is appended to out. */
int hs_tls_start(hs_tls *t, spw_buf *out, char *why, size_t wn);
/* Feeds ciphertext p[0..n): plaintext is appended to plain, bytes to send to out. */
int hs_tls_recv(hs_tls *t, const uint8_t *p, size_t n, spw_buf *plain, spw_buf *out, char *why,
                size_t wn);
/* Encrypts p[0..n) into out. */
int hs_tls_send(hs_tls *t, const uint8_t *p, size_t n, spw_buf *out, char *why, size_t wn);
bool hs_tls_ready(const hs_tls *t);
/* True when ALPN chose h2. */
bool hs_tls_h2(const hs_tls *t);

#endif /* SPW_SINK_HTTP_H */
