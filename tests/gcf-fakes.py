#!/usr/bin/python3
"""tests/gcf-fakes.py: faithful fakes of the Google services the `gcf`
sink talks to, for tests/gcf-*.py: the metadata server, the OAuth 2.0
token endpoint, and a Cloud Run / Cloud Functions service behind Google's
authentication. One role per process:

    gcf-fakes.py metadata --google-key PEM --google-kid KID ...
    gcf-fakes.py token    --google-key PEM --google-kid KID --sa-pub PEM --sa-kid KID --sa-email E
    gcf-fakes.py function --google-pub PEM --google-kid KID --audience AUD --invoker E ...

Common: --port (0: any), --port-file, --log (one JSON line per request),
--lifetime (seconds an issued token lasts); token: --clock-offset (how far
the client's clock is behind Google's, to play a skewed clock). The keys are made by the test
with openssl at test time; none is committed. RS256 is
python3-cryptography's.

THE RULES (what the real services do, and so what these refuse)
-----------------------------------------------------------------

Metadata server
  https://cloud.google.com/compute/docs/metadata/querying-metadata
  https://cloud.google.com/compute/docs/instances/verifying-instance-identity
  https://cloud.google.com/run/docs/authenticating/service-to-service (metadata server)
  M1. Every request needs the header `Metadata-Flavor: Google`; without it
      the answer is 403 (and a request carrying X-Forwarded-For is refused
      the same way). Answers carry `Metadata-Flavor: Google`.
  M2. GET /computeMetadata/v1/instance/service-accounts/default/identity
      ?audience=AUD[&format=standard|full][&licenses=TRUE|FALSE]: the body is
      the ID token alone (text). No or an empty audience: 400. Other
      methods: 405. Unknown paths: 404.
  M3. The token: a JWT signed RS256 by Google (header kid), claims iss =
      https://accounts.google.com, aud = AUD, azp and sub = the service
      account's unique id, iat, exp = iat + 1 h (here --lifetime); with
      format=full also email and email_verified.
      The client libraries let GCE_METADATA_HOST replace the host.

OAuth 2.0 token endpoint (service accounts, ID tokens)
  https://developers.google.com/identity/protocols/oauth2/service-account#httprest
  https://datatracker.ietf.org/doc/html/rfc7523 (JWT bearer grant)
  https://cloud.google.com/functions/docs/securing/authenticating#generating_tokens_programmatically
  T1. POST, Content-Type application/x-www-form-urlencoded, with
      grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and assertion=JWT.
      Anything else: 400 {"error":"unsupported_grant_type"|"invalid_request"}.
  T2. The assertion: three Base64url parts; header alg RS256 with the kid of
      the service account's key (an unknown kid or a bad signature: 400
      invalid_grant "Invalid JWT Signature."); claims iss = the account's
      email (else 400 invalid_grant), aud = the token endpoint's URL, iat
      and exp integers with exp - iat <= 3600 and now within [iat - 300 s,
      exp] (else 400 invalid_grant "Invalid JWT: Token must be a
      short-lived token (60 minutes) and in a reasonable timeframe. Check
      your iat and exp values in the JWT claim.").
  T3. With target_audience: 200 {"id_token": JWT} whose aud is
      target_audience (claims as M3, with email); without it Google gives
      an access token, which cannot call a function: the fake answers
      {"access_token": ...} and no id_token.
  T4. A disabled key (control) gets 400 invalid_grant "Invalid grant:
      account not found".

The service (Cloud Run, Cloud Functions 2nd and 1st gen)
  https://cloud.google.com/run/docs/authenticating/service-to-service
  https://cloud.google.com/run/docs/securing/managing-access (roles/run.invoker)
  https://cloud.google.com/functions/docs/securing/authenticating
  https://cloud.google.com/run/docs/configuring/custom-audiences
  https://cloud.google.com/run/quotas (request size: 32 MiB HTTP/1)
  https://cloud.google.com/functions/quotas (10 MB 1st gen, 32 MB 2nd gen)
  F1. The ID token comes as `Authorization: Bearer TOKEN`, or as
      `X-Serverless-Authorization: Bearer TOKEN`, which is checked first
      when present and removed before the request reaches the code
      (Authorization then passes through untouched).
  F2. No token, a bad signature, an unknown kid, another issuer, an
      audience that is not the service's (--audience, repeatable for custom
      audiences) or an expired token: 401.
  F3. A valid token of a principal without the invoker role (--invoker,
      repeatable): 403.
  F4. A body over the limit (--max-body): 413.
  F5. Test controls (not Google's): POST /_control/revoke refuses every
      token seen so far (401 from then on); /_control/deny and /allow take
      the invoker role away and back; /_control/status N [COUNT] queues N for
      COUNT requests (after those already queued); /_control/stats.
"""

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

_spec = importlib.util.spec_from_file_location(
    "receiver", os.path.join(os.path.dirname(os.path.abspath(__file__)), "receiver.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

GOOGLE_ISS = "https://accounts.google.com"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.")
SA_UNIQUE_ID = "104729301847562938475"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    if any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign_jwt(key, kid, claims):
    head = b64u(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    sig = key.sign(("%s.%s" % (head, body)).encode(), padding.PKCS1v15(), hashes.SHA256())
    return "%s.%s.%s" % (head, body, b64u(sig))


def verify_jwt(pub, kid, token):
    """(header, claims) of an RS256 JWT signed by pub with kid, or raises ValueError(why)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    try:
        header = json.loads(unb64u(parts[0]))
        claims = json.loads(unb64u(parts[1]))
        sig = unb64u(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed JWT")
    if header.get("alg") != "RS256" or header.get("kid") != kid:
        raise ValueError("Invalid JWT Signature.")
    try:
        pub.verify(sig, ("%s.%s" % (parts[0], parts[1])).encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError("Invalid JWT Signature.")
    return header, claims


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_pub(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.t0 = time.monotonic()
        self.revoked = set()
        self.seen = set()
        self.denied = False
        self.disabled = False
        self.forced = []  # statuses to answer, in order, one per request
        self.requests = 0

    def record(self, entry):
        entry["t"] = round(time.time(), 3)
        with self.lock:
            self.requests += 1
            if self.log:
                self.log.write(json.dumps(entry) + "\n")


ST = None


def id_token(aud, email=True):
    a = ST.args
    now = int(time.time())
    claims = {"iss": GOOGLE_ISS, "aud": aud, "azp": SA_UNIQUE_ID, "sub": SA_UNIQUE_ID,
              "iat": now, "exp": now + a.lifetime}
    if email:
        claims["email"] = a.sa_email
        claims["email_verified"] = True
    return sign_jwt(ST.google_key, a.google_kid, claims), claims


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Google Frontend"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", ctype="text/plain", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_one(self):
        raw = self.body()
        role = ST.args.role
        if self.path.startswith("/_control/"):
            return self.control(raw)
        if role == "metadata":
            return self.metadata()
        if role == "token":
            return self.token(raw)
        return self.function(raw)

    do_GET = do_POST = do_PUT = do_PATCH = handle_one

    # ---- test controls (F5) ----------------------------------------------------
    def control(self, raw):
        what = self.path[len("/_control/"):]
        arg = raw.decode().split()
        with ST.lock:
            if what == "revoke":
                ST.revoked |= ST.seen
            elif what == "deny":
                ST.denied = True
            elif what == "allow":
                ST.denied = False
            elif what == "disable":
                ST.disabled = True
            elif what == "enable":
                ST.disabled = False
            elif what == "status":
                ST.forced += [int(arg[0])] * (int(arg[1]) if len(arg) > 1 else 1)
            elif what == "stats":
                return self.answer(200, json.dumps({"requests": ST.requests}), "application/json")
            else:
                return self.answer(404, "no such control\n")
        return self.answer(200, "ok\n")

    # ---- metadata server (M1-M3) -------------------------------------------------
    def metadata(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        entry = {"kind": "identity", "path": u.path, "query": q,
                 "flavor": self.headers.get("Metadata-Flavor")}
        flavor = [("Metadata-Flavor", "Google")]
        if self.headers.get("Metadata-Flavor") != "Google" or self.headers.get("X-Forwarded-For"):
            entry["status"] = 403
            ST.record(entry)
            return self.answer(403, "Missing required header \"Metadata-Flavor\": \"Google\"\n",
                               extra=flavor)
        if u.path != "/computeMetadata/v1/instance/service-accounts/default/identity":
            entry["status"] = 404
            ST.record(entry)
            return self.answer(404, "Not Found\n", extra=flavor)
        if self.command != "GET":
            entry["status"] = 405
            ST.record(entry)
            return self.answer(405, "Method Not Allowed\n", extra=flavor)
        aud = (q.get("audience") or [""])[0]
        fmt = (q.get("format") or ["standard"])[0]
        if not aud or fmt not in ("standard", "full"):
            entry["status"] = 400
            ST.record(entry)
            return self.answer(400, "non-empty audience parameter required\n", extra=flavor)
        with ST.lock:
            forced = ST.forced.pop(0) if ST.forced else None
        if forced:
            entry["status"] = forced
            ST.record(entry)
            return self.answer(forced, "forced\n", extra=flavor)
        tok, claims = id_token(aud, email=(fmt == "full"))
        entry.update(status=200, issued={"token": tok, "iat": claims["iat"], "exp": claims["exp"],
                                         "aud": aud})
        ST.record(entry)
        return self.answer(200, tok, "application/text", extra=flavor)

    # ---- token endpoint (T1-T4) ----------------------------------------------------
    def oauth_error(self, entry, code, desc=None):
        entry["status"] = 400
        entry["error"] = code
        ST.record(entry)
        body = {"error": code}
        if desc:
            body["error_description"] = desc
        return self.answer(400, json.dumps(body), "application/json; charset=utf-8")

    def token(self, raw):
        a = ST.args
        entry = {"kind": "token"}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if self.command != "POST" or ctype != "application/x-www-form-urlencoded":
            return self.oauth_error(entry, "invalid_request", "expected a form POST")
        form = urllib.parse.parse_qs(raw.decode(errors="replace"), keep_blank_values=True)
        if form.get("grant_type") != [JWT_BEARER]:
            return self.oauth_error(entry, "unsupported_grant_type",
                                    "Invalid grant_type: %s" % (form.get("grant_type") or [""])[0])
        assertion = (form.get("assertion") or [""])[0]
        try:
            header, claims = verify_jwt(ST.sa_pub, a.sa_kid, assertion)
        except ValueError as e:
            return self.oauth_error(entry, "invalid_grant", str(e))
        entry["claims"] = claims
        entry["kid"] = header.get("kid")
        now = time.time() + a.clock_offset
        if claims.get("iss") != a.sa_email or claims.get("sub", a.sa_email) != a.sa_email:
            return self.oauth_error(entry, "invalid_grant", "Invalid JWT: iss is not the key's account")
        if claims.get("aud") != a.token_url:
            return self.oauth_error(entry, "invalid_grant", "Invalid JWT: aud must be %s" % a.token_url)
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or
                exp <= iat or now < iat - 300 or now > exp):
            return self.oauth_error(entry, "invalid_grant", SHORT_LIVED)
        with ST.lock:
            disabled = ST.disabled
            forced = ST.forced.pop(0) if ST.forced else None
        if disabled:
            return self.oauth_error(entry, "invalid_grant", "Invalid grant: account not found")
        if forced:
            entry["status"] = forced
            ST.record(entry)
            return self.answer(forced, json.dumps({"error": "internal_failure"}), "application/json")
        aud = claims.get("target_audience")
        if not aud:
            entry["status"] = 200
            ST.record(entry)
            return self.answer(200, json.dumps({"access_token": "ya29.fake", "expires_in": 3599,
                                                "token_type": "Bearer"}), "application/json")
        tok, ic = id_token(aud)
        entry.update(status=200, issued={"token": tok, "iat": ic["iat"], "exp": ic["exp"], "aud": aud})
        ST.record(entry)
        return self.answer(200, json.dumps({"id_token": tok}), "application/json; charset=utf-8")

    # ---- the service (F1-F4) ----------------------------------------------------------
    def function(self, raw):
        a = ST.args
        xsa = self.headers.get("X-Serverless-Authorization")
        authz = self.headers.get("Authorization")
        used = "X-Serverless-Authorization" if xsa is not None else "Authorization"
        cred = xsa if xsa is not None else authz
        seqs = R.find_seqs(raw)
        entry = {"kind": "call", "path": self.path, "len": len(raw), "seqs": seqs, "header": used,
                 "authorization_passed": authz if xsa is not None else None,
                 "sha256": hashlib.sha256(raw).hexdigest()}
        status, why, claims = 200, "", None
        tok = cred[7:] if cred and cred.startswith("Bearer ") else None
        if tok is None:
            status, why = 401, "no bearer token"
        else:
            try:
                _, claims = verify_jwt(ST.google_pub, a.google_kid, tok)
                if claims.get("iss") not in (GOOGLE_ISS, "accounts.google.com"):
                    raise ValueError("issuer")
                if claims.get("aud") not in a.audience:
                    raise ValueError("audience %r" % claims.get("aud"))
                if not isinstance(claims.get("exp"), int) or time.time() >= claims["exp"]:
                    raise ValueError("expired")
                with ST.lock:
                    revoked = tok in ST.revoked
                    ST.seen.add(tok)
                if revoked:
                    raise ValueError("revoked")
            except ValueError as e:
                status, why = 401, str(e)
        if status == 200:
            with ST.lock:
                denied = ST.denied
                forced = ST.forced.pop(0) if ST.forced else None
            if denied or claims.get("email") not in a.invoker:
                status, why = 403, "not an invoker"
            elif len(raw) > a.max_body:
                status, why = 413, "too large"
            elif forced:
                status, why = forced, "forced"
        entry.update(status=status, why=why)
        if claims:
            entry["token"] = {"iat": claims.get("iat"), "exp": claims.get("exp"),
                              "aud": claims.get("aud"), "sha": hashlib.sha256(tok.encode()).hexdigest()[:16]}
        ST.record(entry)
        if status == 401:
            return self.answer(401, "Your client does not have permission to the requested URL\n",
                               "text/html", extra=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
        if status == 403:
            return self.answer(403, "Error: Forbidden. Your client does not have permission to get "
                               "URL %s from this server.\n" % self.path, "text/html")
        if status == 413:
            return self.answer(413, "Request Entity Too Large\n", "text/html")
        if status != 200:
            return self.answer(status, "forced %d\n" % status)
        return self.answer(200, "OK\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    global ST
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("role", choices=["metadata", "token", "function"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--lifetime", type=int, default=3600)
    p.add_argument("--google-key", help="Google's signing key (PEM), for issued tokens")
    p.add_argument("--google-pub", help="Google's public key (PEM), for checking tokens")
    p.add_argument("--google-kid", default="fake-google-kid-1")
    p.add_argument("--sa-pub", help="the service account key's public half (PEM)")
    p.add_argument("--sa-kid")
    p.add_argument("--sa-email", default="spillway@fake-project.iam.gserviceaccount.com")
    p.add_argument("--token-url", help="the token endpoint's own URL (the assertion's aud)")
    p.add_argument("--audience", action="append", default=[])
    p.add_argument("--invoker", action="append", default=[])
    p.add_argument("--max-body", type=int, default=32 * 1024 * 1024)
    p.add_argument("--clock-offset", type=int, default=0,
                   help="token endpoint: seconds its clock is ahead of ours (a skewed client clock)")
    args = p.parse_args()
    ST = State(args)
    ST.google_key = load_key(args.google_key) if args.google_key else None
    ST.google_pub = load_pub(args.google_pub) if args.google_pub else None
    ST.sa_pub = load_pub(args.sa_pub) if args.sa_pub else None
    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    if args.role == "token" and not args.token_url:
        args.token_url = "http://127.0.0.1:%d/token" % port
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
