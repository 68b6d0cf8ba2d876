# The splunk-hec sink: unit tests of its envelopes and answers (linked with
# the plugin's own sources), then end to end against tests/hec-fake.py (a
# fake HEC with Splunk's rules) fed by spillway-xdrgen.
check_PROGRAMS += tests/unit/test-hec-envelope
TESTS += tests/unit/test-hec-envelope
tests_unit_test_hec_envelope_SOURCES = tests/unit/test-hec-envelope.c \
	plugins/sink-splunk-hec/envelope.c plugins/sink-splunk-hec/answer.c
tests_unit_test_hec_envelope_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_hec_envelope_LDADD = libspillway.la $(JANSSON_LIBS) $(UV_LIBS)

dist_noinst_SCRIPTS += tests/hec-fake.py
TESTS += tests/splunk-hec.py tests/splunk-hec-more.py
dist_noinst_SCRIPTS += tests/splunk-hec.py tests/splunk-hec-more.py
