# Tests of the codecs json, flat-json, msgpack and xdr (the json codec's
# own unit test is tests/unit-codec-json.mk). The encoder sources are
# compiled into the test programs, which then call them directly; every
# output is decoded by real decoders (jansson, msgpack-c, Python's json
# and msgpack modules) and checked against an independent Python
# implementation of each format (tests/codec-oracle.py).

SPW_CODEC_TEST_CPPFLAGS = $(AM_CPPFLAGS) \
	-DCODEC_ORACLE_PY='"$(abs_top_srcdir)/tests/codec-oracle.py"' \
	-DCODEC_GOLDEN_DIR='"$(abs_top_srcdir)/tests/golden"'
SPW_CODEC_TEST_LIBS = libspillway-core.la $(UV_LIBS) -lm
SPW_CODEC_ENCODERS = \
	plugins/codec-json/encode.c \
	$(SPW_JSON_SHARED) \
	plugins/codec-flat-json/record.c \
	plugins/codec-flat-json/flat.h \
	plugins/codec-msgpack/pack.c \
	plugins/codec-msgpack/pack.h \
	plugins/codec-xdr/frame.c \
	plugins/codec-xdr/frame.h

noinst_HEADERS += tests/unit/test-codec-common.h
EXTRA_DIST += tests/codec-oracle.py tests/golden

# flat-json: names, collisions, metadata, through its descriptor too.
check_PROGRAMS += tests/unit/test-codec-flat-json
TESTS += tests/unit/test-codec-flat-json
tests_unit_test_codec_flat_json_SOURCES = tests/unit/test-codec-flat-json.c \
	plugins/codec-flat-json/flat.c \
	plugins/codec-flat-json/record.c \
	plugins/codec-flat-json/flat.h \
	$(SPW_JSON_SHARED)
tests_unit_test_codec_flat_json_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS)
tests_unit_test_codec_flat_json_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_codec_flat_json_LDADD = $(SPW_CODEC_TEST_LIBS) $(JANSSON_LIBS)

# msgpack: every value form, read back by msgpack-c and msgpack-python.
check_PROGRAMS += tests/unit/test-codec-msgpack
TESTS += tests/unit/test-codec-msgpack
tests_unit_test_codec_msgpack_SOURCES = tests/unit/test-codec-msgpack.c \
	plugins/codec-msgpack/msgpack.c \
	plugins/codec-msgpack/pack.c \
	plugins/codec-msgpack/pack.h \
	plugins/codec-json/utf8.c \
	plugins/codec-json/utf8.h
tests_unit_test_codec_msgpack_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS)
tests_unit_test_codec_msgpack_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
tests_unit_test_codec_msgpack_LDADD = $(SPW_CODEC_TEST_LIBS) $(MSGPACK_LIBS)

# xdr: pass-through decisions and frames encoded from events.
check_PROGRAMS += tests/unit/test-codec-xdr
TESTS += tests/unit/test-codec-xdr
tests_unit_test_codec_xdr_SOURCES = tests/unit/test-codec-xdr.c \
	plugins/codec-xdr/xdr.c \
	plugins/codec-xdr/frame.c \
	plugins/codec-xdr/frame.h
tests_unit_test_codec_xdr_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS)
tests_unit_test_codec_xdr_LDADD = $(SPW_CODEC_TEST_LIBS)

# Seeded random events through all four codecs, checked by the oracle.
check_PROGRAMS += tests/unit/test-codec-random
TESTS += tests/unit/test-codec-random
tests_unit_test_codec_random_SOURCES = tests/unit/test-codec-random.c $(SPW_CODEC_ENCODERS)
tests_unit_test_codec_random_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS)
tests_unit_test_codec_random_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(MSGPACK_CFLAGS)
tests_unit_test_codec_random_LDADD = $(SPW_CODEC_TEST_LIBS) $(JANSSON_LIBS) $(MSGPACK_LIBS)

# Golden files: representative records, byte for byte, for every codec.
# Regenerate (never in CI) with SPW_UPDATE_GOLDEN=1 and review the diff.
check_PROGRAMS += tests/unit/test-codec-golden
TESTS += tests/unit/test-codec-golden
tests_unit_test_codec_golden_SOURCES = tests/unit/test-codec-golden.c $(SPW_CODEC_ENCODERS)
tests_unit_test_codec_golden_CPPFLAGS = $(SPW_CODEC_TEST_CPPFLAGS)
tests_unit_test_codec_golden_LDADD = $(SPW_CODEC_TEST_LIBS)

# End to end: spillway running generate -> each codec -> file sink.
TESTS += tests/codec-e2e.py
dist_noinst_SCRIPTS += tests/codec-e2e.py

# The idempotency key in payloads (id_field, id_element), read back with real decoders.
TESTS += tests/codec-id.py
dist_noinst_SCRIPTS += tests/codec-id.py
# The idempotency example end to end: header and body keys, retries, resends, restarts.
TESTS += tests/idempotency-e2e.py
dist_noinst_SCRIPTS += tests/idempotency-e2e.py
