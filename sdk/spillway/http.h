/*
 * spillway/http.h: the HTTP client libspillway serves every stage (ABI 1.1;
 * plugin defaults for the option group since 1.3).
 *
 * A sink that talks to a web service embeds the HTTP destination options
 * in its option table with one line (SPW_OPTION_HTTP), creates one client
 * per instance in create() and is then protocol logic only: build a
 * request, read the response. The client brings what the `http` sink has:
 * native HTTP/1.1 and HTTP/2 (h2 over TLS, h2c) engines on the worker's
 * loop, libcurl for proxies and `engine = libcurl`, TLS, connection pools
 * and limits, load balancing over several URLs with endpoint health and
 * health checks, gzip, and authentication (basic, bearer, a fixed header,
 * AWS SigV4, or a token the plugin supplies per request).
 *
 * Rules (those of the rest of the SDK):
 *   - A client belongs to one stage instance and is used only on its
 *     worker's thread; its connections, requests and endpoint health are
 *     its own, so the request path takes no lock. (Only temporary AWS
 *     credentials are shared by the process: one refresh, not one per
 *     worker.)
 *   - spw_http_send either fails (an error return: the callback is never
 *     called) or calls the callback exactly once, never from inside
 *     spw_http_send itself, whatever happens (an at-once failure to
 *     connect is reported on a later loop turn).
 *   - spw_http_close ends every request still in progress with
 *     SPW_HTTP_ERR_CANCELLED, from inside the call, so destroy() can give
 *     back what those requests held; memory is released once the client's
 *     libuv handles have closed (the core runs the loop until they have).
 *   - Secrets (passwords, tokens, keys, signatures) never reach a log line
 *     or an error text.
 *
 * Targets. Each configured URL (`url`, or the list `urls`) is an endpoint:
 * an origin (scheme://host:port) and a base path. A request's target is
 *   - NULL or "": the endpoint's URL as configured;
 *   - "/path?query": the endpoint's base path (without a trailing '/')
 *     followed by this, so url = http://proxy/es and target "/_bulk" send
 *     to http://proxy/es/_bulk;
 *   - an absolute http:// or https:// URL: that URL. With SPW_HTTP_PINNED it
 *     must be on the pinned endpoint's origin (a URL the plugin rendered for
 *     it); without, it may be any origin (a token service, a metadata
 *     server) and goes through libcurl, outside the endpoints' health, with
 *     HTTP/2 only where TLS negotiates it (never h2c).
 * Without SPW_HTTP_PINNED the client picks the endpoint: round robin over
 * the healthy ones, over all of them when none is ("panic mode": refusing
 * to send would turn a partial outage into a total one).
 */
#ifndef SPILLWAY_HTTP_H
#define SPILLWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * The parsed HTTP destination options (url, urls, protocol, engine,
 * timeouts, pools, proxy, compression, endpoint health, auth, TLS: the
 * list is in doc/options.md under any HTTP sink). Owned by the core,
 * read-only, shared by the workers; opaque so that options can be added
 * in a minor ABI version.
 */
typedef struct spw_http_conf spw_http_conf;

/*
 * An option table entry that embeds every HTTP destination option into the
 * plugin's section. `field` is a `const spw_http_conf *` member of the
 * plugin's config struct; the core fills it. `flags` is 0 or an OR of the
 * SPW_HTTP_CONF_* flags below. Example:
 *
 *     struct cfg { const spw_http_conf *http; char *index; };
 *     static const spw_option opts[] = {
 *         SPW_OPTION_HTTP(struct cfg, http, 0),
 *         {"index", SPW_OPT_STRING, ...},
 *         SPW_OPTIONS_END,
 *     };
 */
#define SPW_OPTION_HTTP(type, field, flags)                                                        \
    {"http", SPW_OPT_GROUP, (flags), NULL, 0, 0, NULL, offsetof(type, field),                     \
     "HTTP destination options."}

/*
 * Since ABI 1.3: the same, with the plugin's own defaults for some of the
 * group's options, "KEY = VALUE" lines as a user would write them in the
 * section. For a sink whose service accepts exactly one value (a Lambda
 * sink signs with SigV4 for `lambda`, always), so that users need not
 * write it; a key in the section still replaces it, and the sink's check
 * may still refuse a wrong one. Secrets take no plugin default. The core
 * checks the list with the table (each key an option of the group, at
 * most once, a valid value) and shows these defaults in --help-plugin and
 * doc/options.md. Example:
 *
 *     SPW_OPTION_HTTP_DEFAULTS(struct cfg, http, 0,
 *                              "auth = aws-sigv4\n"
 *                              "aws_service = lambda"),
 */
#define SPW_OPTION_HTTP_DEFAULTS(type, field, flags, defaults)                                    \
    {"http", SPW_OPT_GROUP, (flags), (defaults), 0, 0, NULL, offsetof(type, field),               \
     "HTTP destination options."}

/* Neither url nor urls is required: the plugin sends absolute URLs it derives (a region's
 * service URL); a client without endpoints refuses targets that need one. */
#define SPW_HTTP_CONF_URL_OPTIONAL 0x100u

/* Configured endpoint URLs (url, or every item of urls), in order; borrowed from cf. */
SPW_API size_t spw_http_conf_urls(const spw_http_conf *cf);
SPW_API const char *spw_http_conf_url(const spw_http_conf *cf, size_t i);
/* The configured per-request timeout (`timeout`), in ms. */
SPW_API uint64_t spw_http_conf_timeout(const spw_http_conf *cf);
/* Since ABI 1.2: the `auth` scheme as written ("none", "basic", "bearer", "header",
 * "aws-sigv4") and `aws_service`, so that a sink for one service can refuse at --check
 * what that service would refuse (a Lambda sink signing for another service). */
SPW_API const char *spw_http_conf_auth(const spw_http_conf *cf);
SPW_API const char *spw_http_conf_aws_service(const spw_http_conf *cf);

/* ---------------------------------------------------------------------- */
/* Requests and responses                                                  */
/* ---------------------------------------------------------------------- */

/* A header; both strings NUL-terminated. Borrowed. */
typedef struct spw_http_header {
    const char *name;
    const char *value;
} spw_http_header;

/* Why a request got no usable HTTP answer. */
typedef enum spw_http_error {
    SPW_HTTP_OK = 0,            /* a complete HTTP response arrived (any status) */
    SPW_HTTP_ERR_DNS = 1,       /* the host name did not resolve */
    SPW_HTTP_ERR_CONNECT = 2,   /* the connection was refused or could not be made in time */
    SPW_HTTP_ERR_TLS = 3,       /* TLS handshake or certificate failure */
    SPW_HTTP_ERR_TIMEOUT = 4,   /* no complete answer within the request's timeout */
    SPW_HTTP_ERR_RESET = 5,     /* the connection broke or closed before the answer was complete */
    SPW_HTTP_ERR_REFUSED = 6,   /* HTTP/2 stream refused or the connection was going away before
                                   it was processed: nothing was done, resending is safe */
    SPW_HTTP_ERR_RESPONSE_TOO_LARGE = 7, /* the response body exceeded the request's
                                            response_max (and SPW_HTTP_TRUNCATE was not set) */
    SPW_HTTP_ERR_PROTOCOL = 8,  /* the server's answer broke HTTP */
    SPW_HTTP_ERR_PROXY = 9,     /* the proxy refused or failed */
    SPW_HTTP_ERR_SEND = 10,     /* the request could not be written */
    SPW_HTTP_ERR_AUTH = 11,     /* no credential to sign or authorise the request with */
    SPW_HTTP_ERR_CANCELLED = 12,/* the client was closed first */
    SPW_HTTP_ERR_OTHER = 13,    /* anything else (see error_text) */
    SPW_HTTP_ERR_BODY_TOO_LARGE = 14, /* the body as it would be sent (after compression)
                                         exceeds max_body_size: nothing was sent */
} spw_http_error;

/* "ok", "dns", "connect", "tls", "timeout", "reset", "refused", ... Constant. */
SPW_API const char *spw_http_error_name(spw_http_error e);

/* Request flags. */
#define SPW_HTTP_NO_AUTH 0x01u     /* send without the configured authentication */
#define SPW_HTTP_NO_COMPRESS 0x02u /* never gzip this body, whatever `compression` says */
#define SPW_HTTP_TRUNCATE 0x04u    /* a body longer than response_max is cut there (truncated set)
                                      instead of failing with SPW_HTTP_ERR_RESPONSE_TOO_LARGE */
#define SPW_HTTP_PINNED 0x08u      /* send to `endpoint` (from spw_http_pick), healthy or not */
#define SPW_HTTP_NO_HEALTH 0x10u   /* the outcome says nothing about the endpoint's health */

typedef struct spw_http_request {
    const char *method;             /* "GET", "POST"...; NULL: POST */
    const char *target;             /* see "Targets" above; borrowed for the call */
    const spw_http_header *headers; /* the request's own headers; borrowed for the call */
    size_t n_headers;
    const void *body;               /* borrowed until the callback (never copied) */
    size_t body_len;
    uint64_t timeout_ms;            /* whole request, connection included; 0: `timeout` */
    size_t response_max;            /* body bytes kept; 0: `response_max` */
    unsigned flags;                 /* SPW_HTTP_* */
    size_t endpoint;                /* with SPW_HTTP_PINNED */
} spw_http_request;

/* Everything a request got; borrowed for the duration of the callback. */
typedef struct spw_http_response {
    spw_http_error error;           /* SPW_HTTP_OK when status is an HTTP answer */
    const char *error_text;         /* one sentence when error != SPW_HTTP_OK; never a secret */
    int status;                     /* the final HTTP status; 0 when none arrived */
    const spw_http_header *headers; /* every response header, in order, names as sent */
    size_t n_headers;
    const uint8_t *body;            /* at most the request's response_max bytes */
    size_t body_len;
    bool truncated;                 /* SPW_HTTP_TRUNCATE cut the body */
    bool compressed;                /* the request body went gzip */
    size_t sent_len;                /* request body bytes as sent (after compression) */
    size_t endpoint;                /* the endpoint used; (size_t)-1 for another origin */
    const char *origin;             /* its scheme://authority, for logs */
    uint64_t elapsed_ms;            /* from spw_http_send to the answer */
} spw_http_response;

/* The value of the first header named `name` (any case), or NULL. Borrowed from r. */
SPW_API const char *spw_http_response_header(const spw_http_response *r, const char *name);

/*
 * Parses a Retry-After value: delta seconds, or an HTTP-date (compared with
 * the wall clock). True with *ms set (at most one hour) when valid.
 */
SPW_API bool spw_http_retry_after(const char *value, uint64_t *ms);

typedef void (*spw_http_done_fn)(const spw_http_response *resp, void *arg);

/* ---------------------------------------------------------------------- */
/* The client                                                              */
/* ---------------------------------------------------------------------- */

typedef struct spw_http spw_http;

/*
 * Creates a client for the stage on its worker's loop from the parsed
 * options (borrowed: they outlive the stage). Registers the client's
 * metrics on the stage (counters http_requests, http_2xx..http_5xx,
 * http_errors, http_bytes_sent, endpoint_down, endpoint_up, health_checks;
 * gauge http_in_flight; histogram http_request_duration_seconds). *out is
 * owned by caller: release it with spw_http_close. All-or-nothing.
 */
SPW_API spw_result spw_http_new(spw_stage *st, const spw_http_conf *cf, spw_http **out,
                                spw_err *err);

/* Ends every request in progress with SPW_HTTP_ERR_CANCELLED (from inside
 * this call) and releases the client (transferred). NULL is a no-op. */
SPW_API void spw_http_close(spw_http *c);

/*
 * Sends a request. SPW_OK: done(resp, arg) will be called exactly once,
 * later. An error (SPW_ERR_INVAL for a malformed request or target,
 * SPW_ERR_NOMEM, SPW_ERR_STATE once closing) never calls done.
 */
SPW_API spw_result spw_http_send(spw_http *c, const spw_http_request *req, spw_http_done_fn done,
                                 void *arg, spw_err *err);

/* Endpoints: as many as spw_http_conf_urls. */
SPW_API size_t spw_http_endpoints(const spw_http *c);
/* The endpoint the client would use next (advancing its round robin): for SPW_HTTP_PINNED.
 * (size_t)-1 when the client has no endpoint (SPW_HTTP_CONF_URL_OPTIONAL and no url). */
SPW_API size_t spw_http_pick(spw_http *c);
/* True while endpoint i is in the rotation (not taken out by failures). */
SPW_API bool spw_http_endpoint_up(const spw_http *c, size_t i);
/* Requests in progress. */
SPW_API size_t spw_http_in_progress(const spw_http *c);

/*
 * A bearer token supplied per request (the Google sink mints ID tokens):
 * fn appends the token to `out` and returns SPW_OK; any other result ends
 * the request with SPW_HTTP_ERR_AUTH and the text fn put in err. The header
 * is `header` (borrowed, must outlive the client; NULL: "Authorization")
 * with the value "Bearer TOKEN". Replaces the configured auth; fn NULL
 * turns it off.
 */
typedef spw_result (*spw_http_token_fn)(void *arg, spw_buf *out, spw_err *err);
SPW_API void spw_http_set_token(spw_http *c, const char *header, spw_http_token_fn fn,
                                void *arg);

/*
 * (1.2) A body cap the plugin knows from its destination (a Lambda behind an ALB
 * takes at most 1,000,000 bytes): requests whose body as sent, after
 * compression, is larger end with SPW_HTTP_ERR_BODY_TOO_LARGE without being
 * sent, as with `max_body_size` (the smaller of the two applies). 0: none.
 */
SPW_API void spw_http_set_max_body(spw_http *c, size_t max);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_HTTP_H */
