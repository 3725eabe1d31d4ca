"""Writers at the same time: nothing lost, nothing out of order.

On PostgreSQL, parallel PATCHes to one incident are applied one after the
other (the row is locked), so the timeline has every entry and the status is
the last entry's. On SQLite, parallel creates through two gunicorn worker
processes all succeed (WAL, a busy timeout and IMMEDIATE transactions make
writers queue instead of failing with "database is locked").
"""

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from incidents.models import Incident
from tests.servers import http

ENGINE = settings.DATABASES["default"]["ENGINE"]


@pytest.mark.skipif("postgresql" not in ENGINE, reason="row locks under real concurrency: PG")
@pytest.mark.django_db(transaction=True)
def test_40_parallel_patches_leave_41_entries_and_the_last_status(make_incident, raw_key):
    incident = make_incident(title="Busy", message="Opened.")
    statuses = ["identified", "monitoring", "investigating", "resolved"]
    start = threading.Barrier(40)
    results = []

    def patch(number):
        try:
            # Forty writers queue on one row lock, and the last waits for the
            # other thirty-nine; on a loaded CI machine that is longer than the
            # 5 s statement timeout a production query gets (that budget is
            # tested in test_database_timeouts). This test is about order and
            # loss, so its connections wait as long as the queue takes.
            with connections["default"].cursor() as cursor:
                cursor.execute("SET statement_timeout = 120000")
            start.wait(timeout=30)
            response = Client().patch(
                f"/api/incidents/{incident.id}",
                json.dumps({"status": statuses[number % 4], "message": f"Update {number}"}),
                content_type="application/json",
                headers={"x-api-key": raw_key},
            )
            results.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=patch, args=(number,)) for number in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert results == [200] * 40
    body = Client().get(f"/api/incidents/{incident.id}", headers={"x-api-key": raw_key}).json()
    updates = body["updates"]
    assert len(updates) == 41
    assert body["status"] == updates[-1]["status"]
    assert sorted(u["message"] for u in updates[1:]) == sorted(f"Update {n}" for n in range(40))
    stored = Incident.objects.get(pk=incident.pk)
    assert [u.sequence for u in stored.timeline()] == list(range(1, 42))
    assert (stored.resolved_at is not None) == (stored.status == "resolved")


def call(url, method="GET", body=None, key=None):
    status, _headers, text = http(url, method, "", body, key, timeout=60)
    return status, json.loads(text or "null")


@pytest.mark.slow
@pytest.mark.skipif("sqlite3" not in ENGINE, reason="SQLite writers queue across processes")
def test_200_parallel_creates_through_two_gunicorn_workers_all_succeed(gunicorn):
    base, key, database = gunicorn.base, gunicorn.key, gunicorn.database
    status, _ = call(f"{base}/monitors", "POST", {"id": "mon_abc123", "name": "API"}, key)
    assert status == 201

    def create(number):
        return call(
            f"{base}/incidents",
            "POST",
            {
                "title": f"Incident {number}",
                "message": "We are investigating.",
                "monitorIds": ["mon_abc123"],
            },
            key,
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(create, range(200)))

    assert [status for status, _ in results] == [201] * 200
    created = {body["id"] for _, body in results}
    assert len(created) == 200
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM incidents_incident").fetchone() == (200,)
        assert db.execute("SELECT COUNT(*) FROM incidents_incidentupdate").fetchone() == (200,)
        assert db.execute("SELECT COUNT(*) FROM incidents_incidentmonitor").fetchone() == (200,)
    # And the list agrees, page after page.
    seen, url = [], f"{base}/incidents?limit=100"
    while url:
        request = urllib.request.Request(url, headers={"x-api-key": key})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            seen += [item["id"] for item in json.loads(response.read())]
            link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert set(seen) == created
    assert len(seen) == 200
