# The `elasticsearch` sink: bulk bodies and per-item answers (policy
# only) on the SDK's HTTP client. See plugin.c and doc/elasticsearch-sink.md.
pkglib_LTLIBRARIES += plugins/sink-elasticsearch.la
plugins_sink_elasticsearch_la_SOURCES = \
	plugins/sink-elasticsearch/es.h \
	plugins/sink-elasticsearch/plugin.c \
	plugins/sink-elasticsearch/send.c \
	plugins/sink-elasticsearch/bulk.c \
	plugins/sink-elasticsearch/reply.c
plugins_sink_elasticsearch_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_elasticsearch_la_LIBADD = $(SPW_PLUGIN_LIBS)
