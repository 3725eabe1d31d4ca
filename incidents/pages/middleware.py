"""Answer the status page from the shared cache before the rest of the stack.

During an outage nearly every request is for ``/`` and nearly every answer is
a stored page (incidents/pages/rendering.py). Sessions, CSRF, authentication,
messages and URL resolution do nothing for it, yet cost more than the answer
itself; so this middleware, placed right after WhiteNoise, serves a *current*
stored copy at once and lets every other request (and every miss, which the
view renders and stores) go down the stack as usual.

What the skipped middleware would have done to such a response is done here:
the host is checked against ALLOWED_HOSTS (CommonMiddleware), and the headers
that XFrameOptionsMiddleware and the CSP middleware add — the same for every
stored page, which carries no nonce — are learnt once from those middleware
themselves, so a change to their settings is followed without a copy here.
"""

import logging

from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import reverse

from incidents.pages.rendering import stored_response
from incidents.pages.views import STATUS_PAGE_VARY, status_page_name

logger = logging.getLogger(__name__)

ADDED_BY_SKIPPED_MIDDLEWARE = (
    "Content-Security-Policy",
    "Content-Security-Policy-Report-Only",
    "X-Frame-Options",
)


class StoredPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._path = None
        self._added_headers = None

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and request.path_info == self.path:
            request.get_host()  # raises DisallowedHost for a host not allowed
            try:
                response = stored_response(request, status_page_name(request), STATUS_PAGE_VARY)
            except Exception:
                # Only a shortcut: if the cache cannot answer, the view (and
                # whatever guards it against outages) takes the request.
                logger.debug("stored status page unavailable", exc_info=True)
                response = None
            if response is not None:
                for header, value in self.added_headers(request):
                    response.headers[header] = value
                return response
        return self.get_response(request)

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
