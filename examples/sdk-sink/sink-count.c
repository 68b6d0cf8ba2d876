/*
 * sink-count: an out-of-tree spillway sink built against the installed SDK.
 *
 * It delivers nowhere: it counts the events, writes, deletes, batches and
 * encoded bytes it is given, adds them to the stats line, and logs its totals
 * when it is destroyed (and, on request, every N events or every interval).
 * Useful on its own to measure a source and codec without a destination,
 * and small enough to read as the template for a real sink.
 *
 *   make                                 # builds sink-count.so
 *   spillway --plugin-dir . --help-plugin count
 */
#include <inttypes.h>
#include <stdlib.h>
#include <stddef.h>
#include <spillway/spillway.h>

/* The options, parsed by the core into this struct (one per pipeline, read-only). */
struct count_config {
    int64_t every;           /* log a line every N events; 0 = never */
    int64_t report_interval; /* ms between periodic total lines; 0 = never */
    bool reject_deletes;     /* classify deletes as rejected (to try on_reject) */
};

static const spw_option count_options[] = {
    {"every", SPW_OPT_INT, 0, "0", 0, 1e12, NULL, offsetof(struct count_config, every),
     "Log a line every N events (0: only the totals at shutdown)."},
    {"report_interval", SPW_OPT_DURATION, 0, "0", 0, 86400000, NULL,
     offsetof(struct count_config, report_interval),
     "Log the running totals at this interval (0: off)."},
    {"reject_deletes", SPW_OPT_BOOL, 0, "false", 0, 0, NULL,
     offsetof(struct count_config, reject_deletes),
     "Report delete events as rejected, to exercise the route's on_reject policy."},
    SPW_OPTIONS_END,
};

/* One instance per worker: nothing here is shared, so nothing is locked. */
struct count_sink {
    spw_stage *st;                  /* borrowed: outlives the instance */
    const struct count_config *cfg; /* borrowed */
    spw_timer *report;              /* owned; NULL when report_interval is 0 */
    spw_counter *c_writes, *c_deletes, *c_bytes; /* borrowed from the stage */
    uint64_t events, writes, deletes, batches, bytes;
    uint64_t next_line;             /* event count at which `every` logs next */
};

static void count_log_totals(struct count_sink *s, const char *when)
{
    spw_log(s->st, SPW_LOG_INFO,
            "%s: %" PRIu64 " events (%" PRIu64 " writes, %" PRIu64 " deletes), %" PRIu64
            " bytes in %" PRIu64 " batches",
            when, s->events, s->writes, s->deletes, s->bytes, s->batches);
}

static void count_on_report(spw_timer *t, void *arg)
{
    (void)t;
    count_log_totals(arg, "so far");
}

static spw_result count_create(spw_stage *st, const void *config, void **inst, spw_err *err)
{
    const struct count_config *cfg = config;
    struct count_sink *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cfg = cfg;
    s->next_line = (uint64_t)cfg->every;
    /* The route already counts events, batches and outcomes for every sink
     * (in the same stats line): register only what this sink adds. */
    s->c_writes = spw_counter_register(st, "writes", "write events counted");
    s->c_deletes = spw_counter_register(st, "deletes", "delete events counted");
    s->c_bytes = spw_counter_register(st, "bytes", "encoded bytes counted");
    if (s->c_writes == NULL || s->c_deletes == NULL || s->c_bytes == NULL)
        goto nomem;
    if (cfg->report_interval > 0) {
        s->report = spw_timer_new(st, count_on_report, s);
        if (s->report == NULL)
            goto nomem;
        spw_timer_start(s->report, (uint64_t)cfg->report_interval,
                        (uint64_t)cfg->report_interval);
    }
    *inst = s;
    return SPW_OK;

nomem:
    /* All-or-nothing: release what was taken; counters belong to the stage. */
    free(s);
    return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
}

static void count_destroy(void *inst)
{
    struct count_sink *s = inst;

    count_log_totals(s, "total");
    spw_timer_free(s->report); /* the callback never runs after this */
    free(s);
}

/*
 * One batch: the core built it from the route's batching options and lends
 * it until spw_batch_done. A real sink would start a request here and call
 * spw_batch_done from its completion callback, on this same thread.
 */
static spw_result count_send(void *inst, spw_batch *b, spw_err *err)
{
    struct count_sink *s = inst;
    size_t n = spw_batch_count(b);
    uint64_t bytes = 0, deletes = 0;

    (void)err;
    for (size_t i = 0; i < n; i++) {
        const spw_event *ev = spw_batch_event(b, i);

        if (spw_event_op(ev) == SPW_OP_DELETE) {
            deletes++;
            if (s->cfg->reject_deletes)
                /* Classify only: the core dead-letters, retries or drops. */
                spw_batch_set_result(b, i, SPW_REJECT, "sink-count rejects deletes");
        }
        bytes += spw_batch_record(b, i).len;
    }
    s->events += n;
    s->writes += n - deletes;
    s->deletes += deletes;
    s->bytes += bytes;
    s->batches++;
    spw_counter_add(s->c_writes, n - deletes);
    spw_counter_add(s->c_deletes, deletes);
    spw_counter_add(s->c_bytes, bytes);

    if (s->cfg->every > 0 && s->events >= s->next_line) {
        uint64_t every = (uint64_t)s->cfg->every;

        count_log_totals(s, "progress");
        s->next_line = (s->events / every + 1) * every;
    }

    /* Every event without a result of its own is delivered. */
    spw_batch_done(b, SPW_OK, NULL);
    return SPW_OK;
}

static const spw_sink_ops count_ops = {
    .send = count_send,
    .default_concurrency = 1,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "count", .version = "1.0.0",
                  .description = "counts events and bytes (an out-of-tree SDK example)",
                  .options = count_options, .config_size = sizeof(struct count_config),
                  .create = count_create, .destroy = count_destroy, .sink = &count_ops);
