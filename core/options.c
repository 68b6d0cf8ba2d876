/*
 * core/options.c: typing configuration keys against option tables. Owns
 * the value syntaxes (booleans, integers, durations, sizes, enums, lists),
 * defaults, bounds, secrets read from NAME_file, the checks applied to a
 * plugin's table before it is trusted, and the --help-plugin listing.
 *
 * A secret's value never appears in a message: values are quoted back only
 * for options without SPW_OPT_SECRET, and a secret file's content never.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "options.h"

#define SECRET_FILE_MAX ((size_t)64 << 10) /* 64 KiB */
#define SECRET_SUFFIX "_file"
#define OPT_NAME_MAX 64        /* longest option name a table may declare */
#define OPT_TABLE_MAX 1024     /* more options than this: the table is not terminated */
#define OPT_CHOICES_MAX 64
#define QUOTE_MAX 64           /* how much of a bad value is quoted back */
#define WHAT_MAX 256

/* A parsed value before it is stored. */
typedef struct opt_val {
    union {
        bool b;
        int64_t i;
        double d;
        int e;
        char *s;
    } u;
    spw_strlist list;
} opt_val;

/* What happened to one option while parsing a section. */
typedef struct opt_state {
    const spw_option *o;
    void *conf;
    int first_line;  /* 0 = not given */
    int last_line;
    bool via_file;   /* given as NAME_file */
} opt_state;

static const char *type_name(spw_opt_type t) {
    switch (t) {
    case SPW_OPT_BOOL: return "bool";
    case SPW_OPT_INT: return "int";
    case SPW_OPT_DOUBLE: return "double";
    case SPW_OPT_STRING: return "string";
    case SPW_OPT_DURATION: return "duration";
    case SPW_OPT_SIZE: return "size";
    case SPW_OPT_ENUM: return "enum";
    case SPW_OPT_LIST: return "list";
    case SPW_OPT_GROUP: return "group";
    }
    return NULL;
}

/* Size and alignment of the field an option writes; 0 for unknown types. */
static size_t type_size(spw_opt_type t) {
    switch (t) {
    case SPW_OPT_BOOL: return sizeof(bool);
    case SPW_OPT_INT:
    case SPW_OPT_DURATION:
    case SPW_OPT_SIZE: return sizeof(int64_t);
    case SPW_OPT_DOUBLE: return sizeof(double);
    case SPW_OPT_STRING: return sizeof(char *);
    case SPW_OPT_ENUM: return sizeof(int);
    case SPW_OPT_LIST: return sizeof(spw_strlist);
    case SPW_OPT_GROUP: return sizeof(void *);
    }
    return 0;
}

static size_t type_align(spw_opt_type t) {
    switch (t) {
    case SPW_OPT_BOOL: return alignof(bool);
    case SPW_OPT_INT:
    case SPW_OPT_DURATION:
    case SPW_OPT_SIZE: return alignof(int64_t);
    case SPW_OPT_DOUBLE: return alignof(double);
    case SPW_OPT_STRING: return alignof(char *);
    case SPW_OPT_ENUM: return alignof(int);
    case SPW_OPT_LIST: return alignof(spw_strlist);
    case SPW_OPT_GROUP: return alignof(void *);
    }
    return 1;
}

static bool has_bounds(const spw_option *o) {
    return o->min != 0 || o->max != 0;
}

static bool is_secret(const spw_option *o) {
    return (o->flags & SPW_OPT_SECRET) != 0;
}

static void *field(const spw_option *o, void *conf) {
    return (char *)conf + o->offset;
}

/* ---------------------------------------------------------------------- */
/* Groups: option tables the core owns, embedded by name (SPW_OPT_GROUP)  */
/* ---------------------------------------------------------------------- */

static const spw__opt_group *const groups[] = {&spw__http_group};

static const spw__opt_group *find_group(const char *name) {
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(groups[i]->name, name) == 0)
            return groups[i];
    return NULL;
}

static void *group_conf(const spw_option *o, void *conf) {
    void *g;
    memcpy(&g, field(o, conf), sizeof g);
    return g;
}

/*
 * Gives every group entry of the targets' tables a zeroed struct of its own
 * and appends a target for it to ex (room for n + number of groups).
 * Returns how many targets ex holds, or 0 when out of memory.
 */
static size_t expand_groups(const spw__opt_target *targets, size_t n, spw__opt_target *ex) {
    size_t k = 0;
    for (size_t t = 0; t < n; t++)
        ex[k++] = targets[t];
    for (size_t t = 0; t < n; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++) {
            const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
            if (!g)
                continue;
            void *gc = calloc(1, g->size);
            if (!gc)
                return 0;
            memcpy(field(o, targets[t].conf), &gc, sizeof gc);
            ex[k++] = (spw__opt_target){g->table, gc};
        }
    return k;
}

/*
 * A group entry's `def` (since ABI 1.3): the plugin's own defaults for some
 * of the group's options, one "KEY = VALUE" per line, as a user would write
 * them in the section (SPW_OPTION_HTTP_DEFAULTS). Blanks around KEY and
 * VALUE are not part of them; empty lines are skipped.
 *
 * Reads the next one from *p into key and val: 1 when one was read, 0 at
 * the end, -1 when a line is malformed (`what` says why, WHAT_MAX bytes).
 */
#define GROUP_DEFAULT_MAX 512 /* longest VALUE a plugin may give as a group default */
static int next_group_default(const char **p, char *key, char *val, char *what) {
    for (;;) {
        const char *line = *p;
        if (!line || !*line)
            return 0;
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        *p = nl ? nl + 1 : line + len;
        while (len && isspace((unsigned char)line[len - 1]))
            len--;
        while (len && isspace((unsigned char)*line)) {
            line++;
            len--;
        }
        if (!len)
            continue;
        const char *eq = memchr(line, '=', len);
        if (!eq) {
            snprintf(what, WHAT_MAX, "default '%.*s' is not KEY = VALUE",
                     (int)(len > 64 ? 64 : len), line);
            return -1;
        }
        size_t kl = (size_t)(eq - line), vo = kl + 1;
        while (kl && isspace((unsigned char)line[kl - 1]))
            kl--;
        while (vo < len && isspace((unsigned char)line[vo]))
            vo++;
        if (kl == 0 || kl > OPT_NAME_MAX || len - vo >= GROUP_DEFAULT_MAX) {
            snprintf(what, WHAT_MAX, "default '%.*s' has no key, or a key or value too long",
                     (int)(len > 64 ? 64 : len), line);
            return -1;
        }
        memcpy(key, line, kl);
        key[kl] = '\0';
        memcpy(val, line + vo, len - vo);
        val[len - vo] = '\0';
        return 1;
    }
}

static const spw_option *group_option(const spw__opt_group *g, const char *name) {
    for (const spw_option *o = g->table; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/*
 * Writes a group entry's defaults over the group's own in gc (after those,
 * before the section's keys). The table was checked (spw__opts_check_table),
 * so a failure here is only out of memory or an unchecked table.
 */
static spw_result set_value(const spw_option *o, void *conf, const char *s, bool replace,
                            char *what);
static spw_result apply_group_defaults(const spw_option *entry, const spw__opt_group *g,
                                       void *gc, spw_err *err) {
    char key[OPT_NAME_MAX + 1], val[GROUP_DEFAULT_MAX], what[WHAT_MAX];
    const char *p = entry->def;
    int r;
    while ((r = next_group_default(&p, key, val, what)) > 0) {
        const spw_option *o = group_option(g, key);
        if (!o) {
            snprintf(what, WHAT_MAX, "'%s' is not an option of the group", key);
            break;
        }
        if (set_value(o, gc, val, true, what) != SPW_OK)
            break;
    }
    if (r == 0)
        return SPW_OK;
    return spw_err_set(err, SPW_ERR_CONFIG, "option '%s': bad default: %s", entry->name, what);
}

/* Defaults of the groups the tables embed, then the entries' own over them. */
static spw_result apply_all_group_defaults(const spw__opt_target *targets, size_t n,
                                           spw_err *err) {
    for (size_t t = 0; t < n; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++) {
            const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
            if (!g || !o->def)
                continue;
            spw_result rc = apply_group_defaults(o, g, group_conf(o, targets[t].conf), err);
            if (rc != SPW_OK)
                return rc;
        }
    return SPW_OK;
}

/* o as shown to users: with a group entry's default for it, if `defs` has one. */
static const spw_option *shown_option(const spw_option *o, const char *defs, spw_option *copy,
                                      char *buf) {
    char key[OPT_NAME_MAX + 1], what[WHAT_MAX];
    const char *p = defs;
    while (next_group_default(&p, key, buf, what) > 0)
        if (strcmp(key, o->name) == 0) {
            *copy = *o;
            copy->def = buf;
            return copy;
        }
    return o;
}

static size_t count_groups(const spw__opt_target *targets, size_t n) {
    size_t k = 0;
    for (size_t t = 0; t < n; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++)
            k += o->type == SPW_OPT_GROUP;
    return k;
}

static void strlist_free(spw_strlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->n = 0;
    l->v = NULL;
}

static void val_free(const spw_option *o, opt_val *v) {
    if (o->type == SPW_OPT_STRING) {
        free(v->u.s);
        v->u.s = NULL;
    } else if (o->type == SPW_OPT_LIST) {
        strlist_free(&v->list);
    }
}

/* ---------------------------------------------------------------------- */
/* Value syntaxes                                                          */
/* ---------------------------------------------------------------------- */

spw_result spw__parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!s || !out)
        return SPW_ERR_INVAL;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return SPW_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return SPW_OK;
        }
    }
    return SPW_ERR_INVAL;
}

spw_result spw__parse_int(const char *s, int64_t *out) {
    if (!s || !out)
        return SPW_ERR_INVAL;
    /* strtoll would accept leading blanks and "0x"-less junk after a sign; be exact. */
    const char *p = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*p))
        return SPW_ERR_INVAL;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return SPW_ERR_INVAL;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return SPW_ERR_RANGE;
    *out = (int64_t)v;
    return SPW_OK;
}

spw_result spw__parse_double(const char *s, double *out) {
    if (!s || !out)
        return SPW_ERR_INVAL;
    /* Plain decimal notation only: no hex floats, no inf or nan. */
    if (!*s)
        return SPW_ERR_INVAL;
    for (const char *q = s; *q; q++)
        if (!isdigit((unsigned char)*q) && !strchr("+-.eE", *q))
            return SPW_ERR_INVAL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end)
        return SPW_ERR_INVAL;
    if (!isfinite(d))
        return SPW_ERR_RANGE;
    *out = d;
    return SPW_OK;
}

typedef struct unit {
    const char *name;
    int64_t mult;
} unit;

static const unit duration_units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {NULL, 0}};
static const unit size_units[] = {
    {"", 1},
    {"k", (int64_t)1 << 10}, {"K", (int64_t)1 << 10}, {"KiB", (int64_t)1 << 10},
    {"M", (int64_t)1 << 20}, {"MiB", (int64_t)1 << 20},
    {"G", (int64_t)1 << 30}, {"GiB", (int64_t)1 << 30},
    {NULL, 0}};

/* How a scaled number ("1.5s", "64KiB") can be wrong. */
typedef enum scaled_err {
    SCALED_OK = 0,
    SCALED_SYNTAX,    /* not a number */
    SCALED_DECIMALS,  /* more than 9 decimals */
    SCALED_UNIT,      /* unknown unit */
    SCALED_NEGATIVE,
    SCALED_TOO_LARGE, /* does not fit int64 */
    SCALED_FRACTION,  /* not a whole number of the smallest unit */
} scaled_err;

/*
 * "NUMBER[.FRACTION][ ]UNIT" into an exact integer count of the smallest
 * unit, without floating point (1.1s must be 1100ms, not 1099).
 */
static scaled_err parse_scaled(const char *s, const unit *units, int64_t *out) {
    static const int64_t pow10[] = {1,      10,      100,      1000,      10000,
                                    100000, 1000000, 10000000, 100000000, 1000000000};
    if (!s)
        return SCALED_SYNTAX;
    const char *p = s;
    if (*p == '-' && isdigit((unsigned char)p[1]))
        return SCALED_NEGATIVE;
    if (!isdigit((unsigned char)*p))
        return SCALED_SYNTAX;
    int64_t whole = 0, frac = 0;
    int frac_digits = 0;
    bool overflow = false;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (whole > (INT64_MAX - d) / 10)
            overflow = true;
        else
            whole = whole * 10 + d;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return SCALED_SYNTAX;
        for (; isdigit((unsigned char)*p); p++) {
            if (frac_digits == 9)
                return SCALED_DECIMALS;
            frac = frac * 10 + (*p - '0');
            frac_digits++;
        }
    }
    const char *num_end = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p != num_end && !*p)
        return SCALED_SYNTAX; /* "5 ": blanks only make sense before a unit */
    const unit *u = units;
    while (u->name && strcmp(u->name, p) != 0)
        u++;
    if (!u->name)
        return SCALED_UNIT;
    if (overflow || whole > INT64_MAX / u->mult)
        return SCALED_TOO_LARGE;
    /* frac < 1e9 and mult <= 3.6e6 (hours) or 2^30 (GiB): the product fits. */
    int64_t part = frac * u->mult;
    if (part % pow10[frac_digits] != 0)
        return SCALED_FRACTION;
    part /= pow10[frac_digits];
    int64_t v = whole * u->mult;
    if (v > INT64_MAX - part)
        return SCALED_TOO_LARGE;
    *out = v + part;
    return SCALED_OK;
}

static spw_result scaled_result(scaled_err e) {
    switch (e) {
    case SCALED_OK: return SPW_OK;
    case SCALED_NEGATIVE:
    case SCALED_TOO_LARGE:
    case SCALED_FRACTION: return SPW_ERR_RANGE;
    default: return SPW_ERR_INVAL;
    }
}

spw_result spw__parse_duration_ms(const char *s, int64_t *out) {
    int64_t v;
    if (!out)
        return SPW_ERR_INVAL;
    spw_result rc = scaled_result(parse_scaled(s, duration_units, &v));
    if (rc == SPW_OK)
        *out = v;
    return rc;
}

spw_result spw__parse_size(const char *s, int64_t *out) {
    int64_t v;
    if (!out)
        return SPW_ERR_INVAL;
    spw_result rc = scaled_result(parse_scaled(s, size_units, &v));
    if (rc == SPW_OK)
        *out = v;
    return rc;
}

/* The problem with a scaled value, in words; `syntax` explains the notation. */
static void scaled_problem(char *buf, size_t len, scaled_err e, const char *kind,
                           const char *smallest, const char *syntax) {
    switch (e) {
    case SCALED_NEGATIVE: snprintf(buf, len, "negative (a %s cannot be)", kind); break;
    case SCALED_TOO_LARGE: snprintf(buf, len, "too large"); break;
    case SCALED_FRACTION: snprintf(buf, len, "not a whole number of %s", smallest); break;
    case SCALED_DECIMALS:
        snprintf(buf, len, "not a %s (at most 9 decimals; %s)", kind, syntax);
        break;
    case SCALED_UNIT: snprintf(buf, len, "not a %s (unknown unit; %s)", kind, syntax); break;
    default: snprintf(buf, len, "not a %s (%s)", kind, syntax); break;
    }
}

/* Index of s in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *s) {
    size_t n = strlen(s);
    int i = 0;
    for (const char *p = choices; p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/*
 * Appends the comma-separated items of s to l. On failure l still holds
 * exactly its old items (its array may have moved).
 */
static spw_result list_append(spw_strlist *l, const char *s, const char **why) {
    if (!*s)
        return SPW_OK; /* an empty value is an empty list (clears a default) */
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    /* Validate before allocating, so a failure leaves l as it was. */
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && isspace((unsigned char)*p))
            p++;
        if (p == e) {
            *why = "a list with an empty item (items are separated by ',')";
            return SPW_ERR_CONFIG;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    char **v = realloc(l->v, (l->n + n) * sizeof *v);
    if (!v) {
        *why = "out of memory";
        return SPW_ERR_NOMEM;
    }
    l->v = v;
    size_t added = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && isspace((unsigned char)*p))
            p++;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        char *item = strndup(p, (size_t)(e - p));
        if (!item) {
            for (size_t i = 0; i < added; i++)
                free(l->v[l->n + i]);
            *why = "out of memory";
            return SPW_ERR_NOMEM;
        }
        l->v[l->n + added++] = item;
        if (!comma)
            break;
        p = comma + 1;
    }
    l->n += added;
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Formatting for messages and --help-plugin                               */
/* ---------------------------------------------------------------------- */

static void fmt_duration(char *buf, size_t len, int64_t ms) {
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, len, "%" PRId64 "m", ms / 60000);
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRId64 "ms", ms);
}

static void fmt_size(char *buf, size_t len, int64_t b) {
    if (b != 0 && b % ((int64_t)1 << 30) == 0)
        snprintf(buf, len, "%" PRId64 "GiB", b >> 30);
    else if (b != 0 && b % ((int64_t)1 << 20) == 0)
        snprintf(buf, len, "%" PRId64 "MiB", b >> 20);
    else if (b != 0 && b % ((int64_t)1 << 10) == 0)
        snprintf(buf, len, "%" PRId64 "KiB", b >> 10);
    else
        snprintf(buf, len, "%" PRId64, b);
}

/* A bound in the option's own notation (1s rather than 1000). */
static void fmt_bound(char *buf, size_t len, const spw_option *o, double b) {
    bool integral = isfinite(b) && b == floor(b) && fabs(b) < 9e18;
    if (!integral || o->type == SPW_OPT_DOUBLE)
        snprintf(buf, len, "%g", b);
    else if (o->type == SPW_OPT_DURATION)
        fmt_duration(buf, len, (int64_t)b);
    else if (o->type == SPW_OPT_SIZE)
        fmt_size(buf, len, (int64_t)b);
    else
        snprintf(buf, len, "%" PRId64, (int64_t)b);
}

/* 'value' quoted for a message, shortened; never called for secrets. */
static void quote(char *buf, size_t len, const char *s) {
    size_t n = strlen(s);
    snprintf(buf, len, "'%.*s%s'", (int)(n > QUOTE_MAX ? QUOTE_MAX : n), s,
             n > QUOTE_MAX ? "..." : "");
}

/*
 * Describes a bad value: "'abc' is not an integer", or for a secret
 * "invalid value (not an integer)". `plain` says the value is shown
 * without quotes (numbers in bound messages read better that way).
 */
static void what_bad(char *what, const spw_option *o, const char *s, bool plain,
                     const char *problem) {
    if (is_secret(o)) {
        snprintf(what, WHAT_MAX, "invalid value (%s)", problem);
    } else if (plain) {
        size_t n = strlen(s);
        snprintf(what, WHAT_MAX, "%.*s%s is %s", (int)(n > QUOTE_MAX ? QUOTE_MAX : n), s,
                 n > QUOTE_MAX ? "..." : "", problem);
    } else {
        char q[QUOTE_MAX + 8];
        quote(q, sizeof q, s);
        snprintf(what, WHAT_MAX, "%s is %s", q, problem);
    }
}

/* ---------------------------------------------------------------------- */
/* Parsing one value                                                       */
/* ---------------------------------------------------------------------- */

/* Checks a numeric value against the option's bounds. */
static bool in_bounds(const spw_option *o, double v, const char *s, char *what) {
    if (!has_bounds(o))
        return true;
    char b[64], problem[96];
    if (v < o->min) {
        fmt_bound(b, sizeof b, o, o->min);
        snprintf(problem, sizeof problem, "below the minimum %s", b);
    } else if (v > o->max) {
        fmt_bound(b, sizeof b, o, o->max);
        snprintf(problem, sizeof problem, "above the maximum %s", b);
    } else {
        return true;
    }
    what_bad(what, o, s, true, problem);
    return false;
}

/*
 * Parses s as o's type into *v (for LIST, appends to v->list). On failure
 * `what` (WHAT_MAX bytes) describes the problem, without the value for a
 * secret, and *v holds nothing new.
 */
static spw_result parse_value(const spw_option *o, const char *s, opt_val *v, char *what) {
    spw_result rc;
    const char *why;
    char problem[192];
    switch (o->type) {
    case SPW_OPT_GROUP:
        snprintf(what, WHAT_MAX, "a group of options takes no value of its own");
        return SPW_ERR_CONFIG;
    case SPW_OPT_BOOL:
        if (spw__parse_bool(s, &v->u.b) != SPW_OK) {
            what_bad(what, o, s, false, "not a boolean (use true/false, yes/no, on/off or 1/0)");
            return SPW_ERR_CONFIG;
        }
        return SPW_OK;
    case SPW_OPT_INT:
        rc = spw__parse_int(s, &v->u.i);
        if (rc != SPW_OK) {
            what_bad(what, o, s, false,
                     rc == SPW_ERR_RANGE ? "out of range for a 64-bit integer"
                                         : "not an integer");
            return SPW_ERR_CONFIG;
        }
        return in_bounds(o, (double)v->u.i, s, what) ? SPW_OK : SPW_ERR_CONFIG;
    case SPW_OPT_DOUBLE:
        rc = spw__parse_double(s, &v->u.d);
        if (rc != SPW_OK) {
            what_bad(what, o, s, false,
                     rc == SPW_ERR_RANGE ? "out of range" : "not a finite decimal number");
            return SPW_ERR_CONFIG;
        }
        return in_bounds(o, v->u.d, s, what) ? SPW_OK : SPW_ERR_CONFIG;
    case SPW_OPT_DURATION:
    case SPW_OPT_SIZE: {
        bool dur = o->type == SPW_OPT_DURATION;
        scaled_err e = parse_scaled(s, dur ? duration_units : size_units, &v->u.i);
        if (e != SCALED_OK) {
            if (dur)
                scaled_problem(problem, sizeof problem, e, "duration", "milliseconds",
                               "write a number and ms, s, m or h, e.g. 250ms, 1.5s, 2m; a bare "
                               "number is ms");
            else
                scaled_problem(problem, sizeof problem, e, "size", "bytes",
                               "write bytes, or a number and k/KiB, M/MiB or G/GiB, powers of "
                               "1024");
            what_bad(what, o, s, false, problem);
            return SPW_ERR_CONFIG;
        }
        return in_bounds(o, (double)v->u.i, s, what) ? SPW_OK : SPW_ERR_CONFIG;
    }
    case SPW_OPT_ENUM: {
        int i = o->choices ? enum_index(o->choices, s) : -1;
        if (i < 0) {
            snprintf(problem, sizeof problem, "not one of %.100s",
                     o->choices ? o->choices : "(no choices)");
            what_bad(what, o, s, false, problem);
            return SPW_ERR_CONFIG;
        }
        v->u.e = i;
        return SPW_OK;
    }
    case SPW_OPT_STRING:
        v->u.s = strdup(s);
        if (!v->u.s) {
            snprintf(what, WHAT_MAX, "out of memory");
            return SPW_ERR_NOMEM;
        }
        return SPW_OK;
    case SPW_OPT_LIST:
        rc = list_append(&v->list, s, &why);
        if (rc == SPW_ERR_NOMEM)
            snprintf(what, WHAT_MAX, "out of memory");
        else if (rc != SPW_OK)
            what_bad(what, o, s, false, why);
        return rc;
    }
    snprintf(what, WHAT_MAX, "unknown option type %d", (int)o->type);
    return SPW_ERR_CONFIG;
}

/* Checks a list's element count; the count is never secret. */
static bool list_count_ok(const spw_option *o, size_t n, char *what) {
    if (!has_bounds(o))
        return true;
    char b[64];
    if ((double)n < o->min) {
        fmt_bound(b, sizeof b, o, o->min);
        snprintf(what, WHAT_MAX, "has %zu item%s, fewer than the minimum %s", n,
                 n == 1 ? "" : "s", b);
        return false;
    }
    if ((double)n > o->max) {
        fmt_bound(b, sizeof b, o, o->max);
        snprintf(what, WHAT_MAX, "has %zu item%s, more than the maximum %s", n, n == 1 ? "" : "s",
                 b);
        return false;
    }
    return true;
}

/* Reads the current value of a STRING or LIST field into v (borrowed view). */
static void load_field(const spw_option *o, void *conf, opt_val *v) {
    memset(v, 0, sizeof *v);
    if (o->type == SPW_OPT_STRING)
        memcpy(&v->u.s, field(o, conf), sizeof v->u.s);
    else if (o->type == SPW_OPT_LIST)
        memcpy(&v->list, field(o, conf), sizeof v->list);
}

/* Writes v into o's field (memcpy: the struct's alignment is not ours to trust). */
static void store_field(const spw_option *o, void *conf, const opt_val *v) {
    void *f = field(o, conf);
    switch (o->type) {
    case SPW_OPT_BOOL: memcpy(f, &v->u.b, sizeof v->u.b); break;
    case SPW_OPT_INT:
    case SPW_OPT_DURATION:
    case SPW_OPT_SIZE: memcpy(f, &v->u.i, sizeof v->u.i); break;
    case SPW_OPT_DOUBLE: memcpy(f, &v->u.d, sizeof v->u.d); break;
    case SPW_OPT_ENUM: memcpy(f, &v->u.e, sizeof v->u.e); break;
    case SPW_OPT_STRING: memcpy(f, &v->u.s, sizeof v->u.s); break;
    case SPW_OPT_LIST: memcpy(f, &v->list, sizeof v->list); break;
    case SPW_OPT_GROUP: memset(f, 0, sizeof(void *)); break; /* only ever cleared (zero_fields) */
    }
}

/*
 * Parses s and stores it in o's field. `replace`: drop what the field holds
 * first (a default, or nothing); otherwise a LIST appends. On failure the
 * field is unchanged.
 */
static spw_result set_value(const spw_option *o, void *conf, const char *s, bool replace,
                            char *what) {
    opt_val v;
    memset(&v, 0, sizeof v);
    if (o->type == SPW_OPT_LIST && !replace)
        load_field(o, conf, &v);
    spw_result rc = parse_value(o, s, &v, what);
    if (rc != SPW_OK) {
        /* A failed append keeps the items but may have moved the array. */
        if (o->type == SPW_OPT_LIST && !replace)
            store_field(o, conf, &v);
        else
            val_free(o, &v);
        return rc;
    }
    if (o->type == SPW_OPT_STRING || o->type == SPW_OPT_LIST) {
        if (replace) {
            opt_val old;
            load_field(o, conf, &old);
            val_free(o, &old);
        }
    }
    store_field(o, conf, &v);
    return SPW_OK;
}

/* Zero of every field, so that a failure halfway can free safely. */
static void zero_fields(const spw_option *table, void *conf) {
    opt_val z;
    memset(&z, 0, sizeof z);
    for (const spw_option *o = table; o && o->name; o++)
        store_field(o, conf, &z);
}

/* Applies the defaults of a table whose fields are already zero. */
static spw_result apply_defaults(const spw_option *table, void *conf, spw_err *err) {
    char what[WHAT_MAX];
    for (const spw_option *o = table; o && o->name; o++) {
        if (!o->def || o->type == SPW_OPT_GROUP) /* a group's: apply_all_group_defaults */
            continue;
        spw_result rc = set_value(o, conf, o->def, true, what);
        if (rc != SPW_OK)
            return spw_err_set(err, rc, "option '%s': bad default: %s", o->name, what);
    }
    return SPW_OK;
}

spw_result spw__opts_defaults(const spw_option *table, void *conf, spw_err *err) {
    if (!table)
        return SPW_OK;
    if (!conf)
        return spw_err_set(err, SPW_ERR_INVAL, "spw__opts_defaults: NULL config");
    zero_fields(table, conf);
    spw__opt_target t = {table, conf};
    spw__opt_target ex[1 + count_groups(&t, 1)];
    size_t n = expand_groups(&t, 1, ex);
    spw_result rc = n ? SPW_OK : spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == SPW_OK; i++)
        rc = apply_defaults(ex[i].table, ex[i].conf, err);
    if (rc == SPW_OK)
        rc = apply_all_group_defaults(&t, 1, err);
    if (rc != SPW_OK)
        spw__opts_free(table, conf);
    return rc;
}

void spw__opts_free(const spw_option *table, void *conf) {
    if (!table || !conf)
        return;
    for (const spw_option *o = table; o->name; o++) {
        if (o->type == SPW_OPT_GROUP) {
            const spw__opt_group *g = find_group(o->name);
            void *gc = group_conf(o, conf);
            if (g && gc) {
                spw__opts_free(g->table, gc);
                free(gc);
            }
            memset(field(o, conf), 0, sizeof gc);
            continue;
        }
        if (o->type != SPW_OPT_STRING && o->type != SPW_OPT_LIST)
            continue;
        opt_val v;
        load_field(o, conf, &v);
        val_free(o, &v);
        store_field(o, conf, &v);
    }
}

/* ---------------------------------------------------------------------- */
/* Sections                                                                */
/* ---------------------------------------------------------------------- */

/* Does option o claim `key`, directly or (secrets) as NAME_file? */
static bool claims(const spw_option *o, const char *key, bool *via_file) {
    if (o->type == SPW_OPT_GROUP)
        return false; /* its options claim keys, not its name */
    if (strcmp(o->name, key) == 0) {
        *via_file = false;
        return true;
    }
    size_t n = strlen(o->name);
    if (is_secret(o) && strncmp(key, o->name, n) == 0 && strcmp(key + n, SECRET_SUFFIX) == 0) {
        *via_file = true;
        return true;
    }
    return false;
}

/* Edit distance with adjacent transpositions, for "did you mean". */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > OPT_NAME_MAX + 8 || lb > OPT_NAME_MAX + 8)
        return SIZE_MAX;
    unsigned char d[OPT_NAME_MAX + 9][OPT_NAME_MAX + 9]; /* distances < 256 */
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = (size_t)d[i - 1][j] + 1;
            if ((size_t)d[i][j - 1] + 1 < best)
                best = (size_t)d[i][j - 1] + 1;
            if ((size_t)d[i - 1][j - 1] + cost < best)
                best = (size_t)d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                (size_t)d[i - 2][j - 2] + 1 < best)
                best = (size_t)d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    return d[la][lb];
}

static void consider(const char *key, const char *cand, char *best, size_t len,
                     size_t *best_d) {
    size_t d = edit_distance(key, cand);
    if (d <= 2 && d < *best_d) {
        *best_d = d;
        snprintf(best, len, "%s", cand);
    }
}

/* "; did you mean 'X'?" for the closest known key within edit distance 2; "" if none. */
static void suggest(const char *key, const spw__opt_target *targets, size_t n_targets,
                    const char *const *ignore, char *buf, size_t len) {
    char best[OPT_NAME_MAX + sizeof SECRET_SUFFIX + 1] = "";
    char with_file[sizeof best];
    size_t best_d = SIZE_MAX;
    for (size_t t = 0; t < n_targets; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++) {
            consider(key, o->name, best, sizeof best, &best_d);
            if (is_secret(o)) {
                snprintf(with_file, sizeof with_file, "%s%s", o->name, SECRET_SUFFIX);
                consider(key, with_file, best, sizeof best, &best_d);
            }
        }
    for (size_t i = 0; ignore && ignore[i]; i++)
        consider(key, ignore[i], best, sizeof best, &best_d);
    if (best[0])
        snprintf(buf, len, "; did you mean '%s'?", best);
    else
        buf[0] = '\0';
}

/* Joins a relative secret path to the configuration file's directory. */
static char *secret_path(const char *cfg_path, const char *p) {
    const char *slash = cfg_path ? strrchr(cfg_path, '/') : NULL;
    if (p[0] == '/' || !slash)
        return strdup(p);
    size_t dir = (size_t)(slash - cfg_path) + 1;
    char *out = malloc(dir + strlen(p) + 1);
    if (out) {
        memcpy(out, cfg_path, dir);
        strcpy(out + dir, p);
    }
    return out;
}

/*
 * Reads a secret file. Messages name the path, never the content, and the
 * buffer is wiped before it is released.
 */
static spw_result read_secret(const char *path, char **out, char *what) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(what, WHAT_MAX, "cannot read '%.150s': %s", path, strerror(errno));
        return SPW_ERR_CONFIG;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(what, WHAT_MAX, "cannot read '%.150s': it is a directory", path);
        return SPW_ERR_CONFIG;
    }
    char *buf = malloc(SECRET_FILE_MAX + 2);
    if (!buf) {
        close(fd);
        snprintf(what, WHAT_MAX, "out of memory");
        return SPW_ERR_NOMEM;
    }
    size_t len = 0;
    spw_result rc = SPW_OK;
    while (len < SECRET_FILE_MAX + 1) {
        ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(what, WHAT_MAX, "cannot read '%.150s': %s", path, strerror(errno));
            rc = SPW_ERR_CONFIG;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc == SPW_OK && len > SECRET_FILE_MAX) {
        snprintf(what, WHAT_MAX, "'%.150s' is larger than 64 KiB", path);
        rc = SPW_ERR_CONFIG;
    }
    if (rc == SPW_OK && memchr(buf, '\0', len)) {
        snprintf(what, WHAT_MAX, "'%.150s' contains a NUL byte", path);
        rc = SPW_ERR_CONFIG;
    }
    if (rc != SPW_OK) {
        explicit_bzero(buf, len);
        free(buf);
        return rc;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    *out = buf;
    return SPW_OK;
}

static void wipe_free(char *s) {
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* "PATH:LINE: [TITLE] key 'KEY': WHAT" */
static spw_result key_fail(spw_err *err, spw_result rc, const char *path, int line,
                           const char *title, const char *key, const char *what) {
    return spw_err_set(err, rc, "%s:%d: [%s] key '%s': %s", path, line, title, key, what);
}

/* Two options, possibly of different tables, that would claim the same key. */
static const char *clash(const spw_option *a, const spw_option *b) {
    bool f;
    if (claims(a, b->name, &f) || claims(b, a->name, &f))
        return b->name;
    return NULL;
}

static spw_result parse_keys(const char *path, const spw__cfg_section *sec, opt_state *st,
                             size_t n_st, const spw__opt_target *targets, size_t n_targets,
                             const char *const *ignore, spw_err *err) {
    char what[WHAT_MAX];
    for (size_t k = 0; k < sec->n_keys; k++) {
        spw__cfg_key *key = &sec->keys[k];
        bool skip = false;
        for (size_t i = 0; ignore && ignore[i]; i++)
            if (strcmp(ignore[i], key->key) == 0)
                skip = true;
        if (skip)
            continue;

        opt_state *s = NULL;
        bool via_file = false;
        for (size_t i = 0; i < n_st && !s; i++)
            if (claims(st[i].o, key->key, &via_file))
                s = &st[i];
        if (!s) {
            char hint[OPT_NAME_MAX + 48];
            suggest(key->key, targets, n_targets, ignore, hint, sizeof hint);
            return spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] unknown key '%s'%s", path,
                               key->line, sec->title, key->key, hint);
        }
        const spw_option *o = s->o;
        if (s->first_line && s->via_file != via_file)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "%s:%d: [%s] key '%s': '%s%s' is also given (line %d); give "
                               "only one of them",
                               path, key->line, sec->title, key->key, o->name,
                               via_file ? "" : SECRET_SUFFIX, s->first_line);
        if (s->first_line && o->type != SPW_OPT_LIST)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "%s:%d: [%s] key '%s' is given twice (first at line %d)", path,
                               key->line, sec->title, key->key, s->first_line);

        const char *value = key->value;
        char *secret = NULL;
        if (via_file) {
            if (!*key->value)
                return key_fail(err, SPW_ERR_CONFIG, path, key->line, sec->title, key->key,
                                "empty path");
            char *p = secret_path(path, key->value);
            if (!p)
                return key_fail(err, SPW_ERR_NOMEM, path, key->line, sec->title, key->key,
                                "out of memory");
            spw_result rc = read_secret(p, &secret, what);
            free(p);
            if (rc != SPW_OK)
                return key_fail(err, rc, path, key->line, sec->title, key->key, what);
            value = secret;
        }
        spw_result rc = set_value(o, s->conf, value, s->first_line == 0, what);
        wipe_free(secret);
        if (rc != SPW_OK)
            return key_fail(err, rc, path, key->line, sec->title, key->key, what);
        key->used = 1;
        if (!s->first_line)
            s->first_line = key->line;
        s->last_line = key->line;
        s->via_file = via_file;
    }
    return SPW_OK;
}

spw_result spw__opts_parse(const spw__cfg_file *f, const spw__cfg_section *sec,
                           const spw__opt_target *targets, size_t n_targets,
                           const char *const *ignore, spw_err *err) {
    if (!sec || (n_targets && !targets))
        return spw_err_set(err, SPW_ERR_INVAL, "spw__opts_parse: NULL argument");
    const char *path = f && f->path ? f->path : "(configuration)";
    for (size_t t = 0; t < n_targets; t++)
        if (targets[t].table && !targets[t].conf)
            return spw_err_set(err, SPW_ERR_INVAL, "spw__opts_parse: NULL config");

    /* Groups become targets of their own; the originals own them (spw__opts_free). */
    const spw__opt_target *orig = targets;
    size_t n_orig = n_targets;
    for (size_t t = 0; t < n_orig; t++)
        zero_fields(orig[t].table, orig[t].conf);
    spw__opt_target ex[n_orig + count_groups(orig, n_orig) + 1];
    n_targets = expand_groups(orig, n_orig, ex);
    targets = ex;
    if (!n_targets) {
        for (size_t t = 0; t < n_orig; t++)
            spw__opts_free(orig[t].table, orig[t].conf);
        return spw_err_set(err, SPW_ERR_NOMEM, "%s:%d: [%s] out of memory", path, sec->line,
                           sec->title);
    }

    size_t n_st = 0;
    for (size_t t = 0; t < n_targets; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++)
            n_st++;
    opt_state *st = calloc(n_st + 1, sizeof *st);
    if (!st) {
        for (size_t t = 0; t < n_orig; t++)
            spw__opts_free(orig[t].table, orig[t].conf);
        return spw_err_set(err, SPW_ERR_NOMEM, "%s:%d: [%s] out of memory", path, sec->line,
                           sec->title);
    }
    n_st = 0;
    for (size_t t = 0; t < n_targets; t++)
        for (const spw_option *o = targets[t].table; o && o->name; o++)
            st[n_st++] = (opt_state){.o = o, .conf = targets[t].conf};

    for (size_t t = n_orig; t < n_targets; t++)
        zero_fields(targets[t].table, targets[t].conf);

    spw_result rc = SPW_OK;
    /* "Claimed by exactly one option": a core/plugin name clash is a bug, reported up front. */
    for (size_t i = 0; i < n_st && rc == SPW_OK; i++)
        for (size_t j = i + 1; j < n_st && rc == SPW_OK; j++) {
            const char *name = clash(st[i].o, st[j].o);
            if (name)
                rc = spw_err_set(err, SPW_ERR_CONFIG,
                                 "%s:%d: [%s] option '%s' is declared twice by the option "
                                 "tables of this section",
                                 path, sec->line, sec->title, name);
        }
    for (size_t t = 0; t < n_targets && rc == SPW_OK; t++) {
        spw_err derr;
        rc = apply_defaults(targets[t].table, targets[t].conf, &derr);
        if (rc != SPW_OK)
            spw_err_set(err, rc, "%s:%d: [%s] %s", path, sec->line, sec->title, derr.msg);
    }
    if (rc == SPW_OK) {
        /* A plugin's defaults for its group's options, which the section's keys replace. */
        spw_err derr;
        rc = apply_all_group_defaults(orig, n_orig, &derr);
        if (rc != SPW_OK)
            spw_err_set(err, rc, "%s:%d: [%s] %s", path, sec->line, sec->title, derr.msg);
    }
    if (rc == SPW_OK)
        rc = parse_keys(path, sec, st, n_st, targets, n_targets, ignore, err);

    char what[WHAT_MAX];
    for (size_t i = 0; i < n_st && rc == SPW_OK; i++) {
        const spw_option *o = st[i].o;
        if ((o->flags & SPW_OPT_REQUIRED) && !st[i].first_line) {
            rc = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] missing required key '%s'%s%s%s",
                             path, sec->line, sec->title, o->name,
                             is_secret(o) ? " (or '" : "", is_secret(o) ? o->name : "",
                             is_secret(o) ? SECRET_SUFFIX "')" : "");
        } else if (o->type == SPW_OPT_LIST && st[i].first_line) {
            /* Counted once all repeats are in; an untouched default was checked with the table. */
            spw_strlist l;
            memcpy(&l, field(o, st[i].conf), sizeof l);
            if (!list_count_ok(o, l.n, what))
                rc = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] key '%s%s': %s", path,
                                 st[i].last_line, sec->title, o->name,
                                 st[i].via_file ? SECRET_SUFFIX : "", what);
        }
    }

    /* A group's own cross-option rules (url or urls, what each auth needs...). */
    for (size_t t = 0; t < n_orig && rc == SPW_OK; t++)
        for (const spw_option *o = orig[t].table; o && o->name && rc == SPW_OK; o++) {
            const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
            spw_err gerr = {""};
            if (g && g->check && g->check(group_conf(o, orig[t].conf), o->flags, &gerr) != SPW_OK)
                rc = spw_err_set(err, SPW_ERR_CONFIG, "%s:%d: [%s] %s", path, sec->line,
                                 sec->title, gerr.msg);
        }

    if (rc != SPW_OK)
        for (size_t t = 0; t < n_orig; t++)
            spw__opts_free(orig[t].table, orig[t].conf);
    free(st);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Checking a table                                                        */
/* ---------------------------------------------------------------------- */

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > OPT_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return s[n - 1] != '_' && s[n - 1] != '-';
}

static spw_result choices_check(const spw_option *o, spw_err *err) {
    if (!o->choices || !*o->choices)
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': an enum needs choices (\"a|b|c\")",
                           o->name);
    int n = 0;
    for (const char *p = o->choices; p; n++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == 0)
            return spw_err_set(err, SPW_ERR_INVAL, "option '%s': empty choice in \"%.100s\"",
                               o->name, o->choices);
        if (n == OPT_CHOICES_MAX)
            return spw_err_set(err, SPW_ERR_INVAL, "option '%s': more than %d choices", o->name,
                               OPT_CHOICES_MAX);
        /* A choice equal to an earlier one could never be selected. */
        for (const char *q = o->choices; q < p;) {
            const char *qb = strchr(q, '|');
            if ((size_t)(qb - q) == len && memcmp(q, p, len) == 0)
                return spw_err_set(err, SPW_ERR_INVAL,
                                   "option '%s': choice '%.*s' appears twice", o->name, (int)len,
                                   p);
            q = qb + 1;
        }
        p = bar ? bar + 1 : NULL;
    }
    return SPW_OK;
}

/*
 * A group entry's defaults (see next_group_default): each an option of the
 * group, at most once, not a secret (a secret compiled into a plugin is
 * none), with a value that parses and lies within the option's bounds.
 */
static spw_result group_defaults_check(const spw_option *entry, const spw__opt_group *g,
                                       spw_err *err) {
    char key[OPT_NAME_MAX + 1], val[GROUP_DEFAULT_MAX], what[WHAT_MAX];
    const char *p = entry->def;
    int r;
    size_t n = 0;
    while ((r = next_group_default(&p, key, val, what)) > 0) {
        const spw_option *o = group_option(g, key);
        if (!o)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option '%s': default for '%s', which is not an option of the "
                               "group",
                               entry->name, key);
        if (is_secret(o))
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option '%s': '%s' is a secret and takes no plugin default",
                               entry->name, key);
        char k2[OPT_NAME_MAX + 1], v2[GROUP_DEFAULT_MAX];
        const char *q = entry->def;
        for (size_t i = 0; i < n && next_group_default(&q, k2, v2, what) > 0; i++)
            if (strcmp(k2, key) == 0)
                return spw_err_set(err, SPW_ERR_INVAL, "option '%s': default for '%s' given twice",
                                   entry->name, key);
        opt_val v;
        memset(&v, 0, sizeof v);
        spw_result rc = parse_value(o, val, &v, what);
        if (rc == SPW_OK && o->type == SPW_OPT_LIST && !list_count_ok(o, v.list.n, what))
            rc = SPW_ERR_INVAL;
        val_free(o, &v);
        if (rc != SPW_OK)
            return spw_err_set(err, rc == SPW_ERR_NOMEM ? rc : SPW_ERR_INVAL,
                               "option '%s': bad default for '%s': %s", entry->name, key, what);
        n++;
    }
    if (r < 0)
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': %s", entry->name, what);
    if (n == 0)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "option '%s': a group's default is KEY = VALUE lines", entry->name);
    return SPW_OK;
}

static spw_result option_check(const spw_option *o, size_t config_size, spw_err *err) {
    const char *tn = type_name(o->type);
    if (!tn)
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': unknown type %d", o->name,
                           (int)o->type);
    if (o->type == SPW_OPT_GROUP) {
        const spw__opt_group *g = find_group(o->name);
        if (!g)
            return spw_err_set(err, SPW_ERR_INVAL, "option '%s': no such option group", o->name);
        if (o->flags & ~g->flags)
            return spw_err_set(err, SPW_ERR_INVAL, "option '%s': unknown flags 0x%x", o->name,
                               o->flags & ~g->flags);
        if (o->choices || has_bounds(o))
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option '%s': a group takes no choices or bounds", o->name);
        spw_result grc = o->def ? group_defaults_check(o, g, err) : SPW_OK;
        if (grc != SPW_OK)
            return grc;
    } else if (o->flags & ~(SPW_OPT_REQUIRED | SPW_OPT_SECRET))
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': unknown flags 0x%x", o->name,
                           o->flags & ~(SPW_OPT_REQUIRED | SPW_OPT_SECRET));
    if ((o->flags & SPW_OPT_REQUIRED) && o->def)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "option '%s': required and with a default is contradictory", o->name);
    size_t sz = type_size(o->type);
    if (o->offset > config_size || sz > config_size - o->offset)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "option '%s': its %s field (%zu bytes at offset %zu) lies outside "
                           "the %zu-byte config struct",
                           o->name, tn, sz, o->offset, config_size);
    if (o->offset % type_align(o->type) != 0)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "option '%s': offset %zu is not aligned for its %s field", o->name,
                           o->offset, tn);
    if (o->type == SPW_OPT_ENUM) {
        spw_result rc = choices_check(o, err);
        if (rc != SPW_OK)
            return rc;
    } else if (o->choices) {
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': choices are only for enum options",
                           o->name);
    }
    if (isnan(o->min) || isnan(o->max))
        return spw_err_set(err, SPW_ERR_INVAL, "option '%s': a bound is NaN", o->name);
    if (has_bounds(o)) {
        if (o->type == SPW_OPT_BOOL || o->type == SPW_OPT_STRING || o->type == SPW_OPT_ENUM)
            return spw_err_set(err, SPW_ERR_INVAL, "option '%s': %s options take no min/max",
                               o->name, tn);
        if (o->min > o->max)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option '%s': min %g is above max %g (use INFINITY for no "
                               "upper bound)",
                               o->name, o->min, o->max);
    }
    if (o->def && o->type != SPW_OPT_GROUP) {
        /* Parse into a scratch value: the table is checked before any struct exists. */
        char what[WHAT_MAX];
        opt_val v;
        memset(&v, 0, sizeof v);
        spw_result rc = parse_value(o, o->def, &v, what);
        if (rc == SPW_OK && o->type == SPW_OPT_LIST && !list_count_ok(o, v.list.n, what))
            rc = SPW_ERR_INVAL;
        val_free(o, &v);
        if (rc != SPW_OK)
            return spw_err_set(err, rc == SPW_ERR_NOMEM ? rc : SPW_ERR_INVAL,
                               "option '%s': bad default: %s", o->name, what);
    }
    /*
     * No default means zero or empty, which may lie outside the bounds on
     * purpose: it is how a plugin tells "not set" from any value a user may
     * write (e.g. concurrency 0 = the sink's own default, 1..N otherwise).
     */
    return SPW_OK;
}

spw_result spw__opts_check_table(const spw_option *table, size_t config_size, spw_err *err) {
    if (!table)
        return SPW_OK;
    size_t n = 0;
    for (;; n++) {
        const spw_option *o = &table[n];
        if (n == OPT_TABLE_MAX)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option table: more than %d options (is it terminated with "
                               "SPW_OPTIONS_END?)",
                               OPT_TABLE_MAX);
        if (!o->name) {
            /* The end, unless it is an option someone forgot to name. */
            if (o->type || o->flags || o->def || o->choices || o->help || o->offset ||
                o->min != 0 || o->max != 0)
                return spw_err_set(err, SPW_ERR_INVAL, "option table: option #%zu has no name",
                                   n + 1);
            break;
        }
        if (!name_ok(o->name))
            return spw_err_set(err, SPW_ERR_INVAL,
                               "option table: option #%zu has an invalid name (lowercase "
                               "letters, digits, '_' or '-', starting with a letter, at most "
                               "%d characters)",
                               n + 1, OPT_NAME_MAX);
        spw_result rc = option_check(o, config_size, err);
        if (rc != SPW_OK)
            return rc;
        for (size_t j = 0; j < n; j++) {
            const spw_option *p = &table[j];
            if (strcmp(p->name, o->name) == 0)
                return spw_err_set(err, SPW_ERR_INVAL, "option '%s' is declared twice", o->name);
            if (clash(p, o))
                return spw_err_set(err, SPW_ERR_INVAL,
                                   "options '%s' and '%s' clash: a secret option NAME is also "
                                   "set as NAME%s",
                                   p->name, o->name, SECRET_SUFFIX);
            /* Two options sharing bytes would free one string twice. */
            size_t a0 = p->offset, a1 = p->offset + type_size(p->type);
            size_t b0 = o->offset, b1 = o->offset + type_size(o->type);
            if (a0 < b1 && b0 < a1)
                return spw_err_set(err, SPW_ERR_INVAL,
                                   "options '%s' and '%s' overlap in the config struct", p->name,
                                   o->name);
        }
    }
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* --help-plugin                                                           */
/* ---------------------------------------------------------------------- */

/* The default as a user would read it: the declared text, or the zero value. */
static void default_text(char *buf, size_t n, const spw_option *o) {
    if (o->flags & SPW_OPT_REQUIRED) {
        snprintf(buf, n, "required");
        return;
    }
    if (o->def) {
        snprintf(buf, n, "%s", o->def);
        return;
    }
    const char *c = o->choices ? o->choices : "";
    switch (o->type) {
    case SPW_OPT_BOOL: snprintf(buf, n, "false"); break;
    case SPW_OPT_INT:
    case SPW_OPT_DOUBLE:
    case SPW_OPT_SIZE: snprintf(buf, n, "0"); break;
    case SPW_OPT_DURATION: snprintf(buf, n, "0ms"); break;
    case SPW_OPT_ENUM: snprintf(buf, n, "%.*s", (int)strcspn(c, "|"), c); break;
    case SPW_OPT_STRING: snprintf(buf, n, "not set"); break;
    case SPW_OPT_LIST: snprintf(buf, n, "empty"); break;
    default: snprintf(buf, n, "?"); break;
    }
}

/* "1 to 64", "at least 1", "items 1 to 64"; empty when unbounded. */
static void bounds_text(char *buf, size_t n, const spw_option *o) {
    buf[0] = '\0';
    if (!has_bounds(o))
        return;
    char lo[64], hi[64];
    fmt_bound(lo, sizeof lo, o, o->min);
    fmt_bound(hi, sizeof hi, o, o->max);
    const char *what = o->type == SPW_OPT_LIST ? "items " : "";
    if (isinf(o->max))
        snprintf(buf, n, "%sat least %s", what, lo);
    else if (isinf(o->min))
        snprintf(buf, n, "%sat most %s", what, hi);
    else
        snprintf(buf, n, "%s%s to %s", what, lo, hi);
}

/* The listing of a table; `defs`: the embedding entry's defaults over a group's own. */
static void print_rows(FILE *out, const spw_option *table, const char *defs);

void spw__opts_print(FILE *out, const spw_option *table) {
    if (!out)
        return;
    if (!table || !table->name) {
        fputs("  (no options)\n", out);
        return;
    }
    print_rows(out, table, NULL);
}

static void print_rows(FILE *out, const spw_option *table, const char *defs) {
    for (const spw_option *it = table; it->name; it++) {
        const spw_option *o = it;
        const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
        if (g) {
            print_rows(out, g->table, o->def);
            continue;
        }
        spw_option copy;
        char shown[GROUP_DEFAULT_MAX];
        o = shown_option(o, defs, &copy, shown);
        const char *tn = type_name(o->type);
        char def[256], bounds[160];
        default_text(def, sizeof def, o);
        bounds_text(bounds, sizeof bounds, o);
        fprintf(out, "  %s (%s", o->name, tn ? tn : "?");
        if (o->type == SPW_OPT_ENUM && o->choices)
            fprintf(out, ": %s", o->choices);
        if (o->type == SPW_OPT_LIST)
            fputs(", comma-separated, repeatable", out);
        if (o->flags & SPW_OPT_REQUIRED)
            fputs(", required", out);
        else if (!o->def && o->type == SPW_OPT_STRING)
            fputs(", not set by default", out);
        else
            fprintf(out, ", default %s", def);
        if (bounds[0])
            fprintf(out, ", %s", bounds);
        if (is_secret(o))
            fprintf(out, ", secret: or %s%s = PATH", o->name, SECRET_SUFFIX);
        fputs(")\n", out);
        if (o->help)
            fprintf(out, "      %s\n", o->help);
    }
}

/* Writes s with the characters that would break a Markdown table cell escaped. */
static void md_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

static void print_markdown_rows(FILE *out, const spw_option *table, const char *defs);

void spw__opts_print_markdown(FILE *out, const spw_option *table) {
    if (!table || !table->name) {
        fputs("(no options)\n", out);
        return;
    }
    fputs("| key | type | default | bounds | meaning |\n|---|---|---|---|---|\n", out);
    print_markdown_rows(out, table, NULL);
}

static void print_markdown_rows(FILE *out, const spw_option *table, const char *defs) {
    for (const spw_option *it = table; it->name; it++) {
        const spw_option *o = it;
        const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
        if (g) {
            print_markdown_rows(out, g->table, o->def);
            continue;
        }
        spw_option copy;
        char shown[GROUP_DEFAULT_MAX];
        o = shown_option(o, defs, &copy, shown);
        const char *tn = type_name(o->type);
        char def[256], bounds[160];
        default_text(def, sizeof def, o);
        bounds_text(bounds, sizeof bounds, o);
        fprintf(out, "| `%s` | %s", o->name, tn ? tn : "?");
        if (o->type == SPW_OPT_ENUM && o->choices) {
            fputs(": `", out);
            md_cell(out, o->choices);
            fputs("`", out);
        }
        fputs(" | ", out);
        if (o->flags & SPW_OPT_REQUIRED || (!o->def && o->type == SPW_OPT_STRING))
            md_cell(out, def);
        else {
            fputs("`", out);
            md_cell(out, def);
            fputs("`", out);
        }
        fputs(" | ", out);
        md_cell(out, bounds);
        fputs(" | ", out);
        md_cell(out, o->help ? o->help : "");
        if (is_secret(o))
            fprintf(out, " Secret: also `%s%s = PATH`.", o->name, SECRET_SUFFIX);
        fputs(" |\n", out);
    }
}

/*
 * The man page form (--man): one tagged paragraph per option, for the
 * pages tools/gen-man writes (spillway.ini(5), spillway-KIND-NAME(5)).
 * Help texts are plain text with `code` spans; those become bold, and
 * what roff would read as a request or an escape is neutralized.
 */
static void roff_text(FILE *out, const char *s, bool code) {
    bool bold = false;
    for (; *s; s++) {
        if (*s == '`' && !code) {
            fputs(bold ? "\\fR" : "\\fB", out);
            bold = !bold;
        } else if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-' && (code || bold))
            fputs("\\-", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
    if (bold)
        fputs("\\fR", out);
}

static void print_roff_entries(FILE *out, const spw_option *table, const char *defs);

void spw__opts_print_roff(FILE *out, const spw_option *table) {
    if (!table || !table->name) {
        fputs("This plugin has no options.\n", out);
        return;
    }
    print_roff_entries(out, table, NULL);
}

static void print_roff_entries(FILE *out, const spw_option *table, const char *defs) {
    for (const spw_option *it = table; it->name; it++) {
        const spw_option *o = it;
        const spw__opt_group *g = o->type == SPW_OPT_GROUP ? find_group(o->name) : NULL;
        if (g) {
            print_roff_entries(out, g->table, o->def);
            continue;
        }
        spw_option copy;
        char shown[GROUP_DEFAULT_MAX];
        o = shown_option(o, defs, &copy, shown);
        const char *tn = type_name(o->type);
        char def[256], bounds[160];
        default_text(def, sizeof def, o);
        bounds_text(bounds, sizeof bounds, o);
        fputs(".TP\n\\fB", out);
        roff_text(out, o->name, true);
        fprintf(out, "\\fR (%s", tn ? tn : "?");
        if (o->type == SPW_OPT_ENUM && o->choices) {
            fputs(": \\fB", out);
            roff_text(out, o->choices, true);
            fputs("\\fR", out);
        }
        if (o->type == SPW_OPT_LIST)
            fputs(", comma\\-separated, repeatable", out);
        if (o->flags & SPW_OPT_REQUIRED)
            fputs(", required", out);
        else if (!o->def && o->type == SPW_OPT_STRING)
            fputs(", not set by default", out);
        else {
            fputs(", default \\fB", out);
            roff_text(out, def, true);
            fputs("\\fR", out);
        }
        if (bounds[0]) {
            fputs(", ", out);
            roff_text(out, bounds, false);
        }
        fputs(")\n", out);
        if (o->help) {
            /* "\\&" first: a text line must not start with '.' or '\''. */
            fputs("\\&", out);
            roff_text(out, o->help, false);
            fputc('\n', out);
        }
        if (is_secret(o)) {
            fputs("\\&A secret: never logged; also \\fB", out);
            roff_text(out, o->name, true);
            fprintf(out, "%s\\fR = \\fIPATH\\fR reads it from a file.\n", SECRET_SUFFIX);
        }
    }
}
