# The `gcf` sink (plugins/sink-gcf): end to end through the real program
# against faithful fakes of Google's metadata server, OAuth 2.0 token
# endpoint and an authenticated Cloud Run / Cloud Functions service
# (tests/gcf-fakes.py, their rules in one place with Google's pages cited).
# Three scripts, so that `make -j check` runs them side by side: credential
# sources and answers (generate source), zero loss with spillway-xdrgen, and
# the example (examples/xdr-to-gcf.ini needs its URL; examples/gcf/main.py
# accepts what the json codec writes).
GCF_SCRIPT_TESTS = tests/gcf-auth.py tests/gcf-e2e.py tests/gcf-example.py
TESTS += $(GCF_SCRIPT_TESTS)
dist_noinst_SCRIPTS += $(GCF_SCRIPT_TESTS) tests/gcf-fakes.py
dist_noinst_DATA += tests/gcf-test-lib.py

# The pure parts (JSON, Base64url, credentials, the RS256 assertion), compiled in on their own.
check_PROGRAMS += tests/unit/test-gcf
TESTS += tests/unit/test-gcf
tests_unit_test_gcf_SOURCES = tests/unit/test-gcf.c plugins/sink-gcf/json.c plugins/sink-gcf/creds.c
tests_unit_test_gcf_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_gcf_LDADD = libspillway.la $(UV_LIBS) $(CRYPTO_LIBS)
