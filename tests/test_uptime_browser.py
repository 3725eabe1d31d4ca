"""The uptime bars in Chromium: visible at a desktop's and a phone's width (90
and 30 of them), no CSP violation, no serious accessibility violation, and a
bar's words shown on focus and read back; the monitor page too."""

import re

import pytest

from tests.browsers import (
    CHROMIUM,
    csp_violations,
    serious_accessibility_violations,
    watched_page,
)
from tests.servers import Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("uptime-browser"), workers=1)
    site.prepare()
    site.manage("loaddemo")  # 90 days of history for the demo monitors
    site.start()
    yield site
    site.stop()


@pytest.mark.parametrize(("width", "shown"), [(1280, 90), (390, 30)])
def test_the_bars_show_and_say_what_they_are(site, browser, width, shown):
    with watched_page(browser, viewport={"width": width, "height": 900}) as page:
        page.goto(site.url + "/")
        page.wait_for_load_state("networkidle")
        row = page.locator("li.monitor", has_text="Database")
        bars = row.locator(".uptime-bars > li")
        assert bars.count() == 90
        visible = [bars.nth(index).is_visible() for index in range(90)]
        assert sum(visible) == shown and all(visible[-shown:])
        box = bars.nth(89).bounding_box()
        assert box["width"] >= 2 and box["height"] >= 20
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The day of the window: maintenance, its words shown on keyboard focus.
        bar = row.locator(".bar-maintenance").first
        tip = bar.locator("span")
        if width == 1280:
            assert tip.bounding_box()["width"] <= 1
            bar.focus()
            assert tip.bounding_box()["width"] > 100
            # The database went down for 40 minutes inside the 2-hour window.
            assert re.fullmatch(
                r"\d{1,2} \w{3} \d{4}: Maintenance\. 100\.00 % uptime, 0 minutes down\. "
                r"120 minutes of maintenance\.",
                tip.inner_text(),
            ), tip.inner_text()
        legend = row.locator(".uptime-legend").inner_text()
        assert "uptime over 90 days" in legend
        assert ("30 days ago" in legend) == (width == 390)
        assert csp_violations(page) == []
        assert page.problems == []
        assert serious_accessibility_violations(page) == []


def test_the_monitor_page_from_its_row(site, browser):
    with watched_page(browser, viewport={"width": 1280, "height": 900}) as page:
        page.goto(site.url + "/")
        page.get_by_role("link", name="API", exact=True).click()
        page.wait_for_load_state("networkidle")
        assert page.url == site.url + "/monitors/mon_abc123/"
        assert page.locator("h1").inner_text() == "API"
        periods = page.locator(".uptime-periods").inner_text()
        for label in ("24 hours", "7 days", "30 days", "90 days", "365 days"):
            assert label in periods
        assert page.locator(".uptime-bars > li").count() == 90
        assert "Elevated error rates on the API" in page.locator("main").inner_text()
        assert csp_violations(page) == []
        assert serious_accessibility_violations(page) == []
        # A checked monitor has its response-time charts (none recorded yet).
        page.goto(site.url + "/monitors/mon_cron01/")
        assert "Response times" in page.locator("main").inner_text()
        assert csp_violations(page) == []
