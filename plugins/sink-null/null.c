/*
 * plugins/sink-null/null.c: the `null` sink. Takes every batch and
 * discards it, counting events and bytes: the destination that costs
 * nothing, to measure everything before it (benchmarks), and a
 * destination that misbehaves on request, to test everything around it.
 *
 * outcome = ok | retry | reject: what every batch is answered. retry and
 * reject exercise the core's retry, deadline and dead-letter paths, and
 * a source's answer to its sender, without a real failing endpoint.
 *
 * delay > 0 simulates a slow destination: a batch is answered `delay`
 * after it was sent. The route's `concurrency` (default below) bounds how
 * many batches wait at once, exactly as with a real network sink, so
 * throughput is about concurrency / delay batches per second. Every
 * batch waits the same delay, so the waiting batches form a FIFO ordered
 * by due time, and one timer armed for the head serves them all: no
 * allocation or timer per batch.
 *
 * With delay = 0 a batch is answered inside send(), which the SDK allows
 * (spw_batch_done "may be called from inside send()").
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <spillway/spillway.h>

enum null_outcome { OUT_OK = 0, OUT_RETRY, OUT_REJECT };

struct null_conf {
    int outcome;
    int64_t delay_ms;
};

struct pending {
    spw_batch *b;
    uint64_t due_ms;
};

struct null_sink {
    spw_stage *st;
    const struct null_conf *cf;
    spw_counter *c_batches, *c_events, *c_bytes;
    spw_timer *timer;          /* only with delay > 0 */
    struct pending *q;         /* ring of waiting batches, in due order */
    size_t cap, head, n;
};

#define OFF(f) offsetof(struct null_conf, f)

static const spw_option null_options[] = {
    {"outcome", SPW_OPT_ENUM, 0, "ok", 0, 0, "ok|retry|reject", OFF(outcome),
     "What every batch is answered: ok (delivered), retry (transient failure) or reject "
     "(permanent failure), to test the paths around a failing destination."},
    {"delay", SPW_OPT_DURATION, 0, "0", 0, 3600000, NULL, OFF(delay_ms),
     "Answer each batch this long after it was sent, as a slow destination would; the route's "
     "concurrency bounds how many wait at once."},
    SPW_OPTIONS_END,
};

static void answer(struct null_sink *s, spw_batch *b) {
    switch (s->cf->outcome) {
    case OUT_RETRY:
        spw_batch_done(b, SPW_RETRY, "null sink: outcome = retry");
        break;
    case OUT_REJECT:
        spw_batch_done(b, SPW_REJECT, "null sink: outcome = reject");
        break;
    default:
        spw_batch_done(b, SPW_OK, NULL);
        break;
    }
}

static void on_timer(spw_timer *t, void *arg) {
    struct null_sink *s = arg;
    uint64_t now = spw_time_mono_ms();
    while (s->n > 0 && s->q[s->head].due_ms <= now) {
        spw_batch *b = s->q[s->head].b;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        answer(s, b);
    }
    if (s->n > 0)
        spw_timer_start(t, s->q[s->head].due_ms - now, 0);
}

static bool enqueue(struct null_sink *s, spw_batch *b, uint64_t due) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct pending *q = malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < s->n; i++)
            q[i] = s->q[(s->head + i) % s->cap];
        free(s->q);
        s->q = q;
        s->cap = cap;
        s->head = 0;
    }
    s->q[(s->head + s->n) % s->cap] = (struct pending){b, due};
    s->n++;
    return true;
}

static spw_result null_send(void *inst, spw_batch *b, spw_err *err) {
    struct null_sink *s = inst;
    size_t n = spw_batch_count(b);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += spw_batch_record(b, i).len;
    spw_counter_add(s->c_batches, 1);
    spw_counter_add(s->c_events, n);
    spw_counter_add(s->c_bytes, bytes);

    if (s->cf->delay_ms <= 0) {
        answer(s, b);
        return SPW_OK;
    }
    /* not taken: the core retries it, and send() must not have answered it */
    if (!enqueue(s, b, spw_time_mono_ms() + (uint64_t)s->cf->delay_ms))
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (s->n == 1)
        spw_timer_start(s->timer, (uint64_t)s->cf->delay_ms, 0);
    return SPW_OK;
}

static spw_result null_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct null_conf *cf = config;
    struct null_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    s->c_batches = spw_counter_register(st, "batches", "Batches taken.");
    s->c_events = spw_counter_register(st, "records", "Records taken (and discarded).");
    s->c_bytes = spw_counter_register(st, "bytes", "Encoded bytes of the events taken.");
    if (cf->delay_ms > 0)
        s->timer = spw_timer_new(st, on_timer, s);
    if (!s->c_batches || !s->c_events || !s->c_bytes || (cf->delay_ms > 0 && !s->timer)) {
        spw_timer_free(s->timer);
        free(s);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    *inst = s;
    return SPW_OK;
}

/*
 * At shutdown the core may destroy the sink while batches still wait for
 * their delay. They were lent, so they must be given back (the core
 * complains about a sink that keeps batches after destroy), and "retry" is
 * the only true answer: they were not delivered.
 */
static void null_destroy(void *inst) {
    struct null_sink *s = inst;
    spw_timer_free(s->timer);
    while (s->n > 0) {
        spw_batch *b = s->q[s->head].b;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        spw_batch_done(b, SPW_RETRY, "null sink: shutting down");
    }
    free(s->q);
    free(s);
}

static const spw_sink_ops null_sink_ops = {
    .send = null_send,
    /* irrelevant without delay (answers are immediate); with it, a pool as wide as a typical
     * HTTP sink's */
    .default_concurrency = 16,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "null", .version = "1.0.0",
                  .description = "Discards every batch (benchmarks; optional delay and outcome "
                                 "for fault tests)",
                  .options = null_options, .config_size = sizeof(struct null_conf),
                  .create = null_create, .destroy = null_destroy, .sink = &null_sink_ops);
