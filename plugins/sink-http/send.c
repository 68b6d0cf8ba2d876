/*
 * plugins/sink-http/send.c: one HTTP request per batch, from the body the
 * core built to the outcome the core is told.
 *
 * The body goes to the client by pointer (the core keeps the batch alive
 * until spw_batch_done), with the configured headers, the content type,
 * and, when the URL or headers have ${...} variables, their values for
 * the batch's one record. A templated URL is rendered for the endpoint
 * the client picks (spw_http_pick) and pinned to it, so load balancing and
 * endpoint health work as they do for plain URLs.
 *
 * The request's timeout is the smaller of `timeout` and what is left
 * before the batch's deadline: past the deadline the core has already
 * answered the events "retry", and waiting longer would only hold a
 * connection and the in-flight budget.
 *
 * A call object (the rendered URL and headers) is pooled like the
 * client's requests, so the steady state allocates nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sink.h"

static hs_call *call_get(hs_sink *s) {
    hs_call *c = s->free_calls;
    if (c) {
        s->free_calls = c->next;
        return c;
    }
    if (s->n_calls == s->cap_calls) {
        size_t nc = s->cap_calls ? s->cap_calls * 2 : 16;
        hs_call **n = realloc(s->calls, nc * sizeof *n);
        if (!n)
            return NULL;
        s->calls = n;
        s->cap_calls = nc;
    }
    size_t nh = s->n_fixed + s->n_hdr_tpls + 1;
    c = calloc(1, sizeof *c);
    if (c)
        c->hv = calloc(nh, sizeof *c->hv);
    if (!c || !c->hv) {
        free(c);
        return NULL;
    }
    c->s = s;
    c->cap_hv = nh;
    s->calls[s->n_calls++] = c;
    return c;
}

static void call_put(hs_sink *s, hs_call *c) {
    c->b = NULL;
    c->next = s->free_calls;
    s->free_calls = c;
}

void hs_calls_free(hs_sink *s) {
    for (size_t i = 0; i < s->n_calls; i++) {
        spw_buf_free(&s->calls[i]->url);
        spw_buf_free(&s->calls[i]->hstore);
        free(s->calls[i]->hv);
        free(s->calls[i]);
    }
    free(s->calls);
    s->calls = NULL;
    s->n_calls = s->cap_calls = 0;
    s->free_calls = NULL;
}

static void on_response(const spw_http_response *resp, void *arg) {
    hs_call *c = arg;
    hs_sink *s = c->s;
    spw_batch *b = c->b;
    size_t count = spw_batch_count(b);
    call_put(s, c);
    hs_verdict v;
    if (resp->error == SPW_HTTP_ERR_BODY_TOO_LARGE) {
        /* Never sent. The core splits the batch; a record too large alone is rejected. */
        v.result = SPW_TOO_LARGE;
        snprintf(v.reason, sizeof v.reason, "%s", resp->error_text);
    } else if (resp->error == SPW_HTTP_OK && resp->status == 413 &&
               !hs_codes_has(&s->success, 413)) {
        /* Content Too Large: the destination's own limit, the same outcome. */
        hs_classify(&s->success, &s->retry, resp->error, resp->error_text, resp->status,
                    resp->body, resp->body_len, &v);
        v.result = SPW_TOO_LARGE;
    } else {
        hs_classify(&s->success, &s->retry, resp->error, resp->error_text, resp->status,
                    resp->body, resp->body_len, &v);
    }
    uint64_t ms;
    if (v.result == SPW_RETRY && resp->error == SPW_HTTP_OK &&
        spw_http_retry_after(spw_http_response_header(resp, "Retry-After"), &ms) && ms > 0)
        spw_batch_retry_after(b, ms);
    if (v.result == SPW_RETRY) {
        spw_counter_add(s->c_retry, 1);
        hs_warn(s, "%s: %s (%zu record(s) to retry)", resp->origin, v.reason, count);
    } else if (v.result == SPW_REJECT) {
        spw_counter_add(s->c_reject, 1);
        hs_warn(s, "%s: %s (%zu record(s) rejected)", resp->origin, v.reason, count);
    } else if (v.result == SPW_TOO_LARGE && count == 1) {
        spw_counter_add(s->c_reject, 1);
        hs_warn(s, "%s: %s (a record too large alone: rejected)", resp->origin, v.reason);
    }
    spw_batch_done(b, v.result, v.result == SPW_OK ? NULL : v.reason);
}

/* Renders the templated headers into c->hstore and lists every header in c->hv. */
static spw_result build_headers(hs_sink *s, hs_call *c, spw_batch *b, size_t *n) {
    const char *ct = s->cf->content_type && *s->cf->content_type ? s->cf->content_type
                                                                  : spw_batch_content_type(b);
    size_t k = 0;
    for (size_t i = 0; i < s->n_fixed; i++)
        c->hv[k++] = s->fixed[i];
    if (ct && *ct)
        c->hv[k++] = (spw_http_header){"Content-Type", ct};
    if (s->n_hdr_tpls == 0) {
        *n = k;
        return SPW_OK;
    }
    /* Each rendered "Name: value" line, NUL-terminated, at offsets until the store stops moving. */
    spw_buf *st = &c->hstore;
    spw_buf_reset(st);
    size_t offs[s->n_hdr_tpls];
    for (size_t i = 0; i < s->n_hdr_tpls; i++) {
        offs[i] = st->len;
        spw_result rc = spw_template_render(s->hdr_tpls[i], spw_batch_event(b, 0), SPW_TPL_HEADER, st);
        if (rc == SPW_OK)
            rc = spw_buf_append(st, "", 1);
        if (rc != SPW_OK)
            return rc;
    }
    for (size_t i = 0; i < s->n_hdr_tpls; i++) {
        char *line = (char *)st->data + offs[i];
        char *colon = strchr(line, ':'); /* checked at load: the name has no variable */
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        c->hv[k++] = (spw_http_header){line, v};
    }
    *n = k;
    return SPW_OK;
}

spw_result hs_send(hs_sink *s, spw_batch *b, spw_err *err) {
    size_t count = spw_batch_count(b);
    if (s->templated && count > 1) {
        /* The sink cannot see the route's batch_max_records, so this is caught here. */
        if (!s->batch_tpl_warned) {
            spw_log(s->st, SPW_LOG_ERROR,
                    "the URL or a header uses ${...} variables, which need one record per "
                    "request: set batch_max_records = 1 on this route (batches are rejected)");
            s->batch_tpl_warned = true;
        }
        spw_batch_done(b, SPW_REJECT,
                       "templated URL or headers with a batch of several records (set "
                       "batch_max_records = 1)");
        return SPW_OK;
    }
    hs_call *c = call_get(s);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    c->b = b;
    spw_slice body = spw_batch_body(b);
    spw_http_request req = {
        .method = s->method_name,
        .body = body.ptr,
        .body_len = body.len,
        /* Only an excerpt is ever quoted: the rest of a long answer is read and dropped. */
        .flags = SPW_HTTP_TRUNCATE,
    };
    spw_result rc = build_headers(s, c, b, &req.n_headers);
    req.headers = c->hv;
    if (rc == SPW_OK && s->url_tpls) {
        size_t ep = spw_http_pick(s->http);
        spw_buf_reset(&c->url);
        rc = spw_template_render(s->url_tpls[ep], spw_batch_event(b, 0), SPW_TPL_URL, &c->url);
        if (rc == SPW_OK)
            rc = spw_buf_append(&c->url, "", 1);
        req.target = (const char *)c->url.data;
        req.flags |= SPW_HTTP_PINNED;
        req.endpoint = ep;
    }
    if (rc != SPW_OK) {
        call_put(s, c);
        return spw_err_set(err, rc, "preparing the request failed: %s", spw_result_str(rc));
    }
    uint64_t now = uv_now(spw_stage_loop(s->st));
    uint64_t deadline = spw_batch_deadline(b);
    uint64_t tmo = spw_http_conf_timeout(s->cf->http);
    if (deadline > now && deadline - now < tmo)
        tmo = deadline - now;
    req.timeout_ms = tmo ? tmo : 1;
    rc = spw_http_send(s->http, &req, on_response, c, err);
    if (rc != SPW_OK)
        call_put(s, c);
    return rc;
}
