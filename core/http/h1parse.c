/*
 * core/http/h1parse.c: the HTTP/1.1 response parser of the native
 * HTTP/1.1 engine (h1.c). Pure C over bytes: no sockets, no libuv, no
 * libcurl, so the unit tests and the fuzzer (fuzz-h1parse.c) drive it
 * with the same calls the engine makes.
 *
 * Incremental: bytes come as the socket delivers them, split anywhere.
 * The header section is parsed in one piece, straight from the input when
 * it arrived whole (the usual case: one read), else from a carry buffer
 * that holds it across reads and never grows past SPW__HTTP_H1_HEAD_MAX. The
 * body framing (Content-Length, chunked with extensions and trailers, or
 * until the connection ends) is a byte-level state machine that keeps
 * nothing but counters. So the memory one response can make us hold is
 * that carry plus the `body_max` bytes of body the caller keeps.
 *
 * Strict where leniency would let a response be read two ways (RFC 9112
 * section 11.2, response splitting): a bare CR, whitespace before a
 * field's colon, a NUL, Content-Length values that disagree or are not
 * digits, a chunk size that is not hex, a chunk not followed by CRLF are
 * all errors, after which the engine closes the connection. Lenient
 * where RFC 9112 allows it and real servers need it: a bare LF ends a
 * line, obs-fold continues a field, a missing reason phrase is fine,
 * Transfer-Encoding overrides Content-Length (the connection is then not
 * reused).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "http-private.h"

enum {
    P_HEAD = 0,   /* waiting for a whole header section */
    P_LEN,        /* Content-Length body */
    P_CLOSE,      /* body until the connection ends */
    P_CSIZE,      /* a chunk-size line: hex digits */
    P_CSIZE_WS,   /* whitespace after the digits */
    P_CEXT,       /* chunk extensions */
    P_CSIZE_CR,   /* CR of the chunk-size line seen */
    P_CDATA,      /* chunk data */
    P_CDATA_END,  /* the CRLF after chunk data */
    P_CDATA_LF,   /* its LF */
    P_TLINE0,     /* the start of a trailer line (or of the final empty line) */
    P_TLINE,      /* inside a trailer line */
    P_TLINE_CR,   /* CR at the end of a trailer line */
    P_TEND_CR,    /* CR of the final empty line */
    P_DONE,
    P_BAD,
};

static int bad(spw__http_h1parse *p, const char *why) {
    snprintf(p->why, sizeof p->why, "%s", why);
    p->state = P_BAD;
    return SPW__HTTP_H1_BAD;
}

void spw__http_h1parse_begin(spw__http_h1parse *p) {
    spw_buf carry = p->carry;
    memset(p, 0, sizeof *p);
    spw_buf_reset(&carry);
    p->carry = carry;
}

void spw__http_h1parse_free(spw__http_h1parse *p) {
    spw_buf_free(&p->carry);
    memset(p, 0, sizeof *p);
}

/* ---- the header section ------------------------------------------------- */

static bool is_tchar(unsigned char c) {
    /* RFC 9110 token characters. */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Where the header section in b[0..n) ends (past its empty line), searching from `from`; 0: not yet. */
static size_t head_end(const uint8_t *b, size_t n, size_t from) {
    for (size_t i = from; i < n; i++) {
        const uint8_t *lf = memchr(b + i, '\n', n - i);
        if (!lf)
            return 0;
        i = (size_t)(lf - b);
        /* An empty line follows this LF: "\n\n" or "\n\r\n". */
        if (i + 1 < n && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The items of a comma-separated list value, trimmed; false at the end. */
static bool list_next(const char **pos, const char *end, const char **item, size_t *len) {
    const char *q = *pos;
    for (;;) {
        while (q < end && (is_ws((unsigned char)*q) || *q == ','))
            q++;
        if (q >= end) {
            *pos = q;
            return false;
        }
        const char *s = q;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > s && is_ws((unsigned char)e[-1]))
            e--;
        *pos = q;
        *item = s;
        *len = (size_t)(e - s);
        return true;
    }
}

static bool token_is(const char *t, size_t n, const char *word) {
    return n == strlen(word) && strncasecmp(t, word, n) == 0;
}

/* Content-Length: 1*DIGIT, or a list of one value repeated (RFC 9110 8.6). */
static int field_content_length(spw__http_h1parse *p, const char *v, const char *end) {
    const char *it;
    size_t n;
    bool any = false;
    while (list_next(&v, end, &it, &n)) {
        uint64_t x = 0;
        if (n == 0 || n > 18)
            return bad(p, "Content-Length is not a number of 18 digits or fewer");
        for (size_t i = 0; i < n; i++) {
            if (it[i] < '0' || it[i] > '9')
                return bad(p, "Content-Length is not a number");
            x = x * 10 + (uint64_t)(it[i] - '0');
        }
        if (p->has_clen && x != p->clen)
            return bad(p, "conflicting Content-Length values");
        p->has_clen = true;
        p->clen = x;
        any = true;
    }
    if (!any)
        return bad(p, "an empty Content-Length");
    return SPW__HTTP_H1_MORE;
}

/* Transfer-Encoding: the body is chunked when chunked is the last coding. */
static void field_transfer_encoding(spw__http_h1parse *p, const char *v, const char *end) {
    const char *it;
    size_t n;
    p->has_te = true;
    while (list_next(&v, end, &it, &n)) {
        size_t k = 0;
        while (k < n && it[k] != ';' && !is_ws((unsigned char)it[k]))
            k++;
        p->te_chunked = token_is(it, k, "chunked");
    }
}

static void field_connection(spw__http_h1parse *p, const char *v, const char *end) {
    const char *it;
    size_t n;
    while (list_next(&v, end, &it, &n)) {
        if (token_is(it, n, "close"))
            p->conn_close = true;
        else if (token_is(it, n, "keep-alive"))
            p->conn_keep = true;
    }
}

static void field_retry_after(spw__http_h1parse *p, const char *v, const char *end) {
    if (p->retry_after[0])
        return; /* the first one counts */
    while (v < end && is_ws((unsigned char)*v))
        v++;
    while (end > v && is_ws((unsigned char)end[-1]))
        end--;
    size_t o = 0;
    for (; v < end && o + 1 < sizeof p->retry_after; v++)
        p->retry_after[o++] = (*v == '\r' || *v == '\n' || *v == '\t') ? ' ' : *v;
    p->retry_after[o] = '\0';
}

/* Appends "name\0value\0" to p->headers: the value trimmed, a fold's line breaks as spaces. */
static void keep_field(spw__http_h1parse *p, const char *name, size_t nl, const char *v,
                       const char *end, bool folded) {
    while (v < end && is_ws((unsigned char)*v))
        v++;
    while (end > v && is_ws((unsigned char)end[-1]))
        end--;
    size_t vl = (size_t)(end - v);
    spw_buf *h = p->headers;
    if (spw_buf_reserve(h, nl + vl + 2) != SPW_OK)
        return; /* out of memory: the header is missing, the response is still read */
    uint8_t *o = h->data + h->len;
    memcpy(o, name, nl);
    o[nl] = '\0';
    memcpy(o + nl + 1, v, vl);
    o[nl + 1 + vl] = '\0';
    if (folded)
        for (uint8_t *q = o + nl + 1; q < o + nl + 1 + vl; q++)
            if (*q == '\r' || *q == '\n')
                *q = ' ';
    h->len += nl + vl + 2;
}

/* One field; its value may span obs-fold lines (CR, LF and whitespace inside). */
static int field(spw__http_h1parse *p, const char *name, size_t nl, const char *v, const char *end,
                 bool folded) {
    if (p->headers)
        keep_field(p, name, nl, v, end, folded);
    if (token_is(name, nl, "content-length"))
        return field_content_length(p, v, end);
    if (token_is(name, nl, "transfer-encoding"))
        field_transfer_encoding(p, v, end);
    else if (token_is(name, nl, "connection"))
        field_connection(p, v, end);
    else if (token_is(name, nl, "retry-after"))
        field_retry_after(p, v, end);
    return SPW__HTTP_H1_MORE;
}

static int status_line(spw__http_h1parse *p, const char *l, size_t n) {
    /* HTTP/1.x SP 3DIGIT [SP reason-phrase] */
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
        return bad(p, "malformed status line (not HTTP/1.0 or HTTP/1.1)");
    p->http10 = l[7] == '0';
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return bad(p, "malformed status code");
        st = st * 10 + (l[i] - '0');
    }
    if (st < SPW__HTTP_STATUS_MIN || st > SPW__HTTP_STATUS_MAX)
        return bad(p, "status code out of range");
    if (n > 12 && l[12] != ' ')
        return bad(p, "malformed status line");
    for (size_t i = 13; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(p, "control character in the reason phrase");
    }
    p->status = st;
    return SPW__HTTP_H1_MORE;
}

/* Parses a whole header section h[0..n) (its empty line included) and sets up the body. */
static int head(spw__http_h1parse *p, const char *h, size_t n) {
    /* Per-section state: a 1xx section's fields say nothing about the final response. */
    p->has_clen = p->has_te = p->te_chunked = p->conn_close = p->conn_keep = false;
    p->clen = 0;
    p->retry_after[0] = '\0';
    if (p->headers)
        p->headers->len = 0;
    const char *end = h + n, *line = h;
    const char *fname = NULL, *fval = NULL, *fend = NULL; /* the field being gathered */
    size_t fnl = 0;
    bool first = true, folded = false;
    int rc;
    while (line < end) {
        const char *lf = memchr(line, '\n', (size_t)(end - line));
        const char *le = lf; /* the line without its terminator */
        if (le > line && le[-1] == '\r')
            le--;
        for (const char *q = line; q < le; q++)
            if (*q == '\r' || *q == '\0')
                return bad(p, *q ? "bare CR in the response head" : "NUL in the response head");
        size_t ln = (size_t)(le - line);
        if (first) {
            if ((rc = status_line(p, line, ln)) != SPW__HTTP_H1_MORE)
                return rc;
            first = false;
        } else if (ln > 0 && (line[0] == ' ' || line[0] == '\t')) {
            /* obs-fold: the previous field goes on (RFC 9112 5.2) */
            if (!fname)
                return bad(p, "whitespace before the first header field");
            fend = le;
            folded = true;
        } else {
            if (fname && (rc = field(p, fname, fnl, fval, fend, folded)) != SPW__HTTP_H1_MORE)
                return rc;
            fname = NULL;
            folded = false;
            if (ln == 0)
                break; /* the empty line: the section ends */
            const char *colon = memchr(line, ':', ln);
            if (!colon || colon == line)
                return bad(p, "malformed header field (no name or no colon)");
            for (const char *q = line; q < colon; q++)
                if (!is_tchar((unsigned char)*q))
                    return bad(p, "malformed header field name");
            fname = line;
            fnl = (size_t)(colon - line);
            fval = colon + 1;
            fend = le;
        }
        line = lf + 1;
    }

    if (p->status < 200) {
        /* Interim (100 Continue, 103 Early Hints): the final response follows. */
        if (p->status == 101)
            return bad(p, "101 Switching Protocols, which was never asked for");
        p->interim++;
        p->status = 0;
        return SPW__HTTP_H1_MORE;
    }
    bool no_body = p->status == 204 || p->status == 304;
    p->keep_alive = p->http10 ? p->conn_keep && !p->conn_close : !p->conn_close;
    if (no_body) {
        p->state = P_DONE;
        return SPW__HTTP_H1_DONE;
    }
    if (p->has_te) {
        /* Transfer-Encoding wins over Content-Length (RFC 9112 6.3), but a server sending both,
         * or a coding in an HTTP/1.0 answer, is not trusted with the next request. */
        if (p->has_clen || p->http10)
            p->keep_alive = false;
        if (p->te_chunked) {
            p->state = P_CSIZE;
            return SPW__HTTP_H1_MORE;
        }
    } else if (p->has_clen) {
        p->left = p->clen;
        p->state = p->left ? P_LEN : P_DONE;
        return p->left ? SPW__HTTP_H1_MORE : SPW__HTTP_H1_DONE;
    }
    p->until_close = true;
    p->keep_alive = false;
    p->state = P_CLOSE;
    return SPW__HTTP_H1_MORE;
}

/* ---- the body ----------------------------------------------------------- */

static void keep(spw__http_h1parse *p, spw_buf *body, size_t body_max, const uint8_t *b,
                 size_t n) {
    /* Up to body_max; the rest is read, counted and dropped. */
    p->body_total += n;
    if (body && body->len < body_max)
        (void)spw_buf_append(body, b, n < body_max - body->len ? n : body_max - body->len);
}

/* Chunked framing and trailers, from b[*i]; returns when done, bad or out of input. */
static int chunked(spw__http_h1parse *p, const uint8_t *b, size_t n, size_t *i, spw_buf *body,
                   size_t body_max) {
    while (*i < n) {
        uint8_t c = b[*i];
        switch (p->state) {
        case P_CDATA: {
            size_t take = n - *i;
            if (take > p->left)
                take = (size_t)p->left;
            keep(p, body, body_max, b + *i, take);
            *i += take;
            p->left -= take;
            if (p->left == 0)
                p->state = P_CDATA_END;
            continue;
        }
        case P_CSIZE:
        case P_CSIZE_WS:
        case P_CEXT:
        case P_CSIZE_CR:
            if (++p->count > SPW__HTTP_H1_LINE_MAX)
                return bad(p, "chunk-size line too long");
            break;
        case P_TLINE0:
        case P_TLINE:
        case P_TLINE_CR:
        case P_TEND_CR:
            if (++p->count > SPW__HTTP_H1_HEAD_MAX)
                return bad(p, "trailer section too long");
            break;
        default:
            break;
        }
        (*i)++;
        int h;
        switch (p->state) {
        case P_CSIZE:
            h = spw__http_hexval(c);
            if (h >= 0) {
                if (p->left > (UINT64_MAX >> 4))
                    return bad(p, "chunk size too large");
                p->left = p->left << 4 | (uint64_t)h;
                p->digits = true;
                break;
            }
            if (!p->digits)
                return bad(p, "malformed chunk size");
            if (c == ' ' || c == '\t')
                p->state = P_CSIZE_WS;
            else if (c == ';')
                p->state = P_CEXT;
            else if (c == '\r')
                p->state = P_CSIZE_CR;
            else if (c == '\n')
                goto size_line_end;
            else
                return bad(p, "malformed chunk size");
            break;
        case P_CSIZE_WS:
            if (c == ';')
                p->state = P_CEXT;
            else if (c == '\r')
                p->state = P_CSIZE_CR;
            else if (c == '\n')
                goto size_line_end;
            else if (c != ' ' && c != '\t')
                return bad(p, "malformed chunk extension");
            break;
        case P_CEXT:
            if (c == '\r')
                p->state = P_CSIZE_CR;
            else if (c == '\n')
                goto size_line_end;
            else if (c == 0)
                return bad(p, "NUL in a chunk extension");
            break;
        case P_CSIZE_CR:
            if (c != '\n')
                return bad(p, "bare CR in a chunk-size line");
        size_line_end:
            p->count = 0;
            p->digits = false;
            p->state = p->left ? P_CDATA : P_TLINE0;
            break;
        case P_CDATA_END:
            if (c == '\r')
                p->state = P_CDATA_LF;
            else if (c == '\n')
                p->state = P_CSIZE;
            else
                return bad(p, "chunk data not followed by CRLF");
            break;
        case P_CDATA_LF:
            if (c != '\n')
                return bad(p, "chunk data not followed by CRLF");
            p->state = P_CSIZE;
            break;
        case P_TLINE0:
            if (c == '\r') {
                p->state = P_TEND_CR;
            } else if (c == '\n') {
                p->state = P_DONE;
                return SPW__HTTP_H1_DONE;
            } else if (is_tchar(c)) {
                p->colon = false;
                p->state = P_TLINE;
            } else {
                return bad(p, "malformed trailer field");
            }
            break;
        case P_TLINE:
            if (c == ':') {
                p->colon = true;
            } else if (c == '\r' || c == '\n') {
                if (!p->colon)
                    return bad(p, "malformed trailer field (no colon)");
                p->state = c == '\r' ? P_TLINE_CR : P_TLINE0;
            } else if (c == 0) {
                return bad(p, "NUL in a trailer field");
            } else if (!p->colon && !is_tchar(c)) {
                return bad(p, "malformed trailer field name");
            }
            break;
        case P_TLINE_CR:
            if (c != '\n')
                return bad(p, "bare CR in a trailer field");
            p->state = P_TLINE0;
            break;
        case P_TEND_CR:
            if (c != '\n')
                return bad(p, "bare CR after the trailers");
            p->state = P_DONE;
            return SPW__HTTP_H1_DONE;
        default:
            return bad(p, "parser state lost");
        }
    }
    return SPW__HTTP_H1_MORE;
}

/* ---- feeding ------------------------------------------------------------ */

/* Takes a header section from the input (or the carry); *i moves past what it used. */
static int take_head(spw__http_h1parse *p, const uint8_t *b, size_t n, size_t *i) {
    const uint8_t *in = b + *i;
    size_t avail = n - *i;
    /* Garbage is refused as soon as its first bytes show it is no status line (the same check
     * however the bytes were cut, so the verdict never depends on how they arrived). */
    static const char ver[] = "HTTP/1.";
    for (size_t k = 0; k < 7 && k < p->carry.len + avail; k++) {
        uint8_t c = k < p->carry.len ? p->carry.data[k] : in[k - p->carry.len];
        if (c != (uint8_t)ver[k])
            return bad(p, "malformed status line (not HTTP/1.0 or HTTP/1.1)");
    }
    if (p->carry.len == 0) {
        size_t e = head_end(in, avail < SPW__HTTP_H1_HEAD_MAX ? avail : SPW__HTTP_H1_HEAD_MAX, 0);
        if (e) {
            *i += e;
            return head(p, (const char *)in, e);
        }
    }
    /* The section is split across reads: gather it, never beyond the bound. */
    size_t old = p->carry.len;
    size_t take = avail < SPW__HTTP_H1_HEAD_MAX - old ? avail : SPW__HTTP_H1_HEAD_MAX - old;
    if (spw_buf_append(&p->carry, in, take) != SPW_OK)
        return bad(p, "out of memory for the response head");
    size_t e = head_end(p->carry.data, p->carry.len, p->scan);
    if (e) {
        /* Only the section's bytes are used; what follows is the body. The end was not in the
         * carry before, so it lies in what was just added. */
        if (e <= old)
            return bad(p, "parser state lost");
        *i += e - old;
        int rc = head(p, (const char *)p->carry.data, e);
        spw_buf_reset(&p->carry);
        p->scan = 0;
        return rc;
    }
    *i += take;
    if (p->carry.len >= SPW__HTTP_H1_HEAD_MAX)
        return bad(p, "response head larger than 64 KiB");
    /* Resume the search a little before the end: the empty line may straddle reads. */
    p->scan = p->carry.len > 3 ? p->carry.len - 3 : 0;
    return SPW__HTTP_H1_MORE;
}

int spw__http_h1parse_feed(spw__http_h1parse *p, const uint8_t *b, size_t n, size_t *used, spw_buf *body,
                    size_t body_max) {
    size_t i = 0;
    int rc = p->state == P_BAD ? SPW__HTTP_H1_BAD : SPW__HTTP_H1_MORE;
    while (i < n && rc == SPW__HTTP_H1_MORE) {
        switch (p->state) {
        case P_HEAD:
            rc = take_head(p, b, n, &i);
            break;
        case P_LEN: {
            size_t take = n - i;
            if (take > p->left)
                take = (size_t)p->left;
            keep(p, body, body_max, b + i, take);
            i += take;
            p->left -= take;
            if (p->left == 0) {
                p->state = P_DONE;
                rc = SPW__HTTP_H1_DONE;
            }
            break;
        }
        case P_CLOSE:
            keep(p, body, body_max, b + i, n - i);
            i = n;
            break;
        case P_DONE:
            rc = SPW__HTTP_H1_DONE;
            break;
        case P_BAD:
            rc = SPW__HTTP_H1_BAD;
            break;
        default:
            rc = chunked(p, b, n, &i, body, body_max);
            break;
        }
    }
    if (rc == SPW__HTTP_H1_MORE && p->state == P_DONE)
        rc = SPW__HTTP_H1_DONE; /* a head with no body, at the very end of the input */
    if (used)
        *used = i;
    return rc;
}

int spw__http_h1parse_eof(spw__http_h1parse *p) {
    if (p->state == P_CLOSE) {
        p->state = P_DONE;
        return SPW__HTTP_H1_DONE;
    }
    if (p->state == P_DONE)
        return SPW__HTTP_H1_DONE;
    if (p->state != P_BAD)
        bad(p, "connection closed before the response was complete");
    return SPW__HTTP_H1_BAD;
}
