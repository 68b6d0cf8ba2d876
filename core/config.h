/*
 * core/config.h: the pipeline file as read from disk: sections and their
 * keys, in file order, with line numbers, after ${env:...} interpolation.
 * Reading never interprets keys; core/options.c types them against option
 * tables and core/pipeline.c gives sections their meaning.
 *
 * Section names are "KIND" ([pipeline]) or "KIND.NAME" ([sink.es]); KIND is
 * [a-z-]+, NAME is [A-Za-z0-9_-]+. Keys are [a-z0-9_-]+ (lowercase: an
 * uppercase key is an error that suggests the lowercase spelling). Values
 * have surrounding whitespace removed; a value may be empty.
 *
 * The dialect (inih's grammar as Debian builds it, plus our reader):
 *   - A line whose first non-blank character is ';' or '#' is a comment.
 *   - ';' preceded by a blank starts a comment to the end of the line, on
 *     key and section lines ("k = v ; note" is "v"); "a;b" is kept whole,
 *     and '#' is never an inline comment. A value that must contain " ;"
 *     has to come from ${env:...}.
 *   - "key: value" is the same as "key = value"; the first '=' or ':'
 *     separates, so "eq = a = b" is "a = b". Quotes are kept as written.
 *   - Leading blanks are ignored: an indented line is a line of its own,
 *     never the continuation of the previous value.
 *   - After "]" only blanks and a comment may follow.
 *   - A UTF-8 byte order mark and CRLF line ends are accepted; a NUL byte
 *     is an error. A section without keys is kept.
 *   - A key line longer than inih's line buffer (199 characters for
 *     Debian's libinih) is an error, not silently split; comment lines and
 *     section headers have no such limit.
 *
 * Interpolation in values: ${env:NAME} is the variable's value (an unset
 * variable is an error naming it); ${env:NAME:-default} falls back to
 * `default` when NAME is unset or empty. The default is literal text up to
 * the first '}' and may be empty; it cannot contain '}' or a nested ${.
 * $$ is a literal $, and a $ not followed by { or $ is literal too.
 * Variable values are inserted as they are, never interpolated again.
 * ${name} (letters, digits, '_') is left as it is: it is a template the
 * plugin expands per event (e.g. the http sink's ${namespace}). Any other
 * use of ${ is an error. An interpolated value is at most 64 KiB.
 * Uses getenv(): call before other threads may setenv().
 *
 * Messages never quote a value (config.c does not know which keys are
 * secret): they point at it by file, line, section, key and character.
 */
#ifndef SPW_CORE_CONFIG_H
#define SPW_CORE_CONFIG_H

#include <spillway/result.h>
#include <stddef.h>

typedef struct spw__cfg_key {
    char *key;
    char *value;  /* interpolated */
    int line;
    int used;     /* set by core/options.c when an option consumed it (not for ignored keys) */
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
 * says "PATH:LINE: ..." (section and key named where there is one; errors
 * about the whole file, such as "cannot open" or "larger than 1 MiB", say
 * "PATH: ..."). Errors: unreadable file (SPW_ERR_IO), INI syntax, key
 * outside any section, bad section or key name, duplicate section (both
 * lines named), interpolation errors, over-long key line, NUL byte, file
 * larger than 1 MiB (SPW_ERR_CONFIG). Duplicate keys are kept (options.c
 * decides: lists append, other types reject). *out is owned by caller:
 * spw__cfg_free.
 */
spw_result spw__cfg_load(const char *path, spw__cfg_file **out, spw_err *err);
/* Same, from a string; `path` is only used in messages (NULL: "(string)"). */
spw_result spw__cfg_load_string(const char *text, const char *path, spw__cfg_file **out,
                                spw_err *err);
/* NULL is a no-op. */
void spw__cfg_free(spw__cfg_file *f);

/*
 * Interpolates one value (exposed for tests). *out owned by caller (free);
 * NULL on failure. Messages have no file context: the loader prefixes
 * "PATH:LINE: [SECTION] key 'KEY': ".
 */
spw_result spw__cfg_interpolate(const char *in, char **out, spw_err *err);

/* Finds a section by title ("sink.es"), NULL when absent. Borrowed. */
spw__cfg_section *spw__cfg_find(const spw__cfg_file *f, const char *title);

#endif /* SPW_CORE_CONFIG_H */
