"""The status page outlives the database.

Every good answer for ``/`` (the whole page, and the live part htmx
re-fetches) is also kept as a file on local disk, written atomically when it
changes. If the database — or the cache holding the rendered page, which with
the database cache is the same thing — cannot be reached, visitors get that
last good copy with a visible note saying when it was last known to be
current, instead of an error. Nothing is held open: once the database answers
again the next request renders live data, and the note is gone (an open page
swaps it out on its next htmx refresh).

Two users: the status page middleware (incidents/cache/middleware.py) sees
every answer for ``/`` — stored copies served early and fresh renderings
alike — and keeps the copy; ``survives_outages`` wraps the view and serves the
copy when the view cannot get its data. After such a failure the middleware
answers with the copy at once for ``RETRY_LIVE_AFTER`` seconds, so a database
that hangs instead of refusing does not hold every visitor for its timeouts.

The file's modification time is "as of": it is touched, at most once a minute
per process, whenever the page is answered live (a 200, or a 304 for the same
bytes). The copy is per host, so each host serving the page has its own; with
``REDIS_URL`` a host without one falls back to the page stored in Redis.

A version is written once per host, not once per request or per worker: in
each process one thread writes it (the others answer meanwhile), and the file
carries its ETag (an extended attribute, where the file system has them), so
a worker finding the version already on disk leaves it. During a refresh
storm a new version comes every 100 ms; writing and syncing a 600 KB page in
every thread of every worker that served it cost the storm two thirds of its
throughput (docs/benchmark.md).
"""

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from django.utils import dateformat
from django.utils.html import format_html
from django.utils.translation import get_language, gettext
from redis.exceptions import RedisError

from incidents.cache.pages import PAGES, STATUS_PAGE_VARY, status_page_name
from incidents.languages import date_format, default_language

logger = logging.getLogger(__name__)

# How stale the "as of" time may get while the page is being served live.
TOUCH_INTERVAL = 60
# What fails when the database (or the cache in front of it) is away.
OUTAGES = (DatabaseError, RedisError, OSError)
LIVE_REGION = re.compile(rb'<div id="live"[^>]*>')

# Per process: page name -> (ETag of the copy on disk, when it was last touched);
# a version is entered before it is written, so one thread writes it.
_saved = {}
_writing = set()  # page names a thread of this process is writing
_saving = threading.Lock()
# The extended attribute holding the ETag of the copy in a file.
ETAG_ATTRIBUTE = "user.kamustatus.etag"

# After live data fails, the copy is served at once — a database that times
# out (rather than refusing) would otherwise hold every visitor for the
# connect timeout, twice (the stored-page lookup, then the view) — until the
# database answers again: any new connection of this process ends it (a write
# that just succeeded, say), and a probe with a short connect timeout runs at
# most every ``PROBE_EVERY`` seconds while requests come. ``RETRY_LIVE_AFTER``
# bounds it.
RETRY_LIVE_AFTER = 10.0
PROBE_EVERY = 1.0
PROBE_CONNECT_TIMEOUT = 1
_live_data_failed_at = None  # time.monotonic() of the last failure, per process
_probed_at = None
_probe_lock = threading.Lock()

# After the copy could not be written, writing is tried again this long after.
KEEP_RETRY_AFTER = 60.0
_keep_failed_at = None  # time.monotonic() of the last failed write, per process


def live_data_recently_failed():
    failed_at = _live_data_failed_at
    if failed_at is None or time.monotonic() - failed_at >= RETRY_LIVE_AFTER:
        return False
    _probe()
    return _live_data_failed_at is not None


def live_data_failed():
    global _live_data_failed_at, _probed_at
    _live_data_failed_at = _probed_at = time.monotonic()


def _database_answered(**kwargs):
    global _live_data_failed_at
    _live_data_failed_at = None


# A new connection is the database answering: the back-off ends at once.
connection_created.connect(_database_answered, dispatch_uid="outage-database-answered")


def _probe():
    """Start a probe of the database if one is due (at most one per
    ``PROBE_EVERY`` seconds per process, in a thread of its own: no visitor
    waits for it); False, since until it answers the back-off holds."""
    global _probed_at
    if _probed_at is not None and time.monotonic() - _probed_at < PROBE_EVERY:
        return False
    if not _probe_lock.acquire(blocking=False):
        return False  # one is running
    _probed_at = time.monotonic()
    threading.Thread(target=_run_probe, name="database-probe", daemon=True).start()
    return False


def _run_probe():
    global _probed_at
    try:
        params = connection.get_connection_params()
        if connection.vendor == "postgresql":
            params["connect_timeout"] = PROBE_CONNECT_TIMEOUT  # (libpq makes it 2 s at least)
            # Past the pool (statuspage/settings.py): its own reconnection backs
            # off for seconds, and the probe asks the server itself.
            probe = connection.Database.connect(**params)
        else:
            probe = connection.get_new_connection(params)
        try:
            probe.cursor().execute("SELECT 1")
        finally:
            probe.close()
    except Exception:
        return
    else:
        # The server answers: a pool still waiting out its reconnection back-off
        # is replaced, so the process is live on its next request.
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()
        _database_answered()
    finally:
        _probed_at = time.monotonic()  # the next one a whole interval after this one
        _probe_lock.release()


def copy_path(name):
    """``status`` -> status.html, ``status:live`` -> status-live.html."""
    return Path(settings.KAMUSTATUS_LAST_GOOD_DIR) / (name.replace(":", "-") + ".html")


def keep(name, response):
    """Remember a good rendering on disk (only when it changed); a 200 or a
    304 for the copy on disk also proves it still current.

    One thread per process writes a version (``_saved`` names it from the
    moment it is taken on), and not at all when the file already holds it
    (another worker on this host wrote it).

    A directory that cannot be written (read-only, full, gone) is logged once
    and then left alone for ``KEEP_RETRY_AFTER`` seconds: the page is served
    all the same, and a bad disk costs no traceback per request."""
    global _keep_failed_at
    etag = response.headers.get("ETag")
    path = copy_path(name)
    now = time.monotonic()
    if _keep_failed_at is not None and now - _keep_failed_at < KEEP_RETRY_AFTER:
        return
    with _saving:
        if name in _writing:
            return  # the thread writing it tries again with what it serves next
        before = _saved.get(name, (None, 0.0))
        saved_etag, touched = before
        if response.status_code == 200 and (etag != saved_etag or not path.exists()):
            write = True
        elif etag == saved_etag and now - touched >= TOUCH_INTERVAL:
            write = False
        else:
            return
        _saved[name] = (etag, now)
        _writing.add(name)
    try:
        if write:
            if _etag_on_disk(path) != etag:
                _write(path, response.content, etag)
        else:
            os.utime(path)
    except OSError as error:
        with _saving:
            if _saved.get(name) == (etag, now):
                _saved[name] = before  # tried again by the next request
        if _keep_failed_at is None:
            logger.warning(
                "could not keep the last good status page in %s (%s); trying again every %d s,"
                " logged again once it works",
                path.parent,
                error,
                KEEP_RETRY_AFTER,
            )
        _keep_failed_at = now
        return
    finally:
        with _saving:
            _writing.discard(name)
    if _keep_failed_at is not None:
        logger.info("the last good status page is kept in %s again", path.parent)
        _keep_failed_at = None


def _write(path, content, etag):
    """Replace the file at ``path`` with ``content`` atomically, synced to
    disk, marked with its ETag where the file system keeps attributes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".status-", delete=False) as f:
        f.write(content)
        f.flush()
        with contextlib.suppress(OSError):  # no extended attributes here
            os.setxattr(f.fileno(), ETAG_ATTRIBUTE, etag.encode())
        os.fsync(f.fileno())
    os.replace(f.name, path)


def _etag_on_disk(path):
    """The ETag of the copy at ``path`` (None: no copy, or none recorded)."""
    try:
        return os.getxattr(path, ETAG_ATTRIBUTE).decode()
    except (OSError, UnicodeDecodeError):
        return None


def last_good(name):
    """(content, as-of datetime) of the last good rendering, or None."""
    path = copy_path(name)
    try:
        return path.read_bytes(), datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        pass
    try:
        stored = PAGES.whole(name)
    except Exception:
        stored = None
    if stored is not None:
        return stored.body, datetime.fromtimestamp(stored.last_modified, UTC)
    return None


def stale_note(as_of):
    """The note on a last good copy, in the language being spoken."""
    shown = dateformat.format(as_of, date_format("datetime"))
    moment = format_html(
        '<time datetime="{}" title="{} UTC">{} UTC</time>',
        as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        shown,
        shown,
    )
    return format_html(
        '<p class="stale-notice" role="status">{}</p>',
        format_html(
            gettext("Showing the status as of {moment} — live data is temporarily unavailable."),
            moment=moment,
        ),
    ).encode()


def with_note(content, as_of):
    """The copy with the note at the top of its live region (or of the body)."""
    note = stale_note(as_of)
    match = LIVE_REGION.search(content) or re.search(rb"<body[^>]*>", content)
    if match is None:
        return note + content
    return content[: match.end()] + note + content[match.end() :]


def survives_outages(view):
    """Serve the status page view, or its last good copy when data is away."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except OUTAGES as exc:
            live_data_failed()
            logger.warning("status page: live data unavailable (%r); serving the last copy", exc)
            return fallback_response(status_page_name(request))

    return wrapper


def copies_to_try(name):
    """The page's copy in the language being spoken, then in the page's
    default language: a visitor whose language this host has not served yet
    still gets the page during an outage (with the note in their language)."""
    yield name
    spoken, default = f":{get_language()}", f":{default_language()}"
    if name.endswith(spoken) and spoken != default:
        yield name.removesuffix(spoken) + default


def fallback_response(name):
    found = next(filter(None, map(last_good, copies_to_try(name))), None)
    if found is None:
        response = HttpResponse(
            gettext("The status page is temporarily unavailable. Please try again shortly.") + "\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response.headers["Retry-After"] = "30"
    else:
        content, as_of = found
        response = HttpResponse(with_note(content, as_of), content_type="text/html; charset=utf-8")
    response.is_last_good_copy = True  # never kept as a good copy itself
    # Never let a browser or proxy keep the stale copy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = ", ".join(STATUS_PAGE_VARY)
    return response
