/*
 * plugins/sink-elasticsearch/send.c: one `_bulk` request per batch, and
 * the outcome of every record from its item in the answer.
 *
 * The body is built here from the records (bulk.c), not taken from the
 * codec's framing; a record that cannot be an action (no user key for
 * id = key, a codec that is not JSON) is rejected on its own and left out.
 * The answer is read per item (reply.c): only the items answered 429/5xx
 * are retried, a document error is rejected (dead-lettered) with its
 * type and reason, a stale version is done. A whole-request 413 is "too
 * large" (the core splits the batch down to the record that is), 429 and
 * 5xx retry the whole batch, 401/403 hold the sink down.
 *
 * Order: with versioning = none the index keeps whatever was applied
 * last, so when an item is retried every later action of the batch on the
 * same document is retried with it (even when it succeeded), and they go
 * back in their order. With external versioning the version decides and
 * order does not matter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "es.h"

#define ES_TARGET "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
/* Response bytes kept per action: an item with an error and a long reason fits. */
#define ES_REPLY_PER_ITEM 600
#define ES_REPLY_MAX ((size_t)64 << 20)

static es_call *call_get(es_sink *s, size_t n) {
    es_call *c = s->free_calls;
    if (c) {
        s->free_calls = c->next;
    } else {
        if (s->n_calls == s->cap_calls) {
            size_t nc = s->cap_calls ? s->cap_calls * 2 : 16;
            es_call **nv = realloc(s->calls, nc * sizeof *nv);
            if (!nv)
                return NULL;
            s->calls = nv;
            s->cap_calls = nc;
        }
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->s = s;
        s->calls[s->n_calls++] = c;
    }
    if (n > c->cap) {
        uint32_t *r = realloc(c->act_rec, n * sizeof *r);
        if (r)
            c->act_rec = r;
        uint32_t *k = realloc(c->act_key, n * sizeof *k);
        if (k)
            c->act_key = k;
        uint8_t *a = realloc(c->act_kind, n);
        if (a)
            c->act_kind = a;
        es_item *it = realloc(c->items, n * sizeof *it);
        if (it)
            c->items = it;
        if (!r || !k || !a || !it) {
            c->next = s->free_calls;
            s->free_calls = c;
            return NULL;
        }
        c->cap = n;
    }
    spw_buf_reset(&c->body);
    spw_buf_reset(&c->keys);
    c->n_act = 0;
    return c;
}

static void call_put(es_sink *s, es_call *c) {
    c->b = NULL;
    c->next = s->free_calls;
    s->free_calls = c;
}

void es_calls_free(es_sink *s) {
    for (size_t i = 0; i < s->n_calls; i++) {
        es_call *c = s->calls[i];
        spw_buf_free(&c->body);
        spw_buf_free(&c->keys);
        free(c->act_rec);
        free(c->act_key);
        free(c->act_kind);
        free(c->items);
        free(c);
    }
    free(s->calls);
    s->calls = NULL;
    s->n_calls = s->cap_calls = 0;
    s->free_calls = NULL;
}

static void hold_down(es_sink *s, const char *origin, const char *why) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s: check the credentials, the user's privileges and the index "
             "(records are kept and retried, never dropped)", origin, why);
    spw_log(s->st, SPW_LOG_ERROR, "%s", msg);
    spw_sink_down(s->st, (uint64_t)s->cf->auth_probe_ms, msg);
}

/* Every action of the batch retried, e.g. for a whole-request 429. */
static void retry_all(es_sink *s, es_call *c, const char *reason) {
    spw_counter_add(s->c_item_retry, c->n_act);
    for (size_t k = 0; k < c->n_act; k++)
        spw_batch_set_result(c->b, c->act_rec[k], SPW_RETRY, reason);
}

static const char *act_key(const es_call *c, size_t k) {
    return (const char *)c->keys.data + c->act_key[k];
}

static bool same_doc(const es_call *c, size_t a, size_t b) {
    const char *x = act_key(c, a), *y = act_key(c, b);
    size_t xi = strlen(x), yi = strlen(y);
    return xi == yi && !memcmp(x, y, xi) && !strcmp(x + xi + 1, y + yi + 1);
}

static void per_item(es_sink *s, es_call *c, const spw_http_response *resp) {
    es_reply rp;
    size_t n = c->n_act;
    spw_result prc = es_reply_parse(resp->body, resp->body_len, c->items, n, &rp);
    if (prc != SPW_OK || (!rp.cut && rp.n_items != n) || rp.n_items > n) {
        char ex[200];
        spw_printable(ex, sizeof ex, resp->body, resp->body_len, 120);
        es_warn(s, "%s: HTTP %d, but not a bulk answer for %zu actions (%zu items): %s",
                resp->origin, resp->status, n, rp.n_items, ex);
        retry_all(s, c, "HTTP 200 without a matching bulk answer");
        return;
    }
    if (rp.cut)
        es_warn(s, "%s: the bulk answer was cut at %zu bytes after %zu of %zu items; the rest are "
                "resent (raise response_max)", resp->origin, resp->body_len, rp.n_items, n);
    bool versioned = s->cf->versioning != ES_VER_NONE && !s->cf->data_stream;
    bool hold = false;
    size_t rejected = 0, retried = 0;
    char first[ES_REASON_MAX + 120] = "", why[ES_REASON_MAX + 120];
    /* Pass 1: each item's own outcome, kept in act_kind's high bit pattern via cls[]. */
    uint8_t cls[n];
    for (size_t k = 0; k < n; k++) {
        const es_item *it = &c->items[k];
        enum es_action a = (enum es_action)c->act_kind[k];
        enum es_item_class ic = k < rp.n_items ? es_item_classify(it, a, versioned) : ES_ITEM_RETRY;
        cls[k] = (uint8_t)ic;
    }
    /* Pass 2 (versioning = none): a retried action takes the later ones on its document along. */
    if (!versioned)
        for (size_t k = 0; k < n; k++)
            if (cls[k] == ES_ITEM_RETRY || cls[k] == ES_ITEM_HOLD)
                for (size_t j = k + 1; j < n; j++)
                    if ((cls[j] == ES_ITEM_DONE || cls[j] == ES_ITEM_STALE) && same_doc(c, k, j))
                        cls[j] = ES_ITEM_RETRY + 100; /* marked: retried for order */
    for (size_t k = 0; k < n; k++) {
        const es_item *it = &c->items[k];
        size_t r = c->act_rec[k];
        enum es_action a = (enum es_action)c->act_kind[k];
        switch (cls[k]) {
        case ES_ITEM_DONE:
            spw_counter_add(a == ES_ACT_DELETE || a == ES_ACT_SOFT_DELETE ? s->c_deleted
                                                                          : s->c_indexed, 1);
            spw_batch_set_result(c->b, r, SPW_OK, NULL);
            break;
        case ES_ITEM_STALE:
            spw_counter_add(s->c_stale, 1);
            spw_batch_set_result(c->b, r, SPW_OK, NULL);
            break;
        case ES_ITEM_REJECT:
            es_item_describe(it, why, sizeof why);
            spw_counter_add(s->c_item_reject, 1);
            spw_batch_set_result(c->b, r, SPW_REJECT, why);
            if (!rejected++)
                snprintf(first, sizeof first, "%s", why);
            break;
        case ES_ITEM_TOO_LARGE:
            es_item_describe(it, why, sizeof why);
            spw_counter_add(s->c_item_reject, 1);
            spw_batch_set_result(c->b, r, SPW_TOO_LARGE, why);
            break;
        case ES_ITEM_HOLD:
            hold = true;
            es_item_describe(it, why, sizeof why);
            if (!first[0])
                snprintf(first, sizeof first, "%s", why);
            spw_counter_add(s->c_item_retry, 1);
            spw_batch_set_result(c->b, r, SPW_RETRY, why);
            retried++;
            break;
        case ES_ITEM_RETRY + 100:
            spw_counter_add(s->c_item_retry, 1);
            spw_batch_set_result(c->b, r, SPW_RETRY,
                                 "resent after an earlier change of the same document, in order");
            retried++;
            break;
        default:
            es_item_describe(it, why, sizeof why);
            spw_counter_add(s->c_item_retry, 1);
            spw_batch_set_result(c->b, r, SPW_RETRY, why);
            retried++;
            break;
        }
    }
    if (hold)
        hold_down(s, resp->origin, first);
    else if (rejected)
        es_warn(s, "%s: %zu item(s) rejected, e.g. %s", resp->origin, rejected, first);
    if (retried && !hold)
        es_warn(s, "%s: %zu of %zu item(s) to retry", resp->origin, retried, n);
}

static void on_response(const spw_http_response *resp, void *arg) {
    es_call *c = arg;
    es_sink *s = c->s;
    spw_batch *b = c->b;
    char reason[400];
    if (resp->error == SPW_HTTP_ERR_BODY_TOO_LARGE) {
        spw_batch_done(b, SPW_TOO_LARGE, resp->error_text);
    } else if (resp->error != SPW_HTTP_OK) {
        /* No answer (connection refused or dropped, timeout): the bulk may or may not have been
         * applied; resending is safe (same ids, same versions). */
        snprintf(reason, sizeof reason, "%s", resp->error_text && *resp->error_text
                                                  ? resp->error_text
                                                  : spw_http_error_name(resp->error));
        if (resp->error != SPW_HTTP_ERR_CANCELLED)
            es_warn(s, "%s: %s (%zu action(s) to retry)", resp->origin ? resp->origin : "?",
                    reason, c->n_act);
        retry_all(s, c, reason);
        spw_batch_done(b, SPW_RETRY, reason);
    } else if (resp->status == 200) {
        per_item(s, c, resp);
        spw_batch_done(b, SPW_OK, NULL);
    } else {
        char ex[200];
        spw_printable(ex, sizeof ex, resp->body, resp->body_len, 160);
        snprintf(reason, sizeof reason, "HTTP %d: %s", resp->status, ex);
        spw_result r = SPW_RETRY;
        if (resp->status == 413) {
            r = SPW_TOO_LARGE; /* above http.max_content_length: the core splits */
        } else if (resp->status == 401 || resp->status == 403 || resp->status == 404) {
            hold_down(s, resp->origin, reason);
        } else if (resp->status == 400) {
            r = SPW_REJECT; /* the request as a whole is malformed: resending cannot help */
            es_warn(s, "%s: %s (%zu record(s) rejected)", resp->origin, reason, c->n_act);
        } else {
            uint64_t ms;
            if (spw_http_retry_after(spw_http_response_header(resp, "Retry-After"), &ms) && ms)
                spw_batch_retry_after(b, ms);
            es_warn(s, "%s: %s (%zu action(s) to retry)", resp->origin, reason, c->n_act);
        }
        if (r == SPW_RETRY)
            spw_counter_add(s->c_item_retry, c->n_act);
        else if (r == SPW_REJECT)
            spw_counter_add(s->c_item_reject, c->n_act);
        /* Applies to the actions only: records refused before sending keep their own result,
         * and for SPW_TOO_LARGE the core splits exactly the actions. */
        spw_batch_done(b, r, reason);
    }
    call_put(s, c);
}

spw_result es_send(es_sink *s, spw_batch *b, spw_err *err) {
    size_t count = spw_batch_count(b);
    es_call *c = call_get(s, count ? count : 1);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    c->b = b;
    size_t refused = 0;
    for (size_t i = 0; i < count; i++) {
        const spw_event *ev = spw_batch_event(b, i);
        enum es_action a;
        const char *why = NULL;
        spw_result rc = es_bulk_append(s->cf, &s->tpl, ev, spw_batch_record(b, i), &c->body,
                                       &s->scratch, &a, &why);
        if (rc == SPW_REJECT) {
            spw_batch_set_result(b, i, SPW_REJECT, why);
            spw_counter_add(s->c_item_reject, 1);
            if (!refused++)
                es_warn(s, "record rejected before sending: %s", why);
            continue;
        }
        size_t off = c->keys.len;
        if (rc == SPW_OK)
            rc = spw_buf_append(&c->keys, s->scratch.data, s->scratch.len);
        if (rc == SPW_OK)
            rc = spw_buf_append(&c->keys, "", 1);
        if (rc != SPW_OK) {
            call_put(s, c);
            return spw_err_set(err, rc, "building the bulk body failed: %s", spw_result_str(rc));
        }
        c->act_rec[c->n_act] = (uint32_t)i;
        c->act_kind[c->n_act] = (uint8_t)a;
        c->act_key[c->n_act] = (uint32_t)off;
        c->n_act++;
    }
    if (c->n_act == 0) { /* every record has its own result */
        call_put(s, c);
        spw_batch_done(b, SPW_OK, NULL);
        return SPW_OK;
    }
    static const spw_http_header hdr[] = {{"Content-Type", "application/x-ndjson"}};
    size_t rmax = 16384 + c->n_act * ES_REPLY_PER_ITEM;
    spw_http_request req = {
        .method = "POST",
        .target = ES_TARGET,
        .headers = hdr,
        .n_headers = 1,
        .body = c->body.data,
        .body_len = c->body.len,
        .response_max = rmax < ES_REPLY_MAX ? rmax : ES_REPLY_MAX,
        /* A cut answer is read as far as it goes; the items after the cut are resent. */
        .flags = SPW_HTTP_TRUNCATE,
    };
    uint64_t now = uv_now(spw_stage_loop(s->st));
    uint64_t deadline = spw_batch_deadline(b);
    uint64_t tmo = spw_http_conf_timeout(s->cf->http);
    if (deadline > now && deadline - now < tmo)
        tmo = deadline - now;
    req.timeout_ms = tmo ? tmo : 1;
    spw_result rc = spw_http_send(s->http, &req, on_response, c, err);
    if (rc != SPW_OK) {
        /* Not taken: the records refused above keep their result; the core retries the rest. */
        call_put(s, c);
    }
    return rc;
}
