"""tests/http-lib.py: what the http sink's Python tests share (loaded by
path, since its name is not a module name): TAP output, temporary
directories, the receiver, nginx and nghttpd started on free ports in a
temporary directory, a test CA made with openssl at test time, spillway
runs, and readers for receiver logs, stats lines and dead letters.

Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
top_srcdir, top_builddir, PYTHON3.
"""

import atexit
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRCDIR = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
SPILLWAY = os.environ.get("SPILLWAY") or os.path.join(BUILDDIR, "spillway")
PYTHON3 = os.environ.get("PYTHON3") or sys.executable
RECEIVER = os.path.join(SRCDIR, "tests", "receiver.py")


class Tap:
    """A TAP producer: the plan is printed at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, *diag):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            for d in diag:
                self.diag(d)
        return bool(cond)

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


_procs = []
_tmp = tempfile.mkdtemp(prefix="spw-http.")


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(3)
            except Exception:
                p.kill()
    if not os.environ.get("SPW_KEEP_TMP"):
        shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))


def tmpdir():
    return _tmp


def path(name):
    return os.path.join(_tmp, name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


class Receiver:
    def __init__(self, name, *args):
        self.log = path(name + ".log")
        self.portfile = path(name + ".port")
        self.err = open(path(name + ".stderr"), "w")
        self.proc = spawn([PYTHON3, RECEIVER, "--port", "0", "--port-file", self.portfile,
                           "--log", self.log] + list(args), stdout=self.err, stderr=self.err)
        end = time.monotonic() + 10
        while not os.path.exists(self.portfile):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.02)
        self.port = int(open(self.portfile).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def entries(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def control(self, what, body=b""):
        import urllib.request
        req = urllib.request.Request(self.url + "/_control/" + what, data=body, method="POST")
        return urllib.request.urlopen(req, timeout=5).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def delivered_seqs(entries):
    """seq -> number of times it arrived in a 2xx-answered request."""
    seen = {}
    for e in entries:
        if 200 <= e["status"] < 300:
            for s in e["seqs"]:
                seen[s] = seen.get(s, 0) + 1
    return seen


def check_all_delivered(tap, name, entries, count, exclude=()):
    seen = delivered_seqs(entries)
    missing = [s for s in range(count) if s not in seen and s not in exclude]
    dups = sum(c - 1 for c in seen.values() if c > 1)
    tap.ok(not missing, "%s: every one of %d records arrived%s" % (name, count - len(exclude),
                                                                   " (but the rejected)" if exclude else ""),
           "missing %d: %s" % (len(missing), missing[:20]))
    tap.diag("%s: %d request(s), %d duplicate record(s)" % (name, len(entries), dups))
    return seen


def write(name, text):
    p = path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


def ini(name, sink_lines, count=200, batch=None, pipeline_lines=(), source_lines=(), codec="json",
        codec_lines=(), tee=None):
    """Writes a generate -> codec -> http pipeline; tee=PATH adds a file sink with the same codec."""
    out = ["[pipeline]", "name = httptest"] + list(pipeline_lines)
    out += ["", "[source.gen]", "plugin = generate", "count = %d" % count] + list(source_lines)
    out += ["", "[codec.c]", "plugin = %s" % codec] + list(codec_lines)
    out += ["", "[sink.web]", "plugin = http", "codec = c"] + list(sink_lines)
    if batch:
        out.append("batch_max_records = %d" % batch)
    if tee:
        out += ["", "[sink.tee]", "plugin = file", "codec = c", "path = %s" % tee]
        if batch:
            out.append("batch_max_records = %d" % batch)
    return write(name, "\n".join(out) + "\n")


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def stats(self, section):
        """The last [stats] line of a section, as a dict of ints."""
        d = {}
        for line in self.err.splitlines():
            m = re.search(r"\[stats\] %s: (.*)$" % re.escape(section), line)
            if m:
                d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
        return d

    def tail(self, n=15):
        return "\n".join(self.err.splitlines()[-n:])


def run(ini_path, timeout=90, args=(), env=None):
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run([SPILLWAY, "-c", ini_path] + list(args), capture_output=True, text=True,
                           timeout=timeout, env=e)
        return Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as x:
        return Run(-1, x.stdout or "", (x.stderr or b"").decode() if isinstance(x.stderr, bytes) else (x.stderr or "") + "\n(timed out)")


def run_for(ini_path, seconds, env=None):
    """Runs a pipeline for `seconds`, then stops it with SIGTERM (a graceful stop)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([SPILLWAY, "-c", ini_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=e)
    _procs.append(p)
    time.sleep(seconds)
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return Run(p.returncode, out, err)


def check(ini_path):
    p = subprocess.run([SPILLWAY, "--check", "-c", ini_path], capture_output=True, text=True, timeout=30)
    return Run(p.returncode, p.stdout, p.stderr)


def dead_letters(p):
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]


def payload(dl):
    return base64.b64decode(dl["payload"])


def records_of(data):
    """The NDJSON lines of a body or file, as bytes."""
    return [l for l in data.split(b"\n") if l]


# ---- TLS material --------------------------------------------------------------

def make_ca():
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    d = path("pki")
    os.makedirs(d, exist_ok=True)
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=spillway test CA",
         "-keyout", "ca.key", "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + ("localhost" if name == "server" else "spillway"),
             "-keyout", name + ".key", "-out", name + ".csr")
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")
    return d


# ---- nginx and nghttpd ---------------------------------------------------------

def nginx_bin():
    for c in ("/usr/sbin/nginx", shutil.which("nginx") or ""):
        if c and os.access(c, os.X_OK):
            return c
    return None


def start_nginx(servers, upstream_port=None, http_extra=""):
    """servers: list of nginx `server { }` bodies. Returns (proc, access_log)."""
    d = path("nginx")
    for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    access = os.path.join(d, "access.log")
    conf = ["daemon off;", "master_process off;", "worker_processes 1;",
            "pid %s/nginx.pid;" % d, "error_log %s/error.log warn;" % d,
            "events { worker_connections 4096; }", "http {",
            "  log_format spw '$server_port $server_protocol $request_method $request_uri $status $request_length $content_length';",
            "  access_log %s spw;" % access,
            "  client_body_temp_path %s/body;" % d, "  proxy_temp_path %s/proxy;" % d,
            "  fastcgi_temp_path %s/fcgi;" % d, "  uwsgi_temp_path %s/uwsgi;" % d,
            "  scgi_temp_path %s/scgi;" % d, "  client_max_body_size 64m;",
            "  keepalive_requests 100000;", http_extra]
    if upstream_port:
        conf.append("  upstream recv { server 127.0.0.1:%d; keepalive 32; }" % upstream_port)
    for s in servers:
        conf.append("  server {\n%s\n  }" % s)
    conf.append("}")
    cpath = os.path.join(d, "nginx.conf")
    with open(cpath, "w") as f:
        f.write("\n".join(conf) + "\n")
    err = open(os.path.join(d, "stderr"), "w")
    proc = spawn([nginx_bin(), "-p", d, "-e", os.path.join(d, "error.log"), "-c", cpath],
                 stdout=err, stderr=err)
    return proc, access


def nginx_log(access):
    rows = []
    if os.path.exists(access):
        with open(access) as f:
            for l in f:
                parts = l.split()
                if len(parts) >= 7:
                    rows.append({"port": int(parts[0]), "proto": parts[1], "method": parts[2],
                                 "uri": parts[3], "status": int(parts[4]), "len": parts[6]})
    return rows


PROXY = ("    location / { proxy_pass http://recv; proxy_http_version 1.1;"
         " proxy_set_header Connection \"\"; proxy_request_buffering on; }")


def libcurl_version():
    """The version of the libcurl spillway loads, as (major, minor)."""
    import ctypes
    import ctypes.util
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("curl") or "libcurl.so.4")
        lib.curl_version.restype = ctypes.c_char_p
        text = lib.curl_version().decode()
    except OSError:
        text = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"libcurl/(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def h2c_reuse_broken():
    """libcurl before 8.0.0 cannot reuse cleartext HTTP/2 prior-knowledge connections."""
    return libcurl_version() < (8, 0)


class Spillway:
    """spillway running a pipeline in the background, its output in NAME.stderr;
    with an admin endpoint (admin = HOST:0 too), the bound address read from
    its log: addr ("HOST:PORT"), host, port and url, or None when it did not
    come up within `timeout` seconds (or spillway exited first)."""

    def __init__(self, name, text, env=None, timeout=20):
        self.ini = write(name + ".ini", text)
        self.errpath = path(name + ".stderr")
        e = dict(os.environ)
        e.update(env or {})
        self.errf = open(self.errpath, "w")
        self.proc = spawn([SPILLWAY, "-c", self.ini], stdout=self.errf, stderr=self.errf, env=e)
        self.url = self.addr = self.host = self.port = None
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            m = re.search(r"admin endpoint on http://(\S+) ", self.log())
            if m:
                self.addr = m.group(1)
                self.host, self.port = self.addr.rsplit(":", 1)
                self.url = "http://" + self.addr
                break
            time.sleep(0.05)

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self, timeout=30):
        """SIGTERM (the orderly stop), SIGKILL after `timeout` s; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def stats(self, section):
        """The last [stats] line of a section so far, as a dict of ints."""
        return Run(0, "", self.log()).stats(section)


def http_get(url, timeout=10):
    """(status, body) of a GET; HTTP errors are answers too, and a refused,
    reset or timed-out connection (a loaded machine) is (None, reason)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_for(pred, timeout):
    """pred()'s first true value, tried every 0.05 s for `timeout` seconds
    (and once more at the end)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()
