/*
 * tools/xdrgen/opts.c: the command line. Every flag is described in the
 * --help text below and in doc/xdrgen.md; keep the two in step.
 *
 * Durations take a unit (ms, s, m, h); a bare number is seconds, as for
 * timeout(1), since that is what a person typing --duration 30 means.
 * Everything is checked before anything is opened: a bad flag exits 2.
 */
#include "xdrgen.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VERSION "0.1.0"

static const char usage_text[] =
    "Usage: spillway-xdrgen [OPTIONS]\n"
    "Sends change notifications to an XDR connector exactly as Aerospike XDR does, and\n"
    "reports what it answered. Exit status: 0 when every record was acknowledged or\n"
    "abandoned, 1 when the run ended with records unanswered (--max-time, interrupt),\n"
    "2 for a usage error, 3 when the run could not start.\n"
    "\n"
    "Connector:\n"
    "  -c, --connect HOST:PORT   connector address; repeat for several (connections are\n"
    "                            spread over them in turn) [127.0.0.1:8901]\n"
    "  -C, --connections N       connections, as XDR opens one per service thread [1]\n"
    "  -w, --window N            requests in flight per connection (pipelining) [64]\n"
    "  -t, --timeout DUR         reset a connection that has requests in flight and got no\n"
    "                            reply for this long, and resend them [10s]\n"
    "      --retry-delay DUR     wait before resending a record answered with a retry\n"
    "                            code (8, 9, 11, 14, 18, 80) [100ms]\n"
    "      --reconnect-min DUR   first wait before reconnecting [100ms]\n"
    "      --reconnect-max DUR   longest wait between connection attempts [2s]\n"
    "      --tls                 connect with TLS\n"
    "      --tls-ca FILE         trust these CA certificates (PEM) instead of the system's\n"
    "      --tls-cert FILE       client certificate chain (PEM), for mutual TLS\n"
    "      --tls-key FILE        its private key (PEM) [the --tls-cert file]\n"
    "      --tls-name NAME       name to verify and send as SNI [the --connect host]\n"
    "      --tls-insecure        do not verify the connector's certificate\n"
    "\n"
    "Load:\n"
    "  -n, --count N             records to send (each until answered) [until stopped]\n"
    "  -d, --duration DUR        make new records for this long, then finish the ones in\n"
    "                            flight\n"
    "  -r, --rate N              frames per second, evenly spaced, resends included [0: flat out]\n"
    "      --seq-start N         sequence number of the first record [0]\n"
    "      --max-time DUR        end the run after this long even if records are still\n"
    "                            unanswered (exit status 1) [no limit]\n"
    "\n"
    "Records (each one stamped: integer bin 'seq' first, and the user key):\n"
    "      --namespaces LIST     namespaces, record N takes item N modulo the count [test]\n"
    "      --sets LIST           sets, likewise; '-' is a record without a set [demo]\n"
    "      --key-type TYPE       integer (N), string (\"key-N\"), blob (N's 8 bytes) or none\n"
    "                            (not shipped; digest of integer N) [integer]\n"
    "      --bins N              bins per write, 'seq' included; 0 ships no bins [5]\n"
    "      --bin-types LIST      particle types of the bins after 'seq', in turn: integer,\n"
    "                            double, string, blob, bool, hll, list, map, geojson\n"
    "                            [integer,string]\n"
    "      --value-size N[-M]    bytes of each string, blob and hll value (a random size\n"
    "                            in N..M); lists and maps hold size/4 items [16]\n"
    "      --delete-ratio R      fraction of records shipped as deletes [0]\n"
    "      --durable-ratio R     fraction of deletes that are durable deletes [0]\n"
    "      --bin-luts            ship a last-update time with every bin (ship-bin-luts)\n"
    "      --replace             writes replace the whole record (info3 CREATE_OR_REPLACE)\n"
    "      --ttl SECONDS         record_ttl of writes [never expires]\n"
    "      --src-id N            XDR src-id carried in the LUT field's top 24 bits [0]\n"
    "      --compress-ratio R    fraction of frames sent compressed (type 4, zlib) [0]\n"
    "      --compress-level N    zlib level 0-9 [6]\n"
    "      --compress-size-le    write the original size of compressed frames in\n"
    "                            little-endian, as some Aerospike clients do\n"
    "      --seed N              seed of the record contents [1]\n"
    "\n"
    "Replay:\n"
    "      --replay FILE         send the frames in FILE as they are, instead of generated\n"
    "                            records; each once, or --count frames cycling through them\n"
    "      --replay-format FMT   auto, hex (hex digits, whitespace and #comments ignored;\n"
    "                            one frame per line by convention) or binary (frames back\n"
    "                            to back) [auto]\n"
    "      --dump FILE           write the frames as hex lines to FILE ('-': stdout)\n"
    "                            instead of sending them (needs --count or --replay)\n"
    "\n"
    "Output:\n"
    "      --json                the final report as one JSON object\n"
    "      --progress DUR        a progress line on stderr every DUR\n"
    "  -q, --quiet               no log lines on stderr (the report is still printed)\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n"
    "\n"
    "DUR is a number with a unit: 250ms, 1.5s, 2m, 1h (a bare number is seconds).\n"
    "See doc/xdrgen.md for the report's fields.\n";

enum {
    O_RETRY_DELAY = 256,
    O_RECONNECT_MIN,
    O_RECONNECT_MAX,
    O_TLS,
    O_TLS_CA,
    O_TLS_CERT,
    O_TLS_KEY,
    O_TLS_NAME,
    O_TLS_INSECURE,
    O_SEQ_START,
    O_MAX_TIME,
    O_NAMESPACES,
    O_SETS,
    O_KEY_TYPE,
    O_BINS,
    O_BIN_TYPES,
    O_VALUE_SIZE,
    O_DELETE_RATIO,
    O_DURABLE_RATIO,
    O_BIN_LUTS,
    O_REPLACE,
    O_TTL,
    O_SRC_ID,
    O_COMPRESS_RATIO,
    O_COMPRESS_LEVEL,
    O_COMPRESS_LE,
    O_SEED,
    O_REPLAY,
    O_REPLAY_FORMAT,
    O_DUMP,
    O_JSON,
    O_PROGRESS,
};

static const struct option long_opts[] = {
    {"connect", required_argument, NULL, 'c'},
    {"connections", required_argument, NULL, 'C'},
    {"window", required_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, 't'},
    {"retry-delay", required_argument, NULL, O_RETRY_DELAY},
    {"reconnect-min", required_argument, NULL, O_RECONNECT_MIN},
    {"reconnect-max", required_argument, NULL, O_RECONNECT_MAX},
    {"tls", no_argument, NULL, O_TLS},
    {"tls-ca", required_argument, NULL, O_TLS_CA},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"tls-name", required_argument, NULL, O_TLS_NAME},
    {"tls-insecure", no_argument, NULL, O_TLS_INSECURE},
    {"count", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"rate", required_argument, NULL, 'r'},
    {"seq-start", required_argument, NULL, O_SEQ_START},
    {"max-time", required_argument, NULL, O_MAX_TIME},
    {"namespaces", required_argument, NULL, O_NAMESPACES},
    {"sets", required_argument, NULL, O_SETS},
    {"key-type", required_argument, NULL, O_KEY_TYPE},
    {"bins", required_argument, NULL, O_BINS},
    {"bin-types", required_argument, NULL, O_BIN_TYPES},
    {"value-size", required_argument, NULL, O_VALUE_SIZE},
    {"delete-ratio", required_argument, NULL, O_DELETE_RATIO},
    {"durable-ratio", required_argument, NULL, O_DURABLE_RATIO},
    {"bin-luts", no_argument, NULL, O_BIN_LUTS},
    {"replace", no_argument, NULL, O_REPLACE},
    {"ttl", required_argument, NULL, O_TTL},
    {"src-id", required_argument, NULL, O_SRC_ID},
    {"compress-ratio", required_argument, NULL, O_COMPRESS_RATIO},
    {"compress-level", required_argument, NULL, O_COMPRESS_LEVEL},
    {"compress-size-le", no_argument, NULL, O_COMPRESS_LE},
    {"seed", required_argument, NULL, O_SEED},
    {"replay", required_argument, NULL, O_REPLAY},
    {"replay-format", required_argument, NULL, O_REPLAY_FORMAT},
    {"dump", required_argument, NULL, O_DUMP},
    {"json", no_argument, NULL, O_JSON},
    {"progress", required_argument, NULL, O_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *opt, const char *arg, const char *why) {
    fprintf(stderr, "spillway-xdrgen: --%s '%s': %s (see --help)\n", opt, arg, why);
    return 2;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_ratio(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

/* "250ms", "1.5s", "2m", "1h", "3" (seconds) -> ms. */
static bool parse_duration(const char *s, uint64_t *ms) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0.0) || !isfinite(v))
        return false;
    double mult = 1000.0;
    if (strcmp(end, "ms") == 0)
        mult = 1.0;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000.0;
    else if (strcmp(end, "m") == 0)
        mult = 60000.0;
    else if (strcmp(end, "h") == 0)
        mult = 3600000.0;
    else
        return false;
    double r = v * mult;
    if (r > 1e15)
        return false;
    *ms = (uint64_t)(r + 0.5);
    return true;
}

/* "16", "64k", "1M" -> bytes (powers of 1024). */
static bool parse_size(const char *s, size_t max, size_t *out) {
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    if (*end == 'k' || *end == 'K') {
        v *= 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v *= 1024 * 1024;
        end++;
    }
    if (*end || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Comma-separated items; empty items are refused. */
static bool parse_list(const char *s, char ***out, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return false;
    size_t k = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || !(v[k] = strndup(p, len))) {
            free_list(v, k);
            return false;
        }
        k++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    free_list(*out, *n);
    *out = v;
    *n = k;
    return true;
}

/* "host:port", "[v6addr]:port": resolved once, now. */
static int add_addr(struct xg_opts *o, const char *arg) {
    char host[256];
    const char *port;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || close[1] != ':' || (size_t)(close - arg - 1) >= sizeof host)
            return bad("connect", arg, "expected HOST:PORT or [IPv6]:PORT");
        memcpy(host, arg + 1, (size_t)(close - arg - 1));
        host[close - arg - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(arg, ':');
        if (!colon || (size_t)(colon - arg) >= sizeof host)
            return bad("connect", arg, "expected HOST:PORT or [IPv6]:PORT");
        memcpy(host, arg, (size_t)(colon - arg));
        host[colon - arg] = '\0';
        port = colon + 1;
    }
    uint64_t pn;
    if (!parse_u64(port, 1, 65535, &pn))
        return bad("connect", arg, "the port is not a number from 1 to 65535");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int e = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (e != 0)
        return bad("connect", arg, gai_strerror(e));
    struct sockaddr_storage *a = realloc(o->addrs, (o->n_addrs + 1) * sizeof *a);
    char **names = a ? realloc(o->addr_names, (o->n_addrs + 1) * sizeof *names) : NULL;
    if (a)
        o->addrs = a;
    if (names)
        o->addr_names = names;
    if (!a || !names || !(o->addr_names[o->n_addrs] = strdup(arg))) {
        freeaddrinfo(res);
        return bad("connect", arg, "out of memory");
    }
    memset(&o->addrs[o->n_addrs], 0, sizeof o->addrs[0]);
    memcpy(&o->addrs[o->n_addrs], res->ai_addr, res->ai_addrlen);
    o->n_addrs++;
    freeaddrinfo(res);
    /* the host is what a certificate is checked against, unless --tls-name says otherwise */
    return -1;
}

static void defaults(struct xg_opts *o) {
    memset(o, 0, sizeof *o);
    o->connections = 1;
    o->window = 64;
    o->timeout_ms = 10000;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 2000;
    o->retry_delay_ms = 100;
    struct xg_shape *sh = &o->shape;
    sh->key_type = XG_KEY_INTEGER;
    sh->bins = 5;
    sh->types[0] = XG_PT_INTEGER;
    sh->types[1] = XG_PT_STRING;
    sh->n_types = 2;
    sh->value_min = sh->value_max = 16;
    sh->ttl = 0xFFFFFFFFu;
    sh->seed = 1;
    sh->compress_level = 6;
}

int xg_opts_parse(struct xg_opts *o, int argc, char **argv) {
    struct xg_shape *sh = &o->shape;
    uint64_t u;
    int c, rc;
    defaults(o);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:C:w:t:n:d:r:qhV", long_opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *lo = long_opts; lo->name; lo++)
            if (lo->val == c)
                name = lo->name;
        switch (c) {
        case 'c':
            if ((rc = add_addr(o, optarg)) >= 0)
                return rc;
            if (!o->tls_host_owned) {
                /* the first address's host, for TLS verification */
                const char *colon = optarg[0] == '[' ? strchr(optarg, ']') : strrchr(optarg, ':');
                size_t hl = (size_t)(colon - optarg) - (optarg[0] == '[');
                o->tls_host_owned = strndup(optarg + (optarg[0] == '['), hl);
            }
            break;
        case 'C':
            if (!parse_u64(optarg, 1, 10000, &u))
                return bad(name, optarg, "expected 1 to 10000");
            o->connections = (unsigned)u;
            break;
        case 'w':
            if (!parse_u64(optarg, 1, 1000000, &u))
                return bad(name, optarg, "expected 1 to 1000000");
            o->window = (unsigned)u;
            break;
        case 't':
        case O_RETRY_DELAY:
        case O_RECONNECT_MIN:
        case O_RECONNECT_MAX:
        case 'd':
        case O_MAX_TIME:
        case O_PROGRESS:
            if (!parse_duration(optarg, &u))
                return bad(name, optarg, "expected a duration such as 250ms, 10s, 2m");
            if (c == 't' && u == 0)
                return bad(name, optarg, "the timeout must be above 0");
            if (c == 't')
                o->timeout_ms = u;
            else if (c == O_RETRY_DELAY)
                o->retry_delay_ms = u;
            else if (c == O_RECONNECT_MIN)
                o->reconnect_min_ms = u > 0 ? u : 1;
            else if (c == O_RECONNECT_MAX)
                o->reconnect_max_ms = u > 0 ? u : 1;
            else if (c == 'd')
                o->duration_ms = u;
            else if (c == O_MAX_TIME)
                o->max_time_ms = u;
            else
                o->progress_ms = u;
            break;
        case O_TLS:
            o->tls = true;
            break;
        case O_TLS_CA:
            o->tls_ca = optarg;
            o->tls = true;
            break;
        case O_TLS_CERT:
            o->tls_cert = optarg;
            o->tls = true;
            break;
        case O_TLS_KEY:
            o->tls_key = optarg;
            o->tls = true;
            break;
        case O_TLS_NAME:
            o->tls_name = optarg;
            o->tls = true;
            break;
        case O_TLS_INSECURE:
            o->tls_insecure = true;
            o->tls = true;
            break;
        case 'n':
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &o->count))
                return bad(name, optarg, "expected a positive number");
            break;
        case 'r': {
            char *end;
            o->rate = strtod(optarg, &end);
            if (*optarg == '\0' || *end || !(o->rate >= 0) || o->rate > 1e9)
                return bad(name, optarg, "expected frames per second, 0 for flat out");
            break;
        }
        case O_SEQ_START:
            if (!parse_u64(optarg, 0, UINT64_MAX / 2, &o->seq_start))
                return bad(name, optarg, "expected a number");
            break;
        case O_NAMESPACES:
            if (!parse_list(optarg, &sh->namespaces, &sh->n_namespaces))
                return bad(name, optarg, "expected a comma-separated list of names");
            for (size_t i = 0; i < sh->n_namespaces; i++)
                if (strlen(sh->namespaces[i]) > XG_NS_MAX)
                    return bad(name, sh->namespaces[i], "a namespace name is 1 to 31 bytes");
            break;
        case O_SETS:
            if (!parse_list(optarg, &sh->sets, &sh->n_sets))
                return bad(name, optarg, "expected a comma-separated list of names ('-' for none)");
            for (size_t i = 0; i < sh->n_sets; i++) {
                if (strcmp(sh->sets[i], "-") == 0)
                    sh->sets[i][0] = '\0';
                else if (strlen(sh->sets[i]) > XG_SET_MAX)
                    return bad(name, sh->sets[i], "a set name is 1 to 63 bytes");
            }
            break;
        case O_KEY_TYPE: {
            static const char *const kt[] = {"integer", "string", "blob", "none"};
            int k = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(optarg, kt[i]) == 0)
                    k = i;
            if (k < 0)
                return bad(name, optarg, "expected integer, string, blob or none");
            sh->key_type = k;
            break;
        }
        case O_BINS:
            if (!parse_u64(optarg, 0, 1000, &u))
                return bad(name, optarg, "expected 0 to 1000");
            sh->bins = (unsigned)u;
            break;
        case O_BIN_TYPES: {
            char **v = NULL;
            size_t n = 0;
            if (!parse_list(optarg, &v, &n))
                return bad(name, optarg, "expected a comma-separated list of particle types");
            if (n > sizeof sh->types) {
                free_list(v, n);
                return bad(name, optarg, "at most 16 types");
            }
            for (size_t i = 0; i < n; i++) {
                int t = xg_type_from_name(v[i]);
                if (t < 0) {
                    rc = bad(name, v[i],
                             "unknown particle type (integer, double, string, blob, bool, hll, "
                             "list, map, geojson)");
                    free_list(v, n);
                    return rc;
                }
                sh->types[i] = (uint8_t)t;
            }
            sh->n_types = n;
            free_list(v, n);
            break;
        }
        case O_VALUE_SIZE: {
            char lo[32];
            const char *dash = strchr(optarg, '-');
            size_t ll = dash ? (size_t)(dash - optarg) : strlen(optarg);
            if (ll >= sizeof lo)
                return bad(name, optarg, "expected N or N-M bytes");
            memcpy(lo, optarg, ll);
            lo[ll] = '\0';
            if (!parse_size(lo, 1 << 20, &sh->value_min) ||
                !parse_size(dash ? dash + 1 : lo, 1 << 20, &sh->value_max) ||
                sh->value_max < sh->value_min)
                return bad(name, optarg, "expected N or N-M bytes, up to 1M");
            break;
        }
        case O_DELETE_RATIO:
        case O_DURABLE_RATIO:
        case O_COMPRESS_RATIO: {
            double *d = c == O_DELETE_RATIO    ? &sh->delete_ratio
                        : c == O_DURABLE_RATIO ? &sh->durable_ratio
                                               : &sh->compress_ratio;
            if (!parse_ratio(optarg, d))
                return bad(name, optarg, "expected a fraction from 0 to 1");
            break;
        }
        case O_BIN_LUTS:
            sh->bin_luts = true;
            break;
        case O_REPLACE:
            sh->replace = true;
            break;
        case O_TTL:
            if (!parse_u64(optarg, 1, 0xFFFFFFFEu, &u))
                return bad(name, optarg, "expected seconds, 1 to 4294967294");
            sh->ttl = (uint32_t)u;
            break;
        case O_SRC_ID:
            if (!parse_u64(optarg, 0, 0xFFFFFF, &u))
                return bad(name, optarg, "expected 0 to 16777215");
            sh->src_id = (uint32_t)u;
            break;
        case O_COMPRESS_LEVEL:
            if (!parse_u64(optarg, 0, 9, &u))
                return bad(name, optarg, "expected 0 to 9");
            sh->compress_level = (int)u;
            break;
        case O_COMPRESS_LE:
            sh->compress_le = true;
            break;
        case O_SEED:
            if (!parse_u64(optarg, 0, UINT64_MAX, &sh->seed))
                return bad(name, optarg, "expected a number");
            break;
        case O_REPLAY:
            o->replay = optarg;
            break;
        case O_REPLAY_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                o->replay_format = XG_REPLAY_AUTO;
            else if (strcmp(optarg, "hex") == 0)
                o->replay_format = XG_REPLAY_HEX;
            else if (strcmp(optarg, "binary") == 0)
                o->replay_format = XG_REPLAY_BINARY;
            else
                return bad(name, optarg, "expected auto, hex or binary");
            break;
        case O_DUMP:
            o->dump = optarg;
            break;
        case O_JSON:
            o->json = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("spillway-xdrgen " VERSION "\n");
            return 0;
        case ':':
            fprintf(stderr, "spillway-xdrgen: %s needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "spillway-xdrgen: unknown option %s (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spillway-xdrgen: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->n_addrs == 0 && (rc = add_addr(o, "127.0.0.1:8901")) >= 0)
        return rc;
    if (!sh->namespaces && !parse_list("test", &sh->namespaces, &sh->n_namespaces))
        return bad("namespaces", "test", "out of memory");
    if (!sh->sets && !parse_list("demo", &sh->sets, &sh->n_sets))
        return bad("sets", "demo", "out of memory");
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = o->reconnect_min_ms;
    if (o->tls && !o->tls_name)
        o->tls_name = o->tls_host_owned ? o->tls_host_owned : "127.0.0.1";
    if (o->tls_key && !o->tls_cert)
        return bad("tls-key", o->tls_key, "needs --tls-cert");
    return -1;
}

void xg_opts_free(struct xg_opts *o) {
    free(o->addrs);
    for (size_t i = 0; i < o->n_addrs; i++)
        free(o->addr_names[i]);
    free(o->addr_names);
    free_list(o->shape.namespaces, o->shape.n_namespaces);
    free_list(o->shape.sets, o->shape.n_sets);
    free(o->tls_host_owned);
}
