/*
 * core/admin.c: the admin HTTP endpoint ([pipeline] admin = HOST:PORT).
 *
 * Served by libmicrohttpd on its own thread, never on a worker's loop: a
 * scrape reads the metric registry (relaxed atomic loads, the registry
 * lock) and the pipeline's phase, so a slow or hostile client costs the
 * workers nothing. The socket is bound here, before the workers start,
 * so that a taken port is a clear start-up error and port 0 can be
 * reported as the port the kernel chose.
 *
 *   GET /metrics                   Prometheus text format (core/prometheus.c)
 *   GET /health/live               200 while the process serves requests
 *   GET /health/ready              200 when running with every route's
 *                                  destination up; 503 with the reason
 *   POST /reload                   re-reads the pipeline (core/reload.c): 200
 *                                  "reloaded", 400 with the errors, 503
 *   GET /manage/rest/v1/prometheus the vendor connector's paths, for
 *   GET /manage/rest/v1            operators migrating from it
 *   GET /tap                       the events passing a point, as NDJSON
 *                                  (core/taps.c)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "admin.h"
#include "hostport.h"
#include "log.h"
#include "taps.h"
#include "reload.h"

struct spw__admin {
    struct MHD_Daemon *d;
    spw__pipeline *p;
    int fd;
    spw__taps *taps; /* GET /tap */
    char where[80]; /* the bound address, as logged */
};

static void mhd_log(void *arg, const char *fmt, va_list ap) {
    (void)arg;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    spw__log("admin", SPW_LOG_WARN, "%s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const void *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *s) {
    return reply(c, status, "text/plain; charset=utf-8", s, strlen(s));
}

static const char *plugin_of(const char *title, void *arg) {
    spw__pipeline *p = arg;
    const char *name = NULL;
    /* A reload replaces p->defs under run->lock (core/reload.c). */
    if (p->run)
        uv_mutex_lock(&p->run->lock);
    for (size_t i = 0; i < p->n_defs; i++)
        if (strcmp(p->defs[i].title, title) == 0) {
            name = p->defs[i].plugin ? p->defs[i].plugin->name : NULL;
            break;
        }
    if (p->run)
        uv_mutex_unlock(&p->run->lock);
    return name;
}

static enum MHD_Result metrics(struct MHD_Connection *c, spw__pipeline *p) {
    spw_buf b = SPW_BUF_INIT;
    spw_result r = spw__metrics_prometheus(p->metrics, p->conf.name, plugin_of, p, &b);
    enum MHD_Result ret = r == SPW_OK
                              ? reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                      b.data ? (const char *)b.data : "", b.len)
                              : text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    spw_buf_free(&b);
    return ret;
}

/* Names the routes whose destination is down into out (at most out_size bytes). */
struct down {
    char *out;
    size_t size, len;
    unsigned n;
};

static void down_cb(const spw__metric_view *v, void *arg) {
    struct down *d = arg;
    if (v->type != SPW__METRIC_GAUGE || strcmp(v->name, "destination_down") != 0 || v->gauge <= 0)
        return;
    d->n++;
    if (d->len < d->size) {
        int k = snprintf(d->out + d->len, d->size - d->len, "%s%s", d->n > 1 ? ", " : "", v->stage);
        if (k > 0)
            d->len += (size_t)k;
    }
}

static enum MHD_Result ready(struct MHD_Connection *c, spw__pipeline *p) {
    char msg[512], names[400] = "";
    switch (spw__pipeline_phase(p)) {
    case SPW__PHASE_STARTING:
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: starting\n");
    case SPW__PHASE_DRAINING:
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: stopping\n");
    case SPW__PHASE_FAILED:
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: failed\n");
    case SPW__PHASE_RUNNING:
        break;
    }
    /* A route is down on a worker when its sink said so; any worker's counts. */
    struct down d = {names, sizeof names, 0, 0};
    spw__metrics_visit(p->metrics, down_cb, &d);
    if (d.n == 0)
        return text(c, MHD_HTTP_OK, "ready\n");
    snprintf(msg, sizeof msg, "not ready: destination down: %s\n", names);
    return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
}

static enum MHD_Result live(struct MHD_Connection *c, spw__pipeline *p) {
    if (spw__pipeline_phase(p) == SPW__PHASE_FAILED)
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "failed\n");
    return text(c, MHD_HTTP_OK, "live\n");
}

/*
 * POST /reload: the same reload as SIGHUP, answered once the main thread
 * has done it: 200 "reloaded", 400 with the file's errors (nothing
 * changed), 503 when the pipeline is not running. A body is ignored.
 */
static int reload_marker;

static enum MHD_Result reload(struct MHD_Connection *c, spw__pipeline *p, const char *method,
                              size_t *upload_size, void **state) {
    if (strcmp(method, "POST") != 0) {
        *upload_size = 0;
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST /reload\n");
    }
    if (!*state) { /* headers only so far: say we take the request */
        *state = &reload_marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    spw_err err = {""};
    spw_result r = spw__reload_request(p, &err);
    if (r == SPW_OK)
        return text(c, MHD_HTTP_OK, "reloaded\n");
    char msg[SPW_ERR_MSG_MAX + 8];
    snprintf(msg, sizeof msg, "%s\n", err.msg);
    return text(c, r == SPW_ERR_STATE ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_BAD_REQUEST, msg);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
    spw__admin *a = cls;
    (void)version;
    (void)upload;
    if (strcmp(url, "/reload") == 0)
        return reload(c, a->p, method, upload_size, state);
    /* Every other path is a GET (HEAD answered alike): a request body is never read. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_size = 0;
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    }
    (void)state;
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/manage/rest/v1/prometheus") == 0)
        return metrics(c, a->p);
    if (strcmp(url, "/health/live") == 0 || strcmp(url, "/manage/rest/v1") == 0)
        return live(c, a->p);
    if (strcmp(url, "/health/ready") == 0)
        return ready(c, a->p);
    if (strcmp(url, "/tap") == 0 && strcmp(method, "GET") == 0)
        return (enum MHD_Result)spw__tap_handle(a->taps, c);
    if (strcmp(url, "/") == 0)
        return text(c, MHD_HTTP_OK,
                    "spillway admin: /metrics /health/live /health/ready /tap, POST /reload\n");
    return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

spw_result spw__admin_check(const char *addr, spw_err *err) {
    char host[256], port[8];
    if (!spw__split_hostport(addr, host, sizeof host, port, sizeof port))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "admin '%s': expected HOST:PORT (an IPv6 address in brackets, "
                           "[::1]:9901; port 0 lets the system choose)",
                           addr);
    return SPW_OK;
}

static spw_result bind_listener(spw__admin *a, const char *addr, spw_err *err) {
    char host[256], port[8];
    spw_result rc = spw__admin_check(addr, err);
    if (rc != SPW_OK)
        return rc;
    spw__split_hostport(addr, host, sizeof host, port, sizeof port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "admin '%s': %s", addr, gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return spw_err_set(err, SPW_ERR_IO, "admin '%s': %s", addr, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned bound = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            bound = ntohs(s6->sin6_port);
            snprintf(a->where, sizeof a->where, "[%s]:%u", ip, bound);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
            bound = ntohs(s4->sin_port);
            snprintf(a->where, sizeof a->where, "%s:%u", ip, bound);
        }
    }
    a->fd = fd;
    return SPW_OK;
}

spw_result spw__admin_start(spw__pipeline *p, const char *addr, spw__admin **out, spw_err *err) {
    *out = NULL;
    spw__admin *a = calloc(1, sizeof *a);
    if (!a)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    a->p = p;
    a->fd = -1;
    spw_result rc = bind_listener(a, addr, err);
    if (rc != SPW_OK) {
        free(a);
        return rc;
    }
    a->taps = spw__taps_new(p);
    if (!a->taps) {
        close(a->fd);
        free(a);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    /* A handful of connections and a short timeout: scrapers and probes, not users.
     * A thread per connection: a tap's stream waits for events in its reader
     * (core/taps.c) without holding up a scrape. */
    a->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, handle,
                            a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
                            (MHD_socket)a->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!a->d) {
        close(a->fd);
        spw__taps_free(a->taps);
        free(a);
        return spw_err_set(err, SPW_ERR_IO, "admin '%s': the HTTP server did not start", addr);
    }
    spw__log("admin", SPW_LOG_INFO, "admin endpoint on http://%s (/metrics, /health/live, /health/ready, /tap)",
             a->where);
    *out = a;
    return SPW_OK;
}

void spw__admin_stop(spw__admin *a) {
    if (!a)
        return;
    spw__taps_close(a->taps); /* tap streams end, so their threads can be joined */
    MHD_stop_daemon(a->d);    /* closes the listening socket it was given */
    spw__taps_free(a->taps);
    free(a);
}
