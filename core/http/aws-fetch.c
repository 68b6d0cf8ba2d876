/*
 * core/http/aws-fetch.c: reading credentials from the remote sources, as
 * auxiliary requests of the client that claimed the fetch
 * (spw_http_send with an absolute URL on another origin,
 * SPW_HTTP_NO_AUTH | SPW_HTTP_NO_HEALTH | SPW_HTTP_NO_COMPRESS: they carry
 * no signature, say nothing about the destination's health and are never
 * gzipped). Each source is a short sequence of requests:
 *
 *   - web identity: POST to STS (the regional endpoint, or
 *     AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL), unsigned, the form
 *     Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=..
 *     &RoleSessionName=..&WebIdentityToken=.. with the token read from its
 *     file at every fetch (the files are rotated); the XML answer's
 *     Credentials, or its ErrorResponse's code and message
 *     (docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html);
 *   - the container endpoint: GET the URL with the authorization token
 *     (read from its file at every fetch) as the Authorization header; a
 *     JSON answer (docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html);
 *   - IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
 *     (the session token is kept for its TTL), GET
 *     /latest/meta-data/iam/security-credentials/ for the role's name, GET
 *     .../ROLE for the JSON credentials, both with X-aws-ec2-metadata-token;
 *     a 401 (the token expired) gets one new token
 *     (docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html).
 *
 * Timeouts follow the SDKs' spirit: 1 s per IMDS request, 2 s for the
 * container endpoint, 5 s for STS. Error texts say which source and what
 * went wrong, never a token, a key or a body that may hold one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "http-private.h"
#include "aws-private.h"

#define IMDS_TIMEOUT_MS 1000
#define CONTAINER_TIMEOUT_MS 2000
#define STS_TIMEOUT_MS 5000
#define IMDS_TOKEN_TTL_S 21600

enum { STEP_STS, STEP_CONTAINER, STEP_IMDS_TOKEN, STEP_IMDS_ROLE, STEP_IMDS_CREDS };

struct spw__aws_fetch {
    spw__http_aws *a;
    int step;
    bool token_renewed;        /* IMDS: a new session token was already asked for after a 401 */
    spw_buf body;              /* STS form (holds the web identity token) */
    char *auth;                /* container Authorization value */
    char url[SPW__AWS_URL_MAX + 200];
    char role[132];
    spw_http_header h[2];
    spw__aws_fetched got;
};

void spw__aws_fetch_free(struct spw__aws_fetch *f) {
    if (!f)
        return;
    if (f->body.data)
        OPENSSL_cleanse(f->body.data, f->body.cap);
    spw_buf_free(&f->body);
    spw__aws_wipe_free(f->auth);
    OPENSSL_cleanse(&f->got, sizeof f->got);
    free(f);
}

static void finish(struct spw__aws_fetch *f, bool ok, const char *why, bool aborted) {
    spw__http_aws *a = f->a;
    a->fetch = NULL;
    spw__aws_fetch_done(a, ok ? &f->got : NULL, why, aborted);
    spw__aws_fetch_free(f);
}

static void on_answer(const spw_http_response *resp, void *arg);

static void ask(struct spw__aws_fetch *f, const char *method, const void *body, size_t len,
                 size_t nh, uint64_t tmo) {
    spw_http_request q = {
        .method = method,
        .target = f->url,
        .headers = f->h,
        .n_headers = nh,
        .body = body,
        .body_len = len,
        .timeout_ms = tmo,
        .response_max = SPW__AWS_RESPONSE_MAX,
        .flags = SPW_HTTP_NO_AUTH | SPW_HTTP_NO_HEALTH | SPW_HTTP_NO_COMPRESS,
    };
    spw_err err = {""};
    if (spw_http_send(f->a->s, &q, on_answer, f, &err) != SPW_OK) {
        char why[SPW_ERR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot send to %.200s: %s", f->url, err.msg);
        finish(f, false, why, false);
    }
}

/* ---- web identity --------------------------------------------------------- */

static void sts_start(struct spw__aws_fetch *f) {
    const spw__aws_source *src = &f->a->p->src;
    char *tok;
    size_t n;
    char why[400];
    int r = spw__aws_read_file(src->token_file, SPW__AWS_WEBID_MAX + 16, &tok, &n, why, sizeof why);
    if (r == -1)
        snprintf(why, sizeof why, "the web identity token file %.200s does not exist",
                 src->token_file);
    if (r != 0) {
        finish(f, false, why, false);
        return;
    }
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    if (n < 4 || n > SPW__AWS_WEBID_MAX || !spw__aws_token_ok(tok, SPW__AWS_WEBID_MAX)) {
        snprintf(why, sizeof why,
                 "the web identity token in %.200s is not 4 to %u printable characters without "
                 "spaces",
                 src->token_file, SPW__AWS_WEBID_MAX);
        spw__aws_wipe_free(tok);
        finish(f, false, why, false);
        return;
    }
    char session[72];
    if (src->session_name)
        snprintf(session, sizeof session, "%s", src->session_name);
    else
        snprintf(session, sizeof session, "spillway-%" PRId64, spw_time_unix_ms());
    spw_result rc = spw__aws_sts_form(&f->body, src->role_arn, session, tok);
    spw__aws_wipe_free(tok);
    if (rc != SPW_OK) {
        finish(f, false, "out of memory", false);
        return;
    }
    f->step = STEP_STS;
    snprintf(f->url, sizeof f->url, "%s", src->sts_url);
    f->h[0] = (spw_http_header){"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"};
    ask(f, "POST", f->body.data, f->body.len, 1, STS_TIMEOUT_MS);
}

static void sts_answer(struct spw__aws_fetch *f, const spw_http_response *resp) {
    char why[700], w[400];
    const char *body = (const char *)resp->body;
    if (resp->status == 200) {
        if (spw__aws_sts_creds(body, resp->body_len, &f->got, w, sizeof w) == 0) {
            finish(f, true, NULL, false);
            return;
        }
        snprintf(why, sizeof why, "STS %.200s: %.400s", f->url, w);
    } else if (spw__aws_sts_error(body, resp->body_len, w, sizeof w)) {
        snprintf(why, sizeof why, "STS %.200s answered HTTP %d, %.400s", f->url, resp->status, w);
    } else {
        snprintf(why, sizeof why, "STS %.200s answered HTTP %d", f->url, resp->status);
    }
    finish(f, false, why, false);
}

/* ---- container endpoint ------------------------------------------------------ */

static void container_start(struct spw__aws_fetch *f) {
    const spw__aws_source *src = &f->a->p->src;
    char why[400];
    size_t nh = 0;
    if (src->auth_token_file) {
        size_t n;
        int r = spw__aws_read_file(src->auth_token_file, SPW__AWS_AUTH_TOKEN_MAX, &f->auth, &n, why,
                                   sizeof why);
        if (r == -1)
            snprintf(why, sizeof why, "the container authorization token file %.200s does not exist",
                     src->auth_token_file);
        if (r != 0) {
            finish(f, false, why, false);
            return;
        }
    } else if (src->auth_token) {
        f->auth = strdup(src->auth_token);
        if (!f->auth) {
            finish(f, false, "out of memory", false);
            return;
        }
    }
    if (f->auth) {
        /* The SDKs refuse a token with a line break; any other control character would break the
         * header as surely. */
        for (const char *p = f->auth; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                snprintf(why, sizeof why,
                         "the container authorization token%s%.200s holds a line break or control "
                         "character",
                         src->auth_token_file ? " in " : "",
                         src->auth_token_file ? src->auth_token_file : "");
                finish(f, false, why, false);
                return;
            }
        if (!*f->auth) {
            finish(f, false, "the container authorization token is empty", false);
            return;
        }
        f->h[nh++] = (spw_http_header){"Authorization", f->auth};
    }
    f->step = STEP_CONTAINER;
    snprintf(f->url, sizeof f->url, "%s", src->url);
    ask(f, "GET", NULL, 0, nh, CONTAINER_TIMEOUT_MS);
}

static void json_answer(struct spw__aws_fetch *f, const spw_http_response *resp, const char *who) {
    char why[600], w[300];
    if (resp->status == 200 &&
        spw__aws_json_creds((const char *)resp->body, resp->body_len, &f->got, w, sizeof w) == 0) {
        finish(f, true, NULL, false);
        return;
    }
    if (resp->status == 200)
        snprintf(why, sizeof why, "%s %.200s: %s", who, f->url, w);
    else
        snprintf(why, sizeof why, "%s %.200s answered HTTP %d", who, f->url, resp->status);
    finish(f, false, why, false);
}

/* ---- IMDSv2 ------------------------------------------------------------------- */

static void imds_step(struct spw__aws_fetch *f, int step) {
    spw__aws_provider *p = f->a->p;
    const char *base = p->src.imds_url;
    if (step != STEP_IMDS_TOKEN && (!p->imds_token[0] || spw_time_mono_ms() >= p->imds_token_until))
        step = STEP_IMDS_TOKEN;
    f->step = step;
    if (step == STEP_IMDS_TOKEN) {
        snprintf(f->url, sizeof f->url, "%s/latest/api/token", base);
        f->h[0] = (spw_http_header){"X-aws-ec2-metadata-token-ttl-seconds", "21600"};
        ask(f, "PUT", "", 0, 1, IMDS_TIMEOUT_MS);
        return;
    }
    if (step == STEP_IMDS_ROLE)
        snprintf(f->url, sizeof f->url, "%s/latest/meta-data/iam/security-credentials/", base);
    else
        snprintf(f->url, sizeof f->url, "%s/latest/meta-data/iam/security-credentials/%s", base,
                 f->role);
    f->h[0] = (spw_http_header){"X-aws-ec2-metadata-token", p->imds_token};
    ask(f, "GET", NULL, 0, 1, IMDS_TIMEOUT_MS);
}

static bool role_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("_+=,.@-", c);
}

static void imds_answer(struct spw__aws_fetch *f, const spw_http_response *resp) {
    spw__aws_provider *p = f->a->p;
    char why[600];
    const char *b = (const char *)resp->body;
    size_t n = resp->body_len;
    if (f->step == STEP_IMDS_TOKEN) {
        if (resp->status != 200) {
            snprintf(why, sizeof why, "IMDS %.200s answered HTTP %d%s", f->url, resp->status,
                     resp->status == 403 ? " (IMDS is off on this instance, or the request went "
                                           "through a proxy)"
                                         : "");
            finish(f, false, why, false);
            return;
        }
        if (n == 0 || n > SPW__AWS_IMDS_TOKEN_MAX) {
            snprintf(why, sizeof why, "IMDS %.200s: a session token of %zu bytes (1 to %u expected)",
                     f->url, n, SPW__AWS_IMDS_TOKEN_MAX);
            finish(f, false, why, false);
            return;
        }
        memcpy(p->imds_token, b, n);
        p->imds_token[n] = '\0';
        if (!spw__aws_token_ok(p->imds_token, SPW__AWS_IMDS_TOKEN_MAX)) {
            OPENSSL_cleanse(p->imds_token, sizeof p->imds_token);
            snprintf(why, sizeof why, "IMDS %.200s: the session token holds spaces or control "
                     "characters", f->url);
            finish(f, false, why, false);
            return;
        }
        uint64_t ttl = IMDS_TOKEN_TTL_S;
        const char *t = spw_http_response_header(resp, "X-aws-ec2-metadata-token-ttl-seconds");
        if (t) {
            char *e;
            unsigned long long v = strtoull(t, &e, 10);
            if (*t && !*e && v > 0 && v < ttl)
                ttl = v;
        }
        /* Renewed a little before IMDS forgets it. */
        p->imds_token_until = spw_time_mono_ms() + (ttl > 120 ? ttl - 60 : ttl / 2) * 1000;
        imds_step(f, f->role[0] ? STEP_IMDS_CREDS : STEP_IMDS_ROLE);
        return;
    }
    if (resp->status == 401 && !f->token_renewed) {
        /* The session token expired or IMDS restarted: one new token. */
        f->token_renewed = true;
        OPENSSL_cleanse(p->imds_token, sizeof p->imds_token);
        imds_step(f, STEP_IMDS_TOKEN);
        return;
    }
    if (f->step == STEP_IMDS_ROLE) {
        if (resp->status == 200) {
            size_t l = 0;
            while (l < n && b[l] != '\n' && b[l] != '\r')
                l++;
            bool ok = l > 0 && l < sizeof f->role;
            for (size_t i = 0; ok && i < l; i++)
                ok = role_char(b[i]);
            if (ok) {
                memcpy(f->role, b, l);
                f->role[l] = '\0';
                imds_step(f, STEP_IMDS_CREDS);
                return;
            }
            snprintf(why, sizeof why, "IMDS %.200s: the answer is not an IAM role name", f->url);
        } else {
            snprintf(why, sizeof why, "IMDS %.200s answered HTTP %d%s", f->url, resp->status,
                     resp->status == 404 ? " (no IAM role is attached to this instance)" : "");
        }
        finish(f, false, why, false);
        return;
    }
    json_answer(f, resp, "IMDS");
}

/* ---- the sequence ------------------------------------------------------------- */

static void on_answer(const spw_http_response *resp, void *arg) {
    struct spw__aws_fetch *f = arg;
    if (resp->error == SPW_HTTP_ERR_CANCELLED || f->a->closing) {
        finish(f, false, NULL, true);
        return;
    }
    if (resp->error != SPW_HTTP_OK) {
        char why[SPW_ERR_MSG_MAX + 300];
        snprintf(why, sizeof why, "%s %.200s: %s",
                 f->step == STEP_STS         ? "STS"
                 : f->step == STEP_CONTAINER ? "the container endpoint"
                                             : "IMDS",
                 f->url, resp->error_text ? resp->error_text : spw_http_error_name(resp->error));
        finish(f, false, why, false);
        return;
    }
    if (f->step == STEP_STS)
        sts_answer(f, resp);
    else if (f->step == STEP_CONTAINER)
        json_answer(f, resp, "the container endpoint");
    else
        imds_answer(f, resp);
}

void spw__aws_fetch_start(spw__http_aws *a) {
    struct spw__aws_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        spw__aws_fetch_done(a, NULL, "out of memory", false);
        return;
    }
    f->a = a;
    a->fetch = f;
    switch (a->p->src.kind) {
    case SPW__AWS_WEBID:
        sts_start(f);
        break;
    case SPW__AWS_CONTAINER:
        container_start(f);
        break;
    default:
        imds_step(f, STEP_IMDS_ROLE);
        break;
    }
}
