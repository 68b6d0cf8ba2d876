#!/usr/bin/env python3
"""bench/http-bench.py: the http sink's benchmark (run by bench/http.sh,
`make bench`). Everything runs on this machine, in one run, side by side,
so the ratios mean something even where the absolute numbers are noise:

  1. batched: generate -> json (NDJSON, 500 records per request) -> http,
     HTTP/1.1 to nginx answering 200 (`return 200`: nginx reads the body
     and drops it). Records/s end to end, and spillway's CPU time per
     record (user + system, from getrusage of the finished child: the
     generator and the codec are included).
  2. one record per request to nginx, beside h2load posting the same body
     to the same server in the same run: HTTP/1.1 (h2load --h1), HTTP/2
     over TLS, and cleartext HTTP/2 (h2c). Requests/s, with the native
     engines (the default), then the same through libcurl.
  3. peak RSS (VmHWM) with 32,768 records in flight against a destination
     that accepts and never answers (tests/receiver.py --stall).

Prints a table and the exact commands. Environment: top_srcdir,
top_builddir (set by `make bench`); SPW_BENCH_SCALE scales the counts.
"""

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILD = os.environ.get("top_builddir") or os.getcwd()
SPILLWAY = os.path.join(BUILD, "spillway")
SCALE = float(os.environ.get("SPW_BENCH_SCALE", "1"))
os.environ.setdefault("SPILLWAY_PLUGIN_PATH", os.path.join(BUILD, "plugins"))
TMP = tempfile.mkdtemp(prefix="spw-bench-http.")
PROCS = []
RESULTS = []


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
    shutil.rmtree(TMP, ignore_errors=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


def write(name, text):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def make_cert():
    d = os.path.join(TMP, "pki")
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", "key.pem", "-out", "cert.pem"], cwd=d, check=True, capture_output=True)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def start_nginx(p11, ptls, ph2c, cert, key):
    d = os.path.join(TMP, "nginx")
    for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    # nginx's `return 200` answers before reading the body and then resets the
    # HTTP/2 stream, which libcurl 7.88 reports as an error; the echo module
    # (a dependency of Debian's nginx-light) reads the body first, as a real
    # destination does.
    echo = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
    if os.path.exists(echo):
        head = "load_module %s;" % echo
        loc = "location / { client_max_body_size 64m; echo_read_request_body; echo ok; }"
    else:
        head = ""
        loc = "location / { client_max_body_size 64m; return 200; }"
    conf = head + """daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off; keepalive_requests 10000000;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi; client_body_buffer_size 1m;
  server {{ listen 127.0.0.1:{p11}; {loc} }}
  server {{ listen 127.0.0.1:{ptls} ssl http2; ssl_certificate {cert}; ssl_certificate_key {key}; {loc} }}
  server {{ listen 127.0.0.1:{ph2c} http2; {loc} }}
}}
""".format(d=d, p11=p11, ptls=ptls, ph2c=ph2c, cert=cert, key=key, loc=loc)
    c = write("nginx.conf", conf)
    p = subprocess.Popen(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", c],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    for port in (p11, ptls, ph2c):
        wait_port(port)
    return p


def run_spillway(ini):
    """Runs a finite pipeline; returns (wall s, cpu s, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([SPILLWAY, "-c", ini], capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise RuntimeError("spillway failed")
    return wall, cpu, p.stderr


def stats(err, section):
    d = {}
    for line in err.splitlines():
        m = re.search(r"\[stats\] %s: (.*)$" % re.escape(section), line)
        if m:
            d = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return d


def pipeline(name, count, url, sink_lines, batch=None, workers=1, extra="", max_in_flight=65536):
    lines = ["[pipeline]", "name = bench", "workers = %d" % workers,
             "max_in_flight = %d" % max_in_flight, extra,
             "[source.gen]", "plugin = generate", "count = %d" % count,
             "[codec.c]", "plugin = json", "batch_format = ndjson",
             "[sink.web]", "plugin = http", "codec = c", "url = " + url] + sink_lines
    if batch:
        lines += ["batch_max_records = %d" % batch, "batch_max_bytes = 16MiB", "batch_max_delay = 5ms"]
    return write(name + ".ini", "\n".join(lines) + "\n")


def h2load(args):
    p = subprocess.run(["h2load"] + args, capture_output=True, text=True, timeout=600)
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", p.stdout)
    ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", p.stdout)
    if not m:
        sys.stderr.write(p.stdout + p.stderr)
        raise RuntimeError("h2load failed")
    return float(m.group(1)), int(ok.group(1)) if ok else 0


def main():
    for tool in ("nginx", "h2load", "openssl"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            print("http bench: %s is missing (apt-get install nginx-light nghttp2-client openssl); skipped" % tool)
            return
    os.environ["PATH"] += ":/usr/sbin"
    cert, key = make_cert()
    p11, ptls, ph2c = free_port(), free_port(), free_port()
    start_nginx(p11, ptls, ph2c, cert, key)
    ca = "tls_ca_file = " + cert

    # 1. Batched NDJSON over HTTP/1.1.
    n = int(1_000_000 * SCALE)
    for workers in (1, 2):
        ini = pipeline("batched-w%d" % workers, n, "http://127.0.0.1:%d/ingest" % p11,
                       ["protocol = http1.1"], batch=500, workers=workers)
        wall, cpu, err = run_spillway(ini)
        st = stats(err, "sink.web")
        assert stats(err, "source.gen").get("delivered") == n, st
        RESULTS.append(("1. batched NDJSON x500, HTTP/1.1, %d worker(s)" % workers,
                        "%.0f records/s, %.2f us CPU/record, %d requests"
                        % (n / wall, cpu / n * 1e6, st.get("http_requests", 0)),
                        "spillway -c %s" % os.path.basename(ini)))

    # 2. One record per request, beside h2load with the same body.
    body = os.path.join(TMP, "record.json")
    one = write("one.ini", "[source.gen]\nplugin = generate\ncount = 1\n[codec.c]\nplugin = json\n"
                "[sink.f]\nplugin = file\ncodec = c\npath = %s\nnewline = never\n" % body)
    subprocess.run([SPILLWAY, "-c", one], check=True, capture_output=True)
    size = os.path.getsize(body)
    m = int(100_000 * SCALE)
    conc = 64
    cases = [
        ("HTTP/1.1", "http://127.0.0.1:%d/ingest" % p11, ["protocol = http1.1"],
         ["--h1", "-c", str(conc), "-m", "1"]),
        ("HTTP/2 over TLS", "https://localhost:%d/ingest" % ptls, ["protocol = http2", ca],
         ["-c", "1", "-m", str(conc)]),
        ("h2c (prior knowledge)", "http://127.0.0.1:%d/ingest" % ph2c, ["protocol = h2c"],
         ["-c", "1", "-m", str(conc)]),
    ]
    # HTTP/1.1 also with 2 workers: a second worker is a second core's worth of
    # per-request work (when nginx leaves one free).
    cases.insert(1, ("HTTP/1.1, 2 workers", cases[0][1], cases[0][2], cases[0][3]))
    # The same three through libcurl (engine = libcurl), side by side: what the
    # native engines are measured against. libcurl's h2c opens a connection per
    # request (curl bug 10634), so it gets a tenth of the records.
    cases += [(label + ", libcurl", url, lines + ["engine = libcurl"], hargs)
              for label, url, lines, hargs in cases if "workers" not in label]
    for n, (label, url, lines, hargs) in enumerate(cases):
        mm = max(2000, m // 10) if "h2c" in label and "libcurl" in label else m
        # libcurl drains a few thousand requests a second here: with 65,536 records
        # queued, those at the back reach the sink with a few ms left of their
        # 5 s event_deadline, which caps the request's timeout, and fail as
        # "Timeout was reached" transport errors (doc/http-client.md, "Timeouts
        # and the event deadline"). 4,096 in flight keeps the queue within a deadline.
        ini = pipeline("single-%d" % n, mm, url, lines + ["concurrency = %d" % conc],
                       workers=2 if "2 workers" in label else 1,
                       max_in_flight=4096 if "libcurl" in label else 65536)
        wall, cpu, err = run_spillway(ini)
        st = stats(err, "sink.web")
        assert stats(err, "source.gen").get("delivered") == mm, st
        rate = mm / wall
        if st.get("http_errors"):
            label += " (%d transport errors, retried)" % st["http_errors"]
        href, hok = h2load(["-n", str(mm), "-d", body, "-H", "content-type: application/json"] + hargs +
                           [url.replace("localhost", "127.0.0.1")])
        RESULTS.append(("2. one record (%d B) per request, %s" % (size, label),
                        "spillway %.0f req/s (%.1f us CPU/req), h2load %.0f req/s: %.0f%%"
                        % (rate, cpu / mm * 1e6, href, 100 * rate / href),
                        "concurrency = %d; h2load -n %d -d record.json %s %s"
                        % (conc, mm, " ".join(hargs), url)))

    # 3. Peak RSS with 32,768 records in flight against a stalled destination.
    rport_file = os.path.join(TMP, "stall.port")
    rcv = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "receiver.py"), "--port", "0",
                            "--port-file", rport_file, "--stall"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(rcv)
    while not os.path.exists(rport_file):
        time.sleep(0.05)
    rport = int(open(rport_file).read())
    for batch in (1, 100):
        ini = write("stall-%d.ini" % batch, "\n".join([
            "[pipeline]", "name = stall", "max_in_flight = 32768", "event_deadline = 1h",
            "shutdown_timeout = 0",
            "[source.gen]", "plugin = generate", "count = 100000",
            "[codec.c]", "plugin = json",
            "[sink.web]", "plugin = http", "codec = c", "url = http://127.0.0.1:%d/" % rport,
            "timeout = 1h", "batch_max_records = %d" % batch]) + "\n")
        p = subprocess.Popen([SPILLWAY, "-c", ini], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        PROCS.append(p)
        time.sleep(4)
        status = open("/proc/%d/status" % p.pid).read()
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        sub = stats(err, "pipeline").get("submitted", 0)
        RESULTS.append(("3. stalled destination, batch %d" % batch,
                        "peak RSS %.1f MiB with %d records submitted and unanswered" % (hwm / 1024.0, sub),
                        "max_in_flight = 32768, receiver.py --stall"))

    print()
    print("http sink benchmark (%s, libcurl %s)" % (time.strftime("%Y-%m-%d"), curl_version()))
    for what, figure, how in RESULTS:
        print("  %-58s %s" % (what, figure))
        print("  %-58s   (%s)" % ("", how))


def curl_version():
    out = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"libcurl/(\S+)", out)
    return m.group(1) if m else "?"


try:
    main()
finally:
    cleanup()
