# The elasticsearch sink's tests: its pure parts linked alone (bulk bodies,
# index names, ids, the answer scanner), and end to end against the fake
# cluster tests/fake-elasticsearch.py, fed by spillway-xdrgen.
check_PROGRAMS += tests/unit/test-es-bulk
TESTS += tests/unit/test-es-bulk
tests_unit_test_es_bulk_SOURCES = tests/unit/test-es-bulk.c plugins/sink-elasticsearch/bulk.c \
	plugins/sink-elasticsearch/reply.c
tests_unit_test_es_bulk_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
tests_unit_test_es_bulk_LDADD = libspillway.la $(UV_LIBS)

dist_noinst_SCRIPTS += tests/fake-elasticsearch.py
TESTS += tests/es-e2e.py
dist_noinst_SCRIPTS += tests/es-e2e.py
