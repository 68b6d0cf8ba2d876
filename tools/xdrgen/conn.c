/*
 * tools/xdrgen/conn.c: one connection to the connector, behaving as one
 * XDR service thread's connection does (xdr-wire.md 1, 8).
 *
 * Pipelining: up to `window` requests in flight. Their sequence numbers
 * and send times sit in a ring in send order; each reply (exactly 30
 * bytes) answers the ring's head, so matching is strictly in order, as
 * XDR's is. Anything that does not parse as a reply, or a reply with
 * nothing in flight, is a protocol error: the connection is reset.
 *
 * Reset (peer closed, socket error, malformed reply, or no reply for
 * --timeout while requests are in flight): every record in the ring goes
 * back to the run to be resent, on whatever connection has room first,
 * and the connection reconnects after a backoff that starts at
 * --reconnect-min and doubles, up to --reconnect-max, while connecting
 * keeps failing. Any reply restarts the timeout, as in XDR.
 *
 * Writes: frames are built straight into `out`; at most one uv_write is
 * in progress (from `wbuf`) and the two buffers swap when it completes,
 * so a burst of replies turns into one write of many frames. The ring
 * bounds what can be queued: at most `window` frames are ever unanswered.
 *
 * Lifetime (libuv's rule): buffers a write uses are released only after
 * its callback, and the connection is freed only after every handle's
 * close callback. The TCP handle is closed and initialised again for
 * each reconnection; the timer lives as long as the connection.
 *
 * TLS (spillway/tls.h): frames are built into `plain` and encrypted into
 * `out` in one call per fill; bytes read are decrypted into `rx` before
 * they are parsed as replies.
 */
#include "xdrgen.h"

#include <stdlib.h>
#include <string.h>

#define READ_BUF (64 * 1024)

enum cstate {
    C_IDLE,       /* not connected; the timer is the reconnect backoff */
    C_CONNECTING,
    C_HANDSHAKE,  /* TLS handshake in progress */
    C_READY,
    C_CLOSING,    /* the TCP handle is being closed */
};

struct inflight {
    uint64_t seq;
    uint64_t sent_ns;
};

struct xg_conn {
    struct xg_run *run;
    unsigned index;
    const struct sockaddr *addr;
    const char *name;
    enum cstate state;
    bool tcp_open, timer_open, final;
    void (*close_cb)(struct xg_conn *c);

    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    bool writing;
    spw_buf out, wbuf, plain, rx;

    struct inflight *ring;
    size_t cap, head, n;
    uint8_t part[XG_REPLY_LEN];
    size_t part_len;

    spw_tls_ctx *tls_ctx;
    spw_tls *tls;
    uint64_t backoff_ms;
    bool failing;        /* the last connection attempt failed (log once) */
    uint8_t rbuf[READ_BUF];
};

static void connect_now(struct xg_conn *c);
static void reset(struct xg_conn *c, uint64_t *counter, const char *why);

struct xg_conn *xg_conn_new(struct xg_run *r, unsigned index, const struct sockaddr *addr,
                            const char *addr_name, spw_tls_ctx *tls_ctx) {
    const struct xg_opts *o = xg_run_opts(r);
    struct xg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ring = calloc(o->window, sizeof *c->ring);
    if (!c->ring) {
        free(c);
        return NULL;
    }
    c->run = r;
    c->index = index;
    c->addr = addr;
    c->name = addr_name;
    c->cap = o->window;
    c->tls_ctx = tls_ctx;
    c->backoff_ms = o->reconnect_min_ms;
    uv_timer_init(xg_run_loop(r), &c->timer);
    c->timer.data = c;
    c->timer_open = true;
    return c;
}

void xg_conn_free(struct xg_conn *c) {
    if (!c)
        return;
    spw_tls_free(c->tls);
    spw_buf_free(&c->out);
    spw_buf_free(&c->wbuf);
    spw_buf_free(&c->plain);
    spw_buf_free(&c->rx);
    free(c->ring);
    free(c);
}

struct xg_run *xg_conn_run(const struct xg_conn *c) { return c->run; }

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */
/* ---------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
    struct xg_conn *c = req->data;
    char why[128];
    c->writing = false;
    c->wbuf.len = 0;
    if (c->state != C_READY && c->state != C_HANDSHAKE)
        return; /* cancelled by a close: nothing more to do */
    if (status < 0) {
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        reset(c, &xg_run_stats(c->run)->resets_peer, why);
        return;
    }
    if (c->out.len > 0) {
        spw_buf t = c->out;
        c->out = c->wbuf;
        c->wbuf = t;
        uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
        c->wreq.data = c;
        int e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (e < 0) {
            c->wbuf.len = 0;
            snprintf(why, sizeof why, "write failed: %s", uv_strerror(e));
            reset(c, &xg_run_stats(c->run)->resets_peer, why);
            return;
        }
        c->writing = true;
    }
}

static void flush(struct xg_conn *c) {
    if (c->writing || c->out.len == 0)
        return;
    spw_buf t = c->out;
    c->out = c->wbuf;
    c->wbuf = t;
    uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    int e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (e < 0) {
        char why[128];
        c->wbuf.len = 0;
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(e));
        reset(c, &xg_run_stats(c->run)->resets_peer, why);
        return;
    }
    c->writing = true;
}

static void on_timeout(uv_timer_t *t);

static void arm_timeout(struct xg_conn *c) {
    uv_timer_start(&c->timer, on_timeout, xg_run_opts(c->run)->timeout_ms, 0);
}

void xg_conn_fill(struct xg_conn *c) {
    if (c->state != C_READY || c->n >= c->cap)
        return;
    size_t bound = xg_run_frame_bound(c->run);
    spw_buf *dst = c->tls ? &c->plain : &c->out;
    bool was_empty = c->n == 0;
    uint64_t now = uv_hrtime();
    while (c->n < c->cap) {
        if (spw_buf_reserve(dst, bound) != SPW_OK) {
            reset(c, &xg_run_stats(c->run)->resets_peer, "out of memory");
            return;
        }
        uint64_t seq;
        size_t len;
        if (!xg_run_next(c->run, &seq, dst->data + dst->len, &len))
            break;
        dst->len += len;
        struct inflight *f = &c->ring[(c->head + c->n) % c->cap];
        f->seq = seq;
        f->sent_ns = now;
        c->n++;
    }
    if (c->tls && c->plain.len > 0) {
        spw_err e;
        if (spw_tls_write(c->tls, c->plain.data, c->plain.len, &c->out, &e) != SPW_OK) {
            reset(c, &xg_run_stats(c->run)->resets_peer, e.msg);
            return;
        }
        c->plain.len = 0;
    }
    if (was_empty && c->n > 0)
        arm_timeout(c);
    flush(c);
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */
/* ---------------------------------------------------------------------- */

/* Answers the ring's head with reply p; false when the connection was reset. */
static bool answer(struct xg_conn *c, const uint8_t *p, uint64_t now) {
    int code = xg_reply_parse(p);
    if (code < 0 || c->n == 0) {
        char why[160];
        if (code < 0)
            snprintf(why, sizeof why,
                     "malformed reply (%02x %02x %02x%02x%02x%02x%02x%02x %02x...)", p[0], p[1],
                     p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
        else
            snprintf(why, sizeof why, "a reply with no request in flight");
        reset(c, &xg_run_stats(c->run)->resets_malformed, why);
        return false;
    }
    struct inflight f = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->n--;
    xg_run_reply(c->run, f.seq, code, now - f.sent_ns);
    return true;
}

static void replies(struct xg_conn *c, const uint8_t *p, size_t n) {
    uint64_t now = uv_hrtime();
    bool any = false;
    if (c->part_len > 0) {
        size_t take = XG_REPLY_LEN - c->part_len;
        if (take > n)
            take = n;
        memcpy(c->part + c->part_len, p, take);
        c->part_len += take;
        p += take;
        n -= take;
        if (c->part_len < XG_REPLY_LEN)
            return;
        c->part_len = 0;
        if (!answer(c, c->part, now))
            return;
        any = true;
    }
    while (n >= XG_REPLY_LEN) {
        if (!answer(c, p, now))
            return;
        any = true;
        p += XG_REPLY_LEN;
        n -= XG_REPLY_LEN;
    }
    if (n > 0) {
        memcpy(c->part, p, n);
        c->part_len = n;
    }
    if (any) {
        if (c->n > 0)
            arm_timeout(c);
        else
            uv_timer_stop(&c->timer);
        xg_conn_fill(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    struct xg_conn *c = h->data;
    *buf = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct xg_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        char why[128];
        snprintf(why, sizeof why, "%s",
                 nread == UV_EOF ? "connection closed by the connector" : uv_strerror((int)nread));
        reset(c, &xg_run_stats(c->run)->resets_peer, why);
        return;
    }
    if (!c->tls) {
        replies(c, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    spw_err e;
    c->rx.len = 0;
    if (spw_tls_recv(c->tls, buf->base, (size_t)nread, &c->rx, &c->out, &e) != SPW_OK) {
        reset(c, &xg_run_stats(c->run)->resets_peer, e.msg);
        return;
    }
    flush(c);
    if (c->state == C_HANDSHAKE && spw_tls_ready(c->tls)) {
        c->state = C_READY;
        xg_conn_fill(c);
    }
    if (c->rx.len > 0 && c->state == C_READY)
        replies(c, c->rx.data, c->rx.len);
    /* A reset above freed the session. */
    if (c->tls && spw_tls_get_state(c->tls) == SPW_TLS_CLOSED)
        reset(c, &xg_run_stats(c->run)->resets_peer, "the connector closed the TLS session");
}

/* ---------------------------------------------------------------------- */
/* Connecting, resetting, closing                                          */
/* ---------------------------------------------------------------------- */

static void maybe_final(struct xg_conn *c) {
    if (c->final && !c->tcp_open && !c->timer_open && c->close_cb)
        c->close_cb(c);
}

static void on_timer_closed(uv_handle_t *h) {
    struct xg_conn *c = h->data;
    c->timer_open = false;
    maybe_final(c);
}

static void on_backoff(uv_timer_t *t) {
    struct xg_conn *c = t->data;
    if (c->state == C_IDLE && !c->final)
        connect_now(c);
}

static void on_tcp_closed(uv_handle_t *h) {
    struct xg_conn *c = h->data;
    c->tcp_open = false;
    c->writing = false;
    c->wbuf.len = 0;
    c->out.len = 0;
    c->plain.len = 0;
    c->state = C_IDLE;
    if (c->final) {
        maybe_final(c);
        return;
    }
    uv_timer_start(&c->timer, on_backoff, c->backoff_ms, 0);
}

static void close_tcp(struct xg_conn *c) {
    c->state = C_CLOSING;
    uv_timer_stop(&c->timer);
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Gives the in-flight records back to the run and reconnects later. */
static void reset(struct xg_conn *c, uint64_t *counter, const char *why) {
    if (c->state == C_CLOSING || c->state == C_IDLE)
        return;
    (*counter)++;
    xg_log(c->run, "connection %u to %s reset: %s (%zu records in flight will be resent)",
           c->index, c->name, why, c->n);
    uint64_t seqs[256];
    while (c->n > 0) {
        size_t k = 0;
        while (c->n > 0 && k < 256) {
            seqs[k++] = c->ring[c->head].seq;
            c->head = (c->head + 1) % c->cap;
            c->n--;
        }
        xg_run_requeue(c->run, seqs, k);
    }
    c->head = 0;
    c->part_len = 0;
    spw_tls_free(c->tls);
    c->tls = NULL;
    c->backoff_ms = xg_run_opts(c->run)->reconnect_min_ms;
    close_tcp(c);
}

static void on_timeout(uv_timer_t *t) {
    struct xg_conn *c = t->data;
    if (c->state == C_HANDSHAKE) {
        reset(c, &xg_run_stats(c->run)->resets_timeout, "TLS handshake timed out");
        return;
    }
    if (c->state != C_READY || c->n == 0)
        return;
    char why[96];
    snprintf(why, sizeof why, "no reply for %llu ms",
             (unsigned long long)xg_run_opts(c->run)->timeout_ms);
    reset(c, &xg_run_stats(c->run)->resets_timeout, why);
}

static void on_connect(uv_connect_t *req, int status) {
    struct xg_conn *c = req->data;
    const struct xg_opts *o = xg_run_opts(c->run);
    if (status == UV_ECANCELED || c->final || c->state != C_CONNECTING)
        return;
    if (status < 0) {
        xg_run_stats(c->run)->connect_failures++;
        if (!c->failing)
            xg_log(c->run, "connection %u: cannot connect to %s: %s (retrying)", c->index,
                   c->name, uv_strerror(status));
        c->failing = true;
        close_tcp(c);
        /* the next attempt waits longer, up to the maximum */
        c->backoff_ms = c->backoff_ms * 2 > o->reconnect_max_ms ? o->reconnect_max_ms
                                                                 : c->backoff_ms * 2;
        return;
    }
    if (c->failing)
        xg_log(c->run, "connection %u: connected to %s", c->index, c->name);
    c->failing = false;
    xg_run_stats(c->run)->connects++;
    c->backoff_ms = o->reconnect_min_ms;
    uv_tcp_nodelay(&c->tcp, 1);
    int e = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (e < 0) {
        reset(c, &xg_run_stats(c->run)->resets_peer, uv_strerror(e));
        return;
    }
    if (c->tls_ctx) {
        spw_err terr;
        c->state = C_HANDSHAKE;
        if (spw_tls_new(c->tls_ctx, o->tls_name, NULL, &c->tls, &terr) != SPW_OK ||
            spw_tls_start(c->tls, &c->out, &terr) != SPW_OK) {
            reset(c, &xg_run_stats(c->run)->resets_peer, terr.msg);
            return;
        }
        /* the handshake gets the same deadline as a reply */
        arm_timeout(c);
        flush(c);
        return;
    }
    c->state = C_READY;
    xg_conn_fill(c);
}

static void connect_now(struct xg_conn *c) {
    uv_tcp_init(xg_run_loop(c->run), &c->tcp);
    c->tcp.data = c;
    c->tcp_open = true;
    c->creq.data = c;
    c->state = C_CONNECTING;
    int e = uv_tcp_connect(&c->creq, &c->tcp, c->addr, on_connect);
    if (e < 0) {
        xg_run_stats(c->run)->connect_failures++;
        if (!c->failing)
            xg_log(c->run, "connection %u: cannot connect to %s: %s (retrying)", c->index,
                   c->name, uv_strerror(e));
        c->failing = true;
        close_tcp(c);
    }
}

void xg_conn_start(struct xg_conn *c) { connect_now(c); }

void xg_conn_close(struct xg_conn *c, void (*cb)(struct xg_conn *c)) {
    c->final = true;
    c->close_cb = cb;
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        c->state = C_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    }
    if (c->timer_open && !uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    maybe_final(c);
}
