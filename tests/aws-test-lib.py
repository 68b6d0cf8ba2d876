"""tests/aws-test-lib.py: what tests/http-aws-creds.py and
tests/http-aws-refresh.py share (loaded by path, like tests/http-lib.py,
which it loads too): the fakes of tests/aws-fakes.py started on free
ports, a pipeline generate -> json -> http with auth = aws-sigv4 against
tests/receiver.py --sigv4 (which verifies every signature with its own
signer), runs of the real program in an environment of the test's making
(nothing AWS_* inherited, HOME an empty directory), and the secrets that
must never appear in its output.
"""

import calendar
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

FAKES = os.path.join(H.SRCDIR, "tests", "aws-fakes.py")
AKID = "ASIAFAKEEXAMPLE00001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
SIGV4 = "%s:%s:%s:execute-api" % (AKID, SECRET, REGION)
ROLE_ARN = "arn:aws:iam::123456789012:role/spillway-web"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6InNwdyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl"
CONTAINER_TOKEN = "Y29udGFpbmVyLWF1dGgtdG9rZW4tc2VjcmV0"

# Every secret the runs handled, checked against every run's output.
SECRETS = {SECRET, WEB_TOKEN, CONTAINER_TOKEN}


class Fake:
    def __init__(self, name, service, *args):
        self.name = name
        self.log = H.path(name + ".log")
        portfile = H.path(name + ".port")
        err = open(H.path(name + ".stderr"), "w")
        self.proc = H.spawn([H.PYTHON3, FAKES, service, "--port", "0", "--port-file", portfile,
                             "--log", self.log, "--akid", AKID, "--secret", SECRET] + list(args),
                            stdout=err, stderr=err)
        end = time.monotonic() + 10
        while not os.path.exists(portfile):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the %s fake did not start" % service)
            time.sleep(0.02)
        self.port = int(open(portfile).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def entries(self):
        if not os.path.exists(self.log):
            return []
        out = []
        with open(self.log) as f:
            for line in f:
                if line.strip():
                    e = json.loads(line)
                    out.append(e)
                    if e.get("issued"):
                        SECRETS.add(e["issued"]["token"])
                    tok = e.get("headers", {}).get("X-aws-ec2-metadata-token")
                    if tok:
                        SECRETS.add(tok)
        return out

    def fetches(self):
        return [e for e in self.entries() if e["kind"] == "creds" and e["status"] == 200]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def receiver(name):
    return H.Receiver(name, "--sigv4", SIGV4)


def env(**kw):
    """The program's whole environment: nothing AWS_* from outside, an empty HOME, IMDS off
    unless the test says otherwise."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    home = H.path("home")
    os.makedirs(home, exist_ok=True)
    e["HOME"] = home
    e["AWS_EC2_METADATA_DISABLED"] = "true"
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def ini(name, rcv, count, rate=0, workers=1, sink=(), pipeline=(), batch=None):
    return H.ini(name + ".ini", ["url = %s/in" % rcv.url, "auth = aws-sigv4", "aws_region = %s" % REGION]
                 + list(sink), count=count, batch=batch,
                 pipeline_lines=["workers = %d" % workers] + list(pipeline),
                 source_lines=["rate = %d" % rate] if rate else [])


def run(ini_path, environ, timeout=90):
    try:
        p = subprocess.run([H.SPILLWAY, "-c", ini_path], capture_output=True, text=True,
                           timeout=timeout, env=environ)
        return H.Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as x:
        err = x.stderr.decode() if isinstance(x.stderr, bytes) else (x.stderr or "")
        return H.Run(-1, "", err + "\n(timed out)")


def start(ini_path, environ):
    """Starts the program; finish(proc) waits for it."""
    p = subprocess.Popen([H.SPILLWAY, "-c", ini_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=environ)
    H._procs.append(p)
    return p


def finish(p, timeout=90):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        err += "\n(timed out)"
    return H.Run(p.returncode, out, err)


def delivered(rcv):
    return H.delivered_seqs(rcv.entries())


def all_delivered(rcv, count):
    seen = delivered(rcv)
    return all(s in seen for s in range(count))


def leaked(run):
    """The secrets found in a run's output (none, or the test fails)."""
    text = run.out + run.err
    return [s[:12] + "..." for s in SECRETS if s and s in text]


def amz_time(entry):
    """The X-Amz-Date of a request the receiver logged, as Unix seconds."""
    d = entry["headers"].get("X-Amz-Date", "")
    return calendar.timegm(time.strptime(d, "%Y%m%dT%H%M%SZ")) if d else None


def sink_ini(name, plugin, sink_lines, count=200, codec="json", pipeline=(), source=(), tee=None,
             codec_lines=()):
    """A generate -> codec -> PLUGIN pipeline (the AWS sinks' tests); tee=PATH adds a file sink."""
    out = ["[pipeline]", "name = awstest"] + list(pipeline)
    out += ["", "[source.gen]", "plugin = generate", "count = %d" % count] + list(source)
    out += ["", "[codec.c]", "plugin = %s" % codec] + list(codec_lines)
    out += ["", "[sink.aws]", "plugin = %s" % plugin, "codec = c"] + list(sink_lines)
    if tee:
        out += ["", "[sink.tee]", "plugin = file", "codec = c", "path = %s" % tee]
    return H.write(name, "\n".join(out) + "\n")


def xdrgen(port, *args, timeout=150):
    """spillway-xdrgen against 127.0.0.1:PORT; (exit status, JSON report or None, stderr)."""
    xg = os.path.join(H.BUILDDIR, "spillway-xdrgen")
    try:
        p = subprocess.run([xg, "-c", "127.0.0.1:%d" % port, "--reconnect-min", "50ms", "--json"]
                           + list(args), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, None, "(timed out)"
    try:
        rep = json.loads(p.stdout)
    except ValueError:
        rep = None
    return p.returncode, rep, p.stderr


def check_signing_refused(T, example, service, env):
    """An AWS API takes only requests signed for its own service: auth = aws-sigv4 and
    aws_service = SERVICE are the sink's defaults, so the example does without them (run
    through --check by the caller); written out, the right values are accepted and a wrong
    one is refused at --check (else a 403 on every request), with file:line and what to do.
    The `http` sink's defaults stay the group's own (auth = none, aws_service = execute-api)."""
    import re
    text = open(example).read()
    T.ok(not re.search(r"^\s*(auth|aws_service)\s*=", text, re.M),
         "%s relies on the sink's auth and aws_service defaults" % os.path.basename(example))
    anchor = "plugin = %s\n" % service
    assert anchor in text, anchor
    for put, want in (("aws_service = execute-api",
                       "aws_service = execute-api: requests to the %s API are signed for '%s'; "
                       "remove the aws_service line" % (service, service)),
                      ("auth = none",
                       "auth = none: the %s API takes SigV4-signed requests only; remove the auth line"
                       % service),
                      ("auth = aws-sigv4\naws_service = %s" % service, None)):
        ini = H.write("signing-%s.ini" % service, text.replace(anchor, anchor + put + "\n", 1))
        p = subprocess.run([H.SPILLWAY, "--check", "-c", ini], capture_output=True, text=True, env=env,
                           timeout=30)
        if want is None:
            T.ok(p.returncode == 0, "--check accepts %s written out" % put.replace("\n", ", "),
                 p.stderr[-600:])
        else:
            T.ok(p.returncode != 0 and re.search(r"signing-%s\.ini:\d+: \[sink\.\w+\] " % service
                                                 + re.escape(want), p.stderr),
                 "--check refuses %s, saying why" % put, p.stderr[-600:])
    for plugin, auth, svc in (("sink-" + service, "aws-sigv4", service),
                              ("sink-http", "none", "execute-api")):
        p = subprocess.run([H.SPILLWAY, "--help-plugin", plugin], capture_output=True, text=True, env=env,
                           timeout=30)
        T.ok(p.returncode == 0 and re.search(r"^  auth \(enum: [^)]*, default %s\)$" % re.escape(auth),
                                             p.stdout, re.M)
             and re.search(r"^  aws_service \(string, default %s\)$" % re.escape(svc), p.stdout, re.M),
             "--help-plugin %s: auth defaults to %s, aws_service to %s" % (plugin, auth, svc),
             p.stdout[-300:] + p.stderr[-300:])