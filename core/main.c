/*
 * core/main.c: the spillway program: command line, logging set-up, and the
 * embedded demo pipeline.
 *
 * Exit status: 0 after a clean run or a successful --check/--list; 1 when
 * the configuration or a plugin is wrong (nothing was started); 2 for a
 * usage error; 3 when the pipeline failed while starting or running.
 */
#include "autoconf.h"
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "loader.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"

/* The pipeline `spillway --demo` runs: needs nothing outside the build. */
static const char demo_pipeline[] =
    "; spillway --demo: synthetic change events encoded as the vendor's JSON, to stdout.\n"
    "[pipeline]\n"
    "name = demo\n"
    "[source.gen]\n"
    "plugin = generate\n"
    "count = ${env:SPILLWAY_DEMO_COUNT:-10}\n"
    "bins = 7\n"
    "bin_types = integer,string,double,bool,list,map\n"
    "delete_ratio = 0.3\n"
    "[codec.json]\n"
    "plugin = json\n"
    "[sink.stdout]\n"
    "plugin = file\n"
    "codec = json\n"
    "path = -\n";

/*
 * A spillway run from its build tree (./spillway right after make) should
 * find the plugins built beside it, so the quick start works uninstalled.
 * Only a binary that really lives under the build directory gets this
 * extra directory; an installed one never does.
 */
static const char *build_tree_plugin_dir(void) {
#ifdef SPW_BUILD_DIR
    static char dir[PATH_MAX + 16];
    char exe[PATH_MAX], top[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || !realpath(SPW_BUILD_DIR, top))
        return NULL;
    exe[n] = 0;
    size_t len = strlen(top);
    if (strncmp(exe, top, len) != 0 || exe[len] != '/')
        return NULL;
    snprintf(dir, sizeof dir, "%s/plugins", top);
    return dir;
#else
    return NULL;
#endif
}

static void usage(FILE *out) {
    fprintf(out,
            "Usage: spillway [OPTIONS] -c FILE\n"
            "Receives Aerospike XDR change notifications and delivers them over HTTP.\n"
            "\n"
            "  -c, --config FILE      run the pipeline in FILE\n"
            "      --check            validate the pipeline (plugins load, options type-check) and exit\n"
            "      --demo             run the embedded demo pipeline (generate -> json -> stdout)\n"
            "      --list-plugins     list every plugin found, with kind, version and description\n"
            "      --help-plugin NAME print a plugin's options (NAME or KIND-NAME)\n"
            "      --help-core        print the options of [pipeline] and of every [sink.*] route\n"
            "      --markdown         with --help-plugin/--help-core: print Markdown tables\n"
            "      --man              with --help-plugin/--help-core: print man page (roff) paragraphs\n"
            "      --plugin-dir DIR   search DIR for plugins first (repeatable; also SPILLWAY_PLUGIN_PATH)\n"
            "      --log-level LEVEL  override [pipeline] log_level (error, warn, info, debug, trace)\n"
            "  -V, --version          print the version and exit\n"
            "  -h, --help             print this help and exit\n"
            "\n"
            "Plugins are searched in --plugin-dir, SPILLWAY_PLUGIN_PATH, then %s\n"
            "(SPILLWAY_PLUGIN_DIR replaces that last directory; set but empty, it removes it).\n"
            "Documentation: doc/configuration.md and doc/plugin-guide.md in the source tree.\n",
            SPW_PLUGIN_DIR);
}

enum {
    OPT_CHECK = 256,
    OPT_DEMO,
    OPT_LIST,
    OPT_HELP_PLUGIN,
    OPT_HELP_CORE,
    OPT_MARKDOWN,
    OPT_MAN,
    OPT_PLUGIN_DIR,
    OPT_LOG_LEVEL,
};

/* Output forms of an option table: --help-plugin text, --markdown, --man. */
enum { FORM_TEXT, FORM_MARKDOWN, FORM_MAN };

/* Prints an option table as text (--help-plugin), Markdown or roff. */
static void print_options(const spw_option *table, int form) {
    if (form == FORM_MAN)
        spw__opts_print_roff(stdout, table);
    else if (form == FORM_MARKDOWN)
        spw__opts_print_markdown(stdout, table);
    else
        spw__opts_print(stdout, table);
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"list-plugins", no_argument, NULL, OPT_LIST},
        {"help-plugin", required_argument, NULL, OPT_HELP_PLUGIN},
        {"help-core", no_argument, NULL, OPT_HELP_CORE},
        {"markdown", no_argument, NULL, OPT_MARKDOWN},
        {"man", no_argument, NULL, OPT_MAN},
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *help_plugin = NULL;
    const char **dirs = calloc((size_t)argc + 2, sizeof *dirs);
    size_t n_dirs = 0;
    bool check = false, demo = false, list = false, help_core = false, markdown = false;
    bool man = false;
    int log_level = -1;
    int c;
    if (!dirs)
        return 3;
    while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case OPT_CHECK: check = true; break;
        case OPT_DEMO: demo = true; break;
        case OPT_LIST: list = true; break;
        case OPT_HELP_PLUGIN: help_plugin = optarg; break;
        case OPT_HELP_CORE: help_core = true; break;
        case OPT_MARKDOWN: markdown = true; break;
        case OPT_MAN: man = true; break;
        case OPT_PLUGIN_DIR: dirs[n_dirs++] = optarg; break;
        case OPT_LOG_LEVEL:
            if ((log_level = spw__log_level_parse(optarg)) < 0) {
                fprintf(stderr, "spillway: unknown log level '%s' (error, warn, info, debug, trace)\n", optarg);
                free(dirs);
                return 2;
            }
            break;
        case 'V':
            printf("spillway %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, SPW_ABI_MAJOR, SPW_ABI_MINOR);
            free(dirs);
            return 0;
        case 'h':
            usage(stdout);
            free(dirs);
            return 0;
        default:
            usage(stderr);
            free(dirs);
            return 2;
        }
    }
    const char *usage_error = NULL;
    if (optind < argc)
        usage_error = "unexpected argument";
    else if (!config && !demo && !list && !help_plugin && !help_core)
        usage_error = "nothing to do: give -c FILE (or --demo, --list-plugins)";
    else if (config && demo)
        usage_error = "--demo runs its own pipeline; do not give -c too";
    if (usage_error) {
        if (optind < argc)
            fprintf(stderr, "spillway: %s '%s'\n", usage_error, argv[optind]);
        else
            fprintf(stderr, "spillway: %s\n", usage_error);
        usage(stderr);
        free(dirs);
        return 2;
    }
    if (log_level >= 0)
        spw__log_set_level((spw_log_level)log_level);

    int form = man ? FORM_MAN : markdown ? FORM_MARKDOWN : FORM_TEXT;
    if (help_core && form == FORM_MAN) {
        printf(".SS [pipeline]\n");
        print_options(spw__pipeline_options(), form);
        printf(".SS [sink.NAME]: the route, besides the sink plugin\(aqs own options\n");
        print_options(spw__route_options(), form);
        free(dirs);
        return 0;
    }
    if (help_core) {
        printf(markdown ? "### `[pipeline]`\n\n" : "[pipeline]\n");
        print_options(spw__pipeline_options(), form);
        printf(markdown ? "\n### `[sink.NAME]`: the route\n\n" : "\n[sink.NAME] (the route, besides the sink plugin's own options)\n");
        print_options(spw__route_options(), form);
        free(dirs);
        return 0;
    }

    spw_err err = {""};
    int status = 0;
    if (!check && !list && !help_plugin) {
        /* A stop asked for while plugins load (a supervisor's SIGTERM during a slow start)
         * is held until the pipeline's handlers are in place, then honoured as a clean stop
         * with nothing in flight, rather than killing the process by the default action. */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigprocmask(SIG_BLOCK, &stop, NULL);
    }
    const char *build_dir = build_tree_plugin_dir();
    if (build_dir)
        dirs[n_dirs++] = build_dir;
    if (spw__loader_init(dirs, n_dirs, &err) != SPW_OK) {
        fprintf(stderr, "spillway: %s\n", err.msg);
        free(dirs);
        return 1;
    }
    if (list) {
        if (spw__loader_list(stdout) == 0) {
            fprintf(stderr, "spillway: no plugins found\n");
            status = 1;
        }
        goto out;
    }
    if (help_plugin) {
        const spw_plugin *pl = NULL;
        if (spw__loader_find_any(help_plugin, &pl, &err) != SPW_OK) {
            fprintf(stderr, "spillway: %s\n", err.msg);
            status = 1;
            goto out;
        }
        /* --man: the options alone; tools/gen-man writes the rest of the page. */
        if (form == FORM_MARKDOWN)
            printf("### %s `%s`\n\n%s\n\n", spw_kind_name(pl->kind), pl->name, pl->description);
        else if (form == FORM_TEXT)
            printf("%s %s %s: %s\n\n", spw_kind_name(pl->kind), pl->name, pl->version, pl->description);
        print_options(pl->options, form);
        goto out;
    }

    spw__pipeline *p = NULL;
    const char *path = demo ? "<demo>" : config;
    if (spw__pipeline_load(path, demo ? demo_pipeline : NULL, &p, &err) != SPW_OK) {
        fprintf(stderr, "spillway: %s\n", err.msg);
        status = 1;
        goto out;
    }
    if (check) {
        size_t k[5] = {0};
        for (size_t i = 0; i < p->n_defs; i++)
            k[p->defs[i].kind]++;
        printf("%s: OK (%zu source%s, %zu filter%s, %zu codec%s, %zu sink%s)\n", path,
               k[SPW_KIND_SOURCE], k[SPW_KIND_SOURCE] == 1 ? "" : "s", k[SPW_KIND_FILTER],
               k[SPW_KIND_FILTER] == 1 ? "" : "s", k[SPW_KIND_CODEC], k[SPW_KIND_CODEC] == 1 ? "" : "s",
               k[SPW_KIND_SINK], k[SPW_KIND_SINK] == 1 ? "" : "s");
        spw__pipeline_free(p);
        goto out;
    }
    if (spw__log_setup(log_level >= 0 ? (spw_log_level)log_level : (spw_log_level)p->conf.log_level,
                       (spw__log_format)p->conf.log_format, p->conf.log_file, &err) != SPW_OK) {
        fprintf(stderr, "spillway: %s\n", err.msg);
        spw__pipeline_free(p);
        status = 1;
        goto out;
    }
    /* A peer that goes away must surface as an EPIPE on that socket, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Likewise a file-size limit on a sink or the dead-letter file: a write error, then a retry. */
    signal(SIGXFSZ, SIG_IGN);
    if (spw__pipeline_run(p, &err) != SPW_OK) {
        spw__log("core", SPW_LOG_ERROR, "%s", err.msg);
        status = 3;
    }
    spw__pipeline_free(p);
    spw__log_close();
out:
    spw__loader_exit();
    free(dirs);
    return status;
}
