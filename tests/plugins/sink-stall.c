/*
 * tests/plugins/sink-stall.c: a test-only sink whose behaviour the test
 * chooses, for the xdr source's socket tests (never installed).
 *
 *   mode = stall   every batch is held and never answered until the sink
 *                  is destroyed (then given back "retry"): a destination
 *                  that hangs, to test deadlines and backpressure.
 *   mode = bins    each event says what happens to it through integer
 *                  bins: `delay_ms` (answered that long after the batch
 *                  was sent; the batch waits for its slowest event),
 *                  `outcome` (0 delivered, 1 retry, 2 rejected) and
 *                  `want_port` (answered retry unless the event carries
 *                  this listener port: how a test sees the port). With
 *                  batch_max_records = 1 and some concurrency, events
 *                  complete in any order the test likes.
 *   mode = block   every send blocks the worker's loop for `block_ms`, then
 *                  answers delivered: a plugin stuck in a call, for the
 *                  systemd watchdog test.
 *
 * Every waiting batch has its own timer: allocation per batch is fine in
 * a test sink and keeps the code obvious.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include <spillway/spillway.h>

enum stall_mode { MODE_STALL = 0, MODE_BINS, MODE_BLOCK };

struct stall_conf {
    int mode;
    int64_t block_ms;
};

struct held {
    uv_timer_t timer;
    struct stall_sink *s;
    spw_batch *b;
    struct held *prev, *next;
};

struct stall_sink {
    spw_stage *st;
    const struct stall_conf *cf;
    struct held *held;
    spw_counter *c_held;
};

static const spw_option stall_options[] = {
    {"mode", SPW_OPT_ENUM, 0, "stall", 0, 0, "stall|bins|block", offsetof(struct stall_conf, mode),
     "stall: hold every batch until shutdown; bins: each event's delay_ms and outcome bins say "
     "when and how it is answered; block: block the loop block_ms per send, then deliver."},
    {"block_ms", SPW_OPT_INT, 0, "1000", 0, 60000, NULL, offsetof(struct stall_conf, block_ms),
     "mode = block: how long each send blocks the worker's loop."},
    SPW_OPTIONS_END,
};

static int64_t int_bin(const spw_event *ev, const char *name, int64_t def) {
    const spw_bin *b = spw_event_find_bin(ev, name, strlen(name));
    int64_t v;
    if (b && spw_value_int(&b->value, &v) == SPW_OK)
        return v;
    return def;
}

static void unlink_held(struct held *h) {
    struct stall_sink *s = h->s;
    if (h->prev)
        h->prev->next = h->next;
    else
        s->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

static void on_closed(uv_handle_t *t) { free(t->data); }

static void release(struct held *h, spw_result r, const char *why) {
    unlink_held(h);
    spw_batch *b = h->b;
    h->b = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_closed);
    spw_batch_done(b, r, why);
}

static void on_due(uv_timer_t *t) { release(t->data, SPW_OK, NULL); }

static spw_result stall_send(void *inst, spw_batch *b, spw_err *err) {
    struct stall_sink *s = inst;
    if (s->cf->mode == MODE_BLOCK) {
        struct timespec ts = {(time_t)(s->cf->block_ms / 1000), (long)(s->cf->block_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        spw_counter_add(s->c_held, spw_batch_count(b));
        spw_batch_done(b, SPW_OK, NULL);
        return SPW_OK;
    }
    struct held *h = calloc(1, sizeof *h);
    if (h == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    h->s = s;
    h->b = b;
    uv_timer_init(spw_stage_loop(s->st), &h->timer);
    h->timer.data = h;
    h->next = s->held;
    if (s->held)
        s->held->prev = h;
    s->held = h;
    spw_counter_add(s->c_held, spw_batch_count(b));
    if (s->cf->mode == MODE_STALL)
        return SPW_OK;

    int64_t delay = 0;
    for (size_t i = 0; i < spw_batch_count(b); i++) {
        const spw_event *ev = spw_batch_event(b, i);
        int64_t d = int_bin(ev, "delay_ms", 0), o = int_bin(ev, "outcome", 0);
        int64_t port = int_bin(ev, "want_port", -1);
        if (d > delay)
            delay = d;
        if (port >= 0 && port != spw_event_port(ev))
            spw_batch_set_result(b, i, SPW_RETRY, "sink-stall: the event carries another port");
        else if (o == 1)
            spw_batch_set_result(b, i, SPW_RETRY, "sink-stall: outcome bin says retry");
        else if (o == 2)
            spw_batch_set_result(b, i, SPW_REJECT, "sink-stall: outcome bin says reject");
    }
    uv_timer_start(&h->timer, on_due, (uint64_t)delay, 0);
    return SPW_OK;
}

static spw_result stall_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    struct stall_sink *s = calloc(1, sizeof *s);
    if (s == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = config;
    s->c_held = spw_counter_register(st, "held", "Events given to the stall sink.");
    *inst = s;
    return SPW_OK;
}

static void stall_destroy(void *inst) {
    struct stall_sink *s = inst;
    while (s->held)
        release(s->held, SPW_RETRY, "sink-stall: shutting down");
    free(s);
}

static const spw_sink_ops stall_ops = {.send = stall_send, .default_concurrency = 64};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "stall", .version = "1.0.0",
                  .description = "Holds batches, or answers each event as its bins say (tests)",
                  .options = stall_options, .config_size = sizeof(struct stall_conf),
                  .create = stall_create, .destroy = stall_destroy, .sink = &stall_ops);
