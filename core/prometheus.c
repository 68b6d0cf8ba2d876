/*
 * core/prometheus.c: the metric registry in the Prometheus text exposition
 * format (version 0.0.4), for the admin endpoint's /metrics.
 *
 * Every metric of every stage, merged over workers, becomes one sample
 * (a histogram: its buckets, sum and count) of the family
 * `spillway_NAME`, labelled with the pipeline, the stage's kind, name and
 * plugin. Counters get the `_total` suffix Prometheus expects of them.
 * A per-worker counter (spw__metrics_register_worker) gives one sample per
 * worker, told apart by a `worker` label.
 * The format wants all samples of a family together under one HELP and
 * TYPE, while the registry lists metrics stage by stage, so the samples are
 * gathered first and written family by family, in the order families first
 * appear. Two stages may use one name for different kinds of metric (a
 * plugin's gauge named like another's counter): the later kind's family
 * then carries its type in its name (`spillway_NAME_gauge`), so no sample
 * is ever dropped and no family mixes types.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

/* One metric as visited (histogram buckets copied: the visitor reuses its array). */
struct sample {
    spw__metric_view v;
    uint64_t *buckets;
    char *family;
};

struct gather {
    struct sample *s;
    size_t n, cap;
    bool nomem;
};

static const char *type_name(enum spw__metric_type t) {
    return t == SPW__METRIC_COUNTER ? "counter" : t == SPW__METRIC_GAUGE ? "gauge" : "histogram";
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void gather_cb(const spw__metric_view *v, void *arg) {
    struct gather *g = arg;
    if (g->nomem)
        return;
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 64;
        struct sample *ns = realloc(g->s, nc * sizeof *ns);
        if (!ns) {
            g->nomem = true;
            return;
        }
        g->s = ns;
        g->cap = nc;
    }
    struct sample *s = &g->s[g->n];
    memset(s, 0, sizeof *s);
    s->v = *v;
    if (v->type == SPW__METRIC_HISTOGRAM) {
        s->buckets = malloc((v->n_bounds + 1) * sizeof *s->buckets);
        if (!s->buckets) {
            g->nomem = true;
            return;
        }
        memcpy(s->buckets, v->buckets, (v->n_bounds + 1) * sizeof *s->buckets);
        s->v.buckets = s->buckets;
    }
    /* Names, help and stage are borrowed from the registry, which outlives the call:
     * metrics are never unregistered while a pipeline runs. */
    const char *suffix = v->type == SPW__METRIC_COUNTER && !ends_with(v->name, "_total") ? "_total" : "";
    size_t len = strlen("spillway_") + strlen(v->name) + strlen(suffix) + strlen("_histogram") + 1;
    if (!(s->family = malloc(len))) {
        free(s->buckets);
        g->nomem = true;
        return;
    }
    snprintf(s->family, len, "spillway_%s%s", v->name, suffix);
    /* A family already holding another type: this one says its type. */
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->s[i].family, s->family) == 0 && g->s[i].v.type != v->type) {
            snprintf(s->family, len, "spillway_%s%s_%s", v->name, suffix, type_name(v->type));
            break;
        }
    g->n++;
}

/* A label value or HELP text: backslash, newline (and for labels the quote) escaped. */
static spw_result put_escaped(spw_buf *out, const char *s, bool label) {
    spw_result r = SPW_OK;
    for (; *s && r == SPW_OK; s++) {
        if (*s == '\\')
            r = spw_buf_append(out, "\\\\", 2);
        else if (*s == '\n')
            r = spw_buf_append(out, "\\n", 2);
        else if (*s == '"' && label)
            r = spw_buf_append(out, "\\\"", 2);
        else
            r = spw_buf_append(out, s, 1);
    }
    return r;
}

/* A double the way Prometheus reads it: shortest form that reads back, or +Inf/-Inf/NaN. */
static spw_result put_double(spw_buf *out, double d) {
    if (isnan(d))
        return spw_buf_append(out, "NaN", 3);
    if (isinf(d))
        return d > 0 ? spw_buf_append(out, "+Inf", 4) : spw_buf_append(out, "-Inf", 4);
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof tmp, "%.17g", d);
    return spw_buf_append(out, tmp, strlen(tmp));
}

struct labels {
    const char *pipeline;
    spw__plugin_of_fn plugin_of;
    void *arg;
};

/* {pipeline="p",kind="sink",stage="out",plugin="http"[,worker="0"][,le="..."]} */
static spw_result put_labels(spw_buf *out, const struct labels *l, const char *title, int worker,
                             const double *le) {
    const char *dot = strchr(title, '.');
    spw_result r = spw_buf_append(out, "{pipeline=\"", 11);
    if (r == SPW_OK)
        r = put_escaped(out, l->pipeline, true);
    if (r == SPW_OK)
        r = spw_buf_append(out, "\",kind=\"", 8);
    if (r == SPW_OK)
        r = dot ? spw_buf_append(out, title, (size_t)(dot - title)) : put_escaped(out, title, true);
    if (r == SPW_OK && dot) {
        const char *plugin = l->plugin_of ? l->plugin_of(title, l->arg) : NULL;
        r = spw_buf_append(out, "\",stage=\"", 9);
        if (r == SPW_OK)
            r = put_escaped(out, dot + 1, true);
        if (r == SPW_OK && plugin) {
            r = spw_buf_append(out, "\",plugin=\"", 10);
            if (r == SPW_OK)
                r = put_escaped(out, plugin, true);
        }
    }
    if (r == SPW_OK && worker >= 0)
        r = spw_buf_printf(out, "\",worker=\"%d", worker);
    if (r == SPW_OK && le) {
        r = spw_buf_append(out, "\",le=\"", 6);
        if (r == SPW_OK)
            r = put_double(out, *le);
    }
    return r == SPW_OK ? spw_buf_append(out, "\"}", 2) : r;
}

static spw_result put_sample(spw_buf *out, const struct labels *l, const struct sample *s) {
    const spw__metric_view *v = &s->v;
    spw_result r = SPW_OK;
    if (v->type != SPW__METRIC_HISTOGRAM) {
        r = spw_buf_append(out, s->family, strlen(s->family));
        if (r == SPW_OK)
            r = put_labels(out, l, v->stage, v->worker, NULL);
        if (r == SPW_OK)
            r = v->type == SPW__METRIC_COUNTER ? spw_buf_printf(out, " %" PRIu64 "\n", v->counter)
                                               : spw_buf_printf(out, " %" PRId64 "\n", v->gauge);
        return r;
    }
    /* Buckets are cumulative in the format, per bucket in the registry. */
    uint64_t cum = 0;
    for (size_t i = 0; i <= v->n_bounds && r == SPW_OK; i++) {
        double le = i < v->n_bounds ? v->bounds[i] : INFINITY;
        cum += v->buckets[i];
        r = spw_buf_printf(out, "%s_bucket", s->family);
        if (r == SPW_OK)
            r = put_labels(out, l, v->stage, v->worker, &le);
        if (r == SPW_OK)
            r = spw_buf_printf(out, " %" PRIu64 "\n", cum);
    }
    if (r == SPW_OK)
        r = spw_buf_printf(out, "%s_sum", s->family);
    if (r == SPW_OK)
        r = put_labels(out, l, v->stage, v->worker, NULL);
    if (r == SPW_OK)
        r = spw_buf_append(out, " ", 1);
    if (r == SPW_OK)
        r = put_double(out, v->sum);
    if (r == SPW_OK)
        r = spw_buf_printf(out, "\n%s_count", s->family);
    if (r == SPW_OK)
        r = put_labels(out, l, v->stage, v->worker, NULL);
    if (r == SPW_OK)
        r = spw_buf_printf(out, " %" PRIu64 "\n", v->count);
    return r;
}

spw_result spw__metrics_prometheus(spw__metrics *m, const char *pipeline, spw__plugin_of_fn plugin_of,
                                   void *arg, spw_buf *out) {
    struct gather g = {0};
    struct labels l = {pipeline ? pipeline : "", plugin_of, arg};
    spw__metrics_visit(m, gather_cb, &g);
    spw_result r = g.nomem ? SPW_ERR_NOMEM : SPW_OK;
    bool *done = r == SPW_OK ? calloc(g.n ? g.n : 1, sizeof *done) : NULL;
    if (r == SPW_OK && !done)
        r = SPW_ERR_NOMEM;
    for (size_t i = 0; i < g.n && r == SPW_OK; i++) {
        if (done[i])
            continue;
        const struct sample *f = &g.s[i];
        r = spw_buf_printf(out, "# HELP %s ", f->family);
        if (r == SPW_OK)
            r = put_escaped(out, *f->v.help ? f->v.help : f->v.name, false);
        if (r == SPW_OK)
            r = spw_buf_printf(out, "\n# TYPE %s %s\n", f->family, type_name(f->v.type));
        for (size_t j = i; j < g.n && r == SPW_OK; j++)
            if (!done[j] && strcmp(g.s[j].family, f->family) == 0) {
                done[j] = true;
                r = put_sample(out, &l, &g.s[j]);
            }
    }
    free(done);
    for (size_t i = 0; i < g.n; i++) {
        free(g.s[i].buckets);
        free(g.s[i].family);
    }
    free(g.s);
    return r;
}
