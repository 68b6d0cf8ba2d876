/*
 * core/event-private.h: the event's layout, known only to the core.
 *
 * One allocation holds the struct, the bins array and the data area, so
 * every pointer inside an event (bin names, values, namespace...) stays
 * valid for the event's whole life and creating an event costs one malloc.
 * The runtime fields at the end belong to core/ack.c.
 */
#ifndef SPW_CORE_EVENT_PRIVATE_H
#define SPW_CORE_EVENT_PRIVATE_H

#include <stdatomic.h>
#include <spillway/plugin.h>

struct spw__worker;

struct spw_event {
    atomic_uint refs;
    uint64_t id;

    /* What the record says. */
    uint8_t op;        /* spw_op; 0 until set */
    bool durable;
    bool has_key;
    uint16_t port;
    uint32_t generation;
    uint32_t src_id;
    int64_t lut_ms;
    int64_t expiry;
    uint8_t digest[20];
    spw_str ns;
    spw_str set;
    spw_value key;
    spw_str raw;       /* ptr NULL when the source gave none */
    uint16_t meta_excluded; /* spw_meta bits a route's transform removed (shadow events only) */

    /* Storage. */
    uint32_t max_bins, n_bins;
    size_t data_cap, data_len;
    size_t data_front; /* end of the highest in-place reference into the front (core/event.c) */
    spw_bin *bins;     /* points just after the struct */
    uint8_t *data;     /* points after the bins */

    /* Runtime state (core/ack.c). Valid between spw_submit and completion. */
    struct spw__worker *worker;
    struct spw_stage *src;       /* the source that submitted it: counts what it is owed */
    struct spw_order *order;
    spw_done_fn done;
    void *done_arg;
    uint64_t deadline;           /* monotonic ms */
    uint32_t routes_pending;     /* routes that have not reported */
    int8_t outcome;              /* worst outcome so far (spw_result) */
    uint8_t state;               /* enum spw__ack_state */
    struct spw_event *fly_prev, *fly_next;  /* worker's in-flight list, by deadline */
    struct spw_event *order_next;           /* next event of the same order group */
};

#endif /* SPW_CORE_EVENT_PRIVATE_H */
