/*
 * tests/unit/test-contract.c: the sink contract, run for real.
 *
 * Like test-ack.c, each scenario builds a pipeline around plugins defined
 * in this file (a scripted source, a framing codec, a scripted filter and
 * a scripted sink) and runs it with the real worker, route and ack code.
 * What the sink does with each batch is the scenario's own function, so a
 * scenario can answer "too large", say the destination is down, hold
 * batches for a later confirmation, and look at what the core lends it.
 * The test lends the run its metrics registry and reads the counters,
 * gauges and histograms afterwards.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <spillway/spillway.h>
#include "../tap.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"

#define MAX_EV 4096 /* events a scenario follows one by one */
#define MAX_Q 1024  /* batches the sink keeps at once */

/* ---- scenario knobs and observations (worker thread only while running) -- */

typedef struct sink sink;

static struct {
    int n_events;          /* events the source submits */
    int submit_burst;      /* events per loop turn; 0 = all at once */
    void (*send)(sink *k, spw_batch *b);   /* what the sink does with a batch */
    void (*created)(sink *k);              /* after the sink instance is made */
    void (*aux)(sink *k);                  /* the sink's second timer fired */
    spw_result (*filter)(int seq);         /* the filter's answer; NULL = no filter */
} sc;

static struct {
    int answered;
    spw_result outcome[MAX_EV];
    uint64_t answered_at[MAX_EV];
    uint64_t started_at;
    int sends;                 /* batches lent to the sink */
    int seen[MAX_EV];          /* times each event was lent to the sink */
    int lent_now, lent_max;    /* batches with the sink, now and at most */
} ob;

/* The last run's pipeline and metrics: metric stage names are borrowed from its sections. */
static spw__pipeline *last;
static spw__metrics *metrics;

static void forget_last_run(void) {
    spw__metrics_free(metrics);
    metrics = NULL;
    if (last)
        last->metrics = NULL;
    spw__pipeline_free(last);
    last = NULL;
}

static void reset(void) {
    memset(&sc, 0, sizeof sc);
    memset(&ob, 0, sizeof ob);
}

static uint64_t since_start(void) { return spw_time_mono_ms() - ob.started_at; }

/* ---- source: n_events events, generation = sequence number --------------- */

typedef struct src {
    spw_stage *st;
    spw_timer *tick;
    int next;
    bool paused;
} src;

static void src_done(spw_event *ev, spw_result r, void *arg) {
    src *s = arg;
    int seq = (int)spw_event_generation(ev);
    if (seq < MAX_EV) {
        ob.outcome[seq] = r;
        ob.answered_at[seq] = since_start();
    }
    if (++ob.answered == sc.n_events)
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
        spw_event_add_bin(ev, "b", 1, SPW_PT_STRING, "x", 1, 0);
        spw_submit(s->st, ev, NULL, src_done, s);
        s->next++;
    }
    if (s->next < sc.n_events && !s->paused)
        spw_timer_start(s->tick, 1, 0);
}

static spw_result src_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    src *s = calloc(1, sizeof *s);
    s->st = st;
    s->tick = spw_timer_new(st, src_tick, s);
    *inst = s;
    return SPW_OK;
}
static spw_result src_start(void *inst, spw_err *err) {
    (void)err;
    ob.started_at = spw_time_mono_ms();
    spw_timer_start(((src *)inst)->tick, 0, 0);
    return SPW_OK;
}
static void src_pause(void *inst) { ((src *)inst)->paused = true; }
static void src_resume(void *inst) {
    src *s = inst;
    s->paused = false;
    spw_timer_start(s->tick, 0, 0);
}
static void src_stop(void *inst) { ((src *)inst)->paused = true; }
static void src_destroy(void *inst) {
    src *s = inst;
    spw_timer_free(s->tick);
    free(s);
}
static const spw_source_ops src_ops = {src_start, src_pause, src_resume, src_stop, NULL};
static const spw_plugin src_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_SOURCE, "script", "1", "scripted source",
    NULL, 0, NULL, src_create, src_destroy, &src_ops, NULL, NULL, NULL, {0}};

/* ---- codec: "SEQ," per record, a batch framed as "[...]" ------------------ */

static spw_result codec_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    (void)inst;
    (void)err;
    return spw_buf_printf(out, "%u,", spw_event_generation(ev));
}
static spw_result codec_frame(void *inst, const spw_slice *recs, size_t n, spw_buf *out,
                              spw_err *err) {
    (void)inst;
    (void)err;
    spw_result r = spw_buf_append(out, "[", 1);
    for (size_t i = 0; i < n && r == SPW_OK; i++)
        r = spw_buf_append(out, recs[i].ptr, recs[i].len);
    return r == SPW_OK ? spw_buf_append(out, "]", 1) : r;
}
static const char *codec_ct(void *inst, bool batch) {
    (void)inst;
    return batch ? "text/x-batch" : "text/x-record";
}
static spw_result nop_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)st;
    (void)conf;
    (void)err;
    *inst = NULL;
    return SPW_OK;
}
static void nop_destroy(void *inst) { (void)inst; }
static const spw_codec_ops codec_ops = {codec_encode, codec_frame, codec_ct};
static const spw_plugin codec_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_CODEC, "seq", "1", "sequence codec",
    NULL, 0, NULL, nop_create, nop_destroy, NULL, NULL, &codec_ops, NULL, {0}};

/* ---- filter: the scenario's answer per event ------------------------------ */

static spw_result filter_match(void *inst, const spw_event *ev) {
    (void)inst;
    return sc.filter((int)spw_event_generation(ev));
}
static const spw_filter_ops filter_ops = {filter_match};
static const spw_plugin filter_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_FILTER, "script", "1",
    "scripted filter", NULL, 0, NULL, nop_create, nop_destroy, NULL, &filter_ops, NULL, NULL, {0}};

/* ---- sink: the scenario decides; batches may be answered later ------------ */

typedef struct later {
    spw_batch *b;
    uint64_t due;
    spw_result r;
    const char *reason;
} later;

struct sink {
    spw_stage *st;
    spw_timer *t;
    later q[MAX_Q];
    int n;
    spw_timer *aux; /* a second timer for the scenario (sc.aux) */
    void *user; /* the scenario's state */
};

static int batch_seq(const spw_batch *b, size_t i) {
    return (int)spw_event_generation(spw_batch_event(b, i));
}

/* Gives a batch back with `r`, counting what the sink holds. */
static void give_back(spw_batch *b, spw_result r, const char *reason) {
    ob.lent_now--;
    spw_batch_done(b, r, reason);
}

/* Re-arms the timer for the earliest entry still waiting. */
static void sink_arm(sink *k) {
    uint64_t next = UINT64_MAX, now = since_start();
    for (int i = 0; i < k->n; i++)
        next = k->q[i].due < next ? k->q[i].due : next;
    if (next != UINT64_MAX)
        spw_timer_start(k->t, next > now ? next - now : 0, 0);
}

/* Answers due entries one by one, oldest first (an answer may queue more). */
static void sink_tick(spw_timer *t, void *arg) {
    sink *k = arg;
    (void)t;
    for (;;) {
        int i = 0;
        while (i < k->n && k->q[i].due > since_start())
            i++;
        if (i == k->n)
            break;
        later e = k->q[i];
        memmove(&k->q[i], &k->q[i + 1], (size_t)(k->n - i - 1) * sizeof k->q[0]);
        k->n--;
        give_back(e.b, e.r, e.reason);
    }
    sink_arm(k);
}

/* Answers b with r after `ms` (from the sink's timer, never from inside send). */
static void answer_later(sink *k, spw_batch *b, uint64_t ms, spw_result r, const char *reason) {
    k->q[k->n++] = (later){b, since_start() + ms, r, reason};
    sink_arm(k);
}

static void send_ok_later(sink *k, spw_batch *b) { answer_later(k, b, 1, SPW_OK, NULL); }

static spw_result sink_send(void *inst, spw_batch *b, spw_err *err) {
    sink *k = inst;
    (void)err;
    ob.sends++;
    if (++ob.lent_now > ob.lent_max)
        ob.lent_max = ob.lent_now;
    for (size_t i = 0; i < spw_batch_count(b); i++) {
        int seq = batch_seq(b, i);
        if (seq < MAX_EV)
            ob.seen[seq]++;
    }
    (sc.send ? sc.send : send_ok_later)(k, b);
    return SPW_OK;
}

static void sink_aux(spw_timer *t, void *arg) {
    (void)t;
    if (sc.aux)
        sc.aux(arg);
}

static spw_result sink_create(spw_stage *st, const void *conf, void **inst, spw_err *err) {
    (void)conf;
    (void)err;
    sink *k = calloc(1, sizeof *k);
    k->st = st;
    k->t = spw_timer_new(st, sink_tick, k);
    k->aux = spw_timer_new(st, sink_aux, k);
    *inst = k;
    if (sc.created)
        sc.created(k);
    return SPW_OK;
}
static void sink_destroy(void *inst) {
    sink *k = inst;
    /* A sink gives back every batch it still has, held ones included. */
    for (int i = 0; i < k->n; i++)
        give_back(k->q[i].b, SPW_RETRY, "shutting down");
    spw_timer_free(k->t);
    spw_timer_free(k->aux);
    free(k);
}
static const spw_sink_ops sink_ops = {.send = sink_send, .default_concurrency = 4};
static const spw_plugin sink_plugin = {
    SPW_ABI_MAJOR, SPW_ABI_MINOR, sizeof(spw_plugin), SPW_KIND_SINK, "script", "1", "scripted sink",
    NULL, 0, NULL, sink_create, sink_destroy, NULL, NULL, NULL, &sink_ops, {0}};

/* ---- building and running a pipeline ----------------------------------- */

typedef struct opts {
    int64_t max_in_flight;
    int64_t deadline_ms;
    int64_t batch;          /* batch_max_records */
    int64_t batch_bytes;
    int64_t batch_delay_ms;
    int64_t concurrency;
    int64_t max_held;
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
    spw__pipeline *p = calloc(1, sizeof *p);
    p->path = strdup("<test>");
    p->conf.name = strdup("test");
    p->conf.workers = 1;
    p->conf.max_in_flight = o->max_in_flight ? o->max_in_flight : 100000;
    p->conf.event_deadline_ms = o->deadline_ms ? o->deadline_ms : 3000;
    p->conf.shutdown_timeout_ms = 1000;
    p->conf.dead_letter = o->dead_letter ? strdup(o->dead_letter) : NULL;
    p->defs = calloc(4, sizeof *p->defs);
    p->defs[p->n_defs++] = def(SPW_KIND_SOURCE, "source.s", &src_plugin);
    p->defs[p->n_defs++] = def(SPW_KIND_CODEC, "codec.c", &codec_plugin);
    p->defs[p->n_defs++] = def(SPW_KIND_FILTER, "filter.f", &filter_plugin);
    spw__stage_def d = def(SPW_KIND_SINK, "sink.a", &sink_plugin);
    d.codec = 1;
    d.sink.codec = strdup("c");
    d.sink.batch_max_records = o->batch ? o->batch : 1;
    d.sink.batch_max_bytes = o->batch_bytes ? o->batch_bytes : 1 << 20;
    d.sink.batch_max_delay_ms = o->batch_delay_ms ? o->batch_delay_ms : 5;
    d.sink.concurrency = o->concurrency;
    d.sink.max_held = o->max_held;
    d.sink.on_reject = o->on_reject;
    d.sink.retry_initial_ms = 10;
    d.sink.retry_max_ms = 50;
    if (sc.filter) {
        d.n_filters = 1;
        d.filters = calloc(1, sizeof(size_t));
        d.filters[0] = 2;
    }
    p->defs[p->n_defs++] = d;

    forget_last_run();
    metrics = spw__metrics_new();
    p->metrics = metrics;
    last = p;
    spw_err err = {""};
    spw_result r = spw__pipeline_run(p, &err);
    if (r != SPW_OK)
        diag("run failed: %s", err.msg);
    return r;
}

/* A metric of the last run, merged over workers; -1 when it does not exist. */
static int64_t metric(const char *stage, const char *name) {
    int64_t v = -1;
    if (!spw__metrics_value(metrics, stage, name, &v))
        return -1;
    return v;
}

/* A histogram of the last run, merged over workers. */
typedef struct hist {
    bool found;
    uint64_t count;
    double sum, p50, p99;
} hist;

static hist hist_got;
static const char *hist_stage, *hist_name;

static void hist_cb(const spw__metric_view *v, void *arg) {
    (void)arg;
    if (v->type == SPW__METRIC_HISTOGRAM && strcmp(v->stage, hist_stage) == 0 &&
        strcmp(v->name, hist_name) == 0)
        hist_got = (hist){true, v->count, v->sum, spw__metrics_quantile(v, 0.5),
                          spw__metrics_quantile(v, 0.99)};
}

static hist histogram(const char *stage, const char *name) {
    memset(&hist_got, 0, sizeof hist_got);
    hist_stage = stage;
    hist_name = name;
    spw__metrics_visit(metrics, hist_cb, NULL);
    return hist_got;
}

/* The log of a run, captured in a file: start before run(), take after. */
static char log_path[64];

static void log_start(spw_log_level level) {
    snprintf(log_path, sizeof log_path, "/tmp/spw-contract-XXXXXX");
    int fd = mkstemp(log_path);
    if (fd >= 0)
        close(fd);
    spw_err err;
    spw__log_setup(level, SPW__LOG_TEXT, log_path, &err);
}

/* The captured text (owned by caller); logging goes back to stderr, errors only. */
static char *log_take(void) {
    spw_err err;
    spw__log_setup(SPW_LOG_ERROR, SPW__LOG_TEXT, NULL, &err);
    FILE *f = fopen(log_path, "r");
    size_t cap = 1 << 20, len = 0;
    char *text = calloc(1, cap);
    if (f) {
        len = fread(text, 1, cap - 1, f);
        fclose(f);
    }
    text[len] = '\0';
    unlink(log_path);
    return text;
}

static int count_lines(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int count_outcome(spw_result want) {
    int n = 0;
    for (int i = 0; i < sc.n_events && i < MAX_EV; i++)
        n += ob.outcome[i] == want;
    return n;
}

/* ---- a batch of 100,000 records on a small stack ---------------------------- */

static void send_ok_now(sink *k, spw_batch *b) {
    (void)k;
    give_back(b, SPW_OK, NULL);
}

/*
 * The route once sized stack arrays by the batch (bool keep[n]); a batch
 * may hold a million records. Worker threads take their stack size from
 * RLIMIT_STACK, so a 64 KiB limit makes a 100,000-record batch overflow
 * such an array at once, while the route's own code fits easily.
 */
static void test_big_batch(void) {
    enum { N = 100000 };
    struct rlimit old, small;
    getrlimit(RLIMIT_STACK, &old);
    small = old;
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's redzones need more stack than the code does. */
    small.rlim_cur = 1 << 20;
#else
    small.rlim_cur = 64 << 10;
#endif
    setrlimit(RLIMIT_STACK, &small);

    reset();
    sc.n_events = N;
    sc.send = send_ok_now;
    is_int(run(&(opts){.batch = N, .batch_delay_ms = 1000, .max_in_flight = 2 * N,
                       .deadline_ms = 20000}),
           SPW_OK, "big batch: the pipeline runs on a small worker stack");
    setrlimit(RLIMIT_STACK, &old);
    is_int(ob.answered, N, "big batch: every event answered");
    is_int(metric("sink.a", "delivered"), N, "big batch: all %d delivered", N);
    is_int(ob.sends, 1, "big batch: in one request");
}

/* ---- the core's own gauges and histograms ---------------------------------- */

static int64_t in_flight_seen;
static size_t body_bytes_sent;

static void send_count_later(sink *k, spw_batch *b) {
    int64_t v = metric("pipeline", "in_flight");
    if (v > in_flight_seen)
        in_flight_seen = v;
    body_bytes_sent += spw_batch_body(b).len;
    answer_later(k, b, 20, SPW_OK, NULL);
}

static void test_core_metrics(void) {
    reset();
    in_flight_seen = 0;
    body_bytes_sent = 0;
    sc.n_events = 30;
    sc.send = send_count_later;
    run(&(opts){.batch = 10, .batch_delay_ms = 1000});
    is_int(ob.answered, 30, "metrics: every event answered");
    is_int(in_flight_seen, 30, "metrics: the in_flight gauge showed the 30 events while they were out");
    is_int(metric("pipeline", "in_flight"), 0, "metrics: and 0 once they were released");
    hist h = histogram("pipeline", "answer_latency_seconds");
    ok(h.found && h.count == 30, "metrics: one answer latency per answered event (%llu)",
       (unsigned long long)h.count);
    /* Each batch is answered 20 ms after it is sent: no answer can come sooner. */
    ok(h.p50 >= 0.016 && h.p99 < 4, "metrics: latencies in the right buckets (p50 %g s, p99 %g s)",
       h.p50, h.p99);
    h = histogram("sink.a", "batch_records");
    ok(h.found && h.count == 3 && h.sum == 30 && h.p50 == 10,
       "metrics: batch_records saw 3 requests of 10 (count %llu, sum %g, p50 %g)",
       (unsigned long long)h.count, h.sum, h.p50);
    h = histogram("sink.a", "batch_bytes");
    ok(h.found && h.count == 3 && h.sum == (double)body_bytes_sent,
       "metrics: batch_bytes summed the framed bodies (%g of %zu bytes)", h.sum, body_bytes_sent);
}

/* ---- filters: ok passes, skip drops, anything else is a filter error ------- */

static spw_result filter_by_seq(int seq) {
    static const spw_result answers[] = {SPW_OK, SPW_SKIP, SPW_REJECT, SPW_RETRY, SPW_ERR_INVAL};
    return answers[seq % 5];
}

static void test_filters(void) {
    reset();
    sc.n_events = 50;
    sc.filter = filter_by_seq;
    log_start(SPW_LOG_WARN);
    run(&(opts){0});
    char *log = log_take();
    is_int(count_outcome(SPW_OK), 50, "filters: every event answered delivered");
    bool skipped_unseen = true, others_seen = true;
    for (int i = 0; i < 50; i++) {
        if (i % 5 == 1)
            skipped_unseen = skipped_unseen && ob.seen[i] == 0;
        else
            others_seen = others_seen && ob.seen[i] == 1;
    }
    ok(skipped_unseen, "filters: SPW_SKIP keeps the event off the route (answered at once)");
    ok(others_seen, "filters: SPW_OK, and REJECT, RETRY or an error (filter errors), pass the event on");
    is_int(metric("filter.f", "filter_errors"), 30, "filters: the 30 other answers are filter errors");
    is_int(metric("sink.a", "delivered"), 40, "filters: the sink delivered the 40 that passed");
    is_int(count_lines(log, "neither ok nor skip"), 1,
           "filters: 30 filter errors within a second make one log line");
    has_str(log, "filter answered rejected (2)", "filters: the line names the answer");
    has_str(log, "[filter.f]", "filters: and the filter");
    free(log);
}

/* ---- too large: split, reframe, reject alone ------------------------------- */

static int order_seen[MAX_EV], n_order; /* delivered events, in the order the sink took them */
static int too_large_answers;           /* batches of more than one answered SPW_TOO_LARGE */
static bool bodies_framed, attempts_first;

/* The body the codec frames for b's records: "[" records "]". */
static bool body_is_frame(const spw_batch *b) {
    char want[8192];
    size_t n = 0;
    want[n++] = '[';
    for (size_t i = 0; i < spw_batch_count(b); i++) {
        spw_slice rec = spw_batch_record(b, i);
        memcpy(want + n, rec.ptr, rec.len);
        n += rec.len;
    }
    want[n++] = ']';
    spw_slice body = spw_batch_body(b);
    return body.len == n && memcmp(body.ptr, want, n) == 0;
}

/* A destination taking at most 4 records per request, and never event 5. */
static void send_capped(sink *k, spw_batch *b) {
    (void)k;
    size_t n = spw_batch_count(b);
    bool has5 = false;
    for (size_t i = 0; i < n; i++)
        has5 = has5 || batch_seq(b, i) == 5;
    bodies_framed = bodies_framed && body_is_frame(b);
    attempts_first = attempts_first && spw_batch_attempt(b) == 1;
    if (n > 4 || has5) {
        too_large_answers += n > 1;
        give_back(b, SPW_TOO_LARGE, "body over the test cap");
        return;
    }
    for (size_t i = 0; i < n; i++)
        order_seen[n_order++] = batch_seq(b, i);
    give_back(b, SPW_OK, NULL);
}

static void test_too_large_split(void) {
    reset();
    n_order = too_large_answers = 0;
    bodies_framed = attempts_first = true;
    sc.n_events = 12;
    sc.send = send_capped;
    log_start(SPW_LOG_WARN);
    run(&(opts){.batch = 12, .batch_delay_ms = 1000, .concurrency = 1,
                .on_reject = SPW__REJECT_DROP});
    char *log = log_take();
    is_int(ob.answered, 12, "too large: every event answered");
    is_int(count_outcome(SPW_OK), 11, "too large: the 11 that fit a smaller request are delivered");
    is_int(ob.outcome[5], SPW_REJECT, "too large: the record refused alone is rejected (on_reject = drop)");
    has_str(log, "too large: body over the test cap", "too large: rejected with the reason \"too large: ...\"");
    is_int(metric("sink.a", "splits"), too_large_answers,
           "too large: one split per batch of several refused (%d)", too_large_answers);
    ok(ob.sends <= 2 * 12 - 1, "too large: at most 2n-1 requests for n records (%d)", ob.sends);
    ok(bodies_framed, "too large: every half is framed again by the codec");
    ok(attempts_first, "too large: a half is a new request (attempt 1), not a retry");
    is_int(metric("sink.a", "request_retries"), 0, "too large: splits are not counted as retries");
    bool in_order = n_order == 11;
    for (int i = 1; i < n_order; i++)
        in_order = in_order && order_seen[i] > order_seen[i - 1];
    ok(in_order, "too large: with concurrency 1 the halves go out in order, before newer batches");
    is_int(metric("sink.a", "rejected"), 1, "too large: one rejection counted");
    free(log);
}

static void send_one_too_large(sink *k, spw_batch *b) {
    (void)k;
    for (size_t i = 0; i < spw_batch_count(b); i++)
        if (batch_seq(b, i) == 2)
            spw_batch_set_result(b, i, SPW_TOO_LARGE, "record over 1 MB");
    give_back(b, SPW_OK, NULL);
}

static void test_too_large_record(void) {
    reset();
    sc.n_events = 5;
    sc.send = send_one_too_large;
    log_start(SPW_LOG_WARN);
    run(&(opts){.batch = 5, .batch_delay_ms = 1000, .on_reject = SPW__REJECT_DROP});
    char *log = log_take();
    is_int(count_outcome(SPW_OK), 4, "too large record: the others are delivered");
    is_int(ob.outcome[2], SPW_REJECT, "too large record: that record alone is rejected");
    has_str(log, "too large: record over 1 MB", "too large record: with the sink's reason");
    is_int(ob.sends, 1, "too large record: nothing is split or sent again");
    is_int(metric("sink.a", "splits"), 0, "too large record: no split counted");
    free(log);
}

static void send_too_large_late(sink *k, spw_batch *b) {
    answer_later(k, b, 400, SPW_TOO_LARGE, "answered after the deadline");
}

static void test_too_large_deadline(void) {
    reset();
    sc.n_events = 8;
    sc.send = send_too_large_late;
    run(&(opts){.batch = 8, .batch_delay_ms = 1000, .deadline_ms = 200});
    is_int(count_outcome(SPW_RETRY), 8, "too large late: events answered retry at their deadline");
    is_int(ob.sends, 1, "too large late: no split is sent after the deadline");
    is_int(metric("sink.a", "splits"), 0, "too large late: no split counted");
    is_int(metric("sink.a", "rejected"), 0, "too large late: nothing rejected either");
}

/* ---- destination down: hold, one probe at a time, resume -------------------- */

static struct {
    int phase;               /* 0 up, 1..3 down (probe n expected), 4 up again */
    uint64_t t_down;
    uint64_t probe_at[4];
    int probes;
    int lent_while_down;     /* most batches with the sink while down */
    int lent_after_up;       /* most batches with the sink once up again */
    int64_t gauge_down, gauge_routes;
} dn;

static void send_down(sink *k, spw_batch *b) {
    uint64_t now = since_start();
    if (dn.phase == 0) {
        /* The first request finds the destination refusing connections. */
        dn.phase = 1;
        dn.t_down = now;
        spw_sink_down(k->st, 100, "connection refused");
        give_back(b, SPW_RETRY, "connection refused");
        return;
    }
    if (dn.phase >= 1 && dn.phase <= 3) {
        dn.probe_at[dn.probes++] = now;
        if (ob.lent_now > dn.lent_while_down)
            dn.lent_while_down = ob.lent_now;
        dn.gauge_down = metric("sink.a", "destination_down");
        dn.gauge_routes = metric("pipeline", "routes_down");
        if (dn.phase == 1) {
            /* Probe 1 fails with a plain retry: still down, next probe after the same wait. */
            dn.phase = 2;
            answer_later(k, b, 10, SPW_RETRY, "timeout");
        } else if (dn.phase == 2) {
            /* Probe 2: the sink says down again, before answering. */
            dn.phase = 3;
            spw_sink_down(k->st, 100, "still refused");
            answer_later(k, b, 10, SPW_RETRY, "still refused");
        } else {
            /* Probe 3 is delivered: the route resumes. */
            dn.phase = 4;
            answer_later(k, b, 10, SPW_OK, NULL);
        }
        return;
    }
    if (ob.lent_now > dn.lent_after_up)
        dn.lent_after_up = ob.lent_now;
    answer_later(k, b, 20, SPW_OK, NULL);
}

static void test_down_probe(void) {
    reset();
    memset(&dn, 0, sizeof dn);
    sc.n_events = 40;
    sc.send = send_down;
    log_start(SPW_LOG_INFO);
    run(&(opts){.concurrency = 4});
    char *log = log_take();
    is_int(count_outcome(SPW_OK), 40, "down: every event delivered once the destination is back");
    is_int(dn.probes, 3, "down: three probes (retry, down again, delivered)");
    ok(dn.probes == 3 && dn.probe_at[0] >= dn.t_down + 95,
       "down: nothing is sent before the first probe is due (%llu ms after the down)",
       (unsigned long long)(dn.probe_at[0] - dn.t_down));
    ok(dn.probes == 3 && dn.probe_at[1] >= dn.probe_at[0] + 95,
       "down: a probe answered retry waits probe_after_ms for the next (%llu ms)",
       (unsigned long long)(dn.probe_at[1] - dn.probe_at[0]));
    ok(dn.probes == 3 && dn.probe_at[2] >= dn.probe_at[1] + 95,
       "down: down again during a probe holds the route again (%llu ms)",
       (unsigned long long)(dn.probe_at[2] - dn.probe_at[1]));
    is_int(dn.lent_while_down, 1, "down: exactly one batch (the probe) with the sink while down");
    is_int(dn.lent_after_up, 4, "down: once a probe is delivered, full concurrency (4) again");
    is_int(dn.gauge_down, 1, "down: the route's destination_down gauge is 1 while down");
    is_int(dn.gauge_routes, 1, "down: the pipeline's routes_down gauge is 1 while down");
    is_int(metric("sink.a", "destination_down"), 0, "down: and 0 after");
    is_int(metric("pipeline", "routes_down"), 0, "down: routes_down 0 after");
    is_int(metric("sink.a", "down_transitions"), 1, "down: one transition counted, not one per probe");
    is_int(count_lines(log, "destination down ("), 1, "down: logged once when it went down");
    is_int(count_lines(log, "destination up again"), 1, "down: logged once when it came back");
    has_str(log, "connection refused", "down: the log line carries the sink's reason");
    free(log);
}

static void aux_up(sink *k) { spw_sink_up(k->st); }

static void send_down_then_up(sink *k, spw_batch *b) {
    if (dn.phase == 0) {
        dn.phase = 1;
        dn.t_down = since_start();
        /* A long probe interval: only spw_sink_up can end this hold in time. */
        spw_sink_down(k->st, 60000, "every endpoint out of rotation");
        spw_timer_start(k->aux, 50, 0);
        give_back(b, SPW_RETRY, "every endpoint out of rotation");
        return;
    }
    if (dn.phase == 1) {
        dn.phase = 2;
        dn.probe_at[0] = since_start();
    }
    answer_later(k, b, 1, SPW_OK, NULL);
}

static void test_down_up(void) {
    reset();
    memset(&dn, 0, sizeof dn);
    sc.n_events = 10;
    sc.send = send_down_then_up;
    sc.aux = aux_up;
    log_start(SPW_LOG_INFO);
    run(&(opts){.concurrency = 2});
    char *log = log_take();
    is_int(count_outcome(SPW_OK), 10, "down/up: every event delivered");
    ok(dn.probe_at[0] >= dn.t_down + 45 && dn.probe_at[0] < dn.t_down + 2000,
       "down/up: sending resumes when the sink calls up (%llu ms), not at the probe",
       (unsigned long long)(dn.probe_at[0] - dn.t_down));
    has_str(log, "destination up again", "down/up: the transition is logged");
    has_str(log, "the sink says so", "down/up: saying why");
    free(log);
}

/* ---- held batches: out of concurrency, capped, safe past the deadline ------- */

static struct {
    int refused;            /* spw_batch_hold answered SPW_ERR_NOSPACE */
    int64_t held_max;       /* the batches_held gauge, at most */
    bool failed_once;       /* event 0's first confirmation said "failed" */
    int sends_while_probe_held;
    bool probe_held;
    int given_back_in_destroy;
} hd;

static void note_held(void) {
    int64_t g = metric("sink.a", "batches_held");
    if (g > hd.held_max)
        hd.held_max = g;
}

/* Splunk HEC style: delivered now, confirmed (or not) 60 ms later. */
static void send_hold(sink *k, spw_batch *b) {
    spw_result h = spw_batch_hold(b);
    if (h == SPW_ERR_NOSPACE)
        hd.refused++;
    note_held();
    if (batch_seq(b, 0) == 0 && !hd.failed_once) {
        hd.failed_once = true;
        answer_later(k, b, 60, SPW_RETRY, "indexer acknowledgement: failed");
        return;
    }
    answer_later(k, b, 60, SPW_OK, NULL);
}

static void test_held(void) {
    reset();
    memset(&hd, 0, sizeof hd);
    sc.n_events = 20;
    sc.send = send_hold;
    run(&(opts){.concurrency = 1, .max_held = 3});
    is_int(count_outcome(SPW_OK), 20, "held: every event delivered once confirmed");
    is_int(ob.lent_max, 4, "held: 1 in progress plus 3 held with the sink at once (concurrency + max_held)");
    is_int(hd.held_max, 3, "held: the batches_held gauge reached max_held and no more");
    ok(hd.refused > 0, "held: beyond max_held, spw_batch_hold says SPW_ERR_NOSPACE (%d times)", hd.refused);
    is_int(ob.seen[0], 2, "held: a held batch given back retry is sent again");
    is_int(metric("sink.a", "batches_held"), 0, "held: the gauge is 0 once all are given back");
    is_int(metric("sink.a", "late_outcomes"), 0, "held: nothing came back late");
}

static void send_hold_late(sink *k, spw_batch *b) {
    spw_batch_hold(b);
    answer_later(k, b, 400, SPW_OK, NULL);
}

static void test_held_late(void) {
    reset();
    sc.n_events = 6;
    sc.send = send_hold_late;
    /* 2 in progress and 4 held: all 6 are out before the deadline. */
    is_int(run(&(opts){.concurrency = 2, .max_held = 4, .deadline_ms = 200}), SPW_OK,
           "held late: the pipeline ends cleanly");
    is_int(count_outcome(SPW_RETRY), 6, "held late: events answered retry at their deadline");
    bool at_deadline = true;
    for (int i = 0; i < 6; i++)
        at_deadline = at_deadline && ob.answered_at[i] >= 195 && ob.answered_at[i] < 390;
    ok(at_deadline, "held late: answered at the deadline, not when the batch came back");
    is_int(metric("sink.a", "late_outcomes"), 6, "held late: each late event counted once");
    is_int(metric("sink.a", "delivered"), 6, "held late: and counted delivered, as the sink said");
    is_int(metric("pipeline", "answered_retry"), 6, "held late: answered once each (retry)");
    is_int(metric("pipeline", "in_flight"), 0, "held late: released once given back");
    is_int(metric("sink.a", "batches_held"), 0, "held late: nothing held at the end");
}

static void send_hold_probe(sink *k, spw_batch *b) {
    if (dn.phase == 0) {
        dn.phase = 1;
        spw_sink_down(k->st, 50, "connection refused");
        give_back(b, SPW_RETRY, "connection refused");
        return;
    }
    if (dn.phase == 1) {
        /* The probe's body is taken; its confirmation comes much later. */
        dn.phase = 2;
        hd.probe_held = spw_batch_hold(b) == SPW_OK;
        answer_later(k, b, 300, SPW_OK, NULL);
        return;
    }
    hd.sends_while_probe_held += k->n > 0 && ob.lent_now > 1;
    answer_later(k, b, 1, SPW_OK, NULL);
}

static void test_held_probe(void) {
    reset();
    memset(&dn, 0, sizeof dn);
    memset(&hd, 0, sizeof hd);
    sc.n_events = 10;
    sc.send = send_hold_probe;
    log_start(SPW_LOG_INFO);
    run(&(opts){.concurrency = 2});
    char *log = log_take();
    ok(hd.probe_held, "held probe: the probe can be held");
    ok(hd.sends_while_probe_held > 0,
       "held probe: the route resumes while the probe is still held (%d sends)",
       hd.sends_while_probe_held);
    has_str(log, "a probe was accepted and held", "held probe: the transition says why");
    is_int(count_outcome(SPW_OK), 10, "held probe: every event delivered");
    free(log);
}

/* Holds every batch and never confirms: only the shutdown ends it. */
static void send_hold_forever(sink *k, spw_batch *b) {
    spw_batch_hold(b);
    answer_later(k, b, 3600000, SPW_OK, NULL);
    if (ob.sends == 1)
        spw_timer_start(k->aux, 100, 0);
}

static void aux_sigterm(sink *k) {
    (void)k;
    kill(getpid(), SIGTERM);
}

static void test_held_destroy(void) {
    reset();
    sc.n_events = 4;
    sc.send = send_hold_forever;
    sc.aux = aux_sigterm;
    /* Every run ends with SIGTERM blocked (a late one must not kill a clean exit): unblock it. */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &term, NULL);
    log_start(SPW_LOG_ERROR);
    is_int(run(&(opts){.concurrency = 1, .max_held = 8}), SPW_OK,
           "held at shutdown: the pipeline stops on SIGTERM");
    char *log = log_take();
    is_int(count_outcome(SPW_RETRY), 4, "held at shutdown: held events answered retry");
    is_int(ob.lent_now, 0, "held at shutdown: the sink gave back every held batch in destroy");
    is_int(metric("sink.a", "batches_held"), 0, "held at shutdown: none left held");
    ok(!strstr(log, "after destroy"), "held at shutdown: the core saw every batch come back");
    free(log);
}

/* ---- the route's limits, as the sink sees them ------------------------------- */

static spw_limits lim_create, lim_batch;

static void created_limits(sink *k) { lim_create = spw_sink_limits(k->st); }

static void send_limits(sink *k, spw_batch *b) {
    lim_batch = spw_batch_limits(b);
    answer_later(k, b, 1, SPW_OK, NULL);
}

static bool limits_are(spw_limits l, uint64_t recs, uint64_t bytes, uint64_t delay, uint32_t conc,
                       uint32_t held) {
    bool zero = true;
    for (size_t i = 0; i < sizeof l.reserved / sizeof l.reserved[0]; i++)
        zero = zero && l.reserved[i] == 0;
    return l.max_records == recs && l.max_bytes == bytes && l.max_delay_ms == delay &&
           l.concurrency == conc && l.max_held == held && zero;
}

static void test_limits(void) {
    reset();
    memset(&lim_create, 0, sizeof lim_create);
    memset(&lim_batch, 0, sizeof lim_batch);
    sc.n_events = 3;
    sc.created = created_limits;
    sc.send = send_limits;
    run(&(opts){.batch = 7, .batch_bytes = 12345, .batch_delay_ms = 30, .concurrency = 3,
                .max_held = 5});
    ok(limits_are(lim_create, 7, 12345, 30, 3, 5),
       "limits: spw_sink_limits in create() gives the section's values (%llu, %llu, %llu, %u, %u)",
       (unsigned long long)lim_create.max_records, (unsigned long long)lim_create.max_bytes,
       (unsigned long long)lim_create.max_delay_ms, lim_create.concurrency, lim_create.max_held);
    ok(limits_are(lim_batch, 7, 12345, 30, 3, 5), "limits: spw_batch_limits gives the same");

    reset();
    sc.n_events = 1;
    sc.send = send_limits;
    run(&(opts){.batch_delay_ms = 30});
    ok(limits_are(lim_batch, 1, 1 << 20, 30, 4, 4),
       "limits: defaults: the sink's default concurrency (4), max_held as many (%u, %u)",
       lim_batch.concurrency, lim_batch.max_held);
    ok(limits_are(spw_sink_limits(NULL), 0, 0, 0, 0, 0), "limits: NULL stage: all zero");
}

/* ---- spw_log_limited: one line a second, the rest counted ------------------ */

static void log_limited_created(sink *k) {
    spw_log_limit lim = {0};
    /* One loop turn: the loop's clock stands still, so only the first is written. */
    for (int i = 0; i < 5; i++)
        spw_log_limited(k->st, &lim, SPW_LOG_WARN, "limited line %d", i);
    /* A second has gone by (as far as the limit can tell): the next line is written,
     * with the count of those held back. */
    lim.last_ms -= 1000;
    spw_log_limited(k->st, &lim, SPW_LOG_WARN, "limited line %d", 5);
    spw_log_limited(k->st, &lim, SPW_LOG_INFO, "limited line %d", 6);
}

static void test_log_limited(void) {
    reset();
    sc.n_events = 1;
    sc.send = send_ok_now;
    sc.created = log_limited_created;
    log_start(SPW_LOG_INFO);
    run(&(opts){.batch = 1});
    char *text = log_take();
    is_int(count_lines(text, "limited line"), 2, "log_limited: 2 of 7 lines written");
    ok(strstr(text, "limited line 0") && !strstr(text, "limited line 0 (") &&
           strstr(text, "limited line 5 (4 similar lines suppressed)") &&
           !strstr(text, "limited line 6"),
       "log_limited: the first as is, the next after a second with the count held back\n%s", text);
    free(text);
}

int main(void) {
    spw__log_set_level(SPW_LOG_ERROR);
    test_log_limited();
    test_big_batch();
    test_core_metrics();
    test_filters();
    test_too_large_split();
    test_too_large_record();
    test_too_large_deadline();
    test_down_probe();
    test_down_up();
    test_held();
    test_held_late();
    test_held_probe();
    test_held_destroy();
    test_limits();
    forget_last_run();
    return tap_done();
}
