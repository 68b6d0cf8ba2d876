# The AWS credential provider chain of the HTTP client (auth = aws-sigv4):
# the unit test of its pure parts (core/http/aws-parse.c and the chain's
# resolution in core/http/auth.c, compiled in on their own), and the
# end-to-end test through the real program against faithful fakes of
# IMDSv2, the container endpoint and STS (tests/aws-fakes.py) and
# tests/receiver.py verifying every signature.
check_PROGRAMS += tests/unit/test-http-aws
TESTS += tests/unit/test-http-aws
tests_unit_test_http_aws_SOURCES = tests/unit/test-http-aws.c core/http/aws-parse.c core/http/auth.c
tests_unit_test_http_aws_CFLAGS = $(HTTP_UNIT_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_http_aws_LDADD = $(HTTP_UNIT_LIBS) $(JANSSON_LIBS)

# Two scripts, so that `make -j check` runs them side by side: where
# credentials come from, and how they are shared, refreshed and waited for.
AWS_SCRIPT_TESTS = tests/http-aws-creds.py tests/http-aws-refresh.py
TESTS += $(AWS_SCRIPT_TESTS)
dist_noinst_SCRIPTS += $(AWS_SCRIPT_TESTS) tests/aws-fakes.py
dist_noinst_DATA += tests/aws-test-lib.py
