/*
 * plugins/sink-elasticsearch/plugin.c: the `elasticsearch` sink's
 * descriptor, options, --check refusals, instance lifecycle and the
 * version probe.
 *
 * One instance per worker, with its own HTTP client on the worker's loop.
 * The transport (url, urls, TLS, timeouts, gzip, auth: basic, bearer, a
 * header such as `Authorization: ApiKey ...`, AWS SigV4 for `es` or
 * `aoss`) is the SDK's HTTP option group; this sink adds what the bulk
 * API needs: the index, the document id, versioning and what a delete
 * becomes. doc/elasticsearch-sink.md explains each.
 *
 * At start worker 0's client asks `GET /` once and logs what it found
 * (Elasticsearch 7/8 or OpenSearch 1/2). The answer informs the
 * operator only; nothing waits for it, so a cluster that is down at start
 * costs nothing but a warning (deliveries are retried as usual).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "es.h"

#define OFF(f) offsetof(struct es_conf, f)

static const spw_option es_options[] = {
    SPW_OPTION_HTTP(struct es_conf, http, 0),
    {"index", SPW_OPT_STRING, 0, "aerospike-${namespace}-${set}", 0, 0, NULL, OFF(index),
     "Index (or alias, or data stream) each record goes to, with the SDK's ${...} variables "
     "(${namespace}, ${set}...); rendered values are made to fit Elasticsearch's index name rules "
     "(lowercase, no \\ / * ? \" < > | space , # :, no leading - _ +, 255 bytes)."},
    {"id", SPW_OPT_ENUM, 0, "digest", 0, 0, "digest|digest_hex|key", OFF(id),
     "Document _id: the record's digest in unpadded Base64url (27 characters), in hex (40), or "
     "the user key (integer in decimal, string as is, blob in Base64url; a record without a "
     "stored key is rejected)."},
    {"versioning", SPW_OPT_ENUM, 0, "external_gte", 0, 0, "external_gte|external|none",
     OFF(versioning),
     "Versioning with the record's last-update time (Unix ms) as the external version: "
     "external_gte (an equal version is rewritten), external (must be newer), or none (the last "
     "request applied wins)."},
    {"deletes", SPW_OPT_ENUM, 0, "delete", 0, 0, "delete|soft|reject", OFF(deletes),
     "What a record deletion becomes: a versioned delete action, a soft delete (the document "
     "replaced by {soft_delete_field: true} with the version), or a rejection (dead-lettered)."},
    {"soft_delete_field", SPW_OPT_STRING, 0, "deleted", 0, 0, NULL, OFF(soft_delete_field),
     "Field of the soft-delete document (deletes = soft)."},
    {"data_stream", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(data_stream),
     "The index is a data stream: writes become create actions (append only), which needs "
     "versioning = none and deletes other than delete."},
    {"doc_type", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(doc_type),
     "Refused when set: mapping types (_type) are gone from Elasticsearch 8 and OpenSearch 2."},
    {"auth_failure_probe", SPW_OPT_DURATION, 0, "5s", 100, 3600000, NULL, OFF(auth_probe_ms),
     "After a 401/403 (or a missing index) the sink is held down: one batch is tried again "
     "after this long."},
    SPW_OPTIONS_END,
};

static spw_result es_check(const void *config, spw_err *err) {
    const struct es_conf *cf = config;
    if (cf->doc_type && *cf->doc_type)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "doc_type: mapping types (_type) were removed in Elasticsearch 8 and "
                           "OpenSearch 2; remove the option (on Elasticsearch 7 the type is _doc)");
    if (cf->data_stream && cf->versioning != ES_VER_NONE)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "data_stream = true takes only create actions, which refuse external "
                           "versioning: set versioning = none");
    if (cf->data_stream && cf->deletes == ES_DEL_DELETE)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "data_stream = true cannot apply deletes: set deletes = soft (a "
                           "tombstone document appended) or deletes = reject");
    if (!cf->soft_delete_field || !*cf->soft_delete_field ||
        !spw_utf8_valid(cf->soft_delete_field, strlen(cf->soft_delete_field)) ||
        cf->soft_delete_field[0] == '_')
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "soft_delete_field: a field name that does not start with '_'");
    es_tpl t;
    spw_result rc = es_tpl_compile(&t, cf->index, err);
    es_tpl_free(&t);
    return rc;
}

void es_warn(es_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw_vlog_limited(s->st, &s->warn_limit, SPW_LOG_WARN, fmt, ap);
    va_end(ap);
}

static void on_version(const spw_http_response *r, void *arg) {
    es_sink *s = arg;
    s->probe_out = false;
    if (s->closing)
        return;
    char v[80];
    int major;
    bool os;
    if (r->error != SPW_HTTP_OK) {
        spw_log(s->st, SPW_LOG_WARN, "GET / on %s: %s (the cluster's version is unknown; "
                "deliveries are retried until it answers)", r->origin ? r->origin : "?",
                r->error_text ? r->error_text : spw_http_error_name(r->error));
    } else if (r->status == 200 && es_version_parse(r->body, r->body_len, v, sizeof v, &major, &os)) {
        bool known = os ? (major == 1 || major == 2 || major == 3) : (major == 7 || major == 8 || major == 9);
        spw_log(s->st, known ? SPW_LOG_INFO : SPW_LOG_WARN, "%s: %s%s", r->origin, v,
                known ? "" : " (not a version this sink was tested with: Elasticsearch 7/8, "
                             "OpenSearch 1/2)");
    } else {
        char ex[140];
        spw_printable(ex, sizeof ex, r->body, r->body_len, 100);
        spw_log(s->st, r->status == 401 || r->status == 403 ? SPW_LOG_ERROR : SPW_LOG_WARN,
                "GET / on %s: HTTP %d %s (not told which cluster this is%s)", r->origin, r->status,
                ex, r->status == 401 || r->status == 403 ? "; check the credentials" : "");
    }
}

static void es_destroy(void *inst) {
    es_sink *s = inst;
    s->closing = true;
    /* Requests still out end here, cancelled: their batches go back to be retried. */
    spw_http_close(s->http);
    es_calls_free(s);
    es_tpl_free(&s->tpl);
    spw_buf_free(&s->scratch);
    free(s);
}

static spw_result es_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct es_conf *cf = config;
    es_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    s->c_indexed = spw_counter_register(st, "indexed", "Index (and create) items done.");
    s->c_deleted = spw_counter_register(st, "deleted", "Delete (and soft-delete) items done.");
    s->c_stale = spw_counter_register(st, "stale",
                                      "Items answered 409: a newer or equal version was indexed.");
    s->c_item_retry = spw_counter_register(st, "item_retries", "Items to be resent.");
    s->c_item_reject = spw_counter_register(st, "item_rejects",
                                            "Items rejected (document errors, unusable ids).");
    spw_result rc = es_tpl_compile(&s->tpl, cf->index, err);
    if (rc == SPW_OK)
        rc = spw_http_new(st, cf->http, &s->http, err);
    if (rc == SPW_OK && spw_stage_worker(st) == 0) {
        spw_http_request req = {.method = "GET", .target = "/", .flags = SPW_HTTP_NO_HEALTH |
                                SPW_HTTP_TRUNCATE, .response_max = 8192};
        spw_err e2;
        if (spw_http_send(s->http, &req, on_version, s, &e2) == SPW_OK)
            s->probe_out = true;
    }
    if (rc != SPW_OK) {
        es_destroy(s);
        return rc;
    }
    *inst = s;
    return SPW_OK;
}

static spw_result es_send_op(void *inst, spw_batch *b, spw_err *err) { return es_send(inst, b, err); }

static const spw_sink_ops es_sink_ops = {
    .send = es_send_op,
    /* Bulk requests in progress per worker: the cluster's write queue does the rest. */
    .default_concurrency = 4,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "elasticsearch", .version = "1.0.0",
                  .description = "Keeps Elasticsearch or OpenSearch indices equal to Aerospike "
                                 "sets through the _bulk API (external versioning, deletes)",
                  .options = es_options, .config_size = sizeof(struct es_conf),
                  .check = es_check, .create = es_create, .destroy = es_destroy,
                  .sink = &es_sink_ops);
