# The expr filter (plugins/filter-expr): its engine's unit test, compiled
# with the engine's sources and the core's convenience library (no plugin
# is loaded), and its end-to-end and differential tests.
check_PROGRAMS += tests/unit/test-expr
TESTS += tests/unit/test-expr
tests_unit_test_expr_SOURCES = tests/unit/test-expr.c $(SPW_EXPR_ENGINE)
tests_unit_test_expr_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
tests_unit_test_expr_LDADD = libspillway-core.la $(UV_LIBS) $(PCRE2_LIBS) -lm
