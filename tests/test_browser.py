"""The status page in a real browser: Debian's headless Chromium through
Playwright. No console errors, no CSP violations, live refresh through htmx,
times in the visitor's time zone, and no serious accessibility violations; the
language picker without JavaScript, local times in the page's language."""

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browsers import (
    CHROMIUM,
    csp_violations,
    serious_accessibility_violations,
    watched_page,
)
from tests.servers import Site

TIMEZONE = "Asia/Kolkata"  # UTC+05:30 all year: a shift no one could mistake for UTC

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("browser"), workers=2, PAGE_REFRESH_SECONDS="1")
    site.prepare()
    site.manage("loaddemo")
    site.start()
    yield site
    site.stop()


@pytest.fixture
def page(browser):
    with watched_page(browser, timezone_id=TIMEZONE, locale="en-GB") as page:
        yield page


def wait_until(page, condition, timeout=15):
    """Poll from here: Playwright's wait_for_function evaluates strings with
    eval(), which the page's CSP rightly refuses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition() if callable(condition) else page.evaluate(condition):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {condition}")


def test_the_page_loads_cleanly_under_its_csp(site, page):
    response = page.goto(site.url + "/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof htmx") == "object", "htmx loaded from this server"
    assert page.locator("h1#overall-heading").inner_text().strip() == "Degraded performance"
    assert page.problems == []
    assert csp_violations(page) == []


def test_other_pages_load_cleanly_too(site, page):
    incident_id = re.search(r'href="/incidents/(inc_\w+)/"', site.get("/")[2])[1]
    for path in ["/history/", f"/incidents/{incident_id}/", "/feed.rss"]:
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
    assert page.problems == [], page.problems
    assert csp_violations(page) == []
    # The 404 page: its own status is the only thing Chromium may complain about.
    missing = site.url + "/incidents/inc_nothere/"
    response = page.goto(missing)
    page.wait_for_load_state("networkidle")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert [p for p in page.problems if f"'url': '{missing}'" not in p] == []
    assert csp_violations(page) == []


def test_times_are_shown_in_the_visitors_time_zone_with_utc_kept(site, page):
    page.goto(site.url + "/")
    first = page.locator("main time[datetime]").first
    wait_until(
        page, "document.querySelector('main time[datetime]').classList.contains('local-time')"
    )
    utc = datetime.fromisoformat(first.get_attribute("datetime").replace("Z", "+00:00"))
    local = utc.astimezone(ZoneInfo(TIMEZONE))
    text = first.inner_text()
    assert local.strftime("%H:%M") in text
    assert "UTC" not in text
    assert first.get_attribute("title") == utc.strftime("%-d %b %Y, %H:%M") + " UTC"
    # The shift is real: the UTC wall-clock time is not what is shown.
    assert (utc + timedelta(0)).strftime("%H:%M") not in text


def test_a_new_incident_appears_without_a_reload(site, page):
    page.goto(site.url + "/")
    page.wait_for_load_state("networkidle")
    page.evaluate("window.__notReloaded = true")
    status, created = site.api(
        "POST",
        "/incidents",
        {"title": "Appears by itself", "message": "Pushed while the page was open."},
    )
    assert status == 201
    card = page.locator(f"#title-{created['id']}")
    card.wait_for(timeout=15_000)
    assert card.inner_text() == "Appears by itself"
    assert page.evaluate("window.__notReloaded") is True
    # Times in the swapped-in part are local as well.
    new_time = page.locator(f"article:has(#title-{created['id']}) time").first
    wait_until(page, lambda: "local-time" in (new_time.get_attribute("class") or ""))
    assert "UTC" not in new_time.inner_text()
    assert page.problems == []
    assert csp_violations(page) == []


def test_a_refresh_that_changes_nothing_leaves_the_page_and_focus_alone(site, page):
    page.goto(site.url + "/")
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => {
        window.__polls = 0;
        window.__swaps = 0;
        document.addEventListener("htmx:afterRequest", () => window.__polls++);
        document.addEventListener("htmx:afterSwap", () => window.__swaps++);
    }"""
    )
    link = page.locator("#live a").first
    link.focus()
    wait_until(page, "window.__polls >= 3")
    assert page.evaluate("window.__swaps") == 0
    assert page.evaluate("document.activeElement.textContent") == link.inner_text()
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(site, browser, scheme):
    context = browser.new_context(timezone_id=TIMEZONE, locale="en-GB", color_scheme=scheme)
    page = context.new_page()
    try:
        for path in ["/", "/history/"]:
            page.goto(site.url + path)
            page.wait_for_load_state("networkidle")
            assert serious_accessibility_violations(page) == [], path
    finally:
        context.close()


def test_the_page_works_on_a_phone(site, browser):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, "nothing sticks out sideways on a phone"
    finally:
        context.close()


# --- Languages ------------------------------------------------------------------


def test_the_language_picker_works_without_javascript(site, browser):
    with watched_page(browser, java_script_enabled=False, locale="de-DE") as page:
        page.goto(site.url + "/history/")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("h1").inner_text() == "Störungsverlauf"

        page.get_by_role("navigation", name="Sprache").get_by_role("link", name="日本語").click()
        page.wait_for_url(site.url + "/history/")
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.locator("h1").inner_text() == "インシデント履歴"

        page.get_by_role("link", name="現在のステータス").first.click()
        page.wait_for_url(site.url + "/")
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.get_by_role("heading", name="システム").is_visible()
        assert page.get_by_role("button", name="登録する").is_visible()

        page.get_by_role("navigation", name="言語").get_by_role("link", name="English").click()
        page.wait_for_url(site.url + "/")
        assert page.get_by_role("heading", name="Systems").is_visible()
        assert page.problems == []


def test_times_are_localised_in_the_pages_language(site, browser):
    """With JavaScript on, times are rewritten in the visitor's time zone in
    the page's language, not the browser's."""
    with watched_page(browser, locale="en-US", timezone_id="Asia/Tokyo") as page:
        page.context.add_cookies([{"name": "django_language", "value": "de", "url": site.url}])
        page.goto(site.url + "/")
        assert page.locator("html").get_attribute("lang") == "de"
        first = page.locator("time.local-time").first
        first.wait_for()
        assert "GMT+9" in first.inner_text() or "JST" in first.inner_text()
        months = (
            "Jan.",
            "Feb.",
            "März",
            "Apr.",
            "Mai",
            "Juni",
            "Juli",
            "Aug.",
            "Sept.",
            "Okt.",
            "Nov.",
            "Dez.",
        )
        assert any(month in first.inner_text() for month in months), first.inner_text()
        assert page.problems == []
