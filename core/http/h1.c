/*
 * core/http/h1.c: the native HTTP/1.1 engine, spillway's own
 * client on the worker's libuv loop, for http:// and https:// URLs.
 *
 * Why not libcurl here: libcurl spends ~25 us of CPU per HTTP/1.1
 * transfer (setting up the easy handle, its state machine, header
 * parsing through callbacks), several times what writing one request and
 * reading one response costs. Here a request is one uv_try_write of two
 * buffers (the head, built into the request's own buffer, and the body by
 * pointer, never copied) and its response is parsed (h1parse.c) straight
 * from the read buffer.
 *
 * Shape. Each endpoint keeps its connections (at most max_connections per
 * worker; 0: as many as the requests in flight need) and a list of the
 * idle ones: a request takes the most recently used one (its socket is
 * warm, and the least recently used ones are the first a server's
 * keep-alive timeout closes), else opens one (dial.c: lookup, TCP, TLS
 * offering http/1.1 alone), else waits in the endpoint's FIFO, which a
 * connection that comes free serves first. One request per connection at
 * a time: no pipelining, whose failure modes (a lost connection takes
 * every queued request with it, none retryable safely) cost more than it
 * saves.
 *
 * Reuse, as libcurl does it: a request sent on a reused connection that
 * dies before any byte of the answer (EOF, ECONNRESET, EPIPE: the server
 * closed it while idle, and we wrote before we read its FIN) is resent
 * once on a fresh connection and is not counted as a failure. A response
 * with Connection: close, an HTTP/1.0 one without keep-alive, one read
 * until close, one that came before the whole request was written (an
 * early 413), one followed by stray bytes, and a connection older than
 * connection_ttl: the connection is closed after it. An idle connection
 * the server closes is dropped quietly; bytes on an idle connection close
 * it.
 *
 * Outcomes are those of the other engines: a response is its status; a
 * connection that fails, breaks, or answers something malformed, or no
 * answer within the request's time, is a transport error with a CURLcode
 * (spw__http_req_complete). On a timeout the connection is closed: a late answer
 * must not be taken for the next request's.
 *
 * Lifetime as in h2.c: connections embed their dial and are freed in its
 * released callback; a prepare handle (serving queues when a connection
 * closed) belongs to the engine; all are counted in the instance's open
 * handles. Deadlines use the instance's timer (request.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http-private.h"

enum h1_state { H1_DIALING, H1_IDLE, H1_BUSY, H1_CLOSED };

struct spw__http_h1conn {
    spw__http_dial d;              /* first: dial.c's callbacks find the connection through it */
    spw_http *s;
    spw__http_endpoint *ep;
    enum h1_state state;
    uint64_t born_ms;
    unsigned answered;      /* responses read on it */
    spw__http_req *req;            /* the request it carries (also while dialing) */
    bool reused;            /* req went out after an earlier response on this connection */
    bool got;               /* a byte of req's response has arrived */
    bool writing;           /* our own uv_write of req is pending (cleartext) */
    uv_write_t wreq;
    spw__http_h1parse rp;
    struct spw__http_h1conn *iprev, *inext; /* the endpoint's idle ones */
};

struct spw__http_h1 {
    spw_http *s;
    uv_prepare_t kick;      /* serves the queues after a connection closed */
    bool kick_on;
    spw__http_dial_scratch scr;
};

static void on_kick(uv_prepare_t *p);
static void conn_ready(spw__http_h1conn *c);
static void send_req(spw__http_h1conn *c);

/* ---- lists ---------------------------------------------------------------- */

static void q_push(spw__http_endpoint *ep, spw__http_req *r, bool front) {
    r->h1_queued = true;
    spw__http_reqq_push(&ep->h1q, r, front);
}

static void q_remove(spw__http_endpoint *ep, spw__http_req *r) {
    spw__http_reqq_remove(&ep->h1q, r);
    r->h1_queued = false;
}

static void idle_push(spw__http_h1conn *c) {
    spw__http_endpoint *ep = c->ep;
    c->state = H1_IDLE;
    c->iprev = NULL;
    c->inext = ep->h1idle;
    if (ep->h1idle)
        ep->h1idle->iprev = c;
    ep->h1idle = c;
}

static void idle_remove(spw__http_h1conn *c) {
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        c->ep->h1idle = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    c->iprev = c->inext = NULL;
}

/* Takes r off its connection or its endpoint's queue. */
static void req_detach(spw__http_req *r) {
    spw__http_h1conn *c = r->h1c;
    if (c) {
        c->req = NULL;
        r->h1c = NULL;
    } else if (r->h1_queued) {
        q_remove(r->ep, r);
    }
}

static void finish(spw__http_req *r, int cc, const char *why) {
    req_detach(r);
    spw__http_req_end(r, cc, why);
}

static void kick_soon(struct spw__http_h1 *h) {
    if (!h->kick_on) {
        uv_prepare_start(&h->kick, on_kick);
        h->kick_on = true;
    }
}

/* ---- connections ------------------------------------------------------------ */

static bool too_old(const spw__http_h1conn *c) {
    int64_t ttl = c->s->cf->connection_ttl_ms;
    return ttl > 0 && uv_now(c->s->loop) - c->born_ms >= (uint64_t)ttl;
}

/* Closes c; its request must have been finished or detached. */
static void conn_close(spw__http_h1conn *c) {
    if (c->state == H1_CLOSED)
        return;
    spw__http_endpoint *ep = c->ep;
    if (c->state == H1_IDLE)
        idle_remove(c);
    c->state = H1_CLOSED;
    spw__http_dial_close(&c->d);
    /* A waiting request may now open a connection of its own. */
    if (ep->h1q.head)
        kick_soon(c->s->h1s);
}

/* Ends c's request (if any) with a transport error, then closes c. */
static void conn_fail(spw__http_h1conn *c, int cc, const char *why) {
    if (c->state == H1_CLOSED)
        return;
    spw__http_req *r = c->req;
    /* Detach first: finishing r lets the core hand this sink more work, which must not land
     * on a connection being closed. */
    if (r)
        req_detach(r);
    conn_close(c);
    if (r) {
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s: %s", c->ep->base, why);
        finish(r, cc, why);
    }
}

static const spw__http_dial_ops dial_ops;

static spw__http_h1conn *conn_open(spw_http *s, spw__http_endpoint *ep) {
    struct spw__http_h1 *h = s->h1s;
    spw__http_h1conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    c->ep = ep;
    c->born_ms = uv_now(s->loop);
    spw__http_dial_start(&c->d, s, ep, &ep->h1conns, SPW__HTTP_ALPN_H1, &dial_ops, &h->scr);
    return c;
}

/* Puts r on a new connection of its endpoint; finishes r when none can be had. */
static void place_fresh(spw_http *s, spw__http_req *r) {
    spw__http_h1conn *c = conn_open(s, r->ep);
    if (!c) {
        finish(r, CURLE_OUT_OF_MEMORY, "out of memory for a connection");
        return;
    }
    if (c->state == H1_CLOSED) {
        /* It failed at once (no route, no such name): that is r's answer. */
        finish(r, c->d.fail_cc, c->d.why);
        return;
    }
    c->req = r;
    r->h1c = c;
}

/*
 * Starts r on an idle connection of its endpoint, or a new one; false when
 * max_connections says it must wait.
 */
static bool place(spw_http *s, spw__http_req *r) {
    spw__http_endpoint *ep = r->ep;
    while (ep->h1idle) {
        spw__http_h1conn *c = ep->h1idle;
        if (too_old(c)) {
            conn_close(c); /* off the idle list too; picks up DNS and load-balancer changes */
            continue;
        }
        idle_remove(c);
        c->req = r;
        r->h1c = c;
        send_req(c);
        return true;
    }
    int64_t max = s->cf->max_connections;
    if (max > 0 && ep->h1conns.n >= (uint64_t)max)
        return false;
    place_fresh(s, r);
    return true;
}

/* c has nothing to do: it serves the endpoint's first waiting request, or waits itself. */
static void conn_ready(spw__http_h1conn *c) {
    spw__http_endpoint *ep = c->ep;
    if (too_old(c)) {
        conn_close(c);
        return;
    }
    if (ep->h1q.head) {
        spw__http_req *r = ep->h1q.head;
        q_remove(ep, r);
        c->req = r;
        r->h1c = c;
        send_req(c);
        return;
    }
    idle_push(c);
}

/*
 * c's request is resent on a fresh connection: c was reused and died before
 * answering, most likely closed by the server while idle.
 */
static void resend(spw__http_h1conn *c, const char *why) {
    spw_http *s = c->s;
    spw__http_req *r = c->req;
    spw_log(s->st, SPW_LOG_DEBUG, "%s: %s before answering on a reused connection; resending on a "
            "new one", c->ep->base, why);
    req_detach(r);
    conn_close(c);
    r->h1_resent = true;
    spw__http_req_restart(r);
    place_fresh(s, r);
}

/* c broke: how that ends its request depends on what was under way. */
static void broken(spw__http_h1conn *c, int cc, int uv_err, const char *why) {
    if (c->state == H1_CLOSED)
        return;
    if (c->state == H1_IDLE) {
        /* The server's keep-alive timeout, most likely: nothing was lost. */
        spw_log(c->s->st, SPW_LOG_DEBUG, "%s: idle connection dropped (%s)", c->ep->base, why);
        conn_close(c);
        return;
    }
    spw__http_req *r = c->req;
    if (c->state == H1_BUSY && r) {
        if (uv_err == UV_EOF && spw__http_h1parse_eof(&c->rp) == SPW__HTTP_H1_DONE) {
            /* A body read until close has ended: that is a whole response. */
            r->status = c->rp.status;
            req_detach(r);
            c->answered++;
            conn_close(c);
            finish(r, CURLE_OK, NULL);
            return;
        }
        bool lost = uv_err == UV_EOF || uv_err == UV_ECONNRESET || uv_err == UV_EPIPE;
        if (lost && c->reused && !c->got && !r->h1_resent) {
            resend(c, why);
            return;
        }
        if (uv_err == UV_EOF && c->got) {
            conn_fail(c, cc, c->rp.why); /* the answer was cut short */
            return;
        }
    }
    conn_fail(c, cc, why);
}

/* ---- requests ---------------------------------------------------------------- */

static void on_written(uv_write_t *w, int status) {
    spw__http_h1conn *c = w->data;
    c->writing = false;
    if (c->state == H1_CLOSED || status >= 0)
        return;
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    broken(c, CURLE_SEND_ERROR, status, why);
}

static void write_failed(spw__http_h1conn *c, int err) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(err));
    broken(c, CURLE_SEND_ERROR, err, why);
}

/* Sends c->req on c, which is open and has nothing else under way. */
static void send_req(spw__http_h1conn *c) {
    spw__http_req *r = c->req;
    c->state = H1_BUSY;
    c->got = false;
    c->reused = c->answered > 0;
    spw__http_h1parse_begin(&c->rp);
    c->rp.headers = &r->rhdr;
    if (c->d.state != SPW__HTTP_DIAL_OPEN)
        return; /* conn_opened sends it */
    if (c->d.tls) {
        spw_err e;
        spw_result rc = spw_tls_write(c->d.tls, r->head.data, r->head.len, &c->d.out, &e);
        if (rc == SPW_OK && r->body_len)
            rc = spw_tls_write(c->d.tls, r->body, r->body_len, &c->d.out, &e);
        if (rc != SPW_OK) {
            conn_fail(c, CURLE_SEND_ERROR, e.msg);
            return;
        }
        int k = spw__http_dial_send(&c->d);
        if (k != 0)
            write_failed(c, k);
        return;
    }
    /* Cleartext: head and body go as they are, the body from the batch itself. */
    uv_buf_t b[2] = {uv_buf_init((char *)r->head.data, (unsigned)r->head.len),
                     uv_buf_init((char *)(uintptr_t)r->body, (unsigned)r->body_len)};
    unsigned nb = r->body_len ? 2 : 1;
    int k = uv_try_write((uv_stream_t *)&c->d.tcp, b, nb);
    if (k < 0 && k != UV_EAGAIN) {
        write_failed(c, k);
        return;
    }
    size_t done = k > 0 ? (size_t)k : 0;
    unsigned first = 0;
    while (first < nb && done >= b[first].len) {
        done -= b[first].len;
        first++;
    }
    if (first == nb)
        return;
    b[first].base += done;
    b[first].len -= done;
    c->wreq.data = c;
    int w = uv_write(&c->wreq, (uv_stream_t *)&c->d.tcp, b + first, nb - first, on_written);
    if (w != 0) {
        write_failed(c, w);
        return;
    }
    c->writing = true;
}

/* Appends p[0..n), with bytes that would break the request line percent-encoded. */
static spw_result append_target(spw_buf *b, const char *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < n) {
        size_t k = i;
        while (k < n && (unsigned char)p[k] > 0x20 && (unsigned char)p[k] != 0x7f)
            k++;
        spw_result rc = spw_buf_append(b, p + i, k - i);
        if (rc != SPW_OK || k == n)
            return rc;
        char e[3] = {'%', hex[(unsigned char)p[k] >> 4], hex[(unsigned char)p[k] & 15]};
        if ((rc = spw_buf_append(b, e, 3)) != SPW_OK)
            return rc;
        i = k + 1;
    }
    return SPW_OK;
}

/* The request line and headers, into r->head. */
static spw_result build_head(spw_http *s, spw__http_req *r) {
    (void)s;
    spw_buf *b = &r->head;
    spw_buf_reset(b);
    const char *url = (const char *)r->url.data;
    const char *path = url + spw__http_url_path_start(url);
    size_t plen = strcspn(path, "#");
    size_t hl = strlen(r->host);
    spw_result rc = spw_buf_reserve(b, 96 + plen + hl + r->hdr.len + 2 * r->n_dyn);
    if (rc == SPW_OK)
        rc = spw_buf_append(b, r->method, strlen(r->method));
    if (rc == SPW_OK)
        rc = spw_buf_append(b, " /", path[0] == '/' ? 1 : 2);
    if (rc == SPW_OK)
        rc = append_target(b, path, plen);
    if (rc == SPW_OK)
        rc = spw_buf_append(b, " HTTP/1.1\r\n", 11);
    if (rc == SPW_OK)
        rc = spw_buf_printf(b, "Host: %s\r\n", r->host);
    /* The request's headers: "Name: value" strings at offsets in r->hdr (the caller's Host is
     * above; the client left out the framing headers, which are the engine's). */
    for (size_t i = 0; i < r->n_dyn && rc == SPW_OK; i++) {
        if (i == r->host_dyn)
            continue;
        const char *line = (const char *)r->hdr.data + (uintptr_t)r->dyn[i].data;
        rc = spw_buf_append(b, line, strlen(line));
        if (rc == SPW_OK)
            rc = spw_buf_append(b, "\r\n", 2);
    }
    if (rc == SPW_OK)
        rc = spw_buf_printf(b, "Content-Length: %zu\r\n\r\n", r->body_len);
    return rc;
}

/* r's time is up: its connection is closed, for a late answer must not be read as the next
 * request's. */
static void expire(spw__http_req *r, const char *why) {
    spw__http_h1conn *c = r->h1c;
    if (c) {
        req_detach(r);
        conn_close(c);
    }
    finish(r, CURLE_OPERATION_TIMEDOUT, why);
}

spw_result spw__http_h1_submit(spw_http *s, spw__http_req *r, uint64_t timeout_ms) {
    r->h1c = NULL;
    r->h1_queued = false;
    r->h1_resent = false;
    spw__http_req_take(s, r, timeout_ms, expire);
    if (build_head(s, r) != SPW_OK) {
        finish(r, CURLE_OUT_OF_MEMORY, "out of memory for the request head");
        return SPW_OK;
    }
    /* Others waiting already go first. */
    if (r->ep->h1q.head || !place(s, r))
        q_push(r->ep, r, false);
    return SPW_OK;
}

void spw__http_h1_take(spw_http *s, spw__http_req *r) {
    uint64_t now = uv_now(s->loop);
    (void)spw__http_h1_submit(s, r, r->deadline_ms > now ? r->deadline_ms - now : 1);
}

/* ---- dial.c's callbacks ------------------------------------------------------- */

static void conn_opened(spw__http_dial *d) {
    spw__http_h1conn *c = (spw__http_h1conn *)d;
    spw_log(c->s->st, SPW_LOG_DEBUG, "connected to %s (HTTP/1.1%s)", c->ep->base,
            c->d.tls ? " over TLS" : "");
    if (c->req)
        send_req(c);
    else
        conn_ready(c); /* its request timed out meanwhile: another may use it */
}

/* c->req's response is complete; clean: nothing came after it. */
static void answered(spw__http_h1conn *c, bool clean) {
    spw__http_req *r = c->req;
    r->status = c->rp.status;
    req_detach(r);
    c->answered++;
    /* An answer before the request was all written (an early 413) leaves the connection in
     * the middle of a request: it cannot carry another. */
    bool reuse = clean && c->rp.keep_alive && !c->writing && !c->d.writing && c->d.out.len == 0;
    if (reuse)
        conn_ready(c);
    else
        conn_close(c);
    finish(r, CURLE_OK, NULL);
}

static void conn_input(spw__http_dial *d, const uint8_t *p, size_t n) {
    spw__http_h1conn *c = (spw__http_h1conn *)d;
    spw__http_req *r = c->req;
    if (c->state != H1_BUSY || !r) {
        spw_log(c->s->st, SPW_LOG_DEBUG,
                "%s: %zu byte(s) on a connection with no request open; closing it", c->ep->base, n);
        conn_close(c);
        return;
    }
    c->got = true;
    size_t used = 0;
    int rc = spw__http_h1parse_feed(&c->rp, p, n, &used, &r->resp, r->response_max);
    r->resp_total = c->rp.body_total;
    if (rc == SPW__HTTP_H1_MORE)
        return;
    if (rc == SPW__HTTP_H1_BAD) {
        char why[160];
        snprintf(why, sizeof why, "malformed response from %s: %s", c->ep->base, c->rp.why);
        conn_fail(c, CURLE_WEIRD_SERVER_REPLY, why);
        return;
    }
    answered(c, used == n);
}

static void conn_error(spw__http_dial *d, int cc, int uv_err, const char *why) {
    broken((spw__http_h1conn *)d, cc, uv_err, why);
}

static void conn_dial_flush(spw__http_dial *d) {
    int k = spw__http_dial_send(d);
    if (k != 0)
        write_failed((spw__http_h1conn *)d, k);
}

static void conn_written(spw__http_dial *d, int status) {
    if (status < 0)
        write_failed((spw__http_h1conn *)d, status);
}

static void conn_released(spw__http_dial *d) {
    spw__http_h1conn *c = (spw__http_h1conn *)d;
    spw__http_h1parse_free(&c->rp);
    free(c);
}

static const spw__http_dial_ops dial_ops = {conn_opened, conn_input, conn_error, conn_dial_flush,
                                     conn_written, conn_released};

/* ---- loop handles ------------------------------------------------------------- */

static void on_kick(uv_prepare_t *p) {
    struct spw__http_h1 *h = p->data;
    spw_http *s = h->s;
    uv_prepare_stop(p);
    h->kick_on = false;
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        while (ep->h1q.head) {
            spw__http_req *r = ep->h1q.head;
            q_remove(ep, r);
            if (!place(s, r)) {
                q_push(ep, r, true); /* back to the front, until a connection comes free */
                break;
            }
        }
    }
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void base_closed(uv_handle_t *hd) {
    struct spw__http_h1 *h = hd->data;
    spw_http *s = h->s;
    spw_buf_free(&h->scr.plain);
    free(h);
    spw__http_handle_closed(s);
}

bool spw__http_h1_selected(const struct spw_http_conf *cf) {
    /* h2c has no HTTP/1.1 to speak; a proxy is libcurl's. */
    return cf->engine == SPW__HTTP_ENGINE_NATIVE && !(cf->proxy && *cf->proxy) &&
           cf->protocol != SPW__HTTP_PROTO_H2C;
}

spw_result spw__http_h1_init(spw_http *s, spw_err *err) {
    struct spw__http_h1 *h = calloc(1, sizeof *h);
    if (!h)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    h->s = s;
    uv_prepare_init(s->loop, &h->kick);
    h->kick.data = h;
    s->open_handles++;
    s->h1s = h;
    /* Every endpoint the nghttp2 engine does not take (and those it hands over). */
    for (size_t i = 0; i < s->n_eps; i++)
        s->eps[i].h1_use = true;
    return SPW_OK;
}

void spw__http_h1_close(spw_http *s) {
    struct spw__http_h1 *h = s->h1s;
    if (!h)
        return;
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        while (ep->h1q.head)
            q_remove(ep, ep->h1q.head);
        while (ep->h1conns.head) {
            spw__http_h1conn *c = (spw__http_h1conn *)ep->h1conns.head;
            if (c->req)
                req_detach(c->req);
            conn_close(c);
        }
    }
    s->h1s = NULL;
    uv_close((uv_handle_t *)&h->kick, base_closed);
}
