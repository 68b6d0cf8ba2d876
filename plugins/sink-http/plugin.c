/*
 * plugins/sink-http/plugin.c: the `http` sink's descriptor, option table
 * and instance lifecycle (the checks and the instance's state are in
 * instance.c, which the `gcf` sink shares).
 *
 * One instance per worker, with its own HTTP client (spillway/http.h) on
 * the worker's loop: its own connections, request objects and view of
 * endpoint health. Nothing is shared between workers but the read-only
 * configuration, so the request path takes no lock.
 *
 * The transport options (url, urls, protocol, timeouts, pools, health
 * checks, compression, auth, TLS) are the SDK's HTTP option group; this
 * sink adds what a generic HTTP destination needs on top: the method,
 * extra headers (with ${...} variables), the content type and which
 * status codes mean delivered or retry (the vendor's
 * http-success-status-codes). doc/http-sink.md explains each.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sink.h"

static const spw_option hs_options[] = {
    HS_OPTION_ENTRIES(struct hs_conf, ),
    SPW_OPTIONS_END,
};

static spw_result hs_check_op(const void *config, spw_err *err) { return hs_check(config, err); }

static void hs_destroy(void *inst) {
    hs_fini(inst);
    free(inst);
}

static spw_result hs_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    hs_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    spw_result rc = hs_init(s, st, config, err);
    if (rc != SPW_OK) {
        free(s);
        return rc;
    }
    *inst = s;
    return SPW_OK;
}

static spw_result hs_send_op(void *inst, spw_batch *b, spw_err *err) { return hs_send(inst, b, err); }

static const spw_sink_ops hs_sink_ops = {
    .send = hs_send_op,
    /* Requests in progress per worker: enough to hide a LAN round trip at one record each. */
    .default_concurrency = 32,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "http", .version = "1.1.0",
                  .description = "Delivers request bodies over HTTP/1.1 or HTTP/2 (the SDK's HTTP "
                                 "client: own HTTP/1.1, nghttp2, libcurl)",
                  .options = hs_options, .config_size = sizeof(struct hs_conf),
                  .check = hs_check_op, .create = hs_create, .destroy = hs_destroy,
                  .sink = &hs_sink_ops);
