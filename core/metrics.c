/*
 * core/metrics.c: the metric registry (counters, gauges, histograms) and
 * the stats line. Registration takes a mutex (it happens while workers
 * create their stages); writing is a relaxed atomic load and store on a
 * metric only its own worker writes, so the hot path never locks and never
 * allocates. Reading merges the twins a metric has on other workers.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "log.h"
#include "metrics.h"

struct spw__metrics {
    uv_mutex_t lock;
    spw__metric *head, *tail; /* registration order, for stable reports */
};

spw__metrics *spw__metrics_new(void) {
    spw__metrics *m = calloc(1, sizeof *m);
    if (m && uv_mutex_init(&m->lock) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void metric_free(spw__metric *x) {
    if (x->type == SPW__METRIC_HISTOGRAM) {
        spw_histogram *h = (spw_histogram *)x;
        free(h->bounds);
        free(h->buckets);
    }
    free(x->stage);
    free(x->name);
    free(x->help);
    free(x);
}

/* The owner this thread's registrations belong to (spw__metrics_owner). */
static _Thread_local const void *tl_owner;

const void *spw__metrics_owner(const void *owner) {
    const void *prev = tl_owner;
    tl_owner = owner;
    return prev;
}

void spw__metrics_release(spw__metrics *m, const void *owner) {
    if (!m || !owner)
        return;
    uv_mutex_lock(&m->lock);
    for (spw__metric *x = m->head; x; x = x->next)
        if (x->owner == owner) {
            x->owner = NULL;
            x->released = true;
            if (x->type == SPW__METRIC_GAUGE)
                atomic_store_explicit(&((spw_gauge *)x)->value, 0, memory_order_relaxed);
        }
    uv_mutex_unlock(&m->lock);
}

size_t spw__metrics_count(spw__metrics *m) {
    size_t n = 0;
    uv_mutex_lock(&m->lock);
    for (spw__metric *x = m->head; x; x = x->next)
        n++;
    uv_mutex_unlock(&m->lock);
    return n;
}

void spw__metrics_free(spw__metrics *m) {
    if (!m)
        return;
    for (spw__metric *x = m->head, *n; x; x = n) {
        n = x->next;
        metric_free(x);
    }
    uv_mutex_destroy(&m->lock);
    free(m);
}

static bool same_metric(const spw__metric *a, const spw__metric *b) {
    return strcmp(a->stage, b->stage) == 0 && strcmp(a->name, b->name) == 0;
}

/* Twins are merged, so they must agree on what they are. */
static bool compatible(const spw__metric *old, const spw__metric *x) {
    if (old->type != x->type || (old->worker >= 0) != (x->worker >= 0))
        return false;
    if (x->type != SPW__METRIC_HISTOGRAM)
        return true;
    const spw_histogram *a = (const spw_histogram *)old, *b = (const spw_histogram *)x;
    return a->n_bounds == b->n_bounds &&
           memcmp(a->bounds, b->bounds, a->n_bounds * sizeof *a->bounds) == 0;
}

/* Links x (its type-specific part already set up) into the registry, or frees it. */
static spw__metric *add(spw__metrics *m, spw__metric *x, const char *stage, const char *name,
                        const char *help, enum spw__metric_type type, int worker) {
    x->stage = strdup(stage ? stage : "unnamed");
    x->type = type;
    x->worker = worker;
    x->owner = tl_owner;
    x->name = strdup(name ? name : "unnamed");
    x->help = strdup(help ? help : "");
    if (!x->stage || !x->name || !x->help) {
        metric_free(x);
        return NULL;
    }
    uv_mutex_lock(&m->lock);
    spw__metric *heir = NULL;
    for (spw__metric *o = m->head; o; o = o->next)
        if (same_metric(o, x)) {
            if (!compatible(o, x)) {
                uv_mutex_unlock(&m->lock);
                spw__log("core", SPW_LOG_ERROR,
                         "[%s] metric '%s' is already registered as another kind of metric "
                         "(or with other buckets); not registered",
                         stage, x->name);
                metric_free(x);
                return NULL;
            }
            if (!heir && o->released && x->owner && o->worker == x->worker)
                heir = o;
        }
    if (heir) { /* a reloaded stage takes over what its predecessor counted */
        heir->released = false;
        heir->owner = x->owner;
        uv_mutex_unlock(&m->lock);
        metric_free(x);
        return heir;
    }
    if (m->tail)
        m->tail->next = x;
    else
        m->head = x;
    m->tail = x;
    uv_mutex_unlock(&m->lock);
    return x;
}

spw_counter *spw__metrics_register(spw__metrics *m, const char *stage, const char *name,
                                   const char *help) {
    spw_counter *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->value, 0);
    return (spw_counter *)add(m, &c->m, stage, name, help, SPW__METRIC_COUNTER, -1);
}

spw_counter *spw__metrics_register_worker(spw__metrics *m, const char *stage, const char *name,
                                          const char *help, unsigned worker) {
    spw_counter *c = calloc(1, sizeof *c);
    if (!c || worker > (unsigned)INT32_MAX) {
        free(c);
        return NULL;
    }
    atomic_init(&c->value, 0);
    return (spw_counter *)add(m, &c->m, stage, name, help, SPW__METRIC_COUNTER, (int)worker);
}

spw_gauge *spw__metrics_gauge(spw__metrics *m, const char *stage, const char *name,
                              const char *help) {
    spw_gauge *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    atomic_init(&g->value, 0);
    return (spw_gauge *)add(m, &g->m, stage, name, help, SPW__METRIC_GAUGE, -1);
}

spw_histogram *spw__metrics_histogram(spw__metrics *m, const char *stage, const char *name,
                                      const char *help, const double *bounds, size_t n_bounds) {
    if (!bounds || n_bounds == 0 || n_bounds > SPW__HIST_MAX_BOUNDS)
        return NULL;
    for (size_t i = 0; i < n_bounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return NULL;
    spw_histogram *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->m.type = SPW__METRIC_HISTOGRAM; /* so metric_free knows what to release */
    h->n_bounds = n_bounds;
    h->bounds = malloc(n_bounds * sizeof *h->bounds);
    h->buckets = calloc(n_bounds + 1, sizeof *h->buckets);
    if (!h->bounds || !h->buckets) {
        metric_free(&h->m);
        return NULL;
    }
    memcpy(h->bounds, bounds, n_bounds * sizeof *bounds);
    for (size_t i = 0; i <= n_bounds; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->count, 0);
    atomic_init(&h->sum_bits, 0);
    return (spw_histogram *)add(m, &h->m, stage, name, help, SPW__METRIC_HISTOGRAM, -1);
}

/* ---- writing: one writer per metric (its worker) ------------------------ */

/*
 * Only the metric's own worker writes it, so a relaxed load and store
 * suffice (readers on other threads see a whole value, never a torn one)
 * and the hot path avoids a locked read-modify-write.
 */
static inline void bump(atomic_uint_fast64_t *v, uint64_t n) {
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void spw_counter_add(spw_counter *c, uint64_t n) {
    if (c)
        bump(&c->value, n);
}

void spw_gauge_set(spw_gauge *g, int64_t v) {
    if (g)
        atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void spw_gauge_add(spw_gauge *g, int64_t delta) {
    if (g)
        atomic_store_explicit(&g->value,
                              atomic_load_explicit(&g->value, memory_order_relaxed) + delta,
                              memory_order_relaxed);
}

static double bits_to_double(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

void spw_histogram_observe(spw_histogram *h, double v) {
    if (!h || isnan(v))
        return;
    /* The first bound >= v ("le" buckets, as Prometheus counts them); past the last: +Inf. */
    size_t lo = 0, hi = h->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    bump(&h->buckets[lo], 1);
    bump(&h->count, 1);
    double sum = bits_to_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed));
    atomic_store_explicit(&h->sum_bits, double_to_bits(sum + v), memory_order_relaxed);
}

/* ---- bucket presets ----------------------------------------------------- */

/* Latencies: 1 ms to about 65 s, doubling (seconds, the base unit). */
static const double seconds_bounds[] = {
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
    0.512, 1.024, 2.048, 4.096, 8.192, 16.384, 32.768, 65.536,
};
/* Sizes: 64 B to 1 GiB, times 4. */
static const double bytes_bounds[] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
    4194304, 16777216, 67108864, 268435456, 1073741824,
};
/* Counts (records per batch...): 1, 2, 5, 10 ... 1,000,000. */
static const double count_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6,
};

#define PRESET(a) ((spw_buckets){(a), sizeof(a) / sizeof((a)[0])})
spw_buckets spw_buckets_seconds(void) { return PRESET(seconds_bounds); }
spw_buckets spw_buckets_bytes(void) { return PRESET(bytes_bounds); }
spw_buckets spw_buckets_count(void) { return PRESET(count_bounds); }

/* ---- reading ------------------------------------------------------------ */

static uint64_t load_u(const atomic_uint_fast64_t *v) {
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* A per-worker counter: one view per worker, 0 up to the highest index registered. */
static void visit_per_worker(spw__metric *c, spw__metric_fn fn, void *arg) {
    int top = -1;
    for (spw__metric *t = c; t; t = t->next)
        if (same_metric(t, c) && t->worker > top)
            top = t->worker;
    for (int w = 0; w <= top; w++) {
        spw__metric_view v = {.stage = c->stage, .name = c->name, .help = c->help,
                              .type = c->type, .worker = w};
        for (spw__metric *t = c; t; t = t->next)
            if (same_metric(t, c) && t->worker == w)
                v.counter += load_u(&((spw_counter *)t)->value);
        fn(&v, arg);
    }
}

void spw__metrics_visit(spw__metrics *m, spw__metric_fn fn, void *arg) {
    uint64_t buckets[SPW__HIST_MAX_BOUNDS + 1];
    uv_mutex_lock(&m->lock);
    for (spw__metric *s = m->head; s; s = s->next) {
        /* s opens a stage when no earlier metric has its stage. */
        bool first_stage = true;
        for (spw__metric *p = m->head; p != s && first_stage; p = p->next)
            first_stage = strcmp(p->stage, s->stage) != 0;
        if (!first_stage)
            continue;
        for (spw__metric *c = s; c; c = c->next) {
            if (strcmp(c->stage, s->stage) != 0)
                continue;
            bool seen = false;
            for (spw__metric *p = s; p != c && !seen; p = p->next)
                seen = same_metric(p, c);
            if (seen)
                continue;
            if (c->worker >= 0) {
                visit_per_worker(c, fn, arg);
                continue;
            }
            spw__metric_view v = {.stage = c->stage, .name = c->name, .help = c->help,
                                  .type = c->type, .worker = -1};
            if (c->type == SPW__METRIC_HISTOGRAM) {
                const spw_histogram *h = (const spw_histogram *)c;
                v.n_bounds = h->n_bounds;
                v.bounds = h->bounds;
                v.buckets = buckets;
                memset(buckets, 0, (h->n_bounds + 1) * sizeof *buckets);
            }
            /* Twins on other workers come later in the list (same stage and name). */
            for (spw__metric *t = c; t; t = t->next) {
                if (!same_metric(t, c))
                    continue;
                switch (t->type) {
                case SPW__METRIC_COUNTER:
                    v.counter += load_u(&((spw_counter *)t)->value);
                    break;
                case SPW__METRIC_GAUGE:
                    v.gauge += atomic_load_explicit(&((spw_gauge *)t)->value, memory_order_relaxed);
                    break;
                case SPW__METRIC_HISTOGRAM: {
                    spw_histogram *h = (spw_histogram *)t;
                    for (size_t i = 0; i <= h->n_bounds; i++)
                        buckets[i] += load_u(&h->buckets[i]);
                    v.count += load_u(&h->count);
                    v.sum += bits_to_double(load_u(&h->sum_bits));
                    break;
                }
                }
            }
            fn(&v, arg);
        }
    }
    uv_mutex_unlock(&m->lock);
}

struct find_ctx {
    const char *stage, *name;
    bool found;
    int64_t value;
};

static void find_cb(const spw__metric_view *v, void *arg) {
    struct find_ctx *f = arg;
    if (f->found || strcmp(v->stage, f->stage) != 0 || strcmp(v->name, f->name) != 0)
        return;
    f->found = true;
    f->value = v->type == SPW__METRIC_COUNTER ? (int64_t)v->counter
               : v->type == SPW__METRIC_GAUGE ? v->gauge
                                              : (int64_t)v->count;
}

bool spw__metrics_value(spw__metrics *m, const char *stage, const char *name, int64_t *out) {
    struct find_ctx f = {stage, name, false, 0};
    spw__metrics_visit(m, find_cb, &f);
    if (f.found && out)
        *out = f.value;
    return f.found;
}

double spw__metrics_quantile(const spw__metric_view *v, double q) {
    if (v->type != SPW__METRIC_HISTOGRAM || v->count == 0)
        return NAN;
    /* The rank of the quantile, rounded up: q = 0.5 of 3 observations is the 2nd. */
    double want = q * (double)v->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want || rank == 0)
        rank++;
    uint64_t seen = 0;
    for (size_t i = 0; i < v->n_bounds; i++) {
        seen += v->buckets[i];
        if (seen >= rank)
            return v->bounds[i];
    }
    return INFINITY;
}

/* ---- the stats line ----------------------------------------------------- */

struct line {
    const char *stage; /* the stage of the line being built; NULL before the first */
    char buf[2048];
    size_t pos;
};

static void line_flush(struct line *l) {
    if (l->stage)
        spw__log("stats", SPW_LOG_INFO, "%s: %s", l->stage, l->buf);
    l->stage = NULL;
    l->pos = 0;
    l->buf[0] = '\0';
}

static void line_add(struct line *l, const char *fmt, ...) SPW_PRINTF(2, 3);
static void line_add(struct line *l, const char *fmt, ...) {
    if (l->pos >= sizeof l->buf - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->pos, sizeof l->buf - l->pos, fmt, ap);
    va_end(ap);
    /* A token that does not fit is cut from the line whole. */
    if (n < 0 || (size_t)n >= sizeof l->buf - l->pos) {
        l->buf[l->pos] = '\0';
        l->pos = sizeof l->buf - 1;
        return;
    }
    l->pos += (size_t)n;
}

static void fmt_bound(char *out, size_t cap, double b) {
    if (isinf(b))
        snprintf(out, cap, "+Inf");
    else
        snprintf(out, cap, "%g", b);
}

static void log_cb(const spw__metric_view *v, void *arg) {
    struct line *l = arg;
    if (l->stage && strcmp(l->stage, v->stage) != 0)
        line_flush(l);
    l->stage = v->stage;
    const char *sep = l->pos ? " " : "";
    switch (v->type) {
    case SPW__METRIC_COUNTER:
        if (v->worker > 0) /* worker 0's token came just before: NAME=W0/W1/... */
            line_add(l, "/%llu", (unsigned long long)v->counter);
        else
            line_add(l, "%s%s=%llu", sep, v->name, (unsigned long long)v->counter);
        break;
    case SPW__METRIC_GAUGE:
        /* Most gauges are 0 most of the time (a destination down, batches held). */
        if (v->gauge != 0)
            line_add(l, "%s%s=%lld", sep, v->name, (long long)v->gauge);
        break;
    case SPW__METRIC_HISTOGRAM: {
        if (v->count == 0)
            break;
        char p50[32], p99[32];
        fmt_bound(p50, sizeof p50, spw__metrics_quantile(v, 0.5));
        fmt_bound(p99, sizeof p99, spw__metrics_quantile(v, 0.99));
        line_add(l, "%s%s=%s/%s", sep, v->name, p50, p99);
        break;
    }
    }
}

void spw__metrics_log(spw__metrics *m) {
    struct line l = {.stage = NULL, .pos = 0};
    l.buf[0] = '\0';
    spw__metrics_visit(m, log_cb, &l);
    line_flush(&l);
}
