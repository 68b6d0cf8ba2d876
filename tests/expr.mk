# The expr filter (plugins/filter-expr): its engine's unit test, compiled
# with the engine's sources and the core's convenience library (no plugin
# is loaded), and its end-to-end and differential tests.
check_PROGRAMS += tests/unit/test-expr
TESTS += tests/unit/test-expr
tests_unit_test_expr_SOURCES = tests/unit/test-expr.c $(SPW_EXPR_ENGINE)
tests_unit_test_expr_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
tests_unit_test_expr_LDADD = libspillway-core.la $(UV_LIBS) $(PCRE2_LIBS) -lm

# spillway-xdrgen -> spillway: records spread over routes by set, bin value
# and port; --check of examples/routing.ini; load-time errors with a caret.
TESTS += tests/expr-e2e.py
dist_noinst_SCRIPTS += tests/expr-e2e.py

# The lut-order filter's cache: verdicts, TTL, bound, threads, memory per entry.
check_PROGRAMS += tests/unit/test-lut-cache
TESTS += tests/unit/test-lut-cache
tests_unit_test_lut_cache_SOURCES = tests/unit/test-lut-cache.c \
	plugins/filter-lut-order/cache.c plugins/filter-lut-order/cache.h
tests_unit_test_lut_cache_CFLAGS = $(AM_CFLAGS)
tests_unit_test_lut_cache_LDADD = $(PTHREAD_LIBS)
