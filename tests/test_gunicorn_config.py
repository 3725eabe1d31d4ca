"""The shipped gunicorn configuration (gunicorn.conf.py), against real gunicorn:
slow clients beside normal ones, an access log without credentials, long
request lines and chunked bodies under /api/ answered in the contract's JSON."""

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.servers import Site

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two workers, as on the 2-core machine where four slow clients were enough."""
    site = Site(tmp_path_factory.mktemp("gunicorn-config"), workers=2)
    site.prepare()
    site.start()
    yield site
    site.stop()


def request(site, method, path, body=None, headers=None, timeout=10):
    """One request on its own connection: (status, headers, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def keyed(site, **headers):
    return {"x-api-key": site.api_key, **headers}


# --- Slow clients --------------------------------------------------------------


class SlowClients:
    """``count`` connections each sending a request header one byte a second,
    never finishing it (the Slowloris pattern), until stopped."""

    HEADER = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 4000

    def __init__(self, port, count):
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.drip, daemon=True)

    def drip(self):
        position = 0
        while not self.stopped.wait(0 if position == 0 else 1):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(self.HEADER[position : position + 1])
            position = (position + 1) % len(self.HEADER)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()

    def still_connected(self):
        """How many of them the server has not closed."""
        alive = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                alive += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return alive


def test_fifty_slow_clients_do_not_keep_visitors_out(site):
    css = next((site.directory / "static" / "incidents").glob("status.*.css")).name
    with SlowClients(site.port, 50) as slow:
        # Let every slow connection be accepted and start its header.
        time.sleep(3)
        answers = []
        for _ in range(5):
            answers.append(request(site, "GET", "/")[0])
            answers.append(request(site, "GET", f"/static/incidents/{css}")[0])
            answers.append(request(site, "GET", "/api/incidents", headers=keyed(site))[0])
        # The slow clients were held, not dropped, while the others were served.
        assert slow.still_connected() == 50
    assert answers == [200] * 15


# --- The access log ------------------------------------------------------------------


def access_log_lines(site, marker):
    for _ in range(50):  # gunicorn writes the line just after the answer
        lines = [line for line in site.log_text().splitlines() if marker in line]
        if lines:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no access log line with {marker!r}")


def test_credentials_in_the_query_string_stay_out_of_the_access_log(site):
    secret = "km_" + "s3cr3t" * 6
    status, _, body = request(
        site,
        "GET",
        f"/api/incidents?key={secret}&api_key={secret}&x-api-key={secret}&limit=5&marker=ql1",
        headers={"x-api-key": secret, "Referer": f"https://example.com/?token={secret}"},
    )
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"
    [line] = access_log_lines(site, "marker=ql1")
    assert secret not in site.log_text()
    assert (
        '"GET /api/incidents?key=[redacted]&api_key=[redacted]&x-api-key=[redacted]'
        '&limit=5&marker=ql1 HTTP/1.1" 401' in line
    )
    assert '"https://example.com/?token=[redacted]"' in line


def test_the_access_log_keeps_ordinary_queries_whole(site):
    status, _, _ = request(
        site, "GET", "/api/incidents?status=resolved&limit=37", headers=keyed(site)
    )
    assert status == 200
    [line] = access_log_lines(site, "limit=37")
    assert '"GET /api/incidents?status=resolved&limit=37 HTTP/1.1" 200' in line
    assert site.api_key not in site.log_text()


# --- Long request lines -------------------------------------------------------------


def test_a_long_query_string_under_api_gets_the_contracts_json(site):
    path = "/api/incidents?cursor=" + "a" * 6000  # over gunicorn's default of 4094
    status, headers, body = request(site, "GET", path, headers=keyed(site))
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "validation_error"
    assert "cursor" in error["fields"]


def test_a_long_path_under_api_gets_the_contracts_404(site):
    status, headers, body = request(site, "GET", "/api/" + "x" * 8000, headers=keyed(site))
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"


def test_above_gunicorns_ceiling_gunicorn_itself_refuses(site):
    # 8190 bytes is the most gunicorn accepts; past it, it answers before the
    # application runs (README.md "Slow clients and long requests").
    status, _, body = request(site, "GET", "/api/" + "x" * 9000, headers=keyed(site))
    assert status == 400
    assert b"Request Line is too large" in body


# --- Chunked bodies --------------------------------------------------------------------


def chunks(data, size=1000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_post_is_read(site):
    body = json.dumps({"title": "Sent in chunks", "message": "Piece by piece."}).encode()
    status, headers, answer = request(
        site,
        "POST",
        "/api/incidents",
        body=chunks(body, 7),  # no Content-Length: http.client sends it chunked
        headers=keyed(site, **{"Content-Type": "application/json"}),
    )
    assert status == 201, answer
    created = json.loads(answer)
    assert (created["title"], created["updates"][0]["message"]) == (
        "Sent in chunks",
        "Piece by piece.",
    )
    assert headers["Location"].endswith(f"/api/incidents/{created['id']}")


def test_a_chunked_body_over_64_kib_is_refused(site):
    body = json.dumps({"title": "x" * 70_000, "message": "too long"}).encode()
    status, headers, answer = request(
        site,
        "POST",
        "/api/incidents",
        body=chunks(body, 8192),
        headers=keyed(site, **{"Content-Type": "application/json"}),
    )
    assert status == 413
    assert json.loads(answer)["error"]["code"] == "payload_too_large"
    _, _, listed = request(site, "GET", "/api/incidents?limit=100", headers=keyed(site))
    assert not any(re.fullmatch("x+", item["title"]) for item in json.loads(listed))
