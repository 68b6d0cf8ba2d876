/*
 * core/http/aws-private.h: the AWS credential provider chain behind
 * auth = aws-sigv4, shared by its files:
 *
 *   aws-parse.c     pure parsers and arithmetic (no loop, no curl, no
 *                   environment): shared config/credentials files, the
 *                   STS XML answer, the container/IMDS JSON answer,
 *                   ISO 8601 times, when to refresh, retry delays, the
 *                   container URL rules, the STS endpoint and form;
 *   auth.c          the chain: which source applies, from the options,
 *                   the environment and the files (environment read
 *                   through a function, so unit tests can give their own);
 *   aws-provider.c  one provider per distinct source per process, its
 *                   refcounted credential snapshots, refresh scheduling,
 *                   and a client's side: the gate every signed request
 *                   passes, waiting for credentials;
 *   aws-fetch.c     the remote sources: STS AssumeRoleWithWebIdentity,
 *                   the container endpoint, IMDSv2, as auxiliary requests
 *                   of the fetching client.
 *
 * Secrets (keys, session tokens, web identity tokens, container and IMDS
 * tokens) never reach a log line or an error text; a value longer than
 * its bound is an error, never cut.
 */
#ifndef SPW_CORE_HTTP_AWS_PRIVATE_H
#define SPW_CORE_HTTP_AWS_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <uv.h>
#include <spillway/spillway.h>
#include "backoff.h"

struct spw_http_conf;

/* Bounds. */
#define SPW__AWS_KEY_MAX 128          /* access key id, secret access key */
#define SPW__AWS_TOKEN_MAX 16384      /* session token (AWS fixes no size; real ones are ~1-2 KB) */
#define SPW__AWS_WEBID_MAX 20000      /* STS: WebIdentityToken is 4 to 20000 characters */
#define SPW__AWS_AUTH_TOKEN_MAX 16384 /* container Authorization value */
#define SPW__AWS_IMDS_TOKEN_MAX 1024  /* IMDSv2 session token */
#define SPW__AWS_FILE_MAX (1u << 20)  /* a shared config or credentials file */
#define SPW__AWS_VALUE_MAX 4096       /* any other profile value (ARNs, paths, names) */
#define SPW__AWS_URL_MAX 2048
#define SPW__AWS_RESPONSE_MAX (64u << 10)

/* ---------------------------------------------------------------------- */
/* aws-parse.c                                                             */
/* ---------------------------------------------------------------------- */

/* What a profile says about credentials (each field NULL when absent; owned, wiped on free). */
typedef struct spw__aws_profile {
    bool found;                 /* the profile's section exists */
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token;
    char *role_arn;
    char *web_identity_token_file;
    char *role_session_name;
    /* Ways of getting credentials this implementation does not have, named in its error. */
    char *source_profile;
    char *credential_source;
    char *credential_process;
    char *sso_session;
    char *sso_start_url;
} spw__aws_profile;

/*
 * Merges the properties of profile `name` found in text[0..n) into *p
 * (a later value replaces an earlier one). config: the shared config file
 * ("[default]" or "[profile NAME]"; "[NAME]" alone is another kind of
 * section there), else the credentials file ("[NAME]"). 0, or -1 with why
 * ("line N: ...", never a value) on a malformed file or a value over its
 * bound.
 */
int spw__aws_ini_profile(const char *text, size_t n, bool config, const char *name,
                         spw__aws_profile *p, char *why, size_t wn);
void spw__aws_profile_free(spw__aws_profile *p);

/* One element whose text the XML extractor returns. */
typedef struct spw__aws_xml_field {
    const char *path; /* element names from the root, '/'-separated */
    char *out;        /* its text, entities decoded, trimmed, NUL-terminated */
    size_t cap;       /* out's size: longer text is an error */
    bool found;
} spw__aws_xml_field;

/*
 * A small strict XML reader for AWS Query answers: one root element, an
 * optional XML declaration, comments; no DOCTYPE, CDATA or processing
 * instruction; the five predefined entities and character references;
 * at most 32 levels. Fills the fields it meets; an element asked for that
 * has child elements or appears twice is an error. 0, or -1 with why.
 */
int spw__aws_xml_extract(const char *xml, size_t n, spw__aws_xml_field *f, size_t nf, char *why,
                         size_t wn);

/* Credentials as a remote source answered them. */
typedef struct spw__aws_fetched {
    char access_key_id[SPW__AWS_KEY_MAX + 1];
    char secret_access_key[SPW__AWS_KEY_MAX + 1];
    char session_token[SPW__AWS_TOKEN_MAX + 1]; /* "" when none */
    char expiration[64];                        /* as sent, for the log */
    int64_t expires_ms;                         /* Unix ms; 0: does not expire */
} spw__aws_fetched;

/*
 * The JSON answer of the container endpoint or IMDS (AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS's Code must be "Success").
 * 0, or -1 with why.
 */
int spw__aws_json_creds(const char *body, size_t n, spw__aws_fetched *out, char *why, size_t wn);

/* The STS AssumeRoleWithWebIdentity answer (200): 0, or -1 with why. */
int spw__aws_sts_creds(const char *body, size_t n, spw__aws_fetched *out, char *why, size_t wn);
/* An STS ErrorResponse: "Code: Message" (printable, bounded) into out; false when not one. */
bool spw__aws_sts_error(const char *body, size_t n, char *out, size_t on);

/* True when v is 1..max printable ASCII characters without spaces (a key, token, header value). */
bool spw__aws_token_ok(const char *v, size_t max);

/* ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" to Unix ms. */
bool spw__aws_parse_time(const char *s, int64_t *unix_ms);

/*
 * When credentials fetched at now_ms that expire at exp_ms are refreshed
 * and until when they sign: lead = min(5 min, lifetime / 2), refresh at
 * exp - lead - jitter (jitter = draw mod (lead / 5 + 1)), at least 1 s
 * from now; they sign until exp - min(1 min, lifetime / 10). exp_ms 0:
 * never refreshed, sign forever. False when already expired.
 */
bool spw__aws_schedule(int64_t now_ms, int64_t exp_ms, uint64_t draw, int64_t *refresh_ms,
                       int64_t *usable_ms);

/* Delay before the next attempt after `failures` consecutive failed ones (>= 1): half of
 * min(10 s, 500 ms * 2^(failures-1)) plus a random part of the other half. */
uint64_t spw__aws_retry_delay(unsigned failures, uint64_t draw);

/*
 * The container credentials URL: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * (`relative`, wins) on http://169.254.170.2, else ..._FULL_URI (`full`):
 * any https URL, or http to a loopback host (127.0.0.0/8, [::1],
 * localhost) or the ECS/EKS agents (169.254.170.2, 169.254.170.23,
 * [fd00:ec2::23]). 1 with url set, 0 when neither is set, -1 refused.
 */
int spw__aws_container_url(const char *relative, const char *full, char *url, size_t cap, char *why,
                           size_t wn);

/*
 * The STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL (both
 * ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), else
 * https://sts.REGION.amazonaws.com (.com.cn for cn- regions). Values are
 * the environment's, NULL when unset. 0, or -1 with why.
 */
int spw__aws_sts_url(const char *region, const char *ignore, const char *url_sts, const char *url_all,
                     char *url, size_t cap, char *why, size_t wn);

/* The IMDS base URL (scheme://authority, no '/'): AWS_EC2_METADATA_SERVICE_ENDPOINT, else by
 * AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv4: 169.254.169.254, IPv6: [fd00:ec2::254]). */
int spw__aws_imds_url(const char *endpoint, const char *mode, char *url, size_t cap, char *why,
                      size_t wn);

/* The AssumeRoleWithWebIdentity form body (application/x-www-form-urlencoded). */
spw_result spw__aws_sts_form(spw_buf *out, const char *role_arn, const char *session,
                             const char *token);

/* True when s is a role session name STS accepts: 2-64 of [A-Za-z0-9_+=,.@-]. */
bool spw__aws_session_name_ok(const char *s);

/* Reads a whole file of at most max bytes into a NUL-terminated buffer (owned by caller, wipe
 * before free). 0; -1 missing (errno ENOENT); -2 other error or too large (why). */
int spw__aws_read_file(const char *path, size_t max, char **out, size_t *len, char *why, size_t wn);
/* Wipes then frees a NUL-terminated string (NULL is a no-op). */
void spw__aws_wipe_free(char *s);

/* ---------------------------------------------------------------------- */
/* auth.c: the chain                                                       */
/* ---------------------------------------------------------------------- */

enum spw__aws_kind { SPW__AWS_STATIC = 1, SPW__AWS_WEBID, SPW__AWS_CONTAINER, SPW__AWS_IMDS };

/* Where credentials come from, once the chain is resolved. Strings owned (wiped on free). */
typedef struct spw__aws_source {
    int kind;
    char desc[320];  /* for the log: where, never a secret */
    /* SPW__AWS_STATIC */
    char *access_key_id, *secret_access_key, *session_token;
    /* SPW__AWS_WEBID */
    char *role_arn, *token_file, *session_name, *sts_url;
    /* SPW__AWS_CONTAINER */
    char *url, *auth_token, *auth_token_file;
    /* SPW__AWS_IMDS */
    char *imds_url;
} spw__aws_source;

typedef const char *(*spw__aws_getenv_fn)(void *arg, const char *name);

/*
 * Resolves the chain for cf with the environment env(arg, NAME): options,
 * environment keys, web identity from the environment, the profile of the
 * config and credentials files, the container endpoint, IMDSv2. A
 * configuration error (partial keys, an unusable profile, a refused URL,
 * nothing at all with IMDS disabled) fails with SPW_ERR_CONFIG.
 */
spw_result spw__aws_resolve(const struct spw_http_conf *cf, spw__aws_getenv_fn env, void *arg,
                            spw__aws_source *src, spw_err *err);
void spw__aws_source_free(spw__aws_source *src);
/* The key under which clients share a provider for src (owned by caller; NULL: do not share). */
char *spw__aws_source_key(const spw__aws_source *src);

/* ---------------------------------------------------------------------- */
/* aws-provider.c                                                          */
/* ---------------------------------------------------------------------- */

/* Immutable once published; readers hold a reference. */
typedef struct spw__aws_snap {
    atomic_uint refs;
    int64_t expires_ms; /* Unix ms; 0: never */
    int64_t refresh_ms; /* a refresh is due from then; 0: never */
    int64_t usable_ms;  /* signs until then; 0: forever */
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL when none */
    char mem[];                /* the three strings */
} spw__aws_snap;

/* Releases a reference (the last one wipes and frees it). NULL is a no-op. */
void spw__aws_snap_release(spw__aws_snap *c);

/*
 * One per distinct source per process (static sources: one per client),
 * shared by every client that resolved to it. Everything below `mu` is
 * under it, except what the one fetching client owns while `fetching`.
 */
typedef struct spw__aws_provider {
    struct spw__aws_provider *next; /* the registry (its own lock) */
    unsigned users;                 /* clients (registry lock) */
    char *key;                      /* NULL: private to one client */
    spw__aws_source src;            /* immutable */
    pthread_mutex_t mu;
    atomic_uint gen;                /* bumped whenever snap changes: readers compare without mu */
    spw__aws_snap *snap;            /* current credentials, NULL before the first */
    bool fetching;                  /* one fetch at a time, process-wide */
    unsigned failures;              /* consecutive failed attempts */
    uint64_t results;               /* attempts finished, success or not */
    uint64_t next_attempt;          /* monotonic ms: no attempt before */
    char last_error[600];
    struct spw__http_aws *subs;     /* clients to wake when a fetch ends */
    uint64_t logged_at;             /* monotonic ms of the last failure logged */
    unsigned suppressed;            /* failures not logged since */
    spw__rng rng;
    /* The fetching client's: IMDS session token, cached across attempts. */
    char imds_token[SPW__AWS_IMDS_TOKEN_MAX + 1];
    uint64_t imds_token_until;      /* monotonic ms */
} spw__aws_provider;

/* A request waiting for credentials. */
typedef struct spw__aws_waiter {
    struct spw__http_req *r;
    uint64_t since;     /* uv_now when it started waiting */
    uint64_t tmo;       /* its whole timeout */
    uint64_t results;   /* the provider's results then */
    struct spw__aws_waiter *next;
} spw__aws_waiter;

/* A client's side (struct spw_http's `aws`), used on its thread only. */
typedef struct spw__http_aws {
    spw_http *s;
    spw__aws_provider *p;
    spw__aws_snap *snap;            /* held reference: what this client signs with */
    unsigned gen;                   /* p->gen when snap was taken */
    uint64_t recheck;               /* monotonic ms: before it, a due refresh is not re-examined */
    struct spw__http_aws *next_sub; /* p->subs */
    uv_async_t wake;                /* a fetch ended (any thread), or this client must fetch */
    uv_timer_t timer;               /* waiting requests' deadlines */
    unsigned handles;               /* open ones */
    bool subscribed;
    bool closing;
    bool must_fetch;                /* this client claimed the next fetch */
    spw__aws_waiter *waiters, *waiters_tail;
    struct spw__aws_fetch *fetch;   /* aws-fetch.c, while this client fetches */
} spw__http_aws;

/* aws-provider.c, for aws-fetch.c: the outcome of the client's fetch. got on success; else why
 * (no secret); aborted: the client closed under it (not an attempt that counts). */
void spw__aws_fetch_done(spw__http_aws *a, const spw__aws_fetched *got, const char *why,
                         bool aborted);

/* aws-fetch.c */
/* Starts a's fetch for a->p (a->p->fetching is a's); the outcome always reaches
 * spw__aws_fetch_done, on a later loop turn or, if nothing could start, from here. */
void spw__aws_fetch_start(spw__http_aws *a);
/* Releases a finished fetch's state. */
void spw__aws_fetch_free(struct spw__aws_fetch *f);

#endif /* SPW_CORE_HTTP_AWS_PRIVATE_H */
