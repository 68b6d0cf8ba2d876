# The json codec: typed JSON as Aerospike Connect for ESP writes it.
pkglib_LTLIBRARIES += plugins/codec-json.la
plugins_codec_json_la_SOURCES = \
	plugins/codec-json/json.c \
	plugins/codec-json/encode.c \
	plugins/codec-json/text.c \
	plugins/codec-json/embed.c \
	plugins/codec-json/encode.h
plugins_codec_json_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_json_la_LIBADD = $(SPW_PLUGIN_LIBS)
