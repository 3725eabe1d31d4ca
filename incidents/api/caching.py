"""GET responses kept under the content generation.

A read takes the generation token *before* it reads any data and stores the
response's bytes and headers together with it; a later read serves those bytes
while the token is unchanged (and, for answers that depend on the clock, until
their ``valid_until``). Any write to what the API shows changes the token
(incidents/cache/generation.py), so nothing stale is ever served.

The key is checked first, in the same cache read: a usable key's record is
read with the generation and the stored answer (incidents/models/keys.py says
how a revoke reaches every worker at once), so an unchanged answer for a known
key is one round trip to the shared cache — one query with the database cache,
one MGET with Redis — and nothing is read, built or answered before the key
has passed.

Each answer carries an ``ETag``; a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` without the body while it is
current, which is what polling scripts want. A client that accepts gzip gets
the answer compressed (a list of 50 incidents: about 39 KB, 5 KB compressed),
with the ETag marked weak; each process compresses a version once.
"""

import hashlib
import threading
from functools import partial, wraps

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers

from incidents.api.decorators import admit, presented_key
from incidents.cache.store import Rendered, Shelf, accepts_gzip, is_not_modified
from incidents.models.keys import record_name

# v3: entries are incidents.cache.store.Stored tuples (older ones are never
# read back). Entries for an old token are dead weight; let them expire.
RESPONSES = Shelf("kamustatus:api:v3:", timeout=300, what="API", compressed=True)
KEPT_HEADERS = ("Link",)

# The stored answer this thread's request was just answered with (its name),
# for the WSGI layer to learn its headers from (incidents/api/fast.py).
answered = threading.local()


def cache_names(request):
    """The names the answer to ``request`` may be kept under: that of a
    handler whose answers differ by query string, and that of one whose
    answers do not."""
    return _cache_key(request, True), _cache_key(request, False)


def _cache_key(request, with_query):
    where = f"{request.scheme}://{request.get_host()}{request.path}"
    if with_query:
        where += "?" + request.META.get("QUERY_STRING", "")
    return hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()


def cached_get(handler=None, *, with_query=False):
    """A keyed GET handler answered from the cache while its answer is
    current; it authorizes as ``@authorize`` does (so needs nothing more).

    The handler returns ``(response, valid_until)``, ``valid_until`` a
    datetime after which the answer changes by the clock alone, or None; it
    runs only when no current answer is stored. Other answers than 200 are
    sent as they are and never kept. ``with_query``: answers differ by query
    string (else one is kept per path, whatever the query)."""

    def decorate(handler):
        @wraps(handler)
        def view(request, *args, **kwargs):
            return _answer(request, partial(handler, request, *args, **kwargs), with_query)

        return view

    return decorate if handler is None else decorate(handler)


def _answer(request, build, with_query):
    raw = presented_key(request)
    record = record_name(raw)
    if record is None:
        admit(request, raw)  # not a key at all: refused before the answer is looked up

    not_kept = []

    def render(now):
        response, valid_until = build()
        if response.status_code != 200:
            not_kept.append(response)
            return None
        return Rendered(
            response.content,
            valid_until=valid_until,
            content_type=response["Content-Type"],
            headers=tuple((name, response[name]) for name in KEPT_HEADERS if name in response),
        )

    name = _cache_key(request, with_query)
    entry = RESPONSES.get_or_build(
        name,
        render,
        also=(record,),
        check=lambda found: admit(request, raw, found),
    )
    if entry is None:
        return not_kept[0]
    answered.name = name
    packed = accepts_gzip(request.headers.get("Accept-Encoding"))
    if is_not_modified(request, entry.etag):
        # The client already holds this version.
        response = HttpResponseNotModified(headers={"ETag": RESPONSES.sent_etag(entry, packed)})
    else:
        response = HttpResponse(
            RESPONSES.sent_body(entry, packed),
            content_type=entry.content_type,
            headers=dict(entry.headers),
        )
        response["ETag"] = RESPONSES.sent_etag(entry, packed)
        if packed:
            response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ("Accept-Encoding",))
    return response
