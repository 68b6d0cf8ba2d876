# Unit tests of core/config.c (reading pipeline files) and core/options.c
# (typing keys against option tables). Test inputs are written by the tests
# themselves into temporary files, so there is no data to distribute.
check_PROGRAMS += tests/unit/test-config tests/unit/test-options
TESTS += tests/unit/test-config tests/unit/test-options

tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_LDADD = libspillway-core.la $(UV_LIBS)

tests_unit_test_options_SOURCES = tests/unit/test-options.c
tests_unit_test_options_LDADD = libspillway-core.la $(UV_LIBS)
