"""GET responses kept under the content generation.

A read takes the generation token *before* it reads any data and stores the
response's bytes and headers together with it; a later read serves those bytes
while the token is unchanged (and, for answers that depend on the clock, until
their ``valid_until``). Any write to what the API shows changes the token
(incidents/cache/generation.py), so nothing stale is ever served. Authentication is
not cached: it runs on every request before this.

Each answer carries an ``ETag``; a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` without the body while it is
current, which is what polling scripts want.
"""

import hashlib

from django.http import HttpResponse, HttpResponseNotModified

from incidents.cache.store import Rendered, Shelf, is_not_modified

# v3: entries are incidents.cache.store.Stored tuples (older ones are never
# read back). Entries for an old token are dead weight; let them expire.
RESPONSES = Shelf("kamustatus:api:v3:", timeout=300, what="API")
KEPT_HEADERS = ("Link",)


def _cache_key(request, with_query):
    where = f"{request.scheme}://{request.get_host()}{request.path}"
    if with_query:
        where += "?" + request.META.get("QUERY_STRING", "")
    return hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()


def cached_get(request, build, *, with_query=False):
    """Serve ``build()``'s 200 response from the cache while it is current.

    ``build`` returns ``(response, valid_until)``, ``valid_until`` a datetime
    after which the answer changes by the clock alone, or None. Other answers
    than 200 are sent as they are and never kept.
    """
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

    entry = RESPONSES.get_or_build(_cache_key(request, with_query), render)
    if entry is None:
        return not_kept[0]
    if is_not_modified(request, entry.etag):
        # The client already holds this version.
        return HttpResponseNotModified(headers={"ETag": entry.etag})
    response = HttpResponse(
        entry.body, content_type=entry.content_type, headers=dict(entry.headers)
    )
    response["ETag"] = entry.etag
    return response
