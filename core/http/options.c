/*
 * core/http/options.c: the HTTP destination option group every HTTP sink
 * embeds (SPW_OPTION_HTTP), its cross-option checks, and what plugins may
 * read of it.
 *
 * The options follow the vendor connector's destination settings where
 * they exist (urls, protocol, compression, compression-threshold,
 * connect-timeout, call-timeout as `timeout`, connection-ttl,
 * max-connections-per-endpoint as `max_connections`,
 * http2-max-concurrent-streams as `max_streams`, health-check), with
 * defaults chosen for an at-least-once pipeline whose events must be
 * answered within event_deadline (doc/http-sink.md explains each).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "autoconf.h"
#include "http-private.h"
#include "options.h"

#define OFF(f) offsetof(struct spw_http_conf, f)

const spw_option spw__http_options[] = {
    /* Destination */
    {"url", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(url),
     "Destination URL (http:// or https://)."},
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
     "connections; only a proxy uses libcurl. libcurl: always libcurl."},
    {"user_agent", SPW_OPT_STRING, 0, "spillway/" PACKAGE_VERSION, 0, 0, NULL, OFF(user_agent),
     "User-Agent header (a User-Agent among a request's own headers replaces it)."},

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

    /* Bodies */
    {"max_body_size", SPW_OPT_SIZE, 0, "0", 0, 1073741824.0, NULL, OFF(max_body_size),
     "Largest request body sent, after compression; a larger one rejects its records (0: no "
     "limit; 1000000 for a Lambda behind an ALB)."},
    {"response_max", SPW_OPT_SIZE, 0, "64KiB", 256, 16777216.0, NULL, OFF(response_max),
     "Bytes of a response body kept, unless the plugin asks for more per request."},

    /* Compression */
    {"compression", SPW_OPT_ENUM, 0, "none", 0, 0, "none|gzip", OFF(compression),
     "Compress request bodies (Content-Encoding: gzip)."},
    {"compression_threshold", SPW_OPT_SIZE, 0, "1KiB", 0, 1073741824.0, NULL,
     OFF(compression_threshold), "Bodies smaller than this are sent uncompressed."},
    {"compression_level", SPW_OPT_INT, 0, "1", 1, 9, NULL, OFF(compression_level),
     "gzip level: 1 is fastest, 9 smallest."},

    /* Endpoint health */
    {"failure_threshold", SPW_OPT_INT, 0, "3", 1, 1000, NULL, OFF(failure_threshold),
     "Consecutive failed requests (no answer, or a 5xx other than 501 and 505) that take an "
     "endpoint out of the rotation."},
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
     "AWS region requests are signed for (us-east-1...), and of the STS endpoint web identity "
     "credentials come from."},
    {"aws_service", SPW_OPT_STRING, 0, "execute-api", 0, 0, NULL, OFF(aws_service),
     "AWS service requests are signed for: execute-api (API Gateway) or lambda (function "
     "URLs); a sink for one AWS service defaults to its own."},
    {"aws_access_key_id", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_access_key_id),
     "AWS access key id. Unset: the provider chain (AWS_ACCESS_KEY_ID, web identity, the "
     "profile, the container endpoint, IMDSv2; see doc/http-sink.md)."},
    {"aws_secret_access_key", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL,
     OFF(aws_secret_access_key), "AWS secret access key (with aws_access_key_id)."},
    {"aws_session_token", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL,
     OFF(aws_session_token),
     "AWS session token of temporary credentials (sent as X-Amz-Security-Token)."},
    {"aws_profile", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_profile),
     "Profile of the shared config and credentials files (default: AWS_PROFILE, else "
     "'default'); a profile named here or in AWS_PROFILE must exist."},
    {"aws_credentials_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_credentials_file),
     "Shared credentials file (default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials); "
     "its values win over the config file's."},
    {"aws_config_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(aws_config_file),
     "Shared config file, with [profile NAME] sections (default: AWS_CONFIG_FILE, else "
     "~/.aws/config)."},

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


static bool set(const char *s) { return s && *s; }

size_t spw__http_url_path_start(const char *url) {
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return (size_t)-1;
    return skip + strcspn(url + skip, "/?#");
}

static spw_result check_url(const struct spw_http_conf *cf, const char *u, spw_err *err) {
    size_t ps = spw__http_url_path_start(u);
    if (ps == (size_t)-1)
        return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' is not an http:// or https:// URL", u);
    if (ps == (strncasecmp(u, "https", 5) == 0 ? 8u : 7u))
        return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' has no host", u);
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' holds a space or control character",
                               u);
    if (cf->protocol == SPW__HTTP_PROTO_H2C && strncasecmp(u, "https", 5) == 0)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "url '%s': protocol h2c is cleartext HTTP/2; use protocol = http2 for "
                           "https URLs (TLS negotiates HTTP/2)",
                           u);
    return SPW_OK;
}

spw_result spw__http_conf_check(const struct spw_http_conf *cf, unsigned flags, spw_err *err) {
    if (set(cf->url) && cf->urls.n > 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "set one of url and urls, not both");
    if (!set(cf->url) && cf->urls.n == 0 && !(flags & SPW_HTTP_CONF_URL_OPTIONAL))
        return spw_err_set(err, SPW_ERR_CONFIG, "set url (or urls)");
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
    switch (cf->auth) {
    case SPW__HTTP_AUTH_BASIC:
        if (!set(cf->username))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = basic needs username (and password)");
        break;
    case SPW__HTTP_AUTH_BEARER:
        if (!set(cf->token))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = bearer needs token (or token_file)");
        break;
    case SPW__HTTP_AUTH_HEADER:
        if (!set(cf->auth_header) || !set(cf->auth_value))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "auth = header needs auth_header and auth_value (or auth_value_file)");
        if (!spw__http_is_token(cf->auth_header, strlen(cf->auth_header)))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth_header: '%s' is not a header name",
                               cf->auth_header);
        break;
    case SPW__HTTP_AUTH_SIGV4:
        if (!set(cf->aws_region) || !set(cf->aws_service))
            return spw_err_set(err, SPW_ERR_CONFIG, "auth = aws-sigv4 needs aws_region");
        if (set(cf->aws_access_key_id) != set(cf->aws_secret_access_key))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "set both aws_access_key_id and aws_secret_access_key, or neither");
        if (strlen(cf->aws_region) >= 64 || strlen(cf->aws_service) >= 64)
            return spw_err_set(err, SPW_ERR_CONFIG, "aws_region or aws_service is too long");
        if (set(cf->aws_session_token) && !set(cf->aws_access_key_id))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "aws_session_token goes with aws_access_key_id and "
                               "aws_secret_access_key");
        break;
    default:
        break;
    }
    /* Secrets go out in header values: a line break there would split the request. */
    const char *secrets[] = {cf->password, cf->token, cf->auth_value, cf->aws_session_token};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        for (const char *p = secrets[i]; p && *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                return spw_err_set(err, SPW_ERR_CONFIG, "a secret holds a control character");
    if (set(cf->tls_key) && !set(cf->tls_cert))
        return spw_err_set(err, SPW_ERR_CONFIG, "tls_key is set without tls_cert");
    return SPW_OK;
}

size_t spw_http_conf_urls(const spw_http_conf *cf) {
    if (!cf)
        return 0;
    return cf->urls.n ? cf->urls.n : set(cf->url) ? 1 : 0;
}

const char *spw_http_conf_url(const spw_http_conf *cf, size_t i) {
    if (i >= spw_http_conf_urls(cf))
        return NULL;
    return cf->urls.n ? cf->urls.v[i] : cf->url;
}

uint64_t spw_http_conf_timeout(const spw_http_conf *cf) { return cf ? (uint64_t)cf->timeout_ms : 0; }

const char *spw_http_conf_auth(const spw_http_conf *cf) {
    /* In enum spw__http_auth's order, as the `auth` option spells them. */
    static const char *const names[] = {"none", "basic", "bearer", "header", "aws-sigv4"};
    if (!cf || cf->auth < 0 || (size_t)cf->auth >= sizeof names / sizeof names[0])
        return "none";
    return names[cf->auth];
}

const char *spw_http_conf_aws_service(const spw_http_conf *cf) {
    return cf && cf->aws_service ? cf->aws_service : "";
}

static spw_result group_check(const void *conf, unsigned flags, spw_err *err) {
    return spw__http_conf_check(conf, flags, err);
}

const spw__opt_group spw__http_group = {
    .name = "http",
    .table = spw__http_options,
    .size = sizeof(struct spw_http_conf),
    .flags = SPW_HTTP_CONF_URL_OPTIONAL,
    .check = group_check,
};
