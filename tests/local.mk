# Tests: unit tests per component, test-only plugins, end-to-end tests.
#
# Which core a test program links:
#  - libspillway-core.la, the convenience library (a static copy of the
#    core, internals included), for unit tests of internals. Such a test
#    must never load a plugin module: the module links libspillway.so and
#    would run against that second copy of the core, not the test's.
#  - libspillway.la, the installed shared library, for tests of the public
#    surface only and for every program that loads plugins, which must
#    share the one core the plugins link (see core/local.mk).
dist_noinst_SCRIPTS += tests/run-test
# Ranks a build's tests by the wall time tests/run-test logs (.ci/run uses it).
dist_noinst_SCRIPTS += tools/test-durations
noinst_HEADERS += tests/tap.h
include tests/unit-event.mk
include tests/unit-config.mk
include tests/unit-loader.mk
include tests/unit-dlq.mk
include tests/unit-runtime.mk
include tests/unit-tls.mk
include tests/e2e.mk
include tests/xdr.mk
include tests/xdrgen.mk
include tests/codecs.mk
include tests/avro.mk
include tests/http.mk
include tests/http-h1.mk
include tests/http-aws.mk
include tests/gcf.mk
include tests/aws-sinks.mk
include tests/e2e-sdk.mk
include tests/admin.mk
include tests/tap.mk
include tests/reload.mk

# libspillway.so exports the SDK and spw__private only; the programs that
# load plugins share the one core in it (core/local.mk, core/private.h).
TESTS += tests/exports.sh
dist_noinst_SCRIPTS += tests/exports.sh

# The README's `make demo` works and leaves nothing behind.
TESTS += tests/e2e-demo.sh tests/e2e-examples.sh
dist_noinst_SCRIPTS += tests/e2e-demo.sh tests/e2e-examples.sh

# The program itself: flags, exit codes, log formats, signals.
TESTS += tests/e2e-cli.sh
dist_noinst_SCRIPTS += tests/e2e-cli.sh
include tests/unit-codec-json.mk

# `make install` relinks the plugins in the build tree; tests that load them
# must not run meanwhile, so the install test runs after every other test
# (GNU make; the build requires it anyway).
tests/e2e-sdk-install.log: $(filter-out tests/e2e-sdk-install.log,$(TEST_LOGS))

# The option reference is generated from the option tables; it must not drift.
TESTS += tests/e2e-docs.sh
dist_noinst_SCRIPTS += tests/e2e-docs.sh tools/gen-option-doc
include tests/elasticsearch.mk
include tests/splunk-hec.mk
include tests/expr.mk
# The man pages: one per plugin, every core option, no groff warning.
TESTS += tests/e2e-man.sh
dist_noinst_SCRIPTS += tests/e2e-man.sh
# Scale-out: three instances behind xdrgen's spread, one killed, one stopped.
TESTS += tests/scale-three.py
dist_noinst_SCRIPTS += tests/scale-three.py

# The slowest tests start first (tools/test-durations ranks a run's
# tests; .ci/run prints the slowest): make -jN starts tests in the order of
# TEST_LOGS, and a long test started last would run on alone at the end.
# Only the order changes; a name here that is not in TESTS is ignored.
SPW_SLOW_TEST_LOGS = tests/aws-sqs.log tests/http-h2-faults.log tests/http-aws-refresh.log \
	tests/admin.log tests/gcf-e2e.log tests/aws-lambda.log tests/aws-lambda-alb.log \
	tests/gcf-auth.log tests/http-aws-creds.log tests/splunk-hec.log tests/http-faults.log \
	tests/es-e2e.log tests/splunk-hec-more.log tests/http-conformance.log tests/xdr-socket.log \
	tests/http-features.log tests/e2e-cli.log tests/xdrgen-e2e.log tests/xdr-flow.log
spw_all_test_logs = $(am__test_logs3:.py.log=.log)
TEST_LOGS = $(foreach l,$(SPW_SLOW_TEST_LOGS),$(filter $(l),$(spw_all_test_logs))) \
	$(filter-out $(SPW_SLOW_TEST_LOGS),$(spw_all_test_logs))
