#!/usr/bin/python3
"""tests/scale-three.py: scale-out as doc/scaling.md describes it.

Three spillway instances, each its own process with no shared state, listen
on loopback; spillway-xdrgen spreads its connections over the three
addresses (--connect, repeated) as XDR spreads its connections over a
datacenter's node-address-port list, and sends a steady stream of records.
Mid-stream one instance is killed with SIGKILL (a crash: whatever it had in
flight was never answered, so XDR, here xdrgen, resends it on the other
connections) and one is stopped with SIGTERM (a drain: in-flight records
finish or are answered retry). All three POST to one receiver
(tests/receiver.py), which records every request; each instance tags its
requests with an X-Instance header.

Checked: xdrgen sees every record acknowledged and exits 0; the receiver
holds every sequence number at least once; the SIGTERM'd instance exited
0. Reported: duplicates (records delivered more than once, the price of
at-least-once across instances) and the load each instance carried.

Environment (from the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
top_srcdir, top_builddir. TAP output. Runs in about 15 s.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

COUNT = 20000
RATE = 2500          # records/s: the stream lasts ~8 s, the faults land in it
KILL_AT = 2.0        # s after xdrgen starts: SIGKILL instance 0
TERM_AT = 4.0        # SIGTERM instance 1

top_srcdir = os.environ["top_srcdir"]
top_builddir = os.environ["top_builddir"]
spillway = os.environ["SPILLWAY"]
xdrgen = os.path.join(top_builddir, "spillway-xdrgen")

n = 0
failed = 0


def ok(cond, what, diag=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))
    if not cond:
        failed += 1
        for line in diag.splitlines()[-30:]:
            print("# " + line)
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


PIPELINE = """
[pipeline]
name = scale-{i}
dead_letter = {tmp}/dlq-{i}.ndjson
shutdown_timeout = 3s
stats_interval = 0

[source.xdr]
plugin = xdr
listen = 127.0.0.1:{port}

[codec.json]
plugin = json
batch_format = ndjson

[sink.http]
plugin = http
codec = json
url = http://127.0.0.1:{rport}/
headers = X-Instance: {i}
batch_max_records = 50
batch_max_delay = 5ms
"""


def main():
    if not os.path.exists(os.path.join(top_builddir, "plugins", "source-xdr.la")):
        print("1..0 # SKIP the xdr source is not built")
        return 0
    tmp = tempfile.mkdtemp(prefix="spw-scale3.")
    procs = []
    try:
        print("1..6")
        rlog = os.path.join(tmp, "requests.ndjson")
        rport_file = os.path.join(tmp, "rport")
        rec = subprocess.Popen([sys.executable, os.path.join(top_srcdir, "tests", "receiver.py"),
                                "--port", "0", "--port-file", rport_file, "--log", rlog],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "receiver.err"), "w"))
        procs.append(rec)
        end = time.monotonic() + 10
        while not (os.path.exists(rport_file) and open(rport_file).read().strip()) and time.monotonic() < end:
            time.sleep(0.05)
        rport = int(open(rport_file).read())

        inst = []
        for i in range(3):
            port = free_port()
            ini = os.path.join(tmp, "scale-%d.ini" % i)
            with open(ini, "w") as f:
                f.write(PIPELINE.format(i=i, tmp=tmp, port=port, rport=rport))
            err = open(os.path.join(tmp, "spillway-%d.log" % i), "w")
            p = subprocess.Popen([spillway, "-c", ini], stdout=subprocess.DEVNULL, stderr=err)
            procs.append(p)
            inst.append((p, port))
        up = all(wait_listening(port, p) for p, port in inst)
        ok(up, "three spillway instances listen")
        if not up:
            return 1

        # Six connections, two per address, as XDR opens one per service
        # thread to every connector address.
        cmd = [xdrgen, "--connections", "6", "--count", str(COUNT), "--rate", str(RATE),
               "--window", "64", "--timeout", "3s", "--reconnect-min", "100ms",
               "--reconnect-max", "500ms", "--max-time", "45s", "--json", "-q"]
        for _, port in inst:
            cmd += ["--connect", "127.0.0.1:%d" % port]
        t0 = time.monotonic()
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(gen)
        time.sleep(KILL_AT)
        inst[0][0].send_signal(signal.SIGKILL)
        time.sleep(TERM_AT - (time.monotonic() - t0))
        inst[1][0].send_signal(signal.SIGTERM)
        try:
            out, err = gen.communicate(timeout=55)
        except subprocess.TimeoutExpired:
            gen.kill()
            out, err = gen.communicate()
        elapsed = time.monotonic() - t0
        try:
            report = json.loads(out)
        except ValueError:
            report = {}
        acked = report.get("acknowledged", report.get("records_acknowledged"))
        ok(gen.returncode == 0, "xdrgen: every record answered, exit 0 (exit %s, %.1f s)"
           % (gen.returncode, elapsed), out + err)
        ok(acked == COUNT, "xdrgen: %s of %d records acknowledged" % (acked, COUNT), out)

        try:
            rc1 = inst[1][0].wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc1 = None
        ok(rc1 == 0, "the instance stopped with SIGTERM drained and exited 0 (exit %s)" % rc1,
           open(os.path.join(tmp, "spillway-1.log")).read())

        # Stop the survivor cleanly: everything it answered was delivered before.
        inst[2][0].send_signal(signal.SIGTERM)
        inst[2][0].wait(timeout=15)

        seen = {}
        load = {}
        for line in open(rlog):
            r = json.loads(line)
            if r.get("status") != 200:
                continue
            who = r.get("headers", {}).get("X-Instance", "?")
            for s in r.get("seqs", []):
                seen[s] = seen.get(s, 0) + 1
                load[who] = load.get(who, 0) + 1
        missing = [s for s in range(COUNT) if s not in seen]
        dups = sum(c - 1 for c in seen.values())
        ok(not missing, "the receiver holds every one of the %d records (%d missing)"
           % (COUNT, len(missing)), "first missing: %s" % missing[:20])
        print("# duplicates: %d (records delivered more than once: in flight on the killed"
              " instance, delivered, never answered, resent)" % dups)
        print("# per-instance load (records delivered): %s" %
              ", ".join("instance %s (%s): %d" % (k, ("SIGKILL at %.0f s" % KILL_AT) if k == "0" else
                                                  ("SIGTERM at %.0f s" % TERM_AT) if k == "1" else "survivor",
                                                  load[k]) for k in sorted(load)))
        print("# xdrgen: %s" % json.dumps({k: report.get(k) for k in
                                          ("resent_after_reset", "retried", "connections", "resets")
                                          if k in report}))
        ok(len(load) == 3 and all(load.get(k, 0) > 0 for k in ("0", "1", "2")),
           "all three instances carried load before the faults")
        return 0 if failed == 0 else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
