"""A visitor subscribes in Chromium by typing and clicking, against gunicorn,
a real worker process and a real SMTP server: the form on the status page,
the confirmation mail's link, the manage page, unsubscribing."""

import re

import pytest

from tests.browsers import CHROMIUM, csp_violations, watched_page
from tests.servers import Site
from tests.smtp_sink import running_sink

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed"),
]


@pytest.fixture(scope="module")
def sink():
    with running_sink() as running:
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory, sink):
    directory = tmp_path_factory.mktemp("subscribe")
    site = Site(
        directory,
        workers=2,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="0",
        EMAIL_USE_SSL="0",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    )
    site.env["PAGE_URL"] = site.url
    site.prepare()
    site.manage("loaddemo")
    site.start()
    yield site
    site.stop()


def plain_text(message):
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def page(browser):
    with watched_page(browser, locale="en-GB") as page:
        yield page


def test_subscribe_confirm_manage_and_unsubscribe_by_clicking(site, sink, page, tmp_path):
    page.goto(site.url + "/")
    form = page.locator("form.subscribe-form")
    form.get_by_label("E-mail address").fill("visitor@example.com")
    form.get_by_label("API").check()
    form.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    site.manage("worker", "--once")
    assert sink.wait_for(1)
    confirmation = sink.messages[-1]
    assert str(confirmation["To"]) == "visitor@example.com"
    confirm_url = re.search(r"(http://\S+/subscribe/confirm/\S+)", plain_text(confirmation))[1]
    page.goto(confirm_url)
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()

    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_role("heading", name="Your subscription").wait_for()
    assert page.get_by_label("API").is_checked()
    page.get_by_label("Database").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert page.get_by_label("API").is_checked() and page.get_by_label("Database").is_checked()
    assert not page.get_by_label("Website").is_checked()
    page.screenshot(path=str(tmp_path / "manage.png"), full_page=True)

    # An incident on the database reaches the visitor; one on the website does not.
    site.api("POST", "/incidents", {"title": "Web", "message": "x", "monitorIds": ["mon_web001"]})
    site.api("POST", "/incidents", {"title": "DB", "message": "y", "monitorIds": ["mon_def456"]})
    site.manage("worker", "--once")
    assert sink.wait_for(2)
    assert [str(m["Subject"]) for m in sink.messages[1:]] == ["[Kamustatus] New incident: DB"]

    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    site.api("POST", "/incidents", {"title": "DB 2", "message": "z", "monitorIds": ["mon_def456"]})
    site.manage("worker", "--once")
    assert len(sink.messages) == 2
    assert page.problems == [], page.problems
    assert csp_violations(page) == []


def test_a_mistyped_address_is_answered_on_the_form(site, page):
    page.goto(site.url + "/")
    form = page.locator("form.subscribe-form")
    # The browser's own check stops an address without "@": this one passes it.
    form.get_by_label("E-mail address").fill("visitor@example")
    form.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Enter a valid e-mail address.").wait_for()
    assert page.get_by_label("E-mail address").input_value() == "visitor@example"
