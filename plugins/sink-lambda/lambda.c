/*
 * plugins/sink-lambda/lambda.c: the `lambda` sink, AWS Lambda's Invoke API
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), on the
 * SDK's HTTP client (SigV4 service `lambda`, the credential chain).
 *
 * A batch is one invocation, POST /2015-03-31/functions/NAME/invocations,
 * whose payload is {"records":[{"id":ID,"record":{...}} or {"id":ID,
 * "data":BASE64}, ...]}: the JSON codecs' objects as they are, binary
 * codecs' records in Base64. ID is the record's digest in hex, '-', its
 * LUT: unique in the batch (a repeat gets "~N") and the same on every
 * resend, so a function can be idempotent and can name records in Lambda's
 * partial-batch answer {"batchItemFailures":[{"itemIdentifier":ID}]}:
 * those are retried, the rest are delivered.
 *
 * A function error (X-Amz-Function-Error on a 200) fails the batch; the
 * sink bisects it (each half invoked again) until the record that makes
 * the function fail is alone, and dead-letters it with the function's
 * errorType and errorMessage; `function_error = retry` retries the batch
 * instead. Service errors, by x-amzn-ErrorType: 429 TooManyRequests retried
 * no sooner than retryAfterSeconds (Retry-After); 413 too large (the core
 * splits); 400/403/404 configuration, the route held down with a loud
 * log; 409/500/502 and other 5xx retried.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "../aws-common/aws-sink.h"

#define LAMBDA_SYNC_MAX 6291456u  /* 6 MB: RequestResponse payloads */
#define LAMBDA_ASYNC_MAX 1048576u /* 1 MB: Event payloads (256 KB before late 2025) */
#define LAMBDA_PROBE_MS 15000u

enum { INV_REQUEST_RESPONSE = 0, INV_EVENT };
enum { FE_BISECT = 0, FE_RETRY };

struct lambda_conf {
    const spw_http_conf *http;
    char *function;
    char *qualifier;
    int invocation_type;
    int64_t max_payload;
    int function_error;
    bool partial_batch;
};

#define OFF(f) offsetof(struct lambda_conf, f)

static const spw_option lambda_options[] = {
    /* The Invoke API takes SigV4 for 'lambda' only: nothing else to choose (aws_check_signing). */
    SPW_OPTION_HTTP_DEFAULTS(struct lambda_conf, http, SPW_HTTP_CONF_URL_OPTIONAL,
                             "auth = aws-sigv4\n"
                             "aws_service = lambda"),
    {"function", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(function),
     "The function: a name, a name:alias, a full ARN or a partial ARN (ACCOUNT:function:NAME)."},
    {"qualifier", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(qualifier),
     "A version or alias to invoke (the Qualifier parameter)."},
    {"invocation_type", SPW_OPT_ENUM, 0, "RequestResponse", 0, 0, "RequestResponse|Event",
     OFF(invocation_type),
     "RequestResponse: delivered once the function ran; Event: once Lambda queued it (weaker)."},
    {"max_payload", SPW_OPT_SIZE, 0, "0", 0, 6291456, NULL, OFF(max_payload),
     "Largest payload sent (0: Lambda's, 6 MB for RequestResponse, 1 MB for Event); a larger "
     "batch is split by the core."},
    {"function_error", SPW_OPT_ENUM, 0, "bisect", 0, 0, "bisect|retry", OFF(function_error),
     "On a function error: bisect the batch to dead-letter the record that fails, or retry it."},
    {"partial_batch", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(partial_batch),
     "Read Lambda's partial-batch answer (batchItemFailures): the listed records are retried."},
    SPW_OPTIONS_END,
};

typedef struct lambda_sink {
    spw_stage *st;
    const struct lambda_conf *cf;
    spw_http *http;
    aws_warner warn;
    char *target;       /* the invocation URL or path */
    size_t max_payload;
    bool closing;
    spw_counter *c_fn_errors, *c_partial, *c_throttled, *c_bisects;
} lambda_sink;

typedef struct lambda_job {
    lambda_sink *s;
    spw_batch *b;
    size_t n;
    unsigned out;
    bool base64;
    bool too_large;
    char **ids;          /* per record, stable across resends */
    char why[520];
} lambda_job;

typedef struct lambda_req {
    lambda_job *j;
    size_t a, z;         /* records [a, z) */
    spw_buf body;
} lambda_req;

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */
/* ---------------------------------------------------------------------- */

/* The region from an ARN (arn:PARTITION:lambda:REGION:...), else AWS_REGION, AWS_DEFAULT_REGION. */
static bool region_of(const char *fn, char *out, size_t size) {
    if (strncmp(fn, "arn:", 4) == 0) {
        const char *p = fn;
        for (int i = 0; i < 3 && p; i++)
            p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        const char *e = p ? strchr(p, ':') : NULL;
        if (p && e && e > p && (size_t)(e - p) < size) {
            memcpy(out, p, (size_t)(e - p));
            out[e - p] = '\0';
            return true;
        }
    }
    const char *r = getenv("AWS_REGION");
    if (!r || !*r)
        r = getenv("AWS_DEFAULT_REGION");
    if (!r || !*r || strlen(r) >= size)
        return false;
    snprintf(out, size, "%s", r);
    return true;
}

static spw_result lambda_check(const void *config, spw_err *err) {
    const struct lambda_conf *cf = config;
    if (!*cf->function || strlen(cf->function) > 170)
        return spw_err_set(err, SPW_ERR_CONFIG, "function '%s' is not a function name or ARN",
                           cf->function);
    for (const char *p = cf->function; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              strchr("-_:.$", *p)))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "function '%s': a name or ARN holds letters, digits and -_:.$ only",
                               cf->function);
    char region[64];
    if (spw_http_conf_urls(cf->http) == 0 && !aws_endpoint_env("LAMBDA") &&
        !region_of(cf->function, region, sizeof region))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "no endpoint for function '%s': give its ARN, set AWS_REGION, "
                           "AWS_ENDPOINT_URL_LAMBDA or url", cf->function);
    if (cf->invocation_type == INV_EVENT && cf->max_payload > (int64_t)LAMBDA_ASYNC_MAX)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "max_payload: Event invocations take at most %u bytes", LAMBDA_ASYNC_MAX);
    return aws_check_signing(cf->http, "lambda", err);
}

/* ---------------------------------------------------------------------- */
/* Payload                                                                 */
/* ---------------------------------------------------------------------- */

static spw_result build(lambda_job *j, size_t a, size_t z, spw_buf *out) {
    spw_result rc = spw_buf_append(out, "{\"records\":[", 12);
    for (size_t i = a; i < z && rc == SPW_OK; i++) {
        spw_slice r = spw_batch_record(j->b, i);
        rc = spw_buf_printf(out, "%s{\"id\":\"%s\",\"%s\":", i > a ? "," : "", j->ids[i],
                            j->base64 ? "data" : "record");
        if (rc == SPW_OK && j->base64) {
            rc = spw_buf_append(out, "\"", 1);
            if (rc == SPW_OK)
                rc = spw_buf_append_base64(out, r.ptr, r.len);
            if (rc == SPW_OK)
                rc = spw_buf_append(out, "\"", 1);
        } else if (rc == SPW_OK) {
            /* A JSON codec's record is one object: embedded as it is, its line end dropped. */
            size_t len = r.len;
            while (len && (r.ptr[len - 1] == '\n' || r.ptr[len - 1] == '\r'))
                len--;
            rc = spw_buf_append(out, r.ptr, len);
        }
        if (rc == SPW_OK)
            rc = spw_buf_append(out, "}", 1);
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "]}", 2);
    return rc;
}

static spw_result make_ids(lambda_job *j) {
    j->ids = calloc(j->n ? j->n : 1, sizeof *j->ids);
    if (!j->ids)
        return SPW_ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++) {
        const spw_event *ev = spw_batch_event(j->b, i);
        spw_buf id = SPW_BUF_INIT;
        spw_result rc = aws_hex(&id, spw_event_digest(ev), 20);
        if (rc == SPW_OK)
            rc = spw_buf_printf(&id, "-%" PRId64, spw_event_lut_ms(ev));
        /* The same version twice in one batch: still unique, and stable (the same order). */
        unsigned rep = 0;
        for (size_t k = 0; k < i && rc == SPW_OK; k++)
            if (strncmp(j->ids[k], (const char *)id.data, id.len) == 0 &&
                (j->ids[k][id.len] == '\0' || j->ids[k][id.len] == '~'))
                rep++;
        if (rc == SPW_OK && rep)
            rc = spw_buf_printf(&id, "~%u", rep);
        if (rc == SPW_OK)
            rc = spw_buf_append(&id, "", 1);
        if (rc != SPW_OK) {
            spw_buf_free(&id);
            return rc;
        }
        j->ids[i] = (char *)id.data;
    }
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Jobs                                                                    */
/* ---------------------------------------------------------------------- */

static void job_finish(lambda_job *j) {
    if (j->too_large)
        spw_batch_done(j->b, SPW_TOO_LARGE, j->why);
    else
        spw_batch_done(j->b, SPW_RETRY, j->why[0] ? j->why : "not invoked");
    for (size_t i = 0; i < j->n; i++)
        free(j->ids[i]);
    free(j->ids);
    free(j);
}

static void range_result(lambda_job *j, size_t a, size_t z, spw_result r, const char *why) {
    for (size_t i = a; i < z; i++)
        spw_batch_set_result(j->b, i, r, r == SPW_OK ? NULL : why);
}

static void invoke(lambda_job *j, size_t a, size_t z);

/* The answer's partial-batch failures: those records retry, the others of [a, z) are done. */
static void partial(lambda_job *j, size_t a, size_t z, const spw_http_response *r) {
    lambda_sink *s = j->s;
    json_t *root = s->cf->partial_batch ? json_loadb((const char *)r->body, r->body_len, 0, NULL)
                                        : NULL;
    json_t *fails = json_is_object(root) ? json_object_get(root, "batchItemFailures") : NULL;
    size_t k, nf = 0;
    json_t *it;
    uint8_t *failed = calloc(z - a ? z - a : 1, 1);
    json_array_foreach(fails, k, it) {
        const char *id = json_string_value(json_object_get(it, "itemIdentifier"));
        for (size_t i = a; id && i < z; i++)
            if (strcmp(j->ids[i], id) == 0) {
                if (failed)
                    failed[i - a] = 1;
                spw_batch_set_result(j->b, i, SPW_RETRY,
                                     "the function listed it in batchItemFailures");
                nf++;
            }
    }
    for (size_t i = a; i < z; i++)
        if (!failed || !failed[i - a])
            spw_batch_set_result(j->b, i, failed ? SPW_OK : SPW_RETRY, "out of memory");
    free(failed);
    json_decref(root);
    if (nf) {
        spw_counter_add(s->c_partial, nf);
        aws_warn(&s->warn, SPW_LOG_WARN, "the function failed %zu of %zu record(s) (batchItemFailures)",
                 nf, z - a);
    }
}

static void on_answer(const spw_http_response *r, void *arg) {
    lambda_req *q = arg;
    lambda_job *j = q->j;
    lambda_sink *s = j->s;
    size_t a = q->a, z = q->z;
    spw_buf_free(&q->body);
    free(q);
    j->out--;
    char reason[512], ex[AWS_EXCERPT_MAX + 4];
    const char *fe = r->error == SPW_HTTP_OK ? spw_http_response_header(r, "X-Amz-Function-Error")
                                             : NULL;
    if (r->error != SPW_HTTP_OK) {
        snprintf(reason, sizeof reason, "%s", r->error_text);
        range_result(j, a, z, SPW_RETRY, reason);
        snprintf(j->why, sizeof j->why, "%s", reason);
        if (r->error != SPW_HTTP_ERR_CANCELLED)
            aws_warn(&s->warn, SPW_LOG_WARN, "%s: %s (%zu record(s) to retry)",
                     r->origin ? r->origin : "lambda", reason, z - a);
    } else if ((r->status == 200 || r->status == 202 || r->status == 204) && !fe) {
        if (r->status == 200)
            partial(j, a, z, r);
        else
            range_result(j, a, z, SPW_OK, NULL);
    } else if (fe) {
        /* The function ran and failed: errorType and errorMessage say how. */
        json_t *root = json_loadb((const char *)r->body, r->body_len, 0, NULL);
        const char *et = json_string_value(json_object_get(root, "errorType"));
        const char *em = json_string_value(json_object_get(root, "errorMessage"));
        aws_excerpt((const uint8_t *)(em ? em : ""), em ? strlen(em) : 0, ex, sizeof ex);
        snprintf(reason, sizeof reason, "function error (%.40s): %s: %s", fe, et ? et : "?", ex);
        json_decref(root);
        spw_counter_add(s->c_fn_errors, 1);
        if (s->cf->function_error == FE_RETRY || s->closing) {
            range_result(j, a, z, SPW_RETRY, reason);
            aws_warn(&s->warn, SPW_LOG_WARN, "%s (%zu record(s) to retry)", reason, z - a);
        } else if (z - a == 1) {
            range_result(j, a, z, SPW_REJECT, reason);
            aws_warn(&s->warn, SPW_LOG_WARN, "record %s makes the function fail: dead-lettered: %s",
                     j->ids[a], reason);
        } else {
            /* Bisect: each half invoked again, until the failing record is alone. */
            size_t m = a + (z - a) / 2;
            spw_counter_add(s->c_bisects, 1);
            invoke(j, a, m);
            invoke(j, m, z);
        }
    } else {
        const char *et = spw_http_response_header(r, "x-amzn-ErrorType");
        char type[96] = "";
        if (et)
            snprintf(type, sizeof type, "%.*s", (int)strcspn(et, ":"), et);
        aws_excerpt(r->body, r->body_len, ex, sizeof ex);
        snprintf(reason, sizeof reason, "Lambda HTTP %d %s: %s", r->status, type, ex);
        snprintf(j->why, sizeof j->why, "%s", reason);
        if (r->status == 413) {
            if (z - a == j->n && j->n > 1 && a == 0)
                j->too_large = true; /* left without outcomes: the core splits */
            else
                range_result(j, a, z, z - a == 1 ? SPW_TOO_LARGE : SPW_RETRY, reason);
        } else if (r->status == 400 || r->status == 403 || r->status == 404 ||
                   r->status == 401) {
            range_result(j, a, z, SPW_RETRY, reason);
            spw_log(s->st, SPW_LOG_ERROR,
                    "%s: the function, its permissions or the credentials are wrong "
                    "(function, qualifier, aws_region, aws_service = lambda); holding the route, "
                    "probing every %us", reason, LAMBDA_PROBE_MS / 1000);
            spw_sink_down(s->st, LAMBDA_PROBE_MS, reason);
        } else {
            range_result(j, a, z, SPW_RETRY, reason);
            if (r->status == 429) {
                spw_counter_add(s->c_throttled, 1);
                /* retryAfterSeconds is the Retry-After header in Lambda's service model; some
                 * answers carry it in the body too. */
                if (!aws_retry_after(r, j->b)) {
                    json_t *root = json_loadb((const char *)r->body, r->body_len, 0, NULL);
                    json_t *ra = json_object_get(root, "retryAfterSeconds");
                    uint64_t ms;
                    const char *rs = json_string_value(ra);
                    char num[32];
                    if (json_is_integer(ra)) {
                        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(ra));
                        rs = num;
                    }
                    if (rs && spw_http_retry_after(rs, &ms) && ms)
                        spw_batch_retry_after(j->b, ms);
                    json_decref(root);
                }
            }
            aws_warn(&s->warn, SPW_LOG_WARN, "%s (%zu record(s) to retry)", reason, z - a);
        }
    }
    if (j->out == 0)
        job_finish(j);
}

static void invoke(lambda_job *j, size_t a, size_t z) {
    lambda_sink *s = j->s;
    lambda_req *q = calloc(1, sizeof *q);
    spw_err err = {""};
    spw_result rc = q ? build(j, a, z, &q->body) : SPW_ERR_NOMEM;
    if (rc == SPW_OK && q->body.len > s->max_payload) {
        /* Only the whole batch can be split by the core; a part over the cap (rare: the
         * halves of a batch that fit) is retried. */
        snprintf(j->why, sizeof j->why, "a payload of %zu bytes is over Lambda's %zu", q->body.len,
                 s->max_payload);
        if (a == 0 && z == j->n && j->n > 1)
            j->too_large = true;
        else
            range_result(j, a, z, z - a == 1 ? SPW_TOO_LARGE : SPW_RETRY, j->why);
        spw_buf_free(&q->body);
        free(q);
        return;
    }
    if (rc == SPW_OK) {
        q->j = j;
        q->a = a;
        q->z = z;
        spw_http_header hdrs[] = {
            {"Content-Type", "application/json"},
            {"X-Amz-Invocation-Type",
             s->cf->invocation_type == INV_EVENT ? "Event" : "RequestResponse"},
        };
        spw_http_request req = {
            .method = "POST",
            .target = s->target,
            .headers = hdrs,
            .n_headers = 2,
            .body = q->body.data,
            .body_len = q->body.len,
            .timeout_ms = aws_request_timeout(s->st, s->cf->http, j->b),
            .response_max = 1 << 20,
            /* Lambda takes no Content-Encoding on Invoke. */
            .flags = SPW_HTTP_NO_COMPRESS,
        };
        rc = spw_http_send(s->http, &req, on_answer, q, &err);
    } else {
        spw_err_set(&err, rc, "building the payload failed: %s", spw_result_str(rc));
    }
    if (rc == SPW_OK) {
        j->out++;
        return;
    }
    range_result(j, a, z, SPW_RETRY, err.msg);
    if (q) {
        spw_buf_free(&q->body);
        free(q);
    }
}

static spw_result lambda_send(void *inst, spw_batch *b, spw_err *err) {
    lambda_sink *s = inst;
    lambda_job *j = calloc(1, sizeof *j);
    if (!j)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    j->s = s;
    j->b = b;
    j->n = spw_batch_count(b);
    const char *ct = spw_batch_content_type(b);
    j->base64 = !(ct && strstr(ct, "json"));
    if (make_ids(j) != SPW_OK) {
        for (size_t i = 0; j->ids && i < j->n; i++)
            free(j->ids[i]);
        free(j->ids);
        free(j);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    invoke(j, 0, j->n);
    if (j->out == 0)
        job_finish(j);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static void lambda_destroy(void *inst) {
    lambda_sink *s = inst;
    s->closing = true;
    spw_http_close(s->http);
    free(s->target);
    free(s);
}

/* The invocation target: url (its path joined), or the override, or the region's endpoint. */
static spw_result make_target(lambda_sink *s, spw_err *err) {
    const struct lambda_conf *cf = s->cf;
    spw_buf t = SPW_BUF_INIT;
    spw_result rc = SPW_OK;
    if (spw_http_conf_urls(cf->http) == 0) {
        const char *env = aws_endpoint_env("LAMBDA");
        char region[64];
        if (env) {
            size_t n = strlen(env);
            while (n && env[n - 1] == '/')
                n--;
            rc = spw_buf_append(&t, env, n);
        } else if (region_of(cf->function, region, sizeof region)) {
            rc = spw_buf_printf(&t, "https://lambda.%s.amazonaws.com%s", region,
                                strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        } else {
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "no region for function '%s': give an ARN, set AWS_REGION, or url",
                               cf->function);
        }
    }
    if (rc == SPW_OK)
        rc = spw_buf_printf(&t, "/2015-03-31/functions/");
    /* The name goes percent-encoded (colons of ARNs included); the signer encodes it again. */
    for (const char *p = cf->function; *p && rc == SPW_OK; p++)
        rc = *p == ':' ? spw_buf_append(&t, "%3A", 3) : spw_buf_append(&t, p, 1);
    if (rc == SPW_OK)
        rc = spw_buf_printf(&t, "/invocations");
    if (rc == SPW_OK && cf->qualifier && *cf->qualifier) {
        rc = spw_buf_printf(&t, "?Qualifier=");
        for (const char *p = cf->qualifier; *p && rc == SPW_OK; p++) {
            unsigned char c = (unsigned char)*p;
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         strchr("-_.~", c);
            rc = plain ? spw_buf_append(&t, p, 1) : spw_buf_printf(&t, "%%%02X", c);
        }
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(&t, "", 1);
    if (rc != SPW_OK) {
        spw_buf_free(&t);
        return spw_err_set(err, rc, "out of memory");
    }
    s->target = (char *)t.data;
    return SPW_OK;
}

static spw_result lambda_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct lambda_conf *cf = config;
    lambda_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    s->warn.st = st;
    s->max_payload = cf->max_payload > 0 ? (size_t)cf->max_payload
                     : cf->invocation_type == INV_EVENT ? LAMBDA_ASYNC_MAX
                                                        : LAMBDA_SYNC_MAX;
    s->c_fn_errors = spw_counter_register(st, "lambda_function_errors",
                                          "Invocations answered with X-Amz-Function-Error.");
    s->c_partial = spw_counter_register(st, "lambda_item_failures",
                                        "Records the function listed in batchItemFailures.");
    s->c_throttled = spw_counter_register(st, "lambda_throttled", "429 TooManyRequests answers.");
    s->c_bisects = spw_counter_register(st, "lambda_bisects",
                                        "Failed batches split in two to find the failing record.");
    spw_result rc = make_target(s, err);
    if (rc == SPW_OK)
        rc = spw_http_new(st, cf->http, &s->http, err);
    if (rc != SPW_OK) {
        free(s->target);
        free(s);
        return rc;
    }
    if (spw_stage_worker(st) == 0)
        spw_log(st, SPW_LOG_INFO, "invoking %s (%s) at %s", cf->function,
                cf->invocation_type == INV_EVENT ? "Event" : "RequestResponse", s->target);
    *inst = s;
    return SPW_OK;
}

static const spw_sink_ops lambda_ops = {
    .send = lambda_send,
    .default_concurrency = 16,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "lambda", .version = "1.0.0",
                  .description = "Invokes an AWS Lambda function with each batch (Invoke API, "
                                 "SigV4; partial-batch answers, poison records bisected)",
                  .options = lambda_options, .config_size = sizeof(struct lambda_conf),
                  .check = lambda_check, .create = lambda_create, .destroy = lambda_destroy,
                  .sink = &lambda_ops);
