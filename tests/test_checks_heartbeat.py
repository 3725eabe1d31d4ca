"""Heartbeat monitors: a job pings /ping/<token>; no ping for period + grace
→ down (noticed by the worker by the clock); a ping brings it back;
/ping/<token>/fail reports down at once. The clock is moved with time_machine."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from incidents.alerts.models import Alert
from incidents.checks import pings
from incidents.checks.results import notice_heartbeat_deadlines
from incidents.models import Check, CheckResult, Monitor

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def alert_by_mail(settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    pings.limiter.counts.clear()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def heartbeat(make_monitor, clock):
    monitor = make_monitor(id="mon_cron01", check={"type": "heartbeat", "period": 300,
                                                   "grace": 60})  # fmt: skip
    monitor.ping_path = "/ping/" + monitor.health_check.ping_token
    return monitor


def status(monitor):
    return Monitor.objects.get(pk=monitor.pk).status


def test_a_ping_answers_ok_without_a_key(client, heartbeat):
    for method in ("get", "post", "head"):
        response = getattr(client, method)(heartbeat.ping_path)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
    assert client.get(heartbeat.ping_path).content == b"OK\n"


def test_unknown_tokens_and_other_methods(client, heartbeat):
    assert client.get("/ping/not-a-token-of-ours").status_code == 404
    assert client.get("/ping/").status_code == 404
    response = client.put(heartbeat.ping_path)
    assert (response.status_code, response["Allow"]) == (405, "GET, POST, HEAD")


def test_no_ping_for_period_plus_grace_is_down_and_alerts(heartbeat, clock):
    clock.shift(timedelta(seconds=359))
    assert notice_heartbeat_deadlines() == 0
    assert status(heartbeat) == "operational"
    clock.shift(timedelta(seconds=1))
    assert notice_heartbeat_deadlines() == 1
    assert status(heartbeat) == "down"
    assert notice_heartbeat_deadlines() == 0  # noticed once
    result = CheckResult.objects.get(monitor=heartbeat)
    assert (result.status, result.error) == ("down", "no ping for 6 min")
    assert Alert.objects.get().kind == "down"
    assert Monitor.objects.get(pk=heartbeat.pk).to_dict()["lastError"] == "no ping for 6 min"


def test_a_ping_moves_the_deadline(client, heartbeat, clock):
    clock.shift(timedelta(seconds=300))
    client.get(heartbeat.ping_path)
    clock.shift(timedelta(seconds=300))
    assert notice_heartbeat_deadlines() == 0  # 360 s after creation, 300 after the ping
    clock.shift(timedelta(seconds=60))
    assert notice_heartbeat_deadlines() == 1
    body = Monitor.objects.get(pk=heartbeat.pk).to_dict()
    assert body["lastCheckedAt"] == "2026-03-02T09:05:00Z"  # the last ping


def test_a_ping_brings_it_back_and_fail_reports_down(client, heartbeat, clock, settings):
    settings.ALERT_COALESCE_SECONDS = 0  # one alert per change (coalescing: test_alerts_hardening)
    clock.shift(timedelta(seconds=400))
    notice_heartbeat_deadlines()
    assert status(heartbeat) == "down"
    clock.shift(timedelta(seconds=1))
    client.post(heartbeat.ping_path)
    assert status(heartbeat) == "operational"
    clock.shift(timedelta(seconds=1))
    client.get(heartbeat.ping_path + "/fail")
    assert status(heartbeat) == "down"
    assert Check.objects.get(pk=heartbeat.pk).deadline_at is None  # down: nothing to notice
    clock.shift(timedelta(seconds=1))
    client.get(heartbeat.ping_path)
    assert status(heartbeat) == "operational"
    assert [a.kind for a in Alert.objects.order_by("created_at", "id")] == [
        "down", "recovered", "down", "recovered"
    ]  # fmt: skip
    assert list(
        CheckResult.objects.order_by("checked_at", "id").values_list("status", "error")
    ) == [
        ("down", "no ping for 6 min"),
        ("operational", None),
        ("down", "failure reported by ping"),
        ("operational", None),
    ]


def test_a_ping_to_a_healthy_monitor_is_one_lookup_and_one_write(
    client, heartbeat, clock, django_assert_num_queries
):
    with django_assert_num_queries(2):
        assert client.get(heartbeat.ping_path).status_code == 200
    # A second ping in the same second would move the deadline by nothing.
    with django_assert_num_queries(1):
        assert client.get(heartbeat.ping_path).status_code == 200


def test_pings_are_limited_per_token(client, heartbeat, settings):
    settings.PING_RATE_LIMIT = 3
    answers = [client.get(heartbeat.ping_path).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = client.get(heartbeat.ping_path)
    assert int(limited["Retry-After"]) >= 1


def test_the_worker_notices_a_missed_deadline(heartbeat, clock):
    clock.shift(timedelta(minutes=7))
    call_command("worker", "--once")
    assert status(heartbeat) == "down"
    assert Alert.objects.get().outcome == "sent"
