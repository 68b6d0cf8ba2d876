"""examples/lambda/handler.py: a minimal AWS Lambda handler for what
spillway sends, deployable as is (Python 3.9+ runtime, no dependencies).

Two ways in, one function:

  * behind an Application Load Balancer (sink `lambda-alb`,
    examples/xdr-to-lambda.ini): the event is the ALB's request event;
    its `body` is the batch the codec framed (NDJSON for `json` and
    `flat-json`, binary for msgpack, avro and xdr, which the ALB hands
    over Base64 with isBase64Encoded), gzip when the sink compresses.
    Answer an ALB response: statusCode 200 when every record was
    processed. Raising makes the ALB answer 502, which the sink
    dead-letters (or retries with retry_502 = true).

  * invoked directly (sink `lambda`, examples/xdr-to-lambda-invoke.ini):
    the event is {"records": [{"id": ..., "record": {...}}, ...]} and
    the answer may list the records to retry:
    {"batchItemFailures": [{"itemIdentifier": ID}]}.

Replace process() with what your function does with one record; make it
idempotent (delivery is at least once: a record may come twice).
"""

import base64
import gzip
import json


def process(record):
    """One change notification: a dict (JSON codecs) or bytes (binary codecs)."""
    if isinstance(record, dict):
        print(json.dumps({"op": record.get("op"), "ns": record.get("namespace"),
                          "set": record.get("set"), "digest": record.get("digest")}))
    else:
        print("binary record of %d bytes" % len(record))


def records_of(body, content_type):
    """The records of an ALB request body."""
    if content_type.startswith("application/x-ndjson") or content_type.startswith("application/json"):
        text = body.decode("utf-8")
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    # A binary codec's framed batch: hand it over whole (split it with the codec's library).
    return [body]


def alb(event):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    if headers.get("content-encoding", "").lower() == "gzip":
        raw = gzip.decompress(raw)
    n = 0
    for record in records_of(raw, headers.get("content-type", "")):
        process(record)
        n += 1
    return {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": False,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"processed": n})}


def invoke(event):
    failures = []
    for item in event["records"]:
        try:
            rec = item["record"] if "record" in item else base64.b64decode(item["data"])
            process(rec)
        except Exception as e:  # noqa: BLE001 - retry this record, keep the others
            print("record %s failed: %s" % (item.get("id"), e))
            failures.append({"itemIdentifier": item["id"]})
    return {"batchItemFailures": failures}


def lambda_handler(event, context):
    if "requestContext" in event and "elb" in event["requestContext"]:
        return alb(event)
    return invoke(event)
