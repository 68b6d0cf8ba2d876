/*
 * plugins/source-xdr/allow.c: the `allow` list (who may connect) and peer
 * addresses as the guard compares them.
 *
 * An entry is a numeric address or a CIDR range: "10.0.0.7",
 * "10.1.0.0/16", "2001:db8::/32", "::1". Addresses are compared in one
 * form: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) is the IPv4 address it maps, and an
 * entry written in that form (::ffff:10.0.0.0/104) is the IPv4 range it
 * maps (10.0.0.0/8), so a peer matches whichever way either is written.
 * An entry with bits set past its prefix (10.0.0.1/8) is refused rather
 * than silently widened or narrowed: the operator meant one of the two.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "source.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Makes an IPv4-mapped IPv6 address the IPv4 address it maps. */
static void unmap(struct xs_ip *ip) {
    if (ip->v6 && memcmp(ip->b, v4_mapped_prefix, 12) == 0) {
        memmove(ip->b, ip->b + 12, 4);
        memset(ip->b + 4, 0, 12);
        ip->v6 = false;
    }
}

bool xs_ip_from_sockaddr(const struct sockaddr *sa, struct xs_ip *ip) {
    memset(ip, 0, sizeof *ip);
    if (sa->sa_family == AF_INET) {
        memcpy(ip->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(ip->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        ip->v6 = true;
        unmap(ip);
        return true;
    }
    return false;
}

bool xs_ip_equal(const struct xs_ip *a, const struct xs_ip *b) {
    return a->v6 == b->v6 && memcmp(a->b, b->b, a->v6 ? 16 : 4) == 0;
}

/* True when the first `bits` bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* True when a has a bit set past its first `bits` bits (of `len` bytes). */
static bool host_bits_set(const uint8_t *a, unsigned bits, unsigned len) {
    for (unsigned i = 0; i < len * 8; i++)
        if (i >= bits && (a[i / 8] & (0x80 >> (i % 8))))
            return true;
    return false;
}

spw_result xs_cidr_parse(const char *s, struct xs_cidr *out, spw_err *err) {
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    bool v6 = memchr(s, ':', hlen) != NULL;
    unsigned max = v6 ? 128 : 32, bits = max;

    memset(out, 0, sizeof *out);
    if (hlen == 0 || hlen >= sizeof host)
        return spw_err_set(err, SPW_ERR_CONFIG, "'%s' is not an address or a CIDR range", s);
    memcpy(host, s, hlen);
    host[hlen] = 0;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, out->ip.b) != 1)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "'%s' is not a numeric %s address (write ADDRESS or ADDRESS/PREFIX; "
                           "names are not resolved)",
                           host, v6 ? "IPv6" : "IPv4");
    out->ip.v6 = v6;
    if (slash) {
        const char *p = slash + 1;
        unsigned n = 0;
        size_t digits = 0;
        for (; isdigit((unsigned char)*p) && digits < 4; p++, digits++)
            n = n * 10 + (unsigned)(*p - '0');
        if (digits == 0 || *p != 0 || n > max)
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s': the prefix length must be 0 to %u",
                               s, max);
        bits = n;
    }
    if (host_bits_set(out->ip.b, bits, v6 ? 16 : 4)) {
        /* Say what the range starts at: the likely meaning. */
        struct xs_cidr base = *out;
        char b[INET6_ADDRSTRLEN];
        for (unsigned i = bits; i < max; i++)
            base.ip.b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
        inet_ntop(v6 ? AF_INET6 : AF_INET, base.ip.b, b, sizeof b);
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "'%s' has bits set past its /%u prefix: write %s/%u for the range, or "
                           "the address alone",
                           s, bits, b, bits);
    }
    if (v6 && bits >= 96 && memcmp(out->ip.b, v4_mapped_prefix, 12) == 0) {
        unmap(&out->ip);
        bits -= 96;
    }
    out->bits = (uint8_t)bits;
    return SPW_OK;
}

bool xs_cidr_match(const struct xs_cidr *c, const struct xs_ip *ip) {
    return c->ip.v6 == ip->v6 && prefix_equal(c->ip.b, ip->b, c->bits);
}
