# The `lambda-alb` sink: an AWS Lambda function behind an ALB, on the SDK's
# HTTP client (policy only; see alb.c and doc/aws-sinks.md). The AWS
# sinks' shared helpers (plugins/aws-common/) are compiled into each.
pkglib_LTLIBRARIES += plugins/sink-lambda-alb.la
plugins_sink_lambda_alb_la_SOURCES = \
	plugins/aws-common/aws-sink.h \
	plugins/aws-common/aws-sink.c \
	plugins/sink-lambda-alb/alb.c
plugins_sink_lambda_alb_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_lambda_alb_la_LIBADD = $(SPW_PLUGIN_LIBS)
