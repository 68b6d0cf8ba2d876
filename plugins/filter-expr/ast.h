/*
 * plugins/filter-expr/ast.h: what the lexer, parser, checker and evaluator
 * share: tokens, the flat node array (children are indices, so the array
 * can grow while parsing), and the program.
 */
#ifndef SPW_FILTER_EXPR_AST_H
#define SPW_FILTER_EXPR_AST_H

#include "expr.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Deepest nesting the parser accepts: evaluation recurses, so this bounds the stack. */
#define EX_MAX_DEPTH 48
/* Longest expression accepted (bytes). */
#define EX_MAX_SRC (64 * 1024)
/* Bytes string concatenation may produce per evaluation. */
#define EX_SCRATCH_SIZE 4096

typedef enum ex_tok {
    K_EOF = 0, K_INT, K_UINT, K_DOUBLE, K_STRING, K_BYTES, K_IDENT,
    K_TRUE, K_FALSE, K_NULL, K_IN,
    K_LPAREN, K_RPAREN, K_LBRACK, K_RBRACK, K_LBRACE, K_RBRACE,
    K_COMMA, K_DOT, K_QUEST, K_COLON,
    K_NOT, K_MINUS, K_PLUS, K_STAR, K_SLASH, K_PERCENT,
    K_EQ, K_NE, K_LT, K_LE, K_GT, K_GE, K_AND, K_OR,
} ex_tok;

typedef struct ex_token {
    ex_tok kind;
    uint32_t pos, len; /* byte offset and length in the source */
    union {
        int64_t i;
        uint64_t u;
        double d;
    } v;
    char *str; /* STRING, BYTES (unescaped, owned by the lexer's caller), IDENT (NUL-terminated copy) */
    size_t slen;
} ex_token;

typedef struct ex_lexer {
    const char *src;
    size_t len, pos;
    char *err;     /* message on failure (static text) */
    uint32_t err_pos;
} ex_lexer;

/* Reads the next token; false with lx->err/err_pos set on a lexical error. tok->str is malloc'd. */
bool ex_lex_next(ex_lexer *lx, ex_token *tok);

typedef enum ex_nkind {
    N_LIT = 1, N_LIST, N_IDENT, N_NAME, N_BINS, N_TYPENAME, N_SELECT, N_INDEX,
    N_NOT, N_NEG, N_BINARY, N_AND, N_OR, N_COND, N_CALL, N_HAS,
    N_BIN, /* a bin by constant name: bins.NAME, bins["NAME"] (set by the checker) */
} ex_nkind;

/* Metadata names (N_NAME). */
typedef enum ex_meta {
    M_NAMESPACE = 1, M_SET, M_MSG, M_DURABLE, M_GEN, M_LUT, M_EXP, M_DIGEST, M_KEY, M_PORT,
} ex_meta;

/* Functions (N_CALL after checking). */
typedef enum ex_fn {
    F_NONE = 0, F_SIZE, F_STARTS, F_ENDS, F_CONTAINS, F_MATCHES, F_TYPE,
    F_INT, F_UINT, F_DOUBLE, F_STRING,
} ex_fn;

typedef struct ex_node {
    uint8_t kind;  /* ex_nkind */
    uint8_t op;    /* N_BINARY: ex_tok of the operator; N_NAME: ex_meta; N_CALL: ex_fn */
    uint8_t type;  /* ex_type, set by the checker */
    uint8_t method;/* N_CALL: written receiver.f(...) */
    uint32_t pos;  /* byte offset of the node's token in the source */
    int a, b, c;   /* children (-1 none) */
    int first, n;  /* N_LIST, N_CALL: kids[first .. first+n) */
    ex_val lit;    /* N_LIT, N_TYPENAME */
    char *str;     /* N_IDENT, N_SELECT, N_CALL: the name; N_LIT string/bytes: the bytes (owned) */
    size_t slen;
    int re;        /* N_CALL matches: index in prog->re */
} ex_node;

typedef struct ex_regex {
    pcre2_code *code;
    pcre2_match_data *md;
} ex_regex;

struct ex_prog {
    char *src; /* copy of the source, for messages */
    size_t src_len;
    ex_node *nodes;
    size_t n_nodes, cap_nodes;
    int *kids;
    size_t n_kids, cap_kids;
    int root;
    ex_regex *re;
    size_t n_re;
    pcre2_match_context *mctx;
    uint8_t *scratch; /* EX_SCRATCH_SIZE bytes for concatenation, reset per evaluation */
};

/* parse.c: builds prog->nodes from prog->src; false with a message at *pos. */
bool ex_parse(ex_prog *p, const char **msg, uint32_t *pos, char *msgbuf, size_t msgsz);
/* check.c: resolves names and functions, types every node, compiles regexes. */
bool ex_check(ex_prog *p, bool any_type, const char **msg, uint32_t *pos, char *msgbuf, size_t msgsz);

#endif
