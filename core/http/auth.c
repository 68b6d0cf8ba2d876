/*
 * core/http/auth.c: where AWS credentials for SigV4 come from,
 * in the order the AWS SDKs use: the sink's own options, then the standard
 * environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), then the shared credentials file
 * (aws_credentials_file, else AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials) and its profile (aws_profile, else AWS_PROFILE, else
 * "default"). Values are never logged: `source` says where they came from.
 *
 * Basic, bearer and header auth need no code here: their secrets are
 * options (with NAME_file and ${env:...} handled by the core) that the
 * request setup puts into headers once per instance.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "http-private.h"

static void wipe_free(char *s) {
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void spw__http_aws_creds_free(spw__http_aws_creds *c) {
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof *c);
}

static bool set3(spw__http_aws_creds *c, const char *id, const char *secret, const char *token) {
    c->access_key_id = strdup(id);
    c->secret_access_key = strdup(secret);
    c->session_token = token && *token ? strdup(token) : NULL;
    return c->access_key_id && c->secret_access_key && (!token || !*token || c->session_token);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Reads PROFILE's keys from an INI-style credentials file. 1 found, 0 not there, -1 error. */
static int from_file(const char *path, const char *profile, spw__http_aws_creds *c, spw_err *err) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096], *id = NULL, *secret = NULL, *token = NULL;
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l)
            continue;
        if (*l == '[') {
            char *e = strchr(l, ']');
            if (e)
                *e = '\0';
            in = strcmp(trim(l + 1), profile) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **slot = strcmp(k, "aws_access_key_id") == 0       ? &id
                      : strcmp(k, "aws_secret_access_key") == 0 ? &secret
                      : strcmp(k, "aws_session_token") == 0     ? &token
                                                                : NULL;
        if (slot) {
            wipe_free(*slot);
            *slot = strdup(v);
        }
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(f);
    int r = 0;
    if (id && secret) {
        r = set3(c, id, secret, token) ? 1 : -1;
        if (r < 0)
            spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        else
            snprintf(c->source, sizeof c->source, "profile '%.40s' of %.40s", profile, path);
    } else if (id || secret) {
        r = -1;
        spw_err_set(err, SPW_ERR_CONFIG,
                    "%s: profile '%s' needs both aws_access_key_id and aws_secret_access_key",
                    path, profile);
    }
    wipe_free(id);
    wipe_free(secret);
    wipe_free(token);
    return r;
}

spw_result spw__http_aws_creds_load(const struct spw_http_conf *cf, spw__http_aws_creds *c, spw_err *err) {
    memset(c, 0, sizeof *c);
    if (cf->aws_access_key_id && *cf->aws_access_key_id) {
        if (!cf->aws_secret_access_key || !*cf->aws_secret_access_key)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "aws_access_key_id is set but aws_secret_access_key is not");
        if (!set3(c, cf->aws_access_key_id, cf->aws_secret_access_key, cf->aws_session_token)) {
            spw__http_aws_creds_free(c);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
        snprintf(c->source, sizeof c->source, "the sink's options");
        return SPW_OK;
    }
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id && *id && secret && *secret) {
        if (!set3(c, id, secret, getenv("AWS_SESSION_TOKEN"))) {
            spw__http_aws_creds_free(c);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
        snprintf(c->source, sizeof c->source, "the environment (AWS_ACCESS_KEY_ID)");
        return SPW_OK;
    }
    char path[1024];
    const char *file = cf->aws_credentials_file && *cf->aws_credentials_file
                           ? cf->aws_credentials_file
                           : getenv("AWS_SHARED_CREDENTIALS_FILE");
    if (!file || !*file) {
        const char *home = getenv("HOME");
        snprintf(path, sizeof path, "%s/.aws/credentials", home && *home ? home : "");
        file = path;
    }
    const char *profile = cf->aws_profile && *cf->aws_profile ? cf->aws_profile : getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    int r = from_file(file, profile, c, err);
    if (r > 0)
        return SPW_OK;
    spw__http_aws_creds_free(c);
    if (r < 0)
        return SPW_ERR_CONFIG;
    return spw_err_set(err, SPW_ERR_CONFIG,
                       "auth = aws-sigv4 found no credentials: set aws_access_key_id and "
                       "aws_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                       "profile '%s' in %s",
                       profile, file);
}
