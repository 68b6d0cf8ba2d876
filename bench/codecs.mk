# Codec benchmark: ns per record for every codec plugin (json, flat-json,
# msgpack, xdr, and avro when built), opened through libspillway's loader;
# batch framing per record; allocator calls per record. `make bench`.
EXTRA_PROGRAMS += bench/codecs
SPW_BENCH_BUILD += bench/codecs
SPW_BENCH_RUN += bench/codecs.sh
EXTRA_DIST += bench/codecs.sh
# It shares the codec tests' helpers (tests/unit/test-codec-common.h). It
# loads the codec plugins, so it links the shared library as the program
# does and reaches the loader through core/private.h's table.
bench_codecs_SOURCES = bench/codecs.c tests/unit/test-codec-common.h $(SPW_PRIVATE_CLIENT)
bench_codecs_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
bench_codecs_LDADD = libspillway.la $(UV_LIBS) $(LTDL_LIBS)
