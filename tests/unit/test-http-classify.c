/*
 * tests/unit/test-http-classify.c: the http sink's outcome policy
 * (plugins/sink-http/classify.c): status code lists, what each answer
 * means for the events, rejection reasons, and Retry-After.
 */
#include <string.h>
#include "../../plugins/sink-http/sink.h"
#include "../../core/http/http-private.h"
#include "../tap.h"

int main(void) {
    hs_codes ok, retry, c;
    spw_err err;
    is_int(hs_codes_parse(&ok, "200-299", &err), SPW_OK, "200-299 parses");
    is_int(hs_codes_parse(&retry, "408,429,500,502-599", &err), SPW_OK, "the default retry list parses");
    ok(hs_codes_has(&ok, 200) && hs_codes_has(&ok, 299) && !hs_codes_has(&ok, 300) &&
           !hs_codes_has(&ok, 199),
       "a range holds its bounds and nothing else");
    ok(!hs_codes_has(&retry, 501) && hs_codes_has(&retry, 503) && hs_codes_has(&retry, 408),
       "501 is not retried, 503 and 408 are");
    is_int(hs_codes_parse(&c, " 200 - 204 , 304", &err), SPW_OK, "spaces are allowed");
    ok(hs_codes_has(&c, 304) && hs_codes_has(&c, 204) && !hs_codes_has(&c, 205), "...and mean the same");
    static const char *bad[] = {"", "abc", "99", "600", "300-200", "200-", "200;204", "200,,204"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        is_int(hs_codes_parse(&c, bad[i], &err), SPW_ERR_CONFIG, "'%s' is refused", bad[i]);
    ok(!hs_codes_has(&ok, 0) && !hs_codes_has(&ok, 1000) && !hs_codes_has(&ok, -5),
       "out-of-range statuses are in no set");

    hs_verdict v;
    hs_classify(&ok, &retry, SPW_HTTP_ERR_CONNECT, "Failed to connect to 127.0.0.1 port 9", 0,
                NULL, 0, &v);
    ok(v.result == SPW_RETRY, "a connection failure: retry");
    has_str(v.reason, "Failed to connect to 127.0.0.1 port 9", "...with the client's text as the reason");
    hs_classify(&ok, &retry, SPW_HTTP_ERR_TIMEOUT, "", 0, NULL, 0, &v);
    ok(v.result == SPW_RETRY && strcmp(v.reason, "timeout") == 0,
       "a timeout without text: retry, the error's name as the reason");
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 204, NULL, 0, &v);
    ok(v.result == SPW_OK, "204: delivered");
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 503, (const uint8_t *)"busy", 4, &v);
    ok(v.result == SPW_RETRY, "503: retry, endpoint failed");
    is_str(v.reason, "HTTP 503: busy", "503's reason");
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 429, NULL, 0, &v);
    ok(v.result == SPW_RETRY, "429: retry, the endpoint is healthy");
    is_str(v.reason, "HTTP 429", "429's reason without a body");
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 501, NULL, 0, &v);
    ok(v.result == SPW_REJECT, "501: rejected");
    const char *js = "{\n  \"error\": \"bad\tvalue\",\r\n  \"seq\": 17\n}";
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 400, (const uint8_t *)js, strlen(js), &v);
    ok(v.result == SPW_REJECT, "400: rejected");
    is_str(v.reason, "HTTP 400: { \"error\": \"bad value\", \"seq\": 17 }",
           "the reason quotes the body with whitespace collapsed");
    uint8_t big[1000];
    memset(big, 'x', sizeof big);
    big[3] = 0x01;
    big[4] = 0xc3;
    hs_classify(&ok, &retry, SPW_HTTP_OK, NULL, 413, big, sizeof big, &v);
    ok(strlen(v.reason) <= strlen("HTTP 413: ") + HS_EXCERPT_MAX + 3, "a long body is cut (%zu chars)",
       strlen(v.reason));
    has_str(v.reason, "HTTP 413: xxx??x", "control and non-ASCII bytes become '?'");
    ok(strcmp(v.reason + strlen(v.reason) - 3, "...") == 0, "a cut excerpt ends with '...'");

    char ex[8];
    hs_excerpt((const uint8_t *)"  abc   def  ", 13, ex, sizeof ex);
    is_str(ex, "abc def", "excerpts trim and collapse whitespace");
    hs_excerpt((const uint8_t *)"abcdefghijkl", 12, ex, sizeof ex);
    is_str(ex, "abcdefg", "excerpts fit their buffer");

    uint64_t ms = 0;
    ok(spw__http_retry_after_at("120", 0, &ms) && ms == 120000, "Retry-After: 120 is 120 s");
    ok(spw__http_retry_after_at(" 0\r\n", 0, &ms) && ms == 0, "Retry-After: 0");
    ok(spw__http_retry_after_at("99999999", 0, &ms) && ms == 3600000, "a huge Retry-After is capped at 1 h");
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    ok(spw__http_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30, &ms) && ms == 30000,
       "an HTTP-date 30 s ahead is 30 s");
    ok(spw__http_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30, &ms) && ms == 0,
       "an HTTP-date in the past is 0");
    ok(!spw__http_retry_after_at("soon", 0, &ms), "garbage is no Retry-After");
    ok(!spw__http_retry_after_at("12abc", 0, &ms), "a number with junk is no Retry-After");
    ok(!spw__http_retry_after_at(NULL, 0, &ms), "no header is no Retry-After");
    return tap_done();
}
