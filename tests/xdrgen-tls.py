"""tests/xdrgen-tls.py: spillway-xdrgen over TLS (OpenSSL memory BIOs on
libuv) to the fake connector behind Python's ssl module: verified against
--tls-ca, refused when the certificate does not verify (and accepted with
--tls-insecure), a name mismatch caught, and mutual TLS with --tls-cert /
--tls-key. The certificates are made here with the openssl command; the
test skips when it is missing. TAP on stdout.
"""

import asyncio
import importlib.util
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("xdrgen_fake", os.path.join(here, "xdrgen-fake.py"))
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)
T = fake.Tap()


def make_cert(tmp, name, cn, san):
    key, crt = os.path.join(tmp, name + ".key"), os.path.join(tmp, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=" + cn, "-addext",
                    "subjectAltName=" + san], check=True, capture_output=True)
    return crt, key


def server_ctx(crt, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


async def run(ctx, args, n=300):
    f = await fake.Fake(ssl=ctx).start()
    st, rep, err = await fake.run_xdrgen(["-c", "127.0.0.1:%d" % f.port, "-n", n, "-C", 2,
                                          "--json", "--reconnect-min", "50ms"] + args, timeout=30)
    await f.stop()
    return f, st, rep, err


async def main(tmp):
    srv_crt, srv_key = make_cert(tmp, "server", "localhost", "IP:127.0.0.1,DNS:localhost")
    cli_crt, cli_key = make_cert(tmp, "client", "xdr-client", "DNS:xdr-client")
    other_crt, _ = make_cert(tmp, "other", "other", "DNS:other")

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key), ["--tls-ca", srv_crt])
    d = ["report %s" % rep, "stderr %s" % err, "fake errors %s" % f.errors[:2]]
    T.ok(st == 0 and isinstance(rep, dict) and rep["acknowledged"] == 300
         and sorted(f.received) == list(range(300)) and not f.errors,
         "--tls-ca: verified (IP SAN), every record acknowledged", *d)

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key),
                                ["--tls-ca", srv_crt, "--tls-name", "localhost", "--compress-ratio", "0.5"])
    T.ok(st == 0 and rep["acknowledged"] == 300 and rep["compressed"] > 0,
         "--tls-name localhost (DNS SAN), with compressed frames", "report %s" % rep, "stderr %s" % err)

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key), ["--tls-ca", other_crt, "--max-time", "1s"])
    T.ok(st == 1 and "certificate" in err and f.received == {},
         "an unknown issuer is refused: nothing sent, status 1", "stderr %s" % err)

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key),
                                ["--tls-ca", srv_crt, "--tls-name", "elsewhere", "--max-time", "1s"])
    T.ok(st == 1 and "certificate" in err and f.received == {},
         "a name the certificate does not hold is refused", "stderr %s" % err)

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key), ["--tls-insecure"])
    T.ok(st == 0 and rep["acknowledged"] == 300, "--tls-insecure skips verification",
         "stderr %s" % err)

    mctx = server_ctx(srv_crt, srv_key, client_ca=cli_crt)
    f, st, rep, err = await run(mctx, ["--tls-ca", srv_crt, "--tls-cert", cli_crt, "--tls-key", cli_key])
    T.ok(st == 0 and rep["acknowledged"] == 300, "mutual TLS with --tls-cert/--tls-key",
         "report %s" % rep, "stderr %s" % err)

    f, st, rep, err = await run(server_ctx(srv_crt, srv_key, client_ca=cli_crt),
                                ["--tls-ca", srv_crt, "--max-time", "1s"])
    T.ok(st == 1 and f.received == {}, "a connector requiring a client certificate refuses one without",
         "stderr %s" % err)

    # a plaintext connector: the handshake never completes; --timeout bounds it
    f = await fake.Fake().start()
    st, rep, err = await fake.run_xdrgen(["-c", "127.0.0.1:%d" % f.port, "-n", 5, "--tls-insecure",
                                          "--timeout", "300ms", "--max-time", "1500ms"])
    await f.stop()
    T.ok(st == 1, "TLS to a plaintext connector fails cleanly (status 1)", "stderr %s" % err)


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("1..0 # SKIP the openssl command is needed to make test certificates")
        sys.exit(0)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
    sys.exit(T.done())
