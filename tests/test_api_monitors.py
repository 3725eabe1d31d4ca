"""/api/monitors and /api/monitors/:id."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from incidents.models import AuditRecord, Monitor, MonitorStatusChange, monitor_status_changed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

NOW = datetime(2025, 5, 20, 10, 0, tzinfo=UTC)
DATABASE_CACHE = "DatabaseCache" in settings.CACHES["default"]["BACKEND"]


def fields_of(response):
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    return response.json()["error"]["fields"]


def create(api, **fields):
    response = api("POST", "/api/monitors", {"name": "API", **fields})
    assert response.status_code == 201, response.content
    return response


def test_it_creates_a_monitor_with_a_chosen_id(api, api_key):
    response = create(api, id="mon_abc123", url="https://api.example.com/health")
    assert response["Location"] == "http://testserver/api/monitors/mon_abc123"
    assert response.json() == {
        "id": "mon_abc123",
        "name": "API",
        "status": "operational",
        "inMaintenance": False,
        "url": "https://api.example.com/health",
        "description": None,
        "groupId": None,
        "position": 0,
        "check": None,
        "lastCheckedAt": None,
        "responseTimeMs": None,
        "lastError": None,
    }
    assert list(response.json()) == [
        "id", "name", "status", "inMaintenance", "url", "description", "groupId", "position",
        "check", "lastCheckedAt", "responseTimeMs", "lastError",
    ]  # fmt: skip
    assert AuditRecord.objects.get(object_id="mon_abc123").api_key == api_key[0]


def test_it_makes_up_an_id_when_none_is_given(api):
    body = create(api, name="  Database  ", status="degraded").json()
    assert body["id"].startswith("mon_")
    assert (body["name"], body["status"], body["url"]) == ("Database", "degraded", None)
    assert api("GET", f"/api/monitors/{body['id']}").json() == body


def test_a_taken_id_is_a_conflict(api):
    create(api, id="mon_abc123")
    response = api("POST", "/api/monitors", {"name": "Again", "id": "mon_abc123"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert Monitor.objects.get().name == "API"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name": "is required"}),
        ({"name": ""}, {"name": "must not be empty"}),
        ({"name": None}, {"name": "must not be null"}),
        ({"name": 1}, {"name": "must be a string"}),
        ({"name": "x" * 201}, {"name": "must be at most 200 characters"}),
        ({"name": "API", "id": "abc"}, {"id": "must match ^mon_[a-z0-9]{3,32}$"}),
        ({"name": "API", "id": "mon_ABC"}, {"id": "must match ^mon_[a-z0-9]{3,32}$"}),
        ({"name": "API", "id": "mon_ab"}, {"id": "must match ^mon_[a-z0-9]{3,32}$"}),
        ({"name": "API", "id": None}, {"id": "must not be null"}),
        ({"name": "API", "url": "not a url"}, {"url": "must be an http or https URL"}),
        ({"name": "API", "url": "ftp://example.com/"}, {"url": "must be an http or https URL"}),
        ({"name": "API", "url": "javascript:alert(1)"}, {"url": "must be an http or https URL"}),
        ({"name": "API", "url": 5}, {"url": "must be a string"}),
        ({"name": "API", "status": "up"},
         {"status": "must be one of: operational, degraded, down"}),
        ({"name": "API", "inMaintenance": True},
         {"inMaintenance": "is read-only and cannot be set here"}),
        ({"name": "API", "colour": "red"},
         {"colour": "unknown field; allowed: id, name, url, status, description, groupId, "
                    "position, check"}),
    ],
)  # fmt: skip
def test_it_refuses_bad_monitors(api, body, fields):
    assert fields_of(api("POST", "/api/monitors", body)) == fields
    assert Monitor.objects.count() == 0


def test_it_lists_monitors_oldest_first(api):
    with time_machine.travel(NOW, tick=False) as traveller:
        create(api, id="mon_zzz999", name="First")
        traveller.shift(timedelta(minutes=1))
        create(api, id="mon_aaa111", name="Second")
    assert [m["id"] for m in api("GET", "/api/monitors").json()] == ["mon_zzz999", "mon_aaa111"]


def test_an_empty_list_is_an_empty_array(api):
    assert api("GET", "/api/monitors").json() == []


def test_it_edits_name_and_url_without_a_transition(api):
    create(api, id="mon_abc123", url="https://a.example.com/")
    response = api("PATCH", "/api/monitors/mon_abc123", {"name": "Renamed", "url": None})
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["url"] is None
    assert not MonitorStatusChange.objects.exists()


def test_a_change_of_status_is_recorded_as_a_transition(api):
    create(api, id="mon_abc123")
    announced = []

    def receiver(transition, **kwargs):
        announced.append((transition.from_status, transition.to_status))

    monitor_status_changed.connect(receiver, dispatch_uid="test-api-monitors")
    try:
        with pytest.MonkeyPatch.context() as patch:
            # on_commit callbacks run at once inside the test's transaction
            patch.setattr("django.db.transaction.on_commit", lambda f, **kw: f())
            response = api("PATCH", "/api/monitors/mon_abc123", {"status": "down"})
            again = api("PATCH", "/api/monitors/mon_abc123", {"status": "down"})
    finally:
        monitor_status_changed.disconnect(dispatch_uid="test-api-monitors")
    assert response.json()["status"] == "down"
    assert again.status_code == 200
    transitions = MonitorStatusChange.objects.filter(monitor_id="mon_abc123")
    assert [(t.from_status, t.to_status) for t in transitions] == [("operational", "down")]
    assert announced == [("operational", "down")]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"status": "broken"}, {"status": "must be one of: operational, degraded, down"}),
        ({"status": None}, {"status": "must not be null"}),
        ({"name": None}, {"name": "must not be null"}),
        ({"id": "mon_other1"}, {"id": "is read-only and cannot be set here"}),
        ({"url": "ftp://example.com/"}, {"url": "must be an http or https URL"}),
    ],
)
def test_a_bad_change_changes_nothing(api, body, fields):
    before = create(api, id="mon_abc123").json()
    assert fields_of(api("PATCH", "/api/monitors/mon_abc123", body)) == fields
    assert api("GET", "/api/monitors/mon_abc123").json() == before


def test_an_empty_change_is_refused(api):
    create(api, id="mon_abc123")
    response = api("PATCH", "/api/monitors/mon_abc123", {})
    assert fields_of(response) == {}
    assert "Nothing to change" in response.json()["error"]["message"]


def test_deleting_is_refused_while_an_unresolved_incident_references_it(api):
    create(api, id="mon_abc123")
    incident = api(
        "POST",
        "/api/incidents",
        {"title": "Down", "message": "Looking.", "monitorIds": ["mon_abc123"]},
    ).json()
    response = api("DELETE", "/api/monitors/mon_abc123")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "resolve the incident first" in response.json()["error"]["message"]
    api("PATCH", f"/api/incidents/{incident['id']}", {"status": "resolved"})
    response = api("DELETE", "/api/monitors/mon_abc123")
    assert response.status_code == 204
    assert response.content == b""
    assert api("GET", "/api/monitors/mon_abc123").status_code == 404
    assert AuditRecord.objects.filter(object_id="mon_abc123", action="deleted").exists()


def test_deleting_is_refused_while_a_window_not_yet_over_references_it(api):
    create(api, id="mon_abc123")
    with time_machine.travel(NOW, tick=False):
        api(
            "POST",
            "/api/incidents",
            {
                "title": "Upgrade",
                "message": "Planned.",
                "monitorIds": ["mon_abc123"],
                "maintenance": True,
                "scheduledStart": "2025-06-01T02:00:00Z",
                "scheduledEnd": "2025-06-01T04:00:00Z",
            },
        )
        assert api("DELETE", "/api/monitors/mon_abc123").status_code == 409
    with time_machine.travel(datetime(2025, 6, 1, 4, 0, tzinfo=UTC), tick=False):
        assert api("DELETE", "/api/monitors/mon_abc123").status_code == 204


def test_in_maintenance_follows_the_clock_even_when_cached(api, django_assert_num_queries):
    create(api, id="mon_abc123")
    create(api, id="mon_def456")
    with time_machine.travel(NOW, tick=False):
        api(
            "POST",
            "/api/incidents",
            {
                "title": "Upgrade",
                "message": "Planned.",
                "monitorIds": ["mon_def456"],
                "maintenance": True,
                "scheduledStart": "2025-05-20T11:00:00Z",
                "scheduledEnd": "2025-05-20T12:00:00Z",
            },
        )

    def in_maintenance(path="/api/monitors"):
        body = api("GET", path).json()
        return [m["inMaintenance"] for m in body] if isinstance(body, list) else body

    cache_lookup = 1 if DATABASE_CACHE else 0
    with time_machine.travel(NOW, tick=False):
        assert in_maintenance() == [False, False]
        with django_assert_num_queries(cache_lookup):  # served from the cache, key and all
            assert in_maintenance() == [False, False]
        assert in_maintenance("/api/monitors/mon_def456")["inMaintenance"] is False
    with time_machine.travel(datetime(2025, 5, 20, 11, 0, tzinfo=UTC), tick=False):
        assert in_maintenance() == [False, True]
        assert in_maintenance("/api/monitors/mon_def456")["inMaintenance"] is True
    with time_machine.travel(datetime(2025, 5, 20, 12, 0, tzinfo=UTC), tick=False):
        assert in_maintenance() == [False, False]
        assert in_maintenance("/api/monitors/mon_def456")["inMaintenance"] is False


def test_a_cached_monitor_is_rebuilt_after_a_write(api):
    create(api, id="mon_abc123")
    assert api("GET", "/api/monitors/mon_abc123").json()["status"] == "operational"
    Monitor.objects.get(pk="mon_abc123").report_status("degraded")
    assert api("GET", "/api/monitors/mon_abc123").json()["status"] == "degraded"
    assert api("GET", "/api/monitors").json()[0]["status"] == "degraded"


def test_showing_monitors_costs_a_fixed_handful_of_queries(
    api, make_monitor, django_assert_num_queries
):
    api("GET", "/api/incidents")  # the key's last use is recorded once a minute
    make_monitor()
    # cache lookup (the key's record with it), monitors with their maintenance,
    # next window edge (2), cache write
    expected = 3 + (2 if DATABASE_CACHE else 0)  # the lookup, the write (one upsert)
    with django_assert_num_queries(expected):
        assert len(api("GET", "/api/monitors").json()) == 1
    for _ in range(50):
        make_monitor()
    with django_assert_num_queries(expected):
        assert len(api("GET", "/api/monitors").json()) == 51


def test_deleting_a_monitor_leaves_resolved_incidents_as_they_were(
    client, raw_key, make_monitor, make_incident
):
    """Resolved history keeps the monitors it affected, by id and name."""
    from incidents.models import Incident

    make_monitor(id="mon_gone01", name="Billing")
    make_monitor(id="mon_kept01", name="Website")
    incident = make_incident(title="Billing outage", monitor_ids=["mon_gone01", "mon_kept01"])
    incident.resolve("Fixed.")
    headers = {"x-api-key": raw_key}
    before = client.get(f"/api/incidents/{incident.id}", headers=headers).json()
    public_before = client.get(f"/incidents/{incident.id}/").content.decode()
    assert "Billing" in public_before

    assert client.delete("/api/monitors/mon_gone01", headers=headers).status_code == 204
    assert client.get("/api/monitors/mon_gone01", headers=headers).status_code == 404
    after = client.get(f"/api/incidents/{incident.id}", headers=headers).json()
    assert after == before
    assert after["monitorIds"] == ["mon_gone01", "mon_kept01"]
    listed = client.get("/api/incidents?monitorId=mon_kept01", headers=headers).json()
    assert [i["monitorIds"] for i in listed] == [["mon_gone01", "mon_kept01"]]
    page = client.get(f"/incidents/{incident.id}/").content.decode()
    assert "Billing, Website" in page
    # Reopening keeps it too: nothing rewrote the links.
    Incident.objects.get(pk=incident.pk).post_update("investigating", "Back again.")
    reopened = client.get(f"/api/incidents/{incident.id}", headers=headers).json()
    assert reopened["monitorIds"] == ["mon_gone01", "mon_kept01"]


def test_the_public_json_of_a_resolved_incident_survives_its_monitors_deletion(
    client, raw_key, make_monitor, make_incident
):
    make_monitor(id="mon_gone02", name="Billing")
    make_incident(title="Billing outage", monitor_ids=["mon_gone02"]).resolve("Fixed.")
    headers = {"x-api-key": raw_key}
    assert client.delete("/api/monitors/mon_gone02", headers=headers).status_code == 204
    response = client.get("/api/v2/incidents.json")
    assert response.status_code == 200
    (incident,) = response.json()["incidents"]
    assert (incident["name"], incident["status"]) == ("Billing outage", "resolved")
