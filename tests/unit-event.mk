# Unit tests for the event, typed values, the list/map walker and the digest
# (core/event.c, core/value.c, core/walk.c, core/digest.c), and the ${var}
# templates rendered from an event's metadata (core/template.c).
check_PROGRAMS += tests/unit/test-event tests/unit/test-walk tests/unit/test-template
TESTS += tests/unit/test-event tests/unit/test-walk tests/unit/test-template

tests_unit_test_event_SOURCES = tests/unit/test-event.c
tests_unit_test_event_LDADD = libspillway.la $(UV_LIBS) $(PTHREAD_LIBS)

tests_unit_test_walk_SOURCES = tests/unit/test-walk.c
tests_unit_test_walk_LDADD = libspillway.la $(UV_LIBS)

tests_unit_test_template_SOURCES = tests/unit/test-template.c
tests_unit_test_template_LDADD = libspillway.la
