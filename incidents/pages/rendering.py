"""Rendered pages, kept in the shared cache until something they show changes.

A stored page is the response bytes together with what they were rendered
from: the content generation (read *before* the data, see
incidents/generation.py) and the moment the clock alone would change them (the
next maintenance edge, or an item leaving the recent-history horizon).

A request for an unchanged page costs one cache round trip and no template
rendering: one ``get_many`` of the generation and the page's small *summary*
(generation, validity, ETag, date) — a single query with the database cache.
The bytes themselves are stored in the shared cache too, but each process also
keeps the latest bytes of each page it served, known by their ETag (a hash of
the bytes): when the summary names bytes this process already holds, they are
sent without fetching or decoding them again. Whether a page is current is
decided by the shared summary alone, so no process can serve stale bytes.

Pages kept here contain nothing that varies per request: no CSRF token, no
user, and no inline script, so no CSP nonce is needed (the policy's
``script-src 'self'`` covers the static scripts).
"""

import hashlib
import threading
import time
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.http import http_date, parse_etags, parse_http_date_safe

from incidents import generation

# Stored as plain tuples (fast to unpickle, and no class path in the cache to
# break on a rename); the version in the prefix changes when their shape does.
KEY_PREFIX = "kamustatus:page:v1:"
SUMMARY_PREFIX = "kamustatus:page-summary:v1:"

# How many pages' bytes each process keeps at hand (the status page, its live
# part, the permalinks being read most...).
BYTES_KEPT_PER_PROCESS = 64

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
        """A whole stored page (bytes included) from its cache value, or None."""
        if isinstance(value, tuple) and len(value) == _STORED_FIELDS:
            return cls(*value)
        return None

    @classmethod
    def load_summary(cls, value):
        """A stored page without its bytes (``content`` None), or None."""
        if isinstance(value, tuple) and len(value) == _STORED_FIELDS - 1:
            return cls(*value, content=None)
        return None

    def summary(self):
        return (
            self.generation,
            self.valid_until,
            self.etag,
            self.last_modified,
            self.content_type,
        )

    def is_current(self, token, now):
        return self.generation == token and (self.valid_until is None or now < self.valid_until)


_STORED_FIELDS = len(fields(StoredPage))


def page_key(name):
    """Where the whole stored page (bytes included) is kept."""
    return KEY_PREFIX + name


def summary_key(name):
    return SUMMARY_PREFIX + name


class _KeptBytes:
    """This process's copies of page bytes: name -> (ETag, bytes), newest kept."""

    def __init__(self, size):
        self.size = size
        self.pages = {}
        self.lock = threading.Lock()

    def get(self, name, etag):
        kept = self.pages.get(name)
        return kept[1] if kept is not None and kept[0] == etag else None

    def keep(self, name, etag, content):
        with self.lock:
            self.pages.pop(name, None)
            self.pages[name] = (etag, content)
            while len(self.pages) > self.size:
                del self.pages[next(iter(self.pages))]


_kept = _KeptBytes(BYTES_KEPT_PER_PROCESS)


def earliest(*moments):
    """The first of some moments (None ones ignored), or None."""
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def _lookup(name):
    """The current generation and the page's summary, in one cache round trip."""
    key = summary_key(name)
    found = cache.get_many([generation.KEY, key])
    return found.get(generation.KEY), StoredPage.load_summary(found.get(key))


def _content(name, summary):
    """The bytes a summary names: this process's copy, else the shared one."""
    content = _kept.get(name, summary.etag)
    if content is None:
        stored = StoredPage.load(cache.get(page_key(name)))
        if stored is None or stored.etag != summary.etag:
            return None  # replaced meanwhile: render afresh
        content = stored.content
        _kept.keep(name, stored.etag, content)
    return content


def _from_store(request, name, vary):
    """The response from the stored page when it is current, else None."""
    token, summary = _lookup(name)
    if token is None or summary is None or not summary.is_current(token, time.time()):
        return None, token, summary
    if _is_not_modified(request, summary):
        return _respond(request, summary, vary, not_modified=True), token, summary
    content = _content(name, summary)
    if content is None:
        return None, token, summary
    return _respond(request, summary, vary, content=content), token, summary


def stored_response(request, name, vary=()):
    """The response for the page ``name`` if a current copy is stored, else None."""
    return _from_store(request, name, vary)[0]


def serve(request, name, build, vary=()):
    """The response for the page ``name``: from the cache when it is current,
    else from ``build(now) -> Rendered``, stored for the next request."""
    response, token, previous = _from_store(request, name, vary)
    if response is None:
        stored = _render_and_store(name, token, build, previous)
        not_modified = _is_not_modified(request, stored)
        response = _respond(request, stored, vary, not_modified, content=stored.content)
    return response


def _render_and_store(name, token, build, previous):
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
    # The bytes first: a summary is never seen before the bytes it names.
    cache.set(page_key(name), astuple(stored), None)
    cache.set(summary_key(name), stored.summary(), None)
    _kept.keep(name, etag, stored.content)
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


def _respond(request, stored, vary, not_modified=False, content=None):
    if not_modified:
        response = HttpResponseNotModified()
    else:
        # gunicorn sends whatever body it is given, so HEAD gets none here.
        body = b"" if request.method == "HEAD" else content
        response = HttpResponse(body, content_type=stored.content_type)
        response.headers["Content-Length"] = str(len(content))
    response.headers["ETag"] = stored.etag
    response.headers["Last-Modified"] = http_date(stored.last_modified)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if vary:
        response.headers["Vary"] = ", ".join(vary)
    return response
