/*
 * plugins/sink-gcf/plugin.c: the `gcf` sink's options, checks and
 * instance: the `http` sink (its options, batches, codecs, headers and
 * status classification, from plugins/sink-http) delivering to a Cloud
 * Function or Cloud Run service with a Google-signed ID token on every
 * request, through the SDK's per-request token hook.
 *
 * Google's rules this follows (doc/gcf-sink.md has them with sources):
 *   - the audience is the function's full URL for 1st gen, the service's
 *     origin for Cloud Run and 2nd gen, or a custom audience by option;
 *   - the token goes in `Authorization: Bearer`, or in
 *     `X-Serverless-Authorization` (which Cloud Run checks and strips, so
 *     the function keeps Authorization for itself);
 *   - requests are at most 10 MB (1st gen) or 32 MiB (Cloud Run, 2nd gen):
 *     a larger body is "too large" before it is sent (the core splits);
 *   - 401: the token was refused: fetch a new one once, retry; a token
 *     fetched after a 401 refused again holds the sink down; 403: the
 *     service account is not an invoker: hold down, never drop.
 *
 * Batches that find no token yet (at start, after a 401, after expiry)
 * wait in the worker for the fetch in flight and are sent when it ends;
 * when fetching failed they are answered retry with the reason.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcf.h"

#define OFF(f) offsetof(struct gcf_conf, f)

static const spw_option gcf_options[] = {
    HS_OPTION_ENTRIES(struct gcf_conf, hs.),
    {"generation", SPW_OPT_ENUM, 0, "2", 0, 0, "2|1", OFF(generation),
     "The function's generation: 2 (Cloud Run and Cloud Functions 2nd gen: audience the service "
     "origin, requests up to 32 MiB) or 1 (1st gen: audience the full URL, up to 10 MB)."},
    {"audience", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(audience),
     "The ID token's audience instead of the one derived from the URL (a Cloud Run custom "
     "audience); required with several urls."},
    {"credentials_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(credentials_file),
     "A service account's JSON key file; default: GOOGLE_APPLICATION_CREDENTIALS, else the "
     "metadata server (GCE_METADATA_HOST overrides its host)."},
    {"serverless_authorization", SPW_OPT_BOOL, 0, "false", 0, 0, NULL,
     OFF(serverless_authorization),
     "Send the token in X-Serverless-Authorization instead of Authorization, leaving "
     "Authorization to the function."},
    {"max_request_size", SPW_OPT_SIZE, 0, "0", 0, 0, NULL, OFF(max_request_size),
     "Largest request body sent; bigger batches are split (0: Google's limit for the "
     "generation, 10 MB or 32 MiB)."},
    {"hold_down", SPW_OPT_DURATION, 0, "30s", 100, 3600000, NULL, OFF(hold_down),
     "How long the sink is held down after a credential error (403, a token refused twice, a "
     "refused key) before it tries again."},
    SPW_OPTIONS_END,
};

/* ---------------------------------------------------------------------- */
/* Audience and limits                                                     */
/* ---------------------------------------------------------------------- */

/* The audience: the option, else from the (first) URL by generation. */
static spw_result audience_of(const struct gcf_conf *cf, spw_buf *out, spw_err *err) {
    const char *src = cf->audience;
    size_t n;
    spw_buf_reset(out);
    if (src && *src) {
        n = strlen(src);
    } else {
        if (spw_http_conf_urls(cf->hs.http) != 1)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "audience: required with several urls (the token's audience is "
                               "one service)");
        src = spw_http_conf_url(cf->hs.http, 0);
        size_t ps = hs_url_path_start(src);
        if (ps == (size_t)-1)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' is not an http(s) URL", src);
        if (cf->generation == GCF_GEN2) {
            n = ps; /* the origin: Cloud Run's audience is the service URL */
        } else {
            n = strcspn(src, "?#"); /* 1st gen: the function's full URL */
            while (n > ps + 1 && src[n - 1] == '/')
                n--;
        }
    }
    if (spw_buf_append(out, src, n) != SPW_OK || spw_buf_append(out, "", 1) != SPW_OK)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    return SPW_OK;
}

static size_t limit_of(const struct gcf_conf *cf) {
    size_t g = cf->generation == GCF_GEN1 ? GCF_LIMIT_GEN1 : GCF_LIMIT_GEN2;
    return cf->max_request_size > 0 && (uint64_t)cf->max_request_size < g
               ? (size_t)cf->max_request_size
               : g;
}

static spw_result gcf_check(const void *config, spw_err *err) {
    const struct gcf_conf *cf = config;
    for (size_t i = 0; i < spw_http_conf_urls(cf->hs.http); i++)
        if (strstr(spw_http_conf_url(cf->hs.http, i), "${"))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "url: no ${...} variables here (the URL is the token's audience)");
    spw_result rc = hs_check(&cf->hs, err);
    if (rc != SPW_OK)
        return rc;
    size_t g = cf->generation == GCF_GEN1 ? GCF_LIMIT_GEN1 : GCF_LIMIT_GEN2;
    if (cf->max_request_size > 0 && (uint64_t)cf->max_request_size > g)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "max_request_size: %lld is over Google's limit for generation %s "
                           "(%zu bytes), which refuses larger requests",
                           (long long)cf->max_request_size, cf->generation == GCF_GEN1 ? "1" : "2",
                           g);
    spw_buf aud = SPW_BUF_INIT;
    rc = audience_of(cf, &aud, err);
    spw_buf_free(&aud);
    if (rc != SPW_OK)
        return rc;
    /* The key file is read now, so that `spillway --check` refuses a user credential. */
    gcf_source src;
    rc = gcf_source_resolve(cf->credentials_file, &src, err);
    if (rc == SPW_OK)
        gcf_source_free(&src);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Holding down                                                            */
/* ---------------------------------------------------------------------- */

static uint64_t now_loop(gcf_sink *s) { return uv_now(spw_stage_loop(s->hs.st)); }

/* A credential or permission error: no batch goes out until hold_down has passed (the core
 * probes then). Loud, but at most one line every 5 s per worker. */
static void hold(gcf_sink *s, const char *reason) {
    static _Thread_local uint64_t last;
    uint64_t now = now_loop(s);
    if (!last || now - last >= 5000) {
        spw_log(s->hs.st, SPW_LOG_ERROR, "holding deliveries for %llu ms: %s",
                (unsigned long long)s->cf->hold_down, reason);
        last = now ? now : 1;
    }
    spw_sink_down(s->hs.st, (uint64_t)s->cf->hold_down, reason);
}

/* ---------------------------------------------------------------------- */
/* Fetching a token                                                        */
/* ---------------------------------------------------------------------- */

static void fetched(gcf_sink *s, const char *tok, const char *why, bool fatal) {
    const gcf_source *src = gcf_cache_source(s->cache);
    unsigned before = gcf_cache_fetched(s->cache, tok, why, fatal);
    if (tok) {
        spw_counter_add(s->c_fetch, 1);
        if (before)
            spw_log(s->hs.st, SPW_LOG_INFO, "ID token for %s from %s obtained after %u failed "
                    "attempt(s)", gcf_cache_audience(s->cache), src->what, before);
        return;
    }
    if (!why)
        return;
    spw_counter_add(s->c_fetch_fail, 1);
    uint64_t supp = 0;
    if (gcf_cache_should_log(s->cache, &supp))
        spw_log(s->hs.st, SPW_LOG_ERROR, "no ID token for %s from %s: %s%s (%llu similar failures "
                "not logged)", gcf_cache_audience(s->cache), src->what, why,
                fatal ? " [credential error: deliveries held]" : "", (unsigned long long)supp);
}

static bool token_chars(const char *p, size_t n) {
    if (n == 0 || n > GCF_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* The token endpoint's refusal (RFC 6749 section 5.2: error, error_description), quoted. */
static void oauth_error(const spw_http_response *r, char *why, size_t wn) {
    spw_buf e = SPW_BUF_INIT, d = SPW_BUF_INIT;
    const char *b = (const char *)r->body;
    if (r->body_len && gcf_json_string(b, r->body_len, "error", &e) == 1) {
        gcf_json_string(b, r->body_len, "error_description", &d);
        char ed[300] = "", dd[300] = "";
        hs_excerpt(e.data, e.len, ed, sizeof ed);
        if (d.data)
            hs_excerpt(d.data, d.len, dd, sizeof dd);
        snprintf(why, wn, "token endpoint %s: HTTP %d %s%s%s", r->origin, r->status, ed,
                 dd[0] ? ": " : "", dd);
    } else {
        char ex[300];
        hs_excerpt(r->body, r->body_len, ex, sizeof ex);
        snprintf(why, wn, "token endpoint %s: HTTP %d%s%s", r->origin, r->status,
                 ex[0] ? ": " : "", ex);
    }
    spw_buf_free(&e);
    spw_buf_free(&d);
}

static void on_fetch(const spw_http_response *r, void *arg) {
    gcf_sink *s = arg;
    const gcf_source *src = gcf_cache_source(s->cache);
    char why[700];
    s->fetching = false;
    OPENSSL_cleanse(s->fetch_body.data, s->fetch_body.len);
    if (r->error == SPW_HTTP_ERR_CANCELLED) {
        fetched(s, NULL, NULL, false);
        return;
    }
    if (r->error != SPW_HTTP_OK) {
        snprintf(why, sizeof why, "%s: %s", r->origin ? r->origin : "?",
                 r->error_text && *r->error_text ? r->error_text : spw_http_error_name(r->error));
        fetched(s, NULL, why, false);
        return;
    }
    /* 4xx but 408 and 429: the credential or the request is refused; asking again will not
     * change that until an operator does something. 5xx, 408, 429: try again. */
    bool fatal = r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 429;
    if (r->status != 200) {
        if (src->kind == GCF_SRC_KEY) {
            oauth_error(r, why, sizeof why);
        } else {
            char ex[300];
            hs_excerpt(r->body, r->body_len, ex, sizeof ex);
            snprintf(why, sizeof why, "metadata server %s: HTTP %d%s%s", r->origin, r->status,
                     ex[0] ? ": " : "", ex);
        }
        fetched(s, NULL, why, fatal);
        return;
    }
    spw_buf tok = SPW_BUF_INIT;
    const char *bad = NULL;
    if (src->kind == GCF_SRC_KEY) {
        if (gcf_json_string((const char *)r->body, r->body_len, "id_token", &tok) != 1)
            bad = "the token endpoint's answer has no 'id_token' (is the key's token_uri "
                  "Google's?)";
    } else {
        size_t n = r->body_len;
        while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' || r->body[n - 1] == ' '))
            n--;
        if (spw_buf_append(&tok, r->body, n) != SPW_OK || spw_buf_append(&tok, "", 1) != SPW_OK)
            bad = "out of memory";
        else
            tok.len--;
    }
    if (!bad && (r->truncated || !token_chars((const char *)tok.data, tok.len)))
        bad = "the answer is not a JWT";
    if (bad) {
        snprintf(why, sizeof why, "%s: %s", r->origin, bad);
        fetched(s, NULL, why, false);
    } else {
        fetched(s, (const char *)tok.data, NULL, false);
    }
    if (tok.data)
        OPENSSL_cleanse(tok.data, tok.len);
    spw_buf_free(&tok);
}

static spw_result pct(spw_buf *out, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p);
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        spw_result rc = keep ? spw_buf_append(out, p, 1) : spw_buf_append(out, e, 3);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

#define GRANT "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="

/* Starts the fetch this worker claimed; any failure to start ends it as a failed fetch. */
static void start_fetch(gcf_sink *s) {
    const gcf_source *src = gcf_cache_source(s->cache);
    const char *aud = gcf_cache_audience(s->cache);
    spw_err err = {""};
    spw_http_request req = {
        .flags = SPW_HTTP_NO_AUTH | SPW_HTTP_NO_COMPRESS | SPW_HTTP_NO_HEALTH,
        .response_max = GCF_RESPONSE_MAX,
    };
    spw_http_header hv[1];
    spw_result rc;
    spw_buf_reset(&s->fetch_url);
    spw_buf_reset(&s->fetch_body);
    if (src->kind == GCF_SRC_KEY) {
        spw_buf jwt = SPW_BUF_INIT;
        rc = gcf_assertion(src, aud, spw_time_unix_ms() / 1000, &jwt, &err);
        if (rc == SPW_OK)
            rc = spw_buf_append(&s->fetch_body, GRANT, strlen(GRANT));
        if (rc == SPW_OK) /* Base64url and '.': nothing to escape in a form */
            rc = spw_buf_append(&s->fetch_body, jwt.data, jwt.len);
        if (jwt.data)
            OPENSSL_cleanse(jwt.data, jwt.len);
        spw_buf_free(&jwt);
        if (rc == SPW_OK)
            rc = spw_buf_append(&s->fetch_url, src->token_uri, strlen(src->token_uri) + 1);
        hv[0] = (spw_http_header){"Content-Type", "application/x-www-form-urlencoded"};
        req.method = "POST";
        req.body = s->fetch_body.data;
        req.body_len = s->fetch_body.len;
    } else {
        static const char path[] =
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience=";
        rc = spw_buf_append(&s->fetch_url, src->metadata_origin, strlen(src->metadata_origin));
        if (rc == SPW_OK)
            rc = spw_buf_append(&s->fetch_url, path, strlen(path));
        if (rc == SPW_OK)
            rc = pct(&s->fetch_url, aud);
        if (rc == SPW_OK) /* full: the token carries email and google claims, as Google shows */
            rc = spw_buf_append(&s->fetch_url, "&format=full", 13);
        hv[0] = (spw_http_header){"Metadata-Flavor", "Google"};
        req.method = "GET";
    }
    req.target = (const char *)s->fetch_url.data;
    req.headers = hv;
    req.n_headers = 1;
    if (rc == SPW_OK)
        rc = spw_http_send(s->hs.http, &req, on_fetch, s, &err);
    if (rc != SPW_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : spw_result_str(rc));
        fetched(s, NULL, why, false);
        return;
    }
    s->fetching = true;
}

/* ---------------------------------------------------------------------- */
/* Batches                                                                 */
/* ---------------------------------------------------------------------- */

static spw_result pend(gcf_sink *s, spw_batch *b) {
    if (s->n_pending == s->cap_pending) {
        size_t nc = s->cap_pending ? s->cap_pending * 2 : 16;
        spw_batch **n = realloc(s->pending, nc * sizeof *n);
        if (!n)
            return SPW_ERR_NOMEM;
        s->pending = n;
        s->cap_pending = nc;
    }
    s->pending[s->n_pending++] = b;
    return SPW_OK;
}

/* Sends b, keeps it for the fetch in flight, or answers it retry. An error: b not taken. */
static spw_result dispatch(gcf_sink *s, spw_batch *b, spw_err *err) {
    bool fetch, fatal = false;
    uint64_t retry_ms = 0;
    char reason[900];
    enum gcf_state st = gcf_cache_state(s->cache, &fetch, &retry_ms, reason, sizeof reason,
                                        &fatal);
    if (fetch)
        start_fetch(s);
    switch (st) {
    case GCF_READY:
        return hs_send(&s->hs, b, err);
    case GCF_WAIT:
        /* Sent when the fetch ends (every worker is woken then). */
        if (pend(s, b) != SPW_OK)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        return SPW_OK;
    case GCF_FAILED:
    default:
        if (fatal)
            hold(s, reason);
        if (retry_ms)
            spw_batch_retry_after(b, retry_ms);
        spw_batch_done(b, SPW_RETRY, reason);
        return SPW_OK;
    }
}

static void on_wake(uv_async_t *h) {
    gcf_sink *s = h->data;
    if (!s || s->n_pending == 0)
        return;
    /* Those waiting now; dispatch may keep some again for a new fetch. */
    size_t n = s->n_pending;
    spw_batch **v = s->pending;
    s->pending = NULL;
    s->n_pending = s->cap_pending = 0;
    for (size_t i = 0; i < n; i++) {
        spw_err err = {""};
        if (dispatch(s, v[i], &err) != SPW_OK)
            spw_batch_done(v[i], SPW_RETRY, err.msg);
    }
    free(v);
}

static spw_result gcf_send(void *inst, spw_batch *b, spw_err *err) {
    gcf_sink *s = inst;
    spw_slice body = spw_batch_body(b);
    if (body.len > s->max_size) {
        char why[160];
        snprintf(why, sizeof why, "request body of %zu bytes over the function's limit of %zu",
                 body.len, s->max_size);
        spw_counter_add(s->c_too_large, 1);
        if (spw_batch_count(b) == 1)
            hs_warn(&s->hs, "%s (a record too large alone: rejected)", why);
        spw_batch_done(b, SPW_TOO_LARGE, why);
        return SPW_OK;
    }
    return dispatch(s, b, err);
}

/* The token hook, inside spw_http_send: the generation handed out becomes the request's tag. */
static spw_result token_fn(void *arg, spw_buf *out, spw_err *err) {
    gcf_sink *s = arg;
    uint64_t gen = 0;
    spw_result rc = gcf_cache_token(s->cache, out, &gen);
    if (rc == SPW_OK) {
        s->hs.tag = gen;
        return SPW_OK;
    }
    return spw_err_set(err, SPW_ERR_STATE, "the ID token expired before the request went out");
}

/* 401 and 403 before the http sink's classification. */
static bool intercept(hs_sink *hs, spw_batch *b, uint64_t tag, const spw_http_response *r) {
    gcf_sink *s = (gcf_sink *)hs;
    if (r->error != SPW_HTTP_OK || hs_codes_has(&hs->success, r->status)) {
        if (r->error == SPW_HTTP_OK && r->status < 300)
            gcf_cache_accepted(s->cache, tag);
        return false;
    }
    const char *aud = gcf_cache_audience(s->cache);
    const gcf_source *src = gcf_cache_source(s->cache);
    char reason[900];
    if (r->status == 401) {
        spw_counter_add(s->c_401, 1);
        int k = gcf_cache_unauthorized(s->cache, tag);
        if (k == 2) {
            snprintf(reason, sizeof reason,
                     "%s refused a freshly fetched ID token too (HTTP 401): the audience '%s' is "
                     "not the service's (set audience or generation), or %s is not accepted",
                     r->origin, aud, src->what);
            hold(s, reason);
        } else if (k == 1) {
            hs_warn(hs, "%s: HTTP 401, the ID token was refused: fetching a new one", r->origin);
        }
        spw_batch_done(b, SPW_RETRY, "HTTP 401 (ID token refused)");
        return true;
    }
    if (r->status == 403) {
        spw_counter_add(s->c_403, 1);
        snprintf(reason, sizeof reason,
                 "%s answered HTTP 403: %s may not invoke it (grant it roles/run.invoker, or "
                 "roles/cloudfunctions.invoker for 1st gen)",
                 r->origin, src->what);
        hold(s, reason);
        spw_batch_done(b, SPW_RETRY, "HTTP 403 (not an invoker)");
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h) { free(h); }

static void gcf_destroy(void *inst) {
    gcf_sink *s = inst;
    for (size_t i = 0; i < s->n_pending; i++)
        spw_batch_done(s->pending[i], SPW_RETRY, "stopping");
    s->n_pending = 0;
    /* Closing the client ends the deliveries in flight and a fetch (cancelled: another worker
     * takes it over). */
    hs_fini(&s->hs);
    if (s->wake) {
        if (s->cache)
            gcf_cache_detach(s->cache, s->wake);
        s->wake->data = NULL;
        uv_close((uv_handle_t *)s->wake, free_handle);
    }
    gcf_cache_put(s->cache);
    free(s->pending);
    spw_buf_free(&s->fetch_url);
    spw_buf_free(&s->fetch_body);
    free(s);
}

static spw_result gcf_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct gcf_conf *cf = config;
    gcf_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->cf = cf;
    spw_result rc = hs_init(&s->hs, st, &cf->hs, err);
    if (rc != SPW_OK) {
        free(s);
        return rc;
    }
    s->hs.intercept = intercept;
    s->max_size = limit_of(cf);
    s->c_fetch = spw_counter_register(st, "gcf_tokens_fetched", "ID tokens fetched.");
    s->c_fetch_fail = spw_counter_register(st, "gcf_token_failures", "ID token fetches failed.");
    s->c_401 = spw_counter_register(st, "gcf_http_401", "Requests answered 401.");
    s->c_403 = spw_counter_register(st, "gcf_http_403", "Requests answered 403.");
    s->c_too_large = spw_counter_register(st, "gcf_too_large",
                                          "Batches over max_request_size, split by the core.");
    if (!s->c_fetch || !s->c_fetch_fail || !s->c_401 || !s->c_403 || !s->c_too_large)
        rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    spw_buf aud = SPW_BUF_INIT;
    gcf_source src = {0};
    if (rc == SPW_OK)
        rc = audience_of(cf, &aud, err);
    if (rc == SPW_OK)
        rc = gcf_source_resolve(cf->credentials_file, &src, err);
    if (rc == SPW_OK && !(s->cache = gcf_cache_get(&src, (const char *)aud.data, err)))
        rc = SPW_ERR_NOMEM;
    gcf_source_free(&src);
    spw_buf_free(&aud);
    if (rc == SPW_OK) {
        s->wake = malloc(sizeof *s->wake);
        if (!s->wake || uv_async_init(spw_stage_loop(st), s->wake, on_wake) != 0) {
            free(s->wake);
            s->wake = NULL;
            rc = spw_err_set(err, SPW_ERR_NOMEM, "cannot make the wake-up handle");
        } else {
            s->wake->data = s;
            if (gcf_cache_attach(s->cache, s->wake) != SPW_OK)
                rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
    }
    if (rc != SPW_OK) {
        gcf_destroy(s);
        return rc;
    }
    spw_http_set_token(s->hs.http, cf->serverless_authorization ? "X-Serverless-Authorization"
                                                                : NULL,
                       token_fn, s);
    *inst = s;
    return SPW_OK;
}

static const spw_sink_ops gcf_sink_ops = {
    .send = gcf_send,
    .default_concurrency = 32,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "gcf", .version = "1.0.0",
                  .description = "Delivers to Google Cloud Functions and Cloud Run with "
                                 "Google-signed ID tokens (the http sink's delivery)",
                  .options = gcf_options, .config_size = sizeof(struct gcf_conf),
                  .check = gcf_check, .create = gcf_create, .destroy = gcf_destroy,
                  .sink = &gcf_sink_ops);
