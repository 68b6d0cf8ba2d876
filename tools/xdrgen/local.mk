# spillway-xdrgen: sends XDR change notifications to a connector exactly as
# Aerospike XDR does (doc/xdrgen.md). It needs no plugin and no pipeline:
# libuv, libcrypto (digests), zlib, and libspillway for its TLS sessions
# (spillway/tls.h, the same code the xdr source and the HTTP client use).
bin_PROGRAMS += spillway-xdrgen
spillway_xdrgen_SOURCES = \
	tools/xdrgen/xdrgen.h \
	tools/xdrgen/main.c \
	tools/xdrgen/opts.c \
	tools/xdrgen/run.c \
	tools/xdrgen/conn.c \
	tools/xdrgen/record.c \
	tools/xdrgen/wire.c \
	tools/xdrgen/digest.c \
	tools/xdrgen/replay.c \
	tools/xdrgen/hist.c \
	tools/xdrgen/stats.c
spillway_xdrgen_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
spillway_xdrgen_LDADD = libspillway.la $(UV_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(PTHREAD_LIBS) -lm
