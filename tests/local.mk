# Tests: unit tests per component, test-only plugins, end-to-end tests.
dist_noinst_SCRIPTS += tests/run-test
noinst_HEADERS += tests/tap.h
include tests/unit-event.mk
include tests/unit-config.mk
include tests/unit-loader.mk
include tests/unit-dlq.mk
include tests/unit-runtime.mk
include tests/e2e.mk
