"""Stored responses: bytes kept in the shared cache until what they show changes.

Every public face keeps what it rendered the same way: the response bytes with
their ETag, stored together with the content generation read *before* the data
(incidents/generation.py) and the moment the clock alone would change them
(``valid_until``: the next maintenance edge, say). Such an entry is current
while the generation is unchanged and that moment has not come; a request
checks both with one ``get_many`` of the generation and the entry — one cache
round trip, a single query with the database cache.

This module holds that mechanism: the entry and its cache shape, the one-trip
fetch, building an entry from fresh bytes, the conditional-request check, and
(for faces that want it) answering through a cache outage. What a face sends —
its headers, Cache-Control, CORS, key names — stays with the face:
incidents/pages/rendering.py (the status page, which also splits each entry
into a small summary and per-process bytes), incidents/api/caching.py and
incidents/public/cached.py.
"""

import hashlib
import logging
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone
from django.utils.http import parse_etags, parse_http_date_safe

from incidents import generation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """What a builder returns: the bytes and how long the clock keeps them true."""

    content: bytes
    valid_until: datetime | None = None
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()  # kept and sent again with the bytes


@dataclass(frozen=True)
class Stored:
    """One stored response. Kept in the cache as a plain tuple (fast to
    unpickle, and no class path to break on a rename): a face puts a version
    in its key prefix and changes it when this shape changes."""

    generation: str | None  # None: built while the cache was away, never stored
    valid_until: float | None  # epoch seconds; None: only a write changes it
    etag: str
    last_modified: int  # epoch seconds
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None  # None in a summary

    @classmethod
    def load(cls, value):
        """A whole entry (bytes included) from its cache value, or None."""
        if isinstance(value, tuple) and len(value) == _FIELDS:
            return cls(*value)
        return None

    @classmethod
    def load_summary(cls, value):
        """An entry without its bytes (``body`` None), or None."""
        if isinstance(value, tuple) and len(value) == _FIELDS - 1:
            return cls(*value, body=None)
        return None

    def to_cache(self):
        return astuple(self)

    def summary(self):
        """The entry without its bytes, as a cache value."""
        return astuple(self)[:-1]

    def is_current(self, token, now):
        """Still true for the generation ``token`` at epoch second ``now``?"""
        return (
            token is not None
            and self.generation == token
            and (self.valid_until is None or now < self.valid_until)
        )

    @classmethod
    def from_rendered(cls, token, rendered, now, previous=None):
        """The entry for fresh bytes rendered at ``now`` under ``token``.

        ``previous`` (the entry they replace, if known) keeps Last-Modified
        honest: unchanged bytes keep their old date, so If-Modified-Since still
        matches; new bytes never share a date with the old ones, or a client
        asking within the same second would keep the old ones."""
        etag = etag_for(rendered.content)
        last_modified = int(now.timestamp())
        if previous is not None:
            if previous.etag == etag:
                last_modified = previous.last_modified
            else:
                last_modified = max(last_modified, previous.last_modified + 1)
        return cls(
            generation=token,
            valid_until=rendered.valid_until.timestamp() if rendered.valid_until else None,
            etag=etag,
            last_modified=last_modified,
            content_type=rendered.content_type,
            headers=tuple(rendered.headers),
            body=rendered.content,
        )


_FIELDS = len(fields(Stored))


def etag_for(content):
    return '"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'


def fetch(key):
    """The current generation (None if the cache has none) and the cache
    value at ``key``, in one round trip."""
    found = cache.get_many([generation.KEY, key])
    return found.get(generation.KEY), found.get(key)


def is_not_modified(request, etag, last_modified=None):
    """Does the client already hold this version? If-None-Match with weak
    comparison (RFC 9110: a proxy that compressed the body marks it ``W/``),
    lists and ``*``; else If-Modified-Since, when the face sends dates."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        tags = parse_etags(if_none_match)
        return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)
    if last_modified is None:
        return False
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and last_modified <= since


def current_or_build(key, build, *, timeout, what):
    """The current entry at ``key``, else one built with ``build(now) ->
    Rendered`` (or None for "nothing to keep", returned as None) and stored
    for ``timeout`` seconds.

    A cache outage costs speed, never an answer: the entry is built afresh
    and not stored, with one log line (no traceback per request while the
    cache is down); ``what`` names the face in it."""
    token = value = None
    try:
        token, value = fetch(key)
        token = token or generation.current()
    except Exception as error:
        token = None
        logger.warning("%s cache unavailable, rendering afresh: %r", what, error)
    now = timezone.now()
    entry = Stored.load(value)
    if entry is not None and entry.is_current(token, now.timestamp()):
        return entry
    rendered = build(now)
    if rendered is None:
        return None
    entry = Stored.from_rendered(token, rendered, now)
    if token is not None:
        try:
            cache.set(key, entry.to_cache(), timeout)
        except Exception as error:
            logger.warning("could not keep a %s response in the cache: %r", what, error)
    return entry
