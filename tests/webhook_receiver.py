"""A real HTTP server on loopback (a free port) that records the webhooks it
is sent, for the alert tests."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.requests = []  # (headers, body)
        self.statuses = []  # answers to give, in order; 200 once exhausted
        self.delay = 0.0  # seconds to wait before answering
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
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_port}/hooks/kamustatus"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
