"""``/healthz`` for load balancers and supervisors, and ``/robots.txt``.

The health check asks the database and the shared cache themselves on every
call (never a stored answer): 200 when both answer, else 503 naming the part
that failed.
"""

import json
import logging
import secrets

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("incidents.health")

OK = "ok"
UNAVAILABLE = "unavailable"
CACHE_PROBE_KEY = "kamustatus:healthz:"


def database_state():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.warning("health check: database unavailable: %r", error)
        return UNAVAILABLE
    return OK


def cache_state():
    """A round trip through the cache: what is written can be read back."""
    probe = secrets.token_hex(8)
    key = CACHE_PROBE_KEY + probe
    try:
        cache.set(key, probe, timeout=10)
        answered = cache.get(key) == probe
        cache.delete(key)
    except Exception as error:
        logger.warning("health check: cache unavailable: %r", error)
        return UNAVAILABLE
    return OK if answered else UNAVAILABLE


@never_cache
@require_safe
def healthz(request):
    parts = {"database": database_state(), "cache": cache_state()}
    healthy = all(state == OK for state in parts.values())
    body = {"status": OK if healthy else UNAVAILABLE, **parts}
    response = HttpResponse(
        json.dumps(body), status=200 if healthy else 503, content_type="application/json"
    )
    if not healthy:
        response["Retry-After"] = "10"
    return response


ROBOTS = """\
# The status page is public; the admin and the keyed API are not for crawlers.
User-agent: *
Disallow: /admin/
Disallow: /api/
Allow: /api/v2/
"""


@require_safe
def robots(request):
    response = HttpResponse(ROBOTS, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
