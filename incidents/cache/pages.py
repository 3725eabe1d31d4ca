"""Pages kept in the shared cache until something they show changes.

Every public page (the status page and its live part, incident permalinks,
history, feeds) is answered through the ``PAGES`` shelf of
incidents/cache/store.py: an unchanged page costs one cache round trip — the
generation and the page's small summary (generation, validity, ETag, date) —
and no template rendering; the bytes come from this process's copy when it
holds the ones the summary names. Whether a page is current is decided by the
shared summary alone, so no process can serve stale bytes. After a write one
worker renders each page while the others wait for its copy.

What is the pages' own is here: the shelf's settings and the headers a page is
sent with. Pages kept here contain nothing that varies per request: no CSRF
token, no user, and no inline script, so no CSP nonce is needed (the policy's
``script-src 'self'`` covers the static scripts) — except the language, which
is part of every page's name (``page_name``): a copy per offered language,
never more (incidents/languages.py decides, before the lookup).
"""

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import http_date
from django.utils.translation import get_language

from incidents.cache.store import Shelf, accepts_gzip, is_not_modified

# Stored as plain tuples (see incidents/cache/store.py); the version in the
# prefix changes when their shape does. Kept until replaced, or for a week
# (every stored entry expires; a page nobody asks for goes by itself).
PAGES = Shelf(
    "kamustatus:page:v3:",
    summary_prefix="kamustatus:page-summary:v3:",
    claim_prefix="kamustatus:page-render:",
    timeout=7 * 24 * 60 * 60,
    what="page",
    # How many pages' bytes each process keeps at hand (the status page, its
    # live part, the permalinks being read most...).
    kept_per_process=64,
    one_renderer=True,
    # Stored gzip-compressed: with the uptime bars the status page is about
    # 520 KB, 16 KB compressed — what each worker fetches after a write.
    packed=True,
)

# Browsers and proxies may keep a copy but must ask again every time; the
# ETag makes asking cheap.
CACHE_CONTROL = "no-cache"

# Set on a request whose stored-page lookup just failed (by the middleware):
# the view then renders at once instead of waiting for the cache again.
CACHE_FAILED = "kamustatus_page_cache_failed"


# The status page (``/``): the full page and its changing part alone (for
# htmx) are two stored pages, told apart by a header.
STATUS_PAGE_VARY = ("HX-Request", "Accept-Encoding")

# The status page is sent compressed to clients that accept gzip (every
# browser): with 90 days of bars per monitor it is mostly repetition, and the
# bytes on the wire, not the server, are its cost. Compressed once per version,
# by the worker that renders it (PAGES is ``packed``); the
# compressed version is another representation of the same bytes, so its
# ETag is the weak form of theirs (as Django's GZipMiddleware does), which
# If-None-Match matches too.


def wants_live_part(request):
    """An htmx refresh asks for the changing part only; a history restore
    (back button with htmx) needs the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true" and headers.get("HX-History-Restore-Request") != "true"
    )


def page_name(name):
    """The stored page ``name`` in the language being spoken: the middleware
    activated one of the offered languages, so there are at most that many."""
    return f"{name}:{get_language()}"


def status_page_name(request):
    return page_name("status:live" if wants_live_part(request) else "status")


def page_key(name):
    """Where the whole stored page (bytes included) is kept."""
    return PAGES.key(name)


def _wants_body(request):
    return lambda entry: not is_not_modified(request, entry.etag, entry.last_modified)


def stored_response(request, name, vary=()):
    """The response for the page ``name`` if a current copy is stored, else
    None. Raises when the cache is away."""
    _token, _found, entry = PAGES.current(name, _wants_body(request))
    return None if entry is None else respond(request, entry, vary)


def serve(request, name, build, vary=(), store=True):
    """The response for the page ``name``: from the cache when it is current,
    else from ``build(now) -> Rendered``, stored for the next request (unless
    ``store`` is False: rendered for this request alone)."""
    entry = PAGES.get_or_build(
        name,
        build,
        wants_body=_wants_body(request),
        look_up=store and not getattr(request, CACHE_FAILED, False),
    )
    return respond(request, entry, vary)


def respond(request, page, vary=()):
    """The HTTP answer for a stored page: a 304 when the client holds it."""
    if is_not_modified(request, page.etag, page.last_modified):
        response = HttpResponseNotModified()
    else:
        # gunicorn sends whatever body it is given, so HEAD gets none here.
        body = b"" if request.method == "HEAD" else page.body
        response = HttpResponse(body, content_type=page.content_type)
        response.headers["Content-Length"] = str(len(page.body))
        response.stored_body = page.body  # what ``compressed`` compresses
    response.headers["ETag"] = page.etag
    response.headers["Last-Modified"] = http_date(page.last_modified)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if vary:
        response.headers["Vary"] = ", ".join(vary)
    return response


def gzipped(etag, body):
    """``body`` (the bytes stored under ``etag``) compressed: the copy the
    shelf keeps, compressed once per version."""
    return PAGES.packed_body(etag, body)


def compressed(request, response):
    """The stored page's answer, compressed when the client accepts gzip: a
    200 gets the compressed bytes, a 200 or 304 the weak ETag."""
    etag = response.headers.get("ETag")
    if (
        not etag
        or etag.startswith("W/")
        or response.status_code not in (200, 304)
        or response.has_header("Content-Encoding")
        or not accepts_gzip(request.headers.get("Accept-Encoding"))
    ):
        return response
    body = getattr(response, "stored_body", None)
    if response.status_code == 200 and body is None:
        return response  # not a stored page's answer (the last good copy): as it is
    response.headers["ETag"] = "W/" + etag
    if response.status_code == 200:
        packed = gzipped(etag, body)
        response.content = b"" if request.method == "HEAD" else packed
        response.headers["Content-Length"] = str(len(packed))
        response.headers["Content-Encoding"] = "gzip"
    return response
