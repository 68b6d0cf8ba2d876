/*
 * tests/unit/test-hec-envelope.c: the splunk-hec sink's pure parts
 * (plugins/sink-splunk-hec/envelope.c, answer.c): envelopes parsed back
 * with jansson (only HEC's keys, time with milliseconds, the record
 * embedded as it is, templated metadata JSON-escaped, indexed fields),
 * raw queries, HEC answers and their classes, ack poll answers.
 */
#include <string.h>
#include <jansson.h>
#include "../../plugins/sink-splunk-hec/hec.h"
#include "../tap.h"

static json_t *envelope(const struct hec_conf *cf, const spw_event *ev, const char *rec) {
    hec_meta m;
    spw_err err = {""};
    if (hec_meta_init(&m, cf, &err) != SPW_OK) {
        diag("meta: %s", err.msg);
        return NULL;
    }
    spw_buf out = SPW_BUF_INIT;
    spw_slice r = {(const uint8_t *)rec, strlen(rec)};
    json_t *j = NULL;
    if (hec_envelope(&m, ev, r, &out) == SPW_OK)
        j = json_loadb((const char *)out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
    spw_buf_free(&out);
    hec_meta_free(&m);
    return j;
}

static int classify(int status, const char *body) {
    hec_answer a;
    hec_answer_parse((const uint8_t *)body, strlen(body), &a);
    return (int)hec_classify(status, &a);
}

static int n_true, n_false;
static uint64_t last_true;
static void count_ack(uint64_t id, bool v, void *arg) {
    (void)arg;
    if (v) {
        n_true++;
        last_true = id;
    } else
        n_false++;
}

int main(void) {
    uint8_t digest[20];
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)(i * 13);
    spw_event *ev = spw_event_new(2, 256);
    spw_event_set_op(ev, SPW_OP_DELETE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "se\"t\n", 5);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 7);
    spw_event_set_lut(ev, 1764115200023, 0);

    char *fields[] = {"namespace", "set", "digest", "msg", "gen"};
    struct hec_conf cf = {.source = "aerospike:${namespace}", .sourcetype = "_json",
                          .index = "idx_${set}", .host = "h1",
                          .fields = {5, fields}};
    json_t *j = envelope(&cf, ev, "{\"a\":1,\"seq\":5}");
    ok(j != NULL, "the envelope is one JSON object");
    if (j) {
        const char *k;
        json_t *v;
        int unknown = 0;
        json_object_foreach(j, k, v) if (!strstr(",time,host,source,sourcetype,index,event,fields,",
                                                 k)) unknown++;
        is_int(unknown, 0, "only HEC's envelope keys");
        ok(json_is_real(json_object_get(j, "time")) &&
               json_real_value(json_object_get(j, "time")) > 1764115200.022 &&
               json_real_value(json_object_get(j, "time")) < 1764115200.024,
           "time is the LUT in seconds with milliseconds (.023)");
        is_str(json_string_value(json_object_get(j, "source")), "aerospike:test", "source templated");
        is_str(json_string_value(json_object_get(j, "index")), "idx_se\"t\n",
               "index templated, a quote and a line break in the value escaped");
        is_str(json_string_value(json_object_get(j, "host")), "h1", "host");
        ok(json_integer_value(json_object_get(json_object_get(j, "event"), "seq")) == 5,
           "event is the record itself");
        json_t *f = json_object_get(j, "fields");
        is_str(json_string_value(json_object_get(f, "namespace")), "test", "fields.namespace");
        is_str(json_string_value(json_object_get(f, "msg")), "delete", "fields.msg");
        is_str(json_string_value(json_object_get(f, "gen")), "7", "fields.gen as a string");
        is_str(json_string_value(json_object_get(f, "digest")),
               "000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7", "fields.digest in hex");
        json_decref(j);
    }
    /* No metadata, no LUT: just the event. */
    struct hec_conf bare = {0};
    spw_event_set_lut(ev, 0, 0);
    j = envelope(&bare, ev, " {\"x\":\"y\"}\n");
    ok(j && json_object_size(j) == 1 && json_object_get(j, "event"),
       "without LUT or metadata: {\"event\":...} only");
    json_decref(j);
    spw_event_set_lut(ev, 1764115200023, 0);
    j = envelope(&bare, ev, "[1,2]");
    ok(j == NULL, "a record that is not a JSON object is refused");
    json_decref(j);

    /* fields option */
    unsigned bits;
    spw_err err = {""};
    char *badf[] = {"namespace", "bins"};
    spw_strlist bl = {2, badf};
    ok(hec_fields_parse(&bl, &bits, &err) == SPW_ERR_CONFIG && strstr(err.msg, "bins"),
       "an unknown field is a configuration error naming it");
    struct hec_conf qc = {.host = "a\"b"};
    hec_meta qm;
    ok(hec_meta_init(&qm, &qc, &err) == SPW_ERR_CONFIG && strstr(err.msg, "host"),
       "a quote in a literal is a configuration error naming the option");
    struct hec_conf u = {.index = "x_${nope}"};
    ok(hec_meta_init(&qm, &u, &err) == SPW_ERR_CONFIG && strstr(err.msg, "index"),
       "an unknown variable is a configuration error naming the option");

    /* raw query */
    struct hec_conf rc = {.source = "a b", .sourcetype = "st", .index = "main"};
    hec_meta m;
    hec_meta_init(&m, &rc, &err);
    spw_buf q = SPW_BUF_INIT, scratch = SPW_BUF_INIT;
    hec_raw_query(&m, ev, "0f0f0f0f-0000-4000-8000-000000000000", &scratch, &q);
    is_str((const char *)q.data,
           "/services/collector/raw?source=a%20b&sourcetype=st&index=main&channel="
           "0f0f0f0f-0000-4000-8000-000000000000",
           "raw: metadata and channel in the query, percent-encoded");
    spw_buf_free(&q);
    spw_buf_free(&scratch);
    hec_meta_free(&m);

    /* answers */
    hec_answer a;
    const char *okb = "{\"text\":\"Success\",\"code\":0,\"ackId\":42}";
    hec_answer_parse((const uint8_t *)okb, strlen(okb), &a);
    ok(a.parsed && a.code == 0 && a.has_ack_id && a.ack_id == 42, "200 answer with ackId parsed");
    is_int(classify(200, okb), HEC_C_OK, "code 0: ok");
    is_int(classify(200, "{\"text\":\"Success\",\"code\":0}"), HEC_C_OK, "code 0 without ackId: ok");
    is_int(classify(400, "{\"text\":\"Invalid data format\",\"code\":6,\"invalid-event-number\":3}"),
           HEC_C_PARTIAL, "code 6 with invalid-event-number: partial");
    for (int c = 1; c <= 4; c++) {
        char b[64];
        snprintf(b, sizeof b, "{\"text\":\"t\",\"code\":%d}", c);
        is_int(classify(c == 2 || c == 3 ? 401 : 403, b), HEC_C_TOKEN, "code %d: token, held down", c);
    }
    int rej[] = {5, 7, 12, 13};
    for (int i = 0; i < 4; i++) {
        char b[64];
        snprintf(b, sizeof b, "{\"text\":\"t\",\"code\":%d}", rej[i]);
        is_int(classify(400, b), HEC_C_REJECT, "code %d: rejected", rej[i]);
    }
    int busy[] = {8, 9, 18, 19, 20};
    for (int i = 0; i < 5; i++) {
        char b[64];
        snprintf(b, sizeof b, "{\"text\":\"t\",\"code\":%d}", busy[i]);
        is_int(classify(busy[i] == 8 ? 500 : 503, b), HEC_C_RETRY, "code %d: retried", busy[i]);
    }
    is_int(classify(400, "{\"text\":\"Data channel is missing\",\"code\":10}"), HEC_C_CHANNEL,
           "code 10: channel");
    is_int(classify(400, "{\"text\":\"Invalid data channel\",\"code\":11}"), HEC_C_CHANNEL,
           "code 11: channel");
    is_int(classify(200, "<html>ok</html>"), HEC_C_RETRY, "a 200 without a HEC answer: resent");
    is_int(classify(200, ""), HEC_C_RETRY, "a 200 with no body: resent");
    is_int(classify(413, "too big"), HEC_C_TOO_LARGE, "413: too large");
    is_int(classify(502, "bad gateway"), HEC_C_RETRY, "502 from a balancer: retried");
    is_int(classify(401, ""), HEC_C_TOKEN, "401 without a code: token");

    /* ack poll answers */
    const char *acks = "{\"acks\":{\"0\":true,\"1\":false,\"7\":true}}";
    ok(hec_acks_parse((const uint8_t *)acks, strlen(acks), count_ack, NULL) && n_true == 2 &&
           n_false == 1,
       "ack answer: two true, one false");
    n_true = n_false = 0;
    const char *bad[] = {"{\"acks\":[0,1]}", "{\"acks\":{\"x\":true}}", "{\"acks\":{\"1\":1}}",
                         "garbage", "{\"text\":\"ACK is disabled\",\"code\":14}", ""};
    for (int i = 0; i < 6; i++)
        ok(!hec_acks_parse((const uint8_t *)bad[i], strlen(bad[i]), count_ack, NULL) &&
               n_true == 0 && n_false == 0,
           "not an ack answer, nothing reported: %s", bad[i]);
    spw_event_unref(ev);
    return tap_done();
}
