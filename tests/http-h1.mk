# The HTTP client's native HTTP/1.1 engine (core/http/h1.c): the unit
# test of its response parser (h1parse.c, compiled in on its own), and the
# parser's libFuzzer target. The engine itself is exercised by
# tests/http-conformance.py, tests/http-faults.py and tests/http-features.py
# (tests/http.mk), which run HTTP/1.1 through it by default.
check_PROGRAMS += tests/unit/test-http-h1parse
TESTS += tests/unit/test-http-h1parse
tests_unit_test_http_h1parse_SOURCES = tests/unit/test-http-h1parse.c core/http/h1parse.c
tests_unit_test_http_h1parse_CFLAGS = $(HTTP_UNIT_CFLAGS)
tests_unit_test_http_h1parse_LDADD = $(HTTP_UNIT_LIBS)

# ./configure --enable-fuzzing (CC=clang). `make fuzz-h1 FUZZ_SECONDS=N`
# runs it for N seconds in fuzz-h1/ of the build tree, seeded with a few
# responses written here; inputs that crash land in fuzz-h1/crashes/.
EXTRA_DIST += core/http/fuzz-h1parse.c
if FUZZING
noinst_PROGRAMS += core/http/fuzz-h1parse
core_http_fuzz_h1parse_SOURCES = core/http/fuzz-h1parse.c core/http/h1parse.c
core_http_fuzz_h1parse_CFLAGS = $(HTTP_UNIT_CFLAGS) -fsanitize=fuzzer
core_http_fuzz_h1parse_LDFLAGS = -Wc,-fsanitize=fuzzer
core_http_fuzz_h1parse_LDADD = libspillway.la $(UV_LIBS)

fuzz-h1: core/http/fuzz-h1parse$(EXEEXT)
	@mkdir -p fuzz-h1/corpus fuzz-h1/seeds fuzz-h1/crashes
	@printf 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok' > fuzz-h1/seeds/length
	@printf 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n' > fuzz-h1/seeds/chunked
	@printf 'HTTP/1.0 503 Busy\r\nRetry-After: 3\r\nX: a\r\n  b\r\n\r\nuntil close' > fuzz-h1/seeds/close
	@printf 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 413 Too Large\nContent-Length: 3, 3\n\nbig' > fuzz-h1/seeds/two
	cd fuzz-h1 && ../core/http/fuzz-h1parse $(FUZZ_RUN_FLAGS) -max_len=140000 corpus seeds
else
fuzz-h1:
	@echo "fuzz-h1: the fuzzer is not built; configure with CC=clang ../configure --enable-fuzzing" >&2
	@exit 1
endif
.PHONY: fuzz-h1

# A timeout cut short by the event deadline is no endpoint failure (native and libcurl).
TESTS += tests/http-cut-timeouts.py
dist_noinst_SCRIPTS += tests/http-cut-timeouts.py
