/*
 * core/worker.c: a worker thread's life.
 *
 * 1. Create every stage instance on this thread (all-or-nothing across the
 *    pipeline: the main thread waits for every worker, and if one failed
 *    they all tear down before any source starts).
 * 2. Start the sources and run the loop. The pump (an idle handle, active
 *    only while there is work) gives deferred answers and sends batches.
 * 3. On a stop request: sources stop, fill batches go out at once, and the
 *    worker waits for in-flight events until shutdown_timeout; then every
 *    unanswered event is answered "retry" (XDR resends it) and the worker
 *    tears down: sources first (no answer can reach them after), then
 *    sinks (which must give back their batches), filters and codecs.
 */
#include <stdlib.h>
#include <string.h>
#include "ack.h"
#include "log.h"
#include "route.h"
#include "worker.h"

static void notify_main(spw__worker *w) { uv_async_send(&w->p->run->notify); }

static void on_pump(uv_idle_t *h) {
    spw__worker *w = h->data;
    spw__ack_run_deferred(w);
    for (size_t i = 0; i < w->n_routes; i++)
        spw__route_pump(&w->routes[i]);
    if (w->retired)
        spw__gen_pump_retired(w);
    spw__ack_run_deferred(w);
    if (!w->deferred_head) {
        uv_idle_stop(&w->pump);
        w->pump_active = false;
    }
}

void spw__worker_kick(spw__worker *w) {
    if (!w->pump_active && w->state != SPW__W_DONE) {
        w->pump_active = true;
        uv_idle_start(&w->pump, on_pump);
    }
}

/* what: 0 pause, 1 resume, 2 stop (a source that has finished is not stopped again). */
static void source_op(spw_stage *st, int what) {
    const spw_source_ops *ops = st->def->plugin->source;
    if (what == 0)
        ops->pause(st->inst);
    else if (what == 1)
        ops->resume(st->inst);
    else if (!st->finished)
        ops->stop(st->inst);
}

static void for_each_source(spw__worker *w, int what) {
    for (size_t i = 0; w->gen && i < w->gen->n_defs; i++) {
        spw_stage *st = w->gen->stages[i];
        if (st && st->def->kind == SPW_KIND_SOURCE && st->created)
            source_op(st, what);
    }
    /* Sources a reload replaced that still serve their connections: as running ones. */
    for (spw_stage *st = w->retired_sources; st; st = st->next)
        if (st->serving && !st->finished)
            source_op(st, what);
}

void spw__worker_pause(spw__worker *w) {
    w->paused = true;
    spw__log("core", SPW_LOG_DEBUG, "worker %u: %zu events in flight, pausing sources", w->index,
             w->in_flight);
    for_each_source(w, 0);
}

static void teardown(spw__worker *w);

static void on_drained(uv_timer_t *t) { teardown(t->data); }

void spw__worker_released(spw__worker *w) {
    if (w->paused && w->in_flight <= w->low_water && w->state == SPW__W_RUNNING) {
        w->paused = false;
        for_each_source(w, 1);
    }
    if (w->in_flight != 0)
        return;
    if (w->state == SPW__W_DRAINING) {
        /* We may be deep inside a sink's callback: tear down from a fresh loop turn. */
        uv_timer_start(&w->drain_timer, on_drained, 0, 0);
    } else if (w->state == SPW__W_RUNNING && w->sources_running == 0 && !w->idle_reported) {
        w->idle_reported = true;
        atomic_fetch_add(&w->p->run->idle, 1);
        notify_main(w);
    }
}

static void on_drain_timeout(uv_timer_t *t) {
    spw__worker *w = t->data;
    spw__log("core", SPW_LOG_WARN,
             "worker %u: %zu event(s) still in flight at shutdown_timeout; answering them retry",
             w->index, w->in_flight);
    teardown(w);
}

static void drain(spw__worker *w) {
    if (w->state != SPW__W_RUNNING)
        return;
    w->state = SPW__W_DRAINING;
    for_each_source(w, 2);
    for (size_t i = 0; i < w->n_routes; i++)
        spw__route_flush(&w->routes[i]);
    /* Sources a reload stopped keep their connections until answered: nothing to do for them
     * (those still serving, retire(), were stopped with the current ones above). */
    if (w->in_flight == 0) {
        teardown(w);
        return;
    }
    uv_timer_start(&w->drain_timer, on_drain_timeout, (uint64_t)w->p->conf.shutdown_timeout_ms, 0);
}

/* A reload command from the main thread (core/reload.c): answer it under run->lock. */
static void reload_ack(spw__worker *w, spw_result r, const spw_err *err) {
    spw__run *run = w->p->run;
    uv_mutex_lock(&run->lock);
    if (r != SPW_OK && !run->reload_failed) {
        run->reload_failed = true;
        run->reload_fail = *err;
    }
    run->reload_acks++;
    uv_cond_broadcast(&run->cond);
    uv_mutex_unlock(&run->lock);
}

static void on_reload(spw__worker *w, int cmd) {
    spw_err err = {""};
    spw_result r = SPW_OK;
    if (cmd == SPW__RELOAD_BUILD) {
        if (w->state != SPW__W_RUNNING)
            r = spw_err_set(&err, SPW_ERR_STATE, "worker %u is stopping", w->index);
        else
            r = spw__gen_build(w, w->reload_defs, w->reload_n_defs, true, &w->staged, &err);
    } else if (w->staged) {
        spw__gen *g = w->staged;
        w->staged = NULL;
        if (cmd == SPW__RELOAD_COMMIT && w->state == SPW__W_RUNNING)
            spw__gen_commit(w, g);
        else
            spw__gen_discard(w, g);
    }
    reload_ack(w, r, &err);
}

static void on_wake(uv_async_t *a) {
    spw__worker *w = a->data;
    int cmd = atomic_exchange(&w->reload_cmd, SPW__RELOAD_NONE);
    if (cmd != SPW__RELOAD_NONE)
        on_reload(w, cmd);
    int level = atomic_load(&w->p->run->stop_level);
    if (level >= 2 && w->state != SPW__W_DONE)
        teardown(w);
    else if (level >= 1)
        drain(w);
}

static void destroy_kind(spw__worker *w, spw_kind kind) {
    for (size_t i = 0; w->gen && i < w->gen->n_defs; i++)
        if (w->gen->defs[i].kind == kind && w->gen->stages[i])
            spw__stage_destroy(w->gen->stages[i]);
}

static void teardown(spw__worker *w) {
    if (w->state == SPW__W_DONE)
        return;
    bool was_running = w->state != SPW__W_CREATED;
    w->state = SPW__W_DONE;
    if (was_running) {
        /* Every event gets its answer while its source still exists. */
        spw__ack_expire_all(w);
    }
    if (w->staged) {
        spw__gen_discard(w, w->staged);
        w->staged = NULL;
    }
    destroy_kind(w, SPW_KIND_SOURCE);
    spw__gen_teardown_retired(w, SPW_KIND_SOURCE);
    spw__gen_teardown_retired(w, SPW_KIND_SINK); /* the generations a reload replaced */
    for (size_t i = 0; i < w->n_routes; i++)
        w->routes[i].closing = true;
    destroy_kind(w, SPW_KIND_SINK);
    for (size_t i = 0; i < w->n_routes; i++)
        spw__route_close(&w->routes[i]);
    destroy_kind(w, SPW_KIND_FILTER);
    destroy_kind(w, SPW_KIND_CODEC);
    uv_timer_stop(&w->deadline_timer);
    uv_close((uv_handle_t *)&w->deadline_timer, NULL);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
    uv_close((uv_handle_t *)&w->pump, NULL);
    uv_close((uv_handle_t *)&w->beat_timer, NULL);
    uv_close((uv_handle_t *)&w->retire_timer, NULL);
    /* The main thread may be about to wake us (a second signal): once the
     * loop is gone, an async send would write to a closed descriptor. */
    uv_mutex_lock(&w->p->run->lock);
    w->wake_closed = true;
    uv_mutex_unlock(&w->p->run->lock);
    /* A reload command sent before wake_closed was set would never be seen: answer it here. */
    int cmd = atomic_exchange(&w->reload_cmd, SPW__RELOAD_NONE);
    if (cmd != SPW__RELOAD_NONE) {
        spw_err err = {""};
        spw_err_set(&err, SPW_ERR_STATE, "worker %u is stopping", w->index);
        reload_ack(w, cmd == SPW__RELOAD_BUILD ? SPW_ERR_STATE : SPW_OK, &err);
    }
    uv_close((uv_handle_t *)&w->wake, NULL);
}

static void close_leftover(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static spw_result create_all(spw__worker *w, spw_err *err) {
    spw__pipeline *p = w->p;
    spw_result r = spw__gen_build(w, p->defs, p->n_defs, false, &w->gen, err);
    if (r != SPW_OK)
        return r;
    w->routes = w->gen->routes;
    w->n_routes = w->gen->n_routes;
    for (size_t i = 0; i < p->n_defs; i++)
        w->sources_running += p->defs[i].kind == SPW_KIND_SOURCE;
    spw__metrics *m = p->metrics;
    w->c_submitted = spw__metrics_register(m, "pipeline", "submitted", "events submitted by sources");
    w->c_ok = spw__metrics_register(m, "pipeline", "answered_ok", "events answered delivered");
    w->c_retry = spw__metrics_register(m, "pipeline", "answered_retry", "events answered retry");
    w->c_reject = spw__metrics_register(m, "pipeline", "answered_reject", "events answered rejected (dropped)");
    w->c_expired = spw__metrics_register(m, "pipeline", "deadline_expired", "events answered retry by their deadline");
    w->g_in_flight = spw__metrics_gauge(m, "pipeline", "in_flight", "events submitted and not yet released");
    w->g_routes_down = spw__metrics_gauge(m, "pipeline", "routes_down", "routes whose sink said its destination is down");
    spw_buckets secs = spw_buckets_seconds();
    w->h_answer = spw__metrics_histogram(m, "pipeline", "answer_latency_seconds",
                                         "time from spw_submit to the event's answer", secs.bounds,
                                         secs.n);
    /* Last, so the stats line's existing tokens keep their order (scripts read them). */
    w->c_worker_events = spw__metrics_register_worker(m, "pipeline", "worker_events",
                                                      "events submitted by sources, per worker",
                                                      w->index);
    return SPW_OK;
}

static void on_beat(uv_timer_t *t) {
    spw__worker *w = t->data;
    atomic_store(&w->beat, uv_now(&w->loop));
}

void spw__worker_main(void *arg) {
    spw__worker *w = arg;
    spw__pipeline *p = w->p;
    spw__run *run = p->run;
    spw_err err = {""};

    uv_loop_init(&w->loop);
    uv_timer_init(&w->loop, &w->deadline_timer);
    uv_timer_init(&w->loop, &w->drain_timer);
    uv_idle_init(&w->loop, &w->pump);
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_timer_init(&w->loop, &w->beat_timer);
    uv_timer_init(&w->loop, &w->retire_timer);
    w->retire_timer.data = w;
    w->deadline_timer.data = w->drain_timer.data = w->pump.data = w->wake.data = w;
    w->beat_timer.data = w;
    if (run->watchdog_ms) {
        /* Four beats per watchdog interval; unreferenced, so it never keeps the loop alive. */
        uint64_t every = run->watchdog_ms / 4 ? run->watchdog_ms / 4 : 1;
        uv_timer_start(&w->beat_timer, on_beat, every, every);
        uv_unref((uv_handle_t *)&w->beat_timer);
    }
    spw__rng_seed(&w->rng, 0);
    int64_t workers = p->conf.workers;
    w->cap = (size_t)((p->conf.max_in_flight + workers - 1) / workers);
    w->low_water = w->cap * 3 / 4;

    spw_result r = create_all(w, &err);

    uv_mutex_lock(&run->lock);
    if (r != SPW_OK && !run->failed) {
        run->failed = true;
        run->fail = err;
    }
    run->created++;
    uv_cond_broadcast(&run->cond);
    while (!run->go)
        uv_cond_wait(&run->cond, &run->lock);
    bool start = !run->failed;
    uv_mutex_unlock(&run->lock);

    if (start) {
        w->state = SPW__W_RUNNING;
        for (size_t i = 0; i < w->gen->n_defs && w->state == SPW__W_RUNNING; i++) {
            spw_stage *st = w->gen->stages[i];
            if (st->def->kind != SPW_KIND_SOURCE)
                continue;
            spw_err serr = {""};
            if (st->def->plugin->source->start(st->inst, &serr) == SPW_OK) {
                st->started = true;
            } else {
                char msg[SPW_ERR_MSG_MAX + 64];
                snprintf(msg, sizeof msg, "[%s] could not start: %s", st->def->title, serr.msg);
                spw__pipeline_fail(p, msg);
                teardown(w);
            }
        }
        if (w->state == SPW__W_RUNNING) {
            atomic_fetch_add(&run->started, 1);
            uv_async_send(&run->notify);
        }
        if (atomic_load(&run->stop_level) > 0)
            on_wake(&w->wake);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    } else {
        teardown(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    /* Plugins must close their handles in destroy; close whatever was left so the loop can end. */
    if (uv_loop_close(&w->loop) == UV_EBUSY) {
        uv_walk(&w->loop, close_leftover, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&w->loop) == UV_EBUSY)
            spw__log("core", SPW_LOG_ERROR, "worker %u: loop still busy at exit", w->index);
    }
    if (w->gen) {
        w->gen->next = w->graveyard;
        w->graveyard = w->gen;
        w->gen = NULL;
    }
    spw__gen_free_graveyard(w);
    atomic_fetch_add(&run->done, 1);
    uv_async_send(&run->notify);
}
