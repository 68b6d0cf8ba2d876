# Unit tests for retry timing (core/backoff.c) and the dead-letter writer (core/dlq.c).
check_PROGRAMS += tests/unit/test-backoff tests/unit/test-dlq
TESTS += tests/unit/test-backoff tests/unit/test-dlq

tests_unit_test_backoff_SOURCES = tests/unit/test-backoff.c
tests_unit_test_backoff_LDADD = libspillway-core.la $(UV_LIBS) $(PTHREAD_LIBS)

tests_unit_test_dlq_SOURCES = tests/unit/test-dlq.c
tests_unit_test_dlq_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_dlq_LDADD = libspillway-core.la $(UV_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
