"""A check's results move its monitor by confirmation, through the domain's
one rule: down after exactly failuresBeforeDown failures, back after exactly
successesBeforeUp successes, an alert per transition — or one recorded as
suppressed inside a maintenance window. Against a real HTTP server."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from incidents.alerts.models import Alert
from incidents.checks.results import confirmed_status
from incidents.checks.scheduler import run_checks_now
from incidents.models import Check, Monitor, MonitorStatusChange
from tests.check_peers import http_target

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def setup(settings):
    settings.CHECKS_ALLOW_PRIVATE = True
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def target():
    with http_target() as running:
        yield running


def status_after_run(monitor):
    run_checks_now([monitor.pk])
    return Monitor.objects.get(pk=monitor.pk).status


def test_down_after_exactly_n_failures_and_back_after_exactly_m(make_monitor, target):
    target.status = 500
    monitor = make_monitor(
        check={"type": "http", "url": target.base + "/", "failuresBeforeDown": 3,
               "successesBeforeUp": 2},
    )  # fmt: skip
    assert [status_after_run(monitor) for _ in range(3)] == ["operational", "operational", "down"]
    assert status_after_run(monitor) == "down"  # still failing: no second transition
    target.status = 200
    assert [status_after_run(monitor) for _ in range(2)] == ["down", "operational"]
    changes = MonitorStatusChange.objects.filter(monitor=monitor).order_by("created_at", "id")
    assert [(c.from_status, c.to_status) for c in changes] == [
        ("operational", "down"),
        ("down", "operational"),
    ]
    assert sorted(Alert.objects.values_list("kind", "outcome")) == [
        ("down", "pending"),
        ("recovered", "pending"),
    ]
    body = Monitor.objects.get(pk=monitor.pk).to_dict()
    assert body["lastError"] == "status 500"  # the last failed check's reason, kept


def test_one_success_between_failures_starts_the_count_again(make_monitor, target):
    monitor = make_monitor(check={"type": "http", "url": target.base + "/"})  # 2 failures
    seen = []
    for status in (500, 200, 500, 500):
        target.status = status
        seen.append(status_after_run(monitor))
    assert seen == ["operational", "operational", "operational", "down"]


def test_inside_a_window_the_alert_is_recorded_as_suppressed(make_monitor, make_incident, target):
    target.status = 503
    monitor = make_monitor(check={"type": "http", "url": target.base + "/",
                                  "failuresBeforeDown": 1})  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    window = make_incident(
        title="Upgrade",
        message="Planned.",
        monitor_ids=[monitor.pk],
        scheduled_start=now - timedelta(minutes=5),
        scheduled_end=now + timedelta(hours=1),
    )
    assert status_after_run(monitor) == "down"
    alert = Alert.objects.get()
    assert (alert.kind, alert.outcome, alert.window_id) == ("down", "suppressed", window.pk)


def test_the_worker_runs_due_checks_on_their_schedule_and_alerts(make_monitor, target):
    target.status = 500
    with time_machine.travel(T0, tick=False) as clock:
        monitor = make_monitor(check={"type": "http", "url": target.base + "/", "interval": 30})
        call_command("worker", "--once")
        call_command("worker", "--once")  # nothing due: the next run is at T0 + 30 s
        assert target.hits["/"] == 1
        assert Check.objects.get(pk=monitor.pk).next_run_at == T0 + timedelta(seconds=30)
        clock.shift(timedelta(seconds=31))
        call_command("worker", "--once")  # the second failure: down, and the mail goes out
    assert target.hits["/"] == 2
    assert Monitor.objects.get(pk=monitor.pk).status == "down"
    assert Check.objects.get(pk=monitor.pk).next_run_at == T0 + timedelta(seconds=60)
    assert len(mail.outbox) == 1
    assert Alert.objects.get().outcome == "sent"


class Settings:
    failures_before_down = 2
    successes_before_up = 2


@pytest.mark.parametrize(
    ("current", "streak", "count", "successes", "expected"),
    [
        ("operational", "down", 1, 0, "operational"),
        ("operational", "down", 2, 0, "down"),
        ("degraded", "down", 2, 0, "down"),
        ("down", "operational", 1, 1, "down"),
        ("down", "operational", 1, 2, "operational"),  # degraded, then operational
        ("down", "degraded", 2, 2, "degraded"),
        ("operational", "degraded", 1, 5, "operational"),
        ("operational", "degraded", 2, 5, "degraded"),
        ("degraded", "operational", 1, 5, "degraded"),
        ("degraded", "operational", 2, 5, "operational"),
    ],
)
def test_the_confirmation_rule(current, streak, count, successes, expected):
    assert confirmed_status(current, streak, count, successes, Settings) == expected
