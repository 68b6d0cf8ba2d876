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
 */
#ifndef SPW_CORE_OPTIONS_H
#define SPW_CORE_OPTIONS_H

#include <stdio.h>
#include <spillway/plugin.h>
#include "config.h"

typedef struct spw__opt_target {
    const spw_option *table; /* terminated by SPW_OPTIONS_END; NULL = none */
    void *conf;              /* struct the values are written into */
} spw__opt_target;

/*
 * Applies defaults, then the section's keys, then checks REQUIRED options.
 * Rules: unknown key -> error; a key given twice -> error unless LIST (its
 * values append); a SECRET option NAME may instead be given as NAME_file
 * (the file's content, trailing newlines removed, at most 64 KiB) and
 * giving both is an error; bounds (min/max) are checked for INT, DOUBLE,
 * DURATION, SIZE and, for LIST, the element count; ENUM must be one of
 * `choices`. Keys listed in `ignore` (NULL-terminated, may be NULL) are
 * skipped: the caller handles them. On failure, everything already
 * parsed is freed.
 */
SPW_API spw_result spw__opts_parse(const spw__cfg_file *f, const spw__cfg_section *sec,
                                   const spw__opt_target *targets, size_t n_targets,
                                   const char *const *ignore, spw_err *err);

/* Applies only the defaults (for stages built without a file). */
SPW_API spw_result spw__opts_defaults(const spw_option *table, void *conf, spw_err *err);

/* Frees strings and lists the parser allocated in conf. */
SPW_API void spw__opts_free(const spw_option *table, void *conf);

/*
 * Checks an option table itself (plugin descriptors are untrusted input):
 * names present and well-formed and unique, known types and flags,
 * offsets+sizes within config_size, defaults parse, ENUM has choices.
 */
SPW_API spw_result spw__opts_check_table(const spw_option *table, size_t config_size, spw_err *err);

/* Prints the table for --help-plugin: name, type, default, bounds, help. */
SPW_API void spw__opts_print(FILE *out, const spw_option *table);

/* Value parsers (exposed for tests and for the core's own uses). */
SPW_API spw_result spw__parse_bool(const char *s, bool *out);
SPW_API spw_result spw__parse_int(const char *s, int64_t *out);
SPW_API spw_result spw__parse_double(const char *s, double *out);
SPW_API spw_result spw__parse_duration_ms(const char *s, int64_t *out);
SPW_API spw_result spw__parse_size(const char *s, int64_t *out);

#endif /* SPW_CORE_OPTIONS_H */
