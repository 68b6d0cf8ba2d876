/*
 * core/tap-cli.c: `spillway tap`, the client of the admin endpoint's
 * GET /tap (core/taps.c). Prints the tapped events, one JSON object a line,
 * to stdout; the closing summary line ({"tap":"end",...}: how many events
 * the tap dropped or rate-limited) goes to stderr.
 *
 * The address comes from --admin HOST:PORT or from a pipeline file's
 * [pipeline] admin (read as `spillway --check` reads it). Plain sockets and
 * a small HTTP/1.1 reader (status, headers, chunked body): the program
 * links no HTTP client of its own, and this is one GET.
 */
#include "autoconf.h"
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "hostport.h"
#include "loader.h"
#include "pipeline.h"
#include "tap-cli.h"

static void tap_usage(FILE *out) {
    fprintf(out,
            "Usage: spillway tap [FILE.ini | --admin HOST:PORT] [--sink NAME] [--expr EXPR]\n"
            "                    [--rate N] [--count N]\n"
            "Prints the events passing a point of a running pipeline, one JSON object a line,\n"
            "through its admin endpoint ([pipeline] admin in FILE.ini, or --admin).\n"
            "\n"
            "      --admin HOST:PORT  the admin endpoint (instead of reading FILE.ini)\n"
            "      --sink NAME        events that passed route [sink.NAME]'s filters\n"
            "                         (default: the source side, every event submitted)\n"
            "      --expr EXPR        only events for which EXPR (the expr filter's language) is true\n"
            "      --rate N           at most N events a second (default 100)\n"
            "      --count N          stop after N events\n"
            "      --plugin-dir DIR   search DIR for plugins first (to read FILE.ini)\n"
            "  -h, --help             print this help and exit\n"
            "\n"
            "Events the tap dropped (this client read too slowly) are counted in the\n"
            "summary printed to stderr at the end and in /metrics (spillway_tap_dropped_total).\n");
}

/* Percent-encodes s (everything but RFC 3986 unreserved characters) onto out. */
static void put_query(char **out, size_t *len, size_t *cap, const char *name, const char *s) {
    size_t need = *len + strlen(name) + 3 * strlen(s) + 4;
    if (need > *cap) {
        *cap = need * 2;
        *out = realloc(*out, *cap);
        if (!*out) {
            fprintf(stderr, "spillway tap: out of memory\n");
            exit(1);
        }
    }
    *len += (size_t)sprintf(*out + *len, "%s%s=", *len ? "&" : "", name);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            (*out)[(*len)++] = (char)*p;
        else
            *len += (size_t)sprintf(*out + *len, "%%%02X", *p);
    }
    (*out)[*len] = 0;
}

/* HOST:PORT as the `admin` option reads it (core/hostport.c); a wildcard
 * host, where the endpoint listens on every address, becomes the loopback. */
static bool split_addr(const char *s, char *host, size_t hs, char *port, size_t ps) {
    if (!spw__split_hostport(s, host, hs, port, ps))
        return false;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        snprintf(host, hs, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, hs, "::1");
    return true;
}

static int dial(const char *host, const char *port, const char *shown) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "spillway tap: admin endpoint %s: %s\n", shown, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr,
                "spillway tap: cannot reach the admin endpoint %s: %s (is the pipeline running, "
                "with [pipeline] admin set?)\n",
                shown, strerror(e));
    return fd;
}

/* A buffered reader over the socket. */
typedef struct rd {
    int fd;
    char buf[16384];
    size_t pos, len;
} rd;

static int rd_byte(rd *r) {
    if (r->pos == r->len) {
        ssize_t n;
        do
            n = read(r->fd, r->buf, sizeof r->buf);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return -1;
        r->pos = 0;
        r->len = (size_t)n;
    }
    return (unsigned char)r->buf[r->pos++];
}

/* One CRLF- or LF-terminated line into out (terminator stripped); false at EOF. */
static bool rd_line(rd *r, char *out, size_t size) {
    size_t n = 0;
    int c;
    while ((c = rd_byte(r)) >= 0 && c != '\n')
        if (n + 1 < size)
            out[n++] = (char)c;
    if (c < 0 && n == 0)
        return false;
    if (n && out[n - 1] == '\r')
        n--;
    out[n] = 0;
    return true;
}

/* The event lines of the body: events to stdout, the summary to stderr, heartbeats skipped. */
typedef struct lines {
    char *line;
    size_t len, cap;
    bool ended;
} lines;

static bool line_byte(lines *l, int c) {
    if (c != '\n') {
        if (l->len + 1 >= l->cap) {
            l->cap = l->cap ? l->cap * 2 : 4096;
            l->line = realloc(l->line, l->cap);
            if (!l->line)
                return false;
        }
        l->line[l->len++] = (char)c;
        return true;
    }
    if (l->len == 0)
        return true; /* a heartbeat */
    l->line[l->len] = 0;
    bool ok = true;
    if (strncmp(l->line, "{\"tap\":\"end\"", 12) == 0) {
        fprintf(stderr, "%s\n", l->line);
        l->ended = true;
    } else {
        ok = fwrite(l->line, 1, l->len, stdout) == l->len && putchar('\n') != EOF &&
             fflush(stdout) == 0;
    }
    l->len = 0;
    return ok;
}

static int stream(int fd, const char *shown) {
    rd r = {.fd = fd};
    char line[8192];
    if (!rd_line(&r, line, sizeof line)) {
        fprintf(stderr, "spillway tap: %s closed the connection without answering\n", shown);
        return 1;
    }
    int status = 0;
    if (sscanf(line, "HTTP/%*d.%*d %d", &status) != 1) {
        fprintf(stderr, "spillway tap: %s: not an HTTP answer: %.80s\n", shown, line);
        return 1;
    }
    bool chunked = false;
    long long length = -1;
    while (rd_line(&r, line, sizeof line) && line[0]) {
        if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strstr(line + 18, "chunked"))
            chunked = true;
        else if (strncasecmp(line, "content-length:", 15) == 0)
            length = atoll(line + 15);
    }
    lines l = {0};
    int c;
    if (status != 200) {
        /* The endpoint says why in a short text body. */
        char msg[2048];
        size_t n = 0;
        while ((length < 0 || (long long)n < length) && n + 1 < sizeof msg && (c = rd_byte(&r)) >= 0)
            msg[n++] = (char)c;
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
            n--;
        msg[n] = 0;
        fprintf(stderr, "spillway tap: %s refused the tap (HTTP %d): %s\n", shown, status,
                n ? msg : "(no reason given)");
        return 1;
    }
    bool ok = true;
    if (!chunked) {
        while (ok && (c = rd_byte(&r)) >= 0)
            ok = line_byte(&l, c);
    } else {
        for (;;) {
            if (!rd_line(&r, line, sizeof line))
                break;
            unsigned long size = strtoul(line, NULL, 16);
            if (size == 0)
                break;
            for (unsigned long i = 0; ok && i < size && (c = rd_byte(&r)) >= 0; i++)
                ok = line_byte(&l, c);
            if (!ok || !rd_line(&r, line, sizeof line))
                break;
        }
    }
    free(l.line);
    if (!ok)
        return ferror(stdout) && errno == EPIPE ? 0 : 1; /* stdout closed (| head): done */
    if (!l.ended) {
        fprintf(stderr, "spillway tap: %s ended the stream early (the pipeline stopped?)\n", shown);
        return 1;
    }
    return 0;
}

int spw__tap_cli(int argc, char **argv, const char *build_plugin_dir) {
    static const struct option longopts[] = {
        {"admin", required_argument, NULL, 'a'}, {"sink", required_argument, NULL, 's'},
        {"expr", required_argument, NULL, 'e'},  {"rate", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'}, {"plugin-dir", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *admin = NULL, *sink = NULL, *expr = NULL, *rate = NULL, *count = NULL;
    const char **dirs = calloc((size_t)argc + 2, sizeof *dirs);
    size_t n_dirs = 0;
    int c, status = 1;
    if (!dirs)
        return 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': admin = optarg; break;
        case 's': sink = optarg; break;
        case 'e': expr = optarg; break;
        case 'r': rate = optarg; break;
        case 'n': count = optarg; break;
        case 'p': dirs[n_dirs++] = optarg; break;
        case 'h': tap_usage(stdout); free(dirs); return 0;
        default: tap_usage(stderr); free(dirs); return 2;
        }
    }
    const char *file = optind < argc ? argv[optind] : NULL;
    if ((file && admin) || (!file && !admin) || (optind + 1 < argc)) {
        fprintf(stderr, "spillway tap: give the pipeline FILE.ini or --admin HOST:PORT (one of them)\n");
        tap_usage(stderr);
        free(dirs);
        return 2;
    }
    spw__pipeline *p = NULL;
    char addr[300];
    if (file) {
        spw_err err = {""};
        if (build_plugin_dir)
            dirs[n_dirs++] = build_plugin_dir;
        if (spw__loader_init(dirs, n_dirs, &err) != SPW_OK ||
            spw__pipeline_load(file, NULL, &p, &err) != SPW_OK) {
            fprintf(stderr, "spillway tap: %s\n", err.msg);
            goto out;
        }
        if (!p->conf.admin || !*p->conf.admin) {
            fprintf(stderr, "spillway tap: %s has no admin endpoint: set [pipeline] admin = HOST:PORT "
                            "(or give --admin)\n", file);
            goto out;
        }
        snprintf(addr, sizeof addr, "%s", p->conf.admin);
    } else {
        snprintf(addr, sizeof addr, "%s", admin);
    }
    char host[256], port[16];
    if (!split_addr(addr, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "spillway tap: admin '%s': expected HOST:PORT ([V6]:PORT)\n", addr);
        goto out;
    }
    if (strcmp(port, "0") == 0) {
        fprintf(stderr, "spillway tap: admin '%s' has port 0, chosen at start: give --admin with the "
                        "port the pipeline logged\n", addr);
        goto out;
    }
    size_t qlen = 0, qcap = 1;
    char *q = calloc(1, qcap);
    if (!q)
        goto out;
    if (sink)
        put_query(&q, &qlen, &qcap, "sink", sink);
    if (expr)
        put_query(&q, &qlen, &qcap, "expr", expr);
    if (rate)
        put_query(&q, &qlen, &qcap, "rate", rate);
    if (count)
        put_query(&q, &qlen, &qcap, "limit", count);
    int fd = dial(host, port, addr);
    if (fd >= 0) {
        size_t rn = qlen + strlen(host) + 128;
        char *req = malloc(rn);
        if (req) {
            int n = snprintf(req, rn,
                             "GET /tap%s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nAccept: "
                             "application/x-ndjson\r\nConnection: close\r\n\r\n",
                             qlen ? "?" : "", q, strchr(host, ':') ? "[" : "", host,
                             strchr(host, ':') ? "]" : "", port);
            size_t off = 0;
            while (n > 0 && off < (size_t)n) {
                ssize_t w = write(fd, req + off, (size_t)n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            if (n > 0 && off == (size_t)n)
                status = stream(fd, addr);
            else
                fprintf(stderr, "spillway tap: %s: cannot send the request: %s\n", addr,
                        strerror(errno));
            free(req);
        }
        close(fd);
    }
    free(q);
out:
    if (p)
        spw__pipeline_free(p);
    if (file)
        spw__loader_exit();
    free(dirs);
    return status;
}
