/*
 * plugins/source-xdr/xdr.c: the `xdr` source. Aerospike XDR (a DC with
 * `connector true`) connects to it over TCP or TLS and ships change
 * notifications; each becomes an event, and XDR is answered "done" (0)
 * only once every route has delivered it (the core's acknowledgement
 * contract), "retry" otherwise, "abandon" only when a route drops it.
 *
 * This file owns the plugin's face: the option table, the checks, the
 * instance (one per worker) and the source callbacks. The instances of
 * one source on all workers share a group (balance.c) that decides which
 * worker owns each new connection. Flow control:
 * pause() stops every connection from reading (the worker's in-flight cap
 * is reached); resume() lets each go on from the next loop turn. stop():
 * listeners close at once, idle connections close, the others stop
 * reading and close once their last answer is written (the core bounds
 * the wait with shutdown_timeout). retire() (a reload changed the
 * section): listeners close, connections go on until they close, then
 * the instance tells the core it finished. destroy(): whatever is left closes
 * after its replies are flushed; the instance is freed when its last
 * handle has closed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autoconf.h"
#include "source.h"

#define OFF(f) offsetof(struct xs_conf, f)

static const spw_option xs_options[] = {
    {"listen", SPW_OPT_LIST, SPW_OPT_REQUIRED, NULL, 1, 64, NULL, OFF(listen),
     "Addresses to accept XDR connections on, as numeric host:port or [IPv6]:port (every worker "
     "listens on each, with SO_REUSEPORT; each connection then goes to the worker holding the "
     "fewest of its peer's connections, then the fewest in all)."},
    {"tls_certificate", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_certificate),
     "Path of the PEM server certificate (chain) to speak TLS with; unset speaks plain TCP."},
    {"tls_private_key", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_private_key),
     "Path of the PEM private key of tls_certificate (required with it)."},
    {"tls_ca", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_ca),
     "Path of a PEM file (or hashed directory) of CA certificates: when set, XDR must present a "
     "client certificate they signed."},
    {"tls_min_version", SPW_OPT_ENUM, 0, "1.2", 0, 0, "1.2|1.3", OFF(tls_min_version),
     "Oldest TLS version accepted."},
    {"allow", SPW_OPT_LIST, 0, NULL, 1, 4096, NULL, OFF(allow),
     "Addresses and CIDR ranges that may connect (10.0.0.7, 10.1.0.0/16, 2001:db8::/32; an "
     "IPv4-mapped IPv6 address is its IPv4 address); others are closed at accept, before a byte "
     "is read. Unset: any address."},
    {"max_connections", SPW_OPT_INT, 0, "1024", 1, 1000000, NULL, OFF(max_connections),
     "Connections open at once over the pipeline, split evenly over the workers; when a worker "
     "is full, a new connection closes one that owes nothing (the oldest that never sent a "
     "frame, else the one idle longest), or is closed at once when every one owes answers."},
    {"max_connections_per_peer", SPW_OPT_INT, 0, "256", 1, 1000000, NULL,
     OFF(max_connections_per_peer),
     "Connections one peer address may hold at once, split evenly over the workers like "
     "max_connections; XDR opens one per service thread (up to 5 per CPU of the node). Over it, "
     "one of the peer's connections that owes nothing is closed (as for max_connections), or "
     "the new one is."},
    {"first_frame_timeout", SPW_OPT_DURATION, 0, "5s", 0, 3600000.0, NULL,
     OFF(first_frame_timeout_ms),
     "Close a connection that has not sent a whole frame this long after it was accepted (TLS "
     "handshake included); 0: no bound."},
    {"frame_timeout", SPW_OPT_DURATION, 0, "10s", 0, 3600000.0, NULL, OFF(frame_timeout_ms),
     "Close a connection when a frame it started has not arrived whole this long after its "
     "first byte (slow senders); time spent not reading for backpressure does not count; 0: no "
     "bound."},
    {"max_in_flight_per_connection", SPW_OPT_INT, 0, "4096", 1, 1000000, NULL,
     OFF(max_in_flight_per_connection),
     "Answers a connection may owe before it stops reading; it reads again when three quarters "
     "of them are answered."},
    {"max_frame_size", SPW_OPT_SIZE, 0, "8MiB", 1024, 134217728.0, NULL, OFF(max_frame_size),
     "Largest frame accepted, compressed or inflated; a connection announcing a larger one is "
     "closed before it is buffered."},
    {"idle_timeout", SPW_OPT_DURATION, 0, "0", 0, 86400000.0, NULL, OFF(idle_timeout_ms),
     "Close a connection that owes no answer and sent nothing for this long; 0 keeps idle "
     "connections (XDR sends nothing between changes; TCP keepalive still finds dead peers, and "
     "idle connections give their slot up when the listener is full)."},
    {"retry_code", SPW_OPT_INT, 0, "11", 1, 255, NULL, OFF(retry_code),
     "Result code answered when a record must be sent again (not delivered in time); one XDR "
     "retries: 8, 9, 11, 14, 18 or 80."},
    {"abandon_code", SPW_OPT_INT, 0, "10", 1, 255, NULL, OFF(abandon_code),
     "Result code answered when a route dropped the record (on_reject = drop); XDR then abandons "
     "it, so it must not be 2 or a retry code."},
    {"validate_collections", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(validate_collections),
     "Walk every list and map value on arrival and treat malformed MessagePack as malformed "
     "input."},
    {"capture", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(capture),
     "Path of a file to write every record frame received to, as it arrived (compressed ones "
     "compressed, resends included, INFO requests not), in spillway-xdrgen's binary replay "
     "format; created 0600. Unset: off."},
    {"capture_max_bytes", SPW_OPT_SIZE, 0, "64MiB", 65536, 1099511627776.0, NULL,
     OFF(capture_max_bytes),
     "Size of one capture file: a frame that would take it over opens a new file (a frame "
     "larger than this gets a file alone)."},
    {"capture_files", SPW_OPT_INT, 0, "4", 1, 1000, NULL, OFF(capture_files),
     "Capture files kept: PATH (being written), then PATH.1 (the newest full one) up to "
     "PATH.N-1; the oldest is removed when PATH rotates."},
    {"capture_queue", SPW_OPT_SIZE, 0, "16MiB", 65536, 1073741824.0, NULL, OFF(capture_queue),
     "Frame bytes waiting for the capture writer at most; over it frames are dropped from the "
     "capture (counted in capture_dropped), never delayed."},
    SPW_OPTIONS_END,
};

static const int retry_codes[] = XS_RETRY_CODES;
#define N_RETRY_CODES (sizeof retry_codes / sizeof retry_codes[0])

static bool is_retry_code(int64_t code) {
    for (size_t i = 0; i < N_RETRY_CODES; i++)
        if (retry_codes[i] == code)
            return true;
    return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family)
        return false;
    size_t n = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return memcmp(a, b, n) == 0;
}

/*
 * The TLS context (spillway/tls.h): TLS 1.2 at least (tls_min_version),
 * and with tls_ca a client certificate that CA signed is required.
 * tls_ca may name a PEM file or a hashed directory.
 */
static spw_result tls_ctx_new(const struct xs_conf *cf, spw_tls_ctx **out, spw_err *err) {
    spw_tls_options o = SPW_TLS_OPTIONS_INIT;
    o.role = SPW_TLS_SERVER;
    o.min_version = cf->tls_min_version == 1 ? SPW_TLS_1_3 : SPW_TLS_1_2;
    o.cert_file = cf->tls_certificate;
    o.key_file = cf->tls_private_key;
    o.cert_file_label = "tls_certificate";
    o.key_file_label = "tls_private_key";
    o.ca_file_label = o.ca_path_label = "tls_ca";
    if (cf->tls_ca && *cf->tls_ca) {
        struct stat sb;
        if (stat(cf->tls_ca, &sb) != 0)
            return spw_err_set(err, SPW_ERR_CONFIG, "tls_ca %s: %s", cf->tls_ca, strerror(errno));
        if (S_ISDIR(sb.st_mode))
            o.ca_path = cf->tls_ca;
        else
            o.ca_file = cf->tls_ca;
        o.require_client_cert = true;
    }
    return spw_tls_ctx_new(&o, out, err);
}

static spw_result xs_check(const void *config, spw_err *err) {
    const struct xs_conf *cf = config;
    struct sockaddr_storage *addrs;
    spw_result r = SPW_OK;

    addrs = calloc(cf->listen.n ? cf->listen.n : 1, sizeof *addrs);
    if (addrs == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cf->listen.n && r == SPW_OK; i++) {
        spw_err aerr;
        if (xs_parse_addr(cf->listen.v[i], &addrs[i], &aerr) != SPW_OK) {
            r = spw_err_set(err, SPW_ERR_CONFIG, "listen: %s", aerr.msg);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (same_addr(&addrs[i], &addrs[j])) {
                /* With SO_REUSEPORT both sockets would bind and silently share the port. */
                r = spw_err_set(err, SPW_ERR_CONFIG, "listen: %s is listed twice",
                                cf->listen.v[i]);
                break;
            }
    }
    free(addrs);
    if (r != SPW_OK)
        return r;

    for (size_t i = 0; i < cf->allow.n; i++) {
        struct xs_cidr c;
        spw_err aerr;
        if (xs_cidr_parse(cf->allow.v[i], &c, &aerr) != SPW_OK)
            return spw_err_set(err, SPW_ERR_CONFIG, "allow: %s", aerr.msg);
    }

    bool cert = cf->tls_certificate && *cf->tls_certificate;
    bool key = cf->tls_private_key && *cf->tls_private_key;
    if (cert != key)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "tls_certificate and tls_private_key go together: set both or neither");
    if (cf->tls_ca && *cf->tls_ca && !cert)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "tls_ca needs tls_certificate and tls_private_key (TLS is off)");
    if (cert) {
        /* Loading them now makes --check report an unreadable or mismatched file. */
        spw_tls_ctx *ctx;
        r = tls_ctx_new(cf, &ctx, err);
        if (r != SPW_OK)
            return r;
        spw_tls_ctx_free(ctx);
    }
    r = xs_capture_check(cf, err);
    if (r != SPW_OK)
        return r;
    if (!is_retry_code(cf->retry_code))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "retry_code %" PRId64 " is not a code XDR retries (8, 9, 11, 14, 18, "
                           "80): records answered with it would be lost",
                           cf->retry_code);
    if (cf->abandon_code == 2 || is_retry_code(cf->abandon_code))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "abandon_code %" PRId64 " is not a code XDR abandons (it must not be 2 "
                           "or one of the retry codes 8, 9, 11, 14, 18, 80)",
                           cf->abandon_code);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Instance                                                                */
/* ---------------------------------------------------------------------- */

static void free_instance(struct xs_src *x) {
    xs_balance_leave(x);
    asw_parser_free(&x->parser);
    spw_tls_ctx_free(x->tls_ctx);
    spw_buf_free(&x->tls_out);
    free(x->listeners);
    free(x->allow);
    free(x->slots);
    free(x);
}

void xs_handle_closed(struct xs_src *x) {
    if (--x->handles == 0 && x->destroying)
        free_instance(x);
}

static void on_instance_handle_closed(uv_handle_t *h) { xs_handle_closed(h->data); }

/* The guard's bounds (first_frame_timeout, frame_timeout), idle_timeout, the rate-limited logs. */
static void on_sweep(uv_timer_t *t) {
    xs_guard_sweep(t->data);
    xs_capture_poll(t->data);
}

/* A quarter of the shortest bound, from 100 ms to 1 s (the rate-limited logs need one too). */
static uint64_t sweep_period(const struct xs_conf *cf) {
    int64_t bounds[] = {cf->idle_timeout_ms, cf->first_frame_timeout_ms, cf->frame_timeout_ms};
    uint64_t p = 1000;
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
        if (bounds[i] > 0 && (uint64_t)bounds[i] / 4 < p)
            p = (uint64_t)bounds[i] / 4;
    return p < 100 ? 100 : p;
}

static spw_result xs_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct xs_conf *cf = config;
    struct xs_src *x = calloc(1, sizeof *x);
    if (x == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    x->st = st;
    x->cf = cf;
    x->loop = spw_stage_loop(st);
    asw_parser_init(&x->parser, (uint64_t)cf->max_frame_size, cf->validate_collections);
    x->conn_cap = (uint64_t)cf->max_in_flight_per_connection;
    x->conn_low = x->conn_cap - (x->conn_cap / 4 > 0 ? x->conn_cap / 4 : 1);
    x->retry_code = (uint8_t)cf->retry_code;
    x->abandon_code = (uint8_t)cf->abandon_code;
    unsigned workers = spw_stage_workers(st) ? spw_stage_workers(st) : 1;
    x->max_conns = (size_t)((cf->max_connections + workers - 1) / workers);

    /* INFO "node": the pipeline's name, kept to what fits an INFO line. */
    snprintf(x->node, sizeof x->node, "%s", spw_pipeline_name(st));
    for (char *p = x->node; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = '_';
    x->ids.node = x->node;
    x->ids.build = PACKAGE_VERSION;
    x->ids.version = "spillway " PACKAGE_VERSION;

    spw_result gr = xs_guard_init(x, err);
    if (gr != SPW_OK) {
        free(x);
        return gr;
    }
    if (cf->tls_certificate && *cf->tls_certificate) {
        spw_result r = tls_ctx_new(cf, &x->tls_ctx, err);
        if (r != SPW_OK) {
            free(x->allow);
            free(x);
            return r;
        }
    }
    x->c_connections = spw_counter_register(st, "connections", "XDR connections accepted.");
    x->c_refused = spw_counter_register(
        st, "connections_refused",
        "Connections closed at once: over max_connections with every connection owing answers "
        "(or shutting down, or out of memory).");
    x->c_not_allowed = spw_counter_register(st, "refused_not_allowed",
                                            "Connections closed at accept: address not in allow.");
    x->c_per_peer = spw_counter_register(
        st, "refused_per_peer",
        "Connections closed at accept: over max_connections_per_peer, every one owing answers.");
    x->c_silent = spw_counter_register(
        st, "closed_silent", "Connections closed: no whole frame within first_frame_timeout.");
    x->c_slow = spw_counter_register(
        st, "closed_slow", "Connections closed: a frame not completed within frame_timeout.");
    x->c_evicted = spw_counter_register(
        st, "evicted_idle",
        "Connections that owed nothing, closed to let a new one in (max_connections or "
        "max_connections_per_peer).");
    x->c_frames = spw_counter_register(st, "frames", "Frames received (records and INFO).");
    x->c_records = spw_counter_register(st, "records", "Records submitted to the pipeline.");
    x->c_bytes = spw_counter_register(st, "bytes", "Bytes of the frames received.");
    x->c_replies_ok = spw_counter_register(st, "replies_ok", "Records answered done (0).");
    x->c_replies_retry = spw_counter_register(st, "replies_retry", "Records answered retry_code.");
    x->c_replies_abandon =
        spw_counter_register(st, "replies_abandon", "Records answered abandon_code (dropped).");
    x->c_malformed = spw_counter_register(
        st, "malformed", "Connections closed for malformed input (or TLS failure).");
    x->c_info = spw_counter_register(st, "info_requests", "INFO requests answered.");
    x->c_w_connections = spw_counter_register_worker(
        st, "worker_connections", "XDR connections accepted, per worker that owns them.");
    x->c_w_records = spw_counter_register_worker(st, "worker_records",
                                                 "Records submitted to the pipeline, per worker.");
    if (!x->c_connections || !x->c_refused || !x->c_frames || !x->c_records || !x->c_bytes ||
        !x->c_replies_ok || !x->c_replies_retry || !x->c_replies_abandon || !x->c_malformed ||
        !x->c_info || !x->c_not_allowed || !x->c_per_peer || !x->c_silent || !x->c_slow ||
        !x->c_evicted || !x->c_w_connections || !x->c_w_records) {
        spw_tls_ctx_free(x->tls_ctx);
        free(x->allow);
        free(x);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    spw_result cr = xs_capture_attach(x, err);
    if (cr != SPW_OK) {
        spw_tls_ctx_free(x->tls_ctx);
        free(x->allow);
        free(x);
        return cr;
    }
    /* The group shared with the other workers' instances (balance.c); its inbox handle. */
    spw_result br = xs_balance_join(x, err);
    if (br != SPW_OK) {
        xs_capture_detach(x);
        spw_tls_ctx_free(x->tls_ctx);
        free(x->allow);
        free(x);
        return br;
    }
    /* Last, because they cannot fail: from here the memory belongs to the handles. */
    uv_prepare_init(x->loop, &x->flush);
    uv_idle_init(x->loop, &x->work);
    uv_timer_init(x->loop, &x->sweep);
    x->flush.data = x->work.data = x->sweep.data = x;
    x->handles += 3;
    *inst = x;
    return SPW_OK;
}

static spw_result xs_start(void *inst, spw_err *err) {
    struct xs_src *x = inst;
    spw_result r = xs_listen_all(x, err);
    if (r != SPW_OK) {
        xs_listen_close_all(x);
        return r;
    }
    x->started = true;
    xs_balance_start(x);
    uint64_t period = sweep_period(x->cf);
    uv_timer_start(&x->sweep, on_sweep, period, period);
    spw_log(x->st, SPW_LOG_DEBUG, "listening on %zu address(es)%s", x->n_listeners,
            x->tls_ctx ? " with TLS" : "");
    return SPW_OK;
}

static void xs_pause(void *inst) {
    struct xs_src *x = inst;
    x->paused = true;
    for (struct xs_conn *c = x->conns; c; c = c->next)
        xs_conn_update_read(c);
}

static void xs_resume(void *inst) {
    struct xs_src *x = inst;
    x->paused = false;
    /* Not from here (we may be inside a core callback): from the next loop turn. */
    for (struct xs_conn *c = x->conns; c; c = c->next)
        xs_conn_schedule(c);
}

static void xs_stop(void *inst) {
    struct xs_src *x = inst;
    size_t waiting = 0;
    if (x->stopping)
        return;
    x->stopping = true;
    xs_listen_close_all(x);
    xs_balance_close(x); /* no connection is handed to this worker any more */
    for (struct xs_conn *c = x->conns, *next; c; c = next) {
        next = c->next;
        if (xs_conn_in_flight(c) == 0) {
            xs_conn_finish(c);
        } else {
            xs_conn_update_read(c);
            waiting++;
        }
    }
    spw_log(x->st, SPW_LOG_DEBUG, "stopped listening; %zu connection(s) wait for their answers",
            waiting);
}

void xs_retire_check(struct xs_src *x) {
    if (!x->retiring || x->stopping || x->destroying || x->finished || x->n_conns > 0)
        return;
    x->finished = true;
    spw_log(x->st, SPW_LOG_INFO, "replaced by a reload: its last connection has closed");
    xs_capture_detach(x); /* no frame can come any more: what is queued is written */
    spw_source_finished(x->st);
}

/*
 * A reload replaced the section: the new instance listens already (with
 * SO_REUSEPORT both held the port meanwhile). Listeners close; connections
 * stay, read, submit and answer under this instance's settings (allow was
 * judged at accept; TLS, capture, max_in_flight_per_connection, the
 * guard's timeouts go on) until they close; then the core is told.
 */
static void xs_retire(void *inst) {
    struct xs_src *x = inst;
    if (x->stopping || x->retiring)
        return;
    xs_listen_close_all(x);
    /* Before `retiring`: a connection adopted here may evict another (guard.c), and the
     * count passing 0 on the way must not end the instance. */
    xs_balance_retire(x);
    x->retiring = true;
    spw_log(x->st, SPW_LOG_INFO,
            "replaced by a reload: stopped listening; keeps serving %zu connection(s) on worker %u "
            "until they close",
            x->n_conns, x->worker);
    xs_retire_check(x);
}

static void xs_destroy(void *inst) {
    struct xs_src *x = inst;
    x->stopping = true;
    uv_timer_stop(&x->sweep);
    xs_guard_flush_logs(x);
    xs_capture_detach(x); /* no frame is taken after stop: the queue is written out */
    xs_listen_close_all(x);
    xs_balance_close(x);
    /* No answer can come any more (the core destroys a source after its last done callback):
     * connections close once what they already have is written. */
    for (struct xs_conn *c = x->conns, *next; c; c = next) {
        next = c->next;
        xs_conn_finish(c);
    }
    x->destroying = true;
    uv_close((uv_handle_t *)&x->flush, on_instance_handle_closed);
    uv_close((uv_handle_t *)&x->work, on_instance_handle_closed);
    uv_close((uv_handle_t *)&x->sweep, on_instance_handle_closed);
}

static const spw_source_ops xs_source_ops = {
    .start = xs_start,
    .pause = xs_pause,
    .resume = xs_resume,
    .stop = xs_stop,
    .retire = xs_retire,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SOURCE, .name = "xdr", .version = "1.0.0",
                  .description = "Aerospike XDR change notifications over TCP or TLS (connector "
                                 "protocol), answered in order once delivered",
                  .options = xs_options, .config_size = sizeof(struct xs_conf),
                  .check = xs_check, .create = xs_create, .destroy = xs_destroy,
                  .source = &xs_source_ops);
