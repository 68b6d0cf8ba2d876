# The AWS credential provider chain of the HTTP client (auth = aws-sigv4):
# the unit test of its pure parts (core/http/aws-parse.c and the chain's
# resolution in core/http/auth.c, compiled in on their own).
check_PROGRAMS += tests/unit/test-http-aws
TESTS += tests/unit/test-http-aws
tests_unit_test_http_aws_SOURCES = tests/unit/test-http-aws.c core/http/aws-parse.c core/http/auth.c
tests_unit_test_http_aws_CFLAGS = $(HTTP_UNIT_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_http_aws_LDADD = $(HTTP_UNIT_LIBS) $(JANSSON_LIBS)
