"""The monitors' closed days the status page keeps (incidents/uptime/history.py,
``kept_history``): a write that changes none of them — an incident's PATCH —
re-renders ``/`` without reading any monitor's days again, however many
monitors and days there are; every change that alters bars shows on the very
next request, and the page is then byte for byte the one rendered from
scratch.

Nothing tells the kept days of a write: each read asks the database for
every monitor's version (its newest transition) and compares. A write in this
test process is therefore exactly what a write in another worker or host is.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.checks import pings
from incidents.models import Incident, Monitor, MonitorStatusChange
from incidents.pages import fragments
from incidents.pages.views import render_page, status_context
from incidents.uptime import history
from tests import writes

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BAR = re.compile(r'<li class="bar-(\w+)" tabindex="0"><span>([^<]*)</span>')


@pytest.fixture(autouse=True)
def fresh(db):
    cache.clear()
    fragments.forget()
    pings.limiter.counts.clear()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def add_monitors(ids, created=T0 - timedelta(days=100)):
    """Monitors made long ago, each down an hour ten days ago."""
    Monitor.objects.bulk_create(Monitor(id=i, name=f"Service {i}", created_at=created) for i in ids)
    down = T0 - timedelta(days=10)
    MonitorStatusChange.objects.bulk_create(
        MonitorStatusChange(monitor_id=i, from_status=a, to_status=b, created_at=at)
        for i in ids
        for a, b, at in [("operational", "down", down), ("down", "operational", down + HOUR)]
    )


@pytest.fixture
def page(clock, make_incident):
    add_monitors([f"mon_kept{n}" for n in range(4)])
    incident = make_incident(title="Slow answers", monitor_ids=["mon_kept1"], at=T0 - HOUR)
    warm = render()
    assert bars_of(warm, "mon_kept0")[-11][0] == "down"
    return incident


def new_generation():
    """What a committed write does to the stored pages (inside a test's
    transaction the bump after the commit never comes)."""
    writes.committed()


def render(client=None):
    from django.test import Client

    response = (client or Client()).get("/")
    assert response.status_code == 200
    return response.content.decode()


def from_scratch():
    """``/`` as a process that kept nothing renders it."""
    history.forget_kept()
    with fragments.disabled():
        context, _valid_until = status_context(timezone.now())
        return render_page("incidents/status-page.html", context).decode()


def bars_of(html, monitor_id):
    start = html.index(f'class="monitor-name" href="/monitors/{monitor_id}/"')
    return BAR.findall(html[start : html.index('class="uptime-legend"', start)])


def read_again():
    return history.READ["monitors"]


# --- An incident's PATCH reads no monitor's days ----------------------------------------


def test_the_rerender_after_an_incident_patch_reads_no_days_however_many_monitors(
    api, clock, make_incident
):
    seen = {}
    for first, size in [(0, 5), (5, 50)]:
        add_monitors([f"mon_many{n:03d}" for n in range(first, size)])
        new_generation()  # bulk writes send no signal
        if not first:
            incident = make_incident(
                title="Slow answers", monitor_ids=["mon_many000"], at=T0 - HOUR
            )
        render()
        render()  # nothing new: the stored page
        before = read_again()
        title = f"Slow answers for {size}"
        assert api("PATCH", f"/api/incidents/{incident.id}", {"title": title}).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            html = render()
        sql = [query["sql"] for query in queries.captured_queries]
        assert read_again() == before  # no monitor's days read again
        assert not [s for s in sql if "uptime_uptimeday" in s]
        assert len([s for s in sql if "incidents_monitorstatuschange" in s]) == 1  # versions
        assert f"Incidents: {title}." in bars_of(html, "mon_many000")[-1][1]
        assert html.count('<li class="bar-') == size * 90
        seen[size] = len(sql)
    assert seen[5] == seen[50]
    assert html == from_scratch()


def test_only_the_monitor_whose_days_changed_is_read_again(api, page, clock):
    before = read_again()
    clock.shift(timedelta(minutes=1))
    api("PATCH", "/api/monitors/mon_kept2", {"status": "degraded"})
    clock.shift(timedelta(minutes=10))
    html = render()
    assert read_again() == before + 1
    assert bars_of(html, "mon_kept2")[-1][0] == "degraded"
    assert html == from_scratch()


# --- Every change that alters bars shows on the very next request ---------------------


def test_a_monitor_status_change(api, page, clock):
    assert bars_of(render(), "mon_kept2")[-1][0] == "operational"
    assert api("PATCH", "/api/monitors/mon_kept2", {"status": "down"}).status_code == 200
    clock.shift(timedelta(minutes=10))
    html = render()
    state, text = bars_of(html, "mon_kept2")[-1]
    assert state == "down" and "10 minutes down" in text
    assert html == from_scratch()


def test_a_check_result(api, client, page, clock):
    from incidents.models import Check

    check = {"type": "heartbeat", "period": 300, "grace": 60}
    assert api("PATCH", "/api/monitors/mon_kept3", {"check": check}).status_code == 200
    token = Check.objects.get(pk="mon_kept3").ping_token
    render()
    assert client.get(f"/ping/{token}/fail").status_code == 200
    clock.shift(timedelta(minutes=3))
    html = render()
    state, text = bars_of(html, "mon_kept3")[-1]
    assert state == "down" and "3 minutes down" in text
    assert html == from_scratch()


def test_a_transition_recorded_for_a_past_day(page, clock):
    day = T0 - timedelta(days=5)
    spell = [(day, "operational", "down"), (day + 2 * HOUR, "down", "operational")]
    for at, before, after in spell:
        MonitorStatusChange.objects.create(
            monitor_id="mon_kept3", from_status=before, to_status=after, created_at=at
        )
    new_generation()  # a transition alone is no write the page shows
    html = render()
    state, text = bars_of(html, "mon_kept3")[-6]
    assert state == "down" and "120 minutes down" in text
    assert html == from_scratch()


def test_the_day_rolling_over(page, clock):
    clock.move_to(T0.replace(hour=23, minute=59, second=30))
    assert bars_of(render(), "mon_kept0")[-1][1].startswith("20 May 2026 (today, so far)")
    clock.move_to(T0.replace(hour=23, minute=59, second=30) + timedelta(minutes=1))
    html = render()  # no write: the stored page ends at midnight
    bars = bars_of(html, "mon_kept0")
    assert bars[-1][1].startswith("21 May 2026 (today, so far)")
    assert bars[-2][1].startswith("20 May 2026: Operational. 100.00 % uptime")
    assert bars[-12][0] == "down"  # the outage ten days before T0 moved one bar back
    assert html == from_scratch()


def test_a_page_time_zone_change(clock, settings):
    add_monitors(["mon_zone"])
    late = (T0 - timedelta(days=5)).replace(
        hour=22, minute=30
    )  # 15 May, 07:30 on the 16th in Tokyo
    MonitorStatusChange.objects.bulk_create(
        MonitorStatusChange(monitor_id="mon_zone", from_status=a, to_status=b, created_at=at)
        for a, b, at in [("operational", "down", late), ("down", "operational", late + HOUR)]
    )
    assert bars_of(render(), "mon_zone")[-6][1].startswith("15 May 2026: Outage.")
    settings.KAMUSTATUS_TIME_ZONE = "Asia/Tokyo"  # 21:00 there: still the 20th, the same dates
    new_generation()
    html = render()
    bars = bars_of(html, "mon_zone")
    assert bars[-1][1].startswith("20 May 2026 (today, so far)")
    assert bars[-6][1].startswith("15 May 2026: Operational.")
    assert bars[-5][1].startswith("16 May 2026: Outage.")
    assert html == from_scratch()


def test_the_page_settings_time_zone_sets_the_days(clock):
    """The admin's zone (page settings), not only PAGE_TIME_ZONE, is the
    zone of the days, as its help text says."""
    from incidents.appearance.models import PageSettings

    add_monitors(["mon_zone"])
    late = (T0 - timedelta(days=5)).replace(hour=22, minute=30)  # 07:30 the next day in Tokyo
    MonitorStatusChange.objects.bulk_create(
        MonitorStatusChange(monitor_id="mon_zone", from_status=a, to_status=b, created_at=at)
        for a, b, at in [("operational", "down", late), ("down", "operational", late + HOUR)]
    )
    assert bars_of(render(), "mon_zone")[-6][1].startswith("15 May 2026: Outage.")
    row = PageSettings.objects.get_solo()
    row.time_zone = "Asia/Tokyo"
    row.save()  # as the admin saves it: a new generation
    html = render()
    bars = bars_of(html, "mon_zone")
    assert bars[-6][1].startswith("15 May 2026: Operational.")
    assert bars[-5][1].startswith("16 May 2026: Outage.")
    assert html == from_scratch()


def test_a_window_over_a_past_day(page, clock):
    start = (T0 - timedelta(days=2)).replace(hour=8)
    Incident.open_incident(
        title="Planned work",
        message="Planned.",
        monitor_ids=["mon_kept3"],
        scheduled_start=start,
        scheduled_end=start + 2 * HOUR,
    )
    html = render()
    state, text = bars_of(html, "mon_kept3")[-3]
    assert state == "maintenance" and "120 minutes of maintenance" in text
    assert html == from_scratch()


def test_an_incident_resolved(api, page, clock):
    assert "Incidents: Slow answers." in bars_of(render(), "mon_kept1")[-1][1]
    clock.shift(timedelta(days=1))
    api("PATCH", f"/api/incidents/{page.id}", {"status": "resolved", "message": "Fixed."})
    clock.shift(timedelta(days=1))
    html = render()
    texts = [text for _state, text in bars_of(html, "mon_kept1")]
    assert ["Slow answers" in text for text in texts[-3:]] == [True, True, False]
    assert html == from_scratch()


def test_a_monitor_deleted_and_created_again_with_the_same_id(api, page, clock):
    assert api("DELETE", "/api/monitors/mon_kept0").status_code == 204
    response = api("POST", "/api/monitors", {"id": "mon_kept0", "name": "Service again"})
    assert response.status_code == 201
    clock.shift(HOUR)
    html = render()
    bars = bars_of(html, "mon_kept0")
    assert {state for state, _text in bars[:-1]} == {"noData"}  # its past went with it
    assert bars[-1][0] == "operational"
    assert html == from_scratch()


def test_the_kept_days_are_bounded(page, clock, monkeypatch):
    monkeypatch.setattr(history, "KEPT_MONITORS", 2)
    history.forget_kept()
    for _render in range(2):
        new_generation()
        html = render()
        assert len(history._kept) == 2
    assert html == from_scratch()
