/*
 * plugins/source-xdr/conn.c: one XDR connection, from accept to close.
 *
 * Input. Bytes are read into the connection's buffer (rbuf); whole frames
 * are taken from its front, each turned into an event (wire.h) and
 * submitted with the connection's order group, so the core answers them
 * in request order. A partial frame stays at the front; the buffer grows
 * to hold one frame of up to max_frame_size (whose header was already
 * judged acceptable) and shrinks back after it. With TLS, ciphertext goes
 * into the session (spillway/tls.h) and is decrypted straight into rbuf's
 * free space, at most one record at a time and only while the connection
 * may take input: the session holds at most one read of ciphertext.
 *
 * Flow control. The connection takes input only while it may submit: the
 * worker is not paused (the core's in-flight cap), the connection owes
 * fewer than max_in_flight_per_connection answers, its unwritten replies
 * are below XS_OUT_HIGH, and the source is not stopping. When any of
 * these stops it, it stops parsing and stops reading (TCP backpressure
 * then reaches XDR); what it had read stays in rbuf, bounded by one
 * frame plus one read. When the cap lifts, the connection is scheduled on
 * the instance's work list and goes on from the next loop turn, never
 * from inside a core callback.
 *
 * Closing. abort: at once, for a peer that left, malformed input or a
 * failure; the order group is cancelled, so events in flight finish
 * delivery but are never answered (their peer is gone). finish: after the
 * replies already produced are written, for shutdown and idle
 * connections, bounded by XS_LINGER_MS. Memory is released in the close
 * callbacks of the connection's two handles (socket, linger timer).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

static bool may_take(const struct xs_conn *c) {
    const struct xs_src *x = c->x;
    return !c->closing && !c->finishing && !x->stopping && !x->paused && !c->throttled &&
           xs_out_pending(c) < XS_OUT_HIGH;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    struct xs_conn *c = h->data;
    (void)suggested;
    if (c->tls) {
        /* Ciphertext is fed to the session inside on_read, so one buffer per worker will do. */
        buf->base = (char *)c->x->tls_in;
        buf->len = sizeof c->x->tls_in;
    } else {
        buf->base = (char *)c->rbuf + c->rlen;
        buf->len = c->rcap - c->rlen;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct xs_conn *c = s->data;

    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) {
            c->eof = true;
            xs_conn_abort(c, SPW_LOG_DEBUG, "closed by the peer");
        } else {
            char why[128];
            snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)nread));
            xs_conn_abort(c, SPW_LOG_DEBUG, why);
        }
        return;
    }
    c->last_active = uv_now(c->x->loop);
    xs_guard_on_bytes(c, c->last_active);
    if (c->tls) {
        spw_err e;
        if (spw_tls_feed(c->tls, buf->base, (size_t)nread, &e) != SPW_OK) {
            xs_conn_abort(c, SPW_LOG_ERROR, e.msg);
            return;
        }
    } else {
        c->rlen += (size_t)nread;
    }
    xs_conn_pump(c);
}

void xs_conn_update_read(struct xs_conn *c) {
    bool want = may_take(c);
    if (want && !c->reading) {
        int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (r != 0) {
            char why[128];
            snprintf(why, sizeof why, "cannot read: %s", uv_strerror(r));
            xs_conn_abort(c, SPW_LOG_WARN, why);
            return;
        }
        c->reading = true;
        /* The guard's bounds count only time spent reading (guard.c). */
        c->since = uv_now(c->x->loop);
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* The work handle: connections whose cap lifted go on, outside any core callback. */
static void on_work(uv_idle_t *h) {
    struct xs_src *x = h->data;
    struct xs_conn *list = x->runnable;
    x->runnable = NULL;
    while (list) {
        struct xs_conn *c = list;
        list = c->run_next;
        c->run_next = NULL;
        c->runnable = false;
        xs_conn_pump(c);
    }
    if (!x->runnable) {
        uv_idle_stop(&x->work);
        x->work_active = false;
    }
}

void xs_conn_schedule(struct xs_conn *c) {
    struct xs_src *x = c->x;
    if (c->runnable || c->closing || x->destroying)
        return;
    c->runnable = true;
    c->run_next = x->runnable;
    x->runnable = c;
    if (!x->work_active) {
        uv_idle_start(&x->work, on_work);
        x->work_active = true;
    }
}

/* Closes the connection for malformed input: one warning naming peer, offset and reason. */
static void malformed(struct xs_conn *c, uint64_t frame_off, const asw_error *err) {
    struct xs_src *x = c->x;
    spw_counter_add(x->c_malformed, 1);
    if (err->inflated)
        spw_log(x->st, SPW_LOG_WARN,
                "%s: malformed input in the compressed frame at byte %" PRIu64 ", at byte %" PRIu64
                " of its inflated message: %s; closing the connection",
                c->peer, frame_off, err->offset, err->reason);
    else
        spw_log(x->st, SPW_LOG_WARN,
                "%s: malformed input at byte %" PRIu64 ": %s; closing the connection", c->peer,
                frame_off + err->offset, err->reason);
    xs_conn_abort(c, SPW_LOG_DEBUG, NULL);
}

static void answer_retry(struct xs_conn *c) {
    uint8_t reply[ASW_REPLY_LEN];
    asw_reply(reply, c->x->retry_code);
    spw_counter_add(c->x->c_replies_retry, 1);
    if (xs_reply_ready(c, reply, sizeof reply) != SPW_OK)
        xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for an answer");
}

/* Takes one whole frame. False when the connection is closing because of it. */
static bool take_frame(struct xs_conn *c, const uint8_t *f, size_t len, uint64_t off,
                       int64_t now_s) {
    struct xs_src *x = c->x;
    asw_error err;
    spw_event *ev = NULL;
    spw_result r;

    if (asw_frame_type(f) == ASW_TYPE_INFO) {
        spw_buf answer = SPW_BUF_INIT;
        spw_counter_add(x->c_info, 1);
        r = asw_info_answer(f, len, &x->ids, &answer);
        if (r == SPW_OK)
            r = xs_reply_ready(c, answer.data, answer.len);
        spw_buf_free(&answer);
        if (r != SPW_OK) {
            xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for an INFO answer");
            return false;
        }
        return true;
    }

    /* Before parsing: a frame refused as malformed is captured too (bug reports). */
    xs_capture_frame(x, f, len);
    r = asw_frame_event(&x->parser, f, len, now_s, &ev, &err);
    if (r == SPW_ERR_INVAL) {
        malformed(c, off, &err);
        return false;
    }
    if (r != SPW_OK) {
        /* Out of memory: XDR will send the record again; the answer keeps its place. */
        spw_log(x->st, SPW_LOG_WARN, "%s: out of memory for a record of %zu bytes; answering retry",
                c->peer, len);
        answer_retry(c);
        return !c->closing;
    }
    spw_event_set_port(ev, c->port);
    r = spw_submit(x->st, ev, c->order, xs_on_done, c);
    if (r != SPW_OK) {
        /* The pipeline is shutting down: this record was not taken, XDR resends it. */
        answer_retry(c);
        return !c->closing;
    }
    c->submitted++;
    spw_counter_add(x->c_records, 1);
    spw_counter_add(x->c_w_records, 1);
    return true;
}

/* Makes room for a frame of need bytes; false (connection aborted) when memory runs out. */
static bool reserve(struct xs_conn *c, size_t need) {
    if (need <= c->rcap)
        return true;
    uint8_t *nb = realloc(c->rbuf, need);
    if (nb == NULL) {
        char why[128];
        snprintf(why, sizeof why, "out of memory for a frame of %zu bytes", need);
        xs_conn_abort(c, SPW_LOG_ERROR, why);
        return false;
    }
    c->rbuf = nb;
    c->rcap = need;
    return true;
}

/*
 * After a large frame, give its memory back: idle connections keep only
 * XS_RBUF_SIZE. `want` is what the partial frame at the front needs in all
 * (0 when none is known): a buffer still filling for a large frame stays.
 */
static void shrink(struct xs_conn *c, size_t want) {
    if (c->rcap <= XS_RBUF_SIZE || c->rlen > XS_RBUF_SIZE || want > XS_RBUF_SIZE)
        return;
    uint8_t *nb = realloc(c->rbuf, XS_RBUF_SIZE);
    if (nb) {
        c->rbuf = nb;
        c->rcap = XS_RBUF_SIZE;
    }
}

/*
 * Decrypts into rbuf's free space: bytes added, 0 when the session needs
 * more input, -1 when the connection is closing (a TLS failure, or the
 * peer's close_notify, which sets eof).
 */
static ssize_t tls_pull(struct xs_conn *c) {
    struct xs_src *x = c->x;
    size_t got;
    spw_err e;
    spw_result r =
        spw_tls_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen, &got, &x->tls_out, &e);
    if (!xs_send_tls(c)) /* handshake messages, alerts */
        return -1;
    if (r != SPW_OK) {
        if (r == SPW_ERR_NOMEM) {
            xs_conn_abort(c, SPW_LOG_ERROR, e.msg);
        } else {
            spw_counter_add(x->c_malformed, 1);
            xs_conn_abort(c, SPW_LOG_WARN, e.msg);
        }
        return -1;
    }
    if (!c->tls_open && spw_tls_ready(c->tls)) {
        c->tls_open = true;
        if (spw_log_enabled(SPW_LOG_DEBUG)) {
            char subject[256];
            spw_tls_peer_subject(c->tls, subject, sizeof subject);
            spw_log(x->st, SPW_LOG_DEBUG, "%s: TLS established%s%s", c->peer,
                    *subject ? ", client certificate " : "", subject);
        }
    }
    if (got > 0) {
        c->rlen += got;
        return (ssize_t)got;
    }
    if (spw_tls_get_state(c->tls) == SPW_TLS_CLOSED) {
        c->eof = true;
        xs_conn_abort(c, SPW_LOG_DEBUG, "closed by the peer (TLS close_notify)");
        return -1;
    }
    return 0;
}

void xs_conn_pump(struct xs_conn *c) {
    struct xs_src *x = c->x;
    int64_t now_s = spw_time_unix_ms() / 1000;
    uint64_t frames = 0, bytes = 0;
    size_t want = 0;

    for (;;) {
        size_t pos = 0;
        want = 0;
        while (may_take(c)) {
            size_t need;
            asw_error err;
            asw_scan s = asw_scan_frame(&x->parser, c->rbuf + pos, c->rlen - pos, &need, &err);
            if (s == ASW_BAD) {
                malformed(c, c->rbase + pos, &err);
                break;
            }
            if (s == ASW_NEED_MORE) {
                want = need;
                reserve(c, need); /* the partial frame moves to the front below */
                break;
            }
            frames++;
            bytes += need;
            if (!take_frame(c, c->rbuf + pos, need, c->rbase + pos, now_s))
                break;
            pos += need;
            /* Answers waiting behind events (INFO) count too: none can pile up. */
            if (xs_conn_in_flight(c) >= x->conn_cap)
                c->throttled = true;
        }
        if (c->closing)
            break;
        if (pos > 0) {
            memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
            c->rlen -= pos;
            c->rbase += pos;
        }
        /* With TLS, plaintext may wait inside the session: take more while allowed. */
        if (c->tls && may_take(c) && c->rlen < c->rcap) {
            ssize_t n = tls_pull(c);
            if (n > 0)
                continue;
        }
        break;
    }
    spw_counter_add(x->c_frames, frames);
    spw_counter_add(x->c_bytes, bytes);
    if (c->closing)
        return;
    /* The guard's frame clock (guard.c). Nothing left over after whole frames: between
     * frames, no bound. With TLS an empty rbuf may still hide a partial TLS record in the
     * session, so only a frame taken ends the clock there; bytes left after a frame start
     * the next one's. */
    if (frames > 0 && !c->got_frame)
        xs_guard_got_frame(c, x->slots);
    if (c->got_frame) {
        if (c->rlen == 0 && (!c->tls || frames > 0)) {
            c->partial = false;
        } else if (frames > 0 && c->rlen > 0) {
            c->partial = true;
            c->since = uv_now(x->loop);
        }
    }
    shrink(c, want);
    xs_conn_update_read(c);
}

/* ---------------------------------------------------------------------- */
/* Closing                                                                 */
/* ---------------------------------------------------------------------- */

static void unlink_lists(struct xs_conn *c) {
    struct xs_src *x = c->x;
    if (c->dirty) {
        for (struct xs_conn **pp = &x->dirty; *pp; pp = &(*pp)->dirty_next)
            if (*pp == c) {
                *pp = c->dirty_next;
                break;
            }
        c->dirty = false;
    }
    if (c->runnable) {
        for (struct xs_conn **pp = &x->runnable; *pp; pp = &(*pp)->run_next)
            if (*pp == c) {
                *pp = c->run_next;
                break;
            }
        c->runnable = false;
    }
}

static void on_handle_closed(uv_handle_t *h) {
    struct xs_conn *c = h->data;
    /* Two handles (socket and linger timer) share the connection: the second close frees it. */
    if (h == (uv_handle_t *)&c->tcp)
        c->tcp.data = NULL;
    else
        c->linger.data = NULL;
    if (c->tcp.data || c->linger.data)
        return;
    struct xs_src *x = c->x;
    spw_tls_free(c->tls);
    spw_buf_free(&c->out);
    free(c->rbuf);
    free(c);
    xs_handle_closed(x);
}

static void close_now(struct xs_conn *c) {
    struct xs_src *x = c->x;
    if (c->closing)
        return;
    c->closing = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    spw_order_cancel(c->order);
    c->order = NULL;
    xs_reply_discard(c);
    unlink_lists(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        x->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    xs_guard_remove(x, c);
    x->n_conns--;
    if (c->placed) {
        c->placed = false;
        xs_balance_release(x, &c->ip);
    }
    uv_timer_stop(&c->linger);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->linger, on_handle_closed);
    xs_retire_check(x);
}

void xs_conn_abort(struct xs_conn *c, spw_log_level level, const char *why) {
    if (c->closing)
        return;
    if (why && !c->x->destroying)
        spw_log(c->x->st, level, "%s: %s; closing the connection (%" PRIu64 " answers owed)",
                c->peer, why, xs_conn_in_flight(c));
    /* Replies already made are worth a try: each one received is a record XDR need not resend. */
    if (!c->eof)
        xs_reply_flush(c);
    close_now(c);
}

static void on_linger(uv_timer_t *t) {
    struct xs_conn *c = t->data;
    xs_conn_abort(c, SPW_LOG_DEBUG, "replies not written in time");
}

void xs_conn_finish(struct xs_conn *c) {
    if (c->closing || c->finishing)
        return;
    c->finishing = true;
    xs_conn_update_read(c); /* stops reading: may_take is false from now on */
    c->rlen = 0;            /* input not taken yet is XDR's to resend */
    xs_reply_flush(c);
    if (c->tls && !c->closing &&
        spw_tls_close_notify(c->tls, &c->x->tls_out, NULL) == SPW_OK) /* the orderly end */
        xs_send_tls(c);
    if (c->closing)
        return;
    if (c->writes == 0) {
        spw_log(c->x->st, SPW_LOG_DEBUG, "%s: connection closed", c->peer);
        close_now(c);
        return;
    }
    uv_timer_start(&c->linger, on_linger, XS_LINGER_MS, 0);
}

void xs_conn_start(struct xs_conn *c) {
    c->last_active = c->since = uv_now(c->x->loop);
    xs_conn_update_read(c);
}
