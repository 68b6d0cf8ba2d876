/*
 * core/http/client.c: the HTTP client service (sdk/spillway/http.h): one
 * request from the caller's description to the response it is given.
 *
 * Requests come from a pool of request objects that only grows (to the
 * most ever in progress at once) and is never shrunk: each keeps its
 * buffers (URL, headers, response body and headers, gzip output) and, once
 * libcurl has served it, its easy handle and that handle's place in curl's
 * connection cache, so once the pool is warm a request allocates nothing
 * of ours. The body is sent by pointer, never copied: the caller keeps it
 * until the callback.
 *
 * Every engine sends the same prepared parts: the URL, the method, the
 * request's headers as "Name: value" strings in r->hdr (the caller's, then
 * User-Agent, Content-Encoding and authentication), and the body. The
 * engines report in CURLcodes; the response the caller sees is built once,
 * here (deliver), with the error mapped to spw_http_error.
 *
 * The callback contract: never from inside spw_http_send. An engine that
 * fails at once (no route to the host) ends its request from inside the
 * send; those endings wait on a list that an idle handle reports on the
 * next loop turn.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http-private.h"

/* Endings that are not libcurl's: no credential, a body over max_body_size, the client closed. */
enum { CC_AUTH = 10001, CC_BODY_LARGE, CC_CANCELLED };

static size_t on_write(char *p, size_t size, size_t n, void *arg) {
    spw__http_req *r = arg;
    size_t len = size * n;
    size_t max = r->response_max;
    /* Up to response_max; the rest is read, counted and dropped so the connection stays usable. */
    r->resp_total += len;
    if (r->resp.len < max) {
        size_t take = len < max - r->resp.len ? len : max - r->resp.len;
        (void)spw_buf_append(&r->resp, p, take);
    }
    return len;
}

/* Response headers from libcurl, one line each; a new status line starts a new answer. */
static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    spw__http_req *r = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        spw_buf_reset(&r->rhdr);
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len; /* the empty line, or a fold libcurl passed on its own */
    const char *v = colon + 1, *e = p + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t nl = (size_t)(colon - p), vl = (size_t)(e - v);
    if (spw_buf_reserve(&r->rhdr, nl + vl + 2) == SPW_OK) {
        spw_buf *h = &r->rhdr;
        memcpy(h->data + h->len, p, nl);
        h->data[h->len + nl] = '\0';
        h->len += nl + 1;
        memcpy(h->data + h->len, v, vl);
        h->data[h->len + vl] = '\0';
        h->len += vl + 1;
    }
    return len;
}

static long http_version(int protocol) {
    switch (protocol) {
    case SPW__HTTP_PROTO_HTTP11:
    case SPW__HTTP_PROTO_V_HTTP11:
        return CURL_HTTP_VERSION_1_1;
    case SPW__HTTP_PROTO_H2C:
        return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    default:
        return CURL_HTTP_VERSION_2TLS;
    }
}

/*
 * curl bug #10634 (fixed by curl PR #10643, in 8.0.0): a transfer reusing a
 * cleartext HTTP/2 prior-knowledge connection switches the connection to
 * HTTP/2 a second time and fails with "Error in the HTTP2 framing layer"
 * without sending anything. Debian 12 ships 7.88.1. The only safe use of
 * h2c there is one request per connection.
 */
bool spw__http_h2c_reuse_broken(void) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v && v->version_num < 0x080000;
}

static long tls_version(int v) {
    switch (v) {
    case SPW__HTTP_TLS_13:
        return CURL_SSLVERSION_TLSv1_3;
    case SPW__HTTP_TLS_10:
        return CURL_SSLVERSION_TLSv1_0;
    case SPW__HTTP_TLS_11:
        return CURL_SSLVERSION_TLSv1_1;
    default:
        return CURL_SSLVERSION_TLSv1_2;
    }
}

static spw_result easy_setup(spw_http *s, spw__http_req *r, spw_err *err) {
    const struct spw_http_conf *cf = s->cf;
    CURL *e = r->easy;
    CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    if (cf->protocol != SPW__HTTP_PROTO_HTTP11 && cf->protocol != SPW__HTTP_PROTO_V_HTTP11)
        SET(CURLOPT_PIPEWAIT, 1L); /* multiplex on an open connection rather than open another */
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)cf->connect_timeout_ms);
    if (cf->connection_ttl_ms > 0)
        SET(CURLOPT_MAXLIFETIME_CONN, (long)((cf->connection_ttl_ms + 999) / 1000));
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Direct unless `proxy` says otherwise: an http_proxy variable meant for
     * people's shells must not silently reroute a pipeline (and reading the
     * environment for every transfer costs time). */
    SET(CURLOPT_PROXY, cf->proxy ? cf->proxy : "");
    if (s->connect_to)
        SET(CURLOPT_CONNECT_TO, s->connect_to);
    /* TLS */
    SET(CURLOPT_SSLVERSION, tls_version(cf->tls_min_version));
    SET(CURLOPT_SSL_VERIFYPEER, cf->tls_verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, cf->tls_verify ? 2L : 0L);
    if (cf->tls_ca_file && *cf->tls_ca_file)
        SET(CURLOPT_CAINFO, cf->tls_ca_file);
    if (cf->tls_ca_path && *cf->tls_ca_path)
        SET(CURLOPT_CAPATH, cf->tls_ca_path);
    if (cf->tls_cert && *cf->tls_cert)
        SET(CURLOPT_SSLCERT, cf->tls_cert);
    if (cf->tls_key && *cf->tls_key)
        SET(CURLOPT_SSLKEY, cf->tls_key);
    if (cf->tls_key_password && *cf->tls_key_password)
        SET(CURLOPT_KEYPASSWD, cf->tls_key_password);
#undef SET
    if (cc != CURLE_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "libcurl refused an option: %s",
                           curl_easy_strerror(cc));
    return SPW_OK;
}

/* ---- the pool ----------------------------------------------------------- */

static spw__http_req *req_get(spw_http *s) {
    spw__http_req *r = s->free_reqs;
    if (r) {
        s->free_reqs = r->next;
        r->next = NULL;
        return r;
    }
    if (s->n_reqs == s->cap_reqs) {
        size_t nc = s->cap_reqs ? s->cap_reqs * 2 : 16;
        spw__http_req **nr = realloc(s->reqs, nc * sizeof *nr);
        if (!nr)
            return NULL;
        s->reqs = nr;
        s->cap_reqs = nc;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->s = s;
    s->reqs[s->n_reqs++] = r;
    return r;
}

static void req_release(spw_http *s, spw__http_req *r) {
    r->done = NULL;
    r->arg = NULL;
    r->ep = NULL;
    r->expire = NULL;
    r->spare_endpoint = false;
    r->cut_short = false;
    r->errbuf[0] = '\0';
    r->next = s->free_reqs;
    s->free_reqs = r;
}

static void req_free(spw__http_req *r) {
    if (r->easy)
        curl_easy_cleanup(r->easy);
    spw_buf_free(&r->url);
    spw_buf_free(&r->resp);
    spw_buf_free(&r->rhdr);
    spw_buf_free(&r->gz);
    if (r->hdr.data)
        memset(r->hdr.data, 0, r->hdr.cap); /* authorization values */
    spw_buf_free(&r->hdr);
    spw_buf_free(&r->head);
    free(r->dyn);
    free(r->hv);
    free(r);
}

void spw__http_req_restart(spw__http_req *r) {
    r->status = 0;
    r->h2_hdr_bytes = 0;
    r->resp_total = 0;
    spw_buf_reset(&r->resp);
    spw_buf_reset(&r->rhdr);
}

/* ---- headers ------------------------------------------------------------ */

/* Records where the next header starts; the node's data is fixed up in hdr_link. */
static spw_result hdr_mark(spw__http_req *r) {
    if (r->n_dyn == r->cap_dyn) {
        size_t nc = r->cap_dyn ? r->cap_dyn * 2 : 16;
        struct curl_slist *d = realloc(r->dyn, nc * sizeof *d);
        if (!d)
            return SPW_ERR_NOMEM;
        r->dyn = d;
        r->cap_dyn = nc;
    }
    r->dyn[r->n_dyn++].data = (char *)(uintptr_t)r->hdr.len;
    return SPW_OK;
}

/* Adds "name: value" (value of vl bytes). */
static spw_result hdr_add(spw__http_req *r, const char *name, const char *value, size_t vl) {
    size_t nl = strlen(name);
    spw_result rc = hdr_mark(r);
    if (rc == SPW_OK)
        rc = spw_buf_reserve(&r->hdr, nl + vl + 3);
    if (rc != SPW_OK)
        return rc;
    spw_buf *h = &r->hdr;
    memcpy(h->data + h->len, name, nl);
    memcpy(h->data + h->len + nl, ": ", 2);
    memcpy(h->data + h->len + nl + 2, value, vl);
    h->data[h->len + nl + 2 + vl] = '\0';
    h->len += nl + vl + 3;
    return SPW_OK;
}

static spw_result hdr_adds(spw__http_req *r, const char *name, const char *value) {
    return hdr_add(r, name, value, strlen(value));
}

/* Turns the recorded offsets into pointers and chains the nodes before `tail` (libcurl). */
static struct curl_slist *hdr_link(spw__http_req *r, struct curl_slist *tail) {
    if (r->n_dyn == 0)
        return tail;
    for (size_t i = 0; i < r->n_dyn; i++) {
        r->dyn[i].data = (char *)r->hdr.data + (uintptr_t)r->dyn[i].data;
        r->dyn[i].next = i + 1 < r->n_dyn ? &r->dyn[i + 1] : tail;
    }
    return r->dyn;
}

/* RFC 9110 tchar: what a method or a header name is made of (checked per request: a table). */
static const bool tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

bool spw__http_is_token(const char *p, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tchar[(unsigned char)p[i]])
            return false;
    return true;
}

static bool value_ok(const char *v) {
    for (; *v; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return false;
    return true;
}

/* ---- authentication ------------------------------------------------------- */

static spw_result sign_request(spw_http *s, spw__http_req *r, spw_err *err) {
    char date[17];
    spw__http_amz_date(spw_time_unix_ms() / 1000, date);
    const char *url = (const char *)r->url.data;
    size_t ps = spw__http_url_path_start(url);
    const char *path = url + ps;
    size_t plen = strcspn(path, "?#");
    const char *query = NULL;
    size_t qlen = 0;
    if (path[plen] == '?') {
        query = path + plen + 1;
        qlen = strcspn(query, "#");
    }
    if (plen == 0)
        path = "/", plen = 1;
    /* The snapshot the gate let this request through with (aws-provider.c). */
    const char *key_id = spw__http_aws_key_id(s), *token = spw__http_aws_token(s);
    spw__http_sig_hdr h[3] = {{"host", r->host}, {"x-amz-date", date}, {"x-amz-security-token", NULL}};
    size_t nh = 2;
    if (token)
        h[nh++].value = token;
    spw__http_sigv4_req sr = {
        .method = r->method, .path = path, .path_len = plen, .query = query,
        .query_len = qlen, .headers = h, .n_headers = nh, .body = r->body, .body_len = r->body_len,
        .amz_date = date,
    };
    spw_buf_reset(&s->sig_auth);
    spw_result rc = spw__http_sigv4_sign(&s->sig, key_id, &sr, &s->sig_auth);
    if (rc == SPW_OK)
        rc = hdr_adds(r, "X-Amz-Date", date);
    if (rc == SPW_OK && token)
        rc = hdr_adds(r, "X-Amz-Security-Token", token);
    if (rc == SPW_OK)
        rc = hdr_add(r, "Authorization", (const char *)s->sig_auth.data, s->sig_auth.len);
    if (rc != SPW_OK)
        return spw_err_set(err, rc, "AWS SigV4 signing failed: %s", spw_result_str(rc));
    return SPW_OK;
}

/* The configured authentication, or the plugin's token; the values never reach a log line. */
static spw_result add_auth(spw_http *s, spw__http_req *r, spw_err *err) {
    const struct spw_http_conf *cf = s->cf;
    if (s->token_fn) {
        spw_buf_reset(&s->token);
        spw_result rc = spw_buf_append(&s->token, "Bearer ", 7);
        if (rc == SPW_OK)
            rc = s->token_fn(s->token_arg, &s->token, err);
        if (rc != SPW_OK)
            return rc;
        if (memchr(s->token.data, '\r', s->token.len) || memchr(s->token.data, '\n', s->token.len) ||
            memchr(s->token.data, '\0', s->token.len))
            return spw_err_set(err, SPW_ERR_INVAL, "the token holds a control character");
        rc = hdr_add(r, s->token_header ? s->token_header : "Authorization",
                     (const char *)s->token.data, s->token.len);
        memset(s->token.data, 0, s->token.len);
        return rc == SPW_OK ? SPW_OK : spw_err_set(err, rc, "out of memory");
    }
    spw_result rc = SPW_OK;
    switch (cf->auth) {
    case SPW__HTTP_AUTH_BASIC:
    case SPW__HTTP_AUTH_BEARER:
        rc = hdr_add(r, "Authorization", (const char *)s->auth_value.data, s->auth_value.len);
        break;
    case SPW__HTTP_AUTH_HEADER:
        rc = hdr_adds(r, cf->auth_header, cf->auth_value ? cf->auth_value : "");
        break;
    case SPW__HTTP_AUTH_SIGV4:
        return sign_request(s, r, err);
    default:
        break;
    }
    return rc == SPW_OK ? SPW_OK : spw_err_set(err, rc, "out of memory");
}

/* ---- ending -------------------------------------------------------------- */

static spw_http_error map_error(const spw__http_req *r, int cc) {
    if (r->spare_endpoint)
        return SPW_HTTP_ERR_REFUSED;
    switch (cc) {
    case CURLE_OK:
        return SPW_HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
        return SPW_HTTP_ERR_DNS;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
        return SPW_HTTP_ERR_PROXY;
    case CURLE_COULDNT_CONNECT:
        return SPW_HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return SPW_HTTP_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return SPW_HTTP_ERR_TLS;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return SPW_HTTP_ERR_RESET;
    case CURLE_SEND_ERROR:
        return SPW_HTTP_ERR_SEND;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return SPW_HTTP_ERR_PROTOCOL;
    case CC_AUTH:
        return SPW_HTTP_ERR_AUTH;
    case CC_BODY_LARGE:
        return SPW_HTTP_ERR_BODY_TOO_LARGE;
    case CC_CANCELLED:
        return SPW_HTTP_ERR_CANCELLED;
    default:
        return SPW_HTTP_ERR_OTHER;
    }
}

static void count_status(spw_http *s, long status) {
    if (status >= 200 && status < 300)
        spw_counter_add(s->c_2xx, 1);
    else if (status >= 300 && status < 400)
        spw_counter_add(s->c_3xx, 1);
    else if (status >= 400 && status < 500)
        spw_counter_add(s->c_4xx, 1);
    else if (status >= 500)
        spw_counter_add(s->c_5xx, 1);
}

/* An answer that says the endpoint itself is in trouble (501 and 505 are about the request). */
static bool status_fails_endpoint(long status) {
    return status >= 500 && status != 501 && status != 505;
}

/* Splits r->rhdr ("name\0value\0" each) into r->hv; stops early when out of memory. */
static size_t headers_of(spw__http_req *r) {
    size_t n = 0;
    const char *p = (const char *)r->rhdr.data, *end = p + r->rhdr.len;
    while (p < end) {
        const char *nz = memchr(p, '\0', (size_t)(end - p));
        const char *vz = nz ? memchr(nz + 1, '\0', (size_t)(end - nz - 1)) : NULL;
        if (!vz)
            break;
        if (n == r->cap_hv) {
            size_t cap = r->cap_hv ? r->cap_hv * 2 : 16;
            spw_http_header *hv = realloc(r->hv, cap * sizeof *hv);
            if (!hv)
                break;
            r->hv = hv;
            r->cap_hv = cap;
        }
        r->hv[n++] = (spw_http_header){p, nz + 1};
        p = vz + 1;
    }
    return n;
}

/* Reports r's ending to its caller, then returns r to the pool. */
static void deliver(spw_http *s, spw__http_req *r, int cc) {
    spw_http_response resp = {0};
    char text[CURL_ERROR_SIZE + 160];
    long status = 0;
    if (cc == CURLE_OK) {
        status = r->status;
        if (r->easy && !r->ep_native)
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    resp.error = map_error(r, cc);
    if (resp.error == SPW_HTTP_OK && status == 0) {
        resp.error = SPW_HTTP_ERR_PROTOCOL;
        snprintf(r->errbuf, sizeof r->errbuf, "no HTTP status");
    }
    if (resp.error == SPW_HTTP_OK && r->resp_total > r->response_max) {
        if (r->flags & SPW_HTTP_TRUNCATE) {
            resp.truncated = true;
        } else {
            resp.error = SPW_HTTP_ERR_RESPONSE_TOO_LARGE;
            snprintf(r->errbuf, sizeof r->errbuf,
                     "a response body of %" PRIu64 " bytes or more exceeds response_max (%zu)",
                     r->resp_total, r->response_max);
        }
    }
    if (resp.error != SPW_HTTP_OK) {
        if (cc >= CC_AUTH || cc == CURLE_OK)
            snprintf(text, sizeof text, "%s", r->errbuf[0] ? r->errbuf : spw_http_error_name(resp.error));
        else
            snprintf(text, sizeof text, "%s%s%s", curl_easy_strerror((CURLcode)cc),
                     r->errbuf[0] ? ": " : "", r->errbuf);
        resp.error_text = text;
    }
    if (r->probe)
        ; /* health checks count as such (endpoints.c), not as requests */
    else if (cc == CURLE_OK)
        count_status(s, status);
    else if (cc < CC_AUTH)
        spw_counter_add(s->c_transport, 1);
    resp.status = (int)status;
    resp.n_headers = cc == CURLE_OK ? headers_of(r) : 0;
    resp.headers = r->hv; /* after headers_of, which may move it */
    resp.body = r->resp.data;
    resp.body_len = r->resp.len;
    resp.compressed = r->gzipped;
    resp.sent_len = r->body_len;
    resp.endpoint = r->ep ? r->ep->idx : (size_t)-1;
    resp.origin = r->ep ? r->ep->base : r->origin;
    resp.elapsed_ms = uv_now(s->loop) - r->started_ms;
    if (!r->probe && cc != CC_CANCELLED)
        spw_histogram_observe(s->h_duration, (double)resp.elapsed_ms / 1000.0);

    if (r->ep && !(r->flags & SPW_HTTP_NO_HEALTH) && cc != CC_CANCELLED && cc < CC_AUTH) {
        /* A timeout the caller cut below `timeout` (its events' deadline was near, as for
         * requests queued behind thousands of others) says nothing about the endpoint:
         * counted, it took healthy endpoints out under load. */
        bool spared = r->spare_endpoint || (cc == CURLE_OPERATION_TIMEDOUT && r->cut_short);
        bool failed = (cc != CURLE_OK && !spared) ||
                      (cc == CURLE_OK && status_fails_endpoint(status));
        spw__http_endpoint_report(r->ep, failed, failed ? (resp.error_text ? resp.error_text : "a 5xx answer") : NULL);
    }
    if (spw_log_enabled(SPW_LOG_DEBUG))
        spw_log(s->st, SPW_LOG_DEBUG, "%s %s -> %s%d in %" PRIu64 " ms (%zu bytes sent)",
                r->method, resp.origin, resp.error ? spw_http_error_name(resp.error) : "HTTP ",
                resp.error ? 0 : resp.status, resp.elapsed_ms, r->body_len);
    spw_http_done_fn done = r->done;
    void *arg = r->arg;
    r->busy = false;
    s->busy--;
    spw_gauge_add(s->g_in_flight, -1);
    r->done = NULL;
    done(&resp, arg);
    /* A callback that closed the client leaves r where close finds it (freed with the client). */
    if (!s->closing)
        req_release(s, r);
}

static void on_later(uv_idle_t *h) {
    spw_http *s = h->data;
    uv_idle_stop(&s->later);
    spw__http_req *list = s->ended;
    s->ended = s->ended_tail = NULL;
    while (list && !s->closing) {
        spw__http_req *r = list;
        list = r->next;
        r->next = NULL;
        deliver(s, r, r->end_cc);
    }
}

/* r ended with cc: reported now, or on the next loop turn when inside spw_http_send. */
static void end(spw_http *s, spw__http_req *r, int cc) {
    if (!s->in_send) {
        deliver(s, r, cc);
        return;
    }
    r->end_cc = cc;
    r->next = NULL;
    if (s->ended_tail)
        s->ended_tail->next = r;
    else
        s->ended = r;
    s->ended_tail = r;
    uv_idle_start(&s->later, on_later);
}

void spw__http_req_finished(spw_http *s, spw__http_req *r, CURLcode cc) { end(s, r, (int)cc); }

void spw__http_req_end(spw__http_req *r, int cc, const char *why) {
    if (why)
        snprintf(r->errbuf, sizeof r->errbuf, "%s", why);
    r->ep_native = true;
    end(r->s, r, cc);
}

/* ---- sending ------------------------------------------------------------ */

/* Starts r (URL, headers and body prepared) on libcurl, within tmo ms. */
static spw_result curl_start(spw_http *s, spw__http_req *r, uint64_t tmo, spw_err *err) {
    if (!r->easy) {
        r->easy = curl_easy_init();
        if (!r->easy)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory (curl_easy_init)");
        spw_result rc = easy_setup(s, r, err);
        if (rc != SPW_OK) {
            curl_easy_cleanup(r->easy);
            r->easy = NULL;
            return rc;
        }
    }
    CURL *e = r->easy;
    /* `protocol` is the endpoints' (h2c to a token service or a metadata server would be refused);
     * another origin gets HTTP/2 where TLS negotiates it, else HTTP/1.1. */
    bool h2c = r->ep && s->cf->protocol == SPW__HTTP_PROTO_H2C;
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     r->ep ? http_version(s->cf->protocol) : (long)CURL_HTTP_VERSION_2TLS);
    /* libcurl before 8.0.0 fails every request reusing a prior-knowledge connection. */
    bool fresh = h2c && spw__http_h2c_reuse_broken();
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, fresh ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_URL, (const char *)r->url.data);
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else if (strcmp(r->method, "GET") == 0 && r->body_len == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(r->method, "POST") ? r->method : NULL);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr_link(r, s->curl_hdrs));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)tmo);
    if (spw__http_multi_add(s, r) != SPW_OK)
        return spw_err_set(err, SPW_ERR_STATE, "curl_multi_add_handle failed");
    return SPW_OK;
}

/* The URL r goes to, from the target (see "Targets" in spillway/http.h). */
static spw_result build_url(spw__http_req *r, const char *t, bool absolute) {
    spw_buf *u = &r->url;
    spw_buf_reset(u);
    spw_result rc;
    if (absolute)
        rc = spw_buf_append(u, t, strlen(t));
    else if (!*t)
        rc = spw_buf_append(u, r->ep->url, strlen(r->ep->url));
    else
        rc = spw_buf_printf(u, "%s%s%s", r->ep->base, r->ep->path, t);
    if (rc == SPW_OK)
        rc = spw_buf_append(u, "", 1);
    return rc;
}

/* The caller's headers, then User-Agent and Content-Encoding. */
static spw_result add_headers(spw_http *s, spw__http_req *r, const spw_http_request *q,
                              size_t *host_off, spw_err *err) {
    bool own_ua = false;
    *host_off = (size_t)-1;
    for (size_t i = 0; i < q->n_headers; i++) {
        const char *n = q->headers[i].name, *v = q->headers[i].value;
        if (!n || !v || !spw__http_is_token(n, strlen(n)) || !value_ok(v))
            return spw_err_set(err, SPW_ERR_INVAL,
                               "header %zu is not a token name with a value free of control "
                               "characters",
                               i);
        /* Only names starting with c, t, h or u need a closer look (checked per request). */
        int c0 = n[0] | 0x20;
        bool special = c0 == 'c' || c0 == 't' || c0 == 'h' || c0 == 'u';
        /* Framing is the engine's; a caller's framing header would contradict it. */
        if (special &&
            (strcasecmp(n, "content-length") == 0 || strcasecmp(n, "transfer-encoding") == 0))
            continue;
        if (special && strcasecmp(n, "host") == 0) {
            /* libcurl takes it as a header; the native engines send it as Host or :authority,
             * in place of the URL's, and skip it among the others. */
            *host_off = r->hdr.len + 6; /* after "host: " */
            r->host_dyn = r->n_dyn;
        }
        own_ua |= special && strcasecmp(n, "user-agent") == 0;
        if (hdr_adds(r, n, v) != SPW_OK)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    const char *ua = s->cf->user_agent;
    if ((!own_ua && ua && *ua && hdr_adds(r, "User-Agent", ua) != SPW_OK) ||
        (r->gzipped && hdr_adds(r, "Content-Encoding", "gzip") != SPW_OK))
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    return SPW_OK;
}

/* The Host of a URL on no endpoint, into r->origin's storage. */
static void other_origin(spw__http_req *r) {
    const char *u = (const char *)r->url.data;
    size_t ps = spw__http_url_path_start(u);
    snprintf(r->origin, sizeof r->origin, "%.*s", (int)ps, u);
    const char *a = strstr(r->origin, "://");
    a = a ? a + 3 : r->origin;
    const char *at = strchr(a, '@');
    r->host = at ? at + 1 : a;
}

/* True when r is signed with AWS SigV4, so it needs credentials first. */
static bool aws_signed(const spw_http *s, const spw__http_req *r) {
    return s->cf->auth == SPW__HTTP_AUTH_SIGV4 && !s->token_fn && !(r->flags & SPW_HTTP_NO_AUTH);
}

/*
 * Authenticates r (URL, headers and body prepared, busy) and hands it to its
 * engine within tmo ms. An error means libcurl could not even start it (r
 * untouched, its caller decides); anything else reaches r's callback.
 */
static spw_result transmit(spw_http *s, spw__http_req *r, uint64_t tmo, spw_err *err) {
    spw_err aerr = {""};
    r->errbuf[0] = '\0'; /* what the credentials gate said while the request waited */
    /* A Host given by the caller lives in hdr, which the auth headers may move. */
    uintptr_t h = (uintptr_t)r->host, b = (uintptr_t)r->hdr.data;
    size_t host_off = r->hdr.data && h >= b && h < b + r->hdr.len ? (size_t)(h - b) : (size_t)-1;
    if (!(r->flags & SPW_HTTP_NO_AUTH) && add_auth(s, r, &aerr) != SPW_OK) {
        snprintf(r->errbuf, sizeof r->errbuf, "%s", aerr.msg);
        end(s, r, CC_AUTH);
        return SPW_OK;
    }
    if (host_off != (size_t)-1)
        r->host = (const char *)r->hdr.data + host_off;
    spw__http_endpoint *ep = r->ep;
    if (!r->probe) { /* health checks count as such (endpoints.c) */
        spw_counter_add(s->c_requests, 1);
        spw_counter_add(s->c_bytes, r->body_len);
    }
    bool h2 = s->h2 && ep && ep->h2_use, h1 = !h2 && s->h1 && ep && ep->h1_use;
    if (h2)
        return spw__http_h2_submit(s, r, tmo), SPW_OK;
    if (h1)
        return spw__http_h1_submit(s, r, tmo), SPW_OK;
    return curl_start(s, r, tmo, err);
}

spw_result spw__http_send(spw_http *s, const spw_http_request *q, bool probe,
                          spw_http_done_fn done, void *arg, spw_err *err) {
    if (!s || !q || !done)
        return spw_err_set(err, SPW_ERR_INVAL, "spw_http_send: NULL argument");
    if (q->flags & ~(SPW_HTTP_NO_AUTH | SPW_HTTP_NO_COMPRESS | SPW_HTTP_TRUNCATE | SPW_HTTP_PINNED |
                     SPW_HTTP_NO_HEALTH))
        return spw_err_set(err, SPW_ERR_INVAL, "unknown request flags 0x%x", q->flags);
    if (s->closing)
        return spw_err_set(err, SPW_ERR_STATE, "the HTTP client is closing");
    const struct spw_http_conf *cf = s->cf;
    const char *m = q->method ? q->method : "POST";
    size_t ml = strlen(m);
    if (!spw__http_is_token(m, ml) || ml >= sizeof ((spw__http_req *)0)->meth)
        return spw_err_set(err, SPW_ERR_INVAL, "'%.40s' is not an HTTP method", m);
    const char *t = q->target ? q->target : "";
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return spw_err_set(err, SPW_ERR_INVAL, "the target holds a space or control character");
    bool absolute = spw__http_url_path_start(t) != (size_t)-1;
    if (!absolute && *t && *t != '/')
        return spw_err_set(err, SPW_ERR_INVAL,
                           "target '%.80s' is neither empty, nor a path starting with '/', nor an "
                           "http(s) URL",
                           t);
    spw__http_endpoint *ep = NULL;
    if (q->flags & SPW_HTTP_PINNED) {
        if (q->endpoint >= s->n_eps)
            return spw_err_set(err, SPW_ERR_INVAL, "endpoint %zu: there are %zu", q->endpoint,
                               s->n_eps);
        ep = &s->eps[q->endpoint];
        size_t bl = strlen(ep->base);
        if (absolute && (strncasecmp(t, ep->base, bl) != 0 || !strchr("/?#", t[bl]) ))
            return spw_err_set(err, SPW_ERR_INVAL, "target '%.80s' is not on endpoint %s", t,
                               ep->base);
    } else if (!absolute) {
        if (s->n_eps == 0)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "target '%.80s' needs an endpoint, and no url is configured", t);
        ep = spw__http_endpoint_pick(s);
    }

    spw__http_req *r = req_get(s);
    if (!r)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    r->ep = ep;
    r->ep_native = false;
    memcpy(r->meth, m, ml + 1);
    r->method = r->meth;
    r->flags = q->flags;
    r->probe = probe;
    r->response_max = q->response_max ? q->response_max : (size_t)cf->response_max;
    r->errbuf[0] = '\0';
    r->origin[0] = '\0';
    spw__http_req_restart(r);
    spw_result rc = build_url(r, t, absolute);
    if (rc != SPW_OK) {
        req_release(s, r);
        return spw_err_set(err, rc, "out of memory");
    }
    if (ep)
        r->host = ep->host;
    else
        other_origin(r);

    /* The body as sent. */
    r->body = q->body;
    r->body_len = q->body_len;
    r->gzipped = false;
    if (cf->compression == SPW__HTTP_COMP_GZIP && !(q->flags & SPW_HTTP_NO_COMPRESS) &&
        q->body_len > 0 && q->body_len >= (size_t)cf->compression_threshold) {
        if (spw__http_gzip_compress(&s->gz, q->body, q->body_len, &r->gz) != SPW_OK) {
            req_release(s, r);
            return spw_err_set(err, SPW_ERR_NOMEM, "gzip compression failed");
        }
        r->body = r->gz.data;
        r->body_len = r->gz.len;
        r->gzipped = true;
    }

    spw_buf_reset(&r->hdr);
    r->n_dyn = 0;
    r->host_dyn = (size_t)-1;
    size_t host_off;
    rc = add_headers(s, r, q, &host_off, err);
    if (rc != SPW_OK) {
        req_release(s, r);
        return rc;
    }
    uint64_t now = uv_now(s->loop);
    r->started_ms = now;
    r->busy = true;
    r->done = done;
    r->arg = arg;
    s->busy++;
    spw_gauge_add(s->g_in_flight, 1);
    s->in_send = true;
    if (host_off != (size_t)-1)
        r->host = (const char *)r->hdr.data + host_off; /* hdr stops growing before it is read */
    uint64_t tmo = q->timeout_ms ? q->timeout_ms : (uint64_t)cf->timeout_ms;
    r->cut_short = tmo < (uint64_t)cf->timeout_ms;
    int gate = SPW__AWS_READY;
    if (cf->max_body_size > 0 && r->body_len > (size_t)cf->max_body_size) {
        snprintf(r->errbuf, sizeof r->errbuf,
                 "the request body of %zu bytes%s exceeds max_body_size (%" PRId64 " bytes)",
                 r->body_len, r->gzipped ? " (gzip)" : "", cf->max_body_size);
        end(s, r, CC_BODY_LARGE);
    } else if (s->max_body > 0 && r->body_len > s->max_body) {
        snprintf(r->errbuf, sizeof r->errbuf,
                 "the request body of %zu bytes%s exceeds the destination's %zu bytes",
                 r->body_len, r->gzipped ? " (gzip)" : "", s->max_body);
        end(s, r, CC_BODY_LARGE);
    } else if (aws_signed(s, r) &&
               (gate = spw__http_aws_gate(s, r, tmo, r->errbuf, sizeof r->errbuf)) ==
                   SPW__AWS_FAIL) {
        end(s, r, CC_AUTH);
    } else if (gate == SPW__AWS_READY) {
        rc = transmit(s, r, tmo, err);
        if (rc != SPW_OK) {
            /* Nothing was started: the caller hears of it from the error, not the callback. */
            r->busy = false;
            s->busy--;
            spw_gauge_add(s->g_in_flight, -1);
            req_release(s, r);
            s->in_send = false;
            return rc;
        }
    } /* else SPW__AWS_WAIT: the request waits for credentials (aws-provider.c) */
    s->in_send = false;
    return SPW_OK;
}

void spw__http_req_resume(spw__http_req *r, uint64_t tmo) {
    spw_http *s = r->s;
    spw_err err = {""};
    if (transmit(s, r, tmo, &err) != SPW_OK) {
        snprintf(r->errbuf, sizeof r->errbuf, "%s", err.msg);
        end(s, r, CURLE_FAILED_INIT);
    }
}

void spw__http_req_auth_fail(spw__http_req *r, const char *why) {
    snprintf(r->errbuf, sizeof r->errbuf, "%s", why);
    end(r->s, r, CC_AUTH);
}

spw_result spw_http_send(spw_http *s, const spw_http_request *q, spw_http_done_fn done, void *arg,
                         spw_err *err) {
    return spw__http_send(s, q, false, done, arg, err);
}

/* ---- what the native engines share ---------------------------------------- */

void spw__http_reqq_push(spw__http_reqq *q, spw__http_req *r, bool front) {
    if (front) {
        r->qprev = NULL;
        r->qnext = q->head;
        if (q->head)
            q->head->qprev = r;
        else
            q->tail = r;
        q->head = r;
    } else {
        r->qnext = NULL;
        r->qprev = q->tail;
        if (q->tail)
            q->tail->qnext = r;
        else
            q->head = r;
        q->tail = r;
    }
}

void spw__http_reqq_remove(spw__http_reqq *q, spw__http_req *r) {
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        q->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        q->tail = r->qprev;
    r->qprev = r->qnext = NULL;
}

static void on_deadline(uv_timer_t *t);

static void deadline_arm(spw_http *s, uint64_t at) {
    if (s->deadline_at && s->deadline_at <= at)
        return;
    uint64_t now = uv_now(s->loop);
    s->deadline_at = at;
    uv_timer_start(&s->deadlines, on_deadline, at > now ? at - now : 0, 0);
}

static void on_deadline(uv_timer_t *t) {
    spw_http *s = t->data;
    uint64_t now = uv_now(s->loop), next = 0;
    s->deadline_at = 0;
    /* At most the route's concurrency is busy: a scan is cheaper than keeping a heap. An
     * expiry may hand the sink new work (reqs may grow meanwhile: index, never cache). */
    for (size_t i = 0; i < s->n_reqs; i++) {
        spw__http_req *r = s->reqs[i];
        if (!r->busy || !r->expire)
            continue;
        if (r->deadline_ms > now) {
            if (!next || r->deadline_ms < next)
                next = r->deadline_ms;
            continue;
        }
        spw__http_expire_fn expire = r->expire;
        r->expire = NULL;
        char why[96];
        snprintf(why, sizeof why, "no answer within %" PRIu64 " ms", r->timeout_ms);
        expire(r, why);
    }
    if (next)
        deadline_arm(s, next);
}

static void deadlines_init(spw_http *s) {
    uv_timer_init(s->loop, &s->deadlines);
    s->deadlines.data = s;
    s->deadlines_on = true;
    s->open_handles++;
}

void spw__http_req_take(spw_http *s, spw__http_req *r, uint64_t timeout_ms, spw__http_expire_fn expire) {
    spw__http_req_restart(r);
    r->deadline_ms = uv_now(s->loop) + timeout_ms;
    r->timeout_ms = timeout_ms;
    r->expire = expire;
    deadline_arm(s, r->deadline_ms);
}

static void deadlines_closed(uv_handle_t *h) { spw__http_handle_closed(h->data); }
static void later_closed(uv_handle_t *h) { spw__http_handle_closed(h->data); }

/* ---- the client ------------------------------------------------------------ */

static uv_once_t curl_once = UV_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }


void spw__http_handle_closed(spw_http *s) {
    if (--s->open_handles > 0)
        return;
    for (size_t i = 0; i < s->n_reqs; i++)
        req_free(s->reqs[i]);
    free(s->reqs);
    free(s);
}

static spw_result client_init(spw_http *s, spw_err *err) {
    const struct spw_http_conf *cf = s->cf;
    uv_idle_init(s->loop, &s->later);
    s->later.data = s;
    s->open_handles++;
    struct curl_slist *l = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    if (!l)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->curl_hdrs = l;
    for (size_t i = 0; i < cf->connect_to.n; i++) {
        l = curl_slist_append(s->connect_to, cf->connect_to.v[i]);
        if (!l)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        s->connect_to = l;
    }
    /* Basic and bearer authorization values, built once (wiped at close). */
    spw_result rc = SPW_OK;
    if (cf->auth == SPW__HTTP_AUTH_BASIC) {
        spw_buf cred = SPW_BUF_INIT;
        rc = spw_buf_printf(&cred, "%s:%s", cf->username, cf->password ? cf->password : "");
        if (rc == SPW_OK)
            rc = spw_buf_append(&s->auth_value, "Basic ", 6);
        if (rc == SPW_OK)
            rc = spw_buf_append_base64(&s->auth_value, cred.data, cred.len);
        if (cred.data)
            memset(cred.data, 0, cred.cap);
        spw_buf_free(&cred);
    } else if (cf->auth == SPW__HTTP_AUTH_BEARER) {
        rc = spw_buf_printf(&s->auth_value, "Bearer %s", cf->token ? cf->token : "");
    }
    if (rc != SPW_OK)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (cf->compression == SPW__HTTP_COMP_GZIP &&
        spw__http_gzip_init(&s->gz, (int)cf->compression_level) != SPW_OK)
        return spw_err_set(err, SPW_ERR_NOMEM, "zlib: deflateInit2 failed");
    if (cf->auth == SPW__HTTP_AUTH_SIGV4) {
        snprintf(s->sig.region, sizeof s->sig.region, "%s", cf->aws_region);
        snprintf(s->sig.service, sizeof s->sig.service, "%s", cf->aws_service);
        rc = spw__http_aws_new(s, err); /* the credential chain, process-wide */
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

/* Ends what is in progress and releases everything but the memory the loop handles hold. */
static void teardown(spw_http *s) {
    /* Endings already decided are reported as they are; the rest are cancelled. */
    spw__http_req *list = s->ended;
    s->ended = s->ended_tail = NULL;
    s->in_send = false;
    spw__http_aws_drop_waiters(s); /* requests waiting for credentials are cancelled below */
    while (list) {
        spw__http_req *r = list;
        list = r->next;
        r->next = NULL;
        deliver(s, r, r->end_cc);
    }
    spw__http_h2_close(s);
    spw__http_h1_close(s);
    s->closing = true;
    if (s->deadlines_on) {
        s->deadlines_on = false;
        uv_close((uv_handle_t *)&s->deadlines, deadlines_closed);
    }
    for (size_t i = 0; i < s->n_reqs; i++) {
        spw__http_req *r = s->reqs[i];
        if (!r->busy)
            continue;
        if (s->multi && r->easy)
            curl_multi_remove_handle(s->multi, r->easy);
        snprintf(r->errbuf, sizeof r->errbuf, "the HTTP client was closed");
        deliver(s, r, CC_CANCELLED);
    }
    if (s->multi)
        spw__http_multi_close(s);
    spw__http_endpoints_free(s);
    curl_slist_free_all(s->curl_hdrs);
    s->curl_hdrs = NULL;
    curl_slist_free_all(s->connect_to);
    s->connect_to = NULL;
    spw__http_gzip_free(&s->gz);
    spw__http_sigv4_free(&s->sig);
    spw_buf_free(&s->sig_auth);
    if (s->token.data)
        memset(s->token.data, 0, s->token.cap);
    spw_buf_free(&s->token);
    if (s->auth_value.data)
        memset(s->auth_value.data, 0, s->auth_value.cap);
    spw_buf_free(&s->auth_value);
    spw__http_aws_close(s);
    /* TLS sessions still open hold their own reference to it. */
    spw_tls_ctx_free(s->tls_ctx);
    s->tls_ctx = NULL;
    uv_close((uv_handle_t *)&s->later, later_closed);
}

spw_result spw_http_new(spw_stage *st, const spw_http_conf *cf, spw_http **out, spw_err *err) {
    if (!st || !cf || !out)
        return spw_err_set(err, SPW_ERR_INVAL, "spw_http_new: NULL argument");
    uv_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return spw_err_set(err, SPW_ERR_STATE, "curl_global_init failed: %s",
                           curl_easy_strerror(curl_init_result));
    spw_http *s = calloc(1, sizeof *s);
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
    s->c_transport = spw_counter_register(
        st, "http_errors", "Requests that got no HTTP answer (connect, reset, timeout, TLS).");
    s->c_bytes = spw_counter_register(st, "http_bytes_sent",
                                      "Request body bytes sent (after compression).");
    s->c_ep_down = spw_counter_register(st, "endpoint_down", "Endpoints taken out of the rotation.");
    s->c_ep_up = spw_counter_register(st, "endpoint_up", "Endpoints brought back.");
    s->c_probes = spw_counter_register(st, "health_checks", "Health checks sent.");
    /* Gauges and histograms are extras: a failed registration leaves a no-op. */
    s->g_in_flight = spw_gauge_register(st, "http_in_flight", "HTTP requests in progress.");
    s->h_duration = spw_histogram_register(
        st, "http_request_duration_seconds",
        "Time from spw_http_send to the answer (or the failure), health checks excluded.",
        spw_buckets_seconds());
    if (!s->c_requests || !s->c_2xx || !s->c_3xx || !s->c_4xx || !s->c_5xx || !s->c_transport ||
        !s->c_bytes || !s->c_ep_down || !s->c_ep_up || !s->c_probes) {
        free(s);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    s->h2 = spw__http_h2_selected(cf);
    s->h1 = spw__http_h1_selected(cf);
    spw_result rc = client_init(s, err);
    if (rc == SPW_OK)
        rc = spw__http_multi_init(s, err);
    if (rc == SPW_OK)
        rc = spw__http_endpoints_init(s, err);
    if (rc == SPW_OK && (s->h2 || s->h1)) {
        deadlines_init(s);
        rc = spw__http_addr_init(s, err);
    }
    if (rc == SPW_OK && s->h2)
        rc = spw__http_h2_init(s, err);
    if (rc == SPW_OK && s->h1)
        rc = spw__http_h1_init(s, err);
    if (rc != SPW_OK) {
        teardown(s);
        return rc;
    }
    spw__http_aws_start(s);
    if (spw_stage_worker(st) == 0) {
        if (!cf->tls_verify)
            spw_log(st, SPW_LOG_WARN,
                    "tls_verify = false: server certificates are not checked; anyone on the path "
                    "can read and alter the records");
        if (cf->protocol == SPW__HTTP_PROTO_H2C && !s->h2 && spw__http_h2c_reuse_broken())
            spw_log(st, SPW_LOG_WARN,
                    "protocol h2c: libcurl %s cannot reuse cleartext HTTP/2 connections (curl "
                    "bug 10634, fixed in 8.0.0), so each request opens its own connection; use "
                    "engine = native (without a proxy), or http1.1, for throughput",
                    curl_version_info(CURLVERSION_NOW)->version);
        const spw__http_endpoint *ep = s->n_eps ? &s->eps[0] : NULL;
        if (ep)
            spw_log(st, SPW_LOG_INFO, "delivering to %zu endpoint(s), first %s (%s)", s->n_eps,
                    ep->base,
                    s->h2 && ep->h2_use ? (s->h1 ? "HTTP/2 with nghttp2, HTTP/1.1 natively if "
                                                   "ALPN refuses h2"
                                                 : "HTTP/2 with nghttp2")
                    : s->h1 && ep->h1_use ? "HTTP/1.1, native engine"
                                          : "libcurl");
    }
    *out = s;
    return SPW_OK;
}

void spw_http_close(spw_http *s) {
    if (s && !s->closing)
        teardown(s);
}

/* ---- small public helpers -------------------------------------------------- */

size_t spw_http_endpoints(const spw_http *s) { return s->n_eps; }

size_t spw_http_pick(spw_http *s) {
    return s->n_eps ? spw__http_endpoint_pick(s)->idx : (size_t)-1;
}

bool spw_http_endpoint_up(const spw_http *s, size_t i) { return i < s->n_eps && s->eps[i].healthy; }

size_t spw_http_in_progress(const spw_http *s) { return s->busy; }

void spw_http_set_max_body(spw_http *s, size_t max) { s->max_body = max; }

void spw_http_set_token(spw_http *s, const char *header, spw_http_token_fn fn, void *arg) {
    s->token_fn = fn;
    s->token_arg = arg;
    s->token_header = header;
}

const char *spw_http_error_name(spw_http_error e) {
    static const char *const names[] = {
        "ok", "dns", "connect", "tls", "timeout", "reset", "refused", "response too large",
        "protocol", "proxy", "send", "auth", "cancelled", "other", "body too large",
    };
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "unknown";
}

const char *spw_http_response_header(const spw_http_response *r, const char *name) {
    for (size_t i = 0; r && name && i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}
