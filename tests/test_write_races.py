"""Writes are never lost. On PostgreSQL under real concurrency: parallel creates,
deletes racing PATCHes, two deletes, and a monitor deleted while an incident is
created on it. Every write either lands whole or gets a clear error (404, 409),
never a 500 — and every write that was acknowledged is there afterwards. On
SQLite, the delete-against-PATCHes race runs across gunicorn worker processes.

(40 parallel PATCHes on one incident, and parallel creates through gunicorn on
SQLite, are in tests/test_api_concurrency.py.)
"""

import json
import sqlite3
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from incidents.models import AuditRecord, Incident, IncidentMonitor, Monitor
from tests import servers
from tests.servers import Site

ON_POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
postgresql_only = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="threads in one process share SQLite's in-memory test database",
)
sqlite_only = pytest.mark.skipif(ON_POSTGRESQL, reason="the SQLite file case")


def race(*calls, timeout=60):
    """Run the calls at the same moment, each in its own thread and database
    connection; return their (status, JSON body) in call order."""
    start = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            start.wait(timeout=timeout)
            response = call(Client())
            body = json.loads(response.content) if response.content else None
            results[index] = (response.status_code, body)
        except Exception as exc:  # surfaced by the assertion below
            results[index] = ("crashed", repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout * 2)
    assert all(result is not None and result[0] != "crashed" for result in results), results
    assert all(result[0] < 500 for result in results), (results, _server_load())
    return results


def _server_load():
    """What else holds the database server (a 503 here is most often a full
    one: "sorry, too many clients already")."""
    if not ON_POSTGRESQL:
        return "SQLite"
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*), current_setting('max_connections') FROM pg_stat_activity"
            " WHERE backend_type = 'client backend'"
        )
        in_use, limit = cursor.fetchone()
    return f"{in_use} of {limit} connections in use"


def api(method, path, body=None, key=None):
    def call(client):
        return client.generic(
            method,
            path,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers={"x-api-key": key},
        )

    return call


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_creates_all_land_whole(raw_key, make_monitor):
    make_monitor(id="mon_abc123")
    make_monitor(id="mon_def456")
    results = race(
        *[
            api(
                "POST",
                "/api/incidents",
                {
                    "title": f"Incident {n}",
                    "message": f"First words of {n}",
                    "monitorIds": ["mon_def456", "mon_abc123"] if n % 2 else ["mon_abc123"],
                },
                raw_key,
            )
            for n in range(30)
        ]
    )
    assert [status for status, _ in results] == [201] * 30
    ids = {body["id"] for _, body in results}
    assert len(ids) == 30
    for n, (_, body) in enumerate(results):
        stored = Incident.objects.with_timeline().get(pk=body["id"]).to_dict()
        assert stored == body
        assert stored["title"] == f"Incident {n}"
        assert [u["message"] for u in stored["updates"]] == [f"First words of {n}"]
    assert AuditRecord.objects.filter(action="created", object_type="incident").count() == 30


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_patches_loses_no_acknowledged_update(raw_key, make_incident):
    for _round in range(3):
        incident = make_incident(title="Racing", message="Opened.")
        path = f"/api/incidents/{incident.id}"
        patches = [
            api("PATCH", path, {"status": "identified", "message": f"Patch {n}"}, raw_key)
            for n in range(12)
        ]
        results = race(*patches[:6], api("DELETE", path, key=raw_key), *patches[6:])
        deleted = results.pop(6)
        assert deleted[0] == 204
        assert {status for status, _ in results} <= {200, 404}
        for status, body in results:
            if status == 404:
                assert body["error"]["code"] == "not_found"
        acknowledged = sorted(
            f"Patch {n}" for n, (status, _) in enumerate(results) if status == 200
        )
        for n, (status, body) in enumerate(results):
            if status == 200:
                # The answer is the incident as this PATCH left it.
                assert body["updates"][-1]["message"] == f"Patch {n}"
        # The deletion's snapshot holds exactly the updates that were answered 200.
        assert not Incident.objects.filter(pk=incident.id).exists()
        record = AuditRecord.objects.get(action="deleted", object_id=incident.id)
        kept = [u["message"] for u in record.snapshot["updates"]]
        assert kept[0] == "Opened."
        assert sorted(kept[1:]) == acknowledged


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_monitor_delete_racing_patches_answers_each_one_truly(raw_key, make_monitor):
    monitor = make_monitor(id="mon_racing", name="Original")
    path = f"/api/monitors/{monitor.id}"
    patches = [
        api("PATCH", path, {"name": f"Name {n}", "status": "down"}, raw_key) for n in range(8)
    ]
    results = race(*patches[:4], api("DELETE", path, key=raw_key), *patches[4:])
    assert results.pop(4)[0] == 204
    assert {status for status, _ in results} <= {200, 404}
    applied = [f"Name {n}" for n, (status, body) in enumerate(results) if status == 200]
    for n, (status, body) in enumerate(results):
        if status == 200:
            assert body["name"] == f"Name {n}"
    record = AuditRecord.objects.get(action="deleted", object_id=monitor.id)
    assert record.snapshot["name"] in (applied or ["Original"])


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_deletes_one_wins(raw_key, make_incident):
    incident = make_incident(title="Twice")
    path = f"/api/incidents/{incident.id}"
    results = race(api("DELETE", path, key=raw_key), api("DELETE", path, key=raw_key))
    assert sorted(status for status, _ in results) == [204, 404]
    assert AuditRecord.objects.filter(action="deleted", object_id=incident.id).count() == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_monitor_deleted_while_an_incident_is_opened_on_it_leaves_no_dangling_link(
    raw_key, make_monitor
):
    outcomes = set()
    for n in range(8):
        monitor = make_monitor(id=f"mon_race{n:03d}")
        create, delete = race(
            api(
                "POST",
                "/api/incidents",
                {"title": "On it", "message": "x", "monitorIds": [monitor.id]},
                raw_key,
            ),
            api("DELETE", f"/api/monitors/{monitor.id}", key=raw_key),
        )
        outcomes.add((create[0], delete[0]))
        if create[0] == 201:
            # The incident exists with its monitor; the delete was refused.
            assert delete[0] == 409, (create, delete)
            assert Monitor.objects.filter(pk=monitor.id).exists()
            assert create[1]["monitorIds"] == [monitor.id]
        else:
            # The monitor is gone; creating on it was refused and wrote nothing.
            assert delete[0] == 204, (create, delete)
            assert create[0] in (400, 409), create
            assert not Incident.objects.filter(title="On it", monitor_links=None).exists()
        assert not IncidentMonitor.objects.exclude(monitor__in=Monitor.objects.all()).exists()
    print(f"\ncreate/delete outcomes: {sorted(outcomes)}")


# --- SQLite: the same race across gunicorn worker processes -----------------------


def http(base, method, path, body=None, key=None):
    status, _headers, text = servers.http(base, method, path, body, key, timeout=60)
    return status, text


@pytest.fixture
def sqlite_site(tmp_path):
    """Three gunicorn workers writing one SQLite file; yields (base URL, key, file)."""
    site = Site(
        tmp_path,
        workers=3,
        ALLOWED_HOSTS="127.0.0.1",
        LAST_GOOD_DIR=str(tmp_path / "last-good"),
        gunicorn_options=("--timeout", "60"),
    )
    site.prepare(collectstatic=False)
    try:
        site.start(ready_path="/api/openapi.json")
        yield site.url, site.api_key, site.database
    finally:
        site.stop()


@pytest.mark.slow
@sqlite_only
def test_on_sqlite_a_delete_racing_patches_across_workers_loses_nothing(sqlite_site):
    base, key, database = sqlite_site
    for _round in range(3):
        status, body = http(
            base, "POST", "/api/incidents", {"title": "Racing", "message": "Opened."}, key
        )
        assert status == 201, body
        path = f"/api/incidents/{json.loads(body)['id']}"
        calls = [("PATCH", {"status": "identified", "message": f"Patch {n}"}) for n in range(12)]
        calls.insert(6, ("DELETE", None))
        start = threading.Barrier(len(calls))
        results = [None] * len(calls)

        def run(index, method, payload):
            start.wait(timeout=30)
            results[index] = http(base, method, path, payload, key)

        threads = [
            threading.Thread(target=run, args=(i, method, payload))
            for i, (method, payload) in enumerate(calls)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert results.pop(6)[0] == 204
        assert {status for status, _ in results} <= {200, 404}, results
        acknowledged = sorted(
            f"Patch {n}" for n, (status, _) in enumerate(results) if status == 200
        )
        with sqlite3.connect(database) as db:
            (snapshot,) = db.execute(
                "SELECT snapshot FROM incidents_auditrecord WHERE action = 'deleted' "
                "AND object_id = ?",
                (path.rsplit("/", 1)[1],),
            ).fetchone()
        kept = [u["message"] for u in json.loads(snapshot)["updates"]]
        assert kept[0] == "Opened."
        assert sorted(kept[1:]) == acknowledged


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_group_deleted_while_monitors_join_it_leaves_none_pointing_at_it(raw_key, make_monitor):
    """Groups (issue 17): each join either lands before the delete (and the
    monitor is moved out with the others) or finds the group gone (400):
    never a dangling groupId, never a 500."""
    from incidents.groups.models import MonitorGroup

    for number in range(4):
        make_monitor(id=f"mon_join{number}")
    for round_number in range(8):
        group_id = f"grp_race{round_number}"
        MonitorGroup.create_group(id=group_id, name="Racing")
        joins = [
            api("PATCH", f"/api/monitors/mon_join{n}", {"groupId": group_id}, key=raw_key)
            for n in range(4)
        ]
        results = race(*joins, api("DELETE", f"/api/groups/{group_id}", key=raw_key))
        assert results[-1][0] == 204, results
        for status, body in results[:-1]:
            assert status in (200, 400), results
            if status == 400:
                assert body["error"]["fields"] == {"groupId": f"unknown group id: {group_id}"}
        assert not Monitor.objects.filter(group_id=group_id).exists()
        assert not Monitor.objects.exclude(group_id=None).exists()
