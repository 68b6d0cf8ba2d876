"""tests/gcf-test-lib.py: what tests/gcf-*.py share (loaded by path, like
tests/http-lib.py, which it loads too): RSA keys made with openssl at test
time (Google's signing key, a service account's key, written into a JSON
key file as Google issues them), the fakes of tests/gcf-fakes.py started
on free ports, pipelines ending in the `gcf` sink, and runs of the real
program in an environment of the test's making (nothing GOOGLE_* or GCE_*
inherited).
"""

import importlib.util
import json
import os
import signal
import subprocess
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

FAKES = os.path.join(H.SRCDIR, "tests", "gcf-fakes.py")
SA_EMAIL = "spillway@fake-project.iam.gserviceaccount.com"
SA_KID = "3f1c0e5b2a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
GOOGLE_KID = "fake-google-kid-1"
XDRGEN = os.path.join(H.BUILDDIR, "spillway-xdrgen")


def openssl_key(name):
    p = H.path(name)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", p], check=True, capture_output=True)
    return p


_keys = {}


def keys():
    """(google key, service account key) PEM paths, made once per test process."""
    if not _keys:
        _keys["google"] = openssl_key("google.pem")
        _keys["sa"] = openssl_key("sa.pem")
    return _keys["google"], _keys["sa"]


def key_file(name, token_url, kind="service_account"):
    """A key file as the IAM console downloads it, pointing at the fake token endpoint."""
    _, sa = keys()
    doc = {"type": kind, "project_id": "fake-project", "private_key_id": SA_KID,
           "private_key": open(sa).read(), "client_email": SA_EMAIL,
           "client_id": "104729301847562938475",
           "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_url,
           "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs"}
    if kind == "authorized_user":
        doc = {"type": "authorized_user", "client_id": "764086051850-fake.apps.googleusercontent.com",
               "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0fake-refresh"}
    return H.write(name, json.dumps(doc, indent=2))


class Fake:
    def __init__(self, name, role, *args, port=0):
        g, sa = keys()
        self.name = name
        self.log = H.path(name + ".log")
        portfile = H.path(name + ".port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        err = open(H.path(name + ".stderr"), "a")
        argv = [H.PYTHON3, FAKES, role, "--port", str(port), "--port-file", portfile, "--log",
                self.log, "--google-kid", GOOGLE_KID, "--sa-email", SA_EMAIL]
        if role in ("metadata", "token"):
            argv += ["--google-key", g]
        if role == "token":
            argv += ["--sa-pub", sa, "--sa-kid", SA_KID]
        if role == "function":
            argv += ["--google-pub", g]
        self.proc = H.spawn(argv + list(args), stdout=err, stderr=err)
        end = time.monotonic() + 15
        while not os.path.exists(portfile):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the %s fake did not start: %s" % (role, open(H.path(name + ".stderr")).read()))
            time.sleep(0.02)
        self.port = int(open(portfile).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def entries(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def issued(self):
        return [e for e in self.entries() if e.get("issued")]

    def control(self, what, body=b""):
        import urllib.request
        req = urllib.request.Request(self.url + "/_control/" + what, data=body, method="POST")
        return urllib.request.urlopen(req, timeout=5).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def function(name, audience=None, *args):
    """The service; its audience is its own origin unless given (a callable of the URL)."""
    port = H.free_port()
    url = "http://127.0.0.1:%d" % port
    aud = audience(url) if callable(audience) else (audience or url)
    return Fake(name, "function", "--audience", aud, "--invoker", SA_EMAIL, *args, port=port)


def env(**kw):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("GOOGLE_") and not k.startswith("GCE_")}
    e["GCE_METADATA_HOST"] = "127.0.0.1:9"  # nothing there unless the test says so
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def ini(name, fn, count, rate=0, workers=1, sink=(), batch=None, path="/"):
    lines = ["url = %s%s" % (fn.url, path), "hold_down = 1s", "timeout = 5s"] + list(sink)
    p = H.ini(name + ".ini", lines, count=count, batch=batch,
              pipeline_lines=["workers = %d" % workers, "event_deadline = 3s"],
              source_lines=["rate = %d" % rate] if rate else [])
    # H.ini writes an `http` sink: the same options, this sink
    text = open(p).read().replace("plugin = http\n", "plugin = gcf\n")
    with open(p, "w") as f:
        f.write(text)
    return p


def xdr_ini(name, fn, port, sink=(), workers=2, batch=20):
    return H.write(name + ".ini", "\n".join([
        "[pipeline]", "name = %s" % name, "workers = %d" % workers, "event_deadline = 2s",
        "[source.xdr]", "plugin = xdr", "listen = 127.0.0.1:%d" % port,
        "[codec.c]", "plugin = json",
        "[sink.fn]", "plugin = gcf", "codec = c", "url = %s/" % fn.url, "hold_down = 1s",
        "timeout = 5s", "batch_max_records = %d" % batch, "batch_max_delay = 20ms"]
        + list(sink)) + "\n")


def run(ini_path, environ, timeout=90):
    try:
        p = subprocess.run([H.SPILLWAY, "-c", ini_path], capture_output=True, text=True,
                           timeout=timeout, env=environ)
        return H.Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as x:
        err = x.stderr.decode() if isinstance(x.stderr, bytes) else (x.stderr or "")
        return H.Run(-1, "", err + "\n(timed out)")


def check(ini_path, environ):
    p = subprocess.run([H.SPILLWAY, "--check", "-c", ini_path], capture_output=True, text=True,
                       timeout=30, env=environ)
    return H.Run(p.returncode, p.stdout, p.stderr)


def start(ini_path, environ, name):
    log = open(H.path(name + ".spillway"), "a")
    return H.spawn([H.SPILLWAY, "-c", ini_path], stdout=log, stderr=log, env=environ)


def stop(p, name):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -1
    return rc, open(H.path(name + ".spillway")).read()


def xdrgen(port, count, rate, name, max_time="90s"):
    out = open(H.path(name + ".xdrgen"), "w")
    return H.spawn([XDRGEN, "--connect", "127.0.0.1:%d" % port, "--count", str(count), "--rate",
                    str(rate), "--reconnect-max", "300ms", "--timeout", "3s", "--max-time", max_time],
                   stdout=out, stderr=out)


def xdrgen_wait(gen, name, timeout=100):
    try:
        rc = gen.wait(timeout)
    except subprocess.TimeoutExpired:
        gen.kill()
        rc = -1
    return rc, open(H.path(name + ".xdrgen")).read()[-1500:]


def have_xdr():
    return (any(os.path.exists(os.path.join(H.BUILDDIR, "plugins", f))
                for f in ("source-xdr.la", ".libs/source-xdr.so")) and os.access(XDRGEN, os.X_OK))


def delivered(fn):
    return H.delivered_seqs([e for e in fn.entries() if e.get("kind") == "call"])


def calls(fn):
    return [e for e in fn.entries() if e.get("kind") == "call"]


def all_delivered(fn, count):
    seen = delivered(fn)
    return [s for s in range(count) if s not in seen]


def leaked(text):
    """Issued tokens or the private key found in some output."""
    _, sa = keys()
    pem_body = "".join(open(sa).read().splitlines()[1:3])
    return [s for s in [pem_body] if s and s in text]
