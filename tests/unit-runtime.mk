# The runtime: ack machinery, routes, workers, run with in-process plugins.
check_PROGRAMS += tests/unit/test-ack
TESTS += tests/unit/test-ack
tests_unit_test_ack_SOURCES = tests/unit/test-ack.c
tests_unit_test_ack_LDADD = libspillway-core.la $(UV_LIBS) $(PTHREAD_LIBS)

# A reload replacing a source with spw_source_ops.retire: it keeps serving.
check_PROGRAMS += tests/unit/test-retire
TESTS += tests/unit/test-retire
tests_unit_test_retire_SOURCES = tests/unit/test-retire.c
tests_unit_test_retire_LDADD = libspillway-core.la $(UV_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/test-transform
TESTS += tests/unit/test-transform
tests_unit_test_transform_SOURCES = tests/unit/test-transform.c
tests_unit_test_transform_LDADD = libspillway-core.la $(UV_LIBS)

# The sink contract: too large, limits, destination down, held batches,
# filter results, core metrics; in-process plugins on the real pipeline.
check_PROGRAMS += tests/unit/test-contract
TESTS += tests/unit/test-contract
tests_unit_test_contract_SOURCES = tests/unit/test-contract.c
tests_unit_test_contract_LDADD = libspillway-core.la $(UV_LIBS) $(PTHREAD_LIBS)

# The metric registry: counters, gauges, histograms, merging, the stats line.
check_PROGRAMS += tests/unit/test-metrics
TESTS += tests/unit/test-metrics
tests_unit_test_metrics_SOURCES = tests/unit/test-metrics.c
tests_unit_test_metrics_LDADD = libspillway-core.la $(UV_LIBS) $(PTHREAD_LIBS)
