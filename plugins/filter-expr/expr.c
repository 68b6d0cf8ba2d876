/*
 * plugins/filter-expr/expr.c: compiling a program (parse, then check) and
 * the error message every stage's failure becomes: where (file, line,
 * column), what, and the source line with a caret under the column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"

/* Line (1-based), column (1-based, in characters) and start of the line holding pos. */
static void locate(const char *src, size_t len, size_t pos, unsigned *line, unsigned *col,
                   size_t *ls, size_t *le) {
    unsigned l = 1;
    size_t start = 0;
    if (pos > len)
        pos = len;
    for (size_t i = 0; i < pos; i++)
        if (src[i] == '\n') {
            l++;
            start = i + 1;
        }
    unsigned c = 1;
    for (size_t i = start; i < pos; i++)
        c += ((unsigned char)src[i] & 0xc0) != 0x80;
    size_t end = start;
    /* Only '\n' ends a line, as for the line count: the window below must contain pos. */
    while (end < len && src[end] != '\n')
        end++;
    *line = l;
    *col = c;
    *ls = start;
    *le = end;
}

static void format_error(const char *src, size_t len, const char *origin, uint32_t pos,
                         const char *msg, char *out, size_t outsz) {
    unsigned line, col;
    size_t ls, le;
    locate(src, len, pos, &line, &col, &ls, &le);
    bool multiline = memchr(src, '\n', len) != NULL;
    int k;
    if (origin)
        k = snprintf(out, outsz, "%s:%u:%u: %s", origin, line, col, msg);
    else if (multiline)
        k = snprintf(out, outsz, "expr, line %u, column %u: %s", line, col, msg);
    else
        k = snprintf(out, outsz, "expr, column %u: %s", col, msg);
    if (k < 0 || (size_t)k >= outsz)
        return;
    /* The source line, cut to a window around the column so the caret fits. */
    size_t at = pos > len ? len : pos;
    size_t from = ls, to = le;
    if (at - from > 60)
        from = at - 60;
    while (from > ls && ((unsigned char)src[from] & 0xc0) == 0x80)
        from--;
    if (to < at)
        to = at;
    if (to - from > 100)
        to = at - from > 100 ? at : from + 100;
    while (to < le && ((unsigned char)src[to] & 0xc0) == 0x80)
        to++;
    size_t o = (size_t)k;
    o += (size_t)snprintf(out + o, outsz - o, "\n    %s", from > ls ? "..." : "");
    size_t pad = from > ls ? 3 : 0;
    for (size_t i = from; i < to && o + 2 < outsz; i++) {
        unsigned char ch = (unsigned char)src[i];
        out[o++] = ch < 0x20 && ch != '\t' ? ' ' : (char)ch;
    }
    if (o + 6 >= outsz) {
        out[o < outsz ? o : outsz - 1] = 0;
        return;
    }
    o += (size_t)snprintf(out + o, outsz - o, "\n    ");
    for (size_t i = 0; i < pad && o + 2 < outsz; i++)
        out[o++] = ' ';
    for (size_t i = from; i < at && o + 2 < outsz; i++) {
        unsigned char ch = (unsigned char)src[i];
        if ((ch & 0xc0) == 0x80)
            continue;
        out[o++] = ch == '\t' ? '\t' : ' ';
    }
    if (o + 1 < outsz)
        out[o++] = '^';
    out[o] = 0;
}

void ex_free(ex_prog *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_nodes; i++)
        free(p->nodes[i].str);
    for (size_t i = 0; i < p->n_re; i++) {
        pcre2_match_data_free(p->re[i].md);
        pcre2_code_free(p->re[i].code);
    }
    pcre2_match_context_free(p->mctx);
    free(p->re);
    free(p->nodes);
    free(p->kids);
    free(p->scratch);
    free(p->src);
    free(p);
}

bool ex_compile(const char *src, size_t len, const char *origin, bool any_type, ex_prog **out,
                char *err, size_t errsz) {
    *out = NULL;
    if (len > EX_MAX_SRC) {
        snprintf(err, errsz, "expression longer than %d bytes", EX_MAX_SRC);
        return false;
    }
    if (memchr(src, 0, len)) {
        format_error(src, len, origin, (uint32_t)((const char *)memchr(src, 0, len) - src),
                     "NUL byte in the expression", err, errsz);
        return false;
    }
    ex_prog *p = calloc(1, sizeof *p);
    if (!p || !(p->src = malloc(len + 1)) || !(p->scratch = malloc(EX_SCRATCH_SIZE))) {
        ex_free(p);
        snprintf(err, errsz, "out of memory");
        return false;
    }
    memcpy(p->src, src, len);
    p->src[len] = 0;
    p->src_len = len;
    p->root = -1;
    const char *msg = NULL;
    uint32_t pos = 0;
    char buf[256];
    if (!ex_parse(p, &msg, &pos, buf, sizeof buf) || !ex_check(p, any_type, &msg, &pos, buf, sizeof buf)) {
        format_error(src, len, origin, pos, msg, err, errsz);
        ex_free(p);
        return false;
    }
    *out = p;
    return true;
}

ex_type ex_prog_type(const ex_prog *p) { return (ex_type)p->nodes[p->root].type; }

size_t ex_prog_regexes(const ex_prog *p) { return p->n_re; }
