/*
 * plugins/sink-splunk-hec/plugin.c: the `splunk-hec` sink's descriptor,
 * options, checks and instance lifecycle.
 *
 * One instance per worker, with its own HTTP client (url or urls: the
 * HEC base URL, e.g. https://splunk:8088) and, with indexer
 * acknowledgement, its own channels. doc/splunk-hec-sink.md explains each
 * option and the deadline to use with acks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hec.h"

#define OFF(f) offsetof(struct hec_conf, f)

static const spw_option hec_options[] = {
    SPW_OPTION_HTTP(struct hec_conf, http, 0),
    {"hec_token", SPW_OPT_STRING, SPW_OPT_REQUIRED | SPW_OPT_SECRET, NULL, 0, 0, NULL,
     OFF(hec_token),
     "HEC token, sent as 'Authorization: Splunk TOKEN' (use hec_token_file or ${env:...})."},
    {"endpoint", SPW_OPT_ENUM, 0, "event", 0, 0, "event|raw", OFF(endpoint),
     "event: JSON envelopes to /services/collector/event; raw: the records as lines to "
     "/services/collector/raw, metadata in the query."},
    {"host", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(host),
     "Envelope 'host' (${...} variables allowed; unset: HEC's default)."},
    {"source", SPW_OPT_STRING, 0, "aerospike", 0, 0, NULL, OFF(source),
     "Envelope 'source', e.g. aerospike:${namespace} (${...} variables allowed; empty: "
     "HEC's default)."},
    {"sourcetype", SPW_OPT_STRING, 0, "_json", 0, 0, NULL, OFF(sourcetype),
     "Envelope 'sourcetype' (${...} variables allowed; empty: HEC's default)."},
    {"index", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(index),
     "Envelope 'index', e.g. aerospike_${namespace} (unset: the token's default index)."},
    {"fields", SPW_OPT_LIST, 0, NULL, 0, 5, NULL, OFF(fields),
     "Indexed fields added to each envelope: any of namespace, set, digest, msg, gen."},
    {"ack", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(ack),
     "Indexer acknowledgement: a record is delivered only once HEC's ack poll says it is "
     "indexed (the token needs useACK)."},
    {"channels", SPW_OPT_INT, 0, "4", 1, 256, NULL, OFF(channels),
     "Ack channels per worker, each pinned to one endpoint with its cookies (Splunk advises "
     "at least twice the indexers behind a balancer)."},
    {"max_pending_acks", SPW_OPT_INT, 0, "64", 1, 100000, NULL, OFF(max_pending_acks),
     "Batches waiting for their ack per channel; when every channel is full a batch is "
     "retried after the route's backoff (keep max_held below channels x this)."},
    {"ack_timeout", SPW_OPT_DURATION, 0, "0", 0, 3600000, NULL, OFF(ack_timeout_ms),
     "Longest wait for an ack before the batch is resent (0: until its events' deadline, "
     "event_deadline)."},
    {"ack_poll_min", SPW_OPT_DURATION, 0, "100ms", 10, 60000, NULL, OFF(ack_poll_min_ms),
     "Ack poll interval after a poll found an ack true."},
    {"ack_poll_max", SPW_OPT_DURATION, 0, "1s", 10, 600000, NULL, OFF(ack_poll_max_ms),
     "Longest ack poll interval: it doubles up to this while no ack comes true."},
    {"token_probe_interval", SPW_OPT_DURATION, 0, "10s", 100, 3600000, NULL,
     OFF(token_probe_ms),
     "While HEC refuses the token (codes 1-4), how long the route waits before trying again."},
    SPW_OPTIONS_END,
};

static bool has_var(const char *s) { return s && strstr(s, "${"); }

static spw_result hec_check(const void *config, spw_err *err) {
    const struct hec_conf *cf = config;
    hec_meta m;
    spw_result rc = hec_meta_init(&m, cf, err);
    if (rc != SPW_OK)
        return rc;
    hec_meta_free(&m);
    for (const char *p = cf->hec_token; p && *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "hec_token holds white space or a control character");
    if (cf->endpoint == HEC_EP_RAW) {
        if (has_var(cf->host) || has_var(cf->source) || has_var(cf->sourcetype) ||
            has_var(cf->index))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "endpoint = raw: host, source, sourcetype and index go in the "
                               "query of a whole request, so they cannot use ${...} variables");
        if (cf->fields.n)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "endpoint = raw takes no indexed fields (fields)");
    }
    if (cf->ack_poll_min_ms > cf->ack_poll_max_ms)
        return spw_err_set(err, SPW_ERR_CONFIG, "ack_poll_min is longer than ack_poll_max");
    return SPW_OK;
}

void hec_warn(hec_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw_vlog_limited(s->st, &s->warn_limit, SPW_LOG_WARN, fmt, ap);
    va_end(ap);
}

static void hec_destroy(void *inst) {
    hec_sink *s = inst;
    s->closing = true;
    /* Requests and polls in progress end here, cancelled: their batches go back to be
     * retried; then every batch still waiting for an ack goes back too. */
    spw_http_close(s->http);
    hec_channels_free(s);
    hec_calls_free(s);
    hec_meta_free(&s->meta);
    spw_buf_free(&s->scratch);
    if (s->auth) {
        memset(s->auth, 0, strlen(s->auth));
        free(s->auth);
    }
    free(s);
}

static spw_result hec_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct hec_conf *cf = config;
    hec_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    struct {
        spw_counter **c;
        const char *name, *help;
    } counters[] = {
        {&s->c_sent, "hec_sent", "Records HEC answered 200 to."},
        {&s->c_acked, "hec_acked", "Records whose indexer acknowledgement came true."},
        {&s->c_ack_timeouts, "hec_ack_timeouts", "Batches whose ack did not come in time."},
        {&s->c_resends, "hec_resends", "Records given back to be sent again."},
        {&s->c_no_ack, "hec_no_ack", "Records delivered on a 200 without an ackId."},
        {&s->c_polls, "hec_ack_polls", "Ack poll requests."},
        {&s->c_poll_errors, "hec_ack_poll_errors", "Ack polls without a usable answer."},
        {&s->c_channel_resets, "hec_channel_resets", "Ack channels replaced by a new GUID."},
    };
    spw_result rc = SPW_OK;
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (!(*counters[i].c = spw_counter_register(st, counters[i].name, counters[i].help)))
            rc = spw_err_set(err, SPW_ERR_NOMEM, "registering %s failed", counters[i].name);
    s->g_pending = spw_gauge_register(st, "hec_pending_acks", "Batches waiting for their ack.");
    if (rc == SPW_OK && !s->g_pending)
        rc = spw_err_set(err, SPW_ERR_NOMEM, "registering hec_pending_acks failed");
    size_t tl = strlen(cf->hec_token);
    if (rc == SPW_OK && !(s->auth = malloc(tl + 8)))
        rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (rc == SPW_OK) {
        memcpy(s->auth, "Splunk ", 7);
        memcpy(s->auth + 7, cf->hec_token, tl + 1);
        rc = hec_meta_init(&s->meta, cf, err);
    }
    if (rc == SPW_OK)
        rc = spw_http_new(st, cf->http, &s->http, err);
    if (rc == SPW_OK)
        rc = hec_channels_init(s, err);
    if (rc != SPW_OK) {
        s->closing = true;
        spw_http_close(s->http);
        hec_channels_free(s);
        hec_meta_free(&s->meta);
        free(s->auth);
        free(s);
        return rc;
    }
    spw_limits lim = spw_sink_limits(st);
    if (cf->ack && lim.max_held > (uint64_t)(cf->channels * cf->max_pending_acks))
        spw_log(st, SPW_LOG_WARN,
                "max_held (%u) is more than channels x max_pending_acks (%lld): batches beyond "
                "that wait for room and are retried",
                (unsigned)lim.max_held, (long long)(cf->channels * cf->max_pending_acks));
    *inst = s;
    return SPW_OK;
}

static spw_result hec_send_op(void *inst, spw_batch *b, spw_err *err) {
    return hec_send(inst, b, err);
}

/* HEC events embed JSON objects: only the JSON codecs can fill `event`. */
static spw_result hec_check_codec(const void *config, const char *codec, spw_err *err) {
    const struct hec_conf *cf = config;
    if (cf->endpoint == HEC_EP_RAW || strcmp(codec, "json") == 0 || strcmp(codec, "flat-json") == 0)
        return SPW_OK;
    return spw_err_set(err, SPW_ERR_CONFIG,
                       "the %s codec cannot fill HEC events, which embed JSON objects: use the json "
                       "or flat-json codec (or endpoint = raw)",
                       codec);
}

static const spw_sink_ops hec_sink_ops = {
    .check_codec = hec_check_codec,
    .send = hec_send_op,
    /* Requests on their way per worker; batches waiting for acks are held beside them. */
    .default_concurrency = 8,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "splunk-hec", .version = "1.0.0",
                  .description = "Delivers records to Splunk's HTTP Event Collector, with "
                                 "indexer acknowledgement",
                  .options = hec_options, .config_size = sizeof(struct hec_conf),
                  .check = hec_check, .create = hec_create, .destroy = hec_destroy,
                  .sink = &hec_sink_ops);
