/*
 * plugins/source-xdr/reply.c: every request gets exactly one answer, in
 * request order, on its connection.
 *
 * Order. Events are answered by the core in submission order per
 * connection (the order group), so the n-th done callback is the answer
 * to the n-th event submitted. Answers that need no event (INFO answers,
 * "retry" for a record that could not be submitted) are "ready" entries
 * stamped with the number of events submitted before them: they leave as
 * soon as that many events are answered, immediately when none are owed.
 * The per-connection FIFO of pending answers is therefore two counters
 * and a short list, and costs nothing per event.
 *
 * Writes. Answers produced during one loop turn are appended to the
 * connection's `out` buffer and written together by a prepare handle,
 * which libuv runs after every other callback of the turn and right
 * before it polls: no answer waits for the next event, and a burst of
 * completions leaves as one write. A write is tried synchronously first
 * (uv_try_write); only what the socket does not take is copied into a
 * write request. With TLS the replies are encrypted into one buffer the
 * instance shares (x->tls_out: a worker runs one connection at a time),
 * which is sent the same way and emptied at once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

struct xs_write {
    uv_write_t req;
    struct xs_conn *c;
    size_t len;
    uint8_t bytes[];
};

size_t xs_out_pending(const struct xs_conn *c) {
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) + c->out.len;
}

static void on_flush(uv_prepare_t *h) {
    struct xs_src *x = h->data;
    struct xs_conn *list = x->dirty;
    x->dirty = NULL;
    while (list) {
        struct xs_conn *c = list;
        list = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        xs_reply_flush(c);
    }
    if (!x->dirty) {
        uv_prepare_stop(&x->flush);
        x->flush_active = false;
    }
}

static void mark_dirty(struct xs_conn *c) {
    struct xs_src *x = c->x;
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = x->dirty;
    x->dirty = c;
    if (!x->flush_active) {
        uv_prepare_start(&x->flush, on_flush);
        x->flush_active = true;
    }
}

static void on_written(uv_write_t *req, int status) {
    struct xs_write *w = req->data;
    struct xs_conn *c = w->c;
    free(w);
    c->writes--;
    if (c->closing)
        return;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        c->eof = true; /* nothing more can be written */
        xs_conn_abort(c, SPW_LOG_DEBUG, why);
        return;
    }
    if (c->finishing) {
        if (c->writes == 0)
            xs_conn_abort(c, SPW_LOG_DEBUG, NULL);
        return;
    }
    /* Reading may have stopped on XS_OUT_HIGH: let the connection look again. */
    if (!c->reading)
        xs_conn_schedule(c);
}

bool xs_send(struct xs_conn *c, const uint8_t *p, size_t n) {
    size_t done = 0;
    if (c->closing)
        return false;
    if (n == 0)
        return true;
    if (c->writes == 0) {
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r >= 0) {
            done = (size_t)r;
        } else if (r != UV_EAGAIN) {
            char why[128];
            snprintf(why, sizeof why, "write failed: %s", uv_strerror(r));
            c->eof = true;
            xs_conn_abort(c, SPW_LOG_DEBUG, why);
            return false;
        }
        if (done == n)
            return true;
    }
    struct xs_write *w = malloc(sizeof *w + (n - done));
    if (w == NULL) {
        c->eof = true;
        xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for a write");
        return false;
    }
    w->c = c;
    w->len = n - done;
    w->req.data = w;
    memcpy(w->bytes, p + done, w->len);
    uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r != 0) {
        char why[128];
        free(w);
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(r));
        c->eof = true;
        xs_conn_abort(c, SPW_LOG_DEBUG, why);
        return false;
    }
    c->writes++;
    return true;
}

/* Above this, the instance's TLS output buffer is given back after use. */
#define TLS_OUT_KEEP (256u << 10)

bool xs_send_tls(struct xs_conn *c) {
    spw_buf *b = &c->x->tls_out;
    bool ok = xs_send(c, b->data, b->len);
    if (b->cap > TLS_OUT_KEEP)
        spw_buf_free(b);
    else
        spw_buf_reset(b);
    return ok && !c->closing;
}

/* Encrypts the replies into the instance's TLS output and sends that. */
static void send_tls(struct xs_conn *c, const uint8_t *p, size_t n) {
    spw_err e;
    if (spw_tls_write(c->tls, p, n, &c->x->tls_out, &e) != SPW_OK) {
        spw_buf_reset(&c->x->tls_out);
        c->eof = true;
        xs_conn_abort(c, SPW_LOG_WARN, e.msg);
        return;
    }
    xs_send_tls(c);
}

void xs_reply_flush(struct xs_conn *c) {
    if (c->out.len == 0 || c->closing)
        return;
    size_t n = c->out.len;
    c->out.len = 0; /* before sending: a failure may abort, which flushes again */
    if (c->tls)
        send_tls(c, c->out.data, n);
    else
        xs_send(c, c->out.data, n);
}

static bool append(struct xs_conn *c, const uint8_t *p, size_t n) {
    if (spw_buf_append(&c->out, p, n) != SPW_OK)
        return false;
    mark_dirty(c);
    return true;
}

spw_result xs_reply_ready(struct xs_conn *c, const uint8_t *bytes, size_t len) {
    if (c->submitted == c->answered) {
        /* Nothing owed before it: it leaves with this turn's writes. */
        return append(c, bytes, len) ? SPW_OK : SPW_ERR_NOMEM;
    }
    struct xs_ready *r = malloc(sizeof *r + len);
    if (r == NULL)
        return SPW_ERR_NOMEM;
    r->next = NULL;
    r->after = c->submitted;
    r->len = len;
    memcpy(r->bytes, bytes, len);
    if (c->ready_tail)
        c->ready_tail->next = r;
    else
        c->ready_head = r;
    c->ready_tail = r;
    c->n_ready++;
    return SPW_OK;
}

void xs_reply_discard(struct xs_conn *c) {
    while (c->ready_head) {
        struct xs_ready *r = c->ready_head;
        c->ready_head = r->next;
        free(r);
    }
    c->ready_tail = NULL;
    c->n_ready = 0;
}

void xs_on_done(spw_event *ev, spw_result outcome, void *arg) {
    struct xs_conn *c = arg;
    struct xs_src *x = c->x;
    uint8_t reply[ASW_REPLY_LEN];
    uint8_t code;
    (void)ev;

    switch (outcome) {
    case SPW_OK:
        code = 0;
        spw_counter_add(x->c_replies_ok, 1);
        break;
    case SPW_REJECT:
        code = x->abandon_code;
        spw_counter_add(x->c_replies_abandon, 1);
        break;
    default:
        code = x->retry_code;
        spw_counter_add(x->c_replies_retry, 1);
        break;
    }
    c->answered++;
    asw_reply(reply, code);
    bool ok = append(c, reply, sizeof reply);
    while (ok && c->ready_head && c->ready_head->after <= c->answered) {
        struct xs_ready *r = c->ready_head;
        c->ready_head = r->next;
        if (!c->ready_head)
            c->ready_tail = NULL;
        c->n_ready--;
        ok = append(c, r->bytes, r->len);
        free(r);
    }
    if (!ok) {
        /* An answer lost would shift every later one: the connection cannot go on. */
        xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for an answer");
        return;
    }
    uint64_t owed = xs_conn_in_flight(c);
    if (owed == 0)
        c->last_active = uv_now(x->loop); /* idle_timeout counts from the last answer too */
    if (x->stopping || c->finishing) {
        if (owed == 0)
            xs_conn_finish(c);
    } else if (c->throttled && owed <= x->conn_low) {
        c->throttled = false;
        xs_conn_schedule(c);
    }
}
