# spillway-xdrgen: sends XDR change notifications to a connector exactly as
# Aerospike XDR does (doc/xdrgen.md). A standalone program: it needs neither
# libspillway nor any plugin, only libuv, OpenSSL (digests, TLS) and zlib.
# Its TLS is the SDK's (spillway/tls.h), compiled in from core/ with the two
# small files it leans on, so that the one wrapper serves the xdr source,
# the HTTP client and xdrgen alike while xdrgen starts as fast as before
# and runs where libspillway is not installed.
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
	tools/xdrgen/pace.c \
	tools/xdrgen/stats.c \
	core/tls.c core/buf.c core/result.c
spillway_xdrgen_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
spillway_xdrgen_LDADD = $(UV_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(PTHREAD_LIBS) -lm
