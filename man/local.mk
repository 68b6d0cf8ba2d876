# Man pages, written at build time by tools/gen-man from the programs'
# own --help and option tables (the single source doc/options.md is also
# generated from), so they describe exactly this build: spillway(1),
# spillway-xdrgen(1), spillway.ini(5) with every core option, and one
# spillway-KIND-NAME(5) per installed plugin. The plugin pages follow
# pkglib_LTLIBRARIES: a plugin added in plugins/local.mk gets its page,
# installed by `make install`, with no edit here.
SPW_PLUGIN_MANS = $(pkglib_LTLIBRARIES:plugins/%.la=man/spillway-%.5)
man1_MANS = man/spillway.1 man/spillway-xdrgen.1
man5_MANS = man/spillway.ini.5 $(SPW_PLUGIN_MANS)
EXTRA_DIST += tools/gen-man man/spillway.1.in man/spillway-xdrgen.1.in man/spillway.ini.5.in
CLEANFILES += $(man1_MANS) $(man5_MANS)

SPW_GEN_MAN = $(SHELL) $(top_srcdir)/tools/gen-man $(top_builddir)
SPW_GEN_MAN_DEPS = $(top_srcdir)/tools/gen-man spillway$(EXEEXT) $(pkglib_LTLIBRARIES)
man/spillway.1: $(top_srcdir)/man/spillway.1.in $(SPW_GEN_MAN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) man && $(SPW_GEN_MAN) spillway.1 >$@.tmp && mv $@.tmp $@
man/spillway-xdrgen.1: $(top_srcdir)/man/spillway-xdrgen.1.in $(SPW_GEN_MAN_DEPS) spillway-xdrgen$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && $(SPW_GEN_MAN) spillway-xdrgen.1 >$@.tmp && mv $@.tmp $@
man/spillway.ini.5: $(top_srcdir)/man/spillway.ini.5.in $(SPW_GEN_MAN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) man && $(SPW_GEN_MAN) spillway.ini.5 >$@.tmp && mv $@.tmp $@
man/spillway-%.5: plugins/%.la $(SPW_GEN_MAN_DEPS)
	$(AM_V_GEN)$(MKDIR_P) man && $(SPW_GEN_MAN) spillway-$*.5 >$@.tmp && mv $@.tmp $@
