# The `generate` source: synthetic change events (see generate.c).
pkglib_LTLIBRARIES += plugins/source-generate.la
plugins_source_generate_la_SOURCES = \
	plugins/source-generate/generate.c \
	plugins/source-generate/generate.h \
	plugins/source-generate/record.c
plugins_source_generate_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_source_generate_la_LIBADD = $(SPW_PLUGIN_LIBS)
