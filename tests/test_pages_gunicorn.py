"""Never stale across processes: gunicorn with 4 workers, a write through the
API (or from another process altogether), then every read shows it."""

import socket
import urllib.error
import urllib.request

import pytest

from tests.servers import Site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("gunicorn"))
    site.prepare()
    site.start()
    yield site
    site.stop()


def read_twelve_times(site, text):
    """Twelve fresh connections (so several workers answer), each must show ``text``."""
    pages = [site.get("/")[2] for _ in range(12)]
    return [text in html for html in pages]


def test_every_worker_shows_a_write_through_the_api_at_once(site):
    # Warm every worker's stored page and connection with the old state first.
    assert read_twelve_times(site, "All systems operational") == [True] * 12
    status, created = site.api(
        "POST",
        "/incidents",
        {"title": "Written through the API", "message": "First words.", "status": "identified"},
    )
    assert status == 201
    assert read_twelve_times(site, "Written through the API") == [True] * 12

    site.api("PATCH", f"/incidents/{created['id']}", {"message": "Second words."})
    assert read_twelve_times(site, "Second words.") == [True] * 12

    site.api("PATCH", f"/incidents/{created['id']}", {"status": "resolved", "message": "Done."})
    assert read_twelve_times(site, "All systems operational") == [True] * 12


def test_a_write_from_another_process_shows_at_once(site):
    """The admin, a management command or a shell write outside the gunicorn
    workers. (The demo loader would not: this database is already in use.)"""
    assert read_twelve_times(site, "Email delivery") == [False] * 12
    site.manage(
        "shell",
        "-c",
        "from incidents.models import Incident, Monitor\n"
        "Monitor.create_monitor(name='Email delivery', id='mon_mail01')\n"
        "Incident.open_incident(title='Slow page loads on the website', message='Slow.')",
    )
    assert read_twelve_times(site, "Email delivery") == [True] * 12
    assert read_twelve_times(site, "Slow page loads on the website") == [True] * 12


def test_the_partial_and_conditional_gets_are_fresh_too(site):
    # The monitor the test before created shows "no data" for today in its
    # first second; a page rendered again after it (a worker replacing the
    # generation as it starts) shows its first bar: the bytes may change once.
    for _attempt in range(3):
        _status, headers, _html = site.get("/")
        etag = headers["ETag"]
        try:
            site.get("/", {"If-None-Match": etag})
        except urllib.error.HTTPError as error:
            assert error.code == 304
            break
    else:
        raise AssertionError("expected 304")
    site.api("POST", "/incidents", {"title": "Seen by htmx", "message": "x"})
    for _ in range(12):
        status, _headers, html = site.get("/", {"HX-Request": "true", "If-None-Match": etag})
        assert status == 200
        assert "Seen by htmx" in html
        assert "<html" not in html


def test_head_gets_headers_and_no_body(site):
    """gunicorn sends whatever body the app returns, even for HEAD."""
    length = len(site.get("/")[2].encode())
    for _ in range(3):  # rendered by one worker or another, then stored
        with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"200"
        assert f"Content-Length: {length}".encode() in head
        assert body == b""
