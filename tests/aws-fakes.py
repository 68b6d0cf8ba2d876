#!/usr/bin/env python3
"""tests/aws-fakes.py: faithful fakes of the three AWS services spillway's
credential chain reads, for tests/http-aws-creds.py:

    python3 tests/aws-fakes.py imds      --role NAME ...
    python3 tests/aws-fakes.py container --path /v2/credentials/ID [--auth-token T] ...
    python3 tests/aws-fakes.py sts       --role-arn ARN --accept-token T ...
    python3 tests/aws-fakes.py alb       --path /in [--poison SEQ] [--status START:DUR:CODE] ...
    python3 tests/aws-fakes.py sqs       --queue NAME [--throttle START:DUR] [--fail-ratio R] ...
    python3 tests/aws-fakes.py lambda    --function NAME [--poison SEQ] [--throttle START:DUR] ...

and the destinations of the AWS sinks: an Application Load Balancer with a
Lambda target (Alb: runs examples/lambda/handler.py on the ALB's event),
Amazon SQS's SendMessageBatch (Sqs), Lambda's Invoke API (Lambda), both behind SigV4 (SigV4Verifier,
which recomputes every signature from the test secret) where AWS signs.

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

Destinations time their fault windows from their first request. They log
one JSON line per request too, with the sequence numbers
of the records the function processed ("seqs", as tests/receiver.py logs
them) so tests/http-lib.py's delivered_seqs reads either.
"""

import argparse
import base64
import calendar
import hmac
import uuid
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
        self.lock = threading.RLock()  # record() is called with it held (the SQS fake)
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
        self.clock_started = False
        self.throttle = [self.window(w) for w in getattr(args, "throttle", [])]
        self.bad_md5 = getattr(args, "bad_md5", 0)
        self.dedup = {}
        self.sqs_seq = 0
        self.rng_n = 0
        self.tried = set()
        self.verifier = SigV4Verifier(args.akid, args.secret, args.region, args.sigv4_service or
                                      {"sqs": "sqs", "lambda": "lambda"}.get(args.service, "execute-api"),
                                      args.tokens_log)

    @staticmethod
    def window(spec):
        a, _, b = spec.partition(":")
        return float(a), float(b)

    def start_clock(self):
        """Destinations time their fault windows from their first request, not from their start:
        a loaded machine may take seconds to start the program that sends it."""
        with self.lock:
            if not self.clock_started:
                self.clock_started = True
                self.t0 = time.monotonic()

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
        STATE.start_clock()
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


class SigV4Verifier:
    """Checks a request's AWS Signature Version 4 the way AWS does, by
    recomputing it from the secret (never from the client's signer).

    Rules, from:
      https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
      https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
      https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html
      https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html (temporary credentials)
    - Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
      SignedHeaders=..., Signature=64 hex; missing or malformed: MissingAuthenticationToken
      / IncompleteSignature.
    - The access key must be the test's (--akid); another: InvalidClientTokenId.
      The scope's region and service must be the service's: SignatureDoesNotMatch
      ("Credential should be scoped to correct service").
    - X-Amz-Date within 5 minutes of the server's clock, and its day the scope's:
      otherwise "Signature expired" (403 SignatureDoesNotMatch for a skew, as AWS answers).
    - SignedHeaders must hold host and x-amz-date, and x-amz-security-token when sent.
    - Temporary credentials (key ids starting ASIA) need X-Amz-Security-Token:
      missing, UnrecognizedClientException ("The security token included in the
      request is invalid"); with --tokens-log, the token must be one a credentials
      fake issued and not yet expired: ExpiredToken otherwise.
    - The signature: HMAC-SHA256 chain over the string to sign of the canonical
      request (method, path with each segment URI-encoded again, sorted query,
      signed headers' trimmed values, payload SHA-256): SignatureDoesNotMatch.
    Returns None, or (status, code, message).
    """

    SKEW = 300

    def __init__(self, akid, secret, region, service, tokens_log=None):
        self.akid, self.secret, self.region, self.service = akid, secret, region, service
        self.tokens_log = tokens_log

    @staticmethod
    def _enc(seg):
        return urllib.parse.quote(seg, safe="-_.~")

    def canonical_uri(self, path):
        segs = path.split("/")
        return "/".join(self._enc(x) for x in segs) or "/"

    @staticmethod
    def canonical_query(q):
        pairs = []
        for item in q.split("&") if q else []:
            k, _, v = item.partition("=")
            pairs.append((urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"),
                          urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~")))
        return "&".join("%s=%s" % kv for kv in sorted(pairs))

    def issued_tokens(self):
        out = {}
        try:
            with open(self.tokens_log) as f:
                for line in f:
                    e = json.loads(line) if line.strip() else {}
                    if e.get("issued"):
                        out[e["issued"]["token"]] = e["issued"]["expires"]
        except OSError:
            pass
        return out

    def check(self, method, raw_path, headers, body):
        auth = headers.get("Authorization")
        if not auth:
            return 403, "MissingAuthenticationToken", "Request is missing Authentication Token"
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/, ]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
                     r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$", auth)
        if not m:
            return 400, "IncompleteSignature", "Authorization header requires Credential, SignedHeaders and Signature"
        akid, day, region, service, signed, sig = m.groups()
        if akid != self.akid:
            return 403, "InvalidClientTokenId", "The security token included in the request is invalid."
        if service != self.service or region != self.region:
            return 403, "SignatureDoesNotMatch", ("Credential should be scoped to a valid region and "
                                                  "to correct service: '%s'." % self.service)
        amz_date = headers.get("X-Amz-Date", "")
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return 400, "IncompleteSignature", "X-Amz-Date is missing or malformed"
        if abs(time.time() - t) > self.SKEW:
            return 403, "SignatureDoesNotMatch", ("Signature expired: %s is now earlier or later than "
                                                  "the server's time by more than 5 min." % amz_date)
        if not amz_date.startswith(day):
            return 403, "SignatureDoesNotMatch", "Date in Credential scope does not match X-Amz-Date"
        names = signed.split(";")
        token = headers.get("X-Amz-Security-Token")
        if "host" not in names or "x-amz-date" not in names or (token and "x-amz-security-token" not in names):
            return 403, "SignatureDoesNotMatch", "host, x-amz-date and x-amz-security-token must be signed"
        if akid.startswith("ASIA"):
            if not token:
                return 403, "UnrecognizedClientException", "The security token included in the request is invalid."
            if self.tokens_log:
                exp = self.issued_tokens().get(token)
                if exp is None:
                    return 403, "UnrecognizedClientException", "The security token included in the request is invalid."
                if exp < time.time():
                    return 403, "ExpiredToken", "The security token included in the request is expired"
        path, _, query = raw_path.partition("?")
        lines = "".join("%s:%s\n" % (n, ",".join(" ".join(v.strip().split()) for v in (headers.get_all(n) or [])))
                        for n in names)
        creq = "\n".join([method, self.canonical_uri(path), self.canonical_query(query), lines, signed,
                          hashlib.sha256(body).hexdigest()])
        scope = "%s/%s/%s/aws4_request" % (day, region, service)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.secret).encode()
        for part in (day, region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), sig):
            return 403, "SignatureDoesNotMatch", ("The request signature we calculated does not match "
                                                  "the signature you provided.")
        return None


SQS_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
SQS_MAX_PAYLOAD = 1048576
SQS_DEDUP_WINDOW = 300


def sqs_valid_text(s):
    """SQS's allowed characters: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF."""
    for ch in s:
        o = ord(ch)
        if not (o in (9, 10, 13) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF):
            return False
    return True


class Sqs(Base):
    """Amazon SQS, SendMessageBatch in the AWS JSON 1.0 protocol.

    Rules, from:
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatchRequestEntry.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
    - POST / with X-Amz-Target AmazonSQS.<Action> and Content-Type
      application/x-amz-json-1.0; only SendMessageBatch here (another:
      400 UnknownOperationException). Signed with SigV4, service sqs.
    - Errors: HTTP 400 (or 403/500) with {"__type":"com.amazonaws.sqs#CODE","message"}
      and x-amzn-query-error: CODE;Sender.
    - QueueUrl names an existing queue (--queue; a name ending .fifo is
      FIFO): 400 QueueDoesNotExist otherwise.
    - 1 to 10 entries (EmptyBatchRequest, TooManyEntriesInBatchRequest), Ids
      unique (BatchEntryIdsNotDistinct) and [A-Za-z0-9_-]{1,80}
      (InvalidBatchEntryId); the messages' total, bodies plus attribute names,
      types and values, at most 1 MiB: BatchRequestTooLong.
    - Per entry (Failed, SenderFault true): a body with characters outside
      SQS's set (InvalidMessageContents), an empty body (MissingParameter),
      FIFO without MessageGroupId or (no content-based deduplication)
      MessageDeduplicationId, a deduplication id on a standard queue
      (InvalidParameterValue), an attribute without DataType or value or
      with a Number that is not one (InvalidParameterValue).
    - FIFO: a deduplication id seen in the last 5 minutes is accepted as
      successful and not stored again; messages of a group are stored in
      the order they arrive.
    - Success: {"Successful":[{Id, MessageId, MD5OfMessageBody (hex MD5 of the
      body's UTF-8), MD5OfMessageAttributes, SequenceNumber (FIFO)}],
      "Failed":[{Id, SenderFault, Code, Message}]}.
    Faults: --throttle START:DUR (400 ThrottlingException, "Rate exceeded"),
    --fail-ratio R (entries Failed with SenderFault false, InternalError,
    pseudo-random with --seed), --sender-fault SEQ (the message holding
    record SEQ is refused, InvalidMessageContents), --bad-md5 N (the first
    N successes report a wrong MD5 and are not stored: corrupted in transit).
    Log: one line per request (status, code, seqs newly stored, dups), and
    each stored message with its group and sequence (the consumer's view).
    """

    def sqs_error(self, status, code, message, entry):
        entry.update({"status": status, "code": code})
        body = json.dumps({"__type": "com.amazonaws.sqs#%s" % code, "message": message})
        self.sqs_answer(entry, status, body, [("x-amzn-query-error", "%s;Sender" % code)])

    def sqs_answer(self, entry, status, body, extra=()):
        entry["status"] = status
        STATE.record(entry)
        body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self, method, body):
        STATE.start_clock()
        entry = {"t": time.time(), "kind": "sqs", "seqs": [], "dups": [], "failed": [], "headers": {},
                 "token": self.headers.get("X-Amz-Security-Token")}
        if method != "POST" or self.path.partition("?")[0] != "/":
            return self.sqs_error(400, "InvalidAction", "The action or operation requested is invalid.", entry)
        why = STATE.verifier.check(method, self.path, self.headers, body)
        if why:
            return self.sqs_error(why[0], why[1], why[2], entry)
        target = self.headers.get("X-Amz-Target", "")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/x-amz-json-1.0":
            return self.sqs_error(400, "InvalidParameterValue", "Content-Type must be application/x-amz-json-1.0", entry)
        if target != "AmazonSQS.SendMessageBatch":
            return self.sqs_error(400, "UnknownOperationException", "Unknown operation %s" % target, entry)
        if STATE.in_window(STATE.throttle):
            return self.sqs_error(400, "ThrottlingException", "Rate exceeded", entry)
        try:
            req = json.loads(body)
        except ValueError:
            return self.sqs_error(400, "SerializationException", "Malformed JSON", entry)
        qurl = req.get("QueueUrl") or ""
        name = qurl.rstrip("/").rsplit("/", 1)[-1]
        if name not in STATE.args.queue:
            return self.sqs_error(400, "QueueDoesNotExist", "The specified queue does not exist.", entry)
        fifo = name.endswith(".fifo")
        ents = req.get("Entries")
        if not isinstance(ents, list) or not ents:
            return self.sqs_error(400, "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.", entry)
        if len(ents) > 10:
            return self.sqs_error(400, "TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d." % len(ents), entry)
        ids = [e.get("Id") for e in ents]
        if len(set(ids)) != len(ids):
            return self.sqs_error(400, "BatchEntryIdsNotDistinct", "Id %s repeated." % ids, entry)
        if not all(isinstance(i, str) and SQS_ID_RE.match(i) for i in ids):
            return self.sqs_error(400, "InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.", entry)
        total = 0
        for e in ents:
            total += len((e.get("MessageBody") or "").encode())
            for k, a in (e.get("MessageAttributes") or {}).items():
                total += len(k.encode()) + len(str(a.get("DataType", "")).encode()) + len(str(a.get("StringValue", "")).encode())
        if total > SQS_MAX_PAYLOAD:
            return self.sqs_error(400, "BatchRequestTooLong", "Batch requests cannot be longer than %d bytes. You have sent %d bytes." % (SQS_MAX_PAYLOAD, total), entry)
        ok, failed = [], []
        for e in ents:
            res = self.one(e, fifo, name, entry)
            (ok if "MessageId" in res else failed).append(res)
        entry["failed"] = [f["Code"] for f in failed]
        self.sqs_answer(entry, 200, json.dumps({"Successful": ok, "Failed": failed}))

    def one(self, e, fifo, queue, entry):
        def fail(code, msg, sender=True):
            return {"Id": e["Id"], "SenderFault": sender, "Code": code, "Message": msg}
        text = e.get("MessageBody")
        if not isinstance(text, str) or text == "":
            return fail("MissingParameter", "The request must contain the parameter MessageBody.")
        if not sqs_valid_text(text):
            return fail("InvalidMessageContents", "Invalid characters found.")
        group, dedup = e.get("MessageGroupId"), e.get("MessageDeduplicationId")
        if fifo and not group:
            return fail("MissingParameter", "The request must contain the parameter MessageGroupId.")
        if fifo and not dedup:
            return fail("InvalidParameterValue", "The queue should either have ContentBasedDeduplication "
                        "enabled or MessageDeduplicationId provided explicitly")
        if not fifo and dedup:
            return fail("InvalidParameterValue", "The request include parameter that is not valid for this queue type")
        for k, a in (e.get("MessageAttributes") or {}).items():
            dt, v = a.get("DataType"), a.get("StringValue")
            if dt not in ("String", "Number") or not v:
                return fail("InvalidParameterValue", "Message (user) attribute '%s' must contain a non-empty value of type '%s'" % (k, dt))
            if dt == "Number":
                try:
                    float(v)
                except ValueError:
                    return fail("InvalidParameterValue", "Can't cast the value of message (user) attribute '%s' to a number." % k)
        raw = text.encode()
        seqs = seqs_in(raw)
        if not seqs:
            try:
                seqs = seqs_in(base64.b64decode(text, validate=True))
            except ValueError:
                pass
        if STATE.args.sender_fault and set(seqs) & set(STATE.args.sender_fault):
            return fail("InvalidMessageContents", "Invalid binary character '#x1F' was found in the message body.")
        with STATE.lock:
            STATE.rng_n += 1
            roll = (STATE.rng_n * 2654435761 + STATE.args.seed) % 1000 / 1000.0
        if roll < STATE.args.fail_ratio:
            return fail("InternalError", "We encountered an internal error. Please try again.", sender=False)
        md5 = hashlib.md5(raw).hexdigest()
        with STATE.lock:
            if STATE.bad_md5 > 0:
                STATE.bad_md5 -= 1
                return {"Id": e["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": "0" * 32}
            now = time.time()
            if fifo:
                seen = STATE.dedup.get((queue, dedup))
                if seen and now - seen[0] < SQS_DEDUP_WINDOW:
                    entry["dups"] += seqs
                    return {"Id": e["Id"], "MessageId": seen[1], "MD5OfMessageBody": md5,
                            "SequenceNumber": seen[2]}
            STATE.sqs_seq += 1
            mid = str(uuid.uuid4())
            sn = "%020d" % STATE.sqs_seq
            if fifo:
                STATE.dedup[(queue, dedup)] = (now, mid, sn)
            entry["seqs"] += seqs
            STATE.record({"t": now, "kind": "stored", "queue": queue, "group": group, "dedup": dedup,
                          "seqs": seqs, "sn": STATE.sqs_seq, "md5": md5,
                          "attrs": {k: a.get("StringValue") for k, a in (e.get("MessageAttributes") or {}).items()},
                          "b64": not text.lstrip().startswith("{")})
        res = {"Id": e["Id"], "MessageId": mid, "MD5OfMessageBody": md5}
        if fifo:
            res["SequenceNumber"] = sn
        return res


LAMBDA_SYNC_MAX = 6291456
LAMBDA_ASYNC_MAX = 1048576
LAMBDA_PATH_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class Lambda(Base):
    """AWS Lambda, the Invoke API, running examples/lambda/handler.py.

    Rules, from:
      https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
      https://docs.aws.amazon.com/lambda/latest/dg/invocation-sync.html
      https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html
      https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
      https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (batchItemFailures)
      https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html (errorMessage, errorType)
    - POST /2015-03-31/functions/FunctionName/invocations[?Qualifier=Q], signed
      with SigV4 service lambda (the name URI-encoded twice in the canonical
      request). FunctionName: NAME, NAME:ALIAS, ACCOUNT:function:NAME or
      arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]; an unknown function
      or qualifier: 404 ResourceNotFoundException.
    - X-Amz-Invocation-Type RequestResponse (default: 200 with the function's
      answer), Event (202, queued) or DryRun (204); another: 400
      InvalidParameterValueException.
    - The payload is JSON (400 InvalidRequestContentException otherwise), at
      most 6 MB synchronous, 1 MB asynchronous: 413 RequestTooLargeException.
    - A function that raises answers 200 with X-Amz-Function-Error: Unhandled
      and {"errorMessage", "errorType", "stackTrace"}.
    - Errors carry x-amzn-ErrorType and a JSON body {"Type", "message"};
      429 TooManyRequestsException adds "Reason" and "retryAfterSeconds",
      which the service model binds to the Retry-After header.
    Faults: --throttle START:DUR (429, retryAfterSeconds --retry-after),
    --status START:DUR:CODE (500 ServiceException, 502 ResourceNotReadyException,
    409 ResourceConflictException), --poison SEQ (the function raises on any
    payload holding record SEQ), --item-fail-ratio R (each record fails its
    first try with this probability: listed in batchItemFailures).
    Executions are counted; each completed record is logged ("seqs"), so the
    log is the function's view: what it processed and how often.
    """

    def lam_error(self, entry, status, typ, message, extra=(), more=None):
        doc = {"Type": "User" if status < 500 else "Service", "message": message}
        doc.update(more or {})
        entry.update({"status": status, "code": typ})
        STATE.record(entry)
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", typ)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def lam_answer(self, entry, status, body, extra=()):
        entry["status"] = status
        STATE.record(entry)
        body = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def function_known(self, raw_name, qualifier):
        name = urllib.parse.unquote(raw_name)
        m = re.match(r"^(?:arn:aws[a-z-]*:lambda:([a-z0-9-]+):)?(?:(\d{12}):function:)?([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9$_-]{1,128}))?$", name)
        if not m:
            return False
        if m.group(1) and m.group(1) != STATE.args.region:
            return False
        alias = m.group(4)
        if alias and qualifier and alias != qualifier:
            return False
        q = alias or qualifier
        return m.group(3) == STATE.args.function and (q is None or q in ("$LATEST", "live"))

    def route(self, method, body):
        STATE.start_clock()
        entry = {"t": time.time(), "kind": "invoke", "seqs": [], "ids": [], "failed": [],
                 "token": self.headers.get("X-Amz-Security-Token"), "bytes": len(body)}
        path, _, query = self.path.partition("?")
        m = LAMBDA_PATH_RE.match(path)
        if method != "POST" or not m:
            return self.lam_error(entry, 404, "UnknownOperationException", "Unknown operation")
        why = STATE.verifier.check(method, self.path, self.headers, body)
        if why:
            typ = {"SignatureDoesNotMatch": "InvalidSignatureException"}.get(why[1], "UnrecognizedClientException")
            return self.lam_error(entry, 403, typ, why[2])
        qualifier = urllib.parse.parse_qs(query).get("Qualifier", [None])[0]
        if not self.function_known(m.group(1), qualifier):
            return self.lam_error(entry, 404, "ResourceNotFoundException",
                                  "Function not found: %s" % urllib.parse.unquote(m.group(1)))
        itype = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if itype not in ("RequestResponse", "Event", "DryRun"):
            return self.lam_error(entry, 400, "InvalidParameterValueException",
                                  "Unsupported invocation type %s" % itype)
        limit = LAMBDA_ASYNC_MAX if itype == "Event" else LAMBDA_SYNC_MAX
        if len(body) > limit:
            return self.lam_error(entry, 413, "RequestTooLargeException",
                                  "Request must be smaller than %d bytes for the InvokeFunction operation" % limit)
        try:
            event = json.loads(body)
        except ValueError:
            return self.lam_error(entry, 400, "InvalidRequestContentException",
                                  "Could not parse request body into json")
        if STATE.in_window(STATE.throttle):
            return self.lam_error(entry, 429, "TooManyRequestsException", "Rate Exceeded.",
                                  [("Retry-After", str(STATE.args.retry_after))],
                                  {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                                   "retryAfterSeconds": str(STATE.args.retry_after)})
        now = time.monotonic() - STATE.t0
        for a, d, code in STATE.statuses:
            if a <= now < a + d:
                typ = {409: "ResourceConflictException", 502: "ResourceNotReadyException"}.get(code, "ServiceException")
                return self.lam_error(entry, code, typ, "injected %d" % code)
        if itype == "DryRun":
            return self.lam_answer(entry, 204, b"")
        with STATE.lock:
            STATE.invocations += 1
            entry["n"] = STATE.invocations
        recs = event.get("records") if isinstance(event, dict) else None
        recs = recs if isinstance(recs, list) else []
        entry["ids"] = [r.get("id") for r in recs]
        seqs_of = {}
        for r in recs:
            raw = json.dumps(r["record"]).encode() if "record" in r else base64.b64decode(r.get("data", ""))
            seqs_of[r.get("id")] = seqs_in(raw)
        if STATE.args.poison and any(set(v) & set(STATE.args.poison) for v in seqs_of.values()):
            bad = [x for v in seqs_of.values() for x in v if x in STATE.args.poison][0]
            entry["function_error"] = True
            return self.lam_answer(entry, 200, json.dumps({
                "errorMessage": "cannot process record %d: poison" % bad, "errorType": "ValueError",
                "stackTrace": ["  File \"/var/task/handler.py\", line 30, in process\n"]}),
                [("X-Amz-Function-Error", "Unhandled")])
        fails = []
        with STATE.lock:
            for r in recs:
                rid = r.get("id")
                if rid in STATE.tried:
                    continue
                STATE.tried.add(rid)
                STATE.rng_n += 1
                if (STATE.rng_n * 2654435761 + STATE.args.seed) % 1000 / 1000.0 < STATE.args.item_fail_ratio:
                    fails.append(rid)
        answer = load_handler().lambda_handler({"records": [r for r in recs if r.get("id") not in fails]}, None)
        answer = {"batchItemFailures": (answer.get("batchItemFailures") or []) +
                  [{"itemIdentifier": f} for f in fails]}
        entry["failed"] = fails
        entry["seqs"] = [x for r in recs if r.get("id") not in fails for x in seqs_of[r.get("id")]]
        if itype == "Event":
            entry["failed"] = []
            entry["seqs"] = [x for v in seqs_of.values() for x in v]
            return self.lam_answer(entry, 202, b"")
        return self.lam_answer(entry, 200, json.dumps(answer))


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
    p.add_argument("service", choices=["imds", "container", "sts", "alb", "sqs", "lambda"])
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
                   help="alb, lambda: START:DURATION:CODE, answer CODE without running the function")
    p.add_argument("--poison", type=int, action="append", default=[],
                   help="alb, lambda: the function raises on a batch holding this seq")
    p.add_argument("--region", default="eu-west-1", help="sqs: the region signatures are scoped to")
    p.add_argument("--sigv4-service", help="sqs: the service signatures are scoped to [sqs]")
    p.add_argument("--tokens-log", help="sqs: a credentials fake's --log; session tokens must be ones it issued")
    p.add_argument("--queue", action="append", default=[], help="sqs: a queue name (.fifo: FIFO)")
    p.add_argument("--throttle", action="append", default=[], help="sqs, lambda: START:DURATION, throttled")
    p.add_argument("--fail-ratio", type=float, default=0.0, help="sqs: entries failed SenderFault=false")
    p.add_argument("--sender-fault", type=int, action="append", default=[],
                   help="sqs: the message holding this seq is refused (SenderFault=true)")
    p.add_argument("--bad-md5", type=int, default=0, help="sqs: the first N successes report a wrong MD5")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--function", default="spillway", help="lambda: the function's name")
    p.add_argument("--retry-after", type=int, default=1, help="lambda: retryAfterSeconds of a 429")
    p.add_argument("--item-fail-ratio", type=float, default=0.0,
                   help="lambda: records failing their first try (batchItemFailures)")
    args = p.parse_args()
    if args.path is None:
        args.path = "/" if args.service == "alb" else "/v2/credentials/spillway"
    STATE = State(args)
    handler = {"imds": Imds, "container": Container, "sts": Sts, "alb": Alb, "sqs": Sqs, "lambda": Lambda}[args.service]
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
