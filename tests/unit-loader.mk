# Loader tests: the unit test, the RTLD_NOW check of every built plugin,
# and the test-only plugins they load (built by `make check`, never
# installed; the .la files land directly in tests/plugins/ so libltdl finds
# them through SPILLWAY_PLUGIN_PATH).

check_PROGRAMS += tests/unit/test-loader tests/unit/test-dlopen-all
TESTS += tests/unit/test-loader tests/unit/test-dlopen-all

# Links the shared library, as the program does, because it loads plugins:
# the loader's internals come through core/private.h's table.
tests_unit_test_loader_SOURCES = tests/unit/test-loader.c $(SPW_PRIVATE_CLIENT)
tests_unit_test_loader_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_loader_LDADD = libspillway.la $(UV_LIBS) $(LTDL_LIBS)

# Uses dlopen() directly: libltdl cannot ask for RTLD_NOW.
tests_unit_test_dlopen_all_SOURCES = tests/unit/test-dlopen-all.c
tests_unit_test_dlopen_all_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_dlopen_all_LDADD = libspillway.la $(UV_LIBS) $(DL_LIBS)

noinst_HEADERS += tests/plugins/common-sink.h

# Exports a symbol other than the descriptor, so no export filter.
SPW_TEST_NOEXPORT_LDOPTS = -module -avoid-version -no-undefined -shared -rpath /nowhere
# References an undefined function: no -no-undefined, and lazy binding
# requested explicitly so a toolchain defaulting to -z now still builds a
# module that libltdl can open (the point of the test).
SPW_TEST_UNRESOLVED_LDOPTS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^spw_plugin_descriptor$$' -Wl,-z,lazy

check_LTLIBRARIES += tests/plugins/sink-goodtest.la
tests_plugins_sink_goodtest_la_SOURCES = tests/plugins/sink-goodtest.c
tests_plugins_sink_goodtest_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_goodtest_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/source-goodtest.la
tests_plugins_source_goodtest_la_SOURCES = tests/plugins/source-goodtest.c
tests_plugins_source_goodtest_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_source_goodtest_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-abimajor.la
tests_plugins_sink_abimajor_la_SOURCES = tests/plugins/sink-abimajor.c
tests_plugins_sink_abimajor_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_abimajor_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-abiminor.la
tests_plugins_sink_abiminor_la_SOURCES = tests/plugins/sink-abiminor.c
tests_plugins_sink_abiminor_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_abiminor_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-badsize.la
tests_plugins_sink_badsize_la_SOURCES = tests/plugins/sink-badsize.c
tests_plugins_sink_badsize_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_badsize_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-nodescriptor.la
tests_plugins_sink_nodescriptor_la_SOURCES = tests/plugins/sink-nodescriptor.c
tests_plugins_sink_nodescriptor_la_LDFLAGS = $(SPW_TEST_NOEXPORT_LDOPTS)
tests_plugins_sink_nodescriptor_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-opsmismatch.la
tests_plugins_sink_opsmismatch_la_SOURCES = tests/plugins/sink-opsmismatch.c
tests_plugins_sink_opsmismatch_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_opsmismatch_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-badoptions.la
tests_plugins_sink_badoptions_la_SOURCES = tests/plugins/sink-badoptions.c
tests_plugins_sink_badoptions_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_badoptions_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-namemismatch.la
tests_plugins_sink_namemismatch_la_SOURCES = tests/plugins/sink-namemismatch.c
tests_plugins_sink_namemismatch_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_namemismatch_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/filter-wrongkind.la
tests_plugins_filter_wrongkind_la_SOURCES = tests/plugins/filter-wrongkind.c
tests_plugins_filter_wrongkind_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_filter_wrongkind_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/sink-unresolved.la
tests_plugins_sink_unresolved_la_SOURCES = tests/plugins/sink-unresolved.c
tests_plugins_sink_unresolved_la_LDFLAGS = $(SPW_TEST_UNRESOLVED_LDOPTS)
tests_plugins_sink_unresolved_la_LIBADD = $(SPW_PLUGIN_LIBS)

# Option tables that declare a key the core reads in their section.
check_LTLIBRARIES += tests/plugins/sink-corekey.la
tests_plugins_sink_corekey_la_SOURCES = tests/plugins/sink-corekey.c
tests_plugins_sink_corekey_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_sink_corekey_la_LIBADD = $(SPW_PLUGIN_LIBS)

check_LTLIBRARIES += tests/plugins/filter-corekey.la
tests_plugins_filter_corekey_la_SOURCES = tests/plugins/filter-corekey.c
tests_plugins_filter_corekey_la_LDFLAGS = $(SPW_TEST_PLUGIN_LDOPTS)
tests_plugins_filter_corekey_la_LIBADD = $(SPW_PLUGIN_LIBS)
