# The `lut-order` filter: a sharded digest -> newest LUT cache shared by the
# workers of a section (see plugin.c and doc/lut-order.md).
pkglib_LTLIBRARIES += plugins/filter-lut-order.la
plugins_filter_lut_order_la_SOURCES = plugins/filter-lut-order/plugin.c \
	plugins/filter-lut-order/cache.c plugins/filter-lut-order/cache.h
plugins_filter_lut_order_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_filter_lut_order_la_LIBADD = $(SPW_PLUGIN_LIBS) $(PTHREAD_LIBS)
