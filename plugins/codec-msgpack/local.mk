# The msgpack codec: MessagePack as Aerospike Connect for ESP writes it.
# It writes the bytes itself (see pack.c) and shares the UTF-8 stepper
# with the JSON codecs.
pkglib_LTLIBRARIES += plugins/codec-msgpack.la
plugins_codec_msgpack_la_SOURCES = \
	plugins/codec-msgpack/msgpack.c \
	plugins/codec-msgpack/pack.c \
	plugins/codec-msgpack/pack.h \
	plugins/codec-json/utf8.c \
	plugins/codec-json/utf8.h
plugins_codec_msgpack_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_msgpack_la_LIBADD = $(SPW_PLUGIN_LIBS)
