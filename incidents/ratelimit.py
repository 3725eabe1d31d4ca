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
spreading guesses over processes does not help. If the cache itself fails the
limiter lets requests through: the credential check still guards the door.
"""

import logging
import math
import time
from functools import wraps

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse

logger = logging.getLogger(__name__)

KEY_PREFIX = "kamustatus:ratelimit:"


def client_address(request):
    """The address a request came from.

    ``X-Forwarded-For`` can be written by anyone, so it is believed only when
    settings say a trusted proxy is in front (``TRUSTED_PROXIES`` = how many),
    and then only the entry that proxy appended, not what the client sent.
    """
    proxies = getattr(settings, "TRUSTED_PROXIES", 0)
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies][:64]
    return request.META.get("REMOTE_ADDR", "")[:64] or "unknown"


class FailureLimiter:
    """Counts failures per address; ``retry_after`` says how long one is blocked."""

    def __init__(self, scope):
        self.scope = scope

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
        try:
            failures = cache.get(self._key(address, now), 0)
        except Exception:
            logger.warning("rate limit counters are unavailable; not limiting", exc_info=True)
            return None
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
            cache.add(key, 1, timeout=self.window + 1)
        except Exception:
            logger.warning("could not count a failed attempt", exc_info=True)


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
