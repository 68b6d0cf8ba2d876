/*
 * core/loader.h: finding, opening and checking plugins with libltdl.
 *
 * A plugin of kind K and name N lives in a module file "K-N" (K-N.la or
 * K-N.so) in one of the search directories, in this order: --plugin-dir
 * arguments, SPILLWAY_PLUGIN_PATH (colon-separated), then the installed
 * plugin directory (SPW_PLUGIN_DIR), or instead of it SPILLWAY_PLUGIN_DIR
 * when that is set (empty: none). Modules are opened local and resident
 * (never unloaded: a plugin may have registered callbacks with libraries),
 * with every symbol bound at load (RTLD_NOW), so an unresolved symbol or a
 * missing library fails the open, and --check, naming what is missing.
 * Loading happens once, before workers start: libltdl is not thread-safe.
 */
#ifndef SPW_CORE_LOADER_H
#define SPW_CORE_LOADER_H

#include <stdio.h>
#include <spillway/plugin.h>

/* Initialises libltdl and the search path. extra_dirs: --plugin-dir values. */
spw_result spw__loader_init(const char *const *extra_dirs, size_t n_extra, spw_err *err);
void spw__loader_exit(void);

/*
 * Finds and opens the plugin (kind, name). *out is borrowed (lives until
 * spw__loader_exit). Errors name the module, the directories searched, and
 * for a bad descriptor the file and both ABI versions.
 */
spw_result spw__loader_find(spw_kind kind, const char *name, const spw_plugin **out,
                            spw_err *err);

/* Opens one module file by path and checks its descriptor. */
spw_result spw__loader_open_file(const char *path, const spw_plugin **out, spw_err *err);

/*
 * Checks a descriptor read from `path`: ABI major equal and minor not newer
 * than the core, struct_size as the minor implies, known kind with exactly
 * the matching ops set and their mandatory callbacks present, name, version
 * and description present, create/destroy present, option table valid
 * (spw__opts_check_table) and declaring no key the core reads in the
 * plugin's section (`plugin`; for a sink, the route's options). Refusals
 * are one sentence naming the file and, for ABI problems, both versions.
 */
spw_result spw__loader_check(const spw_plugin *p, const char *path, spw_err *err);

/*
 * Prints every plugin found in the search path, one per line:
 * "KIND NAME VERSION  DESCRIPTION"; modules that fail to load are listed
 * on stderr with the reason. Returns the number found.
 */
int spw__loader_list(FILE *out);

/* Finds a plugin by name in any kind (for --help-plugin NAME or KIND-NAME). */
spw_result spw__loader_find_any(const char *name, const spw_plugin **out, spw_err *err);

#endif /* SPW_CORE_LOADER_H */
