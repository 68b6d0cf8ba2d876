/*
 * plugins/sink-http/plugin.c: the `http` sink's descriptor, option table,
 * configuration checks and instance lifecycle.
 *
 * One instance per worker: its own engines on the worker's loop (the
 * native HTTP/2 and HTTP/1.1 ones, and a curl multi handle for the rest),
 * its own connections and request objects, its own view of endpoint
 * health. Nothing is shared between workers but the read-only
 * configuration, so the request path takes no lock.
 *
 * The options follow the vendor connector's destination settings where
 * they exist (urls, protocol, compression, compression-threshold,
 * connect-timeout, call-timeout as `timeout`, connection-ttl,
 * max-connections-per-endpoint as `max_connections`,
 * http2-max-concurrent-streams as `max_streams`, health-check,
 * http-success-status-codes as `success_codes`, headers), with defaults
 * chosen for an at-least-once pipeline whose events must be answered
 * within event_deadline (doc/http-sink.md explains each).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http.h"

#define OFF(f) offsetof(struct hs_conf, f)

static const spw_option hs_options[] = {
    /* Destination */
    {"url", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(url),
     "Destination URL (http:// or https://); its path and query may use ${namespace}, ${set}, "
     "${digest}, ${digest_base64}, ${key}, ${msg}, ${gen} and ${lut} when each request carries "
     "one record."},
    {"urls", SPW_OPT_LIST, 0, NULL, 0, 64, NULL, OFF(urls),
     "Several destination URLs, load-balanced round robin over the healthy ones (instead of "
     "url)."},
    {"protocol", SPW_OPT_ENUM, 0, "http2", 0, 0, "http2|http1.1|h2c|HTTP_2|HTTP_1_1",
     OFF(protocol),
     "http2: HTTP/2 where TLS negotiates it (ALPN), else HTTP/1.1; http1.1: HTTP/1.1 only; h2c: "
     "cleartext HTTP/2 with prior knowledge (HTTP_2 and HTTP_1_1 are the vendor's names)."},
    {"engine", SPW_OPT_ENUM, 0, "native", 0, 0, "native|libcurl", OFF(engine),
     "Who speaks HTTP: native sends HTTP/2 (h2c, and https URLs with protocol http2) over "
     "nghttp2, many requests on one connection, and HTTP/1.1 (http1.1, http:// URLs with "
     "http2, servers whose ALPN refuses h2) with spillway's own client on keep-alive "
     "connections; only a proxy and health checks use libcurl. libcurl: always libcurl."},
    {"method", SPW_OPT_ENUM, 0, "POST", 0, 0, "POST|PUT|PATCH", OFF(method),
     "HTTP method of delivery requests."},
    {"headers", SPW_OPT_LIST, 0, NULL, 0, 256, NULL, OFF(headers),
     "Extra request headers as 'Name: value' items (a value may use the URL's ${...} variables; "
     "it cannot contain a comma)."},
    {"content_type", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(content_type),
     "Content-Type sent instead of the codec's."},
    {"user_agent", SPW_OPT_STRING, 0, "spillway-http/1.0", 0, 0, NULL, OFF(user_agent),
     "User-Agent header."},

    /* Connections and timeouts */
    {"connect_timeout", SPW_OPT_DURATION, 0, "1s", 1, 600000, NULL, OFF(connect_timeout_ms),
     "Longest time to establish a connection (TCP and TLS)."},
    {"timeout", SPW_OPT_DURATION, 0, "2s", 1, 3600000, NULL, OFF(timeout_ms),
     "Longest time for a whole request, connection included; never longer than what is left "
     "before the events' deadline."},
    {"connection_ttl", SPW_OPT_DURATION, 0, "5m", 0, 86400000, NULL, OFF(connection_ttl_ms),
     "Connections older than this are not reused, so DNS and load-balancer changes are picked "
     "up (0: no limit)."},
    {"max_connections", SPW_OPT_INT, 0, "0", 0, 100000, NULL, OFF(max_connections),
     "Connections per endpoint and worker at most (0: as many as the route's concurrency "
     "needs)."},
    {"max_streams", SPW_OPT_INT, 0, "100", 1, 100000, NULL, OFF(max_streams),
     "HTTP/2 streams per connection at most (requests multiplexed on one connection)."},
    {"connect_to", SPW_OPT_LIST, 0, NULL, 0, 64, NULL, OFF(connect_to),
     "Connect elsewhere than the URL's host while keeping its name for TLS and Host, as "
     "HOST:PORT:CONNECT-HOST:CONNECT-PORT items."},

    {"proxy", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(proxy),
     "Proxy URL (http://HOST:PORT, https://, socks5://); unset connects directly whatever "
     "http_proxy and https_proxy say."},

    /* Outcomes */
    {"success_codes", SPW_OPT_STRING, 0, "200-299", 0, 0, NULL, OFF(success_codes),
     "Status codes meaning delivered, as codes and ranges ('200-299,304')."},
    {"retry_codes", SPW_OPT_STRING, 0, "408,429,500,502-599", 0, 0, NULL, OFF(retry_codes),
     "Status codes meaning try again later (with Retry-After honoured); any other status "
     "rejects the request's records."},
    {"max_body_size", SPW_OPT_SIZE, 0, "0", 0, 1073741824.0, NULL, OFF(max_body_size),
     "Largest request body sent, after compression; a larger one rejects its records (0: no "
     "limit; 1000000 for a Lambda behind an ALB)."},
    {"response_max", SPW_OPT_SIZE, 0, "64KiB", 256, 16777216.0, NULL, OFF(response_max),
     "Bytes of a response body kept (for rejection reasons); the rest is read and dropped."},

    /* Compression */
    {"compression", SPW_OPT_ENUM, 0, "none", 0, 0, "none|gzip", OFF(compression),
     "Compress request bodies (Content-Encoding: gzip)."},
    {"compression_threshold", SPW_OPT_SIZE, 0, "1KiB", 0, 1073741824.0, NULL,
     OFF(compression_threshold), "Bodies smaller than this are sent uncompressed."},
    {"compression_level", SPW_OPT_INT, 0, "1", 1, 9, NULL, OFF(compression_level),
     "gzip level: 1 is fastest, 9 smallest."},

    /* Endpoint health */
    {"failure_threshold", SPW_OPT_INT, 0, "3", 1, 1000, NULL, OFF(failure_threshold),
     "Consecutive failed requests (no answer, or a 5xx to retry) that take an endpoint out of "
     "the rotation."},
    {"cooldown", SPW_OPT_DURATION, 0, "5s", 10, 3600000, NULL, OFF(cooldown_ms),
     "Without health checks, how long an endpoint stays out before it is tried again."},
    {"health_check_path", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(health_check_path),
     "Path probed with GET on an endpoint that is out; it returns after enough 2xx answers."},
    {"health_check_interval", SPW_OPT_DURATION, 0, "5s", 100, 3600000, NULL,
     OFF(health_check_interval_ms), "Time between health checks of an endpoint that is out."},
    {"health_check_threshold", SPW_OPT_INT, 0, "3", 1, 100, NULL, OFF(health_check_threshold),
     "Consecutive successful health checks that bring an endpoint back."},
    {"health_check_timeout", SPW_OPT_DURATION, 0, "1s", 10, 60000, NULL,
     OFF(health_check_timeout_ms), "Longest time a health check may take."},

    /* Authentication */
    {"auth", SPW_OPT_ENUM, 0, "none", 0, 0, "none|basic|bearer|header|aws-sigv4", OFF(auth),
     "Authentication: none, basic (username, password), bearer (token), header (auth_header, "
     "auth_value) or aws-sigv4 (AWS Signature Version 4)."},
    {"username", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(username), "User name for basic auth."},
    {"password", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, OFF(password),
     "Password for basic auth."},
    {"token", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, OFF(token),
     "Token sent as 'Authorization: Bearer TOKEN'."},
    {"auth_header", SPW_OPT_STRING, 0, "x-api-key", 0, 0, NULL, OFF(auth_header),
     "Header that carries auth_value for auth = header."},
    {"auth_value", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, OFF(auth_value),
     "Value of auth_header (an API key)."},
    {"aws_region", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_region),
     "AWS region requests are signed for (us-east-1...)."},
    {"aws_service", SPW_OPT_STRING, 0, "execute-api", 0, 0, NULL, OFF(aws_service),
     "AWS service requests are signed for: execute-api (API Gateway) or lambda (function "
     "URLs)."},
    {"aws_access_key_id", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_access_key_id),
     "AWS access key id (default: AWS_ACCESS_KEY_ID, then the credentials file)."},
    {"aws_secret_access_key", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL,
     OFF(aws_secret_access_key), "AWS secret access key."},
    {"aws_session_token", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL,
     OFF(aws_session_token),
     "AWS session token of temporary credentials (sent as X-Amz-Security-Token)."},
    {"aws_profile", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_profile),
     "Profile read from the credentials file (default: AWS_PROFILE, else 'default')."},
    {"aws_credentials_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_credentials_file),
     "Credentials file (default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)."},

    /* TLS */
    {"tls_ca_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_ca_file),
     "PEM file of CA certificates trusted instead of the system's."},
    {"tls_ca_path", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_ca_path),
     "Directory of hashed CA certificates trusted instead of the system's."},
    {"tls_cert", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_cert),
     "Client certificate (PEM) for mutual TLS."},
    {"tls_key", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(tls_key),
     "Private key (PEM) of the client certificate."},
    {"tls_key_password", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, OFF(tls_key_password),
     "Pass phrase of tls_key."},
    {"tls_verify", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(tls_verify),
     "Verify the server's certificate and name; false is for tests only and is logged as a "
     "warning."},
    {"tls_min_version", SPW_OPT_ENUM, 0, "1.2", 0, 0, "1.2|1.3|1.0|1.1", OFF(tls_min_version),
     "Oldest TLS version accepted."},
    SPW_OPTIONS_END,
};

/* ---------------------------------------------------------------------- */
/* Checks                                                                  */
/* ---------------------------------------------------------------------- */

static bool set(const char *s) { return s && *s; }

static spw_result check_url(const struct hs_conf *cf, const char *u, spw_err *err) {
    size_t ps = hs_url_path_start(u);
    if (ps == (size_t)-1)
        return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' is not an http:// or https:// URL", u);
    if (ps == (strncasecmp(u, "https", 5) == 0 ? 8u : 7u))
        return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' has no host", u);
    const char *var = strstr(u, "${");
    if (var && (size_t)(var - u) < ps)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "url '%s': ${...} variables may only appear in the path and query", u);
    if (cf->protocol == HS_PROTO_H2C && strncasecmp(u, "https", 5) == 0)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "url '%s': protocol h2c is cleartext HTTP/2; use protocol = http2 for "
                           "https URLs (TLS negotiates HTTP/2)",
                           u);
    hs_tpl t;
    spw_result rc = hs_tpl_compile(&t, u, err);
    if (rc == SPW_OK)
        hs_tpl_free(&t);
    return rc;
}

/* An HTTP token (RFC 9110): what a header name may hold. */
static bool is_token(const char *p, const char *end) {
    if (p == end)
        return false;
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

static spw_result check_header(const char *h, spw_err *err) {
    const char *colon = strchr(h, ':');
    if (!colon || !is_token(h, colon))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "headers: '%s' is not 'Name: value' with a name of letters, digits "
                           "and !#$%%&'*+-.^_`|~",
                           h);
    for (const char *p = colon; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return spw_err_set(err, SPW_ERR_CONFIG, "headers: '%s' holds a control character", h);
    hs_tpl t;
    spw_result rc = hs_tpl_compile(&t, h, err);
    if (rc == SPW_OK)
        hs_tpl_free(&t);
    return rc;
}

static spw_result hs_check(const void *config, spw_err *err) {
    const struct hs_conf *cf = config;
    if (set(cf->url) == (cf->urls.n > 0))
        return spw_err_set(err, SPW_ERR_CONFIG, "set exactly one of url and urls");
    if (set(cf->url)) {
        spw_result rc = check_url(cf, cf->url, err);
        if (rc != SPW_OK)
            return rc;
    }
    for (size_t i = 0; i < cf->urls.n; i++) {
        spw_result rc = check_url(cf, cf->urls.v[i], err);
        if (rc != SPW_OK)
            return rc;
    }
    for (size_t i = 0; i < cf->headers.n; i++) {
        spw_result rc = check_header(cf->headers.v[i], err);
        if (rc != SPW_OK)
            return rc;
    }
    hs_codes c;
    spw_err e2 = {""};
    if (hs_codes_parse(&c, cf->success_codes, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "success_codes: %s", e2.msg);
    if (hs_codes_parse(&c, cf->retry_codes, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "retry_codes: %s", e2.msg);
    switch (cf->auth) {
    case HS_AUTH_BASIC:
        if (!set(cf->username))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = basic needs username (and password)");
        break;
    case HS_AUTH_BEARER:
        if (!set(cf->token))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = bearer needs token (or token_file)");
        break;
    case HS_AUTH_HEADER:
        if (!set(cf->auth_header) || !set(cf->auth_value))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "auth = header needs auth_header and auth_value (or auth_value_file)");
        if (!is_token(cf->auth_header, cf->auth_header + strlen(cf->auth_header)))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth_header: '%s' is not a header name",
                               cf->auth_header);
        break;
    case HS_AUTH_SIGV4:
        if (!set(cf->aws_region) || !set(cf->aws_service))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = aws-sigv4 needs aws_region");
        if (set(cf->aws_access_key_id) != set(cf->aws_secret_access_key))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "set both aws_access_key_id and aws_secret_access_key, or neither");
        if (strlen(cf->aws_region) >= 64 || strlen(cf->aws_service) >= 64)
            return spw_err_set(err, SPW_ERR_CONFIG, "aws_region or aws_service is too long");
        break;
    default:
        break;
    }
    if (set(cf->tls_key) && !set(cf->tls_cert))
        return spw_err_set(err, SPW_ERR_CONFIG, "tls_key is set without tls_cert");
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Logging                                                                 */
/* ---------------------------------------------------------------------- */

void hs_warn(hs_sink *s, const char *fmt, ...) {
    uint64_t now = uv_now(s->loop);
    /* One warning a second per worker: a failing destination must not flood the log. */
    if (s->last_warn_ms && now - s->last_warn_ms < 1000) {
        s->warn_suppressed++;
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->warn_suppressed)
        spw_log(s->st, SPW_LOG_WARN, "%s (%llu similar warnings suppressed)", msg,
                (unsigned long long)s->warn_suppressed);
    else
        spw_log(s->st, SPW_LOG_WARN, "%s", msg);
    s->last_warn_ms = now ? now : 1;
    s->warn_suppressed = 0;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static uv_once_t curl_once = UV_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

void hs_handle_closed(hs_sink *s) {
    if (--s->open_handles == 0)
        free(s);
}

/* Releases everything; memory goes when the last libuv handle has closed. */
static void hs_teardown(hs_sink *s) {
    hs_requests_abort(s);
    bool had_multi = s->multi != NULL;
    if (had_multi)
        hs_multi_close(s);
    s->closing = true;
    hs_endpoints_free(s);
    hs_requests_free(s);
    /* TLS sessions still open hold their own reference to it. */
    hs_tls_ctx_free(s->tls_ctx);
    s->tls_ctx = NULL;
    if (!had_multi)
        free(s);
}

static spw_result hs_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct hs_conf *cf = config;
    uv_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return spw_err_set(err, SPW_ERR_STATE, "curl_global_init failed: %s",
                           curl_easy_strerror(curl_init_result));
    hs_sink *s = calloc(1, sizeof *s);
    if (!s)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->st = st;
    s->cf = cf;
    s->loop = spw_stage_loop(st);
    s->c_requests = spw_counter_register(st, "http_requests", "HTTP requests sent.");
    s->c_2xx = spw_counter_register(st, "http_2xx", "Responses with a 2xx status.");
    s->c_3xx = spw_counter_register(st, "http_3xx", "Responses with a 3xx status.");
    s->c_4xx = spw_counter_register(st, "http_4xx", "Responses with a 4xx status.");
    s->c_5xx = spw_counter_register(st, "http_5xx", "Responses with a 5xx status.");
    s->c_transport = spw_counter_register(st, "http_errors",
                                          "Requests that got no HTTP answer (connect, reset, timeout, TLS).");
    s->c_retry = spw_counter_register(st, "http_retry", "Requests classified retry.");
    s->c_reject = spw_counter_register(st, "http_reject", "Requests classified rejected.");
    s->c_bytes = spw_counter_register(st, "http_bytes_sent", "Request body bytes sent (after compression).");
    s->c_ep_down = spw_counter_register(st, "endpoint_down", "Endpoints taken out of the rotation.");
    s->c_ep_up = spw_counter_register(st, "endpoint_up", "Endpoints brought back.");
    s->c_probes = spw_counter_register(st, "health_checks", "Health checks sent.");
    if (!s->c_requests || !s->c_2xx || !s->c_3xx || !s->c_4xx || !s->c_5xx || !s->c_transport ||
        !s->c_retry || !s->c_reject || !s->c_bytes || !s->c_ep_down || !s->c_ep_up ||
        !s->c_probes) {
        free(s);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    s->h2 = hs_h2_selected(cf);
    s->h1 = hs_h1_selected(cf);
    spw_result rc = hs_requests_init(s, err);
    if (rc == SPW_OK)
        rc = hs_multi_init(s, err);
    if (rc == SPW_OK)
        rc = hs_endpoints_init(s, err);
    if (rc == SPW_OK && (s->h2 || s->h1)) {
        hs_deadlines_init(s);
        rc = hs_addr_init(s, err);
    }
    if (rc == SPW_OK && s->h2)
        rc = hs_h2_init(s, err);
    if (rc == SPW_OK && s->h1)
        rc = hs_h1_init(s, err);
    if (rc != SPW_OK) {
        hs_teardown(s);
        return rc;
    }
    if (spw_stage_worker(st) == 0) {
        if (!cf->tls_verify)
            spw_log(st, SPW_LOG_WARN,
                    "tls_verify = false: server certificates are not checked; anyone on the path "
                    "can read and alter the records");
        if (cf->protocol == HS_PROTO_H2C && !s->h2 && hs_h2c_reuse_broken())
            spw_log(st, SPW_LOG_WARN,
                    "protocol h2c: libcurl %s cannot reuse cleartext HTTP/2 connections (curl "
                    "bug 10634, fixed in 8.0.0), so each request opens its own connection; use "
                    "engine = native (without a proxy), or http1.1, for throughput",
                    curl_version_info(CURLVERSION_NOW)->version);
        const hs_endpoint *ep = &s->eps[0];
        spw_log(st, SPW_LOG_INFO, "delivering to %zu endpoint(s), first %s (%s)", s->n_eps,
                ep->base,
                s->h2 && ep->h2_use ? (s->h1 ? "HTTP/2 with nghttp2, HTTP/1.1 natively if ALPN "
                                               "refuses h2"
                                             : "HTTP/2 with nghttp2")
                : s->h1 && ep->h1_use ? "HTTP/1.1, native engine"
                                      : "libcurl");
    }
    *inst = s;
    return SPW_OK;
}

static void hs_destroy(void *inst) { hs_teardown(inst); }

static spw_result hs_send_op(void *inst, spw_batch *b, spw_err *err) { return hs_send(inst, b, err); }

static const spw_sink_ops hs_sink_ops = {
    .send = hs_send_op,
    /* Requests in progress per worker: enough to hide a LAN round trip at one record each. */
    .default_concurrency = 32,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "http", .version = "1.0.0",
                  .description = "Delivers request bodies over HTTP/1.1 or HTTP/2 (own HTTP/1.1 client, nghttp2, "
                                 "libcurl)",
                  .options = hs_options, .config_size = sizeof(struct hs_conf),
                  .check = hs_check, .create = hs_create, .destroy = hs_destroy,
                  .sink = &hs_sink_ops);
