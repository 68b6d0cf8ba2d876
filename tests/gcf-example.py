#!/usr/bin/python3
"""tests/gcf-example.py: the gcf example stays true (tests/e2e-examples.sh
checks every example INI passes --check with only its required variables):

  - examples/xdr-to-gcf.ini fails --check without SPILLWAY_GCF_URL, naming
    it;
  - examples/gcf/main.py, the function for examples/xdr-to-gcf.ini,
    accepts what the json codec really writes (records made by the real
    program, generate -> json -> file), one per request and as NDJSON, and
    answers 400 to what is not such a record. Google's Functions Framework
    is not a Debian package: a stand-in provides its one decorator, and the
    request object offers the one method the function calls (get_data).
"""

import importlib.util
import os
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


def example_check():
    ini = os.path.join(H.SRCDIR, "examples", "xdr-to-gcf.ini")
    rc, out = run_check(ini, {"SPILLWAY_GCF_URL": "https://spillway-ingest-abc123-ew.a.run.app/"})
    tap.ok(rc == 0, "xdr-to-gcf.ini: --check accepts it with SPILLWAY_GCF_URL", out)
    rc, out = run_check(ini, {})
    tap.ok(rc != 0 and "SPILLWAY_GCF_URL" in out, "xdr-to-gcf.ini: --check without SPILLWAY_GCF_URL fails naming it", out)


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


example_check()
function_check()
tap.done()
