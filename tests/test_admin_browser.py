"""The operators' admin in a real browser (Debian's headless Chromium through
Playwright), against gunicorn: every flow an operator needs during an outage,
through clicks and typing only, each step read back through the API or the
page. The page's time zone is Europe/Berlin, the browser's New York: what
is typed is read in the page's zone, whatever the operator's machine says."""

import json
import urllib.error
import urllib.request

import pytest

from tests.browsers import CHROMIUM, RECORD_CSP_VIOLATIONS, csp_violations
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
MONITOR_IN_USE = "Monitor mon_billing is referenced by an unresolved incident"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(
        tmp_path_factory.mktemp("admin-browser"),
        workers=2,
        PAGE_NAME="Acme Status",
        PAGE_TIME_ZONE="Europe/Berlin",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        ALERT_EMAILS="",
        ALERT_WEBHOOK_URL="",
    )
    site.prepare()
    site.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "o@x.test")
    site.start()
    for monitor_id, name in [("mon_billing", "Billing"), ("mon_website", "Website")]:
        site.api("POST", "/monitors", {"id": monitor_id, "name": name})
    yield site
    site.stop()


def call(site, method, path, body=None, key=None):
    """The API's answer as (status, JSON or None), errors included."""
    request = urllib.request.Request(
        site.url + "/api" + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"x-api-key": key or site.api_key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def find_incident(site, title):
    _status, incidents = call(site, "GET", "/incidents?limit=100")
    (found,) = [incident for incident in incidents if incident["title"] == title]
    return found


@pytest.fixture(scope="module")
def context(browser, site):
    context = browser.new_context(
        timezone_id="America/New_York", locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    page.goto(site.url + "/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    yield page
    page.close()


def save(page):
    page.click("input[name=_save]")
    page.wait_for_load_state("load")


def open_incident(page, site, incident_id):
    page.goto(site.url + "/admin/incidents/incident/")
    page.click(f"text={find_title(site, incident_id)}")
    page.wait_for_selector("#incident_form")


def find_title(site, incident_id):
    return call(site, "GET", f"/incidents/{incident_id}")[1]["title"]


def success_message(page):
    """The admin's success message; fails fast (with the page's errors) when none."""
    found = page.locator("ul.messagelist li.success")
    return found.inner_text(timeout=5_000) if found.count() else ""


def error_text(page):
    errors = page.locator(".errornote, .errorlist, ul.messagelist li.error")
    return " ".join(errors.all_inner_texts())


@pytest.fixture(scope="module")
def outage(site, context):
    """An incident opened in the admin (the first flow), shared by the next."""
    page = context.new_page()
    page.goto(site.url + "/admin/incidents/incident/")
    page.click("text=Add incident")
    # The picker's label sits with its widget, before it on the same line.
    label = page.locator(".field-monitors label[for=id_monitors]").bounding_box()
    picker = page.locator(".field-monitors .selector").bounding_box()
    assert label["x"] + label["width"] <= picker["x"]
    assert picker["y"] <= label["y"] <= picker["y"] + picker["height"]
    page.fill("#id_title", "Payments failing")
    page.select_option("#id_status", "investigating")
    page.fill("#id_message", "We are investigatng failed payments.")
    page.click("#id_monitors_from option[value=mon_billing]")
    page.click("#id_monitors_add")
    save(page)
    assert "was added successfully" in success_message(page), error_text(page)
    page.close()
    return find_incident(site, "Payments failing")


def test_adding_an_incident(outage):
    assert outage["status"] == "investigating"
    assert outage["monitorIds"] == ["mon_billing"]
    assert [u["message"] for u in outage["updates"]] == ["We are investigatng failed payments."]


def test_posting_an_update_from_the_change_page(site, page, outage):
    open_incident(page, site, outage["id"])
    page.select_option("#id_status", "identified")
    page.fill("#id_message", "A bad deploy; rolling back.")
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    found = call(site, "GET", f"/incidents/{outage['id']}")[1]
    assert found["status"] == "identified"
    assert [(u["status"], u["message"]) for u in found["updates"]][-1] == (
        "identified",
        "A bad deploy; rolling back.",
    )
    assert page.problems == [] and csp_violations(page) == []


def test_editing_only_the_title(site, page, outage):
    before = call(site, "GET", f"/incidents/{outage['id']}")[1]
    open_incident(page, site, outage["id"])
    page.fill("#id_title", "Card payments failing")
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    after = call(site, "GET", f"/incidents/{outage['id']}")[1]
    assert after == {**before, "title": "Card payments failing"}


def test_fixing_a_timeline_entry(site, page, outage):
    open_incident(page, site, outage["id"])
    oldest = page.locator("#updates-group tbody tr.form-row").last
    oldest.locator("textarea").fill("We are investigating failed payments.")
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    found = call(site, "GET", f"/incidents/{outage['id']}")[1]
    assert found["updates"][0]["message"] == "We are investigating failed payments."
    assert len(found["updates"]) == 2


def test_resolving_then_deleting_the_resolution(site, page, outage):
    open_incident(page, site, outage["id"])
    page.select_option("#id_status", "resolved")
    page.fill("#id_message", "Payments work again.")
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    resolved = call(site, "GET", f"/incidents/{outage['id']}")[1]
    assert resolved["status"] == "resolved" and resolved["resolvedAt"] is not None
    # The resolution was posted too early: delete that entry.
    open_incident(page, site, outage["id"])
    newest = page.locator("#updates-group tbody tr.form-row").first
    assert "Payments work again." in newest.locator("textarea").input_value()
    newest.locator("input[type=checkbox][name$=DELETE]").check()
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    found = call(site, "GET", f"/incidents/{outage['id']}")[1]
    assert (found["status"], found["resolvedAt"]) == ("identified", None)
    assert len(found["updates"]) == 2


def test_deleting_a_monitor_in_use_says_why(site, page, outage):
    page.goto(site.url + "/admin/incidents/monitor/")
    page.click("text=Billing")
    page.click("a.deletelink")
    page.wait_for_load_state("load")
    assert MONITOR_IN_USE in page.locator("ul.messagelist li.error").inner_text()
    assert call(site, "GET", "/monitors/mon_billing")[0] == 200


def test_changing_a_monitors_state_and_seeing_its_alert(site, page):
    page.goto(site.url + "/admin/incidents/monitor/")
    assert "No alert channel is configured" in page.locator("ul.messagelist").inner_text()
    page.click("text=Website")
    page.select_option("#id_status", "down")
    save(page)
    assert "was changed successfully" in success_message(page), error_text(page)
    assert call(site, "GET", "/monitors/mon_website")[1]["status"] == "down"
    # No channel: the alert is on the record all the same, and its outcome in view.
    page.goto(site.url + "/admin/alerts/alert/")
    row = page.locator("#result_list tbody tr").first
    assert "Suppressed" in row.inner_text() and "no channel" in row.inner_text()
    outcome = page.locator("#result_list th.column-outcome").bounding_box()
    assert outcome is not None and outcome["x"] + outcome["width"] <= 1280
    _status, alerts = call(site, "GET", "/alerts")
    assert [(a["monitorId"], a["outcome"], a["channel"]) for a in alerts] == [
        ("mon_website", "suppressed", None)
    ]


def test_scheduling_a_window_in_the_pages_time_zone(site, page):
    page.goto(site.url + "/admin/incidents/incident/add/")
    assert "Scheduled start (Europe/Berlin)" in page.inner_text(".field-scheduled_start")
    assert "Scheduled end (Europe/Berlin)" in page.inner_text(".field-scheduled_end")
    page.fill("#id_title", "Database upgrade")
    page.fill("#id_message", "The database is upgraded; expect a short pause.")
    page.fill("#id_scheduled_start_0", "2030-07-01")
    page.fill("#id_scheduled_start_1", "03:00:00")
    page.fill("#id_scheduled_end_0", "2030-07-01")
    page.fill("#id_scheduled_end_1", "05:30:00")
    page.click("#id_monitors_from option[value=mon_website]")
    page.click("#id_monitors_add")
    save(page)
    assert "was added successfully" in success_message(page), error_text(page)
    window = find_incident(site, "Database upgrade")
    # 03:00 in Berlin in July (CEST, UTC+2) is 01:00 UTC.
    assert (window["scheduledStart"], window["scheduledEnd"]) == (
        "2030-07-01T01:00:00Z",
        "2030-07-01T03:30:00Z",
    )
    assert window["maintenance"] is True
    # Shown again as typed, in the page's zone.
    open_incident(page, site, window["id"])
    assert page.input_value("#id_scheduled_start_1") == "03:00:00"
    form = page.inner_text("#incident_form")
    assert "In Europe/Berlin time; stored in UTC." in form
    assert "2030-07-01T01:00:00Z – 2030-07-01T03:30:00Z" in form


def test_adding_an_alert_channel(site, page):
    page.goto(site.url + "/admin/alerts/alertchannel/add/")
    page.fill("#id_name", "On-call")
    page.select_option("#id_kind", "email")
    page.fill("#id_email", "oncall@example.com")
    save(page)
    assert "was added successfully" in success_message(page), error_text(page)
    assert "oncall@example.com" in page.inner_text("#result_list")
    page.goto(site.url + "/admin/incidents/monitor/")
    assert "No alert channel is configured" not in page.inner_text("body")


def test_adding_and_revoking_an_api_key(site, page):
    page.goto(site.url + "/admin/incidents/apikey/add/")
    page.fill("#id_name", "deploy bot")
    save(page)
    raw = page.inner_text("#raw-key").strip()
    assert raw.startswith("km_")
    assert call(site, "GET", "/incidents", key=raw)[0] == 200
    page.goto(site.url + "/admin/incidents/apikey/")
    row = page.locator("#result_list tbody tr", has_text="deploy bot")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    page.wait_for_load_state("load")
    assert "Revoked 1 key(s)." in success_message(page)
    assert call(site, "GET", "/incidents", key=raw)[0] == 401


def test_the_admin_is_named_after_the_page(site, page):
    page.goto(site.url + "/admin/")
    assert page.title() == "Operations | Acme Status admin"
    assert page.inner_text("#site-name a >> nth=0") == "Acme Status"
    assert "Task results" not in page.inner_text("#content")
    # Every column of the lists in view at 1280 px.
    for path, last in [("incident", "resolved_local"), ("alert", "window_ref")]:
        page.goto(f"{site.url}/admin/incidents/{path}/")
        box = page.locator(f"#result_list th.column-{last}").bounding_box()
        assert box["x"] + box["width"] <= 1280, path
    page.goto(site.url + "/admin/")
    page.click("text=View the status page")
    page.wait_for_load_state("load")
    assert page.url == site.url + "/"
