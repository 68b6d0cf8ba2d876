# The http sink's tests: unit tests of its policy (linked
# with the plugin's own sources) and of the HTTP client's SigV4 signer and
# Retry-After parser (core/http/, compiled in on their own), conformance against real
# servers (nginx, nghttpd), fault injection with tests/receiver.py
# (HTTP/1.1) and tests/h2-receiver.py (h2c), and features (auth, gzip,
# templates, load balancing, dead letters).
HTTP_UNIT_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/core/http $(CURL_CFLAGS) $(ZLIB_CFLAGS) $(CRYPTO_CFLAGS)
HTTP_UNIT_LIBS = libspillway.la $(UV_LIBS) $(CURL_LIBS) $(ZLIB_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/test-http-sigv4 tests/unit/test-http-classify
TESTS += tests/unit/test-http-sigv4 tests/unit/test-http-classify

tests_unit_test_http_sigv4_SOURCES = tests/unit/test-http-sigv4.c core/http/sigv4.c
tests_unit_test_http_sigv4_CFLAGS = $(HTTP_UNIT_CFLAGS)
tests_unit_test_http_sigv4_LDADD = $(HTTP_UNIT_LIBS)

tests_unit_test_http_classify_SOURCES = tests/unit/test-http-classify.c plugins/sink-http/classify.c \
	core/http/retry-after.c
tests_unit_test_http_classify_CFLAGS = $(HTTP_UNIT_CFLAGS)
tests_unit_test_http_classify_LDADD = $(HTTP_UNIT_LIBS)

HTTP_SCRIPT_TESTS = tests/http-conformance.py tests/http-faults.py tests/http-features.py \
	tests/http-h2-faults.py
TESTS += $(HTTP_SCRIPT_TESTS)
dist_noinst_SCRIPTS += $(HTTP_SCRIPT_TESTS) tests/receiver.py tests/h2-receiver.py
dist_noinst_DATA += tests/http-lib.py

# The SDK's HTTP client itself, driven from inside the program by a
# test-only source (tests/plugins/source-httpdrive.c) on every engine.
check_LTLIBRARIES += tests/plugins/source-httpdrive.la
tests_plugins_source_httpdrive_la_SOURCES = tests/plugins/source-httpdrive.c
tests_plugins_source_httpdrive_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_source_httpdrive_la_LIBADD = $(SPW_PLUGIN_LIBS)
TESTS += tests/http-client.py
dist_noinst_SCRIPTS += tests/http-client.py
