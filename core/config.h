/*
 * core/config.h: the pipeline file as read from disk: sections and their
 * keys, in file order, with line numbers, after ${env:...} interpolation.
 * Reading never interprets keys; core/options.c types them against option
 * tables and core/pipeline.c gives sections their meaning.
 *
 * Section names are "KIND" ([pipeline]) or "KIND.NAME" ([sink.es]); NAME is
 * [A-Za-z0-9_-]+. Keys are [a-z0-9_-]+ (lowercase). Values have surrounding
 * whitespace removed; a value may be empty.
 *
 * Interpolation in values: ${env:NAME} is the variable's value (an unset
 * variable is an error naming it); ${env:NAME:-default} falls back to
 * `default` when NAME is unset or empty; $$ is a literal $. Any other use
 * of ${ is an error.
 */
#ifndef SPW_CORE_CONFIG_H
#define SPW_CORE_CONFIG_H

#include <spillway/result.h>
#include <stddef.h>

typedef struct spw__cfg_key {
    char *key;
    char *value;  /* interpolated */
    int line;
    int used;     /* set by core/options.c when an option consumed it */
} spw__cfg_key;

typedef struct spw__cfg_section {
    char *kind;   /* "pipeline", "source", "filter", "codec", "sink"... */
    char *name;   /* NULL for sections without a dot */
    char *title;  /* as written: "sink.es" */
    int line;
    spw__cfg_key *keys;
    size_t n_keys;
} spw__cfg_section;

typedef struct spw__cfg_file {
    char *path;
    spw__cfg_section *sections;
    size_t n_sections;
} spw__cfg_file;

/*
 * Reads and interpolates a pipeline file. On failure *out is NULL and err
 * says "PATH:LINE: ..." (section and key named where there is one).
 * Errors: unreadable file, INI syntax, key outside any section, bad section
 * or key name, duplicate section, interpolation errors, file larger than
 * 1 MiB. Duplicate keys are kept (options.c decides: lists append, other
 * types reject). *out is owned by caller: spw__cfg_free.
 */
SPW_API spw_result spw__cfg_load(const char *path, spw__cfg_file **out, spw_err *err);
/* Same, from a string; `path` is only used in messages. */
SPW_API spw_result spw__cfg_load_string(const char *text, const char *path, spw__cfg_file **out,
                                        spw_err *err);
SPW_API void spw__cfg_free(spw__cfg_file *f);

/* Interpolates one value (exposed for tests). *out owned by caller (free). */
SPW_API spw_result spw__cfg_interpolate(const char *in, char **out, spw_err *err);

/* Finds a section by title ("sink.es"), NULL when absent. Borrowed. */
SPW_API spw__cfg_section *spw__cfg_find(const spw__cfg_file *f, const char *title);

#endif /* SPW_CORE_CONFIG_H */
