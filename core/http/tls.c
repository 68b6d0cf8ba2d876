/*
 * core/http/tls.c: client TLS for the native engines (h2.c,
 * h1.c), OpenSSL driven through memory BIOs so that libuv keeps doing all
 * socket I/O.
 *
 * Ciphertext read from the socket goes into the session's read BIO, and
 * SSL_read yields plaintext (running the handshake first); plaintext to
 * send goes through SSL_write, and whatever the session produces
 * (handshake, records, alerts) is drained from its write BIO into the
 * connection's output buffer. The caller owns all buffering.
 *
 * One SSL_CTX per sink instance (per worker), configured like libcurl's
 * side of the sink so the engines agree: tls_min_version, tls_ca_file /
 * tls_ca_path or the system's store, a client certificate and key
 * (with tls_key_password), verification of the chain and of the URL's
 * host name (or IP address) unless tls_verify = false, SNI, and ALPN,
 * chosen per connection: the nghttp2 engine offers h2 and http/1.1, so a
 * server without HTTP/2 still completes the handshake and can be handed
 * to the HTTP/1.1 engine, which offers http/1.1 alone. The name checked
 * and sent is the URL's host even when connect_to sends the connection
 * elsewhere.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "http-private.h"

struct spw__http_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
};

/* The last queued OpenSSL error as text; the queue is cleared. */
static const char *ssl_reason(char *buf, size_t n) {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, n, "unknown TLS error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, n, "%s", r);
        else
            ERR_error_string_n(e, buf, n);
    }
    ERR_clear_error();
    return buf;
}

static int key_password(char *buf, int size, int rw, void *arg) {
    const char *pw = arg;
    (void)rw;
    if (!pw || size <= 0)
        return 0;
    size_t n = strlen(pw);
    if (n >= (size_t)size)
        n = (size_t)size - 1;
    memcpy(buf, pw, n);
    buf[n] = '\0';
    return (int)n;
}

static int min_version(int v) {
    switch (v) {
    case SPW__HTTP_TLS_13:
        return TLS1_3_VERSION;
    case SPW__HTTP_TLS_10:
        return TLS1_VERSION;
    case SPW__HTTP_TLS_11:
        return TLS1_1_VERSION;
    default:
        return TLS1_2_VERSION;
    }
}

spw_result spw__http_tls_ctx_new(const struct spw_http_conf *cf, void **out, spw_err *err) {
    char why[256];
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return spw_err_set(err, SPW_ERR_NOMEM, "cannot create a TLS context: %s",
                           ssl_reason(why, sizeof why));
    SSL_CTX_set_min_proto_version(ctx, min_version(cf->tls_min_version));
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

    bool ca_file = cf->tls_ca_file && *cf->tls_ca_file;
    bool ca_path = cf->tls_ca_path && *cf->tls_ca_path;
    if (ca_file || ca_path) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file ? cf->tls_ca_file : NULL,
                                          ca_path ? cf->tls_ca_path : NULL) != 1) {
            spw_err_set(err, SPW_ERR_CONFIG, "%s %s: %s", ca_file ? "tls_ca_file" : "tls_ca_path",
                        ca_file ? cf->tls_ca_file : cf->tls_ca_path, ssl_reason(why, sizeof why));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        spw_err_set(err, SPW_ERR_CONFIG, "cannot load the system's CA certificates: %s",
                    ssl_reason(why, sizeof why));
        goto fail;
    }
    if (cf->tls_cert && *cf->tls_cert) {
        if (cf->tls_key_password && *cf->tls_key_password) {
            SSL_CTX_set_default_passwd_cb(ctx, key_password);
            SSL_CTX_set_default_passwd_cb_userdata(ctx, cf->tls_key_password);
        }
        const char *key = cf->tls_key && *cf->tls_key ? cf->tls_key : cf->tls_cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_cert) != 1) {
            spw_err_set(err, SPW_ERR_CONFIG, "tls_cert %s: %s", cf->tls_cert,
                        ssl_reason(why, sizeof why));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            spw_err_set(err, SPW_ERR_CONFIG, "tls_key %s: %s", key, ssl_reason(why, sizeof why));
            goto fail;
        }
    }
    SSL_CTX_set_verify(ctx, cf->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    *out = ctx;
    return SPW_OK;
fail:
    SSL_CTX_free(ctx);
    return SPW_ERR_CONFIG;
}

void spw__http_tls_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

spw__http_tls *spw__http_tls_new(void *ctx, const char *host, bool verify, const char *alpn) {
    spw__http_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio)
        goto fail;
    /* An empty read BIO means "more to come", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    t->rbio = t->wbio = NULL; /* owned by ssl from here */
    SSL_set_connect_state(t->ssl);
    /* 0 is success here, unlike the rest of OpenSSL. */
    if (SSL_set_alpn_protos(t->ssl, (const unsigned char *)alpn, (unsigned)strlen(alpn)) != 0)
        goto fail;
    /* An IP address is checked as one and never sent as SNI (RFC 6066). */
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(t->ssl, host) != 1)
        goto fail;
    if (verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(t->ssl, host);
        if (ok != 1)
            goto fail;
    }
    return t;
fail:
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return NULL;
}

void spw__http_tls_free(spw__http_tls *t) {
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

/* Moves what the session produced into out. */
static spw_result drain(spw__http_tls *t, spw_buf *out) {
    BIO *w = SSL_get_wbio(t->ssl);
    size_t pend;
    while ((pend = BIO_ctrl_pending(w)) > 0) {
        spw_result rc = spw_buf_reserve(out, pend);
        if (rc != SPW_OK)
            return rc;
        int n = BIO_read(w, out->data + out->len, pend > INT_MAX ? INT_MAX : (int)pend);
        if (n <= 0)
            break;
        out->len += (size_t)n;
    }
    return SPW_OK;
}

static int fail_why(spw__http_tls *t, int n, char *why, size_t wn) {
    char r[256];
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(why, wn, "connection closed by the server (TLS close_notify)");
        return SPW__HTTP_TLS_CLOSED;
    }
    long vr = SSL_get_verify_result(t->ssl);
    if (!SSL_is_init_finished(t->ssl) && vr != X509_V_OK)
        snprintf(why, wn, "TLS handshake failed: server certificate: %s",
                 X509_verify_cert_error_string(vr));
    else
        snprintf(why, wn, "TLS %s failed: %s", SSL_is_init_finished(t->ssl) ? "session" : "handshake",
                 ssl_reason(r, sizeof r));
    ERR_clear_error();
    return SPW__HTTP_TLS_ERROR;
}

int spw__http_tls_start(spw__http_tls *t, spw_buf *out, char *why, size_t wn) {
    ERR_clear_error();
    int n = SSL_do_handshake(t->ssl);
    if (n <= 0) {
        int e = SSL_get_error(t->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return fail_why(t, n, why, wn);
    }
    return drain(t, out) == SPW_OK ? SPW__HTTP_TLS_OK : SPW__HTTP_TLS_ERROR;
}

int spw__http_tls_recv(spw__http_tls *t, const uint8_t *p, size_t n, spw_buf *plain, spw_buf *out, char *why,
                size_t wn) {
    if (BIO_write(SSL_get_rbio(t->ssl), p, (int)n) != (int)n) {
        ERR_clear_error();
        snprintf(why, wn, "out of memory for TLS input");
        return SPW__HTTP_TLS_ERROR;
    }
    for (;;) {
        if (spw_buf_reserve(plain, 16384) != SPW_OK) {
            snprintf(why, wn, "out of memory for TLS input");
            return SPW__HTTP_TLS_ERROR;
        }
        ERR_clear_error();
        size_t room = plain->cap - plain->len;
        int k = SSL_read(t->ssl, plain->data + plain->len, room > INT_MAX ? INT_MAX : (int)room);
        if (k > 0) {
            plain->len += (size_t)k;
            continue;
        }
        int e = SSL_get_error(t->ssl, k);
        if (drain(t, out) != SPW_OK) {
            snprintf(why, wn, "out of memory for TLS output");
            return SPW__HTTP_TLS_ERROR;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return SPW__HTTP_TLS_OK;
        return fail_why(t, k, why, wn);
    }
}

int spw__http_tls_send(spw__http_tls *t, const uint8_t *p, size_t n, spw_buf *out, char *why, size_t wn) {
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        ERR_clear_error();
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0)
            return fail_why(t, w, why, wn);
        p += w;
        n -= (size_t)w;
    }
    return drain(t, out) == SPW_OK ? SPW__HTTP_TLS_OK : SPW__HTTP_TLS_ERROR;
}

bool spw__http_tls_ready(const spw__http_tls *t) { return SSL_is_init_finished(t->ssl) == 1; }

bool spw__http_tls_h2(const spw__http_tls *t) {
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}
