# The `gcf` sink: the `http` sink's delivery (its files but the descriptor,
# compiled in here as well) with Google-signed ID tokens through the SDK's
# token hook. See plugins/sink-gcf/gcf.h and doc/gcf-sink.md.
pkglib_LTLIBRARIES += plugins/sink-gcf.la
plugins_sink_gcf_la_SOURCES = \
	plugins/sink-gcf/gcf.h \
	plugins/sink-gcf/plugin.c \
	plugins/sink-gcf/creds.c \
	plugins/sink-gcf/tokens.c \
	plugins/sink-gcf/json.c \
	plugins/sink-http/sink.h \
	plugins/sink-http/instance.c \
	plugins/sink-http/send.c \
	plugins/sink-http/classify.c
plugins_sink_gcf_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
plugins_sink_gcf_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_gcf_la_LIBADD = $(SPW_PLUGIN_LIBS) $(CRYPTO_LIBS)
