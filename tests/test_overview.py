"""The overall state, computed from monitors and open incidents."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents.overview import (
    DEGRADED,
    MAINTENANCE,
    MAJOR_OUTAGE,
    OPERATIONAL,
    PARTIAL_OUTAGE,
    Overview,
    monitor_state,
)


@pytest.fixture
def four_monitors(make_monitor):
    return [make_monitor(name=f"Service {n}") for n in range(4)]


def test_all_operational(four_monitors):
    overview = Overview.build()
    assert (overview.state, overview.label) == (OPERATIONAL, "All systems operational")


def test_an_open_incident_alone_degrades(four_monitors, make_incident):
    make_incident()
    assert Overview.build().state == DEGRADED


def test_a_resolved_incident_does_not(four_monitors, make_incident):
    make_incident().resolve("Fixed.")
    assert Overview.build().state == OPERATIONAL


def test_a_degraded_monitor_degrades(four_monitors):
    four_monitors[0].report_status("degraded")
    assert Overview.build().state == DEGRADED


def test_one_monitor_down_of_four_is_a_partial_outage(four_monitors):
    four_monitors[0].report_status("down")
    assert Overview.build().state == PARTIAL_OUTAGE


def test_half_down_is_a_major_outage(four_monitors):
    four_monitors[0].report_status("down")
    four_monitors[1].report_status("down")
    assert Overview.build().state == MAJOR_OUTAGE


def test_an_active_window_means_under_maintenance(four_monitors, make_incident):
    now = timezone.now()
    make_incident(
        title="Upgrade",
        status="monitoring",
        monitor_ids=[four_monitors[0].id],
        scheduled_start=now - timedelta(minutes=5),
        scheduled_end=now + timedelta(hours=1),
    )
    four_monitors[0].report_status("down")  # down, but covered by the window
    overview = Overview.build()
    assert overview.state == MAINTENANCE
    assert overview.label == "Under maintenance"
    assert [monitor_state(m) for m in overview.monitors][0] == "maintenance"
    assert len(overview.active_windows) == 1 and not overview.ongoing_incidents


def test_an_upcoming_window_changes_nothing_until_it_starts(four_monitors, make_incident):
    now = timezone.now()
    make_incident(
        title="Upgrade",
        monitor_ids=[four_monitors[0].id],
        scheduled_start=now + timedelta(hours=1),
        scheduled_end=now + timedelta(hours=2),
    )
    overview = Overview.build()
    assert overview.state == OPERATIONAL and len(overview.upcoming_windows) == 1
    with time_machine.travel(now + timedelta(hours=1, seconds=1)):
        assert Overview.build().state == MAINTENANCE
    with time_machine.travel(now + timedelta(hours=2)):
        assert Overview.build().state == OPERATIONAL


def test_a_real_outage_outranks_maintenance(four_monitors, make_incident):
    now = timezone.now()
    make_incident(
        title="Upgrade",
        monitor_ids=[four_monitors[0].id],
        scheduled_start=now - timedelta(minutes=5),
        scheduled_end=now + timedelta(hours=1),
    )
    four_monitors[1].report_status("down")
    assert Overview.build().state == PARTIAL_OUTAGE


def test_the_overview_reads_every_list_s_timelines_together(
    four_monitors, make_incident, django_assert_num_queries
):
    """Ongoing incidents, windows in force and upcoming ones: one query each,
    then one for all their timeline entries and one for all their monitor
    links (the status page re-reads this after every write), with each
    timeline whole and in order."""
    now = timezone.now()
    for n in range(2):
        at = now - timedelta(hours=2 - n)  # Trouble 1 is the newer
        make_incident(title=f"Trouble {n}", monitor_ids=[four_monitors[n].id], at=at).post_update(
            status="identified", message=f"Found {n}.", notify=False
        )
    for start, end in [(-5, 60), (60, 120)]:
        make_incident(
            title=f"Window {start}",
            status="monitoring",
            monitor_ids=[four_monitors[2].id, four_monitors[3].id],
            scheduled_start=now + timedelta(minutes=start),
            scheduled_end=now + timedelta(minutes=end),
        )
    with django_assert_num_queries(6):  # the monitors, three lists, entries, links
        overview = Overview.build(now)
        shown = [
            (incident.title, [u.message for u in incident.timeline()],
             [link.monitor_id for link in incident.monitor_links.all()])
            for incident in overview.ongoing_incidents + overview.active_windows
            + overview.upcoming_windows
        ]  # fmt: skip
    assert shown == [
        ("Trouble 1", ["We are investigating.", "Found 1."], [four_monitors[1].id]),
        ("Trouble 0", ["We are investigating.", "Found 0."], [four_monitors[0].id]),
        ("Window -5", ["We are investigating."], [four_monitors[2].id, four_monitors[3].id]),
        ("Window 60", ["We are investigating."], [four_monitors[2].id, four_monitors[3].id]),
    ]
