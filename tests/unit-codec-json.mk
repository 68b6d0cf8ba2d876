# Unit test of the json codec (plugins/codec-json). The encoder sources are
# compiled in, so the encoder is tested without the loader; jansson and
# Python's json module both read every output.
check_PROGRAMS += tests/unit/test-codec-json
TESTS += tests/unit/test-codec-json
EXTRA_DIST += tests/codec-json-check.py

tests_unit_test_codec_json_SOURCES = tests/unit/test-codec-json.c \
	plugins/codec-json/json.c \
	plugins/codec-json/encode.c \
	$(SPW_JSON_SHARED)
tests_unit_test_codec_json_CPPFLAGS = $(AM_CPPFLAGS) \
	-DCODEC_JSON_CHECK_PY='"$(abs_top_srcdir)/tests/codec-json-check.py"'
tests_unit_test_codec_json_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_codec_json_LDADD = libspillway-core.la $(UV_LIBS) $(JANSSON_LIBS) -lm
