"""Where the status page lives: one rule for its own URL, used by every face.

The public URL of the page settings (the admin's, else ``PAGE_URL``:
incidents/appearance/page.py) when the operator set one; else
the scheme and host the visitor used; else — with no request at hand, as for
the worker's mails and webhooks — the local address ``make run`` serves on
(``http://127.0.0.1:$PORT``). Shortlinks, the Statuspage JSON, feeds, API
``Location`` headers, alert mails and webhooks all ask here.
"""

from django.conf import settings
from django.http.request import split_domain_port

from incidents.appearance.page import page_settings


def page_url(request=None):
    """The page's base URL, without a trailing slash."""
    public_url = page_settings().public_url
    if public_url:
        return public_url
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.KAMUSTATUS_LOCAL_URL.rstrip("/")


def absolute(path, request=None):
    """``path`` (starting with ``/``) on the page's base URL."""
    return page_url(request) + path


def is_own_url(request):
    """May an answer kept per requested address be stored for everyone? Only
    for a host spelled as in ``ALLOWED_HOSTS`` (no wildcard) on the port the
    server listens on (or none): any port in a Host header passes the host
    check, and each would otherwise store a copy of its own."""
    hostname, port = split_domain_port(request.get_host())
    named = {host.lower() for host in settings.ALLOWED_HOSTS if host != "*" and host[:1] != "."}
    return hostname in named and (not port or port == request.META.get("SERVER_PORT"))
