/*
 * bench/expr.c: cost of one evaluation of the expr filter's engine
 * (plugins/filter-expr, compiled in), on a 10-bin write of common types
 * (strings, integers, a double, a bool, a blob, a list, a map), the bins
 * the expressions name placed among the others as they would be.
 *
 *   bench/expr [-n ITERATIONS] [-e EXPR]...
 *
 * For each expression: ns per evaluation, thread CPU time and wall time
 * (the median of 7 timed runs after a warm-up; and the
 * fastest run's wall time, the least disturbed by other processes) and the outcome, so a figure for an expression that
 * errs is not mistaken for one that decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <spillway/spillway.h>
#include "../plugins/filter-expr/expr.h"

static spw_event *rec10(void) {
    static const uint8_t tags[] = {0x93, 0xa4, 0x03, 'r', 'e', 'd', 0xa5, 0x03, 'b', 'l', 'u', 'e',
                                   0x07};
    static const uint8_t addr[] = {0x82, 0xa5, 0x03, 'c', 'i', 't', 'y', 0xa6, 0x03, 'P', 'a',
                                   'r', 'i', 's', 0xa4, 0x03, 'z', 'i', 'p', 0xcd, 0x75, 0x30};
    uint8_t amount[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x2c}, qty[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    uint8_t price[8] = {0x40, 0x58, 0xf8, 0, 0, 0, 0, 0}, one = 1, digest[20] = {9};
    spw_event *ev = spw_event_new(10, 1024);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "orders", 6);
    spw_event_set_key(ev, SPW_PT_STRING, "order-1234567", 13);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 4);
    spw_event_set_lut(ev, 1765000000000, 0);
    spw_event_set_port(ev, 8901);
    spw_event_add_bin(ev, "id", 2, SPW_PT_STRING, "order-1234567", 13, 0);
    spw_event_add_bin(ev, "customer", 8, SPW_PT_STRING, "Alice Martin", 12, 0);
    spw_event_add_bin(ev, "qty", 3, SPW_PT_INTEGER, qty, 8, 0);
    spw_event_add_bin(ev, "price", 5, SPW_PT_DOUBLE, price, 8, 0);
    spw_event_add_bin(ev, "amount", 6, SPW_PT_INTEGER, amount, 8, 0);
    spw_event_add_bin(ev, "email", 5, SPW_PT_STRING, "alice.martin@example.com", 24, 0);
    spw_event_add_bin(ev, "paid", 4, SPW_PT_BOOL, &one, 1, 0);
    spw_event_add_bin(ev, "token", 5, SPW_PT_BLOB, "\x01\x02\x03\x04\x05\x06\x07\x08", 8, 0);
    spw_event_add_bin(ev, "tags", 4, SPW_PT_LIST, tags, sizeof tags, 0);
    spw_event_add_bin(ev, "address", 7, SPW_PT_MAP, addr, sizeof addr, 0);
    return ev;
}

/* The thread's CPU time: on a shared, loaded machine the wall clock also
 * counts the time other processes had the core. Both are reported. */
static double now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long iters = 2000000;
    const char *exprs[32];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            iters = atol(argv[++i]);
        else if (!strcmp(argv[i], "-e") && i + 1 < argc && n < 32)
            exprs[n++] = argv[++i];
    }
    if (n == 0) {
        exprs[n++] = "set == \"orders\" && bins.amount > 100";
        exprs[n++] = "bins.email.matches(\"@example\\\\.com$\")";
        exprs[n++] = "bins.customer.matches(\"^[A-Z][a-z]+ [A-Z][a-z]+$\")";
        exprs[n++] = "bins.address.city == \"Paris\" && \"blue\" in bins.tags";
        exprs[n++] = "true";
    }
    spw_event *ev = rec10();
    printf("%-60s %12s %8s %8s %8s\n", "expression (10-bin record)", "cpu ns/eval", "wall ns",
           "min wall", "outcome");
    for (int k = 0; k < n; k++) {
        char err[512];
        ex_prog *p;
        if (!ex_compile(exprs[k], strlen(exprs[k]), NULL, false, &p, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        volatile int sink = 0;
        for (long i = 0; i < iters / 10; i++)
            sink += ex_eval(p, ev, NULL);
        double runs[7], walls[7];
        for (int r = 0; r < 7; r++) {
            double t0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
            for (long i = 0; i < iters; i++)
                sink += ex_eval(p, ev, NULL);
            runs[r] = (now_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)iters;
            walls[r] = (now_ns(CLOCK_MONOTONIC) - w0) / (double)iters;
        }
        qsort(runs, 7, sizeof runs[0], cmp);
        qsort(walls, 7, sizeof walls[0], cmp);
        ex_outcome o = ex_eval(p, ev, NULL);
        printf("%-60s %12.1f %8.1f %8.1f %8s\n", exprs[k], runs[3], walls[3], walls[0],
               o == EX_TRUE ? "true" : o == EX_FALSE ? "false" : "error");
        ex_free(p);
    }
    spw_event_unref(ev);
    return 0;
}
