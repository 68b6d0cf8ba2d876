# Benchmarks: built and run by `make bench` (never by make check: timings on
# shared machines are noise; each benchmark compares ratios within one run).
# A benchmark program is declared with `EXTRA_PROGRAMS += bench/NAME` and
# listed in SPW_BENCH_BUILD; its runner script in SPW_BENCH_RUN.
SPW_BENCH_BUILD =
SPW_BENCH_RUN =
include bench/xdr.mk
include bench/codecs.mk
include bench/http.mk
include bench/aws.mk
bench: all $(SPW_BENCH_BUILD)
	@for s in $(SPW_BENCH_RUN); do echo "== $$s"; top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' $(SHELL) $(top_srcdir)/$$s || exit 1; done
.PHONY: bench
CLEANFILES += $(SPW_BENCH_BUILD)
include bench/es.mk
include bench/splunk-hec.mk
include bench/expr.mk
include bench/latency.mk
