/*
 * core/ack.h: the acknowledgement machinery (see DESIGN.md).
 *
 * An event, once submitted, is "answered" exactly once: when every route
 * that took it has reported (worst outcome wins: OK < REJECT < RETRY), or
 * when its deadline passes first (RETRY). Answers to events of one order
 * group are released in submission order. An event is "released" when it
 * is answered and no route holds it any more; only then does it stop
 * counting against the in-flight cap, so memory stays bounded even when a
 * destination hangs past the deadline.
 */
#ifndef SPW_CORE_ACK_H
#define SPW_CORE_ACK_H

#include "event-private.h"
#include "worker.h"

enum spw__ack_flags {
    SPW__EV_DECIDED = 0x01,  /* final outcome known */
    SPW__EV_ANSWERED = 0x02, /* done callback made (or skipped: order cancelled) */
    SPW__EV_ROUTED = 0x04,   /* every route has reported */
    SPW__EV_DEFERRED = 0x08, /* on the worker's deferred list */
};

/* Combines outcomes: the worse of a and b (OK < REJECT < RETRY). */
spw_result spw__ack_worst(spw_result a, spw_result b);

/* A route took the event (before dispatch finishes). */
static inline void spw__ack_route_take(spw_event *ev) { ev->routes_pending++; }
/* A route is done with the event; r is its outcome. Releases the route's reference. */
void spw__ack_route_done(spw_event *ev, spw_result r);

/* True when the event has been answered with a deadline retry (routes may drop it). */
static inline bool spw__ack_expired(const spw_event *ev) { return (ev->state & SPW__EV_DECIDED) != 0; }

/* Answers every event whose deadline is <= now with RETRY; returns the next deadline or 0. */
uint64_t spw__ack_expire(spw__worker *w, uint64_t now);
/* The worker's deadline timer callback (timer data = the worker). */
void spw__ack_timer_cb(uv_timer_t *t);
/* Answers every unanswered event with RETRY (forced shutdown). */
void spw__ack_expire_all(spw__worker *w);
/* Makes the answers deferred while inside spw_submit. */
void spw__ack_run_deferred(spw__worker *w);

#endif /* SPW_CORE_ACK_H */
