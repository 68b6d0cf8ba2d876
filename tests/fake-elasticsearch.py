#!/usr/bin/python3
"""tests/fake-elasticsearch.py: a fake Elasticsearch/OpenSearch cluster for
the `elasticsearch` sink's tests: strict where the real one is strict, with
versioned documents, tombstones and fault injection.

    fake-elasticsearch.py --port 0 --port-file F [--log F] [--flavor es8|es7|os1|os2]
        [--gc-deletes SECONDS] [--max-content-length BYTES] [--api-key KEY]
        [--basic USER:PASS]

THE RULES (all in this block; the vendor pages they follow are cited):

R1  Bulk API (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html):
    POST /_bulk or /<index>/_bulk; body is NDJSON: an action/metadata line, then a source line
    for index and create (none for delete); "the final line of data must end with a newline
    character \\n" (else 400 illegal_argument_exception). Content-Type must be
    application/x-ndjson or application/json (else 406). Content-Encoding: gzip is accepted
    (http.compression, https://www.elastic.co/guide/en/elasticsearch/reference/current/modules-network.html).
R2  An action line is a JSON object with exactly one of index, create, update, delete, whose
    value holds only known parameters (_index, _id, routing, version, version_type,
    if_seq_no, if_primary_term, pipeline, require_alias, dynamic_templates): anything else is
    a whole-request 400 "Action/metadata line [N] contains an unknown parameter [X]".
    `_type` is such an unknown parameter in Elasticsearch 8 and OpenSearch 2 (removal of
    mapping types, https://www.elastic.co/guide/en/elasticsearch/reference/7.17/removal-of-types.html);
    7.x and OpenSearch 1 accept `_doc` only.
R3  Request validation is whole-request (400 action_request_validation_exception): a missing
    index, an _id longer than 512 bytes, a negative external version, and "create operations
    only support internal versioning. use index instead"
    (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html).
R4  Index names (https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-create-index.html):
    lowercase; none of \\ / * ? " < > | space , # :; not starting with - _ +; not . or ..;
    at most 255 bytes. Else the item fails 400 invalid_index_name_exception.
R5  Versioning (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html#index-versioning):
    version_type external: applied only when the given version is higher than the stored one;
    external_gte: higher or equal. Otherwise the item fails 409
    version_conflict_engine_exception. Without version_type the version is internal
    (stored + 1) and nothing is refused.
R6  Deletes (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-delete.html):
    a delete of an existing document answers 200 "deleted", of a missing one 404 "not_found";
    either way a versioned delete leaves a tombstone with its version that takes part in R5
    for index.gc_deletes (default 60s,
    https://www.elastic.co/guide/en/elasticsearch/reference/current/index-modules.html#dynamic-index-settings);
    after that a write with a lower version is accepted again (the document comes back).
R7  A source line must be a JSON object (else the item fails 400 mapper_parsing_exception),
    and may not hold metadata fields (_id, _index, _source, _version, _seq_no, _routing...):
    400 mapper_parsing_exception "Field [_id] is a metadata field and cannot be added inside a
    document".
R8  A body larger than http.max_content_length (100mb default,
    https://www.elastic.co/guide/en/elasticsearch/reference/current/modules-network.html)
    is refused whole with 413 before anything is applied.
R9  The answer is 200 {"took","errors","items":[{ACTION:{_index,_id,_version,result,_shards,
    _seq_no,_primary_term,status[,error:{type,reason,...}]}}]}, items in request order.
    ?filter_path (https://www.elastic.co/guide/en/elasticsearch/reference/current/common-options.html#common-options-response-filtering)
    keeps only the listed paths, `*` matching any one key, arrays transparent.
R10 Security (https://www.elastic.co/guide/en/elasticsearch/reference/current/http-clients.html):
    with --api-key, requests need "Authorization: ApiKey KEY"; with --basic, HTTP basic;
    else 401 security_exception with WWW-Authenticate.
R11 GET / answers the cluster's name and version ({"version":{"number":...}}; OpenSearch adds
    "distribution":"opensearch").

Test control (not Elasticsearch): POST /_fake/faults with a JSON object:
    {"positions": {"3": 429, "7": 400}, "min_items": 51}  the next bulk request with at least
        min_items actions answers those (0-based) positions so, without applying them;
    {"seq_status": {"7": 400}}  every action on a document whose "seq" is 7 answers 400;
    {"drop": N}        the next N bulk requests are applied, then the connection is closed
                       without an answer;
    {"status": S, "count": N}  the next N bulk requests answer S whole, applying nothing;
    {"ignore_filter_path": true, "item_pad": BYTES}  full, padded items (multi-megabyte answers).
GET /_fake/state: {"docs": {index: {id: {"version": V, "source": DOC}}}, "bulks": N}.
--log F: one JSON line per bulk request: {"status": S, "items": [{"a","i","id","v","s","seq"}]}.
"""

import argparse
import base64
import gzip
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

KNOWN_PARAMS = {"_index", "_id", "routing", "version", "version_type", "if_seq_no", "if_primary_term",
                "pipeline", "require_alias", "dynamic_templates"}
METADATA_FIELDS = {"_id", "_index", "_source", "_version", "_seq_no", "_primary_term", "_routing",
                   "_ignored", "_field_names", "_doc_count", "_tier", "_data_stream_timestamp"}
INDEX_FORBIDDEN = set('\\/*?"<>| ,#:')


def index_name_error(name):
    """R4: None when valid, else the reason."""
    if name != name.lower():
        return "must be lowercase"
    if any(c in INDEX_FORBIDDEN for c in name):
        return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
    if name[:1] in ("-", "_", "+"):
        return "must not start with '_', '-', or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if len(name.encode()) > 255:
        return "index name is too long, (%d > 255)" % len(name.encode())
    return None


def filter_paths(obj, pats):
    """R9: filter_path with `*` for one key; arrays are transparent."""
    if isinstance(obj, list):
        out = [filter_paths(v, pats) for v in obj]
        return [v for v in out if v is not None]
    if not isinstance(obj, dict):
        return None
    res = {}
    for k, v in obj.items():
        sub = [p[1:] for p in pats if p and (p[0] == "*" or p[0] == k)]
        if not sub:
            continue
        if any(len(p) == 0 for p in sub):
            res[k] = v
            continue
        f = filter_paths(v, sub)
        if f not in (None, {}, []):
            res[k] = f
    return res if res else None


class Cluster:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.docs = {}        # index -> id -> {"version", "source"}
        self.tombs = {}       # (index, id) -> (version, monotonic time)
        self.bulks = 0
        self.faults = {}
        self.seq_status = {}
        self.log = open(a.log, "a") if a.log else None

    def current_version(self, index, id_):
        d = self.docs.get(index, {}).get(id_)
        if d:
            return d["version"]
        t = self.tombs.get((index, id_))
        if t and time.monotonic() - t[1] < self.a.gc_deletes:
            return t[0]
        self.tombs.pop((index, id_), None)  # R6: gone after gc_deletes
        return None


def err(type_, reason, status):
    return {"error": {"root_cause": [{"type": type_, "reason": reason}], "type": type_, "reason": reason},
            "status": status}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-elasticsearch"

    def log_message(self, *a):
        pass

    def reply(self, status, obj, headers=()):
        body = b"" if obj is None else json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorised(self):
        C = self.server.cluster
        got = self.headers.get("Authorization") or ""
        if C.a.api_key and got == "ApiKey " + C.a.api_key:
            return True
        if C.a.basic and got == "Basic " + base64.b64encode(C.a.basic.encode()).decode():
            return True
        if not C.a.api_key and not C.a.basic:
            return True
        self.reply(401, err("security_exception", "missing authentication credentials for REST request", 401),
                   [("WWW-Authenticate", 'ApiKey, Basic realm="security" charset="UTF-8"')])
        return False

    def do_GET(self):
        C = self.server.cluster
        path = urlsplit(self.path).path
        if path == "/_fake/state":
            with C.lock:
                docs = {i: {k: dict(v) for k, v in d.items()} for i, d in C.docs.items()}
                return self.reply(200, {"docs": docs, "bulks": C.bulks})
        if not self.authorised():
            return
        if path == "/":
            fl = C.a.flavor
            number = {"es7": "7.17.18", "es8": "8.13.4", "os1": "1.3.16", "os2": "2.13.0"}[fl]
            v = {"number": number, "build_type": "tar", "lucene_version": "9.10.0"}
            if fl.startswith("os"):
                v["distribution"] = "opensearch"
            else:
                v["build_flavor"] = "default"
            return self.reply(200, {"name": "fake", "cluster_name": "fake", "version": v,
                                    "tagline": "The OpenSearch Project: https://opensearch.org/" if fl.startswith("os")
                                    else "You Know, for Search"})
        self.reply(404, err("index_not_found_exception", "no such index", 404))

    def do_POST(self):
        C = self.server.cluster
        u = urlsplit(self.path)
        raw = self.read_body()
        if u.path == "/_fake/faults":
            f = json.loads(raw or b"{}")
            with C.lock:
                C.seq_status.update({int(k): v for k, v in f.pop("seq_status", {}).items()})
                C.faults.update(f)
            return self.reply(200, {"ok": True})
        if not self.authorised():
            return
        m = re.fullmatch(r"/(?:([^/_][^/]*)/)?_bulk", u.path)
        if not m:
            return self.reply(404, err("invalid_index_name_exception", "no handler for " + u.path, 400))
        ct = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ct not in ("application/x-ndjson", "application/json"):          # R1
            return self.reply(406, {"error": "Content-Type header [%s] is not supported" % ct, "status": 406})
        if len(raw) > C.a.max_content_length:                                 # R8
            with C.lock:
                self.log_bulk(413, [])
            return self.reply(413, None)
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            raw = gzip.decompress(raw)
        q = parse_qs(u.query)
        fp = [p.split(".") for p in ",".join(q.get("filter_path", [])).split(",") if p]
        with C.lock:
            C.bulks += 1
            status = C.faults.get("status")
            if status and C.faults.get("count", 0) > 0:
                C.faults["count"] -= 1
                self.log_bulk(status, [])
                return self.reply(status, err("es_rejected_execution_exception" if status == 429
                                              else "unavailable_shards_exception", "injected", status))
            code, answer, log = self.bulk(raw, m.group(1))
            if code != 200:
                self.log_bulk(code, [])
                return self.reply(code, answer)
            self.log_bulk(200, log)
            drop = C.faults.get("drop", 0) > 0
            if drop:
                C.faults["drop"] -= 1
        if drop:   # applied, then the connection goes away without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fp and not C.faults.get("ignore_filter_path"):
            answer = filter_paths(answer, fp) or {}
        self.reply(200, answer)

    def log_bulk(self, status, items):
        C = self.server.cluster
        if C.log:
            C.log.write(json.dumps({"status": status, "items": items}) + "\n")
            C.log.flush()

    def bulk(self, raw, url_index):
        """R1-R9 for one bulk body; the caller holds the lock. -> (status, answer, log items)."""
        C = self.server.cluster
        t0 = time.monotonic()
        if not raw.endswith(b"\n"):                                           # R1
            return 400, err("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]", 400), None
        lines = raw.split(b"\n")[:-1]
        ops, i, n = [], 0, 0
        while i < len(lines):
            n += 1
            try:
                a = json.loads(lines[i])
            except ValueError:
                return 400, err("x_content_parse_exception", "[%d:1] Unexpected character" % n, 400), None
            if not isinstance(a, dict) or len(a) != 1 or next(iter(a)) not in ("index", "create", "update", "delete"):
                return 400, err("illegal_argument_exception", "Malformed action/metadata line [%d], expected a "
                                "simple value for field [%s] but found [START_OBJECT]" % (n, next(iter(a), "")), 400), None
            act, p = next(iter(a.items()))
            for k in p:                                                       # R2
                if k == "_type" and C.a.flavor in ("es7", "os1") and p[k] == "_doc":
                    continue
                if k not in KNOWN_PARAMS:
                    return 400, err("illegal_argument_exception", "Action/metadata line [%d] contains an unknown "
                                    "parameter [%s]" % (n, k), 400), None
            src = None
            if act in ("index", "create", "update"):
                i += 1
                if i >= len(lines):
                    return 400, err("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]", 400), None
                src = lines[i]
            i += 1
            index = p.get("_index", url_index)
            vt = p.get("version_type", "internal")
            problems = []                                                     # R3
            if not index:
                problems.append("index is missing")
            if len(str(p.get("_id", "")).encode()) > 512:
                problems.append("id [%s] is too long, must be no longer than 512 bytes but was: %d"
                                % (p["_id"], len(str(p["_id"]).encode())))
            if vt in ("external", "external_gte") and (not isinstance(p.get("version"), int) or p["version"] < 0):
                problems.append("illegal version value [%s] for version type [%s]" % (p.get("version"), vt.upper()))
            if act == "create" and vt != "internal":
                problems.append("create operations only support internal versioning. use index instead")
            if problems:
                return 400, err("action_request_validation_exception", "Validation Failed: " +
                                " ".join("%d: %s;" % (k + 1, x) for k, x in enumerate(problems)), 400), None
            ops.append((act, p, index, src))
        faults = {}
        if C.faults.get("positions") and len(ops) >= C.faults.get("min_items", 0):
            faults = {int(k): v for k, v in C.faults.pop("positions").items()}
        items, log = [], []
        for pos, (act, p, index, src) in enumerate(ops):
            item, seq = self.apply(act, p, index, src, faults.get(pos))
            items.append({act: item})
            log.append({"a": act, "i": index, "id": p.get("_id"), "v": p.get("version"), "s": item["status"],
                        "seq": seq})
        pad = C.faults.get("item_pad", 0)
        if pad and C.faults.get("ignore_filter_path"):
            for it in items:
                next(iter(it.values()))["_pad"] = "x" * pad
        return 200, {"took": int((time.monotonic() - t0) * 1000), "errors": any(
            "error" in next(iter(it.values())) for it in items), "items": items}, log

    def apply(self, act, p, index, src, fault):
        C = self.server.cluster
        id_ = p.get("_id")
        base = {"_index": index, "_id": id_}
        doc, seq = None, None
        if src is not None:
            try:
                doc = json.loads(src)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                seq = doc.get("seq")
        def fail(status, type_, reason):
            return dict(base, status=status, error={"type": type_, "reason": reason, "index": index,
                                                    "shard": "0", "index_uuid": "fake"}), seq
        if seq is None and id_ is not None and re.fullmatch(r"\d+", str(id_)):
            seq = int(id_)
        if fault:
            names = {429: "es_rejected_execution_exception", 400: "mapper_parsing_exception",
                     503: "unavailable_shards_exception"}
            return fail(fault, names.get(fault, "exception"), "injected fault")
        if seq is not None and seq in C.seq_status:
            s = C.seq_status[seq]
            return fail(s, "mapper_parsing_exception" if s == 400 else "es_rejected_execution_exception",
                        "failed to parse field [seq] of type [long] (injected)")
        bad = index_name_error(index)                                         # R4
        if bad:
            return fail(400, "invalid_index_name_exception", "Invalid index name [%s], %s" % (index, bad))
        if act == "update":
            return fail(400, "illegal_argument_exception", "update is not supported by the fake")
        if src is not None:                                                   # R7
            if not isinstance(doc, dict):
                return fail(400, "mapper_parsing_exception", "failed to parse")
            meta = [k for k in doc if k in METADATA_FIELDS]
            if meta:
                return fail(400, "mapper_parsing_exception", "Field [%s] is a metadata field and cannot be added "
                            "inside a document. Use the index API request parameters." % meta[0])
        if id_ is None:
            id_ = base64.urlsafe_b64encode(threading.get_ident().to_bytes(8, "big") +
                                           time.monotonic_ns().to_bytes(8, "big")).decode().rstrip("=")
            base["_id"] = id_
        vt = p.get("version_type", "internal")
        cur = C.current_version(index, id_)
        exists = id_ in C.docs.get(index, {})
        if vt in ("external", "external_gte"):                                # R5
            v = p["version"]
            if cur is not None and (v < cur or (v == cur and vt == "external")):
                return fail(409, "version_conflict_engine_exception",
                            "[%s]: version conflict, current version [%d] is higher or equal to the one "
                            "provided [%d]" % (id_, cur, v))
        else:
            v = (C.docs.get(index, {}).get(id_, {}).get("version") or 0) + 1
        if act == "create" and exists:
            return fail(409, "version_conflict_engine_exception",
                        "[%s]: version conflict, document already exists (current version [%d])" % (id_, cur))
        shards = {"total": 2, "successful": 1, "failed": 0}
        if act == "delete":                                                   # R6
            C.docs.get(index, {}).pop(id_, None)
            C.tombs[(index, id_)] = (v, time.monotonic())
            return dict(base, _version=v, result="deleted" if exists else "not_found", _shards=shards,
                        _seq_no=0, _primary_term=1, status=200 if exists else 404), seq
        C.tombs.pop((index, id_), None)
        C.docs.setdefault(index, {})[id_] = {"version": v, "source": doc}
        return dict(base, _version=v, result="updated" if exists else "created", _shards=shards,
                    _seq_no=0, _primary_term=1, status=200 if exists else 201), seq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--flavor", default="es8", choices=["es7", "es8", "os1", "os2"])
    ap.add_argument("--gc-deletes", type=float, default=60.0)
    ap.add_argument("--max-content-length", type=int, default=100 * 1024 * 1024)
    ap.add_argument("--api-key")
    ap.add_argument("--basic")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.cluster = Cluster(a)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
