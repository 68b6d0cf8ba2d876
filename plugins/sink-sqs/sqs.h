/*
 * plugins/sink-sqs/sqs.h: what the files of the `sqs` sink share.
 *
 * plugin.c holds the options, checks and the instance; send.c turns a
 * batch into SendMessageBatch requests (at most 10 entries and
 * max_batch_bytes each) and their answers into per-record outcomes;
 * entries.c builds one request body and reads one answer (no loop state:
 * the unit test links it alone).
 */
#ifndef SPW_SINK_SQS_H
#define SPW_SINK_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/spillway.h>
#include "../aws-common/aws-sink.h"

/* SendMessageBatch takes at most 10 entries (API_SendMessageBatch). */
#define SQS_MAX_ENTRIES 10
/* Held down on a configuration or credential answer: probe this often. */
#define SQS_PROBE_MS 15000u

enum sqs_body_enc { SQS_BODY_AUTO = 0, SQS_BODY_TEXT, SQS_BODY_BASE64 };

/* Message attributes, by option: bits of sqs_conf.attrs. */
enum { SQS_ATTR_NAMESPACE = 1, SQS_ATTR_SET = 2, SQS_ATTR_MSG = 4, SQS_ATTR_LUT = 8 };

struct sqs_conf {
    const spw_http_conf *http;
    char *queue_url;
    int64_t max_batch_bytes;
    int body_encoding;
    spw_strlist message_attributes;
    int fifo; /* auto|true|false */
};

/* entries.c: one request ------------------------------------------------- */

typedef struct sqs_entry_in {
    size_t rec;                /* index of the record in the core batch (also the entry Id) */
    const spw_event *ev;
    spw_slice body;            /* the record as the codec wrote it */
} sqs_entry_in;

/* The size SQS counts for one message: body (as sent) plus attribute names, types and values. */
size_t sqs_message_size(const spw_event *ev, size_t body_len, bool base64, unsigned attrs);

/*
 * Appends a SendMessageBatch request body for entries e[0..n) to out, and
 * each entry's MD5 of its body as sent (32 hex + NUL) to md5[i].
 */
spw_result sqs_build(spw_buf *out, const char *queue_url, const sqs_entry_in *e, size_t n,
                     bool base64, bool fifo, unsigned attrs, spw_buf *scratch, char (*md5)[33]);

/* What one entry of an answer says. */
typedef struct sqs_entry_out {
    spw_result result;         /* SPW_OK, SPW_RETRY, SPW_REJECT; SPW_RETRY when absent */
    char reason[320];
} sqs_entry_out;

/*
 * Reads a SendMessageBatch answer (HTTP 200) for entries e[0..n) with the
 * MD5s sqs_build computed; out[i] is entry i's outcome. SPW_ERR_INVAL when
 * the answer is not the protocol's (every entry then retried).
 */
spw_result sqs_parse_answer(const uint8_t *body, size_t len, const sqs_entry_in *e, size_t n,
                            char (*md5)[33], sqs_entry_out *out, size_t *md5_bad);

/* The class of an error answer (not 200): its __type's last part into code, its message. */
typedef enum sqs_error_class {
    SQS_ERR_RETRY = 0,   /* throttling, 5xx, anything transient */
    SQS_ERR_TOO_LARGE,   /* BatchRequestTooLong, 413 */
    SQS_ERR_CONFIG,      /* no such queue, access denied, bad credentials, KMS: hold down */
    SQS_ERR_REJECT,      /* the request itself is refused: rejects its records */
} sqs_error_class;

sqs_error_class sqs_classify_error(int status, const uint8_t *body, size_t len, char *code,
                                   size_t code_size, char *msg, size_t msg_size);

#endif /* SPW_SINK_SQS_H */
