/*
 * plugins/filter-expr/check.c: the static checker. Resolves identifiers
 * (metadata names, `bins`, type names) and functions, gives every node a
 * static type, refuses what can be known wrong before any record arrives
 * (unknown names and functions, wrong argument counts, operators on types
 * that have none, a non-bool result), and compiles each `matches` pattern
 * with PCRE2 and its JIT. Values whose type is only known per record
 * (bins, the user key) are `dyn`: their mistakes are error values at run
 * time, as CEL specifies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"

typedef struct checker {
    ex_prog *p;
    const char *msg;
    uint32_t pos;
    char *buf;
    size_t bufsz;
    bool in_has; /* checking has()'s own selection: it stays a selection */
} checker;

static const char *type_name(ex_type t) {
    static const char *const n[] = {"dyn", "null_type", "bool", "int", "uint", "double",
                                     "string", "bytes", "list", "map", "type"};
    return n[t];
}

static bool fail(checker *c, uint32_t pos, const char *msg) {
    if (!c->msg) {
        c->msg = msg;
        c->pos = pos;
    }
    return false;
}

__attribute__((format(printf, 3, 4)))
static bool failf(checker *c, uint32_t pos, const char *fmt, ...) {
    if (c->msg)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->buf, c->bufsz, fmt, ap);
    va_end(ap);
    return fail(c, pos, c->buf);
}

static bool is_num(ex_type t) { return t == XT_INT || t == XT_UINT || t == XT_DOUBLE; }

static const struct {
    const char *name;
    ex_meta m;
    ex_type t;
} metas[] = {
    {"namespace", M_NAMESPACE, XT_STRING}, {"set", M_SET, XT_STRING},
    {"msg", M_MSG, XT_STRING},             {"durable", M_DURABLE, XT_BOOL},
    {"gen", M_GEN, XT_INT},                {"lut", M_LUT, XT_INT},
    {"exp", M_EXP, XT_INT},                {"digest", M_DIGEST, XT_BYTES},
    {"key", M_KEY, XT_DYN},                {"port", M_PORT, XT_INT},
};

static const struct {
    const char *name;
    ex_kind k;
} typenames[] = {
    {"int", XV_INT},       {"uint", XV_UINT}, {"double", XV_DOUBLE}, {"string", XV_STRING},
    {"bytes", XV_BYTES},   {"bool", XV_BOOL}, {"null_type", XV_NULL}, {"list", XV_LIST},
    {"map", XV_MAP},       {"type", XV_ERR},
};

static const struct {
    const char *name;
    ex_fn fn;
    int args;     /* arguments besides the receiver */
    int method;   /* 0: global only, 1: method only, 2: both */
} fns[] = {
    {"size", F_SIZE, 0, 2},        {"startsWith", F_STARTS, 1, 1}, {"endsWith", F_ENDS, 1, 1},
    {"contains", F_CONTAINS, 1, 1}, {"matches", F_MATCHES, 1, 2},  {"type", F_TYPE, 0, 0},
    {"int", F_INT, 0, 0},          {"uint", F_UINT, 0, 0},          {"double", F_DOUBLE, 0, 0},
};

static bool check_node(checker *c, int i);

static bool compile_regex(checker *c, ex_node *call, const ex_node *pat) {
    ex_prog *p = c->p;
    if (pat->kind != N_LIT || pat->lit.k != XV_STRING)
        return fail(c, pat->pos, "the pattern of matches() must be a string literal "
                                 "(it is compiled once, at load)");
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat->str, pat->slen,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        char emsg[200];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)emsg, sizeof emsg);
        snprintf(c->buf, c->bufsz, "invalid regular expression: %s (at offset %zu of the pattern)",
                 emsg, (size_t)off);
        return fail(c, pat->pos, c->buf);
    }
    /* The JIT is an optimisation: without it (unsupported CPU) the interpreter runs. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    ex_regex *r = realloc(p->re, (p->n_re + 1) * sizeof *r);
    if (!md || !r) {
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        if (r)
            p->re = r;
        return fail(c, pat->pos, "out of memory");
    }
    p->re = r;
    p->re[p->n_re] = (ex_regex){re, md};
    call->re = (int)p->n_re++;
    return true;
}

static bool check_call(checker *c, int i) {
    ex_node *n = &c->p->nodes[i];
    int nargs = n->n + (n->method ? 1 : 0);
    /* has() is a macro over a field selection, not a function of a value. */
    if (!n->method && !strcmp(n->str, "has")) {
        if (n->n != 1)
            return fail(c, n->pos, "has() takes exactly one argument");
        int a = c->p->kids[n->first];
        if (c->p->nodes[a].kind != N_SELECT)
            return fail(c, c->p->nodes[a].pos,
                        "the argument of has() must be a field selection, such as bins.price");
        c->in_has = true;
        bool okh = check_node(c, a);
        c->in_has = false;
        if (!okh)
            return false;
        n = &c->p->nodes[i];
        n->kind = N_HAS;
        n->a = a;
        n->type = XT_BOOL;
        return true;
    }
    size_t k;
    for (k = 0; k < sizeof fns / sizeof fns[0]; k++)
        if (!strcmp(fns[k].name, n->str))
            break;
    if (k == sizeof fns / sizeof fns[0])
        return failf(c, n->pos, "unknown function '%s'%s", n->str,
                     !strcmp(n->str, "exists") || !strcmp(n->str, "all") ||
                             !strcmp(n->str, "map") || !strcmp(n->str, "filter")
                         ? " (macros over lists are not supported)"
                         : "");
    if ((n->method && fns[k].method == 0) || (!n->method && fns[k].method == 1))
        return n->method ? failf(c, n->pos, "'%s' is not a method; write %s(x)", n->str, n->str)
                         : failf(c, n->pos, "'%s' is a method; write x.%s(...)", n->str, n->str);
    if (nargs != fns[k].args + 1)
        return failf(c, n->pos, "wrong number of arguments to '%s'", n->str);
    n->op = (uint8_t)fns[k].fn;
    int args[2] = {-1, -1};
    int j = 0;
    if (n->method)
        args[j++] = n->a;
    for (int q = 0; q < n->n; q++)
        args[j++] = c->p->kids[n->first + q];
    for (int q = 0; q < nargs; q++)
        if (!check_node(c, args[q]))
            return false;
    n = &c->p->nodes[i];
    ex_type t0 = (ex_type)c->p->nodes[args[0]].type;
    ex_type t1 = nargs > 1 ? (ex_type)c->p->nodes[args[1]].type : XT_DYN;
    switch ((ex_fn)n->op) {
    case F_SIZE:
        if (t0 != XT_DYN && t0 != XT_STRING && t0 != XT_BYTES && t0 != XT_LIST && t0 != XT_MAP)
            return failf(c, n->pos, "size() of %s: no such overload", type_name(t0));
        n->type = XT_INT;
        return true;
    case F_STARTS:
    case F_ENDS:
    case F_CONTAINS:
    case F_MATCHES:
        if (t0 != XT_DYN && t0 != XT_STRING)
            return failf(c, n->pos, "%s() on %s: no such overload (it takes a string)", n->str,
                         type_name(t0));
        if (t1 != XT_DYN && t1 != XT_STRING)
            return failf(c, c->p->nodes[args[1]].pos, "the argument of %s() must be a string, not %s",
                         n->str, type_name(t1));
        n->type = XT_BOOL;
        if ((ex_fn)n->op == F_MATCHES)
            return compile_regex(c, n, &c->p->nodes[args[1]]);
        return true;
    case F_TYPE:
        n->type = XT_TYPE;
        return true;
    case F_INT:
    case F_UINT:
    case F_DOUBLE:
        if (t0 != XT_DYN && !is_num(t0) && t0 != XT_STRING)
            return failf(c, n->pos, "%s() of %s: no such overload", n->str, type_name(t0));
        n->type = n->op == F_INT ? XT_INT : n->op == F_UINT ? XT_UINT : XT_DOUBLE;
        return true;
    default:
        return fail(c, n->pos, "internal error: unhandled function");
    }
}

static const char *op_text(uint8_t op) {
    switch ((ex_tok)op) {
    case K_PLUS: return "+";
    case K_MINUS: return "-";
    case K_STAR: return "*";
    case K_SLASH: return "/";
    case K_PERCENT: return "%";
    case K_EQ: return "==";
    case K_NE: return "!=";
    case K_LT: return "<";
    case K_LE: return "<=";
    case K_GT: return ">";
    case K_GE: return ">=";
    case K_IN: return "in";
    default: return "?";
    }
}

static bool check_binary(checker *c, ex_node *n, ex_type a, ex_type b) {
    char what[64];
    snprintf(what, sizeof what, "%s and %s", type_name(a), type_name(b));
    switch ((ex_tok)n->op) {
    case K_EQ:
    case K_NE:
        if (a != XT_DYN && b != XT_DYN && a != XT_NULL && b != XT_NULL && a != b &&
            !(is_num(a) && is_num(b)))
            return failf(c, n->pos, "no operator '%s' for %s (they can never be equal)",
                         op_text(n->op), what);
        n->type = XT_BOOL;
        return true;
    case K_LT:
    case K_LE:
    case K_GT:
    case K_GE: {
        bool oa = a == XT_DYN || is_num(a) || a == XT_STRING || a == XT_BYTES || a == XT_BOOL;
        bool ob = b == XT_DYN || is_num(b) || b == XT_STRING || b == XT_BYTES || b == XT_BOOL;
        if (!oa || !ob ||
            (a != XT_DYN && b != XT_DYN && a != b && !(is_num(a) && is_num(b))))
            return failf(c, n->pos, "no operator '%s' for %s", op_text(n->op), what);
        n->type = XT_BOOL;
        return true;
    }
    case K_IN:
        if (b != XT_DYN && b != XT_LIST && b != XT_MAP)
            return failf(c, n->pos, "'in' needs a list or a map on its right, not %s",
                         type_name(b));
        n->type = XT_BOOL;
        return true;
    default:
        break;
    }
    /* Arithmetic: both operands of one type, as CEL has no implicit conversion. */
    ex_type t = a == XT_DYN ? b : a;
    bool ok;
    switch ((ex_tok)n->op) {
    case K_PLUS:
        ok = t == XT_DYN || is_num(t) || t == XT_STRING || t == XT_BYTES;
        break;
    case K_PERCENT:
        ok = t == XT_DYN || t == XT_INT || t == XT_UINT;
        break;
    default:
        ok = t == XT_DYN || is_num(t);
        break;
    }
    if (!ok || (a != XT_DYN && b != XT_DYN && a != b))
        return failf(c, n->pos, "no operator '%s' for %s", op_text(n->op), what);
    n->type = (uint8_t)t;
    return true;
}

static bool check_node(checker *c, int i) {
    ex_prog *p = c->p;
    ex_node *n = &p->nodes[i];
    switch ((ex_nkind)n->kind) {
    case N_LIT:
        switch ((ex_kind)n->lit.k) {
        case XV_NULL: n->type = XT_NULL; break;
        case XV_BOOL: n->type = XT_BOOL; break;
        case XV_INT: n->type = XT_INT; break;
        case XV_UINT: n->type = XT_UINT; break;
        case XV_DOUBLE: n->type = XT_DOUBLE; break;
        case XV_STRING: n->type = XT_STRING; break;
        case XV_BYTES: n->type = XT_BYTES; break;
        default: n->type = XT_DYN; break;
        }
        return true;
    case N_LIST:
        for (int q = 0; q < n->n; q++)
            if (!check_node(c, p->kids[p->nodes[i].first + q]))
                return false;
        p->nodes[i].type = XT_LIST;
        return true;
    case N_IDENT: {
        for (size_t k = 0; k < sizeof metas / sizeof metas[0]; k++)
            if (!strcmp(metas[k].name, n->str)) {
                n->kind = N_NAME;
                n->op = (uint8_t)metas[k].m;
                n->type = (uint8_t)metas[k].t;
                return true;
            }
        if (!strcmp(n->str, "bins")) {
            n->kind = N_BINS;
            n->type = XT_MAP;
            return true;
        }
        for (size_t k = 0; k < sizeof typenames / sizeof typenames[0]; k++)
            if (!strcmp(typenames[k].name, n->str)) {
                n->kind = N_TYPENAME;
                n->lit = (ex_val){.k = XV_TYPE, .u.t = (uint8_t)typenames[k].k};
                n->type = XT_TYPE;
                return true;
            }
        return failf(c, n->pos,
                     "unknown name '%s' (names: namespace, set, msg, durable, gen, lut, exp, "
                     "digest, key, port, bins)",
                     n->str);
    }
    case N_SELECT: {
        bool keep = c->in_has; /* has()'s own selection; not its operand's */
        c->in_has = false;
        if (!check_node(c, n->a))
            return false;
        n = &p->nodes[i];
        ex_type t = (ex_type)p->nodes[n->a].type;
        if (t != XT_DYN && t != XT_MAP)
            return failf(c, n->pos, "type %s has no fields (.%s)", type_name(t), n->str);
        n->type = XT_DYN;
        /* bins.NAME is a direct lookup; has() keeps the selection it tests. */
        if (p->nodes[n->a].kind == N_BINS && !keep)
            n->kind = N_BIN;
        return true;
    }
    case N_INDEX: {
        if (!check_node(c, n->a) || !check_node(c, p->nodes[i].b))
            return false;
        n = &p->nodes[i];
        ex_type t = (ex_type)p->nodes[n->a].type, ti = (ex_type)p->nodes[n->b].type;
        if (t != XT_DYN && t != XT_MAP && t != XT_LIST)
            return failf(c, n->pos, "cannot index a value of type %s", type_name(t));
        if (t == XT_LIST && ti != XT_DYN && ti != XT_INT && ti != XT_UINT)
            return failf(c, p->nodes[n->b].pos, "a list index must be an int, not %s",
                         type_name(ti));
        n->type = XT_DYN;
        const ex_node *key = &p->nodes[n->b];
        if (p->nodes[n->a].kind == N_BINS && key->kind == N_LIT && key->lit.k == XV_STRING) {
            /* bins["NAME"]: the same direct lookup, the name borrowed from the literal. */
            n->kind = N_BIN;
            n->str = malloc(key->slen + 1);
            if (!n->str)
                return fail(c, n->pos, "out of memory");
            memcpy(n->str, key->str, key->slen);
            n->str[key->slen] = 0;
            n->slen = key->slen;
        }
        return true;
    }
    case N_NOT:
    case N_NEG: {
        if (!check_node(c, n->a))
            return false;
        n = &p->nodes[i];
        ex_type t = (ex_type)p->nodes[n->a].type;
        if (n->kind == N_NOT) {
            if (t != XT_DYN && t != XT_BOOL)
                return failf(c, n->pos, "no operator '!' for %s", type_name(t));
            n->type = XT_BOOL;
        } else {
            if (t != XT_DYN && t != XT_INT && t != XT_DOUBLE)
                return failf(c, n->pos, "no operator '-' for %s", type_name(t));
            n->type = (uint8_t)t;
        }
        return true;
    }
    case N_AND:
    case N_OR: {
        if (!check_node(c, n->a) || !check_node(c, p->nodes[i].b))
            return false;
        n = &p->nodes[i];
        ex_type a = (ex_type)p->nodes[n->a].type, b = (ex_type)p->nodes[n->b].type;
        const char *opn = n->kind == N_AND ? "&&" : "||";
        if (a != XT_DYN && a != XT_BOOL)
            return failf(c, p->nodes[n->a].pos, "the operands of '%s' must be bool, not %s", opn,
                         type_name(a));
        if (b != XT_DYN && b != XT_BOOL)
            return failf(c, p->nodes[n->b].pos, "the operands of '%s' must be bool, not %s", opn,
                         type_name(b));
        n->type = XT_BOOL;
        return true;
    }
    case N_BINARY:
        if (!check_node(c, n->a) || !check_node(c, p->nodes[i].b))
            return false;
        n = &p->nodes[i];
        return check_binary(c, n, (ex_type)p->nodes[n->a].type, (ex_type)p->nodes[n->b].type);
    case N_COND: {
        if (!check_node(c, n->a) || !check_node(c, p->nodes[i].b) || !check_node(c, p->nodes[i].c))
            return false;
        n = &p->nodes[i];
        ex_type t = (ex_type)p->nodes[n->a].type;
        if (t != XT_DYN && t != XT_BOOL)
            return failf(c, p->nodes[n->a].pos, "the condition of '?:' must be bool, not %s",
                         type_name(t));
        ex_type b = (ex_type)p->nodes[n->b].type, d = (ex_type)p->nodes[n->c].type;
        n->type = (uint8_t)(b == d ? b : XT_DYN);
        return true;
    }
    case N_CALL:
        return check_call(c, i);
    default:
        return fail(c, n->pos, "internal error: unexpected node");
    }
}

bool ex_check(ex_prog *p, bool any_type, const char **msg, uint32_t *pos, char *msgbuf, size_t msgsz) {
    checker c = {.p = p, .buf = msgbuf, .bufsz = msgsz};
    if (!check_node(&c, p->root)) {
        *msg = c.msg ? c.msg : "type error";
        *pos = c.pos;
        return false;
    }
    ex_type t = (ex_type)p->nodes[p->root].type;
    if (!any_type && t != XT_BOOL && t != XT_DYN) {
        snprintf(msgbuf, msgsz, "the expression must be a bool (true: the record takes the route), "
                                "not %s", type_name(t));
        *msg = msgbuf;
        *pos = p->nodes[p->root].pos;
        return false;
    }
    p->mctx = pcre2_match_context_create(NULL);
    if (!p->mctx) {
        *msg = "out of memory";
        *pos = 0;
        return false;
    }
    /* Bounds backtracking on hostile input: past it, matches() is an error value. */
    pcre2_set_match_limit(p->mctx, 1000000);
    return true;
}
