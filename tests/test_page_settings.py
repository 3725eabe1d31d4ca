"""The page's settings, edited in the admin (its change page, as the HTML has
it): the environment's values until then, every face following a change on
the next request, and the rules on the colours, links and logo."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from incidents.appearance import colours
from incidents.appearance.models import PAGE_LANGUAGES, PageSettings
from incidents.appearance.page import page_settings
from incidents.models import Incident
from incidents.site import page_url
from tests.admin_forms import page_form
from tests.servers import api_site, http, manage

CHANGE_URL = reverse("admin:appearance_pagesettings_change", args=[1])
FORM = "pagesettings_form"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle r="4"/></svg>'


@pytest.fixture(autouse=True)
def environment_defaults(settings, fresh_cache):
    settings.KAMUSTATUS_PAGE_NAME = "Acme"
    settings.KAMUSTATUS_PAGE_URL = ""
    settings.KAMUSTATUS_TIME_ZONE = "Etc/UTC"
    settings.KAMUSTATUS_PAGE_LANGUAGE = "en"


def save_settings(client, files=None, **fields):
    """Open the change page, change ``fields`` as typed, press Save."""
    page = client.get(CHANGE_URL)
    assert page.status_code == 200
    data = page_form(page, FORM)
    for name, value in fields.items():
        data[name] = [value]
    data = {name: values if len(values) != 1 else values[0] for name, values in data.items()}
    data.update(files or {})
    return client.post(CHANGE_URL, data)


def errors(response):
    return re.findall(
        r'<ul class="errorlist[^"]*"[^>]*>\s*<li>(.*?)</li>', response.content.decode()
    )


def header(client, path="/"):
    page = client.get(path).content.decode()
    return page.split('<header class="site-header">', 1)[1].split("</header>", 1)[0], page


# --- a fresh install ---------------------------------------------------------


def test_a_fresh_install_shows_the_environments_values(client, db):
    assert not PageSettings.objects.exists()
    head, page = header(client)
    assert "Acme status" in head and "<img" not in head
    assert "/look/" not in page
    assert page_settings().time_zone == "Etc/UTC"


def test_the_admin_has_one_settings_page_and_no_add_or_delete(admin_client):
    listing = admin_client.get(reverse("admin:appearance_pagesettings_changelist"))
    assert listing.status_code == 302 and listing["Location"] == CHANGE_URL
    page = admin_client.get(CHANGE_URL).content.decode()
    assert 'placeholder="Acme"' in page  # what an empty name means
    assert "deletelink" not in page
    assert admin_client.get(reverse("admin:appearance_pagesettings_add")).status_code == 403
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Page settings" in index


def test_the_default_language_offers_the_pages_languages(admin_client):
    form = admin_client.get(CHANGE_URL).content.decode()
    options = re.findall(
        r'<option value="([^"]*)"', form.split('name="default_language"')[1].split("</select>")[0]
    )
    assert options == ["", "en", "de", "fr", "es", "pt-br", "ja", "fil"]
    assert [code for code, _ in PAGE_LANGUAGES] == options[1:]
    assert save_settings(admin_client, default_language="ja").status_code == 302
    assert page_settings().language == "ja"


def test_visitors_who_ask_for_no_language_get_the_settings_default(admin_client, client):
    assert client.get("/")["Content-Language"] == "en"
    assert save_settings(admin_client, default_language="de").status_code == 302
    # The default is read before the stored page, from the process's copy of the
    # settings: the request that re-reads them may still speak the old one.
    answers = [client.get("/") for _ in range(2)]
    assert answers[-1]["Content-Language"] == "de"
    assert "Alle Systeme betriebsbereit" in answers[-1].content.decode()
    asked = client.get("/", headers={"Accept-Language": "en"})
    assert asked["Content-Language"] == "en"
    picked = client.get("/", headers={"Accept-Language": "ja, de;q=0.5"})
    assert picked["Content-Language"] == "ja"


# --- a change shows on the next request, everywhere --------------------------


def test_a_new_name_shows_on_the_next_request_everywhere(admin_client, client, make_incident):
    make_incident(title="Slow API")
    head, _ = header(client)  # stored now
    assert "Acme status" in head
    assert save_settings(admin_client, name="Globex").status_code == 302
    head, page = header(client)
    assert "Globex status" in head and "<title>Globex status</title>" in page
    assert "<title>Globex incidents</title>" in client.get("/feed.rss").content.decode()
    assert client.get("/api/v2/summary.json").json()["page"]["name"] == "Globex"
    assert "Globex" in client.get("/badge.svg").content.decode()
    assert "Globex" in admin_client.get(reverse("admin:index")).content.decode()


def test_emptying_a_field_goes_back_to_the_environment(admin_client, client):
    save_settings(admin_client, name="Globex")
    save_settings(admin_client, name="")
    assert "Acme status" in header(client)[0]


def test_the_public_url_and_time_zone_reach_links_mails_and_json(admin_client, client, settings):
    response = save_settings(
        admin_client, public_url="https://status.globex.test/", time_zone="Asia/Tokyo"
    )
    assert response.status_code == 302, errors(response)
    assert page_url() == "https://status.globex.test"
    page = client.get("/api/v2/summary.json").json()["page"]
    assert page["url"] == "https://status.globex.test" and page["time_zone"] == "Asia/Tokyo"
    assert "<link>https://status.globex.test/</link>" in client.get("/feed.rss").content.decode()
    from incidents.subscribers.models import Subscriber

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Subscriber.objects.add_email("ops@example.com")
    from tests.test_subscribers import work

    work()
    (message,) = mail.outbox
    assert "https://status.globex.test/subscribe/confirm/" in message.body
    assert message.subject.startswith("[Acme] ")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("public_url", "ftp://status.example.com", "starting with https://"),
        ("public_url", "https://status.example.com/?x=1", "no query"),
        ("support_url", "javascript:alert(1)", "starting with https://"),
        ("website_url", "data:text/html,hi", "starting with https://"),
        ("accent_colour", "blue", "#rrggbb"),
        ("accent_colour", "#ffff00", "against the light page background"),
        ("accent_colour_dark", "#000080", "against the dark page background"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(admin_client, client, field, value, message):
    response = save_settings(admin_client, name="Globex", **{field: value})
    assert response.status_code == 200
    assert any(message in error for error in errors(response)), errors(response)
    assert "Acme status" in header(client)[0]


def test_the_contrast_check_reads_both_schemes():
    assert colours.contrast("#000000", "#ffffff") == pytest.approx(21)
    assert colours.lowest_contrast("#0b57b8", "light") >= 4.5  # the built-in link colour
    assert colours.lowest_contrast("#8ab8ff", "dark") >= 4.5
    for light in ("#0b57b8", "#6b2fa3", "#a3121f", "#000000"):
        assert colours.lowest_contrast(colours.for_dark_scheme(light), "dark") >= 4.5


def test_the_accent_colour_reaches_the_page_as_a_stylesheet(admin_client, client):
    response = save_settings(admin_client, accent_colour="#6B2FA3")
    assert response.status_code == 302, errors(response)
    assert PageSettings.objects.get().accent_colour == "#6b2fa3"
    page = client.get("/").content.decode()
    (href,) = re.findall(r'<link rel="stylesheet" href="(/look/[0-9a-f]+\.css)">', page)
    sheet = client.get(href)
    assert sheet["Content-Type"].startswith("text/css")
    assert "immutable" in sheet["Cache-Control"]
    css = sheet.content.decode()
    assert "--accent: #6b2fa3" in css
    dark = re.search(r"prefers-color-scheme: dark\) \{\s*:root \{ --link: (#[0-9a-f]{6})", css)[1]
    assert colours.lowest_contrast(dark, "dark") >= 4.5
    # A new colour is a new address; the old one is gone.
    save_settings(admin_client, accent_colour="#a3121f")
    assert client.get(href).status_code == 404
    assert href not in client.get("/").content.decode()


def test_header_links_and_the_about_text(admin_client, client):
    response = save_settings(
        admin_client,
        support_url="https://help.globex.test/",
        website_url="https://globex.test",
        about="Status of **Globex** services. Questions: https://help.globex.test/ask\n\n<script>x</script>",
    )
    assert response.status_code == 302, errors(response)
    head, page = header(client)
    assert '<a href="https://help.globex.test/" rel="noopener">Support</a>' in head
    assert '<a href="https://globex.test" rel="noopener">Main site</a>' in head
    about = page.split('<section class="about"', 1)[1].split("</section>", 1)[0]
    assert "<strong>Globex</strong>" in about
    assert '<a href="https://help.globex.test/ask" rel="nofollow noopener">' in about
    assert "<script>" not in about and "&lt;script&gt;" in about


# --- the logo ------------------------------------------------------------------


def upload(admin_client, data, name="logo.png"):
    return save_settings(admin_client, files={"logo_upload": SimpleUploadedFile(name, data)})


@pytest.mark.parametrize("data,content_type", [(PNG, "image/png"), (SVG, "image/svg+xml")])
def test_an_uploaded_logo_is_kept_in_the_database_and_served(
    admin_client, client, data, content_type
):
    response = upload(admin_client, data)
    assert response.status_code == 302, errors(response)
    row = PageSettings.objects.get()
    assert bytes(row.logo) == data and row.logo_type == content_type
    head, _ = header(client)
    (src,) = re.findall(r'<img class="site-logo" src="([^"]+)"', head)
    assert re.fullmatch(r"/logo/[0-9a-f]{16}\.(png|svg)", src)
    served = client.get(src)
    assert served.status_code == 200 and served.content == data
    assert served["Content-Type"] == content_type
    assert "immutable" in served["Cache-Control"]
    assert "sandbox" in served["Content-Security-Policy"]
    assert "script-src" not in served["Content-Security-Policy"]
    # Removing it: gone from the header and from its address.
    assert save_settings(admin_client, remove_logo="on").status_code == 302
    assert "<img" not in header(client)[0]
    assert client.get(src).status_code == 404


@pytest.mark.parametrize(
    "data,message",
    [
        (b"GIF89a\x01\x00\x01\x00", "Upload a PNG, JPEG, WebP or SVG image."),
        (b"<html><script>alert(1)</script></html>", "Upload a PNG, JPEG, WebP or SVG image."),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "may not contain &lt;script&gt; elements",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handlers"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
            b'<a x:href="javascript:alert(1)"><circle r="4"/></a></svg>',
            "outside themselves",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
            "DTD or entities",
        ),
        (b"<svg", "does not parse"),
        (PNG + b"\0" * (512 * 1024), "larger than 512 KiB"),
    ],
)
def test_a_bad_logo_is_refused_and_changes_nothing(admin_client, client, data, message):
    response = upload(admin_client, data)
    assert response.status_code == 200
    assert any(message in error for error in errors(response)), errors(response)
    assert not PageSettings.objects.filter(logo__isnull=False).exists()


# --- the fast path -------------------------------------------------------------


def test_a_stored_page_costs_no_settings_lookup(
    admin_client, client, django_assert_max_num_queries
):
    save_settings(admin_client, name="Globex", accent_colour="#6b2fa3")
    Incident.open_incident(title="Slow API", message="Looking.")
    client.get("/")
    with django_assert_max_num_queries(1):  # the stored page (database cache)
        assert "Globex status" in client.get("/").content.decode()


def settings_reads(queries):
    return [q for q in queries.captured_queries if "appearance_pagesettings" in q["sql"]]


def test_settings_are_read_once_per_change_of_them(admin_client, client, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    save_settings(admin_client, name="Globex")
    client.get("/api/v2/status.json")  # reads the settings once
    with CaptureQueriesContext(connection) as queries:
        for number in range(3):  # each a request: the generation, no settings query
            assert client.get("/api/v2/summary.json").status_code == 200
            # A write the page shows, whose answer names the page's address.
            created = api("POST", "/api/incidents", {"title": f"#{number}", "message": "m"})
            assert created.status_code == 201
            assert f"#{number}" in client.get("/").content.decode()  # rendered again
    assert not settings_reads(queries)
    save_settings(admin_client, name="Initech", public_url="https://status.example.com")
    with CaptureQueriesContext(connection) as queries:
        assert "Initech" in client.get("/api/v2/summary.json").content.decode()
        created = api("POST", "/api/incidents", {"title": "Later", "message": "m"})
        assert created["Location"].startswith("https://status.example.com/api/incidents/")
    assert len(settings_reads(queries)) == 1


def test_a_write_then_a_change_of_settings_shows_at_once_everywhere(admin_client, client, api):
    api("POST", "/api/incidents", {"title": "Slow API", "message": "Looking."})
    assert "Acme status" in header(client)[0]  # stored now, settings kept
    save_settings(admin_client, name="Globex", public_url="https://status.example.com")
    created = api("POST", "/api/incidents", {"title": "Slower API", "message": "Still."})
    assert created["Location"] == f"https://status.example.com/api/incidents/{created.json()['id']}"
    head, page = header(client)
    assert "Globex status" in head and "Slower API" in page
    assert client.get("/api/v2/summary.json").json()["page"]["url"] == "https://status.example.com"


# --- for real: two gunicorn workers, the settings changed in a shell ------------


@pytest.fixture(params=["database cache", "redis"])
def served(request, tmp_path):
    with api_site(tmp_path, request.param) as site:
        yield site


@pytest.mark.slow
def test_a_change_in_a_shell_shows_on_every_worker_after_writes(served):
    base = served.url + "/api"

    def create(title):
        status, headers, _ = http(
            base, "POST", "/incidents", {"title": title, "message": "m"}, served.api_key
        )
        assert status == 201
        return headers["Location"]

    def before(number):
        assert create(f"Before {number}").startswith(served.url + "/api/incidents/inc_")
        assert "Kamustatus status" in served.get("/")[2]

    # In parallel, so that both workers answer, and keep the settings across writes.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(before, range(40)))
    manage(
        served.env,
        "shell",
        "-c",
        "from incidents.appearance.models import PageSettings\n"
        "from incidents.cache import generation\n"
        # A process started long ago, its first bump made: only the save
        # tells the workers.
        "generation._pending = False\n"
        "row = PageSettings.objects.get_solo()\n"
        "row.name, row.public_url = 'Globex', 'https://status.example.com'\n"
        "row.save()",
    )
    for number in range(10):
        location = create(f"After {number}")
        assert location.startswith("https://status.example.com/api/incidents/inc_")
        page = served.get("/")[2]
        assert "Globex status" in page and f"After {number}" in page


def test_a_change_no_bump_announced_shows_once_the_pending_bump_is_made(client, api):
    from incidents.cache import generation

    PageSettings.objects.get_solo()
    api("POST", "/api/incidents", {"title": "Slow API", "message": "Looking."})
    assert "Acme status" in header(client)[0]  # the settings kept
    # Saved on another host while the cache was away (no signal here), and
    # this process found the cache away meanwhile.
    PageSettings.objects.filter(pk=1).update(name="Globex", public_url="https://globex.test")
    generation.mark_pending()
    created = api("POST", "/api/incidents", {"title": "Slower API", "message": "Still."})
    assert created["Location"].startswith("https://globex.test/api/incidents/")
    assert "Globex status" in header(client)[0]


def test_the_worker_reads_a_change_within_a_second(admin_client, db):
    import time

    from incidents.appearance import page as module

    PageSettings.objects.get_solo()
    assert page_settings().name == "Acme"  # outside a request, as in the worker
    PageSettings.objects.filter(pk=1).update(name="Globex")  # no signal: another host
    from incidents.cache import generation

    generation.bump(settings=True)  # what the save's signal does there
    time.sleep(module.OUTSIDE_REQUESTS_SECONDS)
    assert page_settings().name == "Globex"


def test_the_not_found_page_is_named_after_the_page(admin_client, client):
    save_settings(admin_client, name="Globex")
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert "Globex status" in header(client, "/no-such-page/")[0]
