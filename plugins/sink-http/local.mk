# The `http` sink: HTTP/2 with nghttp2 (h2.c), HTTP/1.1 with its own client
# (h1.c, h1parse.c), both connecting through dial.c and tls.c (OpenSSL),
# and libcurl for proxies, health checks and engine = libcurl, all on the
# worker's libuv loop (see plugin.c and doc/http-sink.md).
#
# h1parse.c is pure (bytes in, a parsed response out): the unit test and
# the fuzzer compile it on its own.
pkglib_LTLIBRARIES += plugins/sink-http.la
plugins_sink_http_la_SOURCES = \
	plugins/sink-http/http.h \
	plugins/sink-http/plugin.c \
	plugins/sink-http/multi.c \
	plugins/sink-http/h2.c \
	plugins/sink-http/h1.c \
	plugins/sink-http/h1parse.c \
	plugins/sink-http/dial.c \
	plugins/sink-http/tls.c \
	plugins/sink-http/addr.c \
	plugins/sink-http/request.c \
	plugins/sink-http/endpoints.c \
	plugins/sink-http/classify.c \
	plugins/sink-http/template.c \
	plugins/sink-http/sigv4.c \
	plugins/sink-http/gzip.c \
	plugins/sink-http/auth.c
plugins_sink_http_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(NGHTTP2_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS) $(CRYPTO_CFLAGS)
plugins_sink_http_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_http_la_LIBADD = $(SPW_PLUGIN_LIBS) $(CURL_LIBS) $(NGHTTP2_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(CRYPTO_LIBS)
