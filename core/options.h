/*
 * core/options.h: typing a section's keys against option tables.
 *
 * A section may be validated against several tables at once (the core's
 * own options for that kind of stage, then the plugin's); each key must be
 * claimed by exactly one option of one table, or it is an error. Parsed
 * values are written into each table's config struct at the option's
 * offset; strings and lists are allocated and owned by the core
 * (spw__opts_free releases them).
 *
 * Error messages name file, line, section and key:
 *   "pipe.ini:12: [sink.es] key 'batch_max_records': 0 is below the minimum 1"
 * A SECRET option's value is never quoted: "key 'pin': invalid value (not
 * an integer)"; a secret file's content never appears, only its path.
 *
 * Values an option gets when its key is absent and it has no default: 0,
 * false, 0.0, NULL (STRING), an empty list, and the first choice (ENUM).
 * A given but empty STRING is "" (not NULL). That zero may lie outside the
 * option's bounds on purpose (a "not set" sentinel, as concurrency 0 =
 * the sink's default); bounds are checked on given values and defaults.
 *
 * Bounds are in the stored unit (DURATION: ms, SIZE: bytes, LIST: number
 * of items); both 0 means none, and min > max is a table error, so a
 * one-sided bound is written with INFINITY (.min = 1, .max = INFINITY).
 */
#ifndef SPW_CORE_OPTIONS_H
#define SPW_CORE_OPTIONS_H

#include <stdio.h>
#include <spillway/plugin.h>
#include "config.h"

/*
 * An option group (SPW_OPT_GROUP): a table the core owns that plugins embed
 * by name. The entry's field is a pointer the core sets to a struct of
 * `size` bytes it allocates, parses and frees with the plugin's config;
 * `check` runs after parsing with the entry's flags (a subset of `flags`).
 */
typedef struct spw__opt_group {
    const char *name;
    const spw_option *table;
    size_t size;
    unsigned flags;
    spw_result (*check)(const void *conf, unsigned flags, spw_err *err);
} spw__opt_group;

/* The groups (core/http/options.c: "http"). */
extern const spw__opt_group spw__http_group;

typedef struct spw__opt_target {
    const spw_option *table; /* terminated by SPW_OPTIONS_END; NULL = none */
    void *conf;              /* struct the values are written into */
} spw__opt_target;

/*
 * Applies defaults, then the section's keys, then checks REQUIRED options.
 * Rules: unknown key -> error (suggesting the closest known key within
 * two edits); a key given twice -> error unless LIST: its first key
 * replaces the default and later ones append (an empty value adds no
 * items); a SECRET option NAME may instead be given as NAME_file (the
 * file's content, trailing CR/LF removed, at most 64 KiB, no NUL; a
 * relative path is relative to the directory of f->path) and giving both
 * is an error; bounds (min/max) are checked for INT, DOUBLE, DURATION,
 * SIZE and, for LIST, the element count once all its keys are in; ENUM
 * must be one of `choices` (exact, case-sensitive). Two options of the
 * targets that would claim the same key (also NAME vs NAME_file) are an
 * error. Keys listed in `ignore` (NULL-terminated, may be NULL) are
 * skipped and not marked used: the caller handles them. Every consumed
 * key gets used = 1.
 *
 * Every field an option table names is overwritten (previous strings or
 * lists leak: spw__opts_free them first); other bytes of conf are left
 * alone. On failure, everything already parsed is freed and those
 * pointers are NULL, so spw__opts_free stays safe. Errors: SPW_ERR_CONFIG
 * (SPW_ERR_NOMEM, SPW_ERR_INVAL for NULL arguments).
 */
spw_result spw__opts_parse(const spw__cfg_file *f, const spw__cfg_section *sec,
                           const spw__opt_target *targets, size_t n_targets,
                           const char *const *ignore, spw_err *err);

/* Applies only the defaults (for stages built without a file); on failure frees. */
spw_result spw__opts_defaults(const spw_option *table, void *conf, spw_err *err);

/*
 * Frees strings and lists the parser allocated in conf and sets them to
 * NULL / empty, so calling it twice is harmless. conf must have been filled
 * by spw__opts_parse or spw__opts_defaults, or zeroed. NULL table: no-op.
 */
void spw__opts_free(const spw_option *table, void *conf);

/*
 * Checks an option table itself (plugin descriptors are untrusted input):
 * names present, well-formed ([a-z][a-z0-9_-]*, not ending in '_' or '-',
 * at most 64 characters) and unique, also modulo a SECRET option's
 * NAME_file; known types and flags; REQUIRED without a default;
 * offset + size within config_size and aligned for the field's type; no
 * two fields overlapping; ENUM has non-empty, distinct choices and only
 * ENUM has choices; no NaN bounds, min <= max, no bounds on BOOL, STRING
 * or ENUM; defaults parse and lie within bounds. At most 1024 options (a
 * missing SPW_OPTIONS_END is caught there rather than read forever).
 * SPW_ERR_INVAL with "option 'NAME': ..."; the caller names the plugin.
 * NULL table: SPW_OK.
 */
spw_result spw__opts_check_table(const spw_option *table, size_t config_size, spw_err *err);

/*
 * Prints the table for --help-plugin, two lines per option:
 *   "  count (int, default 10, 1 to 100)" then "      HELP"
 * with the choices of an ENUM, "required", bounds in the option's units,
 * and "secret: or NAME_file = PATH" for secrets.
 */
void spw__opts_print(FILE *out, const spw_option *table);
/* The same as a Markdown table (key, type, default, bounds, meaning), for the docs. */
void spw__opts_print_markdown(FILE *out, const spw_option *table);
/* The same as man page paragraphs (.TP per option), for tools/gen-man. */
void spw__opts_print_roff(FILE *out, const spw_option *table);

/*
 * Value parsers (exposed for tests and for the core's own uses). The whole
 * string must match: no surrounding blanks, no trailing text. SPW_ERR_INVAL
 * for bad syntax, SPW_ERR_RANGE for overflow (and, for durations and sizes,
 * a negative value or one that is not a whole number of ms or bytes).
 *   bool      true/false, yes/no, on/off, 1/0, any case
 *   int       decimal with an optional sign, int64 range
 *   double    plain decimal notation (1.5, -2e3); no hex, inf or nan
 *   duration  NUMBER[.DECIMALS][ ]UNIT, unit ms, s, m or h; bare = ms;
 *             up to 9 decimals, the result in whole ms ("1.5s" = 1500)
 *   size      NUMBER[.DECIMALS][ ]UNIT, unit k/K/KiB, M/MiB, G/GiB
 *             (powers of 1024); bare = bytes; whole bytes ("1.5M" is fine)
 */
spw_result spw__parse_bool(const char *s, bool *out);
spw_result spw__parse_int(const char *s, int64_t *out);
spw_result spw__parse_double(const char *s, double *out);
spw_result spw__parse_duration_ms(const char *s, int64_t *out);
spw_result spw__parse_size(const char *s, int64_t *out);

#endif /* SPW_CORE_OPTIONS_H */
