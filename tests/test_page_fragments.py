"""The status page's kept pieces (incidents/pages/fragments.py): after a write
only the pieces it changed are rendered again, and the page is byte for byte
the one a render from scratch gives."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from incidents.models import Incident, Monitor, MonitorStatusChange
from incidents.pages import fragments
from incidents.pages.views import render_page, status_context
from incidents.templatetags.page_i18n import page_date
from tests import writes

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def fresh(db):
    writes.committed()
    fragments.forget()


def new_generation():
    """What a committed write does to the stored pages (inside a test's
    transaction a bump waits for a commit that never comes)."""
    writes.committed()


@pytest.fixture
def page(make_monitor, make_incident):
    created = datetime.now(UTC) - timedelta(days=40)
    monitors = [make_monitor(id=f"mon_frag{n}", name=f"Service {n}") for n in range(4)]
    Monitor.objects.update(created_at=created)  # 40 days of bars, an hour down in them
    down_at = datetime.now(UTC) - timedelta(days=3)
    for at, before, after in [
        (down_at, "operational", "down"),
        (down_at + HOUR, "down", "operational"),
    ]:
        MonitorStatusChange.objects.create(
            monitor=monitors[0], from_status=before, to_status=after, created_at=at
        )
    incidents = [
        make_incident(title=f"Trouble {n}", monitor_ids=[monitors[n].id], at=down_at + HOUR)
        for n in range(3)
    ]
    return monitors, incidents


def renders(client, **headers):
    """Which pieces one fresh ``/`` rendered, and its bytes."""
    new_generation()
    before = fragments.RENDERED.copy()
    response = client.get("/", **headers)
    assert response.status_code == 200
    rendered = fragments.RENDERED.copy()
    rendered.subtract(before)
    return {kind: count for kind, count in rendered.items() if count}, response.content


def reference(path="/"):
    """``/`` rendered from scratch, no kept piece used."""
    with fragments.disabled():
        now = datetime.now(UTC)
        context, _valid_until = status_context(now)
        return render_page("incidents/status-page.html", context, here=path)


def test_the_first_render_renders_every_piece(client, page):
    rendered, _body = renders(client)
    # The three incidents' first entries say the same at the same moment: one piece.
    assert rendered == {"systems": 1, "monitor-row": 4, "incident-card": 3, "timeline-entry": 1}


def test_a_patch_to_one_incident_renders_its_card_alone(client, page):
    """The systems section (every group and row) is one kept piece: a write
    that changes no monitor does not even look at the rows."""
    _monitors, incidents = page
    renders(client)
    incidents[1].post_update(message="Still on it.", notify=False)
    rendered, body = renders(client)
    assert rendered == {"incident-card": 1, "timeline-entry": 1}
    assert b"Still on it." in body


def test_a_new_entry_renders_that_entry_alone_however_long_the_timeline(client, page):
    """An outage's updates pile up on one card: each re-render renders the new
    entry, not the whole timeline again."""
    _monitors, incidents = page
    for n in range(20):
        incidents[1].post_update(message=f"Update **{n}**", notify=False)
    renders(client)
    incidents[1].post_update(message="Update **20**", notify=False)
    rendered, body = renders(client)
    assert rendered == {"incident-card": 1, "timeline-entry": 1}
    assert body.count(b"<strong>20</strong>") == 1 and b"<strong>19</strong>" in body
    assert body == reference()


def test_a_monitor_change_renders_its_row_alone(client, page):
    monitors, _incidents = page
    renders(client)
    Monitor.objects.get(pk=monitors[2].id).change(name="Renamed service")
    rendered, body = renders(client)
    # Its row in the systems section, and the card naming it ("Affects: Renamed service").
    assert rendered == {"systems": 1, "monitor-row": 1, "incident-card": 1}
    assert b"Renamed service" in body


def test_a_monitor_in_no_incident_renders_its_row_alone(client, page):
    monitors, incidents = page
    incidents[2].resolve(message="Fixed.", notify=False)
    renders(client)
    Monitor.objects.get(pk=monitors[3].id).change(description="Now described")
    rendered, body = renders(client)
    assert rendered == {"systems": 1, "monitor-row": 1}
    assert b"Now described" in body


def test_each_language_renders_its_own_pieces(client, page):
    renders(client)
    rendered, body = renders(client, HTTP_ACCEPT_LANGUAGE="de")
    assert rendered == {"systems": 1, "monitor-row": 4, "incident-card": 3, "timeline-entry": 1}
    assert b'<html lang="de">' in body
    rendered, _body = renders(client, HTTP_ACCEPT_LANGUAGE="de")
    assert rendered == {}


def test_the_page_is_byte_identical_to_one_rendered_from_scratch(client, page):
    _monitors, incidents = page
    renders(client)
    incidents[0].post_update(status="identified", message="Found it.", notify=False)
    _rendered, body = renders(client)
    assert body == reference()
    _rendered, body = renders(client, HTTP_ACCEPT_LANGUAGE="de")
    with translation.override("de"):
        assert body == reference()


def test_kept_pieces_change_no_query_count(client, page, make_incident):
    """The re-render after a patch asks as many queries as the first render,
    however many incidents the timeline holds."""
    _monitors, incidents = page
    renders(client)
    counts = []
    for n in range(3):
        incidents[0].post_update(message=f"Entry {n}", notify=False)
        make_incident(title=f"More {n}")
        new_generation()
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[-1]


def test_a_kept_piece_never_outlives_what_it_shows(client, page):
    """Resolving moves a card to the past days, without its timeline: a new
    piece, not the kept one."""
    _monitors, incidents = page
    renders(client)
    Incident.objects.get(pk=incidents[0].pk).resolve(message="All good.", notify=False)
    _rendered, body = renders(client)
    assert body == reference()


def test_a_moment_is_written_in_its_own_zone_and_language():
    """The same instant in two zones, or in two languages, is two texts (the
    written dates are kept per value, zone and language)."""
    moment = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
    assert page_date(moment) == "1 Jun 2025, 02:00"
    assert page_date(moment.astimezone(ZoneInfo("Asia/Tokyo"))) == "1 Jun 2025, 11:00"
    with translation.override("de"):
        assert page_date(moment) == "1. Juni 2025, 02:00"
    assert page_date(moment, "day") == "1 Jun 2025"
