"""RSS and Atom feeds of incidents, each item with its updates."""

import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from incidents.cache import generation
from incidents.models import Incident

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    cache.set(generation.KEY, secrets.token_hex(8), None)


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
    assert item.findtext("title") == "Maintenance: Upgrade (Investigating)"
    assert "Scheduled 1 Jun 2025, 02:00 – 1 Jun 2025, 03:00 UTC" in item.findtext("description")
