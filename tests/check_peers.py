"""Real peers for the check tests: an HTTP(S) server on loopback that answers
as a test tells it to (status, keyword, slowness, redirects, huge bodies),
counting its hits, and a TCP listener."""

import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.servers import free_port


class Target:
    def __init__(self):
        self.hits = Counter()  # path → requests seen
        self.user_agents = []
        self.status = 200  # for /
        self.lock = threading.Lock()
        self.base = None
        self.redirect_to = None  # for /away


def _handler(target):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = self.path.split("?")[0]
            with target.lock:
                target.hits[path] += 1
                target.user_agents.append(self.headers.get("User-Agent"))
            if path == "/":
                self.answer(target.status, b"<h1>Welcome to kamustatus</h1>")
            elif path.startswith("/hit/"):
                self.answer(200, b"counted")
            elif path.startswith("/status/"):
                self.answer(int(path.rsplit("/", 1)[1]), b"<p>something</p>")
            elif path == "/slow":
                time.sleep(3)
                self.answer(200, b"slow but fine")
            elif path == "/loop":
                self.redirect("/loop")
            elif path == "/away":
                self.redirect(target.redirect_to)
            elif path == "/big":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(10 * 1024 * 1024))
                self.end_headers()
                if self.command == "HEAD":
                    return
                # The keyword only after the first 2 MiB: a reader that reads
                # past 1 MiB finds it.
                chunk = b"x" * 65536
                try:
                    for number in range(160):
                        self.wfile.write(b"kamustatus" + chunk[10:] if number == 32 else chunk)
                except OSError:
                    pass  # the check stopped reading, as it should
            else:
                self.answer(404, b"not here")

        def redirect(self, location):
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


class Server(ThreadingHTTPServer):
    request_queue_size = 1024  # many checks connect at once: no dropped SYNs
    daemon_threads = True


@contextmanager
def http_target(ssl_context=None):
    target = Target()
    server = Server(("127.0.0.1", 0), _handler(target))
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    target.port = server.server_port
    target.base = f"{scheme}://127.0.0.1:{server.server_port}"
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tcp_listener():
    """A listening TCP port (accepts and closes), and its connection count."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = Counter()
    stop = threading.Event()

    def serve():
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted["connections"] += 1
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def closed_port():
    """A port nothing listens on."""
    return free_port()
