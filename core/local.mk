# libspillway (the core) and the spillway program.
#
# The core is compiled once, into a convenience library that is never
# installed. The installed libspillway.la is made from it whole; unit tests
# of internals link it statically instead (tests/local.mk says which may).
#
# libspillway.so exports the SDK (sdk/spillway/, names spw_[a-z]...) and
# spw__private, the door to the few internals the program needs
# (core/private.h): core headers do not mark internals SPW_API, so
# -fvisibility=hidden hides them, and the export list below keeps anything
# else out (tests/exports.sh checks the result). The program links this
# shared library and no copy of the core: the plugins it loads link
# libspillway.so, and they must find the very core the program set up.
noinst_LTLIBRARIES += libspillway-core.la
libspillway_core_la_SOURCES = \
	core/result.c \
	core/buf.c \
	core/clock.c \
	core/log.c core/log.h \
	core/event.c core/event-private.h \
	core/value.c \
	core/walk.c \
	core/digest.c \
	core/template.c \
	core/tls.c \
	core/config.c core/config.h \
	core/options.c core/options.h \
	core/loader.c core/loader.h \
	core/backoff.c core/backoff.h \
	core/dlq.c core/dlq.h \
	core/stage.c core/stage.h \
	core/ack.c core/ack.h \
	core/route.c core/route.h \
	core/transform.c core/transform.h \
	core/worker.c core/worker.h \
	core/generation.c \
	core/reload.c core/reload.h \
	core/pipeline.c core/pipeline.h \
	core/metrics.c core/metrics.h \
	core/prometheus.c \
	core/admin.c core/admin.h \
	core/hostport.c core/hostport.h \
	core/taps.c core/taps.h \
	$(SPW_TAP_RENDER) \
	core/notify.c core/notify.h \
	$(SPW_HTTP_SOURCES)
libspillway_core_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(CRYPTO_CFLAGS) $(OPENSSL_CFLAGS) \
	$(SPW_HTTP_CFLAGS) $(MHD_CFLAGS) $(SYSTEMD_CFLAGS)
libspillway_core_la_LIBADD = $(UV_LIBS) $(INIH_LIBS) $(CRYPTO_LIBS) $(OPENSSL_LIBS) $(LTDL_LIBS) \
	$(DL_LIBS) $(PTHREAD_LIBS) $(SPW_HTTP_LIBS) $(MHD_LIBS) $(SYSTEMD_LIBS)
# Taps (core/taps.c) filter with the expr filter's engine and render bins with
# the json codec's writer, compiled in (hidden, like every core internal), so
# a tapped event reads like the json codec's record and `expr=` is the
# filter's language.
SPW_TAP_RENDER = $(SPW_EXPR_ENGINE) plugins/codec-json/encode.c $(SPW_JSON_SHARED)
libspillway_core_la_CFLAGS += $(PCRE2_CFLAGS)
libspillway_core_la_LIBADD += $(PCRE2_LIBS) -lm

# The HTTP client service (sdk/spillway/http.h): native HTTP/2 (nghttp2)
# and HTTP/1.1 engines connecting through dial.c (TLS: core/tls.c), and
# libcurl for proxies and engine = libcurl, all on the stage's libuv loop.
# h1parse.c, sigv4.c and the AWS credential chain's parsers (aws-parse.c,
# auth.c) are pure: unit tests and the fuzzer compile them on their own.
# AWS credentials are shared process-wide (aws-provider.c) and fetched by
# auxiliary requests (aws-fetch.c); jansson reads the JSON answers.
SPW_HTTP_SOURCES = \
	core/http/http-private.h \
	core/http/client.c \
	core/http/options.c \
	core/http/multi.c \
	core/http/endpoints.c \
	core/http/h2.c \
	core/http/h1.c \
	core/http/h1parse.c \
	core/http/dial.c \
	core/http/addr.c \
	core/http/sigv4.c \
	core/http/retry-after.c \
	core/http/gzip.c \
	core/http/aws-private.h \
	core/http/auth.c \
	core/http/aws-parse.c \
	core/http/aws-provider.c \
	core/http/aws-fetch.c
SPW_HTTP_CFLAGS = $(CURL_CFLAGS) $(NGHTTP2_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS) \
	$(JANSSON_CFLAGS)
SPW_HTTP_LIBS = $(CURL_LIBS) $(NGHTTP2_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(JANSSON_LIBS)
lib_LTLIBRARIES += libspillway.la
libspillway_la_SOURCES = core/private.c core/private.h
libspillway_la_LIBADD = libspillway-core.la
libspillway_la_LDFLAGS = -no-undefined -version-info $(SPW_LT_VERSION) \
	-export-symbols-regex '^(spw_[a-z]|spw__private$$)'
# libtool relinks the plugins and programs against the installed
# libspillway.so at make install: under make -j it must be installed first
# (automake orders the libraries of one directory only).
install-pkglibLTLIBRARIES install-binPROGRAMS: install-libLTLIBRARIES

# What a program needs to reach the internals in core/private.h's table
# while linking only libspillway.la.
SPW_PRIVATE_CLIENT = core/private-client.c core/private.h

bin_PROGRAMS += spillway
spillway_SOURCES = core/main.c core/tap-cli.c core/tap-cli.h core/reload-client.c $(SPW_PRIVATE_CLIENT)
# tap-cli reads --admin as the core reads `admin`: its own copy of the
# parser, the core's being hidden in libspillway.so.
spillway_SOURCES += core/hostport.c core/hostport.h
spillway_CPPFLAGS = $(AM_CPPFLAGS) -DSPW_BUILD_DIR='"$(abs_top_builddir)"'
spillway_LDADD = libspillway.la $(UV_LIBS) $(PTHREAD_LIBS)
