# The `file` sink: request bodies appended to a file or stdout (see file.c).
pkglib_LTLIBRARIES += plugins/sink-file.la
plugins_sink_file_la_SOURCES = plugins/sink-file/file.c
plugins_sink_file_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_sink_file_la_LIBADD = $(SPW_PLUGIN_LIBS)
