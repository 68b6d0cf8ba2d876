/*
 * plugins/sink-splunk-hec/hec.h: what the files of the `splunk-hec` sink share.
 *
 * The sink is protocol policy on the SDK's HTTP client (spillway/http.h):
 *   plugin.c    options, checks, the instance, counters;
 *   envelope.c  the request body: HEC event envelopes (or raw lines) from a batch;
 *   answer.c    what an HEC answer says: code, text, ackId, invalid-event-number,
 *               ack poll answers (jansson; no loop state: unit-tested alone);
 *   send.c      one request per batch, its answer turned into outcomes;
 *   ack.c       indexer acknowledgement: channels, held batches, polls, timeouts.
 *
 * Splunk references: "Format events for HTTP Event Collector", "HTTP Event
 * Collector REST API endpoints" (/services/collector/event, /raw, /ack,
 * /health), "Troubleshoot HTTP Event Collector" (the status codes table) and
 * "About HTTP Event Collector Indexer Acknowledgment" (channels, ackId).
 */
#ifndef SPW_SINK_SPLUNK_HEC_H
#define SPW_SINK_SPLUNK_HEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <spillway/spillway.h>
#include <spillway/template.h>

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */
/* ---------------------------------------------------------------------- */

enum hec_endpoint { HEC_EP_EVENT = 0, HEC_EP_RAW };

/* Indexed fields the `fields` option may name. */
enum hec_field { HEC_F_NAMESPACE = 0, HEC_F_SET, HEC_F_DIGEST, HEC_F_MSG, HEC_F_GEN, HEC_F_N };

struct hec_conf {
    const spw_http_conf *http;
    char *hec_token;
    int endpoint;
    char *host, *source, *sourcetype, *index;
    spw_strlist fields;
    bool ack;
    int64_t channels;
    int64_t max_pending_acks;
    int64_t ack_timeout_ms;
    int64_t ack_poll_min_ms;
    int64_t ack_poll_max_ms;
    int64_t token_probe_ms;
};

/* Parses the `fields` list into a bit set (1u << hec_field). */
spw_result hec_fields_parse(const spw_strlist *l, unsigned *bits, spw_err *err);

/* ---------------------------------------------------------------------- */
/* envelope.c                                                              */
/* ---------------------------------------------------------------------- */

/* The metadata templates, compiled once per instance (NULL: key not sent). */
typedef struct hec_meta {
    spw_template *host, *source, *sourcetype, *index;
    unsigned fields; /* bits of enum hec_field */
} hec_meta;

spw_result hec_meta_init(hec_meta *m, const struct hec_conf *cf, spw_err *err);
void hec_meta_free(hec_meta *m);

/* Appends s[0..n) JSON-escaped (no quotes). */
spw_result hec_json_escape(spw_buf *out, const void *s, size_t n);

/*
 * Appends one event envelope for (ev, rec) to out: time (LUT, seconds with
 * milliseconds), host, source, sourcetype, index, event (rec, the codec's
 * JSON object, embedded as it is), fields.
 * SPW_REJECT when rec is not a JSON object.
 */
spw_result hec_envelope(const hec_meta *m, const spw_event *ev, spw_slice rec, spw_buf *out);

/* Appends "?host=..&source=.." for the raw endpoint (constant templates only). */
spw_result hec_raw_query(const hec_meta *m, const spw_event *ev, const char *channel,
                         spw_buf *scratch, spw_buf *out);

/* ---------------------------------------------------------------------- */
/* answer.c                                                                */
/* ---------------------------------------------------------------------- */

typedef struct hec_answer {
    bool parsed;         /* the body was a JSON object with a numeric code */
    int code;            /* HEC code; -1 when absent */
    char text[160];      /* its text, printable */
    bool has_ack_id;
    uint64_t ack_id;
    bool has_invalid;
    uint64_t invalid_event; /* invalid-event-number */
} hec_answer;

void hec_answer_parse(const uint8_t *body, size_t len, hec_answer *a);

/* The outcome an answer to an event or raw request means for its batch. */
enum hec_class {
    HEC_C_OK = 0,      /* 200, code 0 */
    HEC_C_PARTIAL,     /* code 6 with invalid-event-number */
    HEC_C_RETRY,       /* busy, internal error, no answer, garbage */
    HEC_C_REJECT,      /* the data can never be accepted */
    HEC_C_TOKEN,       /* codes 1-4, 401/403: hold the route down */
    HEC_C_CHANNEL,     /* codes 10/11: the channel is unknown or invalid */
    HEC_C_TOO_LARGE,   /* 413 */
};
enum hec_class hec_classify(int status, const hec_answer *a);

/*
 * An ack poll answer: {"acks":{"N":true|false,...}}. Calls fn for each id
 * with its value. False when the body is not such an answer (garbage).
 */
typedef void (*hec_ack_fn)(uint64_t id, bool value, void *arg);
bool hec_acks_parse(const uint8_t *body, size_t len, hec_ack_fn fn, void *arg);

/* ---------------------------------------------------------------------- */
/* The instance                                                            */
/* ---------------------------------------------------------------------- */

#define HEC_COOKIES_MAX 1024

struct hec_sink;

/* One pending acknowledgement: a held batch waiting for its ackId to come true. */
typedef struct hec_pending {
    uint64_t ack_id;
    spw_batch *b;
    uint64_t give_up_at; /* loop ms: ack_timeout or the batch's deadline, the earlier */
    bool polled;         /* in the poll now in flight */
} hec_pending;

/* An indexer acknowledgement channel: a GUID, one endpoint, its cookies and its pending acks. */
typedef struct hec_channel {
    struct hec_sink *s;
    char guid[37];
    size_t endpoint;
    char cookies[HEC_COOKIES_MAX]; /* "a=b; c=d" as Set-Cookie gave them */
    hec_pending *pending;
    size_t n_pending;
    size_t sending;      /* requests on their way whose ackId is not known yet */
    spw_timer *timer;
    uint64_t interval;   /* current poll interval, adaptive */
    bool polling;        /* a poll is in flight */
    uint64_t next_id;    /* one past the highest ackId seen on this GUID */
    bool answered;       /* an answer came on this GUID (and with it any balancer cookie) */
    unsigned generation; /* bumped on reset: answers for an older one are stale */
    spw_buf poll_body;
    spw_buf target;
} hec_channel;

/* One event or raw request in flight. */
typedef struct hec_call {
    struct hec_sink *s;
    spw_batch *b;
    hec_channel *ch;     /* NULL with ack off */
    unsigned ch_gen;
    spw_buf body;
    spw_buf target;
    struct hec_call *next;
} hec_call;

typedef struct hec_sink {
    spw_stage *st;
    const struct hec_conf *cf;
    spw_http *http;
    hec_meta meta;
    char *auth;          /* "Splunk TOKEN": never logged */
    hec_channel *ch;
    size_t n_ch;
    size_t next_ch;
    spw_buf scratch;
    hec_call *free_calls;
    bool closing;
    bool no_ack_logged;
    bool codec_logged;
    spw_log_limit warn_limit; /* hec_warn: one line a second */
    spw_counter *c_sent, *c_acked, *c_ack_timeouts, *c_resends, *c_no_ack, *c_polls,
        *c_poll_errors, *c_channel_resets;
    spw_gauge *g_pending;
} hec_sink;

void hec_warn(hec_sink *s, const char *fmt, ...) SPW_PRINTF(2, 3);

/* send.c */
spw_result hec_send(hec_sink *s, spw_batch *b, spw_err *err);
void hec_calls_free(hec_sink *s);

/* ack.c */
spw_result hec_channels_init(hec_sink *s, spw_err *err);
/* Gives back every held batch (retry) and releases the channels. */
void hec_channels_free(hec_sink *s);
/* A channel with room for one more pending ack, or NULL when all are full. */
hec_channel *hec_channel_get(hec_sink *s);
/* A new GUID (and endpoint, cookies); its pending batches are given back to be resent. */
void hec_channel_reset(hec_channel *ch, const char *why);
/* Holds b on ch until ack_id comes true. */
void hec_channel_hold(hec_channel *ch, spw_batch *b, uint64_t ack_id);
/* Keeps the cookies a response set, for load-balancer stickiness. */
void hec_channel_cookies(hec_channel *ch, const spw_http_response *r);
/* Request headers shared by sends and polls on ch (or no channel); returns how many. */
size_t hec_headers(hec_sink *s, hec_channel *ch, spw_http_header *h, const char *ctype);

#endif /* SPW_SINK_SPLUNK_HEC_H */
