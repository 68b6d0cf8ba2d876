/*
 * plugins/source-generate/generate.c: the `generate` source. It makes up
 * change events (see record.c for what they contain) so that a pipeline
 * runs, and can be tested and benchmarked, with nothing outside the repo.
 *
 * Work split: with W workers, worker w owns the sequence numbers w, w+W,
 * w+2W... below `count`. The sequence number is a record's identity: a
 * record can be rebuilt from it at any time, so the per-record state is a
 * 24-byte ticket (instance, sequence number, list link) taken from a pool.
 * The ticket is the done callback's argument (the callback is not told
 * which instance submitted the event) and, while the record waits for a
 * resubmission, its queue node, so answering never allocates.
 *
 * Delivery behaves like XDR's: every record is resubmitted until the
 * pipeline answers it SPW_OK (delivered) or SPW_REJECT (abandoned). An
 * SPW_RETRY answer parks the record; parked records are resubmitted
 * together after a delay that starts at 100 ms and doubles up to 2 s while
 * answers keep being "retry", and falls back to 100 ms at the next
 * success (like XDR backing off from a failing connector). With count > 0
 * the instance reports spw_source_finished once every one of its records
 * has been answered OK or REJECT.
 *
 * Pacing: events are produced in slices of at most SLICE per loop turn
 * from a uv_idle_t, so a generator running flat out never starves the
 * loop's I/O (sinks share it). The idle handle runs only while there is
 * something it can do; otherwise the loop would spin. `rate` is enforced
 * with a token bucket refilled on a 10 ms timer. A zero-delay timer would
 * have been simpler than the idle handle, but libuv before 1.45 runs a
 * timer re-armed with timeout 0 from its own callback again in the same
 * turn, which would starve the loop.
 */
#include "generate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define SLICE 256              /* events per loop turn, at most */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define RATE_TICK_MS 10
#define BURST_S 0.05           /* a late rate tick may catch up this much */

/* One record not yet answered OK or REJECT. */
struct ticket {
    struct gen *g;
    uint64_t seq;
    struct ticket *next;  /* in a queue or the free list */
};

#define TICKETS_PER_CHUNK 1024
struct ticket_chunk {
    struct ticket_chunk *next;
    struct ticket t[TICKETS_PER_CHUNK];
};

/* A FIFO of tickets. */
struct tqueue {
    struct ticket *head, *tail;
    size_t n;
};

struct gen {
    spw_stage *st;
    const struct gen_conf *cf;
    uint64_t worker, workers;

    uint64_t next_seq;     /* next sequence number never built yet */
    bool more;             /* next_seq still belongs to the run */
    uint64_t outstanding;  /* submitted, not answered yet */
    struct tqueue ready;   /* answered "retry", due for resubmission */
    struct tqueue parked;  /* answered "retry", waiting for the retry timer */
    uint64_t retry_delay_ms;
    bool retry_armed;

    bool started, paused, stopped, finished, stalled, idle_active;
    double rate;           /* this worker's share, events/s; 0 = unlimited */
    double tokens, burst;
    uint64_t refilled_ms;

    uv_idle_t idle;        /* the instance is freed in its close callback */
    spw_timer *rate_timer, *retry_timer;
    struct gen_builder builder;
    struct ticket *free_tickets;
    struct ticket_chunk *chunks;

    spw_counter *c_generated, *c_delivered, *c_retried, *c_abandoned;
    uint64_t generated, delivered, retried, abandoned;
    bool warned;
};

/* ---------------------------------------------------------------------- */
/* Tickets                                                                 */
/* ---------------------------------------------------------------------- */

/* The pool grows to the peak number of unanswered records and stays there. */
static struct ticket *ticket_get(struct gen *g) {
    if (!g->free_tickets) {
        struct ticket_chunk *c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->next = g->chunks;
        g->chunks = c;
        for (size_t i = 0; i < TICKETS_PER_CHUNK; i++) {
            c->t[i].g = g;
            c->t[i].next = g->free_tickets;
            g->free_tickets = &c->t[i];
        }
    }
    struct ticket *t = g->free_tickets;
    g->free_tickets = t->next;
    t->next = NULL;
    return t;
}

static void ticket_put(struct gen *g, struct ticket *t) {
    t->next = g->free_tickets;
    g->free_tickets = t;
}

static void tq_push(struct tqueue *q, struct ticket *t) {
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->n++;
}

static struct ticket *tq_pop(struct tqueue *q) {
    struct ticket *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
        t->next = NULL;
    }
    return t;
}

/* Moves every ticket of src to the end of dst. */
static void tq_splice(struct tqueue *dst, struct tqueue *src) {
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->n += src->n;
    memset(src, 0, sizeof *src);
}

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

#define OFF(f) offsetof(struct gen_conf, f)

static const spw_option gen_options[] = {
    {"count", SPW_OPT_INT, 0, "0", 0, 1e15, NULL, OFF(count),
     "Records to generate over all workers; 0 generates until the pipeline is stopped."},
    {"rate", SPW_OPT_INT, 0, "0", 0, 1e9, NULL, OFF(rate),
     "Events per second over all workers, resubmissions included; 0 submits as fast as the "
     "pipeline accepts them."},
    {"namespaces", SPW_OPT_LIST, 0, "test", 1, 64, NULL, OFF(namespaces),
     "Namespaces used in turn: record N gets item N modulo the list length."},
    {"sets", SPW_OPT_LIST, 0, "demo", 1, 64, NULL, OFF(sets),
     "Sets used in turn like namespaces; the item '-' stands for records without a set."},
    {"key_type", SPW_OPT_ENUM, 0, "integer", 0, 0, "integer|string|blob|none", OFF(key_type),
     "How record N's user key is shipped: integer N, string \"key-N\", blob of N's 8 big-endian "
     "bytes, or not at all (the digest is then that of integer key N)."},
    {"bins", SPW_OPT_INT, 0, "5", 0, GEN_MAX_BINS, NULL, OFF(bins),
     "Bins per written record, the first being the integer bin 'seq' = N; 0 ships writes "
     "without bins (and so without 'seq')."},
    {"bin_types", SPW_OPT_LIST, 0, "integer,string", 1, 64, NULL, OFF(bin_types),
     "Particle types of the bins after 'seq', used in turn: integer, double, string, blob, "
     "bool, hll, list, map, geojson."},
    {"value_size", SPW_OPT_SIZE, 0, "16", 0, 1048576, NULL, OFF(value_size),
     "Bytes in each string, blob and hll value; lists hold value_size/4 elements and maps "
     "value_size/4 pairs."},
    {"delete_ratio", SPW_OPT_DOUBLE, 0, "0", 0, 1, NULL, OFF(delete_ratio),
     "Fraction of records shipped as deletes (no bins) instead of writes."},
    {"durable_ratio", SPW_OPT_DOUBLE, 0, "0", 0, 1, NULL, OFF(durable_ratio),
     "Fraction of deletes that are durable deletes."},
    {"ttl", SPW_OPT_DURATION, 0, "0", 0, 315360000000.0, NULL, OFF(ttl_ms),
     "Time to live of written records, rounded up to whole seconds (expiry = now + ttl); 0 "
     "never expires."},
    {"bin_luts", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(bin_luts),
     "Ship a last-update time with every bin, as XDR does with ship-bin-luts."},
    {"seed", SPW_OPT_INT, 0, "1", 0, 0, NULL, OFF(seed),
     "Seed of the record contents: the same seed gives the same records."},
    SPW_OPTIONS_END,
};

static spw_result gen_check(const void *config, spw_err *err) {
    return gen_check_conf(config, err);
}

/* ---------------------------------------------------------------------- */
/* Flow                                                                    */
/* ---------------------------------------------------------------------- */

static bool has_work(const struct gen *g) { return g->ready.n > 0 || g->more; }

static bool can_produce(const struct gen *g) {
    return g->started && !g->paused && !g->stopped && !g->stalled && has_work(g) &&
           (g->rate == 0 || g->tokens >= 1.0);
}

static void on_idle(uv_idle_t *h);
static void gen_stop(void *inst);

static void kick(struct gen *g) {
    if (!g->idle_active && can_produce(g)) {
        uv_idle_start(&g->idle, on_idle);
        g->idle_active = true;
    }
}

static void idle_stop(struct gen *g) {
    if (g->idle_active) {
        uv_idle_stop(&g->idle);
        g->idle_active = false;
    }
}

static void log_totals(struct gen *g, spw_log_level level, const char *what) {
    spw_log(g->st, level,
            "%s %" PRIu64 " events (delivered %" PRIu64 ", retried %" PRIu64 ", abandoned %" PRIu64
            ")",
            what, g->generated, g->delivered, g->retried, g->abandoned);
}

static void maybe_finish(struct gen *g) {
    if (g->cf->count == 0 || g->finished || g->stopped || !g->started || has_work(g) ||
        g->parked.n > 0 || g->outstanding > 0)
        return;
    g->finished = true;
    idle_stop(g);
    spw_timer_stop(g->rate_timer);
    spw_timer_stop(g->retry_timer);
    log_totals(g, SPW_LOG_INFO, "generated");
    spw_source_finished(g->st);
}

/* Resubmissions wait for the timer so that a failing destination is not hammered. */
static void arm_retry(struct gen *g) {
    if (g->retry_armed || g->stopped)
        return;
    spw_timer_start(g->retry_timer, g->retry_delay_ms, 0);
    g->retry_armed = true;
    g->retry_delay_ms *= 2;
    if (g->retry_delay_ms > RETRY_MAX_MS)
        g->retry_delay_ms = RETRY_MAX_MS;
}

static void on_retry_timer(spw_timer *t, void *arg) {
    struct gen *g = arg;
    (void)t;
    g->retry_armed = false;
    g->stalled = false;
    tq_splice(&g->ready, &g->parked);
    kick(g);
}

static void on_rate_tick(spw_timer *t, void *arg) {
    struct gen *g = arg;
    (void)t;
    uint64_t now = spw_time_mono_ms();
    g->tokens += g->rate * (double)(now - g->refilled_ms) / 1000.0;
    if (g->tokens > g->burst)
        g->tokens = g->burst;
    g->refilled_ms = now;
    kick(g);
}

/*
 * Runs on the source's worker, possibly from inside spw_submit (an event
 * no route wants completes at once), so it touches only counters, the
 * parked queue and the free list, never the producer's position.
 */
static void on_done(spw_event *ev, spw_result outcome, void *arg) {
    struct ticket *t = arg;
    struct gen *g = t->g;
    (void)ev;
    g->outstanding--;
    switch (outcome) {
    case SPW_OK:
        g->delivered++;
        spw_counter_add(g->c_delivered, 1);
        g->retry_delay_ms = RETRY_MIN_MS; /* the destination takes records again */
        ticket_put(g, t);
        break;
    case SPW_REJECT:
        g->abandoned++;
        spw_counter_add(g->c_abandoned, 1);
        ticket_put(g, t);
        break;
    default: /* SPW_RETRY, and anything unexpected: never lose a record */
        g->retried++;
        spw_counter_add(g->c_retried, 1);
        if (g->stopped) {
            ticket_put(g, t); /* shutting down: like XDR, it would resend later */
            break;
        }
        tq_push(&g->parked, t);
        arm_retry(g);
        break;
    }
    maybe_finish(g);
}

/* Something failed that time may fix (memory): pause production until the retry timer. */
static void stall(struct gen *g, const char *why, uint64_t seq) {
    if (!g->warned) {
        spw_log(g->st, SPW_LOG_WARN, "record %" PRIu64 ": %s; will try again", seq, why);
        g->warned = true;
    }
    g->stalled = true;
    arm_retry(g);
}

static void advance(struct gen *g) {
    g->next_seq += g->workers;
    /* count == 0 runs until stopped; the bound keeps sequence numbers meaningful */
    g->more = g->cf->count > 0 ? g->next_seq < (uint64_t)g->cf->count
                               : g->next_seq < (uint64_t)INT64_MAX - g->workers;
}

static void on_idle(uv_idle_t *h) {
    struct gen *g = h->data;
    int64_t now_ms = spw_time_unix_ms();

    for (unsigned n = 0; n < SLICE && can_produce(g); n++) {
        struct ticket *t = g->ready.head;
        bool fresh = t == NULL;
        if (fresh) {
            t = ticket_get(g);
            if (!t) {
                stall(g, "out of memory for its ticket", g->next_seq);
                break;
            }
            t->seq = g->next_seq;
        }
        spw_event *ev = gen_build(&g->builder, g->cf, t->seq, now_ms);
        if (!ev) {
            if (fresh)
                ticket_put(g, t);
            stall(g, "out of memory building the event", t->seq);
            break;
        }
        if (fresh) {
            advance(g);
            g->generated++;
            spw_counter_add(g->c_generated, 1);
        } else {
            tq_pop(&g->ready);
        }
        if (g->rate > 0)
            g->tokens -= 1.0;

        /*
         * Counted before the call: the core may complete events (this one
         * or earlier ones batched with it) from inside spw_submit, and
         * their callbacks must not see this record as already answered.
         */
        g->outstanding++;
        spw_result rc = spw_submit(g->st, ev, NULL, on_done, t);
        if (rc == SPW_OK)
            continue; /* on_done owns the ticket now */
        g->outstanding--;
        if (rc == SPW_ERR_STATE) {
            /* the pipeline is shutting down (stop() is on its way): stop now */
            ticket_put(g, t);
            gen_stop(g);
        } else {
            spw_log(g->st, SPW_LOG_WARN, "record %" PRIu64 " not taken (%s); will resubmit it",
                    t->seq, spw_result_str(rc));
            g->retried++;
            spw_counter_add(g->c_retried, 1);
            tq_push(&g->parked, t);
            arm_retry(g);
        }
    }
    if (!can_produce(g))
        idle_stop(g);
    maybe_finish(g);
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static void free_resources(struct gen *g) {
    spw_timer_free(g->rate_timer);
    spw_timer_free(g->retry_timer);
    g->rate_timer = g->retry_timer = NULL;
    gen_builder_free(&g->builder);
    while (g->chunks) {
        struct ticket_chunk *c = g->chunks;
        g->chunks = c->next;
        free(c);
    }
    g->free_tickets = NULL;
}

static spw_result gen_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct gen_conf *cf = config;
    struct gen *g = calloc(1, sizeof *g);
    if (!g)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    g->st = st;
    g->cf = cf;
    g->worker = spw_stage_worker(st);
    g->workers = spw_stage_workers(st) > 0 ? spw_stage_workers(st) : 1;
    g->next_seq = g->worker;
    g->more = cf->count == 0 || g->next_seq < (uint64_t)cf->count;
    g->retry_delay_ms = RETRY_MIN_MS;
    if (cf->rate > 0) {
        /* each worker paces its share; fractions add up to the pipeline's rate */
        g->rate = (double)cf->rate / (double)g->workers;
        g->burst = g->rate * BURST_S > 1.0 ? g->rate * BURST_S : 1.0;
        g->tokens = 1.0;
    }

    g->c_generated = spw_counter_register(st, "generated", "Records generated (each counted once).");
    g->c_delivered = spw_counter_register(st, "delivered", "Records answered delivered.");
    g->c_retried = spw_counter_register(st, "retried", "Answers 'retry later' (each one resubmitted).");
    g->c_abandoned = spw_counter_register(st, "abandoned", "Records answered rejected (dropped by the pipeline).");
    g->rate_timer = spw_timer_new(st, on_rate_tick, g);
    g->retry_timer = spw_timer_new(st, on_retry_timer, g);
    if (!g->c_generated || !g->c_delivered || !g->c_retried || !g->c_abandoned ||
        !g->rate_timer || !g->retry_timer || gen_builder_init(&g->builder, cf) != SPW_OK) {
        free_resources(g);
        free(g);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    /* Last, because it cannot fail: past this point the memory belongs to the handle. */
    uv_idle_init(spw_stage_loop(st), &g->idle);
    g->idle.data = g;
    *inst = g;
    return SPW_OK;
}

static spw_result gen_start(void *inst, spw_err *err) {
    struct gen *g = inst;
    (void)err;
    g->started = true;
    if (g->rate > 0) {
        g->refilled_ms = spw_time_mono_ms();
        spw_timer_start(g->rate_timer, RATE_TICK_MS, RATE_TICK_MS);
    }
    /*
     * The first turn runs even when this worker has nothing to produce
     * (count < workers): it then reports finished from the loop rather
     * than from inside start().
     */
    uv_idle_start(&g->idle, on_idle);
    g->idle_active = true;
    return SPW_OK;
}

static void gen_pause(void *inst) {
    struct gen *g = inst;
    g->paused = true;
    idle_stop(g);
}

static void gen_resume(void *inst) {
    struct gen *g = inst;
    g->paused = false;
    kick(g);
}

static void gen_stop(void *inst) {
    struct gen *g = inst;
    if (g->stopped)
        return;
    g->stopped = true;
    idle_stop(g);
    spw_timer_stop(g->rate_timer);
    spw_timer_stop(g->retry_timer);
    if (!g->finished)
        log_totals(g, SPW_LOG_INFO, "stopped after generating");
}

static void on_idle_closed(uv_handle_t *h) { free(h->data); }

static void gen_destroy(void *inst) {
    struct gen *g = inst;
    idle_stop(g);
    free_resources(g);
    uv_close((uv_handle_t *)&g->idle, on_idle_closed);
}

static const spw_source_ops gen_source_ops = {
    .start = gen_start,
    .pause = gen_pause,
    .resume = gen_resume,
    .stop = gen_stop,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SOURCE, .name = "generate", .version = "1.0.0",
                  .description = "Synthetic change events (deterministic, at-least-once), for tests, demos and benchmarks",
                  .options = gen_options, .config_size = sizeof(struct gen_conf),
                  .check = gen_check, .create = gen_create, .destroy = gen_destroy,
                  .source = &gen_source_ops);
