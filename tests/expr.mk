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

# ./configure --enable-fuzzing (CC=clang; add --enable-sanitizers for ASan +
# UBSan). `make fuzz-expr FUZZ_SECONDS=N` runs the parser + checker (+
# evaluator) target for N seconds in fuzz-expr/ of the build tree, seeded
# with expressions written here; crashes land in fuzz-expr/crashes/. Not
# part of `make check`.
EXTRA_DIST += plugins/filter-expr/fuzz-expr.c
if FUZZING
noinst_PROGRAMS += plugins/filter-expr/fuzz-expr
plugins_filter_expr_fuzz_expr_SOURCES = plugins/filter-expr/fuzz-expr.c $(SPW_EXPR_ENGINE)
plugins_filter_expr_fuzz_expr_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) -fsanitize=fuzzer
plugins_filter_expr_fuzz_expr_LDFLAGS = -Wc,-fsanitize=fuzzer
plugins_filter_expr_fuzz_expr_LDADD = libspillway.la $(UV_LIBS) $(PCRE2_LIBS) -lm

fuzz-expr: plugins/filter-expr/fuzz-expr$(EXEEXT)
	@mkdir -p fuzz-expr/corpus fuzz-expr/seeds fuzz-expr/crashes
	@printf '\000set == "orders" && bins.amount > 100' > fuzz-expr/seeds/route
	@printf '\001bins.tags[3][1] == true ? size(bins.m.m) : bins.m["k"] + 1' > fuzz-expr/seeds/nested
	@printf '\002// c\nbins.name.matches("^A.\\\\w+$$") ||\n  bins.b == b"\\x00\\001"' > fuzz-expr/seeds/file
	@printf "\003[1, 2u, 3.5, 'x', r'\\\\d', null, true] == [type(bins.g), int('7'), -9223372036854775808]" > fuzz-expr/seeds/lits
	@printf '\000has(bins.m.k) && !(key in [42, 43]) && port %% 2 == 1 && "k" in bins.m && bins.bad[0] == 1' > fuzz-expr/seeds/has
	cd fuzz-expr && ../plugins/filter-expr/fuzz-expr -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		-timeout=10 -artifact_prefix=crashes/ -max_len=4096 corpus seeds
else
fuzz-expr:
	@echo "fuzz-expr: the fuzzer is not built; configure with CC=clang ../configure --enable-fuzzing --enable-sanitizers" >&2
	@exit 1
endif
.PHONY: fuzz-expr

# Differential test: random expressions over random records, evaluated by the
# engine (through the driver) and by an independent evaluator in Python.
check_PROGRAMS += tests/unit/expr-diff-driver
tests_unit_expr_diff_driver_SOURCES = tests/unit/expr-diff-driver.c $(SPW_EXPR_ENGINE)
tests_unit_expr_diff_driver_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
tests_unit_expr_diff_driver_LDADD = libspillway-core.la $(UV_LIBS) $(PCRE2_LIBS) -lm
TESTS += tests/expr-diff.py
dist_noinst_SCRIPTS += tests/expr-diff.py
