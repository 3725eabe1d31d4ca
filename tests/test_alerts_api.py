"""Alerts through the API: a PATCH that moves a monitor raises them, and
``GET /api/alerts`` lets scripts audit what was sent and suppressed."""

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from incidents.alerts.models import Alert, AlertChannel
from incidents.api.openapi import build_document
from tests.servers import free_port

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
T1 = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def closed_loopback_port():
    return free_port()


@pytest.fixture(autouse=True)
def every_change_alerted(settings):
    """These tests count one alert per change of state: coalescing a flapping
    monitor (ALERT_COALESCE_SECONDS) is tested in tests/test_alerts_hardening.py."""
    settings.ALERT_COALESCE_SECONDS = 0


@pytest.fixture
def channels(settings, db):
    """An email address that works and a webhook that fails (nobody listens)."""
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    settings.ALERT_RETRY_DELAYS = []
    AlertChannel.objects.create(
        name="Hook",
        kind="webhook",
        url=f"http://127.0.0.1:{closed_loopback_port()}/T0K3N/kamustatus",
        secret="whsec_do-not-show",
    )


def api(client, method, path, body=None, key=None):
    headers = {"HTTP_X_API_KEY": key} if key else {}
    if body is None:
        return getattr(client, method.lower())(path, **headers)
    return getattr(client, method.lower())(
        path, data=json.dumps(body), content_type="application/json", **headers
    )


def alert_schema():
    return build_document()["components"]["schemas"]["Alert"]


def test_patching_a_monitor_down_raises_an_alert(client, raw_key, channels, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    response = api(client, "PATCH", "/api/monitors/mon_abc123", {"status": "down"}, raw_key)
    assert response.status_code == 200
    assert sorted(Alert.objects.values_list("channel_kind", "kind", "outcome")) == [
        ("email", "down", "pending"),
        ("webhook", "down", "pending"),
    ]
    response = api(client, "PATCH", "/api/monitors/mon_abc123", {"status": "down"}, raw_key)
    assert response.status_code == 200
    assert Alert.objects.count() == 2  # the same state again: nothing more
    call_command("worker", "--once")
    assert [m.subject for m in mail.outbox] == ["[Kamustatus] API is down"]


def test_a_rejected_patch_raises_nothing(client, raw_key, channels, make_monitor):
    make_monitor(id="mon_abc123")
    body = {"status": "down", "url": "not a url"}
    response = api(client, "PATCH", "/api/monitors/mon_abc123", body, raw_key)
    assert response.status_code == 400
    assert not Alert.objects.exists()


def test_alerts_need_a_key(client, db):
    response = api(client, "GET", "/api/alerts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    response = api(client, "GET", "/api/alerts", key="km_" + "x" * 40)
    assert response.status_code == 401


def test_only_get_is_answered(client, raw_key):
    response = api(client, "POST", "/api/alerts", {}, raw_key)
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_alerts_are_listed_newest_first_as_documented(
    client, raw_key, channels, make_monitor, make_incident
):
    api_monitor = make_monitor(id="mon_abc123", name="API")
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        window = make_incident(
            title="Upgrade", monitor_ids=[api_monitor.id], scheduled_start=T0, scheduled_end=T1
        )
    with time_machine.travel(T0 - MINUTE, tick=False):
        api_monitor.change(status="degraded")
        call_command("worker", "--once")
    with time_machine.travel(T0 + MINUTE, tick=False):
        api_monitor.change(status="down")

    response = api(client, "GET", "/api/alerts", key=raw_key)
    assert response.status_code == 200
    body = response.json()
    for item in body:
        jsonschema.validate(item, alert_schema())
    newest, older = body[:2], body[2:]
    assert sorted((a["kind"], a["channel"]["kind"], a["outcome"]) for a in newest) == [
        ("down", "email", "suppressed"),
        ("down", "webhook", "suppressed"),
    ]
    assert sorted((a["kind"], a["channel"]["kind"], a["outcome"]) for a in older) == [
        ("degraded", "email", "sent"),
        ("degraded", "webhook", "failed"),
    ]
    suppressed = newest[0]
    assert suppressed["windowId"] == window.id
    assert (suppressed["fromStatus"], suppressed["toStatus"]) == ("degraded", "down")
    assert suppressed["occurredAt"] == "2025-06-01T02:01:00Z"
    assert "T0K3N" not in response.content.decode()  # webhook URLs can hold secrets
    assert "whsec_do-not-show" not in response.content.decode()


def test_alerts_filter_by_monitor_and_outcome(client, raw_key, channels, make_monitor):
    first, second = make_monitor(id="mon_first"), make_monitor(id="mon_second")
    first.change(status="down")
    second.change(status="degraded")
    call_command("worker", "--once")

    def ids(query):
        response = api(client, "GET", f"/api/alerts?{query}", key=raw_key)
        assert response.status_code == 200, response.content
        return {(a["monitorId"], a["outcome"]) for a in response.json()}

    assert ids("monitorId=mon_first") == {("mon_first", "sent"), ("mon_first", "failed")}
    assert ids("outcome=sent") == {("mon_first", "sent"), ("mon_second", "sent")}
    assert ids("outcome=failed,suppressed&monitorId=mon_second") == {("mon_second", "failed")}
    assert ids("monitorId=mon_gone") == set()  # alerts outlive monitors; none here


def test_the_list_is_paged(client, raw_key, channels, make_monitor):
    monitor = make_monitor()
    for status in ["down", "operational", "down"]:
        monitor.change(status=status)
    seen, url = [], "/api/alerts?limit=4"
    while url:
        response = api(client, "GET", url, key=raw_key)
        assert response.status_code == 200
        assert len(response.json()) <= 4
        seen += [a["id"] for a in response.json()]
        link = response.get("Link")
        url = link[link.index("/api/") : link.index(">")] if link else None
    assert seen == list(Alert.objects.newest_first().values_list("id", flat=True))
    assert len(seen) == 6


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("outcome=lost", "outcome"),
        ("outcome=", "outcome"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nonsense!", "cursor"),
        ("monitorId=mon%20x", "monitorId"),
        ("status=down", "status"),
        ("outcome=sent&outcome=failed", "outcome"),
    ],
)
def test_bad_queries_are_refused_by_name(client, raw_key, query, field):
    response = api(client, "GET", f"/api/alerts?{query}", key=raw_key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]


def test_the_openapi_document_lists_alerts(client, db):
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/alerts"]["get"]
    assert operation["operationId"] == "listAlerts"
    assert {p["name"] for p in operation["parameters"]} == {
        "monitorId",
        "outcome",
        "limit",
        "cursor",
    }
    assert "Alert" in document["components"]["schemas"]
