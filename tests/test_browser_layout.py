"""Layout and wording that hold for any valid input, in Chromium at a phone's
and a desktop's width: the longest valid unbroken title, name and message
wrap instead of widening the page; windows read in their own words."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browsers import CHROMIUM
from tests.servers import Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed"),
]

LONG = "W" * 200  # the longest valid title or name, with no place to break
WIDTHS = [320, 1280]


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("layout"), workers=1)
    site.prepare()
    site.start()
    now = datetime.now(UTC).replace(microsecond=0)
    status, monitor = site.api("POST", "/monitors", {"name": LONG, "id": "mon_long01"})
    assert status == 201
    site.api("PATCH", "/monitors/mon_long01", {"status": "down"})
    ids = {}
    status, ongoing = site.api(
        "POST",
        "/incidents",
        {"title": LONG, "message": "x" * 3000, "monitorIds": ["mon_long01"]},
    )
    ids["ongoing"] = ongoing["id"]
    status, past = site.api("POST", "/incidents", {"title": "P" * 200, "message": "Broken."})
    site.api("PATCH", f"/incidents/{past['id']}", {"status": "resolved", "message": "Fixed."})
    ids["resolved"] = past["id"]
    for name, start in [("upcoming", now + timedelta(days=2)), ("cancelled", now + timedelta(1))]:
        status, window = site.api(
            "POST",
            "/incidents",
            {
                "title": name.upper() * (200 // len(name)),
                "message": "Planned.",
                "monitorIds": ["mon_long01"],
                "maintenance": True,
                "scheduledStart": stamp(start),
                "scheduledEnd": stamp(start + timedelta(hours=2)),
            },
        )
        assert status == 201, window
        ids[name] = window["id"]
    site.api("PATCH", f"/incidents/{ids['cancelled']}", {"status": "resolved", "message": "Off."})
    site.ids = ids
    yield site
    site.stop()


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def page(browser, request):
    context = browser.new_context(viewport={"width": request.param, "height": 800})
    page = context.new_page()
    page.width = request.param
    yield page
    context.close()


def test_nothing_valid_widens_any_page(site, page):
    paths = ["/", "/history/"] + [f"/incidents/{i}/" for i in site.ids.values()]
    for path in paths:
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width == page.width, f"{path} is {width}px wide at {page.width}px"


def test_windows_read_in_their_own_words(site, page):
    page.goto(site.url + "/")
    upcoming = page.locator(f"article:has(#title-{site.ids['upcoming']}) .badge")
    assert upcoming.inner_text() == "Scheduled"
    page.goto(site.url + f"/incidents/{site.ids['upcoming']}/")
    assert page.locator(".status-label").inner_text() == "Scheduled"
    # The timeline of a window created without a status never says "Investigating".
    assert "Investigating" not in page.locator("main").inner_text()
    page.goto(site.url + f"/incidents/{site.ids['cancelled']}/")
    assert page.locator(".status-label").inner_text() == "Cancelled"
    page.goto(site.url + "/history/")
    cancelled = page.locator(f"li:has(a[href='/incidents/{site.ids['cancelled']}/'])")
    assert re.search(r"\bcancelled\b", cancelled.inner_text())
    assert "completed" not in cancelled.inner_text()


def test_an_outage_looks_like_one(site, page):
    page.goto(site.url + "/")
    card = page.locator(f"article:has(#title-{site.ids['ongoing']})")
    colour = card.evaluate("element => getComputedStyle(element).borderLeftColor")
    resolved = page.locator(f"article:has(#title-{site.ids['resolved']})")
    assert colour != resolved.evaluate("element => getComputedStyle(element).borderLeftColor")
    red, green, blue = map(int, re.findall(r"\d+", colour)[:3])
    assert red > 2 * max(green, blue), colour  # red, not amber
    assert "Last updated" in page.locator("#overall-heading + p").inner_text()
