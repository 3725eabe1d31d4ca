"""Checks in the admin, in Chromium: an operator gives a monitor an HTTP
check, sees the API's own messages for a bad setting, runs "Check now" and
reads the result; a heartbeat shows its ping URL with the curl line."""

import os
import re

import pytest

from tests.browsers import CHROMIUM
from tests.check_peers import http_target
from tests.servers import Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed"),
]

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("checks-admin"), workers=2, CHECKS_ALLOW_PRIVATE="1")
    site.prepare()
    site.env["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
    site.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "o@example.com")
    site.start()
    yield site
    site.stop()


@pytest.fixture
def admin_page(site, browser):
    page = browser.new_page()
    page.goto(site.url + "/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    yield page
    page.close()


def test_an_operator_sets_up_an_http_check_and_checks_it_now(site, admin_page, tmp_path):
    page = admin_page
    with http_target() as target:
        page.goto(site.url + "/admin/incidents/monitor/add/")
        page.fill("#id_name", "Website")
        page.select_option("#id_check_type", "http")
        page.fill("#id_check_url", target.base + "/status/503")
        page.fill("#id_check_interval", "5")
        page.click("input[name=_save]")
        # The API's own sentence, on the field.
        assert page.locator(".field-check_interval .errorlist").inner_text() == (
            "must be a whole number from 10 to 86400"
        )
        page.fill("#id_check_interval", "30")
        page.fill("#id_check_failures_before_down", "1")
        page.click("input[name=_save]")
        assert "was added successfully" in page.locator(".messagelist").inner_text()

        page.locator("tr", has_text="Website").locator("input.action-select").check()
        page.select_option("select[name=action]", "check_now")
        page.click("button[name=index]")
        assert "Website: down" in page.locator(".messagelist").inner_text()
        assert "status 503" in page.locator(".messagelist").inner_text()
        assert target.hits["/status/503"] == 1

        page.get_by_role("link", name="Website", exact=True).click()
        assert "status 503" in page.locator(".field-last_result").inner_text()
        assert "down" in page.locator(".field-recent_results").inner_text()
        assert page.locator("#id_check_type").input_value() == "http"
        assert page.locator("#id_status").input_value() == "down"
        page.screenshot(path=str(tmp_path / "admin-check.png"), full_page=True)
        if os.environ.get("KEEP_SCREENSHOTS"):
            page.screenshot(path=os.environ["KEEP_SCREENSHOTS"] + "/admin-check.png",
                            full_page=True)  # fmt: skip


def test_a_heartbeat_shows_its_ping_url_and_curl_line(site, admin_page):
    page = admin_page
    page.goto(site.url + "/admin/incidents/monitor/add/")
    page.fill("#id_name", "Nightly backup")
    page.select_option("#id_check_type", "heartbeat")
    page.fill("#id_check_period", "86400")
    page.click("input[name=_continue]")
    ping = page.locator(".field-ping_url").inner_text()
    assert "/ping/" in ping
    assert "curl -fsS -m 10 --retry 3 " in ping
    token_path = re.search(r"/ping/[A-Za-z0-9_-]+", ping)[0]
    status, _headers, body = site.get(token_path)
    assert (status, body) == (200, "OK\n")
