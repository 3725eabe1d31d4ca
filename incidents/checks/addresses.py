"""The address policy: where a check (or, later, a webhook) may connect.

Loopback, private, link-local, multicast, unspecified and other non-global
addresses are refused unless the operator sets ``CHECKS_ALLOW_PRIVATE=1`` to
watch internal services. The rule is applied three times:

- to what is written: an address literal or ``localhost`` in a check's URL or
  host is a validation error (``refusal_for_host``);
- at connect time: a name is resolved once, every address it resolves to is
  checked, and the connection goes to the checked address itself, so a DNS
  answer that changes between check and connect (rebinding) cannot slip
  through (``PolicyNetworkBackend``, ``open_checked_connection``);
- on every redirect, since each hop connects through the same backend.

Tests resolve names with ``resolver`` replaced, and may mark loopback
listeners as public with the ``CHECKS_PUBLIC_FOR_TESTS`` setting
(``{"127.0.0.1:8443"}``): nothing here ever needs outside traffic.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
from django.conf import settings

NOT_ALLOWED = "address not allowed"
HOST_REFUSAL = (
    "must not be a loopback, private, link-local, multicast or unspecified address "
    "(an operator may set CHECKS_ALLOW_PRIVATE=1 to watch internal services)"
)
LOCAL_NAMES = ("localhost", "localhost.localdomain")


class AddressNotAllowed(OSError):
    """The target is, or resolves to, an address the policy refuses."""

    def __init__(self):
        super().__init__(NOT_ALLOWED)


class NameNotResolved(OSError):
    def __init__(self):
        super().__init__("name not resolved")


def allow_private():
    return bool(getattr(settings, "CHECKS_ALLOW_PRIVATE", False))


def is_public_address(address):
    """True for an address on the public internet (``ipaddress`` value)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public_address(mapped)
    return address.is_global and not address.is_multicast


def parse_address(host):
    """The IP address a host string spells (``[::1]`` too), or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _marked_public(address, port):
    marked = getattr(settings, "CHECKS_PUBLIC_FOR_TESTS", ())
    return f"{address}:{port}" in marked


def allowed(address, port=None):
    return allow_private() or is_public_address(address) or _marked_public(address, port)


def refusal_for_host(host):
    """Why a written host (a URL's host or a TCP check's host) is refused, or None.

    Names are only refused when they name this machine; what they resolve to
    is checked when the check connects."""
    if allow_private():
        return None
    lowered = host.lower().rstrip(".")
    if lowered in LOCAL_NAMES or lowered.endswith(".localhost"):
        return HOST_REFUSAL
    address = parse_address(lowered)
    if address is not None and not is_public_address(address):
        return HOST_REFUSAL
    return None


async def _system_resolver(host, port):
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [info[4][0] for info in infos]


# Replaced in tests to make a name resolve where a test wants it.
resolver = _system_resolver


async def checked_addresses(host, port):
    """Every address ``host`` resolves to, each allowed; raises otherwise.

    A name with one refused address is refused as a whole: which address a
    client ends up using is not ours to choose."""
    literal = parse_address(host)
    if literal is not None:
        found = [literal]
    else:
        try:
            found = [parse_address(text) for text in await resolver(host, port)]
        except (OSError, UnicodeError):
            raise NameNotResolved() from None
        found = [address for address in found if address is not None]
        if not found:
            raise NameNotResolved()
    if not all(allowed(address, port) for address in found):
        raise AddressNotAllowed()
    return found


class PolicyNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses.

    TLS still verifies the certificate against the URL's host name: httpcore
    passes it as ``server_hostname`` when it starts TLS on the stream."""

    def __init__(self):
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await checked_addresses(host, port)
        last_error = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressNotAllowed()

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


async def open_checked_connection(host, port):
    """A TCP connection (reader, writer) to a checked address of ``host``."""
    last_error = None
    for address in await checked_addresses(host, port):
        try:
            return await asyncio.open_connection(str(address), port)
        except OSError as error:
            last_error = error
    raise last_error


def refusal_for_url(url):
    """Why the server may not send a request to ``url`` now ("address not
    allowed"), or None: the URL's host as written (``refusal_for_host``) and
    every address its name resolves to now. For senders that connect through
    another client (the subscribers' webhooks): a check connects through
    ``PolicyNetworkBackend`` instead, which also closes the rebinding gap
    between this look-up and the connection."""
    if allow_private():
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if refusal_for_host(host):
        return NOT_ALLOWED
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        asyncio.run(checked_addresses(host, port))
    except AddressNotAllowed:
        return NOT_ALLOWED
    except (NameNotResolved, ValueError):
        return None  # nothing to connect to: the sending itself fails and is retried
    return None
