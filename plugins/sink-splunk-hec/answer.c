/*
 * plugins/sink-splunk-hec/answer.c: what HEC's answers mean.
 *
 * Every HEC answer is a JSON object {"text":..,"code":N} ("Troubleshoot
 * HTTP Event Collector", the status codes table), plus "ackId" on a 200
 * when the token has indexer acknowledgement and "invalid-event-number"
 * on code 6 (and 7, 12, 13): the position of the envelope that failed,
 * those before it having been indexed. Ack polls answer
 * {"acks":{"0":true,"1":false}}: false means "not yet" and "unknown" alike.
 *
 * The codes and what the sink does:
 *   0 success                       delivered (or held for its ack)
 *   1-4 token disabled/required/invalid authorization/invalid token,
 *   16 query string authorization   the route is held down, retried, never dropped
 *   5 no data, 7 incorrect index,
 *   12/13 event field required/blank,
 *   15 indexed fields               rejected (dead-lettered) with the reason
 *   6 invalid data format           envelopes before invalid-event-number
 *                                   delivered, that one rejected, the rest retried
 *   8 internal error, 9 busy,
 *   18-20 queues full / ack service unavailable     retried with backoff
 *   10/11 data channel missing/invalid              a new channel, retried
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "hec.h"

void hec_answer_parse(const uint8_t *body, size_t len, hec_answer *a) {
    memset(a, 0, sizeof *a);
    a->code = -1;
    if (!body || len == 0)
        return;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return;
    if (json_is_object(j)) {
        json_t *c = json_object_get(j, "code");
        if (json_is_integer(c) && json_integer_value(c) >= 0 && json_integer_value(c) < 1000) {
            a->parsed = true;
            a->code = (int)json_integer_value(c);
        }
        json_t *t = json_object_get(j, "text");
        if (json_is_string(t))
            spw_printable(a->text, sizeof a->text, json_string_value(t), json_string_length(t),
                          sizeof a->text - 1);
        json_t *id = json_object_get(j, "ackId");
        if (json_is_integer(id) && json_integer_value(id) >= 0) {
            a->has_ack_id = true;
            a->ack_id = (uint64_t)json_integer_value(id);
        }
        json_t *inv = json_object_get(j, "invalid-event-number");
        if (json_is_integer(inv) && json_integer_value(inv) >= 0) {
            a->has_invalid = true;
            a->invalid_event = (uint64_t)json_integer_value(inv);
        }
    }
    json_decref(j);
}

enum hec_class hec_classify(int status, const hec_answer *a) {
    if (a->parsed) {
        switch (a->code) {
        case 0:
            return status == 200 ? HEC_C_OK : HEC_C_RETRY;
        case 1: case 2: case 3: case 4: case 16:
            return HEC_C_TOKEN;
        case 6:
            return a->has_invalid ? HEC_C_PARTIAL : HEC_C_REJECT;
        case 5: case 7: case 12: case 13: case 15:
            return HEC_C_REJECT;
        case 10: case 11:
            return HEC_C_CHANNEL;
        case 8: case 9: case 18: case 19: case 20:
            return HEC_C_RETRY;
        default:
            break;
        }
    }
    /* No HEC code (a proxy, a balancer, garbage): the status decides. A 200
     * whose body says nothing may or may not have been taken: resend. */
    if (status == 413)
        return HEC_C_TOO_LARGE;
    if (status == 401 || status == 403)
        return HEC_C_TOKEN;
    if (status == 400)
        return a->parsed ? HEC_C_RETRY : HEC_C_REJECT;
    return HEC_C_RETRY;
}

bool hec_acks_parse(const uint8_t *body, size_t len, hec_ack_fn fn, void *arg) {
    if (!body || len == 0)
        return false;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *acks = json_is_object(j) ? json_object_get(j, "acks") : NULL;
    bool ok = json_is_object(acks);
    const char *k;
    json_t *v;
    if (ok)
        json_object_foreach(acks, k, v) {
            char *end;
            (void)strtoull(k, &end, 10);
            if (!json_is_boolean(v) || *k < '0' || *k > '9' || *end) {
                ok = false;
                break;
            }
        }
    if (ok)
        json_object_foreach(acks, k, v) fn((uint64_t)strtoull(k, NULL, 10), json_is_true(v), arg);
    json_decref(j);
    return ok;
}
