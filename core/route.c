/*
 * core/route.c: a sink route on one worker.
 *
 * Events offered to a route pass its filters, are encoded by its codec
 * straight into the batch being filled, and leave as a batch when it
 * reaches batch_max_records or batch_max_bytes, or batch_max_delay after
 * its first event. At most `concurrency` batches are with the sink at once;
 * the rest wait in the ready queue (bounded by the worker's in-flight cap).
 *
 * Sinks only classify outcomes. This file decides what follows: delivered
 * events are reported to the ack machinery; events to retry go back to the
 * sink after an exponential backoff with full jitter, unless the retry
 * could not happen before the earliest deadline in the batch, in which case
 * they are answered "retry" now (XDR resends them); rejected events are
 * dead-lettered, answered retry, or dropped, as the route says.
 *
 * Sends happen from the worker's pump, never from inside spw_submit or
 * spw_batch_done, so a sink that completes synchronously cannot recurse.
 */
#include <stdlib.h>
#include <string.h>
#include "ack.h"
#include "log.h"
#include "route.h"
#include "taps.h"

struct dlq_ctx {
    spw__route *r;
    spw_event *ev;
};

static const char *route_title(const spw__route *r) { return r->def->title; }

/* ---- batches ---------------------------------------------------------- */

static spw_batch *batch_new(spw__route *r) {
    spw_batch *b = r->spare;
    if (b) {
        r->spare = NULL;
    } else {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
    }
    b->route = r;
    return b;
}

static void batch_clear_items(spw_batch *b) {
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].reason);
    b->n = 0;
    b->records.len = 0;
    b->body.len = 0;
    b->attempt = 0;
    b->retry_after_ms = 0;
    b->due = 0;
    b->next = NULL;
    b->lent = false;
    b->held = false;
}

static void batch_free(spw_batch *b) {
    batch_clear_items(b);
    free(b->items);
    spw_buf_free(&b->records);
    spw_buf_free(&b->body);
    free(b);
}

/* Keeps one emptied batch for reuse: the steady state allocates nothing per request. */
static void batch_recycle(spw__route *r, spw_batch *b) {
    batch_clear_items(b);
    if (!r->spare && b->records.cap <= (size_t)r->def->sink.batch_max_bytes * 2)
        r->spare = b;
    else
        batch_free(b);
}

static spw_result batch_push(spw_batch *b, spw_event *ev, size_t off, size_t len) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        spw__batch_item *it = realloc(b->items, cap * sizeof *it);
        if (!it)
            return SPW_ERR_NOMEM;
        b->items = it;
        b->cap = cap;
    }
    b->items[b->n++] = (spw__batch_item){ev, off, len, SPW__NO_RESULT, NULL};
    return SPW_OK;
}

/*
 * Compacting a batch in place, one item at a time, in order: a kept item
 * moves down to slot `n` and its record down to offset `pos`. Both only
 * ever move towards the front, over items already dealt with, so an item
 * not yet reached (and its record, which a reject may still read) is never
 * overwritten. No storage sized by the batch: a batch may hold a million
 * records, far too many for a stack array.
 */
typedef struct compactor {
    size_t n, pos;
} compactor;

/* Keeps item i for the next attempt, clearing this attempt's result. */
static void compact_keep(spw_batch *b, compactor *c, size_t i) {
    spw__batch_item it = b->items[i];
    if (it.off != c->pos)
        memmove(b->records.data + c->pos, b->records.data + it.off, it.len);
    it.off = c->pos;
    it.result = SPW__NO_RESULT;
    free(it.reason);
    it.reason = NULL;
    c->pos += it.len;
    b->items[c->n++] = it;
}

/* Leaves item i out; its event reference has gone elsewhere (reported, moved). */
static void compact_drop(spw_batch *b, size_t i) {
    free(b->items[i].reason);
    b->items[i].reason = NULL;
}

static void compact_end(spw_batch *b, const compactor *c) {
    b->n = c->n;
    b->records.len = c->pos;
}

/* ---- outcomes --------------------------------------------------------- */

static void report(spw__route *r, spw_event *ev, spw_result res) {
    if (res == SPW_OK)
        spw_counter_add(r->c_delivered, 1);
    else if (res == SPW_RETRY)
        spw_counter_add(r->c_retried, 1);
    spw__ack_route_done(ev, res);
}

static void dlq_done(void *arg, spw_result res) {
    struct dlq_ctx *c = arg;
    if (res == SPW_OK) {
        spw_counter_add(c->r->c_dead, 1);
        spw__ack_route_done(c->ev, SPW_OK);
    } else {
        spw__log(route_title(c->r), SPW_LOG_ERROR,
                 "dead-letter write failed (%s); the event will be retried", spw_result_str(res));
        report(c->r, c->ev, SPW_RETRY);
    }
    free(c);
}

/* Rate-limits reject logs to one line per second per worker thread, counting the rest. */
static void log_reject(spw__route *r, const spw_event *ev, const char *reason) {
    static _Thread_local uint64_t last_ms;
    static _Thread_local uint64_t suppressed;
    uint64_t now = uv_now(&r->w->loop);
    if (last_ms && now - last_ms < 1000) {
        suppressed++;
        return;
    }
    spw_str ns = spw_event_namespace(ev);
    spw__log(route_title(r), SPW_LOG_WARN, "rejected %s record in %.*s: %s%s", 
             spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write", (int)ns.len,
             ns.ptr ? ns.ptr : "", reason && *reason ? reason : "no reason given",
             suppressed ? " (more rejects suppressed in the last second)" : "");
    last_ms = now;
    suppressed = 0;
}

static void reject(spw__route *r, spw_event *ev, spw_slice rec, const char *reason) {
    spw_counter_add(r->c_rejected, 1);
    log_reject(r, ev, reason);
    switch (r->on_reject) {
    case SPW__REJECT_DEAD_LETTER: {
        spw__pipeline *p = r->w->p;
        const spw_codec_ops *codec = r->codec->def->plugin->codec;
        struct dlq_ctx *c = malloc(sizeof *c);
        spw_buf_reset(&r->scratch);
        if (!c || spw__dlq_format(&r->scratch, p->conf.name, route_title(r), ev, rec,
                                  codec->content_type(r->codec->inst, false),
                                  reason ? reason : "") != SPW_OK ||
            spw__dlq_write(p->dlq, &r->w->loop, r->scratch.data, r->scratch.len, dlq_done, c) !=
                SPW_OK) {
            free(c);
            report(r, ev, SPW_RETRY);
            return;
        }
        c->r = r;
        c->ev = ev;
        return;
    }
    case SPW__REJECT_RETRY:
        report(r, ev, SPW_RETRY);
        return;
    case SPW__REJECT_DROP:
        spw_counter_add(r->c_dropped, 1);
        spw__ack_route_done(ev, SPW_REJECT);
        return;
    }
}

/* ---- the queue -------------------------------------------------------- */

static void ready_push(spw__route *r, spw_batch *b, bool front) {
    b->next = NULL;
    if (!r->ready_head) {
        r->ready_head = r->ready_tail = b;
    } else if (front) {
        b->next = r->ready_head;
        r->ready_head = b;
    } else {
        r->ready_tail->next = b;
        r->ready_tail = b;
    }
    spw__worker_kick(r->w);
}

static void close_filling(spw__route *r) {
    spw_batch *b = r->filling;
    if (!b)
        return;
    r->filling = NULL;
    uv_timer_stop(&r->delay_timer);
    if (b->n == 0) {
        batch_recycle(r, b);
        return;
    }
    ready_push(r, b, false);
}

static void on_delay(uv_timer_t *t) { close_filling(t->data); }

static uint64_t batch_deadline(const spw_batch *b) {
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].ev->deadline < d)
            d = b->items[i].ev->deadline;
    return d;
}

static void on_retry(uv_timer_t *t);

static void retry_arm(spw__route *r) {
    if (!r->retry_head) {
        uv_timer_stop(&r->retry_timer);
        return;
    }
    uint64_t now = uv_now(&r->w->loop);
    uint64_t due = r->retry_head->due;
    uv_timer_start(&r->retry_timer, on_retry, due > now ? due - now : 0, 0);
}

static void on_retry(uv_timer_t *t) {
    spw__route *r = t->data;
    uint64_t now = uv_now(&r->w->loop);
    while (r->retry_head && r->retry_head->due <= now) {
        spw_batch *b = r->retry_head;
        r->retry_head = b->next;
        ready_push(r, b, true);
    }
    retry_arm(r);
}

static void retry_insert(spw__route *r, spw_batch *b) {
    spw_batch **pp = &r->retry_head;
    while (*pp && (*pp)->due <= b->due)
        pp = &(*pp)->next;
    b->next = *pp;
    *pp = b;
    if (r->retry_head == b)
        retry_arm(r);
}

/* ---- sending ---------------------------------------------------------- */

/* Drops events already answered by their deadline: sending them would only make duplicates. */
static bool drop_expired(spw__route *r, spw_batch *b) {
    size_t expired = 0;
    for (size_t i = 0; i < b->n; i++)
        expired += spw__ack_expired(b->items[i].ev);
    if (!expired)
        return b->n > 0;
    compactor c = {0, 0};
    for (size_t i = 0; i < b->n; i++) {
        if (spw__ack_expired(b->items[i].ev)) {
            report(r, b->items[i].ev, SPW_RETRY);
            compact_drop(b, i);
        } else {
            compact_keep(b, &c, i);
        }
    }
    compact_end(b, &c);
    return b->n > 0;
}

static spw_result build_body(spw__route *r, spw_batch *b, spw_err *err) {
    const spw_codec_ops *codec = r->codec->def->plugin->codec;
    if (!r->batching || !codec->frame)
        return SPW_OK; /* the body is the records buffer itself */
    /* The slices live in route-owned scratch that only grows: no allocation per send. */
    if (b->n > r->recs_cap) {
        spw_slice *grown = realloc(r->recs, b->n * sizeof *grown);
        if (!grown)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory framing a batch");
        r->recs = grown;
        r->recs_cap = b->n;
    }
    for (size_t i = 0; i < b->n; i++)
        r->recs[i] = (spw_slice){b->records.data + b->items[i].off, b->items[i].len};
    b->body.len = 0;
    return codec->frame(r->codec->inst, r->recs, b->n, &b->body, err);
}

/* Sends b (as the probe of a route that is down when `probe`); false when nothing was left to send. */
static bool send_batch(spw__route *r, spw_batch *b, bool probe) {
    spw_err err = {""};
    if (!drop_expired(r, b)) {
        batch_recycle(r, b);
        return false;
    }
    if (probe) {
        r->probe = b;
        r->probe_due = false;
    }
    spw_result res = build_body(r, b, &err);
    b->attempt++;
    b->lent = true;
    r->lent++;
    spw_counter_add(r->c_batches, 1);
    if (b->attempt > 1)
        spw_counter_add(r->c_retries, 1);
    if (res == SPW_OK) {
        spw_histogram_observe(r->h_records, (double)b->n);
        spw_histogram_observe(r->h_bytes, (double)spw_batch_body(b).len);
        res = r->sink->def->plugin->sink->send(r->sink->inst, b, &err);
    }
    if (res != SPW_OK)
        spw_batch_done(b, SPW_RETRY, err.msg[0] ? err.msg : spw_result_str(res));
    return true;
}

void spw__route_pump(spw__route *r) {
    while (r->lent < r->concurrency && r->ready_head && !r->closing) {
        /* Down: the batches wait, but for one probe once its time has come. */
        if (r->down && (!r->probe_due || r->probe))
            break;
        spw_batch *b = r->ready_head;
        r->ready_head = b->next;
        if (!r->ready_head)
            r->ready_tail = NULL;
        b->next = NULL;
        /* A batch whose events all expired is released, not sent: the next one may probe. */
        send_batch(r, b, r->down);
    }
}

/* ---- destination down ------------------------------------------------- */

/* Longest hold between probes: a sink's mistake must not park a route for days. */
#define PROBE_MAX_MS (3600u * 1000u)

static void on_probe(uv_timer_t *t) {
    spw__route *r = t->data;
    r->probe_due = true;
    spw__worker_kick(r->w);
}

static void probe_arm(spw__route *r) {
    r->probe_due = false;
    uv_timer_start(&r->probe_timer, on_probe, r->probe_ms, 0);
}

static void route_up(spw__route *r, const char *why) {
    if (!r->down)
        return;
    r->down = false;
    r->probe = NULL;
    r->probe_due = false;
    uv_timer_stop(&r->probe_timer);
    spw_gauge_set(r->g_down, 0);
    spw_gauge_add(r->w->g_routes_down, -1);
    spw__log(route_title(r), SPW_LOG_INFO, "destination up again after %llu ms (%s); resuming",
             (unsigned long long)(uv_now(&r->w->loop) - r->down_since), why);
    spw__worker_kick(r->w);
}

void spw_sink_down(spw_stage *st, uint64_t probe_after_ms, const char *reason) {
    spw__route *r = st ? st->route : NULL;
    if (!r) {
        if (st)
            spw_log(st, SPW_LOG_ERROR, "spw_sink_down: only a sink may say so, after create(); ignored");
        return;
    }
    if (r->closing)
        return;
    if (probe_after_ms > PROBE_MAX_MS)
        probe_after_ms = PROBE_MAX_MS;
    const char *why = reason && *reason ? reason : "no reason given";
    if (!r->down) {
        /* Logged and counted once per transition, not per batch. */
        r->down = true;
        r->down_since = uv_now(&r->w->loop);
        spw_counter_add(r->c_down, 1);
        spw_gauge_set(r->g_down, 1);
        spw_gauge_add(r->w->g_routes_down, 1);
        spw__log(route_title(r), SPW_LOG_WARN,
                 "destination down (%s); holding this route's batches, probing in %llu ms", why,
                 (unsigned long long)probe_after_ms);
    } else {
        spw__log(route_title(r), SPW_LOG_DEBUG, "destination still down (%s); next probe in %llu ms",
                 why, (unsigned long long)probe_after_ms);
    }
    /* A probe still out has failed: the sink says so. Its batch ends as the sink answers it. */
    r->probe = NULL;
    r->probe_ms = probe_after_ms;
    probe_arm(r);
}

void spw_sink_up(spw_stage *st) {
    spw__route *r = st ? st->route : NULL;
    if (r)
        route_up(r, "the sink says so");
}

/* ---- the sink's side of a batch (SDK) ---------------------------------- */

size_t spw_batch_count(const spw_batch *b) { return b->n; }

const spw_event *spw_batch_event(const spw_batch *b, size_t i) {
    return i < b->n ? b->items[i].ev : NULL;
}

spw_slice spw_batch_record(const spw_batch *b, size_t i) {
    if (i >= b->n)
        return (spw_slice){NULL, 0};
    return (spw_slice){b->records.data + b->items[i].off, b->items[i].len};
}

spw_slice spw_batch_body(const spw_batch *b) {
    const spw__route *r = b->route;
    if (r->batching && r->codec->def->plugin->codec->frame)
        return (spw_slice){b->body.data, b->body.len};
    return (spw_slice){b->records.data, b->records.len};
}

const char *spw_batch_content_type(const spw_batch *b) {
    const spw__route *r = b->route;
    return r->codec->def->plugin->codec->content_type(r->codec->inst, r->batching);
}

unsigned spw_batch_attempt(const spw_batch *b) { return b->attempt; }

uint64_t spw_batch_deadline(const spw_batch *b) { return batch_deadline(b); }

/* What a sink's section makes of concurrency: the pipeline's, else the plugin's, else 1. */
static unsigned route_concurrency(const spw__stage_def *def) {
    unsigned dflt = def->plugin->sink->default_concurrency;
    return def->sink.concurrency > 0 ? (unsigned)def->sink.concurrency : dflt ? dflt : 1;
}

static unsigned route_max_held(const spw__stage_def *def) {
    return def->sink.max_held > 0 ? (unsigned)def->sink.max_held : route_concurrency(def);
}

/* From the section, not the route: a sink may ask in create(), before its route exists. */
static spw_limits limits_of(const spw__stage_def *def) {
    spw_limits l;
    memset(&l, 0, sizeof l);
    l.max_records = (uint64_t)def->sink.batch_max_records;
    l.max_bytes = (uint64_t)def->sink.batch_max_bytes;
    l.max_delay_ms = (uint64_t)def->sink.batch_max_delay_ms;
    l.concurrency = route_concurrency(def);
    l.max_held = route_max_held(def);
    return l;
}

spw_limits spw_batch_limits(const spw_batch *b) { return limits_of(b->route->def); }

spw_limits spw_sink_limits(const spw_stage *st) {
    if (!st || st->def->kind != SPW_KIND_SINK) {
        spw_limits none;
        memset(&none, 0, sizeof none);
        return none;
    }
    return limits_of(st->def);
}

void spw_batch_set_result(spw_batch *b, size_t i, spw_result res, const char *reason) {
    if (i >= b->n)
        return;
    b->items[i].result = (int8_t)res;
    free(b->items[i].reason);
    b->items[i].reason = reason ? strdup(reason) : NULL;
}

spw_result spw_batch_hold(spw_batch *b) {
    spw__route *r = b->route;
    if (!b->lent || r->closing)
        return SPW_ERR_STATE;
    if (b->held)
        return SPW_OK;
    /* The cap keeps memory bounded: batches held plus batches in progress. */
    if (r->held >= r->max_held)
        return SPW_ERR_NOSPACE;
    b->held = true;
    r->lent--;
    r->held++;
    spw_gauge_set(r->g_held, (int64_t)r->held);
    /* The destination took the probe's body: it is up. */
    if (r->probe == b)
        route_up(r, "a probe was accepted and held");
    spw__worker_kick(r->w); /* a concurrency slot is free */
    return SPW_OK;
}

void spw_batch_retry_after(spw_batch *b, uint64_t ms) {
    if (ms > b->retry_after_ms)
        b->retry_after_ms = ms;
}

/* Moves item `it` of b (its event reference and a copy of its record) to the end of h. */
static spw_result split_push(spw_batch *h, const spw_batch *b, const spw__batch_item *it) {
    size_t off = h->records.len;
    if (spw_buf_append(&h->records, b->records.data + it->off, it->len) != SPW_OK)
        return SPW_ERR_NOMEM;
    if (batch_push(h, it->ev, off, it->len) != SPW_OK) {
        h->records.len = off;
        return SPW_ERR_NOMEM;
    }
    return SPW_OK;
}

/*
 * Queues the halves of a batch the destination refused for its size, at
 * the front of the ready queue, first half first: they carry the oldest
 * events of the route, and go out before anything newer. Each is a new
 * batch (attempt 1, framed again by the codec when sent). An empty half
 * (a batch of one splittable record among others) is only recycled.
 */
static void split_queue(spw__route *r, spw_batch **half, size_t n_split, const char *reason) {
    spw_counter_add(r->c_splits, 1);
    spw__log(route_title(r), SPW_LOG_DEBUG,
             "destination refused %zu record(s) as too large (%s); sending them again as %zu and %zu",
             n_split, reason ? reason : "no reason given", half[0]->n, half[1] ? half[1]->n : 0);
    for (int k = 1; k >= 0; k--) {
        if (!half[k])
            continue;
        if (half[k]->n == 0)
            batch_recycle(r, half[k]);
        else
            ready_push(r, half[k], true);
    }
}

void spw_batch_done(spw_batch *b, spw_result res, const char *reason) {
    spw__route *r = b->route;
    spw__worker *w = r->w;
    if (!b->lent) {
        spw__log(route_title(r), SPW_LOG_ERROR, "sink gave back a batch it did not hold; ignored");
        return;
    }
    b->lent = false;
    if (b->held) {
        b->held = false;
        r->held--;
        spw_gauge_set(r->g_held, (int64_t)r->held);
    } else {
        r->lent--;
    }
    uint64_t now = uv_now(&w->loop);
    bool was_probe = r->probe == b;
    if (was_probe)
        r->probe = NULL;
    bool answered = false; /* the destination answered some event: it is up */

    /*
     * "Too large" for the whole batch: the events that have no outcome of
     * their own go on in two halves, each a new request, as long as their
     * deadline has not come (a split is sent at once, so like a retry it
     * must start before the deadline). Only a record that was refused
     * alone is rejected for its size.
     */
    size_t n_split = 0;
    if (res == SPW_TOO_LARGE && !r->closing && b->n > 1)
        for (size_t i = 0; i < b->n; i++) {
            const spw__batch_item *it = &b->items[i];
            n_split += it->result == SPW__NO_RESULT && !spw__ack_expired(it->ev) &&
                       it->ev->deadline > now;
        }
    spw_batch *half[2] = {NULL, NULL};
    if (n_split > 0) {
        half[0] = batch_new(r);
        half[1] = n_split > 1 ? batch_new(r) : NULL;
        if (!half[0] || (n_split > 1 && !half[1])) {
            /* Out of memory: the events are retried as they are, which is never wrong. */
            if (half[0])
                batch_free(half[0]);
            half[0] = NULL;
            n_split = 0;
        }
    }

    compactor c = {0, 0};
    size_t k = 0;    /* splittable events met so far */
    size_t late = 0; /* events already answered by their deadline */
    char why_big[SPW_ERR_MSG_MAX];
    for (size_t i = 0; i < b->n; i++) {
        spw__batch_item *it = &b->items[i];
        bool own = it->result != SPW__NO_RESULT;
        spw_result rr = own ? (spw_result)it->result : res;
        const char *why = it->reason ? it->reason : reason;
        bool in_time = !spw__ack_expired(it->ev) && it->ev->deadline > now && !r->closing;
        answered = answered || rr == SPW_OK || rr == SPW_REJECT || rr == SPW_TOO_LARGE;
        /* Safe, and said: the sender was answered retry and resends it (a duplicate if delivered). */
        late += spw__ack_expired(it->ev);
        if (rr == SPW_TOO_LARGE && !own && n_split > 0 && in_time) {
            spw_batch *h = half[k++ < (n_split + 1) / 2 ? 0 : 1];
            if (split_push(h, b, it) != SPW_OK) {
                compact_keep(b, &c, i); /* retried as it is */
                continue;
            }
        } else if (rr == SPW_OK) {
            report(r, it->ev, SPW_OK);
        } else if (rr == SPW_REJECT) {
            reject(r, it->ev, (spw_slice){b->records.data + it->off, it->len}, why);
        } else if (rr == SPW_TOO_LARGE && in_time && (own || b->n == 1)) {
            /* Refused alone (a batch of one, or its own result): no smaller body exists. */
            snprintf(why_big, sizeof why_big, "too large: %s", why && *why ? why : "no reason given");
            reject(r, it->ev, (spw_slice){b->records.data + it->off, it->len}, why_big);
        } else if (!in_time) {
            report(r, it->ev, SPW_RETRY);
        } else {
            /* Retry, and "too large" that could not be split (out of memory).
             * Also when every event is kept: it clears this attempt's per-event
             * results, which must not decide the next attempt. */
            compact_keep(b, &c, i);
            continue;
        }
        compact_drop(b, i);
    }
    compact_end(b, &c);
    spw_counter_add(r->c_late, late);
    if (half[0])
        split_queue(r, half, n_split, reason);
    if (was_probe && r->down) {
        /* A probe the destination answered ends the hold; one all "retry" waits for the next. */
        if (answered)
            route_up(r, "a probe was answered");
        else
            probe_arm(r);
    }
    if (b->n == 0) {
        batch_recycle(r, b);
        spw__worker_kick(w);
        return;
    }

    int ok = 0;
    uint64_t delay = spw__backoff_delay(&w->rng, (uint64_t)r->def->sink.retry_initial_ms,
                                        (uint64_t)r->def->sink.retry_max_ms, b->attempt,
                                        b->retry_after_ms, now, batch_deadline(b), &ok);
    if (!ok) {
        /* No retry fits before the deadline: answer "retry" now, XDR will resend. */
        spw__log(route_title(r), SPW_LOG_DEBUG,
                 "%zu event(s) failed (%s); no retry fits before their deadline", b->n,
                 reason ? reason : spw_result_str(res));
        for (size_t i = 0; i < b->n; i++)
            report(r, b->items[i].ev, SPW_RETRY);
        batch_recycle(r, b);
        spw__worker_kick(w);
        return;
    }
    spw__log(route_title(r), SPW_LOG_DEBUG, "retrying %zu event(s) in %llu ms (attempt %u): %s",
             b->n, (unsigned long long)delay, b->attempt + 1,
             reason ? reason : spw_result_str(res));
    b->retry_after_ms = 0;
    b->due = now + delay;
    retry_insert(r, b);
    spw__worker_kick(w);
}

/* ---- offering events -------------------------------------------------- */

/*
 * A filter answered something other than SPW_OK or SPW_SKIP: a bug or a
 * failure in the filter, not a decision about the event. Counted on the
 * filter's stage and logged at most once a second per worker thread.
 */
static void filter_error(spw__route *r, spw_stage *f, spw_result res) {
    static _Thread_local uint64_t last_ms;
    static _Thread_local uint64_t suppressed;
    spw_counter_add(f->c_filter_errors, 1);
    uint64_t now = uv_now(&r->w->loop);
    if (last_ms && now - last_ms < 1000) {
        suppressed++;
        return;
    }
    if (suppressed)
        spw__log(f->def->title, SPW_LOG_WARN,
                 "filter answered %s (%d), neither ok nor skip; the event goes on to [%s] as if it "
                 "passed (%llu more such answers in the last second)",
                 spw_result_str(res), (int)res, route_title(r), (unsigned long long)suppressed);
    else
        spw__log(f->def->title, SPW_LOG_WARN,
                 "filter answered %s (%d), neither ok nor skip; the event goes on to [%s] as if it "
                 "passed",
                 spw_result_str(res), (int)res, route_title(r));
    last_ms = now;
    suppressed = 0;
}

bool spw__route_offer(spw__route *r, spw_event *ev) {
    for (size_t i = 0; i < r->n_filters; i++) {
        spw_stage *f = r->filters[i];
        spw_result fr = f->def->plugin->filter->match(f->inst, ev);
        if (fr == SPW_SKIP)
            return false;
        /* Only an explicit SKIP drops: a failing filter must not lose events. */
        if (fr != SPW_OK)
            filter_error(r, f, fr);
    }
    spw__ack_route_take(ev);
    spw_event_ref(ev);
    spw_counter_add(r->c_events, 1);
    if (spw__tap_routes_armed()) /* spillway tap (core/taps.c) */
        spw__tap_route(r, ev);

    const spw__sink_conf *sc = &r->def->sink;
    spw_batch *b = r->filling;
    if (!b && !(b = r->filling = batch_new(r))) {
        report(r, ev, SPW_RETRY);
        return true;
    }
    size_t off = b->records.len;
    spw_err err = {""};
    struct spw_event shadow;
    const spw_event *view = spw__xform_apply(&r->def->xform, ev, &shadow, &r->xbins);
    spw_result res = view ? r->codec->def->plugin->codec->encode(r->codec->inst, view, &b->records, &err)
                          : SPW_ERR_NOMEM;
    if (res != SPW_OK) {
        b->records.len = off;
        spw_counter_add(r->c_encode_errors, 1);
        if (res == SPW_REJECT) {
            reject(r, ev, (spw_slice){NULL, 0}, err.msg[0] ? err.msg : "codec rejected the event");
        } else {
            spw__log(route_title(r), SPW_LOG_ERROR, "encoding failed: %s",
                     err.msg[0] ? err.msg : spw_result_str(res));
            report(r, ev, SPW_RETRY);
        }
        return true;
    }
    size_t len = b->records.len - off;
    if (b->n > 0 && b->records.len > (size_t)sc->batch_max_bytes) {
        /* This record would overflow the batch: it starts the next one. */
        spw_batch *nb = batch_new(r);
        if (!nb || spw_buf_append(&nb->records, b->records.data + off, len) != SPW_OK) {
            if (nb)
                batch_free(nb);
            b->records.len = off;
            report(r, ev, SPW_RETRY);
            return true;
        }
        b->records.len = off;
        close_filling(r);
        r->filling = b = nb;
        off = 0;
    }
    if (batch_push(b, ev, off, len) != SPW_OK) {
        b->records.len = off;
        report(r, ev, SPW_RETRY);
        return true;
    }
    if (b->n >= (size_t)sc->batch_max_records || b->records.len >= (size_t)sc->batch_max_bytes)
        close_filling(r);
    else if (b->n == 1)
        uv_timer_start(&r->delay_timer, on_delay, (uint64_t)sc->batch_max_delay_ms, 0);
    return true;
}

/* ---- life cycle ------------------------------------------------------- */

spw_result spw__route_init(spw__route *r, spw__worker *w, spw__gen *g, const spw__stage_def *def,
                           spw_err *err) {
    spw__pipeline *p = w->p;
    memset(r, 0, sizeof *r);
    r->w = w;
    r->def = def;
    r->sink = g->stages[def - g->defs];
    r->codec = g->stages[def->codec];
    r->n_filters = def->n_filters;
    if (def->n_filters) {
        r->filters = calloc(def->n_filters, sizeof *r->filters);
        if (!r->filters)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < def->n_filters; i++)
            r->filters[i] = g->stages[def->filters[i]];
    }
    r->batching = def->sink.batch_max_records > 1;
    r->concurrency = route_concurrency(def);
    r->max_held = route_max_held(def);
    r->on_reject = (enum spw__on_reject)def->sink.on_reject;
    uv_timer_init(&w->loop, &r->delay_timer);
    uv_timer_init(&w->loop, &r->retry_timer);
    uv_timer_init(&w->loop, &r->probe_timer);
    r->delay_timer.data = r->retry_timer.data = r->probe_timer.data = r;
    r->sink->route = r;

    const char *t = def->title;
    spw__metrics *m = p->metrics;
    const void *prev = spw__metrics_owner(r); /* released in spw__route_close */
    r->c_events = spw__metrics_register(m, t, "events", "events offered to the route");
    r->c_delivered = spw__metrics_register(m, t, "delivered", "events the sink delivered");
    r->c_retried = spw__metrics_register(m, t, "retried", "events answered retry by the route");
    r->c_rejected = spw__metrics_register(m, t, "rejected", "events rejected by the sink or codec");
    r->c_dead = spw__metrics_register(m, t, "dead_lettered", "rejected events written to the dead-letter file");
    r->c_dropped = spw__metrics_register(m, t, "dropped", "rejected events dropped (on_reject = drop)");
    r->c_batches = spw__metrics_register(m, t, "requests", "batches handed to the sink");
    r->c_retries = spw__metrics_register(m, t, "request_retries", "batches handed to the sink again");
    r->c_encode_errors = spw__metrics_register(m, t, "encode_errors", "events the codec failed to encode");
    r->c_splits = spw__metrics_register(m, t, "splits", "batches split in two after the destination refused them as too large");
    r->c_down = spw__metrics_register(m, t, "down_transitions", "times the sink said its destination went down");
    r->g_down = spw__metrics_gauge(m, t, "destination_down", "1 while the sink says its destination is down");
    r->c_late = spw__metrics_register(m, t, "late_outcomes", "events the sink gave back after their deadline had answered them retry");
    r->g_held = spw__metrics_gauge(m, t, "batches_held", "delivered batches the sink holds until a later confirmation");
    spw_buckets count = spw_buckets_count(), bytes = spw_buckets_bytes();
    r->h_records = spw__metrics_histogram(m, t, "batch_records", "records per request sent",
                                          count.bounds, count.n);
    r->h_bytes = spw__metrics_histogram(m, t, "batch_bytes", "body bytes per request sent",
                                        bytes.bounds, bytes.n);
    spw__metrics_owner(prev);
    if (!r->c_events || !r->c_delivered || !r->c_retried || !r->c_rejected || !r->c_dead ||
        !r->c_dropped || !r->c_batches || !r->c_retries || !r->c_encode_errors || !r->c_splits ||
        !r->c_down || !r->g_down || !r->c_late || !r->g_held || !r->h_records || !r->h_bytes)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    return SPW_OK;
}

void spw__route_flush(spw__route *r) { close_filling(r); }

bool spw__route_empty(const spw__route *r, bool queued_too) {
    if (r->lent || r->held || r->probe)
        return false;
    return !queued_too || (!r->filling && !r->ready_head && !r->retry_head);
}

static void release_all(spw__route *r, spw_batch *b) {
    while (b) {
        spw_batch *next = b->next;
        for (size_t i = 0; i < b->n; i++)
            report(r, b->items[i].ev, SPW_RETRY);
        batch_free(b);
        b = next;
    }
}

void spw__route_close(spw__route *r) {
    r->closing = true;
    if (r->filling) {
        release_all(r, r->filling);
        r->filling = NULL;
    }
    release_all(r, r->ready_head);
    r->ready_head = r->ready_tail = NULL;
    release_all(r, r->retry_head);
    r->retry_head = NULL;
    if (r->lent || r->held)
        spw__log(route_title(r), SPW_LOG_ERROR,
                 "sink still has %u batch(es) after destroy (%u of them held); a sink must give "
                 "every batch back in destroy",
                 r->lent + r->held, r->held);
    if (r->spare) {
        batch_free(r->spare);
        r->spare = NULL;
    }
    spw_buf_free(&r->scratch);
    free(r->recs);
    r->recs = NULL;
    free(r->xbins.bins);
    free(r->filters);
    r->filters = NULL;
    if (r->down) {
        r->down = false;
        spw_gauge_set(r->g_down, 0);
        spw_gauge_add(r->w->g_routes_down, -1);
    }
    r->sink->route = NULL;
    spw__metrics_release(r->w->p->metrics, r);
    uv_close((uv_handle_t *)&r->delay_timer, NULL);
    uv_close((uv_handle_t *)&r->retry_timer, NULL);
    uv_close((uv_handle_t *)&r->probe_timer, NULL);
}
