/*
 * plugins/filter-expr/lex.c: CEL tokens. Numbers (int, hex int, uint with
 * a `u` suffix, doubles with fraction or exponent), quoted strings and
 * bytes (single or double quotes, r/R raw prefix, b/B bytes prefix, CEL's
 * escapes), identifiers, keywords and operators. An int literal is
 * returned as its magnitude (v.u); the parser checks its range, so that
 * -9223372036854775808 can be written.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"

static bool fail(ex_lexer *lx, uint32_t pos, const char *msg) {
    lx->err = (char *)msg;
    lx->err_pos = pos;
    return false;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* A quoted literal starting at lx->pos (the quote). */
static bool lex_quoted(ex_lexer *lx, ex_token *t, bool raw, bool bytes, uint32_t start) {
    const char *s = lx->src;
    char q = s[lx->pos++];
    /* Every escape yields at most 4 bytes from at least 2 source bytes. */
    uint8_t *o = malloc(lx->len - lx->pos + 1);
    size_t n = 0;
    if (!o)
        return fail(lx, start, "out of memory");
    for (;;) {
        if (lx->pos >= lx->len || s[lx->pos] == '\n' || s[lx->pos] == '\r') {
            free(o);
            return fail(lx, start, "unterminated string literal");
        }
        char c = s[lx->pos];
        if (c == q) {
            lx->pos++;
            break;
        }
        if (c != '\\' || raw) {
            o[n++] = (uint8_t)c;
            lx->pos++;
            continue;
        }
        uint32_t epos = (uint32_t)lx->pos;
        if (lx->pos + 1 >= lx->len) {
            free(o);
            return fail(lx, start, "unterminated string literal");
        }
        char e = s[lx->pos + 1];
        lx->pos += 2;
        uint32_t cp;
        int digits = 0, base = 16;
        switch (e) {
        case 'a': o[n++] = 7; continue;
        case 'b': o[n++] = 8; continue;
        case 'f': o[n++] = 12; continue;
        case 'n': o[n++] = 10; continue;
        case 'r': o[n++] = 13; continue;
        case 't': o[n++] = 9; continue;
        case 'v': o[n++] = 11; continue;
        case '\\': case '\'': case '"': case '`': case '?': o[n++] = (uint8_t)e; continue;
        case 'x': case 'X': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '3') {
                digits = 3;
                base = 8;
                lx->pos--; /* the first octal digit is part of the value */
                break;
            }
            free(o);
            return fail(lx, epos, "invalid escape sequence");
        }
        if (bytes && (e == 'u' || e == 'U')) {
            free(o);
            return fail(lx, epos, "\\u and \\U escapes are not allowed in bytes literals");
        }
        cp = 0;
        for (int i = 0; i < digits; i++) {
            int d = lx->pos < lx->len ? hexval(s[lx->pos]) : -1;
            if (d < 0 || d >= base) {
                free(o);
                return fail(lx, epos, "invalid escape sequence");
            }
            cp = cp * (uint32_t)base + (uint32_t)d;
            lx->pos++;
        }
        if (bytes || (base == 8 && cp > 0xff)) {
            if (cp > 0xff) {
                free(o);
                return fail(lx, epos, "octal escape out of range");
            }
            if (bytes) {
                o[n++] = (uint8_t)cp;
                continue;
            }
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            free(o);
            return fail(lx, epos, "escape is not a valid Unicode code point");
        }
        n += put_utf8(o + n, cp);
    }
    o[n] = 0;
    t->kind = bytes ? K_BYTES : K_STRING;
    t->str = (char *)o;
    t->slen = n;
    return true;
}

static bool lex_number(ex_lexer *lx, ex_token *t, uint32_t start) {
    const char *s = lx->src;
    size_t p = lx->pos;
    if (s[p] == '0' && p + 1 < lx->len && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
        p += 2;
        uint64_t v = 0;
        size_t nd = 0;
        while (p < lx->len && hexval(s[p]) >= 0) {
            if (v >> 60)
                return fail(lx, start, "integer literal out of range");
            v = v * 16 + (uint64_t)hexval(s[p++]);
            nd++;
        }
        if (nd == 0)
            return fail(lx, start, "hexadecimal literal without digits");
        t->kind = K_INT;
        if (p < lx->len && (s[p] == 'u' || s[p] == 'U')) {
            p++;
            t->kind = K_UINT;
        }
        t->v.u = v;
        lx->pos = p;
        return true;
    }
    bool dbl = false;
    while (p < lx->len && isdigit((unsigned char)s[p]))
        p++;
    if (p + 1 < lx->len && s[p] == '.' && isdigit((unsigned char)s[p + 1])) {
        dbl = true;
        p++;
        while (p < lx->len && isdigit((unsigned char)s[p]))
            p++;
    }
    if (p < lx->len && (s[p] == 'e' || s[p] == 'E')) {
        size_t q = p + 1;
        if (q < lx->len && (s[q] == '+' || s[q] == '-'))
            q++;
        if (q < lx->len && isdigit((unsigned char)s[q])) {
            dbl = true;
            p = q;
            while (p < lx->len && isdigit((unsigned char)s[p]))
                p++;
        }
    }
    char buf[400];
    size_t n = p - lx->pos;
    if (n >= sizeof buf)
        return fail(lx, start, "number literal too long");
    memcpy(buf, s + lx->pos, n);
    buf[n] = 0;
    errno = 0;
    if (dbl) {
        t->kind = K_DOUBLE;
        t->v.d = strtod(buf, NULL);
    } else {
        t->kind = K_INT;
        t->v.u = strtoull(buf, NULL, 10);
        if (errno == ERANGE)
            return fail(lx, start, "integer literal out of range");
        if (p < lx->len && (s[p] == 'u' || s[p] == 'U')) {
            p++;
            t->kind = K_UINT;
        }
    }
    if (p < lx->len && (isalnum((unsigned char)s[p]) || s[p] == '_'))
        return fail(lx, (uint32_t)p, "malformed number");
    lx->pos = p;
    return true;
}

bool ex_lex_next(ex_lexer *lx, ex_token *t) {
    const char *s = lx->src;
    memset(t, 0, sizeof *t);
    for (;;) {
        while (lx->pos < lx->len && (s[lx->pos] == ' ' || s[lx->pos] == '\t' ||
                                     s[lx->pos] == '\n' || s[lx->pos] == '\r' ||
                                     s[lx->pos] == '\f' || s[lx->pos] == '\v'))
            lx->pos++;
        /* CEL comments run from // to the end of the line. */
        if (lx->pos + 1 < lx->len && s[lx->pos] == '/' && s[lx->pos + 1] == '/') {
            while (lx->pos < lx->len && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        break;
    }
    uint32_t start = (uint32_t)lx->pos;
    t->pos = start;
    if (lx->pos >= lx->len) {
        t->kind = K_EOF;
        return true;
    }
    char c = s[lx->pos];
    bool ok = true;
    if (isdigit((unsigned char)c) ||
        (c == '.' && lx->pos + 1 < lx->len && isdigit((unsigned char)s[lx->pos + 1]))) {
        ok = lex_number(lx, t, start);
    } else if (isalpha((unsigned char)c) || c == '_') {
        size_t p = lx->pos;
        while (p < lx->len && (isalnum((unsigned char)s[p]) || s[p] == '_'))
            p++;
        size_t n = p - lx->pos;
        /* String prefixes: r, b, rb, br in either case, directly before a quote. */
        if (n <= 2 && p < lx->len && (s[p] == '"' || s[p] == '\'')) {
            bool raw = false, bytes = false, valid = true;
            for (size_t i = lx->pos; i < p; i++) {
                char l = (char)tolower((unsigned char)s[i]);
                if (l == 'r' && !raw)
                    raw = true;
                else if (l == 'b' && !bytes)
                    bytes = true;
                else
                    valid = false;
            }
            if (valid) {
                lx->pos = p;
                ok = lex_quoted(lx, t, raw, bytes, start);
                t->len = (uint32_t)(lx->pos - start);
                return ok;
            }
        }
        const char *w = s + lx->pos;
        lx->pos = p;
        if (n == 4 && !memcmp(w, "true", 4))
            t->kind = K_TRUE;
        else if (n == 5 && !memcmp(w, "false", 5))
            t->kind = K_FALSE;
        else if (n == 4 && !memcmp(w, "null", 4))
            t->kind = K_NULL;
        else if (n == 2 && !memcmp(w, "in", 2))
            t->kind = K_IN;
        else {
            t->kind = K_IDENT;
            t->str = malloc(n + 1);
            if (!t->str)
                return fail(lx, start, "out of memory");
            memcpy(t->str, w, n);
            t->str[n] = 0;
            t->slen = n;
        }
    } else if (c == '"' || c == '\'') {
        ok = lex_quoted(lx, t, false, false, start);
    } else {
        char d = lx->pos + 1 < lx->len ? s[lx->pos + 1] : 0;
        size_t w = 1;
        switch (c) {
        case '(': t->kind = K_LPAREN; break;
        case ')': t->kind = K_RPAREN; break;
        case '[': t->kind = K_LBRACK; break;
        case ']': t->kind = K_RBRACK; break;
        case '{': t->kind = K_LBRACE; break;
        case '}': t->kind = K_RBRACE; break;
        case ',': t->kind = K_COMMA; break;
        case '.': t->kind = K_DOT; break;
        case '?': t->kind = K_QUEST; break;
        case ':': t->kind = K_COLON; break;
        case '+': t->kind = K_PLUS; break;
        case '-': t->kind = K_MINUS; break;
        case '*': t->kind = K_STAR; break;
        case '/': t->kind = K_SLASH; break;
        case '%': t->kind = K_PERCENT; break;
        case '!':
            if (d == '=') { t->kind = K_NE; w = 2; } else t->kind = K_NOT;
            break;
        case '=':
            if (d != '=')
                return fail(lx, start, "'=' is not an operator (did you mean '=='?)");
            t->kind = K_EQ;
            w = 2;
            break;
        case '<':
            if (d == '=') { t->kind = K_LE; w = 2; } else t->kind = K_LT;
            break;
        case '>':
            if (d == '=') { t->kind = K_GE; w = 2; } else t->kind = K_GT;
            break;
        case '&':
            if (d != '&')
                return fail(lx, start, "'&' is not an operator (did you mean '&&'?)");
            t->kind = K_AND;
            w = 2;
            break;
        case '|':
            if (d != '|')
                return fail(lx, start, "'|' is not an operator (did you mean '||'?)");
            t->kind = K_OR;
            w = 2;
            break;
        default:
            return fail(lx, start, "unexpected character");
        }
        lx->pos += w;
    }
    t->len = (uint32_t)(lx->pos - start);
    return ok;
}
