"""The languages the public pages speak, and which one a visitor gets.

A visitor's language is, in order: the one they picked (the picker's cookie),
the first one their browser asks for (``Accept-Language``) that the page
offers, else the page's default (``default_language()``). Only the codes in
``settings.LANGUAGES`` can come out, so a stored page keyed by language
(incidents/cache/pages.py) has at most that many copies, whatever visitors
send. The API and the admin stay in English: their words are contract text
and the operators' own.

``LanguageMiddleware`` decides before the stored status page is looked up —
a cookie and a header, no query — and says so in ``Vary`` and
``Content-Language``. docs/translations.md tells how to add a language.
"""

from functools import lru_cache

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_noop

# Paths whose words stay English (their own prefix, as the root URLconf mounts them).
# Machines' paths (robots.txt, the health check, pings) have no words to translate.
ENGLISH_ONLY = ("/api/", "/admin/", "/robots.txt", "/healthz", "/ping/")

# Browsers that ask for Tagalog get Filipino, the standard form of it.
ALIASES = {"tl": "fil"}

# Longer Accept-Language values are not read past this (Django reads 500).
HEADER_MAX_LENGTH = 500

# Django has no Filipino catalog of its own: the month names its date formats
# use (``F``, ``M``) are translated in ours, under Django's own msgids.
DJANGO_MSGIDS = [
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
]

# How the pages write a moment, a time of day, a day and a month, per language, in
# Django's date format characters (month names come from the catalogs). Not
# Django's own DATETIME_FORMAT: the admin keeps that one.
DATE_FORMATS = {
    "en": {"datetime": "j M Y, H:i", "time": "H:i", "day": "j M Y", "month": "F Y"},
    "de": {"datetime": "j. F Y, H:i", "time": "H:i", "day": "j. F Y", "month": "F Y"},
    "fr": {"datetime": "j F Y, H:i", "time": "H:i", "day": "j F Y", "month": "F Y"},
    "es": {
        "datetime": r"j \d\e F \d\e Y, H:i",
        "time": "H:i",
        "day": r"j \d\e F \d\e Y",
        "month": r"F \d\e Y",
    },
    "pt-br": {
        "datetime": r"j \d\e F \d\e Y, H:i",
        "time": "H:i",
        "day": r"j \d\e F \d\e Y",
        "month": r"F \d\e Y",
    },
    "ja": {"datetime": "Y年n月j日 H:i", "time": "H:i", "day": "Y年n月j日", "month": "Y年n月"},
    "fil": {"datetime": "F j, Y, H:i", "time": "H:i", "day": "F j, Y", "month": "F Y"},
}


def offered():
    """The codes the page speaks, in the picker's order."""
    return [code for code, _name in settings.LANGUAGES]


def named():
    """(code, name) of each offered language, the name in that language."""
    return list(settings.LANGUAGES)


def default_language():
    """The page's language for visitors who ask for none it offers: the page
    settings' default language (else ``PAGE_LANGUAGE``).

    It runs before the stored page is looked up, so it reads this process's
    copy of the settings and never the database: after the default is changed
    in the admin, a process answers one such visitor in the old language (a
    page stored under that language's name, so nothing wrong is stored) while
    the request re-reads the settings, and the next one in the new."""
    from incidents.appearance.page import known_language

    return known_language() or settings.KAMUSTATUS_PAGE_LANGUAGE


def supported(code):
    """The offered language for a language tag (``de-AT`` -> ``de``,
    ``pt`` -> ``pt-br``), or None."""
    code = code.strip().lower().replace("_", "-")
    codes = offered()
    if code in codes:
        return code
    primary = code.split("-", 1)[0]
    primary = ALIASES.get(primary, primary)
    if primary in codes:
        return primary
    for candidate in codes:
        if candidate.split("-", 1)[0] == primary:
            return candidate
    return None


def from_accept_language(header):
    """The first offered language of an Accept-Language value (by quality,
    then order), or None. Read up to HEADER_MAX_LENGTH characters, and
    memoised per value so read (browsers send few distinct ones)."""
    return _first_offered(header[:HEADER_MAX_LENGTH])


@lru_cache(maxsize=256)
def _first_offered(header):
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        tag = tag.strip()
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if not tag or tag == "*" or not 0 < quality <= 1:
            continue
        weighted.append((-quality, position, tag))
    for _quality, _position, tag in sorted(weighted):
        code = supported(tag)
        if code is not None:
            return code
    return None


def visitor_language(request):
    """The language a visitor reads the public pages in."""
    picked = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if picked in offered():
        return picked
    header = request.headers.get("Accept-Language")
    if header:
        code = from_accept_language(header)
        if code is not None:
            return code
    return default_language()


def date_format(kind):
    """The active language's format for ``kind`` (datetime, time, day, month)."""
    formats = DATE_FORMATS.get(translation.get_language()) or DATE_FORMATS["en"]
    return formats[kind]


class LanguageMiddleware:
    """Speak the visitor's language on the public pages, English elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(ENGLISH_ONLY):
            return self.get_response(request)
        language = visitor_language(request)
        request.LANGUAGE_CODE = language
        translation.activate(language)
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        # Shared caches must keep a copy per language, as the page cache does.
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response
