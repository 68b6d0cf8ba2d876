#!/usr/bin/env python3
"""tests/http-conformance.py: the http sink against real HTTP servers.

nginx (Debian's nginx-light), configured here in a temporary directory:
  - HTTP/1.1 on a plain port, with both engines (the native HTTP/1.1 one
    and libcurl), and over TLS (ALPN offering http/1.1 alone),
  - HTTP/1.1 with nginx closing each connection after a few requests
    (keepalive_requests: the last answer says Connection: close), and with
    a connection_ttl of 30 ms retiring idle connections, with no error on
    either engine,
  - an early 413: nginx refuses a 10 MB body by its Content-Length and
    answers before reading it; the answer counts (records rejected, no
    transport error) with both engines,
  - HTTP/2 over TLS (ALPN) with a CA made by openssl for this run, with
    both engines,
  - TLS without HTTP/2: ALPN picks http/1.1 and the native HTTP/1.1
    engine takes over,
  - HTTP/2 over TLS with a client certificate required (mutual TLS),
  - cleartext HTTP/2 with prior knowledge (`listen PORT http2;`), with
    both engines (nghttp2 and libcurl), and through connect_to.
Every nginx server proxies to tests/receiver.py, which checks the bodies on
the server side: each pipeline also writes the same codec's output to a
file (a second route), and the records the receiver got must be exactly
the records in the file, byte for byte. nginx's access log proves which
protocol carried the requests.

nghttpd (nghttp2-server), cleartext (both engines) and TLS: it stores nothing, so its
verbose log is checked instead: one POST stream per request, DATA lengths
adding up to the bytes the sink sent, streams multiplexed on few
connections.

A server that is missing is skipped (CI installs them all).
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()
COUNT = 300


def tee_records(p):
    with open(p, "rb") as f:
        return sorted(H.records_of(f.read()))


def received_records(entries, since):
    recs = []
    for e in entries[since:]:
        if 200 <= e["status"] < 300:
            recs.extend(H.records_of(e["body"].encode()))
    return sorted(recs)


def scenario(name, rcv, url, sink_lines, batch, access=None, port=None, proto=None, errors=None,
             source=()):
    tee = H.path(name + ".tee")
    before = len(rcv.entries())
    ini = H.ini(name + ".ini", ["url = " + url] + sink_lines, count=COUNT, batch=batch, tee=tee,
                source_lines=list(source))
    r = H.run(ini)
    st = r.stats("sink.web")
    if not tap.ok(r.rc == 0 and st.get("delivered") == COUNT,
                  "%s: the pipeline delivers %d records" % (name, COUNT), r.tail()):
        return
    got = received_records(rcv.entries(), before)
    want = tee_records(tee)
    tap.ok(got == want, "%s: the server got every record intact (%d records, %d requests)"
           % (name, len(got), st.get("http_requests", 0)),
           "got %d records, want %d" % (len(got), len(want)))
    if errors is not None:
        tap.ok(st.get("http_errors", 0) == errors, "%s: %d transport error(s)" % (name, errors),
               "sink: %s" % st)
    if access:
        rows = [x for x in H.nginx_log(access) if x["port"] == port]
        protos = sorted(set(x["proto"] for x in rows))
        tap.ok(protos == [proto] and len(rows) >= st.get("http_requests", 0),
               "%s: nginx saw %s only" % (name, proto), "protocols seen: %s, rows %d" % (protos, len(rows)))


def early_413(engine, port):
    """nginx answers 413 from the Content-Length, before reading a body larger than the socket
    buffers: the answer decides (too large, not a transport error), and the core splits the
    batches until every body fits nginx's 1k limit."""
    name = "nginx-early-413-" + engine
    count, batch = 2000, 1000
    ini = H.ini(name + ".ini", ["url = http://127.0.0.1:%d/in" % port, "protocol = http1.1",
                                "engine = " + engine, "on_reject = drop", "batch_max_bytes = 64MiB"],
                count=count, batch=batch)
    r = H.run(ini, timeout=120)
    st = r.stats("sink.web")
    tap.ok(r.rc == 0 and st.get("delivered") == count and st.get("rejected", 0) == 0
           and st.get("http_4xx", 0) > 0 and st.get("http_2xx", 0) > 0 and st.get("http_errors", 0) == 0,
           "%s: %d-record bodies refused with 413 before nginx reads them are split until they fit; "
           "every record delivered, no transport error (%d requests)"
           % (name, batch, st.get("http_requests", 0)), r.tail(), "sink: %s" % st)


def main():
    nginx = H.nginx_bin()
    ca = H.make_ca()
    rcv = H.Receiver("recv", "--log-bodies")
    if not nginx:
        tap.skip("nginx conformance", "nginx is not installed (apt-get install nginx-light)")
    else:
        p11, ph2, pmtls, ph2c, ptls11, pclose, p413, p11tls = (H.free_port() for _ in range(8))
        tls = ("    ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;" % (ca, ca))
        servers = [
            "    listen 127.0.0.1:%d;\n%s" % (p11, H.PROXY),
            "    listen 127.0.0.1:%d ssl http2;\n%s\n%s" % (ph2, tls, H.PROXY),
            "    listen 127.0.0.1:%d ssl http2;\n%s\n    ssl_verify_client on; ssl_client_certificate %s/ca.pem;\n%s"
            % (pmtls, tls, ca, H.PROXY),
            "    listen 127.0.0.1:%d http2;\n%s" % (ph2c, H.PROXY),
            "    listen 127.0.0.1:%d ssl;\n%s\n%s" % (ptls11, tls, H.PROXY),
            "    listen 127.0.0.1:%d;\n    keepalive_requests 7;\n%s" % (pclose, H.PROXY),
            "    listen 127.0.0.1:%d;\n    client_max_body_size 1k;\n%s" % (p413, H.PROXY),
            # Offers HTTP/2 too: protocol http1.1 must not take it.
            "    listen 127.0.0.1:%d ssl http2;\n%s\n%s" % (p11tls, tls, H.PROXY),
        ]
        proc, access = H.start_nginx(servers, upstream_port=rcv.port)
        if not all(H.wait_port(p) for p in (p11, ph2, pmtls, ph2c, ptls11, pclose, p413, p11tls)):
            tap.ok(False, "nginx starts", open(os.path.join(H.path("nginx"), "error.log")).read())
        else:
            ca_opt = "tls_ca_file = %s/ca.pem" % ca
            for batch in (None, 50):
                tag = "batch%d" % batch if batch else "single"
                for engine in ("native", "libcurl"):
                    scenario("nginx-http1.1-%s-%s" % (engine, tag), rcv, "http://127.0.0.1:%d/in" % p11,
                             ["protocol = http1.1", "engine = " + engine], batch, access, p11, "HTTP/1.1")
                    scenario("nginx-http1.1-tls-%s-%s" % (engine, tag), rcv, "https://localhost:%d/in" % p11tls,
                             ["protocol = http1.1", "engine = " + engine, ca_opt], batch, access, p11tls,
                             "HTTP/1.1")
                for engine in ("native", "libcurl"):
                    scenario("nginx-h2-tls-%s-%s" % (engine, tag), rcv, "https://localhost:%d/in" % ph2,
                             ["protocol = http2", "engine = " + engine, ca_opt], batch, access, ph2,
                             "HTTP/2.0")
                for engine in ("native", "libcurl"):
                    scenario("nginx-h2c-%s-%s" % (engine, tag), rcv, "http://127.0.0.1:%d/in" % ph2c,
                             ["protocol = h2c", "engine = " + engine], batch, access, ph2c, "HTTP/2.0")
            scenario("nginx-h2-mtls", rcv, "https://localhost:%d/in" % pmtls,
                     ["protocol = http2", ca_opt, "tls_cert = %s/client.pem" % ca,
                      "tls_key = %s/client.key" % ca], 20, access, pmtls, "HTTP/2.0")
            scenario("nginx-vendor-names", rcv, "http://127.0.0.1:%d/in" % p11,
                     ["protocol = HTTP_1_1", "compression = gzip", "compression_threshold = 0"], 20,
                     access, p11, "HTTP/1.1")
            scenario("nginx-h2-connect-to", rcv, "https://example.test:%d/in" % ph2,
                     [ca_opt, "connect_to = example.test:%d:127.0.0.1:%d" % (ph2, ph2),
                      "tls_verify = false"], 20, access, ph2, "HTTP/2.0")
            # connect_to moves the connection, and the URL's name is still what TLS verifies.
            scenario("nginx-h2-connect-to-verified", rcv, "https://localhost:%d/in" % ph2,
                     [ca_opt, "connect_to = localhost:%d:127.0.0.1:%d" % (ph2, ph2)], 20, access,
                     ph2, "HTTP/2.0")
            # nginx closes each connection after 7 requests, saying so in the last answer.
            for engine in ("native", "libcurl"):
                scenario("nginx-http1.1-conn-close-%s" % engine, rcv, "http://127.0.0.1:%d/in" % pclose,
                         ["protocol = http1.1", "engine = " + engine], None, access, pclose, "HTTP/1.1",
                         errors=0)
                # Records trickle in, so connections sit idle past their ttl and are retired.
                scenario("nginx-http1.1-ttl-%s" % engine, rcv, "http://127.0.0.1:%d/in" % p11,
                         ["protocol = http1.1", "engine = " + engine, "connection_ttl = 30ms",
                          "concurrency = 4"], None, access, p11, "HTTP/1.1", errors=0,
                         source=["rate = 300"])
            for engine in ("native", "libcurl"):
                early_413(engine, p413)
            # A TLS server without HTTP/2: ALPN says http/1.1, and the HTTP/1.1 engine takes over.
            scenario("nginx-alpn-http1.1-fallback", rcv, "https://localhost:%d/in" % ptls11,
                     ["protocol = http2", ca_opt], 20, access, ptls11, "HTTP/1.1")
            scenario("nginx-h2c-connect-to", rcv, "http://example.test:%d/in" % ph2c,
                     ["protocol = h2c", "connect_to = example.test::127.0.0.1:"], 20,
                     access, ph2c, "HTTP/2.0")

            # Verification is on by default: without our CA the server is not trusted.
            for engine in ("native", "libcurl"):
                ini = H.ini("nginx-untrusted-%s.ini" % engine,
                            ["url = https://localhost:%d/in" % ph2, "timeout = 500ms",
                             "engine = " + engine], count=5,
                            pipeline_lines=["event_deadline = 1s", "shutdown_timeout = 0"])
                r = H.run_for(ini, 2.5)
                tap.ok("certificate" in r.err.lower() and r.stats("sink.web").get("delivered", -1) == 0,
                       "%s: an untrusted server certificate is refused (and retried)" % engine, r.tail())
        proc.terminate()

    # nghttpd: h2c and h2 over TLS, checked from its verbose log.
    if not shutil.which("nghttpd"):
        tap.skip("nghttpd conformance", "nghttpd is not installed (apt-get install nghttp2-server)")
    else:
        for tls, engine in ((False, "native"), (False, "libcurl"), (True, "libcurl")):
            port = H.free_port()
            log = H.path("nghttpd-%s-%s.log" % ("tls" if tls else "h2c", engine))
            argv = ["nghttpd", "-v", "--echo-upload", str(port)]
            argv = argv[:3] + (["%s" % port, "%s/server.key" % ca, "%s/server.pem" % ca] if tls
                               else ["--no-tls", "%s" % port])
            out = open(log, "w")
            proc = H.spawn(argv, stdout=out, stderr=out)
            if not H.wait_port(port):
                tap.ok(False, "nghttpd starts")
                continue
            name = "nghttpd-" + ("h2-tls" if tls else "h2c-" + engine)
            url = ("https://localhost:%d/in" if tls else "http://127.0.0.1:%d/in") % port
            lines = ["protocol = %s" % ("http2" if tls else "h2c"), "engine = " + engine]
            if tls:
                lines.append("tls_ca_file = %s/ca.pem" % ca)
            ini = H.ini(name + ".ini", ["url = " + url] + lines, count=COUNT, batch=10)
            r = H.run(ini)
            st = r.stats("sink.web")
            time.sleep(0.3)
            proc.terminate()
            proc.wait(5)
            out.close()
            text = open(log).read()
            posts = len(re.findall(r":method: POST", text))
            data = sum(int(x) for x in re.findall(r"recv DATA frame <length=(\d+)", text))
            conns = len(set(re.findall(r"^\[id=(\d+)\].*recv \(stream_id=\d+\) :method: POST", text, re.M)))
            ctypes = set(re.findall(r"recv \(stream_id=\d+\) content-type: (\S+)", text))
            tap.ok(r.rc == 0 and st.get("delivered") == COUNT, "%s: the pipeline delivers %d records"
                   % (name, COUNT), r.tail())
            tap.ok(posts == st.get("http_requests") and data == st.get("http_bytes_sent"),
                   "%s: one stream per request, DATA adds up to the bytes sent (%d streams, %d bytes)"
                   % (name, posts, data),
                   "server: %d POST streams, %d DATA bytes; sink: %s" % (posts, data, st))
            if tls or engine == "native" or not H.h2c_reuse_broken():
                tap.ok(0 < conns <= 2, "%s: requests multiplexed on %d connection(s)" % (name, conns))
            else:
                tap.skip("%s: requests multiplexed" % name, "libcurl before 8.0.0 cannot reuse h2c connections (curl bug 10634)")
            tap.ok(ctypes == {"application/x-ndjson"}, "%s: content type from the codec" % name,
                   "got %s" % ctypes)
    rcv.stop()
    tap.done()


main()
