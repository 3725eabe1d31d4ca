"""Where the status page lives: one rule for its own URL, used by every face.

``PAGE_URL`` when the operator set it (behind a proxy, a public name); else
the scheme and host the visitor used; else — with no request at hand, as for
the worker's mails and webhooks — the local address ``make run`` serves on
(``http://127.0.0.1:$PORT``). Shortlinks, the Statuspage JSON, feeds, API
``Location`` headers, alert mails and webhooks all ask here.
"""

from django.conf import settings


def page_url(request=None):
    """The page's base URL, without a trailing slash."""
    if settings.KAMUSTATUS_PAGE_URL:
        return settings.KAMUSTATUS_PAGE_URL.rstrip("/")
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.KAMUSTATUS_LOCAL_URL.rstrip("/")


def absolute(path, request=None):
    """``path`` (starting with ``/``) on the page's base URL."""
    return page_url(request) + path
