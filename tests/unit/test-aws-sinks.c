/*
 * tests/unit/test-aws-sinks.c: the pure parts of the AWS sinks, linked on
 * their own: JSON string escaping and excerpts (plugins/aws-common/), the
 * SQS wire format (plugins/sink-sqs/entries.c): a request's body and MD5s,
 * an answer's per-entry outcomes, and error classes.
 */
#include <string.h>
#include <openssl/evp.h>
#include "../tap.h"
#include "../../plugins/sink-sqs/sqs.h"

static const char *esc(const char *s, size_t n) {
    static spw_buf b;
    spw_buf_reset(&b);
    aws_json_escape(&b, s, n);
    spw_buf_append(&b, "", 1);
    return (const char *)b.data;
}

int main(void) {
    is_str(esc("plain", 5), "plain", "escape: plain text as is");
    is_str(esc("a\"b\\c\nd\x01", 8), "a\\\"b\\\\c\\nd\\u0001", "escape: quote, backslash, newline, control");
    is_str(esc("\xc3\xa9t\xc3\xa9", 5), "\xc3\xa9t\xc3\xa9", "escape: UTF-8 bytes as they are");

    char ex[16];
    aws_excerpt((const uint8_t *)"  a \n\n b\x80" "c  ", 12, ex, sizeof ex);
    is_str(ex, "a b?c", "excerpt: whitespace collapsed, non-ASCII '?'");
    aws_excerpt((const uint8_t *)"0123456789abcdefghij", 20, ex, sizeof ex);
    is_str(ex, "0123456789ab...", "excerpt: cut with '...'");

    spw_buf h = SPW_BUF_INIT;
    const uint8_t d[3] = {0x00, 0xab, 0xff};
    aws_hex(&h, d, 3);
    ok(h.len == 6 && memcmp(h.data, "00abff", 6) == 0, "hex: lowercase");
    spw_buf_free(&h);

    /* A standard-queue request: ids, bodies escaped, MD5s of the bodies as sent. */
    sqs_entry_in e[2] = {{3, NULL, {(const uint8_t *)"{\"seq\":1}", 9}},
                         {7, NULL, {(const uint8_t *)"\x01\x02", 2}}};
    char md5[2][33];
    spw_buf body = SPW_BUF_INIT, scratch = SPW_BUF_INIT;
    ok(sqs_build(&body, "https://q/1/x", e, 1, false, false, 0, &scratch, md5) == SPW_OK, "build: text");
    spw_buf_append(&body, "", 1);
    is_str((const char *)body.data,
           "{\"QueueUrl\":\"https://q/1/x\",\"Entries\":[{\"Id\":\"3\",\"MessageBody\":\"{\\\"seq\\\":1}\"}]}",
           "build: the JSON protocol body");
    is_str(md5[0], "2383bf7b5c95ef5332b949310d62339f", "build: MD5 of the body");
    spw_buf_reset(&body);
    ok(sqs_build(&body, "u", e + 1, 1, true, false, 0, &scratch, md5) == SPW_OK, "build: base64");
    spw_buf_append(&body, "", 1);
    ok(strstr((const char *)body.data, "\"MessageBody\":\"AQI=\"") != NULL, "build: Base64 body");
    is_str(md5[0], "609261b3c62a2ffd62d8495a1a7556aa", "build: MD5 of the Base64 text");

    /* Answers: success with the right MD5, a wrong MD5, a sender fault, a retryable failure, absent. */
    sqs_entry_in a[4] = {{0, NULL, {0}}, {1, NULL, {0}}, {2, NULL, {0}}, {3, NULL, {0}}};
    char m4[4][33] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "c", "d"};
    const char *ans = "{\"Successful\":[{\"Id\":\"0\",\"MessageId\":\"m\",\"MD5OfMessageBody\":"
                      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},{\"Id\":\"1\",\"MD5OfMessageBody\":\"x\"}],"
                      "\"Failed\":[{\"Id\":\"2\",\"SenderFault\":true,\"Code\":\"InvalidMessageContents\","
                      "\"Message\":\"bad chars\"},{\"Id\":\"9\",\"SenderFault\":false,\"Code\":\"X\"}]}";
    sqs_entry_out out[4];
    size_t bad = 0;
    ok(sqs_parse_answer((const uint8_t *)ans, strlen(ans), a, 4, m4, out, &bad) == SPW_OK, "parse: ok");
    ok(out[0].result == SPW_OK, "parse: matching MD5 delivered");
    ok(out[1].result == SPW_RETRY && bad == 1, "parse: MD5 mismatch retried and counted");
    ok(out[2].result == SPW_REJECT && strstr(out[2].reason, "InvalidMessageContents: bad chars"),
       "parse: SenderFault true rejected with code and message (%s)", out[2].reason);
    ok(out[3].result == SPW_RETRY, "parse: an entry the answer does not mention retried");
    ok(sqs_parse_answer((const uint8_t *)"<html>", 6, a, 4, m4, out, &bad) == SPW_ERR_INVAL,
       "parse: not JSON");

    char code[64], msg[64];
#define CLASS(st, b) sqs_classify_error(st, (const uint8_t *)(b), strlen(b), code, sizeof code, msg, sizeof msg)
    ok(CLASS(400, "{\"__type\":\"com.amazonaws.sqs#ThrottlingException\",\"message\":\"Rate exceeded\"}") ==
           SQS_ERR_RETRY && strcmp(code, "ThrottlingException") == 0, "error: throttling (HTTP 400) retried");
    ok(CLASS(400, "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\"}") == SQS_ERR_CONFIG,
       "error: no such queue held down");
    ok(CLASS(403, "{\"__type\":\"com.amazon.coral.service#SignatureDoesNotMatch\"}") == SQS_ERR_CONFIG,
       "error: bad signature held down");
    ok(CLASS(400, "{\"__type\":\"com.amazonaws.sqs#BatchRequestTooLong\"}") == SQS_ERR_TOO_LARGE,
       "error: batch too long split");
    ok(CLASS(400, "{\"__type\":\"com.amazonaws.sqs#InvalidParameterValue\"}") == SQS_ERR_REJECT,
       "error: another 400 rejected");
    ok(CLASS(503, "oops") == SQS_ERR_RETRY && strcmp(msg, "oops") == 0, "error: 503 retried, body quoted");
    spw_buf_free(&body);
    spw_buf_free(&scratch);
    return tap_done();
}
