/*
 * tools/xdrgen/xdrgen.h: what the parts of spillway-xdrgen share.
 *
 * spillway-xdrgen speaks to a connector exactly as Aerospike XDR does
 * (doc/xdrgen.md; the XDR wire protocol as in Aerospike's proto.h): pipelined as_msg frames
 * on N connections, replies matched strictly in order, records resent when
 * answered with a retry code or lost to a reset or a 10 s silence.
 *
 * The parts, one file each:
 *   wire.c    byte-level encoding of frames and parsing of replies
 *   digest.c  RIPEMD-160 record digests (OpenSSL, one reused context)
 *   record.c  synthetic records: a frame is a pure function of its seq
 *   replay.c  frames read from a file (hex or binary)
 *   hist.c    the log-bucket latency histogram
 *   stats.c   counters and the text / JSON report
 *   conn.c    one connection: connect, pipeline, match replies, reset
 *             (TLS: the SDK's spillway/tls.h, core/tls.c compiled in)
 *   run.c     the scheduler: what to send next, rate, end of the run
 *   opts.c    the command line
 *   main.c    glue
 *
 * Everything runs on one libuv loop in one thread; nothing here locks.
 */
#ifndef XDRGEN_H
#define XDRGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>
#include <spillway/buf.h>
#include <spillway/tls.h>

/* The Aerospike ("citrusleaf") epoch, 2010-01-01T00:00:00Z, in Unix ms. */
#define XG_CLEPOCH_MS INT64_C(1262304000000)

/* as_proto types and the minimal reply. */
#define XG_PROTO_VERSION 2
#define XG_PROTO_MSG 3
#define XG_PROTO_COMPRESSED 4
#define XG_PROTO_HDR 8
#define XG_MSG_HDR 22
#define XG_REPLY_LEN (XG_PROTO_HDR + XG_MSG_HDR)

/* as_msg bits XDR uses. */
#define XG_INFO1_XDR 0x10
#define XG_INFO2_WRITE 0x01
#define XG_INFO2_DELETE 0x02
#define XG_INFO2_DURABLE 0x10 /* on a write: "bin LUTs shipped" */
#define XG_INFO3_CREATE_OR_REPLACE 0x10

/* Field types. */
#define XG_FIELD_NAMESPACE 0
#define XG_FIELD_SET 1
#define XG_FIELD_KEY 2
#define XG_FIELD_DIGEST 4
#define XG_FIELD_LUT 14

#define XG_OP_WRITE 2
#define XG_OPFLAG_LUT 0x01

/* Particle types xdrgen generates (numbered as on the wire). */
enum {
    XG_PT_INTEGER = 1,
    XG_PT_DOUBLE = 2,
    XG_PT_STRING = 3,
    XG_PT_BLOB = 4,
    XG_PT_BOOL = 17,
    XG_PT_HLL = 18,
    XG_PT_MAP = 19,
    XG_PT_LIST = 20,
    XG_PT_GEOJSON = 23,
};

/* Aerospike name limits; a frame bigger than this is never built. */
#define XG_NS_MAX 31
#define XG_SET_MAX 63
#define XG_FRAME_MAX ((size_t)128 << 20)

/* ---------------------------------------------------------------------- */
/* wire.c                                                                  */
/* ---------------------------------------------------------------------- */

static inline uint8_t *xg_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}
static inline uint8_t *xg_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}
static inline uint8_t *xg_be64(uint8_t *p, uint64_t v) {
    p = xg_be32(p, (uint32_t)(v >> 32));
    return xg_be32(p, (uint32_t)v);
}
static inline uint64_t xg_get_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* One bin of a record to encode. Pointers are borrowed. */
struct xg_bin {
    const char *name;
    size_t name_len;
    uint8_t type;
    const uint8_t *value;
    size_t len;
    bool has_lut;
    uint64_t lut; /* clepoch ms, written as is */
};

/* One record to encode, as XDR would ship it. Pointers are borrowed. */
struct xg_record {
    bool del;          /* delete (info2 WRITE|DELETE), else write */
    bool durable;      /* delete: durable delete bit */
    bool lut_bit;      /* write: info2 0x10, the DC ships bin LUTs */
    uint8_t info3;
    uint32_t generation;
    uint32_t ttl;      /* record_ttl */
    const char *ns;
    size_t ns_len;
    const char *set;   /* NULL: no set field */
    size_t set_len;
    bool has_key;
    uint8_t key_type;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *digest; /* 20 bytes */
    bool has_lut;
    uint64_t lut;      /* the LUT field's 8 bytes: src-id << 40 | clepoch ms */
    size_t n_bins;
    const struct xg_bin *bins;
};

/* Bytes xg_record_encode writes for r. */
size_t xg_record_size(const struct xg_record *r);
/* Writes the type-3 frame (as_proto included) into out; returns its length. */
size_t xg_record_encode(const struct xg_record *r, uint8_t *out);

/* The LUT field's value for a Unix-ms time and a src-id. */
uint64_t xg_lut_field(int64_t unix_ms, uint32_t src_id);

/*
 * Compression into type-4 frames. The stream is kept between frames
 * (deflateReset): initialising zlib per frame would cost more than the
 * compression itself.
 */
struct xg_zip;
struct xg_zip *xg_zip_new(int level, bool size_le);
void xg_zip_free(struct xg_zip *z);
/* Most bytes a compressed frame of `len` input bytes may take. */
size_t xg_zip_bound(size_t len);
/* Compresses the frame in[0..len) into out; returns the length, 0 on failure. */
size_t xg_zip_frame(struct xg_zip *z, const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Result of parsing one 30-byte reply: the result code, or -1 when malformed. */
int xg_reply_parse(const uint8_t p[XG_REPLY_LEN]);

/* ---------------------------------------------------------------------- */
/* digest.c                                                                */
/* ---------------------------------------------------------------------- */

struct xg_digest;
/* NULL when OpenSSL has no RIPEMD-160 (the error is written to err). */
struct xg_digest *xg_digest_new(char *err, size_t errlen);
void xg_digest_free(struct xg_digest *d);
void xg_digest(struct xg_digest *d, const void *set, size_t set_len, uint8_t key_type,
               const void *key, size_t key_len, uint8_t out[20]);

/* ---------------------------------------------------------------------- */
/* record.c                                                                */
/* ---------------------------------------------------------------------- */

enum xg_key_type { XG_KEY_INTEGER = 0, XG_KEY_STRING, XG_KEY_BLOB, XG_KEY_NONE };

/* The shape of synthetic records (the command line fills it). */
struct xg_shape {
    char **namespaces;   /* record seq uses item seq % n */
    size_t n_namespaces;
    char **sets;         /* "" = no set */
    size_t n_sets;
    int key_type;        /* enum xg_key_type */
    unsigned bins;       /* bins per write, the first being "seq" */
    uint8_t types[16];   /* particle types of the other bins, in turn */
    size_t n_types;
    size_t value_min, value_max; /* string/blob/hll bytes; collections value/4 items */
    double delete_ratio, durable_ratio, compress_ratio;
    bool bin_luts;
    bool replace;        /* info3 CREATE_OR_REPLACE on writes */
    uint32_t ttl;        /* record_ttl of writes; 0xFFFFFFFF never expires */
    uint32_t src_id;
    uint64_t seed;
    int compress_level;
    bool compress_le;    /* original size of type-4 frames in little-endian */
};

struct xg_gen;
/* NULL on failure (err says why). The shape is borrowed for the generator's life. */
struct xg_gen *xg_gen_new(const struct xg_shape *sh, char *err, size_t errlen);
void xg_gen_free(struct xg_gen *g);
/* Most bytes one frame may take. */
size_t xg_gen_bound(const struct xg_gen *g);
/*
 * Writes record seq's frame (type 3, or type 4 when this record is one of
 * the compressed ones) into out (xg_gen_bound bytes); returns its length.
 * The content is a function of (seed, seq) alone, but for the LUT (now).
 */
size_t xg_gen_frame(struct xg_gen *g, uint64_t seq, int64_t now_unix_ms, uint8_t *out);
/* Parses a particle type name ("integer", "map"...); -1 when unknown. */
int xg_type_from_name(const char *s);

/* ---------------------------------------------------------------------- */
/* replay.c                                                                */
/* ---------------------------------------------------------------------- */

enum xg_replay_format { XG_REPLAY_AUTO = 0, XG_REPLAY_HEX, XG_REPLAY_BINARY };

struct xg_replay {
    uint8_t *data;    /* every frame, back to back */
    size_t len;
    size_t *off;      /* frame i is data[off[i] .. off[i+1]) */
    size_t n;
    size_t max_frame;
};
/* Loads and checks the frames of a file; false with err set on failure. */
bool xg_replay_load(struct xg_replay *rp, const char *path, int format, char *err,
                    size_t errlen);
/* Same, from bytes in memory (tests). */
bool xg_replay_parse(struct xg_replay *rp, const uint8_t *p, size_t n, int format, char *err,
                     size_t errlen);
void xg_replay_free(struct xg_replay *rp);

/* ---------------------------------------------------------------------- */
/* hist.c                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Log-bucket histogram (HDR style): exact below 128, then 64 buckets per
 * power of two, so any value is known within 1/64 (1.6 %). No samples are
 * stored; memory is fixed (about 30 KiB).
 */
#define XG_HIST_BUCKETS (58 * 64 + 64)
struct xg_hist {
    uint64_t count, max, min;
    uint64_t b[XG_HIST_BUCKETS];
};
void xg_hist_add(struct xg_hist *h, uint64_t v);
/* Value at quantile q (0..1): the middle of its bucket, never above max. 0 when empty. */
uint64_t xg_hist_quantile(const struct xg_hist *h, double q);

/* ---------------------------------------------------------------------- */
/* pace.c                                                                  */
/* ---------------------------------------------------------------------- */

/* Frames a sender that fell behind may still owe: 10 ms of sending. */
#define XG_PACE_MAX_LAG_NS 10e6
/* --rate as a schedule: frame k is due at start + k / rate (monotonic ns). */
struct xg_pace {
    double interval_ns; /* 1e9 / rate */
    double next_ns;     /* when the next frame is due */
    double max_lag_ns;  /* most the schedule may run behind the clock */
};
void xg_pace_init(struct xg_pace *p, double rate, uint64_t now_ns);
/* True when a frame is due at now_ns (the schedule then moves on by one). */
bool xg_pace_take(struct xg_pace *p, uint64_t now_ns);
/* When the next frame is due. */
uint64_t xg_pace_due_ns(const struct xg_pace *p);
/* CLOCK_MONOTONIC in ns (the clock the pacing timer runs on). */
uint64_t xg_mono_ns(void);

/* ---------------------------------------------------------------------- */
/* stats.c                                                                 */
/* ---------------------------------------------------------------------- */

struct xg_stats {
    uint64_t records;        /* distinct records put into play */
    uint64_t sent;           /* frames written, resends included */
    uint64_t bytes;          /* bytes of those frames (as sent, compressed or not) */
    uint64_t compressed;     /* of which type-4 frames */
    uint64_t acked;          /* records answered 0 or 2 */
    uint64_t retried;        /* replies with a retry code (each leads to a resend) */
    uint64_t abandoned;      /* records answered another nonzero code */
    uint64_t reset_resent;   /* records in flight on a connection that was reset */
    uint64_t codes[256];     /* replies per result code */
    uint64_t connects, connect_failures, resets_peer, resets_timeout, resets_malformed;
    uint64_t start_ns, end_ns;
    double cpu_user_s, cpu_sys_s; /* this process's CPU time over the run */
    struct xg_hist lat;      /* reply latency, ns */
    struct xg_hist gap;      /* with --rate: time between one frame's send and the next's, ns */
};
/* Prints the report: text, or one JSON object. `complete`: every record answered. */
void xg_stats_print(const struct xg_stats *s, FILE *f, bool json, bool complete,
                    uint64_t outstanding);
/* A one-line progress report (stderr). */
void xg_stats_progress(const struct xg_stats *s, FILE *f, uint64_t now_ns, uint64_t outstanding);

/* ---------------------------------------------------------------------- */
/* The run: options, connections, scheduler                                */
/* ---------------------------------------------------------------------- */

struct xg_opts {
    struct sockaddr_storage *addrs;
    char **addr_names;
    size_t n_addrs;
    unsigned connections;
    unsigned window;
    uint64_t timeout_ms;
    uint64_t reconnect_min_ms, reconnect_max_ms;
    uint64_t retry_delay_ms;
    uint64_t count;          /* 0 with duration 0: until interrupted */
    uint64_t duration_ms;
    uint64_t max_time_ms;    /* 0: none */
    uint64_t progress_ms;
    double rate;             /* frames/s, 0 = flat out */
    uint64_t seq_start;
    bool json, quiet;
    const char *replay;
    int replay_format;
    const char *dump;        /* write frames as hex here instead of sending */
    struct xg_shape shape;
    bool tls, tls_insecure;
    const char *tls_ca, *tls_cert, *tls_key, *tls_name;
    char *tls_host_owned;    /* the first --connect host (owned) */
};

/* Parses argv into o; returns -1 to go on, else the exit status (help, usage error). */
int xg_opts_parse(struct xg_opts *o, int argc, char **argv);
void xg_opts_free(struct xg_opts *o);

struct xg_run;
struct xg_conn;

/* Log line on stderr unless --quiet. */
void xg_log(const struct xg_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* run.c: what connections ask of the run. */
/* Next record to send and its frame, written at out; false when nothing may be sent now. */
bool xg_run_next(struct xg_run *r, uint64_t *seq, uint8_t *out, size_t *len);
/* Most bytes one frame may take. */
size_t xg_run_frame_bound(const struct xg_run *r);
/* The reply to record seq. */
void xg_run_reply(struct xg_run *r, uint64_t seq, int code, uint64_t latency_ns);
/* Records lost with a reset connection: resend them. */
void xg_run_requeue(struct xg_run *r, const uint64_t *seqs, size_t n);
struct xg_stats *xg_run_stats(struct xg_run *r);
const struct xg_opts *xg_run_opts(const struct xg_run *r);
uv_loop_t *xg_run_loop(const struct xg_run *r);
/* Cached frame timestamp (Unix ms) for this loop turn. */
int64_t xg_run_now_ms(const struct xg_run *r);

/* conn.c */
struct xg_conn *xg_conn_new(struct xg_run *r, unsigned index, const struct sockaddr *addr,
                            const char *addr_name, spw_tls_ctx *tls_ctx);
/* Begins connecting (at once). */
void xg_conn_start(struct xg_conn *c);
/* Fills the window with whatever the run allows now. */
void xg_conn_fill(struct xg_conn *c);
/* Closes for good; cb when the handles are closed. */
void xg_conn_close(struct xg_conn *c, void (*cb)(struct xg_conn *c));
void xg_conn_free(struct xg_conn *c);
struct xg_run *xg_conn_run(const struct xg_conn *c);

/* run.c: runs the whole thing; returns the exit status. */
int xg_run_main(struct xg_opts *o);

#endif /* XDRGEN_H */
