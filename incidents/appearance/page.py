"""``page_settings()``: the page's settings as every face reads them.

The admin's values where set, else the environment's (a fresh install has no
row at all). Read once per settings token per process: a save (or delete) of
the settings changes that token (``PageSettings`` is ``ShapesEveryPage``,
incidents/cache/generation.py), so every host reads the new values on its
very next request, while other writes leave this process's copy alone. The
token costs no round trip of its own in a request that read the cache
already (a stored answer's lookup, the API key's record: a write's
``Location`` header needs no read after the commit); else one look at the
token. The stored-page fast path, which serves bytes rendered with these
values, does not call this at all. Within a request the first answer is kept,
so a page rendering many links asks once; outside requests (the worker
writing a batch of mails) a copy is kept for at most
``OUTSIDE_REQUESTS_SECONDS``.
"""

import contextlib
import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import DatabaseError
from django.urls import reverse

from incidents.appearance import colours, logos
from incidents.cache import generation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    name: str
    public_url: str  # "" when neither the admin nor PAGE_URL set one
    time_zone: str
    language: str
    accent_colour: str  # "" for the built-in look
    accent_colour_dark: str
    support_url: str
    website_url: str
    about: str
    logo_type: str
    logo_hash: str

    @property
    def logo_url(self):
        if not self.logo_hash:
            return ""
        return reverse("page-logo", args=[self.logo_hash + logos.TYPES[self.logo_type]])

    @functools.cached_property
    def look(self):
        """The stylesheet with the page's own colours ("" for the built-in
        ones): a file, since the CSP allows no inline style."""
        if not self.accent_colour and not self.accent_colour_dark:
            return ""
        light = self.accent_colour or colours.DEFAULT_ACCENTS["light"]
        dark = self.accent_colour_dark or (
            colours.for_dark_scheme(self.accent_colour)
            if self.accent_colour
            else colours.DEFAULT_ACCENTS["dark"]
        )
        return (
            f":root {{ --link: {light}; --accent: {light}; }}\n"
            "@media (prefers-color-scheme: dark) {\n"
            f"  :root {{ --link: {dark}; --accent: {dark}; }}\n"
            "}\n"
        )

    @functools.cached_property
    def look_hash(self):
        return hashlib.sha256(self.look.encode()).hexdigest()[:16] if self.look else ""

    @property
    def look_url(self):
        return reverse("page-look", args=[self.look_hash]) if self.look_hash else ""


def _from_environment():
    return {
        "name": settings.KAMUSTATUS_PAGE_NAME,
        "public_url": settings.KAMUSTATUS_PAGE_URL.rstrip("/"),
        "time_zone": settings.KAMUSTATUS_TIME_ZONE,
        "language": settings.KAMUSTATUS_PAGE_LANGUAGE,
    }


@functools.lru_cache(maxsize=8)
def _version_of(values):
    return hashlib.sha256(repr(values).encode()).hexdigest()[:12]


def environment_version():
    """Changes with the environment's defaults (PAGE_NAME…), read from
    settings alone: for keys of stored documents that name the page."""
    return _version_of(tuple(_from_environment().values()))


def _load():
    from incidents.appearance.models import PageSettings

    values = _from_environment()
    row = PageSettings.objects.defer("logo").filter(pk=PageSettings.SINGLETON).first()
    if row is None:
        return _load_defaults()
    return Page(
        name=row.name or values["name"],
        public_url=row.public_url or values["public_url"],
        time_zone=row.time_zone or values["time_zone"],
        language=row.default_language or values["language"],
        accent_colour=row.accent_colour,
        accent_colour_dark=row.accent_colour_dark,
        support_url=row.support_url,
        website_url=row.website_url,
        about=row.about,
        logo_type=row.logo_type if row.logo_type in logos.TYPES else "",
        logo_hash=row.logo_hash if row.logo_type in logos.TYPES else "",
    )


# Outside a request, the worker may use a copy this old without asking.
OUTSIDE_REQUESTS_SECONDS = 1.0

_kept = None  # ((settings token, *environment), Page, monotonic time read): this process's copy


def known_language():
    """The default language of this process's copy of the settings: no query
    and no cache call once the process has read them (the first call reads
    them). See incidents.languages.default_language."""
    kept = _kept
    if kept is None:
        return page_settings().language
    return kept[1].language


_this_request = threading.local()


def page_settings():
    """The page's settings now (a ``Page``)."""
    global _kept
    page = getattr(_this_request, "page", None)
    if page is not None:
        return page
    in_request = getattr(_this_request, "active", False)
    kept = _kept
    if (
        not in_request
        and kept is not None
        and time.monotonic() - kept[2] < OUTSIDE_REQUESTS_SECONDS
        and kept[0][1:] == tuple(_from_environment().values())
    ):
        return kept[1]
    try:
        token = (in_request and generation.settings_read()) or generation.settings_token()
    except Exception as error:
        logger.debug("content generation unavailable: %r", error)
        token = None
    # The environment's values are part of the key: tests (and a reloaded
    # configuration) change them without a write.
    key = (token, *_from_environment().values())
    if token is not None and kept is not None and kept[0] == key:
        page = kept[1]
        _kept = (key, page, time.monotonic())
    else:
        try:
            page = _load()
        except DatabaseError as error:
            # Before the first migration, or while the database is away: the
            # environment's values (nothing is kept, so the admin's return).
            logger.debug("page settings unavailable: %r", error)
            return _load_defaults()
        if token is not None:
            _kept = (key, page, time.monotonic())
    if in_request:
        _this_request.page = page
    return page


def _load_defaults():
    return Page(
        **_from_environment(),
        accent_colour="",
        accent_colour_dark="",
        support_url="",
        website_url="",
        about="",
        logo_type="",
        logo_hash="",
    )


def forget(**kwargs):
    """After a save of the settings in this request, read them afresh."""
    global _kept
    _this_request.page = None
    _kept = None


@contextlib.contextmanager
def settings_as(page):
    """Use ``page`` as the page settings in this thread while the block runs:
    for threads that must not reach the database (alert deliveries)."""
    previous = getattr(_this_request, "page", None)
    _this_request.page = page
    try:
        yield page
    finally:
        _this_request.page = previous


def _request_started(**kwargs):
    _this_request.active = True
    _this_request.page = None


def _request_finished(**kwargs):
    _this_request.active = False
    _this_request.page = None


request_started.connect(_request_started, dispatch_uid="page-settings-request-started")
request_finished.connect(_request_finished, dispatch_uid="page-settings-request-finished")


def context(request):
    """A template context processor: ``page_context()``."""
    return page_context()


def page_context():
    """What every public template is given of the page: ``page`` (its
    settings) and ``page_name``."""
    page = page_settings()
    return {"page": page, "page_name": page.name}
