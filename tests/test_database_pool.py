"""On PostgreSQL each process shares one pool of connections among its
threads: a busy host opens at most workers x DATABASE_POOL_SIZE connections,
however many requests run at once. With a connection per thread, two gthread
workers under 150 clients went past PostgreSQL's 100 connections ("sorry, too
many clients already") and the page fell back to its outage copy."""

import threading
import urllib.error
import urllib.request
from collections import Counter

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.servers import Site, database_url_like

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="PostgreSQL only"
)


def test_the_pool_is_asked_for_with_database_pool_size():
    database = settings.DATABASES["default"]
    # Off by default: a connection per thread, kept CONN_MAX_AGE seconds.
    assert "pool" not in database["OPTIONS"] and database["CONN_MAX_AGE"] > 0


def open_connections(url, name):
    with psycopg.connect(url) as watcher:
        return watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchone()[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_150_requests_at_once_on_two_workers_use_at_most_their_pools(tmp_path):
    name = connection.settings_dict["NAME"]
    url = database_url_like(connection, name)
    site = Site(tmp_path, workers=2, DATABASE_URL=url, DATABASE_POOL_SIZE="4", WEB_THREADS="64")
    site.manage("collectstatic", "--noinput", "--verbosity", "0")
    site.start("/healthz")
    statuses, peak = Counter(), [0]
    start = threading.Barrier(151)
    done = threading.Event()

    def visitor():
        start.wait()
        for _ in range(4):
            # Without Redis the stored page is in a database table: every request reads it.
            try:
                with urllib.request.urlopen(site.url + "/history/", timeout=30) as response:  # noqa: S310
                    statuses[response.status] += 1
            except urllib.error.HTTPError as error:
                statuses[error.code] += 1

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], open_connections(url, name))
            done.wait(0.05)

    visitors = [threading.Thread(target=visitor) for _ in range(150)]
    watcher = threading.Thread(target=watch)
    try:
        for thread in visitors:
            thread.start()
        watcher.start()
        start.wait()
        for thread in visitors:
            thread.join(120)
        done.set()
        watcher.join()
        assert statuses == {200: 600}
        # Two pools of 4, the test's own connection, and one a pool is
        # replacing (a connection it closes is counted until it is gone). A
        # connection per thread came to 128 here (2 workers x 64 threads).
        assert 1 <= peak[0] <= 2 * 4 + 2, peak[0]
        assert "too many clients" not in site.log_text()
    finally:
        done.set()
        site.stop()
