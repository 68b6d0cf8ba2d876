/*
 * core/notify.c: systemd notification through libsystemd's sd_notify,
 * which does nothing when the process was not started with a notification
 * socket, so the calls need no guard of their own.
 */
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include "log.h"
#include "notify.h"

void spw__notify(const char *state, const char *status) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s\nSTATUS=%s", state, status ? status : "");
    int r = sd_notify(0, msg);
    if (r < 0)
        spw__log("core", SPW_LOG_DEBUG, "sd_notify(%s) failed: %d", state, r);
}

uint64_t spw__notify_watchdog_ms(void) {
    uint64_t usec = 0;
    /* 0 keeps WATCHDOG_USEC in the environment for processes we might start. */
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 1000 ? usec / 1000 : 1;
}

void spw__notify_watchdog(void) { sd_notify(0, "WATCHDOG=1"); }
