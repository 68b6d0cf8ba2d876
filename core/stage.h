/*
 * core/stage.h: one plugin instance on one worker, and the services the
 * core offers it through the SDK (logging, counters, timers, config).
 */
#ifndef SPW_CORE_STAGE_H
#define SPW_CORE_STAGE_H

#include <spillway/plugin.h>
#include "pipeline.h"

struct spw__worker;
struct spw__route;

struct spw_stage {
    struct spw__worker *worker;
    const spw__stage_def *def;
    void *inst;          /* the plugin's instance; NULL until create succeeded */
    bool created;
    bool finished;       /* sources: spw_source_finished was called */
    spw_counter *c_filter_errors; /* filters: answers other than SPW_OK and SPW_SKIP */
    struct spw__route *route;     /* sinks: the route it serves; set once create() returned */
    size_t in_flight;             /* sources: events submitted and not yet answered */
    bool started;                 /* sources: start() succeeded */
    bool serving;                 /* sources: retired by a reload with retire(), not finished:
                                     still submitting from the connections it had */
    struct spw_stage *next;       /* sources: retired list (a reload stopped it) */
};

/* Creates the plugin instance (on the worker thread). */
spw_result spw__stage_create(struct spw_stage *st, struct spw__worker *w,
                             const spw__stage_def *def, spw_err *err);
/* Destroys the instance if it was created. */
void spw__stage_destroy(struct spw_stage *st);

#endif /* SPW_CORE_STAGE_H */
