/*
 * core/http/multi.c: libcurl's multi-socket interface driven by
 * the worker's libuv loop. curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket) and when it next
 * needs a call (CURLMOPT_TIMERFUNCTION: one uv_timer_t); we tell curl
 * what happened with curl_multi_socket_action and then collect finished
 * transfers. Nothing blocks and no thread is added (name resolution uses
 * curl's own resolver, which never blocks the caller).
 *
 * Two details of libuv shape this file:
 *   - A timeout of 0 ("call me right away") is run from a uv_idle_t, not
 *     a zero-delay timer: libuv before 1.45 runs a timer re-armed with 0
 *     from inside its own callback again in the same loop turn, and curl
 *     re-arms from inside socket_action, so the loop could starve.
 *   - Memory attached to a libuv handle is released only in its close
 *     callback. The instance counts its open handles and is freed when the
 *     last one closes (spw__http_handle_closed), after destroy() has returned.
 */
#include <stdlib.h>
#include <string.h>
#include "http-private.h"

static void check_done(spw_http *s) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        spw__http_req *r = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(s->multi, e);
        if (r)
            spw__http_req_finished(s, r, cc);
    }
}

static void socket_action(spw_http *s, curl_socket_t fd, int flags) {
    int running;
    curl_multi_socket_action(s->multi, fd, flags, &running);
    check_done(s);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    spw__http_sock *k = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(k->s, k->fd, flags);
}

static void on_timer(uv_timer_t *t) {
    socket_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void on_kick(uv_idle_t *i) {
    uv_idle_stop(i);
    socket_action(i->data, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    spw_http *s = userp;
    (void)multi;
    if (s->closing)
        return 0;
    if (timeout_ms < 0) {
        uv_timer_stop(&s->timer);
        uv_idle_stop(&s->kick);
    } else if (timeout_ms == 0) {
        uv_timer_stop(&s->timer);
        uv_idle_start(&s->kick, on_kick);
    } else {
        uv_idle_stop(&s->kick);
        uv_timer_start(&s->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static void sock_closed(uv_handle_t *h) {
    spw__http_sock *k = h->data;
    spw_http *s = k->s;
    free(k);
    spw__http_handle_closed(s);
}

static void sock_close(spw_http *s, spw__http_sock *k) {
    if (k->prev)
        k->prev->next = k->next;
    else
        s->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    uv_close((uv_handle_t *)&k->poll, sock_closed);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
    spw_http *s = userp;
    spw__http_sock *k = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            /* Stop watching now: curl closes the descriptor right after this call. */
            uv_poll_stop(&k->poll);
            if (!s->closing)
                curl_multi_assign(s->multi, fd, NULL);
            sock_close(s, k);
        }
        return 0;
    }
    if (s->closing)
        return 0;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k)
            return -1; /* curl fails the transfer: it is retried */
        if (uv_poll_init_socket(s->loop, &k->poll, fd) != 0) {
            free(k);
            return -1;
        }
        k->s = s;
        k->fd = fd;
        k->poll.data = k;
        k->next = s->socks;
        if (s->socks)
            s->socks->prev = k;
        s->socks = k;
        s->open_handles++;
        curl_multi_assign(s->multi, fd, k);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

spw_result spw__http_multi_init(spw_http *s, spw_err *err) {
    const struct spw_http_conf *cf = s->cf;
    s->multi = curl_multi_init();
    if (!s->multi)
        return spw_err_set(err, SPW_ERR_NOMEM, "curl_multi_init failed");
    uv_timer_init(s->loop, &s->timer);
    uv_idle_init(s->loop, &s->kick);
    s->timer.data = s->kick.data = s;
    s->open_handles += 2;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (cf->max_connections > 0)
        curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cf->max_connections);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)cf->max_streams);
    return SPW_OK;
}

spw_result spw__http_multi_add(spw_http *s, spw__http_req *r) {
    CURLMcode mc = curl_multi_add_handle(s->multi, r->easy);
    return mc == CURLM_OK ? SPW_OK : SPW_ERR_STATE;
}

static void base_closed(uv_handle_t *h) { spw__http_handle_closed(h->data); }

void spw__http_multi_close(spw_http *s) {
    s->closing = true;
    if (s->multi) {
        /* Sockets may be closed inside cleanup; socket_cb still unlinks them. */
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
    }
    while (s->socks) {
        spw__http_sock *k = s->socks;
        uv_poll_stop(&k->poll);
        sock_close(s, k);
    }
    uv_close((uv_handle_t *)&s->timer, base_closed);
    uv_close((uv_handle_t *)&s->kick, base_closed);
}
