# The `splunk-hec` sink: HEC envelopes, answers and indexer acknowledgement
# on the SDK's HTTP client. See plugins/sink-splunk-hec/hec.h and
# doc/splunk-hec-sink.md.
pkglib_LTLIBRARIES += plugins/sink-splunk-hec.la
plugins_sink_splunk_hec_la_SOURCES = \
	plugins/sink-splunk-hec/hec.h \
	plugins/sink-splunk-hec/plugin.c \
	plugins/sink-splunk-hec/envelope.c \
	plugins/sink-splunk-hec/answer.c \
	plugins/sink-splunk-hec/send.c \
	plugins/sink-splunk-hec/ack.c
plugins_sink_splunk_hec_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_sink_splunk_hec_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_splunk_hec_la_LIBADD = $(SPW_PLUGIN_LIBS) $(JANSSON_LIBS)
