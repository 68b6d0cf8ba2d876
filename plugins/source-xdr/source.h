/*
 * plugins/source-xdr/source.h: what the files of the `xdr` source share.
 *
 *   xdr.c       the plugin: options, checks, instance life, flow control
 *   listener.c  listening sockets (SO_REUSEPORT, one set per worker), accept
 *   balance.c   which worker owns a new connection (the one group shared by
 *               the instances of a source on all workers, under a mutex)
 *   conn.c      one XDR connection: reading, framing, submitting, closing
 *   reply.c     answers in request order and their batched writes
 *               (TLS: the SDK's spillway/tls.h, on the same buffers)
 *   allow.c     the `allow` list: CIDR ranges, peer addresses compared
 *   capture.c   `capture`: received frames queued to a writer thread, rotated files
 *   guard.c     who gets a connection slot (allow, per-peer cap, eviction),
 *               slow and silent peers, rate-limited refusal logs
 *   wire.h      the protocol itself (pure: frame.c record.c inflate.c info.c)
 *
 * One instance per worker; every callback runs on that worker's loop, so
 * nothing here is locked, except the group of balance.c (placement counts
 * and the inboxes of connections handed from one worker to another). Memory attached to a libuv handle is released in
 * its close callback; the instance itself is freed when its last handle
 * has closed after destroy().
 */
#ifndef SPW_SOURCE_XDR_SOURCE_H
#define SPW_SOURCE_XDR_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include <spillway/spillway.h>

#include "wire.h"

/* The parsed options (owned by the core, shared read-only by every worker). */
struct xs_conf {
    spw_strlist listen;
    char *tls_certificate;
    char *tls_private_key;
    char *tls_ca;
    int tls_min_version; /* index in "1.2|1.3" */
    int64_t max_connections;
    int64_t max_in_flight_per_connection;
    int64_t max_frame_size;
    int64_t idle_timeout_ms;
    int64_t retry_code;
    int64_t abandon_code;
    bool validate_collections;
    spw_strlist allow;               /* empty: any address may connect */
    int64_t max_connections_per_peer;
    int64_t first_frame_timeout_ms;  /* 0: no bound */
    int64_t frame_timeout_ms;        /* 0: no bound */
    char *capture;                   /* NULL or "": off (capture.c) */
    int64_t capture_max_bytes;
    int64_t capture_files;
    int64_t capture_queue;
};

/* A peer address as the guard compares it: IPv4-mapped IPv6 is IPv4. */
struct xs_ip {
    bool v6;
    uint8_t b[16]; /* IPv4: the first 4 bytes */
};

/* One `allow` entry: an address and how many of its leading bits must match. */
struct xs_cidr {
    struct xs_ip ip;
    uint8_t bits;
};

/* A connection as admission sees it, in one dense array per worker (guard.c): the
 * per-peer count and the choice of a stranger to close scan contiguous memory, not
 * every connection's state, so a flood's accepts stay cheap. */
struct xs_slot {
    struct xs_ip ip;
    bool stranger;           /* no whole frame yet */
    uint64_t accepted_ms;
    struct xs_conn *c;
};

/* A log line about refused or closed connections, at most one per XS_RATELOG_MS with a count. */
struct xs_ratelog {
    const char *what;        /* "refused: not in `allow`" */
    spw_log_level level;
    uint64_t last_ms;        /* loop time of the last line; 0: none yet */
    uint64_t pending;        /* events since that line */
    char latest[64];         /* the last peer, for the line */
};
#define XS_RATELOG_MS 10000

/* Result codes XDR retries (xdr-wire.md 8); retry_code must be one of them. */
#define XS_RETRY_CODES {8, 9, 11, 14, 18, 80}

/* Reading stops while this many reply bytes wait to be written. */
#define XS_OUT_HIGH (256u << 10)
/* Read buffer kept per connection between frames; it grows for a larger frame. */
#define XS_RBUF_SIZE (64u << 10)
/* How long a closing connection may take to get its last replies out. */
#define XS_LINGER_MS 2000

struct xs_listener {
    struct xs_src *x;
    uv_tcp_t tcp;
    uint16_t port;
    char name[64];     /* as configured, for messages */
    bool open;         /* the handle is initialised and not closed yet */
};

/* An answer that needs no event: an INFO answer, or a retry for a record
 * that could not be submitted. It leaves once `after` events are answered. */
struct xs_ready {
    struct xs_ready *next;
    uint64_t after;
    size_t len;
    uint8_t bytes[];
};

struct xs_conn {
    struct xs_src *x;
    uv_tcp_t tcp;
    uv_timer_t linger;      /* bounds how long a closing connection waits for its writes */
    uint16_t port;          /* the listener's */
    char peer[64];          /* "ip:port" or "[ip]:port" */
    struct xs_ip ip;        /* the peer's address, for the per-peer cap */
    uint64_t id;            /* for log lines */
    size_t slot;            /* its entry in x->slots */
    bool placed;            /* counted on this worker by balance.c until it closes */
    spw_order *order;

    /* Input: rbuf[0..rlen) holds plaintext not yet consumed; rbase is the
     * stream offset of rbuf[0], for messages about malformed input. */
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint64_t rbase;
    uint64_t last_active;   /* loop time of the last byte read */
    /* The guard's clock (guard.c): since when the current bound runs. Before the first
     * frame: first_frame_timeout from accept; after it, while a frame is partly read
     * (`partial`): frame_timeout from its first byte. Restarts whenever reading does,
     * so time spent not reading for the pipeline's sake never counts against the peer. */
    uint64_t accepted_ms, since;
    bool got_frame;         /* a whole frame arrived */
    bool partial;           /* after the first frame: a frame has started and not completed */

    /* Answers: events submitted / answered (in order), ready answers waiting. */
    uint64_t submitted, answered;
    struct xs_ready *ready_head, *ready_tail;
    size_t n_ready;
    spw_buf out;            /* replies of this loop turn, plaintext, not yet written */
    size_t writes;          /* uv_write requests not completed */

    spw_tls *tls;           /* NULL on plain TCP */
    bool tls_open;          /* its handshake completed (logged once) */

    bool reading;           /* uv_read_start is in effect */
    bool throttled;         /* at max_in_flight_per_connection: waiting for answers */
    bool closing;           /* uv_close called or about to be */
    bool finishing;         /* closing once the last replies are written */
    bool eof;
    bool dirty, runnable;   /* on the instance's flush / work lists */
    struct xs_conn *prev, *next;
    struct xs_conn *dirty_next, *run_next;
};

/* A connection over the limit: accepted only to be closed. */
struct xs_refused {
    uv_tcp_t tcp;
    struct xs_src *x;
};

struct xs_group;

struct xs_src {
    spw_stage *st;
    unsigned worker;        /* spw_stage_worker */
    struct xs_group *group; /* balance.c: shared with the instances on the other workers */
    uv_async_t inbox;       /* wakes this loop when another worker hands a connection over */
    const struct xs_conf *cf;
    uv_loop_t *loop;
    asw_parser parser;
    asw_info_ids ids;
    char node[64];
    spw_tls_ctx *tls_ctx;   /* NULL for plain TCP */

    struct xs_listener *listeners;
    size_t n_listeners;
    struct xs_conn *conns;  /* open connections */
    size_t n_conns, max_conns;
    uint64_t next_conn_id;
    uint64_t conn_cap, conn_low;
    uint8_t retry_code, abandon_code;

    bool started, paused, stopping, destroying;
    bool retiring;          /* retire(): no new connection; serves those open until they close */
    bool finished;          /* told the core (spw_source_finished) */
    uv_prepare_t flush;     /* writes the replies a loop turn produced, before the loop polls */
    uv_idle_t work;         /* goes on with connections whose input waited */
    bool flush_active, work_active;
    struct xs_conn *dirty, *runnable;
    uv_timer_t sweep;       /* idle_timeout */
    unsigned handles;       /* handles whose close callback still uses the instance */
    struct xs_refused spare;   /* refuses a connection when memory is short */
    bool spare_busy;
    struct xs_cidr *allow;  /* parsed `allow` (n_allow == 0: anyone) */
    size_t n_allow;
    size_t max_per_peer;    /* this worker's share of max_connections_per_peer */
    struct xs_slot *slots;  /* one per open connection (n_conns of them), any order */
    size_t slots_cap;
    struct xs_ratelog log_full, log_not_allowed, log_per_peer, log_silent, log_slow, log_evicted;
    uint8_t tls_in[16384];  /* ciphertext of one read, TLS only */
    spw_buf tls_out;        /* ciphertext of one call into a session, sent at once */

    spw_counter *c_connections, *c_refused, *c_frames, *c_records, *c_bytes, *c_replies_ok,
        *c_replies_retry, *c_replies_abandon, *c_malformed, *c_info;
    spw_counter *c_not_allowed, *c_per_peer, *c_silent, *c_slow, *c_evicted;
    spw_counter *c_w_connections, *c_w_records; /* per worker (spw_counter_register_worker) */
    struct xs_capture *cap;  /* NULL: capture off (shared by every worker's instance) */
    spw_counter *c_capture_frames, *c_capture_dropped;
};

/* ---- xdr.c ---- */
/* A handle of the instance closed: frees the instance after destroy() once none is left. */
void xs_handle_closed(struct xs_src *x);
/* A connection left x->conns: a retired instance with none left tells the core it finished. */
void xs_retire_check(struct xs_src *x);

/* ---- listener.c ---- */
/* Parses "host:port" / "[v6]:port" (numeric hosts only). */
spw_result xs_parse_addr(const char *s, struct sockaddr_storage *ss, spw_err *err);
spw_result xs_listen_all(struct xs_src *x, spw_err *err);
void xs_listen_close_all(struct xs_src *x);
/* A connection placed on this worker (accepted here or adopted from another worker, c->ip
 * and c->peer set, allowed): judged by the guard, then served or closed. */
void xs_conn_admit(struct xs_conn *c, const char *listener);
/* Closes a connection that was not admitted (only its socket handle is initialised). */
void xs_conn_unadmitted(struct xs_conn *c);

/* ---- balance.c ---- */
/* Joins the group of the source's instances (create); sets x->worker and x->inbox. */
spw_result xs_balance_join(struct xs_src *x, spw_err *err);
/* This worker is chosen from create (join) on; at start it adopts what waits in its inbox;
 * at stop (or destroy) it is chosen no more and drops its inbox. */
void xs_balance_start(struct xs_src *x);
void xs_balance_close(struct xs_src *x);
/* retire(): chosen no more; adopts what its inbox already holds (to serve it). */
void xs_balance_retire(struct xs_src *x);
/* Leaves the group (the instance is freed); the last one frees it. */
void xs_balance_leave(struct xs_src *x);
/* Chooses the worker that owns an accepted connection and counts it there: this worker's
 * index (the caller admits it) or another's (it was handed over; the caller closes its
 * handle). */
int xs_balance_place(struct xs_src *x, struct xs_conn *c, const char *listener);
/* A connection placed on this worker closed (or was refused). */
void xs_balance_release(struct xs_src *x, const struct xs_ip *ip);

/* ---- allow.c ---- */
/* Parses an `allow` entry: ADDRESS or ADDRESS/PREFIX, IPv4 or IPv6. */
spw_result xs_cidr_parse(const char *s, struct xs_cidr *out, spw_err *err);
bool xs_cidr_match(const struct xs_cidr *c, const struct xs_ip *ip);
/* False for a family other than IPv4 and IPv6. */
bool xs_ip_from_sockaddr(const struct sockaddr *sa, struct xs_ip *ip);
bool xs_ip_equal(const struct xs_ip *a, const struct xs_ip *b);

/* ---- guard.c ---- */
/* Parses `allow` and sets the per-worker shares and log lines (create). */
spw_result xs_guard_init(struct xs_src *x, spw_err *err);
/* The allow-list, at accept before the connection is placed (false: counted, logged). */
bool xs_guard_allowed(struct xs_src *x, const struct xs_conn *c);
/* Decides whether a placed connection (not linked yet, c->ip set) may stay: the
 * per-peer cap and max_connections, each of which closes a
 * connection that owes nothing to make room before refusing. Counts and logs refusals. */
bool xs_guard_admit(struct xs_src *x, struct xs_conn *c);
/* The periodic check (idle_timeout, first_frame_timeout, frame_timeout) and the
 * rate-limited log lines still owed. */
void xs_guard_sweep(struct xs_src *x);
/* Counts a refusal over max_connections (listener.c refuses those itself). */
void xs_guard_refused_full(struct xs_src *x, const char *peer);
/* Enters a connection just admitted into the slots (false: out of memory), takes it out
 * when it closes, marks it known once a whole frame arrived. */
bool xs_guard_add(struct xs_src *x, struct xs_conn *c);
void xs_guard_remove(struct xs_src *x, struct xs_conn *c);
static inline void xs_guard_got_frame(struct xs_conn *c, struct xs_slot *slots) {
    c->got_frame = true;
    slots[c->slot].stranger = false;
}
/* Writes the rate-limited lines still owed (destroy). */
void xs_guard_flush_logs(struct xs_src *x);
/* Bytes arrived (on_read): starts the frame clock when a frame starts. */
static inline void xs_guard_on_bytes(struct xs_conn *c, uint64_t now) {
    if (c->got_frame && !c->partial) {
        c->partial = true;
        c->since = now;
    }
}

/* ---- capture.c ---- */
/* The `capture` options: the directory takes files, an existing PATH is a capture file. */
spw_result xs_capture_check(const struct xs_conf *cf, spw_err *err);
/* Joins (or starts) the capture of cf->capture and registers its counters (create). */
spw_result xs_capture_attach(struct xs_src *x, spw_err *err);
/* Leaves it; the last instance to leave writes what is queued and ends the writer. */
void xs_capture_detach(struct xs_src *x);
/* Logs a write error of the writer thread, once (the sweep). */
void xs_capture_poll(struct xs_src *x);
void xs_capture_frame_slow(struct xs_src *x, const uint8_t *f, size_t len);
/* One whole record frame as received. Off, this is one test of a pointer. */
static inline void xs_capture_frame(struct xs_src *x, const uint8_t *f, size_t len) {
    if (x->cap)
        xs_capture_frame_slow(x, f, len);
}

/* ---- conn.c ---- */
/* Takes over an accepted connection (already uv_accept'ed into a fresh handle). */
void xs_conn_start(struct xs_conn *c);
/* Reads, frames and submits while the caps allow; called when a cap lifts. */
void xs_conn_pump(struct xs_conn *c);
/* Starts or stops reading to match what the connection may do now. */
void xs_conn_update_read(struct xs_conn *c);
/* Closes at once: cancels the order group (no more answers), drops unwritten replies. */
void xs_conn_abort(struct xs_conn *c, spw_log_level level, const char *why);
/* Closes once the replies already produced are written (bounded by XS_LINGER_MS). */
void xs_conn_finish(struct xs_conn *c);
/* Puts the connection on the instance's work list (processed on the next loop turn). */
void xs_conn_schedule(struct xs_conn *c);
/* Events and ready answers the connection still owes. */
static inline uint64_t xs_conn_in_flight(const struct xs_conn *c) {
    return c->submitted - c->answered + c->n_ready;
}

/* ---- reply.c ---- */
/* The done callback of every event (arg: the connection). */
void xs_on_done(spw_event *ev, spw_result outcome, void *arg);
/* Queues an answer that needs no event, after every event submitted so far. */
spw_result xs_reply_ready(struct xs_conn *c, const uint8_t *bytes, size_t len);
/* Writes what the connection has queued (used by the flush handle, closing, destroy). */
void xs_reply_flush(struct xs_conn *c);
/* Drops unanswered ready entries (closing). */
void xs_reply_discard(struct xs_conn *c);
/* Sends bytes to the peer as they are (TLS output included); false when the connection died. */
bool xs_send(struct xs_conn *c, const uint8_t *p, size_t n);
/* Bytes handed to libuv and not yet written. */
size_t xs_out_pending(const struct xs_conn *c);

/* Sends what the connection's session produced (x->tls_out, emptied); false when the
 * connection died. */
bool xs_send_tls(struct xs_conn *c);

#endif /* SPW_SOURCE_XDR_SOURCE_H */
