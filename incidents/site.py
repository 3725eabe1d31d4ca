"""Where the status page lives: one rule for its own URL, used by every face.

The public URL of the page settings (the admin's, else ``PAGE_URL``:
incidents/appearance/page.py) when the operator set one; else
the scheme and host the visitor used; else — with no request at hand, as for
the worker's mails and webhooks — the local address ``make run`` serves on
(``http://127.0.0.1:$PORT``). Shortlinks, the Statuspage JSON, feeds, API
``Location`` headers, alert mails and webhooks all ask here.
"""

from django.conf import settings

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
