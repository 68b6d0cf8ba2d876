#!/usr/bin/env python3
"""tests/aws-fakes.py: faithful fakes of the three AWS services spillway's
credential chain reads, for tests/http-aws-creds.py:

    python3 tests/aws-fakes.py imds      --role NAME ...
    python3 tests/aws-fakes.py container --path /v2/credentials/ID [--auth-token T] ...
    python3 tests/aws-fakes.py sts       --role-arn ARN --accept-token T ...
    python3 tests/aws-fakes.py alb       --path /in [--poison SEQ] [--status START:DUR:CODE] ...

and the destinations of the AWS sinks: an Application Load Balancer with a
Lambda target (Alb: runs examples/lambda/handler.py on the ALB's event).

Each service's rules are in one class below (Imds, Container, Sts), with
the AWS documentation pages they follow; each refuses what the real
service refuses, with the real service's status and error shape.

Common options: --port 0 --port-file FILE (written once listening),
--log FILE (one JSON line per request, flushed before the answer: wall
time, method, path, headers, status, kind, and for a credentials answer
the session token issued and its expiry), --akid/--secret (the keys every
answer hands out, so tests/receiver.py --sigv4 can verify signatures; the
session token differs per answer), --lifetime S (credentials expire S
seconds after they are issued; the real services give 15 minutes to 12
hours, which a test cannot wait for), and faults over windows of time
since the fake started, START:DURATION: --down (connections refused: the
listening socket and open connections are closed), --hang (requests get no answer), --delay MS
(every credentials answer waits MS first).

Destinations log one JSON line per request too, with the sequence numbers
of the records the function processed ("seqs", as tests/receiver.py logs
them) so tests/http-lib.py's delivered_seqs reads either.
"""

import argparse
import base64
import gzip
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.issued = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.imds_tokens = {}  # token -> monotonic expiry
        self.conns = set()     # open connections, cut when the service goes down
        self.down = [self.window(w) for w in args.down]
        self.hang = [self.window(w) for w in args.hang]
        self.statuses = [(float(a), float(b), int(c)) for a, b, c in
                         (w.split(":") for w in getattr(args, "status", []))]
        self.invocations = 0

    @staticmethod
    def window(spec):
        a, _, b = spec.partition(":")
        return float(a), float(b)

    def in_window(self, windows):
        now = time.monotonic() - self.t0
        return any(a <= now < a + b for a, b in windows)

    def credentials(self):
        """Fresh temporary credentials: the configured keys, a new session token."""
        with self.lock:
            self.issued += 1
            n = self.issued
        # Shaped like a real session token: long, base64 with '/', '+' and '='.
        body = hashlib.sha512(("%s-%d-%s" % (self.args.service, n, secrets.token_hex(8))).encode()).digest()
        token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(body * 12).decode() + "=="
        expires = int(time.time() + self.args.lifetime)
        return {"AccessKeyId": self.args.akid, "SecretAccessKey": self.args.secret,
                "Token": token, "expires": expires, "Expiration": iso(expires)}

    def record(self, entry):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")


STATE = None


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-fake/1.0"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with STATE.lock:
            STATE.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with STATE.lock:
                STATE.conns.discard(self.connection)

    def answer(self, status, body=b"", ctype="text/plain", extra=(), kind="other", issued=None):
        if isinstance(body, str):
            body = body.encode()
        STATE.record({"t": time.time(), "method": self.command, "path": self.path,
                      "headers": {k: v for k, v in self.headers.items()}, "status": status,
                      "kind": kind, "issued": issued})
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_one_request(self):
        if STATE.in_window(STATE.hang):
            # Read the request, then answer nothing until the window is over.
            try:
                self.raw_requestline = self.rfile.readline(65537)
                while STATE.in_window(STATE.hang):
                    time.sleep(0.05)
            finally:
                self.close_connection = True
            return
        super().handle_one_request()

    def creds_delay(self):
        if STATE.args.delay:
            time.sleep(STATE.args.delay / 1000.0)

    def do_any(self):
        self.route(self.command, self.body())

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_any


class Imds(Base):
    """The EC2 instance metadata service, IMDSv2 only (HttpTokens = required).

    Rules, from:
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-returns.html
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html
    - A session token comes from PUT /latest/api/token with the header
      X-aws-ec2-metadata-token-ttl-seconds, an integer from 1 to 21600;
      missing or out of range: 400. A token request carrying
      X-Forwarded-For is refused: 403. The answer is the token, with the
      TTL header. Any other method on that path: 405.
    - Every metadata request must carry a valid, unexpired token in
      X-aws-ec2-metadata-token: 401 otherwise (IMDSv1 is off).
    - Metadata is read with GET (or HEAD); any other method: 405.
    - /latest/meta-data/iam/security-credentials/ lists the role's name;
      .../ROLE answers the JSON credentials {Code, LastUpdated, Type,
      AccessKeyId, SecretAccessKey, Token, Expiration}; an unknown role or
      path: 404.
    """

    def route(self, method, body):
        path = self.path
        if path == "/latest/api/token":
            if method != "PUT":
                return self.answer(405, "Method Not Allowed", kind="token")
            if self.headers.get("X-Forwarded-For") is not None:
                return self.answer(403, "Forbidden", kind="token")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.answer(400, "Bad Request", kind="token")
            token = base64.b64encode(secrets.token_bytes(42)).decode()
            with STATE.lock:
                STATE.imds_tokens[token] = time.monotonic() + int(ttl)
            return self.answer(200, token, extra=[("X-aws-ec2-metadata-token-ttl-seconds", ttl)],
                               kind="token")
        token = self.headers.get("X-aws-ec2-metadata-token")
        with STATE.lock:
            exp = STATE.imds_tokens.get(token or "")
        if exp is None or exp < time.monotonic():
            return self.answer(401, "Unauthorized", kind="unauthorized")
        if method not in ("GET", "HEAD"):
            return self.answer(405, "Method Not Allowed")
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            return self.answer(200, STATE.args.role, kind="role")
        if path == base + STATE.args.role:
            self.creds_delay()
            c = STATE.credentials()
            doc = {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                   "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                   "Token": c["Token"], "Expiration": c["Expiration"]}
            return self.answer(200, json.dumps(doc, indent=2), kind="creds",
                               issued={"token": c["Token"], "expires": c["expires"]})
        return self.answer(404, "Not Found")


class Container(Base):
    """The container credentials endpoint (ECS task roles, EKS Pod Identity).

    Rules, from:
      https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
      https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
      https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html
    - GET on the credentials path the container was given; another path:
      404; another method: 405.
    - With an authorization token (EKS Pod Identity, or a FULL_URI with
      AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]), the Authorization header
      must be exactly that token: 401 otherwise.
    - The answer is JSON: AccessKeyId, SecretAccessKey, Token, Expiration
      (ISO 8601), RoleArn.
    """

    def route(self, method, body):
        if self.path != STATE.args.path:
            return self.answer(404, json.dumps({"code": "NotFound", "message": "no such path"}),
                               "application/json")
        if method != "GET":
            return self.answer(405, json.dumps({"code": "MethodNotAllowed"}), "application/json")
        want = STATE.args.auth_token
        if want is not None and self.headers.get("Authorization") != want:
            return self.answer(401, json.dumps({"code": "AccessDenied",
                                                "message": "Authorization header is missing or invalid"}),
                               "application/json", kind="unauthorized")
        self.creds_delay()
        c = STATE.credentials()
        doc = {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
               "Token": c["Token"], "Expiration": c["Expiration"],
               "RoleArn": "arn:aws:iam::123456789012:role/spillway-task"}
        return self.answer(200, json.dumps(doc), "application/json", kind="creds",
                           issued={"token": c["Token"], "expires": c["expires"]})


STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SESSION_RE = re.compile(r"^[\w+=,.@-]*$", re.ASCII)


class Sts(Base):
    """AWS STS, the AssumeRoleWithWebIdentity action of its Query API.

    Rules, from:
      https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
      https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html
      https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
    - A Query request: POST to / with the parameters as an
      application/x-www-form-urlencoded body, or GET with them in the query.
    - AssumeRoleWithWebIdentity needs no signature. A request that is signed
      anyway must carry valid credentials of an account, and this fake has
      none: 403 InvalidClientTokenId.
    - Action missing: 400 MissingAction; another action or a Version other
      than 2011-06-15: 400 InvalidAction.
    - RoleArn (20-2048 characters), RoleSessionName (2-64 of [\\w+=,.@-])
      and WebIdentityToken (4-20000 characters) are required: missing or
      out of bounds, 400 ValidationError; DurationSeconds, when given, is
      900-43200.
    - A token other than the identity provider's: 400 InvalidIdentityToken;
      a role other than the one that trusts it: 403 AccessDenied.
    - Success: the AssumeRoleWithWebIdentityResponse document; errors: the
      ErrorResponse document (Error/Type, Code, Message; RequestId).
    """

    def error(self, status, code, message, kind="error"):
        typ = "Receiver" if status >= 500 else "Sender"
        doc = ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
               '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
               % (STS_NS, typ, code, message.replace("&", "&amp;").replace("<", "&lt;"), secrets.token_hex(16)))
        return self.answer(status, doc, "text/xml", kind=kind)

    def route(self, method, body):
        path, _, query = self.path.partition("?")
        if path != "/":
            return self.error(404, "NotFound", "Not Found")
        if method == "POST":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                return self.error(400, "InvalidParameterValue", "Unsupported content type")
            raw = body.decode("utf-8", "replace")
        elif method == "GET":
            raw = query
        else:
            return self.error(405, "MethodNotAllowed", "Method not allowed")
        try:
            params = urllib.parse.parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
        except ValueError:
            return self.error(400, "MalformedQueryString", "Malformed query string")
        if any(len(v) > 1 for v in params.values()):
            return self.error(400, "MalformedQueryString", "A parameter appears twice")
        p = {k: v[0] for k, v in params.items()}
        if (self.headers.get("Authorization") or self.headers.get("X-Amz-Security-Token")
                or "X-Amz-Signature" in p):
            return self.error(403, "InvalidClientTokenId",
                              "The security token included in the request is invalid.")
        if "Action" not in p:
            return self.error(400, "MissingAction", "Missing Action")
        if p["Action"] != "AssumeRoleWithWebIdentity" or p.get("Version") != "2011-06-15":
            return self.error(400, "InvalidAction", "Could not find operation %s for version %s"
                              % (p["Action"], p.get("Version", "NO_VERSION_SPECIFIED")))
        bounds = [("RoleArn", "roleArn", 20, 2048), ("RoleSessionName", "roleSessionName", 2, 64),
                  ("WebIdentityToken", "webIdentityToken", 4, 20000)]
        for name, member, lo, hi in bounds:
            v = p.get(name)
            if v is None:
                return self.error(400, "ValidationError", "1 validation error detected: Value null at "
                                  "'%s' failed to satisfy constraint: Member must not be null" % member)
            if not lo <= len(v) <= hi:
                return self.error(400, "ValidationError", "1 validation error detected: Value at '%s' "
                                  "failed to satisfy constraint: Member must have length between %d and %d"
                                  % (member, lo, hi))
        if not SESSION_RE.match(p["RoleSessionName"]):
            return self.error(400, "ValidationError", "1 validation error detected: Value at "
                              "'roleSessionName' failed to satisfy constraint: Member must satisfy "
                              "regular expression pattern: [\\w+=,.@-]*")
        if "DurationSeconds" in p and not (p["DurationSeconds"].isdigit()
                                           and 900 <= int(p["DurationSeconds"]) <= 43200):
            return self.error(400, "ValidationError", "DurationSeconds must be 900 to 43200")
        if p["WebIdentityToken"] != STATE.args.accept_token:
            return self.error(400, "InvalidIdentityToken", "The web identity token that was passed "
                              "could not be validated by AWS. Get a new identity token from the "
                              "identity provider and then retry the request.", kind="denied")
        if p["RoleArn"] != STATE.args.role_arn:
            return self.error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                              kind="denied")
        self.creds_delay()
        c = STATE.credentials()
        role = p["RoleArn"].split("/")[-1]
        doc = """<AssumeRoleWithWebIdentityResponse xmlns="%(ns)s">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:spillway:spillway</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/%(role)s/%(session)s</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:%(session)s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>%(token)s</SessionToken>
      <SecretAccessKey>%(secret)s</SecretAccessKey>
      <Expiration>%(exp)s</Expiration>
      <AccessKeyId>%(akid)s</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.example.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>%(rid)s</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
""" % {"ns": STS_NS, "role": role, "session": p["RoleSessionName"], "token": c["Token"],
       "secret": c["SecretAccessKey"], "exp": c["Expiration"], "akid": c["AccessKeyId"],
       "rid": secrets.token_hex(16)}
        return self.answer(200, doc, "text/xml", kind="creds",
                           issued={"token": c["Token"], "expires": c["expires"],
                                   "session": p["RoleSessionName"]})


SEQ_RE = re.compile(rb'"name":\s*"seq",\s*"type":\s*"int",\s*"value":\s*(\d+)|"seq":\s*(\d+)')


def seqs_in(body):
    return [int(m.group(1) or m.group(2)) for m in SEQ_RE.finditer(body)]


HANDLER = None


def load_handler():
    """examples/lambda/handler.py, the function the ALB fake runs: the example is tested for real."""
    global HANDLER
    if HANDLER is None:
        import importlib.util
        here = os.path.dirname(os.path.abspath(__file__))
        spec = importlib.util.spec_from_file_location(
            "spw_handler", os.path.join(here, "..", "examples", "lambda", "handler.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.process = lambda record: None  # the example prints; the fake keeps quiet
        HANDLER = mod
    return HANDLER


ALB_MAX_BODY = 1000000
ALB_MAX_RESPONSE = 1000000
ALB_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
                  "application/x-ndjson")


class Alb(Base):
    """An Application Load Balancer with one Lambda function as its target.

    Rules, from:
      https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html
      https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
      https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
    - The listener rule forwards --path (a path pattern; anything else has
      no rule: the default action's fixed 404).
    - The request body, as received, is at most 1 MB (1,000,000 bytes):
      larger, 413 without invoking the function.
    - The function gets the event {requestContext: {elb: {targetGroupArn}},
      httpMethod, path, queryStringParameters, headers (names lowercase),
      body, isBase64Encoded}; the body is Base64 (isBase64Encoded true)
      unless its content type is text and it has no Content-Encoding.
    - The function's answer must be an object with an integer statusCode
      (statusDescription, headers, body, isBase64Encoded optional) and at
      most 1 MB; a function error (an exception) or any other answer: 502.
    - A function that runs past its timeout: 504. Throttled or no healthy
      target: 503.
    Faults (windows since start): --status START:DUR:CODE answers CODE
    (502, 503, 504...) without running the function; --poison SEQ makes
    the function raise on any batch holding record SEQ (a bug: 502).
    """

    def route(self, method, body):
        path = self.path.partition("?")[0]
        entry = {"t": time.time(), "method": method, "path": self.path, "bytes": len(body),
                 "ctype": self.headers.get("Content-Type"), "encoding": self.headers.get("Content-Encoding"),
                 "seqs": [], "b64": None}
        if path != STATE.args.path:
            return self.alb_answer(entry, 404, "<html><body><h1>404 Not Found</h1></body></html>")
        if len(body) > ALB_MAX_BODY:
            return self.alb_answer(entry, 413, "<html><head><title>413 Request Entity Too Large</title>"
                                   "</head><body><center><h1>413 Request Entity Too Large</h1></center>"
                                   "</body></html>")
        now = time.monotonic() - STATE.t0
        for a, d, code in STATE.statuses:
            if a <= now < a + d:
                return self.alb_answer(entry, code, "<html><body><h1>%d</h1></body></html>" % code)
        ctype = (self.headers.get("Content-Type") or "").lower()
        enc = self.headers.get("Content-Encoding")
        b64 = bool(enc) or not ctype.startswith(ALB_TEXT_TYPES)
        event = {"requestContext": {"elb": {"targetGroupArn":
                 "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/spillway/6d0ecf831eec9f09"}},
                 "httpMethod": method, "path": path, "queryStringParameters": {},
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8"),
                 "isBase64Encoded": b64}
        entry["b64"] = b64
        plain = gzip.decompress(body) if (enc or "").lower() == "gzip" else body
        seqs = seqs_in(plain)
        entry["raw_bytes"] = len(plain)
        with STATE.lock:
            STATE.invocations += 1
        try:
            if STATE.args.poison and set(seqs) & set(STATE.args.poison):
                raise RuntimeError("poison record")
            result = load_handler().lambda_handler(event, None)
        except Exception as e:  # the function failed: the ALB answers 502
            entry["error"] = str(e)
            return self.alb_answer(entry, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        ok = (isinstance(result, dict) and isinstance(result.get("statusCode"), int)
              and len(json.dumps(result)) <= ALB_MAX_RESPONSE)
        if not ok:
            return self.alb_answer(entry, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        status = result["statusCode"]
        out = result.get("body") or ""
        out = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
        if 200 <= status < 300:
            entry["seqs"] = seqs
            entry["records"] = json.loads(out).get("processed") if out.startswith(b"{") else None
        return self.alb_answer(entry, status, out,
                               (result.get("headers") or {}).get("Content-Type", "application/json"))

    def alb_answer(self, entry, status, body, ctype="text/html"):
        if isinstance(body, str):
            body = body.encode()
        entry["status"] = status
        if STATE.log:
            with STATE.lock:
                STATE.log.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler, port):
    srv = Server(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


def down_loop(handler, srv):
    """Closes the listener for each --down window, then listens again on the same port."""
    port = srv.server_address[1]
    for start, dur in sorted(STATE.down):
        delay = STATE.t0 + start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        srv.shutdown()
        srv.server_close()
        with STATE.lock:
            conns = list(STATE.conns)
        for c in conns:  # a service that is down answers nothing, kept-alive connections included
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        time.sleep(max(0.0, STATE.t0 + start + dur - time.monotonic()))
        while True:
            try:
                srv = serve(handler, port)
                break
            except OSError:
                time.sleep(0.05)


def main():
    global STATE
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("service", choices=["imds", "container", "sts", "alb"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--akid", default="ASIAFAKEEXAMPLE00001")
    p.add_argument("--secret", default="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    p.add_argument("--lifetime", type=float, default=3600)
    p.add_argument("--down", action="append", default=[], help="START:DURATION, connections refused")
    p.add_argument("--hang", action="append", default=[], help="START:DURATION, no answers")
    p.add_argument("--delay", type=int, default=0, help="ms before every credentials answer")
    p.add_argument("--role", default="spillway-instance-role", help="imds: the instance's role")
    p.add_argument("--path", default=None,
                   help="container: the credentials path [/v2/credentials/spillway]; alb: the rule's path [/]")
    p.add_argument("--auth-token", help="container: the Authorization value required")
    p.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/spillway-web",
                   help="sts: the role the token may assume")
    p.add_argument("--accept-token", default="", help="sts: the web identity token the provider issued")
    p.add_argument("--status", action="append", default=[],
                   help="alb: START:DURATION:CODE, answer CODE without running the function")
    p.add_argument("--poison", type=int, action="append", default=[],
                   help="alb: the function raises on a batch holding this seq")
    args = p.parse_args()
    if args.path is None:
        args.path = "/" if args.service == "alb" else "/v2/credentials/spillway"
    STATE = State(args)
    handler = {"imds": Imds, "container": Container, "sts": Sts, "alb": Alb}[args.service]
    srv = serve(handler, args.port)
    port = srv.server_address[1]
    if args.down:
        threading.Thread(target=down_loop, args=(handler, srv), daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: done.set())
    signal.signal(signal.SIGINT, lambda s, f: done.set())
    while not done.is_set():
        done.wait(3600)
    os._exit(0)


if __name__ == "__main__":
    main()
