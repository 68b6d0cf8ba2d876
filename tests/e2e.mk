# End-to-end tests: the spillway program running whole pipelines built from
# the real plugins, checked from the outside (TAP shell scripts).

# A test-only codec: one text line per event, easy to check with awk.
check_LTLIBRARIES += tests/plugins/codec-testline.la
tests_plugins_codec_testline_la_SOURCES = tests/plugins/codec-testline.c
tests_plugins_codec_testline_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_codec_testline_la_LIBADD = $(SPW_PLUGIN_LIBS)

TESTS += tests/e2e-generate-file.sh
dist_noinst_SCRIPTS += tests/e2e-generate-file.sh
