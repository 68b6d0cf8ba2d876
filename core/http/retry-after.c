/*
 * core/http/retry-after.c: the Retry-After header (RFC 9110 10.2.3), which
 * every sink that honours a server's back-off reads. Pure: the unit test
 * compiles it alone.
 */
#include <ctype.h>
#include <stdlib.h>
#include <curl/curl.h>
#include "http-private.h"

bool spw__http_retry_after_at(const char *value, int64_t now_unix_s, uint64_t *ms) {
    const uint64_t cap = 3600u * 1000u;
    if (!value || !ms)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        unsigned long long s = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end)
            return false;
        *ms = s > cap / 1000 ? cap : (uint64_t)s * 1000u;
        return true;
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return false;
    int64_t d = (int64_t)t - now_unix_s;
    *ms = d <= 0 ? 0 : (uint64_t)d * 1000u > cap ? cap : (uint64_t)d * 1000u;
    return true;
}

bool spw_http_retry_after(const char *value, uint64_t *ms) {
    return spw__http_retry_after_at(value, spw_time_unix_ms() / 1000, ms);
}
