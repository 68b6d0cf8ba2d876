/*
 * core/reload.h: re-reading the pipeline while it runs (SIGHUP, the admin
 * endpoint's POST /reload). See core/reload.c and doc/operations.md.
 */
#ifndef SPW_CORE_RELOAD_H
#define SPW_CORE_RELOAD_H

#include "pipeline.h"

/* Main thread, in spw__pipeline_run once its loop exists: SIGHUP, the admin bridge, counters. */
void spw__reload_init(spw__pipeline *p);
/* Main thread, once the workers have registered theirs (the pipeline's counters come first). */
void spw__reload_metrics(spw__pipeline *p);
/* Main thread, once its loop has ended: a request still waiting is answered "stopping". */
void spw__reload_close(spw__pipeline *p);

/*
 * Main thread: re-reads p->path exactly as --check does and, when it is
 * valid, has every worker switch to it (all workers or none). On error
 * nothing changed and err says why (with file:line for the file's errors).
 */
spw_result spw__pipeline_reload(spw__pipeline *p, spw_err *err);

/* Any other thread (the admin endpoint): asks the main thread to reload and waits for its answer. */
spw_result spw__reload_request(spw__pipeline *p, spw_err *err);

/* The program's side (core/reload-client.c): `spillway reload FILE`; returns the exit status. */
int spw__reload_client(const char *path);

#endif /* SPW_CORE_RELOAD_H */
