/*
 * core/generation.c: the stage instances and routes of one pipeline
 * definition on one worker, and how a reload replaces them without losing
 * an event (doc/operations.md, "Reload").
 *
 * A reload builds a new generation beside the current one: new codecs,
 * filters, sinks and routes from the new definitions; a source whose
 * section is unchanged is carried over as it is (same instance, same
 * connections, same order groups), a new or changed one is created and
 * started at once, so a listener that cannot bind fails the reload before
 * anything changed. On commit spw_submit offers events to the new routes
 * only; the old routes keep the events they already have, send, retry
 * and dead-letter them as usual, and the old generation is destroyed
 * once its sinks hold nothing. Sources the new definition no longer has
 * are stopped: they accept nothing more, and are destroyed once every
 * event they submitted has its answer. A source whose section changed is
 * retired the same way, unless its plugin has retire() (ABI 1.4): then it
 * only stops accepting, its open connections keep submitting (into the
 * current routes: spw_submit reads w->routes) and answering, flow control
 * and shutdown treat it as a running source (worker.c), and it is
 * destroyed once it called spw_source_finished and owes no answer. A
 * later reload leaves it serving: it has nothing a new definition could
 * change, and stopping it would close the connections the first reload
 * kept open.
 *
 * Everything here runs on the worker's own thread: no lock on the hot
 * path, which only reads w->routes.
 */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "route.h"
#include "worker.h"

/* How often a worker looks at what retired (only while something has). */
#define RETIRE_CHECK_MS 50

static spw_stage *carried_source(spw__worker *w, const spw__stage_def *d) {
    spw__gen *g = w->gen;
    for (size_t i = 0; g && i < g->n_defs; i++) {
        spw_stage *st = g->stages[i];
        if (st && st->def->kind == SPW_KIND_SOURCE && strcmp(st->def->title, d->title) == 0 &&
            strcmp(st->def->fingerprint, d->fingerprint) == 0)
            return st; /* finished or not: a finite source is not run again */
    }
    return NULL;
}

static bool is_carried(const spw__gen *from, const spw_stage *st) {
    for (size_t i = 0; from && i < from->n_defs; i++)
        if (from->stages[i] == st)
            return true;
    return false;
}

/* Can the source keep serving what it has open (spw_source_ops.retire, ABI 1.4)? */
static bool can_retire(const spw_stage *st) {
    const spw_plugin *pl = st->def->plugin;
    return pl->abi_minor >= 4 && pl->source->retire && st->started && !st->finished;
}

/*
 * A source leaves the worker's current generation. replaced: the new
 * definition has a section of the same title (changed): a source with
 * retire() then stops accepting but keeps serving its open connections
 * (their events go to the current routes) and is destroyed once it has
 * finished and owes nothing. Otherwise (removed, a discarded build, no
 * retire) it is stopped: it accepts nothing more; its answers still go out.
 */
static void retire_source(spw__worker *w, spw_stage *st, bool replaced) {
    st->next = w->retired_sources;
    w->retired_sources = st;
    if (replaced && can_retire(st)) {
        /* Still running: it counts in sources_running until spw_source_finished. */
        st->serving = true;
        spw__log("core", SPW_LOG_INFO,
                 "worker %u: [%s] replaced by a reload; it accepts nothing new and serves what "
                 "it has open until it finishes (%zu answer(s) owed now)",
                 w->index, st->def->title, st->in_flight);
        st->def->plugin->source->retire(st->inst);
        return;
    }
    if (st->started && !st->finished) {
        st->def->plugin->source->stop(st->inst);
        if (w->sources_running > 0)
            w->sources_running--;
    }
    st->finished = true;
    spw__log("core", SPW_LOG_INFO, "worker %u: [%s] retired; %zu answer(s) still owed", w->index,
             st->def->title, st->in_flight);
}

/* Is there a source section titled like st's in g (its section changed, rather than left)? */
static bool has_source_titled(const spw__gen *g, const spw_stage *st) {
    for (size_t i = 0; i < g->n_defs; i++)
        if (g->defs[i].kind == SPW_KIND_SOURCE && strcmp(g->defs[i].title, st->def->title) == 0)
            return true;
    return false;
}

/* Destroys the non-source stages and routes of g (sources are handled by their owner). */
static void destroy_gen(spw__gen *g) {
    for (size_t i = 0; i < g->n_routes; i++)
        g->routes[i].closing = true;
    for (size_t i = 0; i < g->n_defs; i++)
        if (g->stages[i] && g->defs[i].kind == SPW_KIND_SINK)
            spw__stage_destroy(g->stages[i]);
    for (size_t i = 0; i < g->n_routes; i++)
        spw__route_close(&g->routes[i]);
    static const spw_kind rest[] = {SPW_KIND_FILTER, SPW_KIND_CODEC};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < g->n_defs; i++)
            if (g->stages[i] && g->defs[i].kind == rest[k])
                spw__stage_destroy(g->stages[i]);
}

/*
 * Frees g's memory: at the worker's exit only. Its routes' timers close on
 * a later loop turn, and a plugin's destroy may close handles over several
 * turns whose callbacks still name the stage; what a reload leaves here is
 * small (a stage and a route struct per stage).
 */
static void free_gen(spw__gen *g) {
    /* Sources a reload moved on were taken out of g's array when they left it. */
    for (size_t i = 0; i < g->n_defs; i++)
        free(g->stages[i]);
    free(g->stages);
    free(g->routes);
    free(g);
}

void spw__gen_free_graveyard(spw__worker *w) {
    while (w->graveyard) {
        spw__gen *g = w->graveyard;
        w->graveyard = g->next;
        free_gen(g);
    }
    while (w->source_graveyard) {
        spw_stage *st = w->source_graveyard;
        w->source_graveyard = st->next;
        free(st);
    }
}

/* Destroys a generation that never took an event (a failed build), or one that fully drained. */
static void bury(spw__worker *w, spw__gen *g) {
    destroy_gen(g);
    g->next = w->graveyard;
    w->graveyard = g;
}

spw_result spw__gen_build(spw__worker *w, const spw__stage_def *defs, size_t n_defs, bool start,
                          spw__gen **out, spw_err *err) {
    *out = NULL;
    spw__gen *g = calloc(1, sizeof *g);
    size_t n_sinks = 0;
    for (size_t i = 0; i < n_defs; i++)
        n_sinks += defs[i].kind == SPW_KIND_SINK;
    if (g) {
        g->defs = defs;
        g->n_defs = n_defs;
        g->stages = calloc(n_defs ? n_defs : 1, sizeof *g->stages);
        g->routes = calloc(n_sinks ? n_sinks : 1, sizeof *g->routes);
    }
    if (!g || !g->stages || !g->routes) {
        if (g) {
            free(g->stages);
            free(g->routes);
        }
        free(g);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    spw_result r = SPW_OK;
    /* Codecs and filters first: sinks and sources may look at them when created. */
    static const spw_kind order[] = {SPW_KIND_CODEC, SPW_KIND_FILTER, SPW_KIND_SINK, SPW_KIND_SOURCE};
    for (size_t k = 0; k < 4 && r == SPW_OK; k++)
        for (size_t i = 0; i < n_defs && r == SPW_OK; i++) {
            const spw__stage_def *d = &defs[i];
            if (d->kind != order[k])
                continue;
            if (d->kind == SPW_KIND_SOURCE && (g->stages[i] = carried_source(w, d)))
                continue;
            spw_stage *st = calloc(1, sizeof *st);
            if (!st) {
                r = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
                break;
            }
            g->stages[i] = st;
            r = spw__stage_create(st, w, d, err);
            if (r == SPW_OK && d->kind == SPW_KIND_SINK) {
                r = spw__route_init(&g->routes[g->n_routes], w, g, d, err);
                g->n_routes++;
            }
        }
    /* A new source starts now, so that a listener that cannot bind fails the reload. */
    for (size_t i = 0; i < n_defs && r == SPW_OK && start; i++) {
        spw_stage *st = g->stages[i];
        if (defs[i].kind != SPW_KIND_SOURCE || st->started)
            continue;
        spw_err serr = {""};
        if (defs[i].plugin->source->start(st->inst, &serr) != SPW_OK) {
            r = spw_err_set(err, SPW_ERR_CONFIG, "[%s] could not start: %s", defs[i].title, serr.msg);
            break;
        }
        st->started = true;
        w->sources_running++;
        if (w->paused)
            defs[i].plugin->source->pause(st->inst);
    }
    if (r != SPW_OK) {
        spw__gen_discard(w, g);
        return r;
    }
    *out = g;
    return SPW_OK;
}

static void on_retire_check(uv_timer_t *t);

static void retire_timer_start(spw__worker *w) {
    if (!uv_is_active((uv_handle_t *)&w->retire_timer))
        uv_timer_start(&w->retire_timer, on_retire_check, RETIRE_CHECK_MS, RETIRE_CHECK_MS);
}

void spw__gen_discard(spw__worker *w, spw__gen *g) {
    /* Its own sources may have started (and submitted, through the current routes). */
    for (size_t i = 0; i < g->n_defs; i++) {
        spw_stage *st = g->stages[i];
        if (!st || g->defs[i].kind != SPW_KIND_SOURCE)
            continue;
        g->stages[i] = NULL;
        if (is_carried(w->gen, st))
            continue;
        if (st->created)
            retire_source(w, st, false);
        else
            free(st);
    }
    /* Its routes never took an event: destroyed at once. */
    bury(w, g);
    retire_timer_start(w);
}

void spw__gen_commit(spw__worker *w, spw__gen *ng) {
    spw__gen *old = w->gen;
    for (size_t i = 0; i < old->n_defs; i++) {
        spw_stage *st = old->stages[i];
        if (!st || old->defs[i].kind != SPW_KIND_SOURCE)
            continue;
        old->stages[i] = NULL; /* a source belongs to the generation that has it now */
        if (!is_carried(ng, st))
            retire_source(w, st, has_source_titled(ng, st));
    }
    w->gen = ng;
    w->routes = ng->routes;
    w->n_routes = ng->n_routes;
    /* What the old routes were filling goes out now; nothing new joins it. */
    for (size_t i = 0; i < old->n_routes; i++)
        spw__route_flush(&old->routes[i]);
    old->retired_at = uv_now(&w->loop);
    old->next = w->retired;
    w->retired = old;
    retire_timer_start(w);
    spw__worker_kick(w);
}

/*
 * A retired generation may go when its sinks hold no batch and its routes
 * queue nothing. Batches still queued once an event deadline has passed
 * since it retired hold only events already answered retry (every event
 * it was offered was submitted before): they are released, not sent.
 */
static bool gen_drained(spw__worker *w, const spw__gen *g, uint64_t now) {
    bool late = now >= g->retired_at + (uint64_t)w->p->conf.event_deadline_ms;
    for (size_t i = 0; i < g->n_routes; i++)
        if (!spw__route_empty(&g->routes[i], !late))
            return false;
    return true;
}

static void on_retire_check(uv_timer_t *t) {
    spw__worker *w = t->data;
    uint64_t now = uv_now(&w->loop);
    for (spw__gen **pg = &w->retired; *pg;) {
        spw__gen *g = *pg;
        if (gen_drained(w, g, now)) {
            *pg = g->next;
            spw__log("core", SPW_LOG_DEBUG, "worker %u: a retired generation drained; destroying it",
                     w->index);
            bury(w, g);
        } else {
            pg = &g->next;
        }
    }
    bool waiting = false; /* a retired source that has finished and still owes answers */
    for (spw_stage **ps = &w->retired_sources; *ps;) {
        spw_stage *st = *ps;
        if (st->finished && st->in_flight == 0) {
            *ps = st->next;
            spw__log("core", SPW_LOG_INFO, "worker %u: [%s] owes nothing more; destroyed", w->index,
                     st->def->title);
            spw__stage_destroy(st);
            /* Its handles close on later turns and may still name the stage: freed at exit. */
            st->next = w->source_graveyard;
            w->source_graveyard = st;
        } else {
            waiting |= st->finished;
            ps = &st->next;
        }
    }
    /* Sources still serving may do so for hours: spw__gen_source_finished wakes us for them. */
    if (!w->retired && !waiting)
        uv_timer_stop(&w->retire_timer);
}

void spw__gen_source_finished(spw__worker *w, spw_stage *st) {
    if (!st->serving)
        return;
    st->serving = false;
    spw__log("core", SPW_LOG_DEBUG, "worker %u: [%s] (replaced by a reload) has finished; %zu "
             "answer(s) still owed", w->index, st->def->title, st->in_flight);
    if (w->state != SPW__W_DONE)
        retire_timer_start(w);
}

void spw__gen_teardown_retired(spw__worker *w, spw_kind kind) {
    if (kind == SPW_KIND_SOURCE) {
        while (w->retired_sources) {
            spw_stage *st = w->retired_sources;
            w->retired_sources = st->next;
            spw__stage_destroy(st);
            st->next = w->source_graveyard;
            w->source_graveyard = st;
        }
        return;
    }
    while (w->retired) {
        spw__gen *g = w->retired;
        w->retired = g->next;
        bury(w, g);
    }
    uv_timer_stop(&w->retire_timer);
}

void spw__gen_pump_retired(spw__worker *w) {
    for (spw__gen *g = w->retired; g; g = g->next)
        for (size_t i = 0; i < g->n_routes; i++)
            spw__route_pump(&g->routes[i]);
}
