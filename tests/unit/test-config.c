/*
 * tests/unit/test-config.c: reading pipeline files (core/config.c): the
 * INI dialect as inih and our reader give it, line numbers, section and
 * key names, limits, ${env:...} interpolation, and every error message
 * naming file, line, section and key.
 *
 * Inputs are written by the test into a private temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "../tap.h"

static char tmpdir[256];

/* Writes `len` bytes into tmpdir/name and returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *data, size_t len) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        diag("cannot write %s", p);
        exit(99);
    }
    return p;
}

/* Loads text (as "pipe.ini") expecting failure; returns the message. */
static const char *load_fail(const char *text, spw_result want) {
    static spw_err err;
    spw__cfg_file *f = (spw__cfg_file *)1;
    memset(&err, 0, sizeof err);
    spw_result rc = spw__cfg_load_string(text, "pipe.ini", &f, &err);
    ok(rc == want, "fails with %s (got %s): %s", spw_result_str(want), spw_result_str(rc),
       err.msg);
    ok(f == NULL, "no file on failure");
    if (rc == SPW_OK)
        spw__cfg_free(f);
    return err.msg;
}

static spw__cfg_file *load_ok(const char *text) {
    spw_err err = {{0}};
    spw__cfg_file *f = NULL;
    spw_result rc = spw__cfg_load_string(text, "pipe.ini", &f, &err);
    ok(rc == SPW_OK && f, "loads: %s", rc == SPW_OK ? "ok" : err.msg);
    return f;
}

static const char *interp_fail(const char *in) {
    static spw_err err;
    char *out = (char *)1;
    memset(&err, 0, sizeof err);
    spw_result rc = spw__cfg_interpolate(in, &out, &err);
    ok(rc == SPW_ERR_CONFIG, "interpolating fails: %s", err.msg);
    ok(out == NULL, "no output on failure");
    return err.msg;
}

static void interp_is(const char *in, const char *want, const char *what) {
    spw_err err = {{0}};
    char *out = NULL;
    spw_result rc = spw__cfg_interpolate(in, &out, &err);
    ok(rc == SPW_OK, "%s: interpolates (%s)", what, rc == SPW_OK ? "ok" : err.msg);
    is_str(out, want, "%s", what);
    free(out);
}

static void test_dialect(void) {
    spw__cfg_file *f = load_ok(
        "; a comment\n"
        "# another comment\n"
        "\n"
        "[pipeline]\n"
        "name = search\n"
        "   workers = 2\n"                         /* indented: a key, not a continuation */
        "empty =\n"
        "inline = value ; a comment\n"
        "tabbed = value\t; a comment\n"
        "semi = a;b\n"                             /* ';' without a blank before: kept */
        "hash = a # b\n"                           /* '#' is only a comment at line start */
        "colon: yes\n"                             /* inih's name: value form */
        "quoted = \"kept as is\"\n"
        "eq = a = b\n"
        "  ; indented comment\n"
        "[source.xdr] ; comment after a header\n"
        "[sink.Es_1-x]\n"
        "k = 1\n"
        "k = 2\n");
    if (!f)
        return;
    is_str(f->path, "pipe.ini", "path kept");
    is_int(f->n_sections, 3, "3 sections, the empty one included");
    spw__cfg_section *p = &f->sections[0];
    is_str(p->title, "pipeline", "title");
    is_str(p->kind, "pipeline", "kind");
    ok(p->name == NULL, "no name without a dot");
    is_int(p->line, 4, "section line");
    is_int(p->n_keys, 10, "10 keys in [pipeline]");
    is_str(p->keys[0].key, "name", "key");
    is_str(p->keys[0].value, "search", "value trimmed");
    is_int(p->keys[0].line, 5, "key line");
    is_int(p->keys[0].used, 0, "not used yet");
    is_str(p->keys[1].key, "workers", "indented key");
    is_int(p->keys[1].line, 6, "indented key line");
    is_str(p->keys[2].value, "", "empty value");
    is_str(p->keys[3].value, "value", "inline ; comment stripped");
    is_str(p->keys[4].value, "value", "inline ; comment after a tab stripped");
    is_str(p->keys[5].value, "a;b", "; without a blank before it is kept");
    is_str(p->keys[6].value, "a # b", "# inside a value is kept");
    is_str(p->keys[7].key, "colon", "name: value accepted");
    is_str(p->keys[7].value, "yes", "name: value value");
    is_str(p->keys[8].value, "\"kept as is\"", "quotes are not removed");
    is_str(p->keys[9].key, "eq", "first '=' separates");
    is_str(p->keys[9].value, "a = b", "later '=' belong to the value");
    spw__cfg_section *x = &f->sections[1];
    is_str(x->kind, "source", "kind of source.xdr");
    is_str(x->name, "xdr", "name of source.xdr");
    is_int(x->n_keys, 0, "empty section kept");
    is_int(x->line, 16, "its line");
    spw__cfg_section *s = &f->sections[2];
    is_str(s->name, "Es_1-x", "names may use letters of both cases, digits, _ and -");
    is_int(s->n_keys, 2, "duplicate keys kept (options.c decides)");
    is_str(s->keys[1].value, "2", "in file order");
    is_int(s->keys[1].line, 19, "with their own line");
    ok(spw__cfg_find(f, "source.xdr") == x, "find by title");
    ok(spw__cfg_find(f, "source") == NULL, "find needs the whole title");
    ok(spw__cfg_find(f, "nope") == NULL, "find misses");
    ok(spw__cfg_find(NULL, "x") == NULL, "find in NULL");
    spw__cfg_free(f);
    spw__cfg_free(NULL);

    f = load_ok("\xEF\xBB\xBF[a]\r\nk = v\r\n\r\nj = w");
    if (f) {
        is_str(f->sections[0].title, "a", "BOM skipped");
        is_str(f->sections[0].keys[0].value, "v", "CRLF: no \\r in the value");
        is_int(f->sections[0].keys[1].line, 4, "CRLF lines counted");
        is_str(f->sections[0].keys[1].value, "w", "last line without a newline");
        spw__cfg_free(f);
    }
    f = load_ok("");
    if (f) {
        is_int(f->n_sections, 0, "an empty file has no sections");
        spw__cfg_free(f);
    }
    f = load_ok("; only comments\n\n");
    if (f) {
        is_int(f->n_sections, 0, "comments only");
        spw__cfg_free(f);
    }
}

static void test_long_lines(void) {
    /* Comment lines may be of any length and do not disturb line numbers. */
    char *text = malloc(4096);
    strcpy(text, "[a]\n;");
    memset(text + 5, 'c', 1000);
    strcpy(text + 1005, "\nk = v\n");
    spw__cfg_file *f = load_ok(text);
    if (f) {
        is_int(f->sections[0].keys[0].line, 3, "line after a long comment");
        spw__cfg_free(f);
    }
    /* A section header longer than inih's names is fine: we parse it. */
    strcpy(text, "[sink.");
    memset(text + 6, 'n', 300);
    strcpy(text + 306, "]\nk = v\n");
    f = load_ok(text);
    if (f) {
        is_int(strlen(f->sections[0].name), 300, "a long section name is not truncated");
        spw__cfg_free(f);
    }
    /* A long key is not truncated (inih would cut it at 49 characters). */
    strcpy(text, "[a]\n");
    memset(text + 4, 'k', 60);
    strcpy(text + 64, " = v\n");
    f = load_ok(text);
    if (f) {
        is_int(strlen(f->sections[0].keys[0].key), 60, "a 60-character key is whole");
        spw__cfg_free(f);
    }
    /* A key line inih cannot hold is refused, not silently split. */
    strcpy(text, "[a]\nk = v\nlong = ");
    size_t n = strlen(text);
    memset(text + n, 'v', 300);
    strcpy(text + n + 300, "\n");
    const char *m = load_fail(text, SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:3: line is longer than", "long line: file and line");
    has_str(m, "${env:NAME}", "long line: says how to get around it");
    free(text);
}

static void test_syntax_errors(void) {
    const char *m;
    m = load_fail("[a]\nk = v\njust words\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:3: syntax error (expected '[section]', 'key = value' or a comment)",
           "line without '='");
    m = load_fail("[a]\nk ; comment = v\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: syntax error", "inline comment before '='");
    m = load_fail("[a]\nk = v\n[b\nj = w\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:3: syntax error", "header without ']'");
    has_str(m, "']'", "says what is missing");
    m = load_fail("[a]x\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:1: unexpected text after the section header", "junk after ']'");
    /* inih keeps going after a syntax error; the first error is the one reported. */
    m = load_fail("[a]\nbad line\nK = v\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: syntax error", "earliest error wins over a later key error");
    m = load_fail("[a]\nK = v\nbad line\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: [a] key 'K'", "earliest error wins over a later syntax error");
    /* Indented text is not a continuation of the previous value. */
    m = load_fail("[a]\nk = one\n  two\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:3: syntax error", "no multi-line values");
}

static void test_section_errors(void) {
    const char *m;
    m = load_fail("k = v\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:1: key 'k' is outside any section (add a [section] header above it)",
           "key before any section");
    m = load_fail("; c\n\nurl = http://x\n[a]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:3: key 'url' is outside", "key before any section, line 3");
    m = load_fail("[a]\n[]\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:2: empty section header '[]'", "[]");
    m = load_fail("[Sink.es]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [Sink.es]: the kind 'Sink' must", "uppercase kind");
    m = load_fail("[sink2]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [sink2]", "digit in kind");
    m = load_fail("[.es]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [.es]: the kind before '.' is empty", "empty kind");
    m = load_fail("[sink.]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [sink.]: the name after '.' is empty", "empty name");
    m = load_fail("[sink.a.b]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [sink.a.b]: the name", "dot in name");
    m = load_fail("[sink.a b]\n", SPW_ERR_CONFIG);
    has_str(m, "invalid section [sink.a b]", "blank in name");
    m = load_fail("[ sink ]\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:1: invalid section [ sink ]", "blanks inside the brackets");
    m = load_fail("[sink.es]\nk = 1\n[sink.x]\n\n[sink.es]\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:5: duplicate section [sink.es] (first at line 1)",
           "duplicate section names both lines");
}

static void test_key_errors(void) {
    const char *m;
    m = load_fail("[sink.es]\nURL = x\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:2: [sink.es] key 'URL': keys are lowercase; write 'url'",
           "uppercase key with a hint");
    m = load_fail("[sink.es]\nBatch_Max = x\n", SPW_ERR_CONFIG);
    has_str(m, "write 'batch_max'", "mixed case hint");
    m = load_fail("[sink.es]\na.b = x\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: [sink.es] invalid key 'a.b'", "dot in key");
    m = load_fail("[sink.es]\nmy key = x\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: [sink.es] invalid key 'my key'", "blank in key");
    m = load_fail("[sink.es]\n= x\n", SPW_ERR_CONFIG);
    is_str(m, "pipe.ini:2: [sink.es] missing key name before '='", "empty key");
}

static void test_interpolate(void) {
    setenv("SPW_T_SET", "hello", 1);
    setenv("SPW_T_EMPTY", "", 1);
    setenv("SPW_T_DOLLAR", "${env:SPW_T_SET}$$", 1);
    unsetenv("SPW_T_UNSET");
    interp_is("plain", "plain", "no references");
    interp_is("", "", "empty");
    interp_is("a$$b", "a$b", "$$ is a literal $");
    interp_is("$$$$", "$$", "two escapes");
    interp_is("price$5 and $", "price$5 and $", "a lone $ is literal");
    interp_is("${env:SPW_T_SET}", "hello", "variable");
    interp_is("<${env:SPW_T_SET}|${env:SPW_T_SET}>", "<hello|hello>", "two references");
    interp_is("${env:SPW_T_EMPTY}", "", "set but empty");
    interp_is("${env:SPW_T_UNSET:-fallback}", "fallback", "default when unset");
    interp_is("${env:SPW_T_EMPTY:-fallback}", "fallback", "default when empty");
    interp_is("${env:SPW_T_SET:-fallback}", "hello", "default unused when set");
    interp_is("${env:SPW_T_UNSET:-}", "", "empty default");
    interp_is("${env:SPW_T_UNSET:-a b:c-$d}", "a b:c-$d", "default is literal text");
    interp_is("${env:SPW_T_DOLLAR}", "${env:SPW_T_SET}$$", "values are not interpolated again");

    const char *m;
    m = interp_fail("x${env:SPW_T_UNSET}");
    has_str(m, "environment variable 'SPW_T_UNSET' is not set", "unset names the variable");
    interp_is("/${namespace}/${set}?k=${key}", "/${namespace}/${set}?k=${key}",
              "plugin templates ${name} pass through");
    m = interp_fail("${SPW-T}");
    has_str(m, "unsupported '${' at character 1", "${ with a name that is neither env: nor a template");
    m = interp_fail("ab${file:x}");
    has_str(m, "at character 3", "position of the bad reference");
    m = interp_fail("${env:}");
    has_str(m, "missing variable name", "empty name");
    m = interp_fail("${env:1X}");
    has_str(m, "starts with a digit", "name starting with a digit");
    m = interp_fail("${env:SPW_T_SET");
    has_str(m, "unterminated '${'", "no closing brace");
    m = interp_fail("${env:SPW_T_SET:-abc");
    has_str(m, "unterminated '${'", "no closing brace after a default");
    m = interp_fail("${env:SPW-X}");
    has_str(m, "malformed", "bad character in the name");
    m = interp_fail("${env:X:+y}");
    has_str(m, "malformed", ":+ is not supported");
    m = interp_fail("${env:X:-${env:Y}}");
    has_str(m, "nested '${'", "nested reference in a default");
    {
        /* A plugin template in a default passes through for the plugin. */
        char *o = NULL;
        spw_err e2;
        ok(spw__cfg_interpolate("${env:SPW_T_UNSET_IDX:-logs-${namespace}-${set}}-x", &o, &e2) == SPW_OK &&
               o && !strcmp(o, "logs-${namespace}-${set}-x"),
           "a plugin template inside a default is kept (%s)", o ? o : e2.msg);
        free(o);
    }
    m = interp_fail("${");
    has_str(m, "unsupported", "a bare ${");
    m = interp_fail("secret-value-${");
    ok(strstr(m, "secret-value") == NULL, "the value is never quoted back");

    /* 64 KiB bound on the result. */
    char *big = malloc(65537 + 1);
    memset(big, 'x', 65537);
    big[65536] = '\0';
    setenv("SPW_T_BIG", big, 1);
    char *out = NULL;
    spw_err err = {{0}};
    ok(spw__cfg_interpolate("${env:SPW_T_BIG}", &out, &err) == SPW_OK, "exactly 64 KiB is fine");
    ok(out && strlen(out) == 65536, "all of it");
    free(out);
    m = interp_fail("x${env:SPW_T_BIG}");
    has_str(m, "longer than 65536 bytes after interpolation", "one byte more is not");
    free(big);

    ok(spw__cfg_interpolate(NULL, &out, &err) == SPW_ERR_INVAL, "NULL input");
}

static void test_interpolate_in_file(void) {
    setenv("SPW_T_URL", "http://es:9200", 1);
    spw__cfg_file *f = load_ok("[sink.es]\nurl = ${env:SPW_T_URL}/_bulk\nidx = a-$${set}\n");
    if (f) {
        is_str(f->sections[0].keys[0].value, "http://es:9200/_bulk", "interpolated in a file");
        is_str(f->sections[0].keys[1].value, "a-${set}", "$$ keeps a ${ for plugins");
        spw__cfg_free(f);
    }
    const char *m = load_fail("[sink.es]\n\nurl = ${env:SPW_T_UNSET}\n", SPW_ERR_CONFIG);
    is_str(m,
           "pipe.ini:3: [sink.es] key 'url': environment variable 'SPW_T_UNSET' is not set "
           "(write ${env:SPW_T_UNSET:-default} to give a default)",
           "unset variable: file, line, section, key, variable");
    m = load_fail("[sink.es]\nindex = aerospike-${name space}\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: [sink.es] key 'index': unsupported '${'", "malformed ${ in a file");
    has_str(m, "$$", "suggests $$");
    m = load_fail("[a]\nk = ${env:SPW_T_BIG}${env:SPW_T_BIG}\n", SPW_ERR_CONFIG);
    has_str(m, "pipe.ini:2: [a] key 'k': the value is longer than 65536 bytes", "value bound");
}

static void test_files(void) {
    spw_err err = {{0}};
    spw__cfg_file *f = NULL;
    const char *path = write_file("ok.ini", "[pipeline]\nname = x\n", 20);
    ok(spw__cfg_load(path, &f, &err) == SPW_OK, "loads a file: %s", err.msg);
    if (f) {
        is_str(f->path, path, "keeps the path");
        is_str(f->sections[0].keys[0].value, "x", "reads it");
        spw__cfg_free(f);
    }

    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.ini", tmpdir);
    f = (spw__cfg_file *)1;
    ok(spw__cfg_load(missing, &f, &err) == SPW_ERR_IO, "missing file");
    ok(f == NULL, "no file");
    has_str(err.msg, missing, "names the path");
    has_str(err.msg, "No such file", "and why");

    ok(spw__cfg_load(tmpdir, &f, &err) == SPW_ERR_IO, "a directory");
    has_str(err.msg, tmpdir, "names the path");

    path = write_file("syntax.ini", "[a]\nnope\n", 9);
    ok(spw__cfg_load(path, &f, &err) == SPW_ERR_CONFIG, "syntax error in a file");
    char want[700];
    snprintf(want, sizeof want, "%s:2: syntax error", path);
    has_str(err.msg, want, "PATH:LINE in the message");

    path = write_file("nul.ini", "[a]\nk = v\nj = a\0b\n", 17);
    ok(spw__cfg_load(path, &f, &err) == SPW_ERR_CONFIG, "NUL byte");
    snprintf(want, sizeof want, "%s:3: NUL byte", path);
    has_str(err.msg, want, "names its line");

    /* Exactly 1 MiB is accepted, one byte more is not. */
    size_t mib = (size_t)1 << 20;
    char *big = malloc(mib + 1);
    memset(big, '\n', mib + 1);
    memcpy(big, "[a]\nk = v\n", 10);
    path = write_file("1mib.ini", big, mib);
    ok(spw__cfg_load(path, &f, &err) == SPW_OK, "a 1 MiB file loads: %s", err.msg);
    spw__cfg_free(f);
    path = write_file("big.ini", big, mib + 1);
    ok(spw__cfg_load(path, &f, &err) == SPW_ERR_CONFIG, "a larger file does not");
    has_str(err.msg, "larger than 1 MiB", "says why");
    has_str(err.msg, path, "names the path");
    big[mib] = '\0';
    ok(spw__cfg_load_string(big, "s.ini", &f, &err) == SPW_OK, "a 1 MiB string loads: %s",
       err.msg);
    spw__cfg_free(f);
    char *bigger = malloc(mib + 2);
    memcpy(bigger, big, mib);
    bigger[mib] = '\n';
    bigger[mib + 1] = '\0';
    ok(spw__cfg_load_string(bigger, "s.ini", &f, &err) == SPW_ERR_CONFIG, "a larger one not");
    has_str(err.msg, "s.ini: the configuration is larger than 1 MiB", "says why");
    free(bigger);
    free(big);

    ok(spw__cfg_load(NULL, &f, &err) == SPW_ERR_INVAL, "NULL path");
    ok(spw__cfg_load_string(NULL, "x", &f, &err) == SPW_ERR_INVAL, "NULL text");
    ok(spw__cfg_load_string("[a]\n", NULL, &f, &err) == SPW_OK, "NULL path for a string");
    if (f)
        is_str(f->path, "(string)", "gets a placeholder name");
    spw__cfg_free(f);
}

static void cleanup(void) {
    static const char *names[] = {"ok.ini", "syntax.ini", "nul.ini", "1mib.ini", "big.ini"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/spw-test-config-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }
    test_dialect();
    test_long_lines();
    test_syntax_errors();
    test_section_errors();
    test_key_errors();
    test_interpolate();
    test_interpolate_in_file();
    test_files();
    cleanup();
    return tap_done();
}
