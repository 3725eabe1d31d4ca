"""Never stale across processes: gunicorn with 4 workers, a write through the
API (or from another process altogether), then every read shows it."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """A throwaway Kamustatus: its own SQLite file and static root, served by
    gunicorn on a free loopback port."""

    def __init__(self, directory, workers=4, **environ):
        self.directory = Path(directory)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "DATABASE_URL": f"sqlite:///{self.directory / 'db.sqlite3'}",
            "STATIC_ROOT": str(self.directory / "static"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            **environ,
        }
        self.env.pop("REDIS_URL", None)
        self.workers = workers
        self.process = None

    def manage(self, *args):
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def prepare(self):
        self.manage("migrate", "--noinput", "--verbosity", "0")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.api_key = self.manage("createapikey", "tests").strip().splitlines()[-1]

    def start(self):
        self.log = open(self.directory / "gunicorn.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "statuspage.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.directory / "gunicorn.log").read_text()
            try:
                self.get("/")
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def log_text(self):
        """What gunicorn wrote: its access log and errors."""
        return (self.directory / "gunicorn.log").read_text()

    def get(self, path, headers=None):
        request = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read().decode()

    def api(self, method, path, body):
        request = urllib.request.Request(
            self.url + "/api" + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"x-api-key": self.api_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read() or b"null")


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
    """The demo loader, the admin or a shell write outside the gunicorn workers."""
    assert read_twelve_times(site, "Email delivery") == [False] * 12
    site.manage("loaddemo")
    assert read_twelve_times(site, "Email delivery") == [True] * 12
    assert read_twelve_times(site, "Slow page loads on the website") == [True] * 12


def test_the_partial_and_conditional_gets_are_fresh_too(site):
    _status, headers, _html = site.get("/")
    etag = headers["ETag"]
    try:
        site.get("/", {"If-None-Match": etag})
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as error:
        assert error.code == 304
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
