"""/history/: every resolved incident and finished window, newest first, by month."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Incident
from incidents.pages.views import HISTORY_PAGE_SIZE, encode_cursor
from tests import writes

T0 = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    writes.committed()


def resolved(title, at, after=timedelta(minutes=30)):
    incident = Incident.open_incident(title=title, message="Looking.", at=at)
    incident.resolve("Fixed.", at=at + after)
    return incident


def window(title, start, end, created=None):
    return Incident.open_incident(
        title=title,
        message="Planned.",
        scheduled_start=start,
        scheduled_end=end,
        at=created or start - timedelta(days=1),
    )


def titles(html):
    return re.findall(r'<a href="/incidents/inc_[a-z0-9]+/">([^<]*)</a>', html)


# --- The domain: what is finished, and when ----------------------------------


def test_finished_holds_resolved_incidents_and_windows_that_are_over(db):
    now = T0
    done = resolved("Done", now - timedelta(days=2))
    Incident.open_incident(title="Still open", message="x", at=now - timedelta(hours=1))
    ended = window("Ended by the clock", now - timedelta(hours=5), now - timedelta(hours=4))
    early = window("Resolved early", now - timedelta(hours=3), now + timedelta(hours=3))
    early.resolve("Done early.", at=now - timedelta(hours=2))
    window("Active", now - timedelta(hours=1), now + timedelta(hours=1))
    window("Upcoming", now + timedelta(days=1), now + timedelta(days=1, hours=1))
    finished = {
        i.title: i.finished_at for i in Incident.objects.finished(now).order_by("-finished_at")
    }
    assert finished == {
        "Done": done.resolved_at,
        "Ended by the clock": ended.window.scheduled_end,
        "Resolved early": now - timedelta(hours=2),
    }


def test_a_window_resolved_after_its_end_finished_at_its_end(db):
    late = window("Closed late", T0 - timedelta(hours=5), T0 - timedelta(hours=4))
    late.resolve("Closing the window.", at=T0)
    [item] = Incident.objects.finished(T0)
    assert item.finished_at == T0 - timedelta(hours=4)


# --- The page -------------------------------------------------------------------


def test_history_is_newest_first_and_grouped_by_month(client, db):
    resolved("May incident", datetime(2025, 5, 20, 8, 0, tzinfo=UTC))
    resolved("June incident", datetime(2025, 6, 2, 8, 0, tzinfo=UTC))
    window(
        "June window",
        datetime(2025, 6, 5, 1, 0, tzinfo=UTC),
        datetime(2025, 6, 5, 2, 0, tzinfo=UTC),
    )
    resolved("April incident", datetime(2025, 4, 30, 23, 0, tzinfo=UTC))
    with time_machine.travel(T0, tick=False):
        html = client.get("/history/").content.decode()
    assert titles(html) == ["June window", "June incident", "May incident", "April incident"]
    months = re.findall(r'<h2 id="month-\d+">([^<]*)</h2>', html)
    assert months == ["June 2025", "May 2025", "April 2025"]
    assert "Maintenance · completed" in html


def test_unfinished_things_are_not_in_history(client, db):
    Incident.open_incident(title="Ongoing", message="x")
    window("Upcoming", T0 + timedelta(days=1), T0 + timedelta(days=2))
    with time_machine.travel(T0, tick=False):
        html = client.get("/history/").content.decode()
    assert titles(html) == []
    assert "No resolved incidents or past maintenance yet." in html


def test_history_pages_cover_everything_once_starting_with_the_most_recent(client, db):
    total = HISTORY_PAGE_SIZE * 2 + 3
    for n in range(total):
        resolved(f"Incident {n:03d}", T0 - timedelta(days=2, hours=n))
    # Two finished at the very same moment: the keyset must not lose either.
    same = T0 - timedelta(days=1)
    resolved("Tie A", same - timedelta(minutes=30))
    resolved("Tie B", same - timedelta(minutes=30))
    seen, url, pages = [], "/history/", 0
    with time_machine.travel(T0, tick=False):
        while url:
            html = client.get(url).content.decode()
            pages += 1
            seen += titles(html)
            match = re.search(r'<a href="([^"]+)" rel="next">Older incidents</a>', html)
            url = match[1].replace("&amp;", "&") if match else None
    assert pages == 3
    assert sorted(seen[:2]) == ["Tie A", "Tie B"]
    assert seen[2:] == [f"Incident {n:03d}" for n in range(total)]


@pytest.mark.parametrize(
    "before",
    [
        "nonsense",
        "99999999999999999999~inc_abc",  # past the year 9999: OverflowError
        "253402300800000000~inc_abc",  # the first microsecond of the year 10000
        "1~inc_abc\n",
        "1~inc_ABC",
        "-1~inc_abc",
        "1~inc_abc~2",
        "%00",
    ],
)
def test_a_malformed_cursor_is_a_404_page(client, db, before):
    response = client.get("/history/", {"before": before})
    assert response.status_code == 404
    assert b"Page not found" in response.content


@pytest.mark.parametrize("before", ["0~inc_abc", "253402300799999999~inc_abc"])
def test_a_cursor_naming_no_item_is_a_404_page(client, db, before):
    """Well-formed, but not one our pages hand out: never a page of its own
    (each would be stored)."""
    resolved("Something", T0 - timedelta(days=1))
    response = client.get("/history/", {"before": before})
    assert response.status_code == 404


@pytest.mark.parametrize("older", [False, True])
def test_history_pages_are_conditional(client, db, older):
    newest = resolved("Something", T0 - timedelta(days=1))
    resolved("Older", T0 - timedelta(days=2))
    path = "/history/"
    if older:
        path += "?before=" + encode_cursor(Incident.objects.finished().get(pk=newest.pk))
    first = client.get(path)
    assert first.status_code == 200
    assert client.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
