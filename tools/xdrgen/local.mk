# spillway-xdrgen: sends XDR change notifications to a connector exactly as
# Aerospike XDR does (doc/xdrgen.md). A standalone program: it needs neither
# libspillway nor any plugin, only libuv, libcrypto (digests, TLS) and zlib.
bin_PROGRAMS += spillway-xdrgen
spillway_xdrgen_SOURCES = \
	tools/xdrgen/xdrgen.h \
	tools/xdrgen/main.c \
	tools/xdrgen/opts.c \
	tools/xdrgen/run.c \
	tools/xdrgen/conn.c \
	tools/xdrgen/tls.c \
	tools/xdrgen/record.c \
	tools/xdrgen/wire.c \
	tools/xdrgen/digest.c \
	tools/xdrgen/replay.c \
	tools/xdrgen/hist.c \
	tools/xdrgen/stats.c
spillway_xdrgen_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
spillway_xdrgen_LDADD = $(UV_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(PTHREAD_LIBS) -lm
