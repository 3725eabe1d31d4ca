"""The language picker in a real browser with JavaScript off: Chromium asks
for German (its locale), the visitor picks Japanese by a link, and every page
after that is Japanese until they pick again."""

import pytest

from tests.browsers import CHROMIUM, watched_page
from tests.servers import Site

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
    site = Site(tmp_path_factory.mktemp("languages"), workers=2)
    site.prepare()
    site.manage("loaddemo")
    site.start()
    yield site
    site.stop()


def heading(page):
    return page.locator("#overall-heading").inner_text().strip()


def test_the_picker_works_without_javascript(site, browser):
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
