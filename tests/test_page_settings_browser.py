"""Page settings in a real browser (Debian's headless Chromium) against
gunicorn with two workers: an operator renames the page, picks an accent
colour and uploads a logo by clicking and typing in the admin, and the very
next request to ``/`` — whichever worker answers — shows them."""

import re

import pytest

from tests.browsers import CHROMIUM, csp_violations, watched_page
from tests.servers import Site
from tests.test_page_settings import PNG

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed"),
]

PASSWORD = "a-long-operator-password"  # noqa: S105 (a throwaway test site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(
        tmp_path_factory.mktemp("page-settings"),
        workers=2,
        PAGE_NAME="Acme",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        ALERT_EMAILS="",
        ALERT_WEBHOOK_URL="",
    )
    site.prepare()
    site.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "o@x.test")
    site.start()
    yield site
    site.stop()


def every_worker_shows(site, text, times=8):
    """``times`` fresh connections (both workers answer), each showing ``text``."""
    return [text in site.get("/")[2] for _ in range(times)]


def test_renaming_and_recolouring_in_the_admin_shows_on_the_next_request(site, browser, tmp_path):
    # Both workers hold the stored page with the old name.
    assert every_worker_shows(site, "Acme status") == [True] * 8
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    with watched_page(browser, viewport={"width": 1280, "height": 900}) as page:
        page.goto(site.url + "/admin/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("text=Page settings")
        page.fill("#id_name", "Globex")
        page.fill("#id_accent_colour", "#ffff00")  # unreadable on white
        page.click("input[name=_save]")
        assert "contrast of" in page.locator(".errorlist").first.inner_text()
        page.fill("#id_accent_colour", "#6b2fa3")
        page.set_input_files("#id_logo_upload", str(logo))
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success")
        # The admin is named after the page at once too.
        assert page.locator("#site-name a").first.inner_text() == "Globex"

        assert every_worker_shows(site, "Globex status") == [True] * 8
        page.goto(site.url + "/")
        assert page.locator(".site-name").inner_text().strip() == "Globex status"
        accent = page.evaluate(
            "getComputedStyle(document.querySelector('.site-header')).borderTopColor"
        )
        assert accent == "rgb(107, 47, 163)"
        logo_size = page.evaluate(
            "(() => { const i = document.querySelector('.site-logo');"
            " return [i.complete, i.naturalWidth]; })()"
        )
        assert logo_size == [True, 1]
        # In dark mode the accent is a lighter, readable one.
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate(
            "getComputedStyle(document.querySelector('.site-header')).borderTopColor"
        )
        assert dark != accent and re.fullmatch(r"rgb\(\d+, \d+, \d+\)", dark)
        assert csp_violations(page) == []
        assert page.problems == []
