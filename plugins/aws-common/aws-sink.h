/*
 * plugins/aws-common/aws-sink.h: what the AWS sinks (lambda-alb, sqs,
 * lambda) share, compiled into each of them (one descriptor per module, so
 * the helpers are a source file each module builds, not a module of their
 * own). Policy helpers only: the transport, SigV4 and credentials are the
 * SDK's HTTP client's (spillway/http.h).
 *
 * Nothing here is exported from a module: the build exports only the
 * plugin descriptor.
 */
#ifndef SPW_AWS_SINK_H
#define SPW_AWS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/spillway.h>

/* A reason quotes at most this much of a response body. */
#define AWS_EXCERPT_MAX 256

/* One warning a second per worker, the rest counted and reported with the next. */
typedef struct aws_warner {
    spw_stage *st;
    spw_log_limit lim;
} aws_warner;

void aws_warn(aws_warner *w, spw_log_level level, const char *fmt, ...) SPW_PRINTF(3, 4);

/* A printable excerpt of p[0..n): whitespace runs collapsed, non-ASCII '?', "..." when cut. */
void aws_excerpt(const uint8_t *p, size_t n, char *out, size_t out_size);

/*
 * The request's timeout: the smaller of the configured `timeout` and what
 * is left before the batch's deadline (past it the core has answered the
 * events retry already), at least 1 ms.
 */
uint64_t aws_request_timeout(spw_stage *st, const spw_http_conf *cf, spw_batch *b);

/* Passes a Retry-After header (seconds or HTTP-date) on to the core. True when there was one. */
bool aws_retry_after(const spw_http_response *r, spw_batch *b);

/*
 * The endpoint override the AWS SDKs read: AWS_ENDPOINT_URL_<SERVICE>
 * (env_service, e.g. "SQS"), else AWS_ENDPOINT_URL; NULL when neither is
 * set or set empty, or when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true.
 * Borrowed from the environment.
 */
const char *aws_endpoint_env(const char *env_service);

/*
 * At --check: the AWS APIs accept only SigV4-signed requests, signed for
 * their own service name ("lambda", "sqs"); anything else would be refused
 * with 403 on every request, so it is refused here with what to write.
 * Both are the sinks' defaults (SPW_OPTION_HTTP_DEFAULTS): only an explicit
 * wrong value gets here.
 */
spw_result aws_check_signing(const spw_http_conf *http, const char *service, spw_err *err);

/*
 * Appends p[0..n) as the inside of a JSON string (RFC 8259): '"' and '\\'
 * escaped, control bytes as \\u00XX, other bytes as they are (the codecs
 * write UTF-8).
 */
spw_result aws_json_escape(spw_buf *out, const void *p, size_t n);

/* Appends the 40 lowercase hex digits of a 20-byte digest. */
spw_result aws_hex(spw_buf *out, const uint8_t *p, size_t n);

/* The base64 of n bytes, in characters. */
static inline size_t aws_b64_len(size_t n) { return (n + 2) / 3 * 4; }

#endif /* SPW_AWS_SINK_H */
