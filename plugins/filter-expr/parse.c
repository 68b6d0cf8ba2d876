/*
 * plugins/filter-expr/parse.c: recursive-descent parser for the CEL
 * subset, with CEL's precedence (lowest first): ?:, ||, &&, relations
 * (== != < <= > >= in), + -, * / %, unary ! -, then member access,
 * indexing and calls. Builds the flat node array of ex_prog; names and
 * functions stay unresolved (N_IDENT, N_CALL by name) for the checker.
 * Nesting is bounded (EX_MAX_DEPTH) so that evaluation's recursion is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"

typedef struct parser {
    ex_prog *p;
    ex_lexer lx;
    ex_token tok; /* current token */
    const char *msg;
    uint32_t err_pos;
    char *msgbuf;
    size_t msgsz;
    int depth;
} parser;

static int fail(parser *ps, uint32_t pos, const char *msg) {
    if (!ps->msg) {
        ps->msg = msg;
        ps->err_pos = pos;
    }
    return -1;
}

static const char *tok_name(ex_tok k) {
    static const char *const names[] = {
        [K_EOF] = "end of expression", [K_INT] = "integer", [K_UINT] = "unsigned integer",
        [K_DOUBLE] = "double", [K_STRING] = "string", [K_BYTES] = "bytes",
        [K_IDENT] = "identifier", [K_TRUE] = "'true'", [K_FALSE] = "'false'",
        [K_NULL] = "'null'", [K_IN] = "'in'", [K_LPAREN] = "'('", [K_RPAREN] = "')'",
        [K_LBRACK] = "'['", [K_RBRACK] = "']'", [K_LBRACE] = "'{'", [K_RBRACE] = "'}'",
        [K_COMMA] = "','", [K_DOT] = "'.'", [K_QUEST] = "'?'", [K_COLON] = "':'",
        [K_NOT] = "'!'", [K_MINUS] = "'-'", [K_PLUS] = "'+'", [K_STAR] = "'*'",
        [K_SLASH] = "'/'", [K_PERCENT] = "'%'", [K_EQ] = "'=='", [K_NE] = "'!='",
        [K_LT] = "'<'", [K_LE] = "'<='", [K_GT] = "'>'", [K_GE] = "'>='", [K_AND] = "'&&'",
        [K_OR] = "'||'",
    };
    return names[k];
}

static int fail_expected(parser *ps, const char *what) {
    if (ps->msg)
        return -1;
    snprintf(ps->msgbuf, ps->msgsz, "expected %s, found %s", what, tok_name(ps->tok.kind));
    return fail(ps, ps->tok.pos, ps->msgbuf);
}

static bool advance(parser *ps) {
    free(ps->tok.str);
    ps->tok.str = NULL;
    if (!ex_lex_next(&ps->lx, &ps->tok)) {
        fail(ps, ps->lx.err_pos, ps->lx.err);
        ps->tok.kind = K_EOF;
        return false;
    }
    return true;
}

static int new_node(parser *ps, uint8_t kind, uint32_t pos) {
    ex_prog *p = ps->p;
    if (p->n_nodes == p->cap_nodes) {
        size_t cap = p->cap_nodes ? p->cap_nodes * 2 : 32;
        ex_node *n = realloc(p->nodes, cap * sizeof *n);
        if (!n)
            return fail(ps, pos, "out of memory");
        p->nodes = n;
        p->cap_nodes = cap;
    }
    ex_node *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->pos = pos;
    n->a = n->b = n->c = -1;
    n->re = -1;
    return (int)p->n_nodes++;
}

/* Appends kids[0..n) contiguously to prog->kids; returns the first index. */
static int add_kids(parser *ps, const int *kids, int n, uint32_t pos) {
    ex_prog *p = ps->p;
    if (p->n_kids + (size_t)n > p->cap_kids) {
        size_t cap = p->cap_kids ? p->cap_kids : 16;
        while (cap < p->n_kids + (size_t)n)
            cap *= 2;
        int *k = realloc(p->kids, cap * sizeof *k);
        if (!k)
            return fail(ps, pos, "out of memory");
        p->kids = k;
        p->cap_kids = cap;
    }
    int first = (int)p->n_kids;
    if (n)
        memcpy(p->kids + first, kids, (size_t)n * sizeof *kids);
    p->n_kids += (size_t)n;
    return first;
}

static int parse_expr(parser *ps);

/* Comma-separated expressions up to `close` (a trailing comma allowed in lists). */
static int parse_seq(parser *ps, ex_tok close, int *first, int *count) {
    int cap = 8, n = 0;
    int *tmp = malloc((size_t)cap * sizeof *tmp);
    uint32_t pos = ps->tok.pos;
    if (!tmp)
        return fail(ps, pos, "out of memory");
    while (ps->tok.kind != close) {
        int e = parse_expr(ps);
        if (e < 0)
            goto bad;
        if (n == cap) {
            int *t2 = realloc(tmp, (size_t)cap * 2 * sizeof *t2);
            if (!t2) {
                fail(ps, pos, "out of memory");
                goto bad;
            }
            tmp = t2;
            cap *= 2;
        }
        tmp[n++] = e;
        if (ps->tok.kind == K_COMMA) {
            if (!advance(ps))
                goto bad;
            if (close == K_RPAREN && ps->tok.kind == close) {
                fail_expected(ps, "an expression");
                goto bad;
            }
            continue;
        }
        if (ps->tok.kind != close) {
            fail_expected(ps, close == K_RPAREN ? "',' or ')'" : "',' or ']'");
            goto bad;
        }
    }
    if (!advance(ps))
        goto bad;
    *first = add_kids(ps, tmp, n, pos);
    *count = n;
    free(tmp);
    return *first < 0 ? -1 : 0;
bad:
    free(tmp);
    return -1;
}

static int parse_primary(parser *ps) {
    ex_token *t = &ps->tok;
    uint32_t pos = t->pos;
    int n;
    switch (t->kind) {
    case K_INT:
        if (t->v.u > (uint64_t)INT64_MAX)
            return fail(ps, pos, "integer literal out of range");
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        ps->p->nodes[n].lit = (ex_val){.k = XV_INT, .u.i = (int64_t)t->v.u};
        break;
    case K_UINT:
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        ps->p->nodes[n].lit = (ex_val){.k = XV_UINT, .u.u = t->v.u};
        break;
    case K_DOUBLE:
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        ps->p->nodes[n].lit = (ex_val){.k = XV_DOUBLE, .u.d = t->v.d};
        break;
    case K_TRUE:
    case K_FALSE:
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        ps->p->nodes[n].lit = (ex_val){.k = XV_BOOL, .u.b = t->kind == K_TRUE};
        break;
    case K_NULL:
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        ps->p->nodes[n].lit = (ex_val){.k = XV_NULL};
        break;
    case K_STRING:
    case K_BYTES:
        if ((n = new_node(ps, N_LIT, pos)) < 0)
            return -1;
        {
            ex_node *nd = &ps->p->nodes[n];
            nd->str = t->str;
            nd->slen = t->slen;
            t->str = NULL;
            nd->lit.k = t->kind == K_STRING ? XV_STRING : XV_BYTES;
            nd->lit.u.s.p = (const uint8_t *)nd->str;
            nd->lit.u.s.n = nd->slen;
        }
        break;
    case K_IDENT: {
        char *name = t->str;
        size_t len = t->slen;
        t->str = NULL;
        if (!advance(ps)) {
            free(name);
            return -1;
        }
        if (ps->tok.kind == K_LPAREN) {
            if ((n = new_node(ps, N_CALL, pos)) < 0) {
                free(name);
                return -1;
            }
            ps->p->nodes[n].str = name;
            ps->p->nodes[n].slen = len;
            if (!advance(ps))
                return -1;
            int first, count;
            if (parse_seq(ps, K_RPAREN, &first, &count) < 0)
                return -1;
            ps->p->nodes[n].first = first;
            ps->p->nodes[n].n = count;
            return n;
        }
        if ((n = new_node(ps, N_IDENT, pos)) < 0) {
            free(name);
            return -1;
        }
        ps->p->nodes[n].str = name;
        ps->p->nodes[n].slen = len;
        return n;
    }
    case K_LPAREN: {
        if (!advance(ps))
            return -1;
        int e = parse_expr(ps);
        if (e < 0)
            return -1;
        if (ps->tok.kind != K_RPAREN)
            return fail_expected(ps, "')'");
        if (!advance(ps))
            return -1;
        return e;
    }
    case K_LBRACK: {
        if (!advance(ps))
            return -1;
        if ((n = new_node(ps, N_LIST, pos)) < 0)
            return -1;
        int first, count;
        if (parse_seq(ps, K_RBRACK, &first, &count) < 0)
            return -1;
        ps->p->nodes[n].first = first;
        ps->p->nodes[n].n = count;
        return n;
    }
    case K_LBRACE:
        return fail(ps, pos, "map literals are not supported");
    case K_DOT:
        return fail(ps, pos, "qualified names ('.name') are not supported");
    default:
        return fail_expected(ps, "an expression");
    }
    if (!advance(ps))
        return -1;
    return n;
}

static int parse_member(parser *ps, int n) {
    while (n >= 0 && (ps->tok.kind == K_DOT || ps->tok.kind == K_LBRACK)) {
        uint32_t pos = ps->tok.pos;
        if (ps->tok.kind == K_DOT) {
            if (!advance(ps))
                return -1;
            if (ps->tok.kind != K_IDENT)
                return fail_expected(ps, "a field name after '.'");
            char *name = ps->tok.str;
            size_t len = ps->tok.slen;
            uint32_t npos = ps->tok.pos;
            ps->tok.str = NULL;
            if (!advance(ps)) {
                free(name);
                return -1;
            }
            bool call = ps->tok.kind == K_LPAREN;
            int m = new_node(ps, call ? N_CALL : N_SELECT, call ? npos : pos);
            if (m < 0) {
                free(name);
                return -1;
            }
            ex_node *nd = &ps->p->nodes[m];
            nd->str = name;
            nd->slen = len;
            nd->a = n;
            if (call) {
                nd->method = 1;
                if (!advance(ps))
                    return -1;
                int first, count;
                if (parse_seq(ps, K_RPAREN, &first, &count) < 0)
                    return -1;
                ps->p->nodes[m].first = first;
                ps->p->nodes[m].n = count;
            }
            n = m;
        } else {
            if (!advance(ps))
                return -1;
            int idx = parse_expr(ps);
            if (idx < 0)
                return -1;
            if (ps->tok.kind != K_RBRACK)
                return fail_expected(ps, "']'");
            if (!advance(ps))
                return -1;
            int m = new_node(ps, N_INDEX, pos);
            if (m < 0)
                return -1;
            ps->p->nodes[m].a = n;
            ps->p->nodes[m].b = idx;
            n = m;
        }
    }
    return n;
}

static int parse_unary(parser *ps) {
    uint32_t pos = ps->tok.pos;
    if (++ps->depth > EX_MAX_DEPTH)
        return fail(ps, pos, "expression nested too deeply");
    int r;
    if (ps->tok.kind == K_NOT || ps->tok.kind == K_MINUS) {
        ex_tok op = ps->tok.kind;
        if (!advance(ps))
            return -1;
        if (op == K_MINUS && ps->tok.kind == K_INT && ps->tok.v.u == (uint64_t)INT64_MAX + 1) {
            /* The one int literal only writable negated. */
            int n = new_node(ps, N_LIT, pos);
            if (n < 0)
                return -1;
            ps->p->nodes[n].lit = (ex_val){.k = XV_INT, .u.i = INT64_MIN};
            if (!advance(ps))
                return -1;
            r = parse_member(ps, n);
        } else {
            int a = parse_unary(ps);
            if (a < 0)
                return -1;
            ex_node *c = &ps->p->nodes[a];
            if (op == K_MINUS && c->kind == N_LIT && c->lit.k == XV_INT &&
                c->lit.u.i != INT64_MIN) {
                c->lit.u.i = -c->lit.u.i; /* fold: -5 is a literal */
                c->pos = pos;
                r = a;
            } else if (op == K_MINUS && c->kind == N_LIT && c->lit.k == XV_DOUBLE) {
                c->lit.u.d = -c->lit.u.d;
                c->pos = pos;
                r = a;
            } else {
                r = new_node(ps, op == K_NOT ? N_NOT : N_NEG, pos);
                if (r >= 0)
                    ps->p->nodes[r].a = a;
            }
        }
    } else {
        r = parse_member(ps, parse_primary(ps));
    }
    ps->depth--;
    return r;
}

static int binary(parser *ps, uint8_t kind, ex_tok op, uint32_t pos, int a, int b) {
    int n = new_node(ps, kind, pos);
    if (n < 0)
        return -1;
    ps->p->nodes[n].op = (uint8_t)op;
    ps->p->nodes[n].a = a;
    ps->p->nodes[n].b = b;
    return n;
}

static int parse_mul(parser *ps) {
    int a = parse_unary(ps);
    while (a >= 0 && (ps->tok.kind == K_STAR || ps->tok.kind == K_SLASH ||
                      ps->tok.kind == K_PERCENT)) {
        ex_tok op = ps->tok.kind;
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int b = parse_unary(ps);
        if (b < 0)
            return -1;
        a = binary(ps, N_BINARY, op, pos, a, b);
    }
    return a;
}

static int parse_add(parser *ps) {
    int a = parse_mul(ps);
    while (a >= 0 && (ps->tok.kind == K_PLUS || ps->tok.kind == K_MINUS)) {
        ex_tok op = ps->tok.kind;
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int b = parse_mul(ps);
        if (b < 0)
            return -1;
        a = binary(ps, N_BINARY, op, pos, a, b);
    }
    return a;
}

static int parse_rel(parser *ps) {
    int a = parse_add(ps);
    while (a >= 0 && (ps->tok.kind == K_EQ || ps->tok.kind == K_NE || ps->tok.kind == K_LT ||
                      ps->tok.kind == K_LE || ps->tok.kind == K_GT || ps->tok.kind == K_GE ||
                      ps->tok.kind == K_IN)) {
        ex_tok op = ps->tok.kind;
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int b = parse_add(ps);
        if (b < 0)
            return -1;
        a = binary(ps, N_BINARY, op, pos, a, b);
    }
    return a;
}

static int parse_and(parser *ps) {
    int a = parse_rel(ps);
    while (a >= 0 && ps->tok.kind == K_AND) {
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int b = parse_rel(ps);
        if (b < 0)
            return -1;
        a = binary(ps, N_AND, K_AND, pos, a, b);
    }
    return a;
}

static int parse_or(parser *ps) {
    int a = parse_and(ps);
    while (a >= 0 && ps->tok.kind == K_OR) {
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int b = parse_and(ps);
        if (b < 0)
            return -1;
        a = binary(ps, N_OR, K_OR, pos, a, b);
    }
    return a;
}

static int parse_expr(parser *ps) {
    uint32_t pos0 = ps->tok.pos;
    if (++ps->depth > EX_MAX_DEPTH)
        return fail(ps, pos0, "expression nested too deeply");
    int c = parse_or(ps);
    if (c >= 0 && ps->tok.kind == K_QUEST) {
        uint32_t pos = ps->tok.pos;
        if (!advance(ps))
            return -1;
        int a = parse_or(ps);
        if (a < 0)
            return -1;
        if (ps->tok.kind != K_COLON)
            return fail_expected(ps, "':'");
        if (!advance(ps))
            return -1;
        int b = parse_expr(ps);
        if (b < 0)
            return -1;
        int n = new_node(ps, N_COND, pos);
        if (n < 0)
            return -1;
        ps->p->nodes[n].a = c;
        ps->p->nodes[n].b = a;
        ps->p->nodes[n].c = b;
        c = n;
    }
    ps->depth--;
    return c;
}

bool ex_parse(ex_prog *p, const char **msg, uint32_t *pos, char *msgbuf, size_t msgsz) {
    parser ps = {.p = p, .lx = {.src = p->src, .len = p->src_len}, .msgbuf = msgbuf,
                 .msgsz = msgsz};
    int root = -1;
    if (advance(&ps)) {
        if (ps.tok.kind == K_EOF)
            fail(&ps, ps.tok.pos, "empty expression");
        else
            root = parse_expr(&ps);
        if (root >= 0 && ps.tok.kind != K_EOF)
            root = fail_expected(&ps, "an operator or the end of the expression");
    }
    free(ps.tok.str);
    if (root < 0 || ps.msg) {
        *msg = ps.msg ? ps.msg : "syntax error";
        *pos = ps.err_pos;
        return false;
    }
    p->root = root;
    return true;
}
