# The json codec: typed JSON as Aerospike Connect for ESP writes it. The
# value writer and text primitives (SPW_JSON_SHARED) are compiled into the
# flat-json codec as well (plugins/codec-flat-json/local.mk).
SPW_JSON_SHARED = \
	plugins/codec-json/value.c \
	plugins/codec-json/text.c \
	plugins/codec-json/utf8.c \
	plugins/codec-json/utf8.h \
	plugins/codec-json/embed.c \
	plugins/codec-json/encode.h
pkglib_LTLIBRARIES += plugins/codec-json.la
plugins_codec_json_la_SOURCES = \
	plugins/codec-json/json.c \
	plugins/codec-json/encode.c \
	$(SPW_JSON_SHARED)
plugins_codec_json_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_json_la_LIBADD = $(SPW_PLUGIN_LIBS)
