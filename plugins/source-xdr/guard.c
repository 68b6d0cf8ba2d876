/*
 * plugins/source-xdr/guard.c: the listener against floods and strangers.
 *
 * Admission (at accept, before a byte is read): the peer must be in
 * `allow` (when set); a peer at its share of max_connections_per_peer,
 * or a worker at its share of max_connections, first closes a connection
 * that owes nothing to let the new one in, and refuses it only when every
 * candidate owes answers. A candidate is, in this order of preference:
 * the oldest connection that has not sent a whole frame yet (a stranger,
 * or an XDR connection that will simply reconnect), then the connection
 * idle longest among those that owe nothing (no events in flight, no
 * answer waiting, no partial frame). A real XDR node reconnecting after
 * its old connections died silently therefore gets in, and a connection
 * with records in flight is never closed to make room.
 *
 * Slow and silent peers (the sweep timer): a connection that has not sent
 * a whole frame first_frame_timeout after it was accepted (TLS handshake
 * included) is closed; after the first frame, a frame whose first byte
 * arrived frame_timeout ago and is still incomplete closes the connection
 * (slowloris). Both clocks run only while the connection is read: time it
 * spends stopped by the pipeline's backpressure does not count. A
 * connection idle between frames is not bounded (XDR sends no keepalive;
 * idle_timeout, 0 by default, is the operator's choice).
 *
 * Every refusal and closure is counted and logged, at most one line per
 * reason every 10 s with the count and the latest peer, so a flood cannot
 * flood the log too.
 *
 * Counting is per worker (each worker holds its share of the caps, like
 * max_connections): balance.c places each new connection on the worker
 * holding the fewest of that peer's connections (then the fewest in all),
 * so a peer's connections are spread evenly and a share is enforced
 * without a lock on the hot path. The allow-list is applied by the
 * accepting worker before placement (xs_guard_allowed); the caps and the
 * eviction by the owning worker (xs_guard_admit), before a byte is read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

static void ratelog_init(struct xs_ratelog *r, spw_log_level level, const char *what) {
    memset(r, 0, sizeof *r);
    r->level = level;
    r->what = what;
}

static void ratelog_emit(struct xs_src *x, struct xs_ratelog *r, uint64_t now) {
    spw_log(x->st, r->level, "%" PRIu64 " connection(s) %s (latest from %s)%s", r->pending,
            r->what, r->latest, r->last_ms ? " in the last 10 s" : "");
    r->pending = 0;
    r->last_ms = now ? now : 1;
}

/* One event: the first is logged at once, later ones are summed into a line every 10 s. */
static void ratelog(struct xs_src *x, struct xs_ratelog *r, const char *peer) {
    uint64_t now = uv_now(x->loop);
    r->pending++;
    snprintf(r->latest, sizeof r->latest, "%s", peer);
    if (r->last_ms == 0 || now - r->last_ms >= XS_RATELOG_MS)
        ratelog_emit(x, r, now);
}

static void ratelog_flush(struct xs_src *x, struct xs_ratelog *r, bool force) {
    uint64_t now = uv_now(x->loop);
    if (r->pending > 0 && (force || now - r->last_ms >= XS_RATELOG_MS))
        ratelog_emit(x, r, now);
}

void xs_guard_flush_logs(struct xs_src *x) {
    struct xs_ratelog *all[] = {&x->log_full,   &x->log_not_allowed, &x->log_per_peer,
                                &x->log_silent, &x->log_slow,        &x->log_evicted};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ratelog_flush(x, all[i], true);
}

spw_result xs_guard_init(struct xs_src *x, spw_err *err) {
    const struct xs_conf *cf = x->cf;
    unsigned workers = spw_stage_workers(x->st) ? spw_stage_workers(x->st) : 1;

    x->max_per_peer = (size_t)((cf->max_connections_per_peer + workers - 1) / workers);
    if (cf->allow.n > 0) {
        x->allow = calloc(cf->allow.n, sizeof *x->allow);
        if (x->allow == NULL)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < cf->allow.n; i++) {
            spw_err e;
            if (xs_cidr_parse(cf->allow.v[i], &x->allow[i], &e) != SPW_OK) {
                free(x->allow);
                x->allow = NULL;
                return spw_err_set(err, SPW_ERR_CONFIG, "allow: %s", e.msg);
            }
        }
        x->n_allow = cf->allow.n;
    }
    ratelog_init(&x->log_full, SPW_LOG_WARN,
                 "refused: this worker holds its share of max_connections and every "
                 "connection owes answers");
    ratelog_init(&x->log_not_allowed, SPW_LOG_WARN, "refused: address not in `allow`");
    ratelog_init(&x->log_per_peer, SPW_LOG_WARN,
                 "refused: the peer holds its share of max_connections_per_peer and every "
                 "one of them owes answers");
    ratelog_init(&x->log_silent, SPW_LOG_WARN, "closed: no whole frame within first_frame_timeout");
    ratelog_init(&x->log_slow, SPW_LOG_WARN, "closed: a frame not completed within frame_timeout");
    ratelog_init(&x->log_evicted, SPW_LOG_INFO,
                 "closed to make room for a new one (they owed nothing)");
    return SPW_OK;
}

void xs_guard_refused_full(struct xs_src *x, const char *peer) {
    spw_counter_add(x->c_refused, 1);
    ratelog(x, &x->log_full, peer);
}

/* Owes nothing: closing it costs XDR at most a reconnect, never a resend of an answered record. */
static bool owes_nothing(const struct xs_conn *c) {
    return !c->closing && !c->finishing && xs_conn_in_flight(c) == 0 && c->writes == 0 &&
           c->out.len == 0;
}

bool xs_guard_add(struct xs_src *x, struct xs_conn *c) {
    if (x->n_conns == x->slots_cap) {
        size_t cap = x->slots_cap ? x->slots_cap * 2 : 64;
        struct xs_slot *ns = realloc(x->slots, cap * sizeof *ns);
        if (ns == NULL)
            return false;
        x->slots = ns;
        x->slots_cap = cap;
    }
    c->slot = x->n_conns;
    x->slots[c->slot] = (struct xs_slot){.ip = c->ip, .stranger = !c->got_frame,
                                         .accepted_ms = c->accepted_ms, .c = c};
    return true;
}

/* Called with n_conns not yet decremented: the last slot moves into the hole. */
void xs_guard_remove(struct xs_src *x, struct xs_conn *c) {
    size_t last = x->n_conns - 1;
    if (c->slot != last) {
        x->slots[c->slot] = x->slots[last];
        x->slots[c->slot].c->slot = c->slot;
    }
}

/* The connection to close for room: among those of peer ip (or all when ip is NULL). */
static struct xs_conn *pick_victim(struct xs_src *x, const struct xs_ip *ip) {
    struct xs_conn *stranger = NULL, *idle = NULL;
    uint64_t best = UINT64_MAX;
    /* Strangers first, oldest first: found in the dense slots. */
    for (size_t i = 0; i < x->n_conns; i++) {
        const struct xs_slot *s = &x->slots[i];
        if (!s->stranger || s->accepted_ms >= best || (ip && !xs_ip_equal(&s->ip, ip)))
            continue;
        if (owes_nothing(s->c)) {
            stranger = s->c;
            best = s->accepted_ms;
        }
    }
    if (stranger)
        return stranger;
    /* Then the connection idle longest (rare under a flood: strangers come first). */
    for (size_t i = 0; i < x->n_conns; i++) {
        struct xs_conn *c = x->slots[i].c;
        if (!c->got_frame || !owes_nothing(c) || c->partial || c->rlen != 0 ||
            (ip && !xs_ip_equal(&x->slots[i].ip, ip)))
            continue;
        if (!idle || c->last_active < idle->last_active)
            idle = c;
    }
    return idle;
}

static void evict(struct xs_src *x, struct xs_conn *v) {
    spw_counter_add(x->c_evicted, 1);
    ratelog(x, &x->log_evicted, v->peer);
    xs_conn_abort(v, SPW_LOG_DEBUG, NULL);
}

bool xs_guard_allowed(struct xs_src *x, const struct xs_conn *c) {
    if (x->n_allow == 0)
        return true;
    for (size_t i = 0; i < x->n_allow; i++)
        if (xs_cidr_match(&x->allow[i], &c->ip))
            return true;
    spw_counter_add(x->c_not_allowed, 1);
    ratelog(x, &x->log_not_allowed, c->peer);
    return false;
}

bool xs_guard_admit(struct xs_src *x, struct xs_conn *c) {
    size_t same = 0;
    for (size_t i = 0; i < x->n_conns; i++)
        if (xs_ip_equal(&x->slots[i].ip, &c->ip))
            same++;
    if (same >= x->max_per_peer) {
        struct xs_conn *v = pick_victim(x, &c->ip);
        if (v == NULL) {
            spw_counter_add(x->c_per_peer, 1);
            ratelog(x, &x->log_per_peer, c->peer);
            return false;
        }
        evict(x, v);
    }
    if (x->n_conns >= x->max_conns) {
        struct xs_conn *v = pick_victim(x, NULL);
        if (v == NULL) {
            xs_guard_refused_full(x, c->peer);
            return false;
        }
        evict(x, v);
    }
    return true;
}

void xs_guard_sweep(struct xs_src *x) {
    const struct xs_conf *cf = x->cf;
    uint64_t now = uv_now(x->loop);
    uint64_t idle = (uint64_t)cf->idle_timeout_ms, first = (uint64_t)cf->first_frame_timeout_ms,
             frame = (uint64_t)cf->frame_timeout_ms;

    for (struct xs_conn *c = x->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing || c->finishing)
            continue;
        if (c->reading && !c->got_frame && first > 0 && now - c->since >= first) {
            spw_counter_add(x->c_silent, 1);
            ratelog(x, &x->log_silent, c->peer);
            xs_conn_abort(c, SPW_LOG_DEBUG, NULL);
            continue;
        }
        if (c->reading && c->got_frame && c->partial && frame > 0 && now - c->since >= frame) {
            spw_counter_add(x->c_slow, 1);
            ratelog(x, &x->log_slow, c->peer);
            xs_conn_abort(c, SPW_LOG_DEBUG, NULL);
            continue;
        }
        if (idle > 0 && xs_conn_in_flight(c) == 0 && now - c->last_active >= idle) {
            spw_log(x->st, SPW_LOG_DEBUG, "%s: idle for %" PRIu64 " ms", c->peer,
                    now - c->last_active);
            xs_conn_finish(c);
        }
    }
    struct xs_ratelog *all[] = {&x->log_full,   &x->log_not_allowed, &x->log_per_peer,
                                &x->log_silent, &x->log_slow,        &x->log_evicted};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ratelog_flush(x, all[i], false);
}
