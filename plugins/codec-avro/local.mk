# The avro codec: Avro single-object records and container-file batches,
# with the built-in generic schema or a configured one. avro-c vets
# schemas; jansson reads them for the plan; zlib deflates container blocks.
pkglib_LTLIBRARIES += plugins/codec-avro.la
plugins_codec_avro_la_SOURCES = \
	plugins/codec-avro/avro.c \
	plugins/codec-avro/schema.c \
	plugins/codec-avro/generic.c \
	plugins/codec-avro/user.c \
	plugins/codec-avro/text.c \
	plugins/codec-avro/container.c \
	plugins/codec-avro/acodec.h
plugins_codec_avro_la_CFLAGS = $(AM_CFLAGS) $(AVRO_CFLAGS) $(JANSSON_CFLAGS) $(ZLIB_CFLAGS)
plugins_codec_avro_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_codec_avro_la_LIBADD = $(SPW_PLUGIN_LIBS) $(AVRO_LIBS) $(JANSSON_LIBS) $(ZLIB_LIBS) -lm

# The generic schema, installed for consumers (share/spillway/avro/).
avroschemadir = $(pkgdatadir)/avro
dist_avroschema_DATA = plugins/codec-avro/generic.avsc
