/*
 * core/stage.c: stage instances and the services the SDK promises them:
 * per-stage logging, counters, timers, configuration and worker identity.
 */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "stage.h"
#include "worker.h"

struct spw_timer {
    uv_timer_t h;
    spw_timer_fn fn;
    void *arg;
};

spw_result spw__stage_create(spw_stage *st, spw__worker *w, const spw__stage_def *def, spw_err *err) {
    memset(st, 0, sizeof *st);
    st->worker = w;
    st->def = def;
    const void *prev = spw__metrics_owner(st); /* what create registers is this instance's */
    if (def->kind == SPW_KIND_FILTER &&
        !(st->c_filter_errors = spw__metrics_register(
              w->p->metrics, def->title, "filter_errors",
              "answers other than ok or skip (the event passed on)"))) {
        spw__metrics_owner(prev);
        return spw_err_set(err, SPW_ERR_NOMEM, "[%s] out of memory", def->title);
    }
    spw_err perr = {""};
    void *inst = NULL;
    spw_result r = def->plugin->create(st, def->conf, &inst, &perr);
    spw__metrics_owner(prev);
    if (r != SPW_OK) {
        spw__metrics_release(w->p->metrics, st);
        return spw_err_set(err, r < 0 ? r : SPW_ERR_CONFIG, "[%s] could not start: %s", def->title,
                           perr.msg[0] ? perr.msg : spw_result_str(r));
    }
    st->inst = inst;
    st->created = true;
    return SPW_OK;
}

void spw__stage_destroy(spw_stage *st) {
    if (!st->created)
        return;
    st->created = false;
    st->def->plugin->destroy(st->inst);
    st->inst = NULL;
    /* Its counts stay in the reports; the instance a reload builds in its place takes them over. */
    spw__metrics_release(st->worker->p->metrics, st);
}

void spw_log(const spw_stage *st, spw_log_level level, const char *fmt, ...) {
    if (!spw_log_enabled(level))
        return;
    char comp[160];
    if (st && st->worker->p->conf.workers > 1)
        snprintf(comp, sizeof comp, "%s#%u", st->def->title, st->worker->index);
    else
        snprintf(comp, sizeof comp, "%s", st ? st->def->title : "plugin");
    va_list ap;
    va_start(ap, fmt);
    spw__vlog(comp, level, fmt, ap);
    va_end(ap);
}

void spw_vlog_limited(const spw_stage *st, spw_log_limit *lim, spw_log_level level,
                      const char *fmt, va_list ap) {
    uint64_t now = uv_now(&st->worker->loop);
    if (lim->last_ms && now - lim->last_ms < 1000) {
        lim->suppressed++;
        return;
    }
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (lim->suppressed)
        spw_log(st, level, "%s (%llu similar lines suppressed)", msg,
                (unsigned long long)lim->suppressed);
    else
        spw_log(st, level, "%s", msg);
    lim->last_ms = now ? now : 1; /* 0 means "none yet" */
    lim->suppressed = 0;
}

void spw_log_limited(const spw_stage *st, spw_log_limit *lim, spw_log_level level,
                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw_vlog_limited(st, lim, level, fmt, ap);
    va_end(ap);
}

const char *spw_stage_name(const spw_stage *st) { return st->def->name; }
uv_loop_t *spw_stage_loop(const spw_stage *st) { return &st->worker->loop; }
const void *spw_stage_config(const spw_stage *st) { return st->def->conf; }
unsigned spw_stage_worker(const spw_stage *st) { return st->worker->index; }
unsigned spw_stage_workers(const spw_stage *st) { return (unsigned)st->worker->p->conf.workers; }
const char *spw_pipeline_name(const spw_stage *st) { return st->worker->p->conf.name; }

/* The metrics the core keeps under a stage's name: a plugin's must not land on them. */
static const char *const route_metrics[] = {
    "events", "delivered", "retried", "rejected", "dead_lettered",
    "dropped", "requests", "request_retries", "encode_errors", "batch_records", "batch_bytes", "splits", "down_transitions",
    "destination_down", "late_outcomes", "batches_held", NULL,
};
static const char *const filter_metrics[] = {"filter_errors", NULL};

static bool core_metric(const spw_stage *st, const char *name) {
    const char *const *names = st->def->kind == SPW_KIND_SINK     ? route_metrics
                               : st->def->kind == SPW_KIND_FILTER ? filter_metrics
                                                                  : NULL;
    for (size_t i = 0; names && name && names[i]; i++)
        if (strcmp(name, names[i]) == 0) {
            spw_log(st, SPW_LOG_ERROR, "metric name '%s' is the core's; the plugin must choose another",
                    name);
            return true;
        }
    return false;
}

/* [a-z_][a-z0-9_]*, at most 64: the name a Prometheus exporter can show as it is. */
static bool metric_name_ok(const spw_stage *st, const char *name) {
    bool ok = name && *name && strlen(name) <= 64 && !(*name >= '0' && *name <= '9');
    for (const char *c = name; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!ok)
        spw_log(st, SPW_LOG_ERROR,
                "metric name '%s' is invalid (lowercase letters, digits and '_', at most 64, "
                "not starting with a digit)",
                name ? name : "(null)");
    return ok;
}

spw_counter *spw_counter_register(spw_stage *st, const char *name, const char *help) {
    /* Counter names are not checked for their spelling: ABI 1.0 did not ask it of plugins. */
    if (core_metric(st, name))
        return NULL;
    const void *prev = spw__metrics_owner(st);
    spw_counter *c = spw__metrics_register(st->worker->p->metrics, st->def->title, name, help);
    spw__metrics_owner(prev);
    return c;
}

spw_counter *spw_counter_register_worker(spw_stage *st, const char *name, const char *help) {
    if (!metric_name_ok(st, name) || core_metric(st, name))
        return NULL;
    const void *prev = spw__metrics_owner(st);
    spw_counter *c = spw__metrics_register_worker(st->worker->p->metrics, st->def->title, name,
                                                  help, st->worker->index);
    spw__metrics_owner(prev);
    return c;
}

spw_gauge *spw_gauge_register(spw_stage *st, const char *name, const char *help) {
    if (!metric_name_ok(st, name) || core_metric(st, name))
        return NULL;
    const void *prev = spw__metrics_owner(st);
    spw_gauge *g = spw__metrics_gauge(st->worker->p->metrics, st->def->title, name, help);
    spw__metrics_owner(prev);
    return g;
}

spw_histogram *spw_histogram_register(spw_stage *st, const char *name, const char *help,
                                      spw_buckets buckets) {
    if (!metric_name_ok(st, name) || core_metric(st, name))
        return NULL;
    const void *prev = spw__metrics_owner(st);
    spw_histogram *h = spw__metrics_histogram(st->worker->p->metrics, st->def->title, name, help,
                                              buckets.bounds, buckets.n);
    spw__metrics_owner(prev);
    if (!h)
        spw_log(st, SPW_LOG_ERROR,
                "histogram '%s' not registered: its buckets must be 1 to %d finite, increasing "
                "bounds, the same on every worker",
                name, SPW__HIST_MAX_BOUNDS);
    return h;
}

static void on_timer(uv_timer_t *h) {
    spw_timer *t = (spw_timer *)h;
    t->fn(t, t->arg);
}

spw_timer *spw_timer_new(spw_stage *st, spw_timer_fn fn, void *arg) {
    spw_timer *t = calloc(1, sizeof *t);
    if (!t || !fn) {
        free(t);
        return NULL;
    }
    uv_timer_init(&st->worker->loop, &t->h);
    t->fn = fn;
    t->arg = arg;
    return t;
}

void spw_timer_start(spw_timer *t, uint64_t after_ms, uint64_t repeat_ms) {
    uv_timer_start(&t->h, on_timer, after_ms, repeat_ms);
}

void spw_timer_stop(spw_timer *t) { uv_timer_stop(&t->h); }

static void timer_closed(uv_handle_t *h) { free(h); }

void spw_timer_free(spw_timer *t) {
    if (!t)
        return;
    uv_timer_stop(&t->h);
    /* libuv owns the handle until its close callback: memory is released there. */
    uv_close((uv_handle_t *)&t->h, timer_closed);
}

void spw_source_finished(spw_stage *src) {
    if (src->finished || src->def->kind != SPW_KIND_SOURCE)
        return;
    src->finished = true;
    spw__worker *w = src->worker;
    if (w->sources_running > 0)
        w->sources_running--;
    spw__gen_source_finished(w, src);
    spw__worker_released(w);
}

const char *spw_kind_name(spw_kind k) {
    switch (k) {
    case SPW_KIND_SOURCE: return "source";
    case SPW_KIND_FILTER: return "filter";
    case SPW_KIND_CODEC: return "codec";
    case SPW_KIND_SINK: return "sink";
    }
    return "unknown";
}
