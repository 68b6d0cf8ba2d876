#!/usr/bin/env python3
"""tests/xdr-tls.py: the xdr source over TLS.

A throwaway CA, server certificate, client certificate and a rogue
(self-signed) client certificate are made with `openssl req` in a
temporary directory; the client is Python's ssl module. Covered: records
over TLS (plain, compressed, one byte per write, many per write, larger
than a TLS record), INFO, a plain-TCP client refused, first_frame_timeout
after a handshake and frame_timeout on a TLS record cut short, tls_min_version,
client-certificate verification on (no certificate, a good one, a rogue
one) and off, mismatched key at --check, shutdown. TAP output.
"""
import importlib.util
import os
import signal
import ssl
import subprocess
import time

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

DATA = os.path.join(os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..")),
                    "tests", "data", "xdr")
REF_WRITE = x.hexfile(os.path.join(DATA, "ref-write.hex"))

t = x.Tap()
tmp = x.tmpdir()
running = []


def sh(*args):
    subprocess.run(args, cwd=tmp, check=True, capture_output=True, timeout=60)


def make_pki():
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
       "-subj", "/CN=spillway test CA")
    with open(os.path.join(tmp, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(tmp, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "server.ext"), ("client", "client.ext")):
        sh("openssl", "req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
           "-subj", "/CN=" + ("localhost" if name == "server" else "xdr-node-1"))
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext)
    sh("openssl", "req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
       "-subj", "/CN=rogue")
    sh("openssl", "req", "-x509", *ec, "-keyout", "other.key", "-out", "other.pem", "-days", "2",
       "-subj", "/CN=other")


def p(name):
    return os.path.join(tmp, name)


def client_ctx(cert=None, max_version=None, min_version=None):
    ctx = ssl.create_default_context(cafile=p("ca.pem"))
    if cert:
        ctx.load_cert_chain(p(cert + ".pem"), p(cert + ".key"))
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


def tls_pipeline(port, extra=""):
    src = "tls_certificate = %s\ntls_private_key = %s\n%s" % (p("server.pem"), p("server.key"), extra)
    return x.pipeline(port, source=src, pipeline_opts="workers = 2\n",
                      sink="plugin = file\npath = %s\n" % p("out"))


def start(ini, port):
    s = x.Spillway(ini, tmp, "pipe%d" % len(running))
    running.append(s)
    return s.start(port)


def answered(port, ctx, frame=REF_WRITE):
    """The reply code to one frame over TLS, or the error that prevented it."""
    try:
        c = x.Conn(port, tls=ctx, timeout=5)
        c.send(frame)
        r = c.replies(1, timeout=5)[0]
        c.close()
        return r
    except (ssl.SSLError, OSError, x.Closed, TimeoutError) as e:
        return type(e).__name__


def run():
    make_pki()

    # ------------------------------------------------------------ --check
    bad = tls_pipeline(1).replace(p("server.key"), p("other.key"))
    with open(p("bad.ini"), "w") as f:
        f.write(bad)
    r = subprocess.run([os.environ["SPILLWAY"], "--check", "-c", p("bad.ini")], capture_output=True,
                       text=True, timeout=30)
    t.ok(r.returncode != 0 and "tls_private_key" in r.stderr + r.stdout and "mismatch" in r.stderr + r.stdout,
         "--check refuses a key that does not match the certificate", r.stderr)

    # ------------------------------------------------------------ server certificate only
    port = x.free_port()
    sp = start(tls_pipeline(port), port)
    ctx = client_ctx()
    c = x.Conn(port, tls=ctx)
    c.send(REF_WRITE)
    t.ok(c.replies(1) == [0], "a write over TLS is answered 0")
    t.ok(c.s.version() in ("TLSv1.2", "TLSv1.3"), "negotiated %s" % c.s.version())
    c.send(x.compressed(REF_WRITE))
    t.ok(c.replies(1) == [0], "a compressed write over TLS")
    c.send(REF_WRITE, chunk=1, pause=0.001)
    t.ok(c.replies(1) == [0], "a write sent one byte per TLS record")
    c.send(b"".join(x.seq_record(i) for i in range(300)))
    t.ok(c.replies(300) == [0] * 300, "300 frames in one write over TLS")
    c.send(x.seq_record(1, size=1 << 20))
    t.ok(c.replies(1, timeout=20) == [0], "a 1 MiB frame spanning many TLS records")
    c.send(x.info(["status"]))
    f = c.read_frame()
    t.ok(f[1] == 1 and f[8:] == b"status\tok\n", "INFO over TLS")
    c.close()
    t.ok(answered(port, client_ctx(max_version=ssl.TLSVersion.TLSv1_2)) == 0,
         "TLS 1.2 is accepted by default")
    t.ok(answered(port, client_ctx(cert="rogue")) == 0,
         "without tls_ca a client certificate is not checked")

    plain = x.Conn(port)
    plain.send(REF_WRITE)
    t.ok(plain.closed(5), "a plain-TCP client on a TLS listener is closed")
    plain.close()
    x.wait_for(lambda: "TLS handshake failed" in sp.log(), timeout=3)
    t.ok("TLS handshake failed" in sp.log(), "and the failure is logged",
         sp.log()[-800:])
    rc = sp.stop()
    t.ok(rc == 0, "spillway exits 0", "status %s\n%s" % (rc, sp.log()[-800:]))

    # ------------------------------------------------------------ slow and silent peers over TLS
    port = x.free_port()
    sp = start(tls_pipeline(port, "first_frame_timeout = 500ms\nframe_timeout = 500ms\n"), port)
    c = x.Conn(port, tls=client_ctx())
    t0 = time.monotonic()
    closed = c.closed(3)
    dt = time.monotonic() - t0
    t.ok(closed and dt < 1.5, "first_frame_timeout: a TLS peer that completes the handshake and "
         "sends no frame is closed (%.2f s)" % dt)
    c.close()
    # A TLS record cut short: the plaintext buffer stays empty, the bound must still run.
    import socket as socket_
    raw = socket_.create_connection(("127.0.0.1", port), timeout=5)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(out.read())
            inc.write(raw.recv(65536))
    raw.sendall(out.read())
    obj.write(REF_WRITE)
    raw.sendall(out.read())
    got = b""
    while len(got) < 30:
        try:
            got += obj.read(65536)
        except ssl.SSLWantReadError:
            inc.write(raw.recv(65536))
    t.ok(x.reply_code(got[:30]) == 0, "a first frame over TLS (memory BIOs)")
    obj.write(REF_WRITE)
    record = out.read()
    raw.sendall(record[:10])  # 10 bytes of a TLS record, then nothing
    t0 = time.monotonic()
    closed = False
    try:
        while time.monotonic() - t0 < 3:
            if not raw.recv(65536):
                closed = True
                break
    except OSError:
        closed = True
    dt = time.monotonic() - t0
    t.ok(closed and 0.45 <= dt < 1.5, "frame_timeout: a TLS record cut short closes the "
         "connection (%.2f s)" % dt)
    raw.close()
    sp.stop()
    t.ok(sp.stat("source.x", "closed_silent") == 1 and sp.stat("source.x", "closed_slow") == 1,
         "closed_silent = 1, closed_slow = 1", sp.log()[-1200:])

    # ------------------------------------------------------------ TLS 1.3 only
    port = x.free_port()
    sp = start(tls_pipeline(port, "tls_min_version = 1.3\n"), port)
    t.ok(answered(port, client_ctx(max_version=ssl.TLSVersion.TLSv1_2)) != 0,
         "tls_min_version = 1.3 refuses a TLS 1.2 client")
    t.ok(answered(port, client_ctx(min_version=ssl.TLSVersion.TLSv1_3)) == 0,
         "and accepts TLS 1.3")
    sp.stop()

    # ------------------------------------------------------------ client certificates required
    port = x.free_port()
    sp = start(tls_pipeline(port, "tls_ca = %s\n" % p("ca.pem")), port)
    t.ok(answered(port, client_ctx(cert="client")) == 0, "tls_ca: a client certificate the CA signed "
         "is accepted")
    t.ok(answered(port, client_ctx(cert="client", max_version=ssl.TLSVersion.TLSv1_2)) == 0,
         "tls_ca: also over TLS 1.2")
    r = answered(port, client_ctx())
    t.ok(r != 0, "tls_ca: a client without a certificate gets no answer (%s)" % r)
    r = answered(port, client_ctx(cert="rogue"))
    t.ok(r != 0, "tls_ca: a self-signed client certificate gets no answer (%s)" % r)
    r = answered(port, client_ctx(cert="rogue", max_version=ssl.TLSVersion.TLSv1_2))
    t.ok(r != 0, "tls_ca: nor over TLS 1.2 (%s)" % r)

    # Shutdown with a TLS connection open: closed cleanly, exit 0.
    c = x.Conn(port, tls=client_ctx(cert="client"))
    c.send(REF_WRITE)
    c.replies(1)
    rc = sp.stop()
    t.ok(rc == 0 and c.closed(5), "SIGTERM closes TLS connections and exits 0", "status %s\n%s" % (rc, sp.log()[-800:]))
    c.close()


try:
    run()
except Exception:
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc())
    for s in running:
        t.diag(s.log()[-2000:])
finally:
    for s in running:
        if s.alive():
            s.stop(signal.SIGKILL)
x.cleanup(tmp, t)
t.done()
