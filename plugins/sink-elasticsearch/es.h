/*
 * plugins/sink-elasticsearch/es.h: what the files of the `elasticsearch`
 * sink share.
 *
 * The sink is policy only, on the SDK's HTTP client (spillway/http.h):
 * plugin.c holds the options, the --check refusals, the instance and the
 * version probe (GET / at start); bulk.c turns a batch into a `_bulk`
 * body (action lines, document ids, index names, versions); reply.c
 * reads the bulk answer item by item and says what each item's status
 * means; send.c ties them to a request and tells the core the outcome of
 * every record. bulk.c and reply.c have no loop state: the unit tests
 * link them on their own.
 */
#ifndef SPW_SINK_ES_H
#define SPW_SINK_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <spillway/spillway.h>
#include <spillway/template.h>

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */
/* ---------------------------------------------------------------------- */

enum es_id { ES_ID_DIGEST = 0, ES_ID_DIGEST_HEX, ES_ID_KEY };
enum es_versioning { ES_VER_EXTERNAL_GTE = 0, ES_VER_EXTERNAL, ES_VER_NONE };
enum es_deletes { ES_DEL_DELETE = 0, ES_DEL_SOFT, ES_DEL_REFUSE };

struct es_conf {
    const spw_http_conf *http;
    char *index;             /* template: ${namespace} ${set} */
    int id;                  /* enum es_id */
    int versioning;          /* enum es_versioning */
    int deletes;             /* enum es_deletes */
    char *soft_delete_field;
    bool data_stream;
    char *doc_type;          /* refused: `_type` is gone from ES 8 and OpenSearch 2 */
    int64_t auth_probe_ms;   /* hold-down probe interval after a 401/403 */
};

/* Elasticsearch's own limits (docs: "Index API", "Create index API"). */
#define ES_ID_MAX 512
#define ES_INDEX_MAX 255
/* A rejection's reason quotes at most this much of an item's error reason. */
#define ES_REASON_MAX 300

/* ---------------------------------------------------------------------- */
/* bulk.c: the request body                                                */
/* ---------------------------------------------------------------------- */

/* The index name template: the SDK's (spillway/template.h), its literal text checked
 * against Elasticsearch's index name rules once. */
typedef struct es_tpl {
    spw_template *t;
    /*
     * When the template names only ${namespace} and ${set} (the usual
     * aerospike-${namespace}-${set}), the last pair's result is kept: the
     * records of a batch mostly share it, and rendering and cleaning the
     * name cost more than the rest of the action line. Per instance, so
     * per worker: no lock.
     */
    bool by_ns_set;
    bool cached;
    spw_buf key;             /* namespace, then set; lengths below */
    size_t ns_len;
    bool set_null;
    spw_buf name;            /* the index name, when the result was SPW_OK */
    spw_result rc;
    const char *why;
} es_tpl;

/* Compiles an index template; unknown variables and literals Elasticsearch would refuse
 * (uppercase, \ / * ? " < > | space , # :, a leading - _ +) are errors naming the cause. */
spw_result es_tpl_compile(es_tpl *t, const char *src, spw_err *err);
void es_tpl_free(es_tpl *t);

/*
 * The index name for ev: the template rendered, then made safe by
 * Elasticsearch's index name rules (ASCII lowercased; forbidden
 * characters, control bytes and invalid UTF-8 as '_'; leading - _ +
 * dropped; at most 255 bytes, cut on a character boundary). Appends to
 * out; SPW_REJECT with why (a static string) when nothing valid is left.
 */
spw_result es_index_name(es_tpl *t, const spw_event *ev, spw_buf *out, const char **why);

/* The document id for ev, JSON-escaped, appended to out; SPW_REJECT with why otherwise. */
spw_result es_doc_id(int mode, const spw_event *ev, spw_buf *out, const char **why);

/* The action a record becomes. */
enum es_action { ES_ACT_INDEX = 0, ES_ACT_CREATE, ES_ACT_DELETE, ES_ACT_SOFT_DELETE };

/*
 * Appends one action (and its source line) for event ev whose encoded
 * record is rec: SPW_OK; SPW_REJECT with *why (static text) when the
 * record cannot be expressed (no usable id or index, a document that is
 * not one line of JSON object). On SPW_REJECT nothing is appended. On
 * SPW_OK scratch holds the rendered index and id ("index\0id"), which
 * send.c keeps for the ordering rule.
 */
spw_result es_bulk_append(const struct es_conf *cf, es_tpl *tpl, const spw_event *ev,
                          spw_slice rec, spw_buf *body, spw_buf *scratch, enum es_action *act,
                          const char **why);

/* ---------------------------------------------------------------------- */
/* reply.c: the bulk answer                                                */
/* ---------------------------------------------------------------------- */

enum es_item_class {
    ES_ITEM_DONE = 0,   /* 200/201, or 404 on a delete */
    ES_ITEM_STALE,      /* 409 version conflict: a newer (or equal) version is indexed */
    ES_ITEM_RETRY,      /* 429, 5xx, anything unknown, or not in the answer */
    ES_ITEM_REJECT,     /* a document error: resending can never succeed */
    ES_ITEM_TOO_LARGE,  /* 413 for this item alone */
    ES_ITEM_HOLD,       /* 401/403 security, a missing index: hold the sink down, retry */
};

typedef struct es_item {
    int status;                       /* 0 when the answer stopped before this item */
    char type[64];                    /* error.type, "" when none */
    char reason[ES_REASON_MAX + 4];   /* error.reason, printable, bounded */
} es_item;

typedef struct es_reply {
    bool errors;      /* the answer's "errors" */
    size_t n_items;   /* items read completely */
    bool cut;         /* the body ended (truncated) before the items did */
} es_reply;

/*
 * Reads a bulk answer: items[0..max) filled in order, the rest left with
 * status 0. Tolerates a body cut anywhere (those items stay unknown, so
 * they are retried). SPW_ERR_INVAL when the body is not a bulk answer.
 * Never allocates; nesting is bounded.
 */
spw_result es_reply_parse(const uint8_t *p, size_t n, es_item *items, size_t max, es_reply *out);

/* What an item's answer means. versioned: the action carried an external version. */
enum es_item_class es_item_classify(const es_item *it, enum es_action act, bool versioned);

/* Writes "HTTP 400 mapper_parsing_exception: REASON" for an item into out. */
void es_item_describe(const es_item *it, char *out, size_t out_size);

/* The server's version from a `GET /` answer: "Elasticsearch 8.11.1", "OpenSearch 2.11.0". */
bool es_version_parse(const uint8_t *p, size_t n, char *out, size_t out_size, int *major,
                      bool *opensearch);

/* ---------------------------------------------------------------------- */
/* The instance (plugin.c, send.c)                                         */
/* ---------------------------------------------------------------------- */

typedef struct es_call {
    struct es_sink *s;
    spw_batch *b;
    spw_buf body;
    size_t n_act;         /* actions in the body */
    uint32_t *act_rec;    /* action i -> record index in the batch */
    uint8_t *act_kind;    /* enum es_action of action i */
    uint32_t *act_key;    /* offset of "index\0id" of action i in keys */
    spw_buf keys;
    es_item *items;
    size_t cap;
    struct es_call *next;
} es_call;

typedef struct es_sink {
    spw_stage *st;
    const struct es_conf *cf;
    spw_http *http;
    es_tpl tpl;
    spw_buf scratch;
    es_call *free_calls;
    es_call **calls;
    size_t n_calls, cap_calls;
    bool closing;
    bool probe_out;
    spw_log_limit warn_limit; /* es_warn: one line a second */
    spw_counter *c_indexed, *c_deleted, *c_stale, *c_item_retry, *c_item_reject;
} es_sink;

void es_warn(es_sink *s, const char *fmt, ...) SPW_PRINTF(2, 3);
spw_result es_send(es_sink *s, spw_batch *b, spw_err *err);
void es_calls_free(es_sink *s);

#endif /* SPW_SINK_ES_H */
