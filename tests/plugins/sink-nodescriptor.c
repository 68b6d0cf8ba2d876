/*
 * tests/plugins/sink-nodescriptor.c: a loadable module that exports a
 * symbol, just not the descriptor (built without the export filter).
 */
#include <spillway/abi.h>

SPW_API extern const int spw_plugin_something_else;
const int spw_plugin_something_else = 42;
