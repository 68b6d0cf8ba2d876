# expr filter benchmark: ns per evaluation on a 10-bin record (bench/expr.c,
# the engine compiled in), then the cost of a route with an expr filter
# beside the same route without one, in one run (bench/expr.sh). `make bench`.
EXTRA_PROGRAMS += bench/expr
SPW_BENCH_BUILD += bench/expr
SPW_BENCH_RUN += bench/expr.sh
EXTRA_DIST += bench/expr.sh
bench_expr_SOURCES = bench/expr.c $(SPW_EXPR_ENGINE)
bench_expr_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
bench_expr_LDADD = libspillway-core.la $(UV_LIBS) $(PCRE2_LIBS) -lm
