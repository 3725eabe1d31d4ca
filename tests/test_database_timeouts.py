"""PostgreSQL connections carry a statement timeout, TCP keepalives and a
connect timeout: a query that hangs is cancelled by the server and the API
answers 503 ``unavailable`` instead of waiting for gunicorn to kill a worker."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from incidents.models import ApiKey
from tests.servers import CuttableProxy, Site

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="PostgreSQL only"
)


def database_url():
    params = connection.settings_dict
    user = params["USER"] or "postgres"
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    host, port = params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


def in_a_shell(code, **env):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


SLEEP_PAST_THE_TIMEOUT = """
from django.db import OperationalError, connection
with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    shown = cursor.fetchone()[0]
    try:
        cursor.execute("SELECT pg_sleep(3)")
        print(shown, "finished")
    except OperationalError as exc:
        print(shown, type(exc).__name__, type(exc.__cause__).__name__)
"""


@pytest.mark.django_db
def test_a_query_longer_than_the_statement_timeout_is_cancelled():
    shown = in_a_shell(SLEEP_PAST_THE_TIMEOUT, DATABASE_STATEMENT_TIMEOUT="1")
    assert shown == "1s OperationalError QueryCanceled"


@pytest.mark.django_db
def test_the_statement_timeout_can_be_switched_off():
    assert in_a_shell(SLEEP_PAST_THE_TIMEOUT, DATABASE_STATEMENT_TIMEOUT="0") == "0 finished"


def test_connections_have_keepalives_a_connect_timeout_and_a_default_statement_timeout():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["connect_timeout"] == 5
    assert "-c statement_timeout=5000" in options["options"]
    assert (options["keepalives"], options["keepalives_idle"]) == (1, 30)
    assert (options["keepalives_interval"], options["keepalives_count"]) == (10, 3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_while_a_query_hangs(tmp_path):
    raw_key = ApiKey.objects.create_key("timeouts")[1]
    site = Site(tmp_path, workers=1, DATABASE_URL=database_url(), DATABASE_STATEMENT_TIMEOUT="1")
    site.manage("collectstatic", "--noinput", "--verbosity", "0")
    site.api_key = raw_key
    site.start()
    # Another session holds a lock that every keyed request waits for.
    holder = psycopg.connect(database_url())
    released = threading.Event()
    try:
        holder.execute("LOCK TABLE incidents_apikey IN ACCESS EXCLUSIVE MODE")
        try:
            site.get("/api/incidents", {"x-api-key": raw_key})
            raise AssertionError("expected 503")
        except Exception as error:  # urllib's HTTPError
            assert getattr(error, "code", None) == 503, error
            assert error.headers["Content-Type"] == "application/json"
            assert error.headers["Retry-After"] == "5"
            assert json.loads(error.read())["error"]["code"] == "unavailable"
        holder.rollback()
        released.set()
        status, _, body = site.get("/api/incidents", {"x-api-key": raw_key})
        assert status == 200
        assert json.loads(body) == []
        assert "Traceback" not in site.log_text()
    finally:
        if not released.is_set():
            holder.rollback()
        holder.close()
        site.stop()


@pytest.mark.django_db
def test_a_failed_connection_attempt_is_not_repeated_at_once(monkeypatch):
    from django.db import OperationalError, connections

    from statuspage.postgresql import base

    server = CuttableProxy(None)
    server.start(forward=False)  # a database host that hangs
    params = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": server.port}
    params["OPTIONS"] = {**params["OPTIONS"], "connect_timeout": 2}
    hung = type(connections["default"])(params, alias="hung")
    assert isinstance(hung, base.DatabaseWrapper)
    try:
        with pytest.raises(OperationalError, match="timeout"):
            hung.ensure_connection()
        assert len(server.sockets) == 1
        # The next reads (of this request, or of another one just after) fail
        # at once, with the first failure's reason, instead of waiting again.
        for _ in range(3):
            with pytest.raises(OperationalError, match="not connecting again so soon"):
                hung.ensure_connection()
        assert len(server.sockets) == 1
        # The real database is not held back by another server's failure.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        # A moment later it is tried again.
        monkeypatch.setattr(base, "RETRY_CONNECT_AFTER", 0.0)
        with pytest.raises(OperationalError, match="timeout"):
            hung.ensure_connection()
        assert len(server.sockets) == 2
    finally:
        hung.close()
        server.cut()
