"""Where a webhook subscriber may point: the contract's address rules for
checks (only http/https; never loopback, private, link-local, multicast or
unspecified addresses, given or resolved, unless ``CHECKS_ALLOW_PRIVATE``).

A minimal stand-in, kept in this one module: the checks' address policy
(incidents/checks/) is the rule's home, and ``check_webhook_url`` and
``refused_reason`` are the two calls to point at it.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from incidents.models import HTTP_URL, URL_MAX_LENGTH

NOT_ALLOWED = "address not allowed"


def _is_refused(address):
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _addresses(host):
    """The addresses ``host`` stands for (itself when it is one)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in found})


def refused_reason(url):
    """Why ``url`` may not be called now ("address not allowed"), or None.
    Resolves the name, so a name that moved to a private address is caught."""
    if settings.CHECKS_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    if any(_is_refused(address.split("%")[0]) for address in _addresses(host)):
        return NOT_ALLOWED
    return None


def check_webhook_url(url):
    """The URL if a webhook may be sent there; raises ValidationError({"webhook_url"})."""
    if not isinstance(url, str) or len(url) > URL_MAX_LENGTH:
        raise ValidationError({"webhook_url": f"must be at most {URL_MAX_LENGTH} characters"})
    try:
        HTTP_URL(url)
    except ValidationError:
        raise ValidationError({"webhook_url": "must be an http or https URL"}) from None
    if refused_reason(url):
        raise ValidationError(
            {
                "webhook_url": "must not be, or resolve to, a loopback, private, link-local, "
                "multicast or unspecified address"
            }
        )
    return url
