# Benchmarks of the xdr source. `make bench` builds and runs them.

# Parse-to-event cost: ns per record for a 10-bin, 301-byte record and
# variations (see bench/xdr-parse.c). The wire module is compiled in.
EXTRA_PROGRAMS += bench/xdr-parse
SPW_BENCH_BUILD += bench/xdr-parse
SPW_BENCH_RUN += bench/xdr-parse.sh
EXTRA_DIST += bench/xdr-parse.sh
bench_xdr_parse_SOURCES = bench/xdr-parse.c $(XS_WIRE_SOURCES)
bench_xdr_parse_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/source-xdr
bench_xdr_parse_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
bench_xdr_parse_LDADD = libspillway.la $(ZLIB_LIBS) $(UV_LIBS)

# End to end: spillway-xdrgen feeding spillway (xdr source -> xdr/json codec -> null sink).
SPW_BENCH_RUN += bench/xdr-e2e.sh
EXTRA_DIST += bench/xdr-e2e.sh
