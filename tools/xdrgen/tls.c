/*
 * tools/xdrgen/tls.c: TLS client sessions over libuv, as XDR connects to a
 * DC node that has a tls-name. OpenSSL never touches the socket: it reads
 * ciphertext from one memory BIO (fed with what libuv read) and writes
 * ciphertext to another (drained into the connection's output buffer), so
 * the connection's event loop, buffering and timeouts stay the same with
 * and without TLS.
 *
 * Verification: the server certificate is checked against --tls-ca (or
 * the system's trust store) and against --tls-name, or the host given in
 * --connect when that is not set; --tls-insecure skips both (tests, labs).
 */
#include "xdrgen.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct xg_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool ready;
};

static void ssl_error(char *err, size_t errlen, const char *what) {
    unsigned long e = ERR_get_error();
    char buf[200] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "TLS: %s%s%s", what, e ? ": " : "", buf);
    ERR_clear_error();
}

void *xg_tls_ctx_new(const struct xg_opts *o, char *err, size_t errlen) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_error(err, errlen, "cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (o->tls_insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int rc = o->tls_ca ? SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx);
        if (rc != 1) {
            ssl_error(err, errlen, o->tls_ca ? "cannot load --tls-ca" : "no system trust store");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (o->tls_cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->tls_key ? o->tls_key : o->tls_cert,
                                        SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            ssl_error(err, errlen, "cannot use --tls-cert/--tls-key");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

void xg_tls_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

struct xg_tls *xg_tls_new(void *ctx, const char *server_name) {
    struct xg_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    if (server_name && *server_name) {
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, server_name, ip) == 1 ||
                     inet_pton(AF_INET6, server_name, ip) == 1;
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name);
        } else {
            SSL_set_tlsext_host_name(t->ssl, server_name);
            SSL_set1_host(t->ssl, server_name);
        }
    }
    return t;
}

void xg_tls_free(struct xg_tls *t) {
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

bool xg_tls_ready(const struct xg_tls *t) { return t->ready; }

/* Moves whatever OpenSSL wrote into out. */
static int drain(struct xg_tls *t, struct xg_bytes *out, char *err, size_t errlen) {
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
        if (!xg_bytes_reserve(out, pending)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int n = BIO_read(t->wbio, out->p + out->len, (int)pending);
        if (n <= 0)
            break;
        out->len += (size_t)n;
    }
    return 0;
}

/* Classifies an SSL call's failure: 0 when it only needs more input. */
static int failed(struct xg_tls *t, int rc, char *err, size_t errlen, const char *what) {
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "TLS: the connector closed the session");
        return -1;
    }
    if (e == SSL_ERROR_SSL && SSL_get_verify_result(t->ssl) != X509_V_OK) {
        snprintf(err, errlen, "TLS: certificate verification failed: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
        ERR_clear_error();
        return -1;
    }
    ssl_error(err, errlen, what);
    return -1;
}

int xg_tls_start(struct xg_tls *t, struct xg_bytes *out, char *err, size_t errlen) {
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1 && failed(t, rc, err, errlen, "handshake failed") < 0)
        return -1;
    t->ready = rc == 1;
    return drain(t, out, err, errlen);
}

int xg_tls_feed(struct xg_tls *t, const uint8_t *in, size_t n, struct xg_bytes *plain,
                struct xg_bytes *out, char *err, size_t errlen) {
    if (n > 0 && BIO_write(t->rbio, in, (int)n) != (int)n) {
        snprintf(err, errlen, "TLS: out of memory");
        return -1;
    }
    if (!t->ready) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc != 1) {
            int f = failed(t, rc, err, errlen, "handshake failed");
            if (f < 0 || drain(t, out, err, errlen) < 0)
                return -1;
            return 0;
        }
        t->ready = true;
    }
    for (;;) {
        if (!xg_bytes_reserve(plain, 16384)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = SSL_read(t->ssl, plain->p + plain->len, 16384);
        if (rc <= 0) {
            if (failed(t, rc, err, errlen, "read failed") < 0)
                return -1;
            break;
        }
        plain->len += (size_t)rc;
    }
    return drain(t, out, err, errlen);
}

int xg_tls_write(struct xg_tls *t, const uint8_t *p, size_t n, struct xg_bytes *out, char *err,
                 size_t errlen) {
    while (n > 0) {
        int chunk = n > (1 << 30) ? (1 << 30) : (int)n;
        int rc = SSL_write(t->ssl, p, chunk);
        if (rc <= 0) {
            /* a memory BIO takes everything; any failure is real */
            failed(t, rc, err, errlen, "write failed");
            return -1;
        }
        p += rc;
        n -= (size_t)rc;
    }
    return drain(t, out, err, errlen);
}
