/*
 * plugins/sink-splunk-hec/ack.c: indexer acknowledgement.
 *
 * "About HTTP Event Collector Indexer Acknowledgment": each request
 * carries a channel (X-Splunk-Request-Channel: a GUID); the 200 answer
 * gives an ackId counted per channel; POST /services/collector/ack with
 * {"acks":[ids]} on the same channel says which ids are indexed. An id
 * answers true once and is then forgotten, and behind a load balancer only
 * the indexer that took the request knows it: so a channel here is pinned
 * to one endpoint (spw_http_pick + SPW_HTTP_PINNED) and keeps the cookies
 * a balancer sets (sticky sessions), and several channels per worker
 * spread the load (Splunk advises channels >= 2x indexers).
 *
 * A batch whose answer carried an ackId is held (spw_batch_hold: its place
 * against `concurrency` is freed) until its id comes true: then it is
 * delivered. Nothing else ever counts it as delivered: an id still false
 * at ack_timeout or at its events' deadline (the earlier), a poll that got
 * no answer or an answer other than a 200 with acks (a lost answer may
 * have carried the one `true`, which is then gone), a channel Splunk no
 * longer knows (codes 10/11, idle expiry): the batch is given back to be
 * resent, and the channel gets a new GUID when its ids can no longer be
 * learned. Each channel holds at most max_pending_acks batches
 * (backpressure, not memory growth).
 *
 * Polls are batched per channel (every pending id of the channel in one
 * request) at an adaptive interval: ack_poll_min after a poll that found
 * an id true, doubling up to ack_poll_max while none comes true.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hec.h"

static void poll_tick(spw_timer *t, void *arg);

static void new_guid(char out[37]) {
    uint8_t r[16];
    if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) {
        /* No entropy source: still unique within the process and across restarts. */
        static uint64_t n;
        uint64_t a = (uint64_t)spw_time_unix_ms() ^ ((uint64_t)uv_os_getpid() << 40),
                 b = ++n ^ spw_time_mono_ms();
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

static void pending_gauge(hec_sink *s, int64_t d) { spw_gauge_add(s->g_pending, d); }

/* Gives back pending[i] (moving the last one into its place). */
static void give_back(hec_channel *ch, size_t i, spw_result r, const char *why) {
    hec_sink *s = ch->s;
    spw_batch *b = ch->pending[i].b;
    size_t n = spw_batch_count(b);
    ch->pending[i] = ch->pending[--ch->n_pending];
    pending_gauge(s, -1);
    if (r == SPW_OK)
        spw_counter_add(s->c_acked, n);
    else
        spw_counter_add(s->c_resends, n);
    spw_batch_done(b, r, why);
}

spw_result hec_channels_init(hec_sink *s, spw_err *err) {
    const struct hec_conf *cf = s->cf;
    /* With ack off the requests still carry a channel: a token with useACK requires one
     * (code 10), and its ackIds are then simply not waited for. */
    s->n_ch = (size_t)cf->channels;
    if (!s->n_ch)
        return SPW_OK;
    s->ch = calloc(s->n_ch, sizeof *s->ch);
    if (!s->ch)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_ch; i++) {
        hec_channel *ch = &s->ch[i];
        ch->s = s;
        new_guid(ch->guid);
        ch->endpoint = spw_http_pick(s->http);
        ch->interval = (uint64_t)cf->ack_poll_min_ms;
        ch->pending = calloc((size_t)cf->max_pending_acks, sizeof *ch->pending);
        ch->timer = spw_timer_new(s->st, poll_tick, ch);
        if (!ch->pending || !ch->timer)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    return SPW_OK;
}

void hec_channels_free(hec_sink *s) {
    for (size_t i = 0; i < s->n_ch; i++) {
        hec_channel *ch = &s->ch[i];
        spw_timer_free(ch->timer);
        ch->timer = NULL;
        while (ch->n_pending)
            give_back(ch, ch->n_pending - 1, SPW_RETRY, "stopping before the indexer acknowledged");
        free(ch->pending);
        spw_buf_free(&ch->poll_body);
        spw_buf_free(&ch->target);
    }
    free(s->ch);
    s->ch = NULL;
    s->n_ch = 0;
}

hec_channel *hec_channel_get(hec_sink *s) {
    size_t cap = s->cf->ack ? (size_t)s->cf->max_pending_acks : SIZE_MAX;
    for (size_t k = 0; k < s->n_ch; k++) {
        hec_channel *ch = &s->ch[(s->next_ch + k) % s->n_ch];
        if (ch->n_pending + ch->sending >= cap)
            continue;
        /* A new channel sends one request and waits for its answer: a balancer's sticky
         * cookie comes with it, and a second request sent without the cookie could land
         * on another indexer, which would never know its ack. */
        if (s->cf->ack && !ch->answered && ch->sending > 0)
            continue;
        s->next_ch = (s->next_ch + k + 1) % s->n_ch;
        /* An idle channel follows the client's view of endpoint health. */
        if (ch->n_pending == 0 && ch->sending == 0 && !ch->polling &&
            !spw_http_endpoint_up(s->http, ch->endpoint))
            ch->endpoint = spw_http_pick(s->http);
        return ch;
    }
    return NULL;
}

void hec_channel_reset(hec_channel *ch, const char *why) {
    hec_sink *s = ch->s;
    spw_counter_add(s->c_channel_resets, 1);
    hec_warn(s, "ack channel %s: %s: %zu batch(es) waiting for acks are resent on a new channel",
             ch->guid, why, ch->n_pending);
    while (ch->n_pending)
        give_back(ch, ch->n_pending - 1, SPW_RETRY, why);
    new_guid(ch->guid);
    ch->generation++; /* answers still on their way for the old GUID are stale */
    ch->next_id = 0;
    ch->answered = false;
    ch->polling = false;
    ch->cookies[0] = '\0';
    ch->endpoint = spw_http_pick(s->http);
    ch->interval = (uint64_t)s->cf->ack_poll_min_ms;
    spw_timer_stop(ch->timer);
}

void hec_channel_cookies(hec_channel *ch, const spw_http_response *r) {
    ch->answered = true;
    /* Every Set-Cookie's name=value, replacing a cookie of the same name. */
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, "Set-Cookie") != 0)
            continue;
        const char *v = r->headers[i].value;
        size_t n = strcspn(v, ";");
        const char *eq = memchr(v, '=', n);
        if (!eq || eq == v || n >= HEC_COOKIES_MAX / 2)
            continue;
        size_t nl = (size_t)(eq - v);
        char next[HEC_COOKIES_MAX];
        size_t o = 0;
        /* Keep the other cookies. */
        for (char *p = ch->cookies; *p;) {
            size_t m = strcspn(p, ";");
            bool same = m > nl && p[nl] == '=' && strncmp(p, v, nl) == 0;
            if (!same && o + m + 2 < sizeof next) {
                if (o)
                    next[o++] = ';', next[o++] = ' ';
                memcpy(next + o, p, m);
                o += m;
            }
            p += m;
            while (*p == ';' || *p == ' ')
                p++;
        }
        if (o + n + 2 >= sizeof next)
            continue;
        if (o)
            next[o++] = ';', next[o++] = ' ';
        memcpy(next + o, v, n);
        o += n;
        next[o] = '\0';
        for (size_t k = 0; k < o; k++)
            if ((unsigned char)next[k] < 0x20)
                next[k] = ' ';
        memcpy(ch->cookies, next, o + 1);
    }
}

size_t hec_headers(hec_sink *s, hec_channel *ch, spw_http_header *h, const char *ctype) {
    size_t n = 0;
    h[n++] = (spw_http_header){"Authorization", s->auth};
    if (ctype)
        h[n++] = (spw_http_header){"Content-Type", ctype};
    if (ch) {
        h[n++] = (spw_http_header){"X-Splunk-Request-Channel", ch->guid};
        if (ch->cookies[0])
            h[n++] = (spw_http_header){"Cookie", ch->cookies};
    }
    return n;
}

/* When the channel must look again: its poll interval, or sooner for a give-up time. */
static void schedule(hec_channel *ch) {
    hec_sink *s = ch->s;
    if (s->closing || ch->n_pending == 0 || ch->polling) {
        if (ch->n_pending == 0)
            spw_timer_stop(ch->timer);
        return;
    }
    uint64_t now = uv_now(spw_stage_loop(s->st)), at = now + ch->interval;
    for (size_t i = 0; i < ch->n_pending; i++)
        if (ch->pending[i].give_up_at < at)
            at = ch->pending[i].give_up_at;
    spw_timer_start(ch->timer, at > now ? at - now : 0, 0);
}

void hec_channel_hold(hec_channel *ch, spw_batch *b, uint64_t ack_id) {
    hec_sink *s = ch->s;
    uint64_t now = uv_now(spw_stage_loop(s->st));
    uint64_t give_up = spw_batch_deadline(b);
    if (s->cf->ack_timeout_ms > 0 && now + (uint64_t)s->cf->ack_timeout_ms < give_up)
        give_up = now + (uint64_t)s->cf->ack_timeout_ms;
    /* Held or not (max_held reached: it then keeps its place against concurrency, which
     * slows the route down while acks lag), the batch waits for its ack all the same. */
    /* HEC counts ids from 0 per channel, and a channel it forgot (idle expiry, an indexer
     * restart) starts again from 0: an id that collides with a pending one, or falls far
     * below those seen (answers overtake each other by at most `concurrency`), means the
     * older ids are meaningless now. Their batches are resent; the GUID stays. */
    bool restarted = false;
    for (size_t i = 0; i < ch->n_pending; i++)
        restarted |= ch->pending[i].ack_id == ack_id;
    if (ack_id + spw_sink_limits(s->st).concurrency + 1 < ch->next_id)
        restarted = true;
    if (restarted && ch->n_pending) {
        spw_counter_add(s->c_channel_resets, 1);
        hec_warn(s, "ack channel %s: HEC counts its ackIds from %" PRIu64 " again (the channel "
                 "was forgotten): %zu batch(es) waiting for older ids are resent",
                 ch->guid, ack_id, ch->n_pending);
        while (ch->n_pending)
            give_back(ch, ch->n_pending - 1, SPW_RETRY, "HEC forgot the ack channel");
    }
    if (restarted || ack_id + 1 > ch->next_id)
        ch->next_id = ack_id + 1;
    spw_result hr = spw_batch_hold(b);
    if (hr == SPW_ERR_STATE) {
        spw_counter_add(s->c_resends, spw_batch_count(b));
        spw_batch_done(b, SPW_RETRY, "stopping before the indexer acknowledged");
        return;
    }
    /* A channel that had nothing pending starts polling fast again: its last interval
     * says how slow old acks were, and a long pause can outlast HEC's idle channel
     * cleanup. */
    if (ch->n_pending == 0 && !ch->polling)
        ch->interval = (uint64_t)s->cf->ack_poll_min_ms;
    ch->pending[ch->n_pending++] = (hec_pending){ack_id, b, give_up, false};
    pending_gauge(s, 1);
    schedule(ch);
}

/* ---------------------------------------------------------------------- */
/* Polls                                                                   */
/* ---------------------------------------------------------------------- */

typedef struct poll_call {
    hec_channel *ch;
    unsigned gen;
} poll_call;

struct ack_walk {
    hec_channel *ch;
    size_t acked;
};

static void on_ack(uint64_t id, bool value, void *arg) {
    struct ack_walk *w = arg;
    if (!value)
        return;
    for (size_t i = 0; i < w->ch->n_pending; i++)
        if (w->ch->pending[i].polled && w->ch->pending[i].ack_id == id) {
            give_back(w->ch, i, SPW_OK, NULL);
            w->acked++;
            return;
        }
}

static void on_poll(const spw_http_response *r, void *arg) {
    poll_call *pc = arg;
    hec_channel *ch = pc->ch;
    hec_sink *s = ch->s;
    unsigned gen = pc->gen;
    free(pc);
    if (gen != ch->generation)
        return; /* the channel was reset meanwhile: its batches went back then */
    ch->polling = false;
    if (s->closing)
        return;
    if (r->error == SPW_HTTP_OK)
        hec_channel_cookies(ch, r);
    struct ack_walk w = {ch, 0};
    bool ok = r->error == SPW_HTTP_OK && r->status == 200 &&
              hec_acks_parse(r->body, r->body_len, on_ack, &w);
    if (!ok) {
        char why[256];
        if (r->error != SPW_HTTP_OK)
            snprintf(why, sizeof why, "ack poll got no answer (%s)", r->error_text);
        else {
            hec_answer a;
            hec_answer_parse(r->body, r->body_len, &a);
            if (a.parsed)
                snprintf(why, sizeof why, "ack poll answered HTTP %d, code %d: %s", r->status,
                         a.code, a.text);
            else
                snprintf(why, sizeof why, "ack poll answered HTTP %d without acks", r->status);
        }
        spw_counter_add(s->c_poll_errors, 1);
        /* Whatever that answer said is lost with it, a `true` included, and an id answers
         * true only once: these batches can no longer be confirmed on this channel. */
        hec_channel_reset(ch, why);
        return;
    }
    /* Polled ids still false stay pending; the interval adapts to how fast acks come. */
    for (size_t i = 0; i < ch->n_pending; i++)
        ch->pending[i].polled = false;
    if (w.acked)
        ch->interval = (uint64_t)s->cf->ack_poll_min_ms;
    else if (ch->interval * 2 <= (uint64_t)s->cf->ack_poll_max_ms)
        ch->interval *= 2;
    else
        ch->interval = (uint64_t)s->cf->ack_poll_max_ms;
    schedule(ch);
}

static void poll_tick(spw_timer *t, void *arg) {
    (void)t;
    hec_channel *ch = arg;
    hec_sink *s = ch->s;
    if (s->closing || ch->polling)
        return;
    uint64_t now = uv_now(spw_stage_loop(s->st));
    /* Ids past their time are given up: resent, never counted delivered. */
    for (size_t i = ch->n_pending; i-- > 0;)
        if (ch->pending[i].give_up_at <= now) {
            spw_counter_add(s->c_ack_timeouts, 1);
            hec_warn(s, "ack channel %s: ackId %" PRIu64 " not acknowledged in time: resending",
                     ch->guid, ch->pending[i].ack_id);
            give_back(ch, i, SPW_RETRY, "indexer acknowledgement timed out");
        }
    if (ch->n_pending == 0) {
        spw_timer_stop(ch->timer);
        return;
    }
    spw_buf *body = &ch->poll_body;
    spw_buf_reset(body);
    spw_result rc = spw_buf_append(body, "{\"acks\":[", 9);
    for (size_t i = 0; i < ch->n_pending && rc == SPW_OK; i++) {
        rc = spw_buf_printf(body, "%s%" PRIu64, i ? "," : "", ch->pending[i].ack_id);
        ch->pending[i].polled = true;
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(body, "]}", 2);
    spw_buf_reset(&ch->target);
    if (rc == SPW_OK)
        rc = spw_buf_printf(&ch->target, "/services/collector/ack?channel=%s", ch->guid);
    poll_call *pc = rc == SPW_OK ? malloc(sizeof *pc) : NULL;
    if (!pc) {
        spw_timer_start(ch->timer, ch->interval, 0);
        return;
    }
    *pc = (poll_call){ch, ch->generation};
    spw_http_header h[4];
    spw_http_request req = {
        .method = "POST",
        .target = (const char *)ch->target.data,
        .headers = h,
        .n_headers = hec_headers(s, ch, h, "application/json"),
        .body = body->data,
        .body_len = body->len,
        .flags = SPW_HTTP_PINNED | SPW_HTTP_NO_AUTH | SPW_HTTP_NO_COMPRESS,
        .endpoint = ch->endpoint,
    };
    /* A poll never outlives the earliest give-up time by much: cap its timeout. */
    uint64_t tmo = spw_http_conf_timeout(s->cf->http);
    req.timeout_ms = tmo ? tmo : 1;
    spw_err err;
    if (spw_http_send(s->http, &req, on_poll, pc, &err) != SPW_OK) {
        free(pc);
        for (size_t i = 0; i < ch->n_pending; i++)
            ch->pending[i].polled = false;
        spw_timer_start(ch->timer, ch->interval, 0);
        return;
    }
    spw_counter_add(s->c_polls, 1);
    ch->polling = true;
}
