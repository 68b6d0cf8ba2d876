# The AWS sinks (lambda-alb, sqs, lambda) against the faithful fakes of
# tests/aws-fakes.py: each sink's rules, zero loss from spillway-xdrgen,
# and the example pipelines checked.
AWS_SINK_TESTS = tests/aws-lambda-alb.py tests/aws-sqs.py tests/aws-lambda.py
TESTS += $(AWS_SINK_TESTS)
dist_noinst_SCRIPTS += $(AWS_SINK_TESTS)
dist_noinst_DATA += examples/lambda/handler.py examples/xdr-to-lambda.ini \
	examples/xdr-to-lambda-invoke.ini examples/xdr-to-sqs.ini

# The sinks' pure parts (escaping, excerpts, the SQS wire format), linked alone.
check_PROGRAMS += tests/unit/test-aws-sinks
TESTS += tests/unit/test-aws-sinks
tests_unit_test_aws_sinks_SOURCES = tests/unit/test-aws-sinks.c plugins/aws-common/aws-sink.c \
	plugins/sink-sqs/entries.c
tests_unit_test_aws_sinks_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_aws_sinks_LDADD = libspillway.la $(UV_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
