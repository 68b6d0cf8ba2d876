# The `sqs` sink: Amazon SQS SendMessageBatch on the SDK's HTTP client
# (policy only; see sqs.c, entries.c and doc/aws-sinks.md), with the AWS
# sinks' shared helpers compiled in.
pkglib_LTLIBRARIES += plugins/sink-sqs.la
plugins_sink_sqs_la_SOURCES = \
	plugins/aws-common/aws-sink.h \
	plugins/aws-common/aws-sink.c \
	plugins/sink-sqs/sqs.h \
	plugins/sink-sqs/sqs.c \
	plugins/sink-sqs/entries.c
plugins_sink_sqs_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
plugins_sink_sqs_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_sqs_la_LIBADD = $(SPW_PLUGIN_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
