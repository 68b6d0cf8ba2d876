/*
 * core/loader.c: finding plugin modules, opening them with libltdl and
 * refusing any whose descriptor this build cannot safely use.
 *
 * It owns the search path (--plugin-dir, SPILLWAY_PLUGIN_PATH, the
 * installed plugin directory or SPILLWAY_PLUGIN_DIR in its place, in that
 * order) and the registry of modules
 * already opened, so a plugin named by several stages is opened and
 * checked once and every caller gets the same descriptor.
 *
 * Threads: nothing here locks. libltdl keeps global state and is not
 * thread-safe, and the registry is a plain array, so every function in
 * this file must run on the main thread before workers start (main parses
 * the pipeline and loads every plugin first) or after they have all been
 * joined (spw__loader_exit). Descriptors handed out are read-only and
 * resident, so workers may read them freely afterwards.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "options.h"
#include "pipeline.h"

#ifndef SPW_PLUGIN_DIR
#error "SPW_PLUGIN_DIR must be defined by the build (see Makefile.am)"
#endif

/*
 * The descriptor size each ABI minor implies, indexed by minor. A minor
 * that adds fields at the end of spw_plugin appends its size here; the
 * core must then read those fields only when the plugin's minor has them.
 * A minor that turns a reserved slot into a field keeps the size.
 */
static const size_t descriptor_size[SPW_ABI_MINOR + 1] = {
    [0] = sizeof(spw_plugin),
    [1] = sizeof(spw_plugin), /* 1.1 added functions and an option type, no field */
    [2] = sizeof(spw_plugin), /* 1.2 added functions (templates), no field */
    [3] = sizeof(spw_plugin), /* 1.3: a group entry's def (plugin defaults), no field */
    [4] = sizeof(spw_plugin), /* 1.4 added spw_source_ops.retire, no descriptor field */
};

/* One opened and accepted module. */
typedef struct loaded {
    char *path;             /* the file as opened, as the user would recognise it */
    lt_dlhandle handle;     /* resident: never closed */
    const spw_plugin *desc; /* inside the module, so valid for the process lifetime */
} loaded;

static struct {
    /*
     * lt_dlinit runs once per process and lt_dlexit never: with only
     * resident modules open, lt_dlexit unloads nothing and merely drops
     * libltdl's records of them (LeakSanitizer then reports those).
     */
    bool ltdl_ready;
    bool ready; /* between spw__loader_init and spw__loader_exit */
    /*
     * The first dlopen failure of an existing file during the current
     * open (libltdl goes on to try other candidates and would keep only
     * the last, usually a mere "file not found"); lt_dlerror shows it
     * through now_errcode, registered with lt_dladderror.
     */
    char now_error[SPW_ERR_MSG_MAX];
    bool now_failed;
    int now_errcode;
    lt_dladvise advise;
    char **dirs;
    size_t n_dirs;
    loaded *mods;
    size_t n_mods, cap_mods;
} state;

/*
 * A module's file name without extension is "KIND-NAME", KIND being
 * spw_kind_name's word for it. Kinds run from SOURCE to SINK.
 */
#define KIND_FIRST SPW_KIND_SOURCE
#define KIND_LAST SPW_KIND_SINK

/* The kind's name, or NULL for a value that is not a kind (descriptors are untrusted). */
static const char *kind_str(int k) {
    return k >= KIND_FIRST && k <= KIND_LAST ? spw_kind_name((spw_kind)k) : NULL;
}

/* Parses s[0..len) as a kind name. */
static bool kind_parse(const char *s, size_t len, spw_kind *out) {
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        const char *name = spw_kind_name((spw_kind)k);
        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = (spw_kind)k;
            return true;
        }
    }
    return false;
}

/*
 * [a-z0-9][a-z0-9_-]*: names become file names and INI section names, so
 * nothing that could climb out of a directory or need quoting.
 */
static bool name_valid(const char *s) {
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    }
    return true;
}

static const char name_rule[] =
    "lowercase letters, digits, '-' and '_', starting with a letter or digit";

static spw_result not_ready(spw_err *err) {
    return spw_err_set(err, SPW_ERR_STATE, "the plugin loader is not initialised");
}

/* ---------------------------------------------------------------------- */
/* The descriptor check                                                    */
/* ---------------------------------------------------------------------- */

/* The ops pointer of kind k; reading it is only valid once struct_size is checked. */
static const void *ops_of(const spw_plugin *p, int k) {
    switch (k) {
    case SPW_KIND_SOURCE: return p->source;
    case SPW_KIND_FILTER: return p->filter;
    case SPW_KIND_CODEC: return p->codec;
    case SPW_KIND_SINK: return p->sink;
    }
    return NULL;
}

/* Names the first mandatory callback of the kind's ops that is missing, or NULL. */
static const char *missing_kind_callback(const spw_plugin *p) {
    switch (p->kind) {
    case SPW_KIND_SOURCE:
        if (!p->source->start)
            return "source->start";
        if (!p->source->pause)
            return "source->pause";
        if (!p->source->resume)
            return "source->resume";
        if (!p->source->stop)
            return "source->stop";
        break;
    case SPW_KIND_FILTER:
        if (!p->filter->match)
            return "filter->match";
        break;
    case SPW_KIND_CODEC:
        if (!p->codec->encode)
            return "codec->encode";
        if (!p->codec->content_type)
            return "codec->content_type";
        break;
    case SPW_KIND_SINK:
        if (!p->sink->send)
            return "sink->send";
        break;
    }
    return NULL;
}

/* True when option o claims key k (a secret also claims K_file). */
static bool claims(const spw_option *o, const char *k) {
    if (strcmp(o->name, k) == 0)
        return true;
    size_t n = strlen(o->name);
    return (o->flags & SPW_OPT_SECRET) && strncmp(k, o->name, n) == 0 && strcmp(k + n, "_file") == 0;
}

/*
 * The first key of the plugin's option table that the core reads in the
 * plugin's section (`plugin` in every section; a sink's route options in
 * [sink.*]), or NULL. Such a key could never reach the plugin: the core
 * takes it first, or the section's tables claim it twice.
 */
static const char *core_key_clash(const spw_plugin *p) {
    const spw_option *route = p->kind == SPW_KIND_SINK ? spw__route_options() : NULL;
    for (const spw_option *o = p->options; o && o->name; o++) {
        if (claims(o, "plugin"))
            return "plugin";
        for (const spw_option *c = route; c && c->name; c++)
            if (claims(o, c->name))
                return c->name;
    }
    return NULL;
}

spw_result spw__loader_check(const spw_plugin *p, const char *path, spw_err *err) {
    if (!path)
        path = "plugin";
    if (!p)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: descriptor is NULL", path);

    /*
     * Only these three fields are read until struct_size is known good:
     * they sit at the same offsets in every ABI, while anything after them
     * may lie beyond the end of a descriptor built for another layout.
     */
    unsigned major = p->abi_major, minor = p->abi_minor;
    uint32_t size = p->struct_size;
    if (major != SPW_ABI_MAJOR)
        return spw_err_set(err, SPW_ERR_ABI,
                           "%s: built for plugin ABI %u.%u, this spillway supports %d.%d "
                           "(major versions must match)",
                           path, major, minor, SPW_ABI_MAJOR, SPW_ABI_MINOR);
    if (minor > SPW_ABI_MINOR)
        return spw_err_set(err, SPW_ERR_ABI,
                           "%s: built for plugin ABI %u.%u, newer than this spillway's %d.%d; "
                           "upgrade spillway or rebuild the plugin",
                           path, major, minor, SPW_ABI_MAJOR, SPW_ABI_MINOR);
    if (size != descriptor_size[minor])
        return spw_err_set(err, SPW_ERR_ABI,
                           "%s: descriptor size %lu bytes does not match %zu for ABI %u.%u "
                           "(corrupt or mis-built plugin)",
                           path, (unsigned long)size, descriptor_size[minor], major, minor);

    /* From here on every field of the minor's layout is there. */
    const char *kname = kind_str((int)p->kind);
    if (!kname)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "%s: unknown plugin kind %d (expected source, filter, codec or sink)",
                           path, (int)p->kind);
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        const void *ops = ops_of(p, k);
        if (k == (int)p->kind && !ops)
            return spw_err_set(err, SPW_ERR_INVAL, "%s: a %s plugin must set .%s (its callbacks)",
                               path, kname, kname);
        if (k != (int)p->kind && ops)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "%s: a %s plugin must not set .%s (only the ops of its own kind)",
                               path, kname, spw_kind_name((spw_kind)k));
    }
    if (!p->name || !*p->name)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: descriptor has no name", path);
    if (!name_valid(p->name))
        return spw_err_set(err, SPW_ERR_INVAL, "%s: plugin name '%s' is invalid (use %s)", path,
                           p->name, name_rule);
    if (!p->version || !*p->version)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: descriptor has no version", path);
    if (!p->description || !*p->description)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: descriptor has no description", path);
    if (!p->create)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: mandatory callback create is missing", path);
    if (!p->destroy)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: mandatory callback destroy is missing", path);
    const char *missing = missing_kind_callback(p);
    if (missing)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: mandatory callback %s is missing", path,
                           missing);
    for (size_t i = 0; i < sizeof p->reserved / sizeof p->reserved[0]; i++) {
        if (p->reserved[i])
            return spw_err_set(
                err, SPW_ERR_INVAL,
                "%s: reserved[%zu] is set; reserved fields must be zero in ABI %u.%u", path, i,
                major, minor);
    }
    if (p->options) {
        if (p->options[0].name && p->config_size == 0)
            return spw_err_set(
                err, SPW_ERR_INVAL,
                "%s: declares options but config_size is 0 (nowhere to parse them into)", path);
        spw_err sub;
        sub.msg[0] = '\0';
        spw_result r = spw__opts_check_table(p->options, p->config_size, &sub);
        if (r != SPW_OK)
            return spw_err_set(err, r, "%s: bad option table: %s", path, sub.msg);
        const char *key = core_key_clash(p);
        if (key)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "%s: option table declares '%s', a key the core reads in every "
                               "[%s.*] section; the plugin must name its option otherwise",
                               path, key, kname);
    }
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Search path                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Adds s[0..len) unless empty or already listed. An empty entry is
 * skipped rather than read as "the current directory" (as PATH does): a
 * stray "::" must not make spillway load code from wherever it was started.
 */
static spw_result dirs_add(const char *s, size_t len, spw_err *err) {
    while (len > 1 && s[len - 1] == '/')
        len--;
    if (len == 0)
        return SPW_OK;
    for (size_t i = 0; i < state.n_dirs; i++) {
        if (strlen(state.dirs[i]) == len && memcmp(state.dirs[i], s, len) == 0)
            return SPW_OK;
    }
    char **grown = realloc(state.dirs, (state.n_dirs + 1) * sizeof *grown);
    if (!grown)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory building the plugin search path");
    state.dirs = grown;
    char *copy = strndup(s, len);
    if (!copy)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory building the plugin search path");
    state.dirs[state.n_dirs++] = copy;
    return SPW_OK;
}

/* "dir1, dir2, ..." for messages, cut short so the reason after it still fits. */
static void dirs_describe(char *buf, size_t cap) {
    const size_t budget = cap < 320 ? cap : 320;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < state.n_dirs; i++) {
        const char *sep = i ? ", " : "";
        size_t need = strlen(sep) + strlen(state.dirs[i]);
        if (used + need + sizeof ", ..." > budget) {
            snprintf(buf + used, cap - used, "%s...", sep);
            return;
        }
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", sep, state.dirs[i]);
    }
    if (state.n_dirs == 0)
        snprintf(buf, cap, "(no directories)");
}

static void dirs_free(void) {
    for (size_t i = 0; i < state.n_dirs; i++)
        free(state.dirs[i]);
    free(state.dirs);
    state.dirs = NULL;
    state.n_dirs = 0;
}

static bool is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Returns dir/module.la, else dir/module.so, when that file exists
 * (owned by caller), or NULL. The .la is preferred because in a build
 * tree it is the only file at the top (libltdl finds .libs/ through it).
 * *nomem is set when the answer is NULL only for lack of memory.
 */
static char *module_file_in(const char *dir, const char *module, bool *nomem) {
    static const char *const exts[] = {".la", ".so"};
    *nomem = false;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *path;
        if (asprintf(&path, "%s/%s%s", dir, module, exts[i]) < 0) {
            *nomem = true;
            return NULL;
        }
        if (is_regular_file(path))
            return path;
        free(path);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Binding every symbol at load                                            */
/* ---------------------------------------------------------------------- */

/*
 * libltdl's own dlopen loader binds lazily (RTLD_LAZY) and has no advice
 * to ask otherwise, so a plugin calling a function nothing defines would
 * load, pass --check, and crash the first time that call runs, in
 * production. This loader takes its place: libltdl still finds the file
 * (search path, .la files, extensions) and hands it the path of the
 * shared object, which it opens with RTLD_NOW, so an unresolved symbol or
 * a missing library fails the open, naming what is missing, and nothing
 * of the module stays mapped. Always RTLD_LOCAL: plugins are opened local
 * (see spw__loader_init), and a plugin's symbols must never satisfy
 * another's.
 */
static lt_module now_open(lt_user_data data, const char *filename, lt_dladvise advise) {
    (void)data;
    (void)advise;
    dlerror();
    void *h = dlopen(filename, RTLD_NOW | RTLD_LOCAL);
    if (h)
        return h;
    const char *why = dlerror();
    if (filename && !state.now_failed && access(filename, F_OK) == 0) {
        snprintf(state.now_error, sizeof state.now_error, "%s", why ? why : "dlopen failed");
        state.now_failed = true;
    }
    lt_dlseterror(state.now_failed ? state.now_errcode : LT_ERROR_FILE_NOT_FOUND);
    return NULL;
}

static int now_close(lt_user_data data, lt_module module) {
    (void)data;
    return dlclose(module) == 0 ? 0 : 1;
}

static void *now_sym(lt_user_data data, lt_module module, const char *name) {
    (void)data;
    void *p = dlsym(module, name);
    if (!p)
        lt_dlseterror(LT_ERROR_SYMBOL_NOT_FOUND);
    return p;
}

static const lt_dlvtable now_loader = {
    .name = "spw_dlopen_now",
    .module_open = now_open,
    .module_close = now_close,
    .find_sym = now_sym,
    .priority = LT_DLLOADER_PREPEND,
};

/* Puts now_loader first and, when libltdl lets us, removes its lazy loader. */
static spw_result now_loader_install(spw_err *err) {
    state.now_errcode = lt_dladderror(state.now_error);
    if (state.now_errcode < 0 || lt_dlloader_add(&now_loader) != 0) {
        const char *why = lt_dlerror();
        return spw_err_set(err, SPW_ERR_STATE, "cannot install the plugin loader: %s",
                           why ? why : "unknown libltdl error");
    }
    /*
     * Without its lazy loader libltdl cannot fall back to a lazy open
     * after ours failed. If it will not go, a fallback open is still
     * refused (open_file checks now_failed), only with the module mapped.
     * libltdl's own lt_dlexit frees a removed loader's vtable the same way.
     */
    lt_dlvtable *lazy = lt_dlloader_remove("lt_dlopen");
    free(lazy);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Registry and opening                                                    */
/* ---------------------------------------------------------------------- */

static const spw_plugin *registry_by_path(const char *path) {
    for (size_t i = 0; i < state.n_mods; i++) {
        if (strcmp(state.mods[i].path, path) == 0)
            return state.mods[i].desc;
    }
    return NULL;
}

static spw_result registry_add(const char *path, lt_dlhandle h, const spw_plugin *p, spw_err *err) {
    if (state.n_mods == state.cap_mods) {
        size_t cap = state.cap_mods ? 2 * state.cap_mods : 8;
        loaded *grown = realloc(state.mods, cap * sizeof *grown);
        if (!grown)
            return spw_err_set(err, SPW_ERR_NOMEM, "%s: out of memory", path);
        state.mods = grown;
        state.cap_mods = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return spw_err_set(err, SPW_ERR_NOMEM, "%s: out of memory", path);
    state.mods[state.n_mods++] = (loaded){.path = copy, .handle = h, .desc = p};
    return SPW_OK;
}

/* Does path name a file, either as given or with the extension libltdl would add? */
static bool any_module_file(const char *path) {
    if (is_regular_file(path))
        return true;
    char *slash = strrchr(path, '/');
    bool nomem;
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return true; /* cannot tell: let libltdl's own message stand */
    char *file = module_file_in(dir, slash ? slash + 1 : path, &nomem);
    bool found = file != NULL || nomem;
    free(dir);
    free(file);
    return found;
}

/* The module name a path stands for: its base name without .la or .so. */
static void module_of_path(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 3 && (strcmp(base + len - 3, ".la") == 0 || strcmp(base + len - 3, ".so") == 0))
        len -= 3;
    snprintf(buf, cap, "%.*s", (int)len, base);
}

spw_result spw__loader_open_file(const char *path, const spw_plugin **out, spw_err *err) {
    if (!state.ready)
        return not_ready(err);
    if (!path || !*path)
        return spw_err_set(err, SPW_ERR_INVAL, "no plugin file given");

    const spw_plugin *known = registry_by_path(path);
    if (known) {
        *out = known;
        return SPW_OK;
    }

    /*
     * Opening a rejected module runs its constructors and leaves it
     * mapped (resident modules cannot be closed); that is the price of
     * reading its descriptor at all, and it happens only at startup.
     * (A module with an unresolved symbol or a missing library is not
     * mapped at all: now_open binds everything first.)
     */
    state.now_failed = false;
    state.now_error[0] = '\0';
    lt_dlhandle h = lt_dlopenadvise(path, state.advise);
    if (state.now_failed)
        return spw_err_set(err, SPW_ERR_IO,
                           "%s: cannot load module: %s (every symbol of a plugin must resolve "
                           "when it is opened)",
                           path, state.now_error);
    if (!h) {
        const char *why = lt_dlerror();
        if (!any_module_file(path))
            return spw_err_set(err, SPW_ERR_NOTFOUND, "%s: no such plugin file", path);
        size_t len = strlen(path);
        /* A .la whose shared object is missing gets a bare "file not found" from libltdl. */
        bool la = len > 3 && strcmp(path + len - 3, ".la") == 0 && is_regular_file(path);
        return spw_err_set(err, SPW_ERR_IO, "%s: cannot load module: %s%s", path,
                           why ? why : "unknown libltdl error",
                           la ? " (the .la file is there; is its shared object built?)" : "");
    }
    const spw_plugin *p = lt_dlsym(h, SPW_PLUGIN_SYMBOL);
    if (!p)
        return spw_err_set(err, SPW_ERR_INVAL, "%s: not a spillway plugin (no %s symbol)", path,
                           SPW_PLUGIN_SYMBOL);
    spw_result r = spw__loader_check(p, path, err);
    if (r != SPW_OK)
        return r;

    /* The file name is how `plugin = NAME` finds it, so it must say what the descriptor says. */
    char module[256], want[256];
    module_of_path(path, module, sizeof module);
    snprintf(want, sizeof want, "%s-%s", kind_str((int)p->kind), p->name);
    if (strcmp(module, want) != 0)
        return spw_err_set(err, SPW_ERR_INVAL,
                           "%s: descriptor declares %s '%s', but the module is named '%s' "
                           "(expected %s.la or %s.so)",
                           path, kind_str((int)p->kind), p->name, module, want, want);

    /* The same object reached by another path (a symlink, .la vs .libs/x.so) is one plugin. */
    for (size_t i = 0; i < state.n_mods; i++) {
        if (state.mods[i].desc == p) {
            *out = p;
            return SPW_OK;
        }
    }
    r = registry_add(path, h, p, err);
    if (r != SPW_OK)
        return r;
    *out = p;
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Public entry points                                                     */
/* ---------------------------------------------------------------------- */

spw_result spw__loader_init(const char *const *extra_dirs, size_t n_extra, spw_err *err) {
    if (state.ready)
        return spw_err_set(err, SPW_ERR_STATE, "the plugin loader is already initialised");
    if (!state.ltdl_ready) {
        if (lt_dlinit() != 0) {
            const char *why = lt_dlerror();
            return spw_err_set(err, SPW_ERR_STATE, "cannot initialise libltdl: %s",
                               why ? why : "unknown error");
        }
        spw_result r = now_loader_install(err);
        if (r != SPW_OK)
            return r;
        state.ltdl_ready = true;
    }
    /*
     * local: a plugin's symbols must not satisfy another plugin's
     * references. resident: a plugin may have registered callbacks with
     * libraries that outlive it. ext: "dir/sink-x" finds sink-x.la or .so.
     */
    if (lt_dladvise_init(&state.advise) || lt_dladvise_local(&state.advise) ||
        lt_dladvise_resident(&state.advise) || lt_dladvise_ext(&state.advise)) {
        const char *why = lt_dlerror();
        lt_dladvise_destroy(&state.advise);
        return spw_err_set(err, SPW_ERR_STATE, "cannot set libltdl load options: %s",
                           why ? why : "unknown error");
    }

    spw_result r = SPW_OK;
    for (size_t i = 0; i < n_extra && r == SPW_OK; i++) {
        if (extra_dirs[i])
            r = dirs_add(extra_dirs[i], strlen(extra_dirs[i]), err);
    }
    const char *env = getenv("SPILLWAY_PLUGIN_PATH");
    while (env && r == SPW_OK) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        r = dirs_add(env, len, err);
        env = colon ? colon + 1 : NULL;
    }
    /*
     * SPILLWAY_PLUGIN_DIR stands in for the installed directory instead of
     * adding to the list, and set but empty removes it: `make check` does
     * that, so tests see the build tree's plugins and never what an earlier
     * `make install` left in the configured prefix.
     */
    const char *installed = getenv("SPILLWAY_PLUGIN_DIR");
    if (!installed)
        installed = SPW_PLUGIN_DIR;
    if (r == SPW_OK)
        r = dirs_add(installed, strlen(installed), err);
    if (r != SPW_OK) {
        dirs_free();
        lt_dladvise_destroy(&state.advise);
        return r;
    }
    state.ready = true;
    return SPW_OK;
}

void spw__loader_exit(void) {
    if (!state.ready)
        return;
    /* Descriptors stay valid (the modules are resident); only our bookkeeping goes. */
    for (size_t i = 0; i < state.n_mods; i++)
        free(state.mods[i].path);
    free(state.mods);
    state.mods = NULL;
    state.n_mods = state.cap_mods = 0;
    dirs_free();
    lt_dladvise_destroy(&state.advise);
    state.ready = false;
}

/* "no sink plugin 'x': searched A, B (file not found: sink-x.la or .so)" */
static spw_result not_found(spw_err *err, const char *what, const char *name, const char *module) {
    char dirs[400];
    dirs_describe(dirs, sizeof dirs);
    return spw_err_set(err, SPW_ERR_NOTFOUND,
                       "no %s '%s': searched %s (file not found: %s.la or .so)", what, name, dirs,
                       module);
}

spw_result spw__loader_find(spw_kind kind, const char *name, const spw_plugin **out, spw_err *err) {
    if (!state.ready)
        return not_ready(err);
    const char *kname = kind_str((int)kind);
    if (!kname)
        return spw_err_set(err, SPW_ERR_INVAL, "unknown plugin kind %d", (int)kind);
    if (!name_valid(name))
        return spw_err_set(err, SPW_ERR_INVAL, "invalid %s plugin name '%s' (use %s)", kname,
                           name ? name : "", name_rule);

    char module[256];
    if ((size_t)snprintf(module, sizeof module, "%s-%s", kname, name) >= sizeof module)
        return spw_err_set(err, SPW_ERR_INVAL, "%s plugin name '%.40s...' is too long", kname,
                           name);
    for (size_t i = 0; i < state.n_dirs; i++) {
        bool nomem;
        char *file = module_file_in(state.dirs[i], module, &nomem);
        if (nomem)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory looking for %s", module);
        if (!file)
            continue;
        /* The first directory holding the module decides, even if that copy is broken. */
        spw_result r = spw__loader_open_file(file, out, err);
        free(file);
        return r;
    }
    char what[32];
    snprintf(what, sizeof what, "%s plugin", kname);
    return not_found(err, what, name, module);
}

spw_result spw__loader_find_any(const char *name, const spw_plugin **out, spw_err *err) {
    if (!state.ready)
        return not_ready(err);
    if (!name_valid(name))
        return spw_err_set(err, SPW_ERR_INVAL, "invalid plugin name '%s' (use %s, or KIND-NAME)",
                           name ? name : "", name_rule);

    /*
     * "NAME" may exist in several kinds, and "sink-x" may be KIND-NAME or
     * the name of, say, a filter called "sink-x": every reading whose
     * module exists is a candidate, and more than one is ambiguous.
     */
    struct cand {
        spw_kind kind;
        const char *name;
    } cands[KIND_LAST + 1];
    size_t n = 0;
    char modules[KIND_LAST + 1][256];
    spw_kind prefix_kind = 0;
    const char *dash = strchr(name, '-');
    const char *rest = NULL;
    if (dash && kind_parse(name, (size_t)(dash - name), &prefix_kind) && name_valid(dash + 1))
        rest = dash + 1;

    for (int k = KIND_FIRST; k <= KIND_LAST + 1; k++) {
        spw_kind kind;
        const char *n_name;
        if (k <= KIND_LAST) {
            kind = (spw_kind)k;
            n_name = name;
        } else if (rest) {
            kind = prefix_kind;
            n_name = rest;
        } else {
            break;
        }
        char *module = modules[n];
        if ((size_t)snprintf(module, sizeof modules[0], "%s-%s", spw_kind_name(kind), n_name) >=
            sizeof modules[0])
            continue;
        for (size_t i = 0; i < state.n_dirs; i++) {
            bool nomem;
            char *file = module_file_in(state.dirs[i], module, &nomem);
            if (nomem)
                return spw_err_set(err, SPW_ERR_NOMEM, "out of memory looking for %s", module);
            if (file) {
                free(file);
                cands[n].kind = kind;
                cands[n].name = n_name;
                n++;
                break;
            }
        }
    }

    if (n == 1)
        return spw__loader_find(cands[0].kind, cands[0].name, out, err);
    if (n > 1) {
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (size_t i = 0; i < n && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     modules[i]);
        return spw_err_set(err, SPW_ERR_INVAL,
                           "plugin name '%s' is ambiguous: %s (name one as KIND-NAME)", name, list);
    }
    if (rest)
        return spw__loader_find(prefix_kind, rest, out, err);
    char module[300];
    snprintf(module, sizeof module, "KIND-%s", name);
    return not_found(err, "plugin of any kind named", name, module);
}

/* ---------------------------------------------------------------------- */
/* Listing                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct listed {
    char *module;           /* "KIND-NAME", to keep the first directory's copy only */
    const spw_plugin *desc; /* NULL when it failed to load */
} listed;

/* Is this directory entry a plugin module file? Sets the module name. */
static bool module_entry(const char *fname, char *module, size_t cap) {
    size_t len = strlen(fname);
    if (len < 4 || len >= cap)
        return false;
    if (strcmp(fname + len - 3, ".la") != 0 && strcmp(fname + len - 3, ".so") != 0)
        return false;
    memcpy(module, fname, len - 3);
    module[len - 3] = '\0';
    const char *dash = strchr(module, '-');
    spw_kind k;
    return dash && kind_parse(module, (size_t)(dash - module), &k) && name_valid(dash + 1);
}

static int listed_cmp(const void *a, const void *b) {
    const spw_plugin *x = ((const listed *)a)->desc, *y = ((const listed *)b)->desc;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return strcmp(x->name, y->name);
}

static int width_of(const char *s) {
    size_t n = strlen(s);
    return n > 64 ? 64 : (int)n;
}

int spw__loader_list(FILE *out) {
    if (!state.ready) {
        fprintf(stderr, "spillway: the plugin loader is not initialised\n");
        return 0;
    }
    listed *items = NULL;
    size_t n = 0, cap = 0;
    bool oom = false;

    for (size_t d = 0; d < state.n_dirs && !oom; d++) {
        /* Sorted, so what is reported (and which of .la/.so is seen first) never depends on the
         * file system. */
        struct dirent **ents = NULL;
        int n_ents = scandir(state.dirs[d], &ents, NULL, alphasort);
        if (n_ents < 0) {
            /* Missing directories are normal (the installed one in a build tree). */
            if (errno != ENOENT && errno != ENOTDIR)
                fprintf(stderr, "spillway: cannot read plugin directory %s: %s\n", state.dirs[d],
                        strerror(errno));
            continue;
        }
        for (int e = 0; e < n_ents && !oom; e++) {
            char module[256];
            if (!module_entry(ents[e]->d_name, module, sizeof module))
                continue;
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++)
                seen = strcmp(items[i].module, module) == 0;
            if (seen)
                continue;
            if (n == cap) {
                size_t ncap = cap ? 2 * cap : 16;
                listed *grown = realloc(items, ncap * sizeof *grown);
                if (!grown) {
                    oom = true;
                    break;
                }
                items = grown;
                cap = ncap;
            }
            items[n].module = strdup(module);
            if (!items[n].module) {
                oom = true;
                break;
            }
            items[n].desc = NULL;
            /* Load from this directory, .la before .so, as find would. */
            bool nomem;
            char *file = module_file_in(state.dirs[d], module, &nomem);
            if (file) {
                spw_err err;
                if (spw__loader_open_file(file, &items[n].desc, &err) != SPW_OK) {
                    items[n].desc = NULL;
                    fprintf(stderr, "spillway: skipped %s\n", err.msg);
                }
                free(file);
            }
            oom = nomem;
            n++;
        }
        for (int e = 0; e < n_ents; e++)
            free(ents[e]);
        free(ents);
    }
    if (oom)
        fprintf(stderr, "spillway: out of memory while listing plugins\n");

    /* Keep the loaded ones, in kind order then by name, so the output is stable. */
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        free(items[i].module);
        if (items[i].desc)
            items[good++].desc = items[i].desc;
    }
    if (good)
        qsort(items, good, sizeof *items, listed_cmp);
    int wk = 0, wn = 0, wv = 0;
    for (size_t i = 0; i < good; i++) {
        const spw_plugin *p = items[i].desc;
        int w = width_of(kind_str((int)p->kind));
        wk = w > wk ? w : wk;
        w = width_of(p->name);
        wn = w > wn ? w : wn;
        w = width_of(p->version);
        wv = w > wv ? w : wv;
    }
    for (size_t i = 0; i < good; i++) {
        const spw_plugin *p = items[i].desc;
        fprintf(out, "%-*s  %-*s  %-*s  %s\n", wk, kind_str((int)p->kind), wn, p->name, wv,
                p->version, p->description);
    }
    free(items);
    return (int)good;
}
