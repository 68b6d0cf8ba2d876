/*
 * core/http/http-private.h: what the files of the HTTP client service
 * (sdk/spillway/http.h) share inside libspillway.
 *
 * A client (struct spw_http) is one libcurl multi handle per stage
 * instance, driven by the worker's libuv loop (multi.c), a pool of
 * reusable request objects (client.c), a list of endpoints with health
 * state (endpoints.c), two native engines on the same loop that take over
 * from libcurl where they apply (HTTP/2 in h2.c, HTTP/1.1 in h1.c, both
 * connecting through dial.c, with the SDK's TLS), and helpers with no loop state at
 * all, which the unit tests link on their own: the AWS SigV4 signer
 * (sigv4.c), gzip (gzip.c), the AWS credential chain's parsers and its
 * resolution (aws-parse.c, auth.c) and the HTTP/1.1 response parser
 * (h1parse.c). AWS credentials are shared and refreshed process-wide
 * (aws-provider.c, aws-fetch.c; aws-private.h). The option group is in
 * options.c.
 *
 * Internally a transfer's failure is a CURLcode, whatever the engine
 * (the native engines speak in the same terms); client.c maps it to the
 * public spw_http_error once, when the request ends.
 */
#ifndef SPW_CORE_HTTP_PRIVATE_H
#define SPW_CORE_HTTP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <uv.h>
#include <zlib.h>
#include <spillway/spillway.h>
#include <spillway/http.h>
#include <spillway/tls.h>

/* The value of hex digit c, or -1. */
static inline int spw__http_hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII letters to lowercase */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---------------------------------------------------------------------- */
/* Configuration (the option group in options.c)                          */
/* ---------------------------------------------------------------------- */

/* `protocol` choices, in table order: the last two are the vendor's names. */
enum spw__http_protocol { SPW__HTTP_PROTO_HTTP2 = 0, SPW__HTTP_PROTO_HTTP11, SPW__HTTP_PROTO_H2C, SPW__HTTP_PROTO_V_HTTP2, SPW__HTTP_PROTO_V_HTTP11 };
enum spw__http_auth { SPW__HTTP_AUTH_NONE = 0, SPW__HTTP_AUTH_BASIC, SPW__HTTP_AUTH_BEARER, SPW__HTTP_AUTH_HEADER, SPW__HTTP_AUTH_SIGV4 };
enum spw__http_compression { SPW__HTTP_COMP_NONE = 0, SPW__HTTP_COMP_GZIP };
enum spw__http_tls_version { SPW__HTTP_TLS_12 = 0, SPW__HTTP_TLS_13, SPW__HTTP_TLS_10, SPW__HTTP_TLS_11 };
enum spw__http_engine { SPW__HTTP_ENGINE_NATIVE = 0, SPW__HTTP_ENGINE_LIBCURL };

struct spw_http_conf {
    char *url;
    spw_strlist urls;
    int protocol;
    int engine;
    char *user_agent;

    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t connection_ttl_ms;
    int64_t max_connections;
    int64_t max_streams;
    spw_strlist connect_to;
    char *proxy;

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
    char *aws_config_file;

    char *tls_ca_file;
    char *tls_ca_path;
    char *tls_cert;
    char *tls_key;
    char *tls_key_password;
    bool tls_verify;
    int tls_min_version;
};

/* Status codes an HTTP/1.1 status line may carry. */
#define SPW__HTTP_STATUS_MIN 100
#define SPW__HTTP_STATUS_MAX 599

/* The option group's table (options.c) and its cross-option checks. */
extern const spw_option spw__http_options[];
spw_result spw__http_conf_check(const struct spw_http_conf *cf, unsigned flags, spw_err *err);
/* spw_http_retry_after with the time given (retry-after.c). */
bool spw__http_retry_after_at(const char *value, int64_t now_unix_s, uint64_t *ms);
/* True when p[0..n) is a non-empty RFC 9110 token (a method, a header name): client.c. */
bool spw__http_is_token(const char *p, size_t n);
/* Where a URL's path starts (after scheme://authority), or (size_t)-1 when not absolute http(s). */
size_t spw__http_url_path_start(const char *url);

/* ---------------------------------------------------------------------- */
/* sigv4.c: AWS Signature Version 4                                        */
/* ---------------------------------------------------------------------- */

typedef struct spw__http_sig_hdr {
    const char *name;  /* any case */
    const char *value; /* trimmed and space-collapsed when canonicalised */
} spw__http_sig_hdr;

typedef struct spw__http_sigv4_req {
    const char *method;
    const char *path; /* the request path as sent, without the query */
    size_t path_len;
    const char *query; /* without '?', may be NULL */
    size_t query_len;
    const spw__http_sig_hdr *headers; /* every header to sign, host and x-amz-date included */
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *amz_date; /* YYYYMMDDTHHMMSSZ */
} spw__http_sigv4_req;

typedef struct spw__http_sigv4 {
    char region[64];
    char service[64];
    const char *secret;  /* borrowed */
    char key_date[9];    /* date the cached signing key is for */
    uint8_t key[32];
    spw_buf creq, sts;   /* scratch: the last canonical request and string to sign */
} spw__http_sigv4;

/* Formats unix seconds as YYYYMMDDTHHMMSSZ (out: 17 bytes). */
void spw__http_amz_date(int64_t unix_s, char out[17]);
/* Signs req; on success `auth` holds the Authorization header value (appended). */
spw_result spw__http_sigv4_sign(spw__http_sigv4 *sg, const char *access_key_id, const spw__http_sigv4_req *req,
                         spw_buf *auth);
void spw__http_sigv4_free(spw__http_sigv4 *sg);

/* ---------------------------------------------------------------------- */
/* gzip.c                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct spw__http_gzip {
    z_stream zs;
    bool ready;
} spw__http_gzip;

spw_result spw__http_gzip_init(spw__http_gzip *g, int level);
/* Replaces out's content with the gzip encoding of p[0..n). */
spw_result spw__http_gzip_compress(spw__http_gzip *g, const uint8_t *p, size_t n, spw_buf *out);
void spw__http_gzip_free(spw__http_gzip *g);

/* ---------------------------------------------------------------------- */
/* auth.c, aws-*.c: AWS credentials (aws-private.h has the rest)           */
/* ---------------------------------------------------------------------- */

struct spw__http_aws;
struct spw__http_req;

/* Resolves the credential chain for the client and joins (or makes) its provider. */
spw_result spw__http_aws_new(struct spw_http *s, spw_err *err);
/* The client is whole: a remote source's first fetch starts (once per process). */
void spw__http_aws_start(struct spw_http *s);
/* What a request to sign may do now. */
enum { SPW__AWS_READY = 0, SPW__AWS_WAIT = 1, SPW__AWS_FAIL = -1 };
/* READY: sign with spw__http_aws_key_id/token now. WAIT: r waits for credentials, at most tmo ms
 * (then spw__http_req_resume or spw__http_req_auth_fail). FAIL: why says why (never a secret). */
int spw__http_aws_gate(struct spw_http *s, struct spw__http_req *r, uint64_t tmo, char *why,
                       size_t wn);
/* The credentials the client signs with (after READY; borrowed until its next gate). */
const char *spw__http_aws_key_id(const struct spw_http *s);
const char *spw__http_aws_token(const struct spw_http *s); /* NULL: none */
/* Teardown: first forget the waiting requests (the teardown cancels them), then close. */
void spw__http_aws_drop_waiters(struct spw_http *s);
void spw__http_aws_close(struct spw_http *s);

/* ---------------------------------------------------------------------- */
/* h1parse.c: HTTP/1.1 responses, incrementally (pure: no libuv, no curl)  */
/* ---------------------------------------------------------------------- */

/* Longest header section of a response (status line included), and trailer section. */
#define SPW__HTTP_H1_HEAD_MAX (64u << 10)
/* Longest chunk-size line (extensions included). */
#define SPW__HTTP_H1_LINE_MAX 4096u

/* What spw__http_h1parse_feed and spw__http_h1parse_eof say. */
enum { SPW__HTTP_H1_MORE = 0, SPW__HTTP_H1_DONE = 1, SPW__HTTP_H1_BAD = -1 };

typedef struct spw__http_h1parse {
    /* The final response, once its head is parsed (1xx answers are skipped). */
    int status;
    bool http10;
    bool keep_alive;       /* the connection may carry the next request (when DONE) */
    bool until_close;      /* the body ends with the connection */
    unsigned interim;      /* 1xx answers skipped */
    char retry_after[64];  /* Retry-After, trimmed ("" when absent; longer values cut) */
    char why[96];          /* what was wrong, after SPW__HTTP_H1_BAD */
    /* Framing state. */
    int state;
    uint64_t left;         /* body bytes left: Content-Length, or of the current chunk */
    uint64_t clen;
    size_t count;          /* bytes of the current chunk-size line, or of the trailers */
    bool digits, colon;
    bool has_clen, has_te, te_chunked, conn_close, conn_keep;
    spw_buf carry;         /* a header section split over reads (at most SPW__HTTP_H1_HEAD_MAX) */
    spw_buf *headers;      /* when set: the final response's fields, "name\0value\0" each */
    uint64_t body_total;   /* body bytes seen, kept or not */
    size_t scan;           /* where the search for its end resumes */
} spw__http_h1parse;

/* Readies p (zeroed, or used before) for the response to the next request. */
void spw__http_h1parse_begin(spw__http_h1parse *p);
/*
 * Parses b[0..n). *used: the bytes taken, which stop at the end of the
 * response (DONE; anything after it belongs to no request). Body bytes go
 * to body (may be NULL) while it holds fewer than body_max; the rest is
 * dropped. MORE: all of b was taken, the response goes on. BAD: malformed
 * (p->why says how); the connection cannot be trusted any more.
 */
int spw__http_h1parse_feed(spw__http_h1parse *p, const uint8_t *b, size_t n, size_t *used, spw_buf *body,
                    size_t body_max);
/* The connection ended: DONE when that ends a body read until close, else BAD. */
int spw__http_h1parse_eof(spw__http_h1parse *p);
void spw__http_h1parse_free(spw__http_h1parse *p);

/* ---------------------------------------------------------------------- */
/* The instance                                                            */
/* ---------------------------------------------------------------------- */

struct spw_http;
struct spw__http_req;
typedef struct spw__http_h2conn spw__http_h2conn;
typedef struct spw__http_h1conn spw__http_h1conn;
typedef struct spw__http_dial spw__http_dial;

/* Requests in order, linked through their qprev/qnext (a request is on one list at a time). */
typedef struct spw__http_reqq {
    struct spw__http_req *head, *tail;
} spw__http_reqq;

/* One native engine's connections to an endpoint (each starts with its spw__http_dial). */
typedef struct spw__http_conns {
    spw__http_dial *head;
    unsigned n;
} spw__http_conns;

typedef struct spw__http_endpoint {
    struct spw_http *s;
    unsigned idx;
    char *url;           /* as configured */
    char *base;          /* scheme://authority, for health checks and logs */
    char *path;          /* the URL's path without its query and trailing '/' ("" for none) */
    char *host;          /* Host header value (no userinfo, no default port) */
    char *probe_url;     /* base + health_check_path, when health checks are on */
    bool healthy;
    unsigned failures;   /* consecutive */
    unsigned probe_ok;   /* consecutive successful health checks */
    spw_timer *timer;    /* cool-down or health-check interval while out */
    bool probing;        /* a health check is under way */
    /* the native engines (addr.c) */
    bool https;          /* TLS */
    char *tls_name;      /* the URL's host: TLS name check and SNI */
    char *dial_host;     /* where the native engines connect (after connect_to) */
    uint16_t dial_port;
    /* nghttp2 engine (h2.c) */
    bool h2_use;         /* its requests go through nghttp2 */
    spw__http_conns h2conns;    /* open connections */
    uint32_t h2_peer_streams; /* the server's last SETTINGS_MAX_CONCURRENT_STREAMS (0: none yet) */
    spw__http_reqq h2q;         /* requests waiting for room on a connection */
    /* HTTP/1.1 engine (h1.c) */
    bool h1_use;         /* its requests go through h1.c (unless h2_use) */
    spw__http_conns h1conns;    /* open connections */
    spw__http_h1conn *h1idle;   /* those without a request, most recently used first */
    spw__http_reqq h1q;         /* requests waiting for a connection (max_connections) */
} spw__http_endpoint;

/* A native engine's request ran out of time: the engine takes it off its connection or queue and
 * ends it (spw__http_req_end) with CURLE_OPERATION_TIMEDOUT and why. */
typedef void (*spw__http_expire_fn)(struct spw__http_req *r, const char *why);

/* One request in progress (or idle in the pool). */
typedef struct spw__http_req {
    struct spw_http *s;
    CURL *easy;             /* the libcurl engine's handle, made on first use */
    spw_http_done_fn done;  /* NULL while idle */
    void *arg;
    spw__http_endpoint *ep; /* NULL: an absolute URL on another origin (libcurl) */
    const char *method;     /* a constant, or meth */
    char meth[32];
    const char *host;       /* Host / :authority: ep->host, or the caller's Host header */
    unsigned flags;         /* SPW_HTTP_* */
    size_t response_max;
    uint64_t started_ms;
    size_t body_len;
    bool gzipped;
    spw_buf url;            /* the whole URL, NUL-terminated */
    spw_buf resp;           /* response body, at most response_max bytes */
    uint64_t resp_total;    /* response body bytes seen */
    spw_buf rhdr;           /* response headers of the final answer, "name\0value\0" each */
    spw_http_header *hv;    /* rhdr split, for the response */
    size_t cap_hv;
    bool ep_native;         /* a native engine carried it: the status is r->status */
    bool probe;             /* a health check: counted as one, not as a request */
    char origin[256];       /* scheme://authority of a URL on no endpoint, for the response */
    spw_buf gz;             /* the compressed body */
    spw_buf hdr;            /* this request's headers, "Name: value\0" each (auth among them) */
    struct curl_slist *dyn; /* libcurl's view of them: nodes pointing into hdr */
    size_t n_dyn, cap_dyn;
    size_t host_dyn;        /* which of them is the caller's Host, or (size_t)-1 */
    char errbuf[CURL_ERROR_SIZE];
    struct spw__http_req *next; /* free list, or the list of requests ending next loop turn */
    bool busy;
    int end_cc;             /* ended inside spw_http_send: reported on the next loop turn */
    bool spare_endpoint;    /* its failure says nothing about the endpoint (a refused stream) */
    bool cut_short;         /* the caller gave less time than `timeout` (an event deadline near) */
    /* nghttp2 engine (h2.c) */
    const uint8_t *body;    /* what is sent (the caller's body or gz) */
    size_t body_off;        /* how much of it nghttp2 has taken */
    spw__http_h2conn *conn; /* carrying it; NULL while waiting or idle */
    int32_t stream_id;
    bool queued;            /* waiting in its endpoint's queue */
    long status;            /* final status once the response headers arrived */
    uint64_t deadline_ms;   /* uv_now clock */
    uint64_t timeout_ms;
    spw__http_expire_fn expire; /* set while a native engine has it (spw__http_req_take) */
    uint32_t h2_hdr_bytes;  /* response header bytes so far (bounded by H2_MAX_HEADERS) */
    char clen[24];          /* content-length value */
    struct spw__http_req *qprev, *qnext; /* its connection's list or its endpoint's queue */
    /* HTTP/1.1 engine (h1.c) */
    spw__http_h1conn *h1c;  /* carrying it; NULL while waiting or idle */
    bool h1_queued;         /* waiting in its endpoint's h1 queue */
    bool h1_resent;         /* already resent once after a reused connection died */
    spw_buf head;           /* the request line and headers as sent */
} spw__http_req;

/* One socket curl asked us to watch. */
typedef struct spw__http_sock {
    uv_poll_t poll;
    struct spw_http *s;
    curl_socket_t fd;
    struct spw__http_sock *prev, *next;
} spw__http_sock;

struct spw_http {
    spw_stage *st;
    const struct spw_http_conf *cf;
    uv_loop_t *loop;

    /* libcurl (multi.c) */
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t kick;        /* curl asked for a timeout of 0: run it next loop turn */
    spw__http_sock *socks; /* every socket being watched */
    unsigned open_handles; /* libuv handles not yet closed: the client is freed at 0 */
    bool closing;

    /* requests (client.c) */
    spw__http_req **reqs;  /* every request object, for close */
    size_t n_reqs, cap_reqs;
    spw__http_req *free_reqs;
    unsigned busy;
    struct curl_slist *connect_to;
    struct curl_slist *curl_hdrs; /* what libcurl requests carry after their own: "Expect:" */
    spw__http_gzip gz;
    bool in_send;          /* inside spw_http_send: endings wait for the next loop turn */
    spw__http_req *ended;  /* those endings, oldest first */
    spw__http_req *ended_tail;
    uv_idle_t later;       /* reports them */
    spw_http_token_fn token_fn;
    void *token_arg;
    const char *token_header;
    size_t max_body;       /* spw_http_set_max_body; 0: none */
    spw_buf token;         /* "Bearer " + the hook's token, for one request */
    spw_buf auth_value;    /* the Authorization value of basic and bearer auth */

    /* auth */
    struct spw__http_aws *aws; /* auth = aws-sigv4: credentials (aws-provider.c) */
    spw__http_sigv4 sig;
    spw_buf sig_auth;

    /* endpoints (endpoints.c) */
    spw__http_endpoint *eps;
    bool said_down;           /* this client asked the core to hold its sink (every endpoint out) */
    size_t n_eps;
    size_t rr;

    /* the nghttp2 engine (h2.c), when this client uses it */
    bool h2;
    struct spw__http_h2 *h2s;
    /* the HTTP/1.1 engine (h1.c), when this client uses it */
    bool h1;
    struct spw__http_h1 *h1s;
    /* shared by the native engines */
    spw_tls_ctx *tls_ctx;  /* when some endpoint is https (sessions hold their own reference) */
    uv_timer_t deadlines;  /* request deadlines (client.c), when a native engine is on */
    uint64_t deadline_at;  /* when it fires, 0: stopped */
    bool deadlines_on;     /* initialised */

    spw_counter *c_requests, *c_2xx, *c_3xx, *c_4xx, *c_5xx, *c_transport, *c_bytes, *c_ep_down,
        *c_ep_up, *c_probes;
    spw_gauge *g_in_flight;
    spw_histogram *h_duration;
};

/* multi.c */
spw_result spw__http_multi_init(spw_http *s, spw_err *err);
spw_result spw__http_multi_add(spw_http *s, spw__http_req *r);
/* Removes every easy handle's transfer and closes the loop handles (destroy). */
void spw__http_multi_close(spw_http *s);

/* client.c */
/* True when this libcurl cannot reuse h2c prior-knowledge connections (before 8.0.0). */
bool spw__http_h2c_reuse_broken(void);
/* A libcurl transfer finished (called from multi.c with r already removed from the multi). */
void spw__http_req_finished(spw_http *s, spw__http_req *r, CURLcode cc);
/* A request that waited for AWS credentials: signed and sent now within tmo ms, or ended. */
void spw__http_req_resume(spw__http_req *r, uint64_t tmo);
/* A request that waited for AWS credentials ends with SPW_HTTP_ERR_AUTH and why. */
void spw__http_req_auth_fail(spw__http_req *r, const char *why);
/* A native engine's request ended: cc a CURLcode (CURLE_OK when r->status is an HTTP answer),
 * why (may be NULL) the error text. Reports to the caller and releases r. */
void spw__http_req_end(spw__http_req *r, int cc, const char *why);
/* spw_http_send; probe: a health check (endpoints.c), counted apart. */
spw_result spw__http_send(spw_http *s, const spw_http_request *q, bool probe,
                          spw_http_done_fn done, void *arg, spw_err *err);
/* The answer so far is void (the request is sent again on a new connection). */
void spw__http_req_restart(spw__http_req *r);
/* The native engines' request FIFOs. */
void spw__http_reqq_push(spw__http_reqq *q, spw__http_req *r, bool front);
void spw__http_reqq_remove(spw__http_reqq *q, spw__http_req *r);
/* A native engine takes r: no answer yet, and its deadline is timeout_ms from now, after which
 * expire(r, why) runs. */
void spw__http_req_take(spw_http *s, spw__http_req *r, uint64_t timeout_ms, spw__http_expire_fn expire);
/* A loop handle of the client was closed; the last one frees the client. */
void spw__http_handle_closed(spw_http *s);

/* endpoints.c */
spw_result spw__http_endpoints_init(spw_http *s, spw_err *err);
spw__http_endpoint *spw__http_endpoint_pick(spw_http *s);
void spw__http_endpoint_report(spw__http_endpoint *ep, bool failed, const char *why);
void spw__http_endpoints_free(spw_http *s);

/* h2.c: HTTP/2 over nghttp2 (h2c, and h2 over TLS) */
/* True when this instance's configuration is served by the nghttp2 engine. */
bool spw__http_h2_selected(const struct spw_http_conf *cf);
spw_result spw__http_h2_init(spw_http *s, spw_err *err);
/* Sends r (URL, headers and body prepared by spw_http_send) within timeout_ms. */
spw_result spw__http_h2_submit(spw_http *s, spw__http_req *r, uint64_t timeout_ms);
/* Detaches every request (they stay busy, for spw__http_requests_abort) and closes the connections. */
void spw__http_h2_close(spw_http *s);

/* h1.c: HTTP/1.1 on connections of its own (http:// and https://) */
/* True when this instance's configuration has the HTTP/1.1 engine (engine native, no proxy). */
bool spw__http_h1_selected(const struct spw_http_conf *cf);
spw_result spw__http_h1_init(spw_http *s, spw_err *err);
/* Sends r (URL, headers and body prepared by spw_http_send) within timeout_ms. */
spw_result spw__http_h1_submit(spw_http *s, spw__http_req *r, uint64_t timeout_ms);
/* Takes r over from the nghttp2 engine (ALPN chose HTTP/1.1), within its deadline. */
void spw__http_h1_take(spw_http *s, spw__http_req *r);
/* Detaches every request (they stay busy, for spw__http_requests_abort) and closes the connections. */
void spw__http_h1_close(spw_http *s);

/* addr.c: host and port of a base URL (scheme://[userinfo@]host[:port]; host owned by caller). */
spw_result spw__http_addr_parse(const char *base, char **host, uint16_t *port);
/* Applies one connect_to item (HOST:PORT:CONNECT-HOST:CONNECT-PORT) to ep->dial_host/dial_port. */
void spw__http_addr_connect_to(const char *item, spw__http_endpoint *ep);
/* Fills every endpoint's https, tls_name, dial_host and dial_port (freed by spw__http_endpoints_free),
 * and s->tls_ctx when some endpoint is https. */
spw_result spw__http_addr_init(spw_http *s, spw_err *err);

/* ALPN offers for a connection (spw_tls_new): the nghttp2 engine's and the HTTP/1.1 engine's. */
#define SPW__HTTP_ALPN_H2 "h2,http/1.1"
#define SPW__HTTP_ALPN_H1 "http/1.1"

/* dial.c: a connection of the native engines, up to an open byte stream */
enum spw__http_dial_state { SPW__HTTP_DIAL_RESOLVING, SPW__HTTP_DIAL_CONNECTING, SPW__HTTP_DIAL_HANDSHAKE, SPW__HTTP_DIAL_OPEN,
                     SPW__HTTP_DIAL_CLOSED };
typedef struct spw__http_dial_ops {
    /* Connected, TLS established: the engine may write. */
    void (*open)(spw__http_dial *d);
    /* Plaintext arrived. */
    void (*input)(spw__http_dial *d, const uint8_t *p, size_t n);
    /* The connection could not be made, or broke: cc is a CURLcode, uv_err libuv's error
     * (UV_EOF: the server closed it, TLS close_notify included) or 0. The engine closes d. */
    void (*error)(spw__http_dial *d, int cc, int uv_err, const char *why);
    /* d->out holds bytes to send (a TLS handshake flight, or TLS's answer to input). */
    void (*flush)(spw__http_dial *d);
    /* The write spw__http_dial_send left pending completed (status 0) or failed. */
    void (*written)(spw__http_dial *d, int status);
    /* Every handle is closed: the engine frees the connection d is part of. */
    void (*released)(spw__http_dial *d);
} spw__http_dial_ops;
/* Scratch an engine lends its connections' reads (one loop: reads never overlap). */
typedef struct spw__http_dial_scratch {
    spw_buf plain; /* decrypted input */
    uint8_t rbuf[64u << 10];
} spw__http_dial_scratch;
struct spw__http_dial {
    spw_http *s;
    spw__http_endpoint *ep;
    const spw__http_dial_ops *ops;
    spw__http_dial_scratch *scr;
    const char *alpn;       /* what TLS offers */
    spw__http_conns *on;           /* the list it is on until closed */
    spw__http_dial *prev, *next;
    enum spw__http_dial_state state;
    uv_tcp_t tcp;           /* its data points at the dial */
    uv_timer_t timer;       /* connect_timeout, TLS handshake included */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    unsigned refs;          /* closed handles and pending lookups still owed */
    spw_tls *tls;           /* https only */
    spw_buf out;            /* bytes for spw__http_dial_send */
    spw_buf wbuf;           /* what its pending uv_write holds */
    uv_write_t wreq;
    bool writing;
    int fail_cc;            /* why it failed (a CURLcode), for a request placed on it at once */
    char why[SPW_ERR_MSG_MAX]; /* room for any reason dial.c gives (TLS errors included) */
};
/* Puts d (zeroed) on the list `on` and starts connecting it to ep, with TLS offering alpn when
 * ep->https. Failures go to ops->error, those found at once before this returns. */
void spw__http_dial_start(spw__http_dial *d, spw_http *s, spw__http_endpoint *ep, spw__http_conns *on, const char *alpn,
                   const spw__http_dial_ops *ops, spw__http_dial_scratch *scr);
/* Hands d->out to the socket: what uv_try_write does not take goes in one uv_write (then
 * ops->written). 0, or a libuv error. */
int spw__http_dial_send(spw__http_dial *d);
/* Takes d off its list and closes it; ops->released follows once every handle is closed. */
void spw__http_dial_close(spw__http_dial *d);

#endif /* SPW_CORE_HTTP_PRIVATE_H */
