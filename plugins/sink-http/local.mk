# The `http` sink: policy only (status classification, templated URLs, the
# request from a batch) on the SDK's HTTP client (core/http/, served by
# libspillway through spillway/http.h). See plugin.c and doc/http-sink.md.
pkglib_LTLIBRARIES += plugins/sink-http.la
plugins_sink_http_la_SOURCES = \
	plugins/sink-http/sink.h \
	plugins/sink-http/plugin.c \
	plugins/sink-http/send.c \
	plugins/sink-http/classify.c
plugins_sink_http_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_http_la_LIBADD = $(SPW_PLUGIN_LIBS) $(CRYPTO_LIBS)
