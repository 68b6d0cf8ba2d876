/*
 * core/pipeline.h: a pipeline as configured: its [pipeline] options, one
 * definition per stage section with the plugin and both option sets
 * parsed, references between sections resolved. Built once on the main
 * thread (plugins load here, before any worker exists), then shared
 * read-only by the workers, which instantiate every stage.
 */
#ifndef SPW_CORE_PIPELINE_H
#define SPW_CORE_PIPELINE_H

#include <stdatomic.h>
#include <uv.h>
#include <spillway/plugin.h>
#include "config.h"
#include "dlq.h"
#include "metrics.h"
#include "transform.h"

/* [pipeline] options. */
typedef struct spw__pipeline_conf {
    char *name;
    int64_t workers;
    int64_t max_in_flight;
    int64_t event_deadline_ms;
    int64_t shutdown_timeout_ms;
    char *dead_letter;
    int log_level;
    int log_format;
    char *log_file;
    int64_t stats_interval_ms;
    char *admin; /* HOST:PORT of the admin endpoint; NULL or "": none */
} spw__pipeline_conf;

/* What a sink route does with an event its sink rejected. */
enum spw__on_reject { SPW__REJECT_DEAD_LETTER = 0, SPW__REJECT_RETRY = 1, SPW__REJECT_DROP = 2 };

/* Core options of a [sink.*] section (the route). */
typedef struct spw__sink_conf {
    char *codec;
    spw_strlist filters;
    int64_t batch_max_records;
    int64_t batch_max_bytes;
    int64_t batch_max_delay_ms;
    int64_t concurrency; /* 0 = the plugin's default */
    int64_t max_held;    /* 0 = as many as concurrency */
    int on_reject;       /* enum spw__on_reject, or -1 = default */
    int64_t retry_initial_ms;
    int64_t retry_max_ms;
    spw_strlist bins_include;
    spw_strlist bins_exclude;
    spw_strlist bins_rename;
    spw_strlist metadata_exclude;
} spw__sink_conf;

typedef struct spw__stage_def {
    spw_kind kind;
    char *title;               /* "sink.es" */
    char *name;                /* "es" */
    int line;                  /* section line, for messages */
    const spw_plugin *plugin;  /* borrowed from the loader */
    void *conf;                /* plugin config, plugin->config_size bytes */
    spw__sink_conf sink;       /* kind == SINK only */
    spw__xform xform;          /* kind == SINK only: compiled bin/metadata transforms */
    size_t codec;              /* sinks: index of the codec def */
    size_t *filters;           /* sinks: indices of filter defs */
    size_t n_filters;
    char *fingerprint;         /* the section's keys and values as read: "same section" on reload */
} spw__stage_def;

struct spw__worker;

/* Runtime state shared by the main thread and the workers while running. */
typedef struct spw__run {
    uv_mutex_t lock;
    uv_cond_t cond;
    unsigned created;          /* workers that finished creating their stages */
    bool failed;               /* a worker could not start */
    bool go;                   /* main: start sources (or abort when failed) */
    spw_err fail;              /* the first failure */
    uv_loop_t loop;            /* the main thread's loop: signals, stats */
    uv_async_t notify;         /* worker -> main: idle or done */
    atomic_uint idle;          /* workers with all sources finished and nothing in flight */
    atomic_uint done;          /* workers whose loop has ended */
    atomic_int stop_level;     /* 0 running, 1 drain, 2 force */
    unsigned stop_signals;     /* SIGINT/SIGTERM taken (main thread only): the second forces */
    atomic_uint started;       /* workers whose sources have started */
    uint64_t watchdog_ms;      /* systemd's watchdog interval; 0: none */
    struct spw__worker *workers;

    /* Reload (core/reload.c): main -> workers, two phases under lock/cond. */
    unsigned reload_acks;      /* workers that answered the current reload command */
    bool reload_failed;        /* a worker could not build the new generation */
    spw_err reload_fail;       /* its message */
    uv_signal_t sighup;
    uv_async_t reload_async;   /* admin thread -> main: a POST /reload is waiting */
    bool reload_open;          /* main loop running: requests may be sent to reload_async */
    bool reload_pending;       /* a request is waiting for the main thread */
    unsigned long reload_seq;  /* requests served */
    spw_result reload_result;  /* of the last request served */
    spw_err reload_err;
    spw_counter *c_reloads, *c_reloads_failed;
} spw__run;

/* Where a running pipeline is, for health checks and service managers. */
enum spw__phase {
    SPW__PHASE_STARTING = 0, /* workers creating their stages */
    SPW__PHASE_RUNNING,      /* sources open, events flowing */
    SPW__PHASE_DRAINING,     /* stopping: in-flight events finishing */
    SPW__PHASE_FAILED,       /* a worker failed; the process is on its way out */
};

typedef struct spw__pipeline {
    atomic_int phase;          /* enum spw__phase; read from any thread */
    char *path;                /* file the pipeline came from, for messages */
    spw__pipeline_conf conf;
    spw__stage_def *defs;
    size_t n_defs;
    spw__dlq *dlq;             /* NULL when no dead_letter file */
    spw__metrics *metrics;
    spw__run *run;             /* non-NULL while spw__pipeline_run runs */
    char *conf_fingerprint;    /* [pipeline]'s keys and values: it cannot change on reload */
    struct spw__pipeline *retired; /* earlier definitions a reload replaced (freed after the run) */
} spw__pipeline;

/*
 * Reads, types and resolves a pipeline file (or `text` when non-NULL, with
 * path used in messages). Loads plugins and runs their check callbacks; has
 * no other side effects (no file opened but the pipeline and plugins), so
 * `spillway --check` is exactly this. *out owned by caller.
 */
spw_result spw__pipeline_load(const char *path, const char *text, spw__pipeline **out,
                              spw_err *err);
void spw__pipeline_free(spw__pipeline *p);

/* The core's option tables: [pipeline], and what every [sink.*] route takes (for help and docs). */
const spw_option *spw__pipeline_options(void);
const spw_option *spw__route_options(void);

/*
 * Runs the pipeline until a signal stops it or every source has finished
 * and nothing is in flight. Returns SPW_OK on a clean stop, an error when
 * it could not start (err says why; nothing was acknowledged).
 */
spw_result spw__pipeline_run(spw__pipeline *p, spw_err *err);

static inline enum spw__phase spw__pipeline_phase(spw__pipeline *p) {
    return (enum spw__phase)atomic_load(&p->phase);
}

/* Worker -> main: a worker failed at start; records the first message and wakes main. */
void spw__pipeline_fail(spw__pipeline *p, const char *msg);

#endif /* SPW_CORE_PIPELINE_H */
