/*
 * core/notify.h: telling a service manager (systemd, Type=notify) where
 * the pipeline is: READY once every source listens, STOPPING while
 * draining, and the watchdog, petted only while every worker's loop turns.
 * Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op.
 */
#ifndef SPW_CORE_NOTIFY_H
#define SPW_CORE_NOTIFY_H

#include <stdint.h>

/* Sends one notification ("READY=1", "STOPPING=1", ...) with a STATUS= line. */
void spw__notify(const char *state, const char *status);

/* The watchdog interval systemd asks for (WATCHDOG_USEC), in ms; 0 when off. */
uint64_t spw__notify_watchdog_ms(void);

/* Pets the watchdog. */
void spw__notify_watchdog(void);

#endif /* SPW_CORE_NOTIFY_H */
