/*
 * spillway/tls.h: TLS over memory, for plugins that do their own socket
 * I/O on the worker's loop (ABI 1.1).
 *
 * A session never touches a socket. Ciphertext the plugin read is fed in;
 * plaintext comes out into memory the plugin names; whatever the session
 * has to send (handshake flights, encrypted records, alerts, close_notify)
 * is appended to an spw_buf the plugin writes to its socket when and how
 * it likes. So reading, writing, buffering, flow control and timeouts
 * stay the plugin's, the same with TLS as without, and TLS is one
 * transformation between two byte streams. The xdr source (server, with
 * optional client certificates), the HTTP client's native engines and
 * spillway-xdrgen (clients) all use it.
 *
 * A plugin that connects to an HTTP service does not need this: the HTTP
 * client (spillway/http.h) brings its own TLS. This is for a plugin that
 * speaks some other protocol over TCP and wants it encrypted.
 *
 * Rules:
 *   - A context (spw_tls_ctx) is built once, from options, and is read-only
 *     afterwards: sessions on any thread may be made from it. Sessions hold
 *     a reference, so the context may be freed while sessions still live.
 *   - A session (spw_tls) belongs to one connection and is used on one
 *     thread at a time.
 *   - Every call that may produce bytes for the peer appends them to the
 *     `out` buffer it is given (owned by caller), also when it fails (an
 *     alert worth sending before closing). Nothing is ever sent behind the
 *     plugin's back, and nothing is lost if `out` is written later.
 *   - Data is never copied more than OpenSSL's memory BIOs require: once
 *     into the session on the way in, once into `out` on the way out;
 *     plaintext is decrypted straight into the caller's memory.
 *   - Errors are one sentence in *err (which may be NULL): "TLS handshake
 *     failed: server certificate: certificate has expired", "TLS session
 *     failed: ...", or "<label> <path>: <reason>" for a file of the
 *     options. They never carry a secret (the key's pass phrase, key
 *     material, plaintext).
 *   - The OpenSSL error queue of the calling thread is left empty, so that
 *     other OpenSSL users on the same thread (libcurl) are not confused.
 */
#ifndef SPILLWAY_TLS_H
#define SPILLWAY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <spillway/abi.h>
#include <spillway/buf.h>
#include <spillway/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Contexts                                                                */
/* ---------------------------------------------------------------------- */

typedef enum spw_tls_role {
    SPW_TLS_CLIENT = 0, /* connects: verifies the server, offers ALPN, sends SNI */
    SPW_TLS_SERVER = 1, /* accepts: presents a certificate, may require the client's */
} spw_tls_role;

/* The oldest protocol version accepted. Values follow the order of the
 * usual option choices "1.2|1.3|1.0|1.1", so an SPW_OPT_ENUM index maps
 * straight onto them; 0 (the default) is TLS 1.2. */
typedef enum spw_tls_version {
    SPW_TLS_1_2 = 0,
    SPW_TLS_1_3 = 1,
    SPW_TLS_1_0 = 2,
    SPW_TLS_1_1 = 3,
} spw_tls_version;

/*
 * What a context is built from. Zero-initialise it (or use
 * SPW_TLS_OPTIONS_INIT) and set what you need: every field's zero is its
 * default, and fields added in later minor versions take the place of
 * `reserved`, zero meaning what it means today. Every pointer is borrowed
 * for the call to spw_tls_ctx_new only: nothing is kept, the pass phrase
 * included.
 */
typedef struct spw_tls_options {
    spw_tls_role role;
    spw_tls_version min_version;

    /* Trusted CA certificates: a PEM file and/or a hashed directory
     * (c_rehash). Client: what the server's chain must lead to; both NULL
     * loads the system's store. Server: what a client certificate must lead
     * to (needed with require_client_cert); the file's names are also
     * announced to clients as the accepted issuers. */
    const char *ca_file;
    const char *ca_path;

    /* Own certificate chain (PEM, leaf first) and private key (PEM; NULL:
     * in cert_file). Required for a server; a client presents it when the
     * server asks (mutual TLS). key_password unlocks an encrypted key; an
     * encrypted key without it fails at once (it never prompts). */
    const char *cert_file;
    const char *key_file;
    const char *key_password;

    /* Client: do not verify the server's certificate or name. For tests
     * and labs only: anyone on the path can read and change the traffic. */
    bool no_verify;
    /* Server: ask every client for a certificate, refuse the handshake
     * without one, and verify it against ca_file / ca_path. */
    bool require_client_cert;

    /* ALPN as a comma-separated list, most preferred first ("h2,http/1.1").
     * Client: offered by every session unless spw_tls_new names another
     * list. Server: the protocols accepted; the first of them the client
     * also offers is chosen (none in common: the handshake goes on without
     * ALPN). NULL or "": none. */
    const char *alpn;

    /* How error texts name the files above, so that they speak the
     * plugin's option names ("tls_ca_file", "--tls-cert"). NULL: "CA file",
     * "CA directory", "certificate", "private key". */
    const char *ca_file_label;
    const char *ca_path_label;
    const char *cert_file_label;
    const char *key_file_label;

    void *reserved[8]; /* keep zero */
} spw_tls_options;

#define SPW_TLS_OPTIONS_INIT {SPW_TLS_CLIENT, SPW_TLS_1_2, NULL, NULL, NULL, NULL, NULL, false, \
                              false, NULL, NULL, NULL, NULL, NULL, {NULL}}

/* A configured context: certificates, keys and trust loaded once. */
typedef struct spw_tls_ctx spw_tls_ctx;

/*
 * Builds a context from *o (borrowed for the call). Loads every file now,
 * so a plugin's check() can call it to report an unreadable or mismatched
 * file at --check time. *out is owned by caller: release it with
 * spw_tls_ctx_free. Errors: SPW_ERR_CONFIG (a file, a combination, an ALPN
 * list; *err names the file by its label), SPW_ERR_NOMEM.
 */
SPW_API spw_result spw_tls_ctx_new(const spw_tls_options *o, spw_tls_ctx **out, spw_err *err);

/* Drops the caller's reference (transferred); sessions keep theirs. NULL is a no-op. */
SPW_API void spw_tls_ctx_free(spw_tls_ctx *ctx);

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */
/* ---------------------------------------------------------------------- */

/* One connection's TLS state. */
typedef struct spw_tls spw_tls;

/*
 * Makes a session on ctx (borrowed; the session takes its own reference).
 *
 * Client: peer_name (borrowed for the call) is the name the server's
 * certificate must hold, also sent as SNI; an IP address ("127.0.0.1",
 * "::1") is checked as an address and never sent as SNI (RFC 6066). It is
 * checked unless the context has no_verify; NULL checks the chain only and
 * sends no SNI. alpn (borrowed for the call) replaces the context's ALPN
 * offer for this session, in the same format; NULL keeps it.
 * Server: peer_name and alpn must be NULL.
 *
 * *out is owned by caller: release it with spw_tls_free. Errors:
 * SPW_ERR_INVAL (a bad ALPN list or peer name), SPW_ERR_NOMEM.
 */
SPW_API spw_result spw_tls_new(spw_tls_ctx *ctx, const char *peer_name, const char *alpn,
                               spw_tls **out, spw_err *err);

/* Releases the session (transferred); NULL is a no-op. Sends nothing: see spw_tls_close_notify. */
SPW_API void spw_tls_free(spw_tls *t);

/*
 * Starts the handshake. A client's first flight (ClientHello) is appended
 * to out; a server has nothing to say until the client speaks, so for a
 * server this is optional and appends nothing. Errors: SPW_ERR_INVAL (no
 * handshake can start, e.g. nothing left to offer at min_version),
 * SPW_ERR_NOMEM, SPW_ERR_STATE (the session already failed).
 */
SPW_API spw_result spw_tls_start(spw_tls *t, spw_buf *out, spw_err *err);

/*
 * Gives the session ciphertext read from the peer (p borrowed for the
 * call: it is copied). It is decrypted by the next spw_tls_read; nothing
 * else happens now. Use it with spw_tls_read to bound the plaintext taken
 * at a time (flow control); spw_tls_recv does both for a reader that takes
 * everything. Errors: SPW_ERR_NOMEM, SPW_ERR_STATE (the session failed).
 */
SPW_API spw_result spw_tls_feed(spw_tls *t, const void *p, size_t n, spw_err *err);

/*
 * Decrypts into buf[0..cap) (owned by caller) and sets *got to the bytes
 * written, at most one TLS record's worth per call. Runs the handshake
 * while it is not complete; what the session must send is appended to
 * out. SPW_OK with *got == 0: it needs more ciphertext, or the peer closed
 * (spw_tls_state says SPW_TLS_CLOSED). Errors: SPW_ERR_INVAL (the peer
 * broke TLS or was refused: handshake, certificate, record, alert),
 * SPW_ERR_NOMEM, SPW_ERR_STATE (the session already failed). After an
 * error only spw_tls_free remains useful; out may hold an alert.
 */
SPW_API spw_result spw_tls_read(spw_tls *t, void *buf, size_t cap, size_t *got, spw_buf *out,
                                spw_err *err);

/*
 * spw_tls_feed, then spw_tls_read until no plaintext is left: plaintext
 * is appended to plain, bytes to send to out (both owned by caller).
 * Plaintext that arrived before the peer's close_notify or before an
 * error is in plain even when the call fails: it is the peer's last word.
 */
SPW_API spw_result spw_tls_recv(spw_tls *t, const void *p, size_t n, spw_buf *plain, spw_buf *out,
                                spw_err *err);

/*
 * Encrypts p[0..n) (borrowed for the call) and appends the records to
 * out. Only once the handshake is complete (SPW_TLS_OPEN or, as TLS
 * allows, SPW_TLS_CLOSED): SPW_ERR_STATE otherwise, or after
 * spw_tls_close_notify. Errors: SPW_ERR_NOMEM, SPW_ERR_INVAL.
 */
SPW_API spw_result spw_tls_write(spw_tls *t, const void *p, size_t n, spw_buf *out, spw_err *err);

/*
 * Appends a close_notify alert to out: the orderly end of what this side
 * sends (spw_tls_write refuses from now on; reading goes on). Does nothing
 * before the handshake is complete or after a failure, when there is no
 * session to close. Errors: SPW_ERR_NOMEM.
 */
SPW_API spw_result spw_tls_close_notify(spw_tls *t, spw_buf *out, spw_err *err);

typedef enum spw_tls_state {
    SPW_TLS_HANDSHAKE = 0, /* the handshake is under way */
    SPW_TLS_OPEN = 1,      /* the handshake is complete: data flows both ways */
    SPW_TLS_CLOSED = 2,    /* the peer sent close_notify: nothing more will come in */
    SPW_TLS_FAILED = 3,    /* a call failed: only spw_tls_free remains */
} spw_tls_state;

SPW_API spw_tls_state spw_tls_get_state(const spw_tls *t);

/* True once the handshake is complete (SPW_TLS_OPEN or SPW_TLS_CLOSED). */
SPW_API bool spw_tls_ready(const spw_tls *t);

/*
 * The protocol ALPN chose ("h2"), copied NUL-terminated into buf[0..n)
 * (owned by caller; truncated to fit, as snprintf). Returns its full
 * length: 0 when none was chosen (yet).
 */
SPW_API size_t spw_tls_alpn(const spw_tls *t, char *buf, size_t n);

/*
 * The subject of the peer's certificate, for log lines: one line in RFC
 * 2253 form ("CN=xdr-node-1,O=Example"), every byte outside printable
 * ASCII escaped, copied into buf[0..n) (owned by caller) as snprintf
 * would. Returns its full length; 0 (buf "") when the peer presented none.
 */
SPW_API size_t spw_tls_peer_subject(const spw_tls *t, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_TLS_H */
