/*
 * core/reload-client.c: `spillway reload FILE`, compiled into the program.
 *
 * Reads FILE's [pipeline] admin address (variables expanded as the
 * pipeline expands them) and POSTs /reload there: the running spillway
 * re-reads its own file, answers once it has switched or refused, and
 * this prints its answer. The file given should be the one the process
 * runs; only its admin address is read here, so the validation is the
 * running process's (with its environment), not this one's.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "config.h"
#include "reload.h"

/* HOST:PORT or [V6]:PORT; an unspecified host (0.0.0.0, ::, *) means this machine. */
static bool split(const char *addr, char *host, size_t hs, char *port, size_t ps) {
    const char *colon;
    if (*addr == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= hs)
            return false;
        snprintf(host, hs, "%.*s", (int)(close - addr - 1), addr + 1);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= hs)
            return false;
        snprintf(host, hs, "%.*s", (int)(colon - addr), addr);
    }
    if (!colon[1] || strlen(colon + 1) >= ps)
        return false;
    snprintf(port, ps, "%s", colon + 1);
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        snprintf(host, hs, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, hs, "::1");
    return true;
}

static int post(const char *addr, const char *path) {
    char host[256], port[16];
    if (!split(addr, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "spillway: %s: [pipeline] admin '%s' is not HOST:PORT\n", path, addr);
        return 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "spillway: admin %s: %s\n", addr, gai_strerror(gai));
        return 1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "spillway: admin %s: %s (is spillway running with this file?)\n", addr,
                strerror(e));
        return 1;
    }
    /* A reload builds every stage on every worker: give it time, but not forever. */
    struct timeval tv = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /reload HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     addr);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "spillway: admin %s: %s\n", addr, strerror(errno));
        close(fd);
        return 1;
    }
    char resp[8192];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof resp - 1 && (k = recv(fd, resp + len, sizeof resp - 1 - len, 0)) > 0)
        len += (size_t)k;
    close(fd);
    resp[len] = '\0';
    int status = 0;
    const char *body = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || !body) {
        fprintf(stderr, "spillway: admin %s: no HTTP answer\n", addr);
        return 1;
    }
    body += 4;
    if (status == 200) {
        printf("%s", body);
        return 0;
    }
    fprintf(stderr, "spillway: reload refused (HTTP %d): %s", status, body);
    return 1;
}

int spw__reload_client(const char *path) {
    spw__cfg_file *f = NULL;
    spw_err err = {""};
    if (spw__cfg_load(path, &f, &err) != SPW_OK) {
        fprintf(stderr, "spillway: %s\n", err.msg);
        return 1;
    }
    const spw__cfg_section *sec = spw__cfg_find(f, "pipeline");
    const char *admin = NULL;
    for (size_t i = 0; sec && i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].key, "admin") == 0)
            admin = sec->keys[i].value;
    int rc;
    if (!admin || !*admin) {
        fprintf(stderr,
                "spillway: %s has no admin endpoint ([pipeline] admin = HOST:PORT), so it cannot be "
                "asked to reload; send the process SIGHUP instead (kill -HUP PID, or systemctl "
                "reload spillway@NAME)\n",
                path);
        rc = 1;
    } else {
        rc = post(admin, path);
    }
    spw__cfg_free(f);
    return rc;
}
