"""``/ping/<token>`` and ``/ping/<token>/fail``: heartbeat pings, the hot path.

Answered by a middleware before sessions, CSRF and the URL resolver: one
indexed lookup of the token (the token is the secret: no key), then at most
one write — the new deadline — for a monitor that is up. A ping that changes
something (a monitor coming back, a reported failure) goes through the domain
like any check result. Pings are limited per token in each server process
(``PING_RATE_LIMIT`` a minute, then 429); pings less than a second apart
write nothing, since they would move the deadline by less than a second.
"""

import logging
import re
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils import timezone

from incidents.checks.models import Check
from incidents.checks.results import record_ping, record_plain_ping
from incidents.models import Monitor

logger = logging.getLogger("incidents.checks")

PING_PATH = re.compile(r"/ping/(?P<token>[A-Za-z0-9_-]{1,100})(?P<fail>/fail)?/?", re.ASCII)
ALLOWED_METHODS = ("GET", "POST", "HEAD")
WRITE_SPACING = timedelta(seconds=1)
RATE_WINDOW = 60.0


class TokenLimiter:
    """Pings per token in fixed one-minute windows, in this process."""

    def __init__(self):
        self.window = None
        self.counts = {}

    def retry_after(self, token, now=None):
        now = time.monotonic() if now is None else now
        window = int(now // RATE_WINDOW)
        if window != self.window:
            self.window, self.counts = window, {}
        count = self.counts.get(token, 0) + 1
        if len(self.counts) < 100_000:
            self.counts[token] = count
        if count > settings.PING_RATE_LIMIT:
            return max(1, int((window + 1) * RATE_WINDOW - now) + 1)
        return None


limiter = TokenLimiter()


def _plain(text, status=200, **headers):
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def answer_ping(request, token, failed):
    if request.method not in ALLOWED_METHODS:
        return _plain("Method not allowed\n", 405, Allow=", ".join(ALLOWED_METHODS))
    wait = limiter.retry_after(token)
    if wait is not None:
        return _plain("Too many pings\n", 429, Retry_After=str(wait))
    found = Check.objects.for_ping(token)
    if found is None:
        return _plain("Not found\n", 404)
    check_id, period, grace = found.pk, found.period, found.grace
    last_ping_at, status = found.last_ping_at, found.monitor_status
    now = timezone.now()
    if failed or status != Monitor.OPERATIONAL:
        record_ping(check_id, failed=failed, now=now)
    elif last_ping_at is None or now - last_ping_at >= WRITE_SPACING:
        record_plain_ping(check_id, period, grace, now)
    return _plain("" if request.method == "HEAD" else "OK\n")


class PingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/ping/"):
            match = PING_PATH.fullmatch(path)
            if match is None:
                return _plain("Not found\n", 404)
            try:
                return answer_ping(request, match["token"], bool(match["fail"]))
            except Check.DoesNotExist:  # removed between the lookup and the write
                return _plain("Not found\n", 404)
            except (OperationalError, InterfaceError):
                logger.warning("ping not recorded: the database is unavailable")
                return _plain("Unavailable, try again\n", 503, Retry_After="5")
        return self.get_response(request)
