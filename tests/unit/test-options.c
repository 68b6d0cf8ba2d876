/*
 * tests/unit/test-options.c: typing keys against option tables
 * (core/options.c): the value parsers, defaults, every type and unit,
 * lists that append, secrets from NAME_file, every error message (file,
 * line, section, key, and never a secret), table checks on bad plugin
 * tables, the --help-plugin listing, and option groups (SPW_OPTION_HTTP).
 *
 * Pipeline files and secret files are written by the test into a private
 * temporary directory.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spillway/http.h>
#include "options.h"
#include "../tap.h"

static char tmpdir[256];

typedef struct conf {
    bool flag;
    int64_t count;
    double ratio;
    char *name;
    int64_t timeout;
    int64_t buffer;
    int mode;
    spw_strlist hosts;
    char *url;
    char *token;
    int64_t pin;
    spw_strlist keys;
} conf;

#define O(f) offsetof(conf, f)
static const spw_option opts[] = {
    {"flag", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, O(flag), "Turns it on."},
    {"count", SPW_OPT_INT, 0, "10", 1, 100, NULL, O(count), "How many."},
    {"ratio", SPW_OPT_DOUBLE, 0, "0.5", 0, 1, NULL, O(ratio), "A fraction."},
    {"name", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, O(name), "A name."},
    {"timeout", SPW_OPT_DURATION, 0, "5s", 1, 3600000, NULL, O(timeout), "How long."},
    {"buffer", SPW_OPT_SIZE, 0, "64KiB", 1024, 1 << 30, NULL, O(buffer), "How big."},
    {"mode", SPW_OPT_ENUM, 0, "safe", 0, 0, "fast|safe|paranoid", O(mode), "How careful."},
    {"hosts", SPW_OPT_LIST, 0, "a, b", 1, 4, NULL, O(hosts), "Where."},
    {"url", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, O(url), "Where to send."},
    {"token", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, O(token), "Credentials."},
    {"pin", SPW_OPT_INT, SPW_OPT_SECRET, NULL, 1000, 9999, NULL, O(pin), "A secret number."},
    {"keys", SPW_OPT_LIST, SPW_OPT_SECRET, NULL, 0, 0, NULL, O(keys), "Secret list."},
    SPW_OPTIONS_END,
};

/* A second table, as the core's own options of a sink would be. */
typedef struct core_conf {
    char *codec;
    int64_t batch_max_records;
} core_conf;
static const spw_option core_opts[] = {
    {"codec", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, offsetof(core_conf, codec),
     "Codec section."},
    {"batch_max_records", SPW_OPT_INT, 0, "500", 1, 10000, NULL,
     offsetof(core_conf, batch_max_records), "Records per request."},
    SPW_OPTIONS_END,
};

static const char *const ignore[] = {"plugin", NULL};

static spw__cfg_file *cfg;
static conf c;
static core_conf cc;
static spw_err err;

/* Writes data to tmpdir/name; returns the path (ring of static buffers). */
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

/*
 * Parses `text` (as the file "pipe.ini", or as a file in tmpdir when
 * in_dir) and types its section `title` with opts (plus core_opts when
 * with_core). The previous result is released first.
 */
static spw_result parse_in(const char *text, const char *title, bool with_core, bool in_dir) {
    spw__opts_free(opts, &c);
    spw__opts_free(core_opts, &cc);
    spw__cfg_free(cfg);
    cfg = NULL;
    memset(&c, 0x5a, sizeof c); /* garbage: parse must not rely on a zeroed struct */
    memset(&cc, 0x5a, sizeof cc);
    memset(&err, 0, sizeof err);
    spw_result rc;
    if (in_dir) {
        const char *p = write_file("pipe.ini", text, strlen(text));
        rc = spw__cfg_load(p, &cfg, &err);
    } else {
        rc = spw__cfg_load_string(text, "pipe.ini", &cfg, &err);
    }
    if (rc != SPW_OK) {
        diag("load failed: %s", err.msg);
        memset(&c, 0, sizeof c);
        memset(&cc, 0, sizeof cc);
        return rc;
    }
    spw__cfg_section *sec = spw__cfg_find(cfg, title);
    if (!sec) {
        diag("no section %s", title);
        exit(99);
    }
    if (!with_core)
        memset(&cc, 0, sizeof cc); /* untouched: keep it freeable */
    spw__opt_target t[2] = {{core_opts, &cc}, {opts, &c}};
    rc = with_core ? spw__opts_parse(cfg, sec, t, 2, ignore, &err)
                   : spw__opts_parse(cfg, sec, t + 1, 1, ignore, &err);
    if (rc != SPW_OK) {
        /* On failure the strings and lists must already be released and NULL. */
        ok(c.name == NULL && c.url == NULL && c.token == NULL && c.hosts.v == NULL &&
               c.hosts.n == 0 && c.keys.v == NULL && cc.codec == NULL,
           "failure leaves no strings or lists behind");
    }
    return rc;
}

static spw_result parse(const char *text) {
    return parse_in(text, "sink.es", false, false);
}

/* Expects a failure and returns its message. */
static const char *parse_fail(const char *text) {
    spw_result rc = parse(text);
    ok(rc == SPW_ERR_CONFIG, "fails: %s", err.msg);
    return err.msg;
}

static void test_bool(void) {
    static const char *const t[] = {"true", "yes", "on", "1", "TRUE", "Yes", "oN"};
    static const char *const f[] = {"false", "no", "off", "0", "FALSE", "No", "OFF"};
    bool b;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        b = false;
        ok(spw__parse_bool(t[i], &b) == SPW_OK && b, "bool '%s' is true", t[i]);
        b = true;
        ok(spw__parse_bool(f[i], &b) == SPW_OK && !b, "bool '%s' is false", f[i]);
    }
    static const char *const bad[] = {"", "2", "yess", " true", "true ", "y", "t", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(spw__parse_bool(bad[i], &b) == SPW_ERR_INVAL, "bool '%s' is rejected", bad[i]);
}

static void test_int(void) {
    int64_t v = 0;
    ok(spw__parse_int("0", &v) == SPW_OK && v == 0, "int 0");
    ok(spw__parse_int("-5", &v) == SPW_OK && v == -5, "int -5");
    ok(spw__parse_int("+7", &v) == SPW_OK && v == 7, "int +7");
    ok(spw__parse_int("007", &v) == SPW_OK && v == 7, "int 007 (leading zeros)");
    ok(spw__parse_int("9223372036854775807", &v) == SPW_OK && v == INT64_MAX, "int max");
    ok(spw__parse_int("-9223372036854775808", &v) == SPW_OK && v == INT64_MIN, "int min");
    ok(spw__parse_int("9223372036854775808", &v) == SPW_ERR_RANGE, "int overflow");
    ok(spw__parse_int("-9223372036854775809", &v) == SPW_ERR_RANGE, "int underflow");
    static const char *const bad[] = {"", "-", "+", "12x", "0x10", " 1", "1 ", "1.0", "1e3",
                                      "--1", "+-1", "one"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(spw__parse_int(bad[i], &v) == SPW_ERR_INVAL, "int '%s' is rejected", bad[i]);
}

static void test_double(void) {
    double d = 0;
    ok(spw__parse_double("1.5", &d) == SPW_OK && d == 1.5, "double 1.5");
    ok(spw__parse_double("-2e3", &d) == SPW_OK && d == -2000, "double -2e3");
    ok(spw__parse_double(".25", &d) == SPW_OK && d == 0.25, "double .25");
    ok(spw__parse_double("7", &d) == SPW_OK && d == 7, "double 7");
    ok(spw__parse_double("1e999", &d) == SPW_ERR_RANGE, "double overflow");
    ok(spw__parse_double("-1e999", &d) == SPW_ERR_RANGE, "double negative overflow");
    static const char *const bad[] = {"", "inf", "-inf", "nan", "NAN", "infinity", "0x1p3",
                                      "1.5x", " 1", "1 ", ".", "e5", "1e", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(spw__parse_double(bad[i], &d) == SPW_ERR_INVAL, "double '%s' is rejected", bad[i]);
}

static void test_duration(void) {
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {{"0", 0},        {"250ms", 250},   {"1500", 1500},   {"5s", 5000},
                {"2m", 120000},  {"1h", 3600000},  {"1.5s", 1500},   {"1.1s", 1100},
                {"0.25h", 900000}, {"5 s", 5000},  {"1.000s", 1000}, {"0.001s", 1},
                {"2562047788015h", (int64_t)2562047788015 * 3600000}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t v = -1;
        ok(spw__parse_duration_ms(good[i].s, &v) == SPW_OK && v == good[i].ms,
           "duration '%s' = %" PRId64 " ms (got %" PRId64 ")", good[i].s, good[i].ms, v);
    }
    static const char *const range[] = {"-1s", "-5", "0.5ms", "1.0001s", "9223372036854775808",
                                        "2562047788016h", "99999999999999999999ms"};
    int64_t v;
    for (size_t i = 0; i < sizeof range / sizeof *range; i++)
        ok(spw__parse_duration_ms(range[i], &v) == SPW_ERR_RANGE, "duration '%s' is out of range",
           range[i]);
    static const char *const bad[] = {"", "s", "5x", "5sec", "5S", "1.s", ".5s", "5 ", " 5s",
                                      "1.0000000001s", "5s5", "-", "+5s", "5ms s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(spw__parse_duration_ms(bad[i], &v) == SPW_ERR_INVAL, "duration '%s' is rejected",
           bad[i]);
}

static void test_size(void) {
    static const struct {
        const char *s;
        int64_t b;
    } good[] = {{"0", 0},
                {"512", 512},
                {"64k", 65536},
                {"64K", 65536},
                {"64KiB", 65536},
                {"1M", 1048576},
                {"1MiB", 1048576},
                {"1G", 1073741824},
                {"2GiB", 2147483648},
                {"1.5M", 1572864},
                {"64 KiB", 65536},
                {"8589934591G", (int64_t)8589934591 << 30}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t v = -1;
        ok(spw__parse_size(good[i].s, &v) == SPW_OK && v == good[i].b,
           "size '%s' = %" PRId64 " (got %" PRId64 ")", good[i].s, good[i].b, v);
    }
    static const char *const range[] = {"-1", "-1k", "0.1k", "8589934592G",
                                        "9223372036854775808"};
    int64_t v;
    for (size_t i = 0; i < sizeof range / sizeof *range; i++)
        ok(spw__parse_size(range[i], &v) == SPW_ERR_RANGE, "size '%s' is out of range", range[i]);
    static const char *const bad[] = {"", "k", "1T", "1KB", "1kb", "1m", "1mib", "1B", "0x10",
                                      "1 ", "1,5M"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(spw__parse_size(bad[i], &v) == SPW_ERR_INVAL, "size '%s' is rejected", bad[i]);
}

static void test_defaults(void) {
    memset(&c, 0x5a, sizeof c);
    ok(spw__opts_defaults(opts, &c, &err) == SPW_OK, "defaults apply: %s", err.msg);
    ok(c.flag == true, "bool default");
    is_int(c.count, 10, "int default");
    ok(c.ratio == 0.5, "double default");
    ok(c.name == NULL, "string without default is NULL");
    is_int(c.timeout, 5000, "duration default");
    is_int(c.buffer, 65536, "size default");
    is_int(c.mode, 1, "enum default is the index of 'safe'");
    is_int(c.hosts.n, 2, "list default");
    if (c.hosts.n == 2) {
        is_str(c.hosts.v[0], "a", "list default item 0");
        is_str(c.hosts.v[1], "b", "list default item 1 (trimmed)");
    }
    ok(c.url == NULL && c.token == NULL, "no default: NULL");
    is_int(c.pin, 0, "int without default is 0");
    ok(c.keys.n == 0 && c.keys.v == NULL, "list without default is empty");
    spw__opts_free(opts, &c);
    ok(c.hosts.n == 0 && c.hosts.v == NULL, "free empties lists");
    spw__opts_free(opts, &c); /* twice is harmless */
    spw__opts_free(NULL, &c);
    ok(spw__opts_defaults(NULL, &c, &err) == SPW_OK, "a NULL table has no defaults");

    /* An unchecked table with a bad default fails and leaves nothing allocated. */
    struct {
        char *s;
        int64_t i;
    } b;
    static const spw_option bad[] = {
        {"s", SPW_OPT_STRING, 0, "x", 0, 0, NULL, 0, NULL},
        {"i", SPW_OPT_INT, 0, "ten", 0, 0, NULL, sizeof(char *), NULL},
        SPW_OPTIONS_END,
    };
    ok(spw__opts_defaults(bad, &b, &err) == SPW_ERR_CONFIG, "bad default fails");
    is_str(err.msg, "option 'i': bad default: 'ten' is not an integer", "names option and value");
    ok(b.s == NULL, "and frees what it set");
}

static void test_parse_types(void) {
    setenv("SPW_T_COUNT", "42", 1);
    spw_result rc = parse("[sink.es]\n"
                          "plugin = elasticsearch\n"
                          "flag = off\n"
                          "count = ${env:SPW_T_COUNT}\n"
                          "ratio = 0.75\n"
                          "name = my name\n"
                          "timeout = 1.5s\n"
                          "buffer = 1MiB\n"
                          "mode = paranoid\n"
                          "hosts = x\n"
                          "url = http://es:9200\n"
                          "hosts = y , z\n"
                          "token = s3cr3t\n"
                          "pin = 1234\n");
    ok(rc == SPW_OK, "every type parses: %s", err.msg);
    ok(c.flag == false, "bool");
    is_int(c.count, 42, "int from the environment");
    ok(c.ratio == 0.75, "double");
    is_str(c.name, "my name", "string");
    is_int(c.timeout, 1500, "duration");
    is_int(c.buffer, 1048576, "size");
    is_int(c.mode, 2, "enum index");
    is_int(c.hosts.n, 3, "the first key replaces the default, the next appends");
    if (c.hosts.n == 3) {
        is_str(c.hosts.v[0], "x", "item 0");
        is_str(c.hosts.v[1], "y", "item 1 trimmed");
        is_str(c.hosts.v[2], "z", "item 2 trimmed");
    }
    is_str(c.url, "http://es:9200", "required string");
    is_str(c.token, "s3cr3t", "secret given inline");
    is_int(c.pin, 1234, "secret int");
    spw__cfg_section *sec = spw__cfg_find(cfg, "sink.es");
    is_int(sec->keys[0].used, 0, "ignored key not marked used");
    int used = 0;
    for (size_t i = 1; i < sec->n_keys; i++)
        used += sec->keys[i].used;
    is_int(used, (int)sec->n_keys - 1, "every consumed key marked used");

    rc = parse("[sink.es]\nurl = u\nname =\nhosts = q\n");
    ok(rc == SPW_OK, "defaults fill the rest: %s", err.msg);
    is_str(c.name, "", "an empty value is an empty string, not NULL");
    is_int(c.count, 10, "default int");
    is_int(c.hosts.n, 1, "list replaced");

    rc = parse("[sink.es]\nurl = u\nkeys =\n");
    ok(rc == SPW_OK, "empty list value: %s", err.msg);
    is_int(c.keys.n, 0, "an empty value is an empty list");

    /* Bounds are inclusive. */
    rc = parse("[sink.es]\nurl = u\ncount = 1\nratio = 1\ntimeout = 1h\nbuffer = 1k\n");
    ok(rc == SPW_OK, "bounds are inclusive: %s", err.msg);
    rc = parse("[sink.es]\nurl = u\ncount = 100\nratio = 0\ntimeout = 1ms\nbuffer = 1G\n");
    ok(rc == SPW_OK, "at both ends: %s", err.msg);
    rc = parse("[sink.es]\nurl = u\nhosts = a,b,c,d\n");
    ok(rc == SPW_OK, "list count at the maximum: %s", err.msg);
}

static void test_two_tables(void) {
    spw_result rc = parse_in("[sink.es]\nplugin = es\ncodec = docs\nbatch_max_records = 7\n"
                             "url = u\ncount = 3\n",
                             "sink.es", true, false);
    ok(rc == SPW_OK, "two tables: %s", err.msg);
    is_str(cc.codec, "docs", "core option in the core struct");
    is_int(cc.batch_max_records, 7, "core int");
    is_int(c.count, 3, "plugin option in the plugin struct");

    const char *m;
    rc = parse_in("[sink.es]\ncodec = d\nurl = u\n\nbatch_max_records = 0\n", "sink.es", true,
                  false);
    ok(rc == SPW_ERR_CONFIG, "core bound");
    is_str(err.msg, "pipe.ini:5: [sink.es] key 'batch_max_records': 0 is below the minimum 1",
           "the message of the documentation");
    rc = parse_in("[sink.es]\nurl = u\n", "sink.es", true, false);
    ok(rc == SPW_ERR_CONFIG, "required in the core table");
    is_str(err.msg, "pipe.ini:1: [sink.es] missing required key 'codec'", "names it");
    rc = parse_in("[sink.es]\ncodec = d\nurl = u\nbatch_max_record = 5\n", "sink.es", true,
                  false);
    m = err.msg;
    ok(rc == SPW_ERR_CONFIG, "unknown key across tables");
    is_str(m, "pipe.ini:4: [sink.es] unknown key 'batch_max_record'; did you mean "
              "'batch_max_records'?",
           "suggests from the other table");

    /* A name declared by two tables is a bug, whatever the file says. */
    static const spw_option clash[] = {
        {"codec", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 0, NULL},
        SPW_OPTIONS_END,
    };
    char *x = NULL;
    spw__opt_target t[2] = {{core_opts, &cc}, {clash, &x}};
    spw__cfg_section *sec = spw__cfg_find(cfg, "sink.es");
    ok(spw__opts_parse(cfg, sec, t, 2, NULL, &err) == SPW_ERR_CONFIG, "clash between tables");
    is_str(err.msg,
           "pipe.ini:1: [sink.es] option 'codec' is declared twice by the option tables of "
           "this section",
           "names the option");
    ok(x == NULL && cc.codec == NULL, "nothing left allocated");

    /* NULL tables are allowed. */
    spw__opt_target none[1] = {{NULL, NULL}};
    ok(spw__opts_parse(cfg, sec, none, 1, NULL, &err) == SPW_ERR_CONFIG, "no table: keys unknown");
    has_str(err.msg, "unknown key 'codec'", "first key unknown");
    spw__cfg_file *empty = NULL;
    spw__cfg_load_string("[filter.x]\nplugin = y\n", "p.ini", &empty, &err);
    ok(spw__opts_parse(empty, &empty->sections[0], none, 1, ignore, &err) == SPW_OK,
       "no table and only ignored keys");
    spw__cfg_free(empty);
    ok(spw__opts_parse(cfg, NULL, none, 1, NULL, &err) == SPW_ERR_INVAL, "NULL section");
}

static void test_value_errors(void) {
    const char *m;
    m = parse_fail("[sink.es]\nurl = u\nflag = maybe\n");
    is_str(m,
           "pipe.ini:3: [sink.es] key 'flag': 'maybe' is not a boolean (use true/false, yes/no, "
           "on/off or 1/0)",
           "bool");
    m = parse_fail("[sink.es]\nurl = u\ncount = 12x\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'count': '12x' is not an integer", "int");
    m = parse_fail("[sink.es]\nurl = u\ncount = 99999999999999999999\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'count': '99999999999999999999' is out of range",
            "int overflow");
    m = parse_fail("[sink.es]\nurl = u\ncount = 0\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'count': 0 is below the minimum 1", "int below");
    m = parse_fail("[sink.es]\nurl = u\ncount = 101\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'count': 101 is above the maximum 100", "int above");
    m = parse_fail("[sink.es]\nurl = u\nratio = inf\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'ratio': 'inf' is not a finite", "double inf");
    m = parse_fail("[sink.es]\nurl = u\nratio = 1e999\n");
    has_str(m, "key 'ratio': '1e999' is out of range", "double overflow");
    m = parse_fail("[sink.es]\nurl = u\nratio = 1.5\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'ratio': 1.5 is above the maximum 1", "double above");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 5x\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'timeout': '5x' is not a duration (unknown unit",
            "duration unit");
    has_str(m, "ms, s, m or h", "lists the units");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = -5s\n");
    has_str(m, "key 'timeout': '-5s' is negative", "negative duration");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 0.5ms\n");
    has_str(m, "key 'timeout': '0.5ms' is not a whole number of milliseconds",
            "sub-millisecond duration");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 9999999999999h\n");
    has_str(m, "key 'timeout': '9999999999999h' is too large", "duration overflow");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 2h\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'timeout': 2h is above the maximum 1h",
           "duration bound in duration units");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 0\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'timeout': 0 is below the minimum 1ms", "duration below");
    m = parse_fail("[sink.es]\nurl = u\ntimeout = 1.0000000001s\n");
    has_str(m, "at most 9 decimals", "too many decimals");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = 1KB\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'buffer': '1KB' is not a size (unknown unit",
            "size unit");
    has_str(m, "KiB", "lists the units");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = -1k\n");
    has_str(m, "key 'buffer': '-1k' is negative", "negative size");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = 99999999999G\n");
    has_str(m, "key 'buffer': '99999999999G' is too large", "size overflow");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = 0.1k\n");
    has_str(m, "'0.1k' is not a whole number of bytes", "fractional bytes");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = 512\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'buffer': 512 is below the minimum 1KiB",
           "size bound in size units");
    m = parse_fail("[sink.es]\nurl = u\nbuffer = 2G\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'buffer': 2G is above the maximum 1GiB", "size above");
    m = parse_fail("[sink.es]\nurl = u\nmode = Fast\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'mode': 'Fast' is not one of fast|safe|paranoid",
           "enum is case-sensitive and lists the choices");
    m = parse_fail("[sink.es]\nurl = u\nmode =\n");
    has_str(m, "key 'mode': '' is not one of", "empty enum");
    m = parse_fail("[sink.es]\nurl = u\nhosts = a,,b\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'hosts': 'a,,b' is a list with an empty item",
            "empty list item");
    m = parse_fail("[sink.es]\nurl = u\nhosts = a,\n");
    has_str(m, "empty item", "trailing comma");
    m = parse_fail("[sink.es]\nurl = u\nhosts = a\nhosts = ,b\n");
    has_str(m, "pipe.ini:4: [sink.es] key 'hosts'", "bad appended item: its own line");
    m = parse_fail("[sink.es]\nurl = u\nhosts = a,b,c\nhosts = d,e\n");
    is_str(m, "pipe.ini:4: [sink.es] key 'hosts': has 5 items, more than the maximum 4",
           "list count above, at the last line");
    m = parse_fail("[sink.es]\nurl = u\nhosts =\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'hosts': has 0 items, fewer than the minimum 1",
           "list count below");

    /* A long bad value is shortened in the message. */
    char text[300];
    snprintf(text, sizeof text, "[sink.es]\nurl = u\nflag = %0150d\n", 0);
    m = parse_fail(text);
    has_str(m, "...' is not a boolean", "shortened");
    ok(strlen(m) < 300, "short message");
}

static void test_key_errors(void) {
    const char *m;
    m = parse_fail("[sink.es]\nurl = u\ncuont = 3\n");
    is_str(m, "pipe.ini:3: [sink.es] unknown key 'cuont'; did you mean 'count'?",
           "transposition suggests");
    m = parse_fail("[sink.es]\nurl = u\ntokne_file = x\n");
    has_str(m, "did you mean 'token_file'?", "suggests a NAME_file form");
    m = parse_fail("[sink.es]\nurl = u\nplugn = x\n");
    has_str(m, "did you mean 'plugin'?", "suggests an ignored key");
    m = parse_fail("[sink.es]\nurl = u\nzzzzzz = 3\n");
    is_str(m, "pipe.ini:3: [sink.es] unknown key 'zzzzzz'", "no suggestion when nothing is close");
    m = parse_fail("[sink.es]\nurl = u\nname_file = x\n");
    has_str(m, "unknown key 'name_file'", "NAME_file only for secrets");
    m = parse_fail("[sink.es]\nurl = u\nunknown = s3cr3t-value\n");
    ok(strstr(m, "s3cr3t-value") == NULL, "an unknown key's value is not shown");
    m = parse_fail("[sink.es]\nurl = u\ncount = 1\n\ncount = 2\n");
    is_str(m, "pipe.ini:5: [sink.es] key 'count' is given twice (first at line 3)",
           "duplicate names both lines");
    m = parse_fail("[sink.es]\nurl = a\nurl = b\n");
    has_str(m, "pipe.ini:3: [sink.es] key 'url' is given twice (first at line 2)",
            "duplicate string");
    m = parse_fail("\n[sink.es]\nname = x\n");
    is_str(m, "pipe.ini:2: [sink.es] missing required key 'url'",
           "missing required names the section line");
}

static void test_secrets(void) {
    const char *m;
    const char *p;
    char text[1024];

    /* Relative paths are resolved next to the pipeline file. */
    write_file("token", "s3cr3t\r\n\n", 9);
    spw_result rc = parse_in("[sink.es]\nurl = u\ntoken_file = token\n", "sink.es", false, true);
    ok(rc == SPW_OK, "secret from a relative file: %s", err.msg);
    is_str(c.token, "s3cr3t", "trailing CR/LF removed");
    ok(spw__cfg_find(cfg, "sink.es")->keys[1].used, "NAME_file marked used");

    p = write_file("multi", "line1\nline2\n", 12);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", p);
    rc = parse(text);
    ok(rc == SPW_OK, "absolute path: %s", err.msg);
    is_str(c.token, "line1\nline2", "inner newlines kept");

    p = write_file("empty", "", 0);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", p);
    ok(parse(text) == SPW_OK, "empty secret file");
    is_str(c.token, "", "empty string");

    p = write_file("pin", "4321\n", 5);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\npin_file = %s\n", p);
    ok(parse(text) == SPW_OK, "a secret int from a file: %s", err.msg);
    is_int(c.pin, 4321, "typed like any value");

    p = write_file("keys", "k1,k2\n", 6);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\nkeys_file = %s\nkeys_file = %s\n", p, p);
    ok(parse(text) == SPW_OK, "a secret list from a file, repeated: %s", err.msg);
    is_int(c.keys.n, 4, "appends");

    /* Exactly 64 KiB is fine; more is not. */
    size_t max = (size_t)64 << 10;
    char *big = malloc(max + 1);
    memset(big, 'x', max + 1);
    p = write_file("big64", big, max);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", p);
    ok(parse(text) == SPW_OK, "a 64 KiB secret");
    ok(c.token && strlen(c.token) == max, "all of it");
    p = write_file("big65", big, max + 1);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", p);
    m = parse_fail(text);
    has_str(m, "pipe.ini:3: [sink.es] key 'token_file':", "too big: file, line, section, key");
    has_str(m, "is larger than 64 KiB", "says why");
    has_str(m, p, "names the path");
    ok(strstr(m, "xxxx") == NULL, "not the content");
    free(big);

    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s/nope\n", tmpdir);
    m = parse_fail(text);
    has_str(m, "pipe.ini:3: [sink.es] key 'token_file': cannot read '", "unreadable");
    has_str(m, "/nope': No such file or directory", "path and reason");
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", tmpdir);
    m = parse_fail(text);
    has_str(m, "it is a directory", "a directory");
    m = parse_fail("[sink.es]\nurl = u\ntoken_file =\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'token_file': empty path", "empty path");
    p = write_file("nul", "ab\0cd", 5);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\n", p);
    m = parse_fail(text);
    has_str(m, "contains a NUL byte", "NUL byte");

    /* Both forms. */
    p = write_file("token2", "s3cr3t\n", 7);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken = inline-s3cr3t\ntoken_file = %s\n", p);
    m = parse_fail(text);
    is_str(m,
           "pipe.ini:4: [sink.es] key 'token_file': 'token' is also given (line 3); give only "
           "one of them",
           "both forms, file second");
    ok(strstr(m, "s3cr3t") == NULL, "no secret in it");
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\ntoken = x\n", p);
    m = parse_fail(text);
    has_str(m, "pipe.ini:4: [sink.es] key 'token': 'token_file' is also given (line 3)",
            "both forms, file first");
    snprintf(text, sizeof text, "[sink.es]\nurl = u\ntoken_file = %s\ntoken_file = %s\n", p, p);
    m = parse_fail(text);
    has_str(m, "key 'token_file' is given twice (first at line 3)", "NAME_file twice");

    /* Secret values never appear in messages. */
    m = parse_fail("[sink.es]\nurl = u\npin = 12ab34\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'pin': invalid value (not an integer)",
           "bad secret int: not echoed");
    m = parse_fail("[sink.es]\nurl = u\npin = 77\n");
    is_str(m, "pipe.ini:3: [sink.es] key 'pin': invalid value (below the minimum 1000)",
           "secret out of bounds: not echoed");
    p = write_file("badpin", "98x76\n", 6);
    snprintf(text, sizeof text, "[sink.es]\nurl = u\npin_file = %s\n", p);
    m = parse_fail(text);
    has_str(m, "pipe.ini:3: [sink.es] key 'pin_file': invalid value (not an integer)",
            "bad secret from a file");
    ok(strstr(m, "98x76") == NULL, "content not echoed");
    m = parse_fail("[sink.es]\nurl = u\nkeys = a,,s3cr3t\n");
    has_str(m, "key 'keys': invalid value (a list with an empty item", "secret list");
    ok(strstr(m, "s3cr3t") == NULL, "not echoed");

    static const spw_option req[] = {
        {"password", SPW_OPT_STRING, SPW_OPT_REQUIRED | SPW_OPT_SECRET, NULL, 0, 0, NULL, 0,
         NULL},
        SPW_OPTIONS_END,
    };
    char *pw = NULL;
    spw__opt_target t = {req, &pw};
    spw__cfg_file *f = NULL;
    spw__cfg_load_string("[sink.x]\n", "p.ini", &f, &err);
    ok(spw__opts_parse(f, &f->sections[0], &t, 1, NULL, &err) == SPW_ERR_CONFIG,
       "required secret missing");
    is_str(err.msg, "p.ini:1: [sink.x] missing required key 'password' (or 'password_file')",
           "names both forms");
    spw__cfg_free(f);
    p = write_file("pw", "hunter2", 7);
    snprintf(text, sizeof text, "[sink.x]\npassword_file = %s\n", p);
    spw__cfg_load_string(text, "p.ini", &f, &err);
    ok(spw__opts_parse(f, &f->sections[0], &t, 1, NULL, &err) == SPW_OK,
       "required secret given by file");
    is_str(pw, "hunter2", "without a trailing newline");
    spw__opts_free(req, &pw);
    spw__cfg_free(f);
}

/* Checks that `table` is refused with a message containing `want`. */
static void table_bad(const spw_option *table, size_t size, const char *want, const char *what) {
    memset(&err, 0, sizeof err);
    spw_result rc = spw__opts_check_table(table, size, &err);
    ok(rc == SPW_ERR_INVAL, "bad table refused: %s (%s)", what, err.msg);
    has_str(err.msg, want, "%s: message", what);
}

#define T1(...)                                                                                \
    (const spw_option[]) {                                                                     \
        __VA_ARGS__, SPW_OPTIONS_END                                                           \
    }

static void test_check_table(void) {
    ok(spw__opts_check_table(opts, sizeof(conf), &err) == SPW_OK, "the test table is valid: %s",
       err.msg);
    ok(spw__opts_check_table(core_opts, sizeof(core_conf), &err) == SPW_OK, "the core table too");
    ok(spw__opts_check_table(NULL, 0, &err) == SPW_OK, "no table");
    ok(spw__opts_check_table(T1({"x", SPW_OPT_INT, 0, NULL, 1, 9, NULL, 0, NULL}), 8, &err) ==
           SPW_OK,
       "no default may lie outside the bounds (0 = not set)");
    ok(spw__opts_check_table(T1({"x", SPW_OPT_INT, 0, "5", 1, INFINITY, NULL, 0, NULL}), 8,
                             &err) == SPW_OK,
       "INFINITY as an open bound");

    table_bad(T1({NULL, SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "option #1 has no name",
              "unnamed option");
    table_bad(T1({"ok", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL},
                 {NULL, SPW_OPT_BOOL, 0, NULL, 0, 0, NULL, 0, "help"}),
              8, "option #2 has no name", "unnamed second option");
    table_bad(T1({"Bad", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8,
              "option #1 has an invalid name", "uppercase name");
    table_bad(T1({"1x", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "invalid name",
              "name starting with a digit");
    table_bad(T1({"x_", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "invalid name",
              "trailing separator");
    table_bad(T1({"a.b", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "invalid name",
              "dot in a name");
    table_bad(T1({"", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "invalid name",
              "empty name");
    table_bad(T1({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", SPW_OPT_INT,
                  0, NULL, 0, 0, NULL, 0, NULL}),
              8, "at most 64 characters", "name too long");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL},
                 {"x", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 8, NULL}),
              16, "option 'x' is declared twice", "duplicate name");
    table_bad(T1({"tok", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, 0, NULL},
                 {"tok_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 8, NULL}),
              16, "options 'tok' and 'tok_file' clash", "secret NAME and NAME_file");
    table_bad(T1({"tok_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 0, NULL},
                 {"tok", SPW_OPT_STRING, SPW_OPT_SECRET, NULL, 0, 0, NULL, 8, NULL}),
              16, "clash", "NAME_file declared first");
    table_bad(T1({"x", (spw_opt_type)99, 0, NULL, 0, 0, NULL, 0, NULL}), 8,
              "option 'x': unknown type 99", "unknown type");
    table_bad(T1({"x", SPW_OPT_INT, 0x10, NULL, 0, 0, NULL, 0, NULL}), 8,
              "option 'x': unknown flags 0x10", "unknown flag");
    table_bad(T1({"x", SPW_OPT_INT, SPW_OPT_REQUIRED, "1", 0, 0, NULL, 0, NULL}), 8,
              "required and with a default is contradictory", "required with a default");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 4, NULL}), 8,
              "option 'x': its int field (8 bytes at offset 4) lies outside the 8-byte config "
              "struct",
              "field beyond the struct");
    table_bad(T1({"x", SPW_OPT_LIST, 0, NULL, 0, 0, NULL, (size_t)-8, NULL}), 16,
              "lies outside", "offset overflow");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 4, NULL}), 16,
              "offset 4 is not aligned for its int field", "misaligned field");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, NULL, 0, 0, NULL, 0, NULL}), 8, "an enum needs choices",
              "enum without choices");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, NULL, 0, 0, "", 0, NULL}), 8, "an enum needs choices",
              "enum with empty choices");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, NULL, 0, 0, "a||b", 0, NULL}), 8, "empty choice",
              "empty choice");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, NULL, 0, 0, "a|b|", 0, NULL}), 8, "empty choice",
              "trailing bar");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, NULL, 0, 0, "a|b|a", 0, NULL}), 8,
              "choice 'a' appears twice", "duplicate choice");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 0, 0, "a|b", 0, NULL}), 8,
              "choices are only for enum options", "choices on an int");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 5, 1, NULL, 0, NULL}), 8,
              "option 'x': min 5 is above max 1 (use INFINITY for no upper bound)", "min > max");
    table_bad(T1({"x", SPW_OPT_INT, 0, NULL, 1, 0, NULL, 0, NULL}), 8, "min 1 is above max 0",
              "only a min");
    table_bad(T1({"x", SPW_OPT_DOUBLE, 0, NULL, NAN, 1, NULL, 0, NULL}), 8, "a bound is NaN",
              "NaN bound");
    table_bad(T1({"x", SPW_OPT_STRING, 0, NULL, 1, 10, NULL, 0, NULL}), 8,
              "string options take no min/max", "bounds on a string");
    table_bad(T1({"x", SPW_OPT_BOOL, 0, NULL, 0, 1, NULL, 0, NULL}), 8,
              "bool options take no min/max", "bounds on a bool");
    table_bad(T1({"x", SPW_OPT_INT, 0, "ten", 0, 0, NULL, 0, NULL}), 8,
              "option 'x': bad default: 'ten' is not an integer", "default does not parse");
    table_bad(T1({"x", SPW_OPT_INT, 0, "0", 1, 9, NULL, 0, NULL}), 8,
              "option 'x': bad default: 0 is below the minimum 1", "default below the minimum");
    table_bad(T1({"x", SPW_OPT_DURATION, 0, "2h", 0, 3600000, NULL, 0, NULL}), 8,
              "bad default: 2h is above the maximum 1h", "duration default above");
    table_bad(T1({"x", SPW_OPT_ENUM, 0, "c", 0, 0, "a|b", 0, NULL}), 8,
              "bad default: 'c' is not one of a|b", "enum default not a choice");
    table_bad(T1({"x", SPW_OPT_BOOL, 0, "sure", 0, 0, NULL, 0, NULL}), 8,
              "bad default: 'sure' is not a boolean", "bool default");
    table_bad(T1({"x", SPW_OPT_SIZE, 0, "1TB", 0, 0, NULL, 0, NULL}), 8,
              "bad default: '1TB' is not a size", "size default");
    table_bad(T1({"x", SPW_OPT_LIST, 0, "a,,b", 0, 0, NULL, 0, NULL}), 16,
              "bad default: 'a,,b' is a list with an empty item", "list default");
    table_bad(T1({"x", SPW_OPT_LIST, 0, "a,b,c", 1, 2, NULL, 0, NULL}), 16,
              "bad default: has 3 items, more than the maximum 2", "list default count");
    table_bad(T1({"x", SPW_OPT_INT, SPW_OPT_SECRET, "77", 100, 200, NULL, 0, NULL}), 8,
              "bad default: invalid value (below the minimum 100)", "secret default not shown");
    table_bad(T1({"a", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 0, NULL},
                 {"b", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, 0, NULL}),
              8, "options 'a' and 'b' overlap", "two options on one field");
    table_bad(T1({"a", SPW_OPT_LIST, 0, NULL, 0, 0, NULL, 0, NULL},
                 {"b", SPW_OPT_INT, 0, NULL, 0, 0, NULL, 8, NULL}),
              16, "overlap", "partial overlap");

    /* A table without its terminator is caught by the size cap, not a crash. */
    size_t n = 1100;
    spw_option *many = calloc(n + 1, sizeof *many);
    char (*names)[16] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "o%zu", i);
        many[i] = (spw_option){names[i], SPW_OPT_BOOL, 0, NULL, 0, 0, NULL, i, NULL};
    }
    table_bad(many, n, "more than 1024 options", "unterminated table");
    free(many);
    free(names);
}

static void test_print(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    spw__opts_print(out, opts);
    fclose(out);
    has_str(buf, "  flag (bool, default true)\n      Turns it on.\n", "bool with default and help");
    has_str(buf, "  count (int, default 10, 1 to 100)\n", "int bounds");
    has_str(buf, "  timeout (duration, default 5s, 1ms to 1h)\n", "duration bounds in units");
    has_str(buf, "  buffer (size, default 64KiB, 1KiB to 1GiB)\n", "size bounds in units");
    has_str(buf, "  mode (enum: fast|safe|paranoid, default safe)\n", "choices");
    has_str(buf, "  hosts (list, comma-separated, repeatable, default a, b, items 1 to 4)\n",
            "list");
    has_str(buf, "  url (string, required)\n      Where to send.\n", "required");
    has_str(buf, "  token (string, not set by default, secret: or token_file = PATH)\n",
            "secret note");
    has_str(buf, "  name (string, not set by default)\n", "string without default");
    free(buf);

    out = open_memstream(&buf, &len);
    spw__opts_print(out, T1({"x", SPW_OPT_INT, 0, "5", 1, INFINITY, NULL, 0, NULL},
                            {"y", SPW_OPT_DURATION, 0, NULL, -INFINITY, 1000, NULL, 8, NULL},
                            {"e", SPW_OPT_ENUM, 0, NULL, 0, 0, "one|two", 16, NULL}));
    fclose(out);
    has_str(buf, "  x (int, default 5, at least 1)\n", "open upper bound");
    has_str(buf, "  y (duration, default 0ms, at most 1s)\n", "open lower bound, zero default");
    has_str(buf, "  e (enum: one|two, default one)\n", "enum zero default is the first choice");
    free(buf);

    out = open_memstream(&buf, &len);
    spw__opts_print(out, NULL);
    fclose(out);
    is_str(buf, "  (no options)\n", "no options");
    free(buf);
}

/* An option group: the HTTP client's options embedded in a plugin's table by one entry. */
typedef struct gconf {
    int64_t n;
    const spw_http_conf *http;
} gconf;
static const spw_option gopts[] = {
    {"n", SPW_OPT_INT, 0, "1", 0, 9, NULL, offsetof(gconf, n), "A number."},
    SPW_OPTION_HTTP(gconf, http, 0),
    SPW_OPTIONS_END,
};
static const spw_option gopts_opt[] = {
    SPW_OPTION_HTTP(gconf, http, SPW_HTTP_CONF_URL_OPTIONAL),
    SPW_OPTIONS_END,
};

static spw_result gparse(const spw_option *table, gconf *g, const char *text) {
    spw__cfg_file *f = NULL;
    memset(&err, 0, sizeof err);
    if (spw__cfg_load_string(text, "g.ini", &f, &err) != SPW_OK)
        return SPW_ERR_INVAL;
    spw__opt_target t = {table, g};
    spw_result rc = spw__opts_parse(f, &f->sections[0], &t, 1, ignore, &err);
    spw__cfg_free(f);
    return rc;
}

static void test_groups(void) {
    gconf g;
    memset(&g, 0xff, sizeof g); /* the parser must not trust what the struct held */
    ok(spw__opts_check_table(gopts, sizeof g, &err) == SPW_OK, "a table with a group is valid: %s",
       err.msg);
    ok(gparse(gopts, &g,
              "[sink.h]\nplugin = x\nn = 3\nurl = http://127.0.0.1:9/a\ntimeout = 750ms\n") ==
           SPW_OK,
       "the group's keys are accepted in the plugin's section: %s", err.msg);
    ok(g.n == 3 && g.http && spw_http_conf_urls(g.http) == 1 &&
           strcmp(spw_http_conf_url(g.http, 0), "http://127.0.0.1:9/a") == 0 &&
           spw_http_conf_timeout(g.http) == 750,
       "the plugin's own option and the group's land where they belong");
    spw__opts_free(gopts, &g);
    ok(g.http == NULL, "spw__opts_free releases the group and clears its pointer");

    ok(gparse(gopts, &g, "[sink.h]\nplugin = x\nurls = http://a/, http://b/\n") == SPW_OK &&
           spw_http_conf_urls(g.http) == 2 &&
           strcmp(spw_http_conf_url(g.http, 1), "http://b/") == 0 &&
           spw_http_conf_url(g.http, 2) == NULL,
       "urls: every endpoint, in order");
    spw__opts_free(gopts, &g);

    ok(gparse(gopts, &g, "[sink.h]\nplugin = x\nurl = http://a/\ntimout = 1s\n") ==
           SPW_ERR_CONFIG,
       "an unknown key next to the group's is an error");
    has_str(err.msg, "g.ini:4: [sink.h]", "...naming file, line and section");
    has_str(err.msg, "timeout", "...and suggesting the group's option");
    ok(g.http == NULL, "a failed parse leaves no group behind");

    ok(gparse(gopts, &g, "[sink.h]\nplugin = x\n") == SPW_ERR_CONFIG,
       "the group's own rules run: no url");
    is_str(err.msg, "g.ini:1: [sink.h] set url (or urls)", "...with the section named");
    ok(g.http == NULL, "...and nothing left allocated");
    ok(gparse(gopts, &g, "[sink.h]\nplugin = x\nurl = ftp://a/\n") == SPW_ERR_CONFIG,
       "a URL that is not http(s) is refused");
    ok(gparse(gopts, &g, "[sink.h]\nplugin = x\nurl = http://a/\nauth = bearer\n") ==
           SPW_ERR_CONFIG,
       "auth = bearer without a token is refused");
    has_str(err.msg, "needs token", "...saying what is missing");
    ok(gparse(gopts_opt, &g, "[sink.h]\nplugin = x\n") == SPW_OK && g.http &&
           spw_http_conf_urls(g.http) == 0,
       "SPW_HTTP_CONF_URL_OPTIONAL: no url is fine");
    spw__opts_free(gopts_opt, &g);

    memset(&g, 0xff, sizeof g);
    ok(spw__opts_defaults(gopts, &g, &err) == SPW_OK && g.http && g.n == 1 &&
           spw_http_conf_timeout(g.http) == 2000,
       "defaults reach into the group (timeout 2s)");
    spw__opts_free(gopts, &g);

    table_bad(T1({"nosuch", SPW_OPT_GROUP, 0, NULL, 0, 0, NULL, 0, NULL}), 8,
              "no such option group", "unknown group");
    table_bad(T1({"http", SPW_OPT_GROUP, 0x4000, NULL, 0, 0, NULL, 0, NULL}), 8, "unknown flags",
              "a flag the group does not know");
    table_bad(T1({"http", SPW_OPT_GROUP, 0, "x", 0, 0, NULL, 0, NULL}), 8,
              "is not KEY = VALUE", "a group with a default that is no KEY = VALUE");
    table_bad(T1({"http", SPW_OPT_GROUP, 0, NULL, 0, 0, NULL, 4, NULL}), 8, "outside",
              "a group pointer outside the struct");
    table_bad(T1({"http", SPW_OPT_GROUP, 0, NULL, 0, 0, NULL, 0, NULL},
                 {"http", SPW_OPT_GROUP, 0, NULL, 0, 0, NULL, 8, NULL}),
              16, "twice", "a group embedded twice");

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    spw__opts_print(out, gopts);
    fclose(out);
    has_str(buf, "  n (int", "--help-plugin lists the plugin's option");
    has_str(buf, "  connect_timeout (duration", "...and the group's, inline");
    ok(strstr(buf, "group") == NULL, "...never the group entry itself");
    free(buf);
}

/* A plugin's defaults for options of its group (SPW_OPTION_HTTP_DEFAULTS, ABI 1.3). */
static const spw_option gopts_def[] = {
    SPW_OPTION_HTTP_DEFAULTS(gconf, http, SPW_HTTP_CONF_URL_OPTIONAL,
                             "auth = aws-sigv4\n"
                             "  aws_service=lambda  \n"
                             "\n"
                             "timeout = 3s"),
    SPW_OPTIONS_END,
};

static char *printed(void (*print)(FILE *, const spw_option *), const spw_option *table) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    print(out, table);
    fclose(out);
    return buf;
}

static void test_group_defaults(void) {
    gconf g;
    memset(&g, 0xff, sizeof g);
    ok(spw__opts_check_table(gopts_def, sizeof g, &err) == SPW_OK,
       "a group entry with defaults is a valid table: %s", err.msg);

    ok(gparse(gopts_def, &g, "[sink.h]\nplugin = x\naws_region = eu-west-1\n") == SPW_OK,
       "the plugin's defaults satisfy the group's rules: %s", err.msg);
    ok(g.http && strcmp(spw_http_conf_auth(g.http), "aws-sigv4") == 0 &&
           strcmp(spw_http_conf_aws_service(g.http), "lambda") == 0 &&
           spw_http_conf_timeout(g.http) == 3000,
       "...and are what the section gets without the keys (blanks around key and value dropped)");
    spw__opts_free(gopts_def, &g);

    ok(gparse(gopts_def, &g, "[sink.h]\nplugin = x\n") == SPW_ERR_CONFIG,
       "the group's rules see the plugin's defaults");
    is_str(err.msg, "g.ini:1: [sink.h] auth = aws-sigv4 needs aws_region", "...auth = aws-sigv4");

    ok(gparse(gopts_def, &g,
              "[sink.h]\nplugin = x\nauth = none\naws_service = sqs\ntimeout = 1s\n") == SPW_OK &&
           strcmp(spw_http_conf_auth(g.http), "none") == 0 &&
           strcmp(spw_http_conf_aws_service(g.http), "sqs") == 0 &&
           spw_http_conf_timeout(g.http) == 1000,
       "keys in the section replace the plugin's defaults");
    spw__opts_free(gopts_def, &g);

    ok(gparse(gopts_opt, &g, "[sink.h]\nplugin = x\n") == SPW_OK &&
           strcmp(spw_http_conf_auth(g.http), "none") == 0 &&
           strcmp(spw_http_conf_aws_service(g.http), "execute-api") == 0 &&
           spw_http_conf_timeout(g.http) == 2000,
       "another plugin's group keeps the group's own defaults (auth none, execute-api, 2s)");
    spw__opts_free(gopts_opt, &g);

    memset(&g, 0xff, sizeof g);
    ok(spw__opts_defaults(gopts_def, &g, &err) == SPW_OK && g.http &&
           strcmp(spw_http_conf_auth(g.http), "aws-sigv4") == 0 &&
           spw_http_conf_timeout(g.http) == 3000,
       "spw__opts_defaults applies them too");
    spw__opts_free(gopts_def, &g);

#define GDEF(d) T1({"http", SPW_OPT_GROUP, 0, (d), 0, 0, NULL, 0, NULL})
    table_bad(GDEF("nosuch = 1"), 8, "default for 'nosuch', which is not an option of the group",
              "a default for an option the group lacks");
    table_bad(GDEF("token = abc"), 8, "'token' is a secret", "a secret's default");
    table_bad(GDEF("auth = kerberos"), 8, "bad default for 'auth'", "an enum value not a choice");
    table_bad(GDEF("timeout = 2h"), 8, "above the maximum", "a value out of bounds");
    table_bad(GDEF("auth = none\nurl = http://a/\nauth = basic"), 8,
              "default for 'auth' given twice", "a key given twice");
    table_bad(GDEF(" = none"), 8, "has no key", "no key");
    table_bad(GDEF("\n \n"), 8, "KEY = VALUE lines", "nothing but blank lines");
#undef GDEF

    char *buf = printed(spw__opts_print, gopts_def);
    has_str(buf, "  auth (enum: none|basic|bearer|header|aws-sigv4, default aws-sigv4)",
            "--help-plugin shows the plugin's default for auth");
    has_str(buf, "  aws_service (string, default lambda)", "...for aws_service");
    has_str(buf, "  protocol (enum: http2|http1.1|h2c|HTTP_2|HTTP_1_1, default http2)",
            "...and the group's own for the rest");
    free(buf);
    buf = printed(spw__opts_print, gopts_opt);
    has_str(buf, "  auth (enum: none|basic|bearer|header|aws-sigv4, default none)",
            "...the group's own for a plugin without defaults");
    has_str(buf, "  aws_service (string, default execute-api)", "...aws_service too");
    free(buf);
    buf = printed(spw__opts_print_markdown, gopts_def);
    has_str(buf, "| `aws_service` | string | `lambda` |", "the Markdown reference shows it");
    has_str(buf, "| `timeout` | duration | `3s` |", "...every one");
    free(buf);
    buf = printed(spw__opts_print_roff, gopts_def);
    has_str(buf, "\\fBaws_service\\fR (string, default \\fBlambda\\fR)", "so do the man pages");
    free(buf);
}

static void cleanup(void) {
    static const char *names[] = {"pipe.ini", "token", "multi", "empty", "pin", "keys",
                                  "big64", "big65", "nul", "token2", "badpin", "pw"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/spw-test-options-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }
    test_bool();
    test_int();
    test_double();
    test_duration();
    test_size();
    test_defaults();
    test_parse_types();
    test_two_tables();
    test_value_errors();
    test_key_errors();
    test_secrets();
    test_check_table();
    test_print();
    test_groups();
    test_group_defaults();
    spw__opts_free(opts, &c);
    spw__opts_free(core_opts, &cc);
    spw__cfg_free(cfg);
    cleanup();
    return tap_done();
}
