/*
 * tests/unit/test-retire.c: a reload replacing a source that has
 * spw_source_ops.retire (ABI 1.4), run with the real worker, generation,
 * route and ack code and in-process plugins.
 *
 * The scripted source submits its events in one order group, a few per
 * loop turn, honouring pause. Once part of them is submitted, it makes the
 * core reload from its own worker (spw__gen_build + spw__gen_commit, what
 * a reload command does) with the source's section changed: a new source
 * instance and a new sink instance take over. The old source instance
 * must get retire(), not stop(), go on submitting (its events must reach
 * the new sink), keep getting pause/resume, keep the pipeline running
 * while it has not finished (the new instance finishes at once), and be
 * destroyed only after it finished and every answer is out. Then: a
 * SIGTERM while the retired instance still submits (it gets stop(), every
 * event is answered), and a plugin built for ABI 1.3 that sets the field
 * (the core must not read it: stop()).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spillway/spillway.h>
#include "../tap.h"
#include "log.h"
#include "pipeline.h"
#include "worker.h"

#define MAX_EV 2000

static struct {
    int n_events;        /* events the first source instance submits; 0: until stopped */
    int reload_at;       /* submitted events that trigger the reload */
    bool stop_after;     /* send SIGTERM once this many more are submitted after the reload */
    int stop_at;
} sc;

static struct {
    int submitted, answered;
    int order_ok;                /* answers that came in submission order */
    int outcome_ok;
    int submit_failed;
    int retire_calls, stop_calls;
    int retired_at;              /* submitted when retire() or stop() came */
    int paused_after, resumed_after; /* pause/resume of the old instance after the reload */
    bool finished;               /* the old instance called spw_source_finished */
    bool destroyed;              /* the old instance's destroy() ran */
    bool destroyed_early;        /* ... before it finished or before its answers were out */
    int sink_seen[2];            /* events each sink instance (old, new) was lent */
    int new_sink_first;          /* lowest seq the new sink saw */
    bool reloaded;
    char reload_err[256];
} ob;

static spw__pipeline *cur; /* the running pipeline's, for the reload */
static spw__pipeline *next_defs;

/* ---- source ------------------------------------------------------------ */

typedef struct src {
    spw_stage *st;
    int gen;             /* 0: the first instance, 1: the one the reload made */
    spw_order *order;
    spw_timer *tick;
    bool paused, retired, stopped;
} src;

static int n_src;

static void reload_now(src *s);

static void maybe_finish(src *s) {
    if (s->gen == 0 && s->retired && !s->stopped && sc.n_events &&
        ob.answered == sc.n_events && !ob.finished) {
        ob.finished = true;
        spw_source_finished(s->st);
    }
}

static void src_done(spw_event *ev, spw_result r, void *arg) {
    src *s = arg;
    int seq = (int)spw_event_generation(ev);
    ob.order_ok += seq == ob.answered;
    ob.outcome_ok += r == SPW_OK;
    ob.answered++;
    maybe_finish(s);
}

static void src_tick(spw_timer *t, void *arg) {
    src *s = arg;
    (void)t;
    if (s->gen != 0)
        return;
    for (int i = 0; i < 4 && !s->paused && !s->stopped; i++) {
        if (sc.n_events && ob.submitted >= sc.n_events)
            break;
        if (ob.submitted >= MAX_EV)
            break;
        spw_event *ev = spw_event_new(1, 64);
        spw_event_set_op(ev, SPW_OP_WRITE, false);
        spw_event_set_namespace(ev, "test", 4);
        spw_event_set_generation(ev, (uint32_t)ob.submitted);
        if (spw_submit(s->st, ev, s->order, src_done, s) != SPW_OK) {
            ob.submit_failed++;
            break;
        }
        ob.submitted++;
        if (ob.submitted == sc.reload_at && !ob.reloaded)
            reload_now(s);
        if (sc.stop_after && ob.reloaded && ob.submitted == sc.stop_at)
            kill(getpid(), SIGTERM);
    }
    if (!s->paused && !s->stopped && (!sc.n_events || ob.submitted < sc.n_events) &&
        ob.submitted < MAX_EV)
        spw_timer_start(s->tick, 1, 0);
}

static spw_result src_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    src *s = calloc(1, sizeof *s);
    s->st = st;
    s->gen = n_src++;
    s->order = spw_order_new(st);
    s->tick = spw_timer_new(st, src_tick, s);
    *inst = s;
    return SPW_OK;
}
static spw_result src_start(void *inst, spw_err *err) {
    src *s = inst;
    (void)err;
    if (s->gen == 0)
        spw_timer_start(s->tick, 0, 0);
    else
        spw_source_finished(s->st); /* the new instance has nothing to do */
    return SPW_OK;
}
static void src_pause(void *inst) {
    src *s = inst;
    s->paused = true;
    if (s->gen == 0 && s->retired)
        ob.paused_after++;
}
static void src_resume(void *inst) {
    src *s = inst;
    s->paused = false;
    if (s->gen == 0 && s->retired)
        ob.resumed_after++;
    if (!s->stopped)
        spw_timer_start(s->tick, 0, 0);
}
static void src_stop(void *inst) {
    src *s = inst;
    s->stopped = true;
    if (s->gen == 0) {
        ob.stop_calls++;
        if (!s->retired)
            ob.retired_at = ob.submitted;
        s->retired = true;
    }
}
static void src_retire(void *inst) {
    src *s = inst;
    s->retired = true;
    ob.retire_calls++;
    ob.retired_at = ob.submitted;
    maybe_finish(s);
}
static void src_destroy(void *inst) {
    src *s = inst;
    if (s->gen == 0) {
        ob.destroyed = true;
        if ((!ob.finished && !s->stopped) || ob.answered != ob.submitted)
            ob.destroyed_early = true;
    }
    spw_timer_free(s->tick);
    spw_order_cancel(s->order);
    free(s);
}
static const spw_source_ops src_ops = {.start = src_start, .pause = src_pause,
                                       .resume = src_resume, .stop = src_stop,
                                       .retire = src_retire};
static const spw_plugin src_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_SOURCE, "script", "1", "scripted source",
    NULL, 0, NULL, src_create, src_destroy, &src_ops, NULL, NULL, NULL, {0}};
/* The same, as built for ABI 1.3 (before retire): the core must not read .retire. */
static const spw_plugin src_plugin_13 = {
    SPW_ABI_MAJOR, 3, sizeof(spw_plugin), SPW_KIND_SOURCE, "script", "1", "scripted source",
    NULL, 0, NULL, src_create, src_destroy, &src_ops, NULL, NULL, NULL, {0}};

/* ---- codec: the sequence number as text ------------------------------- */

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

/* ---- sink: delivers each batch on the next turns ------------------------ */

typedef struct sink {
    int id;
    spw_timer *t;
    spw_batch *held[MAX_EV];
    int n_held;
} sink;

static int n_sink;

static void sink_flush(spw_timer *t, void *arg) {
    sink *k = arg;
    (void)t;
    int n = k->n_held;
    k->n_held = 0;
    for (int j = 0; j < n; j++)
        spw_batch_done(k->held[j], SPW_OK, NULL);
}
static spw_result sink_send(void *inst, spw_batch *b, spw_err *err) {
    sink *k = inst;
    (void)err;
    for (size_t i = 0; i < spw_batch_count(b); i++) {
        int seq = (int)spw_event_generation(spw_batch_event(b, i));
        ob.sink_seen[k->id]++;
        if (k->id == 1 && (ob.new_sink_first < 0 || seq < ob.new_sink_first))
            ob.new_sink_first = seq;
    }
    k->held[k->n_held++] = b;
    spw_timer_start(k->t, 2, 0);
    return SPW_OK;
}
static spw_result sink_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    sink *k = calloc(1, sizeof *k);
    k->id = n_sink++ ? 1 : 0;
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

/* ---- pipelines ----------------------------------------------------------- */

static spw__stage_def def(spw_kind kind, const char *title, const spw_plugin *pl, const char *fp) {
    spw__stage_def d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.title = strdup(title);
    d.name = strdup(strchr(title, '.') + 1);
    d.plugin = pl;
    d.conf = calloc(1, 1);
    d.fingerprint = strdup(fp);
    return d;
}

/* source.s (fingerprint fp), codec.c, sink.a. */
static spw__pipeline *make(const spw_plugin *src_pl, const char *fp) {
    spw__pipeline *p = calloc(1, sizeof *p);
    p->path = strdup("<test>");
    p->conf.name = strdup("test");
    p->conf.workers = 1;
    p->conf.max_in_flight = 16; /* small: the retired source is paused and resumed */
    p->conf.event_deadline_ms = 5000;
    p->conf.shutdown_timeout_ms = 5000;
    p->defs = calloc(3, sizeof *p->defs);
    p->defs[p->n_defs++] = def(SPW_KIND_SOURCE, "source.s", src_pl, fp);
    p->defs[p->n_defs++] = def(SPW_KIND_CODEC, "codec.c", &codec_plugin, "c");
    spw__stage_def d = def(SPW_KIND_SINK, "sink.a", &sink_plugin, "a");
    d.codec = 1;
    d.sink.codec = strdup("c");
    d.sink.batch_max_records = 4;
    d.sink.batch_max_bytes = 1 << 20;
    d.sink.batch_max_delay_ms = 1;
    d.sink.on_reject = SPW__REJECT_RETRY;
    d.sink.retry_initial_ms = 10;
    d.sink.retry_max_ms = 50;
    p->defs[p->n_defs++] = d;
    return p;
}

/* What a reload command does on the worker, from the source's own tick. */
static void reload_now(src *s) {
    spw__worker *w = s->st->worker;
    spw__gen *g = NULL;
    spw_err err = {""};
    ob.reloaded = true;
    if (spw__gen_build(w, next_defs->defs, next_defs->n_defs, true, &g, &err) != SPW_OK) {
        snprintf(ob.reload_err, sizeof ob.reload_err, "%s", err.msg);
        return;
    }
    spw__gen_commit(w, g);
}

static spw_result run(const spw_plugin *src_pl) {
    memset(&ob, 0, sizeof ob);
    ob.new_sink_first = -1;
    n_src = n_sink = 0;
    cur = make(src_pl, "listen=1");
    next_defs = make(src_pl, "listen=1,2"); /* the source's section changed */
    cur->retired = next_defs; /* as a reload keeps them: freed with the pipeline */
    spw_err err = {""};
    spw_result r = spw__pipeline_run(cur, &err);
    if (r != SPW_OK)
        diag("run failed: %s", err.msg);
    spw__pipeline_free(cur);
    return r;
}

int main(void) {
    spw__log_set_level(SPW_LOG_ERROR);

    /* A reload mid-stream: the old instance keeps submitting through the new routes. */
    memset(&sc, 0, sizeof sc);
    sc.n_events = 600;
    sc.reload_at = 100;
    is_int(run(&src_plugin), SPW_OK, "retire: the pipeline runs to completion");
    ok(ob.reload_err[0] == '\0', "retire: the reload built (%s)", ob.reload_err);
    is_int(ob.retire_calls, 1, "retire: the old instance got retire()");
    is_int(ob.stop_calls, 0, "retire: ... and not stop()");
    is_int(ob.submit_failed, 0, "retire: every spw_submit of the retired instance was taken");
    is_int(ob.submitted, 600, "retire: it submitted all its events");
    is_int(ob.answered, 600, "retire: every event answered once");
    is_int(ob.order_ok, 600, "retire: in submission order");
    is_int(ob.outcome_ok, 600, "retire: all delivered");
    ok(ob.sink_seen[1] >= 600 - ob.retired_at && ob.new_sink_first >= 0 &&
           ob.new_sink_first >= ob.retired_at - 16,
       "retire: its events after the reload went to the new sink (%d of them, from seq %d; "
       "retired at %d)", ob.sink_seen[1], ob.new_sink_first, ob.retired_at);
    ok(ob.paused_after > 0 && ob.resumed_after > 0,
       "retire: flow control reached the retired instance (paused %d, resumed %d times)",
       ob.paused_after, ob.resumed_after);
    ok(ob.finished && ob.destroyed && !ob.destroyed_early,
       "retire: destroyed only after it finished and its answers were out");

    /* SIGTERM while the retired instance still submits: it is stopped like a running source. */
    memset(&sc, 0, sizeof sc);
    sc.n_events = 0; /* until stopped */
    sc.reload_at = 50;
    sc.stop_after = true;
    sc.stop_at = 150;
    is_int(run(&src_plugin), SPW_OK, "stop while serving: a clean stop");
    is_int(ob.retire_calls, 1, "stop while serving: retire() first");
    is_int(ob.stop_calls, 1, "stop while serving: then stop() at shutdown");
    ok(ob.submitted >= 150 && ob.answered == ob.submitted,
       "stop while serving: every event submitted was answered (%d of %d)", ob.answered,
       ob.submitted);
    is_int(ob.order_ok, ob.answered, "stop while serving: in order");
    ok(ob.destroyed && !ob.destroyed_early, "stop while serving: destroyed after its answers");

    /* A plugin built for ABI 1.3 may have anything past `stop`: the core calls stop(). */
    memset(&sc, 0, sizeof sc);
    sc.n_events = 300;
    sc.reload_at = 100;
    is_int(run(&src_plugin_13), SPW_OK, "ABI 1.3: the pipeline runs to completion");
    ok(ob.retire_calls == 0 && ob.stop_calls == 1, "ABI 1.3: stop(), not retire() (%d, %d)",
       ob.stop_calls, ob.retire_calls);
    ok(ob.answered == ob.submitted && ob.order_ok == ob.answered,
       "ABI 1.3: what it submitted before the stop was answered, in order (%d)", ob.answered);
    ok(ob.destroyed && !ob.destroyed_early, "ABI 1.3: destroyed after its answers");
    return tap_done();
}
