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

The entry, the one-trip fetch, Last-Modified bookkeeping and the conditional
check are incidents/stored.py, shared with the API and the public JSON; what is
the page's own is here: the summary/bytes split, the per-process bytes, and the
headers it sends.

Pages kept here contain nothing that varies per request: no CSRF token, no
user, and no inline script, so no CSP nonce is needed (the policy's
``script-src 'self'`` covers the static scripts).
"""

import threading
import time

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.http import http_date

from incidents import generation
from incidents.stored import Stored, fetch, is_not_modified

# Stored as plain tuples (see incidents/stored.py); the version in the prefix
# changes when their shape does.
KEY_PREFIX = "kamustatus:page:v2:"
SUMMARY_PREFIX = "kamustatus:page-summary:v2:"

# How many pages' bytes each process keeps at hand (the status page, its live
# part, the permalinks being read most...).
BYTES_KEPT_PER_PROCESS = 64

# One worker renders a page that went out of date; the others poll for its
# result this often, for at most this long, and a claim lapses after this.
RENDER_CLAIM_PREFIX = "kamustatus:page-render:"
RENDER_POLL_SECONDS = 0.01
RENDER_WAIT_SECONDS = 2.0
RENDER_CLAIM_SECONDS = 10

# Browsers and proxies may keep a copy but must ask again every time; the
# ETag makes asking cheap.
CACHE_CONTROL = "no-cache"


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
    token, summary = fetch(summary_key(name))
    return token, Stored.load_summary(summary)


def _content(name, summary):
    """The bytes a summary names: this process's copy, else the shared one."""
    content = _kept.get(name, summary.etag)
    if content is None:
        page = Stored.load(cache.get(page_key(name)))
        if page is None or page.etag != summary.etag:
            return None  # replaced meanwhile: render afresh
        content = page.body
        _kept.keep(name, page.etag, content)
    return content


def _from_store(request, name, vary):
    """The response from the stored page when it is current, else None."""
    token, summary = _lookup(name)
    if summary is None or not summary.is_current(token, time.time()):
        return None, token, summary
    if is_not_modified(request, summary.etag, summary.last_modified):
        return _respond(request, summary, vary, not_modified=True), token, summary
    content = _content(name, summary)
    if content is None:
        return None, token, summary
    return _respond(request, summary, vary, content=content), token, summary


def stored_response(request, name, vary=()):
    """The response for the page ``name`` if a current copy is stored, else None."""
    return _from_store(request, name, vary)[0]


def render_claim_key(name, token):
    return f"{RENDER_CLAIM_PREFIX}{name}:{token}"


def serve(request, name, build, vary=()):
    """The response for the page ``name``: from the cache when it is current,
    else from ``build(now) -> Rendered``, stored for the next request.

    After a write, every worker finds the page out of date at once. One of
    them claims the rendering (per page and generation, in the shared cache);
    the others wait a moment for its result instead of rendering the same page
    themselves — and accept only a copy current for the generation they read
    afresh, so waiting never serves a stale page. A waiter renders itself when
    the claim outlives RENDER_WAIT_SECONDS.
    """
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while True:
        response, token, previous = _from_store(request, name, vary)
        if response is not None:
            return response
        claim = render_claim_key(name, token) if token is not None else None
        if (
            claim is None
            or time.monotonic() >= deadline
            or cache.add(claim, 1, RENDER_CLAIM_SECONDS)
        ):
            break
        time.sleep(RENDER_POLL_SECONDS)
    try:
        page = _render_and_store(name, token, build, previous)
    finally:
        if claim is not None:
            cache.delete(claim)
    not_modified = is_not_modified(request, page.etag, page.last_modified)
    return _respond(request, page, vary, not_modified, content=page.body)


def _render_and_store(name, token, build, previous):
    if token is None:
        token = generation.current()
    now = timezone.now()
    page = Stored.from_rendered(token, build(now), now, previous)
    # The bytes first: a summary is never seen before the bytes it names.
    cache.set(page_key(name), page.to_cache(), None)
    cache.set(summary_key(name), page.summary(), None)
    _kept.keep(name, page.etag, page.body)
    return page


def _respond(request, page, vary, not_modified=False, content=None):
    if not_modified:
        response = HttpResponseNotModified()
    else:
        # gunicorn sends whatever body it is given, so HEAD gets none here.
        body = b"" if request.method == "HEAD" else content
        response = HttpResponse(body, content_type=page.content_type)
        response.headers["Content-Length"] = str(len(content))
    response.headers["ETag"] = page.etag
    response.headers["Last-Modified"] = http_date(page.last_modified)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if vary:
        response.headers["Vary"] = ", ".join(vary)
    return response
