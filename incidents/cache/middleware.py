"""The status page's one middleware: stored copies before the rest of the stack,
and the last good copy kept (and served) for outages.

During an outage nearly every request is for ``/`` and nearly every answer is
a stored page (incidents/cache/pages.py). Sessions, CSRF, authentication,
messages and URL resolution do nothing for it, yet cost more than the answer
itself; so this middleware, placed right after WhiteNoise, answers ``/``:

1. while live data has just failed in this process, with the last good copy
   at once (incidents/cache/outage.py);
2. else with a *current* stored copy, if there is one;
3. else through the rest of the stack and the view (which renders and stores
   the page, or serves the last good copy if its data is away).

Every good answer (200, or a 304 for the same bytes) is kept as the last good
copy on disk. What the skipped middleware would have done to an early answer
is done here: the host is checked against ALLOWED_HOSTS (CommonMiddleware),
and the headers that XFrameOptionsMiddleware and the CSP middleware add — the
same for every stored page, which carries no nonce — are learnt once from
those middleware themselves, so a change to their settings is followed
without a copy here.
"""

import logging

from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import reverse

from incidents.cache import generation, outage
from incidents.cache.pages import (
    CACHE_FAILED,
    STATUS_PAGE_VARY,
    compressed,
    status_page_name,
    stored_response,
)

logger = logging.getLogger(__name__)

ADDED_BY_SKIPPED_MIDDLEWARE = (
    "Content-Security-Policy",
    "Content-Security-Policy-Report-Only",
    "X-Frame-Options",
)


class StatusPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._path = None
        self._added_headers = None

    def __call__(self, request):
        if request.method not in ("GET", "HEAD") or request.path_info != self.path:
            return self.get_response(request)
        request.get_host()  # raises DisallowedHost for a host not allowed
        name = status_page_name(request)
        if outage.live_data_recently_failed():
            return self.answered_early(request, outage.fallback_response(name))
        response = None
        if generation.cache_recently_failed():
            setattr(request, CACHE_FAILED, True)  # rendered without it, at once
        else:
            try:
                response = stored_response(request, name, STATUS_PAGE_VARY)
            except Exception as error:
                # Only a shortcut: the view renders without waiting for the cache
                # again (and whatever guards it against outages takes over).
                logger.debug("stored status page unavailable: %r", error)
                generation.mark_pending()  # another process may write meanwhile
                setattr(request, CACHE_FAILED, True)
        if response is not None:
            response = self.answered_early(request, response)
        else:
            response = self.get_response(request)
        if (
            request.method == "GET"
            and response.status_code in (200, 304)
            and not getattr(response, "is_last_good_copy", False)
        ):
            outage.keep(name, response)
        return compressed(request, response)

    def answered_early(self, request, response):
        for header, value in self.added_headers(request):
            response.headers[header] = value
        return response

    @property
    def path(self):
        if self._path is None:
            self._path = reverse("status-page")
        return self._path

    def added_headers(self, request):
        if self._added_headers is None:
            probe = HttpResponse()
            XFrameOptionsMiddleware(lambda request: probe).process_response(request, probe)
            CSPMiddleware(lambda request: probe).process_response(request, probe)
            self._added_headers = [
                (header, probe.headers[header])
                for header in ADDED_BY_SKIPPED_MIDDLEWARE
                if header in probe.headers
            ]
        return self._added_headers
