/*
 * core/http/dial.c: a connection of the native engines (h2.c,
 * h1.c), from the name to a byte stream: name lookup (uv_getaddrinfo,
 * skipped for a numeric address), TCP connect to the endpoint's dial
 * host and port (after connect_to), then for https the TLS handshake
 * (the SDK's spillway/tls.h) under the URL's host name, all within
 * connect_timeout. Once
 * open, it reads (decrypting when TLS) and hands the engine plaintext;
 * the engine writes, through spw__http_dial_send or on its own.
 *
 * The engine embeds an spw__http_dial at the start of its connection and is told
 * what happens through spw__http_dial_ops; the dial keeps itself on the engine's
 * list of the endpoint's connections from start to close. Errors are reported, never acted on:
 * the engine decides what a lost connection means for its requests and
 * closes the dial. Memory goes in the close callbacks: ops->released
 * runs once both handles are closed and no lookup is pending, and the
 * dial holds one count in the instance's open handles until then.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http-private.h"

static void release(spw__http_dial *d) {
    if (--d->refs > 0)
        return;
    spw_http *s = d->s;
    spw_tls_free(d->tls);
    d->tls = NULL;
    spw_buf_free(&d->out);
    spw_buf_free(&d->wbuf);
    d->ops->released(d); /* frees the engine's connection, d with it */
    spw__http_handle_closed(s);
}

static void on_handle_closed(uv_handle_t *hd) { release(hd->data); }

void spw__http_dial_close(spw__http_dial *d) {
    if (d->state == SPW__HTTP_DIAL_CLOSED)
        return;
    spw__http_conns *on = d->on;
    if (d->prev)
        d->prev->next = d->next;
    else
        on->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    on->n--;
    if (d->state == SPW__HTTP_DIAL_RESOLVING)
        uv_cancel((uv_req_t *)&d->gai); /* its callback still runs, with UV_ECANCELED */
    d->state = SPW__HTTP_DIAL_CLOSED;
    uv_close((uv_handle_t *)&d->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&d->timer, on_handle_closed);
}

static void fail(spw__http_dial *d, int cc, int uv_err, const char *why) {
    if (d->state == SPW__HTTP_DIAL_CLOSED)
        return;
    d->fail_cc = cc;
    snprintf(d->why, sizeof d->why, "%s", why);
    d->ops->error(d, cc, uv_err, why);
}

/* ---- writing ------------------------------------------------------------ */

static void on_written(uv_write_t *w, int status) {
    spw__http_dial *d = w->data;
    d->writing = false;
    spw_buf_reset(&d->wbuf);
    if (d->state != SPW__HTTP_DIAL_CLOSED)
        d->ops->written(d, status);
}

int spw__http_dial_send(spw__http_dial *d) {
    if (d->state < SPW__HTTP_DIAL_HANDSHAKE || d->state == SPW__HTTP_DIAL_CLOSED || d->writing || !d->out.len)
        return 0;
    uv_buf_t b = uv_buf_init((char *)d->out.data, (unsigned)d->out.len);
    int k = uv_try_write((uv_stream_t *)&d->tcp, &b, 1);
    if (k < 0 && k != UV_EAGAIN)
        return k;
    size_t done = k > 0 ? (size_t)k : 0;
    if (done == d->out.len) {
        spw_buf_reset(&d->out);
        return 0;
    }
    /* The rest goes from wbuf, which stays put until the write completes. */
    spw_buf t = d->wbuf;
    d->wbuf = d->out;
    d->out = t;
    spw_buf_reset(&d->out);
    b = uv_buf_init((char *)d->wbuf.data + done, (unsigned)(d->wbuf.len - done));
    d->wreq.data = d;
    int r = uv_write(&d->wreq, (uv_stream_t *)&d->tcp, &b, 1, on_written);
    if (r != 0)
        return r;
    d->writing = true;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b) {
    spw__http_dial *d = hd->data;
    (void)suggested;
    b->base = (char *)d->scr->rbuf;
    b->len = sizeof d->scr->rbuf;
}

/* The handshake is over (or there was none): the engine may write. */
static void opened(spw__http_dial *d) {
    uv_timer_stop(&d->timer);
    d->state = SPW__HTTP_DIAL_OPEN;
    d->ops->open(d);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    spw__http_dial *d = st->data;
    if (n == 0 || d->state == SPW__HTTP_DIAL_CLOSED)
        return;
    bool handshake = d->state == SPW__HTTP_DIAL_HANDSHAKE;
    if (n < 0) {
        char why[160];
        snprintf(why, sizeof why, "connection %s",
                 n == UV_EOF ? "closed by the server" : uv_strerror((int)n));
        fail(d, handshake ? CURLE_SSL_CONNECT_ERROR : CURLE_RECV_ERROR, (int)n, why);
        return;
    }
    if (!d->tls) {
        d->ops->input(d, (const uint8_t *)b->base, (size_t)n);
        return;
    }
    spw_buf *plain = &d->scr->plain;
    spw_err e;
    spw_buf_reset(plain);
    spw_result rc = spw_tls_recv(d->tls, b->base, (size_t)n, plain, &d->out, &e);
    if (handshake) {
        if (rc != SPW_OK) {
            fail(d, CURLE_SSL_CONNECT_ERROR, 0, e.msg);
            return;
        }
        if (!spw_tls_ready(d->tls)) {
            d->ops->flush(d); /* the handshake's next flight */
            return;
        }
        opened(d);
        if (d->state == SPW__HTTP_DIAL_CLOSED)
            return;
    }
    /* Plaintext that came before a close_notify or an error is still the server's answer. */
    if (plain->len) {
        d->ops->input(d, plain->data, plain->len);
        if (d->state == SPW__HTTP_DIAL_CLOSED)
            return;
    }
    if (rc != SPW_OK) {
        fail(d, CURLE_RECV_ERROR, 0, e.msg);
        return;
    }
    if (spw_tls_get_state(d->tls) == SPW_TLS_CLOSED) {
        fail(d, CURLE_RECV_ERROR, UV_EOF, "connection closed by the server (TLS close_notify)");
        return;
    }
    if (d->out.len)
        d->ops->flush(d);
}

/* ---- connecting --------------------------------------------------------- */

static void on_connect_timeout(uv_timer_t *t) {
    spw__http_dial *d = t->data;
    char why[96];
    snprintf(why, sizeof why, "no connection within %" PRId64 " ms", d->s->cf->connect_timeout_ms);
    fail(d, CURLE_OPERATION_TIMEDOUT, 0, why);
}

static void on_connect(uv_connect_t *req, int status) {
    spw__http_dial *d = req->data;
    if (d->state == SPW__HTTP_DIAL_CLOSED)
        return;
    char why[300];
    if (status < 0) {
        snprintf(why, sizeof why, "cannot connect to %s: %s", d->ep->base, uv_strerror(status));
        fail(d, CURLE_COULDNT_CONNECT, status, why);
        return;
    }
    uv_tcp_nodelay(&d->tcp, 1);
    uv_tcp_keepalive(&d->tcp, 1, 60);
    int r = uv_read_start((uv_stream_t *)&d->tcp, on_alloc, on_read);
    if (r != 0) {
        fail(d, CURLE_RECV_ERROR, r, uv_strerror(r));
        return;
    }
    if (!d->ep->https) {
        opened(d);
        return;
    }
    /* The connect timer goes on: connect_timeout covers the handshake too. */
    d->state = SPW__HTTP_DIAL_HANDSHAKE;
    spw_err e;
    if (spw_tls_new(d->s->tls_ctx, d->ep->tls_name, d->alpn, &d->tls, &e) != SPW_OK ||
        spw_tls_start(d->tls, &d->out, &e) != SPW_OK) {
        fail(d, CURLE_SSL_CONNECT_ERROR, 0, e.msg);
        return;
    }
    d->ops->flush(d);
}

static void connect_addr(spw__http_dial *d, const struct sockaddr *sa) {
    d->state = SPW__HTTP_DIAL_CONNECTING;
    d->creq.data = d;
    int r = uv_tcp_connect(&d->creq, &d->tcp, sa, on_connect);
    if (r != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect to %s: %s", d->ep->base, uv_strerror(r));
        fail(d, CURLE_COULDNT_CONNECT, r, why);
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
    spw__http_dial *d = g->data;
    if (d->state == SPW__HTTP_DIAL_RESOLVING) {
        if (status < 0 || !ai) {
            char why[160];
            snprintf(why, sizeof why, "cannot resolve %s: %s", d->ep->dial_host,
                     uv_strerror(status));
            fail(d, CURLE_COULDNT_RESOLVE_HOST, status, why);
        } else {
            connect_addr(d, ai->ai_addr);
        }
    }
    uv_freeaddrinfo(ai);
    release(d);
}

void spw__http_dial_start(spw__http_dial *d, spw_http *s, spw__http_endpoint *ep, spw__http_conns *on, const char *alpn,
                   const spw__http_dial_ops *ops, spw__http_dial_scratch *scr) {
    d->s = s;
    d->ep = ep;
    d->ops = ops;
    d->scr = scr;
    d->alpn = alpn;
    d->on = on;
    d->next = on->head;
    if (on->head)
        on->head->prev = d;
    on->head = d;
    on->n++;
    uv_tcp_init(s->loop, &d->tcp);
    uv_timer_init(s->loop, &d->timer);
    d->tcp.data = d->timer.data = d;
    d->refs = 2;
    s->open_handles++;
    uv_timer_start(&d->timer, on_connect_timeout, (uint64_t)s->cf->connect_timeout_ms, 0);

    struct sockaddr_storage ss;
    if (uv_ip4_addr(ep->dial_host, ep->dial_port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(ep->dial_host, ep->dial_port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_addr(d, (const struct sockaddr *)&ss);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)ep->dial_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    d->state = SPW__HTTP_DIAL_RESOLVING;
    d->gai.data = d;
    d->refs++;
    int r = uv_getaddrinfo(s->loop, &d->gai, on_resolved, ep->dial_host, port, &hints);
    if (r != 0) {
        d->refs--;
        char why[160];
        snprintf(why, sizeof why, "cannot resolve %s: %s", ep->dial_host, uv_strerror(r));
        fail(d, CURLE_COULDNT_RESOLVE_HOST, r, why);
    }
}
