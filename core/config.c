/*
 * core/config.c: reading a pipeline file into sections and keys with line
 * numbers, and ${env:...} interpolation of values.
 *
 * inih does the key = value grammar (separator, inline comments, trimming,
 * syntax errors), but Debian's build (libinih 55) has properties we must
 * work around rather than inherit:
 *   - its handler gets no line number (INI_HANDLER_LINENO is 0);
 *   - its line buffer is fixed (200 bytes): a longer line is silently split
 *     in two, which would corrupt the value and every later line number;
 *   - section and key names are silently truncated to 49 characters;
 *   - a section without keys never reaches the handler, so empty sections
 *     and duplicate section headers are invisible to it;
 *   - an indented line continues the previous value (multi-line values),
 *     so an indented key would become a second value of the previous key.
 * So we hand inih one line at a time from our own reader, which counts
 * lines, removes leading blanks (no continuation lines), keeps comment
 * lines away from inih (their length does not matter), parses section
 * headers itself, refuses lines that do not fit inih's buffer, and leaves
 * inih only key lines. The handler takes the key from the raw line (never
 * truncated) and the value from inih.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"

/* Limits: a pipeline file is small; anything bigger is a mistake. */
#define CFG_MAX_FILE ((size_t)1 << 20)   /* 1 MiB */
#define CFG_MAX_VALUE ((size_t)64 << 10) /* 64 KiB per value after interpolation */
/* How much of a malformed title or key is quoted back in a message. */
#define CFG_QUOTE_MAX 64

typedef struct cfg_reader {
    const char *path;
    const char *p, *end;      /* text not yet handed to inih */
    int line;                 /* number of the line last handed to inih */
    const char *raw;          /* that line without leading blanks (not NUL-terminated) */
    size_t raw_len;
    spw__cfg_file *file;
    size_t cap_sections;
    size_t cur;               /* index of the current section; valid when have_cur */
    bool have_cur;
    size_t cap_keys;          /* capacity of the current section's keys */
    spw_result rc;            /* first error of ours, SPW_OK if none */
    int err_line;             /* its line */
    spw_err *err;
} cfg_reader;

/* A growable string bounded by CFG_MAX_VALUE. */
typedef struct cfg_str {
    char *p;
    size_t len, cap;
} cfg_str;

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_kind_char(char c) {
    return (c >= 'a' && c <= 'z') || c == '-';
}

static bool is_name_char(char c) {
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static bool is_env_char(char c) {
    return isalnum((unsigned char)c) || c == '_';
}

/* ---------------------------------------------------------------------- */
/* Interpolation                                                           */
/* ---------------------------------------------------------------------- */

static spw_result str_add(cfg_str *s, const char *p, size_t n, spw_err *err) {
    if (n > CFG_MAX_VALUE - s->len)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "the value is longer than %zu bytes after interpolation",
                           CFG_MAX_VALUE);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
    return SPW_OK;
}

/*
 * Expands one ${env:...} starting at in[i] == '$', in[i+1] == '{'. *next is
 * set past the closing brace. Messages give the 1-based character position
 * but never quote the value: config.c does not know which keys are secret.
 */
static spw_result interp_ref(const char *in, size_t i, cfg_str *out, size_t *next, spw_err *err) {
    size_t at = i + 1; /* 1-based position of the '$' */
    size_t j = i + 2;
    if (strncmp(in + j, "env:", 4) != 0) {
        /*
         * ${name} is a plugin's own template (a URL or index built from
         * event metadata): it passes through untouched for the plugin.
         */
        size_t k = j;
        if (isalpha((unsigned char)in[k]) || in[k] == '_')
            while (isalnum((unsigned char)in[k]) || in[k] == '_')
                k++;
        if (k > j && in[k] == '}') {
            *next = k + 1;
            return str_add(out, in + i, k + 1 - i, err);
        }
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "unsupported '${' at character %zu: write ${env:NAME}, "
                           "${env:NAME:-default}, a plugin template ${name}, or $$ for a literal $",
                           at);
    }
    j += 4;
    size_t name_at = j;
    while (is_env_char(in[j]))
        j++;
    size_t name_len = j - name_at;
    if (name_len == 0)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "missing variable name in '${env:' at character %zu", at);
    if (isdigit((unsigned char)in[name_at]))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "variable name at character %zu starts with a digit", at);

    bool has_default = false;
    size_t def_at = 0, def_len = 0;
    if (in[j] == '}') {
        *next = j + 1;
    } else if (in[j] == ':' && in[j + 1] == '-') {
        has_default = true;
        def_at = j + 2;
        /* A plugin template ${name} in the default (index = ${env:IDX:-logs-${set}}) is kept
         * as it is for the plugin; any other nested reference is refused below. */
        size_t e = def_at;
        while (in[e] && in[e] != '}') {
            if (in[e] == '$' && in[e + 1] == '{' && (isalpha((unsigned char)in[e + 2]) || in[e + 2] == '_')) {
                size_t k = e + 2;
                while (isalnum((unsigned char)in[k]) || in[k] == '_')
                    k++;
                if (in[k] == '}') {
                    e = k + 1;
                    continue;
                }
            }
            e++;
        }
        if (!in[e])
            return spw_err_set(err, SPW_ERR_CONFIG, "unterminated '${' at character %zu", at);
        def_len = e - def_at;
        /* A nested reference looks meant to work; say plainly that it does not. */
        for (size_t k = def_at; k + 1 < def_at + def_len; k++)
            if (in[k] == '$' && in[k + 1] == '{' && strncmp(in + k + 2, "env:", 4) == 0)
                return spw_err_set(err, SPW_ERR_CONFIG,
                                   "nested '${' in the default at character %zu is not supported",
                                   k + 1);
        *next = def_at + def_len + 1;
    } else if (in[j] == '\0') {
        return spw_err_set(err, SPW_ERR_CONFIG, "unterminated '${' at character %zu", at);
    } else {
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "malformed '${env:...}' at character %zu: expected '}' or ':-' "
                           "after the variable name",
                           at);
    }

    char *name = strndup(in + name_at, name_len);
    if (!name)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    const char *v = getenv(name);
    spw_result rc;
    if (has_default && (!v || !*v))
        rc = str_add(out, in + def_at, def_len, err);
    else if (!v)
        rc = spw_err_set(err, SPW_ERR_CONFIG,
                         "environment variable '%s' is not set (write ${env:%s:-default} to "
                         "give a default)",
                         name, name);
    else
        rc = str_add(out, v, strlen(v), err);
    free(name);
    return rc;
}

spw_result spw__cfg_interpolate(const char *in, char **out, spw_err *err) {
    if (!in || !out)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__cfg_interpolate: NULL argument");
    *out = NULL;
    cfg_str s = {0};
    spw_result rc = str_add(&s, "", 0, err); /* so an empty value is "" not NULL */
    size_t i = 0;
    while (rc == SPW_OK && in[i]) {
        /* Copy the run up to the next '$' in one go. */
        const char *dollar = strchr(in + i, '$');
        size_t run = dollar ? (size_t)(dollar - (in + i)) : strlen(in + i);
        if (run) {
            rc = str_add(&s, in + i, run, err);
            i += run;
            continue;
        }
        if (in[i + 1] == '$') {
            rc = str_add(&s, "$", 1, err);
            i += 2;
        } else if (in[i + 1] == '{') {
            rc = interp_ref(in, i, &s, &i, err);
        } else {
            rc = str_add(&s, "$", 1, err); /* a lone $ is literal ("price$5") */
            i++;
        }
    }
    if (rc != SPW_OK) {
        free(s.p);
        return rc;
    }
    *out = s.p;
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Building the file                                                       */
/* ---------------------------------------------------------------------- */

static void section_free(spw__cfg_section *s) {
    for (size_t i = 0; i < s->n_keys; i++) {
        free(s->keys[i].key);
        free(s->keys[i].value);
    }
    free(s->keys);
    free(s->kind);
    free(s->name);
    free(s->title);
}

void spw__cfg_free(spw__cfg_file *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n_sections; i++)
        section_free(&f->sections[i]);
    free(f->sections);
    free(f->path);
    free(f);
}

spw__cfg_section *spw__cfg_find(const spw__cfg_file *f, const char *title) {
    if (!f || !title)
        return NULL;
    for (size_t i = 0; i < f->n_sections; i++)
        if (strcmp(f->sections[i].title, title) == 0)
            return &f->sections[i];
    return NULL;
}

/* Records the first error of the parse (later ones are consequences). */
static void rd_fail(cfg_reader *r, spw_result rc, const char *fmt, ...) SPW_PRINTF(3, 4);
static void rd_fail(cfg_reader *r, spw_result rc, const char *fmt, ...) {
    if (r->rc != SPW_OK)
        return;
    r->rc = rc;
    r->err_line = r->line;
    if (r->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
        va_end(ap);
    }
}

/* Checks a section title and splits it; false with the error recorded. */
static bool title_check(cfg_reader *r, const char *t, size_t len, size_t *kind_len) {
    int q = (int)(len > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : len);
    if (len == 0) {
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: empty section header '[]'", r->path, r->line);
        return false;
    }
    const char *dot = memchr(t, '.', len);
    size_t k = dot ? (size_t)(dot - t) : len;
    for (size_t i = 0; i < k; i++)
        if (!is_kind_char(t[i])) {
            rd_fail(r, SPW_ERR_CONFIG,
                    "%s:%d: invalid section [%.*s]: the kind '%.*s' must be lowercase "
                    "letters or '-' (e.g. [sink.es])",
                    r->path, r->line, q, t, (int)(k > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : k), t);
            return false;
        }
    if (k == 0) {
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: invalid section [%.*s]: the kind before '.' is empty",
                r->path, r->line, q, t);
        return false;
    }
    if (dot) {
        if (k + 1 == len) {
            rd_fail(r, SPW_ERR_CONFIG, "%s:%d: invalid section [%.*s]: the name after '.' is empty",
                    r->path, r->line, q, t);
            return false;
        }
        for (size_t i = k + 1; i < len; i++)
            if (!is_name_char(t[i])) {
                rd_fail(r, SPW_ERR_CONFIG,
                        "%s:%d: invalid section [%.*s]: the name after '.' may only use "
                        "letters, digits, '_' and '-'",
                        r->path, r->line, q, t);
                return false;
            }
    }
    *kind_len = k;
    return true;
}

/* Handles a line starting with '['; false with the error recorded. */
static bool section_line(cfg_reader *r, const char *s, size_t len) {
    const char *close = memchr(s, ']', len);
    if (!close) {
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: syntax error: section header without ']'", r->path,
                r->line);
        return false;
    }
    /* Anything but a comment after ']' is a typo inih would silently drop. */
    const char *q = close + 1, *e = s + len;
    while (q < e && is_blank(*q))
        q++;
    if (q < e && *q != ';' && *q != '#') {
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: unexpected text after the section header", r->path,
                r->line);
        return false;
    }
    const char *t = s + 1;
    size_t tlen = (size_t)(close - t), kind_len;
    if (!title_check(r, t, tlen, &kind_len))
        return false;

    spw__cfg_file *f = r->file;
    for (size_t i = 0; i < f->n_sections; i++)
        if (strlen(f->sections[i].title) == tlen && memcmp(f->sections[i].title, t, tlen) == 0) {
            rd_fail(r, SPW_ERR_CONFIG, "%s:%d: duplicate section [%s] (first at line %d)", r->path,
                    r->line, f->sections[i].title, f->sections[i].line);
            return false;
        }

    if (f->n_sections == r->cap_sections) {
        size_t cap = r->cap_sections ? r->cap_sections * 2 : 8;
        spw__cfg_section *ns = realloc(f->sections, cap * sizeof *ns);
        if (!ns)
            goto nomem;
        f->sections = ns;
        r->cap_sections = cap;
    }
    spw__cfg_section *sec = &f->sections[f->n_sections];
    memset(sec, 0, sizeof *sec);
    sec->line = r->line;
    sec->title = strndup(t, tlen);
    sec->kind = strndup(t, kind_len);
    sec->name = kind_len < tlen ? strndup(t + kind_len + 1, tlen - kind_len - 1) : NULL;
    if (!sec->title || !sec->kind || (kind_len < tlen && !sec->name)) {
        section_free(sec);
        goto nomem;
    }
    r->cur = f->n_sections++;
    r->have_cur = true;
    r->cap_keys = 0;
    return true;
nomem:
    rd_fail(r, SPW_ERR_NOMEM, "%s:%d: out of memory", r->path, r->line);
    return false;
}

/*
 * inih's reader: hands over one line per call so inih's line count stays
 * ours. Returning NULL ends the parse, which is how our own errors stop it.
 */
static char *read_line(char *str, int num, void *stream) {
    cfg_reader *r = stream;
    if (r->rc != SPW_OK || r->p >= r->end)
        return NULL;
    const char *s = r->p;
    const char *nl = memchr(s, '\n', (size_t)(r->end - s));
    const char *e = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    r->line++;
    if (r->line == 1 && e - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* UTF-8 byte order mark */
    while (s < e && is_blank(*s))
        s++;
    size_t len = (size_t)(e - s);
    r->raw = s;
    r->raw_len = len;

    const char *give = s;
    if (len == 0 || *s == ';' || *s == '#') {
        give = ""; /* blank or comment: nothing for inih to do */
        len = 0;
    } else if (*s == '[') {
        if (!section_line(r, s, len))
            return NULL;
        give = "[s]"; /* sections are tracked here; inih only needs to see one */
        len = 3;
    } else if (num < 1 || len > (size_t)num - 1) {
        rd_fail(r, SPW_ERR_CONFIG,
                "%s:%d: line is longer than %d characters, the INI reader's limit; "
                "put a long value in an environment variable and write ${env:NAME}",
                r->path, r->line, num > 0 ? num - 1 : 0);
        return NULL;
    }
    memcpy(str, give, len);
    str[len] = '\0';
    return str;
}

/* Appends a key to the current section; the strings are transferred. */
static bool key_add(cfg_reader *r, char *key, char *value) {
    spw__cfg_section *sec = &r->file->sections[r->cur];
    if (sec->n_keys == r->cap_keys) {
        size_t cap = r->cap_keys ? r->cap_keys * 2 : 8;
        spw__cfg_key *nk = realloc(sec->keys, cap * sizeof *nk);
        if (!nk) {
            free(key);
            free(value);
            rd_fail(r, SPW_ERR_NOMEM, "%s:%d: out of memory", r->path, r->line);
            return false;
        }
        sec->keys = nk;
        r->cap_keys = cap;
    }
    sec->keys[sec->n_keys++] = (spw__cfg_key){.key = key, .value = value, .line = r->line};
    return true;
}

static int on_key(cfg_reader *r, const char *value) {
    if (r->rc != SPW_OK)
        return 0;
    /* The key as written: inih would have truncated a long one. */
    size_t klen = 0;
    while (klen < r->raw_len && r->raw[klen] != '=' && r->raw[klen] != ':')
        klen++;
    while (klen > 0 && is_blank(r->raw[klen - 1]))
        klen--;
    int q = (int)(klen > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : klen);
    const char *k = r->raw;

    if (!r->have_cur) {
        rd_fail(r, SPW_ERR_CONFIG,
                "%s:%d: key '%.*s' is outside any section (add a [section] header above it)",
                r->path, r->line, q, k);
        return 0;
    }
    const char *title = r->file->sections[r->cur].title;
    if (klen == 0) {
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: [%s] missing key name before '='", r->path, r->line,
                title);
        return 0;
    }
    bool upper = false, bad = false;
    for (size_t i = 0; i < klen; i++) {
        if (k[i] >= 'A' && k[i] <= 'Z')
            upper = true;
        else if (!is_key_char(k[i]))
            bad = true;
    }
    if (bad) {
        rd_fail(r, SPW_ERR_CONFIG,
                "%s:%d: [%s] invalid key '%.*s' (keys use lowercase letters, digits, '_' and '-')",
                r->path, r->line, title, q, k);
        return 0;
    }
    if (upper) {
        char lower[CFG_QUOTE_MAX + 1];
        for (int i = 0; i < q; i++)
            lower[i] = (char)tolower((unsigned char)k[i]);
        lower[q] = '\0';
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: [%s] key '%.*s': keys are lowercase; write '%s'",
                r->path, r->line, title, q, k, lower);
        return 0;
    }
    if (!value) { /* only with an inih built to allow keys without '=' */
        rd_fail(r, SPW_ERR_CONFIG, "%s:%d: [%s] key '%.*s' has no '= value'", r->path, r->line,
                title, q, k);
        return 0;
    }

    char *key = strndup(k, klen);
    if (!key) {
        rd_fail(r, SPW_ERR_NOMEM, "%s:%d: out of memory", r->path, r->line);
        return 0;
    }
    char *v;
    spw_err ierr;
    spw_result rc = spw__cfg_interpolate(value, &v, &ierr);
    if (rc != SPW_OK) {
        rd_fail(r, rc, "%s:%d: [%s] key '%s': %s", r->path, r->line, title, key, ierr.msg);
        free(key);
        return 0;
    }
    return key_add(r, key, v) ? 1 : 0;
}

#if INI_HANDLER_LINENO
static int ini_on_key(void *user, const char *section, const char *name, const char *value,
                      int lineno) {
    (void)section, (void)name, (void)lineno; /* ours are better: see the top of the file */
    return on_key(user, value);
}
#else
static int ini_on_key(void *user, const char *section, const char *name, const char *value) {
    (void)section, (void)name; /* ours are better: see the top of the file */
    return on_key(user, value);
}
#endif

static spw_result parse_text(const char *text, size_t len, const char *path, spw__cfg_file **out,
                             spw_err *err) {
    *out = NULL;
    spw__cfg_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "%s: out of memory", path);
    }
    /* inih would read a NUL as the end of the line; say where it is instead. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        spw__cfg_free(f);
        return spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: NUL byte in the file", path, line);
    }

    cfg_reader r = {.path = f->path, .p = text, .end = text + len, .file = f, .err = err};
    int ini = ini_parse_stream(read_line, &r, ini_on_key, &r);
    spw_result rc = SPW_OK;
    if (ini == -2)
        rc = spw_err_set(err, SPW_ERR_NOMEM, "%s: out of memory", path);
    else if (r.rc != SPW_OK && (ini <= 0 || r.err_line <= ini))
        rc = r.rc; /* our message is already in err */
    else if (ini > 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG,
                         "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)",
                         path, ini);
    else if (ini < 0)
        rc = spw_err_set(err, SPW_ERR_IO, "%s: the INI reader failed (%d)", path, ini);
    if (rc != SPW_OK) {
        spw__cfg_free(f);
        return rc;
    }
    /* Trim the arrays' slack? Not worth it: a pipeline file is small. */
    *out = f;
    return SPW_OK;
}

spw_result spw__cfg_load_string(const char *text, const char *path, spw__cfg_file **out,
                                spw_err *err) {
    if (!out)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__cfg_load_string: NULL argument");
    *out = NULL;
    if (!text)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__cfg_load_string: NULL text");
    if (!path)
        path = "(string)";
    size_t len = strlen(text);
    if (len > CFG_MAX_FILE)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s: the configuration is larger than 1 MiB",
                           path);
    return parse_text(text, len, path, out, err);
}

spw_result spw__cfg_load(const char *path, spw__cfg_file **out, spw_err *err) {
    if (!out)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__cfg_load: NULL argument");
    *out = NULL;
    if (!path || !*path)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__cfg_load: no path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return spw_err_set(err, SPW_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return spw_err_set(err, SPW_ERR_IO, "%s: cannot read: it is a directory", path);
    }
    /* Read one byte more than allowed to tell "exactly 1 MiB" from "more". */
    char *buf = malloc(CFG_MAX_FILE + 2);
    if (!buf) {
        close(fd);
        return spw_err_set(err, SPW_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t len = 0;
    while (len < CFG_MAX_FILE + 1) {
        ssize_t n = read(fd, buf + len, CFG_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return spw_err_set(err, SPW_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > CFG_MAX_FILE) {
        free(buf);
        return spw_err_set(err, SPW_ERR_CONFIG, "%s: the file is larger than 1 MiB", path);
    }
    buf[len] = '\0';
    spw_result rc = parse_text(buf, len, path, out, err);
    free(buf);
    return rc;
}
