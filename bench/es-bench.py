#!/usr/bin/python3
"""bench/es-bench.py: the elasticsearch sink's benchmark (run by bench/es.sh,
`make bench`). In one run, side by side, so the ratios mean something even
on a shared machine:

  1. generate -> flat-json -> elasticsearch, 500 actions per bulk, into nginx
     answering every bulk with a canned answer of 500 items (the sink reads
     all of them), HTTP/1.1;
  2. the same records, generate -> flat-json (NDJSON) -> http, 500 per request,
     into the same nginx answering 200: the transport alone;
  3. generate -> flat-json -> elasticsearch into tests/fake-elasticsearch.py
     (a Python cluster: its own speed bounds the figure; the CPU per record
     is spillway's alone).

Records/s end to end, and spillway's CPU time per record (user + system of
the finished child; generator and codec included). SPW_BENCH_SCALE scales
the counts.

Then, when valgrind is installed, cases 1 and 2 again under callgrind:
instructions per record, the stable figure on a shared machine, from two
runs of N and 2N records so that start-up cancels out (N: SPW_BENCH_CG_RECORDS,
2000; 0 skips them; SPW_BENCH_CALLGRIND=only skips the timed cases).

nginx's canned answer always has 500 items, and the sink (rightly) retries a
bulk whose answer has a different number of items. So every bulk must hold
exactly 500 actions: counts are whole batches and batch_max_delay is long,
so a batch is sealed by its record count only. With a short delay, the
~50x slowdown under callgrind sealed partial batches (the generator could
not fill 500 in 50 ms), every one of them was answered 500 items and
retried, and the run only ended when retries happened to make up 500
(1,000 records took 264 requests and 8,756 submissions). Under callgrind
the request timeout and event deadline are generous too.
"""

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILD = os.environ.get("top_builddir") or os.getcwd()
SPILLWAY = os.path.join(BUILD, "spillway")
SCALE = float(os.environ.get("SPW_BENCH_SCALE", "1"))
os.environ.setdefault("SPILLWAY_PLUGIN_PATH", os.path.join(BUILD, "plugins"))
TMP = tempfile.mkdtemp(prefix="spw-bench-es.")
PROCS = []
BATCH = 500


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


def start_nginx(port):
    d = os.path.join(TMP, "nginx")
    for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    canned = json.dumps({"errors": False, "items": [{"index": {"status": 201}}] * BATCH},
                        separators=(",", ":"))
    echo = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
    if not os.path.exists(echo):
        raise RuntimeError("needs nginx's echo module (Debian: libnginx-mod-http-echo)")
    conf = """load_module {echo};
daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 10000000; default_type application/json;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi; client_body_buffer_size 4m;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 64m;
    location = / {{ echo '{{"version":{{"number":"8.13.4"}}}}'; }}
    location /_bulk {{ echo_read_request_body; {canned} }}
    location /plain {{ echo_read_request_body; echo ok; }}
  }}
}}
""".format(echo=echo, d=d, port=port,
           # nginx caps one parameter at 4 KB: the answer in several echo directives
           canned=" ".join("echo -n '%s';" % canned[i:i + 2000] for i in range(0, len(canned), 2000)))
    c = write("nginx.conf", conf)
    p = subprocess.Popen(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", c],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(TMP, "nginx.err"), "w"))
    PROCS.append(p)
    try:
        wait_port(port)
    except RuntimeError:
        sys.stderr.write(open(os.path.join(TMP, "nginx.err")).read())
        raise


def start_fake():
    pf = os.path.join(TMP, "fake.port")
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tests", "fake-elasticsearch.py"),
                          "--port", "0", "--port-file", pf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    PROCS.append(p)
    for _ in range(200):
        if os.path.exists(pf):
            return int(open(pf).read())
        time.sleep(0.05)
    raise RuntimeError("the fake did not start")


def pipeline(name, count, sink_lines, slow=False):
    # slow (under callgrind): no deadline or timeout may expire for the slowdown alone.
    lines = ["[pipeline]", "name = bench-es", "workers = 1", "max_in_flight = 32768"] + \
        (["event_deadline = 600s"] if slow else []) + \
        ["", "[source.gen]", "plugin = generate", "count = %d" % count,
         "", "[codec.c]", "plugin = flat-json", "metadata_key = aerospike",
         "", "[sink.out]", "codec = c", "batch_max_records = %d" % BATCH,
         # sealed at BATCH records only (see above): count is a multiple of BATCH
         "batch_max_bytes = 64MiB", "batch_max_delay = 60s"] + \
        (["timeout = 120s", "connect_timeout = 30s"] if slow else []) + sink_lines
    return write(name + ".ini", "\n".join(lines) + "\n")


def spillway(argv, timeout):
    """Runs spillway (argv) to its end; the numbers of its last sink.out stats line."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise RuntimeError("spillway failed: " + " ".join(argv[:4]))
    st = {}
    for line in p.stderr.splitlines():
        m = re.search(r"\[stats\] sink.out: (.*)$", line)
        if m:
            st = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return st


def run(ini):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    st = spillway([SPILLWAY, "-c", ini], 600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, st


def instructions(ini, out):
    """spillway under callgrind: (instructions of the whole process, the sink's stats)."""
    st = spillway([os.path.join(BUILD, "libtool"), "--mode=execute", "valgrind", "--tool=callgrind",
                   "--callgrind-out-file=" + out, SPILLWAY, "-c", ini], 1800)
    with open(out) as f:
        total = next(int(l.split()[1]) for l in f if l.startswith("totals:"))
    return total, st


def callgrind(cases, n):
    """Instructions per record of each case: (I(2n) - I(n)) / n, start-up cancelled."""
    rows = []
    for what, sink in cases:
        tag = re.sub(r"\W+", "-", what)
        i1, st1 = instructions(pipeline(tag + "-cg1", n, sink, slow=True), os.path.join(TMP, tag + ".cg1"))
        i2, st2 = instructions(pipeline(tag + "-cg2", 2 * n, sink, slow=True), os.path.join(TMP, tag + ".cg2"))
        ok = st1.get("delivered") == n and st2.get("delivered") == 2 * n and \
            st1.get("requests") == n // BATCH and st2.get("requests") == 2 * n // BATCH
        rows.append((what, (i2 - i1) / n, i1, i2, ok))
    print()
    print("%-46s %14s %16s %16s" % ("case (callgrind)", "instr/record", "I(%d)" % n, "I(%d)" % (2 * n)))
    for what, ipr, i1, i2, ok in rows:
        print("%-46s %14.0f %16d %16d%s" % (what, ipr, i1, i2, "" if ok else "  (NOT ALL DELIVERED IN FULL BULKS)"))
    print("(valgrind --tool=callgrind, whole process: generator, codec, sink, HTTP client)")
    return all(r[4] for r in rows)


def main():
    n_fast = int(200000 * SCALE) // BATCH * BATCH or BATCH  # whole batches: the canned answer has 500 items
    n_fake = int(20000 * SCALE) // BATCH * BATCH or BATCH
    n_cg = int(os.environ.get("SPW_BENCH_CG_RECORDS", "2000")) // BATCH * BATCH
    mode = os.environ.get("SPW_BENCH_CALLGRIND", "")
    if not shutil.which("valgrind") or mode == "0":
        n_cg = 0
    port = free_port()
    start_nginx(port)
    nginx_cases = [
        ("elasticsearch -> nginx (canned bulk answer)",
         ["plugin = elasticsearch", "url = http://127.0.0.1:%d" % port]),
        ("http -> nginx (same records, NDJSON)",
         ["plugin = http", "url = http://127.0.0.1:%d/plain" % port]),
    ]
    if mode == "only":
        if not n_cg:
            raise RuntimeError("SPW_BENCH_CALLGRIND=only needs valgrind and SPW_BENCH_CG_RECORDS > 0")
        return 0 if callgrind(nginx_cases, n_cg) else 1
    fport = start_fake()
    cases = [(what, n_fast, sink) for what, sink in nginx_cases] + [
        ("elasticsearch -> fake-elasticsearch.py", n_fake,
         ["plugin = elasticsearch", "url = http://127.0.0.1:%d" % fport]),
    ]
    rows = []
    for what, n, sink in cases:
        wall, cpu, st = run(pipeline(re.sub(r"\W+", "-", what), n, sink))
        ok = st.get("delivered") == n
        rows.append((what, n, n / wall, cpu / n * 1e6, st.get("http_bytes_sent", 0) / n, ok))
    print("%-46s %9s %11s %12s %10s" % ("case", "records", "records/s", "CPU us/rec", "bytes/rec"))
    for what, n, rps, us, b, ok in rows:
        print("%-46s %9d %11.0f %12.2f %10.0f%s" % (what, n, rps, us, b, "" if ok else "  (NOT ALL DELIVERED)"))
    print("(1 worker, batch %d, flat-json; CPU is spillway's user+system, generator and codec included)" % BATCH)
    ok = all(r[5] for r in rows)
    if n_cg:
        ok = callgrind(nginx_cases, n_cg) and ok
    return 0 if ok else 1


try:
    rc = main()
finally:
    for p in PROCS:
        if p.poll() is None:
            p.kill()
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(rc)
