/*
 * core/taps.h: taps, the admin endpoint's GET /tap (spillway tap): a copy of
 * the events passing one point of the pipeline, as NDJSON, to a client.
 *
 * Points: the source side (every event submitted, before any route) and
 * each sink route (the events that passed the route's filters). A worker
 * looks at one relaxed atomic word per event per point (spw__tap_armed);
 * only when a tap watches that point does it take the taps' lock, apply the
 * tap's expression and rate limit, render the event and append it to the
 * tap's bounded queue, or count it dropped when the queue is full. The
 * admin thread drains the queue to the client. A tap never holds an event:
 * the event goes on as if nobody watched.
 */
#ifndef SPW_CORE_TAP_H
#define SPW_CORE_TAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "pipeline.h"

struct spw__worker;
struct spw__route;

/* Taps open at once; the next is refused (503). */
#define SPW__TAP_MAX 8

/*
 * Which points some tap watches: bit 0 the source side, bit 1 + (i % 63)
 * the sink route i (the order of [sink.*] sections). Routes beyond 63 share
 * bits: a shared bit only sends an event to the slow path, which matches
 * routes by name.
 */
extern atomic_uint_fast64_t spw__tap_mask;

/* A route's point bit, from its name: a reload may reorder or replace routes, and a tap
 * opened before it must keep finding its route (events of another route sharing the bit
 * are told apart by name under the lock). */
static inline unsigned spw__tap_route_bit(const char *route_name) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)route_name; *s; s++)
        h = (h ^ *s) * 16777619u;
    return 1u + (unsigned)(h % 63u);
}

static inline bool spw__tap_armed(unsigned bit) {
    return (atomic_load_explicit(&spw__tap_mask, memory_order_relaxed) >> bit) & 1u;
}

/* Some tap watches some route: spw__tap_route finds out which (out of the hot path). */
static inline bool spw__tap_routes_armed(void) {
    return (atomic_load_explicit(&spw__tap_mask, memory_order_relaxed) >> 1) != 0;
}

/* Slow paths, called only when spw__tap_armed or spw__tap_routes_armed said so
 * (on the worker's thread). */
void spw__tap_source(struct spw__worker *w, const spw_event *ev);
void spw__tap_route(struct spw__route *r, const spw_event *ev);

/* The taps of one admin endpoint (core/admin.c). */
typedef struct spw__taps spw__taps;
spw__taps *spw__taps_new(spw__pipeline *p);
/* After a reload took (main thread): ends the taps whose sink the new definitions no longer have. */
void spw__taps_reloaded(const spw__pipeline *p);
/* Ends every tap's stream (shutdown) before the HTTP server stops. */
void spw__taps_close(spw__taps *t);
void spw__taps_free(spw__taps *t);

/* GET /tap on connection c (a struct MHD_Connection); answers it. */
struct MHD_Connection;
int spw__tap_handle(spw__taps *t, struct MHD_Connection *c);

#endif /* SPW_CORE_TAP_H */
