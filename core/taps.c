/*
 * core/taps.c: taps (GET /tap on the admin endpoint; spillway tap).
 *
 * Who runs what:
 *   - A worker, for an event at a point some tap watches (spw__tap_armed,
 *     one relaxed load, said so): takes the taps' lock, and for each tap on
 *     that point evaluates its expression, takes a token from its rate
 *     limit, and renders the event as one JSON line into the tap's queue.
 *     A full queue is checked before rendering: the event is counted
 *     dropped (spillway_tap_dropped_total) and the worker moves on. The
 *     worker never waits for a client: the lock is only ever held for
 *     in-memory work, by workers and by the admin thread copying bytes out.
 *   - The admin thread (libmicrohttpd, one thread per connection) runs the
 *     response's reader: it copies queued lines to the client, waits (on
 *     the tap's condition, at most a second) when there are none, and sends
 *     a lone newline after a quiet second so that a client that went away
 *     is noticed and the tap freed. libmicrohttpd calls the reader only
 *     when the socket can take more, so a client that never reads leaves
 *     the queue full and its events dropped, nothing else.
 *   - libmicrohttpd frees the response when the connection ends; the free
 *     callback removes the tap and clears its point's bit.
 *
 * The lock is shared by all taps: tapping is for looking, a few events a
 * second by default, and a lock held a few microseconds per tapped event
 * is cheaper than per-worker queues the admin thread would have to merge.
 * Expressions are evaluated under it too, which is what lets one compiled
 * program (whose evaluation writes its scratch area) serve every worker.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "../plugins/codec-json/encode.h"
#include "../plugins/filter-expr/expr.h"
#include "log.h"
#include "route.h"
#include "taps.h"
#include "worker.h"

atomic_uint_fast64_t spw__tap_mask;

/* Bytes of rendered events a tap may queue for its client. */
#define TAP_QUEUE_MAX (256 * 1024)
/* A line longer than this is dropped rather than queued (a huge record). */
#define TAP_LINE_MAX (TAP_QUEUE_MAX / 2)
#define TAP_RATE_DEFAULT 100
#define TAP_RATE_MAX 1000000
/* Seconds a tap's client may take no bytes at all before it is cut off. */
#define TAP_STALL_S 60

typedef struct tap {
    bool used;
    bool full_stop;        /* limit reached or route gone: takes nothing more */
    const char *why;       /* the end line's reason once full_stop: "limit" or "removed" */
    bool end_sent;
    char *route;           /* the route's name; NULL: the source side */
    unsigned bit;
    ex_prog *prog;         /* NULL: every event */
    double rate, tokens;
    uint64_t last_ms;
    uint64_t limit;        /* 0: none */
    uint64_t queued, dropped;
    size_t last_len;       /* the last line's size: the next is expected alike */
    spw_buf q;             /* rendered lines not yet sent, from head */
    size_t head;
    uv_cond_t cond;
    struct spw__taps *owner;
} tap;

struct spw__taps {
    uv_mutex_t lock;
    spw__pipeline *p;
    jcodec jc;
    spw_counter *c_dropped, *c_sent;
    spw_gauge *g_open;
    bool closing;
    tap slot[SPW__TAP_MAX];
    /*
     * Per point bit: the loop time before which no tap on that point can
     * take an event (each is out of tokens until then). Read without the
     * lock, so an event over every tap's rate costs a load and a compare;
     * 0 when some tap may take one now.
     */
    atomic_uint_fast64_t quiet_until[64];
};

/* The registry the workers look at; one admin endpoint per process. */
static spw__taps *g_taps;

/* Under the lock: the bits of every point some live tap watches. */
static void publish_mask(spw__taps *t) {
    uint_fast64_t m = 0;
    int64_t open = 0;
    for (size_t i = 0; i < SPW__TAP_MAX; i++)
        if (t->slot[i].used) {
            open++;
            if (!t->slot[i].full_stop)
                m |= (uint_fast64_t)1 << t->slot[i].bit;
        }
    atomic_store_explicit(&spw__tap_mask, m, memory_order_relaxed);
    for (size_t i = 0; i < 64; i++)
        atomic_store_explicit(&t->quiet_until[i], 0, memory_order_relaxed);
    spw_gauge_set(t->g_open, open);
}

/* ---- worker side -------------------------------------------------------- */

/* One event as a JSON line: the metadata, then the bins as the json codec writes them. */
static spw_result render(spw__taps *t, spw_buf *b, const spw_event *ev, const char *route,
                         unsigned worker) {
    spw_err err = {""};
    jenc e = {&t->jc, b, &err, "namespace", {NULL, 0}};
    size_t bad = 0;
    spw_result r = JCODEC_LIT(b, "{\"worker\":");
    if (r == SPW_OK)
        r = jenc_u64(b, worker);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"route\":");
    if (r == SPW_OK)
        r = route ? jcodec_put_string(b, (const uint8_t *)route, strlen(route), &bad)
                  : JCODEC_LIT(b, "null");
    if (r == SPW_OK)
        r = spw_event_op(ev) == SPW_OP_DELETE ? JCODEC_LIT(b, ",\"msg\":\"delete\",\"namespace\":")
                                              : JCODEC_LIT(b, ",\"msg\":\"write\",\"namespace\":");
    if (r == SPW_OK)
        r = jenc_name(&e, spw_event_namespace(ev));
    spw_str set = spw_event_set(ev);
    e.what = "set";
    if (r == SPW_OK)
        r = set.ptr ? jenc_name_pre(&e, ",\"set\":", 7, set) : JCODEC_LIT(b, ",\"set\":null");
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"digest\":");
    if (r == SPW_OK)
        r = jenc_b64(b, spw_event_digest(ev), 20);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"key\":");
    if (r == SPW_OK)
        r = jenc_user_key(&e, ev);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"gen\":");
    if (r == SPW_OK)
        r = jenc_u64(b, spw_event_generation(ev));
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"lut\":");
    if (r == SPW_OK)
        r = jenc_i64(b, spw_event_lut_ms(ev));
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"exp\":");
    if (r == SPW_OK)
        r = jenc_i64(b, spw_event_expiry(ev));
    if (r == SPW_OK && spw_event_op(ev) == SPW_OP_DELETE)
        r = spw_event_durable(ev) ? JCODEC_LIT(b, ",\"durable\":true")
                                  : JCODEC_LIT(b, ",\"durable\":false");
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"bins\":");
    if (r == SPW_OK)
        r = jcodec_encode_bins(&t->jc, ev, b, &err);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, "}\n");
    return r;
}

/* Under the lock: offers ev to one tap. */
static void offer(spw__taps *t, tap *tp, const spw_event *ev, const char *route, unsigned worker,
                  uint64_t now) {
    if (tp->full_stop)
        return;
    if (tp->prog && ex_eval(tp->prog, ev, NULL) != EX_TRUE)
        return; /* an evaluation error shows nothing, as on_error = skip */
    /* now is the worker loop's cached time: free to read, and every loop's clock is the
     * same monotonic one, but cached at different moments: never let it run backwards. */
    if (now > tp->last_ms) {
        tp->tokens += (double)(now - tp->last_ms) * tp->rate / 1000.0;
        tp->last_ms = now;
    }
    double burst = tp->rate < 1 ? 1 : tp->rate;
    if (tp->tokens > burst)
        tp->tokens = burst;
    if (tp->tokens < 1)
        return;
    tp->tokens -= 1;
    /* Full before rendering (if the next line is the size of the last): a client that
     * does not read costs a comparison, not a rendering thrown away. */
    if (tp->q.len - tp->head + tp->last_len > TAP_QUEUE_MAX) {
        tp->dropped++;
        spw_counter_add(t->c_dropped, 1);
        return;
    }
    if (tp->head > 0 && tp->head == tp->q.len)
        tp->head = tp->q.len = 0;
    size_t mark = tp->q.len;
    spw_result rr = render(t, &tp->q, ev, route, worker);
    tp->last_len = tp->q.len - mark;
    if (rr != SPW_OK || tp->q.len - mark > TAP_LINE_MAX || tp->q.len - tp->head > TAP_QUEUE_MAX) {
        tp->q.len = mark;
        tp->dropped++;
        spw_counter_add(t->c_dropped, 1);
        return;
    }
    tp->queued++;
    spw_counter_add(t->c_sent, 1);
    if (tp->limit && tp->queued >= tp->limit) {
        tp->full_stop = true;
        tp->why = "limit";
        publish_mask(t);
    }
    uv_cond_signal(&tp->cond);
}

static void tap_point(unsigned bit, const char *route, unsigned worker, uint64_t now,
                      const spw_event *ev) {
    spw__taps *t = g_taps;
    if (!t || now < atomic_load_explicit(&t->quiet_until[bit], memory_order_relaxed))
        return; /* every tap here is over its rate: no lock */
    uv_mutex_lock(&t->lock);
    uint64_t quiet = UINT64_MAX;
    for (size_t i = 0; i < SPW__TAP_MAX; i++) {
        tap *tp = &t->slot[i];
        if (!tp->used || tp->bit != bit)
            continue;
        if (route ? !tp->route || strcmp(tp->route, route) != 0 : tp->route != NULL) {
            quiet = 0; /* another route sharing the bit: no shortcut */
            continue;
        }
        offer(t, tp, ev, route, worker, now);
        if (tp->full_stop)
            continue;
        uint64_t next = tp->tokens >= 1 ? 0 : tp->last_ms + (uint64_t)((1 - tp->tokens) * 1000 / tp->rate);
        if (next < quiet)
            quiet = next;
    }
    /* A tap opening or closing resets this (publish_mask) under the same lock. */
    atomic_store_explicit(&t->quiet_until[bit], quiet == UINT64_MAX ? 0 : quiet,
                          memory_order_relaxed);
    uv_mutex_unlock(&t->lock);
}

void spw__tap_source(spw__worker *w, const spw_event *ev) {
    tap_point(0, NULL, w->index, uv_now(&w->loop), ev);
}

void spw__tap_route(spw__route *r, const spw_event *ev) {
    unsigned bit = spw__tap_route_bit(r->def->name);
    if (spw__tap_armed(bit)) /* a tap on another route is no business of this one */
        tap_point(bit, r->def->name, r->w->index, uv_now(&r->w->loop), ev);
}

/* ---- admin side ---------------------------------------------------------- */

/* Under the lock: the closing line, with what the client did not get. */
static size_t end_line(tap *tp, const char *reason, char *buf, size_t max) {
    int n = snprintf(buf, max,
                     "{\"tap\":\"end\",\"reason\":\"%s\",\"events\":%" PRIu64
                     ",\"dropped\":%" PRIu64 "}\n",
                     reason, tp->queued, tp->dropped);
    return n < 0 ? 0 : (size_t)n < max ? (size_t)n : max;
}

static ssize_t tap_read(void *cls, uint64_t pos, char *buf, size_t max) {
    tap *tp = cls;
    spw__taps *t = tp->owner;
    (void)pos;
    ssize_t out;
    uv_mutex_lock(&t->lock);
    for (int waited = 0;; waited++) {
        size_t avail = tp->q.len - tp->head;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, tp->q.data + tp->head, n);
            tp->head += n;
            if (tp->head == tp->q.len)
                tp->head = tp->q.len = 0;
            out = (ssize_t)n;
            break;
        }
        if (tp->full_stop || t->closing) {
            if (tp->end_sent) {
                out = MHD_CONTENT_READER_END_OF_STREAM;
            } else {
                tp->end_sent = true;
                out = (ssize_t)end_line(tp, tp->full_stop ? tp->why : "shutdown", buf, max);
            }
            break;
        }
        if (waited) {
            /* A quiet second: a blank line (NDJSON readers skip it) shows whether the client is still there. */
            buf[0] = '\n';
            out = 1;
            break;
        }
        uv_cond_timedwait(&tp->cond, &t->lock, 1000u * 1000u * 1000u);
    }
    uv_mutex_unlock(&t->lock);
    return out;
}

static void tap_free(void *cls) {
    tap *tp = cls;
    spw__taps *t = tp->owner;
    uv_mutex_lock(&t->lock);
    ex_free(tp->prog);
    free(tp->route);
    spw_buf_free(&tp->q);
    uv_cond_destroy(&tp->cond);
    spw__log("admin", SPW_LOG_INFO,
             "tap closed: %" PRIu64 " event(s) queued for the client, %" PRIu64 " dropped",
             tp->queued, tp->dropped);
    memset(tp, 0, sizeof *tp);
    publish_mask(t);
    uv_mutex_unlock(&t->lock);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *msg) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A query number in [lo, hi]; false when not a plain decimal in range. */
static bool query_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return false;
    uint64_t v = strtoull(s, NULL, 10);
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The route index of sink NAME, or -1. */
static long route_index(const spw__pipeline *p, const char *name) {
    long k = 0;
    for (size_t i = 0; i < p->n_defs; i++) {
        if (p->defs[i].kind != SPW_KIND_SINK)
            continue;
        if (strcmp(p->defs[i].name, name) == 0)
            return k;
        k++;
    }
    return -1;
}

int spw__tap_handle(spw__taps *t, struct MHD_Connection *c) {
    char msg[SPW_ERR_MSG_MAX + 128];
    const char *sink = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sink");
    const char *expr = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expr");
    const char *rate_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rate");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    uint64_t rate = TAP_RATE_DEFAULT, limit = 0;
    if (rate_s && !query_u64(rate_s, 1, TAP_RATE_MAX, &rate)) {
        snprintf(msg, sizeof msg, "rate '%.64s': expected events per second, 1 to %d\n", rate_s,
                 TAP_RATE_MAX);
        return answer(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    if (limit_s && !query_u64(limit_s, 0, UINT64_C(1) << 53, &limit)) {
        snprintf(msg, sizeof msg, "limit '%.64s': expected a number of events (0: no limit)\n",
                 limit_s);
        return answer(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    unsigned bit = 0;
    if (sink && *sink) {
        /* The definitions in force: a reload swaps them under run->lock (core/reload.c). */
        uv_mutex_lock(&t->p->run->lock);
        long ri = route_index(t->p, sink);
        uv_mutex_unlock(&t->p->run->lock);
        if (ri < 0) {
            snprintf(msg, sizeof msg, "no sink named '%.64s' (sink=NAME of a [sink.NAME] section; "
                     "no sink: the source side)\n", sink);
            return answer(c, MHD_HTTP_NOT_FOUND, msg);
        }
        bit = spw__tap_route_bit(sink);
    } else {
        sink = NULL;
    }
    ex_prog *prog = NULL;
    if (expr && *expr) {
        char cerr[SPW_ERR_MSG_MAX];
        if (!ex_compile(expr, strlen(expr), NULL, false, &prog, cerr, sizeof cerr)) {
            snprintf(msg, sizeof msg, "%s\n", cerr);
            return answer(c, MHD_HTTP_BAD_REQUEST, msg);
        }
    }
    char *route = sink ? strdup(sink) : NULL;
    uv_mutex_lock(&t->lock);
    tap *tp = NULL;
    for (size_t i = 0; i < SPW__TAP_MAX && !tp && !t->closing; i++)
        if (!t->slot[i].used)
            tp = &t->slot[i];
    if (!tp || (sink && !route) || uv_cond_init(&tp->cond) != 0) {
        uv_mutex_unlock(&t->lock);
        ex_free(prog);
        free(route);
        snprintf(msg, sizeof msg, "%s\n",
                 t->closing ? "stopping" : !tp ? "too many taps open (at most 8)" : "out of memory");
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, tap_read, tp, tap_free);
    if (!r) {
        uv_cond_destroy(&tp->cond);
        uv_mutex_unlock(&t->lock);
        ex_free(prog);
        free(route);
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    tp->used = true;
    tp->owner = t;
    tp->route = route;
    tp->bit = bit;
    tp->prog = prog;
    tp->rate = (double)rate;
    tp->tokens = (double)rate;
    tp->last_ms = uv_hrtime() / 1000000; /* the clock the loops cache (uv_now) */
    tp->limit = limit;
    publish_mask(t);
    uv_mutex_unlock(&t->lock);
    spw__log("admin", SPW_LOG_INFO, "tap opened on %s%s (rate %" PRIu64 "/s%s%s)",
             sink ? "sink." : "the source side", sink ? sink : "", rate, expr && *expr ? ", expr " : "",
             expr && *expr ? expr : "");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    /* The admin's short timeout is for probes; a tap may stay quiet (heartbeats keep it alive). */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)TAP_STALL_S);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* tap_free runs when the connection is done with it */
    return ret;
}

spw__taps *spw__taps_new(spw__pipeline *p) {
    spw__taps *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    jcodec_config cfg = {.stringify_map_keys = true};
    if (uv_mutex_init(&t->lock) != 0) {
        free(t);
        return NULL;
    }
    if (jcodec_init(&t->jc, &cfg) != SPW_OK) {
        uv_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    t->jc.label = "tap";
    t->p = p;
    t->c_dropped = spw__metrics_register(p->metrics, "tap", "tap_dropped",
                                         "events a tap dropped because its client read too slowly");
    t->c_sent = spw__metrics_register(p->metrics, "tap", "tap_events", "events queued for tap clients");
    t->g_open = spw__metrics_gauge(p->metrics, "tap", "taps_open", "taps open on the admin endpoint");
    atomic_store(&spw__tap_mask, 0);
    g_taps = t;
    return t;
}

void spw__taps_reloaded(const spw__pipeline *p) {
    spw__taps *t = g_taps;
    if (!t)
        return;
    /* p->defs were swapped on this (the main) thread, their only writer: no run->lock to read them. */
    uv_mutex_lock(&t->lock);
    for (size_t i = 0; i < SPW__TAP_MAX; i++) {
        tap *tp = &t->slot[i];
        if (!tp->used || tp->full_stop || !tp->route || route_index(p, tp->route) >= 0)
            continue;
        /* The route is gone: end the stream with a reason instead of leaving it quiet forever. */
        tp->full_stop = true;
        tp->why = "removed";
        uv_cond_signal(&tp->cond);
        spw__log("admin", SPW_LOG_INFO, "tap on sink.%s ended: the reload removed that sink",
                 tp->route);
    }
    publish_mask(t);
    uv_mutex_unlock(&t->lock);
}

void spw__taps_close(spw__taps *t) {
    if (!t)
        return;
    uv_mutex_lock(&t->lock);
    t->closing = true;
    for (size_t i = 0; i < SPW__TAP_MAX; i++)
        if (t->slot[i].used)
            uv_cond_signal(&t->slot[i].cond);
    uv_mutex_unlock(&t->lock);
}

void spw__taps_free(spw__taps *t) {
    if (!t)
        return;
    /* The HTTP server has stopped: every response, hence every tap, is gone. */
    atomic_store(&spw__tap_mask, 0);
    if (g_taps == t)
        g_taps = NULL;
    jcodec_fini(&t->jc);
    uv_mutex_destroy(&t->lock);
    free(t);
}
