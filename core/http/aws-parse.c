/*
 * core/http/aws-parse.c: the pure parts of the AWS credential chain, with
 * no loop, no libcurl and no environment of their own, so that
 * tests/unit/test-http-aws.c links this file alone and checks each rule:
 * the shared config and credentials files, the STS XML answer, the
 * container/IMDS JSON answer, ISO 8601 times, when credentials are
 * refreshed and until when they sign, the delay after a failed attempt,
 * and which URLs the container, STS and IMDS sources may use.
 *
 * Everything that reads outside input is bounded: files at 1 MiB, values
 * at their own bound (SPW__AWS_*_MAX), answers at the client's 64 KiB. A
 * value over its bound is an error, never cut; an error text names the
 * line or the element, never the value.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include "aws-private.h"

#define WHY(...) (snprintf(why, wn, __VA_ARGS__), -1)

void spw__aws_wipe_free(char *s) {
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

bool spw__aws_token_ok(const char *v, size_t max) {
    size_t n = 0;
    for (; v[n]; n++)
        if ((unsigned char)v[n] <= 0x20 || (unsigned char)v[n] >= 0x7f || n >= max)
            return false;
    return n > 0;
}

/* ---------------------------------------------------------------------- */
/* Files                                                                   */
/* ---------------------------------------------------------------------- */

int spw__aws_read_file(const char *path, size_t max, char **out, size_t *len, char *why, size_t wn) {
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        snprintf(why, wn, "%s: %s", path, strerror(errno));
        return -2;
    }
    char *b = malloc(max + 1);
    size_t n = 0;
    int rc = 0;
    if (!b) {
        snprintf(why, wn, "out of memory");
        rc = -2;
    }
    while (rc == 0) {
        ssize_t k = read(fd, b + n, max + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(why, wn, "%s: %s", path, strerror(errno));
            rc = -2;
        } else if (k == 0) {
            break;
        } else if ((n += (size_t)k) > max) {
            snprintf(why, wn, "%s is larger than %zu bytes", path, max);
            rc = -2;
        }
    }
    close(fd);
    if (rc != 0) {
        if (b) {
            OPENSSL_cleanse(b, n < max + 1 ? n : max + 1);
            free(b);
        }
        return rc;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Shared config and credentials files                                     */
/* ---------------------------------------------------------------------- */

/*
 * The format, as the AWS SDKs and Tools Reference Guide describes it
 * ("Shared config and credentials files", "Format of the config file"):
 * sections in brackets, `key = value` properties, comment lines starting
 * with '#' or ';', indented lines continuing a property (sub-properties
 * such as `s3 =` followed by indented settings). Keys are matched without
 * regard to case, as the CLI does; a profile may appear twice, the later
 * value winning; values are taken whole (a secret may hold '#').
 */

typedef struct prop {
    const char *key;
    size_t off;
    size_t max;
} prop;

#define PROP(k, m) {#k, offsetof(spw__aws_profile, k), m}
static const prop props[] = {
    PROP(aws_access_key_id, SPW__AWS_KEY_MAX),
    PROP(aws_secret_access_key, SPW__AWS_KEY_MAX),
    PROP(aws_session_token, SPW__AWS_TOKEN_MAX),
    PROP(role_arn, 2048),
    PROP(web_identity_token_file, SPW__AWS_VALUE_MAX),
    PROP(role_session_name, 64),
    PROP(source_profile, SPW__AWS_VALUE_MAX),
    PROP(credential_source, SPW__AWS_VALUE_MAX),
    PROP(credential_process, SPW__AWS_VALUE_MAX),
    PROP(sso_session, SPW__AWS_VALUE_MAX),
    PROP(sso_start_url, SPW__AWS_VALUE_MAX),
};
#undef PROP

void spw__aws_profile_free(spw__aws_profile *p) {
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        spw__aws_wipe_free(*(char **)((char *)p + props[i].off));
    memset(p, 0, sizeof *p);
}

static bool ws(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, size_t *n) {
    while (*n && ws(**s))
        (*s)++, (*n)--;
    while (*n && ws((*s)[*n - 1]))
        (*n)--;
}

/* Does section `name` (trimmed) hold profile `want`? */
static bool section_is(bool config, const char *name, size_t n, const char *want) {
    size_t wl = strlen(want);
    if (!config)
        return n == wl && memcmp(name, want, n) == 0;
    if (n == 7 && memcmp(name, "default", 7) == 0)
        return strcmp(want, "default") == 0;
    if (n > 8 && memcmp(name, "profile", 7) == 0 && ws(name[7])) {
        const char *r = name + 8;
        size_t rl = n - 8;
        trim(&r, &rl);
        return rl == wl && memcmp(r, want, rl) == 0;
    }
    return false; /* sso-session, services...: not profiles */
}

int spw__aws_ini_profile(const char *text, size_t n, bool config, const char *name,
                         spw__aws_profile *p, char *why, size_t wn) {
    const char *s = text, *end = text + n;
    unsigned line = 0;
    bool in = false, have_section = false, have_prop = false;
    const char *last_ours = NULL; /* the previous property, when it is one we read */
    while (s < end) {
        line++;
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *l = s;
        size_t ll = eol ? (size_t)(eol - s) : (size_t)(end - s);
        s = eol ? eol + 1 : end;
        if (ll && l[ll - 1] == '\r')
            ll--;
        if (memchr(l, '\0', ll))
            return WHY("line %u: a NUL byte", line);
        bool indented = ll && ws(l[0]);
        trim(&l, &ll);
        if (ll == 0 || l[0] == '#' || l[0] == ';')
            continue;
        if (indented && have_prop) {
            /* Continues the previous property: a sub-property, or a value on several lines. */
            if (last_ours)
                return WHY("line %u: %s cannot continue on an indented line", line, last_ours);
            continue;
        }
        if (l[0] == '[') {
            const char *close = memchr(l, ']', ll);
            if (!close)
                return WHY("line %u: a section header without ']'", line);
            const char *rest = close + 1;
            size_t rl = ll - (size_t)(rest - l);
            trim(&rest, &rl);
            if (rl && rest[0] != '#' && rest[0] != ';')
                return WHY("line %u: text after a section header", line);
            const char *nm = l + 1;
            size_t nl = (size_t)(close - nm);
            trim(&nm, &nl);
            if (nl == 0)
                return WHY("line %u: a section without a name", line);
            in = section_is(config, nm, nl, name);
            p->found |= in;
            have_section = true;
            have_prop = false;
            last_ours = NULL;
            continue;
        }
        const char *eq = memchr(l, '=', ll);
        if (!eq)
            return WHY("line %u: expected 'key = value' or '[section]'", line);
        if (!have_section)
            return WHY("line %u: a property before any section", line);
        const char *k = l, *v = eq + 1;
        size_t kl = (size_t)(eq - l), vl = ll - kl - 1;
        trim(&k, &kl);
        trim(&v, &vl);
        if (kl == 0)
            return WHY("line %u: a property without a name", line);
        have_prop = true;
        last_ours = NULL;
        if (!in)
            continue;
        for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
            if (strlen(props[i].key) != kl || strncasecmp(props[i].key, k, kl) != 0)
                continue;
            last_ours = props[i].key;
            if (vl > props[i].max)
                return WHY("line %u: %s is longer than %zu bytes", line, props[i].key,
                           props[i].max);
            for (size_t j = 0; j < vl; j++)
                if ((unsigned char)v[j] < 0x20 || v[j] == 0x7f)
                    return WHY("line %u: %s holds a control character", line, props[i].key);
            char **slot = (char **)((char *)p + props[i].off);
            char *copy = strndup(v, vl);
            if (!copy)
                return WHY("out of memory");
            spw__aws_wipe_free(*slot);
            *slot = copy;
            break;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* XML (AWS Query answers)                                                 */
/* ---------------------------------------------------------------------- */

#define XML_DEPTH 32
#define XML_PATH 512

typedef struct xlevel {
    const char *name;
    size_t nlen;
    size_t path_len; /* the path up to and including this element */
    int field;       /* index into the fields, -1 when none */
    size_t olen;     /* text written to the field */
} xlevel;

static bool name_start(unsigned char c) { return isalpha(c) || c == '_' || c == ':'; }
static bool name_char(unsigned char c) { return isalnum(c) || strchr("._:-", c) != NULL; }

static size_t xml_name(const char *p, const char *e) {
    if (p >= e || !name_start((unsigned char)*p))
        return 0;
    size_t n = 1;
    while (p + n < e && name_char((unsigned char)p[n]) && n < 128)
        n++;
    return n;
}

static bool xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static bool starts(const char *p, const char *e, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(e - p) >= n && memcmp(p, lit, n) == 0;
}

/* A character XML 1.0 allows, as a code point. */
static bool xml_char_ok(unsigned long c) {
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the reference at *pp ('&'): its UTF-8 bytes into u (4 bytes), their count, or 0. */
static size_t xml_ref(const char **pp, const char *e, char u[4]) {
    const char *p = *pp + 1;
    const char *semi = memchr(p, ';', (size_t)(e - p) < 12 ? (size_t)(e - p) : 12);
    if (!semi)
        return 0;
    size_t n = (size_t)(semi - p);
    unsigned long c;
    static const struct { const char *name; char c; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t i = 0; i < 5; i++)
        if (n == strlen(named[i].name) && memcmp(p, named[i].name, n) == 0) {
            u[0] = named[i].c;
            *pp = semi + 1;
            return 1;
        }
    if (n < 2 || p[0] != '#')
        return 0;
    bool hex = p[1] == 'x';
    const char *d = p + 1 + hex;
    if (d == semi)
        return 0;
    c = 0;
    for (; d < semi; d++) {
        int v = hex ? hexval((unsigned char)*d) : (isdigit((unsigned char)*d) ? *d - '0' : -1);
        if (v < 0 || c > 0x10FFFF)
            return 0;
        c = c * (hex ? 16 : 10) + (unsigned long)v;
    }
    if (!xml_char_ok(c))
        return 0;
    *pp = semi + 1;
    if (c < 0x80) {
        u[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (c >> 18));
    u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    u[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Skips a comment at p ("<!--"): the position after it, or NULL when malformed. */
static const char *xml_comment(const char *p, const char *e) {
    for (p += 4; p + 1 < e; p++)
        if (p[0] == '-' && p[1] == '-')
            return p + 2 < e && p[2] == '>' ? p + 3 : NULL; /* "--" may only end it */
    return NULL;
}

/* Trims XML whitespace off both ends of the field's text. */
static void field_trim(spw__aws_xml_field *f, size_t len) {
    size_t a = 0;
    while (a < len && xml_space(f->out[a]))
        a++;
    while (len > a && xml_space(f->out[len - 1]))
        len--;
    memmove(f->out, f->out + a, len - a);
    f->out[len - a] = '\0';
}

int spw__aws_xml_extract(const char *xml, size_t n, spw__aws_xml_field *f, size_t nf, char *why,
                         size_t wn) {
    const char *p = xml, *e = xml + n;
    xlevel st[XML_DEPTH];
    size_t depth = 0;
    char path[XML_PATH];
    size_t plen = 0;
    bool root_done = false;
    for (size_t i = 0; i < nf; i++) {
        f[i].found = false;
        if (f[i].cap)
            f[i].out[0] = '\0';
    }
    if (starts(p, e, "\xEF\xBB\xBF"))
        p += 3;
    if (starts(p, e, "<?xml") && p + 5 < e && xml_space(p[5])) {
        const char *q = p;
        while (q + 1 < e && !(q[0] == '?' && q[1] == '>'))
            q++;
        if (q + 1 >= e)
            return WHY("an unterminated XML declaration");
        p = q + 2;
    }
    while (p < e) {
        if (*p != '<') {
            /* Text: only whitespace outside the root; inside, checked and decoded. */
            xlevel *top = depth ? &st[depth - 1] : NULL;
            if (!top) {
                if (!xml_space(*p))
                    return WHY("text outside the root element");
                p++;
                continue;
            }
            char u[4];
            size_t k = 1;
            if (*p == '&') {
                k = xml_ref(&p, e, u);
                if (!k)
                    return WHY("a malformed entity or character reference");
            } else {
                unsigned char c = (unsigned char)*p++;
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    return WHY("a control character in text");
                u[0] = (char)c;
            }
            if (top->field >= 0) {
                spw__aws_xml_field *t = &f[top->field];
                if (top->olen + k >= t->cap)
                    return WHY("%s is longer than %zu bytes", t->path, t->cap - 1);
                memcpy(t->out + top->olen, u, k);
                top->olen += k;
            }
            continue;
        }
        if (starts(p, e, "<!--")) {
            if (!(p = xml_comment(p, e)))
                return WHY("a malformed comment");
            continue;
        }
        if (starts(p, e, "<![CDATA["))
            return WHY("CDATA sections are not accepted");
        if (starts(p, e, "<!"))
            return WHY("a DOCTYPE or markup declaration is not accepted");
        if (starts(p, e, "<?"))
            return WHY("a processing instruction is not accepted");
        if (starts(p, e, "</")) {
            p += 2;
            size_t nl = xml_name(p, e);
            if (!depth || nl != st[depth - 1].nlen || memcmp(p, st[depth - 1].name, nl) != 0)
                return WHY("a closing tag that does not match");
            p += nl;
            while (p < e && xml_space(*p))
                p++;
            if (p >= e || *p != '>')
                return WHY("a malformed closing tag");
            p++;
            xlevel *top = &st[--depth];
            if (top->field >= 0)
                field_trim(&f[top->field], top->olen);
            plen = depth ? st[depth - 1].path_len : 0;
            if (!depth)
                root_done = true;
            continue;
        }
        /* A start tag. */
        if (root_done)
            return WHY("a second root element");
        p++;
        size_t nl = xml_name(p, e);
        if (!nl)
            return WHY("a malformed start tag");
        const char *name = p;
        p += nl;
        bool empty = false;
        for (;;) {
            bool sp = false;
            while (p < e && xml_space(*p))
                p++, sp = true;
            if (p >= e)
                return WHY("an unterminated start tag");
            if (*p == '>') {
                p++;
                break;
            }
            if (*p == '/' && p + 1 < e && p[1] == '>') {
                p += 2;
                empty = true;
                break;
            }
            size_t an = xml_name(p, e);
            if (!an || !sp)
                return WHY("a malformed attribute");
            p += an;
            while (p < e && xml_space(*p))
                p++;
            if (p >= e || *p != '=')
                return WHY("a malformed attribute");
            p++;
            while (p < e && xml_space(*p))
                p++;
            if (p >= e || (*p != '"' && *p != '\''))
                return WHY("a malformed attribute");
            char q = *p++;
            while (p < e && *p != q) {
                if (*p == '<')
                    return WHY("a malformed attribute");
                if (*p == '&') {
                    char u[4];
                    if (!xml_ref(&p, e, u))
                        return WHY("a malformed entity or character reference");
                    continue;
                }
                p++;
            }
            if (p >= e)
                return WHY("an unterminated attribute");
            p++;
        }
        if (depth == XML_DEPTH)
            return WHY("elements nested deeper than %d", XML_DEPTH);
        if (depth && st[depth - 1].field >= 0)
            return WHY("%s holds elements", f[st[depth - 1].field].path);
        if (plen + nl + 2 > sizeof path)
            return WHY("element names too long");
        if (plen)
            path[plen++] = '/';
        memcpy(path + plen, name, nl);
        plen += nl;
        path[plen] = '\0';
        xlevel *lv = &st[depth++];
        *lv = (xlevel){.name = name, .nlen = nl, .path_len = plen, .field = -1};
        for (size_t i = 0; i < nf; i++)
            if (strcmp(f[i].path, path) == 0) {
                if (f[i].found)
                    return WHY("%s appears twice", f[i].path);
                f[i].found = true;
                lv->field = (int)i;
            }
        if (empty) {
            depth--;
            plen = depth ? st[depth - 1].path_len : 0;
            if (!depth)
                root_done = true;
        }
    }
    if (depth)
        return WHY("the document ends inside an element");
    if (!root_done)
        return WHY("no root element");
    return 0;
}

#define STS_CREDS "AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/"

int spw__aws_sts_creds(const char *body, size_t n, spw__aws_fetched *out, char *why, size_t wn) {
    spw__aws_xml_field f[] = {
        {STS_CREDS "AccessKeyId", out->access_key_id, sizeof out->access_key_id, false},
        {STS_CREDS "SecretAccessKey", out->secret_access_key, sizeof out->secret_access_key, false},
        {STS_CREDS "SessionToken", out->session_token, sizeof out->session_token, false},
        {STS_CREDS "Expiration", out->expiration, sizeof out->expiration, false},
    };
    char w[200];
    if (spw__aws_xml_extract(body, n, f, 4, w, sizeof w) != 0)
        return WHY("a malformed STS answer: %s", w);
    for (size_t i = 0; i < 4; i++)
        if (!f[i].found)
            return WHY("the STS answer has no %s", f[i].path + strlen(STS_CREDS));
    if (!spw__aws_token_ok(out->access_key_id, SPW__AWS_KEY_MAX) ||
        !spw__aws_token_ok(out->secret_access_key, SPW__AWS_KEY_MAX) ||
        !spw__aws_token_ok(out->session_token, SPW__AWS_TOKEN_MAX))
        return WHY("the STS answer's credentials are empty or hold spaces or control characters");
    if (!spw__aws_parse_time(out->expiration, &out->expires_ms))
        return WHY("the STS answer's Expiration is not an ISO 8601 time");
    return 0;
}

bool spw__aws_sts_error(const char *body, size_t n, char *out, size_t on) {
    char code[128], msg[512];
    spw__aws_xml_field f[] = {
        {"ErrorResponse/Error/Code", code, sizeof code, false},
        {"ErrorResponse/Error/Message", msg, sizeof msg, false},
    };
    char w[200];
    if (spw__aws_xml_extract(body, n, f, 2, w, sizeof w) != 0 || !f[0].found)
        return false;
    char pc[132], pm[204];
    spw_printable(pc, sizeof pc, code, strlen(code), 128);
    spw_printable(pm, sizeof pm, msg, f[1].found ? strlen(msg) : 0, 200);
    snprintf(out, on, "%s%s%s", pc, pm[0] ? ": " : "", pm);
    return true;
}

/* ---------------------------------------------------------------------- */
/* JSON (container endpoint, IMDS)                                         */
/* ---------------------------------------------------------------------- */

/* Copies string member `name` into out (cap bytes); 1 copied, 0 absent, -1 error (why). */
static int json_member(json_t *o, const char *name, char *out, size_t cap, bool secret, char *why,
                       size_t wn) {
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return WHY("%s is not a string", name);
    size_t len = json_string_length(v);
    if (len >= cap)
        return WHY("%s is longer than %zu bytes", name, cap - 1);
    memcpy(out, json_string_value(v), len);
    out[len] = '\0';
    if (strlen(out) != len)
        return WHY("%s holds a NUL character", name);
    if (secret && !spw__aws_token_ok(out, cap - 1))
        return WHY("%s is empty or holds spaces or control characters", name);
    return 1;
}

int spw__aws_json_creds(const char *body, size_t n, spw__aws_fetched *out, char *why, size_t wn) {
    json_error_t je;
    json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return WHY("the answer is not JSON (line %d: %.80s)", je.line, je.text);
    int rc = 0;
    char code[64];
    if (!json_is_object(o)) {
        rc = WHY("the answer is not a JSON object");
        goto out;
    }
    int k = json_member(o, "Code", code, sizeof code, false, why, wn);
    if (k < 0) {
        rc = -1;
        goto out;
    }
    if (k > 0 && strcmp(code, "Success") != 0) {
        char pc[68];
        rc = WHY("the answer's Code is '%s'", spw_printable(pc, sizeof pc, code, strlen(code), 60));
        goto out;
    }
    static const char *const need[] = {"AccessKeyId", "SecretAccessKey", "Expiration"};
    char *dst[] = {out->access_key_id, out->secret_access_key, out->expiration};
    size_t cap[] = {sizeof out->access_key_id, sizeof out->secret_access_key, sizeof out->expiration};
    for (size_t i = 0; i < 3; i++) {
        k = json_member(o, need[i], dst[i], cap[i], i < 2, why, wn);
        if (k <= 0) {
            rc = k < 0 ? -1 : WHY("the answer has no %s", need[i]);
            goto out;
        }
    }
    out->session_token[0] = '\0';
    if (json_member(o, "Token", out->session_token, sizeof out->session_token, true, why, wn) < 0) {
        rc = -1;
        goto out;
    }
    if (!spw__aws_parse_time(out->expiration, &out->expires_ms))
        rc = WHY("the answer's Expiration is not an ISO 8601 time");
out:
    json_decref(o);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Time                                                                    */
/* ---------------------------------------------------------------------- */

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Leap years in [1, y]. */
static int64_t leaps_upto(int64_t y) { return y / 4 - y / 100 + y / 400; }

static bool digits(const char *s, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

bool spw__aws_parse_time(const char *s, int64_t *unix_ms) {
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
        return false;
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return false;
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; isdigit((unsigned char)*p); p++, nd++)
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
        if (nd == 0 || nd > 9)
            return false;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t days = 365 * (int64_t)(y - 1970) + leaps_upto(y - 1) - leaps_upto(1969) +
                   before[mo - 1] + (mo > 2 && leap(y)) + d - 1;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    *unix_ms = secs * 1000 + ms;
    return true;
}

#define MIN_MS (60 * 1000)

bool spw__aws_schedule(int64_t now_ms, int64_t exp_ms, uint64_t draw, int64_t *refresh_ms,
                       int64_t *usable_ms) {
    if (exp_ms == 0) {
        *refresh_ms = *usable_ms = 0;
        return true;
    }
    int64_t life = exp_ms - now_ms;
    if (life <= 0)
        return false;
    int64_t lead = life / 2 < 5 * MIN_MS ? life / 2 : 5 * MIN_MS;
    int64_t jitter = (int64_t)(draw % (uint64_t)(lead / 5 + 1));
    int64_t margin = life / 10 < MIN_MS ? life / 10 : MIN_MS;
    *refresh_ms = exp_ms - lead - jitter;
    if (*refresh_ms < now_ms + 1000)
        *refresh_ms = now_ms + 1000;
    *usable_ms = exp_ms - margin;
    return true;
}

uint64_t spw__aws_retry_delay(unsigned failures, uint64_t draw) {
    uint64_t cap = failures >= 6 ? 10000 : 500u << (failures ? failures - 1 : 0);
    if (cap > 10000)
        cap = 10000;
    return cap / 2 + draw % (cap / 2 + 1);
}

/* ---------------------------------------------------------------------- */
/* Endpoints                                                               */
/* ---------------------------------------------------------------------- */

static bool url_chars_ok(const char *u) {
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f)
            return false;
    return true;
}

/* Splits an http(s) URL: *https, the host (brackets kept for IPv6) into host; the rest after the
 * authority at *rest. False when it is not scheme://host[:port][/...] without userinfo. */
static bool url_split(const char *u, bool *https, char *host, size_t hcap, const char **rest) {
    size_t skip;
    if (strncasecmp(u, "http://", 7) == 0)
        skip = 7, *https = false;
    else if (strncasecmp(u, "https://", 8) == 0)
        skip = 8, *https = true;
    else
        return false;
    const char *a = u + skip;
    size_t al = strcspn(a, "/?#");
    if (al == 0 || memchr(a, '@', al))
        return false;
    size_t hl;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', al);
        if (!rb)
            return false;
        hl = (size_t)(rb - a) + 1;
    } else {
        hl = strcspn(a, ":/?#");
    }
    if (hl == 0 || hl >= hcap)
        return false;
    if (hl < al) {
        if (a[hl] != ':' || hl + 1 == al)
            return false;
        for (size_t i = hl + 1; i < al; i++)
            if (!isdigit((unsigned char)a[i]))
                return false;
    }
    memcpy(host, a, hl);
    host[hl] = '\0';
    *rest = a + al;
    return true;
}

static bool loopback_v4(const char *h) {
    unsigned o[4];
    char tail;
    if (sscanf(h, "%3u.%3u.%3u.%3u%c", &o[0], &o[1], &o[2], &o[3], &tail) != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (o[i] > 255)
            return false;
    return o[0] == 127 && strspn(h, "0123456789.") == strlen(h);
}

int spw__aws_container_url(const char *relative, const char *full, char *url, size_t cap, char *why,
                           size_t wn) {
    if (relative && *relative) {
        if (relative[0] != '/' || !url_chars_ok(relative))
            return WHY("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with '/'");
        if ((size_t)snprintf(url, cap, "http://169.254.170.2%s", relative) >= cap)
            return WHY("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is too long");
        return 1;
    }
    if (!full || !*full)
        return 0;
    bool https;
    char host[256];
    const char *rest;
    if (!url_chars_ok(full) || !url_split(full, &https, host, sizeof host, &rest))
        return WHY("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http:// or https:// URL with a "
                   "host (and no user information)");
    if (!https) {
        static const char *const agents[] = {"localhost", "[::1]", "169.254.170.2",
                                             "169.254.170.23", "[fd00:ec2::23]"};
        bool ok = loopback_v4(host);
        for (size_t i = 0; !ok && i < sizeof agents / sizeof agents[0]; i++)
            ok = strcasecmp(host, agents[i]) == 0;
        if (!ok)
            return WHY("AWS_CONTAINER_CREDENTIALS_FULL_URI: http://%.100s is neither a loopback "
                       "address nor the ECS/EKS credentials agent (169.254.170.2, "
                       "169.254.170.23, fd00:ec2::23); use https",
                       host);
    }
    if (strlen(full) >= cap)
        return WHY("AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
    snprintf(url, cap, "%s", full);
    return 1;
}

static bool truthy(const char *v) { return v && strcasecmp(v, "true") == 0; }

int spw__aws_sts_url(const char *region, const char *ignore, const char *url_sts, const char *url_all,
                     char *url, size_t cap, char *why, size_t wn) {
    const char *names[] = {"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"};
    const char *vals[] = {url_sts, url_all};
    for (size_t i = 0; i < 2 && !truthy(ignore); i++) {
        if (!vals[i] || !*vals[i])
            continue;
        bool https;
        char host[256];
        const char *rest;
        if (!url_chars_ok(vals[i]) || !url_split(vals[i], &https, host, sizeof host, &rest))
            return WHY("%s is not an http:// or https:// URL with a host", names[i]);
        if (strlen(vals[i]) >= cap)
            return WHY("%s is too long", names[i]);
        snprintf(url, cap, "%s", vals[i]);
        return 0;
    }
    size_t rl = region ? strlen(region) : 0;
    if (rl == 0 || rl > 40 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != rl)
        return WHY("'%.64s' is not an AWS region name", region ? region : "");
    snprintf(url, cap, "https://sts.%s.amazonaws.com%s/", region,
             strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    return 0;
}

int spw__aws_imds_url(const char *endpoint, const char *mode, char *url, size_t cap, char *why,
                      size_t wn) {
    if (endpoint && *endpoint) {
        bool https;
        char host[256];
        const char *rest;
        if (!url_chars_ok(endpoint) || !url_split(endpoint, &https, host, sizeof host, &rest) ||
            (*rest && strcmp(rest, "/") != 0))
            return WHY("AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http:// or https:// URL of a "
                       "host and port");
        size_t n = (size_t)(rest - endpoint);
        if (n >= cap)
            return WHY("AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
        memcpy(url, endpoint, n);
        url[n] = '\0';
        return 0;
    }
    if (!mode || !*mode || strcasecmp(mode, "IPv4") == 0)
        snprintf(url, cap, "http://169.254.169.254");
    else if (strcasecmp(mode, "IPv6") == 0)
        snprintf(url, cap, "http://[fd00:ec2::254]");
    else
        return WHY("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is '%.20s', not IPv4 or IPv6", mode);
    return 0;
}

static spw_result form_put(spw_buf *b, const char *k, const char *v) {
    spw_result rc = spw_buf_printf(b, "%s%s=", b->len ? "&" : "", k);
    for (const unsigned char *p = (const unsigned char *)v; rc == SPW_OK && *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            rc = spw_buf_append(b, p, 1);
        else
            rc = spw_buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

spw_result spw__aws_sts_form(spw_buf *out, const char *role_arn, const char *session,
                             const char *token) {
    spw_result rc = form_put(out, "Action", "AssumeRoleWithWebIdentity");
    if (rc == SPW_OK)
        rc = form_put(out, "Version", "2011-06-15");
    if (rc == SPW_OK)
        rc = form_put(out, "RoleArn", role_arn);
    if (rc == SPW_OK)
        rc = form_put(out, "RoleSessionName", session);
    if (rc == SPW_OK)
        rc = form_put(out, "WebIdentityToken", token);
    return rc;
}

bool spw__aws_session_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
            return false;
    return true;
}
