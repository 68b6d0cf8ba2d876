/*
 * plugins/sink-http/http.h: what the files of the `http` sink share.
 *
 * The sink is one libcurl multi handle per instance (per worker), driven by
 * the worker's libuv loop (multi.c), a pool of reusable easy handles, one
 * per request in progress (request.c), a list of endpoints with health
 * state (endpoints.c), two native engines on the same loop that take over
 * from libcurl where they apply (HTTP/2 in h2.c, HTTP/1.1 in h1.c, both
 * connecting through dial.c and tls.c), and helpers with no libcurl state
 * at all, which the unit tests link on their own: status classification
 * (classify.c), URL and header templates (template.c), the AWS SigV4
 * signer (sigv4.c), gzip (gzip.c), credentials (auth.c) and the HTTP/1.1
 * response parser (h1parse.c).
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

/* The value of hex digit c, or -1. */
static inline int hs_hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII letters to lowercase */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

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
/* h1parse.c: HTTP/1.1 responses, incrementally (pure: no libuv, no curl)  */
/* ---------------------------------------------------------------------- */

/* Longest header section of a response (status line included), and trailer section. */
#define HS_H1_HEAD_MAX (64u << 10)
/* Longest chunk-size line (extensions included). */
#define HS_H1_LINE_MAX 4096u

/* What hs_h1parse_feed and hs_h1parse_eof say. */
enum { HS_H1_MORE = 0, HS_H1_DONE = 1, HS_H1_BAD = -1 };

typedef struct hs_h1parse {
    /* The final response, once its head is parsed (1xx answers are skipped). */
    int status;
    bool http10;
    bool keep_alive;       /* the connection may carry the next request (when DONE) */
    bool until_close;      /* the body ends with the connection */
    unsigned interim;      /* 1xx answers skipped */
    char retry_after[64];  /* Retry-After, trimmed ("" when absent; longer values cut) */
    char why[96];          /* what was wrong, after HS_H1_BAD */
    /* Framing state. */
    int state;
    uint64_t left;         /* body bytes left: Content-Length, or of the current chunk */
    uint64_t clen;
    size_t count;          /* bytes of the current chunk-size line, or of the trailers */
    bool digits, colon;
    bool has_clen, has_te, te_chunked, conn_close, conn_keep;
    spw_buf carry;         /* a header section split over reads (at most HS_H1_HEAD_MAX) */
    size_t scan;           /* where the search for its end resumes */
} hs_h1parse;

/* Readies p (zeroed, or used before) for the response to the next request. */
void hs_h1parse_begin(hs_h1parse *p);
/*
 * Parses b[0..n). *used: the bytes taken, which stop at the end of the
 * response (DONE; anything after it belongs to no request). Body bytes go
 * to body (may be NULL) while it holds fewer than body_max; the rest is
 * dropped. MORE: all of b was taken, the response goes on. BAD: malformed
 * (p->why says how); the connection cannot be trusted any more.
 */
int hs_h1parse_feed(hs_h1parse *p, const uint8_t *b, size_t n, size_t *used, spw_buf *body,
                    size_t body_max);
/* The connection ended: DONE when that ends a body read until close, else BAD. */
int hs_h1parse_eof(hs_h1parse *p);
void hs_h1parse_free(hs_h1parse *p);

/* ---------------------------------------------------------------------- */
/* The instance                                                            */
/* ---------------------------------------------------------------------- */

struct hs_sink;
struct hs_req;
typedef struct hs_h2conn hs_h2conn;
typedef struct hs_h1conn hs_h1conn;
typedef struct hs_dial hs_dial;

/* Requests in order, linked through their qprev/qnext (a request is on one list at a time). */
typedef struct hs_reqq {
    struct hs_req *head, *tail;
} hs_reqq;

/* One native engine's connections to an endpoint (each starts with its hs_dial). */
typedef struct hs_conns {
    hs_dial *head;
    unsigned n;
} hs_conns;

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
    /* the native engines (addr.c) */
    bool https;          /* TLS */
    char *tls_name;      /* the URL's host: TLS name check and SNI */
    char *dial_host;     /* where the native engines connect (after connect_to) */
    uint16_t dial_port;
    /* nghttp2 engine (h2.c) */
    bool h2_use;         /* its requests go through nghttp2 */
    hs_conns h2conns;    /* open connections */
    uint32_t h2_peer_streams; /* the server's last SETTINGS_MAX_CONCURRENT_STREAMS (0: none yet) */
    hs_reqq h2q;         /* requests waiting for room on a connection */
    /* HTTP/1.1 engine (h1.c) */
    bool h1_use;         /* its requests go through h1.c (unless h2_use) */
    hs_conns h1conns;    /* open connections */
    hs_h1conn *h1idle;   /* those without a request, most recently used first */
    hs_reqq h1q;         /* requests waiting for a connection (max_connections) */
} hs_endpoint;

/* A native engine's request ran out of time: the engine takes it off its connection or queue and
 * ends it (hs_req_end) with CURLE_OPERATION_TIMEDOUT and why. */
typedef void (*hs_expire_fn)(struct hs_req *r, const char *why);

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
    bool spare_endpoint;    /* its failure says nothing about the endpoint (a refused stream) */
    /* nghttp2 engine (h2.c); easy is NULL there */
    const uint8_t *body;    /* what is sent (the batch body or gz) */
    size_t body_off;        /* how much of it nghttp2 has taken */
    hs_h2conn *conn;        /* carrying it; NULL while waiting or idle */
    int32_t stream_id;
    bool queued;            /* waiting in its endpoint's queue */
    long status;            /* final status once the response headers arrived */
    uint64_t deadline_ms;   /* uv_now clock */
    uint64_t timeout_ms;
    hs_expire_fn expire;    /* set while a native engine has it (hs_req_take) */
    char retry_after[64];
    uint32_t h2_hdr_bytes;  /* response header bytes so far (bounded by H2_MAX_HEADERS) */
    char clen[24];          /* content-length value */
    struct hs_req *qprev, *qnext; /* its connection's list or its endpoint's queue */
    /* HTTP/1.1 engine (h1.c) */
    hs_h1conn *h1c;         /* carrying it; NULL while waiting or idle */
    bool h1_queued;         /* waiting in its endpoint's h1 queue */
    bool h1_resent;         /* already resent once after a reused connection died */
    spw_buf head;           /* the request line and headers as sent */
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
    /* h1.c: the HTTP/1.1 engine, when this instance uses it */
    bool h1;
    struct hs_h1 *h1s;
    /* shared by the native engines */
    void *tls_ctx;         /* SSL_CTX, when some endpoint is https */
    uv_timer_t deadlines;  /* request deadlines (request.c), when a native engine is on */
    uint64_t deadline_at;  /* when it fires, 0: stopped */
    bool deadlines_on;     /* initialised */

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
/* hs_req_complete for a native engine's request: status and Retry-After from r, why (may be
 * NULL) as the error text. */
void hs_req_end(hs_req *r, int cc, const char *why);
/* The native engines' request FIFOs. */
void hs_reqq_push(hs_reqq *q, hs_req *r, bool front);
void hs_reqq_remove(hs_reqq *q, hs_req *r);
/* The native engines' request deadlines: one timer per instance, armed to the earliest. */
void hs_deadlines_init(hs_sink *s);
/* A native engine takes r: no answer yet (status and Retry-After cleared), and its deadline is
 * timeout_ms from now, after which expire(r, why) runs. */
void hs_req_take(hs_sink *s, hs_req *r, uint64_t timeout_ms, hs_expire_fn expire);
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

/* h1.c: HTTP/1.1 on connections of its own (http:// and https://) */
/* True when this instance's configuration has the HTTP/1.1 engine (engine native, no proxy). */
bool hs_h1_selected(const struct hs_conf *cf);
spw_result hs_h1_init(hs_sink *s, spw_err *err);
/* Sends r (URL, headers and body prepared by hs_send) within timeout_ms. */
spw_result hs_h1_submit(hs_sink *s, hs_req *r, uint64_t timeout_ms);
/* Takes r over from the nghttp2 engine (ALPN chose HTTP/1.1), within its deadline. */
void hs_h1_take(hs_sink *s, hs_req *r);
/* Detaches every request (they stay busy, for hs_requests_abort) and closes the connections. */
void hs_h1_close(hs_sink *s);

/* addr.c: host and port of a base URL (scheme://[userinfo@]host[:port]; host owned by caller). */
spw_result hs_addr_parse(const char *base, char **host, uint16_t *port);
/* Applies one connect_to item (HOST:PORT:CONNECT-HOST:CONNECT-PORT) to ep->dial_host/dial_port. */
void hs_addr_connect_to(const char *item, hs_endpoint *ep);
/* Fills every endpoint's https, tls_name, dial_host and dial_port (freed by hs_endpoints_free),
 * and s->tls_ctx when some endpoint is https. */
spw_result hs_addr_init(hs_sink *s, spw_err *err);

/* request.c: the headers every delivery request of a native engine carries, in order: User-Agent
 * (unless `headers` has one), the `headers` without variables (value trimmed, empty ones
 * skipped), and basic, bearer or header auth. fn copies what it keeps; names are as configured. */
typedef spw_result (*hs_hdr_fn)(void *arg, const char *name, size_t nl, const char *value,
                                size_t vl);
spw_result hs_fixed_headers(const struct hs_conf *cf, hs_hdr_fn fn, void *arg);

/* tls.c: client TLS for the native engines (OpenSSL over memory BIOs) */
typedef struct hs_tls hs_tls;
enum { HS_TLS_OK = 0, HS_TLS_ERROR = -1, HS_TLS_CLOSED = -2 };
/* ALPN offers (wire format) for hs_tls_new. */
#define HS_ALPN_H2 "\x02h2\x08http/1.1"
#define HS_ALPN_H1 "\x08http/1.1"
/* An SSL_CTX configured from the tls_* options. */
spw_result hs_tls_ctx_new(const struct hs_conf *cf, void **ctx, spw_err *err);
void hs_tls_ctx_free(void *ctx);
/* A client session for host (checked and sent as SNI unless an IP address) offering alpn;
 * NULL: no memory. */
hs_tls *hs_tls_new(void *ctx, const char *host, bool verify, const char *alpn);
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

/* dial.c: a connection of the native engines, up to an open byte stream */
enum hs_dial_state { HS_DIAL_RESOLVING, HS_DIAL_CONNECTING, HS_DIAL_HANDSHAKE, HS_DIAL_OPEN,
                     HS_DIAL_CLOSED };
typedef struct hs_dial_ops {
    /* Connected, TLS established: the engine may write. */
    void (*open)(hs_dial *d);
    /* Plaintext arrived. */
    void (*input)(hs_dial *d, const uint8_t *p, size_t n);
    /* The connection could not be made, or broke: cc is a CURLcode, uv_err libuv's error
     * (UV_EOF: the server closed it, TLS close_notify included) or 0. The engine closes d. */
    void (*error)(hs_dial *d, int cc, int uv_err, const char *why);
    /* d->out holds bytes to send (a TLS handshake flight, or TLS's answer to input). */
    void (*flush)(hs_dial *d);
    /* The write hs_dial_send left pending completed (status 0) or failed. */
    void (*written)(hs_dial *d, int status);
    /* Every handle is closed: the engine frees the connection d is part of. */
    void (*released)(hs_dial *d);
} hs_dial_ops;
/* Scratch an engine lends its connections' reads (one loop: reads never overlap). */
typedef struct hs_dial_scratch {
    spw_buf plain; /* decrypted input */
    uint8_t rbuf[64u << 10];
} hs_dial_scratch;
struct hs_dial {
    hs_sink *s;
    hs_endpoint *ep;
    const hs_dial_ops *ops;
    hs_dial_scratch *scr;
    const char *alpn;       /* what TLS offers */
    hs_conns *on;           /* the list it is on until closed */
    hs_dial *prev, *next;
    enum hs_dial_state state;
    uv_tcp_t tcp;           /* its data points at the dial */
    uv_timer_t timer;       /* connect_timeout, TLS handshake included */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    unsigned refs;          /* closed handles and pending lookups still owed */
    hs_tls *tls;            /* https only */
    spw_buf out;            /* bytes for hs_dial_send */
    spw_buf wbuf;           /* what its pending uv_write holds */
    uv_write_t wreq;
    bool writing;
    int fail_cc;            /* why it failed (a CURLcode), for a request placed on it at once */
    char why[320];          /* room for any reason dial.c gives */
};
/* Puts d (zeroed) on the list `on` and starts connecting it to ep, with TLS offering alpn when
 * ep->https. Failures go to ops->error, those found at once before this returns. */
void hs_dial_start(hs_dial *d, hs_sink *s, hs_endpoint *ep, hs_conns *on, const char *alpn,
                   const hs_dial_ops *ops, hs_dial_scratch *scr);
/* Hands d->out to the socket: what uv_try_write does not take goes in one uv_write (then
 * ops->written). 0, or a libuv error. */
int hs_dial_send(hs_dial *d);
/* Takes d off its list and closes it; ops->released follows once every handle is closed. */
void hs_dial_close(hs_dial *d);

#endif /* SPW_SINK_HTTP_H */
