/*
 * tests/tap.h: a tiny TAP producer for unit tests (header-only).
 *
 *   int main(void) {
 *       ok(1 + 1 == 2, "arithmetic");
 *       is_int(f(), 3, "f returns 3");
 *       is_str(name, "x", "name");
 *       return tap_done();
 *   }
 *
 * The plan is printed at the end, so tests need not count. Failures print
 * the file and line and the values compared, as TAP diagnostics.
 */
#ifndef SPW_TESTS_TAP_H
#define SPW_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int tap_ok_(int cond, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                         \
    do {                                                                               \
        long long g_ = (long long)(got), w_ = (long long)(want);                       \
        if (!tap_ok_(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                       \
            printf("#   got %lld, want %lld\n", g_, w_);                               \
    } while (0)

#define is_str(got, want, ...)                                                         \
    do {                                                                               \
        const char *g_ = (got), *w_ = (want);                                          \
        int c_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                          \
        if (!tap_ok_(c_, __FILE__, __LINE__, __VA_ARGS__))                             \
            printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

/* Passes when `hay` contains `needle`. */
#define has_str(hay, needle, ...)                                                      \
    do {                                                                               \
        const char *h_ = (hay), *n_ = (needle);                                        \
        if (!tap_ok_(h_ && strstr(h_, n_) != NULL, __FILE__, __LINE__, __VA_ARGS__))   \
            printf("#   \"%s\" does not contain \"%s\"\n", h_ ? h_ : "(null)", n_);    \
    } while (0)

#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int tap_done(void) {
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* SPW_TESTS_TAP_H */
