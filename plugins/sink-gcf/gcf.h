/*
 * plugins/sink-gcf/gcf.h: what the files of the `gcf` sink share.
 *
 * The sink is the `http` sink (plugins/sink-http: batching, codecs,
 * headers, status classification, compiled into this module too) with a
 * Google-signed OpenID Connect ID token on every request, supplied per
 * request through the SDK's token hook (spw_http_set_token):
 *
 *   plugin.c  options, audience and size rules, the instance: batches
 *             waiting for the first token, 401/403 before classification;
 *   creds.c   Application Default Credentials: which source (key file,
 *             GOOGLE_APPLICATION_CREDENTIALS, metadata server), the key
 *             file's checks, the RS256 JWT assertion (OpenSSL EVP);
 *   tokens.c  one token cache per source and audience per process, shared
 *             by the workers: refresh ahead of expiry, one fetch in
 *             flight, backoff, waking the workers;
 *   json.c    JSON members by name, JSON escaping, Base64url.
 *
 * Secrets (the private key, assertions, ID tokens) never reach a log line
 * or an error text.
 */
#ifndef SPW_SINK_GCF_GCF_H
#define SPW_SINK_GCF_GCF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <uv.h>
#include <spillway/spillway.h>
#include "../sink-http/sink.h"

/* Google's request size limits (Cloud Functions quotas; Cloud Run request limits). */
#define GCF_LIMIT_GEN1 10000000u         /* 10 MB, 1st gen */
#define GCF_LIMIT_GEN2 (32u * 1024 * 1024) /* 32 MiB, Cloud Run and 2nd gen (HTTP/1) */

#define GCF_TOKEN_MAX 16384        /* an ID token (real ones are about 1 KB) */
#define GCF_RESPONSE_MAX (64u << 10)
#define GCF_KEYFILE_MAX (1u << 20)

enum gcf_generation { GCF_GEN2 = 0, GCF_GEN1 = 1 };

struct gcf_conf {
    struct hs_conf hs; /* the `http` sink's options (url, codec headers, status codes...) */
    int generation;
    char *audience;
    char *credentials_file;
    bool serverless_authorization;
    int64_t max_request_size;
    int64_t hold_down;
};

/* ---------------------------------------------------------------------- */
/* json.c                                                                  */
/* ---------------------------------------------------------------------- */

/* Member `name` of the JSON object text[0..n): 1 with its string value in out (NUL-terminated,
 * len not counting it), 0 when absent, -1 when text is not one JSON object or the member is not
 * a string. */
int gcf_json_string(const char *text, size_t n, const char *name, spw_buf *out);
/* The same for an integer member. */
int gcf_json_int(const char *text, size_t n, const char *name, int64_t *out);
/* Appends s escaped for the inside of a JSON string. */
spw_result gcf_json_escape(spw_buf *out, const char *s);
/* Base64url without padding (RFC 7515). decode: 0, or -1 on a character outside the alphabet. */
spw_result gcf_b64url_encode(spw_buf *out, const void *data, size_t n);
int gcf_b64url_decode(spw_buf *out, const char *s, size_t n);

/* ---------------------------------------------------------------------- */
/* creds.c                                                                 */
/* ---------------------------------------------------------------------- */

enum gcf_source_kind { GCF_SRC_KEY = 0, GCF_SRC_METADATA };

typedef struct gcf_source {
    enum gcf_source_kind kind;
    char *id;              /* identifies the source in the process (registry key part) */
    char *what;            /* for logs: "service account X (key file P)" / "metadata server H" */
    /* GCF_SRC_KEY */
    char *client_email;
    char *private_key_id;
    char *token_uri;
    void *pkey;            /* EVP_PKEY * */
    /* GCF_SRC_METADATA: "http://HOST" */
    char *metadata_origin;
} gcf_source;

/*
 * Application Default Credentials: `file` (the option), else
 * $GOOGLE_APPLICATION_CREDENTIALS, else the metadata server at
 * $GCE_METADATA_HOST or metadata.google.internal. A key file must be a
 * service account's; anything else is refused with why.
 */
spw_result gcf_source_resolve(const char *file, gcf_source *src, spw_err *err);
void gcf_source_free(gcf_source *src);
/* The signed JWT assertion for the token endpoint (RFC 7523), `now` in Unix seconds. */
spw_result gcf_assertion(const gcf_source *src, const char *audience, int64_t now, spw_buf *out,
                         spw_err *err);
/* The `exp` claim of a JWT (not verified: Google's own answer over TLS), or -1. */
int64_t gcf_token_exp(const char *tok, size_t n);

/* ---------------------------------------------------------------------- */
/* tokens.c                                                                */
/* ---------------------------------------------------------------------- */

typedef struct gcf_cache gcf_cache;
struct gcf_sink;

/* What a batch may do now. */
enum gcf_state {
    GCF_READY,   /* a usable token: send */
    GCF_WAIT,    /* a fetch is in flight: wait for it */
    GCF_FAILED,  /* no token and the last fetch failed: retry after *retry_ms */
};

/* The process's cache for src and audience (src moved in when a new one is made). */
gcf_cache *gcf_cache_get(gcf_source *src, const char *audience, spw_err *err);
void gcf_cache_put(gcf_cache *c);
/* Workers to wake (through their uv_async handle) when a fetch ends. */
spw_result gcf_cache_attach(gcf_cache *c, uv_async_t *wake);
void gcf_cache_detach(gcf_cache *c, uv_async_t *wake);
/*
 * Where a batch stands; *fetch set when the caller must start the fetch
 * (it claimed it). GCF_FAILED: *retry_ms, reason (the last failure) and
 * *fatal (a credential error, not a network one).
 */
enum gcf_state gcf_cache_state(gcf_cache *c, bool *fetch, uint64_t *retry_ms, char *reason,
                               size_t rn, bool *fatal);
/* The token hook's side: the token appended, *gen its generation; SPW_ERR_STATE when none. */
spw_result gcf_cache_token(gcf_cache *c, spw_buf *out, uint64_t *gen);
/* A fetch ended: tok (NUL-terminated) or NULL with why; fatal: a credential error. Returns the
 * failures a success ended (for the recovery's log line); wakes every attached worker. */
unsigned gcf_cache_fetched(gcf_cache *c, const char *tok, const char *why, bool fatal);
/* A 401 for a request carrying generation gen: 0 stale (another refresh came since), 1 the token
 * is dropped and the next fetch is a forced one, 2 the token was itself fetched after a 401. */
int gcf_cache_unauthorized(gcf_cache *c, uint64_t gen);
/* A request with generation gen was accepted: the token works. */
void gcf_cache_accepted(gcf_cache *c, uint64_t gen);
const char *gcf_cache_audience(const gcf_cache *c);
const gcf_source *gcf_cache_source(const gcf_cache *c);
/* Counted fetch failures since the last success; whether to log this one (30 s apart). */
bool gcf_cache_should_log(gcf_cache *c, uint64_t *suppressed);

/* ---------------------------------------------------------------------- */
/* plugin.c: the instance                                                  */
/* ---------------------------------------------------------------------- */

typedef struct gcf_sink {
    hs_sink hs; /* first: the http sink's hooks get an hs_sink * */
    const struct gcf_conf *cf;
    gcf_cache *cache;
    uv_async_t *wake;
    spw_batch **pending; /* waiting for a token */
    size_t n_pending, cap_pending;
    size_t max_size;
    bool fetching;       /* this worker's client runs the fetch */
    spw_buf fetch_url, fetch_body;
    spw_counter *c_fetch, *c_fetch_fail, *c_401, *c_403, *c_too_large;
} gcf_sink;

#endif /* SPW_SINK_GCF_GCF_H */
