# The SDK's TLS over memory (core/tls.c, sdk/spillway/tls.h): a client and
# a server session talking to each other through buffers, with a PKI the
# test makes in C at run time (OpenSSL's own API, no openssl command).
check_PROGRAMS += tests/unit/test-tls
TESTS += tests/unit/test-tls
tests_unit_test_tls_SOURCES = tests/unit/test-tls.c
tests_unit_test_tls_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_tls_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_tls_LDADD = libspillway.la $(UV_LIBS) $(OPENSSL_LIBS)
