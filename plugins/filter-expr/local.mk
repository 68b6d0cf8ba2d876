# The `expr` filter: a CEL subset compiled at load, evaluated per event
# without allocating (see expr.h and doc/expr-filter.md).
SPW_EXPR_ENGINE = \
	plugins/filter-expr/expr.h \
	plugins/filter-expr/ast.h \
	plugins/filter-expr/lex.c \
	plugins/filter-expr/parse.c \
	plugins/filter-expr/check.c \
	plugins/filter-expr/eval.c \
	plugins/filter-expr/expr.c
pkglib_LTLIBRARIES += plugins/filter-expr.la
plugins_filter_expr_la_SOURCES = plugins/filter-expr/plugin.c $(SPW_EXPR_ENGINE)
plugins_filter_expr_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
plugins_filter_expr_la_LDFLAGS = $(SPW_PLUGIN_LDOPTS)
plugins_filter_expr_la_LIBADD = $(SPW_PLUGIN_LIBS) $(PCRE2_LIBS) -lm
