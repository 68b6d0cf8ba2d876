/*
 * sink-webhook.c: an out-of-tree spillway sink that delivers each batch to
 * a webhook, signed the way GitHub signs its webhooks: the header
 * X-Spillway-Signature-256 (configurable) carries "sha256=" and the hex
 * HMAC-SHA256 of the body under a shared secret, so the receiver can tell
 * the records came from this pipeline.
 *
 * It is protocol logic only. The SDK's HTTP client (spillway/http.h) does
 * the rest: connections, HTTP/1.1 or HTTP/2, TLS, several URLs with
 * endpoint health, timeouts, gzip, proxies; SPW_OPTION_HTTP puts all of its
 * options (url, urls, protocol, timeout, tls_*, ...) in this sink's section.
 *
 * Build: see the Makefile (pkg-config spillway-sdk, and libcrypto for HMAC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spillway/spillway.h>

struct cfg {
    const spw_http_conf *http;
    char *secret;
    char *header;
};

static const spw_option options[] = {
    SPW_OPTION_HTTP(struct cfg, http, 0),
    {"secret", SPW_OPT_STRING, SPW_OPT_REQUIRED | SPW_OPT_SECRET, NULL, 0, 0, NULL,
     offsetof(struct cfg, secret), "Shared secret the body is signed with (or secret_file)."},
    {"signature_header", SPW_OPT_STRING, 0, "X-Spillway-Signature-256", 0, 0, NULL,
     offsetof(struct cfg, header), "Header that carries sha256=HEX."},
    SPW_OPTIONS_END,
};

typedef struct webhook {
    spw_stage *st;
    const struct cfg *cf;
    spw_http *http;
} webhook;

/* One batch on its way: what the response callback needs, and the signature's storage. */
typedef struct call {
    webhook *w;
    spw_batch *b;
    char sig[7 + 2 * EVP_MAX_MD_SIZE + 1];
} call;

static void sign(const struct cfg *cf, spw_slice body, char *out) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), cf->secret, (int)strlen(cf->secret), body.ptr, body.len, mac, &n);
    strcpy(out, "sha256=");
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

/* What a webhook's answer means for the batch: the sink classifies, the core retries. */
static void on_response(const spw_http_response *r, void *arg) {
    call *c = arg;
    spw_batch *b = c->b;
    webhook *w = c->w;
    free(c);
    char why[300];
    if (r->error == SPW_HTTP_ERR_BODY_TOO_LARGE) {
        /* Over max_body_size, never sent: the core splits the batch. */
        spw_batch_done(b, SPW_TOO_LARGE, r->error_text);
        return;
    }
    if (r->error != SPW_HTTP_OK) {
        /* No answer (connect, reset, timeout...): try again later. */
        spw_batch_done(b, SPW_RETRY, r->error_text);
        return;
    }
    if (r->status >= 200 && r->status < 300) {
        spw_batch_done(b, SPW_OK, NULL);
        return;
    }
    char excerpt[132];
    spw_printable(excerpt, sizeof excerpt, r->body, r->body_len, 128);
    snprintf(why, sizeof why, "HTTP %d: %s", r->status, excerpt);
    if (r->status == 413) {
        spw_batch_done(b, SPW_TOO_LARGE, why); /* the core splits; one record alone is rejected */
        return;
    }
    uint64_t ms;
    if (r->status == 408 || r->status == 429 || r->status >= 500) {
        if (spw_http_retry_after(spw_http_response_header(r, "Retry-After"), &ms))
            spw_batch_retry_after(b, ms);
        spw_batch_done(b, SPW_RETRY, why);
        return;
    }
    /* 4xx: the same bytes will be refused again; the route dead-letters them. */
    spw_log(w->st, SPW_LOG_WARN, "%zu record(s) rejected: %s", spw_batch_count(b), why);
    spw_batch_done(b, SPW_REJECT, why);
}

static spw_result webhook_send(void *inst, spw_batch *b, spw_err *err) {
    webhook *w = inst;
    call *c = malloc(sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    c->w = w;
    c->b = b;
    spw_slice body = spw_batch_body(b);
    sign(w->cf, body, c->sig);
    spw_http_header h[2] = {{"Content-Type", spw_batch_content_type(b)}, {w->cf->header, c->sig}};
    spw_http_request req = {
        .method = "POST",
        .headers = h,
        .n_headers = 2,
        .body = body.ptr,
        .body_len = body.len,
        .flags = SPW_HTTP_TRUNCATE, /* only an excerpt of an error answer is quoted */
    };
    spw_result rc = spw_http_send(w->http, &req, on_response, c, err);
    if (rc != SPW_OK)
        free(c); /* not taken: the core retries the batch */
    return rc;
}

static spw_result webhook_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    webhook *w = calloc(1, sizeof *w);
    if (!w)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    w->st = st;
    w->cf = config;
    spw_result rc = spw_http_new(st, w->cf->http, &w->http, err);
    if (rc != SPW_OK) {
        free(w);
        return rc;
    }
    *inst = w;
    return SPW_OK;
}

static void webhook_destroy(void *inst) {
    webhook *w = inst;
    /* Requests still out end here, cancelled: their callbacks give the batches back. */
    spw_http_close(w->http);
    free(w);
}

static const spw_sink_ops ops = {.send = webhook_send, .default_concurrency = 16};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "webhook", .version = "1.0.0",
                  .description = "Delivers batches to a webhook, signed with HMAC-SHA256",
                  .options = options, .config_size = sizeof(struct cfg),
                  .create = webhook_create, .destroy = webhook_destroy, .sink = &ops);
