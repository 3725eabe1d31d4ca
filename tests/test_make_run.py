"""`make run` as a newcomer and an operator meet it: real make, real gunicorn
and worker, real signals, in a copy of the tree (its own SQLite file, a free
port) with the checkout's virtualenv.

- two starts against one database: the password and the key printed on the
  first still work after the second;
- the operator deletes the demo data: the next start brings nothing back;
- every URL the page gives out (summary.json, shortlinks, feeds, Location,
  the alert mail and webhook) is on the port make was given;
- a TERM to make's pid alone leaves no process running and none listening.
"""

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import feedparser
import pytest

from tests.servers import free_port
from tests.webhook_receiver import running_receiver

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

COPY_IGNORES = shutil.ignore_patterns(
    ".venv", ".git", "db.sqlite3*", "staticfiles", "var", "tmp", ".secret-key",
    "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info",
)  # fmt: skip


def listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def session_processes(sid):
    """Pids of live processes in session ``sid`` (make and all it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


class MakeRun:
    """`make run` in ``tree``, on ``port``; its output in a log file."""

    def __init__(self, tree, port, **environ):
        self.tree, self.port = tree, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "ALERT_", "EMAIL_", "PAGE_", "MAKE"))
            and key not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PORT", "MFLAGS")
        }
        self.env.update(PORT=str(port), WORKERS="1", PYTHONUNBUFFERED="1", **environ)
        self.log_path = tree / f"make-run-{time.monotonic_ns()}.log"

    def __enter__(self):
        self.log = open(self.log_path, "w")  # noqa: SIM115
        # Its own session: the test signals make alone, and can find every
        # process make started (they stay in the session) afterwards.
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", f"{VENV}/.installed", f"VENV={VENV}", "run"],
            cwd=self.tree,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError("make run did not start:\n" + self.output())

    def output(self):
        return self.log_path.read_text()

    def stop(self):
        """A TERM to make's pid, as a supervisor sends it; returns make's status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()

    def __exit__(self, *exc):
        self.stop()
        for pid in session_processes(self.process.pid):  # only if the test failed
            os.kill(pid, signal.SIGKILL)

    def api(self, method, path, key, body=None):
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"x-api-key": key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, response.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, error.headers, None

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read()

    def can_sign_in(self, username, password):
        """Sign in to the admin the way a browser does (cookie, CSRF token)."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = self.url + "/admin/login/?next=/admin/"
        page = opener.open(login, timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": username,
                "password": password,
                "next": "/admin/",
            }  # fmt: skip
        ).encode()
        request = urllib.request.Request(login, data=form, headers={"Referer": login})
        with opener.open(request, timeout=30) as response:
            return urllib.parse.urlparse(response.url).path == "/admin/"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    copy = tmp_path_factory.mktemp("clone") / "kamustatus"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORES)
    return copy


def printed(output, label):
    match = re.search(rf"^\s*{label}:\s+(.*)$", output, re.MULTILINE)
    assert match, output
    return match[1]


def stopped_cleanly(run):
    # make, the supervisor, gunicorn (arbiter and worker) and the worker.
    assert len(session_processes(run.process.pid)) >= 5
    run.stop()
    assert not listening(run.port)
    assert session_processes(run.process.pid) == [], run.output()


def test_make_run_keeps_what_the_operator_has_and_stops_on_one_term(tree):
    port = free_port()
    with MakeRun(tree, port) as first:
        output = first.output()
        assert printed(output, "Status page") == f"http://127.0.0.1:{port}/"
        admin = printed(output, "Admin")
        password = re.search(r"password (\S+)", admin)[1]
        key = printed(output, "API key").split()[0]
        assert key.startswith("km_")
        status, _headers, monitors = first.api("GET", "/api/monitors", key)
        assert status == 200 and {"mon_abc123", "mon_def456"} <= {m["id"] for m in monitors}
        assert first.can_sign_in("admin", password)
        stopped_cleanly(first)

    with MakeRun(tree, port) as second:
        output = second.output()
        assert key not in output and password not in output
        assert "changepassword" in output and "createapikey" in output
        # What a script and the operator kept from the first run still works.
        assert second.api("GET", "/api/monitors", key)[0] == 200
        assert second.can_sign_in("admin", password)
        # The operator clears the demo data away through the API.
        _status, _headers, incidents = second.api("GET", "/api/incidents", key)
        for incident in incidents:
            assert second.api("DELETE", f"/api/incidents/{incident['id']}", key)[0] == 204
        for monitor in second.api("GET", "/api/monitors", key)[2]:
            assert second.api("DELETE", f"/api/monitors/{monitor['id']}", key)[0] == 204
        stopped_cleanly(second)

    with MakeRun(tree, port) as third:
        assert third.api("GET", "/api/monitors", key)[2] == []
        assert third.api("GET", "/api/incidents", key)[2] == []
        summary = json.loads(third.get("/api/v2/summary.json"))
        assert summary["incidents"] == [] and summary["scheduled_maintenances"] == []
        stopped_cleanly(third)


def test_every_url_the_page_gives_out_is_on_the_port_make_was_given(tmp_path_factory):
    tree = tmp_path_factory.mktemp("clone") / "kamustatus"
    shutil.copytree(ROOT, tree, ignore=COPY_IGNORES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_receiver() as receiver:
        run = MakeRun(
            tree,
            port,
            DEMO="0",
            ALERT_EMAILS="oncall@example.test",
            ALERT_WEBHOOK_URL=receiver.url,
            ALERT_WEBHOOK_SECRET="whsec_make-run-test",
        )
        with run:
            assert "Loaded demo data" not in run.output()
            key = printed(run.output(), "API key").split()[0]
            assert run.api("GET", "/api/monitors", key)[2] == []  # DEMO=0: empty
            status, headers, monitor = run.api("POST", "/api/monitors", key, {"name": "API"})
            assert status == 201 and headers["Location"] == f"{base}/api/monitors/{monitor['id']}"
            status, headers, incident = run.api(
                "POST",
                "/api/incidents",
                key,
                {"title": "Errors", "message": "Looking.", "monitorIds": [monitor["id"]]},
            )
            assert headers["Location"] == f"{base}/api/incidents/{incident['id']}"
            permalink = f"{base}/incidents/{incident['id']}/"

            summary = json.loads(run.get("/api/v2/summary.json"))
            assert summary["page"]["url"] == base
            assert [i["shortlink"] for i in summary["incidents"]] == [permalink]
            for feed in ("/feed.atom", "/feed.rss"):
                parsed = feedparser.parse(run.get(feed))
                assert parsed.feed.link == base + "/"
                assert [(e.id, e.link) for e in parsed.entries] == [(permalink, permalink)]

            run.api("PATCH", f"/api/monitors/{monitor['id']}", key, {"status": "down"})
            # The webhook and the mail are two deliveries: wait for both (the
            # console mail's line, not the start-up banner's "Status page: …/").
            mailed = f"Status page: {base}\n"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                receiver.requests and mailed in run.output()
            ):
                time.sleep(0.2)
            assert receiver.bodies()[0]["statusPage"] == base
            assert mailed in run.output()  # the console mail
            stopped_cleanly(run)
