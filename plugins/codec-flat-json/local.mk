# The flat-json codec: bins as top-level members, metadata under one key.
# Its values are written by the json codec's shared sources, compiled in.
pkglib_LTLIBRARIES += plugins/codec-flat-json.la
plugins_codec_flat_json_la_SOURCES = \
	plugins/codec-flat-json/flat.c \
	plugins/codec-flat-json/record.c \
	plugins/codec-flat-json/flat.h \
	$(SPW_JSON_SHARED)
plugins_codec_flat_json_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_flat_json_la_LIBADD = $(SPW_PLUGIN_LIBS)
