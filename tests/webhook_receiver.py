"""A real HTTP server on loopback (a free port) that records the webhooks it
is sent, for the alert tests."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRIP_BYTES = 200


class Receiver:
    def __init__(self):
        self.requests = []  # (headers, body)
        self.statuses = []  # answers to give, in order; 200 once exhausted
        self.delay = 0.0  # seconds to wait before answering
        # Seconds between the bytes of a 200 answer dripped out one at a time
        # (a Content-Length of DRIP_BYTES): a receiver that holds a sender.
        self.drip = 0.0
        self.lock = threading.Lock()
        self.url = None

    def bodies(self):
        return [json.loads(body) for _headers, body in self.requests]


@contextmanager
def running_receiver():
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with received.lock:
                received.requests.append((self.headers, body))
                status = received.statuses.pop(0) if received.statuses else 200
            if received.delay:
                threading.Event().wait(received.delay)
            self.send_response(status)
            if received.drip:
                self.send_header("Content-Length", str(DRIP_BYTES))
                self.end_headers()
                try:
                    for _ in range(DRIP_BYTES):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        threading.Event().wait(received.drip)
                except OSError:
                    pass  # the sender gave up
                return
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False  # a drip is not waited for
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_port}/hooks/kamustatus"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
