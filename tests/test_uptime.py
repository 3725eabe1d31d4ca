"""Uptime history to the second (CONTRACT "Uptime"): days in the page's time
zone, windows as maintenance whatever the state, no data before the monitor
existed, today up to now; the roll-ups give the numbers the transitions give,
and the endpoint answers in the contract's shape and errors."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from incidents.models import Incident, Monitor, MonitorStatusChange
from incidents.uptime import history
from incidents.uptime.models import UptimeDay

pytestmark = pytest.mark.django_db

DAY = 86_400
BERLIN = ZoneInfo("Europe/Berlin")


def at(*args, zone=UTC):
    return datetime(*args, tzinfo=zone)


def days_of(monitor_id, days, now):
    monitor = Monitor.objects.get(pk=monitor_id)
    return history.history([monitor], days, now)[monitor_id]


def seconds(day):
    return {
        state: day.seconds(state)
        for state in ("operational", "degraded", "down", "maintenance", "noData")
    }


def report(monitor_id, status, moment):
    with time_machine.travel(moment, tick=False):
        Monitor.objects.get(pk=monitor_id).report_status(status)


def window(monitor_ids, start, end, created=None):
    with time_machine.travel(created or start - timedelta(days=1), tick=False):
        return Incident.open_incident(
            title="Planned work",
            message="Planned.",
            monitor_ids=monitor_ids,
            scheduled_start=start,
            scheduled_end=end,
        )


@pytest.fixture
def monitor(make_monitor):
    with time_machine.travel(at(2026, 5, 1), tick=False):
        return make_monitor(id="mon_uptime1")


def test_a_transition_at_235959_is_one_second_of_that_day(monitor):
    report(monitor.id, "down", at(2026, 5, 10, 23, 59, 59))
    report(monitor.id, "operational", at(2026, 5, 11, 0, 10))
    before, after, today = days_of(monitor.id, 3, at(2026, 5, 12, 12))
    assert before.date.isoformat() == "2026-05-10"
    assert seconds(before) == {
        "operational": DAY - 1,
        "degraded": 0,
        "down": 1,
        "maintenance": 0,
        "noData": 0,
    }
    assert seconds(after)["down"] == 600 and seconds(after)["operational"] == DAY - 600
    assert before.uptime == (DAY - 1) / DAY
    assert today.is_today and seconds(today)["operational"] == 12 * 3600


def test_a_transition_at_midnight_belongs_to_the_new_day(monitor):
    report(monitor.id, "degraded", at(2026, 5, 11, 0, 0, 0))
    report(monitor.id, "operational", at(2026, 5, 11, 1, 0, 0))
    before, after, _today = days_of(monitor.id, 3, at(2026, 5, 12, 6))
    assert seconds(before)["degraded"] == 0 and seconds(before)["operational"] == DAY
    assert seconds(after)["degraded"] == 3600
    assert after.uptime == 1.0  # degraded counts as up


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 10, 26), 24)],
    ids=["spring-forward", "fall-back", "ordinary"],
)
def test_days_follow_the_page_zone_across_dst(settings, make_monitor, day, hours):
    settings.KAMUSTATUS_TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(at(2026, 3, 1), tick=False):
        make_monitor(id="mon_berlin1")
    # Down from 01:00 to 04:00 local, across the clock change.
    report("mon_berlin1", "down", at(*day, 1, zone=BERLIN))
    report("mon_berlin1", "operational", at(*day, 4, zone=BERLIN))
    found = days_of("mon_berlin1", 3, at(*day, zone=BERLIN) + timedelta(days=2, hours=1))
    target = found[0]
    assert target.date.isoformat() == "{:04d}-{:02d}-{:02d}".format(*day)
    assert sum(seconds(target).values()) == hours * 3600
    # 01:00–04:00 on the wall clock is 2 h in spring, 4 h in autumn.
    assert seconds(target)["down"] == {23: 2, 25: 4, 24: 3}[hours] * 3600


def test_a_window_covering_part_of_a_down_period_is_maintenance(monitor):
    report(monitor.id, "down", at(2026, 5, 10, 10))
    report(monitor.id, "operational", at(2026, 5, 10, 14))
    window([monitor.id], at(2026, 5, 10, 9), at(2026, 5, 10, 12))
    day, _today = days_of(monitor.id, 2, at(2026, 5, 11, 1))
    assert seconds(day) == {
        "operational": DAY - 5 * 3600,
        "degraded": 0,
        "down": 2 * 3600,
        "maintenance": 3 * 3600,
        "noData": 0,
    }


def test_overlapping_windows_count_once(monitor, make_monitor):
    window([monitor.id], at(2026, 5, 10, 8), at(2026, 5, 10, 11))
    window([monitor.id], at(2026, 5, 10, 10), at(2026, 5, 10, 12))
    resolved = window([monitor.id], at(2026, 5, 10, 20), at(2026, 5, 10, 23))
    with time_machine.travel(at(2026, 5, 10, 21), tick=False):
        resolved.resolve("Done early.")  # covered 20:00–21:00 only
    day, _today = days_of(monitor.id, 2, at(2026, 5, 11, 1))
    assert seconds(day)["maintenance"] == 5 * 3600
    assert seconds(day)["operational"] == DAY - 5 * 3600


def test_a_cancelled_window_and_one_for_another_monitor_cover_nothing(monitor, make_monitor):
    with time_machine.travel(at(2026, 5, 1), tick=False):
        other = make_monitor(id="mon_other1")
    window([other.id], at(2026, 5, 10, 8), at(2026, 5, 10, 11))
    cancelled = window([monitor.id], at(2026, 5, 10, 8), at(2026, 5, 10, 11))
    with time_machine.travel(at(2026, 5, 9, 12), tick=False):
        cancelled.resolve("Cancelled.")
    day, _today = days_of(monitor.id, 2, at(2026, 5, 11, 1))
    assert seconds(day)["maintenance"] == 0


def test_a_monitor_created_mid_day_has_no_data_before(make_monitor):
    with time_machine.travel(at(2026, 5, 10, 15, 30), tick=False):
        make_monitor(id="mon_late01", status="down")
    report("mon_late01", "operational", at(2026, 5, 10, 16))
    earlier, day, today = days_of("mon_late01", 3, at(2026, 5, 11, 0, 0, 30))
    assert seconds(earlier)["noData"] == DAY
    assert earlier.uptime is None and earlier.worst == "noData"
    assert seconds(day) == {
        "operational": 8 * 3600,
        "degraded": 0,
        "down": 1800,
        "maintenance": 0,
        "noData": 15 * 3600 + 1800,
    }
    assert day.worst == "down"
    assert seconds(today)["operational"] == 30


def test_today_is_counted_up_to_now(monitor):
    report(monitor.id, "down", at(2026, 5, 12, 9))
    (today,) = days_of(monitor.id, 1, at(2026, 5, 12, 9, 15, 7))
    assert seconds(today) == {
        "operational": 9 * 3600,
        "degraded": 0,
        "down": 15 * 60 + 7,
        "maintenance": 0,
        "noData": 0,
    }
    assert today.down_minutes == 16


def test_a_monitor_deleted_and_created_again_starts_afresh(monitor, make_monitor):
    report(monitor.id, "down", at(2026, 5, 5, 10))
    days_of(monitor.id, 10, at(2026, 5, 8))  # roll-ups stored
    assert UptimeDay.objects.filter(monitor_id=monitor.id).exists()
    with time_machine.travel(at(2026, 5, 8, 12), tick=False):
        Monitor.objects.get(pk=monitor.id).delete_with_audit()
        Monitor.create_monitor(id=monitor.id, name="Again")
    found = days_of(monitor.id, 5, at(2026, 5, 9, 12))
    assert [seconds(day)["noData"] for day in found[:3]] == [DAY, DAY, DAY]
    assert seconds(found[3]) == {
        "operational": 12 * 3600,
        "degraded": 0,
        "down": 0,
        "maintenance": 0,
        "noData": 12 * 3600,
    }


def test_closed_days_are_stored_once_and_recomputed_when_a_window_changes_them(monitor):
    report(monitor.id, "down", at(2026, 5, 10, 10))
    report(monitor.id, "operational", at(2026, 5, 10, 11))
    days_of(monitor.id, 5, at(2026, 5, 12, 12))
    row = UptimeDay.objects.get(monitor_id=monitor.id, date="2026-05-10")
    assert row.down_seconds == 3600
    assert not UptimeDay.objects.filter(date="2026-05-12").exists()  # today is not stored
    # A window entered afterwards for that past day (an operator's record).
    window([monitor.id], at(2026, 5, 10, 9), at(2026, 5, 10, 12), created=at(2026, 5, 12, 12))
    day = days_of(monitor.id, 5, at(2026, 5, 12, 13))[2]
    assert seconds(day)["maintenance"] == 3 * 3600 and seconds(day)["down"] == 0
    assert UptimeDay.objects.get(monitor_id=monitor.id, date="2026-05-10").down_seconds == 0


def test_a_transition_recorded_late_recomputes_its_day(monitor):
    days_of(monitor.id, 5, at(2026, 5, 12, 12))
    with time_machine.travel(at(2026, 5, 12, 12), tick=False):
        MonitorStatusChange.objects.create(
            monitor_id=monitor.id,
            from_status="operational",
            to_status="down",
            created_at=at(2026, 5, 11, 23),
        )
        MonitorStatusChange.objects.create(
            monitor_id=monitor.id,
            from_status="down",
            to_status="operational",
            created_at=at(2026, 5, 11, 23, 30),
        )
    day = days_of(monitor.id, 5, at(2026, 5, 12, 13))[3]
    assert seconds(day)["down"] == 1800


def test_rebuild_gives_the_same_numbers(monitor, make_monitor):
    report(monitor.id, "down", at(2026, 5, 3, 10))
    report(monitor.id, "degraded", at(2026, 5, 4, 10))
    report(monitor.id, "operational", at(2026, 5, 6, 1))
    window([monitor.id], at(2026, 5, 5, 22), at(2026, 5, 6, 3))
    now = at(2026, 5, 20, 8)
    before = [day.to_dict() for day in days_of(monitor.id, 30, now)]
    UptimeDay.objects.update(down_seconds=12345)  # wrong numbers, with a matching basis
    with time_machine.travel(now, tick=False):
        call_command("rebuild_uptime", verbosity=0)
    assert UptimeDay.objects.exclude(down_seconds=12345).count() == UptimeDay.objects.count()
    assert [day.to_dict() for day in days_of(monitor.id, 30, now)] == before
    # ... and the same as computing without any roll-up at all.
    UptimeDay.objects.all().delete()
    fresh = history.history([Monitor.objects.get(pk=monitor.id)], 30, now, store=False)
    assert [day.to_dict() for day in fresh[monitor.id]] == before


def test_the_worker_duty_stores_the_closed_days(monitor):
    from incidents.uptime.tasks import close_uptime_days

    with time_machine.travel(at(2026, 5, 12, 0, 0, 5), tick=False):
        close_uptime_days()
    assert UptimeDay.objects.filter(monitor_id=monitor.id).count() == 11  # May 1–11


# --- The endpoint ---------------------------------------------------------------------


def test_the_endpoint_answers_in_the_contracts_shape(api, monitor):
    report(monitor.id, "down", at(2026, 5, 10, 12))
    report(monitor.id, "operational", at(2026, 5, 10, 18))
    with time_machine.travel(at(2026, 5, 12, 6), tick=False):
        response = api("GET", f"/api/monitors/{monitor.id}/uptime?days=3")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["monitorId", "timeZone", "days", "uptime"]
    assert body["monitorId"] == monitor.id and body["timeZone"] == "Etc/UTC"
    assert body["days"][0] == {
        "date": "2026-05-10",
        "operationalSeconds": 18 * 3600,
        "degradedSeconds": 0,
        "downSeconds": 6 * 3600,
        "maintenanceSeconds": 0,
        "noDataSeconds": 0,
        "uptime": 0.75,
    }
    assert [day["date"] for day in body["days"]] == ["2026-05-10", "2026-05-11", "2026-05-12"]
    assert body["days"][2]["operationalSeconds"] == 6 * 3600
    assert body["uptime"] == (18 + 24 + 6) * 3600 / ((18 + 24 + 6 + 6) * 3600)


def test_the_endpoint_defaults_to_90_days(api, monitor):
    with time_machine.travel(at(2026, 5, 12, 6), tick=False):
        body = api("GET", f"/api/monitors/{monitor.id}/uptime").json()
    assert len(body["days"]) == 90 and body["days"][-1]["date"] == "2026-05-12"
    assert body["days"][0]["noDataSeconds"] == DAY and body["days"][0]["uptime"] is None


@pytest.mark.parametrize("days", ["0", "366", "abc", "1.5", "-1", " 9", "", "٣"])
def test_bad_days_are_a_validation_error(api, monitor, days):
    response = api("GET", f"/api/monitors/{monitor.id}/uptime?days={days}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {"days": "must be a whole number from 1 to 365"}


def test_unknown_parameters_and_monitors(api, monitor):
    response = api("GET", f"/api/monitors/{monitor.id}/uptime?day=3")
    assert response.status_code == 400 and "day" in response.json()["error"]["fields"]
    response = api("GET", "/api/monitors/mon_nothere/uptime")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api("GET", f"/api/monitors/{monitor.id}/uptime", key=None).status_code == 401
    response = api("POST", f"/api/monitors/{monitor.id}/uptime")
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


# --- Cost that does not grow with history -------------------------------------------


def make_history(monitor_ids, per_monitor, now):
    """``per_monitor`` transitions for each monitor, spread over 90 days."""
    start = now - timedelta(days=89)
    step = timedelta(days=89) / per_monitor
    rows = []
    for monitor_id in monitor_ids:
        state = "operational"
        for index in range(per_monitor):
            new = "down" if state == "operational" else "operational"
            rows.append(
                MonitorStatusChange(
                    monitor_id=monitor_id,
                    from_status=state,
                    to_status=new,
                    created_at=start + step * index,
                )
            )
            state = new
        Monitor.objects.filter(pk=monitor_id).update(status=state)
    MonitorStatusChange.objects.bulk_create(rows, batch_size=2000)


def queries_for(call):
    """The queries of a first read (which writes the roll-ups) and of the next."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for _read in range(2):
        with CaptureQueriesContext(connection) as captured:
            call()
        counts.append(len(captured.captured_queries))
    return counts


@pytest.mark.parametrize("what", ["endpoint", "status page"])
def test_queries_do_not_grow_with_history(api, client, make_monitor, fresh_cache, what):
    from django.core.cache import cache

    from incidents.appearance.page import forget

    counts = []
    for size, prefix in [(10, "small"), (10_000, "big")]:
        forget()  # each size starts as a fresh process: settings not read yet
        Monitor.objects.all().delete()
        now = datetime.now(UTC).replace(microsecond=0)
        with time_machine.travel(now - timedelta(days=100), tick=False):
            ids = [make_monitor(id=f"mon_{prefix}{n}").id for n in range(3)]
        make_history(ids, size, now - timedelta(hours=1))

        def call(ids=ids):
            cache.clear()  # the page rendered afresh each time
            if what == "endpoint":
                assert api("GET", f"/api/monitors/{ids[0]}/uptime").status_code == 200
            else:
                assert client.get("/").status_code == 200

        api("GET", "/api/monitors/mon_none/uptime")  # the key's last use is recorded
        counts.append(queries_for(call))
    assert counts[0] == counts[1]


# --- What visitors see ---------------------------------------------------------------


def bar_texts(html):
    import re

    return re.findall(r'<li class="bar-(\w+)" tabindex="0"><span>([^<]*)</span>', html)


def test_the_status_page_shows_90_bars_with_their_words(
    client, monitor, make_incident, fresh_cache
):
    report(monitor.id, "down", at(2026, 5, 10, 12))
    with time_machine.travel(at(2026, 5, 10, 12, 5), tick=False):
        incident = make_incident(title="Database trouble", monitor_ids=[monitor.id])
    report(monitor.id, "operational", at(2026, 5, 10, 12, 30))
    with time_machine.travel(at(2026, 5, 10, 13), tick=False):
        incident.resolve("Fixed.")
    with time_machine.travel(at(2026, 5, 12, 6), tick=False):
        html = client.get("/").content.decode()
    bars = bar_texts(html)
    assert len(bars) == 90
    assert bars[0] == ("noData", "12 Feb 2026: No data. No data.")
    assert bars[-3] == (
        "down",
        "10 May 2026: Outage. 97.91 % uptime, 30 minutes down. Incidents: Database trouble.",
    )
    assert bars[-1] == (
        "operational",
        "12 May 2026 (today, so far): Operational. 100.00 % uptime, 0 minutes down.",
    )
    assert f'href="/monitors/{monitor.id}/"' in html
    assert "99.81 % uptime over 90 days" in html  # 1,800 s down in 11 days and 6 h


def test_maintenance_and_no_data_bars_are_told_apart(client, make_monitor, fresh_cache):
    with time_machine.travel(at(2026, 5, 10, 12), tick=False):
        make_monitor(id="mon_newish1")
    window(["mon_newish1"], at(2026, 5, 11, 0), at(2026, 5, 12, 0))
    with time_machine.travel(at(2026, 5, 12, 6), tick=False):
        bars = bar_texts(client.get("/").content.decode())
    assert [state for state, _text in bars[-4:]] == [
        "noData",
        "operational",
        "maintenance",
        "operational",
    ]
    assert bars[-2][1] == "11 May 2026: Maintenance. Under maintenance."


def test_the_stored_page_lasts_until_midnight_or_the_refresh(
    client, monitor, fresh_cache, settings
):
    with time_machine.travel(at(2026, 5, 12, 23, 59, 0), tick=False):
        first = client.get("/").content
    with time_machine.travel(at(2026, 5, 12, 23, 59, 59), tick=False):
        assert client.get("/").content == first  # stored: nothing moved
    with time_machine.travel(at(2026, 5, 13, 0, 0, 1), tick=False):
        after = client.get("/").content.decode()
    assert bar_texts(after)[-1][1].startswith("13 May 2026 (today, so far)")
    # While a monitor is down its numbers move: kept for the refresh at most.
    report(monitor.id, "down", at(2026, 5, 13, 1))
    with time_machine.travel(at(2026, 5, 13, 1, 0, 30), tick=False):
        down = client.get("/").content.decode()
    assert "1 minute down" in bar_texts(down)[-1][1]
    with time_machine.travel(at(2026, 5, 13, 1, 0, 50), tick=False):
        assert client.get("/").content.decode() == down
    with time_machine.travel(
        at(2026, 5, 13, 1, 0, 31) + timedelta(seconds=settings.KAMUSTATUS_UPTIME_REFRESH_SECONDS),
        tick=False,
    ):
        assert "2 minutes down" in bar_texts(client.get("/").content.decode())[-1][1]


def test_the_monitor_page(client, monitor, make_incident, fresh_cache):
    from incidents.models import Check, CheckResult

    report(monitor.id, "down", at(2026, 5, 11, 12))
    report(monitor.id, "operational", at(2026, 5, 11, 12, 36))
    with time_machine.travel(at(2026, 5, 11, 12, 5), tick=False):
        make_incident(title="Slow answers", monitor_ids=[monitor.id]).resolve("Gone.")
    with time_machine.travel(at(2026, 5, 12, 6), tick=False):
        html = client.get(f"/monitors/{monitor.id}/").content.decode()
        missing = client.get("/monitors/mon_nothere/")
    assert '<h1 id="monitor-heading">Monitor 1</h1>' in html
    assert "<dt>24 hours</dt><dd>97.50 %</dd>" in html  # 36 minutes down
    assert "<dt>7 days</dt><dd>99.60 %</dd>" in html  # ... in 6 days and 6 hours
    assert "<dt>365 days</dt><dd>99.77 %</dd>" in html  # ... in 11 days and 6 hours
    assert len(bar_texts(html)) == 90
    assert "Slow answers" in html
    assert "Response times" not in html  # not a checked monitor
    assert missing.status_code == 404

    Check.objects.create(monitor_id=monitor.id, type="http", url="https://example.com/")
    CheckResult.objects.bulk_create(
        CheckResult(
            monitor_id=monitor.id,
            checked_at=at(2026, 5, 12, 5) + timedelta(minutes=minute),
            status="operational",
            response_time_ms=100 + minute,
        )
        for minute in range(0, 60, 5)
    )
    with time_machine.travel(at(2026, 5, 12, 7), tick=False):
        html = client.get(f"/monitors/{monitor.id}/").content.decode()
    assert "Last 24 hours: median 130 ms, fastest 100 ms, slowest 155 ms." in html
    assert '<polyline class="chart-line" points="' in html
    assert "Last 30 days:" in html
    assert "style=" not in html and "<script>" not in html


def test_the_uptime_badge(client, monitor, fresh_cache):
    import xml.etree.ElementTree as ET

    report(monitor.id, "down", at(2026, 5, 11, 12))
    report(monitor.id, "operational", at(2026, 5, 11, 13, 12))
    with time_machine.travel(at(2026, 5, 12, 0), tick=False):
        thirty = client.get(f"/badge/{monitor.id}/uptime.svg")
        one = client.get(f"/badge/{monitor.id}/uptime.svg?days=2")
        bad = client.get(f"/badge/{monitor.id}/uptime.svg?days=0")
        missing = client.get("/badge/mon_nothere/uptime.svg")
    title = ET.fromstring(thirty.content).find("{http://www.w3.org/2000/svg}title").text
    assert title == "uptime: 99.54 %"  # 72 minutes of 11 days
    assert (
        ET.fromstring(one.content).find("{http://www.w3.org/2000/svg}title").text
        == "uptime: 95.00 %"
    )
    assert thirty["Content-Type"].startswith("image/svg+xml")
    assert bad.status_code == 400 and missing.status_code == 404


def test_the_demo_data_carries_90_days_of_history(client, fresh_cache):
    from io import StringIO

    call_command("loaddemo", stdout=StringIO())
    found = history.history(Monitor.objects.filter(pk__startswith="mon_"), 90)
    worst = {monitor_id: {day.worst for day in days} for monitor_id, days in found.items()}
    assert worst["mon_abc123"] == {"operational", "down"}
    assert worst["mon_def456"] == {"operational", "degraded", "maintenance"}
    assert "down" in worst["mon_mail01"] and "degraded" in worst["mon_cdn001"]
    database = history.Day.total(found["mon_def456"])
    assert database.down == 0 and database.maintenance == 2 * 3600  # down inside the window
    assert database.no_data == 0
    bars = bar_texts(client.get("/").content.decode())
    assert "Incidents: Elevated error rates on the API." in " ".join(t for _s, t in bars)
