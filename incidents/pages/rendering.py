"""Rendered pages, kept in the shared cache until something they show changes.

A stored page is the response bytes together with what they were rendered
from: the content generation (read *before* the data, see
incidents/generation.py) and the moment the clock alone would change them (the
next maintenance edge, or an item leaving the recent-history horizon). A
request for an unchanged page costs one cache round trip — the generation and
the page in one ``get_many``, a single query with the database cache — and no
template rendering.

Pages kept here contain nothing that varies per request: no CSRF token, no
user, and no inline script, so no CSP nonce is needed (the policy's
``script-src 'self'`` covers the static scripts).
"""

import hashlib
import time
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.http import http_date, parse_etags, parse_http_date_safe

from incidents import generation

# Stored as a plain tuple (fast to unpickle, and no class path in the cache
# to break on a rename); the version in the prefix changes when its shape does.
KEY_PREFIX = "kamustatus:page:v1:"

# Browsers and proxies may keep a copy but must ask again every time; the
# ETag makes asking cheap.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class Rendered:
    """What a page builder returns: the bytes and how long the clock keeps them true."""

    content: bytes
    valid_until: datetime | None = None
    content_type: str = "text/html; charset=utf-8"


@dataclass(frozen=True)
class StoredPage:
    generation: str
    valid_until: float | None  # epoch seconds; None: only a write changes it
    etag: str
    last_modified: int  # epoch seconds
    content_type: str
    content: bytes

    @classmethod
    def load(cls, value):
        if isinstance(value, tuple) and len(value) == len(fields(cls)):
            return cls(*value)
        return None

    def is_current(self, token, now):
        return self.generation == token and (self.valid_until is None or now < self.valid_until)


def page_key(name):
    return KEY_PREFIX + name


def earliest(*moments):
    """The first of some moments (None ones ignored), or None."""
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def serve(request, name, build, vary=()):
    """The response for the page ``name``: from the cache when it is current,
    else from ``build(now) -> Rendered``, stored for the next request."""
    key = page_key(name)
    found = cache.get_many([generation.KEY, key])
    token = found.get(generation.KEY)
    stored = StoredPage.load(found.get(key))
    if token is None or stored is None or not stored.is_current(token, time.time()):
        stored = _render_and_store(key, token, build, previous=stored)
    return _respond(request, stored, vary)


def _render_and_store(key, token, build, previous):
    if token is None:
        token = generation.current()
    now = timezone.now()
    rendered = build(now)
    etag = '"' + hashlib.blake2b(rendered.content, digest_size=12).hexdigest() + '"'
    last_modified = int(now.timestamp())
    if previous is not None:
        if previous.etag == etag:
            # Same bytes as before (a write elsewhere, or an edge that changed
            # nothing here): keep the old date so If-Modified-Since still matches.
            last_modified = previous.last_modified
        else:
            # New bytes must never share a date with the old ones, or a client
            # asking If-Modified-Since within the same second would keep them.
            last_modified = max(last_modified, previous.last_modified + 1)
    stored = StoredPage(
        generation=token,
        valid_until=rendered.valid_until.timestamp() if rendered.valid_until else None,
        etag=etag,
        last_modified=last_modified,
        content_type=rendered.content_type,
        content=rendered.content,
    )
    cache.set(key, astuple(stored), None)
    return stored


def _is_not_modified(request, stored):
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        tags = parse_etags(if_none_match)
        # Weak comparison, as RFC 9110 asks for If-None-Match.
        return "*" in tags or any(tag.removeprefix("W/") == stored.etag for tag in tags)
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and stored.last_modified <= since


def _respond(request, stored, vary):
    if _is_not_modified(request, stored):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(stored.content, content_type=stored.content_type)
    response.headers["ETag"] = stored.etag
    response.headers["Last-Modified"] = http_date(stored.last_modified)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if vary:
        response.headers["Vary"] = ", ".join(vary)
    return response
