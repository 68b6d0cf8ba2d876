#!/usr/bin/python3
"""tests/gcf-example.py: the examples stay true.

  - every examples/*.ini passes `spillway --check` with only the variables
    its "# Required:" comment line names (none for most), and fails
    without them, naming the variable;
  - examples/gcf/main.py, the function for examples/xdr-to-gcf.ini,
    accepts what the json codec really writes (records made by the real
    program, generate -> json -> file), one per request and as NDJSON, and
    answers 400 to what is not such a record. Google's Functions Framework
    is not a Debian package: a stand-in provides its one decorator, and the
    request object offers the one method the function calls (get_data).
"""

import glob
import importlib.util
import os
import re
import sys
import types

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()


def run_check(ini, env):
    import subprocess
    e = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_") or k == "SPILLWAY_PLUGIN_PATH"}
    for k in list(e):
        if k.startswith("GOOGLE_") or k.startswith("GCE_"):
            del e[k]
    e.update(env)
    p = subprocess.run([H.SPILLWAY, "--check", "-c", ini], capture_output=True, text=True, timeout=30, env=e)
    return p.returncode, p.stdout + p.stderr


def examples_check():
    for ini in sorted(glob.glob(os.path.join(H.SRCDIR, "examples", "*.ini"))):
        name = os.path.basename(ini)
        required = {}
        for line in open(ini):
            m = re.match(r"#\s*Required:\s*(.*)$", line)
            if m:
                required.update(kv.split("=", 1) for kv in m.group(1).split())
        rc, out = run_check(ini, required)
        tap.ok(rc == 0, "%s: --check accepts it with %s" % (name, " ".join(sorted(required)) or "no variable"), out)
        for var in required:
            rest = {k: v for k, v in required.items() if k != var}
            rc, out = run_check(ini, rest)
            tap.ok(rc != 0 and var in out, "%s: --check without %s fails naming it" % (name, var), out)


class Request:
    def __init__(self, body):
        self.body = body

    def get_data(self, as_text=False):
        return self.body.decode() if as_text else self.body


def load_function():
    ff = types.ModuleType("functions_framework")
    ff.http = lambda f: f
    sys.modules["functions_framework"] = ff
    spec = importlib.util.spec_from_file_location("gcf_main", os.path.join(H.SRCDIR, "examples", "gcf", "main.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def function_check():
    out = H.path("records.ndjson")
    ini = H.write("gen.ini", "\n".join([
        "[pipeline]", "name = gen",
        "[source.gen]", "plugin = generate", "count = 30",
        "[codec.c]", "plugin = json",
        "[sink.f]", "plugin = file", "codec = c", "path = %s" % out]) + "\n")
    r = H.run(ini)
    lines = open(out, "rb").read().splitlines() if os.path.exists(out) else []
    tap.ok(r.rc == 0 and len(lines) == 30, "the json codec wrote 30 records to feed the function", r.tail())
    m = load_function()
    one = [m.ingest(Request(l)) for l in lines]
    tap.ok(all(a[1] == 200 for a in one), "function: each record alone is accepted (200)", one[:3])
    body, status = m.ingest(Request(b"\n".join(lines) + b"\n"))
    tap.ok(status == 200 and body == "ok 30\n", "function: 30 records as NDJSON are accepted", body)
    body, status = m.ingest(Request(b'{"msg":"write"}\nnot json\n'))
    tap.ok(status == 400, "function: what is not a record is refused with 400 (dead-lettered)", body)


examples_check()
function_check()
tap.done()
