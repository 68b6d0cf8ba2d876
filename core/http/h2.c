/*
 * core/http/h2.c: the nghttp2 engine, HTTP/2 straight over a
 * libuv TCP stream: cleartext with prior knowledge (h2c), and over TLS.
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
 * given CURLcode numbers so spw__http_classify and the counters treat both
 * engines alike. Streams above a GOAWAY's last stream id are reset by
 * nghttp2 with REFUSED_STREAM and so are retried like any other.
 *
 * Connections are made by dial.c (name lookup, TCP, TLS, within
 * connect_timeout), shared with the HTTP/1.1 engine. An https server
 * whose ALPN answer is not h2 is handed to that engine (h1.c), with the
 * requests that were waiting for it.
 *
 * Lifetime. A connection embeds its dial; its memory goes when the dial's
 * handles are closed (ops->released). Each one holds a count in the
 * instance's open handles, so the instance outlives it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <nghttp2/nghttp2.h>
#include "http-private.h"

#define H2_OUT_HIGH (256u << 10)   /* stop asking nghttp2 for frames above this */
#define H2_WINDOW (16u << 20)      /* our receive window: responses never wait on us */
/* Response headers we take at most (RFC 9113's size: name + value + 32 per field); more resets
 * the stream. nghttp2 decodes fields one by one and does not enforce the limit it is told to
 * advertise, so this is what bounds a server that sends headers without end. */
#define H2_MAX_HEADERS (64u << 10)
#define NOT_H2 "the server does not speak HTTP/2 with prior knowledge (an HTTP/1.1 server?)"

enum h2_state { H2_DIALING, H2_READY, H2_CLOSED };

struct spw__http_h2conn {
    spw__http_dial d;              /* first: dial.c's callbacks find the connection through it */
    spw_http *s;
    spw__http_endpoint *ep;
    enum h2_state state;
    nghttp2_session *ng;
    uint64_t born_ms;
    unsigned streams;       /* requests on this connection */
    bool draining;          /* no new requests (GOAWAY, age) */
    bool spoke_h2;          /* the server sent its SETTINGS */
    spw__http_reqq reqs;           /* requests on this connection */
    bool dirty;
    struct spw__http_h2conn *dirty_next;
};

struct spw__http_h2 {
    spw_http *s;
    nghttp2_session_callbacks *cbs;
    uv_prepare_t flush;
    bool flush_on;
    spw__http_h2conn *dirty;
    bool queued;            /* some endpoint has waiting requests */
    spw__http_dial_scratch scr;    /* for the connections' reads */
    spw_buf plain_out;      /* scratch: frames to encrypt */
    nghttp2_nv *nv;         /* scratch for one request's headers */
    size_t nv_cap;
};

static void conn_fail(spw__http_h2conn *c, int cc, const char *why);
static void conn_fallback(spw__http_h2conn *c);
static void on_flush(uv_prepare_t *p);

/* ---- small helpers --------------------------------------------------- */

static void flush_soon(struct spw__http_h2 *h) {
    if (!h->flush_on) {
        uv_prepare_start(&h->flush, on_flush);
        h->flush_on = true;
    }
}

/* Waiting requests of some endpoint may find room now. */
static void want_dispatch(struct spw__http_h2 *h) {
    h->queued = true;
    flush_soon(h);
}

static void mark_dirty(spw__http_h2conn *c) {
    struct spw__http_h2 *h = c->s->h2s;
    if (c->dirty || c->state == H2_CLOSED)
        return;
    c->dirty = true;
    c->dirty_next = h->dirty;
    h->dirty = c;
    flush_soon(h);
}

/* Takes r off its connection or its endpoint's queue. */
static void req_detach(spw__http_req *r) {
    spw__http_h2conn *c = r->conn;
    if (c) {
        if (r->stream_id > 0 && c->ng && c->state != H2_CLOSED)
            nghttp2_session_set_stream_user_data(c->ng, r->stream_id, NULL);
        spw__http_reqq_remove(&c->reqs, r);
        c->streams--;
        r->conn = NULL;
    } else if (r->queued) {
        spw__http_reqq_remove(&r->ep->h2q, r);
        r->queued = false;
    }
    r->stream_id = 0;
}

static void finish(spw__http_req *r, int cc, const char *why) {
    req_detach(r);
    spw__http_req_end(r, cc, why);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
    spw__http_req *r = src->ptr;
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
    spw__http_req *r = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!r)
        return 0;
    size_t add = namelen + valuelen + 32;
    r->h2_hdr_bytes = add > H2_MAX_HEADERS ? H2_MAX_HEADERS + 1 : r->h2_hdr_bytes + (uint32_t)add;
    if (r->h2_hdr_bytes > H2_MAX_HEADERS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream; see on_stream_close */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        long st = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        /* 1xx answers are interim: the final status follows, with headers of its own. */
        r->status = st >= 200 ? st : 0;
        spw_buf_reset(&r->rhdr);
    } else if (r->status && spw_buf_reserve(&r->rhdr, namelen + valuelen + 2) == SPW_OK) {
        /* nghttp2 has checked the field (no NUL, CR or LF); out of memory loses the header only. */
        spw_buf *hb = &r->rhdr;
        memcpy(hb->data + hb->len, name, namelen);
        hb->data[hb->len + namelen] = '\0';
        hb->len += namelen + 1;
        memcpy(hb->data + hb->len, value, valuelen);
        hb->data[hb->len + valuelen] = '\0';
        hb->len += valuelen + 1;
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user) {
    (void)flags, (void)user;
    spw__http_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return 0;
    size_t max = r->response_max;
    /* Up to response_max; the rest is read, counted and dropped. */
    r->resp_total += len;
    if (r->resp.len < max)
        (void)spw_buf_append(&r->resp, data, len < max - r->resp.len ? len : max - r->resp.len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user) {
    spw__http_h2conn *c = user;
    spw__http_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return 0;
    if (r->h2_hdr_bytes > H2_MAX_HEADERS) {
        char why[160];
        snprintf(why, sizeof why, "%s answered with more than %u KiB of headers", c->ep->base,
                 H2_MAX_HEADERS >> 10);
        finish(r, CURLE_HTTP2_STREAM, why);
    } else if (r->status) {
        /* A final status decides, also when the server then reset the stream (nginx answers
         * before reading a body it does not want, then resets with NO_ERROR). */
        finish(r, CURLE_OK, NULL);
    } else {
        char why[160];
        snprintf(why, sizeof why, "stream closed by %s without an answer (%s)",
                 c->ep->base, nghttp2_http2_strerror(code));
        /* A refused stream (also every stream above a GOAWAY's last id) was not processed
         * (RFC 9113, 8.7): a busy or restarting server, not a failing one. */
        r->spare_endpoint = code == NGHTTP2_REFUSED_STREAM;
        finish(r, CURLE_HTTP2_STREAM, why);
    }
    if (c->ep->h2q.head)
        want_dispatch(c->s->h2s);
    return 0;
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *user) {
    spw__http_h2conn *c = user;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        /* Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (retried). */
        c->draining = true;
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s sent GOAWAY (%s, last stream %" PRId32 ")",
                c->ep->base, nghttp2_http2_strerror(f->goaway.error_code),
                f->goaway.last_stream_id);
    } else if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->spoke_h2 = true;
        c->ep->h2_peer_streams =
            nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (c->ep->h2q.head)
            want_dispatch(c->s->h2s); /* the server may allow more streams now */
    }
    return 0;
}

/* ---- connection I/O ------------------------------------------------------ */

static void conn_released(spw__http_dial *d) {
    spw__http_h2conn *c = (spw__http_h2conn *)d;
    if (c->ng)
        nghttp2_session_del(c->ng);
    free(c);
}

/* Closes the connection; its requests must have been finished or detached. */
static void conn_close(spw__http_h2conn *c) {
    if (c->state == H2_CLOSED)
        return;
    spw__http_endpoint *ep = c->ep;
    c->state = H2_CLOSED;
    if (c->dirty) {
        /* Off the flush list: its memory goes before the next flush. */
        spw__http_h2conn **pp = &c->s->h2s->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
    }
    spw__http_dial_close(&c->d);
    /* A waiting request may now open a connection of its own. */
    if (ep->h2q.head)
        want_dispatch(c->s->h2s);
}

/*
 * Takes every request off c and closes it; returns them, linked by qnext.
 * They are detached before any is finished or moved: that may hand the
 * sink more work, which must not land on c.
 */
static spw__http_req *conn_close_taking(spw__http_h2conn *c) {
    spw__http_req *list = c->reqs.head;
    c->reqs = (spw__http_reqq){NULL, NULL};
    for (spw__http_req *r = list; r; r = r->qnext) {
        r->conn = NULL;
        r->stream_id = 0;
    }
    c->streams = 0;
    conn_close(c);
    return list;
}

/* The next request of a list conn_close_taking returned, unlinked; NULL at the end. */
static spw__http_req *list_pop(spw__http_req **list) {
    spw__http_req *r = *list;
    if (r) {
        *list = r->qnext;
        r->qprev = r->qnext = NULL;
    }
    return r;
}

/* Ends every request on c with a transport error, then closes it. */
static void conn_fail(spw__http_h2conn *c, int cc, const char *why) {
    if (c->state == H2_CLOSED)
        return;
    if (c->reqs.head)
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s: %s", c->ep->base, why);
    spw__http_req *list = conn_close_taking(c);
    for (spw__http_req *r; (r = list_pop(&list));)
        finish(r, cc, why);
}

static void conn_written(spw__http_dial *d, int status) {
    spw__http_h2conn *c = (spw__http_h2conn *)d;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        conn_fail(c, CURLE_SEND_ERROR, why);
        return;
    }
    mark_dirty(c);
}

/* Pulls frames from nghttp2 and writes them; closes a connection nothing is left to do on. */
static void conn_flush(spw__http_h2conn *c) {
    if (c->state == H2_CLOSED)
        return;
    /* Frames go straight to the output, or through TLS in one SSL_write. While dialing, only
     * the TLS handshake's flights leave. */
    spw_buf *frames = c->d.tls ? &c->s->h2s->plain_out : &c->d.out;
    while (c->state == H2_READY && c->d.out.len + (c->d.tls ? frames->len : 0) < H2_OUT_HIGH) {
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
    if (c->d.tls && frames->len) {
        spw_err e;
        spw_result rc = spw_tls_write(c->d.tls, frames->data, frames->len, &c->d.out, &e);
        spw_buf_reset(frames);
        if (rc != SPW_OK) {
            conn_fail(c, CURLE_SEND_ERROR, e.msg);
            return;
        }
    }
    int k = spw__http_dial_send(&c->d);
    if (k != 0) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(k));
        conn_fail(c, CURLE_SEND_ERROR, why);
        return;
    }
    if (c->state != H2_READY)
        return;
    if (c->draining && c->streams == 0 && !c->d.writing && c->d.out.len == 0) {
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        !c->d.writing && c->d.out.len == 0)
        conn_fail(c, CURLE_HTTP2, c->spoke_h2 ? "the HTTP/2 session ended" : NOT_H2);
}

/*
 * The server finished the handshake without choosing h2 (ALPN): the
 * endpoint is served by the HTTP/1.1 engine from now on, and the requests
 * this connection carried, and those waiting, go there at once.
 */
static void conn_fallback(spw__http_h2conn *c) {
    spw_http *s = c->s;
    spw__http_endpoint *ep = c->ep;
    ep->h2_use = false;
    spw_log(s->st, SPW_LOG_INFO,
            "%s does not offer HTTP/2 (ALPN): HTTP/1.1 from now on", ep->base);
    spw__http_req *list = conn_close_taking(c);
    for (spw__http_req *r; (r = list_pop(&list));)
        spw__http_h1_take(s, r);
    while (ep->h2q.head) {
        spw__http_req *r = ep->h2q.head;
        req_detach(r);
        spw__http_h1_take(s, r);
    }
}

/* ---- dial.c's callbacks ---------------------------------------------------- */

/* True when the server's ALPN answer is h2. */
static bool chose_h2(const spw_tls *t) {
    char alpn[4];
    return spw_tls_alpn(t, alpn, sizeof alpn) == 2 && strcmp(alpn, "h2") == 0;
}

static void conn_opened(spw__http_dial *d) {
    spw__http_h2conn *c = (spw__http_h2conn *)d;
    if (c->d.tls && !chose_h2(c->d.tls)) {
        conn_fallback(c);
        return;
    }
    c->state = H2_READY;
    spw_log(c->s->st, SPW_LOG_DEBUG, "connected to %s (%s)", c->ep->base,
            c->d.tls ? "HTTP/2 over TLS" : "HTTP/2, prior knowledge");
    mark_dirty(c);
}

static void conn_input(spw__http_dial *d, const uint8_t *in, size_t len) {
    spw__http_h2conn *c = (spw__http_h2conn *)d;
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

static void conn_error(spw__http_dial *d, int cc, int uv_err, const char *why) {
    (void)uv_err;
    conn_fail((spw__http_h2conn *)d, cc, why);
}

static void conn_dial_flush(spw__http_dial *d) { mark_dirty((spw__http_h2conn *)d); }

static const spw__http_dial_ops dial_ops = {conn_opened, conn_input, conn_error, conn_dial_flush,
                                     conn_written, conn_released};

static spw__http_h2conn *conn_open(spw_http *s, spw__http_endpoint *ep) {
    struct spw__http_h2 *h = s->h2s;
    spw__http_h2conn *c = calloc(1, sizeof *c);
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
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADERS},
    };
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);
    c->born_ms = uv_now(s->loop);
    spw__http_dial_start(&c->d, s, ep, &ep->h2conns, SPW__HTTP_ALPN_H2, &dial_ops, &h->scr);
    return c;
}

/* ---- requests ------------------------------------------------------------ */

/*
 * Requests c may carry at once. Before the server's SETTINGS, only as many
 * as it allowed an earlier connection (one while none has spoken yet):
 * RFC 9113 lets a client assume more, but servers such as nginx refuse
 * the streams beyond their limit.
 */
static uint32_t stream_limit(const spw__http_h2conn *c) {
    uint32_t lim = (uint32_t)c->s->cf->max_streams;
    uint32_t peer = c->spoke_h2 ? nghttp2_session_get_remote_settings(
                                      c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
                                : c->ep->h2_peer_streams ? c->ep->h2_peer_streams : 1;
    return peer < lim ? peer : lim;
}

/* A connection of ep with room for one more request, opening one if allowed; NULL: wait. */
static spw__http_h2conn *conn_pick(spw_http *s, spw__http_endpoint *ep) {
    const struct spw_http_conf *cf = s->cf;
    uint64_t now = uv_now(s->loop);
    spw__http_h2conn *c;
    for (spw__http_dial *d = ep->h2conns.head; d; d = d->next) {
        c = (spw__http_h2conn *)d;
        if (!c->draining && cf->connection_ttl_ms > 0 &&
            now - c->born_ms >= (uint64_t)cf->connection_ttl_ms) {
            /* Old enough: finish what it carries, take nothing new. */
            c->draining = true;
            mark_dirty(c);
        }
        if (!c->draining && (c->state != H2_READY || nghttp2_session_check_request_allowed(c->ng)) &&
            c->streams < stream_limit(c))
            return c;
    }
    unsigned open = 0;
    for (spw__http_dial *d = ep->h2conns.head; d; d = d->next) {
        c = (spw__http_h2conn *)d;
        /* One being set up will say how many streams it takes: wait for that (its SETTINGS
         * or its failure dispatch the queue) rather than open another. */
        if (!c->draining && !c->spoke_h2)
            return NULL;
        open += !c->draining;
    }
    if (cf->max_connections > 0 && open >= (unsigned)cf->max_connections)
        return NULL;
    return conn_open(s, ep);
}

/* Builds the header list in h->nv: pseudo-headers, then the request's own; 0 when out of
 * memory. */
static size_t build_headers(spw_http *s, spw__http_req *r) {
    struct spw__http_h2 *h = s->h2s;
    if (h->nv_cap < 5 + r->n_dyn) {
        size_t cap = 5 + r->n_dyn + 8;
        nghttp2_nv *nv = realloc(h->nv, cap * sizeof *nv);
        if (!nv)
            return 0;
        h->nv = nv;
        h->nv_cap = cap;
    }
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
    const char *path = url + spw__http_url_path_start(url);
    size_t plen = strcspn(path, "#");
    NV(":method", 7, r->method, strlen(r->method));
    if (r->ep->https)
        NV(":scheme", 7, "https", 5);
    else
        NV(":scheme", 7, "http", 4);
    NV(":authority", 10, r->host, strlen(r->host));
    if (plen)
        NV(":path", 5, path, plen);
    else
        NV(":path", 5, "/", 1);
    int cl = snprintf(r->clen, sizeof r->clen, "%zu", r->body_len);
    NV("content-length", 14, r->clen, (size_t)cl);
    /* The request's own headers: "Name: value" strings at offsets in r->hdr. */
    for (size_t i = 0; i < r->n_dyn; i++) {
        if (i == r->host_dyn)
            continue; /* :authority carries it */
        char *line = (char *)r->hdr.data + (uintptr_t)r->dyn[i].data;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        size_t nl = (size_t)(colon - line);
        for (size_t k = 0; k < nl; k++)
            if (line[k] >= 'A' && line[k] <= 'Z')
                line[k] = (char)(line[k] + 32);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        NV(line, nl, v, strlen(v));
    }
#undef NV
    return n;
}

static bool submit_on(spw__http_h2conn *c, spw__http_req *r) {
    struct spw__http_h2 *h = c->s->h2s;
    if (c->state == H2_CLOSED)
        return false;
    size_t n = build_headers(c->s, r);
    if (n == 0)
        return false;
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
    spw__http_reqq_push(&c->reqs, r, true);
    c->streams++;
    mark_dirty(c);
    return true;
}

static void enqueue(spw__http_endpoint *ep, spw__http_req *r, bool front) {
    r->queued = true;
    spw__http_reqq_push(&ep->h2q, r, front);
}

/*
 * Places r on a connection of its endpoint; false when it must wait. A
 * connection that failed at once (no route, no such name) finishes r with
 * its reason rather than leave it to spin in the queue.
 */
static bool place(spw_http *s, spw__http_req *r) {
    for (int tries = 0; tries < 4; tries++) {
        spw__http_h2conn *c = conn_pick(s, r->ep);
        if (!c)
            return false;
        if (submit_on(c, r))
            return true;
        if (c->state == H2_CLOSED && c->d.fail_cc) {
            finish(r, c->d.fail_cc, c->d.why);
            return true;
        }
    }
    return false;
}

/* r's time is up: its stream is cancelled, and it ends. */
static void expire(spw__http_req *r, const char *why) {
    spw__http_h2conn *c = r->conn;
    if (c && !c->spoke_h2) {
        /* A connection the server never sent SETTINGS on is no use to anyone waiting. */
        char msg[200];
        snprintf(msg, sizeof msg, "%s (and no HTTP/2 SETTINGS from the server)", why);
        conn_fail(c, CURLE_OPERATION_TIMEDOUT, msg);
        return;
    }
    if (c && r->stream_id > 0) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
        mark_dirty(c);
    }
    finish(r, CURLE_OPERATION_TIMEDOUT, why);
}

spw_result spw__http_h2_submit(spw_http *s, spw__http_req *r, uint64_t timeout_ms) {
    r->body_off = 0;
    spw__http_req_take(s, r, timeout_ms, expire);
    /* Others waiting already go first. */
    if (r->ep->h2q.head || !place(s, r))
        enqueue(r->ep, r, false);
    return SPW_OK;
}

static void dispatch_queues(struct spw__http_h2 *h) {
    spw_http *s = h->s;
    h->queued = false;
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        while (ep->h2q.head) {
            spw__http_req *r = ep->h2q.head;
            req_detach(r);
            if (!place(s, r)) {
                /* Back to the front, until a stream ends or a connection closes. */
                enqueue(ep, r, true);
                break;
            }
        }
    }
}

/* ---- loop handles ---------------------------------------------------------- */

static void on_flush(uv_prepare_t *p) {
    struct spw__http_h2 *h = p->data;
    if (h->queued)
        dispatch_queues(h);
    while (h->dirty) {
        spw__http_h2conn *list = h->dirty;
        h->dirty = NULL;
        while (list) {
            spw__http_h2conn *c = list;
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

/* ---- lifecycle --------------------------------------------------------------- */

static void base_closed(uv_handle_t *hd) {
    struct spw__http_h2 *h = hd->data;
    spw_http *s = h->s;
    nghttp2_session_callbacks_del(h->cbs);
    spw_buf_free(&h->scr.plain);
    spw_buf_free(&h->plain_out);
    free(h->nv);
    free(h);
    spw__http_handle_closed(s);
}

bool spw__http_h2_selected(const struct spw_http_conf *cf) {
    if (cf->engine != SPW__HTTP_ENGINE_NATIVE || (cf->proxy && *cf->proxy))
        return false;
    if (cf->protocol == SPW__HTTP_PROTO_H2C)
        return true;
    if (cf->protocol != SPW__HTTP_PROTO_HTTP2 && cf->protocol != SPW__HTTP_PROTO_V_HTTP2)
        return false;
    /* HTTP/2 is negotiated over TLS only: some URL must be https. */
    if (cf->url && strncasecmp(cf->url, "https://", 8) == 0)
        return true;
    for (size_t i = 0; i < cf->urls.n; i++)
        if (strncasecmp(cf->urls.v[i], "https://", 8) == 0)
            return true;
    return false;
}

spw_result spw__http_h2_init(spw_http *s, spw_err *err) {
    struct spw__http_h2 *h = calloc(1, sizeof *h);
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
    h->flush.data = h;
    s->open_handles++;
    s->h2s = h;
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        /* h2c: every URL is http://; http2: https URLs (an http:// one is HTTP/1.1, h1.c's). */
        ep->h2_use = s->cf->protocol == SPW__HTTP_PROTO_H2C || ep->https;
    }
    return SPW_OK;
}

void spw__http_h2_close(spw_http *s) {
    struct spw__http_h2 *h = s->h2s;
    if (!h)
        return;
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        while (ep->h2q.head)
            req_detach(ep->h2q.head);
        while (ep->h2conns.head) {
            spw__http_h2conn *c = (spw__http_h2conn *)ep->h2conns.head;
            while (c->reqs.head)
                req_detach(c->reqs.head);
            conn_close(c);
        }
    }
    h->dirty = NULL;
    s->h2s = NULL;
    uv_close((uv_handle_t *)&h->flush, base_closed);
}
