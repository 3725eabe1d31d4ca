"""Every curl command of the documented Incidents API (seed/incidents-api.txt),
replayed in order with its body byte for byte, each response checked in full."""

import json
from datetime import UTC, datetime

import pytest
import time_machine

from incidents.models import AuditRecord, Incident, Monitor
from tests.seed import (
    CONTRACT_ORDER,
    CREATE_INCIDENT_BODY,
    CREATE_MAINTENANCE_BODY,
    DOCUMENTED_INCIDENT,
    UPDATE_INCIDENT_BODY,
)

# A monitor without a check of its own (issue 14's fields, all empty).
# Groups and order (issue 17): a monitor in no group, first in place, undescribed.
UNPLACED = {"description": None, "groupId": None, "position": 0}
UNCHECKED = {"check": None, "lastCheckedAt": None, "responseTimeMs": None, "lastError": None}

NOW = datetime(2025, 5, 20, 10, 0, 0, tzinfo=UTC)


def documented_incident(incident):
    """The documentation's example with our ids and the contract's other fields."""
    expected = json.loads(DOCUMENTED_INCIDENT)
    expected["id"] = incident.id
    for update, stored in zip(expected["updates"], incident.timeline(), strict=True):
        update["id"] = stored.id
    expected.update(maintenance=False, scheduledStart=None, scheduledEnd=None)
    return {name: expected[name] for name in CONTRACT_ORDER}


@pytest.fixture
def seed_monitors(api):
    for monitor_id, name in (("mon_abc123", "API"), ("mon_def456", "Database")):
        response = api("POST", "/api/monitors", {"id": monitor_id, "name": name})
        assert response.status_code == 201, response.content


@pytest.mark.usefixtures("fresh_cache", "seed_monitors")
@time_machine.travel(NOW, tick=False)
def test_the_documentation_replays_verbatim(api, api_key):
    key, _raw = api_key
    incident = Incident.open_incident(
        title="API degraded performance",
        message="We are investigating elevated error rates.",
        monitor_ids=["mon_abc123"],
        at=datetime(2025, 5, 15, 8, 30, tzinfo=UTC),
    )
    incident.post_update(
        "identified",
        "Root cause identified as a database connection pool issue.",
        at=datetime(2025, 5, 15, 8, 45, tzinfo=UTC),
    )
    example = documented_incident(Incident.objects.with_timeline().get(pk=incident.pk))

    # List Incidents
    response = api("GET", "/api/incidents")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "Link" not in response
    assert response.json() == [example]
    assert list(response.json()[0]) == CONTRACT_ORDER

    # Get Incident: the documented response, plus the contract's maintenance fields.
    response = api("GET", f"/api/incidents/{incident.id}")
    assert response.status_code == 200
    assert response.json() == example
    assert list(response.json()) == CONTRACT_ORDER

    # Create Incident
    response = api("POST", "/api/incidents", CREATE_INCIDENT_BODY)
    assert response.status_code == 201
    created = response.json()
    assert created["id"].startswith("inc_")
    assert response["Location"] == f"http://testserver/api/incidents/{created['id']}"
    first_update = created["updates"][0]
    assert first_update["id"].startswith("upd_")
    assert created == {
        "id": created["id"],
        "title": "Scheduled database migration",
        "status": "investigating",
        "monitorIds": ["mon_abc123"],
        "startedAt": "2025-05-20T10:00:00Z",
        "resolvedAt": None,
        "maintenance": False,
        "scheduledStart": None,
        "scheduledEnd": None,
        "updates": [
            {
                "id": first_update["id"],
                "status": "investigating",
                "message": "We are performing a planned database migration.",
                "createdAt": "2025-05-20T10:00:00Z",
            }
        ],
    }
    assert api("GET", response["Location"]).json() == created

    # Update Incident: one more entry on the timeline.
    response = api("PATCH", f"/api/incidents/{created['id']}", UPDATE_INCIDENT_BODY)
    assert response.status_code == 200
    updated = response.json()
    second_update = updated["updates"][1]
    assert updated == {
        **created,
        "status": "resolved",
        "resolvedAt": "2025-05-20T10:00:00Z",
        "updates": [
            first_update,
            {
                "id": second_update["id"],
                "status": "resolved",
                "message": "The issue has been resolved. All services are operating normally.",
                "createdAt": "2025-05-20T10:00:00Z",
            },
        ],
    }
    assert api("GET", f"/api/incidents/{created['id']}").json() == updated

    # Delete Incident: 204, empty body, gone, and remembered in the audit trail.
    response = api("DELETE", f"/api/incidents/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert api("GET", f"/api/incidents/{created['id']}").status_code == 404
    record = AuditRecord.objects.get(object_id=created["id"], action=AuditRecord.DELETED)
    assert record.api_key == key
    assert record.snapshot == updated

    # Create Maintenance Window
    response = api("POST", "/api/incidents", CREATE_MAINTENANCE_BODY)
    assert response.status_code == 201
    window = response.json()
    assert response["Location"] == f"http://testserver/api/incidents/{window['id']}"
    assert window == {
        "id": window["id"],
        "title": "Planned maintenance",
        "status": "monitoring",
        "monitorIds": ["mon_abc123", "mon_def456"],
        "startedAt": "2025-06-01T02:00:00Z",
        "resolvedAt": None,
        "maintenance": True,
        "scheduledStart": "2025-06-01T02:00:00Z",
        "scheduledEnd": "2025-06-01T04:00:00Z",
        "updates": [
            {
                "id": window["updates"][0]["id"],
                "status": "monitoring",
                "message": "Scheduled maintenance window for infrastructure upgrade.",
                "createdAt": "2025-05-20T10:00:00Z",
            }
        ],
    }

    # And the list again: the window starts latest, so it comes first.
    response = api("GET", "/api/incidents")
    assert response.json() == [window, example]

    # The monitors the window covers are under maintenance while it is active.
    assert [m["inMaintenance"] for m in api("GET", "/api/monitors").json()] == [False, False]
    with time_machine.travel(datetime(2025, 6, 1, 3, 0, tzinfo=UTC), tick=False):
        monitors = api("GET", "/api/monitors").json()
    assert monitors == [
        {
            "id": "mon_abc123",
            "name": "API",
            "status": "operational",
            "inMaintenance": True,
            "url": None,
            **UNPLACED,
            **UNCHECKED,
        },
        {
            "id": "mon_def456",
            "name": "Database",
            "status": "operational",
            "inMaintenance": True,
            "url": None,
            **UNPLACED,
            **UNCHECKED,
        },
    ]
    assert Monitor.objects.count() == 2
