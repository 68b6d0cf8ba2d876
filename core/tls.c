/*
 * core/tls.c: the SDK's TLS over memory (spillway/tls.h): OpenSSL driven
 * through two memory BIOs per session, so that the caller keeps all
 * socket I/O.
 *
 * Ciphertext fed in is written into the session's read BIO (the one copy
 * on the way in); SSL_read_ex decrypts from there straight into the
 * caller's memory. SSL_write_ex encrypts into the write BIO, which is
 * drained into the caller's `out` buffer after every call that may have
 * filled it (the one copy on the way out). An empty read BIO means "more
 * to come", never end of file: the end of the TCP stream is the caller's
 * to see.
 *
 * Every context: no renegotiation, no compression, buffers released while
 * a connection is idle (servers hold thousands of connections). Servers
 * also prefer their own cipher order and never resume (no session cache,
 * no tickets): the connections they serve live for hours, and resumption
 * would only add state. A context is reference-counted so that sessions
 * may outlive the plugin's handle on it; OpenSSL counts its own SSL_CTX
 * references, ours covers the ALPN list the server callback reads.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spillway/tls.h>

/* Longest ALPN list accepted, in wire format (a few protocols in practice). */
#define ALPN_MAX 256

struct spw_tls_ctx {
    SSL_CTX *ssl;
    atomic_uint refs;
    spw_tls_role role;
    bool verify;                   /* client: check the server's chain and name */
    unsigned char alpn[ALPN_MAX];  /* wire format: client offer / server preference */
    size_t alpn_len;
};

struct spw_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    spw_tls_ctx *ctx;
    bool established; /* the handshake completed (OpenSSL forgets it once a session fails) */
    bool failed;      /* a call failed: the session is unusable */
    bool peer_closed; /* close_notify received */
    bool shut;        /* close_notify sent */
};

/* ---------------------------------------------------------------------- */
/* Error texts                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Empties this thread's OpenSSL error queue: before a call (SSL_get_error
 * must not see what another OpenSSL user, libcurl, left there) and after a
 * failure. Looking first costs a quarter of clearing an empty queue, and
 * this runs on every read and write.
 */
static void clear_errors(void) {
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* The most telling queued OpenSSL error as text; the queue is emptied. */
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
    clear_errors();
    return buf;
}

/*
 * Why a file of the options could not be used: the first queued error is
 * the cause ("bad decrypt"), the later ones only say who noticed ("PEM
 * lib"). "<label> <path>: <reason>"; the queue is emptied.
 */
static spw_result file_error(spw_err *err, const char *label, const char *path) {
    char why[256];
    unsigned long e = ERR_peek_error();
    if (e == 0) {
        snprintf(why, sizeof why, "unusable");
    } else if (ERR_SYSTEM_ERROR(e)) {
        snprintf(why, sizeof why, "%s", strerror(ERR_GET_REASON(e)));
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(why, sizeof why, "%s%s", r,
                     strcmp(r, "bad decrypt") == 0 ? " (wrong pass phrase?)" : "");
        else
            ERR_error_string_n(e, why, sizeof why);
    }
    clear_errors();
    return spw_err_set(err, SPW_ERR_CONFIG, "%s %s: %s", label, path, why);
}

static const char *or(const char *label, const char *dflt) {
    return label && *label ? label : dflt;
}

static bool set(const char *s) { return s && *s; }

/* ---------------------------------------------------------------------- */
/* Contexts                                                                */
/* ---------------------------------------------------------------------- */

/* Turns "h2,http/1.1" into ALPN's wire format (length-prefixed names). */
static spw_result alpn_wire(const char *list, unsigned char *out, size_t *len, spw_err *err) {
    size_t o = 0;
    *len = 0;
    if (!set(list))
        return SPW_OK;
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n > 255)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "ALPN list \"%s\": every protocol name must be 1 to 255 bytes",
                               list);
        if (o + 1 + n > ALPN_MAX)
            return spw_err_set(err, SPW_ERR_INVAL, "ALPN list \"%s\" is longer than %d bytes", list,
                               ALPN_MAX);
        out[o++] = (unsigned char)n;
        memcpy(out + o, p, n);
        o += n;
        if (!e)
            break;
        p = e + 1;
    }
    *len = o;
    return SPW_OK;
}

/* The pass phrase callback: the key's pass phrase, or nothing (never a prompt). */
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

/* A server picks the first of its protocols the client offers. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    const spw_tls_ctx *c = arg;
    unsigned char *sel = NULL;
    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int proto_version(spw_tls_version v) {
    switch (v) {
    case SPW_TLS_1_3:
        return TLS1_3_VERSION;
    case SPW_TLS_1_0:
        return TLS1_VERSION;
    case SPW_TLS_1_1:
        return TLS1_1_VERSION;
    default:
        return TLS1_2_VERSION;
    }
}

static spw_result load_trust(spw_tls_ctx *c, const spw_tls_options *o, spw_err *err) {
    SSL_CTX *ctx = c->ssl;
    if (set(o->ca_file) && SSL_CTX_load_verify_file(ctx, o->ca_file) != 1)
        return file_error(err, or(o->ca_file_label, "CA file"), o->ca_file);
    if (set(o->ca_path) && SSL_CTX_load_verify_dir(ctx, o->ca_path) != 1)
        return file_error(err, or(o->ca_path_label, "CA directory"), o->ca_path);
    if (c->role == SPW_TLS_CLIENT) {
        if (c->verify && !set(o->ca_file) && !set(o->ca_path) &&
            SSL_CTX_set_default_verify_paths(ctx) != 1) {
            char why[256];
            return spw_err_set(err, SPW_ERR_CONFIG, "cannot load the system's CA certificates: %s",
                               ssl_reason(why, sizeof why));
        }
        SSL_CTX_set_verify(ctx, c->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        return SPW_OK;
    }
    if (!o->require_client_cert)
        return SPW_OK;
    if (!set(o->ca_file) && !set(o->ca_path))
        return spw_err_set(
            err, SPW_ERR_CONFIG,
            "requiring client certificates needs CA certificates to verify them with");
    if (set(o->ca_file)) {
        /* Tells clients which issuers are accepted; optional, so a failure is ignored. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        clear_errors();
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return SPW_OK;
}

static spw_result load_identity(spw_tls_ctx *c, const spw_tls_options *o, spw_err *err) {
    SSL_CTX *ctx = c->ssl;
    const char *cert_label = or(o->cert_file_label, "certificate");
    const char *key_label = or(o->key_file_label, "private key");
    if (!set(o->cert_file)) {
        if (c->role == SPW_TLS_SERVER)
            return spw_err_set(err, SPW_ERR_CONFIG, "a TLS server needs its %s", cert_label);
        if (set(o->key_file))
            return spw_err_set(err, SPW_ERR_CONFIG, "%s is set without %s", key_label, cert_label);
        return SPW_OK;
    }
    const char *key = set(o->key_file) ? o->key_file : o->cert_file;
    /* The pass phrase is lent to OpenSSL for this call only; never kept. */
    SSL_CTX_set_default_passwd_cb(ctx, key_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)(uintptr_t)o->key_password);
    spw_result r = SPW_OK;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
        r = file_error(err, cert_label, o->cert_file);
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        r = file_error(err, key_label, key);
    else if (SSL_CTX_check_private_key(ctx) != 1) {
        clear_errors();
        r = spw_err_set(err, SPW_ERR_CONFIG, "%s %s does not match %s %s", key_label, key,
                        cert_label, o->cert_file);
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return r;
}

spw_result spw_tls_ctx_new(const spw_tls_options *o, spw_tls_ctx **out, spw_err *err) {
    char why[256];
    spw_result r;

    *out = NULL;
    if (o->role != SPW_TLS_CLIENT && o->role != SPW_TLS_SERVER)
        return spw_err_set(err, SPW_ERR_CONFIG, "unknown TLS role %d", (int)o->role);
    spw_tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for a TLS context");
    atomic_init(&c->refs, 1);
    c->role = o->role;
    c->verify = o->role == SPW_TLS_CLIENT && !o->no_verify;
    r = alpn_wire(o->alpn, c->alpn, &c->alpn_len, err);
    if (r != SPW_OK) {
        free(c);
        return SPW_ERR_CONFIG;
    }

    clear_errors();
    c->ssl = SSL_CTX_new(o->role == SPW_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        free(c);
        return spw_err_set(err, SPW_ERR_NOMEM, "cannot create a TLS context: %s",
                           ssl_reason(why, sizeof why));
    }
    SSL_CTX *ctx = c->ssl;
    SSL_CTX_set_min_proto_version(ctx, proto_version(o->min_version));
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->role == SPW_TLS_SERVER) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
        if (c->alpn_len)
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c);
    } else if (c->alpn_len && SSL_CTX_set_alpn_protos(ctx, c->alpn, (unsigned)c->alpn_len) != 0) {
        /* 0 is success here, unlike the rest of OpenSSL. */
        r = spw_err_set(err, SPW_ERR_NOMEM, "cannot set the ALPN offer: %s",
                        ssl_reason(why, sizeof why));
        goto fail;
    }
    /* The identity first: a server's client-CA list is read after its own chain. */
    r = load_identity(c, o, err);
    if (r == SPW_OK)
        r = load_trust(c, o, err);
    if (r != SPW_OK)
        goto fail;
    clear_errors();
    *out = c;
    return SPW_OK;
fail:
    clear_errors();
    SSL_CTX_free(ctx);
    free(c);
    return r;
}

void spw_tls_ctx_free(spw_tls_ctx *c) {
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    SSL_CTX_free(c->ssl);
    free(c);
}

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */
/* ---------------------------------------------------------------------- */

/* Remembers that the handshake completed: a later failure is the session's, not the handshake's. */
static void on_info(const SSL *ssl, int where, int ret) {
    (void)ret;
    if (where & SSL_CB_HANDSHAKE_DONE) {
        spw_tls *t = SSL_get_app_data(ssl);
        t->established = true;
    }
}

static spw_result session_setup(spw_tls *t, const char *peer_name, const char *alpn,
                                spw_err *err) {
    spw_tls_ctx *c = t->ctx;
    if (c->role == SPW_TLS_SERVER) {
        if (peer_name || alpn)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "a TLS server session takes no peer name and no ALPN offer");
        SSL_set_accept_state(t->ssl);
        return SPW_OK;
    }
    SSL_set_connect_state(t->ssl);
    if (alpn) {
        unsigned char wire[ALPN_MAX];
        size_t n;
        spw_result r = alpn_wire(alpn, wire, &n, err);
        if (r != SPW_OK)
            return r;
        /* An empty list turns the context's offer off. */
        if (SSL_set_alpn_protos(t->ssl, n ? wire : NULL, (unsigned)n) != 0)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for the ALPN offer");
    }
    if (!set(peer_name))
        return SPW_OK;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, peer_name, ip) == 1 || inet_pton(AF_INET6, peer_name, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(t->ssl, peer_name) != 1)
        return spw_err_set(err, SPW_ERR_INVAL, "\"%s\" cannot be sent as a TLS server name",
                           peer_name);
    if (c->verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), peer_name)
                       : SSL_set1_host(t->ssl, peer_name);
        if (ok != 1)
            return spw_err_set(err, SPW_ERR_INVAL, "\"%s\" cannot be checked as a TLS peer name",
                               peer_name);
    }
    return SPW_OK;
}

spw_result spw_tls_new(spw_tls_ctx *c, const char *peer_name, const char *alpn, spw_tls **out,
                       spw_err *err) {
    *out = NULL;
    spw_tls *t = calloc(1, sizeof *t);
    if (!t)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for a TLS session");
    clear_errors();
    t->ssl = SSL_new(c->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        clear_errors();
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for a TLS session");
    }
    /* An empty read BIO means "more to come", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_app_data(t->ssl, t);
    SSL_set_info_callback(t->ssl, on_info);
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    t->ctx = c;
    spw_result r = session_setup(t, peer_name, alpn, err);
    clear_errors();
    if (r != SPW_OK) {
        spw_tls_free(t);
        return r;
    }
    *out = t;
    return SPW_OK;
}

void spw_tls_free(spw_tls *t) {
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    spw_tls_ctx_free(t->ctx);
    free(t);
}

/* Moves what the session produced into out. */
static spw_result drain(spw_tls *t, spw_buf *out, spw_err *err) {
    size_t pend;
    while ((pend = BIO_ctrl_pending(t->wbio)) > 0) {
        spw_result r = spw_buf_reserve(out, pend);
        if (r != SPW_OK)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for TLS output");
        size_t got = 0;
        if (BIO_read_ex(t->wbio, out->data + out->len, pend, &got) != 1 || got == 0)
            break;
        out->len += got;
    }
    return SPW_OK;
}

/* Why an SSL call failed, as one sentence; the session is marked failed. */
static spw_result failure(spw_tls *t, spw_err *err) {
    char why[256];
    bool hs = !t->established;
    long vr = SSL_get_verify_result(t->ssl);
    t->failed = true;
    if (hs && vr != X509_V_OK) {
        clear_errors();
        return spw_err_set(err, SPW_ERR_INVAL, "TLS handshake failed: %s certificate: %s",
                           t->ctx->role == SPW_TLS_CLIENT ? "server" : "client",
                           X509_verify_cert_error_string(vr));
    }
    return spw_err_set(err, SPW_ERR_INVAL, "TLS %s failed: %s", hs ? "handshake" : "session",
                       ssl_reason(why, sizeof why));
}

/* After an SSL call returned rc <= 0: SPW_OK when it only wants more input. */
static spw_result classify(spw_tls *t, int rc, spw_err *err) {
    switch (SSL_get_error(t->ssl, rc)) {
    /* SSL_get_error reports these only with an empty queue: nothing to clear. */
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* a memory BIO never refuses a write: cannot last */
        return SPW_OK;
    case SSL_ERROR_ZERO_RETURN:
        t->peer_closed = true;
        return SPW_OK;
    default:
        return failure(t, err);
    }
}

static spw_result unusable(spw_err *err) {
    return spw_err_set(err, SPW_ERR_STATE, "TLS session already failed");
}

spw_result spw_tls_start(spw_tls *t, spw_buf *out, spw_err *err) {
    if (t->failed)
        return unusable(err);
    if (t->ctx->role == SPW_TLS_SERVER)
        return SPW_OK;
    clear_errors();
    int rc = SSL_do_handshake(t->ssl);
    spw_result r = rc == 1 ? SPW_OK : classify(t, rc, err);
    spw_result d = drain(t, out, r == SPW_OK ? err : NULL);
    return r != SPW_OK ? r : d;
}

spw_result spw_tls_feed(spw_tls *t, const void *p, size_t n, spw_err *err) {
    const uint8_t *b = p;
    if (t->failed)
        return unusable(err);
    /* A memory BIO takes at most INT_MAX bytes a call; it only fails for want of memory. */
    while (n > 0) {
        size_t put = 0;
        if (BIO_write_ex(t->rbio, b, n, &put) != 1 || put == 0) {
            clear_errors();
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for TLS input");
        }
        b += put;
        n -= put;
    }
    return SPW_OK;
}

spw_result spw_tls_read(spw_tls *t, void *buf, size_t cap, size_t *got, spw_buf *out,
                        spw_err *err) {
    *got = 0;
    if (t->failed)
        return unusable(err);
    if (cap == 0 || t->peer_closed)
        return SPW_OK;
    clear_errors();
    int rc = SSL_read_ex(t->ssl, buf, cap, got);
    spw_result r = rc == 1 ? SPW_OK : classify(t, 0, err);
    /* Handshake flights, alerts, key updates: also when the read failed (an alert is due). */
    spw_result d = drain(t, out, r == SPW_OK ? err : NULL);
    return r != SPW_OK ? r : d;
}

spw_result spw_tls_recv(spw_tls *t, const void *p, size_t n, spw_buf *plain, spw_buf *out,
                        spw_err *err) {
    spw_result r = spw_tls_feed(t, p, n, err);
    while (r == SPW_OK) {
        /* One record's worth of room: a read never yields more. */
        if (spw_buf_reserve(plain, 16384) != SPW_OK)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for TLS input");
        size_t got;
        r = spw_tls_read(t, plain->data + plain->len, plain->cap - plain->len, &got, out, err);
        plain->len += got;
        if (got == 0)
            break;
    }
    return r;
}

spw_result spw_tls_write(spw_tls *t, const void *p, size_t n, spw_buf *out, spw_err *err) {
    if (t->failed)
        return unusable(err);
    if (t->shut)
        return spw_err_set(err, SPW_ERR_STATE, "TLS session already closed by this side");
    if (!t->established)
        return spw_err_set(err, SPW_ERR_STATE,
                           "TLS handshake not complete: nothing can be sent yet");
    if (n == 0)
        return SPW_OK;
    clear_errors();
    size_t done = 0;
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE it is all or nothing, and a memory BIO takes all. */
    if (SSL_write_ex(t->ssl, p, n, &done) != 1) {
        spw_result r = classify(t, 0, err);
        drain(t, out, NULL);
        return r != SPW_OK ? r
                           : spw_err_set(err, SPW_ERR_INVAL, "TLS session failed: write refused");
    }
    return drain(t, out, err);
}

spw_result spw_tls_close_notify(spw_tls *t, spw_buf *out, spw_err *err) {
    if (t->failed || t->shut || !t->established)
        return SPW_OK;
    t->shut = true;
    clear_errors();
    SSL_shutdown(t->ssl); /* 0: sent, the peer's not seen yet; we do not wait for it */
    clear_errors();
    return drain(t, out, err);
}

spw_tls_state spw_tls_get_state(const spw_tls *t) {
    if (t->failed)
        return SPW_TLS_FAILED;
    if (t->peer_closed)
        return SPW_TLS_CLOSED;
    return t->established ? SPW_TLS_OPEN : SPW_TLS_HANDSHAKE;
}

bool spw_tls_ready(const spw_tls *t) {
    spw_tls_state s = spw_tls_get_state(t);
    return s == SPW_TLS_OPEN || s == SPW_TLS_CLOSED;
}

/* Copies p[0..n) into buf[0..size) as snprintf would; returns n. */
static size_t copy_out(char *buf, size_t size, const void *p, size_t n) {
    if (size > 0) {
        size_t k = n < size ? n : size - 1;
        if (k)
            memcpy(buf, p, k);
        buf[k] = '\0';
    }
    return n;
}

size_t spw_tls_alpn(const spw_tls *t, char *buf, size_t n) {
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    return copy_out(buf, n, p, p ? len : 0);
}

size_t spw_tls_peer_subject(const spw_tls *t, char *buf, size_t n) {
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    if (!cert)
        return copy_out(buf, n, "", 0);
    BIO *m = BIO_new(BIO_s_mem());
    if (!m) {
        clear_errors();
        return copy_out(buf, n, "", 0);
    }
    /* RFC 2253 escapes control and non-ASCII bytes: the line is safe to log. */
    X509_NAME_print_ex(m, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char *p = NULL;
    long len = BIO_get_mem_data(m, &p);
    size_t r = copy_out(buf, n, p, len > 0 && p ? (size_t)len : 0);
    BIO_free(m);
    clear_errors();
    return r;
}
