/*
 * core/ack.c: per-event completion, deadlines and in-order answers.
 *
 * Every submitted event is answered exactly once. The decision comes from
 * the routes (worst outcome wins) or from the deadline, whichever is first.
 * Answers are never given from inside spw_submit (a source must not be
 * re-entered from its own call): decisions made there are deferred to the
 * worker's pump, which runs on the next loop turn. Within an order group
 * answers leave strictly in submission order.
 *
 * References: spw_submit transfers the source's reference to the core,
 * which drops it when the event is both answered and released by every
 * route; each route holds its own reference while it has the event.
 */
#include <stdlib.h>
#include "ack.h"
#include "log.h"
#include "route.h"
#include "taps.h"

struct spw_order {
    spw__worker *w;
    spw_event *head, *tail;
    bool cancelled;
    bool releasing; /* inside order_release: a cancel from a done callback must not free */
};

static int rank(spw_result r) {
    switch (r) {
    case SPW_OK:
    case SPW_SKIP: return 0;
    case SPW_REJECT: return 1;
    default: return 2; /* SPW_RETRY and any error: deliver again */
    }
}

spw_result spw__ack_worst(spw_result a, spw_result b) {
    spw_result wa = rank(a) == 2 ? SPW_RETRY : a == SPW_SKIP ? SPW_OK : a;
    spw_result wb = rank(b) == 2 ? SPW_RETRY : b == SPW_SKIP ? SPW_OK : b;
    return rank(wa) >= rank(wb) ? wa : wb;
}

static void fly_unlink(spw__worker *w, spw_event *ev) {
    if (ev->fly_prev)
        ev->fly_prev->fly_next = ev->fly_next;
    else
        w->fly_head = ev->fly_next;
    if (ev->fly_next)
        ev->fly_next->fly_prev = ev->fly_prev;
    else
        w->fly_tail = ev->fly_prev;
    ev->fly_prev = ev->fly_next = NULL;
}

/* Drops the core's reference once the event is answered and no route holds it. */
static void maybe_release(spw_event *ev) {
    if ((ev->state & (SPW__EV_ANSWERED | SPW__EV_ROUTED)) != (SPW__EV_ANSWERED | SPW__EV_ROUTED))
        return;
    spw__worker *w = ev->worker;
    w->in_flight--;
    spw_gauge_set(w->g_in_flight, (int64_t)w->in_flight);
    spw_event_unref(ev);
    spw__worker_released(w);
}

static void answer_now(spw_event *ev, bool call) {
    ev->state |= SPW__EV_ANSWERED;
    if (call && ev->done) {
        /* The deadline is submission time plus a constant: no timestamp of its own needed. */
        spw__worker *w = ev->worker;
        uint64_t submitted = ev->deadline - (uint64_t)w->p->conf.event_deadline_ms;
        spw_histogram_observe(w->h_answer, (double)(uv_now(&w->loop) - submitted) / 1000.0);
        ev->done(ev, (spw_result)ev->outcome, ev->done_arg);
    }
    if (ev->src) {
        ev->src->in_flight--;
        ev->src = NULL;
    }
    maybe_release(ev);
}

/* Releases answers of an order group from its head while they are decided. */
static void order_release(spw_order *o) {
    if (o->releasing)
        return;
    o->releasing = true;
    while (o->head && (o->head->state & SPW__EV_DECIDED) && !(o->head->state & SPW__EV_DEFERRED)) {
        spw_event *ev = o->head;
        o->head = ev->order_next;
        if (!o->head)
            o->tail = NULL;
        ev->order_next = NULL;
        ev->order = NULL;
        answer_now(ev, !o->cancelled);
    }
    o->releasing = false;
    if (o->cancelled && !o->head)
        free(o);
}

static void deliver(spw_event *ev) {
    if (ev->order)
        order_release(ev->order);
    else
        answer_now(ev, true);
}

static void decide(spw_event *ev, spw_result outcome) {
    spw__worker *w = ev->worker;
    if (ev->state & SPW__EV_DECIDED)
        return;
    ev->state |= SPW__EV_DECIDED;
    ev->outcome = (int8_t)outcome;
    fly_unlink(w, ev);
    spw_counter_add(outcome == SPW_OK ? w->c_ok : outcome == SPW_REJECT ? w->c_reject : w->c_retry, 1);
    if (w->in_submit) {
        ev->state |= SPW__EV_DEFERRED;
        ev->fly_next = NULL; /* the fly links are free now: reuse them for the deferred list */
        if (w->deferred_tail)
            w->deferred_tail->fly_next = ev;
        else
            w->deferred_head = ev;
        w->deferred_tail = ev;
        spw__worker_kick(w);
        return;
    }
    deliver(ev);
}

void spw__ack_run_deferred(spw__worker *w) {
    while (w->deferred_head) {
        spw_event *ev = w->deferred_head;
        w->deferred_head = ev->fly_next;
        if (!w->deferred_head)
            w->deferred_tail = NULL;
        ev->fly_next = NULL;
        ev->state &= (uint8_t)~SPW__EV_DEFERRED;
        deliver(ev);
    }
}

/* A route (or the dispatch guard, with unref=false) reports on an event. */
static void route_report(spw_event *ev, spw_result r, bool unref) {
    if (!(ev->state & SPW__EV_DECIDED))
        ev->outcome = (int8_t)spw__ack_worst((spw_result)ev->outcome, r);
    if (--ev->routes_pending == 0) {
        ev->state |= SPW__EV_ROUTED;
        if (!(ev->state & SPW__EV_DECIDED))
            decide(ev, (spw_result)ev->outcome);
        else
            maybe_release(ev);
    }
    if (unref)
        spw_event_unref(ev);
}

void spw__ack_route_done(spw_event *ev, spw_result r) { route_report(ev, r, true); }

uint64_t spw__ack_expire(spw__worker *w, uint64_t now) {
    while (w->fly_head && w->fly_head->deadline <= now) {
        spw_counter_add(w->c_expired, 1);
        decide(w->fly_head, SPW_RETRY);
    }
    return w->fly_head ? w->fly_head->deadline : 0;
}

void spw__ack_timer_cb(uv_timer_t *t) {
    spw__worker *w = t->data;
    uint64_t now = uv_now(&w->loop);
    uint64_t next = spw__ack_expire(w, now);
    if (next)
        uv_timer_start(t, spw__ack_timer_cb, next > now ? next - now : 0, 0);
}

void spw__ack_expire_all(spw__worker *w) {
    while (w->fly_head)
        decide(w->fly_head, SPW_RETRY);
    spw__ack_run_deferred(w);
}

spw_result spw_submit(spw_stage *src, spw_event *ev, spw_order *order, spw_done_fn done, void *arg) {
    if (!src || !ev) {
        spw_event_unref(ev);
        return SPW_ERR_INVAL;
    }
    spw__worker *w = src->worker;
    if (w->state != SPW__W_RUNNING || (order && (order->cancelled || order->w != w))) {
        spw_event_unref(ev);
        return SPW_ERR_STATE;
    }
    if (ev->op != SPW_OP_WRITE && ev->op != SPW_OP_DELETE) {
        spw_event_unref(ev);
        return SPW_ERR_INVAL;
    }
    ev->worker = w;
    ev->src = src;
    src->in_flight++;
    ev->order = order;
    ev->done = done;
    ev->done_arg = arg;
    ev->state = 0;
    ev->outcome = SPW_OK;
    ev->deadline = uv_now(&w->loop) + (uint64_t)w->p->conf.event_deadline_ms;
    /* Deadlines are submission time plus a constant: appending keeps the list sorted. */
    ev->fly_next = NULL;
    ev->fly_prev = w->fly_tail;
    if (w->fly_tail)
        w->fly_tail->fly_next = ev;
    else
        w->fly_head = ev;
    w->fly_tail = ev;
    if (!uv_is_active((uv_handle_t *)&w->deadline_timer))
        uv_timer_start(&w->deadline_timer, spw__ack_timer_cb,
                       (uint64_t)w->p->conf.event_deadline_ms, 0);
    if (order) {
        ev->order_next = NULL;
        if (order->tail)
            order->tail->order_next = ev;
        else
            order->head = ev;
        order->tail = ev;
    }
    w->in_flight++;
    spw_gauge_set(w->g_in_flight, (int64_t)w->in_flight);
    spw_counter_add(w->c_submitted, 1);
    if (spw__tap_armed(0)) /* spillway tap on the source side (core/taps.c) */
        spw__tap_source(w, ev);
    spw_counter_add(w->c_worker_events, 1);

    /* The guard count keeps the event undecided until every route has been offered it. */
    w->in_submit++;
    ev->routes_pending = 1;
    for (size_t i = 0; i < w->n_routes; i++)
        spw__route_offer(&w->routes[i], ev);
    route_report(ev, SPW_OK, false);
    w->in_submit--;

    if (w->in_flight >= w->cap && !w->paused)
        spw__worker_pause(w);
    return SPW_OK;
}

spw_order *spw_order_new(spw_stage *src) {
    spw_order *o = calloc(1, sizeof *o);
    if (o)
        o->w = src->worker;
    return o;
}

void spw_order_cancel(spw_order *o) {
    if (!o)
        return;
    o->cancelled = true;
    order_release(o); /* frees o when nothing is pending */
}

size_t spw_in_flight(const spw_stage *src) { return src->worker->in_flight; }
size_t spw_in_flight_cap(const spw_stage *src) { return src->worker->cap; }
