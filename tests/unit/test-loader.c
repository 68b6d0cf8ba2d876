/*
 * tests/unit/test-loader.c: the plugin loader against hand-made
 * descriptors (every refusal of spw__loader_check) and against the
 * test-only modules in tests/plugins/ (opening, finding, listing).
 *
 * Run by `make check`, which exports top_builddir; the test plugins are
 * $top_builddir/tests/plugins/NAME.la.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "pipeline.h"
#include "tap.h"

static char plugdir[4096];
static char abi_now[32]; /* "1.0": this build's ABI as messages print it */
static const char *const kinds[] = {"?", "source", "filter", "codec", "sink"};

/* ---------------------------------------------------------------------- */
/* Descriptors built in memory                                             */
/* ---------------------------------------------------------------------- */

static spw_result t_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    *inst = NULL;
    return SPW_OK;
}
static void t_destroy(void *inst) {}
static spw_result t_start(void *inst, spw_err *err) {
    return SPW_OK;
}
static void t_void(void *inst) {}
static spw_result t_match(void *inst, const spw_event *ev) {
    return SPW_OK;
}
static spw_result t_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return SPW_OK;
}
static const char *t_ctype(void *inst, bool batch) {
    return "text/plain";
}
static spw_result t_send(void *inst, spw_batch *b, spw_err *err) {
    return SPW_OK;
}

static spw_source_ops source_ops;
static spw_filter_ops filter_ops;
static spw_codec_ops codec_ops;
static spw_sink_ops sink_ops;

static void reset_ops(void) {
    source_ops =
        (spw_source_ops){.start = t_start, .pause = t_void, .resume = t_void, .stop = t_void};
    filter_ops = (spw_filter_ops){.match = t_match};
    codec_ops = (spw_codec_ops){.encode = t_encode, .content_type = t_ctype};
    sink_ops = (spw_sink_ops){.send = t_send};
}

struct mem_config {
    int64_t n;
    char *s;
};

static const spw_option good_options[] = {
    {"n", SPW_OPT_INT, 0, "5", 0, 10, NULL, offsetof(struct mem_config, n), "A number."},
    {"s", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, offsetof(struct mem_config, s), "A string."},
    SPW_OPTIONS_END,
};

/* A valid descriptor of kind k; tests break one field at a time. */
static spw_plugin valid(spw_kind k) {
    reset_ops();
    spw_plugin p = {
        .abi_major = SPW_ABI_MAJOR,
        .abi_minor = SPW_ABI_MINOR,
        .struct_size = sizeof(spw_plugin),
        .kind = k,
        .name = "mem",
        .version = "1.0",
        .description = "in memory",
        .create = t_create,
        .destroy = t_destroy,
    };
    switch (k) {
    case SPW_KIND_SOURCE: p.source = &source_ops; break;
    case SPW_KIND_FILTER: p.filter = &filter_ops; break;
    case SPW_KIND_CODEC: p.codec = &codec_ops; break;
    case SPW_KIND_SINK: p.sink = &sink_ops; break;
    }
    return p;
}

/* Expects spw__loader_check to refuse p with `want` and a message holding `needle` and the path. */
static void refused(const spw_plugin *p, spw_result want, const char *needle, const char *what) {
    spw_err err = {{0}};
    spw_result r = spw__loader_check(p, "mem.so", &err);
    is_int(r, want, "check refuses %s", what);
    has_str(err.msg, "mem.so", "  ... naming the file");
    has_str(err.msg, needle, "  ... saying why");
}

static void test_check_abi(void) {
    spw_err err = {{0}};
    char v[32];

    spw_plugin p = valid(SPW_KIND_SINK);
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "a valid sink passes");
    p.options = good_options;
    p.config_size = sizeof(struct mem_config);
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "a valid sink with options passes: %s",
           err.msg);
    for (int k = SPW_KIND_SOURCE; k <= SPW_KIND_SINK; k++) {
        p = valid((spw_kind)k);
        is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "a valid %s passes: %s", kinds[k],
               err.msg);
    }

    p = valid(SPW_KIND_SINK);
    p.abi_major = SPW_ABI_MAJOR + 1;
    snprintf(v, sizeof v, "%d.%d", SPW_ABI_MAJOR + 1, SPW_ABI_MINOR);
    refused(&p, SPW_ERR_ABI, v, "another major ABI");
    spw__loader_check(&p, "mem.so", &err);
    has_str(err.msg, abi_now, "  ... and this build's ABI");
    has_str(err.msg, "major versions must match", "  ... and the rule");

    p = valid(SPW_KIND_SINK);
    p.abi_minor = SPW_ABI_MINOR + 1;
    snprintf(v, sizeof v, "%d.%d", SPW_ABI_MAJOR, SPW_ABI_MINOR + 1);
    refused(&p, SPW_ERR_ABI, v, "a newer minor ABI");
    spw__loader_check(&p, "mem.so", &err);
    has_str(err.msg, abi_now, "  ... and this build's ABI");
    has_str(err.msg, "upgrade spillway", "  ... and what to do");

    p = valid(SPW_KIND_SINK);
    p.struct_size = sizeof(spw_plugin) - 8;
    snprintf(v, sizeof v, "size %zu bytes", sizeof(spw_plugin) - 8);
    refused(&p, SPW_ERR_ABI, v, "a smaller struct_size");
    snprintf(v, sizeof v, "match %zu", sizeof(spw_plugin));
    spw__loader_check(&p, "mem.so", &err);
    has_str(err.msg, v, "  ... and the size expected");

    p = valid(SPW_KIND_SINK);
    p.struct_size = sizeof(spw_plugin) + 8;
    refused(&p, SPW_ERR_ABI, "descriptor size", "a larger struct_size");
}

/*
 * A descriptor that is only its first 8 bytes: the check must decide
 * from those alone. Under AddressSanitizer any read past them fails.
 */
static void test_check_reads_header_first(void) {
    struct header {
        uint16_t abi_major, abi_minor;
        uint32_t struct_size;
    };
    struct header *h = malloc(sizeof *h);
    spw_err err = {{0}};

    *h = (struct header){SPW_ABI_MAJOR + 1, 0, 8};
    is_int(spw__loader_check((const spw_plugin *)(void *)h, "short.so", &err), SPW_ERR_ABI,
           "an 8-byte descriptor of another major is refused without reading past it");
    *h = (struct header){SPW_ABI_MAJOR, SPW_ABI_MINOR + 2, 8};
    is_int(spw__loader_check((const spw_plugin *)(void *)h, "short.so", &err), SPW_ERR_ABI,
           "an 8-byte descriptor of a newer minor is refused without reading past it");
    *h = (struct header){SPW_ABI_MAJOR, SPW_ABI_MINOR, 8};
    is_int(spw__loader_check((const spw_plugin *)(void *)h, "short.so", &err), SPW_ERR_ABI,
           "an 8-byte descriptor of this ABI is refused on its size alone");
    has_str(err.msg, "size 8 bytes", "  ... saying its size");
    free(h);

    is_int(spw__loader_check(NULL, "null.so", &err), SPW_ERR_INVAL, "a NULL descriptor is refused");
}

/* A plugin's option table must not declare a key the core reads in its section. */
static void test_check_core_keys(void) {
    spw_plugin p;
    spw_err err = {{0}};
    static const spw_option plugin_key[] = {
        {"plugin", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 0, "Mine."},
        SPW_OPTIONS_END,
    };
    for (int k = SPW_KIND_SOURCE; k <= SPW_KIND_SINK; k++) {
        p = valid((spw_kind)k);
        p.options = plugin_key;
        p.config_size = sizeof(char *);
        refused(&p, SPW_ERR_INVAL, "declares 'plugin', a key the core reads", kinds[k]);
    }
    spw__loader_check(&p, "mem.so", &err);
    has_str(err.msg, "[sink.*] section", "  ... naming the kind of section");

    /* Every option of a route is a sink's core key, and only a sink's. */
    const spw_option *route = spw__route_options();
    int n = 0, refused_sink = 0, accepted_other = 0;
    for (const spw_option *o = route; o && o->name; o++, n++) {
        spw_option one[2] = {{o->name, SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, "Mine."},
                             SPW_OPTIONS_END};
        p = valid(SPW_KIND_SINK);
        p.options = one;
        p.config_size = sizeof(int64_t);
        char want[128];
        snprintf(want, sizeof want, "declares '%s'", o->name);
        err.msg[0] = '\0';
        refused_sink += spw__loader_check(&p, "mem.so", &err) == SPW_ERR_INVAL &&
                        strstr(err.msg, want) != NULL;
        p = valid(SPW_KIND_CODEC);
        p.options = one;
        p.config_size = sizeof(int64_t);
        accepted_other += spw__loader_check(&p, "mem.so", &err) == SPW_OK;
    }
    ok(n >= 10, "the route has its options (%d)", n);
    is_int(refused_sink, n, "a sink declaring any route option (concurrency, batch_*...) is refused");
    is_int(accepted_other, n, "  ... while a codec may use those names");

    static const spw_option secret_file[] = {
        {"batch_max", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, 0, "Mine."},
        SPW_OPTIONS_END,
    };
    p = valid(SPW_KIND_SINK);
    p.options = secret_file;
    p.config_size = sizeof(char *);
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK,
           "a sink option merely starting like a core key is fine: %s", err.msg);
}

static void test_check_fields(void) {
    spw_plugin p;

    p = valid(SPW_KIND_SINK);
    p.kind = (spw_kind)0;
    refused(&p, SPW_ERR_INVAL, "unknown plugin kind 0", "kind 0");
    p.kind = (spw_kind)9;
    refused(&p, SPW_ERR_INVAL, "unknown plugin kind 9", "kind 9");

    p = valid(SPW_KIND_SINK);
    p.sink = NULL;
    refused(&p, SPW_ERR_INVAL, ".sink", "a sink without sink ops");
    p = valid(SPW_KIND_SINK);
    p.codec = &codec_ops;
    refused(&p, SPW_ERR_INVAL, ".codec", "a sink that also sets codec ops");
    p = valid(SPW_KIND_SOURCE);
    p.source = NULL;
    p.filter = &filter_ops;
    refused(&p, SPW_ERR_INVAL, ".source", "a source with filter ops instead of its own");

    p = valid(SPW_KIND_SINK);
    p.create = NULL;
    refused(&p, SPW_ERR_INVAL, "create", "a missing create");
    p = valid(SPW_KIND_SINK);
    p.destroy = NULL;
    refused(&p, SPW_ERR_INVAL, "destroy", "a missing destroy");

    static const struct {
        spw_kind kind;
        const char *cb;
    } cbs[] = {
        {SPW_KIND_SOURCE, "source->start"},      {SPW_KIND_SOURCE, "source->pause"},
        {SPW_KIND_SOURCE, "source->resume"},     {SPW_KIND_SOURCE, "source->stop"},
        {SPW_KIND_FILTER, "filter->match"},      {SPW_KIND_CODEC, "codec->encode"},
        {SPW_KIND_CODEC, "codec->content_type"}, {SPW_KIND_SINK, "sink->send"},
    };
    for (size_t i = 0; i < sizeof cbs / sizeof cbs[0]; i++) {
        p = valid(cbs[i].kind);
        const char *f = strstr(cbs[i].cb, "->") + 2;
        if (!strcmp(f, "start"))
            source_ops.start = NULL;
        if (!strcmp(f, "pause"))
            source_ops.pause = NULL;
        if (!strcmp(f, "resume"))
            source_ops.resume = NULL;
        if (!strcmp(f, "stop"))
            source_ops.stop = NULL;
        if (!strcmp(f, "match"))
            filter_ops.match = NULL;
        if (!strcmp(f, "encode"))
            codec_ops.encode = NULL;
        if (!strcmp(f, "content_type"))
            codec_ops.content_type = NULL;
        if (!strcmp(f, "send"))
            sink_ops.send = NULL;
        refused(&p, SPW_ERR_INVAL, cbs[i].cb, cbs[i].cb);
    }
    p = valid(SPW_KIND_CODEC);
    codec_ops.frame = NULL;
    spw_err err = {{0}};
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "codec->frame is optional");
    p = valid(SPW_KIND_SINK);
    p.check = NULL;
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "check is optional");

    static const char *const bad_names[] = {"Upper", "-lead", "_lead", "a b", "a/b", "..", "é"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        p = valid(SPW_KIND_SINK);
        p.name = bad_names[i];
        refused(&p, SPW_ERR_INVAL, "is invalid", bad_names[i]);
    }
    static const char *const good_names[] = {"a", "0", "es", "http_2", "x-y-z", "9lives"};
    for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++) {
        p = valid(SPW_KIND_SINK);
        p.name = good_names[i];
        is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK, "name '%s' is accepted",
               good_names[i]);
    }
    p = valid(SPW_KIND_SINK);
    p.name = NULL;
    refused(&p, SPW_ERR_INVAL, "no name", "a NULL name");
    p.name = "";
    refused(&p, SPW_ERR_INVAL, "no name", "an empty name");

    p = valid(SPW_KIND_SINK);
    p.version = NULL;
    refused(&p, SPW_ERR_INVAL, "no version", "a NULL version");
    p.version = "";
    refused(&p, SPW_ERR_INVAL, "no version", "an empty version");
    p = valid(SPW_KIND_SINK);
    p.description = NULL;
    refused(&p, SPW_ERR_INVAL, "no description", "a NULL description");
    p.description = "";
    refused(&p, SPW_ERR_INVAL, "no description", "an empty description");

    p = valid(SPW_KIND_SINK);
    p.reserved[7] = &p;
    refused(&p, SPW_ERR_INVAL, "reserved[7]", "a non-zero reserved field");

    p = valid(SPW_KIND_SINK);
    p.options = good_options;
    p.config_size = 0;
    refused(&p, SPW_ERR_INVAL, "config_size is 0", "options without a config struct");

    static const spw_option empty[] = {SPW_OPTIONS_END};
    p = valid(SPW_KIND_SINK);
    p.options = empty;
    is_int(spw__loader_check(&p, "mem.so", &err), SPW_OK,
           "an empty option table needs no config struct: %s", err.msg);

    static const spw_option outside[] = {
        {"n", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 1024, "Past the end."},
        SPW_OPTIONS_END,
    };
    p = valid(SPW_KIND_SINK);
    p.options = outside;
    p.config_size = sizeof(struct mem_config);
    err.msg[0] = '\0';
    ok(spw__loader_check(&p, "mem.so", &err) < 0,
       "an option offset outside config_size is refused");
    has_str(err.msg,
            "mem.so: bad option table: ", "  ... with the option checker's reason, prefixed");
    diag("%s", err.msg);
}

/* ---------------------------------------------------------------------- */
/* Modules                                                                 */
/* ---------------------------------------------------------------------- */

static const char *module_path(const char *name) {
    static char buf[4200];
    snprintf(buf, sizeof buf, "%s/%s.la", plugdir, name);
    return buf;
}

/* Opens tests/plugins/NAME.la, expects `want`, and a message naming the file and `needle`. */
static void open_refused(const char *name, spw_result want, const char *needle) {
    const spw_plugin *p = NULL;
    spw_err err = {{0}};
    const char *path = module_path(name);
    is_int(spw__loader_open_file(path, &p, &err), want, "%s is refused", name);
    has_str(err.msg, path, "  ... naming the file");
    has_str(err.msg, needle, "  ... saying why (%s)", needle);
    diag("%s", err.msg);
}

static void test_open_file(void) {
    const spw_plugin *p = NULL, *q = NULL;
    spw_err err = {{0}};
    char v[64];

    is_int(spw__loader_open_file(module_path("sink-goodtest"), &p, &err), SPW_OK,
           "sink-goodtest loads: %s", err.msg);
    ok(p && p->kind == SPW_KIND_SINK, "  ... it is a sink");
    is_str(p ? p->name : NULL, "goodtest", "  ... named goodtest");
    is_int(spw__loader_open_file(module_path("sink-goodtest"), &q, &err), SPW_OK,
           "opening it again works");
    ok(p == q, "  ... and gives the same descriptor");
    char so[4300];
    snprintf(so, sizeof so, "%s/.libs/sink-goodtest.so", plugdir);
    q = NULL;
    is_int(spw__loader_open_file(so, &q, &err), SPW_OK, "its .libs/ shared object loads: %s",
           err.msg);
    ok(p == q, "  ... as the same plugin");

    is_int(spw__loader_open_file(module_path("source-goodtest"), &q, &err), SPW_OK,
           "source-goodtest loads: %s", err.msg);
    ok(q && q->kind == SPW_KIND_SOURCE && q->options == NULL, "  ... a source without options");

    snprintf(v, sizeof v, "ABI %d.%d", SPW_ABI_MAJOR + 1, 0);
    open_refused("sink-abimajor", SPW_ERR_ABI, v);
    spw__loader_open_file(module_path("sink-abimajor"), &q, &err);
    has_str(err.msg, abi_now, "  ... and this build's ABI");

    snprintf(v, sizeof v, "ABI %d.%d", SPW_ABI_MAJOR, SPW_ABI_MINOR + 3);
    open_refused("sink-abiminor", SPW_ERR_ABI, v);
    spw__loader_open_file(module_path("sink-abiminor"), &q, &err);
    has_str(err.msg, abi_now, "  ... and this build's ABI");

    open_refused("sink-badsize", SPW_ERR_ABI, "descriptor size 120 bytes");
    snprintf(v, sizeof v, "does not match %zu for ABI %s", sizeof(spw_plugin), abi_now);
    spw__loader_open_file(module_path("sink-badsize"), &q, &err);
    has_str(err.msg, v, "  ... and the size this ABI implies");

    open_refused("sink-nodescriptor", SPW_ERR_INVAL,
                 "not a spillway plugin (no spw_plugin_descriptor symbol)");
    open_refused("sink-opsmismatch", SPW_ERR_INVAL, "must not set .filter");
    open_refused("sink-namemismatch", SPW_ERR_INVAL, "sink 'other'");
    open_refused("filter-wrongkind", SPW_ERR_INVAL, "module is named 'filter-wrongkind'");
    open_refused("sink-corekey", SPW_ERR_INVAL,
                 "declares 'concurrency', a key the core reads in every [sink.*] section");
    open_refused("filter-corekey", SPW_ERR_INVAL,
                 "declares 'plugin', a key the core reads in every [filter.*] section");

    q = NULL;
    err.msg[0] = '\0';
    spw_result r = spw__loader_open_file(module_path("sink-badoptions"), &q, &err);
    ok(r < 0, "sink-badoptions is refused");
    has_str(err.msg, module_path("sink-badoptions"), "  ... naming the file");
    has_str(err.msg, "bad option table", "  ... blaming the option table");
    diag("%s", err.msg);

    /* Every symbol is bound at load: the undefined one fails the open, named. */
    open_refused("sink-unresolved", SPW_ERR_IO, "undefined symbol: spw_does_not_exist");
    spw__loader_open_file(module_path("sink-unresolved"), &q, &err);
    has_str(err.msg, ".libs/sink-unresolved.so", "  ... naming the shared object dlopen tried");
    q = NULL;
    err.msg[0] = '\0';
    is_int(spw__loader_open_file(module_path("sink-unresolved"), &q, &err), SPW_ERR_IO,
           "  ... and again on a second try (nothing of it stayed loaded)");
    ok(q == NULL, "  ... with no descriptor handed out");

    char missing[4300];
    snprintf(missing, sizeof missing, "%s/sink-absent.la", plugdir);
    is_int(spw__loader_open_file(missing, &q, &err), SPW_ERR_NOTFOUND, "a missing file is refused");
    has_str(err.msg, missing, "  ... naming it");
    snprintf(missing, sizeof missing, "%s/sink-goodtest", plugdir);
    q = NULL;
    is_int(spw__loader_open_file(missing, &q, &err), SPW_OK,
           "a path without extension finds the .la: %s", err.msg);
    ok(q == p, "  ... the same plugin");
    is_int(spw__loader_open_file("", &q, &err), SPW_ERR_INVAL, "an empty path is refused");
}

/* ---------------------------------------------------------------------- */
/* Search path                                                             */
/* ---------------------------------------------------------------------- */

static void test_find(void) {
    const spw_plugin *p = NULL, *q = NULL;
    spw_err err = {{0}};

    is_int(spw__loader_find(SPW_KIND_SINK, "goodtest", &p, &err), SPW_OK, "find sink goodtest: %s",
           err.msg);
    ok(p && p->kind == SPW_KIND_SINK && !strcmp(p->name, "goodtest"), "  ... the right descriptor");
    is_int(spw__loader_find(SPW_KIND_SINK, "goodtest", &q, &err), SPW_OK, "find it again");
    ok(p == q, "  ... the same descriptor");
    is_int(spw__loader_find(SPW_KIND_SOURCE, "goodtest", &q, &err), SPW_OK, "find source goodtest");
    ok(q && q != p && q->kind == SPW_KIND_SOURCE, "  ... a different plugin");

    is_int(spw__loader_find(SPW_KIND_SINK, "nosuch", &q, &err), SPW_ERR_NOTFOUND,
           "find sink nosuch fails");
    has_str(err.msg, "no sink plugin 'nosuch': searched ", "  ... naming kind and name");
    has_str(err.msg, "(file not found: sink-nosuch.la or .so)", "  ... and the module");
    const char *a = strstr(err.msg, "/nonexistent-spw-cli");
    const char *b = strstr(err.msg, plugdir);
    const char *c = strstr(err.msg, "/nonexistent-spw-env-a");
    const char *d = strstr(err.msg, "/nonexistent-spw-env-b");
    const char *e = strstr(err.msg, "/nonexistent-spw-installed");
    ok(a && b && c && d && e && a < b && b < c && c < d && d < e,
       "  ... listing --plugin-dir, then SPILLWAY_PLUGIN_PATH, then SPILLWAY_PLUGIN_DIR");
    ok(!strstr(err.msg, SPW_PLUGIN_DIR), "  ... which replaced the installed directory " SPW_PLUGIN_DIR);
    diag("%s", err.msg);

    is_int(spw__loader_find(SPW_KIND_SINK, "abimajor", &q, &err), SPW_ERR_ABI,
           "find a broken plugin");
    has_str(err.msg, module_path("sink-abimajor"), "  ... names its file");
    is_int(spw__loader_find(SPW_KIND_FILTER, "goodtest", &q, &err), SPW_ERR_NOTFOUND,
           "a name is looked up within its kind");
    is_int(spw__loader_find(SPW_KIND_SINK, "../sink-goodtest", &q, &err), SPW_ERR_INVAL,
           "a name with a path in it is refused");
    is_int(spw__loader_find(SPW_KIND_SINK, "", &q, &err), SPW_ERR_INVAL,
           "an empty name is refused");
    is_int(spw__loader_find((spw_kind)7, "goodtest", &q, &err), SPW_ERR_INVAL,
           "an unknown kind is refused");

    is_int(spw__loader_find_any("goodtest", &q, &err), SPW_ERR_INVAL,
           "find_any goodtest is ambiguous");
    has_str(err.msg, "source-goodtest", "  ... listing the source");
    has_str(err.msg, "sink-goodtest", "  ... and the sink");
    q = NULL;
    is_int(spw__loader_find_any("sink-goodtest", &q, &err), SPW_OK, "find_any sink-goodtest");
    ok(q == p, "  ... the sink");
    is_int(spw__loader_find_any("namemismatch", &q, &err), SPW_ERR_INVAL,
           "find_any of a single broken module reports its error");
    has_str(err.msg, "sink 'other'", "  ... which is the open error");
    is_int(spw__loader_find_any("nosuch", &q, &err), SPW_ERR_NOTFOUND, "find_any nosuch");
    has_str(err.msg, "'nosuch'", "  ... naming it");
    is_int(spw__loader_find_any("sink-nosuch", &q, &err), SPW_ERR_NOTFOUND, "find_any sink-nosuch");
    has_str(err.msg, "no sink plugin 'nosuch'", "  ... read as KIND-NAME");
    is_int(spw__loader_find_any("a/b", &q, &err), SPW_ERR_INVAL, "find_any refuses a path");
}

/* Runs spw__loader_list, capturing stdout-side output and stderr. */
static int run_list(char **out, char **errtext) {
    size_t out_len = 0;
    FILE *o = open_memstream(out, &out_len);
    FILE *e = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(e), 2);
    int n = spw__loader_list(o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(o);
    long len = ftell(e);
    rewind(e);
    *errtext = calloc(1, (size_t)len + 1);
    if (fread(*errtext, 1, (size_t)len, e) != (size_t)len)
        diag("short read of captured stderr");
    fclose(e);
    return n;
}

/* The column `word` starts at on the line beginning with `prefix`. */
static long column_of(const char *text, const char *prefix, const char *word) {
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            const char *w = strstr(line, word);
            const char *end = strchr(line, '\n');
            return w && (!end || w < end) ? (long)(w - line) : -1;
        }
    }
    return -1;
}

/*
 * `spillway --check` is spw__pipeline_load: a plugin with an unresolved
 * symbol must stop it, with the file, line, section and key of the
 * pipeline and the symbol dlopen could not find.
 */
static void test_check_unresolved(void) {
    spw__pipeline *p = NULL;
    spw_err err = {{0}};
    const char *text = "[sink.u]\nplugin = unresolved\ncodec = c\n\n[codec.c]\nplugin = json\n";
    spw_result r = spw__pipeline_load("unresolved.ini", text, &p, &err);
    ok(r != SPW_OK && p == NULL, "--check refuses a pipeline naming a plugin with an unresolved symbol");
    has_str(err.msg, "unresolved.ini:2: [sink.u] key 'plugin'", "  ... naming file, line, section and key");
    has_str(err.msg, "spw_does_not_exist", "  ... and the missing symbol");
    diag("%s", err.msg);
    spw__pipeline_free(p);
}

static void test_list(void) {
    char *out = NULL, *errs = NULL;
    int n = run_list(&out, &errs);
    ok(n >= 3, "list finds at least the three loadable test plugins (%d)", n);
    has_str(out, "sink    goodtest", "  ... sink goodtest, aligned to the widest kind");
    has_str(out, "source  goodtest", "  ... source goodtest");
    has_str(out, "a valid sink for the loader tests", "  ... with descriptions");
    ok(column_of(out, "sink ", "0.0.1-test") == column_of(out, "source ", "0.0.2-test") &&
           column_of(out, "sink ", "0.0.1-test") > 0,
       "  ... versions in one column");
    ok(!strstr(out, "abimajor"), "  ... a broken plugin is not in the listing");
    has_str(errs, "sink-abimajor.la: built for plugin ABI", "  ... but on stderr with its reason");
    has_str(errs, "sink-nodescriptor.la: not a spillway plugin", "  ... every broken one");
    has_str(errs, "filter-wrongkind.la", "  ... including a mis-named one");
    has_str(errs, "undefined symbol: spw_does_not_exist", "  ... and one with an unresolved symbol");
    diag("stdout:\n%s", out);
    free(out);
    free(errs);
}

/*
 * First directory wins: a directory ahead of tests/plugins holding a
 * "sink-goodtest.so" that is really the abimajor module hides the good one
 * from both find and list.
 */
static void test_first_dir_wins(void) {
    char tmpl[] = "/tmp/spw-loader-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    if (!tmp) {
        ok(0, "mkdtemp");
        return;
    }
    char link[4200], target[4300];
    snprintf(link, sizeof link, "%s/sink-goodtest.so", tmp);
    snprintf(target, sizeof target, "%s/.libs/sink-abimajor.so", plugdir);
    ok(symlink(target, link) == 0, "shadowing sink-goodtest in %s", tmp);

    spw__loader_exit();
    const char *dirs[] = {tmp, plugdir};
    spw_err err = {{0}};
    is_int(spw__loader_init(dirs, 2, &err), SPW_OK, "re-initialise with the shadow first: %s",
           err.msg);
    const spw_plugin *p = NULL;
    is_int(spw__loader_find(SPW_KIND_SINK, "goodtest", &p, &err), SPW_ERR_ABI,
           "find takes the first directory's copy");
    has_str(err.msg, link, "  ... and names it");

    char *out = NULL, *errs = NULL;
    run_list(&out, &errs);
    ok(!strstr(out, "sink    goodtest"), "list does not fall back to the later sink-goodtest");
    has_str(out, "source  goodtest", "  ... but still lists the rest");
    has_str(errs, link, "  ... and reports the shadowing copy");
    free(out);
    free(errs);
    unlink(link);
    rmdir(tmp);
}

/*
 * A .la whose shared object is neither in .libs/ nor beside it: libltdl
 * says only "file not found". (Its own directory: libltdl remembers every
 * file it opened by name, so a dir used before could answer from memory.)
 */
static void test_orphan_la(void) {
    char tmpl[] = "/tmp/spw-loader-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    if (!tmp) {
        ok(0, "mkdtemp");
        return;
    }
    const spw_plugin *p = NULL;
    spw_err err = {{0}};
    char la[4200], src[4300];
    snprintf(la, sizeof la, "%s/sink-orphan.la", tmp);
    snprintf(src, sizeof src, "%s/sink-goodtest.la", plugdir);
    FILE *in = fopen(src, "r"), *copy = fopen(la, "w");
    int ch;
    while (in && copy && (ch = fgetc(in)) != EOF)
        fputc(ch, copy);
    if (in)
        fclose(in);
    if (copy)
        fclose(copy);
    is_int(spw__loader_open_file(la, &p, &err), SPW_ERR_IO,
           "a .la without its shared object is refused");
    has_str(err.msg, la, "  ... naming it");
    has_str(err.msg, "is its shared object built?", "  ... with a hint beyond libltdl's message");
    diag("%s", err.msg);

    unlink(la);
    rmdir(tmp);
}

static void test_lifecycle(void) {
    spw_err err = {{0}};
    const spw_plugin *p = NULL;
    is_int(spw__loader_find(SPW_KIND_SINK, "goodtest", &p, &err), SPW_ERR_STATE,
           "find before init is refused");
    is_int(spw__loader_open_file(module_path("sink-goodtest"), &p, &err), SPW_ERR_STATE,
           "open_file before init is refused");

    const char *dirs[] = {"/nonexistent-spw-cli/", plugdir, "", plugdir};
    setenv("SPILLWAY_PLUGIN_PATH", "/nonexistent-spw-env-a::/nonexistent-spw-env-b:", 1);
    /* Whatever is installed in the configured prefix must not show up in these tests. */
    setenv("SPILLWAY_PLUGIN_DIR", "/nonexistent-spw-installed", 1);
    is_int(spw__loader_init(dirs, 4, &err), SPW_OK, "init: %s", err.msg);
    is_int(spw__loader_init(dirs, 4, &err), SPW_ERR_STATE, "a second init is refused");
}

/* The search path as a failed find reports it, after a fresh init from the environment alone. */
static void searched_with(char *msg, size_t cap) {
    spw__loader_exit();
    spw_err err = {{0}};
    const spw_plugin *p = NULL;
    if (spw__loader_init(NULL, 0, &err) != SPW_OK ||
        spw__loader_find(SPW_KIND_SINK, "nosuch", &p, &err) != SPW_ERR_NOTFOUND)
        diag("unexpected: %s", err.msg);
    snprintf(msg, cap, "%s", err.msg);
    diag("%s", msg);
}

/*
 * The installed directory is searched by default, and SPILLWAY_PLUGIN_DIR
 * replaces it rather than adding a directory: set but empty, nothing
 * installed is searched at all (make check sets it so).
 */
static void test_installed_dir(void) {
    char msg[SPW_ERR_MSG_MAX];
    unsetenv("SPILLWAY_PLUGIN_PATH");

    unsetenv("SPILLWAY_PLUGIN_DIR");
    searched_with(msg, sizeof msg);
    has_str(msg, "searched " SPW_PLUGIN_DIR " (", "by default the installed directory is searched");

    setenv("SPILLWAY_PLUGIN_DIR", plugdir, 1);
    searched_with(msg, sizeof msg);
    has_str(msg, plugdir, "SPILLWAY_PLUGIN_DIR is searched");
    ok(!strstr(msg, SPW_PLUGIN_DIR), "  ... instead of the installed directory");

    setenv("SPILLWAY_PLUGIN_DIR", "", 1);
    searched_with(msg, sizeof msg);
    has_str(msg, "searched (no directories)", "SPILLWAY_PLUGIN_DIR empty: no installed directory");
}

int main(void) {
    const char *top = getenv("top_builddir");
    snprintf(plugdir, sizeof plugdir, "%s/tests/plugins", top && *top ? top : ".");
    snprintf(abi_now, sizeof abi_now, "%d.%d", SPW_ABI_MAJOR, SPW_ABI_MINOR);
    struct stat st;
    if (stat(module_path("sink-goodtest"), &st) != 0) {
        printf("Bail out! %s is missing (run through make check, which builds it)\n",
               module_path("sink-goodtest"));
        return 1;
    }

    test_check_abi();
    test_check_reads_header_first();
    test_check_fields();
    test_check_core_keys();

    test_lifecycle();
    test_open_file();
    test_find();
    test_check_unresolved();
    test_list();
    test_first_dir_wins();
    test_orphan_la();
    test_installed_dir();

    spw__loader_exit();
    spw__loader_exit(); /* harmless twice */
    return tap_done();
}
