# The `xdr` source: Aerospike XDR over TCP/TLS (see plugins/source-xdr/xdr.c).
#
# The protocol code (wire.h and its four files) is pure: no libuv, no
# sockets. It is compiled into the plugin, the unit tests, the fuzzer and
# the benchmark, each with its own flags, from this one list.
XS_WIRE_SOURCES = \
	plugins/source-xdr/wire.h \
	plugins/source-xdr/frame.c \
	plugins/source-xdr/record.c \
	plugins/source-xdr/inflate.c \
	plugins/source-xdr/info.c

pkglib_LTLIBRARIES += plugins/source-xdr.la
plugins_source_xdr_la_SOURCES = $(XS_WIRE_SOURCES) \
	plugins/source-xdr/source.h \
	plugins/source-xdr/xdr.c \
	plugins/source-xdr/listener.c \
	plugins/source-xdr/balance.c \
	plugins/source-xdr/conn.c \
	plugins/source-xdr/reply.c \
	plugins/source-xdr/allow.c \
	plugins/source-xdr/guard.c \
	plugins/source-xdr/capture.c
plugins_source_xdr_la_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
plugins_source_xdr_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_source_xdr_la_LIBADD = $(SPW_PLUGIN_LIBS) $(ZLIB_LIBS)


# The libFuzzer target for the frame parser (./configure --enable-fuzzing,
# CC=clang). `make fuzz-xdr FUZZ_SECONDS=N` runs it for N seconds in
# fuzz-xdr/ of the build tree, seeded with the frames of tests/data/xdr;
# inputs that crash land in fuzz-xdr/crashes/.
EXTRA_DIST += plugins/source-xdr/fuzz-frame.c
FUZZ_SECONDS = 60
# How every fuzz-* target runs its fuzzer, from its own directory of the build tree.
FUZZ_RUN_FLAGS = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=10 \
	-print_final_stats=1 -artifact_prefix=crashes/
if FUZZING
noinst_PROGRAMS += plugins/source-xdr/fuzz-frame
# The SDK code the parser leans on (the event, values, the list/map walker)
# is compiled in too, so that it is coverage-guided as well: these
# definitions take precedence over libspillway's in the fuzzer.
plugins_source_xdr_fuzz_frame_SOURCES = plugins/source-xdr/fuzz-frame.c $(XS_WIRE_SOURCES) \
	core/event.c core/value.c core/walk.c
plugins_source_xdr_fuzz_frame_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS) -fsanitize=fuzzer
plugins_source_xdr_fuzz_frame_LDFLAGS = -Wc,-fsanitize=fuzzer
plugins_source_xdr_fuzz_frame_LDADD = libspillway.la $(ZLIB_LIBS) $(UV_LIBS)

fuzz-xdr: plugins/source-xdr/fuzz-frame$(EXEEXT)
	@mkdir -p fuzz-xdr/corpus fuzz-xdr/seeds fuzz-xdr/crashes
	@$(PYTHON3) $(top_srcdir)/tests/xdr-client.py seeds $(top_srcdir)/tests/data/xdr fuzz-xdr/seeds
	cd fuzz-xdr && ../plugins/source-xdr/fuzz-frame $(FUZZ_RUN_FLAGS) -max_len=1048576 corpus seeds
else
fuzz-xdr:
	@echo "fuzz-xdr: the fuzzer is not built; configure with CC=clang ../configure --enable-fuzzing" >&2
	@exit 1
endif
.PHONY: fuzz-xdr
