"""The page survives the database.

In process: the status page keeps its last good rendering on disk and serves it,
with a note, when live data cannot be had; the API answers 503 ``unavailable``.

For real (PostgreSQL only): gunicorn talks to PostgreSQL through a TCP proxy
that the test cuts — listener closed, every connection killed — and restores,
without restarting gunicorn.
"""

import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from jsonschema import Draft202012Validator

from incidents.api.decorators import api_view
from incidents.api.openapi import build_document
from incidents.cache import outage as fallback
from incidents.cache.outage import survives_outages
from incidents.cache.pages import page_key
from tests import servers
from tests.servers import CuttableProxy, http

UNAVAILABLE_SCHEMA = Draft202012Validator(
    build_document()["components"]["responses"]["Unavailable"]["content"]["application/json"][
        "schema"
    ]
)
NOTE = "Showing the status as of"


@pytest.fixture(autouse=True)
def forget_failures():
    """A failure seen in one test must not make the next one serve the copy."""
    yield
    fallback._live_data_failed_at = None


def unreachable(request):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')


# --- In process -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_good_rendering_is_kept_on_disk(client, make_incident, last_good_dir):
    make_incident(title="Login failures")
    page = client.get("/")
    assert page.status_code == 200
    assert (last_good_dir / "status-en.html").read_bytes() == page.content
    # A copy served from the shared cache (as on a host that never rendered it) is kept too.
    (last_good_dir / "status-en.html").unlink()
    assert client.get("/").content == page.content
    assert (last_good_dir / "status-en.html").read_bytes() == page.content
    live = client.get("/", headers={"HX-Request": "true"})
    assert (last_good_dir / "status-live-en.html").read_bytes() == live.content
    assert b"<html" not in live.content


@pytest.mark.django_db(transaction=True)
def test_a_version_is_written_once_however_many_threads_serve_it(
    make_incident, last_good_dir, monkeypatch
):
    """During a refresh storm every worker thread serves each new version:
    one of them writes the copy, the others answer without waiting for it."""
    writes = []
    write = fallback._write
    monkeypatch.setattr(fallback, "_write", lambda *args: (writes.append(args[2]), write(*args)))
    make_incident(title="Login failures")
    start = threading.Barrier(8)

    def visit():
        start.wait()
        response = Client().get("/")
        connection.close()
        return response

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda _n: visit(), range(8)))
    assert {page.status_code for page in pages} == {200}
    assert writes == [pages[0]["ETag"]]
    assert (last_good_dir / "status-en.html").read_bytes() == pages[0].content


@pytest.mark.django_db
def test_a_copy_another_worker_wrote_is_not_written_again(client, make_incident, last_good_dir):
    probe = last_good_dir.parent / "xattr-probe"
    probe.write_text("")
    try:
        os.setxattr(probe, fallback.ETAG_ATTRIBUTE, b"x")
    except OSError:
        pytest.skip("this file system keeps no extended attributes")
    make_incident(title="Login failures")
    page = client.get("/")
    copy = last_good_dir / "status-en.html"
    written = copy.stat().st_ino
    fallback._saved.clear()  # a worker that has not served this version yet
    assert client.get("/").content == page.content
    assert copy.stat().st_ino == written  # left as the other worker wrote it
    make_incident(title="Database failover")
    fresh = client.get("/")
    assert copy.stat().st_ino != written
    assert copy.read_bytes() == fresh.content


@pytest.mark.django_db
def test_without_live_data_the_last_good_page_is_served_with_a_note(
    client, make_incident, last_good_dir
):
    make_incident(title="Login failures")
    client.get("/")
    client.get("/", headers={"HX-Request": "true"})
    as_of = time.strftime("%H:%M", time.gmtime((last_good_dir / "status-en.html").stat().st_mtime))

    view = survives_outages(unreachable)
    factory = RequestFactory()
    for headers, name in (({}, "status-en"), ({"HX-Request": "true"}, "status-live-en")):
        response = view(factory.get("/", headers=headers))
        assert response.status_code == 200
        text = response.content.decode()
        assert "Login failures" in text
        assert NOTE in text and f"{as_of} UTC" in text
        assert "live data is temporarily unavailable" in text
        assert response.headers["Cache-Control"] == "no-store"
        # The note sits inside the region htmx refreshes, so it goes away by itself.
        assert text.index('id="live"') < text.index(NOTE)
        # The copy on disk stays clean.
        assert NOTE.encode() not in (last_good_dir / f"{name}.html").read_bytes()


@pytest.mark.django_db
def test_a_revalidated_page_moves_its_as_of_time_forward(
    client, make_incident, last_good_dir, monkeypatch
):
    monkeypatch.setattr(fallback, "TOUCH_INTERVAL", 0)
    make_incident(title="Login failures")
    page = client.get("/")
    copy = last_good_dir / "status-en.html"
    long_ago = time.time() - 86400
    os.utime(copy, (long_ago, long_ago))
    # Browsers revalidate with the ETag; a 304 proves the copy is still current.
    assert client.get("/", headers={"If-None-Match": page["ETag"]}).status_code == 304
    assert copy.stat().st_mtime > long_ago + 86000
    assert copy.read_bytes() == page.content


@pytest.mark.django_db
def test_after_a_failure_the_copy_is_served_at_once_then_live_data_is_tried_again(
    client, rf, make_incident
):
    make_incident(title="Login failures")
    client.get("/")
    survives_outages(unreachable)(rf.get("/"))  # live data just failed in this process

    quick = client.get("/")
    assert quick.status_code == 200
    assert NOTE in quick.content.decode() and "Login failures" in quick.content.decode()
    assert "default-src 'self'" in quick.headers["Content-Security-Policy"]
    assert quick.headers["X-Frame-Options"] == "DENY"

    fallback._live_data_failed_at -= fallback.RETRY_LIVE_AFTER
    assert NOTE not in client.get("/").content.decode()


@pytest.mark.django_db
def test_without_any_copy_the_page_says_it_is_unavailable(rf):
    # (With REDIS_URL, a page stored there by an earlier test would be the copy.)
    cache.delete_many([page_key("status:en"), page_key("status:live:en")])
    response = survives_outages(unreachable)(rf.get("/"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert b"temporarily unavailable" in response.content


def test_the_api_answers_503_unavailable(rf):
    response = api_view(unreachable)(rf.get("/api/incidents"))
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Retry-After"] == "5"
    assert json.loads(response.content)["error"]["code"] == "unavailable"
    assert not list(UNAVAILABLE_SCHEMA.iter_errors(json.loads(response.content)))


# --- For real: gunicorn, PostgreSQL and a proxy the test cuts ---------------------


@pytest.fixture
def outage_database():
    """A database of its own on the test server, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL at 127.0.0.1:5432")
    import psycopg

    params = connection.settings_dict
    user, host = params["USER"] or "postgres", params["HOST"] or "127.0.0.1"
    port = int(params["PORT"] or 5432)
    if host not in ("127.0.0.1", "localhost"):
        pytest.skip("the proxy only forwards to a PostgreSQL on loopback")
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    server = f"postgres://{user}{password}@127.0.0.1:{port}"
    name = f"kamu_outage_{secrets.token_hex(4)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"server": server, "name": name, "port": port, "userinfo": f"{user}{password}"}
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_the_page_outlives_a_cut_database_and_everything_recovers(outage_database, tmp_path):
    db = outage_database
    proxy = CuttableProxy(("127.0.0.1", db["port"]))
    proxy.start()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(tmp_path / "static"),
        "LAST_GOOD_DIR": str(tmp_path / "last-good"),
        "DATABASE_CONNECT_TIMEOUT": "2",
    }
    env.pop("REDIS_URL", None)  # the database cache: it goes down with the database

    def manage(*args):
        return servers.manage({**env, "DATABASE_URL": f"{db['server']}/{db['name']}"}, *args).stdout

    manage("migrate", "--noinput", "--verbosity", "0")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    key = manage("createapikey", "outage test").strip().splitlines()[-1]

    gunicorn = servers.Gunicorn(
        {**env, "DATABASE_URL": f"postgres://{db['userinfo']}@127.0.0.1:{proxy.port}/{db['name']}"},
        tmp_path / "gunicorn.log",
        options=("--timeout", "60", "--access-logfile", "-"),
    )
    base = gunicorn.url
    try:
        gunicorn.start("/", timeout=30)

        status, _, body = http(
            base,
            "POST",
            "/api/incidents",
            {"title": "Payments delayed", "message": "Looking."},
            key,
        )
        assert status == 201, body
        for _ in range(6):  # both workers render and keep the page
            status, _, page = http(base, "GET", "/")
            assert status == 200 and "Payments delayed" in page and NOTE not in page

        # --- The database goes away: listener closed, live connections killed.
        proxy.cut()
        outage_pages = []
        for _ in range(6):
            status, headers, page = http(base, "GET", "/")
            assert status == 200, page
            assert "Payments delayed" in page
            assert NOTE in page
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            assert headers["Cache-Control"] == "no-store"
            outage_pages.append(page)
            status, headers, body = http(base, "GET", "/api/incidents", key=key)
            assert status == 503, body
            assert headers["Content-Type"] == "application/json"
            assert json.loads(body)["error"]["code"] == "unavailable"
            # As /api/openapi.json documents it.
            assert not list(UNAVAILABLE_SCHEMA.iter_errors(json.loads(body)))
            assert headers["Retry-After"].isdigit()
        status, _, body = http(
            base, "POST", "/api/incidents", {"title": "Lost?", "message": "No."}, key
        )
        assert (status, json.loads(body)["error"]["code"]) == (503, "unavailable")
        live = http(base, "GET", "/", timeout=10)
        assert live[0] == 200 and NOTE in live[2]

        # --- Now it hangs instead: connections are accepted, never answered.
        proxy.cut()
        proxy.start(forward=False)
        time.sleep(fallback.RETRY_LIVE_AFTER + 0.5)  # let the workers try live data again
        started = time.monotonic()
        status, _, page = http(base, "GET", "/", timeout=30)
        hung_page_seconds = time.monotonic() - started
        assert status == 200 and NOTE in page
        # One connect timeout (2 s), not one per read on the way to the copy (the
        # pending bump, the stored-page lookup, the view: 6 s and more without
        # statuspage/postgresql/base.py).
        assert hung_page_seconds < 4
        status, _, body = http(base, "GET", "/api/incidents", key=key, timeout=30)
        assert (status, json.loads(body)["error"]["code"]) == (503, "unavailable")
        started = time.monotonic()
        for _ in range(6):  # once it failed, a worker answers with the copy at once
            assert NOTE in http(base, "GET", "/", timeout=30)[2]
        quick_pages_seconds = time.monotonic() - started
        # Only a worker that has not met the hang yet waits (once) for its timeouts.
        assert quick_pages_seconds < 2 * hung_page_seconds + 2  # without: 6 × 4 s
        proxy.cut()

        # --- The database returns; gunicorn was never restarted.
        proxy.restore()
        restored_at = time.monotonic()
        deadline = time.monotonic() + 30
        while True:
            status, _, body = http(
                base, "POST", "/api/incidents", {"title": "Recovered", "message": "Back."}, key
            )
            if status == 201:
                break
            assert status == 503, body
            assert time.monotonic() < deadline, "no recovery within 30 s"
            time.sleep(0.5)
        # A worker tries live data again at most RETRY_LIVE_AFTER seconds after its
        # last failure, and every failure came before the restore.
        time.sleep(max(0.0, restored_at + fallback.RETRY_LIVE_AFTER + 0.5 - time.monotonic()))
        for _ in range(6):
            status, _, page = http(base, "GET", "/")
            assert status == 200
            assert "Recovered" in page and "Payments delayed" in page
            assert NOTE not in page
            status, _, body = http(base, "GET", "/api/incidents", key=key)
            assert status == 200
            # Nothing sent during the outage was written; both others were.
            assert sorted(i["title"] for i in json.loads(body)) == ["Payments delayed", "Recovered"]
        print(
            f"\noutage: {len(outage_pages)} page loads served the last good copy "
            f"({outage_pages[0][outage_pages[0].index(NOTE) :].split('</p>')[0]}); "
            f"hanging database: first page in {hung_page_seconds:.1f} s, "
            f"6 more in {quick_pages_seconds:.2f} s"
        )
        assert gunicorn.is_running()
    finally:
        gunicorn.stop()
        proxy.cut()


@pytest.mark.slow
def test_once_the_database_answers_the_next_read_is_live(outage_database, tmp_path):
    """No blind wait after the database returns: the write that succeeded ends
    the back-off, and so does a probe (at most one a second)."""
    db = outage_database
    proxy = CuttableProxy(("127.0.0.1", db["port"]))
    proxy.start()
    env = servers.environment(
        drop=("REDIS_URL", "DATABASE_URL"),
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        LAST_GOOD_DIR=str(tmp_path / "last-good"),
        DATABASE_CONNECT_TIMEOUT="2",
    )
    direct = {**env, "DATABASE_URL": f"{db['server']}/{db['name']}"}
    servers.manage(direct, "migrate", "--noinput", "--verbosity", "0")
    key = servers.manage(direct, "createapikey", "t").stdout.strip().splitlines()[-1]
    # One worker (with its threads): the read after the write is its to answer.
    gunicorn = servers.Gunicorn(
        {**env, "DATABASE_URL": f"postgres://{db['userinfo']}@127.0.0.1:{proxy.port}/{db['name']}"},
        tmp_path / "gunicorn.log",
        workers=1,
    )
    try:
        gunicorn.start("/", timeout=30)
        base = gunicorn.url
        http(base, "POST", "/api/incidents", {"title": "Before", "message": "."}, key)
        assert "Before" in http(base, "GET", "/")[2]
        proxy.cut()
        for _ in range(3):
            status, _, page = http(base, "GET", "/")
            assert status == 200 and NOTE in page
        proxy.restore()
        restored = time.monotonic()
        while True:
            status, _, body = http(
                base, "POST", "/api/incidents", {"title": "Back", "message": "."}, key
            )
            if status == 201:
                break
            assert time.monotonic() - restored < 30, body
            time.sleep(0.1)
        for _ in range(8):  # from the very first read after the 201
            status, _, page = http(base, "GET", "/")
            assert status == 200 and "Back" in page and NOTE not in page

        # Without a write: a probe ends the back-off within about a second.
        proxy.cut()
        assert NOTE in http(base, "GET", "/")[2]
        proxy.restore()
        restored = time.monotonic()
        while NOTE in http(base, "GET", "/")[2]:
            assert time.monotonic() - restored < fallback.RETRY_LIVE_AFTER, "no probe"
            time.sleep(0.05)
        print(f"\ndatabase back: live again {time.monotonic() - restored:.2f} s after, by a probe")
    finally:
        gunicorn.stop()
        proxy.cut()
