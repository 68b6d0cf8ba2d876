/*
 * plugins/sink-splunk-hec/send.c: one HEC request per batch, its answer
 * turned into per-record outcomes.
 *
 * The body is built here from the records (envelopes, or raw lines), not
 * the codec's framing. With indexer acknowledgement the request goes on a
 * channel (ack.c) pinned to that channel's endpoint, and a 200 with an
 * ackId holds the batch until the ack comes true; a 200 without one (a
 * token without useACK) is the delivery, said once in the log and counted
 * (hec_no_ack). Code 6 with invalid-event-number k: the envelopes before
 * k were indexed, envelope k is rejected with HEC's text, the rest retried.
 *
 * The request's timeout is the smaller of `timeout` and what is left
 * before the batch's deadline, as in the http sink.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hec.h"

typedef struct hec_call_x {
    hec_call c;
    size_t *env_rec; /* envelope i carries record env_rec[i] */
    size_t n_env, cap_env;
} hec_call_x;

static hec_call_x *call_get(hec_sink *s) {
    hec_call *c = s->free_calls;
    if (c) {
        s->free_calls = c->next;
        return (hec_call_x *)c;
    }
    hec_call_x *x = calloc(1, sizeof *x);
    if (x)
        x->c.s = s;
    return x;
}

static void call_put(hec_sink *s, hec_call_x *x) {
    x->c.b = NULL;
    x->c.ch = NULL;
    x->c.next = s->free_calls;
    s->free_calls = &x->c;
    /* A pooled call keeps its buffers, unless a rare huge batch made them big. */
    if (x->c.body.cap > ((size_t)8 << 20))
        spw_buf_free(&x->c.body);
}

void hec_calls_free(hec_sink *s) {
    while (s->free_calls) {
        hec_call_x *x = (hec_call_x *)s->free_calls;
        s->free_calls = x->c.next;
        spw_buf_free(&x->c.body);
        spw_buf_free(&x->c.target);
        free(x->env_rec);
        free(x);
    }
}

static void finish_partial(hec_sink *s, hec_call_x *x, const hec_answer *a) {
    spw_batch *b = x->c.b;
    size_t k = (size_t)a->invalid_event;
    char reason[256];
    snprintf(reason, sizeof reason, "HEC code 6 at envelope %zu: %s", k,
             a->text[0] ? a->text : "Invalid data format");
    for (size_t i = 0; i < x->n_env; i++) {
        size_t r = x->env_rec[i];
        if (i < k)
            spw_batch_set_result(b, r, SPW_OK, NULL);
        else if (i == k)
            spw_batch_set_result(b, r, SPW_REJECT, reason);
    }
    hec_warn(s, "%s (%zu envelope(s) before it indexed, %zu to resend)", reason, k,
             x->n_env - k - 1);
    spw_counter_add(s->c_resends, x->n_env - k - 1);
    spw_batch_done(b, SPW_RETRY, "after an envelope HEC refused (code 6)");
}

static void on_response(const spw_http_response *r, void *arg) {
    hec_call_x *x = arg;
    hec_sink *s = x->c.s;
    spw_batch *b = x->c.b;
    hec_channel *ch = x->c.ch;
    unsigned gen = x->c.ch_gen;
    size_t n = spw_batch_count(b);
    char reason[320];
    if (ch)
        ch->sending--;
    if (r->error != SPW_HTTP_OK) {
        spw_result res = r->error == SPW_HTTP_ERR_BODY_TOO_LARGE ? SPW_TOO_LARGE : SPW_RETRY;
        if (!s->closing)
            hec_warn(s, "%s: %s (%zu record(s) to %s)", r->origin ? r->origin : "HEC",
                     r->error_text, n, res == SPW_RETRY ? "retry" : "split");
        if (res == SPW_RETRY)
            spw_counter_add(s->c_resends, n);
        call_put(s, x);
        spw_batch_done(b, res, r->error_text);
        return;
    }
    if (ch && gen == ch->generation)
        hec_channel_cookies(ch, r);
    hec_answer a;
    hec_answer_parse(r->body, r->body_len, &a);
    enum hec_class cl = hec_classify(r->status, &a);
    if (a.parsed)
        snprintf(reason, sizeof reason, "HTTP %d, HEC code %d: %s", r->status, a.code, a.text);
    else
        snprintf(reason, sizeof reason, "HTTP %d without a HEC answer", r->status);
    switch (cl) {
    case HEC_C_OK:
        spw_counter_add(s->c_sent, n);
        if (!s->cf->ack) {
            call_put(s, x);
            spw_batch_done(b, SPW_OK, NULL);
        } else if (!a.has_ack_id) {
            if (!s->no_ack_logged) {
                spw_log(s->st, SPW_LOG_WARN,
                        "HEC answered without an ackId: the token has no indexer "
                        "acknowledgement (useACK), so a 200 is taken as delivery (counted in "
                        "hec_no_ack); turn it on for the token, or set ack = false");
                s->no_ack_logged = true;
            }
            spw_counter_add(s->c_no_ack, n);
            call_put(s, x);
            spw_batch_done(b, SPW_OK, NULL);
        } else if (gen != ch->generation) {
            /* The channel was given up while this request was out: its ids are lost. */
            spw_counter_add(s->c_resends, n);
            call_put(s, x);
            spw_batch_done(b, SPW_RETRY, "ack channel reset while the request was out");
        } else {
            call_put(s, x);
            hec_channel_hold(ch, b, a.ack_id);
        }
        return;
    case HEC_C_PARTIAL:
        if (a.invalid_event < x->n_env) {
            finish_partial(s, x, &a);
            call_put(s, x);
            return;
        }
        cl = HEC_C_RETRY;
        break;
    case HEC_C_TOKEN:
        spw_log(s->st, SPW_LOG_ERROR,
                "HEC refused the token (%s): holding the route down and retrying, nothing is "
                "dropped; check hec_token and that the token is enabled",
                reason);
        spw_sink_down(s->st, (uint64_t)s->cf->token_probe_ms, reason);
        break;
    case HEC_C_CHANNEL:
        if (ch && gen == ch->generation)
            hec_channel_reset(ch, reason);
        break;
    default:
        break;
    }
    spw_result res = cl == HEC_C_REJECT      ? SPW_REJECT
                     : cl == HEC_C_TOO_LARGE ? SPW_TOO_LARGE
                                             : SPW_RETRY;
    uint64_t ms;
    if (res == SPW_RETRY &&
        spw_http_retry_after(spw_http_response_header(r, "Retry-After"), &ms) && ms > 0)
        spw_batch_retry_after(b, ms);
    if (res == SPW_RETRY)
        spw_counter_add(s->c_resends, n);
    hec_warn(s, "%s: %s (%zu record(s) %s)", r->origin, reason, n,
             res == SPW_RETRY ? "to retry" : res == SPW_REJECT ? "rejected" : "too large");
    call_put(s, x);
    spw_batch_done(b, res, reason);
}

static spw_result build_event_body(hec_sink *s, hec_call_x *x, spw_batch *b) {
    size_t n = spw_batch_count(b);
    if (x->cap_env < n) {
        size_t *m = realloc(x->env_rec, n * sizeof *m);
        if (!m)
            return SPW_ERR_NOMEM;
        x->env_rec = m;
        x->cap_env = n;
    }
    x->n_env = 0;
    spw_buf_reset(&x->c.body);
    for (size_t i = 0; i < n; i++) {
        spw_result rc = hec_envelope(&s->meta, spw_batch_event(b, i), spw_batch_record(b, i),
                                     &x->c.body);
        if (rc == SPW_REJECT) {
            spw_batch_set_result(b, i, SPW_REJECT,
                                 "the record is not a JSON object (use the json or flat-json "
                                 "codec with the splunk-hec sink)");
            continue;
        }
        if (rc != SPW_OK)
            return rc;
        x->env_rec[x->n_env++] = i;
    }
    return SPW_OK;
}

static spw_result build_raw_body(hec_sink *s, hec_call_x *x, spw_batch *b) {
    size_t n = spw_batch_count(b);
    if (x->cap_env < n) {
        size_t *m = realloc(x->env_rec, n * sizeof *m);
        if (!m)
            return SPW_ERR_NOMEM;
        x->env_rec = m;
        x->cap_env = n;
    }
    spw_buf_reset(&x->c.body);
    x->n_env = 0;
    spw_result rc = SPW_OK;
    for (size_t i = 0; i < n && rc == SPW_OK; i++) {
        spw_slice r = spw_batch_record(b, i);
        rc = spw_buf_append(&x->c.body, r.ptr, r.len);
        if (rc == SPW_OK && (r.len == 0 || r.ptr[r.len - 1] != '\n'))
            rc = spw_buf_append(&x->c.body, "\n", 1);
        x->env_rec[x->n_env++] = i;
    }
    return rc;
}

spw_result hec_send(hec_sink *s, spw_batch *b, spw_err *err) {
    const char *ct = spw_batch_content_type(b);
    bool raw = s->cf->endpoint == HEC_EP_RAW;
    if (!raw && (!ct || !strstr(ct, "json"))) {
        /* A configuration error the sink can only see here: hold, never drop. */
        if (!s->codec_logged)
            spw_log(s->st, SPW_LOG_ERROR,
                    "the route's codec writes %s, but HEC events embed JSON objects: use the "
                    "json or flat-json codec (or endpoint = raw); holding the route down",
                    ct ? ct : "no content type");
        s->codec_logged = true;
        spw_sink_down(s->st, 60000, "the route's codec does not write JSON");
        spw_batch_done(b, SPW_RETRY, "the route's codec does not write JSON");
        return SPW_OK;
    }
    hec_channel *ch = hec_channel_get(s);
    if (!ch)
        return spw_err_set(err, SPW_ERR_NOSPACE,
                           "every ack channel has max_pending_acks batches waiting");
    hec_call_x *x = call_get(s);
    if (!x)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    x->c.b = b;
    x->c.ch = ch;
    x->c.ch_gen = ch ? ch->generation : 0;
    spw_result rc = raw ? build_raw_body(s, x, b) : build_event_body(s, x, b);
    spw_buf_reset(&x->c.target);
    if (rc == SPW_OK && raw)
        rc = hec_raw_query(&s->meta, spw_batch_event(b, 0), ch->guid, &s->scratch,
                           &x->c.target);
    else if (rc == SPW_OK)
        rc = spw_buf_append(&x->c.target, "/services/collector/event", 26);
    if (rc != SPW_OK) {
        call_put(s, x);
        return spw_err_set(err, rc, "building the request failed: %s", spw_result_str(rc));
    }
    if (x->n_env == 0) { /* every record refused before sending */
        call_put(s, x);
        spw_batch_done(b, SPW_REJECT, "no record to send");
        return SPW_OK;
    }
    spw_http_header h[4];
    spw_http_request req = {
        .method = "POST",
        .target = (const char *)x->c.target.data,
        .headers = h,
        .n_headers = hec_headers(s, ch, h, raw ? "text/plain" : "application/json"),
        .body = x->c.body.data,
        .body_len = x->c.body.len,
        /* With acks, the channel's endpoint: only the indexer that took a request knows
         * its ackId. Without, the client balances as it likes. */
        .flags = SPW_HTTP_NO_AUTH | (s->cf->ack ? SPW_HTTP_PINNED : 0u),
        .endpoint = ch->endpoint,
    };
    uint64_t now = uv_now(spw_stage_loop(s->st));
    uint64_t deadline = spw_batch_deadline(b);
    uint64_t tmo = spw_http_conf_timeout(s->cf->http);
    if (deadline > now && deadline - now < tmo)
        tmo = deadline - now;
    req.timeout_ms = tmo ? tmo : 1;
    rc = spw_http_send(s->http, &req, on_response, x, err);
    if (rc != SPW_OK) {
        call_put(s, x);
        return rc;
    }
    ch->sending++;
    return SPW_OK;
}
