/*
 * tools/xdrgen/run.c: one run. Decides what is sent next, keeps the
 * counts, and ends the run.
 *
 * A record is its sequence number. What to send next, in this order:
 *   1. records lost with a reset connection (resend at once, like XDR
 *      retrying its in-flight records on a new connection);
 *   2. records answered with a retry code, once --retry-delay has passed
 *      (a FIFO: every entry waits the same delay, so it stays sorted);
 *   3. a new record, while the run still makes new ones (--count not
 *      reached, --duration not over, not interrupted).
 * The frame is rebuilt from the number each time (record.c), or copied
 * from the replay file, so nothing else is kept per record and the
 * memory of a run is bounded by connections x window.
 *
 * Every record ends acknowledged (0 or 2) or abandoned (any other code
 * that is not a retry code); `outstanding` is what has neither happened
 * to yet. The run is complete when no new records will be made and
 * nothing is outstanding. --max-time (or a second SIGINT) ends it
 * incomplete.
 *
 * --rate is a schedule (pace.c): each frame is sent when it is due, so
 * frames leave evenly spaced. On Linux a timerfd (nanosecond resolution,
 * watched by the loop) wakes the run when the next frame is due; libuv's
 * own timers count in milliseconds and would send a millisecond's frames
 * at once. Elsewhere the 1 ms tick is the pacing timer (bursts per tick).
 * A 1 ms tick (10 ms without --rate) lets queued resends out on
 * connections with room and watches the clock (duration, max-time,
 * progress). Connections fill themselves as replies arrive; the tick is
 * only for what no reply will trigger.
 * A check handle ends the run in the loop turn after its last answer,
 * so no connection is closed from inside its own read callback.
 */
#include "xdrgen.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/timerfd.h>
#define XG_PACE_TIMERFD 1
#endif

struct qent {
    uint64_t seq;
    uint64_t ready_ms; /* loop time at which it may be sent */
};

/* A growable FIFO ring of records. */
struct queue {
    struct qent *v;
    size_t cap, head, n;
};

struct xg_run {
    struct xg_opts *o;
    uv_loop_t loop;
    struct xg_gen *gen;
    struct xg_replay rp;
    bool replaying;
    size_t frame_bound;

    uint64_t made;        /* new records put into play */
    uint64_t limit;       /* records the run makes at most */
    bool closed;          /* no new records */
    bool ending;          /* connections are being closed */
    bool complete;
    int interrupts;
    struct queue resend, retry;

    struct xg_pace pace;
    uint64_t last_send_ns; /* with --rate: when the last frame was taken (0: none yet) */
#ifdef XG_PACE_TIMERFD
    int pace_fd;           /* -1 when not pacing by timerfd */
    uv_poll_t pace_poll;
#endif
    uint64_t start_ms;    /* loop time at start */
    int64_t unix_base_ms; /* Unix ms at loop time start_ms */
    uint64_t next_progress_ms;

    struct xg_conn **conns;
    unsigned open_conns;
    spw_tls_ctx *tls_ctx;
    uv_timer_t tick;
    uv_check_t check;
    uv_signal_t sigint, sigterm;
    struct xg_stats st;
};

void xg_log(const struct xg_run *r, const char *fmt, ...) {
    if (r && r->o->quiet)
        return;
    va_list ap;
    fputs("xdrgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static bool q_push(struct queue *q, uint64_t seq, uint64_t ready) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        struct qent *v = malloc(cap * sizeof *v);
        if (!v)
            return false;
        for (size_t i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    q->v[(q->head + q->n) % q->cap] = (struct qent){seq, ready};
    q->n++;
    return true;
}

static struct qent q_pop(struct queue *q) {
    struct qent e = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return e;
}

/* Records in play not answered yet. */
static uint64_t outstanding(const struct xg_run *r) {
    return r->st.records - r->st.acked - r->st.abandoned;
}

/* ...plus those --count asked for that were never sent (an interrupted or timed-out run). */
static uint64_t unanswered(const struct xg_run *r) {
    return outstanding(r) + (r->limit != UINT64_MAX ? r->limit - r->made : 0);
}

/* A run that never got a record into play (a --duration with the connector down) did nothing. */
static bool done_all(const struct xg_run *r) {
    return unanswered(r) == 0 && (r->made > 0 || r->limit == 0);
}

/* ---------------------------------------------------------------------- */
/* What connections ask                                                    */
/* ---------------------------------------------------------------------- */

struct xg_stats *xg_run_stats(struct xg_run *r) { return &r->st; }
const struct xg_opts *xg_run_opts(const struct xg_run *r) { return r->o; }
uv_loop_t *xg_run_loop(const struct xg_run *r) { return (uv_loop_t *)&r->loop; }
size_t xg_run_frame_bound(const struct xg_run *r) { return r->frame_bound; }

int64_t xg_run_now_ms(const struct xg_run *r) {
    return r->unix_base_ms + (int64_t)(uv_now(&r->loop) - r->start_ms);
}

bool xg_run_next(struct xg_run *r, uint64_t *seq, uint8_t *out, size_t *len) {
    if (r->ending)
        return false;
    uint64_t s, now_ns = 0;
    bool any = r->resend.n > 0 || !r->closed ||
               (r->retry.n > 0 && r->retry.v[r->retry.head].ready_ms <= uv_now(&r->loop));
    if (!any)
        return false;
    if (r->o->rate > 0) {
        now_ns = xg_mono_ns();
        if (!xg_pace_take(&r->pace, now_ns))
            return false;
    }
    if (r->resend.n > 0) {
        s = q_pop(&r->resend).seq;
    } else if (r->retry.n > 0 && r->retry.v[r->retry.head].ready_ms <= uv_now(&r->loop)) {
        s = q_pop(&r->retry).seq;
    } else if (!r->closed) {
        s = r->o->seq_start + r->made++;
        r->st.records++;
        if (r->made >= r->limit)
            r->closed = true;
    } else {
        return false;
    }

    size_t n;
    if (r->replaying) {
        uint64_t k = (s - r->o->seq_start) % r->rp.n;
        n = r->rp.off[k + 1] - r->rp.off[k];
        memcpy(out, r->rp.data + r->rp.off[k], n);
    } else {
        n = xg_gen_frame(r->gen, s, xg_run_now_ms(r), out);
        if (n == 0) {
            /* only compression can fail, and only without memory: give up on it */
            xg_log(r, "record %" PRIu64 ": compression failed; sent uncompressed", s);
            r->o->shape.compress_ratio = 0;
            n = xg_gen_frame(r->gen, s, xg_run_now_ms(r), out);
        }
    }
    if (r->o->rate > 0) {
        if (r->last_send_ns)
            xg_hist_add(&r->st.gap, now_ns - r->last_send_ns);
        r->last_send_ns = now_ns;
    }
    r->st.sent++;
    r->st.bytes += n;
    if (out[1] == XG_PROTO_COMPRESSED)
        r->st.compressed++;
    *seq = s;
    *len = n;
    return true;
}

static bool is_retry_code(int code) {
    return code == 8 || code == 9 || code == 11 || code == 14 || code == 18 || code == 80;
}

void xg_run_reply(struct xg_run *r, uint64_t seq, int code, uint64_t latency_ns) {
    r->st.codes[code & 0xff]++;
    xg_hist_add(&r->st.lat, latency_ns);
    if (code == 0 || code == 2) {
        r->st.acked++;
    } else if (is_retry_code(code)) {
        r->st.retried++;
        if (!q_push(&r->retry, seq, uv_now(&r->loop) + r->o->retry_delay_ms)) {
            xg_log(r, "out of memory queueing a retry: record %" PRIu64 " abandoned", seq);
            r->st.abandoned++;
        }
    } else {
        r->st.abandoned++;
    }
}

void xg_run_requeue(struct xg_run *r, const uint64_t *seqs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        r->st.reset_resent++;
        if (!q_push(&r->resend, seqs[i], 0)) {
            xg_log(r, "out of memory queueing a resend: record %" PRIu64 " abandoned", seqs[i]);
            r->st.abandoned++;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* The end                                                                 */
/* ---------------------------------------------------------------------- */

static void on_conn_closed(struct xg_conn *c) {
    struct xg_run *r = xg_conn_run(c);
    if (--r->open_conns == 0) {
        uv_close((uv_handle_t *)&r->tick, NULL);
#ifdef XG_PACE_TIMERFD
        if (r->pace_fd >= 0)
            uv_close((uv_handle_t *)&r->pace_poll, NULL);
#endif
        uv_close((uv_handle_t *)&r->check, NULL);
        uv_close((uv_handle_t *)&r->sigint, NULL);
        uv_close((uv_handle_t *)&r->sigterm, NULL);
    }
}

static void end_run(struct xg_run *r, bool complete) {
    if (r->ending)
        return;
    r->ending = true;
    r->complete = complete;
    r->st.end_ns = uv_hrtime();
    uv_rusage_t ru;
    if (uv_getrusage(&ru) == 0) {
        r->st.cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        r->st.cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    uv_timer_stop(&r->tick);
#ifdef XG_PACE_TIMERFD
    if (r->pace_fd >= 0)
        uv_poll_stop(&r->pace_poll);
#endif
    uv_check_stop(&r->check);
    for (unsigned i = 0; i < r->o->connections; i++)
        xg_conn_close(r->conns[i], on_conn_closed);
}

static void on_check(uv_check_t *h) {
    struct xg_run *r = h->data;
    if (r->closed && outstanding(r) == 0)
        end_run(r, done_all(r));
}

static void on_tick(uv_timer_t *t) {
    struct xg_run *r = t->data;
    const struct xg_opts *o = r->o;
    uint64_t now = uv_now(&r->loop);
    uint64_t ran = now - r->start_ms;

    if (o->max_time_ms && ran >= o->max_time_ms) {
        xg_log(r, "--max-time reached with %" PRIu64 " records not answered", unanswered(r));
        end_run(r, false);
        return;
    }
    if (o->duration_ms && ran >= o->duration_ms)
        r->closed = true;
    if (o->progress_ms && now >= r->next_progress_ms) {
        r->next_progress_ms = now + o->progress_ms;
        xg_stats_progress(&r->st, stderr, uv_hrtime(), unanswered(r));
    }
    if (o->rate > 0) {
        /* fall through: due frames (when the timerfd is missing) and resends */
    } else if (r->resend.n == 0 && (r->retry.n == 0 || r->retry.v[r->retry.head].ready_ms > now)) {
        return; /* flat out: connections fill themselves as replies arrive */
    }
    for (unsigned i = 0; i < o->connections; i++)
        xg_conn_fill(r->conns[i]);
}

#ifdef XG_PACE_TIMERFD
/*
 * Sets the timerfd to when the next frame is due. Behind schedule (every
 * window full), it polls at the frame interval until replies make room.
 */
static void pace_arm(struct xg_run *r) {
    uint64_t now = xg_mono_ns(), due = xg_pace_due_ns(&r->pace);
    if (due <= now)
        due = now + (uint64_t)r->pace.interval_ns + 1;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(due / 1000000000u),
                                          .tv_nsec = (long)(due % 1000000000u)}};
    timerfd_settime(r->pace_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_pace(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    struct xg_run *r = h->data;
    uint64_t expirations;
    if (read(r->pace_fd, &expirations, sizeof expirations) < 0) {
        /* EAGAIN: woken for nothing; the timer is still armed */
    }
    if (r->ending)
        return;
    for (unsigned i = 0; i < r->o->connections; i++)
        xg_conn_fill(r->conns[i]);
    pace_arm(r);
}

/* The pacing timer; false leaves the 1 ms tick to pace (in bursts). */
static bool pace_start(struct xg_run *r) {
    r->pace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r->pace_fd < 0)
        return false;
    if (uv_poll_init(&r->loop, &r->pace_poll, r->pace_fd) != 0) {
        close(r->pace_fd);
        r->pace_fd = -1;
        return false;
    }
    r->pace_poll.data = r;
    uv_poll_start(&r->pace_poll, UV_READABLE, on_pace);
    pace_arm(r);
    return true;
}
#endif

static void on_signal(uv_signal_t *s, int signum) {
    struct xg_run *r = s->data;
    if (++r->interrupts == 1) {
        xg_log(r, "%s: no new records; waiting for %" PRIu64 " outstanding (again to stop now)",
               strsignal(signum), outstanding(r));
        r->closed = true;
        return;
    }
    end_run(r, r->closed && done_all(r));
}

/* ---------------------------------------------------------------------- */
/* Setting up                                                              */
/* ---------------------------------------------------------------------- */

/* --dump: frames written as hex lines instead of being sent. */
static int dump(struct xg_run *r) {
    const struct xg_opts *o = r->o;
    FILE *f = strcmp(o->dump, "-") == 0 ? stdout : fopen(o->dump, "w");
    if (!f) {
        xg_log(NULL, "%s: %s", o->dump, strerror(errno));
        return 3;
    }
    uint8_t *buf = malloc(r->frame_bound);
    if (!buf) {
        xg_log(NULL, "out of memory");
        return 3;
    }
    int64_t now = r->unix_base_ms;
    for (uint64_t k = 0; k < r->limit; k++) {
        uint64_t s = o->seq_start + k;
        size_t n;
        if (r->replaying) {
            uint64_t i = k % r->rp.n;
            n = r->rp.off[i + 1] - r->rp.off[i];
            memcpy(buf, r->rp.data + r->rp.off[i], n);
        } else {
            n = xg_gen_frame(r->gen, s, now, buf);
        }
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%02x", buf[i]);
        fputc('\n', f);
    }
    free(buf);
    int bad = ferror(f);
    if (f != stdout)
        bad |= fclose(f);
    else
        bad |= fflush(f);
    if (bad) {
        xg_log(NULL, "%s: write error", o->dump);
        return 3;
    }
    return 0;
}

/*
 * The client context: the connector's certificate checked against --tls-ca
 * (or the system's store) and, per connection, --tls-name; --tls-insecure
 * checks neither (and ignores --tls-ca); --tls-cert/--tls-key for mutual TLS.
 */
static spw_result tls_ctx_new(const struct xg_opts *o, spw_tls_ctx **out, spw_err *err) {
    spw_tls_options t = SPW_TLS_OPTIONS_INIT;
    t.role = SPW_TLS_CLIENT;
    t.no_verify = o->tls_insecure;
    t.ca_file = o->tls_insecure ? NULL : o->tls_ca;
    t.cert_file = o->tls_cert;
    t.key_file = o->tls_key;
    t.ca_file_label = "--tls-ca";
    t.cert_file_label = "--tls-cert";
    t.key_file_label = "--tls-key";
    return spw_tls_ctx_new(&t, out, err);
}

int xg_run_main(struct xg_opts *o) {
    struct xg_run *r = calloc(1, sizeof *r);
    char err[512];
    int status = 3;
    if (!r) {
        xg_log(NULL, "out of memory");
        return 3;
    }
    r->o = o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->unix_base_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    if (o->replay) {
        if (!xg_replay_load(&r->rp, o->replay, o->replay_format, err, sizeof err)) {
            xg_log(NULL, "--replay %s", err);
            goto out;
        }
        r->replaying = true;
        r->frame_bound = r->rp.max_frame;
        r->limit = o->count ? o->count : (o->duration_ms ? UINT64_MAX : r->rp.n);
    } else {
        r->gen = xg_gen_new(&o->shape, err, sizeof err);
        if (!r->gen) {
            xg_log(NULL, "%s", err);
            goto out;
        }
        r->frame_bound = xg_gen_bound(r->gen);
        r->limit = o->count ? o->count : UINT64_MAX;
    }

    if (o->dump) {
        if (r->limit == UINT64_MAX) {
            xg_log(NULL, "--dump needs --count (or --replay)");
            status = 2;
            goto out;
        }
        status = dump(r);
        goto out;
    }

    if (o->tls) {
        spw_err e;
        if (tls_ctx_new(o, &r->tls_ctx, &e) != SPW_OK) {
            xg_log(NULL, "TLS: %s", e.msg);
            goto out;
        }
    }

    uv_loop_init(&r->loop);
    r->start_ms = uv_now(&r->loop);
    r->st.start_ns = uv_hrtime();
    r->next_progress_ms = r->start_ms + o->progress_ms;
    xg_pace_init(&r->pace, o->rate, xg_mono_ns());
#ifdef XG_PACE_TIMERFD
    r->pace_fd = -1;
#endif

    r->conns = calloc(o->connections, sizeof *r->conns);
    if (!r->conns) {
        xg_log(NULL, "out of memory");
        goto out_loop;
    }
    for (unsigned i = 0; i < o->connections; i++) {
        size_t a = i % o->n_addrs;
        r->conns[i] = xg_conn_new(r, i, (const struct sockaddr *)&o->addrs[a], o->addr_names[a],
                                  r->tls_ctx);
        if (!r->conns[i]) {
            xg_log(NULL, "out of memory");
            goto out_loop;
        }
        r->open_conns++;
    }

    uv_timer_init(&r->loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, 1, o->rate > 0 ? 1 : 10);
#ifdef XG_PACE_TIMERFD
    if (o->rate > 0 && !pace_start(r))
        xg_log(r, "no timerfd: --rate paced by a 1 ms tick");
#endif
    uv_check_init(&r->loop, &r->check);
    r->check.data = r;
    uv_check_start(&r->check, on_check);
    uv_signal_init(&r->loop, &r->sigint);
    uv_signal_init(&r->loop, &r->sigterm);
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    if (r->limit == 0)
        r->closed = true;

    for (unsigned i = 0; i < o->connections; i++)
        xg_conn_start(r->conns[i]);
    uv_run(&r->loop, UV_RUN_DEFAULT);

    xg_stats_print(&r->st, stdout, o->json, r->complete, unanswered(r));
    status = r->complete ? 0 : 1;

out_loop:
    if (r->conns)
        for (unsigned i = 0; i < o->connections; i++)
            xg_conn_free(r->conns[i]);
    free(r->conns);
    uv_loop_close(&r->loop);
#ifdef XG_PACE_TIMERFD
    if (r->pace_fd >= 0)
        close(r->pace_fd);
#endif
out:
    spw_tls_ctx_free(r->tls_ctx);
    xg_gen_free(r->gen);
    xg_replay_free(&r->rp);
    free(r->resend.v);
    free(r->retry.v);
    free(r);
    return status;
}
