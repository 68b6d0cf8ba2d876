/*
 * tests/unit/test-metrics.c: the metric registry on its own: counters,
 * gauges and histograms, twins on several workers merged, registration
 * refusals, bucket placement and presets, the stats line, and the SDK's
 * registration rules (names, the core's own names) through a stage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../tap.h"
#include "log.h"
#include "metrics.h"
#include "stage.h"
#include "worker.h"

struct visit_log {
    char text[2048];
    size_t pos;
};

static void record(const spw__metric_view *v, void *arg) {
    struct visit_log *l = arg;
    l->pos += (size_t)snprintf(l->text + l->pos, sizeof l->text - l->pos, "%s%s/%s", l->pos ? " " : "",
                               v->stage, v->name);
}

static void test_counters_gauges(void) {
    spw__metrics *m = spw__metrics_new();
    /* Two workers register the same metrics of one stage: twins. */
    spw_counter *c1 = spw__metrics_register(m, "sink.a", "events", "h");
    spw_gauge *g1 = spw__metrics_gauge(m, "sink.a", "open", "h");
    spw_counter *c2 = spw__metrics_register(m, "sink.a", "events", "h");
    spw_gauge *g2 = spw__metrics_gauge(m, "sink.a", "open", "h");
    ok(c1 && c2 && g1 && g2 && (void *)c1 != (void *)c2, "twins register as separate instances");
    spw_counter_add(c1, 3);
    spw_counter_add(c2, 4);
    spw_gauge_set(g1, 10);
    spw_gauge_add(g1, -3);
    spw_gauge_add(g2, -2);
    int64_t v = 0;
    ok(spw__metrics_value(m, "sink.a", "events", &v) && v == 7, "counters are summed over workers (%lld)",
       (long long)v);
    ok(spw__metrics_value(m, "sink.a", "open", &v) && v == 5,
       "gauges are summed over workers, negative shares included (%lld)", (long long)v);
    ok(!spw__metrics_value(m, "sink.a", "nosuch", &v), "an unknown name is not found");
    ok(!spw__metrics_value(m, "sink.b", "events", &v), "  ... nor a known name of another stage");

    /* NULL metrics (a failed registration) are no-ops. */
    spw_counter_add(NULL, 1);
    spw_gauge_set(NULL, 1);
    spw_gauge_add(NULL, 1);
    spw_histogram_observe(NULL, 1);
    ok(1, "writing to NULL metrics is a no-op");

    ok(spw__metrics_gauge(m, "sink.a", "events", "h") == NULL,
       "a gauge cannot take a counter's name in the same stage");
    ok(spw__metrics_register(m, "sink.a", "open", "h") == NULL,
       "  ... nor a counter a gauge's");
    ok(spw__metrics_gauge(m, "sink.b", "events", "h") != NULL, "  ... but another stage may use it");
    spw__metrics_free(m);
}

/* The merged view of one histogram, copied out of the visitor. */
static struct {
    const char *name;
    bool found;
    size_t n_bounds;
    uint64_t buckets[SPW__HIST_MAX_BOUNDS + 1], count;
    double sum, p50, p99, p20;
} hv;

static void grab(const spw__metric_view *v, void *arg) {
    (void)arg;
    if (v->type != SPW__METRIC_HISTOGRAM || strcmp(v->name, hv.name) != 0)
        return;
    hv.found = true;
    hv.n_bounds = v->n_bounds;
    memcpy(hv.buckets, v->buckets, (v->n_bounds + 1) * sizeof *v->buckets);
    hv.count = v->count;
    hv.sum = v->sum;
    hv.p20 = spw__metrics_quantile(v, 0.2);
    hv.p50 = spw__metrics_quantile(v, 0.5);
    hv.p99 = spw__metrics_quantile(v, 0.99);
}

static void view_of(spw__metrics *m, const char *name) {
    memset(&hv, 0, sizeof hv);
    hv.name = name;
    spw__metrics_visit(m, grab, NULL);
}

static void test_histograms(void) {
    spw__metrics *m = spw__metrics_new();
    static const double b3[] = {1, 10, 100};
    spw_histogram *h1 = spw__metrics_histogram(m, "sink.a", "size_bytes", "h", b3, 3);
    spw_histogram *h2 = spw__metrics_histogram(m, "sink.a", "size_bytes", "h", b3, 3);
    ok(h1 && h2 && h1 != h2, "histogram twins register");
    /* le buckets: a value equal to a bound counts in that bucket. */
    spw_histogram_observe(h1, 0.5);
    spw_histogram_observe(h1, 1);
    spw_histogram_observe(h1, 10);
    spw_histogram_observe(h2, 11);
    spw_histogram_observe(h2, 1000);
    spw_histogram_observe(h2, NAN);

    struct visit_log names = {{0}, 0};
    spw__metrics_visit(m, record, &names);
    is_str(names.text, "sink.a/size_bytes", "a histogram is visited once, its twins merged");
    view_of(m, "size_bytes");
    ok(hv.found && hv.n_bounds == 3, "the merged view has the 3 bounds");
    ok(hv.buckets[0] == 2 && hv.buckets[1] == 1 && hv.buckets[2] == 1 && hv.buckets[3] == 1,
       "observations land in le buckets, over the last bound in +Inf (%llu %llu %llu %llu)",
       (unsigned long long)hv.buckets[0], (unsigned long long)hv.buckets[1],
       (unsigned long long)hv.buckets[2], (unsigned long long)hv.buckets[3]);
    is_int(hv.count, 5, "count merged over workers, NaN ignored");
    ok(hv.sum == 0.5 + 1 + 10 + 11 + 1000, "sum merged over workers (%g)", hv.sum);
    ok(hv.p20 == 1 && hv.p50 == 10 && isinf(hv.p99),
       "quantiles are the upper bound of their bucket (p20 %g, p50 %g, p99 %g)", hv.p20, hv.p50,
       hv.p99);
    int64_t n = 0;
    ok(spw__metrics_value(m, "sink.a", "size_bytes", &n) && n == 5, "a histogram's value is its count");

    static const double other[] = {1, 10, 1000};
    ok(spw__metrics_histogram(m, "sink.a", "size_bytes", "h", other, 3) == NULL,
       "a twin with other bounds is refused (it could not be merged)");
    ok(spw__metrics_histogram(m, "sink.a", "size_bytes", "h", b3, 2) == NULL,
       "  ... also with fewer bounds");
    ok(spw__metrics_register(m, "sink.a", "size_bytes", "h") == NULL,
       "a counter cannot take a histogram's name");

    static const double flat[] = {1, 1}, down[] = {2, 1}, nan[] = {1, NAN}, inf[] = {1, INFINITY};
    double many[SPW__HIST_MAX_BOUNDS + 1];
    for (int i = 0; i <= SPW__HIST_MAX_BOUNDS; i++)
        many[i] = i;
    ok(!spw__metrics_histogram(m, "x", "a", "h", flat, 2), "bounds must strictly increase (equal)");
    ok(!spw__metrics_histogram(m, "x", "b", "h", down, 2), "  ... (decreasing)");
    ok(!spw__metrics_histogram(m, "x", "c", "h", nan, 2), "bounds must be finite (NaN)");
    ok(!spw__metrics_histogram(m, "x", "d", "h", inf, 2), "  ... (infinity: the last bucket is implied)");
    ok(!spw__metrics_histogram(m, "x", "e", "h", b3, 0), "at least one bound");
    ok(!spw__metrics_histogram(m, "x", "f", "h", NULL, 3), "  ... and not NULL");
    ok(!spw__metrics_histogram(m, "x", "g", "h", many, SPW__HIST_MAX_BOUNDS + 1),
       "at most %d bounds", SPW__HIST_MAX_BOUNDS);
    ok(spw__metrics_histogram(m, "x", "h", "h", many, SPW__HIST_MAX_BOUNDS) != NULL,
       "  ... %d is fine", SPW__HIST_MAX_BOUNDS);
    view_of(m, "h");
    ok(hv.found && hv.count == 0 && isnan(spw__metrics_quantile(&(spw__metric_view){
                                                                  .type = SPW__METRIC_HISTOGRAM},
                                                              0.5)),
       "an empty histogram has no quantile");
    spw__metrics_free(m);
}

static void check_preset(spw_buckets b, const char *what, double first, double last) {
    bool increasing = b.n > 0 && b.n <= SPW__HIST_MAX_BOUNDS;
    for (size_t i = 1; i < b.n && increasing; i++)
        increasing = b.bounds[i] > b.bounds[i - 1];
    ok(increasing, "%s preset: %zu increasing bounds", what, b.n);
    ok(b.n && b.bounds[0] == first && b.bounds[b.n - 1] == last, "%s preset: %g to %g", what,
       b.n ? b.bounds[0] : 0, b.n ? b.bounds[b.n - 1] : 0);
    spw__metrics *m = spw__metrics_new();
    ok(spw__metrics_histogram(m, "x", "p", "h", b.bounds, b.n) != NULL, "%s preset registers", what);
    spw__metrics_free(m);
}

static void test_presets(void) {
    check_preset(spw_buckets_seconds(), "seconds", 0.001, 65.536);
    check_preset(spw_buckets_bytes(), "bytes", 64, 1073741824.0);
    check_preset(spw_buckets_count(), "count", 1, 1e6);
    static const double mine[] = {0.5, 1.5};
    spw_buckets b = SPW_BUCKETS(mine);
    ok(b.n == 2 && b.bounds == mine, "SPW_BUCKETS takes a static array's size");
}

/* Runs spw__metrics_log into a file and returns its text (owned by caller). */
static char *log_text(spw__metrics *m) {
    char path[] = "/tmp/spw-metrics-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    spw_err err;
    spw__log_setup(SPW_LOG_INFO, SPW__LOG_TEXT, path, &err);
    spw__metrics_log(m);
    spw__log_setup(SPW_LOG_ERROR, SPW__LOG_TEXT, NULL, &err);
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 8192);
    size_t len = f ? fread(text, 1, 8191, f) : 0;
    text[len] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return text;
}

static void test_stats_line(void) {
    spw__metrics *m = spw__metrics_new();
    /* Registration order across stages and workers: the line keeps stages together. */
    spw_counter *a = spw__metrics_register(m, "sink.a", "events", "h");
    spw_gauge *idle = spw__metrics_gauge(m, "sink.a", "idle", "h");
    spw_counter *p = spw__metrics_register(m, "pipeline", "submitted", "h");
    spw_gauge *g = spw__metrics_gauge(m, "sink.a", "open", "h");
    spw_histogram *h = spw__metrics_histogram(m, "sink.a", "latency_seconds", "h",
                                              spw_buckets_seconds().bounds, spw_buckets_seconds().n);
    spw_histogram *empty = spw__metrics_histogram(m, "sink.a", "empty_bytes", "h",
                                                  spw_buckets_bytes().bounds, spw_buckets_bytes().n);
    spw_counter *a2 = spw__metrics_register(m, "sink.a", "events", "h"); /* worker 2 */
    (void)idle;
    (void)empty;
    spw_counter_add(a, 2);
    spw_counter_add(a2, 3);
    spw_counter_add(p, 9);
    spw_gauge_set(g, -4);
    for (int i = 0; i < 98; i++)
        spw_histogram_observe(h, 0.003);
    spw_histogram_observe(h, 0.5);
    spw_histogram_observe(h, 0.5);

    struct visit_log names = {{0}, 0};
    spw__metrics_visit(m, record, &names);
    is_str(names.text,
           "sink.a/events sink.a/idle sink.a/open sink.a/latency_seconds sink.a/empty_bytes "
           "pipeline/submitted",
           "visit: stage by stage, names in first-registration order, twins once");

    char *text = log_text(m);
    has_str(text, "[stats] sink.a: events=5 open=-4 latency_seconds=0.004/0.512\n",
            "stats line: counters summed, a non-zero gauge, a histogram as p50/p99");
    ok(!strstr(text, "idle="), "  ... a gauge at zero is left out");
    ok(!strstr(text, "empty_bytes"), "  ... and so is an empty histogram");
    has_str(text, "[stats] pipeline: submitted=9\n", "  ... one line per stage");
    free(text);
    spw__metrics_free(m);
}

/* Per-worker counters: one view per worker, never summed, NAME=W0/W1 and a worker label. */
static void test_per_worker(void) {
    spw__metrics *m = spw__metrics_new();
    /* Workers register in any order (they create their stages in parallel). */
    spw_counter *w1 = spw__metrics_register_worker(m, "source.x", "worker_records", "per worker", 1);
    spw_counter *sum = spw__metrics_register(m, "source.x", "records", "h");
    spw_counter *w0 = spw__metrics_register_worker(m, "source.x", "worker_records", "per worker", 0);
    spw_counter *w3 = spw__metrics_register_worker(m, "source.x", "worker_records", "per worker", 3);
    ok(w0 && w1 && w3 && sum, "per-worker twins register beside a summed counter");
    ok(spw__metrics_register(m, "source.x", "worker_records", "h") == NULL,
       "  ... a name is per worker or summed, not both");
    ok(spw__metrics_register_worker(m, "source.x", "records", "h", 0) == NULL, "  ... either way");
    spw_counter_add(w0, 5);
    spw_counter_add(w1, 7);
    spw_counter_add(w3, 1);
    spw_counter_add(sum, 13);

    char *text = log_text(m);
    has_str(text, "[stats] source.x: worker_records=5/7/0/1 records=13\n",
            "stats line: the workers' values in worker order, 0 for a worker without a twin");
    free(text);

    spw_buf b = SPW_BUF_INIT;
    ok(spw__metrics_prometheus(m, "p", NULL, NULL, &b) == SPW_OK, "prometheus: written");
    spw_buf_append(&b, "", 1);
    const char *t = (const char *)b.data;
    has_str(t, "# TYPE spillway_worker_records_total counter\n"
               "spillway_worker_records_total{pipeline=\"p\",kind=\"source\",stage=\"x\",worker=\"0\"} 5\n"
               "spillway_worker_records_total{pipeline=\"p\",kind=\"source\",stage=\"x\",worker=\"1\"} 7\n",
            "prometheus: one sample per worker, with a worker label, under one family");
    has_str(t, "spillway_records_total{pipeline=\"p\",kind=\"source\",stage=\"x\"} 13\n",
            "  ... a summed counter keeps its labels");
    spw_buf_free(&b);
    spw__metrics_free(m);
}

/* Owners: what a reload's rebuilt stage registers takes over its predecessor's metrics. */
static void test_owners(void) {
    spw__metrics *m = spw__metrics_new();
    int a, b, c; /* three instances, by address */
    const void *prev = spw__metrics_owner(&a);
    spw_counter *ca = spw__metrics_register(m, "sink.s", "events", "h");
    spw_gauge *ga = spw__metrics_gauge(m, "sink.s", "held", "h");
    spw_counter *wa = spw__metrics_register_worker(m, "sink.s", "per_worker", "h", 1);
    spw__metrics_owner(&b); /* a reload builds the new instance while the old one drains */
    spw_counter *cb = spw__metrics_register(m, "sink.s", "events", "h");
    ok(ca && cb && (void *)ca != (void *)cb, "a live owner's metric is never taken: twins while both run");
    spw_counter_add(ca, 5);
    spw_counter_add(cb, 2);
    spw_gauge_set(ga, 9);
    spw_counter_add(wa, 4);
    int64_t v = 0;
    spw__metrics_release(m, &a); /* the old instance is destroyed */
    bool found = spw__metrics_value(m, "sink.s", "events", &v);
    ok(found && v == 7, "a released counter keeps its count in the reports (%lld)", (long long)v);
    found = spw__metrics_value(m, "sink.s", "held", &v);
    ok(found && v == 0, "a released gauge drops to 0: nothing holds that level any more (%lld)",
       (long long)v);
    spw__metrics_owner(&c); /* the next reload */
    spw_counter *cc = spw__metrics_register(m, "sink.s", "events", "h");
    spw_gauge *gc = spw__metrics_gauge(m, "sink.s", "held", "h");
    spw_counter *w0 = spw__metrics_register_worker(m, "sink.s", "per_worker", "h", 0);
    spw_counter *w1 = spw__metrics_register_worker(m, "sink.s", "per_worker", "h", 1);
    ok((void *)cc == (void *)ca && (void *)gc == (void *)ga,
       "the next instance takes over the released counter and gauge instead of adding twins");
    ok(w1 == wa && w0 && w0 != wa, "  ... a per-worker counter only from the same worker");
    spw_counter_add(cc, 1);
    found = spw__metrics_value(m, "sink.s", "events", &v);
    ok(found && v == 8, "  ... and counts on from there: the family never goes back (%lld)",
       (long long)v);
    spw__metrics_release(m, &b);
    spw__metrics_owner(NULL);
    spw_counter *cn = spw__metrics_register(m, "sink.s", "events", "h");
    ok(cn && (void *)cn != (void *)cb, "a registration without an owner never takes a released twin");

    /* Reload after reload, the registry stays the size of two generations. */
    struct visit_log before = {"", 0}, after = {"", 0};
    spw__metrics_visit(m, record, &before);
    int owners[100];
    size_t n50 = 0;
    for (int i = 0; i < 100; i++) {
        spw__metrics_owner(&owners[i]);
        spw__metrics_register(m, "sink.s", "events", "h");
        spw__metrics_gauge(m, "sink.s", "held", "h");
        if (i > 0)
            spw__metrics_release(m, &owners[i - 1]);
        if (i == 49)
            n50 = spw__metrics_count(m);
    }
    size_t n = spw__metrics_count(m);
    spw__metrics_visit(m, record, &after);
    ok(n == n50 && n <= 10, "100 rebuilds leave %zu metrics registered, as many as 50 did (%zu)", n,
       n50);
    is_str(after.text, before.text, "  ... and the same families in the reports");
    spw__metrics_owner(prev);
    spw__metrics_free(m);
}

/* The SDK's registration rules, through a stage as a plugin sees it. */
static void test_sdk_rules(void) {
    spw__pipeline p;
    memset(&p, 0, sizeof p);
    p.conf.workers = 1;
    p.metrics = spw__metrics_new();
    spw__worker w;
    memset(&w, 0, sizeof w);
    w.p = &p;
    spw__stage_def sink_def, filter_def;
    memset(&sink_def, 0, sizeof sink_def);
    memset(&filter_def, 0, sizeof filter_def);
    sink_def.kind = SPW_KIND_SINK;
    sink_def.title = "sink.x";
    filter_def.kind = SPW_KIND_FILTER;
    filter_def.title = "filter.f";
    spw_stage sink = {.worker = &w, .def = &sink_def};
    spw_stage filter = {.worker = &w, .def = &filter_def};

    ok(spw_gauge_register(&sink, "connections_open", "h") != NULL, "a sink registers a gauge");
    ok(spw_histogram_register(&sink, "request_seconds", "h", spw_buckets_seconds()) != NULL,
       "  ... and a histogram");
    ok(spw_gauge_register(&sink, "Open", "h") == NULL, "gauge names are lowercase");
    ok(spw_gauge_register(&sink, "1st", "h") == NULL, "  ... not starting with a digit");
    ok(spw_histogram_register(&sink, "a-b", "h", spw_buckets_bytes()) == NULL,
       "  ... '_' only (no '-')");
    ok(spw_gauge_register(&sink, "", "h") == NULL && spw_gauge_register(&sink, NULL, "h") == NULL,
       "  ... and not empty");
    static const double bad[] = {3, 2};
    ok(spw_histogram_register(&sink, "bad_bytes", "h", SPW_BUCKETS(bad)) == NULL,
       "a histogram with bad buckets is refused");
    ok(spw_gauge_register(&sink, "requests", "h") == NULL,
       "a sink's gauge cannot take a name the core keeps for the route");
    ok(spw_counter_register(&sink, "delivered", "h") == NULL, "  ... nor a counter");
    ok(spw_counter_register(&sink, "my-count", "h") != NULL,
       "counter names are not spell-checked (ABI 1.0 plugins keep working)");
    ok(spw_counter_register(&filter, "requests", "h") != NULL,
       "a filter may use a name the core keeps only for sinks");
    ok(spw_counter_register(&filter, "filter_errors", "h") == NULL,
       "  ... but not the one it keeps for filters");
    ok(spw_counter_register_worker(&sink, "worker_sent", "h") != NULL,
       "a per-worker counter registers through the SDK");
    ok(spw_counter_register_worker(&sink, "Bad", "h") == NULL &&
           spw_counter_register_worker(&sink, "delivered", "h") == NULL,
       "  ... its name checked like a gauge's, not one the core keeps");
    spw__metrics_free(p.metrics);
}

int main(void) {
    spw__log_set_level(SPW_LOG_ERROR);
    test_counters_gauges();
    test_histograms();
    test_presets();
    test_stats_line();
    test_per_worker();
    test_owners();
    test_sdk_rules();
    return tap_done();
}
