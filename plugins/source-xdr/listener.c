/*
 * plugins/source-xdr/listener.c: listening sockets and accepting.
 *
 * Every worker listens on every configured address with its own socket,
 * bound with SO_REUSEPORT, so the kernel spreads the accepting over the
 * workers (by a hash of the connection's addresses). Which worker then
 * owns the connection is balance.c's choice, not the hash's: a hash puts
 * two of XDR's few connections on one worker as often as not. libuv 1.44 cannot ask for SO_REUSEPORT, so the socket is made
 * here (socket, setsockopt, bind) and handed to libuv (uv_tcp_open, then
 * uv_listen). IPv6 sockets are IPV6_V6ONLY, so [::]:P and 0.0.0.0:P can
 * be listed side by side.
 *
 * Addresses are numeric ("127.0.0.1:8901", "[::1]:8901", "0.0.0.0:8901"):
 * resolving a name would block the loop, and a listener's address is
 * something an operator writes once.
 *
 * max_connections is per pipeline and split evenly over the workers
 * (rounded up). Every connection is accepted, checked against `allow`,
 * placed (balance.c), then judged by its owner's guard (guard.c) before
 * a byte of it is read: one that may not stay is closed at once
 * (leaving it in the backlog would only make XDR wait), one that may gets
 * its buffers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "source.h"

#define BACKLOG 511
#define KEEPALIVE_S 60

spw_result xs_parse_addr(const char *s, struct sockaddr_storage *ss, spw_err *err) {
    char host[INET6_ADDRSTRLEN + 1];
    const char *orig = s, *port_s;
    size_t hlen;
    bool v6 = false;

    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s' is not [IPv6]:port", s);
        hlen = (size_t)(close - s - 1);
        s++;
        port_s = close + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s' has no port (write host:port)", s);
        if (memchr(s, ':', (size_t)(colon - s)))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "'%s': write IPv6 addresses in brackets, as [::1]:8901", s);
        hlen = (size_t)(colon - s);
        port_s = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return spw_err_set(err, SPW_ERR_CONFIG, "'%s' has no valid host", orig);
    memcpy(host, s, hlen);
    host[hlen] = 0;

    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (*port_s == 0 || *end != 0 || errno || port < 1 || port > 65535)
        return spw_err_set(err, SPW_ERR_CONFIG, "'%s' is not a port from 1 to 65535", port_s);

    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s' is not a numeric IPv6 address", host);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "'%s' is not a numeric IPv4 address (names are not resolved)", host);
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
    }
    return SPW_OK;
}

/* The peer's "ip:port" for messages; its address in ipo when given. False when unknown. */
static bool peer_name_ip(const uv_tcp_t *t, char *out, size_t n, struct xs_ip *ipo) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];

    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0 ||
        (ipo && !xs_ip_from_sockaddr((struct sockaddr *)&ss, ipo))) {
        snprintf(out, n, "unknown peer");
        return false;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
    }
    return true;
}

static void peer_name(const uv_tcp_t *t, char *out, size_t n) {
    (void)peer_name_ip(t, out, n, NULL);
}

static void on_refused_closed(uv_handle_t *h) {
    struct xs_refused *r = h->data;
    struct xs_src *x = r->x;
    if (r == &x->spare)
        x->spare_busy = false;
    else
        free(r);
    xs_handle_closed(x);
}

/*
 * Accepts a connection only to close it. libuv stops watching a listener
 * until the pending connection is accepted, so this must not fail for want
 * of memory: the instance keeps one spare handle for that case.
 */
static void refuse(struct xs_listener *l) {
    struct xs_src *x = l->x;
    struct xs_refused *r = malloc(sizeof *r);
    if (r == NULL) {
        if (x->spare_busy) {
            spw_log(x->st, SPW_LOG_ERROR,
                    "%s: out of memory: cannot accept or refuse a connection; the listener waits",
                    l->name);
            return;
        }
        r = &x->spare;
        x->spare_busy = true;
    }
    r->x = x;
    r->tcp.data = r;
    uv_tcp_init(x->loop, &r->tcp);
    x->handles++;
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&r->tcp) == 0) {
        if (x->stopping) {
            spw_counter_add(x->c_refused, 1); /* the listener is closing: no warning owed */
        } else {
            char peer[64];
            peer_name(&r->tcp, peer, sizeof peer);
            xs_guard_refused_full(x, peer);
        }
    }
    uv_close((uv_handle_t *)&r->tcp, on_refused_closed);
}

/* A connection accepted and not admitted: only its socket handle was initialised. */
static void on_unadmitted_closed(uv_handle_t *h) {
    struct xs_conn *c = h->data;
    struct xs_src *x = c->x;
    if (c->placed)
        xs_balance_release(x, &c->ip);
    free(c);
    xs_handle_closed(x);
}

void xs_conn_unadmitted(struct xs_conn *c) {
    uv_close((uv_handle_t *)&c->tcp, on_unadmitted_closed);
}

void xs_conn_admit(struct xs_conn *c, const char *listener) {
    struct xs_src *x = c->x;
    /* Judged before anything is read or allocated for it. */
    if (!xs_guard_admit(x, c)) {
        xs_conn_unadmitted(c);
        return;
    }
    c->accepted_ms = uv_now(x->loop);
    c->rbuf = malloc(XS_RBUF_SIZE);
    if (c->rbuf == NULL || !xs_guard_add(x, c)) {
        free(c->rbuf);
        c->rbuf = NULL;
        spw_log(x->st, SPW_LOG_ERROR, "%s: out of memory for a connection", listener);
        xs_guard_refused_full(x, c->peer);
        xs_conn_unadmitted(c);
        return;
    }
    c->rcap = XS_RBUF_SIZE;
    c->id = ++x->next_conn_id;
    uv_timer_init(x->loop, &c->linger);
    c->linger.data = c;
    c->next = x->conns;
    if (x->conns)
        x->conns->prev = c;
    x->conns = c;
    x->n_conns++;

    uv_tcp_nodelay(&c->tcp, 1); /* replies are tiny and XDR waits for them */
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
    c->order = spw_order_new(x->st);
    if (c->order == NULL || (x->tls_ctx && spw_tls_new(x->tls_ctx, NULL, NULL, &c->tls, NULL) !=
                                               SPW_OK)) {
        xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for the connection's state");
        return;
    }
    spw_counter_add(x->c_connections, 1);
    spw_counter_add(x->c_w_connections, 1);
    spw_log(x->st, SPW_LOG_DEBUG, "%s: connection accepted on %s%s (worker %u)", c->peer, listener,
            c->tls ? " (TLS)" : "", x->worker);
    xs_conn_start(c);
}

static void on_connection(uv_stream_t *server, int status) {
    struct xs_listener *l = server->data;
    struct xs_src *x = l->x;

    if (status < 0) {
        spw_log(x->st, SPW_LOG_WARN, "%s: accept failed: %s", l->name, uv_strerror(status));
        return;
    }
    if (x->stopping) {
        refuse(l);
        return;
    }
    struct xs_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        spw_log(x->st, SPW_LOG_ERROR, "%s: out of memory for a connection", l->name);
        refuse(l);
        return;
    }
    c->x = x;
    c->port = l->port;
    uv_tcp_init(x->loop, &c->tcp);
    c->tcp.data = c;
    x->handles++;
    /* Accepted first, to know the peer. */
    int r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r != 0) {
        spw_log(x->st, SPW_LOG_WARN, "%s: accept failed: %s", l->name, uv_strerror(r));
        xs_conn_unadmitted(c);
        return;
    }
    if (!peer_name_ip(&c->tcp, c->peer, sizeof c->peer, &c->ip)) {
        /* The peer already left (or is of no family we know): nothing to serve. */
        xs_conn_unadmitted(c);
        return;
    }
    if (!xs_guard_allowed(x, c)) {
        xs_conn_unadmitted(c);
        return;
    }
    /* The owner (balance.c): this worker, or another that adopts a duplicate of the socket. */
    if (xs_balance_place(x, c, l->name) != (int)x->worker) {
        xs_conn_unadmitted(c);
        return;
    }
    c->placed = true;
    xs_conn_admit(c, l->name);
}

static void on_listener_closed(uv_handle_t *h) {
    struct xs_listener *l = h->data;
    xs_handle_closed(l->x);
}

static spw_result open_one(struct xs_src *x, struct xs_listener *l, const char *addr,
                           spw_err *err) {
    struct sockaddr_storage ss;
    spw_result rc = xs_parse_addr(addr, &ss, err);
    if (rc != SPW_OK)
        return rc;
    snprintf(l->name, sizeof l->name, "%s", addr);
    l->x = x;
    bool v6 = ss.ss_family == AF_INET6;
    l->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                       : ((struct sockaddr_in *)&ss)->sin_port);

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return spw_err_set(err, SPW_ERR_IO, "cannot listen on %s: socket: %s", addr,
                           strerror(errno));
    int one = 1;
    const char *step = NULL;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        step = "SO_REUSEADDR";
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        step = "SO_REUSEPORT";
    else if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        step = "IPV6_V6ONLY";
    else if (bind(fd, (struct sockaddr *)&ss,
                  v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0)
        step = "bind";
    if (step) {
        int e = errno;
        close(fd);
        return spw_err_set(err, SPW_ERR_IO, "cannot listen on %s: %s: %s", addr, step,
                           strerror(e));
    }
    uv_tcp_init(x->loop, &l->tcp);
    l->tcp.data = l;
    l->open = true;
    x->handles++;
    int r = uv_tcp_open(&l->tcp, fd);
    if (r != 0) {
        close(fd);
        return spw_err_set(err, SPW_ERR_IO, "cannot listen on %s: %s", addr, uv_strerror(r));
    }
    r = uv_listen((uv_stream_t *)&l->tcp, BACKLOG, on_connection);
    if (r != 0)
        return spw_err_set(err, SPW_ERR_IO, "cannot listen on %s: %s", addr, uv_strerror(r));
    return SPW_OK;
}

spw_result xs_listen_all(struct xs_src *x, spw_err *err) {
    const spw_strlist *ls = &x->cf->listen;
    x->listeners = calloc(ls->n ? ls->n : 1, sizeof *x->listeners);
    if (x->listeners == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ls->n; i++) {
        x->n_listeners = i + 1;
        spw_result r = open_one(x, &x->listeners[i], ls->v[i], err);
        if (r != SPW_OK)
            return r; /* the caller closes what was opened */
        spw_log(x->st, SPW_LOG_DEBUG, "listening on %s%s", ls->v[i], x->tls_ctx ? " (TLS)" : "");
    }
    return SPW_OK;
}

void xs_listen_close_all(struct xs_src *x) {
    for (size_t i = 0; i < x->n_listeners; i++) {
        struct xs_listener *l = &x->listeners[i];
        if (l->open) {
            l->open = false;
            uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
        }
    }
}
