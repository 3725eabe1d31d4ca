"""The public status page at /: what a visitor reads."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Incident, Monitor
from tests import writes

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
T1 = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    writes.committed()


def page(client, url="/", **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def overall(html):
    """The words of the overall banner."""
    match = re.search(r'<h1 id="overall-heading">.*?</span>(.*?)</h1>', html, re.S)
    assert match, "no overall banner"
    return match[1].strip()


def monitor_row(html, name):
    match = re.search(
        r'<li class="monitor monitor-(\w+)"><div class="monitor-head">'
        r'<a class="monitor-name" href="/monitors/[a-z0-9_]+/">'
        + re.escape(name)
        + r"</a>.*?</span>([^<]*)</span></div>",
        html,
        re.S,
    )
    assert match, f"no row for monitor {name}"
    return match[1], match[2].strip()


@pytest.fixture
def monitors(make_monitor):
    return [make_monitor(id=f"mon_svc{n}", name=f"Service {n}") for n in range(4)]


# --- The overall banner -------------------------------------------------------


def test_all_systems_operational(client, monitors):
    assert overall(page(client)) == "All systems operational"


def test_a_degraded_monitor_degrades(client, monitors):
    monitors[0].report_status(Monitor.DEGRADED)
    html = page(client)
    assert overall(html) == "Degraded performance"
    assert monitor_row(html, "Service 0") == ("degraded", "Degraded performance")


def test_an_unresolved_incident_alone_degrades(client, monitors, make_incident):
    make_incident(title="Slow logins")
    assert overall(page(client)) == "Degraded performance"


def test_one_monitor_down_of_four_is_a_partial_outage(client, monitors):
    monitors[0].report_status(Monitor.DOWN)
    html = page(client)
    assert overall(html) == "Partial outage"
    assert monitor_row(html, "Service 0") == ("down", "Outage")


def test_half_the_monitors_down_is_a_major_outage(client, monitors):
    monitors[0].report_status(Monitor.DOWN)
    monitors[1].report_status(Monitor.DOWN)
    assert overall(page(client)) == "Major outage"


def test_an_active_window_alone_is_under_maintenance(client, monitors, make_incident):
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        make_incident(
            title="Database upgrade", monitor_ids=["mon_svc1"], scheduled_start=T0, scheduled_end=T1
        )
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert overall(page(client)) == "Under maintenance"


def test_the_state_is_in_words_as_well_as_colour(client, monitors):
    monitors[0].report_status(Monitor.DOWN)
    html = page(client)
    assert 'class="overall state-partial_outage"' in html
    assert "Partial outage" in html


# --- Maintenance windows by the clock -----------------------------------------


@pytest.fixture
def window(client, monitors, make_incident):
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        return make_incident(
            title="Database upgrade",
            status="monitoring",
            message="Upgrading the database to a new major version.",
            monitor_ids=["mon_svc1", "mon_svc2"],
            scheduled_start=T0,
            scheduled_end=T1,
        )


def banner(html):
    return re.findall(r'<section class="maintenance-banner".*?</section>', html, re.S)


def test_before_its_start_a_window_is_listed_as_upcoming(client, window):
    with time_machine.travel(T0 - SECOND, tick=False):
        html = page(client)
    assert overall(html) == "All systems operational"
    assert banner(html) == []
    assert "Upcoming maintenance" in html
    assert "Database upgrade" in html
    assert monitor_row(html, "Service 1") == ("operational", "Operational")


def test_inside_a_window_the_banner_names_it_its_monitors_and_its_end(client, window):
    with time_machine.travel(T0, tick=False):
        html = page(client)
    [shown] = banner(html)
    assert "Maintenance in progress:" in shown
    assert "Database upgrade" in shown
    assert "Affected: Service 1, Service 2" in shown
    assert 'until <time datetime="2025-06-01T04:00:00Z"' in shown
    assert "Upcoming maintenance" not in html
    assert monitor_row(html, "Service 1") == ("maintenance", "Under maintenance")
    assert monitor_row(html, "Service 2") == ("maintenance", "Under maintenance")
    assert monitor_row(html, "Service 0") == ("operational", "Operational")


def test_a_covered_monitor_that_is_down_still_shows_under_maintenance(client, window):
    Monitor.objects.get(pk="mon_svc1").report_status(Monitor.DOWN)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = page(client)
    assert monitor_row(html, "Service 1") == ("maintenance", "Under maintenance")
    assert overall(html) == "Under maintenance"


def test_after_its_end_the_window_is_in_recent_history(client, window):
    with time_machine.travel(T1, tick=False):
        html = page(client)
    assert banner(html) == []
    assert overall(html) == "All systems operational"
    assert monitor_row(html, "Service 1") == ("operational", "Operational")
    recent = html.split('id="recent-heading"')[1]
    assert "Database upgrade" in recent
    assert '<span class="badge badge-window-completed">Completed</span>' in recent


def test_a_window_resolved_early_ends_at_once(client, window):
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert len(banner(page(client))) == 1
        window.resolve("Finished early.")
        html = page(client)
    assert banner(html) == []
    assert monitor_row(html, "Service 1") == ("operational", "Operational")
    recent = html.split('id="recent-heading"')[1]
    assert "Database upgrade" in recent
    assert "Finished early." in recent


def test_the_page_follows_the_clock_across_both_edges_without_any_write(client, window):
    """The stored page is valid only until the next edge."""
    with time_machine.travel(T0 - SECOND, tick=False):
        assert banner(page(client)) == []
    with time_machine.travel(T0, tick=False):
        assert len(banner(page(client))) == 1
    with time_machine.travel(T1 - SECOND, tick=False):
        assert len(banner(page(client))) == 1
    with time_machine.travel(T1, tick=False):
        assert banner(page(client)) == []


# --- Incidents and their timelines --------------------------------------------


def test_an_unresolved_incident_shows_its_whole_timeline_newest_first(client, monitors):
    incident = Incident.open_incident(
        title="Checkout errors",
        message="First: we are looking into it.",
        monitor_ids=["mon_svc0"],
        at=T0,
    )
    incident.post_update("identified", "Second: a bad deploy.", at=T0 + timedelta(minutes=5))
    incident.post_update("monitoring", "Third: rolled back.", at=T0 + timedelta(minutes=9))
    html = page(client)
    ongoing = html.split('id="incidents-heading"')[1].split('id="monitors-heading"')[0]
    assert "Checkout errors" in ongoing
    assert "Affects: Service 0" in ongoing
    assert ongoing.index("Third") < ongoing.index("Second") < ongoing.index("First")
    assert f'href="/incidents/{incident.id}/"' in ongoing


def test_resolved_incidents_stay_on_the_page_for_fourteen_days(client, monitors):
    with time_machine.travel(T0, tick=False):
        incident = Incident.open_incident(title="Brief blip", message="Looking.")
        incident.resolve("Fixed.")
    with time_machine.travel(T0 + timedelta(days=14) - SECOND, tick=False):
        html = page(client)
        assert "Brief blip" in html.split('id="recent-heading"')[1]
    with time_machine.travel(T0 + timedelta(days=14), tick=False):
        html = page(client)
        assert "Brief blip" not in html
        assert "No incidents or maintenance in the past 14 days." in html


def test_every_monitor_is_listed_with_its_state(client, monitors):
    html = page(client)
    for n in range(4):
        assert monitor_row(html, f"Service {n}") == ("operational", "Operational")


def test_an_empty_page_says_so(client, db):
    html = page(client)
    assert overall(html) == "All systems operational"
    assert "No systems are monitored yet." in html


# --- Times ----------------------------------------------------------------------


def test_times_are_machine_readable_utc_with_utc_visible(client, monitors):
    Incident.open_incident(title="Timed", message="At a known time.", at=T0)
    html = page(client)
    assert (
        '<time datetime="2025-06-01T02:00:00Z" title="1 Jun 2025, 02:00 UTC">'
        "1 Jun 2025, 02:00 UTC</time>" in html
    )


def test_the_page_loads_its_scripts_from_this_server_with_no_inline_script(client, monitors):
    html = page(client)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts, "htmx and the local-time script are expected"
    for tag in scripts:
        assert re.search(r'src="/static/[^"]+\.js"', tag), tag
    assert "style=" not in html
    assert "<style" not in html
    assert '"includeIndicatorStyles":false' in html


# --- Live refresh with htmx -------------------------------------------------------


def test_the_changing_part_asks_to_be_refreshed_every_30_seconds(client, monitors):
    html = page(client)
    assert re.search(r'<div id="live"[^>]*hx-get="/"[^>]*hx-trigger="every 30s"', html)


def test_an_htmx_request_gets_only_the_changing_part(client, monitors, make_incident):
    make_incident(title="Partial test")
    response = client.get("/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"')
    assert "<html" not in html and "<header" not in html
    assert "Partial test" in html
    assert "Degraded performance" in html
    assert "HX-Request" in response["Vary"]


def test_a_full_page_and_the_partial_are_stored_apart(client, monitors):
    full = client.get("/")
    partial = client.get("/", HTTP_HX_REQUEST="true")
    again = client.get("/")
    assert full["ETag"] != partial["ETag"]
    assert again.content == full.content
    assert b"<html" in again.content


def test_an_htmx_history_restore_gets_the_whole_page(client, monitors):
    html = page(client, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in html


# --- Escaping ---------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


@pytest.mark.parametrize("payload", [SCRIPT, IMG])
def test_user_text_is_shown_as_text_everywhere(client, make_monitor, payload):
    make_monitor(id="mon_evil1", name="Monitor " + payload)
    ongoing = Incident.open_incident(
        title="Title " + payload, message="Message " + payload, monitor_ids=["mon_evil1"]
    )
    ongoing.post_update("identified", "Update " + payload)
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        window = Incident.open_incident(
            title="Window " + payload,
            message="Window message " + payload,
            monitor_ids=["mon_evil1"],
            scheduled_start=T0,
            scheduled_end=T1,
        )
    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&quot;")
    with time_machine.travel(T0, tick=False):
        pages = [
            page(client),
            page(client, HTTP_HX_REQUEST="true"),
            page(client, f"/incidents/{ongoing.id}/"),
            page(client, f"/incidents/{window.id}/"),
        ]
        window.resolve("Done " + payload)
        pages.append(page(client, "/history/"))
        feeds = [page(client, "/feed.rss"), page(client, "/feed.atom")]
    for html in pages:
        assert payload not in html
        assert escaped in html
    for xml in feeds:
        assert payload not in xml
    assert "<script>alert" not in "".join(pages + feeds)
    assert "<img src=x" not in "".join(pages + feeds)
