/*
 * tests/unit/test-ack.c: the acknowledgement machinery, run for real.
 *
 * Each scenario builds a pipeline around plugins defined in this file (a
 * scripted source, a codec, scripted sinks and a filter), runs it with the
 * real worker, route and ack code, and checks what the source was answered
 * and when. The sinks complete batches from timers, in whatever order the
 * scenario says, so completion order, fan-out, worst-outcome, deadlines,
 * retries, backpressure and dead-lettering are all exercised end to end.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spillway/spillway.h>
#include "../tap.h"
#include "log.h"
#include "pipeline.h"

#define MAX_EV 512

/* ---- scenario knobs and observations (worker thread only while running) -- */

enum sink_mode { SINK_OK, SINK_RETRY, SINK_REJECT, SINK_HOLD, SINK_RETRY_ONCE, SINK_REVERSE };

static struct {
    int n_events;           /* events the source submits */
    bool ordered;           /* submit them in one order group */
    bool cancel_after;      /* cancel the order group after submitting */
    int submit_burst;       /* events per loop turn; 0 = all at once */
    enum sink_mode mode[2]; /* per sink */
    int reverse_at;         /* SINK_REVERSE: complete held batches in reverse once this many are held */
} sc;

static struct {
    int answered;
    spw_result outcome[MAX_EV];
    int answer_order[MAX_EV];
    uint64_t answered_at[MAX_EV];
    bool called_in_submit;
    int paused, resumed;
    size_t max_in_flight_seen;
    int sink_calls[2];
    int attempts[MAX_EV];
    uint64_t started_at;
} ob;

static void reset(void) {
    memset(&sc, 0, sizeof sc);
    memset(&ob, 0, sizeof ob);
}

/* ---- source ----------------------------------------------------------- */

typedef struct src {
    spw_stage *st;
    spw_order *order;
    spw_timer *tick;
    int next;
    bool in_submit;
    bool paused;
} src;

static void src_done(spw_event *ev, spw_result r, void *arg) {
    src *s = arg;
    (void)ev;
    if (s->in_submit)
        ob.called_in_submit = true;
    int seq = (int)spw_event_generation(ev);
    ob.outcome[seq] = r;
    ob.answered_at[seq] = spw_time_mono_ms();
    ob.answer_order[ob.answered++] = seq;
    if (ob.answered == sc.n_events)
        spw_source_finished(s->st);
}

static void src_tick(spw_timer *t, void *arg) {
    src *s = arg;
    (void)t;
    int burst = sc.submit_burst ? sc.submit_burst : sc.n_events;
    for (int i = 0; i < burst && s->next < sc.n_events && !s->paused; i++) {
        spw_event *ev = spw_event_new(1, 64);
        spw_event_set_op(ev, SPW_OP_WRITE, false);
        spw_event_set_namespace(ev, "test", 4);
        spw_event_set_generation(ev, (uint32_t)s->next);
        int64_t v = s->next;
        uint8_t be[8];
        for (int k = 0; k < 8; k++)
            be[k] = (uint8_t)((uint64_t)v >> (56 - 8 * k));
        spw_event_add_bin(ev, "seq", 3, SPW_PT_INTEGER, be, 8, 0);
        s->in_submit = true;
        spw_submit(s->st, ev, sc.ordered ? s->order : NULL, src_done, s);
        s->in_submit = false;
        s->next++;
        size_t inf = spw_in_flight(s->st);
        if (inf > ob.max_in_flight_seen)
            ob.max_in_flight_seen = inf;
    }
    if (s->next >= sc.n_events && sc.cancel_after && s->order) {
        spw_order_cancel(s->order);
        s->order = NULL;
        spw_source_finished(s->st);
    } else if (s->next < sc.n_events && !s->paused) {
        spw_timer_start(s->tick, 1, 0);
    }
}

static spw_result src_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    src *s = calloc(1, sizeof *s);
    s->st = st;
    s->order = spw_order_new(st);
    s->tick = spw_timer_new(st, src_tick, s);
    *inst = s;
    return SPW_OK;
}
static spw_result src_start(void *inst, spw_err *err) {
    (void)err;
    src *s = inst;
    ob.started_at = spw_time_mono_ms();
    spw_timer_start(s->tick, 0, 0);
    return SPW_OK;
}
static void src_pause(void *inst) {
    src *s = inst;
    s->paused = true;
    ob.paused++;
}
static void src_resume(void *inst) {
    src *s = inst;
    s->paused = false;
    ob.resumed++;
    spw_timer_start(s->tick, 0, 0);
}
static void src_stop(void *inst) { ((src *)inst)->paused = true; }
static void src_destroy(void *inst) {
    src *s = inst;
    spw_timer_free(s->tick);
    spw_order_cancel(s->order);
    free(s);
}
static const spw_source_ops src_ops = {src_start, src_pause, src_resume, src_stop, NULL};
static const spw_plugin src_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_SOURCE, "script", "1", "scripted source",
    NULL, 0, NULL, src_create, src_destroy, &src_ops, NULL, NULL, NULL, {0}};

/* ---- codec: the sequence number as text --------------------------------- */

static spw_result codec_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    (void)inst;
    (void)err;
    return spw_buf_printf(out, "%u\n", spw_event_generation(ev));
}
static const char *codec_ct(void *inst, bool batch) {
    (void)inst;
    (void)batch;
    return "text/plain";
}
static spw_result nop_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)st;
    (void)conf;
    (void)err;
    *inst = NULL;
    return SPW_OK;
}
static void nop_destroy(void *inst) { (void)inst; }
static const spw_codec_ops codec_ops = {codec_encode, NULL, codec_ct};
static const spw_plugin codec_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_CODEC, "seq", "1", "sequence codec",
    NULL, 0, NULL, nop_create, nop_destroy, NULL, NULL, &codec_ops, NULL, {0}};

/* ---- filter: skips every event ----------------------------------------- */

static spw_result filter_match(void *inst, const spw_event *ev) {
    (void)inst;
    (void)ev;
    return SPW_SKIP;
}
static const spw_filter_ops filter_ops = {filter_match};
static const spw_plugin filter_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_FILTER, "none", "1", "skips all",
    NULL, 0, NULL, nop_create, nop_destroy, NULL, &filter_ops, NULL, NULL, {0}};

/* ---- sinks: scripted outcomes, completed from a timer -------------------- */

typedef struct sink {
    spw_stage *st;
    int id;
    spw_timer *t;
    spw_batch *held[MAX_EV];
    int n_held;
} sink;

static int batch_seq(spw_batch *b, size_t i) { return (int)spw_event_generation(spw_batch_event(b, i)); }

static void sink_flush(spw_timer *t, void *arg) {
    sink *k = arg;
    (void)t;
    enum sink_mode m = sc.mode[k->id];
    int n = k->n_held;
    k->n_held = 0;
    for (int j = 0; j < n; j++) {
        /* SINK_REVERSE completes the newest first. */
        spw_batch *b = k->held[m == SINK_REVERSE ? n - 1 - j : j];
        spw_result r = SPW_OK;
        if (m == SINK_RETRY || m == SINK_HOLD)
            r = SPW_RETRY;
        else if (m == SINK_REJECT)
            r = SPW_REJECT;
        else if (m == SINK_RETRY_ONCE)
            r = spw_batch_attempt(b) == 1 ? SPW_RETRY : SPW_OK;
        spw_batch_done(b, r, r == SPW_REJECT ? "scripted reject" : NULL);
    }
}

static spw_result sink_send(void *inst, spw_batch *b, spw_err *err) {
    sink *k = inst;
    (void)err;
    ob.sink_calls[k->id]++;
    for (size_t i = 0; i < spw_batch_count(b); i++)
        ob.attempts[batch_seq(b, i)] = (int)spw_batch_attempt(b);
    if (sc.mode[k->id] == SINK_HOLD) {
        /* A destination slower than the deadline: gives the batches back much later. */
        k->held[k->n_held++] = b;
        spw_timer_start(k->t, 600, 0);
        return SPW_OK;
    }
    k->held[k->n_held++] = b;
    if (sc.mode[k->id] != SINK_REVERSE || k->n_held >= sc.reverse_at)
        spw_timer_start(k->t, 1, 0);
    return SPW_OK;
}

static int sink_ids;
static spw_result sink_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    sink *k = calloc(1, sizeof *k);
    k->st = st;
    k->id = sink_ids++;
    k->t = spw_timer_new(st, sink_flush, k);
    *inst = k;
    return SPW_OK;
}
static void sink_destroy(void *inst) {
    sink *k = inst;
    for (int j = 0; j < k->n_held; j++)
        spw_batch_done(k->held[j], SPW_RETRY, "shutting down");
    spw_timer_free(k->t);
    free(k);
}
static const spw_sink_ops sink_ops = {.send = sink_send, .default_concurrency = 64};
static const spw_plugin sink_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_SINK, "script", "1", "scripted sink",
    NULL, 0, NULL, sink_create, sink_destroy, NULL, NULL, NULL, &sink_ops, {0}};

/* ---- building and running a pipeline ----------------------------------- */

typedef struct opts {
    int sinks;
    bool filter_on_sink1;
    int64_t max_in_flight;
    int64_t deadline_ms;
    int64_t batch;
    int on_reject;
    const char *dead_letter;
} opts;

static spw__stage_def def(spw_kind kind, const char *title, const spw_plugin *pl) {
    spw__stage_def d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.title = strdup(title);
    d.name = strdup(strchr(title, '.') + 1);
    d.plugin = pl;
    d.conf = calloc(1, 1);
    return d;
}

static spw_result run(const opts *o) {
    sink_ids = 0;
    spw__pipeline *p = calloc(1, sizeof *p);
    p->path = strdup("<test>");
    p->conf.name = strdup("test");
    p->conf.workers = 1;
    p->conf.max_in_flight = o->max_in_flight ? o->max_in_flight : 1000;
    p->conf.event_deadline_ms = o->deadline_ms ? o->deadline_ms : 2000;
    p->conf.shutdown_timeout_ms = 1000;
    p->conf.dead_letter = o->dead_letter ? strdup(o->dead_letter) : NULL;
    p->defs = calloc(6, sizeof *p->defs);
    p->defs[p->n_defs++] = def(SPW_KIND_SOURCE, "source.s", &src_plugin);
    p->defs[p->n_defs++] = def(SPW_KIND_CODEC, "codec.c", &codec_plugin);
    p->defs[p->n_defs++] = def(SPW_KIND_FILTER, "filter.f", &filter_plugin);
    for (int i = 0; i < o->sinks; i++) {
        spw__stage_def d = def(SPW_KIND_SINK, i ? "sink.b" : "sink.a", &sink_plugin);
        d.codec = 1;
        d.sink.codec = strdup("c");
        d.sink.batch_max_records = o->batch ? o->batch : 1;
        d.sink.batch_max_bytes = 1 << 20;
        d.sink.batch_max_delay_ms = 5;
        d.sink.on_reject = o->on_reject;
        d.sink.retry_initial_ms = 10;
        d.sink.retry_max_ms = 50;
        if (i == 1 && o->filter_on_sink1) {
            d.n_filters = 1;
            d.filters = calloc(1, sizeof(size_t));
            d.filters[0] = 2;
        }
        p->defs[p->n_defs++] = d;
    }
    spw_err err = {""};
    spw_result r = spw__pipeline_run(p, &err);
    if (r != SPW_OK)
        diag("run failed: %s", err.msg);
    spw__pipeline_free(p);
    return r;
}

static int count_outcome(spw_result want) {
    int n = 0;
    for (int i = 0; i < sc.n_events; i++)
        n += ob.outcome[i] == want;
    return n;
}

int main(void) {
    spw__log_set_level(SPW_LOG_ERROR);

    /* Fan-out: both sinks must deliver before the answer; one answer per event. */
    reset();
    sc.n_events = 50;
    sc.mode[0] = SINK_OK;
    sc.mode[1] = SINK_OK;
    is_int(run(&(opts){.sinks = 2}), SPW_OK, "fan-out: pipeline runs to completion");
    is_int(ob.answered, 50, "fan-out: every event answered exactly once");
    is_int(count_outcome(SPW_OK), 50, "fan-out: all delivered");
    ok(ob.sink_calls[0] == 50 && ob.sink_calls[1] == 50, "fan-out: each sink saw every event (%d, %d)",
       ob.sink_calls[0], ob.sink_calls[1]);
    ok(!ob.called_in_submit, "answers never come from inside spw_submit");

    /* Worst outcome: one route retries -> the event is answered retry. */
    reset();
    sc.n_events = 20;
    sc.mode[0] = SINK_OK;
    sc.mode[1] = SINK_RETRY;
    run(&(opts){.sinks = 2, .deadline_ms = 300, .on_reject = SPW__REJECT_RETRY});
    is_int(count_outcome(SPW_RETRY), 20, "worst outcome: OK + RETRY answers retry");

    /* REJECT with on_reject = drop: answered reject (XDR abandons). */
    reset();
    sc.n_events = 10;
    sc.mode[0] = SINK_OK;
    sc.mode[1] = SINK_REJECT;
    run(&(opts){.sinks = 2, .on_reject = SPW__REJECT_DROP});
    is_int(count_outcome(SPW_REJECT), 10, "worst outcome: OK + REJECT(drop) answers reject");

    /* REJECT(drop) + RETRY: retry wins, nothing may be abandoned that another route wants again. */
    reset();
    sc.n_events = 10;
    sc.mode[0] = SINK_REJECT;
    sc.mode[1] = SINK_RETRY;
    run(&(opts){.sinks = 2, .deadline_ms = 300, .on_reject = SPW__REJECT_DROP});
    is_int(count_outcome(SPW_RETRY), 10, "worst outcome: REJECT(drop) + RETRY answers retry");

    /* REJECT with on_reject = retry. */
    reset();
    sc.n_events = 10;
    sc.mode[0] = SINK_REJECT;
    run(&(opts){.sinks = 1, .on_reject = SPW__REJECT_RETRY});
    is_int(count_outcome(SPW_RETRY), 10, "on_reject=retry answers retry");

    /* Deadline: a sink that never answers; every event answered retry at the deadline. */
    reset();
    sc.n_events = 30;
    sc.mode[0] = SINK_HOLD;
    run(&(opts){.sinks = 1, .deadline_ms = 200});
    is_int(count_outcome(SPW_RETRY), 30, "deadline: held events answered retry");
    {
        uint64_t first = UINT64_MAX, last = 0;
        for (int i = 0; i < 30; i++) {
            uint64_t d = ob.answered_at[i] - ob.started_at;
            first = d < first ? d : first;
            last = d > last ? d : last;
        }
        ok(first >= 199, "deadline: no answer before the deadline (first after %llu ms)",
           (unsigned long long)first);
        /* A correctness bound, not a speed target: the answer must come long before XDR's 10 s. */
        ok(last < 5000, "deadline: answered well before XDR gives up (last after %llu ms)",
           (unsigned long long)last);
    }

    /* Retry inside the deadline: first attempt retried, second delivered. */
    reset();
    sc.n_events = 20;
    sc.mode[0] = SINK_RETRY_ONCE;
    run(&(opts){.sinks = 1, .deadline_ms = 3000});
    is_int(count_outcome(SPW_OK), 20, "retry: events delivered on the second attempt");
    ok(ob.attempts[0] == 2 && ob.attempts[19] == 2, "retry: the sink saw attempt 2");

    /* Retry forever: bounded by the deadline, answered retry. */
    reset();
    sc.n_events = 5;
    sc.mode[0] = SINK_RETRY;
    run(&(opts){.sinks = 1, .deadline_ms = 400});
    is_int(count_outcome(SPW_RETRY), 5, "retry bounded by deadline: answered retry");
    ok(ob.attempts[0] >= 2, "retry bounded by deadline: retried at least once (%d attempts)", ob.attempts[0]);

    /* In-order release: the sink completes the newest first; answers still in order. */
    reset();
    sc.n_events = 40;
    sc.ordered = true;
    sc.mode[0] = SINK_REVERSE;
    sc.reverse_at = 40;
    run(&(opts){.sinks = 1});
    {
        bool in_order = ob.answered == 40;
        for (int i = 0; i < ob.answered; i++)
            in_order = in_order && ob.answer_order[i] == i;
        ok(in_order, "in-order: answers follow submission order although completion was reversed");
    }

    /* Without an order group, answers follow completion order (reversed). */
    reset();
    sc.n_events = 40;
    sc.mode[0] = SINK_REVERSE;
    sc.reverse_at = 40;
    run(&(opts){.sinks = 1});
    ok(ob.answered == 40 && ob.answer_order[0] == 39, "unordered: answers follow completion order");

    /* Cancelled order group: no answers at all, and the pipeline still ends. */
    reset();
    sc.n_events = 10;
    sc.ordered = true;
    sc.cancel_after = true;
    sc.mode[0] = SINK_OK;
    is_int(run(&(opts){.sinks = 1}), SPW_OK, "cancelled group: pipeline ends");
    is_int(ob.answered, 0, "cancelled group: no done callback after cancel");

    /* A filter that skips everything: answered OK at once, sink never called. */
    reset();
    sc.n_events = 10;
    sc.mode[1] = SINK_OK;
    sc.mode[0] = SINK_OK;
    run(&(opts){.sinks = 2, .filter_on_sink1 = true});
    is_int(count_outcome(SPW_OK), 10, "filtered route: answered OK");
    is_int(ob.sink_calls[1], 0, "filtered route: its sink saw nothing");

    /* Backpressure: the source pauses at the cap and resumes at the low-water mark. */
    reset();
    sc.n_events = 400;
    sc.submit_burst = 50;
    sc.mode[0] = SINK_OK;
    run(&(opts){.sinks = 1, .max_in_flight = 40});
    is_int(count_outcome(SPW_OK), 400, "backpressure: all delivered");
    ok(ob.paused > 0 && ob.resumed > 0, "backpressure: paused %d and resumed %d times", ob.paused, ob.resumed);
    ok(ob.max_in_flight_seen <= 40, "backpressure: in flight never above the cap (%zu)", ob.max_in_flight_seen);

    /* Batching: 100 events in batches of 10 */
    reset();
    sc.n_events = 100;
    sc.mode[0] = SINK_OK;
    run(&(opts){.sinks = 1, .batch = 10});
    is_int(count_outcome(SPW_OK), 100, "batching: all delivered");
    ok(ob.sink_calls[0] >= 10 && ob.sink_calls[0] < 100, "batching: %d requests for 100 events", ob.sink_calls[0]);

    /* Dead-letter: rejected events are written, then count as delivered. */
    {
        char dir[] = "/tmp/spw-ack-XXXXXX";
        ok(mkdtemp(dir) != NULL, "temp dir");
        char path[256];
        snprintf(path, sizeof path, "%s/dead.ndjson", dir);
        reset();
        sc.n_events = 25;
        sc.mode[0] = SINK_REJECT;
        run(&(opts){.sinks = 1, .on_reject = SPW__REJECT_DEAD_LETTER, .dead_letter = path});
        is_int(count_outcome(SPW_OK), 25, "dead-letter: rejected events answered OK once written");
        FILE *f = fopen(path, "r");
        int lines = 0;
        char line[4096];
        bool reason = true;
        while (f && fgets(line, sizeof line, f)) {
            lines++;
            reason = reason && strstr(line, "scripted reject") != NULL;
        }
        if (f)
            fclose(f);
        is_int(lines, 25, "dead-letter: one line per rejected event");
        ok(reason, "dead-letter: each line carries the sink's reason");
        unlink(path);
        rmdir(dir);
    }
    return tap_done();
}
