# libspillway (the core) and the spillway program.
#
# The core is compiled once, into a convenience library that is never
# installed. The installed libspillway.la is made from it whole; unit tests
# of internals link it statically instead (tests/local.mk says which may).
#
# libspillway.so exports the SDK (sdk/spillway/, names spw_[a-z]...) and
# spw__private, the door to the few internals the program needs
# (core/private.h): core headers do not mark internals SPW_API, so
# -fvisibility=hidden hides them, and the export list below keeps anything
# else out (tests/exports.sh checks the result). The program links this
# shared library and no copy of the core: the plugins it loads link
# libspillway.so, and they must find the very core the program set up.
noinst_LTLIBRARIES += libspillway-core.la
libspillway_core_la_SOURCES = \
	core/result.c \
	core/buf.c \
	core/clock.c \
	core/log.c core/log.h \
	core/event.c core/event-private.h \
	core/value.c \
	core/walk.c \
	core/digest.c \
	core/config.c core/config.h \
	core/options.c core/options.h \
	core/loader.c core/loader.h \
	core/backoff.c core/backoff.h \
	core/dlq.c core/dlq.h \
	core/stage.c core/stage.h \
	core/ack.c core/ack.h \
	core/route.c core/route.h \
	core/transform.c core/transform.h \
	core/worker.c core/worker.h \
	core/pipeline.c core/pipeline.h \
	core/metrics.c core/metrics.h
libspillway_core_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(CRYPTO_CFLAGS)
libspillway_core_la_LIBADD = $(UV_LIBS) $(INIH_LIBS) $(CRYPTO_LIBS) $(LTDL_LIBS) $(PTHREAD_LIBS)

lib_LTLIBRARIES += libspillway.la
libspillway_la_SOURCES = core/private.c core/private.h
libspillway_la_LIBADD = libspillway-core.la
libspillway_la_LDFLAGS = -no-undefined -version-info $(SPW_LT_VERSION) \
	-export-symbols-regex '^(spw_[a-z]|spw__private$$)'

# What a program needs to reach the internals in core/private.h's table
# while linking only libspillway.la.
SPW_PRIVATE_CLIENT = core/private-client.c core/private.h

bin_PROGRAMS += spillway
spillway_SOURCES = core/main.c $(SPW_PRIVATE_CLIENT)
spillway_CPPFLAGS = $(AM_CPPFLAGS) -DSPW_BUILD_DIR='"$(abs_top_builddir)"'
spillway_LDADD = libspillway.la $(UV_LIBS) $(PTHREAD_LIBS)
