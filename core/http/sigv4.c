/*
 * core/http/sigv4.c: AWS Signature Version 4 (header signing),
 * for API Gateway with IAM auth, Lambda function URLs and anything else
 * that takes SigV4.
 *
 * Why our own signer rather than libcurl's CURLOPT_AWS_SIGV4: libcurl
 * reads the clock itself, so its output can never be checked against the
 * published test vectors (fixed time 20150830T123600Z); ours takes the
 * time as input, and tests/unit/test-http-sigv4.c reproduces the AWS
 * suite's canonical requests, strings to sign and signatures exactly. It
 * also lets the sink sign X-Amz-Security-Token (temporary credentials)
 * and cache the derived signing key for the day, so a request costs one
 * SHA-256 of the body and two HMACs.
 *
 * The canonical URI is the path with dot segments and empty segments
 * removed, each byte but the unreserved ones percent-encoded. The path
 * given is what goes on the wire, already percent-encoded, so a '%' is
 * encoded again: that is the double encoding every AWS service but S3
 * expects. The canonical query has its parameters decoded, re-encoded
 * strictly and sorted by name, then value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "http-private.h"

#define MAX_SIGNED_HEADERS 32

static const char hexd[] = "0123456789abcdef";

static void to_hex(const uint8_t *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool sha256(const void *p, size_t n, uint8_t out[32]) {
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

static bool hmac(const void *key, size_t klen, const void *p, size_t n, uint8_t out[32]) {
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len) != NULL && len == 32;
}

void spw__http_amz_date(int64_t unix_s, char out[17]) {
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static spw_result put_encoded(spw_buf *b, const char *p, size_t n) {
    spw_result rc = spw_buf_reserve(b, n * 3);
    if (rc != SPW_OK)
        return rc;
    uint8_t *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (unreserved(c)) {
            *o++ = c;
        } else {
            *o++ = '%';
            *o++ = (uint8_t)"0123456789ABCDEF"[c >> 4];
            *o++ = (uint8_t)"0123456789ABCDEF"[c & 15];
        }
    }
    b->len = (size_t)(o - b->data);
    return SPW_OK;
}

/* Decodes %XX in p[0..n) into out (at least n bytes); returns the length. */
static size_t pct_decode(const char *p, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (p[i] == '%' && i + 2 < n && (h = spw__http_hexval(p[i + 1])) >= 0 &&
            (l = spw__http_hexval(p[i + 2])) >= 0) {
            out[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    return o;
}

/* ---- canonical URI -------------------------------------------------------- */

static spw_result canonical_uri(spw_buf *b, const char *path, size_t n) {
    /* Segments kept after removing "", "." and ".." (which pops). */
    size_t starts[128], lens[128], ns = 0;
    bool trailing = false;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t len = j - i;
        bool last = j >= n;
        if (len == 0 || (len == 1 && path[i] == '.')) {
            if (last)
                trailing = true;
        } else if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (ns > 0)
                ns--;
            if (last)
                trailing = true;
        } else {
            if (ns == sizeof starts / sizeof starts[0])
                return SPW_ERR_RANGE;
            starts[ns] = i;
            lens[ns++] = len;
        }
        i = j + 1;
    }
    spw_result rc = spw_buf_append(b, "/", 1);
    for (size_t k = 0; k < ns && rc == SPW_OK; k++) {
        if (k > 0)
            rc = spw_buf_append(b, "/", 1);
        if (rc == SPW_OK)
            rc = put_encoded(b, path + starts[k], lens[k]);
    }
    if (rc == SPW_OK && trailing && ns > 0)
        rc = spw_buf_append(b, "/", 1);
    return rc;
}

/* ---- canonical query ------------------------------------------------------ */

typedef struct qparam {
    size_t name_off, name_len, value_off, value_len; /* in the encoded scratch */
} qparam;

static int qparam_cmp(const spw_buf *enc, const qparam *a, const qparam *b) {
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(enc->data + a->name_off, enc->data + b->name_off, n);
    if (c || a->name_len != b->name_len)
        return c ? c : a->name_len < b->name_len ? -1 : 1;
    n = a->value_len < b->value_len ? a->value_len : b->value_len;
    c = memcmp(enc->data + a->value_off, enc->data + b->value_off, n);
    if (c || a->value_len != b->value_len)
        return c ? c : a->value_len < b->value_len ? -1 : 1;
    return 0;
}

static spw_result canonical_query(spw_buf *b, const char *q, size_t n) {
    if (!q || n == 0)
        return SPW_OK;
    qparam ps[64];
    size_t np = 0;
    spw_buf enc = SPW_BUF_INIT;
    char *dec = malloc(n + 1);
    spw_result rc = dec ? SPW_OK : SPW_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == SPW_OK;) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        if (j > i) {
            if (np == sizeof ps / sizeof ps[0]) {
                rc = SPW_ERR_RANGE;
                break;
            }
            size_t eq = i;
            while (eq < j && q[eq] != '=')
                eq++;
            qparam *p = &ps[np++];
            size_t dl = pct_decode(q + i, eq - i, dec);
            p->name_off = enc.len;
            rc = put_encoded(&enc, dec, dl);
            p->name_len = enc.len - p->name_off;
            dl = eq < j ? pct_decode(q + eq + 1, j - eq - 1, dec) : 0;
            p->value_off = enc.len;
            if (rc == SPW_OK)
                rc = put_encoded(&enc, dec, dl);
            p->value_len = enc.len - p->value_off;
        }
        i = j + 1;
    }
    /* Insertion sort: a handful of parameters. */
    for (size_t i = 1; i < np && rc == SPW_OK; i++) {
        qparam t = ps[i];
        size_t k = i;
        while (k > 0 && qparam_cmp(&enc, &ps[k - 1], &t) > 0) {
            ps[k] = ps[k - 1];
            k--;
        }
        ps[k] = t;
    }
    for (size_t i = 0; i < np && rc == SPW_OK; i++) {
        if (i > 0)
            rc = spw_buf_append(b, "&", 1);
        if (rc == SPW_OK)
            rc = spw_buf_append(b, enc.data + ps[i].name_off, ps[i].name_len);
        if (rc == SPW_OK)
            rc = spw_buf_append(b, "=", 1);
        if (rc == SPW_OK)
            rc = spw_buf_append(b, enc.data + ps[i].value_off, ps[i].value_len);
    }
    free(dec);
    spw_buf_free(&enc);
    return rc;
}

/* ---- canonical headers ---------------------------------------------------- */

static int tolower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int name_cmp(const char *a, const char *b) {
    for (;; a++, b++) {
        int ca = tolower_ascii((unsigned char)*a), cb = tolower_ascii((unsigned char)*b);
        if (ca != cb || !ca)
            return ca - cb;
    }
}

/* Appends a value trimmed, with runs of spaces collapsed to one. */
static spw_result put_value(spw_buf *b, const char *v) {
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    spw_result rc = spw_buf_reserve(b, n);
    if (rc != SPW_OK)
        return rc;
    bool sp = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            sp = true;
            continue;
        }
        if (sp) {
            b->data[b->len++] = ' ';
            sp = false;
        }
        b->data[b->len++] = (uint8_t)v[i];
    }
    return SPW_OK;
}

static spw_result put_lower(spw_buf *b, const char *s) {
    size_t n = strlen(s);
    spw_result rc = spw_buf_reserve(b, n);
    if (rc != SPW_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        b->data[b->len++] = (uint8_t)tolower_ascii((unsigned char)s[i]);
    return SPW_OK;
}

/* Writes the canonical header lines, then "\n", then the signed header list into `signed_list`. */
static spw_result canonical_headers(spw_buf *b, const spw__http_sigv4_req *req, spw_buf *signed_list) {
    size_t idx[MAX_SIGNED_HEADERS];
    size_t n = req->n_headers;
    if (n > MAX_SIGNED_HEADERS)
        return SPW_ERR_RANGE;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* Stable insertion sort by name: repeated headers keep their order. */
    for (size_t i = 1; i < n; i++) {
        size_t t = idx[i], k = i;
        while (k > 0 && name_cmp(req->headers[idx[k - 1]].name, req->headers[t].name) > 0) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = t;
    }
    spw_result rc = SPW_OK;
    for (size_t i = 0; i < n && rc == SPW_OK; i++) {
        const spw__http_sig_hdr *h = &req->headers[idx[i]];
        bool same = i > 0 && name_cmp(req->headers[idx[i - 1]].name, h->name) == 0;
        if (same) {
            /* A repeated header: its values joined with commas on one line. */
            b->len--; /* the previous line's '\n' */
            rc = spw_buf_append(b, ",", 1);
        } else {
            rc = put_lower(b, h->name);
            if (rc == SPW_OK)
                rc = spw_buf_append(b, ":", 1);
            if (rc == SPW_OK && signed_list->len > 0)
                rc = spw_buf_append(signed_list, ";", 1);
            if (rc == SPW_OK)
                rc = put_lower(signed_list, h->name);
        }
        if (rc == SPW_OK)
            rc = put_value(b, h->value);
        if (rc == SPW_OK)
            rc = spw_buf_append(b, "\n", 1);
    }
    return rc;
}

/* ---- signing -------------------------------------------------------------- */

static spw_result signing_key(spw__http_sigv4 *sg, const char *date) {
    if (strncmp(sg->key_date, date, 8) == 0 && sg->key_date[0])
        return SPW_OK;
    char k0[256];
    int kn = snprintf(k0, sizeof k0, "AWS4%s", sg->secret ? sg->secret : "");
    if (kn < 0 || (size_t)kn >= sizeof k0)
        return SPW_ERR_RANGE;
    uint8_t a[32], b[32];
    bool ok = hmac(k0, (size_t)kn, date, 8, a) &&
              hmac(a, 32, sg->region, strlen(sg->region), b) &&
              hmac(b, 32, sg->service, strlen(sg->service), a) &&
              hmac(a, 32, "aws4_request", 12, sg->key);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    if (!ok)
        return SPW_ERR_INVAL;
    memcpy(sg->key_date, date, 8);
    sg->key_date[8] = '\0';
    return SPW_OK;
}

spw_result spw__http_sigv4_sign(spw__http_sigv4 *sg, const char *access_key_id, const spw__http_sigv4_req *req,
                         spw_buf *auth) {
    spw_buf signed_list = SPW_BUF_INIT;
    uint8_t h[32];
    char hex[65];
    spw_buf *c = &sg->creq, *s = &sg->sts;
    spw_buf_reset(c);
    spw_buf_reset(s);
    if (!req->amz_date || strlen(req->amz_date) != 16)
        return SPW_ERR_INVAL;

    spw_result rc = spw_buf_printf(c, "%s\n", req->method);
    if (rc == SPW_OK)
        rc = canonical_uri(c, req->path, req->path_len);
    if (rc == SPW_OK)
        rc = spw_buf_append(c, "\n", 1);
    if (rc == SPW_OK)
        rc = canonical_query(c, req->query, req->query_len);
    if (rc == SPW_OK)
        rc = spw_buf_append(c, "\n", 1);
    if (rc == SPW_OK)
        rc = canonical_headers(c, req, &signed_list);
    if (rc == SPW_OK)
        rc = spw_buf_append(c, "\n", 1);
    if (rc == SPW_OK)
        rc = spw_buf_append(c, signed_list.data, signed_list.len);
    if (rc == SPW_OK && !sha256(req->body ? (const void *)req->body : "", req->body_len, h))
        rc = SPW_ERR_INVAL;
    if (rc == SPW_OK) {
        to_hex(h, 32, hex);
        rc = spw_buf_printf(c, "\n%s", hex);
    }

    /* String to sign. */
    if (rc == SPW_OK && !sha256(c->data, c->len, h))
        rc = SPW_ERR_INVAL;
    if (rc == SPW_OK) {
        to_hex(h, 32, hex);
        rc = spw_buf_printf(s, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", req->amz_date,
                            req->amz_date, sg->region, sg->service, hex);
    }
    if (rc == SPW_OK)
        rc = signing_key(sg, req->amz_date);
    if (rc == SPW_OK && !hmac(sg->key, 32, s->data, s->len, h))
        rc = SPW_ERR_INVAL;
    if (rc == SPW_OK) {
        to_hex(h, 32, hex);
        rc = spw_buf_printf(auth,
                            "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
                            "SignedHeaders=%.*s, Signature=%s",
                            access_key_id, req->amz_date, sg->region, sg->service,
                            (int)signed_list.len, (const char *)signed_list.data, hex);
    }
    spw_buf_free(&signed_list);
    return rc;
}

void spw__http_sigv4_free(spw__http_sigv4 *sg) {
    OPENSSL_cleanse(sg->key, sizeof sg->key);
    spw_buf_free(&sg->creq);
    spw_buf_free(&sg->sts);
}
