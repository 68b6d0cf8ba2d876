/*
 * core/pipeline.c: from an INI file to a running pipeline.
 *
 * Loading reads the file, types [pipeline] against the core's table, and
 * for every stage section finds its plugin (the `plugin` key), types the
 * section against the core's options for that kind plus the plugin's own
 * table, runs the plugin's check, and resolves references between sections
 * (a sink's codec and filters). Loading touches nothing but files it reads,
 * which is what `spillway --check` runs.
 *
 * Running opens the dead-letter file, starts the workers (all-or-nothing),
 * and waits on the main thread's loop for signals, the stats timer and the
 * workers' notifications.
 */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "loader.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "pipeline.h"
#include "reload.h"
#include "worker.h"

#define PC(f) offsetof(spw__pipeline_conf, f)
static const spw_option pipeline_options[] = {
    {"name", SPW_OPT_STRING, 0, "spillway", 0, 0, NULL, PC(name),
     "Name of the pipeline in logs and dead-letter lines."},
    {"workers", SPW_OPT_INT, 0, "1", 1, 64, NULL, PC(workers),
     "Worker threads; each runs its own loop and its own instance of every stage."},
    {"max_in_flight", SPW_OPT_INT, 0, "32768", 1, 16777216, NULL, PC(max_in_flight),
     "Events in flight at once (split evenly over workers); sources pause at the cap and resume at 75%."},
    {"event_deadline", SPW_OPT_DURATION, 0, "5s", 50, 3600000, NULL, PC(event_deadline_ms),
     "Time after which an undelivered event is answered retry; keep it well under XDR's 10 s."},
    {"shutdown_timeout", SPW_OPT_DURATION, 0, "5s", 0, 600000, NULL, PC(shutdown_timeout_ms),
     "On SIGINT/SIGTERM, how long in-flight events may take before they are answered retry."},
    {"dead_letter", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, PC(dead_letter),
     "NDJSON file where rejected events are written (and fsync'd) before they count as delivered."},
    {"log_level", SPW_OPT_ENUM, 0, "info", 0, 0, "error|warn|info|debug|trace", PC(log_level),
     "Lowest level logged."},
    {"log_format", SPW_OPT_ENUM, 0, "text", 0, 0, "text|json", PC(log_format),
     "Log lines as text or as JSON objects."},
    {"log_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, PC(log_file),
     "File to append log lines to; standard error when unset."},
    {"stats_interval", SPW_OPT_DURATION, 0, "0", 0, 86400000, NULL, PC(stats_interval_ms),
     "Interval of the counters line in the log; 0 logs it only at exit."},
    {"admin", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, PC(admin),
     "HOST:PORT of the admin HTTP endpoint (/metrics, /health/live, /health/ready, POST /reload), e.g. 127.0.0.1:9901; unset or empty: none. Port 0 lets the system choose (logged)."},
    SPW_OPTIONS_END,
};

#define SC(f) offsetof(spw__sink_conf, f)
static const spw_option sink_options[] = {
    {"codec", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, SC(codec),
     "Name of the [codec.NAME] section that encodes this route's events."},
    {"filters", SPW_OPT_LIST, 0, NULL, 0, 64, NULL, SC(filters),
     "Names of [filter.NAME] sections an event must pass to take this route."},
    {"batch_max_records", SPW_OPT_INT, 0, "1", 1, 1000000, NULL, SC(batch_max_records),
     "Events per request; 1 sends each event on its own (unframed)."},
    {"batch_max_bytes", SPW_OPT_SIZE, 0, "1MiB", 1, 1073741824.0, NULL, SC(batch_max_bytes),
     "Encoded bytes per request; a batch closes before it would exceed this."},
    {"batch_max_delay", SPW_OPT_DURATION, 0, "100ms", 0, 60000, NULL, SC(batch_max_delay_ms),
     "Longest time the first event of a batch waits for more."},
    {"concurrency", SPW_OPT_INT, 0, "0", 0, 4096, NULL, SC(concurrency),
     "Requests in progress at once per worker; 0 uses the sink's default."},
    {"max_held", SPW_OPT_INT, 0, "0", 0, 65536, NULL, SC(max_held),
     "Delivered batches a sink may hold per worker until a later confirmation (they no longer count against concurrency); 0: as many as concurrency."},
    {"on_reject", SPW_OPT_ENUM, 0, "default", 0, 0, "default|dead-letter|retry|drop", SC(on_reject),
     "What a rejected event becomes: dead-letter (default when [pipeline] dead_letter is set), retry (default otherwise) or drop (XDR abandons it)."},
    {"retry_initial", SPW_OPT_DURATION, 0, "100ms", 1, 60000, NULL, SC(retry_initial_ms),
     "Backoff cap of the first retry; it doubles each retry (full jitter)."},
    {"retry_max", SPW_OPT_DURATION, 0, "2s", 1, 600000, NULL, SC(retry_max_ms),
     "Largest backoff cap between retries."},
    {"bins_include", SPW_OPT_LIST, 0, NULL, 0, 4096, NULL, SC(bins_include),
     "Only these bins are encoded for this route (default: every bin)."},
    {"bins_exclude", SPW_OPT_LIST, 0, NULL, 0, 4096, NULL, SC(bins_exclude),
     "These bins are left out for this route (not with bins_include)."},
    {"bins_rename", SPW_OPT_LIST, 0, NULL, 0, 4096, NULL, SC(bins_rename),
     "Bins renamed for this route, as OLD:NEW items."},
    {"metadata_exclude", SPW_OPT_LIST, 0, NULL, 0, 9, NULL, SC(metadata_exclude),
     "Metadata fields the codec leaves out: namespace, set, userKey, digest, msg, gen, lut, exp, durable."},
    SPW_OPTIONS_END,
};

const spw_option *spw__pipeline_options(void) { return pipeline_options; }
const spw_option *spw__route_options(void) { return sink_options; }

static spw_kind kind_from(const char *s) {
    static const spw_kind kinds[] = {SPW_KIND_SOURCE, SPW_KIND_FILTER, SPW_KIND_CODEC, SPW_KIND_SINK};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, spw_kind_name(kinds[i])) == 0)
            return kinds[i];
    return (spw_kind)0;
}

static const char *section_plugin(const spw__cfg_section *sec, int *line) {
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].key, "plugin") == 0) {
            sec->keys[i].used = 1;
            *line = sec->keys[i].line;
            return sec->keys[i].value;
        }
    return NULL;
}

static int key_line(const spw__cfg_section *sec, const char *key) {
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].key, key) == 0)
            return sec->keys[i].line;
    return sec->line;
}

static size_t find_def(const spw__pipeline *p, spw_kind kind, const char *name) {
    for (size_t i = 0; i < p->n_defs; i++)
        if (p->defs[i].kind == kind && strcmp(p->defs[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

/* "key=value\n" for every key of a section, in file order: equal strings, same section. */
static char *fingerprint(const spw__cfg_section *sec) {
    size_t n = 1;
    for (size_t i = 0; sec && i < sec->n_keys; i++)
        n += strlen(sec->keys[i].key) + strlen(sec->keys[i].value) + 2;
    char *s = malloc(n), *o = s;
    if (!s)
        return NULL;
    *o = '\0';
    for (size_t i = 0; sec && i < sec->n_keys; i++)
        o += sprintf(o, "%s=%s\n", sec->keys[i].key, sec->keys[i].value);
    return s;
}

static spw_result load_stage(spw__pipeline *p, const spw__cfg_file *f, const spw__cfg_section *sec,
                             spw__stage_def *d, spw_err *err) {
    const char *path = f->path;
    d->kind = kind_from(sec->kind);
    d->line = sec->line;
    if (!d->kind)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "%s:%d: [%s] unknown section kind '%s' (expected pipeline, source, filter, codec or sink)",
                           path, sec->line, sec->title, sec->kind);
    if (!sec->name)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] needs a name: write [%s.NAME]", path,
                           sec->line, sec->title, sec->kind);
    d->title = strdup(sec->title);
    d->name = strdup(sec->name);
    d->fingerprint = fingerprint(sec);
    if (!d->title || !d->name || !d->fingerprint)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    int pline = sec->line;
    const char *plugin = section_plugin(sec, &pline);
    if (!plugin || !*plugin)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] missing required key 'plugin'", path,
                           sec->line, sec->title);
    spw_err lerr = {""};
    spw_result r = spw__loader_find(d->kind, plugin, &d->plugin, &lerr);
    if (r != SPW_OK)
        return spw_err_set(err, r, "%s:%d: [%s] key 'plugin': %s", path, pline, sec->title, lerr.msg);
    d->conf = calloc(1, d->plugin->config_size ? d->plugin->config_size : 1);
    if (!d->conf)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    spw__opt_target targets[2];
    size_t n = 0;
    if (d->kind == SPW_KIND_SINK)
        targets[n++] = (spw__opt_target){sink_options, &d->sink};
    targets[n++] = (spw__opt_target){d->plugin->options, d->conf};
    static const char *const ignore[] = {"plugin", NULL};
    r = spw__opts_parse(f, sec, targets, n, ignore, err);
    if (r != SPW_OK)
        return r;
    if (d->kind == SPW_KIND_SINK) {
        d->sink.on_reject -= 1; /* ENUM index 0 is "default" */
        spw_err xerr = {""};
        r = spw__xform_compile(&d->sink.bins_include, &d->sink.bins_exclude, &d->sink.bins_rename,
                               &d->sink.metadata_exclude, &d->xform, &xerr);
        if (r != SPW_OK)
            return spw_err_set(err, r, "%s:%d: [%s] %s", path, sec->line, sec->title, xerr.msg);
    }
    (void)p;
    if (d->plugin->check) {
        spw_err cerr = {""};
        r = d->plugin->check(d->conf, &cerr);
        if (r != SPW_OK)
            return spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] %s", path, sec->line, sec->title,
                               cerr.msg[0] ? cerr.msg : "invalid configuration");
    }
    return SPW_OK;
}

static spw_result resolve(spw__pipeline *p, const spw__cfg_file *f, spw_err *err) {
    size_t n_sources = 0, n_sinks = 0;
    bool *used = calloc(p->n_defs ? p->n_defs : 1, sizeof *used);
    if (!used)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    spw_result r = SPW_OK;
    for (size_t i = 0; i < p->n_defs && r == SPW_OK; i++) {
        spw__stage_def *d = &p->defs[i];
        n_sources += d->kind == SPW_KIND_SOURCE;
        if (d->kind != SPW_KIND_SINK)
            continue;
        n_sinks++;
        const spw__cfg_section *sec = spw__cfg_find(f, d->title);
        d->codec = find_def(p, SPW_KIND_CODEC, d->sink.codec);
        if (d->codec == SIZE_MAX) {
            r = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] key 'codec': no section [codec.%s]",
                            f->path, key_line(sec, "codec"), d->title, d->sink.codec);
            break;
        }
        used[d->codec] = true;
        /* The ops field exists only in plugins built for ABI 1.2 or later. */
        const spw_sink_ops *ops = d->plugin->sink;
        if (d->plugin->abi_minor >= 2 && ops->check_codec) {
            spw_err cerr = {""};
            if (ops->check_codec(d->conf, p->defs[d->codec].plugin->name, &cerr) != SPW_OK) {
                r = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] key 'codec': %s", f->path,
                                key_line(sec, "codec"), d->title,
                                cerr.msg[0] ? cerr.msg : "refused by the sink");
                break;
            }
        }
        d->n_filters = d->sink.filters.n;
        d->filters = calloc(d->n_filters ? d->n_filters : 1, sizeof *d->filters);
        if (!d->filters) {
            r = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < d->n_filters; k++) {
            d->filters[k] = find_def(p, SPW_KIND_FILTER, d->sink.filters.v[k]);
            if (d->filters[k] == SIZE_MAX) {
                r = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] key 'filters': no section [filter.%s]",
                                f->path, key_line(sec, "filters"), d->title, d->sink.filters.v[k]);
                break;
            }
            used[d->filters[k]] = true;
        }
        if (r != SPW_OK)
            break;
        if (d->sink.on_reject < 0)
            d->sink.on_reject = p->conf.dead_letter ? SPW__REJECT_DEAD_LETTER : SPW__REJECT_RETRY;
        else if (d->sink.on_reject == SPW__REJECT_DEAD_LETTER && !p->conf.dead_letter)
            r = spw_err_set(err, SPW_ERR_CONFIG,
                            "%s:%d: [%s] key 'on_reject': dead-letter needs 'dead_letter' set in [pipeline]",
                            f->path, key_line(sec, "on_reject"), d->title);
    }
    if (r == SPW_OK && n_sources == 0)
        r = spw_err_set(err, SPW_ERR_CONFIG, "%s: no [source.NAME] section: a pipeline needs a source", f->path);
    if (r == SPW_OK && n_sinks == 0)
        r = spw_err_set(err, SPW_ERR_CONFIG, "%s: no [sink.NAME] section: a pipeline needs a sink", f->path);
    for (size_t i = 0; r == SPW_OK && i < p->n_defs; i++) {
        spw__stage_def *d = &p->defs[i];
        if ((d->kind == SPW_KIND_CODEC || d->kind == SPW_KIND_FILTER) && !used[i])
            spw__log("config", SPW_LOG_WARN, "%s:%d: [%s] is not used by any sink", f->path, d->line,
                     d->title);
    }
    free(used);
    return r;
}

spw_result spw__pipeline_load(const char *path, const char *text, spw__pipeline **out, spw_err *err) {
    *out = NULL;
    spw__cfg_file *f = NULL;
    spw_result r = text ? spw__cfg_load_string(text, path, &f, err) : spw__cfg_load(path, &f, err);
    if (r != SPW_OK)
        return r;
    spw__pipeline *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        spw__cfg_free(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    p->defs = calloc(f->n_sections ? f->n_sections : 1, sizeof *p->defs);
    if (!p->defs) {
        r = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const spw__cfg_section *psec = spw__cfg_find(f, "pipeline");
    spw__opt_target pt = {pipeline_options, &p->conf};
    r = psec ? spw__opts_parse(f, psec, &pt, 1, NULL, err) : spw__opts_defaults(pipeline_options, &p->conf, err);
    if (r != SPW_OK)
        goto fail;
    if (!(p->conf_fingerprint = fingerprint(psec))) {
        r = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (p->conf.admin && *p->conf.admin) {
        spw_err aerr = {""};
        if (spw__admin_check(p->conf.admin, &aerr) != SPW_OK) {
            r = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [pipeline] key 'admin': %s", f->path,
                            key_line(psec, "admin"), aerr.msg);
            goto fail;
        }
    }
    for (size_t i = 0; i < f->n_sections; i++) {
        const spw__cfg_section *sec = &f->sections[i];
        if (sec == psec)
            continue;
        if (strcmp(sec->kind, "pipeline") == 0) {
            r = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] the pipeline section takes no name: write [pipeline]",
                            f->path, sec->line, sec->title);
            goto fail;
        }
        r = load_stage(p, f, sec, &p->defs[p->n_defs++], err);
        if (r != SPW_OK)
            goto fail;
    }
    r = resolve(p, f, err);
    if (r != SPW_OK)
        goto fail;
    spw__cfg_free(f);
    *out = p;
    return SPW_OK;
fail:
    spw__cfg_free(f);
    spw__pipeline_free(p);
    return r;
}

void spw__pipeline_free(spw__pipeline *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_defs; i++) {
        spw__stage_def *d = &p->defs[i];
        if (d->plugin && d->conf)
            spw__opts_free(d->plugin->options, d->conf);
        if (d->kind == SPW_KIND_SINK) {
            spw__xform_free(&d->xform);
            spw__opts_free(sink_options, &d->sink);
        }
        free(d->conf);
        free(d->filters);
        free(d->title);
        free(d->name);
        free(d->fingerprint);
    }
    free(p->defs);
    free(p->conf_fingerprint);
    spw__pipeline_free(p->retired);
    spw__opts_free(pipeline_options, &p->conf);
    free(p->path);
    free(p);
}

/* ---- running ------------------------------------------------------------ */

void spw__pipeline_fail(spw__pipeline *p, const char *msg) {
    spw__run *run = p->run;
    uv_mutex_lock(&run->lock);
    if (!run->failed) {
        run->failed = true;
        snprintf(run->fail.msg, sizeof run->fail.msg, "%s", msg);
    }
    uv_mutex_unlock(&run->lock);
    atomic_store(&run->stop_level, 2);
    atomic_store(&p->phase, SPW__PHASE_FAILED);
    uv_async_send(&run->notify);
}

static void stop_workers(spw__pipeline *p, int level) {
    spw__run *run = p->run;
    int cur = atomic_load(&run->stop_level);
    if (cur < level)
        atomic_store(&run->stop_level, level);
    int running = SPW__PHASE_RUNNING, starting = SPW__PHASE_STARTING;
    if (atomic_compare_exchange_strong(&p->phase, &running, SPW__PHASE_DRAINING) ||
        atomic_compare_exchange_strong(&p->phase, &starting, SPW__PHASE_DRAINING))
        spw__notify("STOPPING=1", "draining in-flight events");
    uv_mutex_lock(&run->lock);
    for (int64_t i = 0; i < p->conf.workers; i++)
        if (!run->workers[i].wake_closed)
            uv_async_send(&run->workers[i].wake);
    uv_mutex_unlock(&run->lock);
}

static void on_notify(uv_async_t *a) {
    spw__pipeline *p = a->data;
    spw__run *run = p->run;
    unsigned n = (unsigned)p->conf.workers;
    if (atomic_load(&run->done) == n) {
        uv_stop(&run->loop);
        return;
    }
    int starting = SPW__PHASE_STARTING;
    if (atomic_load(&run->started) == n &&
        atomic_compare_exchange_strong(&p->phase, &starting, SPW__PHASE_RUNNING))
        spw__notify("READY=1", "running");
    if (atomic_load(&run->stop_level) >= 2) {
        stop_workers(p, 2);
        return;
    }
    if (atomic_load(&run->idle) == n && atomic_load(&run->stop_level) == 0) {
        spw__log("core", SPW_LOG_INFO, "every source has finished and nothing is in flight; stopping");
        stop_workers(p, 1);
    }
}

static void on_signal(uv_signal_t *s, int signum) {
    spw__pipeline *p = s->data;
    /*
     * Count signals, not stop levels: a run that is already draining on its
     * own (its sources finished) when the first signal comes has not been
     * asked twice, and must not answer its in-flight events retry.
     */
    if (p->run->stop_signals++ == 0) {
        bool draining = atomic_load(&p->run->stop_level) != 0;
        spw__log("core", SPW_LOG_INFO,
                 "%s: stopping%s; in-flight events have %lld ms to finish (signal again to stop now)",
                 signum == SIGINT ? "SIGINT" : "SIGTERM",
                 draining ? " (already stopping: its sources finished, or it failed)" : "",
                 (long long)p->conf.shutdown_timeout_ms);
        stop_workers(p, 1);
    } else {
        spw__log("core", SPW_LOG_WARN, "second signal: answering in-flight events retry now");
        stop_workers(p, 2);
    }
}

static void on_stats(uv_timer_t *t) { spw__metrics_log(((spw__pipeline *)t->data)->metrics); }

/*
 * Every half watchdog interval: pet systemd's watchdog when each worker
 * still running has beaten since the last look. A worker stuck in a
 * plugin (a loop that never turns) stops the petting, and systemd
 * restarts the service: a stuck connector is worse than a restarted one,
 * since XDR resends whatever was not answered.
 */
struct watchdog {
    spw__pipeline *p;
    uint64_t *last;
    bool warned;
};

static void on_watchdog(uv_timer_t *t) {
    struct watchdog *wd = t->data;
    spw__run *run = wd->p->run;
    bool all = true;
    for (int64_t i = 0; i < wd->p->conf.workers; i++) {
        spw__worker *w = &run->workers[i];
        uint64_t beat = atomic_load(&w->beat);
        if (beat == wd->last[i] && atomic_load(&run->started) == (unsigned)wd->p->conf.workers &&
            spw__pipeline_phase(wd->p) == SPW__PHASE_RUNNING) {
            all = false;
            if (!wd->warned)
                spw__log("core", SPW_LOG_ERROR,
                         "worker %lld has not turned its loop for %llu ms; not petting the watchdog",
                         (long long)i, (unsigned long long)run->watchdog_ms / 2);
            wd->warned = true;
        }
        wd->last[i] = beat;
    }
    if (all) {
        wd->warned = false;
        spw__notify_watchdog();
    }
}

static void close_cb(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

spw_result spw__pipeline_run(spw__pipeline *p, spw_err *err) {
    unsigned n = (unsigned)p->conf.workers;
    spw__run run;
    memset(&run, 0, sizeof run);
    spw_result r = SPW_OK;
    /* A caller (a test) may lend its own registry, to read the metrics after the run. */
    bool own_metrics = p->metrics == NULL;
    if (own_metrics && !(p->metrics = spw__metrics_new()))
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    atomic_store(&p->phase, SPW__PHASE_STARTING);
    if (p->conf.dead_letter && (r = spw__dlq_open(p->conf.dead_letter, &p->dlq, err)) != SPW_OK)
        return r;
    /* The admin thread's POST /reload reaches run.lock through p->run: set before it starts. */
    uv_mutex_init(&run.lock);
    uv_cond_init(&run.cond);
    p->run = &run;
    /* Up before the workers: probes see "starting", and a taken port stops us here. */
    spw__admin *admin = NULL;
    if (p->conf.admin && *p->conf.admin && (r = spw__admin_start(p, p->conf.admin, &admin, err)) != SPW_OK) {
        p->run = NULL;
        uv_cond_destroy(&run.cond);
        uv_mutex_destroy(&run.lock);
        return r;
    }
    run.workers = calloc(n, sizeof *run.workers);
    if (!run.workers) {
        spw__admin_stop(admin);
        p->run = NULL;
        uv_cond_destroy(&run.cond);
        uv_mutex_destroy(&run.lock);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    uv_loop_init(&run.loop);
    uv_async_init(&run.loop, &run.notify, on_notify);
    run.notify.data = p;
    spw__reload_init(p);

    uv_signal_t sigint, sigterm;
    uv_timer_t stats, watchdog;
    uv_signal_init(&run.loop, &sigint);
    uv_signal_init(&run.loop, &sigterm);
    uv_timer_init(&run.loop, &stats);
    uv_timer_init(&run.loop, &watchdog);
    sigint.data = sigterm.data = stats.data = p;
    struct watchdog wd = {p, calloc(n, sizeof(uint64_t)), false};
    watchdog.data = &wd;
    run.watchdog_ms = wd.last ? spw__notify_watchdog_ms() : 0;
    if (run.watchdog_ms) {
        uint64_t every = run.watchdog_ms / 2 ? run.watchdog_ms / 2 : 1;
        uv_timer_start(&watchdog, on_watchdog, every, every);
    }
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    if (p->conf.stats_interval_ms > 0)
        uv_timer_start(&stats, on_stats, (uint64_t)p->conf.stats_interval_ms,
                       (uint64_t)p->conf.stats_interval_ms);

    /* Workers never take SIGINT/SIGTERM/SIGHUP: the main loop's handlers do. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    unsigned started = 0;
    for (; started < n; started++) {
        spw__worker *w = &run.workers[started];
        w->p = p;
        w->index = started;
        if (uv_thread_create(&w->thread, spw__worker_main, w) != 0)
            break;
    }
    /* The handlers are in place: this thread takes the signals now, one main held back
     * while the pipeline loaded included (it stops the run cleanly once the loop runs). */
    pthread_sigmask(SIG_UNBLOCK, &block, NULL);

    uv_mutex_lock(&run.lock);
    if (started < n && !run.failed) {
        run.failed = true;
        snprintf(run.fail.msg, sizeof run.fail.msg, "could not start worker thread %u", started);
    }
    while (run.created < started)
        uv_cond_wait(&run.cond, &run.lock);
    run.go = true;
    bool failed = run.failed;
    uv_cond_broadcast(&run.cond);
    uv_mutex_unlock(&run.lock);

    if (!failed) {
        spw__reload_metrics(p);
        spw__log("core", SPW_LOG_INFO, "pipeline '%s' running (%u worker%s, %zu stage%s)", p->conf.name,
                 n, n > 1 ? "s" : "", p->n_defs, p->n_defs > 1 ? "s" : "");
        uv_run(&run.loop, UV_RUN_DEFAULT);
    }
    /*
     * Every worker is done: the stop is complete, and a late SIGTERM (a
     * supervisor insisting) must not turn a clean exit into a death by
     * signal. Closing the signal handles below restores the default
     * action, so the signals are blocked instead (every other thread
     * already blocks them) and stay pending until the process exits.
     */
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&run.workers[i].thread);

    spw__metrics_log(p->metrics);
    spw__reload_close(p);   /* a POST /reload waiting now gets its answer: stopping */
    spw__admin_stop(admin); /* before the registry it reads goes */
    uv_walk(&run.loop, close_cb, NULL);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    uv_loop_close(&run.loop);
    if (run.failed)
        r = spw_err_set(err, SPW_ERR_CONFIG, "%s", run.fail.msg);
    free(run.workers);
    free(wd.last);
    uv_cond_destroy(&run.cond);
    uv_mutex_destroy(&run.lock);
    p->run = NULL;
    if (p->dlq) {
        spw__dlq_close(p->dlq);
        p->dlq = NULL;
    }
    if (own_metrics) {
        spw__metrics_free(p->metrics);
        p->metrics = NULL;
        /* Metric names borrow the titles of the definitions reloads replaced: they go now. */
        spw__pipeline_free(p->retired);
        p->retired = NULL;
    }
    return r;
}
