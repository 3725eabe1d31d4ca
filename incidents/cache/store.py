"""Stored responses: bytes kept in the shared cache until what they show changes.

Every face keeps what it rendered the same way: the response bytes with their
ETag, stored together with the content generation read *before* the data
(incidents/cache/generation.py) and the moment the clock alone would change
them (``valid_until``: the next maintenance edge, say). Such an entry is
current while the generation is unchanged and that moment has not come; a
request checks both with one ``get_many`` of the generation and the entry —
one cache round trip, a single query with the database cache.

A ``Shelf`` is where one face keeps its entries (a key prefix, a timeout), and
``Shelf.get_or_build`` is the one get-or-build loop every face goes through.
A shelf may also

- keep each entry as a small *summary* beside its bytes, with each process
  holding the latest bytes it served (the status page: an unchanged page is
  then one round trip, and a 304 needs no bytes at all);
- let *one* worker render an entry that went out of date while the others
  wait a moment for its copy (after a write, every worker misses at once);
- keep its bytes gzip-compressed in the shared cache (``packed``): the worker
  that renders compresses them once, and every process fetches the small
  compressed copy, keeps it for clients that accept gzip and unpacks it once
  for those that do not. Entries in memory always hold the plain bytes;
- or keep them plain in the shared cache and compressed in each process, once
  per version, for the clients that accept gzip (``compressed``: small
  entries read on every request, which unpacking each time would cost more
  than it saves).

A cache outage costs speed, never an answer: the entry is built afresh and not
stored, with one log line per request (no traceback). What a face sends — its
headers, Cache-Control, CORS, key names — stays with the face.
"""

import gzip
import hashlib
import logging
import threading
import time
from dataclasses import astuple, dataclass, fields, replace
from datetime import datetime
from zlib import error as zlib_error

from django.core.cache import cache
from django.utils import timezone
from django.utils.http import parse_etags, parse_http_date_safe

from incidents.cache import generation
from incidents.cache.database import add_one, read_many, write_many

logger = logging.getLogger(__name__)

# One worker renders an entry that went out of date; the others poll for its
# result this often, for at most this long, and a claim lapses after this.
RENDER_POLL_SECONDS = 0.01
RENDER_WAIT_SECONDS = 2.0
RENDER_CLAIM_SECONDS = 10

# gzip's level for packed bytes: the default, compressed once per version.
PACK_LEVEL = 6

# Entries are stored with one statement (``write_many``) that leaves the cache
# table's culling alone; the first store in a process, and then one every
# this many seconds, goes through Django's ``set_many`` instead, which culls
# expired and surplus entries (the database cache's MAX_ENTRIES).
CULL_INTERVAL = 60.0
_cull_due_at = 0.0  # time.monotonic() of the next culling store


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


def read_with(keys):
    """``read_many`` of ``keys`` and, in the same round trip, of the content
    generation, the page's settings token and the systems token (a pending
    bump made first):
    every read of a stored answer, and of an API key's record. The settings
    token found is kept for the rest of the request, so the page settings
    cost no read of their own (incidents/cache/generation.py). Raises when
    the cache is away."""
    generation.settle()
    found = read_many([generation.KEY, *keys, generation.SETTINGS_KEY, generation.SYSTEMS_KEY])
    generation.note_read(found)
    return found


def etag_for(content):
    return '"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'


def accepts_gzip(accept_encoding):
    """Does an Accept-Encoding value accept gzip (and not with q=0)?"""
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


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


class _KeptBytes:
    """One process's copies of entry bytes: name -> (ETag, bytes), newest kept."""

    def __init__(self, size):
        self.size = size
        self.entries = {}
        self.lock = threading.Lock()

    def get(self, name, etag):
        kept = self.entries.get(name)
        return kept[1] if kept is not None and kept[0] == etag else None

    def keep(self, name, etag, content):
        with self.lock:
            self.entries.pop(name, None)
            self.entries[name] = (etag, content)
            while len(self.entries) > self.size:
                del self.entries[next(iter(self.entries))]

    def clear(self):
        with self.lock:
            self.entries.clear()


class _Waits:
    """Which entries a thread of this process is getting (claiming, polling or
    building) for the others: (name, token) -> an Event set when it is done."""

    def __init__(self):
        self.events = {}
        self.lock = threading.Lock()

    def follow(self, what, timeout):
        """Wait (at most ``timeout`` seconds) for the thread getting ``what``
        and return True; or, when none is, make the caller that thread and
        return False (it must call ``done(what)`` when it has an answer)."""
        with self.lock:
            event = self.events.get(what)
            if event is None:
                self.events[what] = threading.Event()
                return False
        event.wait(max(0.0, timeout))
        return True

    def done(self, what):
        with self.lock:
            event = self.events.pop(what, None)
        if event is not None:
            event.set()


def _pack(content):
    return gzip.compress(content, PACK_LEVEL, mtime=0)


def _always(entry):
    return True


def _no_check(found):
    pass


def _cull_due():
    """Is this store the one that culls (and the next one due an interval on)?"""
    global _cull_due_at
    now = time.monotonic()
    if now < _cull_due_at:
        return False
    _cull_due_at = now + CULL_INTERVAL
    return True


class Shelf:
    """Where one face keeps its stored responses, and the one way they are
    looked up, built and stored.

    ``summary_prefix`` keeps a summary beside each entry's bytes and
    ``kept_per_process`` entries' bytes in each process; ``one_renderer``
    lets one worker build an out-of-date entry while the others wait."""

    def __init__(
        self,
        prefix,
        *,
        timeout,
        what,
        summary_prefix=None,
        kept_per_process=0,
        one_renderer=False,
        claim_prefix=None,
        packed=False,
        compressed=False,
    ):
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError("every stored entry needs a finite timeout (seconds)")
        self.prefix = prefix
        self.timeout = timeout
        self.what = what
        self.summary_prefix = summary_prefix
        self.kept = _KeptBytes(kept_per_process) if kept_per_process else None
        self.one_renderer = one_renderer
        self.waits = _Waits()
        self.claim_prefix = claim_prefix or prefix + "render:"
        self.packed = packed
        # On a packed or compressed shelf: this process's compressed copies, by
        # ETag (a few KB each: enough for every badge and list being polled).
        self.packs = _KeptBytes(max(kept_per_process, 256)) if packed or compressed else None

    def key(self, name):
        """Where the whole entry (bytes included) is kept."""
        return self.prefix + name

    def summary_key(self, name):
        return self.summary_prefix + name

    def claim_key(self, name, token):
        return f"{self.claim_prefix}{name}:{token}"

    def lookup(self, name):
        """The current generation (created if the cache has none) and the
        entry at ``name`` (a summary on a summary shelf), in one round trip.
        Raises when the cache is away."""
        token, entry, _found = self._read(name)
        return token, entry

    def _read(self, name, also=()):
        """``lookup(name)``, and the values found of the keys ``also`` names
        (a dict), read in the same round trip."""
        key = self.summary_key(name) if self.summary_prefix else self.key(name)
        found = read_with([key, *also])
        token = found.get(generation.KEY) or generation.current()
        value = found.get(key)
        entry = Stored.load_summary(value) if self.summary_prefix else Stored.load(value)
        return token, entry, {other: found[other] for other in also if other in found}

    def whole(self, name):
        """The whole entry stored at ``name`` (plain bytes), or None; raises
        when the cache is away."""
        whole = Stored.load(cache.get(self.key(name)))
        if whole is None or not self.packed:
            return whole
        try:
            content = gzip.decompress(whole.body)
        except (OSError, EOFError, zlib_error):
            return None  # not what this shelf stores: built again
        self.packs.keep(whole.etag, whole.etag, whole.body)
        return replace(whole, body=content)

    def packed_body(self, etag, content):
        """``content`` (the plain bytes of the entry ``etag``) gzip-compressed,
        on a packed or compressed shelf: this process's copy, compressed once
        per version when it has none."""
        found = self.packs.get(etag, etag)
        if found is None:
            found = _pack(content)
            self.packs.keep(etag, etag, found)
        return found

    def sent_etag(self, entry, packed):
        """An entry's ETag as sent: the weak form of it when its bytes go
        compressed (another representation of the same bytes, as Django's
        GZipMiddleware marks it; If-None-Match matches either)."""
        return "W/" + entry.etag if packed else entry.etag

    def sent_body(self, entry, packed):
        """An entry's bytes as sent: gzip-compressed when ``packed`` (a
        client that accepts gzip, on a packed or compressed shelf)."""
        return self.packed_body(entry.etag, entry.body) if packed else entry.body

    def _with_bytes(self, name, summary):
        """The entry a summary names, bytes included: this process's copy,
        else the shared one; None if it was replaced meanwhile."""
        content = self.kept.get(name, summary.etag) if self.kept else None
        if content is None:
            whole = self.whole(name)
            if whole is None or whole.etag != summary.etag:
                return None
            content = whole.body
            if self.kept:
                self.kept.keep(name, whole.etag, content)
        return replace(summary, body=content)

    def current(self, name, wants_body=_always, seen=()):
        """``(token, found, current)``: the generation, the entry found (even
        if out of date: it is the one a new build replaces) and, if that is
        current, the entry to answer with — without its bytes when
        ``wants_body(entry)`` says they are not needed (a 304). Raises when
        the cache is away.

        ``seen``: generations this request has already read. An entry built
        under one of them is as fresh as the request needs, even if a write
        has landed since: that write came after the request did."""
        return self._current(name, wants_body, seen=seen)[:3]

    def current_with(self, name, also, wants_body=_always):
        """``(entry, found)``: the current entry (None if there is none) and
        what was found of the keys ``also`` names, in one round trip."""
        _token, _found, entry, found = self._current(name, wants_body, also)
        return entry, found

    def _current(self, name, wants_body, also=(), seen=()):
        """``current(...)`` and what was found of ``also`` (read with it)."""
        token, found, extra = self._read(name, also)
        now = time.time()
        if found is None or not (
            found.is_current(token, now)
            or (found.generation in seen and found.is_current(found.generation, now))
        ):
            return token, found, None, extra
        if found.body is not None or not wants_body(found):
            return token, found, found, extra
        return token, found, self._with_bytes(name, found), extra

    def store(self, name, entry):
        """Keep an entry for the next request; a cache outage only logs."""
        stored = entry
        if self.packed:
            stored = replace(entry, body=self.packed_body(entry.etag, entry.body))
        # The bytes first: a summary is never seen before the bytes it names
        # (in one statement with the database cache, in order with Redis).
        values = {self.key(name): stored.to_cache()}
        if self.summary_prefix:
            values[self.summary_key(name)] = entry.summary()
        try:
            if _cull_due():
                cache.set_many(values, self.timeout)
            else:
                write_many(values, self.timeout)
        except Exception as error:
            logger.warning("could not keep a %s response in the cache: %r", self.what, error)
            return
        if self.kept:
            self.kept.keep(name, entry.etag, entry.body)

    def build(self, name, token, build, previous=None):
        """An entry from ``build(now) -> Rendered`` (None: nothing to keep),
        stored under ``token`` unless the cache is away (``token`` None)."""
        now = timezone.now()
        rendered = build(now)
        if rendered is None:
            return None
        entry = Stored.from_rendered(token, rendered, now, previous)
        if token is not None:
            self.store(name, entry)
        return entry

    def get_or_build(self, name, build, *, wants_body=_always, look_up=True, also=(), check=None):
        """The current entry for ``name``, else one built with ``build(now)``
        and stored. ``look_up=False`` skips the lookup (the caller just saw
        the cache fail) and builds at once, without storing.

        ``check(found)``, when given, runs once before anything is answered
        or built (it may raise): ``found`` is what the first lookup found of
        the keys ``also`` names, read in the same round trip (the API's key
        record), or None when the cache was not read (away, or skipped).

        On a one-renderer shelf, after a write one worker claims the build
        (per entry and generation, in the shared cache); the others wait a
        moment for its result instead of building the same entry themselves.
        A waiter accepts a copy built under a generation it has read itself
        since it arrived (``seen``), never an older one: a write that landed
        while it waited came after it, and the very next request sees that
        write. Accepting only the newest generation instead, during a refresh
        storm (a write every 100 ms, a render about as long) a render was
        always outdated by the time it was done, and waiters waited out the
        whole RENDER_WAIT_SECONDS, then all rendered at once. A waiter
        builds itself when the claim outlives RENDER_WAIT_SECONDS.

        Within a process, one thread per entry and generation does that
        claiming and polling (the *leader*); the process's other threads that
        want the same entry wait on it (``_Waits``) and look again once it has
        an answer — so during a refresh storm a worker's threads do not poll
        the shared cache by the dozen while its renderer needs the CPU."""
        check = check or _no_check
        if not look_up or generation.cache_recently_failed():
            check(None)
            return self.build(name, None, build)
        deadline = time.monotonic() + RENDER_WAIT_SECONDS
        claim = None
        leading = None  # the (name, token) this thread leads in this process
        seen = set()  # the generations this request has read
        try:
            while True:
                try:
                    token, previous, entry, found = self._current(name, wants_body, also, seen)
                except Exception as error:
                    logger.warning("%s cache unavailable, rendering afresh: %r", self.what, error)
                    # Another process may write while the cache is away.
                    generation.mark_pending()
                    check(None)
                    return self.build(name, None, build)
                if check is not _no_check:
                    check(found)
                    check, also = _no_check, ()
                if entry is not None:
                    return entry
                seen.add(token)
                if not self.one_renderer or time.monotonic() >= deadline:
                    break
                if leading != (name, token):
                    if leading is not None:
                        self.waits.done(leading)  # a newer generation: lead afresh
                        leading = None
                    waited = self.waits.follow((name, token), deadline - time.monotonic())
                    if waited:
                        continue  # this process's leader has answered: look again
                    leading = (name, token)
                if self._claim(name, token):
                    claim = self.claim_key(name, token)
                    break
                time.sleep(RENDER_POLL_SECONDS)
            return self.build(name, token, build, previous)
        finally:
            if leading is not None:
                self.waits.done(leading)
            if claim is not None:
                try:
                    cache.delete(claim)
                except Exception as error:
                    logger.warning("could not release a %s render claim: %r", self.what, error)

    def _claim(self, name, token):
        try:
            return add_one(self.claim_key(name, token), 1, RENDER_CLAIM_SECONDS)
        except Exception:
            return True  # the cache went away: build without a claim
