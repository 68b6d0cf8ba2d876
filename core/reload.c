/*
 * core/reload.c: the main thread's side of a reload.
 *
 * The file is loaded exactly as `spillway --check` loads it (environment
 * variables expanded again, plugins checked); any error refuses the
 * reload and nothing changes. [pipeline] cannot change while running
 * (worker count, in-flight cap, dead-letter file, admin address, logs...):
 * a reload that changes it is refused, naming the keys, since they need a
 * restart. Then two phases, so that either every worker switches or none
 * does: each worker builds the new generation beside its current one
 * (core/generation.c) and answers; if one failed, every worker discards
 * what it built, else every worker commits. The main thread waits on
 * run->cond meanwhile: it has nothing else to do than signals and stats,
 * which wait a few milliseconds.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "taps.h"
#include "worker.h"

/* Names the [pipeline] keys whose values differ between two fingerprints ("k=v\n" lines). */
static void changed_keys(const char *a, const char *b, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const char *x = pass ? b : a, *y = pass ? a : b;
        for (const char *line = x; *line;) {
            const char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
            const char *eq = memchr(line, '=', n);
            size_t klen = eq ? (size_t)(eq - line) : n;
            /* Same line in the other? Then unchanged. */
            bool same = false, seen = false;
            for (const char *o = y; *o;) {
                const char *onl = strchr(o, '\n');
                size_t on = onl ? (size_t)(onl - o + 1) : strlen(o);
                if (on == n && memcmp(o, line, n) == 0)
                    same = true;
                o += on;
            }
            /* Already named (pass 1 names a key only when pass 0 did not)? */
            char key[128];
            snprintf(key, sizeof key, "'%.*s'", (int)(klen < 100 ? klen : 100), line);
            seen = strstr(out, key) != NULL;
            if (!same && !seen && len + strlen(key) + 3 < size)
                len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "", key);
            line += n;
        }
    }
}

static void count(spw__pipeline *p, bool ok) {
    spw__run *run = p->run;
    spw_counter_add(ok ? run->c_reloads : run->c_reloads_failed, 1);
}

/* Sends cmd to every worker in `to` (whose wake is open); returns how many were sent. */
static unsigned send_all(spw__pipeline *p, int cmd, bool *to, const spw__pipeline *np) {
    spw__run *run = p->run;
    unsigned sent = 0;
    for (int64_t i = 0; i < p->conf.workers; i++) {
        spw__worker *w = &run->workers[i];
        if (!to[i])
            continue;
        if (w->wake_closed) {
            to[i] = false;
            if (cmd == SPW__RELOAD_BUILD && !run->reload_failed) {
                run->reload_failed = true;
                spw_err_set(&run->reload_fail, SPW_ERR_STATE, "worker %lld is stopping", (long long)i);
            }
            continue;
        }
        if (np) {
            w->reload_defs = np->defs;
            w->reload_n_defs = np->n_defs;
        }
        atomic_store(&w->reload_cmd, cmd);
        uv_async_send(&w->wake);
        sent++;
    }
    return sent;
}

spw_result spw__pipeline_reload(spw__pipeline *p, spw_err *err) {
    spw__run *run = p->run;
    if (spw__pipeline_phase(p) != SPW__PHASE_RUNNING || atomic_load(&run->stop_level) != 0) {
        count(p, false);
        return spw_err_set(err, SPW_ERR_STATE, "reload refused: the pipeline is not running (%s)",
                           spw__pipeline_phase(p) == SPW__PHASE_STARTING ? "starting" : "stopping");
    }
    char state[96];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)uv_hrtime() / 1000);
    spw__notify(state, "reloading");
    spw__log("core", SPW_LOG_INFO, "reloading %s", p->path);

    spw__pipeline *np = NULL;
    spw_result r = spw__pipeline_load(p->path, NULL, &np, err);
    if (r == SPW_OK && strcmp(np->conf_fingerprint, p->conf_fingerprint) != 0) {
        char keys[256];
        changed_keys(np->conf_fingerprint, p->conf_fingerprint, keys, sizeof keys);
        r = spw_err_set(err, SPW_ERR_CONFIG,
                        "%s: [pipeline] key%s %s changed: [pipeline] options need a restart "
                        "(reload refused; nothing changed)",
                        p->path, strchr(keys, ',') ? "s" : "", keys);
        spw__pipeline_free(np);
        np = NULL;
    }
    if (r != SPW_OK) {
        count(p, false);
        spw__log("core", SPW_LOG_ERROR, "reload refused, the running pipeline carries on: %s", err->msg);
        spw__notify("READY=1", "running (the last reload was refused)");
        return r;
    }

    unsigned n = (unsigned)p->conf.workers;
    bool *to = calloc(n, sizeof *to);
    if (!to) {
        spw__pipeline_free(np);
        count(p, false);
        spw__notify("READY=1", "running");
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    for (unsigned i = 0; i < n; i++)
        to[i] = true;
    uv_mutex_lock(&run->lock);
    run->reload_acks = 0;
    run->reload_failed = false;
    unsigned sent = send_all(p, SPW__RELOAD_BUILD, to, np);
    while (run->reload_acks < sent)
        uv_cond_wait(&run->cond, &run->lock);
    bool failed = run->reload_failed;
    spw_err fail = run->reload_fail;
    run->reload_acks = 0;
    sent = send_all(p, failed ? SPW__RELOAD_DISCARD : SPW__RELOAD_COMMIT, to, NULL);
    while (run->reload_acks < sent)
        uv_cond_wait(&run->cond, &run->lock);
    if (!failed) {
        /* p keeps the definitions in force (the admin endpoint reads them under this lock). */
        spw__stage_def *defs = p->defs;
        size_t n_defs = p->n_defs;
        p->defs = np->defs;
        p->n_defs = np->n_defs;
        np->defs = defs;
        np->n_defs = n_defs;
    }
    uv_mutex_unlock(&run->lock);
    free(to);
    /* Stages built from np's definitions (kept or discarded) borrow its titles for their metrics. */
    np->retired = p->retired;
    p->retired = np;
    count(p, !failed);
    spw__notify("READY=1", failed ? "running (the last reload was refused)" : "running");
    if (failed) {
        spw__log("core", SPW_LOG_ERROR, "reload refused, the running pipeline carries on: %s", fail.msg);
        return spw_err_set(err, SPW_ERR_CONFIG, "%s", fail.msg);
    }
    spw__log("core", SPW_LOG_INFO, "reloaded %s (%zu stage%s)", p->path, p->n_defs,
             p->n_defs == 1 ? "" : "s");
    spw__taps_reloaded(p);
    return SPW_OK;
}

static void on_sighup(uv_signal_t *s, int signum) {
    (void)signum;
    spw__pipeline *p = s->data;
    spw_err err = {""};
    spw__log("core", SPW_LOG_INFO, "SIGHUP: reloading the pipeline");
    spw__pipeline_reload(p, &err);
}

static void on_request(uv_async_t *a) {
    spw__pipeline *p = a->data;
    spw__run *run = p->run;
    uv_mutex_lock(&run->lock);
    bool pending = run->reload_pending;
    uv_mutex_unlock(&run->lock);
    if (!pending)
        return;
    spw_err err = {""};
    spw_result r = spw__pipeline_reload(p, &err);
    uv_mutex_lock(&run->lock);
    run->reload_result = r;
    run->reload_err = err;
    run->reload_seq++;
    run->reload_pending = false;
    uv_cond_broadcast(&run->cond);
    uv_mutex_unlock(&run->lock);
}

void spw__reload_metrics(spw__pipeline *p) {
    spw__run *run = p->run;
    run->c_reloads = spw__metrics_register(p->metrics, "pipeline", "reloads",
                                           "reloads that took effect (SIGHUP, POST /reload)");
    run->c_reloads_failed = spw__metrics_register(
        p->metrics, "pipeline", "reloads_failed",
        "reloads refused (invalid pipeline, [pipeline] changed, a stage could not start)");
}

void spw__reload_init(spw__pipeline *p) {
    spw__run *run = p->run;
    uv_signal_init(&run->loop, &run->sighup);
    run->sighup.data = p;
    uv_signal_start(&run->sighup, on_sighup, SIGHUP);
    uv_async_init(&run->loop, &run->reload_async, on_request);
    run->reload_async.data = p;
    uv_mutex_lock(&run->lock);
    run->reload_open = true;
    uv_mutex_unlock(&run->lock);
}

void spw__reload_close(spw__pipeline *p) {
    spw__run *run = p->run;
    uv_mutex_lock(&run->lock);
    run->reload_open = false;
    uv_cond_broadcast(&run->cond);
    uv_mutex_unlock(&run->lock);
}

spw_result spw__reload_request(spw__pipeline *p, spw_err *err) {
    spw__run *run = p->run;
    if (!run)
        return spw_err_set(err, SPW_ERR_STATE, "the pipeline is not running");
    uv_mutex_lock(&run->lock);
    while (run->reload_open && run->reload_pending)
        uv_cond_wait(&run->cond, &run->lock);
    if (!run->reload_open) {
        uv_mutex_unlock(&run->lock);
        return spw_err_set(err, SPW_ERR_STATE, "the pipeline is stopping");
    }
    run->reload_pending = true;
    unsigned long seq = run->reload_seq;
    uv_async_send(&run->reload_async);
    while (run->reload_open && run->reload_seq == seq)
        uv_cond_wait(&run->cond, &run->lock);
    spw_result r;
    if (run->reload_seq == seq) {
        run->reload_pending = false;
        r = spw_err_set(err, SPW_ERR_STATE, "the pipeline is stopping");
    } else {
        r = run->reload_result;
        *err = run->reload_err;
    }
    uv_mutex_unlock(&run->lock);
    return r;
}
