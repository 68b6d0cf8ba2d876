/*
 * plugins/sink-sqs/sqs.c: the `sqs` sink's options, instance and sending:
 * a core batch becomes SendMessageBatch requests of at most 10 entries
 * and max_batch_bytes, and every record gets its own outcome from its
 * entry's (see entries.c for the wire format, doc/aws-sinks.md for the
 * rules).
 *
 * Standard queues: a batch's requests go out at once. FIFO queues: one
 * after the other, each with at most one entry per message group, and an
 * entry that failed makes every later entry of its group in the batch
 * "retry" without being sent: they are resent together later, in order,
 * with the same deduplication ids, so SQS keeps per-group order and drops
 * what it already has.
 *
 * Endpoint: the configured `url` (native engines, endpoint health), else
 * AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL (the AWS SDKs' override), else
 * the queue URL's origin. Signing (auth = aws-sigv4, aws_service = sqs) and
 * credentials are the HTTP client's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqs.h"

#define OFF(f) offsetof(struct sqs_conf, f)

static const spw_option sqs_options[] = {
    /* SQS takes SigV4 for 'sqs' only: nothing else to choose (aws_check_signing). */
    SPW_OPTION_HTTP_DEFAULTS(struct sqs_conf, http, SPW_HTTP_CONF_URL_OPTIONAL,
                             "auth = aws-sigv4\n"
                             "aws_service = sqs"),
    {"queue_url", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(queue_url),
     "The queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME; a name ending in .fifo is "
     "a FIFO queue)."},
    {"max_batch_bytes", SPW_OPT_SIZE, 0, "1MiB", 1024, 1048576, NULL, OFF(max_batch_bytes),
     "Largest SendMessageBatch payload (the sum of its messages, attributes included), and so "
     "the largest message: SQS's limit, 1 MiB today."},
    {"body_encoding", SPW_OPT_ENUM, 0, "auto", 0, 0, "auto|text|base64", OFF(body_encoding),
     "Message bodies as the codec's text, or Base64 (auto: Base64 for binary codecs)."},
    {"message_attributes", SPW_OPT_LIST, 0, NULL, 0, 4, NULL, OFF(message_attributes),
     "Message attributes to add, from: namespace, set, msg (write or delete), lut (Unix ms)."},
    {"fifo", SPW_OPT_ENUM, 0, "auto", 0, 0, "auto|true|false", OFF(fifo),
     "FIFO queue (MessageGroupId and MessageDeduplicationId sent); auto: the queue name ends "
     "in .fifo."},
    SPW_OPTIONS_END,
};

typedef struct sqs_sink {
    spw_stage *st;
    const struct sqs_conf *cf;
    spw_http *http;
    aws_warner warn;
    char *target;  /* absolute endpoint URL, or NULL for the configured url */
    bool fifo;
    unsigned attrs;
    bool closing;
    spw_counter *c_entries_failed, *c_md5, *c_throttled, *c_requests;
} sqs_sink;

typedef struct sqs_job {
    sqs_sink *s;
    spw_batch *b;
    size_t n;
    size_t next;        /* FIFO: the first record not yet sent or settled */
    unsigned out;       /* requests in flight */
    bool base64;
    bool too_large;     /* a request of several entries was too large: the core splits */
    uint8_t *st;        /* per record: 0 open, 1 settled */
    uint8_t *failed;    /* FIFO, per record: its entry failed (retry): later ones of its group wait */
    char why[400];      /* the reason of the last whole-request failure */
} sqs_job;

typedef struct sqs_req {
    sqs_job *j;
    size_t n;
    sqs_entry_in e[SQS_MAX_ENTRIES];
    char md5[SQS_MAX_ENTRIES][33];
    spw_buf body, scratch;
} sqs_req;

static const char *const attr_names[] = {"namespace", "set", "msg", "lut"};

static spw_result sqs_check(const void *config, spw_err *err) {
    const struct sqs_conf *cf = config;
    const char *u = cf->queue_url;
    const char *p = strncmp(u, "https://", 8) == 0 ? u + 8 : strncmp(u, "http://", 7) == 0 ? u + 7 : NULL;
    if (!p || !strchr(p, '/') || strchr(p, '/')[1] == '\0')
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "queue_url '%s' is not a queue URL "
                           "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", u);
    for (size_t i = 0; i < cf->message_attributes.n; i++) {
        bool known = false;
        for (size_t k = 0; k < 4; k++)
            known |= strcmp(cf->message_attributes.v[i], attr_names[k]) == 0;
        if (!known)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "message_attributes: '%s' is not one of namespace, set, msg, lut",
                               cf->message_attributes.v[i]);
    }
    return aws_check_signing(cf->http, "sqs", err);
}

/* ---------------------------------------------------------------------- */
/* Jobs and requests                                                       */
/* ---------------------------------------------------------------------- */

static void job_issue(sqs_job *j);

static void job_finish(sqs_job *j) {
    spw_batch *b = j->b;
    /* Every record has its own outcome but those of too-large multi-entry requests. */
    if (j->too_large)
        spw_batch_done(b, SPW_TOO_LARGE, j->why[0] ? j->why : "SQS: batch request too long");
    else
        spw_batch_done(b, SPW_RETRY, j->why[0] ? j->why : "not sent");
    free(j->st);
    free(j->failed);
    free(j);
}

static void settle(sqs_job *j, size_t rec, spw_result r, const char *reason) {
    if (j->st[rec])
        return;
    j->st[rec] = 1;
    spw_batch_set_result(j->b, rec, r, r == SPW_OK ? NULL : reason);
    if (r == SPW_RETRY)
        j->failed[rec] = 1;
}

static bool same_group(sqs_job *j, size_t a, size_t b) {
    return memcmp(spw_event_digest(spw_batch_event(j->b, a)),
                  spw_event_digest(spw_batch_event(j->b, b)), 20) == 0;
}

/* FIFO: an earlier record of rec's group failed in this batch. */
static bool group_failed(sqs_job *j, size_t rec) {
    for (size_t i = 0; i < rec; i++)
        if (j->failed[i] && same_group(j, i, rec))
            return true;
    return false;
}

static void req_free(sqs_req *q) {
    spw_buf_free(&q->body);
    spw_buf_free(&q->scratch);
    free(q);
}

static void on_answer(const spw_http_response *r, void *arg) {
    sqs_req *q = arg;
    sqs_job *j = q->j;
    sqs_sink *s = j->s;
    j->out--;
    char code[128], msg[AWS_EXCERPT_MAX + 4], reason[400];
    if (r->error == SPW_HTTP_ERR_BODY_TOO_LARGE) {
        snprintf(j->why, sizeof j->why, "%s", r->error_text);
        j->too_large = true; /* left without an outcome: the core splits */
    } else if (r->error != SPW_HTTP_OK) {
        snprintf(reason, sizeof reason, "%s", r->error_text);
        snprintf(j->why, sizeof j->why, "%s", reason);
        for (size_t i = 0; i < q->n; i++)
            settle(j, q->e[i].rec, SPW_RETRY, reason);
        if (r->error != SPW_HTTP_ERR_CANCELLED)
            aws_warn(&s->warn, SPW_LOG_WARN, "%s: %s (%zu message(s) to retry)",
                     r->origin ? r->origin : "sqs", reason, q->n);
    } else if (r->status == 200) {
        sqs_entry_out out[SQS_MAX_ENTRIES];
        size_t md5_bad = 0;
        if (sqs_parse_answer(r->body, r->body_len, q->e, q->n, q->md5, out, &md5_bad) != SPW_OK) {
            aws_excerpt(r->body, r->body_len, msg, sizeof msg);
            snprintf(reason, sizeof reason, "SQS answered 200 without a SendMessageBatch result: %s",
                     msg);
            for (size_t i = 0; i < q->n; i++)
                settle(j, q->e[i].rec, SPW_RETRY, reason);
            aws_warn(&s->warn, SPW_LOG_WARN, "%s", reason);
        } else {
            size_t bad = 0;
            for (size_t i = 0; i < q->n; i++) {
                settle(j, q->e[i].rec, out[i].result, out[i].reason);
                if (out[i].result != SPW_OK) {
                    bad++;
                    snprintf(reason, sizeof reason, "%s", out[i].reason);
                }
            }
            spw_counter_add(s->c_entries_failed, bad);
            spw_counter_add(s->c_md5, md5_bad);
            if (bad)
                aws_warn(&s->warn, SPW_LOG_WARN, "%zu of %zu message(s) failed, e.g. %s", bad, q->n,
                         reason);
        }
    } else {
        sqs_error_class c = sqs_classify_error(r->status, r->body, r->body_len, code, sizeof code,
                                               msg, sizeof msg);
        snprintf(reason, sizeof reason, "SQS HTTP %d %s%s%s", r->status, code, msg[0] ? ": " : "",
                 msg);
        snprintf(j->why, sizeof j->why, "%s", reason);
        if (c == SQS_ERR_TOO_LARGE && q->n > 1) {
            j->too_large = true;
        } else {
            spw_result res = c == SQS_ERR_REJECT      ? SPW_REJECT
                             : c == SQS_ERR_TOO_LARGE ? SPW_TOO_LARGE
                                                      : SPW_RETRY;
            for (size_t i = 0; i < q->n; i++)
                settle(j, q->e[i].rec, res, reason);
            if (c == SQS_ERR_CONFIG) {
                spw_log(s->st, SPW_LOG_ERROR,
                        "%s: %s: the queue, its permissions or the credentials are wrong "
                        "(queue_url, aws_region, aws_service = sqs, the credential chain); "
                        "holding the route, probing every %us",
                        r->origin ? r->origin : "sqs", reason, SQS_PROBE_MS / 1000);
                spw_sink_down(s->st, SQS_PROBE_MS, reason);
            } else if (c == SQS_ERR_RETRY) {
                if (strstr(code, "Throttl"))
                    spw_counter_add(s->c_throttled, 1);
                aws_retry_after(r, j->b);
                aws_warn(&s->warn, SPW_LOG_WARN, "%s (%zu message(s) to retry)", reason, q->n);
            } else {
                aws_warn(&s->warn, SPW_LOG_WARN, "%s (%zu message(s) rejected)", reason, q->n);
            }
        }
    }
    req_free(q);
    if (s->fifo && !s->closing && r->error != SPW_HTTP_ERR_CANCELLED)
        job_issue(j); /* the next request of the batch, after this one's outcome */
    if (j->out == 0 && (s->closing || r->error == SPW_HTTP_ERR_CANCELLED || j->next >= j->n))
        job_finish(j);
}

/* Sends q; on a refusal from spw_http_send its entries are retried. False when not sent. */
static bool req_send(sqs_job *j, sqs_req *q) {
    sqs_sink *s = j->s;
    spw_err err = {""};
    spw_result rc = sqs_build(&q->body, s->cf->queue_url, q->e, q->n, j->base64, s->fifo, s->attrs,
                              &q->scratch, q->md5);
    if (rc == SPW_OK) {
        static const spw_http_header hdrs[] = {
            {"Content-Type", "application/x-amz-json-1.0"},
            {"X-Amz-Target", "AmazonSQS.SendMessageBatch"},
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
        };
        rc = spw_http_send(s->http, &req, on_answer, q, &err);
    } else {
        spw_err_set(&err, rc, "building the request failed: %s", spw_result_str(rc));
    }
    if (rc == SPW_OK) {
        j->out++;
        spw_counter_add(s->c_requests, 1);
        return true;
    }
    for (size_t i = 0; i < q->n; i++)
        settle(j, q->e[i].rec, SPW_RETRY, err.msg);
    snprintf(j->why, sizeof j->why, "%s", err.msg);
    req_free(q);
    return false;
}

/*
 * Builds and sends requests from j->next on: every remaining one for a
 * standard queue, the next one for a FIFO queue (the answer sends the
 * one after).
 */
static void job_issue(sqs_job *j) {
    sqs_sink *s = j->s;
    size_t max = (size_t)s->cf->max_batch_bytes;
    while (j->next < j->n) {
        sqs_req *q = calloc(1, sizeof *q);
        if (!q) {
            for (size_t i = j->next; i < j->n; i++)
                settle(j, i, SPW_RETRY, "out of memory");
            j->next = j->n;
            return;
        }
        q->j = j;
        size_t bytes = 0;
        /* Greedy: records in order while they fit. FIFO: one per group, none after a failure. */
        size_t i = j->next;
        for (; i < j->n && q->n < SQS_MAX_ENTRIES; i++) {
            if (j->st[i])
                continue;
            const spw_event *ev = spw_batch_event(j->b, i);
            spw_slice rec = spw_batch_record(j->b, i);
            size_t sz = sqs_message_size(ev, rec.len, j->base64, s->attrs);
            if (sz > max) {
                char why[160];
                snprintf(why, sizeof why, "a message of %zu bytes is over SQS's %zu", sz, max);
                settle(j, i, SPW_TOO_LARGE, why);
                continue;
            }
            if (s->fifo && group_failed(j, i)) {
                settle(j, i, SPW_RETRY, "an earlier message of its group failed: resent with it");
                continue;
            }
            bool dup = false;
            for (size_t k = 0; s->fifo && k < q->n && !dup; k++)
                dup = same_group(j, q->e[k].rec, i);
            if (dup || bytes + sz > max)
                break; /* the next request takes it */
            q->e[q->n++] = (sqs_entry_in){i, ev, rec};
            bytes += sz;
        }
        j->next = i;
        if (q->n == 0) {
            req_free(q);
            continue;
        }
        bool sent = req_send(j, q);
        if (s->fifo && sent)
            return;
    }
}

static spw_result sqs_send(void *inst, spw_batch *b, spw_err *err) {
    sqs_sink *s = inst;
    sqs_job *j = calloc(1, sizeof *j);
    size_t n = spw_batch_count(b);
    if (j) {
        j->st = calloc(n ? n : 1, 1);
        j->failed = calloc(n ? n : 1, 1);
    }
    if (!j || !j->st || !j->failed) {
        if (j) {
            free(j->st);
            free(j->failed);
        }
        free(j);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    j->s = s;
    j->b = b;
    j->n = n;
    const char *ct = spw_batch_content_type(b);
    j->base64 = s->cf->body_encoding == SQS_BODY_BASE64 ||
                (s->cf->body_encoding == SQS_BODY_AUTO &&
                 !(ct && (strstr(ct, "json") || strncmp(ct, "text/", 5) == 0)));
    job_issue(j);
    if (j->out == 0)
        job_finish(j); /* nothing went out: every record is settled (or too large) */
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static void sqs_destroy(void *inst) {
    sqs_sink *s = inst;
    s->closing = true;
    /* Requests still out end here, cancelled: their jobs give the batches back. */
    spw_http_close(s->http);
    free(s->target);
    free(s);
}

static bool name_is_fifo(const char *url) {
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    return n >= 5 && strncmp(url + n - 5, ".fifo", 5) == 0;
}

static spw_result sqs_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct sqs_conf *cf = config;
    sqs_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    s->warn.st = st;
    s->fifo = cf->fifo == 1 || (cf->fifo == 0 && name_is_fifo(cf->queue_url));
    for (size_t i = 0; i < cf->message_attributes.n; i++)
        for (unsigned k = 0; k < 4; k++)
            if (strcmp(cf->message_attributes.v[i], attr_names[k]) == 0)
                s->attrs |= 1u << k;
    if (spw_http_conf_urls(cf->http) == 0) {
        const char *env = aws_endpoint_env("SQS");
        if (env) {
            s->target = strdup(env);
        } else {
            /* The queue URL's origin, checked at load: scheme://authority/ */
            const char *p = strstr(cf->queue_url, "://") + 3;
            size_t n = (size_t)(strchr(p, '/') - cf->queue_url);
            s->target = malloc(n + 2);
            if (s->target) {
                memcpy(s->target, cf->queue_url, n);
                memcpy(s->target + n, "/", 2);
            }
        }
        if (!s->target) {
            free(s);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
    }
    s->c_requests = spw_counter_register(st, "sqs_requests", "SendMessageBatch requests sent.");
    s->c_entries_failed = spw_counter_register(st, "sqs_entries_failed",
                                               "Entries SQS answered Failed (or not at all).");
    s->c_md5 = spw_counter_register(st, "sqs_md5_mismatches",
                                    "Entries whose MD5OfMessageBody was not their body's (resent).");
    s->c_throttled = spw_counter_register(st, "sqs_throttled", "Requests answered throttling.");
    spw_result rc = spw_http_new(st, cf->http, &s->http, err);
    if (rc != SPW_OK) {
        free(s->target);
        free(s);
        return rc;
    }
    if (spw_stage_worker(st) == 0)
        spw_log(st, SPW_LOG_INFO, "queue %s (%s), endpoint %s", cf->queue_url,
                s->fifo ? "FIFO" : "standard",
                s->target ? s->target : spw_http_conf_url(cf->http, 0));
    *inst = s;
    return SPW_OK;
}

static const spw_sink_ops sqs_ops = {
    .send = sqs_send,
    /* A batch may make several requests (10 entries each): fewer batches at once than http. */
    .default_concurrency = 16,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "sqs", .version = "1.0.0",
                  .description = "Sends records to an Amazon SQS queue (SendMessageBatch, AWS JSON "
                                 "protocol, SigV4; FIFO queues deduplicated by digest and LUT)",
                  .options = sqs_options, .config_size = sizeof(struct sqs_conf),
                  .check = sqs_check, .create = sqs_create, .destroy = sqs_destroy,
                  .sink = &sqs_ops);
