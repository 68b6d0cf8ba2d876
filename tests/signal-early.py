#!/usr/bin/env python3
"""tests/signal-early.py: a stop asked for before spillway is running (a
supervisor's SIGTERM while plugins load) is a clean stop, not a death by
the signal's default action.

The signal is made pending before spillway's own code runs: the child
blocks SIGTERM, sends it to itself, then execs spillway, so the signal is
waiting, blocked, from the first instruction on. spillway must hold it
through loading and take it once its handlers are in place: exit 0 with
the usual stop lines. (Before, it either died at once or, its mask
restored to the inherited one, never took the signal at all.)
"""

import importlib.util
import os
import signal
import subprocess

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()

ini = H.write("early.ini", """[pipeline]
shutdown_timeout = 500ms

[source.gen]
plugin = generate
rate = 100

[codec.c]
plugin = json

[sink.out]
plugin = null
codec = c
""")


def pending_term():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    os.kill(os.getpid(), signal.SIGTERM)


for how, argv in (("a pipeline file", [H.SPILLWAY, "-c", ini]), ("the demo", [H.SPILLWAY, "--demo"])):
    try:
        r = subprocess.run(argv, preexec_fn=pending_term, capture_output=True, text=True, timeout=30)
        rc, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace")
    tap.ok(rc == 0 and "SIGTERM: stopping" in err and "[stats] pipeline:" in err,
           "%s: a SIGTERM pending at start stops the run cleanly (exit 0)" % how, rc, err[-800:])

tap.done()
