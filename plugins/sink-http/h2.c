/*
 * plugins/sink-http/h2.c: the nghttp2 engine, HTTP/2 straight over a
 * libuv TCP stream, for cleartext HTTP/2 with prior knowledge (h2c).
 *
 * Why not libcurl here: Debian 12's libcurl (7.88.1) cannot reuse an h2c
 * connection (curl bug 10634, fixed in 8.0.0), so every request paid a
 * TCP handshake and a connection preface; and even where reuse works,
 * libcurl spends ~15 us of CPU per transfer, several times what one
 * HTTP/2 stream costs. Here a request is one nghttp2_submit_request on a
 * connection that stays open, and everything the loop turn produced for a
 * connection leaves in one write.
 *
 * Shape. Each endpoint has a list of connections (usually one: a
 * connection carries up to min(max_streams, the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS) requests at once; another is opened
 * only when all are full, up to max_connections). A request that finds no
 * room waits in its endpoint's FIFO. Requests are submitted to the
 * session at once, even while the connection is still being set up;
 * nghttp2 holds their frames until the flush.
 *
 * Output. Connections with something to send are put on a dirty list and
 * flushed from a prepare handle, which libuv runs after all the turn's
 * callbacks and right before polling: nghttp2_session_mem_send fills a
 * buffer (up to H2_OUT_HIGH), uv_try_write takes what the socket accepts,
 * and the rest goes out in one uv_write from a second buffer, so that
 * buffer never moves while libuv holds it.
 *
 * Outcomes are those of the libcurl engine, through the same classifier:
 * a response is its status; a stream reset, a refused connection, a
 * connection lost with streams open, or no answer within the request's
 * time are transport errors (retry, and the endpoint counts a failure),
 * given CURLcode numbers so hs_classify and the counters treat both
 * engines alike. Streams above a GOAWAY's last stream id are reset by
 * nghttp2 with REFUSED_STREAM and so are retried like any other.
 *
 * Lifetime. A connection owns a TCP handle and a connect timer; its memory
 * goes when both are closed and no name lookup is pending. Each one holds
 * a count in the instance's open handles, so the instance outlives it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <nghttp2/nghttp2.h>
#include "http.h"

#define H2_OUT_HIGH (256u << 10)   /* stop asking nghttp2 for frames above this */
#define H2_READ_SIZE (64u << 10)
#define H2_WINDOW (16u << 20)      /* our receive window: responses never wait on us */
#define NOT_H2 "the server does not speak HTTP/2 with prior knowledge (an HTTP/1.1 server?)"

enum h2_state { H2_RESOLVING, H2_CONNECTING, H2_HANDSHAKE, H2_READY, H2_CLOSED };

struct hs_h2conn {
    hs_sink *s;
    hs_endpoint *ep;
    enum h2_state state;
    uv_tcp_t tcp;
    uv_timer_t timer;       /* connect timeout */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    unsigned refs;          /* closed handles and pending lookups still owed */
    nghttp2_session *ng;
    hs_tls *tls;            /* https only */
    uint64_t born_ms;
    unsigned streams;       /* requests on this connection */
    bool draining;          /* no new requests (GOAWAY, age) */
    bool spoke_h2;          /* the server sent its SETTINGS */
    hs_req *reqs;           /* requests on this connection (qprev/qnext) */
    spw_buf out;            /* frames not yet handed to libuv */
    spw_buf wbuf;           /* what the pending uv_write holds */
    uv_write_t wreq;
    bool writing;
    bool dirty;
    struct hs_h2conn *dirty_next;
    struct hs_h2conn *prev, *next; /* the endpoint's list */
    int fail_cc;            /* why it closed, for requests that arrive after */
    char why[160];
};

struct hs_h2 {
    hs_sink *s;
    nghttp2_session_callbacks *cbs;
    uv_prepare_t flush;
    bool flush_on;
    uv_timer_t timer;       /* request deadlines */
    uint64_t timer_at;      /* when it fires, 0: stopped */
    hs_h2conn *dirty;
    bool queued;            /* some endpoint has waiting requests */
    void *tls_ctx;          /* SSL_CTX, when some endpoint is https */
    spw_buf plain_in;       /* scratch: decrypted input */
    spw_buf plain_out;      /* scratch: frames to encrypt */
    nghttp2_nv *nv;         /* scratch for one request's headers */
    size_t nv_cap;
    nghttp2_nv *fixed;      /* headers every request carries (lowercase names) */
    size_t n_fixed;
    char *fixed_store;      /* their bytes (auth values among them) */
    size_t fixed_len;
    unsigned refs;          /* the two loop handles not yet closed */
    uint8_t rbuf[H2_READ_SIZE];
};

static void conn_fail(hs_h2conn *c, int cc, const char *why);
static void conn_fallback(hs_h2conn *c);
static void on_flush(uv_prepare_t *p);
static void on_deadline(uv_timer_t *t);

/* ---- small helpers --------------------------------------------------- */

static void flush_soon(struct hs_h2 *h) {
    if (!h->flush_on) {
        uv_prepare_start(&h->flush, on_flush);
        h->flush_on = true;
    }
}

/* Waiting requests of some endpoint may find room now. */
static void want_dispatch(struct hs_h2 *h) {
    h->queued = true;
    flush_soon(h);
}

static void mark_dirty(hs_h2conn *c) {
    struct hs_h2 *h = c->s->h2s;
    if (c->dirty || c->state == H2_CLOSED)
        return;
    c->dirty = true;
    c->dirty_next = h->dirty;
    h->dirty = c;
    flush_soon(h);
}

static void req_link(hs_req **head, hs_req *r) {
    r->qprev = NULL;
    r->qnext = *head;
    if (*head)
        (*head)->qprev = r;
    *head = r;
}

static void req_unlink(hs_req **head, hs_req *r) {
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        *head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    r->qprev = r->qnext = NULL;
}

/* Takes r off its connection or its endpoint's queue. */
static void req_detach(hs_req *r) {
    hs_h2conn *c = r->conn;
    if (c) {
        if (r->stream_id > 0 && c->ng && c->state != H2_CLOSED)
            nghttp2_session_set_stream_user_data(c->ng, r->stream_id, NULL);
        req_unlink(&c->reqs, r);
        c->streams--;
        r->conn = NULL;
    } else if (r->queued) {
        hs_endpoint *ep = r->ep;
        if (r->qprev)
            r->qprev->qnext = r->qnext;
        else
            ep->h2q_head = r->qnext;
        if (r->qnext)
            r->qnext->qprev = r->qprev;
        else
            ep->h2q_tail = r->qprev;
        r->qprev = r->qnext = NULL;
        r->queued = false;
    }
    r->stream_id = 0;
}

static void finish(hs_req *r, int cc, const char *why) {
    hs_sink *s = r->s;
    req_detach(r);
    if (why)
        snprintf(r->errbuf, sizeof r->errbuf, "%s", why);
    hs_req_complete(s, r, cc, cc == CURLE_OK ? r->status : 0,
                    r->retry_after[0] ? r->retry_after : NULL);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
    hs_req *r = src->ptr;
    (void)ng;
    /* A request that timed out is detached and may already carry another body. */
    if (r->stream_id != id || r->conn != user)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t left = r->body_len - r->body_off;
    size_t n = left < len ? left : len;
    if (n)
        memcpy(buf, r->body + r->body_off, n);
    r->body_off += n;
    if (r->body_off == r->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
    (void)flags, (void)user;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    hs_req *r = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!r)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        long st = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        /* 1xx answers are interim: the final status follows. */
        r->status = st >= 200 ? st : 0;
    } else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0 && r->status) {
        size_t n = valuelen < sizeof r->retry_after - 1 ? valuelen : sizeof r->retry_after - 1;
        memcpy(r->retry_after, value, n);
        r->retry_after[n] = '\0';
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user) {
    (void)flags, (void)user;
    hs_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return 0;
    size_t max = (size_t)r->s->cf->response_max;
    /* Keep what an excerpt needs; the rest is read and dropped. */
    if (r->resp.len < max)
        (void)spw_buf_append(&r->resp, data, len < max - r->resp.len ? len : max - r->resp.len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user) {
    hs_h2conn *c = user;
    hs_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return 0;
    if (r->status) {
        /* A final status decides, also when the server then reset the stream (nginx answers
         * before reading a body it does not want, then resets with NO_ERROR). */
        finish(r, CURLE_OK, NULL);
    } else {
        char why[160];
        snprintf(why, sizeof why, "stream closed by %s without an answer (%s)",
                 c->ep->base, nghttp2_http2_strerror(code));
        finish(r, CURLE_HTTP2_STREAM, why);
    }
    if (c->ep->h2q_head)
        want_dispatch(c->s->h2s);
    return 0;
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *user) {
    hs_h2conn *c = user;
    (void)ng;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        /* Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (retried). */
        c->draining = true;
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s sent GOAWAY (%s, last stream %" PRId32 ")",
                c->ep->base, nghttp2_http2_strerror(f->goaway.error_code),
                f->goaway.last_stream_id);
    } else if (f->hd.type == NGHTTP2_SETTINGS) {
        c->spoke_h2 = true;
        if (c->ep->h2q_head)
            want_dispatch(c->s->h2s); /* the server may allow more streams now */
    }
    return 0;
}

/* ---- connection I/O ------------------------------------------------------ */

static void conn_release(hs_h2conn *c) {
    if (--c->refs > 0)
        return;
    hs_sink *s = c->s;
    if (c->ng)
        nghttp2_session_del(c->ng);
    hs_tls_free(c->tls);
    spw_buf_free(&c->out);
    spw_buf_free(&c->wbuf);
    free(c);
    hs_handle_closed(s);
}

static void on_handle_closed(uv_handle_t *hd) { conn_release(hd->data); }

/* Closes the connection; its requests must have been finished or detached. */
static void conn_close(hs_h2conn *c) {
    if (c->state == H2_CLOSED)
        return;
    hs_endpoint *ep = c->ep;
    if (c->state == H2_RESOLVING)
        uv_cancel((uv_req_t *)&c->gai); /* its callback still runs, with UV_ECANCELED */
    c->state = H2_CLOSED;
    if (c->dirty) {
        /* Off the flush list: its memory goes before the next flush. */
        hs_h2conn **pp = &c->s->h2s->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        ep->h2conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    ep->h2_nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    /* A waiting request may now open a connection of its own. */
    if (ep->h2q_head)
        want_dispatch(c->s->h2s);
}

/* Ends every request on c with a transport error, then closes it. */
static void conn_fail(hs_h2conn *c, int cc, const char *why) {
    if (c->state == H2_CLOSED)
        return;
    hs_req *list = c->reqs;
    c->reqs = NULL;
    c->draining = true;
    c->fail_cc = cc;
    snprintf(c->why, sizeof c->why, "%s", why);
    /* Detach all first: finishing one lets the core hand this sink more work, which must not
     * land here. */
    for (hs_req *r = list; r; r = r->qnext) {
        r->conn = NULL;
        r->stream_id = 0;
    }
    c->streams = 0;
    if (list)
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s: %s", c->ep->base, why);
    conn_close(c);
    while (list) {
        hs_req *r = list;
        list = r->qnext;
        r->qprev = r->qnext = NULL;
        finish(r, cc, why);
    }
}

static void on_written(uv_write_t *w, int status) {
    hs_h2conn *c = w->data;
    c->writing = false;
    spw_buf_reset(&c->wbuf);
    if (c->state == H2_CLOSED)
        return;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        conn_fail(c, CURLE_SEND_ERROR, why);
        return;
    }
    mark_dirty(c);
}

/* Pulls frames from nghttp2 and writes them; closes a connection nothing is left to do on. */
static void conn_flush(hs_h2conn *c) {
    if (c->state != H2_READY && c->state != H2_HANDSHAKE)
        return;
    /* Frames go straight to the output, or through TLS in one SSL_write. */
    spw_buf *frames = c->tls ? &c->s->h2s->plain_out : &c->out;
    while (c->state == H2_READY && c->out.len + (c->tls ? frames->len : 0) < H2_OUT_HIGH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        if (n < 0) {
            conn_fail(c, CURLE_SEND_ERROR, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        if (spw_buf_append(frames, p, (size_t)n) != SPW_OK) {
            conn_fail(c, CURLE_OUT_OF_MEMORY, "out of memory for frames");
            return;
        }
    }
    if (c->tls && frames->len) {
        char why[300];
        int rc = hs_tls_send(c->tls, frames->data, frames->len, &c->out, why, sizeof why);
        spw_buf_reset(frames);
        if (rc != HS_TLS_OK) {
            conn_fail(c, CURLE_SEND_ERROR, why);
            return;
        }
    }
    if (c->out.len && !c->writing) {
        uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
        int k = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (k < 0 && k != UV_EAGAIN) {
            char why[128];
            snprintf(why, sizeof why, "write failed: %s", uv_strerror(k));
            conn_fail(c, CURLE_SEND_ERROR, why);
            return;
        }
        size_t done = k > 0 ? (size_t)k : 0;
        if (done == c->out.len) {
            spw_buf_reset(&c->out);
        } else {
            /* The rest goes from wbuf, which stays put until the write completes. */
            spw_buf t = c->wbuf;
            c->wbuf = c->out;
            c->out = t;
            spw_buf_reset(&c->out);
            b = uv_buf_init((char *)c->wbuf.data + done, (unsigned)(c->wbuf.len - done));
            int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
            if (r != 0) {
                char why[128];
                snprintf(why, sizeof why, "write failed: %s", uv_strerror(r));
                conn_fail(c, CURLE_SEND_ERROR, why);
                return;
            }
            c->writing = true;
        }
    }
    if (c->state != H2_READY)
        return;
    if (c->draining && c->streams == 0 && !c->writing && c->out.len == 0) {
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        !c->writing && c->out.len == 0)
        conn_fail(c, CURLE_HTTP2, c->spoke_h2 ? "the HTTP/2 session ended" : NOT_H2);
}

/*
 * The server finished the handshake without choosing h2 (ALPN): the
 * endpoint is served by libcurl from now on, and the requests this
 * connection carried, and those waiting, go there at once.
 */
static void conn_fallback(hs_h2conn *c) {
    hs_sink *s = c->s;
    hs_endpoint *ep = c->ep;
    ep->h2_use = false;
    spw_log(s->st, SPW_LOG_INFO,
            "%s does not offer HTTP/2 (ALPN): libcurl delivers to it from now on", ep->base);
    hs_req *list = c->reqs;
    c->reqs = NULL;
    c->streams = 0;
    for (hs_req *r = list; r; r = r->qnext) {
        r->conn = NULL;
        r->stream_id = 0;
    }
    conn_close(c);
    while (list) {
        hs_req *r = list;
        list = r->qnext;
        r->qprev = r->qnext = NULL;
        hs_req_to_curl(s, r);
    }
    while (ep->h2q_head) {
        hs_req *r = ep->h2q_head;
        req_detach(r);
        hs_req_to_curl(s, r);
    }
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b) {
    hs_h2conn *c = hd->data;
    (void)suggested;
    b->base = (char *)c->s->h2s->rbuf;
    b->len = sizeof c->s->h2s->rbuf;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    hs_h2conn *c = st->data;
    if (n == 0 || c->state == H2_CLOSED)
        return;
    if (n < 0) {
        char why[160];
        snprintf(why, sizeof why, "connection %s with requests open",
                 n == UV_EOF ? "closed by the server" : uv_strerror((int)n));
        conn_fail(c, CURLE_RECV_ERROR, why);
        return;
    }
    const uint8_t *in = (const uint8_t *)b->base;
    size_t len = (size_t)n;
    if (c->tls) {
        struct hs_h2 *h = c->s->h2s;
        char why[300];
        spw_buf_reset(&h->plain_in);
        int rc = hs_tls_recv(c->tls, in, len, &h->plain_in, &c->out, why, sizeof why);
        if (rc != HS_TLS_OK) {
            conn_fail(c, c->state == H2_HANDSHAKE ? CURLE_SSL_CONNECT_ERROR : CURLE_RECV_ERROR, why);
            return;
        }
        if (c->state == H2_HANDSHAKE) {
            if (!hs_tls_ready(c->tls)) {
                mark_dirty(c); /* the handshake's next flight */
                return;
            }
            uv_timer_stop(&c->timer);
            if (!hs_tls_h2(c->tls)) {
                conn_fallback(c);
                return;
            }
            c->state = H2_READY;
            spw_log(c->s->st, SPW_LOG_DEBUG, "connected to %s (HTTP/2 over TLS)", c->ep->base);
        }
        in = h->plain_in.data;
        len = h->plain_in.len;
        if (len == 0) {
            mark_dirty(c);
            return;
        }
    }
    ssize_t k = nghttp2_session_mem_recv(c->ng, in, len);
    if (c->state == H2_CLOSED)
        return;
    if (k < 0) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", c->spoke_h2 ? "HTTP/2 error from the server" : NOT_H2,
                 nghttp2_strerror((int)k));
        conn_fail(c, CURLE_HTTP2, why);
        return;
    }
    mark_dirty(c); /* acknowledgements, window updates, and the next frames */
}

static void on_connect_timeout(uv_timer_t *t) {
    hs_h2conn *c = t->data;
    char why[96];
    snprintf(why, sizeof why, "no connection within %" PRId64 " ms", c->s->cf->connect_timeout_ms);
    conn_fail(c, CURLE_OPERATION_TIMEDOUT, why);
}

static void on_connect(uv_connect_t *req, int status) {
    hs_h2conn *c = req->data;
    if (c->state == H2_CLOSED)
        return;
    if (status < 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect to %s: %s", c->ep->base, uv_strerror(status));
        conn_fail(c, CURLE_COULDNT_CONNECT, why);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r != 0) {
        conn_fail(c, CURLE_RECV_ERROR, uv_strerror(r));
        return;
    }
    if (c->ep->https) {
        /* The connect timer goes on: connect_timeout covers the handshake too. */
        char why[300];
        c->state = H2_HANDSHAKE;
        c->tls = hs_tls_new(c->s->h2s->tls_ctx, c->ep->tls_name, c->s->cf->tls_verify);
        if (!c->tls) {
            conn_fail(c, CURLE_SSL_CONNECT_ERROR, "cannot set up a TLS session");
            return;
        }
        if (hs_tls_start(c->tls, &c->out, why, sizeof why) != HS_TLS_OK) {
            conn_fail(c, CURLE_SSL_CONNECT_ERROR, why);
            return;
        }
    } else {
        uv_timer_stop(&c->timer);
        c->state = H2_READY;
        spw_log(c->s->st, SPW_LOG_DEBUG, "connected to %s (HTTP/2, prior knowledge)", c->ep->base);
    }
    mark_dirty(c);
}

static void connect_addr(hs_h2conn *c, const struct sockaddr *sa) {
    c->state = H2_CONNECTING;
    c->creq.data = c;
    int r = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (r != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect to %s: %s", c->ep->base, uv_strerror(r));
        conn_fail(c, CURLE_COULDNT_CONNECT, why);
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
    hs_h2conn *c = g->data;
    if (c->state == H2_RESOLVING) {
        if (status < 0 || !ai) {
            char why[160];
            snprintf(why, sizeof why, "cannot resolve %s: %s", c->ep->dial_host,
                     uv_strerror(status));
            conn_fail(c, CURLE_COULDNT_RESOLVE_HOST, why);
        } else {
            connect_addr(c, ai->ai_addr);
        }
    }
    uv_freeaddrinfo(ai);
    conn_release(c);
}

static hs_h2conn *conn_open(hs_sink *s, hs_endpoint *ep) {
    struct hs_h2 *h = s->h2s;
    hs_h2conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    c->ep = ep;
    if (nghttp2_session_client_new(&c->ng, h->cbs, c) != 0) {
        free(c);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
    };
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->refs = 2;
    s->open_handles++;
    c->born_ms = uv_now(s->loop);
    c->next = ep->h2conns;
    if (ep->h2conns)
        ep->h2conns->prev = c;
    ep->h2conns = c;
    ep->h2_nconns++;
    uv_timer_start(&c->timer, on_connect_timeout, (uint64_t)s->cf->connect_timeout_ms, 0);

    struct sockaddr_storage ss;
    if (uv_ip4_addr(ep->dial_host, ep->dial_port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(ep->dial_host, ep->dial_port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_addr(c, (const struct sockaddr *)&ss);
        return c;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)ep->dial_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->state = H2_RESOLVING;
    c->gai.data = c;
    c->refs++;
    int r = uv_getaddrinfo(s->loop, &c->gai, on_resolved, ep->dial_host, port, &hints);
    if (r != 0) {
        c->refs--;
        char why[160];
        snprintf(why, sizeof why, "cannot resolve %s: %s", ep->dial_host, uv_strerror(r));
        conn_fail(c, CURLE_COULDNT_RESOLVE_HOST, why);
    }
    return c;
}

/* ---- requests ------------------------------------------------------------ */

static uint32_t stream_limit(const hs_h2conn *c) {
    uint32_t lim = (uint32_t)c->s->cf->max_streams;
    if (c->state == H2_READY) {
        uint32_t peer = nghttp2_session_get_remote_settings(c->ng,
                                                            NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (peer < lim)
            lim = peer;
    }
    return lim;
}

/* A connection of ep with room for one more request, opening one if allowed; NULL: wait. */
static hs_h2conn *conn_pick(hs_sink *s, hs_endpoint *ep) {
    const struct hs_conf *cf = s->cf;
    uint64_t now = uv_now(s->loop);
    hs_h2conn *c = ep->h2conns;
    while (c) {
        hs_h2conn *next = c->next;
        if (!c->draining && cf->connection_ttl_ms > 0 &&
            now - c->born_ms >= (uint64_t)cf->connection_ttl_ms) {
            /* Old enough: finish what it carries, take nothing new. */
            c->draining = true;
            mark_dirty(c);
        }
        if (!c->draining && (c->state != H2_READY || nghttp2_session_check_request_allowed(c->ng)) &&
            c->streams < stream_limit(c))
            return c;
        c = next;
    }
    unsigned open = 0;
    for (c = ep->h2conns; c; c = c->next)
        open += !c->draining;
    if (cf->max_connections > 0 && open >= (unsigned)cf->max_connections)
        return NULL;
    return conn_open(s, ep);
}

static void arm_timer(struct hs_h2 *h, uint64_t at) {
    if (h->timer_at && h->timer_at <= at)
        return;
    uint64_t now = uv_now(h->s->loop);
    h->timer_at = at;
    uv_timer_start(&h->timer, on_deadline, at > now ? at - now : 0, 0);
}

/* Builds the header list: pseudo-headers, the request's own, then the fixed ones. */
static size_t build_headers(hs_sink *s, hs_req *r) {
    struct hs_h2 *h = s->h2s;
    nghttp2_nv *nv = h->nv;
    size_t n = 0;
#define NV(nm, nl, v, vl)                                                                          \
    do {                                                                                           \
        nv[n].name = (uint8_t *)(uintptr_t)(nm);                                                   \
        nv[n].namelen = (nl);                                                                      \
        nv[n].value = (uint8_t *)(uintptr_t)(v);                                                   \
        nv[n].valuelen = (vl);                                                                     \
        nv[n].flags = NGHTTP2_NV_FLAG_NONE;                                                        \
        n++;                                                                                       \
    } while (0)
    const char *url = (const char *)r->url.data;
    const char *path = url + hs_url_path_start(url);
    size_t plen = strcspn(path, "#");
    NV(":method", 7, s->method_name, strlen(s->method_name));
    if (r->ep->https)
        NV(":scheme", 7, "https", 5);
    else
        NV(":scheme", 7, "http", 4);
    NV(":authority", 10, r->ep->host, strlen(r->ep->host));
    if (plen)
        NV(":path", 5, path, plen);
    else
        NV(":path", 5, "/", 1);
    int cl = snprintf(r->clen, sizeof r->clen, "%zu", r->body_len);
    NV("content-length", 14, r->clen, (size_t)cl);
    /* The request's own headers: "Name: value" strings at offsets in r->hdr. */
    for (size_t i = 0; i < r->n_dyn && n + h->n_fixed < h->nv_cap; i++) {
        char *line = (char *)r->hdr.data + (uintptr_t)r->dyn[i].data;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        size_t nl = (size_t)(colon - line);
        for (size_t k = 0; k < nl; k++)
            if (line[k] >= 'A' && line[k] <= 'Z')
                line[k] = (char)(line[k] + 32);
        if (nl == 4 && memcmp(line, "host", 4) == 0)
            continue; /* :authority carries it (and SigV4 signed the same value) */
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        NV(line, nl, v, strlen(v));
    }
#undef NV
    memcpy(nv + n, h->fixed, h->n_fixed * sizeof *nv);
    return n + h->n_fixed;
}

static bool submit_on(hs_h2conn *c, hs_req *r) {
    struct hs_h2 *h = c->s->h2s;
    if (c->state == H2_CLOSED)
        return false;
    size_t n = build_headers(c->s, r);
    nghttp2_data_provider prd = {.source.ptr = r, .read_callback = read_body};
    r->body_off = 0;
    int32_t id = nghttp2_submit_request(c->ng, NULL, h->nv, n, &prd, r);
    if (id < 0) {
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s: nghttp2_submit_request: %s", c->ep->base,
                nghttp2_strerror(id));
        c->draining = true; /* out of stream ids, or the session is going away */
        return false;
    }
    r->stream_id = id;
    r->conn = c;
    req_link(&c->reqs, r);
    c->streams++;
    mark_dirty(c);
    return true;
}

static void enqueue(hs_endpoint *ep, hs_req *r) {
    r->queued = true;
    r->qnext = NULL;
    r->qprev = ep->h2q_tail;
    if (ep->h2q_tail)
        ep->h2q_tail->qnext = r;
    else
        ep->h2q_head = r;
    ep->h2q_tail = r;
}

/*
 * Places r on a connection of its endpoint; false when it must wait. A
 * connection that failed at once (no route, no such name) finishes r with
 * its reason rather than leave it to spin in the queue.
 */
static bool place(hs_sink *s, hs_req *r) {
    for (int tries = 0; tries < 4; tries++) {
        hs_h2conn *c = conn_pick(s, r->ep);
        if (!c)
            return false;
        if (submit_on(c, r))
            return true;
        if (c->state == H2_CLOSED && c->fail_cc) {
            finish(r, c->fail_cc, c->why);
            return true;
        }
    }
    return false;
}

spw_result hs_h2_submit(hs_sink *s, hs_req *r, uint64_t timeout_ms) {
    struct hs_h2 *h = s->h2s;
    r->status = 0;
    r->retry_after[0] = '\0';
    r->deadline_ms = uv_now(s->loop) + timeout_ms;
    r->timeout_ms = timeout_ms;
    r->body_off = 0;
    arm_timer(h, r->deadline_ms);
    /* Others waiting already go first. */
    if (r->ep->h2q_head || !place(s, r))
        enqueue(r->ep, r);
    return SPW_OK;
}

static void dispatch_queues(struct hs_h2 *h) {
    hs_sink *s = h->s;
    h->queued = false;
    for (size_t i = 0; i < s->n_eps; i++) {
        hs_endpoint *ep = &s->eps[i];
        while (ep->h2q_head) {
            hs_req *r = ep->h2q_head;
            req_detach(r);
            if (!place(s, r)) {
                /* Back to the front, until a stream ends or a connection closes. */
                r->queued = true;
                r->qprev = NULL;
                r->qnext = ep->h2q_head;
                if (ep->h2q_head)
                    ep->h2q_head->qprev = r;
                else
                    ep->h2q_tail = r;
                ep->h2q_head = r;
                break;
            }
        }
    }
}

/* ---- loop handles ---------------------------------------------------------- */

static void on_flush(uv_prepare_t *p) {
    struct hs_h2 *h = p->data;
    if (h->queued)
        dispatch_queues(h);
    while (h->dirty) {
        hs_h2conn *list = h->dirty;
        h->dirty = NULL;
        while (list) {
            hs_h2conn *c = list;
            list = c->dirty_next;
            c->dirty_next = NULL;
            c->dirty = false;
            conn_flush(c);
        }
        if (h->queued)
            dispatch_queues(h);
    }
    if (!h->queued) {
        uv_prepare_stop(&h->flush);
        h->flush_on = false;
    }
}

static void on_deadline(uv_timer_t *t) {
    struct hs_h2 *h = t->data;
    hs_sink *s = h->s;
    uint64_t now = uv_now(s->loop), next = 0;
    h->timer_at = 0;
    /* At most the route's concurrency is busy: a scan is cheaper than keeping a heap. */
    for (size_t i = 0; i < s->n_reqs; i++) {
        hs_req *r = s->reqs[i];
        if (!r->busy || !r->batch || (!r->conn && !r->queued))
            continue;
        if (r->deadline_ms > now) {
            if (!next || r->deadline_ms < next)
                next = r->deadline_ms;
            continue;
        }
        hs_h2conn *c = r->conn;
        if (c && r->stream_id > 0) {
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
            mark_dirty(c);
        }
        char why[96];
        snprintf(why, sizeof why, "no answer within %" PRIu64 " ms", r->timeout_ms);
        finish(r, CURLE_OPERATION_TIMEDOUT, why);
    }
    if (next)
        arm_timer(h, next);
}

/* ---- lifecycle --------------------------------------------------------------- */

/* The headers every request carries, lowercase, built once. */
static spw_result fixed_headers(hs_sink *s, spw_err *err) {
    struct hs_h2 *h = s->h2s;
    const struct hs_conf *cf = s->cf;
    spw_buf store = {0};
    size_t cap = cf->headers.n + 3, n = 0;
    size_t offs[cap][4];
    spw_result rc = SPW_OK;
    /* Collect "name\0value\0" pairs first; pointers are taken once the buffer stops moving. */
#define ADD(nm, nl, v, vl)                                                                         \
    do {                                                                                           \
        offs[n][0] = store.len;                                                                    \
        offs[n][1] = (nl);                                                                         \
        if (rc == SPW_OK)                                                                          \
            rc = spw_buf_append(&store, (nm), (nl));                                               \
        if (rc == SPW_OK)                                                                          \
            rc = spw_buf_append(&store, "", 1);                                                    \
        offs[n][2] = store.len;                                                                    \
        offs[n][3] = (vl);                                                                         \
        if (rc == SPW_OK)                                                                          \
            rc = spw_buf_append(&store, (v), (vl));                                                \
        if (rc == SPW_OK)                                                                          \
            rc = spw_buf_append(&store, "", 1);                                                    \
        n++;                                                                                       \
    } while (0)
    if (cf->user_agent && *cf->user_agent)
        ADD("user-agent", 10, cf->user_agent, strlen(cf->user_agent));
    for (size_t i = 0; i < cf->headers.n; i++) {
        const char *line = cf->headers.v[i];
        if (strstr(line, "${"))
            continue; /* templated: rendered per request */
        const char *colon = strchr(line, ':');
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        if (vl == 0)
            continue; /* "Name:" removes a header in libcurl; nothing to remove here */
        char name[256];
        size_t nl = (size_t)(colon - line);
        if (nl >= sizeof name)
            return spw_err_set(err, SPW_ERR_CONFIG, "header name too long: %s", line);
        for (size_t k = 0; k < nl; k++)
            name[k] = (char)(line[k] >= 'A' && line[k] <= 'Z' ? line[k] + 32 : line[k]);
        ADD(name, nl, v, vl);
    }
    spw_buf tmp = {0};
    if (cf->auth == HS_AUTH_BASIC) {
        spw_buf up = {0};
        if (spw_buf_printf(&up, "%s:%s", cf->username, cf->password ? cf->password : "") != SPW_OK ||
            spw_buf_append(&tmp, "Basic ", 6) != SPW_OK ||
            spw_buf_append_base64(&tmp, up.data, up.len) != SPW_OK)
            rc = SPW_ERR_NOMEM;
        spw_buf_free(&up);
        if (rc == SPW_OK)
            ADD("authorization", 13, (const char *)tmp.data, tmp.len);
    } else if (cf->auth == HS_AUTH_BEARER) {
        if (spw_buf_printf(&tmp, "Bearer %s", cf->token ? cf->token : "") != SPW_OK)
            rc = SPW_ERR_NOMEM;
        if (rc == SPW_OK)
            ADD("authorization", 13, (const char *)tmp.data, tmp.len);
    } else if (cf->auth == HS_AUTH_HEADER) {
        char name[256];
        size_t nl = strlen(cf->auth_header);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        for (size_t k = 0; k < nl; k++) {
            char ch = cf->auth_header[k];
            name[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        const char *v = cf->auth_value ? cf->auth_value : "";
        ADD(name, nl, v, strlen(v));
    }
#undef ADD
    /* The secret has been copied into store; wipe the scratch copy. */
    if (tmp.data)
        memset(tmp.data, 0, tmp.len);
    spw_buf_free(&tmp);
    if (rc != SPW_OK) {
        spw_buf_free(&store);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    h->fixed = calloc(n ? n : 1, sizeof *h->fixed);
    if (!h->fixed) {
        spw_buf_free(&store);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        h->fixed[i].name = store.data + offs[i][0];
        h->fixed[i].namelen = offs[i][1];
        h->fixed[i].value = store.data + offs[i][2];
        h->fixed[i].valuelen = offs[i][3];
        h->fixed[i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    h->n_fixed = n;
    h->fixed_store = (char *)store.data; /* owned from here; wiped and freed with h */
    h->fixed_len = store.len;
    h->nv_cap = 6 + HS_DYN_FIXED + s->n_hdr_tpls + n;
    h->nv = calloc(h->nv_cap, sizeof *h->nv);
    if (!h->nv)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    return SPW_OK;
}

static void base_closed(uv_handle_t *hd) {
    struct hs_h2 *h = hd->data;
    hs_sink *s = h->s;
    if (--h->refs == 0) {
        nghttp2_session_callbacks_del(h->cbs);
        hs_tls_ctx_free(h->tls_ctx);
        spw_buf_free(&h->plain_in);
        spw_buf_free(&h->plain_out);
        if (h->fixed_store)
            memset(h->fixed_store, 0, h->fixed_len); /* auth values */
        free(h->fixed_store);
        free(h->fixed);
        free(h->nv);
        free(h);
    }
    hs_handle_closed(s);
}

bool hs_h2_selected(const struct hs_conf *cf) {
    if (cf->engine != HS_ENGINE_NATIVE || (cf->proxy && *cf->proxy))
        return false;
    if (cf->protocol == HS_PROTO_H2C)
        return true;
    if (cf->protocol != HS_PROTO_HTTP2 && cf->protocol != HS_PROTO_V_HTTP2)
        return false;
    /* HTTP/2 is negotiated over TLS only: some URL must be https. */
    if (cf->url && strncasecmp(cf->url, "https://", 8) == 0)
        return true;
    for (size_t i = 0; i < cf->urls.n; i++)
        if (strncasecmp(cf->urls.v[i], "https://", 8) == 0)
            return true;
    return false;
}

spw_result hs_h2_init(hs_sink *s, spw_err *err) {
    struct hs_h2 *h = calloc(1, sizeof *h);
    if (!h)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    h->s = s;
    if (nghttp2_session_callbacks_new(&h->cbs) != 0) {
        free(h);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    nghttp2_session_callbacks_set_on_header_callback(h->cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h->cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(h->cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(h->cbs, on_frame);
    uv_prepare_init(s->loop, &h->flush);
    uv_timer_init(s->loop, &h->timer);
    h->flush.data = h->timer.data = h;
    h->refs = 2;
    s->open_handles += 2;
    s->h2s = h;
    for (size_t i = 0; i < s->n_eps; i++) {
        hs_endpoint *ep = &s->eps[i];
        ep->https = strncasecmp(ep->base, "https://", 8) == 0;
        /* h2c: every URL is http://; http2: https URLs (an http:// one is HTTP/1.1, libcurl's). */
        ep->h2_use = s->cf->protocol == HS_PROTO_H2C || ep->https;
        if (hs_addr_parse(ep->base, &ep->tls_name, &ep->dial_port) != SPW_OK)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s': cannot tell host and port",
                               ep->base);
        ep->dial_host = strdup(ep->tls_name);
        if (!ep->dial_host)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < s->cf->connect_to.n; k++)
            hs_addr_connect_to(s->cf->connect_to.v[k], ep);
        if (ep->h2_use && ep->https && !h->tls_ctx) {
            spw_result rc = hs_tls_ctx_new(s->cf, &h->tls_ctx, err);
            if (rc != SPW_OK)
                return rc;
        }
    }
    return fixed_headers(s, err);
}

void hs_h2_close(hs_sink *s) {
    struct hs_h2 *h = s->h2s;
    if (!h)
        return;
    for (size_t i = 0; i < s->n_eps; i++) {
        hs_endpoint *ep = &s->eps[i];
        while (ep->h2q_head)
            req_detach(ep->h2q_head);
        while (ep->h2conns) {
            hs_h2conn *c = ep->h2conns;
            while (c->reqs)
                req_detach(c->reqs);
            conn_close(c);
        }
        free(ep->dial_host);
        free(ep->tls_name);
        ep->dial_host = ep->tls_name = NULL;
    }
    h->dirty = NULL;
    s->h2s = NULL;
    uv_close((uv_handle_t *)&h->flush, base_closed);
    uv_close((uv_handle_t *)&h->timer, base_closed);
}
