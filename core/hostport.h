/*
 * core/hostport.h: the one reading of an address written HOST:PORT, shared
 * by the admin endpoint's `admin` option (core/admin.c) and `spillway tap
 * --admin` (core/tap-cli.c), so that the client accepts exactly what the
 * server does. The program compiles its own copy (core/local.mk): the
 * core's internals are hidden in libspillway.so.
 */
#ifndef SPW_CORE_HOSTPORT_H
#define SPW_CORE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

/* "HOST:PORT" or "[V6]:PORT" into host and port (NUL-terminated, within
 * host_size and port_size); false when malformed: no host, an unbracketed
 * IPv6 address, a port that is not a number of 0 to 65535, or too long. */
bool spw__split_hostport(const char *s, char *host, size_t host_size, char *port, size_t port_size);

#endif /* SPW_CORE_HOSTPORT_H */
