"""Results are kept CHECK_RESULTS_DAYS days, then folded into hourly
aggregates (count, failures, latency p50/p95) kept for a year; the purge is
a duty of the worker."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from incidents.checks.results import purge_old_results
from incidents.models import CheckHourly, CheckResult

pytestmark = [pytest.mark.django_db]

NOW = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)


def add_results(monitor, hour, latencies, failures=0):
    for index, latency in enumerate(latencies):
        CheckResult.objects.create(
            monitor=monitor,
            checked_at=hour + timedelta(seconds=10 * index),
            status="down" if index < failures else "operational",
            response_time_ms=None if index < failures else latency,
            error="status 500" if index < failures else None,
        )


def test_old_results_become_hourly_aggregates(make_monitor, settings):
    settings.CHECK_RESULTS_DAYS = 30
    monitor = make_monitor(check={"type": "http", "url": "https://api.example.com/"})
    old_hour = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)  # 42 days before NOW
    add_results(monitor, old_hour, [0] * 2 + list(range(1, 101)), failures=2)
    add_results(monitor, old_hour + timedelta(hours=1), [50, 60])
    recent = NOW - timedelta(days=29)
    add_results(monitor, recent, [70])
    assert purge_old_results(NOW) == 104
    assert list(CheckResult.objects.values_list("checked_at", flat=True)) == [recent]
    hours = list(CheckHourly.objects.order_by("hour").values_list(
        "hour", "count", "failures", "p50_ms", "p95_ms"))  # fmt: skip
    assert hours == [
        (old_hour, 102, 2, 50, 95),
        (old_hour + timedelta(hours=1), 2, 0, 50, 60),
    ]
    assert purge_old_results(NOW) == 0  # nothing left to fold


def test_aggregates_older_than_a_year_are_dropped(make_monitor):
    monitor = make_monitor()
    CheckHourly.objects.create(monitor=monitor, hour=NOW - timedelta(days=366), count=1,
                               failures=0)  # fmt: skip
    kept = CheckHourly.objects.create(monitor=monitor, hour=NOW - timedelta(days=300), count=1,
                                      failures=1)  # fmt: skip
    purge_old_results(NOW)
    assert list(CheckHourly.objects.all()) == [kept]


def test_the_worker_purges(make_monitor, settings):
    settings.CHECK_RESULTS_DAYS = 1
    monitor = make_monitor()
    add_results(monitor, NOW - timedelta(days=3), [10, 20])
    with time_machine.travel(NOW, tick=False):
        call_command("worker", "--once")
    assert not CheckResult.objects.exists()
    assert CheckHourly.objects.get().count == 2
