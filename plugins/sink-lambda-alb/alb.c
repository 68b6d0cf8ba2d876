/*
 * plugins/sink-lambda-alb/alb.c: the `lambda-alb` sink, an AWS Lambda
 * function behind an Application Load Balancer.
 *
 * The transport is the SDK's HTTP client (url, TLS, pools, gzip, auth:
 * the HTTP option group); this file is the ALB's rules for Lambda targets
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html):
 *
 *   - The request body reaches the function whole, at most 1,000,000
 *     bytes as sent (after compression): a larger body is "too large"
 *     without being sent (the client checks it after gzip), and an ALB 413
 *     means the same; the core splits the batch, a record too large alone
 *     is dead-lettered.
 *   - 502 means the function failed or answered something the ALB could
 *     not turn into HTTP. Resending the same bytes usually fails again (a
 *     bug), so 502 rejects the batch by default (dead letter, with the
 *     ALB's words); `retry_502 = true` retries it instead, for functions
 *     whose failures are transient. Either way the function may have run.
 *   - 503 (throttled, no healthy target) and 504 (the function timed out)
 *     are retried, as are 500, 408 and 429, with Retry-After honoured.
 *   - 401, 403, 404 and 405 come from the ALB's own rules (authentication,
 *     no listener rule for the path, a fixed-response action): a
 *     configuration problem, so the route is held down with a loud log and
 *     probed, never dropped. Any other 4xx is the function's answer about
 *     the records: rejected with its words.
 *   - The content type is the codec's; binary codecs (msgpack, avro, xdr)
 *     are fine, the ALB hands the function Base64 (isBase64Encoded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../aws-common/aws-sink.h"

/* The ALB's cap on a request body for a Lambda target, in bytes (1 MB, decimal). */
#define ALB_MAX_BODY 1000000u
/* How long a route held down by a configuration answer waits before probing again. */
#define ALB_PROBE_MS 15000u

struct alb_conf {
    const spw_http_conf *http;
    bool retry_502;
    char *content_type;
};

#define OFF(f) offsetof(struct alb_conf, f)

static const spw_option alb_options[] = {
    SPW_OPTION_HTTP(struct alb_conf, http, 0),
    {"retry_502", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(retry_502),
     "Retry a 502 (the function failed or answered malformed) instead of dead-lettering the "
     "batch."},
    {"content_type", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(content_type),
     "Content-Type sent instead of the codec's."},
    SPW_OPTIONS_END,
};

typedef struct alb_call {
    struct alb_sink *s;
    spw_batch *b;
    struct alb_call *next; /* free list */
} alb_call;

typedef struct alb_sink {
    spw_stage *st;
    const struct alb_conf *cf;
    spw_http *http;
    aws_warner warn;
    alb_call *free_calls;
    alb_call **calls; /* every call object, for destroy */
    size_t n_calls, cap_calls;
    spw_counter *c_fn_errors, *c_throttled, *c_held;
} alb_sink;

static alb_call *call_get(alb_sink *s) {
    alb_call *c = s->free_calls;
    if (c) {
        s->free_calls = c->next;
        return c;
    }
    if (s->n_calls == s->cap_calls) {
        size_t nc = s->cap_calls ? s->cap_calls * 2 : 16;
        alb_call **n = realloc(s->calls, nc * sizeof *n);
        if (!n)
            return NULL;
        s->calls = n;
        s->cap_calls = nc;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    s->calls[s->n_calls++] = c;
    return c;
}

static void call_put(alb_sink *s, alb_call *c) {
    c->b = NULL;
    c->next = s->free_calls;
    s->free_calls = c;
}

/* What a status from the ALB means; see the top of the file. */
static spw_result classify(const alb_sink *s, int status, bool *config) {
    *config = false;
    if (status >= 200 && status < 300)
        return SPW_OK;
    switch (status) {
    case 413:
        return SPW_TOO_LARGE;
    case 502:
        return s->cf->retry_502 ? SPW_RETRY : SPW_REJECT;
    case 408: case 429: case 500: case 503: case 504:
        return SPW_RETRY;
    case 401: case 403: case 404: case 405: case 407:
        *config = true;
        return SPW_RETRY;
    default:
        /* 501, 505 and other 5xx: retry unless the server said it never will. */
        if (status >= 500)
            return (status == 501 || status == 505) ? SPW_REJECT : SPW_RETRY;
        return SPW_REJECT;
    }
}

static void on_response(const spw_http_response *r, void *arg) {
    alb_call *c = arg;
    alb_sink *s = c->s;
    spw_batch *b = c->b;
    size_t n = spw_batch_count(b);
    call_put(s, c);
    char ex[AWS_EXCERPT_MAX + 4];
    char reason[AWS_EXCERPT_MAX + 200];
    if (r->error == SPW_HTTP_ERR_BODY_TOO_LARGE) {
        /* Never sent: the core splits; a record over the cap alone is dead-lettered. */
        if (n == 1)
            aws_warn(&s->warn, SPW_LOG_WARN, "a record too large for an ALB alone: %s",
                     r->error_text);
        spw_batch_done(b, SPW_TOO_LARGE, r->error_text);
        return;
    }
    if (r->error != SPW_HTTP_OK) {
        if (r->error != SPW_HTTP_ERR_CANCELLED)
            aws_warn(&s->warn, SPW_LOG_WARN, "%s: %s (%zu record(s) to retry)",
                     r->origin ? r->origin : "alb", r->error_text, n);
        spw_batch_done(b, SPW_RETRY, r->error_text);
        return;
    }
    bool config;
    spw_result res = classify(s, r->status, &config);
    if (res == SPW_OK) {
        spw_batch_done(b, SPW_OK, NULL);
        return;
    }
    aws_excerpt(r->body, r->body_len, ex, sizeof ex);
    const char *what = r->status == 502   ? " (function error or malformed Lambda response)"
                       : r->status == 503 ? " (throttled or no healthy target)"
                       : r->status == 504 ? " (the function timed out)"
                       : r->status == 413 ? " (over the ALB's 1 MB)"
                                          : "";
    snprintf(reason, sizeof reason, "HTTP %d%s%s%s", r->status, what, ex[0] ? ": " : "", ex);
    if (r->status == 502)
        spw_counter_add(s->c_fn_errors, 1);
    if (r->status == 503 || r->status == 429)
        spw_counter_add(s->c_throttled, 1);
    const char *origin = r->origin ? r->origin : "alb";
    if (config) {
        spw_counter_add(s->c_held, 1);
        spw_log(s->st, SPW_LOG_ERROR,
                "%s answered %s: the ALB refuses these requests (check the URL, the listener "
                "rules and authentication); holding the route, probing every %us",
                origin, reason, ALB_PROBE_MS / 1000);
        spw_sink_down(s->st, ALB_PROBE_MS, reason);
    } else if (res == SPW_RETRY) {
        aws_retry_after(r, b);
        aws_warn(&s->warn, SPW_LOG_WARN, "%s: %s (%zu record(s) to retry)", origin, reason, n);
    } else if (res == SPW_REJECT) {
        aws_warn(&s->warn, SPW_LOG_WARN, "%s: %s (%zu record(s) rejected)", origin, reason, n);
    }
    spw_batch_done(b, res, reason);
}

static spw_result alb_send(void *inst, spw_batch *b, spw_err *err) {
    alb_sink *s = inst;
    alb_call *c = call_get(s);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    c->b = b;
    spw_slice body = spw_batch_body(b);
    const char *ct = s->cf->content_type && *s->cf->content_type ? s->cf->content_type
                                                                  : spw_batch_content_type(b);
    spw_http_header hdrs[1] = {{"Content-Type", ct && *ct ? ct : "application/octet-stream"}};
    spw_http_request req = {
        .method = "POST",
        .headers = hdrs,
        .n_headers = 1,
        .body = body.ptr,
        .body_len = body.len,
        .timeout_ms = aws_request_timeout(s->st, s->cf->http, b),
        /* Only an excerpt is quoted; a long answer is read and dropped. */
        .flags = SPW_HTTP_TRUNCATE,
    };
    spw_result rc = spw_http_send(s->http, &req, on_response, c, err);
    if (rc != SPW_OK)
        call_put(s, c);
    return rc;
}

static void alb_destroy(void *inst) {
    alb_sink *s = inst;
    /* Requests still out end here, cancelled: their callbacks give the batches back. */
    spw_http_close(s->http);
    for (size_t i = 0; i < s->n_calls; i++)
        free(s->calls[i]);
    free(s->calls);
    free(s);
}

static spw_result alb_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    alb_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = config;
    s->warn.st = st;
    s->c_fn_errors = spw_counter_register(st, "alb_function_errors",
                                          "502 answers: the function failed or answered malformed.");
    s->c_throttled = spw_counter_register(st, "alb_throttled", "503 and 429 answers.");
    s->c_held = spw_counter_register(st, "alb_config_errors",
                                     "401/403/404/405 answers that held the route down.");
    spw_result rc = spw_http_new(st, s->cf->http, &s->http, err);
    if (rc != SPW_OK) {
        free(s);
        return rc;
    }
    spw_http_set_max_body(s->http, ALB_MAX_BODY);
    *inst = s;
    return SPW_OK;
}

static const spw_sink_ops alb_ops = {
    .send = alb_send,
    /* As the http sink: enough requests in flight to hide a round trip. */
    .default_concurrency = 32,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "lambda-alb", .version = "1.0.0",
                  .description = "Delivers batches to an AWS Lambda function behind an "
                                 "Application Load Balancer (1 MB bodies, 502/503/504 rules)",
                  .options = alb_options, .config_size = sizeof(struct alb_conf),
                  .create = alb_create, .destroy = alb_destroy, .sink = &alb_ops);
