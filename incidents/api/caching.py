"""GET responses kept under the content generation.

A read takes the generation token *before* it reads any data and stores the
response's bytes and headers together with it; a later read serves those bytes
while the token is unchanged (and, for answers that depend on the clock, until
their ``valid_until``). Any write to what the API shows changes the token
(incidents/generation.py), so nothing stale is ever served. Authentication is
not cached: it runs on every request before this.

Each answer carries an ``ETag``; a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` without the body while it is
current, which is what polling scripts want.
"""

import hashlib
import logging
import time

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags

from incidents import generation

TIMEOUT = 300  # entries for an old token are dead weight; let them expire
KEPT_HEADERS = ("Link",)

logger = logging.getLogger(__name__)


def _cache_key(request, with_query):
    where = f"{request.scheme}://{request.get_host()}{request.path}"
    if with_query:
        where += "?" + request.META.get("QUERY_STRING", "")
    # v2: entries carry their ETag (older entries are never read back).
    return "kamustatus:api:v2:" + hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()


def _etag(body):
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _answer(request, response, etag):
    """The response, or 304 if the client already holds this version."""
    response["ETag"] = etag
    sent = request.META.get("HTTP_IF_NONE_MATCH")
    if sent:
        tags = parse_etags(sent)
        if "*" in tags or etag in tags or f"W/{etag}" in tags:
            return HttpResponseNotModified(headers={"ETag": etag})
    return response


def cached_get(request, build, *, with_query=False):
    """Serve ``build()``'s 200 response from the cache while it is current.

    ``build`` returns ``(response, valid_until)``, ``valid_until`` a datetime
    after which the answer changes by the clock alone, or None.
    """
    key = _cache_key(request, with_query)
    try:
        found = cache.get_many([generation.KEY, key])
        token = found.get(generation.KEY) or generation.current()
    except Exception:
        # Without the cache, answer from the database rather than fail.
        logger.exception("API response cache unavailable")
        response = build()[0]
        if response.status_code == 200:
            return _answer(request, response, _etag(response.content))
        return response
    entry = found.get(key)
    if (
        entry is not None
        and entry["token"] == token
        and (entry["until"] is None or time.time() < entry["until"])
    ):
        response = HttpResponse(
            entry["body"], content_type=entry["content_type"], headers=entry["headers"]
        )
        return _answer(request, response, entry["etag"])
    response, valid_until = build()
    if response.status_code == 200:
        etag = _etag(response.content)
        _store(
            key,
            {
                "token": token,
                "until": valid_until.timestamp() if valid_until is not None else None,
                "body": response.content,
                "content_type": response["Content-Type"],
                "headers": {name: response[name] for name in KEPT_HEADERS if name in response},
                "etag": etag,
            },
        )
        return _answer(request, response, etag)
    return response


def _store(key, entry):
    try:
        cache.set(key, entry, TIMEOUT)
    except Exception:
        logger.exception("could not store an API response in the cache")
