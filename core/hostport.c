/*
 * core/hostport.c: HOST:PORT parsing (see hostport.h).
 */
#include "hostport.h"
#include <stdlib.h>
#include <string.h>

bool spw__split_hostport(const char *s, char *host, size_t host_size, char *port, size_t port_size) {
    const char *colon;
    const char *h = s;
    size_t hn;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return false;
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return false; /* an IPv6 address must be bracketed */
        hn = (size_t)(colon - s);
    }
    size_t pn = strlen(colon + 1);
    if (hn == 0 || hn >= host_size || pn == 0 || pn >= port_size ||
        strspn(colon + 1, "0123456789") != pn)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return atoi(port) <= 65535;
}
