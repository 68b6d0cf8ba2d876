/*
 * core/metrics.h: counters, gauges and histograms. A metric belongs to one
 * stage instance on one worker and is only ever written by that worker's
 * thread (relaxed atomic loads and stores, so the main thread can read it
 * at any time without a lock, and the hot path takes no locked
 * instruction). Reports merge the metrics of the same stage and name
 * across workers: counters and gauges are summed, histograms are summed
 * bucket by bucket.
 *
 * Names are meant for a Prometheus exporter as they are: lowercase with
 * '_', base units in the name of what has one (answer_latency_seconds,
 * batch_bytes); counters keep their existing names (no `_total`).
 */
#ifndef SPW_CORE_METRICS_H
#define SPW_CORE_METRICS_H

#include <stdatomic.h>
#include <stdio.h>
#include <spillway/plugin.h>

enum spw__metric_type {
    SPW__METRIC_COUNTER = 1,
    SPW__METRIC_GAUGE = 2,
    SPW__METRIC_HISTOGRAM = 3,
};

/* Histograms have at most this many finite bucket bounds (plus +Inf). */
#define SPW__HIST_MAX_BOUNDS 64

/* What every metric in the registry starts with. */
typedef struct spw__metric {
    struct spw__metric *next; /* registry list */
    char *stage;              /* the stage's title ("sink.es") */
    char *name;
    char *help;
    enum spw__metric_type type;
    int worker;               /* >= 0: reported per worker (a `worker` label), not summed; -1: summed */
    const void *owner;        /* the stage or route instance writing it; NULL: the process */
    bool released;            /* its owner is gone: the next twin registered takes it over */
} spw__metric;

struct spw_counter {
    spw__metric m;
    atomic_uint_fast64_t value;
};

struct spw_gauge {
    spw__metric m;
    atomic_int_fast64_t value;
};

struct spw_histogram {
    spw__metric m;
    size_t n_bounds;
    double *bounds;                /* n_bounds finite upper bounds, increasing */
    atomic_uint_fast64_t *buckets; /* n_bounds + 1 (the last is +Inf); not cumulative */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_bits; /* the sum of observations: a double's bits (one writer) */
};

typedef struct spw__metrics spw__metrics;

spw__metrics *spw__metrics_new(void);
void spw__metrics_free(spw__metrics *m);

/*
 * Registration is thread-safe (workers register while they create their
 * stages). A name already registered for the stage with another type (or,
 * for a histogram, other bounds) is refused with NULL: twins of one metric
 * on several workers must be the same metric to be merged. NULL also when
 * out of memory or, for a histogram, when the bounds are not 1 to
 * SPW__HIST_MAX_BOUNDS finite, strictly increasing values.
 */
spw_counter *spw__metrics_register(spw__metrics *m, const char *stage, const char *name,
                                           const char *help);
/*
 * A counter reported per worker rather than summed: every worker registers
 * its twin with its own index, and reports show one value per worker (the
 * stats line NAME=W0/W1/..., /metrics a `worker` label), so an operator
 * sees how work spreads over the workers. A name is either per worker or
 * summed, never both.
 */
spw_counter *spw__metrics_register_worker(spw__metrics *m, const char *stage, const char *name,
                                          const char *help, unsigned worker);
spw_gauge *spw__metrics_gauge(spw__metrics *m, const char *stage, const char *name,
                                      const char *help);
spw_histogram *spw__metrics_histogram(spw__metrics *m, const char *stage, const char *name,
                                              const char *help, const double *bounds,
                                              size_t n_bounds);

/*
 * Owners, so that reloads do not grow the registry: a stage or route sets
 * itself as this thread's owner while it registers (spw__metrics_owner
 * returns the previous one to restore), and releases its metrics when it
 * is destroyed. A released metric keeps its counts (counters and
 * histograms never go back; a gauge drops to 0, since nothing holds that
 * level any more) and is taken over by the next twin registered with the
 * same stage title, name, type and worker: the instance a reload builds
 * after the old one is gone. Metrics registered with no owner live as long
 * as the process.
 */
const void *spw__metrics_owner(const void *owner);
void spw__metrics_release(spw__metrics *m, const void *owner);
/* Metrics registered, twins included (tests: the registry stays bounded across reloads). */
size_t spw__metrics_count(spw__metrics *m);

/* One metric merged over workers, as spw__metrics_visit shows it (borrowed for the call). */
typedef struct spw__metric_view {
    const char *stage, *name, *help;
    enum spw__metric_type type;
    int worker;              /* >= 0: this worker's own value (spw__metrics_register_worker) */
    uint64_t counter;        /* COUNTER */
    int64_t gauge;           /* GAUGE */
    size_t n_bounds;         /* HISTOGRAM: */
    const double *bounds;    /*   n_bounds finite upper bounds */
    const uint64_t *buckets; /*   n_bounds + 1 counts, not cumulative (the last is +Inf) */
    uint64_t count;
    double sum;
} spw__metric_view;

typedef void (*spw__metric_fn)(const spw__metric_view *v, void *arg);

/*
 * Calls fn once per metric, merged over workers: stage by stage in the
 * order stages first registered, and within a stage in the order names
 * first registered, so reports are stable. A per-worker counter is called
 * once per worker instead, in worker order (0 up to the highest index
 * registered; a worker without a twin shows 0). Takes the registry lock: fn must
 * not register metrics.
 */
void spw__metrics_visit(spw__metrics *m, spw__metric_fn fn, void *arg);

/*
 * The merged value of one metric: a counter's or a gauge's value, a
 * histogram's count. False when the stage has no metric of that name.
 */
bool spw__metrics_value(spw__metrics *m, const char *stage, const char *name, int64_t *out);

/*
 * The q-quantile (0 < q <= 1) of a merged histogram, estimated as the upper
 * bound of the bucket holding it (INFINITY when it lies in the last,
 * unbounded one; NAN when the histogram is empty).
 */
double spw__metrics_quantile(const spw__metric_view *v, double q);

/*
 * One line per stage: "sink.out: requests=12 delivered=1000 batches_held=3
 * batch_records=10/10 ..." Counters as NAME=VALUE, always; a gauge as
 * NAME=VALUE only when it is not 0, and a histogram as NAME=P50/P99 (bucket
 * upper bounds) only once it has observations, to keep the line short.
 */
void spw__metrics_log(spw__metrics *m);

/*
 * Appends every metric to out in the Prometheus text exposition format
 * (core/prometheus.c): families `spillway_NAME` (counters `_total`),
 * labelled pipeline, kind, stage and plugin. plugin_of (may be NULL) names
 * the plugin of a stage title ("sink.out" -> "http"). Takes the registry
 * lock while it reads (spw__metrics_visit).
 */
typedef const char *(*spw__plugin_of_fn)(const char *stage_title, void *arg);
spw_result spw__metrics_prometheus(spw__metrics *m, const char *pipeline, spw__plugin_of_fn plugin_of,
                                   void *arg, spw_buf *out);

#endif /* SPW_CORE_METRICS_H */
