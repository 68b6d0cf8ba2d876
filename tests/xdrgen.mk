# Tests of spillway-xdrgen (tools/xdrgen) and the null sink (plugins/sink-null).

# Frames byte for byte against the reference's captures, replay parsing,
# compression, replies, the histogram, generated records.
check_PROGRAMS += tests/unit/test-xdrgen-wire
TESTS += tests/unit/test-xdrgen-wire
tests_unit_test_xdrgen_wire_SOURCES = tests/unit/test-xdrgen-wire.c \
	tools/xdrgen/xdrgen.h tools/xdrgen/wire.c tools/xdrgen/digest.c \
	tools/xdrgen/record.c tools/xdrgen/replay.c tools/xdrgen/hist.c
tests_unit_test_xdrgen_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/xdrgen
tests_unit_test_xdrgen_wire_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_xdrgen_wire_LDADD = libspillway.la $(UV_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) -lm

# --rate's schedule on a simulated clock: even spacing, catch-up, bounded burst.
check_PROGRAMS += tests/unit/test-xdrgen-pace
TESTS += tests/unit/test-xdrgen-pace
tests_unit_test_xdrgen_pace_SOURCES = tests/unit/test-xdrgen-pace.c \
	tools/xdrgen/xdrgen.h tools/xdrgen/pace.c
tests_unit_test_xdrgen_pace_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/xdrgen
tests_unit_test_xdrgen_pace_LDADD = $(UV_LIBS)

# The program against a fake connector written in Python (tests/xdrgen-fake.py):
# replies, retries, abandons, silences, resets, replay, TLS.
TESTS += tests/xdrgen-replay.py tests/xdrgen-schedule.py tests/xdrgen-tls.py
dist_noinst_SCRIPTS += tests/xdrgen-replay.py tests/xdrgen-schedule.py tests/xdrgen-tls.py
dist_noinst_DATA += tests/xdrgen-fake.py

# The null sink, and xdrgen -> spillway (xdr source) end to end (skips until
# the xdr source is built).
TESTS += tests/xdrgen-null.sh tests/xdrgen-e2e.sh
dist_noinst_SCRIPTS += tests/xdrgen-null.sh tests/xdrgen-e2e.sh
# What the shell tests running spillway fed by xdrgen share (xdrgen-e2e.sh,
# xdr-balance.sh, xdr-capture.sh source it).
dist_noinst_DATA += tests/xdr-lib.sh

# Every worker carries XDR's connections: 2, 3, 4 connections (and 2 over TLS) on
# a 2-worker pipeline, per-worker counters in the stats line and /metrics.
TESTS += tests/xdr-balance.sh
dist_noinst_SCRIPTS += tests/xdr-balance.sh
