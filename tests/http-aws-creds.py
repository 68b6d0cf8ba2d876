#!/usr/bin/env python3
"""tests/http-aws-creds.py: where the http sink's AWS SigV4 credentials
come from, end to end: the real program (generate -> json -> http with
auth = aws-sigv4) against tests/receiver.py --sigv4, which verifies every
signature with its own signer, and the faithful fakes of
tests/aws-fakes.py:

  - IMDSv2 (token first, then the role and its credentials, every request
    with the token), also with engine = libcurl;
  - the container endpoint, with its authorization token from a file or
    the environment; a wrong token (401) holds the records; a FULL_URI
    elsewhere over http is refused at start;
  - web identity through STS AssumeRoleWithWebIdentity, from the
    environment and from a profile of the config file (the parameters STS
    checks, no signature on the request);
  - static keys from profiles of the config and credentials files:
    [profile NAME] in the config file, the credentials file winning,
    aws_profile over AWS_PROFILE, [NAME] in the config file is no profile;
  - the chain's order, every source configured at once and removed one by
    one: options, environment, web identity, profile, container, IMDS;
  - IMDS turned off with nothing else: a configuration error at start;
  - no secret (keys, session tokens, web identity and container tokens,
    IMDS tokens) in any output.
"""

import importlib.util
import os
import signal
import time

_spec = importlib.util.spec_from_file_location(
    "awslib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws-test-lib.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
H = A.H

tap = H.Tap()
runs = []


def ran(r):
    runs.append(r)
    return r


def sent_tokens(rcv):
    return [e["headers"].get("X-Amz-Security-Token") for e in rcv.entries()]


def imds_tests():
    for engine in ("native", "libcurl"):
        fake = A.Fake("imds-" + engine, "imds")
        rcv = A.receiver("imds-rcv-" + engine)
        ini = A.ini("imds-" + engine, rcv, 30, sink=["engine = %s" % engine])
        r = ran(A.run(ini, A.env(AWS_EC2_METADATA_DISABLED=None,
                                 AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.url)))
        ents = fake.entries()
        issued = [e["issued"]["token"] for e in fake.fetches()]
        tap.ok(r.rc == 0 and A.all_delivered(rcv, 30) and r.stats("sink.web").get("http_4xx", 1) == 0,
               "imds (%s): every record delivered, every signature verified" % engine, r.tail())
        steps = [(e["method"], e["path"], e["status"]) for e in ents]
        tap.ok(steps == [("PUT", "/latest/api/token", 200),
                         ("GET", "/latest/meta-data/iam/security-credentials/", 200),
                         ("GET", "/latest/meta-data/iam/security-credentials/spillway-instance-role", 200)],
               "imds (%s): a session token, then the role, then its credentials" % engine, steps)
        tap.ok(ents and ents[0]["headers"].get("X-aws-ec2-metadata-token-ttl-seconds") == "21600"
               and all(e["headers"].get("X-aws-ec2-metadata-token") for e in ents[1:])
               and "Authorization" not in ents[0]["headers"],
               "imds (%s): the TTL header on the PUT, the token on every GET, no signature" % engine)
        tap.ok(len(issued) == 1 and set(sent_tokens(rcv)) == set(issued),
               "imds (%s): every request carries the session token IMDS issued" % engine)
        tap.ok("credentials from the EC2 instance metadata service (IMDSv2) at %s" % fake.url in r.err,
               "imds (%s): the log says where the credentials came from" % engine)
        fake.stop()
        rcv.stop()


def container_tests():
    tok_file = H.write("container-token", A.CONTAINER_TOKEN)
    cases = [("file", {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tok_file,
                       "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-a-file-is-set"}),
             ("env", {"AWS_CONTAINER_AUTHORIZATION_TOKEN": A.CONTAINER_TOKEN})]
    for label, extra in cases:
        fake = A.Fake("ctr-" + label, "container", "--auth-token", A.CONTAINER_TOKEN)
        rcv = A.receiver("ctr-rcv-" + label)
        r = ran(A.run(A.ini("ctr-" + label, rcv, 20),
                      A.env(AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/v2/credentials/spillway", **extra)))
        ents = fake.entries()
        tap.ok(r.rc == 0 and A.all_delivered(rcv, 20),
               "container (token %s): every record delivered, signatures verified" % label, r.tail())
        tap.ok(len(ents) == 1 and ents[0]["status"] == 200 and ents[0]["method"] == "GET"
               and ents[0]["headers"].get("Authorization") == A.CONTAINER_TOKEN,
               "container (token %s): one GET carrying the token as Authorization" % label,
               [(e["status"], e["path"]) for e in ents])
        fake.stop()
        rcv.stop()

    # The wrong token: the endpoint answers 401, nothing is delivered, nothing is lost.
    fake = A.Fake("ctr-wrong", "container", "--auth-token", A.CONTAINER_TOKEN)
    rcv = A.receiver("ctr-rcv-wrong")
    p = A.start(A.ini("ctr-wrong", rcv, 5),
                A.env(AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/v2/credentials/spillway",
                      AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong-token"))
    time.sleep(2.5)
    p.send_signal(signal.SIGTERM)
    r = ran(A.finish(p))
    st = r.stats("source.gen")
    tap.ok(not rcv.entries() and st.get("delivered", 0) == 0 and st.get("abandoned", 0) == 0
           and "answered HTTP 401" in r.err and "cannot get AWS credentials" in r.err,
           "container: a refused token (401) holds every record, logged as an error", r.tail())
    tap.ok(all(e["status"] == 401 for e in fake.entries()) and len(fake.entries()) >= 2,
           "container: the endpoint refused each attempt (%d)" % len(fake.entries()))
    fake.stop()
    rcv.stop()

    rcv = A.receiver("ctr-rcv-far")
    r = ran(A.run(A.ini("ctr-far", rcv, 5),
                  A.env(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://192.0.2.10/creds"), timeout=20))
    tap.ok(r.rc != 0 and "neither a loopback address nor the ECS/EKS credentials agent" in r.err,
           "container: a FULL_URI over http to another host is refused at start", r.tail(4))
    rcv.stop()


def webid_tests():
    tok = H.write("web-token", A.WEB_TOKEN + "\n")
    fake = A.Fake("sts-env", "sts", "--accept-token", A.WEB_TOKEN, "--role-arn", A.ROLE_ARN)
    rcv = A.receiver("sts-rcv-env")
    r = ran(A.run(A.ini("sts-env", rcv, 20),
                  A.env(AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=A.ROLE_ARN,
                        AWS_ROLE_SESSION_NAME="spw-test@ci", AWS_ENDPOINT_URL_STS=fake.url)))
    ents = fake.entries()
    tap.ok(r.rc == 0 and A.all_delivered(rcv, 20),
           "web identity (environment): every record delivered, signatures verified", r.tail())
    ok = len(ents) == 1 and ents[0]["status"] == 200 and ents[0]["method"] == "POST"
    tap.ok(ok and ents[0]["issued"]["session"] == "spw-test@ci"
           and "Authorization" not in ents[0]["headers"]
           and ents[0]["headers"].get("Content-Type", "").startswith("application/x-www-form-urlencoded"),
           "web identity: one unsigned form POST to STS, with AWS_ROLE_SESSION_NAME",
           [(e["status"], e["kind"]) for e in ents])
    tap.ok(ents and set(sent_tokens(rcv)) == {ents[0]["issued"]["token"]},
           "web identity: requests carry the session token STS issued")
    tap.ok("web identity (AWS_WEB_IDENTITY_TOKEN_FILE): role %s through STS %s" % (A.ROLE_ARN, fake.url) in r.err,
           "web identity: the log names the role and the STS endpoint")
    fake.stop()
    rcv.stop()

    # From a profile of the config file, through AWS_ENDPOINT_URL (the general override).
    fake = A.Fake("sts-prof", "sts", "--accept-token", A.WEB_TOKEN, "--role-arn", A.ROLE_ARN)
    cfg = H.write("webid-config", "[default]\nregion = eu-west-1\n\n[profile web]\n"
                  "role_arn = %s\nweb_identity_token_file = %s\nrole_session_name = from-profile\n"
                  % (A.ROLE_ARN, tok))
    rcv = A.receiver("sts-rcv-prof")
    r = ran(A.run(A.ini("sts-prof", rcv, 10),
                  A.env(AWS_CONFIG_FILE=cfg, AWS_PROFILE="web", AWS_ENDPOINT_URL=fake.url)))
    ents = fake.fetches()
    tap.ok(r.rc == 0 and A.all_delivered(rcv, 10) and len(ents) == 1
           and ents[0]["issued"]["session"] == "from-profile",
           "web identity (profile): role_arn + web_identity_token_file of [profile web]", r.tail())
    fake.stop()
    rcv.stop()


def profile_tests():
    good = "aws_access_key_id = %s\naws_secret_access_key = %s\n" % (A.AKID, A.SECRET)
    bad = "aws_access_key_id = AKIDWRONG0000000000\naws_secret_access_key = wrong\n"
    cfg = H.write("p-config", "[default]\n" + bad + "[profile ci]\n" + good +
                  "[profile both]\n" + bad + "[onlyhere]\n" + good + "[profile wrong]\n" + bad)
    cred = H.write("p-credentials", "[both]\n" + good + "[default]\n" + good)
    cases = [
        ("config [profile ci] (aws_profile)", ["aws_profile = ci"], {"AWS_CONFIG_FILE": cfg}, True),
        ("config [profile ci] (AWS_PROFILE)", [], {"AWS_CONFIG_FILE": cfg, "AWS_PROFILE": "ci"}, True),
        ("aws_profile wins over AWS_PROFILE", ["aws_profile = ci"],
         {"AWS_CONFIG_FILE": cfg, "AWS_PROFILE": "wrong"}, True),
        ("the credentials file wins over the config file", ["aws_credentials_file = %s" % cred,
                                                            "aws_profile = both"],
         {"AWS_CONFIG_FILE": cfg}, True),
        ("default profile from the credentials file", ["aws_config_file = %s" % cfg],
         {"AWS_SHARED_CREDENTIALS_FILE": cred}, True),
        ("config [default] (its wrong keys are refused by the receiver)", [],
         {"AWS_CONFIG_FILE": cfg}, False),
    ]
    for i, (label, sink, extra, want) in enumerate(cases):
        rcv = A.receiver("prof-%d" % i)
        dlq = H.path("prof-%d.dlq" % i)
        r = ran(A.run(A.ini("prof-%d" % i, rcv, 5, sink=sink, pipeline=["dead_letter = %s" % dlq]),
                      A.env(**extra), timeout=30))
        dls = H.dead_letters(dlq)
        if want:
            tap.ok(r.rc == 0 and A.all_delivered(rcv, 5) and not dls, "profiles: %s" % label, r.tail())
        else:
            tap.ok(r.rc == 0 and not A.delivered(rcv) and len(dls) == 5
                   and "wrong credential scope" in dls[0]["reason"] and "profile 'default'" in r.err,
                   "profiles: %s" % label, r.tail())
        rcv.stop()
    rcv = A.receiver("prof-none")
    r = ran(A.run(A.ini("prof-none", rcv, 5), A.env(AWS_CONFIG_FILE=cfg, AWS_PROFILE="onlyhere"), timeout=20))
    tap.ok(r.rc != 0 and "AWS profile 'onlyhere' is in neither" in r.err,
           "profiles: [onlyhere] in the config file is no profile; a named profile must exist", r.tail(3))
    rcv.stop()


def chain_tests():
    """Every source configured; each run removes the one that won before."""
    imds = A.Fake("ch-imds", "imds")
    ctr = A.Fake("ch-ctr", "container")
    sts = A.Fake("ch-sts", "sts", "--accept-token", A.WEB_TOKEN, "--role-arn", A.ROLE_ARN)
    tok = H.write("ch-token", A.WEB_TOKEN)
    cred = H.write("ch-credentials", "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                   % (A.AKID, A.SECRET))
    full = {"AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": ctr.url + "/v2/credentials/spillway",
            "AWS_SHARED_CREDENTIALS_FILE": cred,
            "AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": A.ROLE_ARN, "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_ACCESS_KEY_ID": A.AKID, "AWS_SECRET_ACCESS_KEY": A.SECRET}
    opts = ["aws_access_key_id = %s" % A.AKID, "aws_secret_access_key = %s" % A.SECRET]
    steps = [
        ("options", opts, {}, "credentials from the sink's options", None),
        ("environment", [], {}, "credentials from the environment (AWS_ACCESS_KEY_ID)", None),
        ("web identity", [], {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
         "credentials from web identity", sts),
        ("profile", [], {"AWS_WEB_IDENTITY_TOKEN_FILE": None}, "credentials from profile 'default' of %s" % cred,
         None),
        ("container", [], {"AWS_SHARED_CREDENTIALS_FILE": None}, "credentials from the container endpoint", ctr),
        ("IMDS", [], {"AWS_CONTAINER_CREDENTIALS_FULL_URI": None}, "credentials from the EC2 instance metadata",
         imds),
    ]
    environ = dict(full)
    for i, (label, sink, drop, says, used) in enumerate(steps):
        environ.update(drop)
        before = {f: len(f.entries()) for f in (imds, ctr, sts)}
        rcv = A.receiver("chain-%d" % i)
        r = ran(A.run(A.ini("chain-%d" % i, rcv, 5, sink=sink), A.env(**environ), timeout=30))
        after = {f: len(f.entries()) for f in (imds, ctr, sts)}
        asked = [f.name for f in (imds, ctr, sts) if after[f] > before[f]]
        tap.ok(r.rc == 0 and A.all_delivered(rcv, 5) and says in r.err
               and asked == ([used.name] if used else []),
               "chain order: %s comes next (sources asked: %s)" % (label, asked or "none"), r.tail(4))
        rcv.stop()
    for f in (imds, ctr, sts):
        f.stop()

    # Nothing at all, IMDS off: refused before any network.
    imds = A.Fake("off-imds", "imds")
    rcv = A.receiver("off")
    r = ran(A.run(A.ini("off", rcv, 5), A.env(AWS_EC2_METADATA_DISABLED="true",
                                              AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url), timeout=20))
    tap.ok(r.rc != 0 and "found no credentials" in r.err and not imds.entries() and not rcv.entries(),
           "chain: AWS_EC2_METADATA_DISABLED=true and nothing else is a configuration error", r.tail(3))
    imds.stop()
    rcv.stop()


def main():
    imds_tests()
    container_tests()
    webid_tests()
    profile_tests()
    chain_tests()
    bad = [(i, A.leaked(r)) for i, r in enumerate(runs) if A.leaked(r)]
    tap.ok(not bad and len(A.SECRETS) > 10,
           "no key, session token, web identity, container or IMDS token in any output "
           "(%d runs, %d secrets)" % (len(runs), len(A.SECRETS)), bad)
    tap.done()


main()
