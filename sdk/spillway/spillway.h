/*
 * spillway/spillway.h: the whole plugin SDK in one include.
 * Build against it with `pkg-config --cflags --libs spillway-sdk`.
 */
#ifndef SPILLWAY_SPILLWAY_H
#define SPILLWAY_SPILLWAY_H

#include <spillway/abi.h>
#include <spillway/buf.h>
#include <spillway/event.h>
#include <spillway/http.h>
#include <spillway/plugin.h>
#include <spillway/result.h>
#include <spillway/template.h>
#include <spillway/tls.h>

#endif /* SPILLWAY_SPILLWAY_H */
