"""The public pages in the visitor's language: chosen from the picker's cookie,
else Accept-Language, else the page's default; every one of the page's own
words translated; stored copies kept per language, still one round trip."""

import gettext
import html
import re
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import languages
from incidents.cache import generation, store
from incidents.cache.pages import PAGES, page_key
from incidents.models import Incident, Monitor
from tests import writes

LOCALE = Path(settings.BASE_DIR) / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/django.po"))
NOW = datetime(2025, 6, 10, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)

USES_DATABASE_CACHE = settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
ONE_ROUND_TRIP = 1 if USES_DATABASE_CACHE else 0

# What operators wrote (names, titles, messages): shown as written, in no
# particular language, so it is taken out before looking for English.
USER_TEXT = [
    "Kamustatus",
    "Kasse",
    "Lager",
    "Versand",
    "Zahlungsdienst gestört",
    "Wir prüfen das.",
    "Datenbank-Umzug",
    "Neue Server",
    "Alter Ausfall",
    "Abgesagter Umzug",
]


@pytest.fixture(autouse=True)
def fresh_pages(db):
    writes.committed()
    PAGES.kept.clear()


# --- The catalogs ---------------------------------------------------------------


def po_entries(path):
    """[(context, msgid, msgid_plural, [msgstr...])] of a .po file, header left out."""
    entries, current, field = [], None, None

    def finish():
        if current and current["msgid"]:
            entries.append(
                (current["msgctxt"], current["msgid"], current["msgid_plural"], current["msgstr"])
            )

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            if line.startswith("#~"):
                raise AssertionError(f"{path}: obsolete entries left behind")
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = line
        else:
            value = rest
            if keyword == "msgctxt" or (keyword == "msgid" and current and current["msgstr"]):
                finish()
                current = {"msgctxt": None, "msgid": "", "msgid_plural": None, "msgstr": []}
            elif current is None:
                current = {"msgctxt": None, "msgid": "", "msgid_plural": None, "msgstr": []}
            field = keyword
            if field.startswith("msgstr"):
                current["msgstr"].append("")
            elif field == "msgid_plural":
                current["msgid_plural"] = ""
        text = re.sub(
            r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), value.strip()[1:-1]
        )
        if field.startswith("msgstr"):
            current["msgstr"][-1] += text
        else:
            current[field] = (current[field] or "") + text
    finish()
    return entries


def english_and_translations(language_dir):
    """(english, translated) pairs of a catalog, plural forms included."""
    path = LOCALE / language_dir / "LC_MESSAGES" / "django.po"
    pairs = []
    for _context, msgid, plural, msgstrs in po_entries(path):
        pairs.append((msgid, msgstrs[0]))
        if plural is not None:
            pairs.append((plural, msgstrs[-1]))
    return pairs


def test_there_is_a_catalog_for_every_offered_language_but_english():
    from django.utils.translation import to_locale

    expected = {to_locale(code) for code in languages.offered()} - {"en"}
    assert {path.parts[-3] for path in CATALOGS} == expected


def test_every_catalog_has_every_string_translated():
    """makemessages and the catalogs agree: the same msgids everywhere, none
    left empty or fuzzy (a fuzzy entry is never used)."""
    msgids = None
    for path in CATALOGS:
        entries = po_entries(path)
        ours = {(context, msgid) for context, msgid, _plural, _strs in entries}
        assert msgids is None or ours == msgids, path
        msgids = ours
        for context, msgid, _plural, msgstrs in entries:
            assert all(msgstrs), f"{path}: {context!r} {msgid!r} is not translated"
        assert "#, fuzzy" not in path.read_text(encoding="utf-8"), path
    assert len(msgids) > 100


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is not installed")
def test_the_committed_mo_files_are_compiled_from_the_po_files(tmp_path):
    """The .mo files are committed (a fresh clone needs no gettext to run):
    they must say exactly what their .po files say. Recompile with
    `manage.py compilemessages` (docs/translations.md)."""
    for path in CATALOGS:
        fresh = tmp_path / (path.parts[-3] + ".mo")
        subprocess.run(["msgfmt", "--check", "-o", fresh, path], check=True)
        with fresh.open("rb") as f:
            expected = gettext.GNUTranslations(f)._catalog
        with path.with_suffix(".mo").open("rb") as f:
            committed = gettext.GNUTranslations(f)._catalog
        assert committed == expected, f"{path.with_suffix('.mo')} is stale: compilemessages"


# --- Choosing the language -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de", "de"),
        ("de-AT,de;q=0.9,en;q=0.8", "de"),
        ("ja-JP", "ja"),
        ("pt-BR,pt;q=0.9", "pt-br"),
        ("pt-PT", "pt-br"),
        ("fil-PH", "fil"),
        ("tl", "fil"),
        ("fr-CA;q=0.5, es;q=0.9", "es"),
        ("zh-CN, ja;q=0.3", "ja"),
        ("en-GB,de;q=0.9", "en"),
        ("de;q=0, fr", "fr"),
        ("*", None),
        ("zh-CN,ko", None),
        ("de;q=banana", None),
        (",,;;q=,", None),
        ("x" * 5000, None),
    ],
)
def test_accept_language_picks_the_first_offered_language(header, expected):
    assert languages.from_accept_language(header) == expected


def test_only_offered_languages_ever_come_out(rf):
    """A stored page is kept per language: arbitrary headers and cookies must
    not make new keys."""
    seen = set()
    for index in range(300):
        rf.cookies[settings.LANGUAGE_COOKIE_NAME] = f"zz{index}"
        request = rf.get(
            "/", headers={"Accept-Language": f"x{index}-{secrets.token_hex(3)}, de-{index};q=0.1"}
        )
        seen.add(languages.visitor_language(request))
    assert seen == {"de"}


def test_the_cookie_beats_the_header_and_the_header_beats_the_default(rf, settings):
    settings.KAMUSTATUS_PAGE_LANGUAGE = "fr"
    assert languages.visitor_language(rf.get("/", headers={"Accept-Language": "de"})) == "de"
    assert languages.visitor_language(rf.get("/")) == "fr"
    assert languages.visitor_language(rf.get("/", headers={"Accept-Language": "ko"})) == "fr"
    rf.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    assert languages.visitor_language(rf.get("/", headers={"Accept-Language": "de"})) == "ja"


def test_the_default_comes_from_page_language():
    from tests.servers import environment, manage, secret_key

    env = environment(SECRET_KEY=secret_key(), DEBUG="0", PAGE_LANGUAGE="pt_BR")
    ask = (
        "shell",
        "-c",
        "from incidents.languages import default_language; print(default_language())",
    )
    assert manage(env, *ask).stdout.split()[-1] == "pt-br"
    env["PAGE_LANGUAGE"] = "klingon"
    refused = manage(env, *ask, check=False)
    assert refused.returncode != 0
    assert "PAGE_LANGUAGE must be one of en, de, fr, es, pt-br, ja, fil" in refused.stderr


def test_without_a_header_the_page_speaks_its_default(client, settings, monitors):
    settings.KAMUSTATUS_PAGE_LANGUAGE = "de"
    response = client.get("/")
    assert response["Content-Language"] == "de"
    assert '<html lang="de">' in response.content.decode()
    assert "Alle Systeme betriebsbereit" in response.content.decode()


def test_public_pages_say_what_they_vary_on(client, monitors):
    for url in ("/", "/history/", "/feed.rss", "/badge.svg", "/nowhere/"):
        response = client.get(url, headers={"Accept-Language": "ja"})
        vary = {v.strip() for v in response["Vary"].split(",")}
        assert {"Accept-Language", "Cookie"} <= vary, url
        assert response["Content-Language"] == "ja", url


def test_the_api_the_public_json_and_the_admin_stay_english(client, api, monitors):
    german = {"Accept-Language": "de"}
    missing = api("GET", "/api/incidents/inc_nothere", **german)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No such incident."
    status = client.get("/api/v2/status.json", headers=german).json()
    assert status["status"]["description"] == "All systems operational"
    assert "Content-Language" not in client.get("/api/v2/status.json", headers=german)
    login = client.get("/admin/login/", headers=german).content.decode()
    assert "Log in" in login and "Anmelden" not in login


def test_the_picker_sets_a_cookie_and_goes_back(client, monitors):
    response = client.get("/language/ja/?next=/history/")
    assert response.status_code == 302
    assert response["Location"] == "/history/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "ja" and cookie["samesite"] == "Lax" and cookie["httponly"]
    assert "インシデント履歴" in client.get("/history/").content.decode()


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""]
)
def test_the_picker_only_goes_back_to_this_site(client, next_url):
    response = client.get("/language/de/", {"next": next_url})
    assert response["Location"] == "/"


def test_an_unknown_language_changes_nothing(client):
    response = client.get("/language/xx/?next=/")
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_every_page_offers_every_language_in_its_own_name(client, monitors):
    body = client.get("/history/", headers={"Accept-Language": "de"}).content.decode()
    picker = re.search(r'<nav class="language-picker".*?</nav>', body, re.S)[0]
    for code, name in settings.LANGUAGES:
        link = f'href="/language/{code}/?next=/history/" lang="{code}" hreflang="{code}"'
        assert link in picker and f">{name}</a>" in picker
    assert 'lang="de" hreflang="de" aria-current="true"' in picker


# --- Every word translated ----------------------------------------------------------


@pytest.fixture
def monitors(make_monitor):
    return [
        make_monitor(id="mon_kasse", name="Kasse"),
        make_monitor(id="mon_lager", name="Lager"),
        make_monitor(id="mon_versand", name="Versand"),
    ]


@pytest.fixture
def busy_page(monitors):
    """A page with something in every section: an ongoing incident, a window
    in progress, an upcoming one, a resolved incident and a cancelled window."""
    kasse, lager, versand = monitors
    with time_machine.travel(NOW - 30 * HOUR, tick=False):
        old = Incident.open_incident(title="Alter Ausfall", message="Wir prüfen das.")
        old.post_update(Incident.RESOLVED, "Wir prüfen das.")
        cancelled = Incident.open_incident(
            title="Abgesagter Umzug",
            message="Wir prüfen das.",
            scheduled_start=NOW + 48 * HOUR,
            scheduled_end=NOW + 50 * HOUR,
        )
        cancelled.post_update(Incident.RESOLVED, "Wir prüfen das.")
    with time_machine.travel(NOW - 2 * HOUR, tick=False):
        Incident.open_incident(
            title="Zahlungsdienst gestört", message="Wir prüfen das.", monitor_ids=[kasse.id]
        )
        Incident.open_incident(
            title="Datenbank-Umzug",
            message="Wir prüfen das.",
            scheduled_start=NOW - HOUR,
            scheduled_end=NOW + HOUR,
            monitor_ids=[lager.id],
        )
        Incident.open_incident(
            title="Neue Server",
            message="Wir prüfen das.",
            scheduled_start=NOW + 24 * HOUR,
            scheduled_end=NOW + 27 * HOUR,
            monitor_ids=[versand.id],
        )
    Monitor.objects.filter(pk=versand.id).update(status=Monitor.DEGRADED)
    # The page settings' links and text: the links' words are the page's own.
    from incidents.appearance.models import PageSettings

    page = PageSettings.objects.get_solo()
    page.support_url, page.website_url = "https://help.example/", "https://example.com"
    page.about = "Wir prüfen das."
    page.save()


class PageWords(HTMLParser):
    """The words a visitor reads: text, and the attributes read aloud or shown."""

    SHOWN_ATTRIBUTES = {"title", "aria-label", "alt", "placeholder"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in self.SHOWN_ATTRIBUTES and value:
                self.words.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.words.append(data)


def own_words(body):
    """The page's own words, with what operators wrote and the picker's
    language names (each in its own language) taken out."""
    parser = PageWords()
    parser.feed(body)
    text = "\n".join(parser.words)
    for written in USER_TEXT + [name for _code, name in settings.LANGUAGES]:
        text = text.replace(written, " ")
    return html.unescape(text)


def fragments(english):
    """The English words of a msgid, split at its placeholders and markup."""
    for part in re.split(r"%\(\w+\)s|\{\w+\}|<[^>]*>", english):
        part = part.strip(" .,:;·–—()")
        if re.search(r"[A-Za-z]{2,}", part):
            yield part


def found(fragment, text):
    return re.search(r"(?<!\w)" + re.escape(fragment) + r"(?!\w)", text) is not None


def render(client, language, url="/"):
    with time_machine.travel(NOW, tick=False):
        response = client.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200
    assert response["Content-Language"] == language
    return response.content.decode()


def assert_fully_translated(client, url, language, catalog, expected, user_text=()):
    """Every English string of the catalogs that ``url`` shows in English is
    translated on it in ``language``; ``expected``: strings it must show."""

    def words(body):
        text = own_words(body)
        for written in user_text:
            text = text.replace(written, " ")
        return text

    english_text = words(render(client, "en", url))
    pairs = english_and_translations(catalog)
    # The English strings the page shows: the test checks exactly these.
    shown = {
        fragment: translated
        for english, translated in pairs
        for fragment in fragments(english)
        if found(fragment, english_text)
    }
    for fragment in expected:
        assert fragment in shown, f"the English page no longer shows {fragment!r}"

    text = words(render(client, language, url))
    left = sorted(
        fragment
        for fragment, translated in shown.items()
        # A word the language writes the same (German "Status") is no leftover.
        if found(fragment, text) and not found(fragment, translated)
    )
    assert left == [], f"English left on the {language} page {url}: {left}"
    # Nor is any other Latin-letter word of English there that the catalogs do not know.
    if language == "ja":
        latin = set(re.findall(r"[A-Za-z]{3,}", text)) - {"UTC", "RSS", "Atom", "JavaScript"}
        assert latin == set(), latin


@pytest.mark.parametrize(("language", "catalog"), [("de", "de"), ("ja", "ja")])
def test_the_status_page_is_fully_translated(client, busy_page, language, catalog):
    assert_fully_translated(
        client,
        "/",
        language,
        catalog,
        expected=(
            "Ongoing incidents",
            "Systems",
            "Upcoming maintenance",
            "Maintenance in progress",
            "Get notified",
            "E-mail address",
            "Subscribe",
            "Last updated",
            "Investigating",
            "Degraded performance",
            "Skip to content",
            "Full incident history",
            "Support",
            "Main site",
            "About this page",
            "uptime over",
            "days ago",
            "Today",
        ),
    )


@pytest.fixture
def watched_kasse(busy_page):
    """Kasse with 100 days of history: down for half an hour yesterday, a
    finished maintenance window three days ago, response times today."""
    from incidents.models import Check, CheckResult

    Monitor.objects.filter(pk="mon_kasse").update(created_at=NOW - timedelta(days=100))
    for moment, status in ((NOW - 26 * HOUR, Monitor.DOWN), (NOW - 25 * HOUR, Monitor.OPERATIONAL)):
        with time_machine.travel(moment, tick=False):
            Monitor.objects.get(pk="mon_kasse").report_status(status)
    with time_machine.travel(NOW - 5 * 24 * HOUR, tick=False):
        Incident.open_incident(
            title="Datenbank-Umzug",
            message="Wir prüfen das.",
            scheduled_start=NOW - 3 * 24 * HOUR,
            scheduled_end=NOW - 3 * 24 * HOUR + HOUR,
            monitor_ids=["mon_kasse"],
        )
    Check.objects.create(monitor_id="mon_kasse", type="http", url="https://example.com/")
    CheckResult.objects.bulk_create(
        CheckResult(
            monitor_id="mon_kasse",
            checked_at=NOW - HOUR + timedelta(minutes=minute),
            status="operational",
            response_time_ms=100 + minute,
        )
        for minute in range(0, 60, 5)
    )
    return "/monitors/mon_kasse/"


@pytest.mark.parametrize(("language", "catalog"), [("de", "de"), ("ja", "ja")])
def test_the_monitor_page_is_fully_translated(client, watched_kasse, language, catalog):
    from incidents.site import absolute

    assert_fully_translated(
        client,
        watched_kasse,
        language,
        catalog,
        expected=(
            "System",
            "Uptime",
            "24 hours",
            "days",
            "uptime per day, last",
            "uptime over",
            "minutes down",
            "minutes of maintenance",
            "Incidents",
            "today, so far",
            "Response times",
            "Last 24 hours",
            "Last 30 days",
            "median",
            "ms at the top",
            "Incidents and maintenance",
            "started",
            "This page",
        ),
        # Its own address, shown as written.
        user_text=[absolute(watched_kasse)],
    )


def test_the_monitor_page_speaks_the_languages_numbers_and_dates(client, watched_kasse):
    english = render(client, "en", watched_kasse)
    german = render(client, "de", watched_kasse)
    japanese = render(client, "ja", watched_kasse)
    french = render(client, "fr", watched_kasse)
    # Uptime in the language's numbers: 99,85 % in French; the API's stay ratios.
    assert "<dt>24 hours</dt><dd>100.00 %</dd>" in english
    assert "<dt>24 Stunden</dt><dd>100,00\u00a0%</dd>" in german
    assert "<dt>30 jours</dt><dd>99,85\u00a0%</dd>" in french
    assert "<dt>7日間</dt><dd>99.34%</dd>" in japanese
    # The bars: the day in the language's own way, the state and the minutes.
    assert "9 Jun 2025: Outage. 95.83 % uptime, 60 minutes down." in english
    assert "9. Juni 2025: Ausfall. 95,83\u00a0% Verfügbarkeit, 60 Minuten Ausfall." in german
    assert "2025年6月9日：停止。稼働率 95.83%、停止 60 分。" in japanese
    assert (
        "7. Juni 2025: Wartung. 100,00\u00a0% Verfügbarkeit, 0 Minuten Ausfall. 60 Minuten Wartung."
        in german
    )
    assert (
        "10. Juni 2025 (heute, bis jetzt): Betriebsbereit. 100,00\u00a0% Verfügbarkeit,"
        " 0 Minuten Ausfall. Störungen: Zahlungsdienst gestört." in german
    )
    assert "Letzte 24 Stunden: Median 130 ms, schnellste 100 ms, langsamste 155 ms." in german
    assert "Wartung · abgeschlossen" in german


def test_dates_are_written_the_languages_way(client, busy_page):
    german, japanese = render(client, "de"), render(client, "ja")
    english = render(client, "en")
    assert "10 Jun 2025, 07:30 UTC" in english
    assert "10. Juni 2025, 07:30 UTC" in german
    assert "2025年6月10日 07:30 UTC" in japanese
    spanish = render(client, "es")
    assert "10 de junio de 2025, 07:30 UTC" in spanish
    filipino = render(client, "fil")
    assert "Hunyo 10, 2025, 07:30 UTC" in filipino


def test_history_months_are_named_in_the_language(client, busy_page):
    with time_machine.travel(NOW, tick=False):
        body = client.get("/history/", headers={"Accept-Language": "fr"}).content.decode()
    assert ">juin 2025</h2>" in body
    assert "Historique des incidents" in body


def test_the_stale_notice_is_translated(client, busy_page, last_good_dir):
    from incidents.cache import outage

    render(client, "de")
    with time_machine.travel(NOW, tick=False):
        # As a failed query leaves it: no probe of the database due for a second.
        outage.live_data_failed()
        try:
            body = client.get("/", headers={"Accept-Language": "de"}).content.decode()
        finally:
            outage._live_data_failed_at = None
    assert "Status vom " in body and "aktuelle Daten sind vorübergehend nicht verfügbar" in body
    assert "Zahlungsdienst gestört" in body


def test_badges_speak_the_visitors_language(client, monitors):
    assert (
        ">betriebsbereit</text>"
        in client.get("/badge.svg", headers={"Accept-Language": "de"}).content.decode()
    )
    assert ">operational</text>" in client.get("/badge.svg").content.decode()
    assert (
        ">見つかりません</text>"
        in client.get("/badge/mon_none.svg", headers={"Accept-Language": "ja"}).content.decode()
    )


def test_the_uptime_badge_speaks_the_visitors_language_each_its_own_copy(client, watched_kasse):
    def badge(language, query=""):
        with time_machine.travel(NOW, tick=False):
            url = f"/badge/mon_kasse/uptime.svg{query}"
            response = client.get(url, headers={"Accept-Language": language})
        return response.content.decode()

    english, german = badge("en"), badge("de")
    assert "<title>uptime: 99.85 %</title>" in english
    assert "<title>Verfügbarkeit: 99,85 %</title>" in german  # one line: a plain space
    assert "<title>稼働率: 99.85%</title>" in badge("ja")
    assert badge("en") == english and badge("de") == german  # stored apart
    assert ">Tage: 1 bis 365</text>" in badge("de", "?days=0")
    Monitor.objects.filter(pk="mon_kasse").update(created_at=NOW)
    writes.committed()
    assert ">keine Daten</text>" in badge("de", "?days=1")


def test_feeds_have_translated_fixed_words(client, busy_page):
    with time_machine.travel(NOW, tick=False):
        body = client.get("/feed.rss", headers={"Accept-Language": "es"}).content.decode()
    assert "<language>es</language>" in body
    assert "Kamustatus: incidentes" in body
    assert "Incidente: Zahlungsdienst gestört (Investigando)" in body


def test_the_404_page_is_translated(client, db):
    response = client.get("/nowhere/", headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 404
    assert "Página não encontrada" in response.content.decode()


# --- Stored per language, one round trip each ---------------------------------------


def test_each_language_has_its_own_stored_page(client, monitors):
    german = client.get("/", headers={"Accept-Language": "de"})
    japanese = client.get("/", headers={"Accept-Language": "ja"})
    assert german["ETag"] != japanese["ETag"]
    token = cache.get(generation.KEY)
    assert cache.get(page_key("status:de"))[0] == token
    assert cache.get(page_key("status:ja"))[0] == token
    # No English copy was made (with Redis one from an earlier test may be there, out of date).
    english = cache.get(page_key("status:en"))
    assert english is None or english[0] != token


def test_two_languages_in_a_row_are_each_one_round_trip_from_the_fast_path(
    client, monitors, monkeypatch
):
    """Once both are stored, each answer is the generation and that language's
    summary in one cache read — no rendering, whichever came last."""
    first = {
        language: client.get("/", headers={"Accept-Language": language})
        for language in ("de", "ja")
    }
    calls = []
    real_read_many = store.read_many

    def counting_read_many(keys):
        calls.append(list(keys))
        return real_read_many(keys)

    monkeypatch.setattr(store, "read_many", counting_read_many)
    for language, expected in (("de", "Alle Systeme"), ("ja", "すべてのシステム")) * 2:
        before = len(calls)
        with CaptureQueriesContext(connection) as queries:
            again = client.get("/", headers={"Accept-Language": language})
        assert len(queries) == ONE_ROUND_TRIP
        assert len(calls) == before + 1
        assert calls[-1][1] == PAGES.summary_key(f"status:{language}")
        assert again.templates == []
        assert again.content == first[language].content
        assert expected in again.content.decode()


def test_a_cookie_choice_is_served_from_the_fast_path_too(client, monitors):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fil"
    first = client.get("/", headers={"Accept-Language": "de"})
    assert "Gumagana nang maayos ang lahat ng sistema" in first.content.decode()
    again = client.get("/", headers={"Accept-Language": "de"})
    assert again.templates == [] and again.content == first.content


def test_permalinks_and_history_are_stored_per_language_too(client, busy_page):
    incident = Incident.objects.get(title="Zahlungsdienst gestört")
    for url, german, english in (
        (f"/incidents/{incident.id}/", "Meldungen", "Updates"),
        ("/history/", "Störungsverlauf", "Incident history"),
        ("/feed.atom", "Störung: Zahlungsdienst", "Incident: Zahlungsdienst"),
        ("/monitors/mon_kasse/", "Verfügbarkeit", "Uptime"),
    ):
        with time_machine.travel(NOW, tick=False):
            first = client.get(url, headers={"Accept-Language": "de"}).content.decode()
            other = client.get(url, headers={"Accept-Language": "en"}).content.decode()
            again = client.get(url, headers={"Accept-Language": "de"})
        assert german in first and german not in other, url
        assert english in other and english not in first, url
        assert again.content.decode() == first and again.templates == [], url


def test_the_server_error_page_is_translated():
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("de"):
        body = render_to_string("500.html")
    assert '<html lang="de">' in body
    assert "Bei uns ist etwas schiefgelaufen" in body and "Erneut versuchen" in body


def test_without_any_copy_the_unavailable_notice_is_translated(rf, db, monkeypatch):
    from django.db import OperationalError
    from django.utils import translation

    from incidents.cache import outage
    from incidents.cache.outage import survives_outages

    # The failure it records is put back afterwards: later tests get live data.
    monkeypatch.setattr(outage, "_live_data_failed_at", None)

    def unreachable(request):
        raise OperationalError("connection refused")

    with translation.override("ja"):
        cache.delete(page_key("status:ja"))
        response = survives_outages(unreachable)(rf.get("/"))
    assert response.status_code == 503
    assert "ステータスページは一時的に利用できません" in response.content.decode()


def test_the_subscribe_form_answers_in_the_language(client, monitors):
    response = client.post(
        "/subscribe/",
        {"email": "not an address", "leave_empty": ""},
        headers={"Accept-Language": "fr"},
    )
    body = response.content.decode()
    assert "Saisissez une adresse e-mail valide." in body
    assert "Recevoir des notifications" in body and "S’abonner" in body


def test_in_an_outage_a_language_without_a_copy_gets_the_default_ones(
    client, busy_page, monkeypatch
):
    from incidents.cache import outage

    render(client, "en")  # this host has kept the English copy only
    monkeypatch.setattr(outage, "_live_data_failed_at", None)
    monkeypatch.setattr(outage, "_probed_at", None)
    outage.live_data_failed()  # as a failed query leaves it: no probe due for a second
    cache.delete(page_key("status:ja"))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/", headers={"Accept-Language": "ja"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Zahlungsdienst gestört" in body and "Ongoing incidents" in body
    assert "時点の状況を表示しています" in body
