# The xdr codec: each record as the Aerospike wire frame XDR ships.
pkglib_LTLIBRARIES += plugins/codec-xdr.la
plugins_codec_xdr_la_SOURCES = \
	plugins/codec-xdr/xdr.c \
	plugins/codec-xdr/frame.c \
	plugins/codec-xdr/frame.h
plugins_codec_xdr_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_xdr_la_LIBADD = $(SPW_PLUGIN_LIBS)
