/*
 * plugins/filter-expr/expr.h: the expression engine of the `expr` filter,
 * a subset of CEL (Common Expression Language). One program is compiled
 * per worker from the source text: lexed (lex.c), parsed into a flat node
 * array (parse.c), type-checked with names, functions and regular
 * expressions resolved (check.c), then evaluated per event (eval.c) with
 * every value on the C stack: evaluation never allocates.
 *
 * The engine only sees an event through the SDK (spillway/event.h), so it
 * decodes only what an expression names: a bin is found by name, its
 * value read in place, and a list or map walked only as far as needed.
 */
#ifndef SPW_FILTER_EXPR_H
#define SPW_FILTER_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/event.h>

/* ---- values (runtime) ---- */

typedef enum ex_kind {
    XV_ERR = 0, /* CEL error value: u.err says why */
    XV_NULL,
    XV_BOOL,
    XV_INT,
    XV_UINT,
    XV_DOUBLE,
    XV_STRING,
    XV_BYTES,
    XV_LIST,
    XV_MAP,
    XV_TYPE, /* a type value: u.t is the ex_kind it names (XV_ERR stands for `type`) */
} ex_kind;

/* Where a list or map value lives. */
enum { XC_MSGPACK = 0, XC_LITERAL = 1, XC_BINS = 2 };

typedef struct ex_val {
    uint8_t k;   /* ex_kind */
    uint8_t src; /* lists, maps: XC_* */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const uint8_t *p;
            size_t n;
        } s; /* STRING, BYTES */
        struct {
            const uint8_t *p; /* MSGPACK: the collection's bytes */
            size_t n;
            uint32_t count; /* elements or pairs */
            int node;       /* LITERAL: the list node */
        } c;
        const char *err; /* static text */
        uint8_t t;
    } u;
} ex_val;

/* ---- static types (checker) ---- */

typedef enum ex_type {
    XT_DYN = 0,
    XT_NULL,
    XT_BOOL,
    XT_INT,
    XT_UINT,
    XT_DOUBLE,
    XT_STRING,
    XT_BYTES,
    XT_LIST,
    XT_MAP,
    XT_TYPE,
} ex_type;

/* ---- the program ---- */

typedef struct ex_prog ex_prog;

/*
 * Compiles src. origin names where src came from for error messages:
 * "PATH" for a file (errors read PATH:LINE:COL: ...), or NULL for an
 * inline expression (errors read "column COL: ..." and the line number
 * when src has several lines). On failure returns false and writes one
 * message, the offending source line and a caret under the column into
 * err. any_type accepts an expression of any static type (tests); the
 * filter wants a bool. Owned by caller: release with ex_free.
 */
bool ex_compile(const char *src, size_t len, const char *origin, bool any_type, ex_prog **out,
                char *err, size_t errsz);
void ex_free(ex_prog *p);

typedef enum ex_outcome { EX_TRUE = 1, EX_FALSE = 0, EX_ERROR = -1 } ex_outcome;

/*
 * Evaluates the program on ev. EX_ERROR when the result is an error value
 * or not a bool; *why (may be NULL) then gets static text saying why.
 */
ex_outcome ex_eval(ex_prog *p, const spw_event *ev, const char **why);

/* Evaluates to a value (tests). Strings and bytes point into ev or p. */
ex_val ex_eval_value(ex_prog *p, const spw_event *ev);

/* Appends a canonical text form of v to buf (tests, the differential test). */
size_t ex_val_format(ex_prog *p, const spw_event *ev, const ex_val *v, char *buf, size_t size);

/* The static type of the whole expression. */
ex_type ex_prog_type(const ex_prog *p);

/* Number of regular expressions compiled (tests). */
size_t ex_prog_regexes(const ex_prog *p);

#endif
