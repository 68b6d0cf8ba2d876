# The `lambda` sink: AWS Lambda's Invoke API on the SDK's HTTP client
# (policy only; see lambda.c and doc/aws-sinks.md), with the AWS sinks'
# shared helpers compiled in.
pkglib_LTLIBRARIES += plugins/sink-lambda.la
plugins_sink_lambda_la_SOURCES = \
	plugins/aws-common/aws-sink.h \
	plugins/aws-common/aws-sink.c \
	plugins/sink-lambda/lambda.c
plugins_sink_lambda_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_sink_lambda_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_lambda_la_LIBADD = $(SPW_PLUGIN_LIBS) $(JANSSON_LIBS)
