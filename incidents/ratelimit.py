"""Brute-force protection: failed API keys and failed admin sign-ins, counted per
client address in fixed windows in the shared default cache.

An address that has failed ``AUTH_FAILURE_LIMIT`` times within the current
``AUTH_FAILURE_WINDOW`` seconds is refused (429 with ``Retry-After``) until the
window ends. Admin sign-ins are refused before the password is checked, so a
blocked client learns nothing from further guesses. API keys (256 random bits,
beyond guessing) are checked first and only a failure is refused: a valid key
costs no extra cache round trip and keeps working from a shared address that
someone else is abusing. Successful requests are never counted.

The counters live in the default cache, shared by every worker and host, so
spreading guesses over processes does not help. While the cache cannot be
reached each process counts on its own (``LocalCounters``), so an outage of the
cache never switches the limit off: at worst a guesser gets the limit once per
worker process instead of once in all.
"""

import ipaddress
import logging
import math
import threading
import time
from functools import wraps

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse

logger = logging.getLogger(__name__)

KEY_PREFIX = "kamustatus:ratelimit:"


def _is_trusted_proxy(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_address(request):
    """The address a request came from.

    ``X-Forwarded-For`` can be written by anyone, so it is believed only when
    the connection itself comes from a trusted proxy (``TRUSTED_PROXIES``), and
    then read from the right: each trusted proxy appended the address it saw,
    and the first address that is not a trusted proxy is the client. What the
    client wrote to the left of that is ignored.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if address and _is_trusted_proxy(address):
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        for hop in reversed(forwarded):
            address = hop
            if not _is_trusted_proxy(hop):
                break
    return address[:64] or "unknown"


class LocalCounters:
    """Failure counts kept in this process, for while the shared cache is down.

    Keys carry their window number, so counts of windows that ended are
    dropped as new ones start; memory stays bounded by the addresses failing
    within one window (and by ``MAX_KEYS`` in any case).
    """

    MAX_KEYS = 10_000

    def __init__(self):
        self._counts = {}
        self._lock = threading.Lock()

    def get(self, key, now):
        with self._lock:
            count, expires = self._counts.get(key, (0, 0))
            return count if expires > now else 0

    def increment(self, key, now, timeout):
        with self._lock:
            count, expires = self._counts.get(key, (0, 0))
            if expires <= now:
                count, expires = 0, now + timeout
            if key not in self._counts and len(self._counts) >= self.MAX_KEYS:
                self._drop_expired(now)
                if len(self._counts) >= self.MAX_KEYS:
                    # Full of live windows: forget the oldest count.
                    self._counts.pop(next(iter(self._counts)))
            self._counts[key] = (count + 1, expires)

    def _drop_expired(self, now):
        for key in [k for k, (_, expires) in self._counts.items() if expires <= now]:
            del self._counts[key]


class FailureLimiter:
    """Counts failures per address; ``retry_after`` says how long one is blocked."""

    def __init__(self, scope):
        self.scope = scope
        self.local = LocalCounters()

    @property
    def limit(self):
        return settings.AUTH_FAILURE_LIMIT

    @property
    def window(self):
        return settings.AUTH_FAILURE_WINDOW

    def _key(self, address, now):
        return f"{KEY_PREFIX}{self.scope}:{int(now // self.window)}:{address}"

    def retry_after(self, address, now=None):
        """Seconds until ``address`` may try again, or None if it may now."""
        now = time.time() if now is None else now
        key = self._key(address, now)
        try:
            failures = cache.get(key, 0)
        except Exception:
            logger.warning("rate limit counters are unavailable; counting in this process")
            failures = 0
        # Failures counted here while the cache was down still count.
        failures = max(failures, self.local.get(key, now))
        if failures < self.limit:
            return None
        window_end = (int(now // self.window) + 1) * self.window
        return max(1, math.ceil(window_end - now))

    def record_failure(self, address, now=None):
        now = time.time() if now is None else now
        key = self._key(address, now)
        try:
            # add() is a no-op when the counter exists. incr() is atomic in
            # Redis; the database cache reads then writes, so racing failures
            # may be counted once — a few extra guesses at most.
            cache.add(key, 0, timeout=self.window + 1)
            cache.incr(key)
        except ValueError:
            # Expired between add() and incr(): this failure opens a new count.
            try:
                cache.add(key, 1, timeout=self.window + 1)
            except Exception:
                self.local.increment(key, now, self.window + 1)
        except Exception:
            logger.warning("could not count a failed attempt in the cache; counting it here")
            self.local.increment(key, now, self.window + 1)


api_keys = FailureLimiter("api-key")
admin_logins = FailureLimiter("admin-login")


# --- The admin sign-in ------------------------------------------------------


@receiver(user_login_failed, dispatch_uid="kamustatus-count-failed-logins")
def count_failed_login(sender, credentials, request=None, **kwargs):
    if request is not None:
        admin_logins.record_failure(client_address(request))


def protect_login(login_view):
    """Refuse sign-in attempts from an address that failed too often (429)."""

    @wraps(login_view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST":
            wait = admin_logins.retry_after(client_address(request))
            if wait is not None:
                response = HttpResponse(
                    f"Too many failed sign-in attempts from your address. "
                    f"Try again in {wait} seconds.\n",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                response.headers["Retry-After"] = str(wait)
                return response
        return login_view(request, *args, **kwargs)

    return wrapper
