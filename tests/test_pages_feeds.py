"""RSS and Atom feeds of incidents, each item with its updates."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Incident
from tests import writes

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    writes.committed()


@pytest.fixture
def incident(db):
    incident = Incident.open_incident(title="API errors", message="Investigating errors.", at=T0)
    incident.post_update("identified", "A bad deploy.", at=T0 + timedelta(minutes=5))
    incident.resolve("Rolled back & fixed.", at=T0 + timedelta(minutes=20))
    return incident


def test_the_rss_feed_has_each_incident_with_its_updates(client, incident):
    response = client.get("/feed.rss")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    [item] = ET.fromstring(response.content).iter("item")
    assert item.findtext("title") == "Incident: API errors (Resolved)"
    assert item.findtext("link") == f"http://testserver/incidents/{incident.id}/"
    description = item.findtext("description")
    assert "Investigating errors." in description
    assert "A bad deploy." in description
    assert "Rolled back &amp; fixed." in description  # HTML inside, escaped once more by XML
    assert description.index("Rolled back") < description.index("A bad deploy.")


def test_the_atom_feed_has_each_incident_with_its_updates(client, incident):
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    [entry] = ET.fromstring(response.content).iter(ATOM + "entry")
    assert entry.findtext(ATOM + "title") == "Incident: API errors (Resolved)"
    assert entry.findtext(ATOM + "updated") == "2025-06-01T02:20:00+00:00"
    summary = entry.findtext(ATOM + "summary")
    assert "Investigating errors." in summary and "A bad deploy." in summary


def test_feeds_show_a_new_update_at_once_and_are_conditional(client, incident):
    first = client.get("/feed.rss")
    assert client.get("/feed.rss", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    incident.post_update("monitoring", "Watching closely.")
    again = client.get("/feed.rss", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200
    assert b"Watching closely." in again.content


def test_maintenance_windows_are_in_the_feed(client, db):
    Incident.open_incident(
        title="Upgrade",
        message="Planned.",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=1),
        at=T0 - timedelta(days=1),
    )
    [item] = ET.fromstring(client.get("/feed.rss").content).iter("item")
    # Over by the clock: in the window's own words, never an incident status.
    assert item.findtext("title") == "Maintenance: Upgrade (Completed)"
    description = re.sub(r"<[^>]+>", "", item.findtext("description"))
    assert "Scheduled 1 Jun 2025, 02:00 – 03:00 UTC" in description  # the date once


def test_a_feed_reader_sees_permalink_ids_past_dates_and_no_incident_words_on_windows(
    client, incident
):
    """What a real feed parser makes of the Atom and RSS feeds, with an
    upcoming window (its start in the future) and a cancelled one."""
    import feedparser

    now = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(now - timedelta(days=2), tick=False):
        upcoming = Incident.open_incident(
            title="Database upgrade",
            message="Planned.",
            scheduled_start=now + timedelta(days=3),
            scheduled_end=now + timedelta(days=3, hours=2),
        )
        cancelled = Incident.open_incident(
            title="Network work",
            message="Planned.",
            status="monitoring",
            scheduled_start=now + timedelta(days=1),
            scheduled_end=now + timedelta(days=1, hours=1),
        )
    with time_machine.travel(now - timedelta(days=1), tick=False):
        cancelled.resolve("Not needed after all.")
    with time_machine.travel(now, tick=False):
        feeds = [client.get(path).content for path in ("/feed.atom", "/feed.rss")]
    for content in feeds:
        parsed = feedparser.parse(content)
        assert not parsed.bozo, parsed.bozo_exception
        entries = {entry.title: entry for entry in parsed.entries}
        assert set(entries) == {
            "Maintenance: Database upgrade (Scheduled)",
            "Maintenance: Network work (Cancelled)",
            "Incident: API errors (Resolved)",
        }
        for item, title in [
            (upcoming, "Maintenance: Database upgrade (Scheduled)"),
            (cancelled, "Maintenance: Network work (Cancelled)"),
            (incident, "Incident: API errors (Resolved)"),
        ]:
            entry = entries[title]
            # The id is an absolute IRI, the entry's permalink: no reader
            # resolves a bare inc_… against the feed's address.
            assert entry.id == f"http://testserver/incidents/{item.id}/"
            assert entry.link == entry.id
        if parsed.version.startswith("atom"):
            feed_updated = datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC)
            # The latest actual change (the cancellation), not the upcoming
            # window's start in three days.
            assert feed_updated == now - timedelta(days=1)
            for entry in parsed.entries:
                published = datetime(*entry.published_parsed[:6], tzinfo=UTC)
                updated = datetime(*entry.updated_parsed[:6], tzinfo=UTC)
                assert published <= updated <= now
        else:
            for entry in parsed.entries:
                assert datetime(*entry.published_parsed[:6], tzinfo=UTC) <= now
