/*
 * core/admin.h: the admin HTTP endpoint (metrics and health), served off
 * the workers' loops by libmicrohttpd. See core/admin.c.
 */
#ifndef SPW_CORE_ADMIN_H
#define SPW_CORE_ADMIN_H

#include "pipeline.h"

typedef struct spw__admin spw__admin;

/* Checks an `admin` value (HOST:PORT, [V6]:PORT) without binding. */
spw_result spw__admin_check(const char *addr, spw_err *err);

/* Binds addr and serves p's metrics and health until spw__admin_stop. */
spw_result spw__admin_start(spw__pipeline *p, const char *addr, spw__admin **out, spw_err *err);
void spw__admin_stop(spw__admin *a);

#endif /* SPW_CORE_ADMIN_H */
