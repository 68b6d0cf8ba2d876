/*
 * plugins/sink-sqs/entries.c: the SendMessageBatch wire format, AWS JSON
 * 1.0 protocol (no loop state; tests/unit/test-sqs-entries.c links it).
 *
 * Request (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html):
 *   {"QueueUrl":URL,"Entries":[{"Id":ID,"MessageBody":TEXT,
 *     "MessageGroupId":G,"MessageDeduplicationId":D,        (FIFO queues)
 *     "MessageAttributes":{NAME:{"DataType":"String","StringValue":V}}}]}
 * Ids are the records' indexes in the core batch: unique in a request,
 * [0-9] only. FIFO: the group is the digest in hex (per-record order, as
 * XDR ships a record's versions in order) and the deduplication id the
 * digest and the LUT, so a resend of the same version, by spillway or by
 * XDR after a restart, is dropped by SQS itself within its 5 minutes.
 *
 * Answer: {"Successful":[{"Id","MessageId","MD5OfMessageBody",...}],
 *          "Failed":[{"Id","SenderFault","Code","Message"}]}
 * Errors: {"__type":"com.amazonaws.sqs#CODE","message":TEXT} with a 4xx/5xx
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html,
 *  .../APIReference/CommonErrors.html).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "sqs.h"

static const struct {
    unsigned bit;
    const char *name;
    const char *type;
} attr_defs[] = {
    {SQS_ATTR_NAMESPACE, "namespace", "String"},
    {SQS_ATTR_SET, "set", "String"},
    {SQS_ATTR_MSG, "msg", "String"},
    {SQS_ATTR_LUT, "lut", "Number"},
};

/* Attribute i's value for ev into buf (NUL-terminated); false when the event has none. */
static bool attr_value(const spw_event *ev, unsigned bit, char *buf, size_t size, size_t *len) {
    spw_str s = {NULL, 0};
    switch (bit) {
    case SQS_ATTR_NAMESPACE:
        s = spw_event_namespace(ev);
        break;
    case SQS_ATTR_SET:
        s = spw_event_set(ev);
        break;
    case SQS_ATTR_MSG:
        s.ptr = spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write";
        s.len = strlen(s.ptr);
        break;
    case SQS_ATTR_LUT:
        *len = (size_t)snprintf(buf, size, "%" PRId64, spw_event_lut_ms(ev));
        return true;
    }
    if (!s.ptr || s.len == 0 || s.len >= size)
        return false; /* SQS refuses empty String values: the attribute is left out */
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    *len = s.len;
    return true;
}

size_t sqs_message_size(const spw_event *ev, size_t body_len, bool base64, unsigned attrs) {
    size_t n = base64 ? aws_b64_len(body_len) : body_len;
    char v[256];
    size_t vl;
    for (size_t i = 0; i < sizeof attr_defs / sizeof attr_defs[0]; i++)
        if ((attrs & attr_defs[i].bit) && attr_value(ev, attr_defs[i].bit, v, sizeof v, &vl))
            n += strlen(attr_defs[i].name) + strlen(attr_defs[i].type) + vl;
    return n;
}

static void md5_hex(const void *p, size_t n, char out[33]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    static const char hex[] = "0123456789abcdef";
    if (EVP_Digest(p, n, d, &dl, EVP_md5(), NULL) != 1 || dl != 16) {
        out[0] = '\0';
        return;
    }
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[32] = '\0';
}

#define PUT(s) ((rc = spw_buf_append(out, (s), strlen(s))) == SPW_OK)

spw_result sqs_build(spw_buf *out, const char *queue_url, const sqs_entry_in *e, size_t n,
                     bool base64, bool fifo, unsigned attrs, spw_buf *scratch, char (*md5)[33]) {
    spw_result rc = SPW_OK;
    if (!(PUT("{\"QueueUrl\":\"") && (rc = aws_json_escape(out, queue_url, strlen(queue_url))) == SPW_OK &&
          PUT("\",\"Entries\":[")))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const sqs_entry_in *x = &e[i];
        spw_result r2 = spw_buf_printf(out, "%s{\"Id\":\"%zu\",\"MessageBody\":\"", i ? "," : "",
                                       x->rec);
        if (r2 != SPW_OK)
            return r2;
        if (base64) {
            spw_buf_reset(scratch);
            if ((rc = spw_buf_append_base64(scratch, x->body.ptr, x->body.len)) != SPW_OK ||
                (rc = spw_buf_append(out, scratch->data, scratch->len)) != SPW_OK)
                return rc;
            md5_hex(scratch->data ? scratch->data : (const uint8_t *)"", scratch->len, md5[i]);
        } else {
            if ((rc = aws_json_escape(out, x->body.ptr, x->body.len)) != SPW_OK)
                return rc;
            md5_hex(x->body.ptr ? x->body.ptr : (const uint8_t *)"", x->body.len, md5[i]);
        }
        if (!PUT("\""))
            return rc;
        if (fifo) {
            const uint8_t *d = spw_event_digest(x->ev);
            if (!(PUT(",\"MessageGroupId\":\"") && (rc = aws_hex(out, d, 20)) == SPW_OK &&
                  PUT("\",\"MessageDeduplicationId\":\"") && (rc = aws_hex(out, d, 20)) == SPW_OK &&
                  (rc = spw_buf_printf(out, "-%" PRId64 "\"", spw_event_lut_ms(x->ev))) == SPW_OK))
                return rc;
        }
        bool first = true;
        char v[256];
        size_t vl;
        for (size_t a = 0; a < sizeof attr_defs / sizeof attr_defs[0]; a++) {
            if (!(attrs & attr_defs[a].bit) || !attr_value(x->ev, attr_defs[a].bit, v, sizeof v, &vl))
                continue;
            if (!PUT(first ? ",\"MessageAttributes\":{" : ","))
                return rc;
            first = false;
            if ((rc = spw_buf_printf(out, "\"%s\":{\"DataType\":\"%s\",\"StringValue\":\"",
                                     attr_defs[a].name, attr_defs[a].type)) != SPW_OK ||
                (rc = aws_json_escape(out, v, vl)) != SPW_OK || !PUT("\"}"))
                return rc;
        }
        if (!first && !PUT("}"))
            return rc;
        if (!PUT("}"))
            return rc;
    }
    if (!PUT("]}"))
        return rc;
    return SPW_OK;
}

/* The entry an answer's Id names: its position among e[0..n), or -1. */
static long entry_of(const char *id, const sqs_entry_in *e, size_t n) {
    if (!id || !*id)
        return -1;
    char *end;
    unsigned long long rec = strtoull(id, &end, 10);
    if (*end)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (e[i].rec == rec)
            return (long)i;
    return -1;
}

spw_result sqs_parse_answer(const uint8_t *body, size_t len, const sqs_entry_in *e, size_t n,
                            char (*md5)[33], sqs_entry_out *out, size_t *md5_bad) {
    for (size_t i = 0; i < n; i++) {
        out[i].result = SPW_RETRY;
        snprintf(out[i].reason, sizeof out[i].reason, "SQS's answer did not mention the message");
    }
    *md5_bad = 0;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return SPW_ERR_INVAL;
    }
    json_t *ok = json_object_get(root, "Successful"), *failed = json_object_get(root, "Failed");
    size_t k;
    json_t *it;
    json_array_foreach(ok, k, it) {
        long i = entry_of(json_string_value(json_object_get(it, "Id")), e, n);
        if (i < 0)
            continue;
        const char *m = json_string_value(json_object_get(it, "MD5OfMessageBody"));
        if (!m || strcmp(m, md5[i]) != 0) {
            /* Changed on the way: send it again (a FIFO resend carries the same dedup id). */
            out[i].result = SPW_RETRY;
            snprintf(out[i].reason, sizeof out[i].reason,
                     "MD5OfMessageBody %.40s is not the body's %s", m ? m : "(none)", md5[i]);
            (*md5_bad)++;
            continue;
        }
        out[i].result = SPW_OK;
        out[i].reason[0] = '\0';
    }
    json_array_foreach(failed, k, it) {
        long i = entry_of(json_string_value(json_object_get(it, "Id")), e, n);
        if (i < 0)
            continue;
        json_t *sf = json_object_get(it, "SenderFault");
        const char *code = json_string_value(json_object_get(it, "Code"));
        const char *msg = json_string_value(json_object_get(it, "Message"));
        char ex[AWS_EXCERPT_MAX + 4] = "";
        if (msg)
            aws_excerpt((const uint8_t *)msg, strlen(msg), ex, sizeof ex);
        /* SenderFault true: the message itself is refused, resending it cannot help. */
        out[i].result = json_is_true(sf) ? SPW_REJECT : SPW_RETRY;
        snprintf(out[i].reason, sizeof out[i].reason, "SQS %s%s%s%s",
                 json_is_true(sf) ? "refused the message: " : "failed the message: ",
                 code ? code : "(no code)", ex[0] ? ": " : "", ex);
    }
    json_decref(root);
    return SPW_OK;
}

sqs_error_class sqs_classify_error(int status, const uint8_t *body, size_t len, char *code,
                                   size_t code_size, char *msg, size_t msg_size) {
    snprintf(code, code_size, "HTTP %d", status);
    msg[0] = '\0';
    json_t *root = json_loadb((const char *)body, len, 0, NULL);
    const char *type = root ? json_string_value(json_object_get(root, "__type")) : NULL;
    const char *m = root ? json_string_value(json_object_get(root, "message")) : NULL;
    if (!m && root)
        m = json_string_value(json_object_get(root, "Message"));
    if (type) {
        const char *h = strrchr(type, '#');
        snprintf(code, code_size, "%s", h ? h + 1 : type);
    }
    if (m)
        aws_excerpt((const uint8_t *)m, strlen(m), msg, msg_size);
    else if (!root)
        aws_excerpt(body, len, msg, msg_size);
    json_decref(root);

    static const char *const retry[] = {"ThrottlingException", "RequestThrottled",
                                        "KmsThrottled", "ServiceUnavailable", "InternalError",
                                        "InternalFailure"};
    static const char *const config[] = {
        "QueueDoesNotExist", "NonExistentQueue", "AccessDenied", "AccessDeniedException",
        "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
        "InvalidSecurity", "ExpiredToken", "UnrecognizedClientException", "MissingAuthenticationToken",
        "KmsAccessDenied", "KmsDisabled", "KmsNotFound", "KmsInvalidState", "KmsInvalidKeyUsage",
        "KmsOptInRequired", "QueueDeletedRecently", "InvalidAddress", "UnsupportedOperation",
        "RequestExpired" /* a clock off by minutes: no resend fixes it */};
    for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
        if (strcmp(code, retry[i]) == 0)
            return SQS_ERR_RETRY;
    for (size_t i = 0; i < sizeof config / sizeof config[0]; i++)
        if (strcmp(code, config[i]) == 0)
            return SQS_ERR_CONFIG;
    if (strcmp(code, "BatchRequestTooLong") == 0 || status == 413)
        return SQS_ERR_TOO_LARGE;
    if (status == 401 || status == 403)
        return SQS_ERR_CONFIG;
    if (status >= 500 || status == 408 || status == 429)
        return SQS_ERR_RETRY;
    if (status >= 400)
        return SQS_ERR_REJECT;
    return SQS_ERR_RETRY;
}
