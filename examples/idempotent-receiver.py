#!/usr/bin/python3
"""examples/idempotent-receiver.py: an HTTP receiver that processes each
change once, however often it arrives (doc/idempotency.md).

spillway delivers at least once: XDR resends what it has no answer for, and
spillway retries what the destination failed. Every copy of one change
carries the same key (the Idempotency-Key header of
examples/xdr-to-http-idempotent.ini), so the receiver remembers the keys
it has processed and answers a repeat 200 without processing it again.

    python3 examples/idempotent-receiver.py --port 8080

Here "processing" prints the body on standard output; a repeat is noted on
standard error. The keys live in memory, the newest --remember of them
(XDR resends within minutes, so a bounded window is enough); a receiver
that writes to a database would rather keep them there, in the same
transaction as the write (a unique column), so that a crash between the
two cannot process a change twice.
"""
import argparse
import collections
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = collections.OrderedDict()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Idempotency-Key")
        with lock:  # check and remember in one step: two copies may arrive at once
            repeat = key is not None and key in seen
            if key is not None and not repeat:
                seen[key] = True
                if len(seen) > self.server.remember:
                    seen.popitem(last=False)
            if repeat:
                print("duplicate " + key, file=sys.stderr, flush=True)
            else:
                print(body.decode("utf-8", "replace"), flush=True)  # the processing
        self.send_response(200)  # a repeat is a success too: the change is done
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    # spillway opens a connection per request in flight (this server speaks HTTP/1.0 and closes
    # each one): socketserver's listen backlog of 5 would drop the SYNs of a burst, and each
    # dropped one costs the sender a second (the SYN is resent) or a connect timeout.
    request_queue_size = 1024
    daemon_threads = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--remember", type=int, default=1000000, help="keys kept (newest)")
    a = p.parse_args()
    server = Server((a.host, a.port), Handler)
    server.remember = a.remember
    server.serve_forever()


if __name__ == "__main__":
    main()
