/*
 * core/route.h: one sink route on one worker: the route's filters, its
 * codec, batching (records, bytes, time), the sink's concurrency, retries
 * with backoff bounded by the events' deadlines, and what happens to
 * rejected events (dead-letter, retry, drop).
 */
#ifndef SPW_CORE_ROUTE_H
#define SPW_CORE_ROUTE_H

#include <uv.h>
#include "event-private.h"
#include "worker.h"

typedef struct spw__batch_item {
    spw_event *ev;       /* a reference held by the route */
    size_t off, len;     /* encoded record within the batch's records buffer */
    int8_t result;       /* set by spw_batch_set_result; SPW__NO_RESULT when unset */
    char *reason;        /* owned; NULL when none */
} spw__batch_item;

#define SPW__NO_RESULT ((int8_t)-128)

struct spw_batch {
    struct spw__route *route;
    struct spw_batch *next;      /* ready queue or retry list */
    spw__batch_item *items;
    size_t n, cap;
    spw_buf records;             /* encoded records, back to back */
    spw_buf body;                /* framed body, when the route batches */
    unsigned attempt;
    uint64_t retry_after_ms;
    uint64_t due;                /* retry list: when to send again (monotonic ms) */
    bool lent;                   /* with the sink, between send and spw_batch_done */
    bool held;                   /* lent, and held by the sink (spw_batch_hold) */
};

typedef struct spw__route {
    spw__worker *w;
    const spw__stage_def *def;
    struct spw_stage *sink, *codec;
    struct spw_stage **filters;
    size_t n_filters;
    bool batching;               /* batch_max_records > 1 */
    unsigned concurrency;
    unsigned max_held;           /* batches the sink may hold (spw_batch_hold) at once */
    enum spw__on_reject on_reject;

    spw_batch *filling;          /* being filled; NULL when none */
    uv_timer_t delay_timer;      /* batch_max_delay for `filling` */
    spw_batch *ready_head, *ready_tail;
    spw_batch *retry_head;       /* sorted by due */
    uv_timer_t retry_timer;
    unsigned lent;               /* batches with the sink, counted against concurrency */
    unsigned held;               /* batches with the sink, held: not counted against concurrency */
    bool closing;

    /*
     * Destination down (spw_sink_down): no batch goes to the sink but one
     * probe at a time, the first probe_ms after the sink said so.
     */
    bool down;
    bool probe_due;              /* the probe timer fired: the next ready batch is the probe */
    spw_batch *probe;            /* the probe with the sink; NULL when none */
    uint64_t probe_ms;           /* the interval the sink asked for */
    uint64_t down_since;         /* loop time of the transition, for the log */
    uv_timer_t probe_timer;
    spw_buf scratch;             /* dead-letter lines */
    spw_slice *recs;             /* framing scratch: one slice per record of the batch */
    size_t recs_cap;
    spw__xform_scratch xbins;    /* bins of the transformed (shadow) event */
    spw_batch *spare;            /* one recycled batch, to avoid malloc per request */

    spw_counter *c_events, *c_delivered, *c_retried, *c_rejected, *c_dead, *c_dropped,
        *c_batches, *c_retries, *c_encode_errors, *c_splits, *c_down, *c_late;
    spw_gauge *g_down;                  /* 1 while the destination is down */
    spw_gauge *g_held;                  /* batches held */
    spw_histogram *h_records, *h_bytes; /* per request sent */
} spw__route;

spw_result spw__route_init(spw__route *r, spw__worker *w, spw__gen *g, const spw__stage_def *def,
                           spw_err *err);
/* Offers an event to the route; returns false when a filter skipped it. */
bool spw__route_offer(spw__route *r, spw_event *ev);
/* Sends ready batches while concurrency allows (called from the worker's pump). */
void spw__route_pump(spw__route *r);
/* Closes the filling batch now (shutdown, or no more input). */
void spw__route_flush(spw__route *r);
/*
 * True when the sink has no batch of the route (lent, held, probing) and,
 * with queued_too, nothing waits in the route either: a retired route
 * may be closed.
 */
bool spw__route_empty(const spw__route *r, bool queued_too);
/* Releases every event still queued (reported RETRY) and closes handles. */
void spw__route_close(spw__route *r);

#endif /* SPW_CORE_ROUTE_H */
