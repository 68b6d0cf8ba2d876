"""tests/xdrgen-schedule.py: spillway-xdrgen against a fake connector that
answers on a schedule (tests/xdrgen-fake.py): OK, NOT_FOUND, every retry
code, abandon codes, silence past --timeout, closes and aborts (RST), a
malformed reply, a connector that is down at first; pacing, durations,
--max-time; and every record shape, each frame validated by the fake's
own parser. Checks that every sequence number is acknowledged at least
once, retried ones are resent, abandoned ones are not, records in flight on
a reset connection are resent, and xdrgen's counts match what the fake saw.
TAP on stdout.
"""

import asyncio
import importlib.util
import os
import socket
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("xdrgen_fake", os.path.join(here, "xdrgen-fake.py"))
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)

T = fake.Tap()
RETRY = [8, 9, 11, 14, 18, 80]
ABANDON = [4, 10, 1, 22]


def addr(f):
    return "127.0.0.1:%d" % f.port


def diag_run(rep, err, f=None):
    out = ["report: %s" % (rep,), "stderr: %s" % err[-2000:]]
    if f is not None and f.errors:
        out.append("fake errors: %s" % f.errors[:3])
    return out


def first_answers(f, seq):
    return f.answers.get(seq, [])


async def plain():
    n = 3000
    f = await fake.Fake().start()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", n, "-C", 4, "-w", 32, "--json"])
    await f.stop()
    d = diag_run(rep, err, f)
    T.ok(st == 0 and isinstance(rep, dict) and rep["complete"], "plain: exit 0, complete", *d)
    if not isinstance(rep, dict):
        return
    T.ok(not f.errors, "plain: every frame valid", *d)
    T.ok(sorted(f.received) == list(range(n)) and f.duplicates() == 0,
         "plain: every sequence number 0..%d received once" % (n - 1), *d)
    T.ok(rep["sent"] == n and rep["acknowledged"] == n and rep["retried"] == 0
         and rep["abandoned"] == 0 and rep["resent_after_reset"] == 0 and rep["outstanding"] == 0
         and rep["records"] == n, "plain: counts", *d)
    per_conn = {}
    for cid, _ in f.frames:
        per_conn[cid] = per_conn.get(cid, 0) + 1
    T.ok(f.conns == 4 and len(per_conn) == 4 and rep["connections"]["opened"] == 4,
         "plain: four connections, all used (%s)" % per_conn, *d)
    lat = rep["latency_us"]
    T.ok(lat["count"] == n and 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"],
         "plain: latency percentiles ordered (%s)" % lat, *d)


async def codes():
    """Retry codes on first attempts of seq%10==3, abandon codes on seq%10==7, NOT_FOUND on 5."""
    n = 2000
    counter = {"r": 0, "a": 0}

    def policy(fk, conn, fr):
        s = fr.seq
        if fk.received[s] == 1 and s % 10 == 3:
            counter["r"] += 1
            return RETRY[counter["r"] % len(RETRY)]
        if s % 10 == 7:
            counter["a"] += 1
            return ABANDON[counter["a"] % len(ABANDON)]
        if s % 10 == 5:
            return 2
        return 0

    f = await fake.Fake(policy).start()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", n, "-C", 3, "-w", 16, "--json",
                                          "--retry-delay", "20ms", "--seq-start", 100000])
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict), "codes: exit 0", *d):
        return
    seqs = range(100000, 100000 + n)
    retried = [s for s in seqs if s % 10 == 3]
    abandoned = [s for s in seqs if s % 10 == 7]
    T.ok(not f.errors and set(f.received) == set(seqs), "codes: every seq from --seq-start received", *d)
    T.ok(all(f.received[s] == 2 and first_answers(f, s)[-1] == 0 for s in retried),
         "codes: every record answered a retry code resent once, then acknowledged", *d)
    T.ok(all(f.received[s] == 1 for s in abandoned), "codes: abandoned records never resent", *d)
    T.ok(all(f.received[s] == 1 for s in seqs if s % 10 not in (3, 7)),
         "codes: the rest sent once (NOT_FOUND counts as done)", *d)
    T.ok(rep["retried"] == len(retried) and rep["abandoned"] == len(abandoned)
         and rep["acknowledged"] == n - len(abandoned) and rep["sent"] == n + len(retried)
         and f.duplicates() == len(retried),
         "codes: retried %d, abandoned %d, acknowledged %d, duplicates %d"
         % (len(retried), len(abandoned), n - len(abandoned), f.duplicates()), *d)
    want = {}
    for lst in f.answers.values():
        for c in lst:
            want[str(c)] = want.get(str(c), 0) + 1
    T.ok(rep["result_codes"] == want, "codes: result-code counts match the fake's (%s)" % want, *d)


async def silence():
    """Connection 1 never answers: xdrgen sends exactly --window frames on it, resets it after
    --timeout, and resends them elsewhere."""
    n, window = 600, 16

    def policy(fk, conn, fr):
        return "silence" if conn.id == 1 else 0

    f = await fake.Fake(policy).start()
    t0 = time.monotonic()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", n, "-C", 2, "-w", window, "--json",
                                          "--timeout", "1s", "--rate", 1000])
    took = time.monotonic() - t0
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict) and rep["complete"], "silence: exit 0, complete", *d):
        return
    on1 = [fr.seq for cid, fr in f.frames if cid == 1]
    T.ok(len(on1) == window, "silence: exactly --window (%d) frames in flight on the silent "
         "connection (%d)" % (window, len(on1)), *d)
    T.ok(rep["connections"]["resets_timeout"] >= 1 and took >= 1.0,
         "silence: reset after the 1 s timeout (%.2f s, %d timeouts)"
         % (took, rep["connections"]["resets_timeout"]), *d)
    T.ok(all(f.received[s] >= 2 and 0 in f.answers.get(s, []) for s in on1),
         "silence: every record stuck on it resent and acknowledged", *d)
    T.ok(all(0 in f.answers.get(s, []) for s in range(n)) and rep["acknowledged"] == n,
         "silence: every record acknowledged", *d)
    T.ok(rep["resent_after_reset"] == len(f.unanswered) and
         rep["sent"] == n + rep["resent_after_reset"] and len(f.raw) == rep["sent"],
         "silence: resent_after_reset %d = records left unanswered; sent = records + resent"
         % rep["resent_after_reset"], *d)


async def resets(kind):
    """The connector closes (or aborts) each connection at its 150th frame, with the records in
    flight unanswered; xdrgen reconnects and resends them."""
    n = 2000

    def policy(fk, conn, fr):
        return kind if conn.frames == 150 and conn.id <= 3 else 0

    f = await fake.Fake(policy).start()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", n, "-C", 3, "-w", 24, "--json",
                                          "--reconnect-min", "20ms"])
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict) and rep["complete"], "%s: exit 0, complete" % kind, *d):
        return
    T.ok(not f.errors, "%s: every frame valid" % kind, *d)
    T.ok(rep["connections"]["resets_peer"] == 3 and f.conns == 6 and rep["connections"]["opened"] == 6,
         "%s: three resets by the peer, three reconnections" % kind, *d)
    T.ok(all(0 in f.answers.get(s, []) for s in range(n)) and rep["acknowledged"] == n,
         "%s: every sequence number acknowledged at least once" % kind, *d)
    T.ok(len(f.unanswered) == 3 and all(f.received[s] >= 2 for s in f.unanswered),
         "%s: the records in flight at the reset resent" % kind, *d)
    # what the fake never answered is what xdrgen had in flight (some perhaps never read)
    T.ok(rep["resent_after_reset"] >= len(f.unanswered) and
         rep["sent"] == n + rep["resent_after_reset"] and len(f.raw) <= rep["sent"] and
         f.duplicates() <= rep["resent_after_reset"],
         "%s: sent %d = records + resent_after_reset %d; duplicates at the fake %d"
         % (kind, rep["sent"], rep["resent_after_reset"], f.duplicates()), *d)


async def garbage():
    n = 500

    def policy(fk, conn, fr):
        return "garbage" if len(fk.frames) == 80 else 0

    f = await fake.Fake(policy).start()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", n, "-w", 8, "--json",
                                          "--reconnect-min", "10ms"])
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict), "malformed reply: exit 0", *d):
        return
    T.ok(rep["connections"]["resets_malformed"] == 1 and "malformed reply" in err,
         "malformed reply: the connection is reset, and the log says why", *d)
    T.ok(rep["acknowledged"] == n and all(0 in f.answers.get(s, []) for s in range(n)),
         "malformed reply: every record acknowledged", *d)


async def down_at_first():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    task = asyncio.ensure_future(fake.run_xdrgen(
        ["-c", "127.0.0.1:%d" % port, "-n", 300, "-C", 2, "--json", "--reconnect-min", "50ms",
         "--reconnect-max", "200ms"]))
    await asyncio.sleep(0.8)
    f = await fake.Fake().start(port)
    st, rep, err = await task
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict), "connector down at first: exit 0", *d):
        return
    T.ok(rep["connections"]["connect_failures"] >= 2 and rep["acknowledged"] == 300
         and sorted(f.received) == list(range(300)),
         "connector down at first: retried connecting (%d failures), then sent everything"
         % rep["connections"]["connect_failures"], *d)
    T.ok(err.count("cannot connect") <= 2, "connector down at first: one log line per connection, "
         "not one per attempt", *d)


async def pacing():
    f = await fake.Fake().start()
    t0 = time.monotonic()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", 400, "-C", 2, "--rate", 1000, "--json"])
    took = time.monotonic() - t0
    d = diag_run(rep, err, f)
    T.ok(st == 0 and 0.3 <= took <= 3.0, "--rate 1000: 400 records take about 0.4 s (%.2f s)" % took, *d)
    # the send gaps are reported with --rate, one per frame after the first (their sizes
    # are the benchmark's business: bench/latency.sh)
    gap = rep.get("send_gap_us") if isinstance(rep, dict) else None
    T.ok(gap is not None and gap["count"] == rep["sent"] - 1 and
         gap["min"] <= gap["p50"] <= gap["p99"] <= gap["max"],
         "--rate: send_gap_us reported, one gap per frame after the first (%s)" % (gap,), *d)

    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", 100, "--json"])
    T.ok(st == 0 and isinstance(rep, dict) and "send_gap_us" not in rep,
         "flat out: no send_gap_us", *diag_run(rep, err, f))
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "--duration", "500ms", "--rate", 2000,
                                          "--seq-start", 7, "--json"])
    d = diag_run(rep, err, f)
    ok = st == 0 and isinstance(rep, dict) and 200 <= rep["records"] <= 1600
    T.ok(ok, "--duration 500ms at 2000/s: about 1000 records, all acknowledged", *d)
    if ok:
        T.ok(rep["acknowledged"] == rep["records"] and rep["outstanding"] == 0,
             "--duration: nothing outstanding at the end", *d)
    await f.stop()


async def max_time():
    f = await fake.Fake(lambda fk, c, fr: 11).start()
    t0 = time.monotonic()
    st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", 20, "--json", "--max-time", "1s",
                                          "--retry-delay", "50ms"])
    took = time.monotonic() - t0
    await f.stop()
    d = diag_run(rep, err, f)
    T.ok(st == 1 and isinstance(rep, dict) and not rep["complete"] and rep["outstanding"] == 20
         and rep["retried"] > 20 and rep["acknowledged"] == 0 and 0.9 <= took <= 5,
         "--max-time: a connector that always says retry ends the run with status 1 (%.2f s)" % took, *d)

    # nobody listening at all
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    st, rep, err = await fake.run_xdrgen(["-c", "127.0.0.1:%d" % port, "-n", 5, "--max-time", "500ms"])
    T.ok(st == 1 and "INCOMPLETE" in str(rep) and "outstanding         5" in str(rep),
         "--max-time: no connector, status 1 and a text report saying so", *diag_run(rep, err))


async def shapes():
    """Every option of the record shape, checked frame by frame by the fake's parser."""
    types = "integer,double,string,blob,bool,hll,list,map,geojson"
    n = 1500
    f = await fake.Fake().start()
    now_ms = time.time() * 1000
    st, rep, err = await fake.run_xdrgen([
        "-c", addr(f), "-n", n, "-C", 2, "--json", "--namespaces", "test,bar", "--sets", "s1,-,s3",
        "--key-type", "string", "--bins", 13, "--bin-types", types, "--value-size", "0-200",
        "--delete-ratio", "0.2", "--durable-ratio", "0.5", "--bin-luts", "--replace",
        "--ttl", 3600, "--src-id", 77, "--compress-ratio", "0.3", "--seed", 9])
    await f.stop()
    d = diag_run(rep, err, f)
    if not T.ok(st == 0 and isinstance(rep, dict) and not f.errors, "shapes: every frame valid", *d):
        return
    frames = [fr for _, fr in f.frames]
    T.ok(sorted(f.received) == list(range(n)), "shapes: every seq received (string keys 'key-N')", *d)
    writes = [fr for fr in frames if not fr.delete]
    dels = [fr for fr in frames if fr.delete]
    T.ok(200 <= len(dels) <= 400 and 0.3 < sum(fr.durable for fr in dels) / len(dels) < 0.7,
         "shapes: about 20 %% deletes (%d), half durable" % len(dels), *d)
    T.ok(all(fr.field_order == [0, 4, 1, 2, 14] or fr.field_order == [0, 4, 2, 14] for fr in frames),
         "shapes: fields in XDR's order (namespace, digest, set, key, LUT)", *d)
    T.ok(all(fr.ns == ("test", "bar")[fr.seq % 2] and fr.set == ("s1", None, "s3")[fr.seq % 3]
             for fr in frames), "shapes: namespaces and sets (or none) follow the seq", *d)
    seen = set()
    for fr in writes:
        for name, (pt, _, lut) in fr.bins.items():
            seen.add(pt)
    T.ok(all(len(fr.bins) == 13 and fr.info2 == 0x11 and fr.info3 == 0x10 and fr.ttl == 3600
             and all(b[2] is not None for b in fr.bins.values()) for fr in writes)
         and seen == {1, 2, 3, 4, 17, 18, 19, 20, 23},
         "shapes: writes carry 13 bins of every particle type, bin LUTs, replace, ttl", *d)
    T.ok(all(fr.info2 in (0x03, 0x13) and fr.ttl == 0 and not fr.bins for fr in dels),
         "shapes: deletes carry info2 0x03/0x13, no bins, no ttl", *d)
    T.ok(all(fr.src_id == 77 and abs(fr.lut - now_ms) < 60000 for fr in frames),
         "shapes: LUT field carries the src-id and the time", *d)
    zipped = sum(fr.compressed for fr in frames)
    T.ok(zipped == rep["compressed"] and 300 <= zipped <= 600 and not any(fr.size_le for fr in frames if fr.compressed),
         "shapes: %d type-4 frames, inflated and valid, original size big-endian" % zipped, *d)
    ordered = sum(1 for fr in writes for b in fr.bins.values() if b[0] == 19)
    T.ok(ordered > 0, "shapes: maps parsed with their order markers (%d maps)" % ordered, *d)

    # little-endian original size, blob and integer keys, no sets, no bins
    for extra, name in ((["--compress-ratio", 1, "--compress-size-le", "--key-type", "blob"],
                         "little-endian original size, blob keys"),
                        (["--key-type", "integer", "--sets", "-", "--bins", 0],
                         "no set, no bins (metadata-only writes)")):
        f = await fake.Fake().start()
        st, rep, err = await fake.run_xdrgen(["-c", addr(f), "-n", 200, "--json"] + extra)
        await f.stop()
        d = diag_run(rep, err, f)
        frames = [fr for _, fr in f.frames]
        good = st == 0 and not f.errors and sorted(f.received) == list(range(200))
        if "--compress-size-le" in extra:
            good = good and all(fr.compressed and fr.size_le for fr in frames)
        else:
            good = good and all(fr.set is None and not fr.ops for fr in frames)
        T.ok(good, "shapes: %s" % name, *d)


async def usage():
    st, rep, err = await fake.run_xdrgen(["--help"])
    text = str(rep)
    src = open(os.path.join(here, "..", "tools", "xdrgen", "opts.c")).read()
    import re
    flags = sorted(set(re.findall(r'\{"([a-z0-9-]+)", (?:required|no)_argument', src)))
    missing = [fl for fl in flags if "--" + fl not in text]
    T.ok(st == 0 and len(flags) > 30 and not missing, "--help documents every flag (%d)" % len(flags),
         "missing: %s" % missing)
    for args, why in ((["--window", "0"], "window"), (["--bin-types", "integer,strnig"], "strnig"),
                      (["--connect", "nowhere"], "HOST:PORT"), (["--frobnicate"], "frobnicate"),
                      (["--duration", "5x"], "duration"), (["--delete-ratio", "2"], "fraction")):
        st, rep, err = await fake.run_xdrgen(args)
        T.ok(st == 2 and why in err, "usage error %s: status 2, says %r" % (" ".join(args), why),
             "status %s stderr %s" % (st, err))
    st, rep, err = await fake.run_xdrgen(["--dump", "-", "-n", 3])
    T.ok(st == 0 and len(str(rep).split()) == 3, "--dump writes one hex line per frame")


async def signals():
    """SIGINT: the first one stops new records and drains; a second one stops at once."""
    import signal
    for silent in (False, True):
        f = await fake.Fake((lambda fk, c, fr: "silence") if silent else None).start()
        p = await asyncio.create_subprocess_exec(
            fake.xdrgen_path(), "-c", addr(f), "-C", "2", "--rate", "2000", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await asyncio.sleep(0.5)
        p.send_signal(signal.SIGINT)
        if silent:
            await asyncio.sleep(0.3)
            p.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(p.communicate(), 30)
        await f.stop()
        import json
        rep = json.loads(out) if out.startswith(b"{") else out
        if not silent:
            T.ok(p.returncode == 0 and isinstance(rep, dict) and rep["complete"]
                 and rep["records"] > 50 and rep["acknowledged"] == rep["records"]
                 and sorted(f.received) == list(range(rep["records"])),
                 "SIGINT: no new records, the ones in play finished, status 0",
                 "report %s" % rep, "stderr %s" % err)
        else:
            T.ok(p.returncode == 1 and isinstance(rep, dict) and not rep["complete"]
                 and rep["outstanding"] > 0,
                 "SIGINT twice with nothing answered: stops at once, status 1",
                 "report %s" % rep, "stderr %s" % err)


async def main():
    await plain()
    await codes()
    await silence()
    await resets("close")
    await resets("abort")
    await garbage()
    await down_at_first()
    await pacing()
    await max_time()
    await shapes()
    await usage()
    await signals()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(T.done())
