#!/usr/bin/python3
"""tests/expr-e2e.py: routing with the expr filter, end to end.

spillway-xdrgen ships records, as XDR does, to the real spillway on two
listening ports; the pipeline has four routes, each a file sink with the
json codec: `orders` (set == "orders"), `sevens` (a bin value:
bins.seq % 7 == 0, deletes have no bins and are skipped as errors),
`sevens-pass` (the same with on_error = pass: deletes pass),
`second-port` (port == the second port), and `all` (no filter, the
ground truth). Every record must be acknowledged, and each route must
hold exactly the records that belong to it, by sequence number.
Then `spillway --check` on examples/routing.ini, and the load-time error
for a bad expression (file:line, column, caret).

Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
top_builddir, top_srcdir. TAP on stdout.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SPILLWAY = os.environ.get("SPILLWAY")
BUILD = os.environ.get("top_builddir", ".")
TOP = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
XDRGEN = os.path.join(BUILD, "spillway-xdrgen")

n = 0
failed = 0


def ok(cond, name, diag=""):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        for line in str(diag).splitlines()[-30:]:
            print(f"#   {line}")
    sys.stdout.flush()
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def read_records(path):
    """Sequence number -> list of records written to a route's file."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            seq = rec["key"][3]
            out.setdefault(seq, []).append(rec)
    return out


def xdrgen(port, *args):
    cmd = [XDRGEN, "-c", f"127.0.0.1:{port}", "-q", "--json", "--max-time", "60s", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    try:
        rep = json.loads(p.stdout)
    except ValueError:
        rep = {}
    return p.returncode, rep, p.stderr


def routing(tmp):
    p1, p2 = free_port(), free_port()
    files = {r: os.path.join(tmp, r + ".ndjson")
             for r in ("orders", "sevens", "sevens-pass", "port2", "all")}
    ini = os.path.join(tmp, "routing.ini")
    with open(ini, "w") as f:
        f.write(f"""[pipeline]
name = routing-e2e
workers = 2
event_deadline = 5s
shutdown_timeout = 2s

[source.xdr]
plugin = xdr
listen = 127.0.0.1:{p1}, 127.0.0.1:{p2}

[filter.orders]
plugin = expr
expr = set == "orders"

[filter.sevens]
plugin = expr
expr = bins.seq % 7 == 0

[filter.sevens-pass]
plugin = expr
expr = bins.seq % 7 == 0
on_error = pass

[filter.port2]
plugin = expr
expr = port == {p2}

[codec.j]
plugin = json
""")
        for r, flt in (("orders", "orders"), ("sevens", "sevens"), ("sevens-pass", "sevens-pass"),
                       ("port2", "port2"), ("all", None)):
            f.write(f"\n[sink.{r}]\nplugin = file\ncodec = j\npath = {files[r]}\n")
            if flt:
                f.write(f"filters = {flt}\n")
    err = open(os.path.join(tmp, "spw.err"), "w+")
    spw = subprocess.Popen([SPILLWAY, "-c", ini], stdout=subprocess.DEVNULL, stderr=err)
    try:
        shape = ["--sets", "orders,users,-", "--bins", "3", "--bin-types", "integer,string",
                 "--delete-ratio", "0.2", "--key-type", "integer", "-C", "3"]
        rc1, rep1, e1 = xdrgen(p1, "-n", "900", "--seq-start", "0", *shape)
        rc2, rep2, e2 = xdrgen(p2, "-n", "600", "--seq-start", "900", *shape)
    finally:
        spw.terminate()
        try:
            spw.wait(timeout=20)
        except subprocess.TimeoutExpired:
            spw.kill()
            spw.wait()
    err.seek(0)
    log = err.read()
    ok(rc1 == 0 and rep1.get("acknowledged") == 900, "first port: xdrgen saw 900 acknowledged",
       f"rc={rc1} {rep1} {e1} {log}")
    ok(rc2 == 0 and rep2.get("acknowledged") == 600, "second port: xdrgen saw 600 acknowledged",
       f"rc={rc2} {rep2} {e2} {log}")
    got = {r: read_records(p) for r, p in files.items()}
    allr = got["all"]
    ok(sorted(allr) == list(range(1500)), "all: every sequence number, once each",
       f"{len(allr)} distinct")
    dup = {r: [s for s, v in recs.items() if len(v) > 1] for r, recs in got.items()}
    ok(not any(dup.values()), "no route has a record twice", dup)
    writes = {s for s, v in allr.items() if v[0]["msg"] == "write"}
    deletes = set(allr) - writes
    ok(len(deletes) > 100 and len(writes) > 1000, "the run mixes writes and deletes",
       f"{len(writes)} writes, {len(deletes)} deletes")
    want = {
        "orders": {s for s, v in allr.items() if v[0]["key"][1] == "orders"},
        "sevens": {s for s in writes if s % 7 == 0},
        "sevens-pass": {s for s in writes if s % 7 == 0} | deletes,  # errors pass
        "port2": set(range(900, 1500)),
    }
    ok(want["orders"] == {s for s in range(1500) if s % 3 == 0},
       "xdrgen put record N in set orders when N % 3 == 0")
    for r in ("orders", "sevens", "sevens-pass", "port2"):
        have = set(got[r])
        ok(have == want[r], f"route {r}: exactly its {len(want[r])} records",
           f"missing {sorted(want[r] - have)[:10]} extra {sorted(have - want[r])[:10]}")
    # The deletes the sevens route evaluated ended in errors (no bins): counted, logged.
    ok("expression error" in log and "no such key" in log,
       "deletes without the bin are logged as expression errors", log)
    st = stats(log, "filter.sevens")
    ok(st.get("eval_errors") == len(deletes) and st.get("passed") == len(want["sevens"]) and
       st.get("skipped") == 1500 - len(want["sevens"]),
       "filter.sevens counts: passed, skipped, eval_errors (one per delete)", f"{st} {log}")
    st = stats(log, "filter.sevens-pass")
    ok(st.get("eval_errors") == len(deletes) and st.get("passed") == len(want["sevens-pass"]),
       "filter.sevens-pass counts the errors it passed", f"{st}")


def stats(log, stage):
    """The counters of the last `[stats] STAGE: k=v ...` line."""
    out = {}
    for line in log.splitlines():
        mark = f"[stats] {stage}: "
        if mark in line:
            out = {}
            for kv in line.split(mark, 1)[1].split():
                k, _, v = kv.partition("=")
                if v.isdigit():
                    out[k] = int(v)
    return out


def dump(tmp, name, *args):
    path = os.path.join(tmp, name)
    p = subprocess.run([XDRGEN, "--dump", path, "--key-type", "integer", "--bins", "2",
                        "--bin-types", "integer", *args], capture_output=True, text=True, timeout=30)
    with open(path) as f:
        frames = [l for l in f.read().splitlines() if l.strip() and not l.startswith("#")]
    return p.returncode, frames


def lut_order(tmp):
    """Versions of the same records replayed out of order and duplicated."""
    rc1, old = dump(tmp, "old.hex", "-n", "250")
    time.sleep(0.05)
    rc2, new = dump(tmp, "new.hex", "-n", "250")
    time.sleep(0.05)
    rc3, dels = dump(tmp, "del.hex", "-n", "50", "--seq-start", "200", "--delete-ratio", "1")
    ok(rc1 == rc2 == rc3 == 0 and len(old) == len(new) == 250 and len(dels) == 50,
       "xdrgen dumped three generations of the records", f"{rc1} {rc2} {rc3}")
    order = (new[0:100] + old[0:100] + new[0:100] +      # newer, then stale older, then equal again
             old[100:200] + new[100:200] +                 # in order: both pass
             dels + old[200:250] + new[200:250])          # a delete, then older writes: stale
    replay = os.path.join(tmp, "replay.hex")
    with open(replay, "w") as f:
        f.write("\n".join(order) + "\n")
    port = free_port()
    out = os.path.join(tmp, "ordered.ndjson")
    ini = os.path.join(tmp, "lut.ini")
    with open(ini, "w") as f:
        f.write(f"""[pipeline]
name = lut-e2e
workers = 2
event_deadline = 5s
shutdown_timeout = 2s

[source.xdr]
plugin = xdr
listen = 127.0.0.1:{port}

[filter.newest]
plugin = lut-order
max_entries = 10000
ttl = 1m
shards = 8

[codec.j]
plugin = json

[sink.out]
plugin = file
codec = j
path = {out}
filters = newest
""")
    err = open(os.path.join(tmp, "lut.err"), "w+")
    spw = subprocess.Popen([SPILLWAY, "-c", ini], stdout=subprocess.DEVNULL, stderr=err)
    try:
        rc, rep, e = xdrgen(port, "--replay", replay, "-C", "1", "-w", "1")
    finally:
        spw.terminate()
        try:
            spw.wait(timeout=20)
        except subprocess.TimeoutExpired:
            spw.kill()
            spw.wait()
    err.seek(0)
    log = err.read()
    ok(rc == 0 and rep.get("acknowledged") == len(order),
       f"every one of the {len(order)} replayed frames acknowledged (stale ones without dispatch)",
       f"rc={rc} {rep} {e} {log}")
    got = read_records(out)
    first = all(len(got.get(s, [])) == 2 and got[s][0]["lut"] == got[s][1]["lut"]
                for s in range(100))
    ok(first, "records 0-99: the newer version twice (equal LUT passes), the older never",
       {s: [r.get("lut") for r in got.get(s, [])] for s in range(3)})
    second = all(len(got.get(s, [])) == 2 and got[s][0]["lut"] < got[s][1]["lut"]
                 for s in range(100, 200))
    ok(second, "records 100-199: older then newer, both delivered in order",
       {s: [r.get("lut") for r in got.get(s, [])] for s in range(100, 103)})
    third = all(len(got.get(s, [])) == 1 and got[s][0]["msg"] == "delete"
                for s in range(200, 250))
    ok(third, "records 200-249: the delete only; the older writes after it are stale",
       {s: [r.get("msg") for r in got.get(s, [])] for s in range(200, 203)})
    ok(sum(len(v) for v in got.values()) == 450, "450 deliveries in all",
       sum(len(v) for v in got.values()))
    st = stats(log, "filter.newest")
    ok(st.get("stale") == 200 and st.get("passed") == 450 and st.get("unordered") == 0,
       "filter.newest counts 200 stale, 450 passed", f"{st} {log}")


def check_examples(tmp):
    env = dict(os.environ, SPILLWAY_DEAD_LETTER=os.path.join(tmp, "dlq.ndjson"))
    p = subprocess.run([SPILLWAY, "--check", "-c", os.path.join(TOP, "examples", "routing.ini")],
                       capture_output=True, text=True, env=env, timeout=30)
    ok(p.returncode == 0, "spillway --check accepts examples/routing.ini", p.stderr + p.stdout)


def check_errors(tmp):
    ini = os.path.join(tmp, "bad.ini")
    with open(ini, "w") as f:
        f.write("""[pipeline]
name = bad

[source.gen]
plugin = generate

[filter.big]
plugin = expr
expr = set == "orders" && gen > "100"

[codec.j]
plugin = json

[sink.n]
plugin = null
codec = j
filters = big
""")
    p = subprocess.run([SPILLWAY, "--check", "-c", ini], capture_output=True, text=True, timeout=30)
    col = 'set == "orders" && gen > "100"'.index(">") + 1
    want = f"[filter.big] expr, column {col}: no operator '>' for int and string"
    ok(p.returncode != 0 and want in p.stderr, "a type error stops --check with its column",
       p.stderr)
    ok(f"{ini}:7:" in p.stderr, "the message names the file and the section's line", p.stderr)
    lines = p.stderr.splitlines()
    caret = [i for i, l in enumerate(lines) if l.strip() == "^"]
    ok(caret and lines[caret[0]].index("^") == lines[caret[0] - 1].index(">"),
       "the caret is under the operator", p.stderr)
    # expr_file: PATH:LINE:COL.
    rules = os.path.join(tmp, "rules.cel")
    with open(rules, "w") as f:
        f.write('// high value\nset == "orders" &&\n  bins.amount > 100 &&\n  nope\n')
    with open(ini, "w") as f:
        f.write(f"""[pipeline]
name = bad

[source.gen]
plugin = generate

[filter.big]
plugin = expr
expr_file = {rules}

[codec.j]
plugin = json

[sink.n]
plugin = null
codec = j
filters = big
""")
    p = subprocess.run([SPILLWAY, "--check", "-c", ini], capture_output=True, text=True, timeout=30)
    ok(p.returncode != 0 and f"{rules}:4:3: unknown name 'nope'" in p.stderr,
       "expr_file errors name FILE:LINE:COLUMN", p.stderr)


def main():
    if not SPILLWAY:
        print("1..0 # SKIP SPILLWAY is not set")
        return 0
    with tempfile.TemporaryDirectory(prefix="spw-expr-e2e.") as tmp:
        routing(tmp)
        lut_order(tmp)
        check_examples(tmp)
        check_errors(tmp)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
