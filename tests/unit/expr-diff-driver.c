/*
 * tests/unit/expr-diff-driver.c: evaluates expressions for the
 * differential test (tests/expr-diff.py), which feeds records and
 * expressions on stdin and compares every answer with its own,
 * independent evaluator. Input lines, every string hex-encoded:
 *   R NS SET|- OP DURABLE GEN LUT EXP PORT DIGEST KEYTYPE(0: none) KEY|- NBINS
 *   B NAME PTYPE VALUE|-           (NBINS of them, after R)
 *   E EXPR                         (evaluated on the last record)
 * Output, one line per E: the value as ex_val_format writes it, or
 * "compile-error MESSAGE".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/spillway.h>
#include "../../plugins/filter-expr/expr.h"

static size_t unhex(const char *h, uint8_t *out) {
    if (!strcmp(h, "-"))
        return 0;
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

int main(void) {
    static char line[1 << 20];
    static uint8_t a[1 << 19], b[1 << 19];
    spw_event *ev = NULL;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *save, *tok = strtok_r(line, " ", &save);
        if (!tok)
            continue;
        if (!strcmp(tok, "R")) {
            char *f[13];
            for (int i = 0; i < 13; i++)
                f[i] = strtok_r(NULL, " ", &save);
            spw_event_unref(ev);
            ev = spw_event_new(64, 1 << 16);
            size_t n = unhex(f[0], a);
            spw_event_set_namespace(ev, a, n);
            if (strcmp(f[1], "-")) {
                n = unhex(f[1], a);
                spw_event_set_set(ev, a, n);
            }
            spw_event_set_op(ev, atoi(f[2]) == 2 ? SPW_OP_DELETE : SPW_OP_WRITE, atoi(f[3]) != 0);
            spw_event_set_generation(ev, (uint32_t)strtoul(f[4], NULL, 10));
            spw_event_set_lut(ev, strtoll(f[5], NULL, 10), 0);
            spw_event_set_expiry(ev, strtoll(f[6], NULL, 10));
            spw_event_set_port(ev, (uint16_t)atoi(f[7]));
            unhex(f[8], a);
            spw_event_set_digest(ev, a);
            if (atoi(f[9]) != 0) { /* key type 0: no key */
                n = unhex(f[10], a);
                spw_event_set_key(ev, (uint8_t)atoi(f[9]), a, n);
            }
            int nb = atoi(f[11]);
            for (int i = 0; i < nb; i++) {
                if (!fgets(line, sizeof line, stdin))
                    return 2;
                line[strcspn(line, "\n")] = 0;
                strtok_r(line, " ", &save);
                char *name = strtok_r(NULL, " ", &save), *pt = strtok_r(NULL, " ", &save),
                     *val = strtok_r(NULL, " ", &save);
                size_t nn = unhex(name, a), vn = unhex(val, b);
                spw_event_add_bin(ev, a, nn, (uint8_t)atoi(pt), vn ? b : NULL, vn, 0);
            }
        } else if (!strcmp(tok, "E")) {
            char *h = strtok_r(NULL, " ", &save);
            size_t n = h ? unhex(h, a) : 0;
            char err[512], out[8192];
            ex_prog *p;
            if (!ex_compile((const char *)a, n, NULL, true, &p, err, sizeof err)) {
                err[strcspn(err, "\n")] = 0;
                printf("compile-error %s\n", err);
            } else {
                ex_val v = ex_eval_value(p, ev);
                ex_val_format(p, ev, &v, out, sizeof out);
                printf("%s\n", out);
                ex_free(p);
            }
            fflush(stdout);
        }
    }
    spw_event_unref(ev);
    return 0;
}
