"""examples/gcf/main.py: a minimal Google Cloud Function (Python, 2nd gen
or 1st gen, or Cloud Run with the Functions Framework) receiving what
examples/xdr-to-gcf.ini sends: Aerospike change notifications in the json
codec's form, one JSON object per request (Content-Type application/json)
or several as NDJSON (application/x-ndjson) when SPILLWAY_BATCH > 1:

  {"msg":"write","key":[NS,SET,DIGEST_B64,USERKEY],"gen":G,"exp":E,"lut":L,"bins":[...]}
  {"msg":"delete","key":[NS,SET,DIGEST_B64,USERKEY],"durable":B}

Google checks the ID token before this code runs (deploy without
--allow-unauthenticated and grant spillway's service account the invoker
role). Answer 2xx only once every record is handled: spillway then tells
XDR they are delivered. Answer 5xx (or time out) to have them sent again,
4xx for a request that can never succeed (spillway writes its records to
its dead-letter file). Records may arrive more than once (at-least-once):
key your writes on (digest, lut).

Deploy:
  gcloud functions deploy spillway-ingest --gen2 --runtime python312 \
      --trigger-http --no-allow-unauthenticated --entry-point ingest \
      --source examples/gcf --region europe-west1
  gcloud functions add-invoker-policy-binding spillway-ingest \
      --region europe-west1 --member serviceAccount:SPILLWAY_SA_EMAIL
"""

import json
import logging

import functions_framework


def handle(record):
    """Replace with what the function is for (write to Cloud Storage, BigQuery, Pub/Sub...)."""
    ns, set_name, digest, _user_key = record["key"]
    if record["msg"] == "delete":
        logging.info("delete %s/%s/%s", ns, set_name, digest)
    else:
        bins = {b["name"]: b.get("value") for b in record.get("bins", [])}
        logging.info("write %s/%s/%s lut=%s bins=%s", ns, set_name, digest, record.get("lut"),
                     sorted(bins))


@functions_framework.http
def ingest(request):
    body = request.get_data(as_text=True)
    try:
        records = [json.loads(line) for line in body.splitlines() if line.strip()]
        for r in records:
            if r.get("msg") not in ("write", "delete") or len(r.get("key", [])) != 4:
                raise ValueError("not a spillway json record")
    except ValueError as e:
        # Resending the same bytes cannot help: 400 dead-letters them.
        return ("bad payload: %s\n" % e, 400)
    for r in records:
        handle(r)  # an exception here is a 500: spillway retries, XDR resends
    return ("ok %d\n" % len(records), 200)
