"""Groups and order in a real browser (Debian's headless Chromium through
Playwright) against two gunicorn workers (issue 17): the operator reorders two
monitors and moves one into a group in the admin's monitors list, by clicks
and typing, and / shows the new order on the very next request; a group folds
without JavaScript and stays folded while the page refreshes itself (htmx)."""

import time

import pytest

from tests.browsers import CHROMIUM, csp_violations, watched_page
from tests.servers import Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install chromium)",
    ),
]

PASSWORD = "a-long-operator-password"  # noqa: S105 (a throwaway test site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(
        tmp_path_factory.mktemp("groups-browser"),
        workers=2,
        PAGE_REFRESH_SECONDS="1",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        ALERT_EMAILS="",
        ALERT_WEBHOOK_URL="",
    )
    site.prepare()
    site.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "o@x.test")
    site.start()
    site.api("POST", "/groups", {"id": "grp_core", "name": "Core services", "position": 3})
    for monitor_id, name, position, group in [
        ("mon_alpha", "Alpha", 1, None),
        ("mon_beta1", "Beta", 2, None),
        ("mon_gamma", "Gamma", 0, "grp_core"),
    ]:
        body = {"id": monitor_id, "name": name, "position": position, "groupId": group}
        site.api("POST", "/monitors", body)
    yield site
    site.stop()


def wait_until(page, condition, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {condition}")


def systems(page):
    """What a visitor reads in Systems: (group summary or None, [monitor names])."""
    return page.evaluate(
        """() => {
          const list = document.querySelector("#monitors-heading").parentElement;
          return [...list.querySelectorAll(":scope > details.group, :scope > ul.monitors")]
            .map((part) => [
              part.matches("details") ? part.querySelector("summary .group-name").textContent
                                      : null,
              [...part.querySelectorAll(".monitor-name")].map((name) => name.textContent),
            ]);
        }"""
    )


def log_in(page, site):
    page.goto(site.url + "/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def type_into(locator, text):
    locator.click()
    locator.press("Control+a")
    locator.press_sequentially(text)


def test_the_operator_reorders_and_groups_in_the_admin_and_the_page_follows_at_once(site, browser):
    with watched_page(browser, viewport={"width": 1280, "height": 900}) as page:
        page.goto(site.url + "/")
        assert systems(page) == [[None, ["Alpha", "Beta"]], ["Core services", ["Gamma"]]]

        log_in(page, site)
        page.click("text=Monitors")
        page.wait_for_selector("#changelist-form")
        rows = page.locator("#result_list tbody tr")
        assert [row.locator("th a").inner_text() for row in rows.all()] == [
            "Alpha",
            "Beta",
            "Gamma",
        ]
        beta = rows.filter(has_text="mon_beta1")
        alpha = rows.filter(has_text="mon_alpha")
        type_into(beta.locator("input[name$=-position]"), "0")
        alpha.locator("select[name$=-group]").select_option(label="Core services")
        type_into(alpha.locator("input[name$=-position]"), "7")
        page.click("#changelist-form input[name=_save]")
        page.wait_for_load_state("load")
        assert "were changed successfully" in page.locator("ul.messagelist").inner_text()

        # The very next request, whichever worker answers it.
        for _ in range(4):
            page.goto(site.url + "/")
            assert systems(page) == [[None, ["Beta"]], ["Core services", ["Gamma", "Alpha"]]]
        status, _headers, _body = site.get("/api/v2/components.json")
        assert status == 200
        assert page.problems == [] and csp_violations(page) == []


def test_a_group_folds_without_javascript_and_stays_folded_across_refreshes(site, browser):
    with watched_page(browser, java_script_enabled=False) as page:
        page.goto(site.url + "/")
        group = page.locator("details#group-grp_core")
        assert group.get_attribute("open") is not None
        page.click("details#group-grp_core > summary")
        assert group.evaluate("details => details.open") is False
        assert not page.locator("details#group-grp_core .monitor-name").first.is_visible()

    with watched_page(browser) as page:
        page.goto(site.url + "/")
        page.click("details#group-grp_core > summary")
        assert page.locator("details#group-grp_core").evaluate("d => d.open") is False
        # Something changes: the refreshed part comes in with the group open.
        site.api("PATCH", "/monitors/mon_gamma", {"status": "down"})
        group_state = page.locator("details#group-grp_core")
        wait_until(page, lambda: "group-down" in (group_state.get_attribute("class") or ""))
        assert group_state.evaluate("d => d.open") is False
        page.click("details#group-grp_core > summary")
        assert group_state.evaluate("d => d.open") is True
        assert page.problems == [] and csp_violations(page) == []
