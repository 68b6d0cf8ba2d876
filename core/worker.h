/*
 * core/worker.h: one worker thread. It owns a libuv loop and one instance
 * of every stage; events submitted on it are encoded, batched, sent and
 * acknowledged on it, so the hot path takes no locks. The main thread talks
 * to a worker only through its async handle and atomics.
 */
#ifndef SPW_CORE_WORKER_H
#define SPW_CORE_WORKER_H

#include <stdatomic.h>
#include <uv.h>
#include "backoff.h"
#include "pipeline.h"
#include "stage.h"

struct spw__route;

/*
 * A generation: the stage instances and routes one pipeline definition
 * made on this worker. A reload builds a new one beside the current; the
 * old one retires: it takes no new events, and is destroyed once its
 * routes hold nothing (core/generation.c).
 */
typedef struct spw__gen {
    const spw__stage_def *defs;
    size_t n_defs;
    struct spw_stage **stages;       /* one per def, same index; sources may be carried over */
    struct spw__route *routes;       /* one per sink def */
    size_t n_routes;
    uint64_t retired_at;             /* loop time it retired */
    struct spw__gen *next;           /* retired list, graveyard */
} spw__gen;

/* Commands main -> worker for a reload (spw__worker.reload_cmd). */
enum { SPW__RELOAD_NONE = 0, SPW__RELOAD_BUILD, SPW__RELOAD_COMMIT, SPW__RELOAD_DISCARD };

enum spw__worker_state {
    SPW__W_CREATED = 0, /* stages being created */
    SPW__W_RUNNING,     /* sources producing */
    SPW__W_DRAINING,    /* sources stopped, in-flight finishing */
    SPW__W_DONE,        /* loop stopped */
};

typedef struct spw__worker {
    spw__pipeline *p;
    unsigned index;
    uv_thread_t thread;
    uv_loop_t loop;
    int state;

    spw__gen *gen;                   /* the current generation */
    struct spw__route *routes;       /* gen->routes and gen->n_routes, for the hot path */
    size_t n_routes;
    spw__gen *staged;                /* built by a reload, waiting for commit or discard */
    spw__gen *retired;               /* earlier generations draining */
    struct spw_stage *retired_sources; /* sources a reload stopped, waiting for their answers,
                                          or retired still serving (stage.h: serving) */
    spw__gen *graveyard;             /* destroyed; freed at the worker's exit */
    struct spw_stage *source_graveyard;
    uv_timer_t retire_timer;         /* looks at what retired while anything has */
    atomic_int reload_cmd;           /* SPW__RELOAD_*: main -> worker, with wake */
    const spw__stage_def *reload_defs; /* SPW__RELOAD_BUILD: what to build */
    size_t reload_n_defs;
    spw__rng rng;

    /* Flow control. */
    size_t in_flight;                /* submitted, not yet fully released */
    size_t cap, low_water;
    bool paused;
    unsigned sources_running;        /* sources not finished */

    /* Events submitted and not yet answered, in deadline order. */
    spw_event *fly_head, *fly_tail;
    uv_timer_t deadline_timer;

    /* Answers and sends are never made from inside spw_submit: deferred to here. */
    unsigned in_submit;
    spw_event *deferred_head, *deferred_tail;
    uv_idle_t pump;
    bool pump_active;

    /* Shutdown. */
    uv_async_t wake;                 /* main thread -> worker */
    bool wake_closed;                /* under run->lock: main must not send to wake any more */
    atomic_int stop_level;           /* 1 = drain, 2 = force */
    uv_timer_t drain_timer;
    bool idle_reported;              /* told main: all sources finished, nothing in flight */

    /* Watchdog: the loop stores its time here every turn of a timer; main
     * pets systemd only while every running worker's beat moves. */
    uv_timer_t beat_timer;
    atomic_uint_fast64_t beat;

    /* Core metrics of this worker. */
    spw_counter *c_submitted, *c_ok, *c_retry, *c_reject, *c_expired;
    spw_counter *c_worker_events; /* c_submitted, reported per worker (how work spreads) */
    spw_gauge *g_in_flight;
    spw_gauge *g_routes_down;        /* routes of this worker whose destination is down */
    spw_histogram *h_answer;         /* submit to answer, seconds */
} spw__worker;

/* Generations (core/generation.c), on the worker thread. start: start new sources now. */
spw_result spw__gen_build(spw__worker *w, const spw__stage_def *defs, size_t n_defs, bool start,
                          spw__gen **out, spw_err *err);
/* The new generation takes every event submitted from now on; the old one retires. */
void spw__gen_commit(spw__worker *w, spw__gen *ng);
/* Undoes a build: its routes never took an event; its own sources stop and retire. */
void spw__gen_discard(spw__worker *w, spw__gen *g);
/* A source called spw_source_finished: one a reload retired while serving may now go. */
void spw__gen_source_finished(spw__worker *w, struct spw_stage *st);
/* Sends what retired routes have ready (the pump). */
void spw__gen_pump_retired(spw__worker *w);
/* Shutdown: destroys retired sources (SOURCE) or retired generations (any other kind). */
void spw__gen_teardown_retired(spw__worker *w, spw_kind kind);
/* Frees generations and stages destroyed on an earlier loop turn. */
void spw__gen_free_graveyard(spw__worker *w);

/* Runs on the worker thread: create stages, wait for go, run, tear down. */
void spw__worker_main(void *arg);

/* Schedules the pump (deferred answers, route sends) on the next loop turn. */
void spw__worker_kick(spw__worker *w);
/* Called when in_flight drops: resumes sources, detects the end of work. */
void spw__worker_released(spw__worker *w);
/* Pauses the worker's sources (in-flight cap reached). */
void spw__worker_pause(spw__worker *w);

#endif /* SPW_CORE_WORKER_H */
