/*
 * spillway/plugin.h: the plugin contract. A plugin is one shared object
 * exporting one symbol, its descriptor (SPW_PLUGIN_DEFINE), which names its
 * kind, declares its options as data and points at its callbacks.
 *
 * Rules every callback relies on:
 *   - Configuration is parsed and validated by the core from the option
 *     table, into a struct of config_size bytes the core owns. A plugin
 *     never sees an unknown key or a value outside its declared bounds.
 *   - create() runs once per worker thread, on that worker's thread, and is
 *     all-or-nothing: on failure it releases whatever it took and the core
 *     calls nothing else on that instance.
 *   - Every other callback runs on the instance's worker thread. Nothing in
 *     an instance is shared with another worker, so instances need no locks.
 *   - destroy() may close libuv handles: the core keeps running the loop
 *     until every handle is closed, so memory is released in close callbacks.
 *   - A sink's destroy() gives back, with spw_batch_done(), every batch it
 *     still has, held ones (spw_batch_hold) included; any outcome will do
 *     (the core is stopping and answers what is left retry). A batch not
 *     given back leaks, and its events stay counted in flight.
 *   - A function that takes a callback and returns an error never calls the
 *     callback.
 *   - Ordering guarantees: no source starts and no sink receives a batch on
 *     any worker before create() has returned on every worker; a source's
 *     destroy() comes only after every done callback for its events has run
 *     (or, for a cancelled order group, will never run); done callbacks and
 *     sends are never made from inside spw_submit(), and spw_submit() and
 *     spw_source_finished() may be called from inside a done callback.
 */
#ifndef SPILLWAY_PLUGIN_H
#define SPILLWAY_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <spillway/abi.h>
#include <spillway/buf.h>
#include <spillway/event.h>
#include <spillway/result.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spw_kind {
    SPW_KIND_SOURCE = 1,
    SPW_KIND_FILTER = 2,
    SPW_KIND_CODEC = 3,
    SPW_KIND_SINK = 4,
} spw_kind;

/* "source", "filter", "codec", "sink"; "unknown" otherwise. */
SPW_API const char *spw_kind_name(spw_kind k);

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

typedef enum spw_opt_type {
    SPW_OPT_BOOL = 1,     /* bool: true/false, yes/no, on/off, 1/0 */
    SPW_OPT_INT,          /* int64_t */
    SPW_OPT_DOUBLE,       /* double */
    SPW_OPT_STRING,       /* char *, NUL-terminated, owned by the core */
    SPW_OPT_DURATION,     /* int64_t milliseconds: "250ms", "5s", "2m", "1h"; bare = ms */
    SPW_OPT_SIZE,         /* int64_t bytes: "512", "64k"/"64KiB", "1M"/"1MiB", "1G" (powers of 1024) */
    SPW_OPT_ENUM,         /* int: index of the value in `choices` */
    SPW_OPT_LIST,         /* spw_strlist: comma-separated; a repeated key appends */
    SPW_OPT_GROUP,        /* (ABI 1.1) a pointer to a struct of options the core owns, embedded by
                             the group's name: SPW_OPTION_HTTP in spillway/http.h; since 1.3
                             its `def` may hold the plugin's defaults for the group's options
                             (SPW_OPTION_HTTP_DEFAULTS) */
} spw_opt_type;

/* Option flags. */
#define SPW_OPT_REQUIRED 0x01u /* must be set; no default */
#define SPW_OPT_SECRET 0x02u   /* never logged; also settable as NAME_file = PATH */

/* The parsed value of a SPW_OPT_LIST option; owned by the core. */
typedef struct spw_strlist {
    size_t n;
    char **v;
} spw_strlist;

typedef struct spw_option {
    const char *name;    /* key in the INI section: lowercase, '-' or '_' separated */
    spw_opt_type type;
    unsigned flags;      /* SPW_OPT_* flags */
    const char *def;     /* default written as a user would write it; NULL = zero/empty */
    double min, max;     /* inclusive bounds for INT/DOUBLE/DURATION/SIZE/LIST(count); both 0 =
                            none; use INFINITY for a bound open on one side (min 1, max INFINITY) */
    const char *choices; /* ENUM: "a|b|c" */
    size_t offset;       /* offsetof(config struct, field) */
    const char *help;    /* one sentence for --help-plugin and the docs */
} spw_option;

/* Terminates an option table. */
#define SPW_OPTIONS_END {NULL, (spw_opt_type)0, 0, NULL, 0, 0, NULL, 0, NULL}

/* ---------------------------------------------------------------------- */
/* Stage services: what the core gives every plugin instance               */
/* ---------------------------------------------------------------------- */

/* One plugin instance on one worker. Borrowed: it outlives the instance. */
typedef struct spw_stage spw_stage;

typedef enum spw_log_level {
    SPW_LOG_ERROR = 0,
    SPW_LOG_WARN = 1,
    SPW_LOG_INFO = 2,
    SPW_LOG_DEBUG = 3,
    SPW_LOG_TRACE = 4,
} spw_log_level;

/* Logs one line tagged with the stage's section name. Never pass secrets. */
SPW_API void spw_log(const spw_stage *st, spw_log_level level, const char *fmt, ...)
    SPW_PRINTF(3, 4);
/* True when a line at `level` would be written (to skip costly formatting). */
SPW_API bool spw_log_enabled(spw_log_level level);

/*
 * A rate limit for one kind of log line (since ABI 1.2): at most one line
 * a second; the lines in between are counted and the count is reported on
 * the next line written, so a failing destination cannot flood the log.
 * Zero-initialise one per instance and kind of line; it belongs to the
 * instance's worker (no locking).
 */
typedef struct spw_log_limit {
    uint64_t last_ms;    /* loop time of the last line written; 0: none yet */
    uint64_t suppressed; /* lines held back since */
} spw_log_limit;
SPW_API void spw_log_limited(const spw_stage *st, spw_log_limit *lim, spw_log_level level,
                             const char *fmt, ...) SPW_PRINTF(4, 5);
/* The same for a plugin's own printf-like wrapper. */
SPW_API void spw_vlog_limited(const spw_stage *st, spw_log_limit *lim, spw_log_level level,
                              const char *fmt, va_list ap) SPW_PRINTF(4, 0);

/* Section name without its kind prefix ("es" for [sink.es]). Borrowed. */
SPW_API const char *spw_stage_name(const spw_stage *st);
/* The instance's libuv loop (borrowed). Use it for sockets and timers. */
SPW_API uv_loop_t *spw_stage_loop(const spw_stage *st);
/* The parsed configuration struct (borrowed, read-only, shared by workers). */
SPW_API const void *spw_stage_config(const spw_stage *st);
/* Worker index (0-based) and count, e.g. to split generated work. */
SPW_API unsigned spw_stage_worker(const spw_stage *st);
SPW_API unsigned spw_stage_workers(const spw_stage *st);
/* The pipeline's name ([pipeline] name). Borrowed. */
SPW_API const char *spw_pipeline_name(const spw_stage *st);

/* Wall-clock time, Unix ms / monotonic ms. */
SPW_API int64_t spw_time_unix_ms(void);
SPW_API uint64_t spw_time_mono_ms(void);

/*
 * Metrics: counters, gauges and histograms. Each is registered in create()
 * by name, lives as long as the stage, and belongs to the worker that
 * registered it: write it only from the stage's own worker thread (the
 * core never locks on this path). Reports merge every worker's instance of
 * a stage's metric: counters and gauges are summed, histograms summed
 * bucket by bucket. A later Prometheus exporter shows names as they are,
 * so name a metric for what it counts, with its base unit where it has one
 * (`_seconds`, `_bytes`): lowercase letters, digits and '_'.
 *
 * Registration returns NULL when out of memory, when the name is one the
 * core keeps for the stage (for a sink: events, delivered, retried,
 * rejected, dead_lettered, dropped, requests, request_retries,
 * encode_errors, and the 1.1 names listed in the plugin guide; for a
 * filter: filter_errors), or when the stage already has a metric of that
 * name of another kind. Every write function accepts NULL as a no-op, so a
 * plugin may ignore a failed registration.
 */

/* Counters: only go up. */
typedef struct spw_counter spw_counter;
SPW_API spw_counter *spw_counter_register(spw_stage *st, const char *name, const char *help);
/* Adds n. */
SPW_API void spw_counter_add(spw_counter *c, uint64_t n);
/*
 * A counter reported per worker (ABI 1.2) instead of summed: the stats
 * line shows NAME=W0/W1/..., /metrics one sample per worker with a
 * `worker` label; to show how work spreads over the workers. Name checked
 * as for gauges; a name is either per worker or summed within a stage.
 */
SPW_API spw_counter *spw_counter_register_worker(spw_stage *st, const char *name,
                                                 const char *help);

/*
 * Gauges (ABI 1.1): a value that goes up and down (connections open,
 * requests waiting). The report is the sum over workers, so keep each
 * worker's own share in its gauge. Names are checked: [a-z_][a-z0-9_]*,
 * at most 64 characters.
 */
typedef struct spw_gauge spw_gauge;
SPW_API spw_gauge *spw_gauge_register(spw_stage *st, const char *name, const char *help);
SPW_API void spw_gauge_set(spw_gauge *g, int64_t v);
SPW_API void spw_gauge_add(spw_gauge *g, int64_t delta);

/*
 * Histograms (ABI 1.1): a distribution of observed values (latencies,
 * sizes), counted in fixed buckets chosen at registration. A bucket counts
 * the observations <= its upper bound and above the previous one; one more,
 * unbounded, counts the rest. The bounds are copied; they must be 1 to 64
 * finite, strictly increasing values, the same on every worker.
 */
typedef struct spw_buckets {
    const double *bounds; /* borrowed for the call */
    size_t n;
} spw_buckets;
/* Buckets from a static array: SPW_BUCKETS(my_bounds). */
#define SPW_BUCKETS(array) ((spw_buckets){(array), sizeof(array) / sizeof((array)[0])})
/* Log-scale presets: seconds from 1 ms to ~65 s (doubling); bytes from 64 B to
 * 1 GiB (times 4); counts 1, 2, 5, 10, 20, 50 ... 1,000,000. */
SPW_API spw_buckets spw_buckets_seconds(void);
SPW_API spw_buckets spw_buckets_bytes(void);
SPW_API spw_buckets spw_buckets_count(void);

typedef struct spw_histogram spw_histogram;
/* Name checked as for gauges; use the base unit: latency in seconds, sizes in bytes. */
SPW_API spw_histogram *spw_histogram_register(spw_stage *st, const char *name, const char *help,
                                              spw_buckets buckets);
/* Counts one observation (NaN is ignored). No lock, no allocation. */
SPW_API void spw_histogram_observe(spw_histogram *h, double v);

/* Timers on the stage's loop. */
typedef struct spw_timer spw_timer;
typedef void (*spw_timer_fn)(spw_timer *t, void *arg);
/* Owned by caller; release with spw_timer_free. NULL when out of memory. */
SPW_API spw_timer *spw_timer_new(spw_stage *st, spw_timer_fn fn, void *arg);
/* Fires after `after_ms`, then every `repeat_ms` when non-zero. Restarts a running timer. */
SPW_API void spw_timer_start(spw_timer *t, uint64_t after_ms, uint64_t repeat_ms);
SPW_API void spw_timer_stop(spw_timer *t);
/* Stops and releases (transferred); the callback never runs afterwards. NULL is a no-op. */
SPW_API void spw_timer_free(spw_timer *t);

/* ---------------------------------------------------------------------- */
/* Sources                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Called exactly once per submitted event, on the source's worker thread,
 * with the final outcome: SPW_OK (every route delivered or dead-lettered
 * it, or no route wanted it), SPW_RETRY (some route could not deliver it
 * in time), or SPW_REJECT (a route rejected it and the pipeline is set to
 * drop such events). ev is borrowed for the call.
 */
typedef void (*spw_done_fn)(spw_event *ev, spw_result outcome, void *arg);

/*
 * Completion order group. Events submitted with the same group get their
 * done callbacks in submission order: an event that completes early waits
 * for those before it (one group per XDR connection).
 */
typedef struct spw_order spw_order;
/* Owned by caller; release with spw_order_cancel. NULL when out of memory. */
SPW_API spw_order *spw_order_new(spw_stage *src);
/*
 * Releases the group (transferred). Done callbacks not yet made for its
 * events are never made; the events themselves still finish delivery
 * (the peer that would have received the answer is gone).
 */
SPW_API void spw_order_cancel(spw_order *order);

/*
 * Hands an event to the core. ev is transferred (also on failure); order
 * is borrowed and may be NULL. On SPW_OK, done will be called exactly once
 * (unless the order group is cancelled first). Fails with SPW_ERR_STATE
 * once the pipeline is shutting down.
 */
SPW_API spw_result spw_submit(spw_stage *src, spw_event *ev, spw_order *order,
                              spw_done_fn done, void *arg);

/* Events of this worker in flight now, and the cap (max_in_flight / workers). */
SPW_API size_t spw_in_flight(const spw_stage *src);
SPW_API size_t spw_in_flight_cap(const spw_stage *src);

/*
 * Tells the core this source instance will submit nothing more (a finite
 * generator, a replay). When every source of the pipeline has finished and
 * nothing is in flight, the pipeline stops and the program exits.
 */
SPW_API void spw_source_finished(spw_stage *src);

typedef struct spw_source_ops {
    /* Start producing: open listeners, start timers. */
    spw_result (*start)(void *inst, spw_err *err);
    /*
     * Flow control: the worker's in-flight cap is reached, stop reading
     * input; resume() is called when in-flight falls below the low-water
     * mark. A source may overshoot the cap by what it has already read.
     */
    void (*pause)(void *inst);
    void (*resume)(void *inst);
    /* Shutdown: stop accepting input. In-flight events still complete. */
    void (*stop)(void *inst);
    /*
     * (1.4, optional) A reload replaced this source's section (a new
     * instance with the new settings already runs beside it): stop
     * accepting new input (close listeners, accept no new connection) but
     * keep serving what is already open: established connections go on
     * reading, submitting (their events go to the new pipeline's routes)
     * and answering, under the settings this instance was created with;
     * pause() and resume() still apply. Call spw_source_finished() when
     * the last one has closed (at once when none is open); the core
     * destroys the instance once that is done and every answer is out.
     * stop() may still follow (shutdown), as for a running source. NULL:
     * the core calls stop() instead, which closes the connections. The
     * core reads this field only from plugins built for ABI 1.4 or later.
     */
    void (*retire)(void *inst);
} spw_source_ops;

/* ---------------------------------------------------------------------- */
/* Filters                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct spw_filter_ops {
    /*
     * SPW_OK to pass the event on, SPW_SKIP when it is not for this route
     * (an event no route wants is answered delivered at once). Any other
     * answer (SPW_RETRY, SPW_REJECT, an error) is a filter error, not a
     * decision: the event passes on as with SPW_OK, so a failing filter
     * never loses data, and the core counts it (`filter_errors` under the
     * filter's name) and logs it at most once a second per worker.
     */
    spw_result (*match)(void *inst, const spw_event *ev);
} spw_filter_ops;

/* ---------------------------------------------------------------------- */
/* Codecs                                                                  */
/* ---------------------------------------------------------------------- */

/* One encoded record inside a buffer (borrowed). */
typedef struct spw_slice {
    const uint8_t *ptr;
    size_t len;
} spw_slice;

typedef struct spw_codec_ops {
    /*
     * Appends the encoding of one event to out. SPW_REJECT (with err set)
     * when this event cannot be represented in the format; the core then
     * treats it as rejected by the route. Must not keep ev.
     */
    spw_result (*encode)(void *inst, const spw_event *ev, spw_buf *out, spw_err *err);
    /*
     * Frames n encoded records into one request body appended to out
     * (NDJSON, a JSON array, an Avro container...). NULL: concatenate.
     * Used whenever the route batches, even for a batch of one.
     */
    spw_result (*frame)(void *inst, const spw_slice *recs, size_t n, spw_buf *out, spw_err *err);
    /* Content type of one record (batch=false) or of a framed body (true). Borrowed. */
    const char *(*content_type)(void *inst, bool batch);
} spw_codec_ops;

/* ---------------------------------------------------------------------- */
/* Sinks                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * A batch: one request's worth of encoded events, built by the core from
 * the route's batching options. Lent to the sink by send() until the sink
 * gives it back with spw_batch_done(); every accessor result is borrowed
 * from the batch.
 */
typedef struct spw_batch spw_batch;

SPW_API size_t spw_batch_count(const spw_batch *b);
SPW_API const spw_event *spw_batch_event(const spw_batch *b, size_t i);
/* Encoded record i, as the codec wrote it. */
SPW_API spw_slice spw_batch_record(const spw_batch *b, size_t i);
/* The request body: the framed batch, or the single record when the route does not batch. */
SPW_API spw_slice spw_batch_body(const spw_batch *b);
SPW_API const char *spw_batch_content_type(const spw_batch *b);
/* 1 on the first attempt, 2 on the first retry... */
SPW_API unsigned spw_batch_attempt(const spw_batch *b);
/*
 * When the earliest event in the batch must be answered, in the loop's clock
 * (uv_now(spw_stage_loop(st)), monotonic ms), not spw_time_mono_ms().
 */
SPW_API uint64_t spw_batch_deadline(const spw_batch *b);

/*
 * The route's batching and concurrency limits (ABI 1.1), as configured in
 * the sink's section (or defaulted), so a sink can check its own request
 * against them, e.g. its body after compression against max_bytes. The
 * records of a batch stay within max_records and, but for a single record
 * larger than it, max_bytes; the framed body adds the codec's framing.
 * Returned by value; the reserved fields are zero (room for later minors).
 */
typedef struct spw_limits {
    uint64_t max_records;  /* batch_max_records */
    uint64_t max_bytes;    /* batch_max_bytes: encoded bytes of a batch's records */
    uint64_t max_delay_ms; /* batch_max_delay */
    uint32_t concurrency;  /* batches in progress with the sink at once, per worker */
    uint32_t max_held;     /* batches the sink may hold at once, per worker (spw_batch_hold) */
    uint64_t reserved[4];
} spw_limits;
/* The limits of the route that lent b. */
SPW_API spw_limits spw_batch_limits(const spw_batch *b);
/* The limits of a sink's route, from create() on (all zero for a stage that is not a sink). */
SPW_API spw_limits spw_sink_limits(const spw_stage *st);

/*
 * Sets event i's own outcome (SPW_OK, SPW_RETRY, SPW_REJECT, or since ABI
 * 1.1 SPW_TOO_LARGE: this record alone is too big for the destination, and
 * is rejected with the reason "too large: REASON"); reason is copied.
 */
SPW_API void spw_batch_set_result(spw_batch *b, size_t i, spw_result r, const char *reason);
/*
 * Held batches (ABI 1.1): the destination took the body but confirms it
 * later (Splunk HEC indexer acknowledgement), so the sink keeps the batch
 * until then and gives it back with spw_batch_done as usual. Holding it
 * frees its place against the route's `concurrency`, so new batches keep
 * flowing while confirmations are pending; the route's `max_held` (per
 * worker; default: as many as concurrency) caps the batches held at once,
 * so memory stays bounded. SPW_OK: held. SPW_ERR_NOSPACE: max_held batches
 * are held already; nothing changed, the batch still counts against
 * concurrency (keep it and answer it later all the same). SPW_ERR_STATE:
 * the batch is not lent to the sink, or the pipeline is stopping. Holding
 * a held batch is SPW_OK. A held probe ends a destination-down hold.
 *
 * A held batch stays lent until given back, also past its events'
 * deadline: the core answers those events retry at the deadline as
 * always. A late spw_batch_done is safe: nothing is answered twice, each
 * late event is counted (late_outcomes) and reported as the sink says
 * (delivered counts as delivered; the sender will resend it anyway).
 */
SPW_API spw_result spw_batch_hold(spw_batch *b);
/* A retry should not come before `ms` from now (e.g. an HTTP Retry-After). */
SPW_API void spw_batch_retry_after(spw_batch *b, uint64_t ms);
/*
 * Gives the batch back (transferred). r (with reason, copied, may be NULL)
 * applies to every event without its own result. The core then retries,
 * dead-letters or completes events as the route's policy says. May be
 * called from inside send() or later, on the worker thread.
 *
 * r = SPW_TOO_LARGE (ABI 1.1): the destination refused the body for its
 * size (HTTP 413, a 1 MB Lambda cap). The core splits the events without
 * their own result into two halves, each a new batch framed again by the
 * codec and sent before newer batches (first half first), recursively;
 * only a batch of one record refused so is rejected, with the reason
 * "too large: REASON" (then on_reject applies: dead-letter, retry, drop).
 * n records cost at most 2n - 1 requests. A half is sent only while its
 * events' deadline has not passed; after it, they are answered retry.
 */
SPW_API void spw_batch_done(spw_batch *b, spw_result r, const char *reason);

/*
 * Destination down (ABI 1.1). A sink that knows its destination cannot
 * take requests now (connections refused, every endpoint out of rotation)
 * says so with spw_sink_down, instead of letting every batch fail. The
 * route is then held on this worker: no new batch goes to the sink (they
 * wait in the ready queue; the in-flight cap still bounds memory and
 * events are answered retry at their deadline as always), except one
 * probe: probe_after_ms later (at most one hour) the next ready batch is
 * sent alone. When the destination answers the probe (some event
 * delivered, rejected or too large), or the batch is held
 * (spw_batch_hold), or the sink calls spw_sink_up, the route resumes full
 * concurrency. A probe answered only "retry" keeps the route down and the
 * next probe follows probe_after_ms later; spw_sink_down while down (for
 * example during the probe) keeps it down and restarts the wait with the
 * new interval. Batches already with the sink are unaffected and end as
 * the sink answers them. The core logs and counts each transition
 * (down_transitions, and the gauges destination_down and routes_down),
 * not each batch. st is the sink's own stage; call either from send() or
 * any later callback on the worker thread, not from create(). reason is
 * borrowed for the call (logged; never a secret).
 */
SPW_API void spw_sink_down(spw_stage *st, uint64_t probe_after_ms, const char *reason);
SPW_API void spw_sink_up(spw_stage *st);

typedef struct spw_sink_ops {
    /*
     * Deliver the batch (borrowed until spw_batch_done). Returning an error
     * means the batch was not taken: the core treats it as SPW_RETRY with
     * err as the reason and send() must not have called spw_batch_done.
     */
    spw_result (*send)(void *inst, spw_batch *b, spw_err *err);
    /*
     * Batches this sink handles at once per worker unless the pipeline sets
     * `concurrency` (held batches, spw_batch_hold, do not count).
     */
    unsigned default_concurrency;
    /*
     * (1.2, optional) Refuse a route this sink cannot serve, before any
     * event flows: called by `spillway --check` and at start, once per
     * [sink.*] section, with the name of the route's codec plugin ("json",
     * "avro", ...). Return SPW_ERR_CONFIG with err saying why (a destination
     * that takes only JSON); the core prefixes file, line and key. The core
     * reads this field only from plugins built for ABI 1.2 or later.
     */
    spw_result (*check_codec)(const void *config, const char *codec, spw_err *err);
} spw_sink_ops;

/* ---------------------------------------------------------------------- */
/* The descriptor                                                          */
/* ---------------------------------------------------------------------- */

typedef struct spw_plugin {
    uint16_t abi_major;   /* SPW_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;   /* SPW_ABI_MINOR the plugin was built against */
    uint32_t struct_size; /* sizeof(spw_plugin) the plugin was built with */
    spw_kind kind;
    const char *name;        /* what `plugin = NAME` refers to */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line */
    const spw_option *options; /* terminated by SPW_OPTIONS_END; may be NULL */
    size_t config_size;        /* size of the struct options are parsed into */

    /* Optional: cross-option checks after parsing (no side effects; runs for --check). */
    spw_result (*check)(const void *config, spw_err *err);
    /* Creates an instance on the calling worker; *inst is owned by the plugin. */
    spw_result (*create)(spw_stage *st, const void *config, void **inst, spw_err *err);
    /* Releases an instance (transferred); a sink first gives back every batch it has. */
    void (*destroy)(void *inst);

    /* Exactly the one matching `kind` is set. */
    const spw_source_ops *source;
    const spw_filter_ops *filter;
    const spw_codec_ops *codec;
    const spw_sink_ops *sink;

    void *reserved[8]; /* zero; room for ABI minor additions */
} spw_plugin;

/* The one symbol a plugin exports. */
#define SPW_PLUGIN_SYMBOL "spw_plugin_descriptor"

/*
 * Defines the plugin's descriptor with the ABI version and struct size
 * filled in. Use designated initialisers for the rest:
 *
 *   SPW_PLUGIN_DEFINE(
 *       .kind = SPW_KIND_SINK, .name = "file", .version = "1.0.0",
 *       .description = "...", .options = opts, .config_size = sizeof(struct cfg),
 *       .create = file_create, .destroy = file_destroy, .sink = &file_ops);
 */
#define SPW_PLUGIN_DEFINE(...)                                                   \
    SPW_API extern const spw_plugin spw_plugin_descriptor;                       \
    const spw_plugin spw_plugin_descriptor = {.abi_major = SPW_ABI_MAJOR,        \
                                              .abi_minor = SPW_ABI_MINOR,        \
                                              .struct_size = sizeof(spw_plugin), \
                                              __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_PLUGIN_H */
