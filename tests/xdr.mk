# Tests of the xdr source (plugins/source-xdr).
#
# test-xdr-wire: the protocol code alone (the pure wire module compiled in).
# xdr-*.py: the real spillway program with an xdr source, driven over TCP,
# TLS and IPv6 by tests/xdr-client.py (Python standard library only).
# sink-stall: a test-only sink that holds batches or answers each event as
# its bins say, to make deadlines, backpressure and out-of-order
# completion happen on demand.

check_PROGRAMS += tests/unit/test-xdr-wire
TESTS += tests/unit/test-xdr-wire
tests_unit_test_xdr_wire_SOURCES = tests/unit/test-xdr-wire.c $(XS_WIRE_SOURCES)
tests_unit_test_xdr_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/source-xdr \
	-I$(top_srcdir)/tests -DXDR_TEST_DATA='"$(abs_top_srcdir)/tests/data/xdr"'
tests_unit_test_xdr_wire_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_xdr_wire_LDADD = libspillway.la $(ZLIB_LIBS) $(UV_LIBS)

check_LTLIBRARIES += tests/plugins/sink-stall.la
tests_plugins_sink_stall_la_SOURCES = tests/plugins/sink-stall.c
tests_plugins_sink_stall_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_stall_la_LIBADD = $(SPW_PLUGIN_LIBS)

XDR_PY_TESTS = \
	tests/xdr-socket.py \
	tests/xdr-malformed.py \
	tests/xdr-flow.py \
	tests/xdr-tls.py \
	tests/xdr-guard.py \
	tests/xdr-flood.py
TESTS += $(XDR_PY_TESTS)
dist_noinst_SCRIPTS += $(XDR_PY_TESTS) tests/xdr-client.py
EXTRA_DIST += tests/data/xdr

# The source's `capture`: captured frames replayed by spillway-xdrgen, rotation, errors.
TESTS += tests/xdr-capture.sh
dist_noinst_SCRIPTS += tests/xdr-capture.sh

# test-xdr-fuzz: seeded mutants of real and built frames through the parser
# and, when accepted, the json, flat-json, msgpack and xdr codecs.
check_PROGRAMS += tests/unit/test-xdr-fuzz
TESTS += tests/unit/test-xdr-fuzz
noinst_HEADERS += tests/unit/xdr-frame-builder.h
tests_unit_test_xdr_fuzz_SOURCES = tests/unit/test-xdr-fuzz.c $(XS_WIRE_SOURCES) $(SPW_CODEC_ENCODERS)
tests_unit_test_xdr_fuzz_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS) -I$(top_srcdir)/plugins/source-xdr \
	-I$(top_srcdir)/tests -DXDR_TEST_DATA='"$(abs_top_srcdir)/tests/data/xdr"'
tests_unit_test_xdr_fuzz_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_xdr_fuzz_LDADD = $(SPW_CODEC_TEST_LIBS) $(ZLIB_LIBS)
