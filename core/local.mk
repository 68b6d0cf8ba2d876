# libspillway (the core) and the spillway program.
#
# The core is compiled once, into a convenience library that is never
# installed. The installed libspillway.la is made from it whole; unit tests
# of internals link it statically instead (tests/local.mk says which may).
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
libspillway_la_SOURCES =
libspillway_la_LIBADD = libspillway-core.la
libspillway_la_LDFLAGS = -no-undefined -version-info $(SPW_LT_VERSION)

bin_PROGRAMS += spillway
spillway_SOURCES = core/main.c
spillway_CPPFLAGS = $(AM_CPPFLAGS) -DSPW_BUILD_DIR='"$(abs_top_builddir)"'
spillway_LDADD = libspillway.la $(UV_LIBS) $(PTHREAD_LIBS)
