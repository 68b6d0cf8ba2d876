/*
 * core/http/auth.c: where AWS credentials for SigV4 come from: the
 * provider chain, in the order the AWS SDKs use (the AWS SDKs and Tools
 * Reference Guide, "Standardized credential providers"):
 *
 *   1. the sink's options: aws_access_key_id, aws_secret_access_key
 *      (+ aws_session_token);
 *   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN);
 *   3. web identity from the environment: AWS_WEB_IDENTITY_TOKEN_FILE,
 *      AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), exchanged with STS;
 *   4. the profile (aws_profile, else AWS_PROFILE, else "default") of the
 *      shared config file (aws_config_file, else AWS_CONFIG_FILE, else
 *      ~/.aws/config) and credentials file (aws_credentials_file, else
 *      AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), merged
 *      with the credentials file winning: role_arn with
 *      web_identity_token_file (web identity), else static keys;
 *   5. the container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI, with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   6. IMDSv2, unless AWS_EC2_METADATA_DISABLED is true
 *      (AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._ENDPOINT_MODE).
 *
 * The first source that is configured is the one used, as in the SDKs: a
 * configured source that fails at run time does not fall through to the
 * next. What this file decides once per client is which source; reading
 * remote sources is aws-fetch.c's, sharing and refreshing
 * aws-provider.c's. A configuration the SDKs would refuse (half a key
 * pair, a web identity token file without a role, a profile that was
 * asked for and does not exist, a profile using a way of getting
 * credentials not implemented here) is a configuration error at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http-private.h"
#include "aws-private.h"

static bool set(const char *s) { return s && *s; }

void spw__aws_source_free(spw__aws_source *c) {
    char *v[] = {c->access_key_id, c->secret_access_key, c->session_token, c->role_arn,
                 c->token_file, c->session_name, c->sts_url, c->url, c->auth_token,
                 c->auth_token_file, c->imds_url};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        spw__aws_wipe_free(v[i]);
    memset(c, 0, sizeof *c);
}

char *spw__aws_source_key(const spw__aws_source *c) {
    spw_buf b = SPW_BUF_INIT;
    spw_result rc = SPW_OK;
    /* Everything that makes two sources fetch differently; never a secret (the container's
     * token comes from the environment, the same for every client of the process). */
    switch (c->kind) {
    case SPW__AWS_WEBID:
        rc = spw_buf_printf(&b, "webid\x1f%s\x1f%s\x1f%s\x1f%s", c->role_arn, c->token_file,
                            c->session_name ? c->session_name : "", c->sts_url);
        break;
    case SPW__AWS_CONTAINER:
        rc = spw_buf_printf(&b, "container\x1f%s\x1f%s", c->url,
                            c->auth_token_file ? c->auth_token_file : c->auth_token ? "env" : "");
        break;
    case SPW__AWS_IMDS:
        rc = spw_buf_printf(&b, "imds\x1f%s", c->imds_url);
        break;
    default:
        return NULL; /* static: nothing to share */
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(&b, "", 1);
    if (rc != SPW_OK) {
        spw_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static spw_result nomem(spw__aws_source *src, spw_err *err) {
    spw__aws_source_free(src);
    return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
}

static char *dup_or_null(const char *s) { return set(s) ? strdup(s) : NULL; }

static spw_result set_static(spw__aws_source *src, const char *id, const char *secret,
                             const char *token, const char *where, spw_err *err) {
    if (!spw__aws_token_ok(id, SPW__AWS_KEY_MAX) || !spw__aws_token_ok(secret, SPW__AWS_KEY_MAX) ||
        (set(token) && !spw__aws_token_ok(token, SPW__AWS_TOKEN_MAX)))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "the AWS credentials of %s are too long or hold spaces or control "
                           "characters",
                           where);
    src->kind = SPW__AWS_STATIC;
    src->access_key_id = strdup(id);
    src->secret_access_key = strdup(secret);
    src->session_token = dup_or_null(token);
    if (!src->access_key_id || !src->secret_access_key || (set(token) && !src->session_token))
        return nomem(src, err);
    snprintf(src->desc, sizeof src->desc, "%s", where);
    return SPW_OK;
}

static spw_result set_webid(spw__aws_source *src, const struct spw_http_conf *cf,
                            spw__aws_getenv_fn env, void *arg, const char *token_file,
                            const char *role_arn, const char *session, const char *where,
                            spw_err *err) {
    char url[SPW__AWS_URL_MAX], why[256];
    if (spw__aws_sts_url(cf->aws_region, env(arg, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
                         env(arg, "AWS_ENDPOINT_URL_STS"), env(arg, "AWS_ENDPOINT_URL"), url,
                         sizeof url, why, sizeof why) != 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "web identity (%s): %s", where, why);
    size_t al = strlen(role_arn);
    if (al < 20 || al > 2048 || strncmp(role_arn, "arn:", 4) != 0 ||
        !spw__aws_token_ok(role_arn, 2048))
        return spw_err_set(err, SPW_ERR_CONFIG, "web identity (%s): the role ARN '%.100s' is not "
                           "an ARN", where, role_arn);
    if (set(session) && !spw__aws_session_name_ok(session))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "web identity (%s): the role session name '%.80s' is not 2 to 64 of "
                           "A-Z a-z 0-9 _+=,.@-",
                           where, session);
    src->kind = SPW__AWS_WEBID;
    src->token_file = strdup(token_file);
    src->role_arn = strdup(role_arn);
    src->session_name = dup_or_null(session);
    src->sts_url = strdup(url);
    if (!src->token_file || !src->role_arn || !src->sts_url || (set(session) && !src->session_name))
        return nomem(src, err);
    snprintf(src->desc, sizeof src->desc, "web identity (%s): role %.100s through STS %.100s",
             where, role_arn, url);
    return SPW_OK;
}

/* A file path from the option, else the environment, else ~/.aws/NAME (into buf). */
static const char *file_path(const char *opt, const char *envval, const char *name, char *buf,
                             size_t cap, spw__aws_getenv_fn env, void *arg) {
    if (set(opt))
        return opt;
    if (set(envval))
        return envval;
    const char *home = env(arg, "HOME");
    if (!set(home))
        return NULL;
    snprintf(buf, cap, "%s/.aws/%s", home, name);
    return buf;
}

/* Reads profile `name` from one file; a missing file is none unless `must`. */
static spw_result read_profile(const char *path, bool config, bool must, const char *name,
                               spw__aws_profile *p, spw_err *err) {
    if (!path)
        return SPW_OK;
    char *text;
    size_t n;
    char why[300];
    int r = spw__aws_read_file(path, SPW__AWS_FILE_MAX, &text, &n, why, sizeof why);
    if (r == -1)
        return must ? spw_err_set(err, SPW_ERR_CONFIG, "%s: no such file", path) : SPW_OK;
    if (r < 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s", why);
    r = spw__aws_ini_profile(text, n, config, name, p, why, sizeof why);
    spw__aws_wipe_free(text);
    if (r != 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s: %s", path, why);
    return SPW_OK;
}

/* Step 4: 1 resolved, 0 nothing there, or an error. */
static int from_profile(const struct spw_http_conf *cf, spw__aws_getenv_fn env, void *arg,
                        spw__aws_source *src, spw_err *err) {
    const char *name = set(cf->aws_profile) ? cf->aws_profile : env(arg, "AWS_PROFILE");
    bool explicit = set(name);
    if (!explicit)
        name = "default";
    char b1[1024], b2[1024];
    const char *cfg = file_path(cf->aws_config_file, env(arg, "AWS_CONFIG_FILE"), "config", b1,
                                sizeof b1, env, arg);
    const char *cred = file_path(cf->aws_credentials_file, env(arg, "AWS_SHARED_CREDENTIALS_FILE"),
                                 "credentials", b2, sizeof b2, env, arg);
    spw__aws_profile pc = {0}, pk = {0};
    int out = 0;
    if (read_profile(cfg, true, set(cf->aws_config_file), name, &pc, err) != SPW_OK ||
        read_profile(cred, false, set(cf->aws_credentials_file), name, &pk, err) != SPW_OK) {
        out = -1;
        goto done;
    }
    /* Merged, the credentials file's values winning (the Reference Guide's rule). */
#define PICK(f) (pk.f ? pk.f : pc.f)
    const char *akid = PICK(aws_access_key_id), *secret = PICK(aws_secret_access_key);
    const char *role = PICK(role_arn), *wfile = PICK(web_identity_token_file);
    char where[300];
    snprintf(where, sizeof where, "profile '%.60s'", name);
    if (set(role) && set(wfile)) {
        snprintf(where, sizeof where, "profile '%.60s' of %.200s", name,
                 pk.role_arn ? cred : cfg);
        out = set_webid(src, cf, env, arg, wfile, role, PICK(role_session_name), where, err) ==
                      SPW_OK
                  ? 1
                  : -1;
    } else if (set(role)) {
        spw_err_set(err, SPW_ERR_CONFIG,
                    "profile '%s' assumes role_arn %s, which spillway supports only with "
                    "web_identity_token_file; give the profile static keys or use another "
                    "source",
                    name,
                    set(PICK(source_profile))      ? "from source_profile"
                    : set(PICK(credential_source)) ? "from credential_source"
                                                   : "without web_identity_token_file");
        out = -1;
    } else if (set(akid) || set(secret)) {
        const char *file = pk.aws_access_key_id || pk.aws_secret_access_key ? cred : cfg;
        if (!set(akid) || !set(secret)) {
            spw_err_set(err, SPW_ERR_CONFIG,
                        "%s: profile '%s' needs both aws_access_key_id and aws_secret_access_key",
                        file, name);
            out = -1;
        } else {
            snprintf(where, sizeof where, "profile '%.60s' of %.200s", name, file);
            out = set_static(src, akid, secret, PICK(aws_session_token), where, err) == SPW_OK ? 1
                                                                                             : -1;
        }
    } else if (set(wfile)) {
        spw_err_set(err, SPW_ERR_CONFIG, "profile '%s' has web_identity_token_file but no role_arn",
                    name);
        out = -1;
    } else if (set(PICK(credential_process)) || set(PICK(sso_session)) ||
               set(PICK(sso_start_url))) {
        spw_err_set(err, SPW_ERR_CONFIG,
                    "profile '%s' gets credentials from %s, which spillway does not support; give "
                    "it static keys or web identity, or use the container endpoint or IMDS",
                    name, set(PICK(credential_process)) ? "credential_process" : "AWS SSO");
        out = -1;
    } else if (explicit && !pc.found && !pk.found) {
        spw_err_set(err, SPW_ERR_CONFIG, "AWS profile '%s' is in neither %s nor %s", name,
                    cfg ? cfg : "(no config file)", cred ? cred : "(no credentials file)");
        out = -1;
    }
#undef PICK
done:
    spw__aws_profile_free(&pc);
    spw__aws_profile_free(&pk);
    return out;
}

static spw_result resolve(const struct spw_http_conf *cf, spw__aws_getenv_fn env, void *arg,
                          spw__aws_source *src, spw_err *err) {
    /* 1. Options. */
    if (set(cf->aws_access_key_id) || set(cf->aws_secret_access_key)) {
        if (!set(cf->aws_access_key_id) || !set(cf->aws_secret_access_key))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "set both aws_access_key_id and aws_secret_access_key, or neither");
        return set_static(src, cf->aws_access_key_id, cf->aws_secret_access_key,
                          cf->aws_session_token, "the sink's options", err);
    }
    /* 2. Environment keys. */
    const char *id = env(arg, "AWS_ACCESS_KEY_ID"), *secret = env(arg, "AWS_SECRET_ACCESS_KEY");
    if (set(id) || set(secret)) {
        if (!set(id) || !set(secret))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "%s is set but %s is not", set(id) ? "AWS_ACCESS_KEY_ID"
                                                                  : "AWS_SECRET_ACCESS_KEY",
                               set(id) ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return set_static(src, id, secret, env(arg, "AWS_SESSION_TOKEN"),
                          "the environment (AWS_ACCESS_KEY_ID)", err);
    }
    /* 3. Web identity from the environment. */
    const char *wfile = env(arg, "AWS_WEB_IDENTITY_TOKEN_FILE");
    if (set(wfile)) {
        const char *role = env(arg, "AWS_ROLE_ARN");
        if (!set(role))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
        return set_webid(src, cf, env, arg, wfile, role, env(arg, "AWS_ROLE_SESSION_NAME"),
                         "AWS_WEB_IDENTITY_TOKEN_FILE", err);
    }
    /* 4. The profile. */
    int r = from_profile(cf, env, arg, src, err);
    if (r != 0)
        return r > 0 ? SPW_OK : SPW_ERR_CONFIG;
    /* 5. The container endpoint. */
    char url[SPW__AWS_URL_MAX], why[300];
    r = spw__aws_container_url(env(arg, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                               env(arg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"), url, sizeof url, why,
                               sizeof why);
    if (r < 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s", why);
    if (r > 0) {
        const char *tfile = env(arg, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        const char *tok = env(arg, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        src->kind = SPW__AWS_CONTAINER;
        src->url = strdup(url);
        if (set(tfile)) {
            src->auth_token_file = strdup(tfile);
        } else if (set(tok)) {
            if (strlen(tok) > SPW__AWS_AUTH_TOKEN_MAX || strpbrk(tok, "\r\n"))
                return spw_err_set(err, SPW_ERR_CONFIG,
                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN is longer than %u bytes or "
                                   "holds a line break",
                                   SPW__AWS_AUTH_TOKEN_MAX);
            src->auth_token = strdup(tok);
        }
        if (!src->url || (set(tfile) && !src->auth_token_file) ||
            (!set(tfile) && set(tok) && !src->auth_token))
            return nomem(src, err);
        snprintf(src->desc, sizeof src->desc, "the container endpoint %.200s%s", url,
                 set(tfile) ? " (authorization token file)"
                 : set(tok) ? " (authorization token)"
                            : "");
        return SPW_OK;
    }
    /* 6. IMDSv2. */
    const char *off = env(arg, "AWS_EC2_METADATA_DISABLED");
    if (!(off && strcasecmp(off, "true") == 0)) {
        if (spw__aws_imds_url(env(arg, "AWS_EC2_METADATA_SERVICE_ENDPOINT"),
                              env(arg, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), url, sizeof url,
                              why, sizeof why) != 0)
            return spw_err_set(err, SPW_ERR_CONFIG, "%s", why);
        src->kind = SPW__AWS_IMDS;
        src->imds_url = strdup(url);
        if (!src->imds_url)
            return nomem(src, err);
        snprintf(src->desc, sizeof src->desc, "the EC2 instance metadata service (IMDSv2) at %.200s",
                 url);
        return SPW_OK;
    }
    return spw_err_set(err, SPW_ERR_CONFIG,
                       "auth = aws-sigv4 found no credentials: set aws_access_key_id and "
                       "aws_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                       "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), or a profile in "
                       "the shared config or credentials file, or the container endpoint "
                       "(AWS_CONTAINER_CREDENTIALS_*); IMDS is off (AWS_EC2_METADATA_DISABLED)");
}

spw_result spw__aws_resolve(const struct spw_http_conf *cf, spw__aws_getenv_fn env, void *arg,
                            spw__aws_source *src, spw_err *err) {
    memset(src, 0, sizeof *src);
    spw_result rc = resolve(cf, env, arg, src, err);
    if (rc != SPW_OK)
        spw__aws_source_free(src); /* whatever a failing step had taken */
    return rc;
}
