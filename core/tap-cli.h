/*
 * core/tap-cli.h: `spillway tap` (core/tap-cli.c), the client of the admin
 * endpoint's GET /tap. argv[0] is "tap"; build_plugin_dir (may be NULL) is
 * searched for plugins when a pipeline file is read. Returns the exit status.
 */
#ifndef SPW_CORE_TAP_CLI_H
#define SPW_CORE_TAP_CLI_H

int spw__tap_cli(int argc, char **argv, const char *build_plugin_dir);

#endif /* SPW_CORE_TAP_CLI_H */
