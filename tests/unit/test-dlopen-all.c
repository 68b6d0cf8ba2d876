/*
 * tests/unit/test-dlopen-all.c: opens every built plugin with RTLD_NOW.
 *
 * libltdl opens modules lazily, so a plugin calling a function nothing
 * defines would load fine and crash the first time that call runs. The
 * core's loader binds every symbol at load (core/loader.c), so spillway
 * refuses such a plugin at start-up; this test makes the build itself
 * refuse to ship one, for every plugin built here. The test-only module
 * sink-unresolved proves the check works: it must fail, naming its
 * missing symbol.
 *
 * This process links libspillway, as the daemon does, so a plugin's
 * references to the SDK resolve the way they will in production.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spillway/plugin.h>
#include "tap.h"

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_so(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

/*
 * Opens every shared object in DIR/.libs. Every one must resolve (and, when
 * `descriptors`, export the descriptor), except `broken` (may be NULL),
 * which must fail naming `symbol`. Returns how many it saw.
 */
static int check_dir(const char *dir, bool descriptors, const char *broken, const char *symbol,
                     bool *saw_broken) {
    char libs[4096];
    snprintf(libs, sizeof libs, "%s/.libs", dir);
    struct dirent **ents = NULL;
    int n = scandir(libs, &ents, is_so, by_name);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", libs, ents[i]->d_name);
        dlerror();
        /* Never closed: unloading would only add noise (and LeakSanitizer reports). */
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        const char *why = h ? NULL : dlerror();
        if (broken && strcmp(ents[i]->d_name, broken) == 0) {
            *saw_broken = true;
            ok(!h, "%s fails to load with RTLD_NOW", path);
            ok(why && strstr(why, symbol), "  ... naming %s", symbol);
            if (why)
                diag("%s", why);
        } else {
            ok(h != NULL, "%s resolves every symbol at load (RTLD_NOW)", path);
            if (!h)
                diag("%s", why ? why : "(no dlerror)");
            else if (descriptors)
                ok(dlsym(h, SPW_PLUGIN_SYMBOL) != NULL, "  ... and exports %s", SPW_PLUGIN_SYMBOL);
        }
        free(ents[i]);
    }
    free(ents);
    return n;
}

int main(void) {
    const char *top = getenv("top_builddir");
    if (!top || !*top)
        top = ".";
    /* Touch the core so the linker keeps it loaded, as in the daemon. */
    diag("core: %s", spw_result_str(SPW_OK));

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/plugins", top);
    bool unused = false;
    if (check_dir(dir, true, NULL, NULL, &unused) == 0)
        ok(1, "# SKIP no plugins built in %s/.libs", dir);

    snprintf(dir, sizeof dir, "%s/tests/plugins", top);
    /* Not every test plugin exports a descriptor (sink-nodescriptor must not). */
    bool saw = false;
    int seen = check_dir(dir, false, "sink-unresolved.so", "spw_does_not_exist", &saw);
    ok(seen > 0, "test plugins found in %s/.libs", dir);
    ok(saw, "the unresolved-symbol test plugin was among them");
    return tap_done();
}
