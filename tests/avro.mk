# Tests of the avro codec (plugins/codec-avro). The unit test compiles the
# codec's sources in and checks every output with two independent readers:
# avro-c in process and python3-avro (tests/avro-check.py). The end-to-end
# test runs spillway: generate -> avro -> file, and decodes what it wrote.
check_PROGRAMS += tests/unit/test-codec-avro
TESTS += tests/unit/test-codec-avro tests/avro-e2e.py
EXTRA_DIST += tests/avro-check.py tests/avro-e2e.py tests/golden/avro-user.avsc \
	tests/golden/avro-generic-write.hex tests/golden/avro-generic-delete.hex \
	tests/golden/avro-generic-durable-delete.hex tests/golden/avro-generic-block.hex \
	tests/golden/avro-user-write.hex

tests_unit_test_codec_avro_SOURCES = tests/unit/test-codec-avro.c \
	plugins/codec-avro/avro.c \
	plugins/codec-avro/schema.c \
	plugins/codec-avro/generic.c \
	plugins/codec-avro/user.c \
	plugins/codec-avro/text.c \
	plugins/codec-avro/container.c \
	plugins/codec-avro/acodec.h
tests_unit_test_codec_avro_CPPFLAGS = $(AM_CPPFLAGS) \
	-DAVRO_CHECK_PY='"$(abs_top_srcdir)/tests/avro-check.py"' \
	-DGENERIC_AVSC='"$(abs_top_srcdir)/plugins/codec-avro/generic.avsc"' \
	-DGOLDEN_DIR='"$(abs_top_srcdir)/tests/golden"'
tests_unit_test_codec_avro_CFLAGS = $(AM_CFLAGS) $(AVRO_CFLAGS) $(JANSSON_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_codec_avro_LDADD = libspillway-core.la $(UV_LIBS) $(AVRO_LIBS) $(JANSSON_LIBS) \
	$(ZLIB_LIBS) -lm
