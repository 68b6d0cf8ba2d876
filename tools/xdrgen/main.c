/*
 * tools/xdrgen/main.c: spillway-xdrgen, an XDR traffic generator for
 * testing and benchmarking connectors (doc/xdrgen.md).
 */
#include "xdrgen.h"

#include <signal.h>

int main(int argc, char **argv) {
    struct xg_opts o;
    int status = xg_opts_parse(&o, argc, argv);
    if (status < 0) {
        /* a connector that goes away is a reset to handle, not the end of the process */
        signal(SIGPIPE, SIG_IGN);
        status = xg_run_main(&o);
    }
    xg_opts_free(&o);
    return status;
}
