"""/incidents/<id>/: a permalink with the whole timeline; a 404 page otherwise."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Incident
from tests import writes

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    writes.committed()


def test_the_permalink_shows_the_whole_timeline_newest_first(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    make_monitor(id="mon_def456", name="Database")
    incident = Incident.open_incident(
        title="Elevated error rates",
        message="Investigating errors.",
        monitor_ids=["mon_def456", "mon_abc123"],
        at=T0,
    )
    incident.post_update("identified", "Cause found.", at=T0 + timedelta(minutes=10))
    incident.resolve("All good again.", at=T0 + timedelta(minutes=40))
    response = client.get(f"/incidents/{incident.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Elevated error rates · Kamustatus status</title>" in html
    assert html.index("All good again.") < html.index("Cause found.") < html.index("Investigating")
    assert "Affects</dt>\n    <dd>Database, API</dd>" in html
    assert '<time datetime="2025-06-01T02:40:00Z"' in html  # resolved


def upgrade_window():
    """A one-hour window from T0, scheduled a day before."""
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        return Incident.open_incident(
            title="Upgrade",
            message="Planned.",
            scheduled_start=T0,
            scheduled_end=T0 + timedelta(hours=1),
        )


def test_a_window_permalink_follows_the_clock(client, db):
    window = upgrade_window()
    url = f"/incidents/{window.id}/"
    with time_machine.travel(T0 - timedelta(seconds=1), tick=False):
        html = client.get(url).content.decode()
        assert '<dd class="status-label">Scheduled</dd>' in html
        assert "Investigating" not in html  # a window never reads as an incident
    with time_machine.travel(T0, tick=False):
        assert b'<dd class="status-label">In progress</dd>' in client.get(url).content
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert b'<dd class="status-label">Completed</dd>' in client.get(url).content


def test_a_window_resolved_before_it_began_reads_cancelled(client, db):
    window = upgrade_window()
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        window.resolve("Not needed after all.")
    for moment in (T0 - timedelta(hours=1), T0 + timedelta(days=1)):
        with time_machine.travel(moment, tick=False):
            html = client.get(f"/incidents/{window.id}/").content.decode()
            assert '<dd class="status-label">Cancelled</dd>' in html
            assert "Completed" not in html and "Resolved" not in html


def test_an_unknown_incident_gets_the_404_page(client, db):
    response = client.get("/incidents/inc_doesnotexist/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert '<main id="main"' in html


def test_a_malformed_incident_id_gets_the_404_page(client, db):
    response = client.get("/incidents/..%2F..%2Fetc/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_a_deleted_incident_is_gone_at_once(client, db):
    incident = Incident.open_incident(title="Mistake", message="Oops.")
    url = f"/incidents/{incident.id}/"
    assert client.get(url).status_code == 200
    incident.delete_with_audit()
    assert client.get(url).status_code == 404
    assert b"Mistake" not in client.get("/").content


def test_favicon_ico_leads_to_the_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].startswith("/static/incidents/favicon.")
