"""The status page's own address, for links that leave the page (mails,
webhooks): ``PAGE_URL`` when set, else the request's scheme and host."""

from django.conf import settings


def page_url(path="/", request=None):
    """An absolute URL for ``path`` on the status page."""
    base = (settings.KAMUSTATUS_PAGE_URL or "").rstrip("/")
    if not base and request is not None:
        base = f"{request.scheme}://{request.get_host()}"
    return base + path
