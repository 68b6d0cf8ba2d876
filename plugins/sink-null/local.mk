# The `null` sink: discards every batch (benchmarks, fault tests; see null.c).
pkglib_LTLIBRARIES += plugins/sink-null.la
plugins_sink_null_la_SOURCES = plugins/sink-null/null.c
plugins_sink_null_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_null_la_LIBADD = $(SPW_PLUGIN_LIBS)
