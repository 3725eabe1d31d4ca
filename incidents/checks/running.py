"""Running one check: an HTTP request with httpx or a TCP connection, through
the address policy, within the check's timeout as an overall deadline.

Never more than 1 MiB of a body is read (and never decompressed past it); a
result's error is one of a few fixed sentences ("status 503", "connection
refused", "keyword missing", …) and never holds anything from the body.
"""

import asyncio
import contextlib
import logging
import ssl
import time
import zlib
from datetime import UTC, datetime

import httpcore
import httpx
from django.conf import settings
from django.utils import timezone

from incidents.checks import addresses
from incidents.checks.definition import HTTP, TCP
from incidents.checks.results import DEGRADED, DOWN, OPERATIONAL, Outcome

BODY_LIMIT = 1024 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
logger = logging.getLogger("incidents.checks")

USER_AGENT = "Kamustatus-Check/1.0 (+https://github.com/kamustatus; uptime monitor)"


def ssl_context():
    """One TLS context for every check: the system's (certifi's) roots, or the
    operator's bundle in ``CHECKS_CA_BUNDLE`` (an internal CA)."""
    bundle = getattr(settings, "CHECKS_CA_BUNDLE", "")
    return (
        ssl.create_default_context(cafile=bundle or None) if bundle else httpx.create_ssl_context()
    )


class PolicyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool built on the policy backend: no
    keep-alive (each run opens its own connection, so it measures and checks
    the target afresh), no proxies from the environment (a proxy would
    connect for us, past the policy)."""

    def __init__(self, context):
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=None,
            max_keepalive_connections=0,
            network_backend=addresses.PolicyNetworkBackend(),
        )


def make_client(context=None):
    return httpx.AsyncClient(
        transport=PolicyTransport(context or ssl_context()),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate, identity"},
    )


class CheckFailed(Exception):
    """A check's failure, with the sentence shown as its error."""


def _elapsed_ms(started):
    return max(0, round((time.monotonic() - started) * 1000))


async def _read_body(response):
    """At most 1 MiB of the body, decompressed within that limit too."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
    elif encoding not in ("", "identity"):
        raise CheckFailed(f"unsupported content encoding {encoding[:20]}")
    body = bytearray()
    async for chunk in response.aiter_raw():
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, BODY_LIMIT - len(body))
            except zlib.error:
                raise CheckFailed("body could not be decompressed") from None
        body += chunk[: BODY_LIMIT - len(body)]
        if len(body) >= BODY_LIMIT:
            break
    return bytes(body)


def _certificate_days_left(response, now):
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate or "notAfter" not in certificate:
        return None
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), UTC)
    return (expires - now).total_seconds() / 86_400


def _causes(error, depth=0):
    """The error, what caused it, and the members of exception groups on the way."""
    if error is None or depth > 10:
        return
    yield error
    for member in getattr(error, "exceptions", ()):
        yield from _causes(member, depth + 1)
    yield from _causes(error.__cause__ or error.__context__, depth + 1)


def _describe_connect_error(error):
    causes = list(_causes(error))
    text = str(error).lower()
    if any(isinstance(cause, addresses.AddressNotAllowed) for cause in causes):
        return addresses.NOT_ALLOWED
    if any(isinstance(cause, addresses.NameNotResolved) for cause in causes):
        return "name not resolved"
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if "certificate verify failed" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip()
        return (
            f"TLS certificate not valid: {reason}"[:200] if reason else "TLS certificate not valid"
        )
    if "refused" in text:
        return "connection refused"
    if "ssl" in text or "tls" in text:
        return "TLS handshake failed"
    return "connection failed"


def _status_ok(check, status):
    if check.expected_status:
        return status in check.expected_status
    return 200 <= status <= 399


async def _http(client, check):
    """(status, response_time_ms, error) for an HTTP check; raises CheckFailed."""
    url = check.url
    started = time.monotonic()
    for _hop in range(MAX_REDIRECTS + 1):
        request = client.build_request(check.method, url, timeout=check.timeout)
        try:
            response = await client.send(request, stream=True)
        except (addresses.AddressNotAllowed, addresses.NameNotResolved) as error:
            raise CheckFailed(str(error)) from None
        except httpx.TimeoutException:
            raise CheckFailed(f"timed out after {check.timeout} s") from None
        except httpx.ConnectError as error:
            raise CheckFailed(_describe_connect_error(error)) from None
        except httpx.HTTPError:
            raise CheckFailed("the connection failed while reading the answer") from None
        try:
            if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
                try:
                    url = str(response.url.join(response.headers["Location"]))
                except httpx.InvalidURL:
                    raise CheckFailed("redirect to an invalid URL") from None
                if httpx.URL(url).scheme not in ("http", "https"):
                    raise CheckFailed("redirect to a URL that is not http or https")
                if addresses.refusal_for_host(httpx.URL(url).host):
                    raise CheckFailed(addresses.NOT_ALLOWED)
                continue
            body = b""
            if check.keyword is not None:
                body = await _read_body(response)
            else:
                async for _chunk in response.aiter_raw():
                    break  # the answer has begun: enough for its timing
            elapsed = _elapsed_ms(started)
            days_left = _certificate_days_left(response, timezone.now())
        except httpx.TimeoutException:
            raise CheckFailed(f"timed out after {check.timeout} s") from None
        except httpx.HTTPError:
            raise CheckFailed("the connection failed while reading the answer") from None
        finally:
            await response.aclose()
        if not _status_ok(check, response.status_code):
            return DOWN, elapsed, f"status {response.status_code}"
        if check.keyword is not None:
            text = body.decode(response.encoding or "utf-8", errors="replace")
            present = check.keyword in text
            if present and check.keyword_absent:
                return DOWN, elapsed, "keyword present"
            if not present and not check.keyword_absent:
                return DOWN, elapsed, "keyword missing"
        if (
            check.certificate_expiry_days is not None
            and days_left is not None
            and days_left < check.certificate_expiry_days
        ):
            if days_left <= 0:
                return DOWN, elapsed, "certificate expired"
            days = max(1, round(days_left))
            return DEGRADED, elapsed, f"certificate expires in {days} day{'s' * (days != 1)}"
        if check.degraded_above_ms is not None and elapsed > check.degraded_above_ms:
            return DEGRADED, elapsed, f"slow: {elapsed} ms (over {check.degraded_above_ms} ms)"
        return OPERATIONAL, elapsed, None
    raise CheckFailed(f"too many redirects (more than {MAX_REDIRECTS})")


async def _tcp(check):
    started = time.monotonic()
    try:
        _reader, writer = await addresses.open_checked_connection(check.host, check.port)
    except (addresses.AddressNotAllowed, addresses.NameNotResolved) as error:
        raise CheckFailed(str(error)) from None
    except ConnectionRefusedError:
        raise CheckFailed("connection refused") from None
    except OSError:
        raise CheckFailed("connection failed") from None
    elapsed = _elapsed_ms(started)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return OPERATIONAL, elapsed, None


async def run_check(check, client, scheduled_for=None):
    """Run ``check`` (a Check row) once; always an Outcome, never an exception."""
    checked_at = timezone.now()
    try:
        async with asyncio.timeout(check.timeout):
            if check.type == HTTP:
                status, elapsed, error = await _http(client, check)
            elif check.type == TCP:
                status, elapsed, error = await _tcp(check)
            else:
                raise CheckFailed(f"{check.type} checks are not run by the worker")
    except TimeoutError:
        status, elapsed, error = DOWN, None, f"timed out after {check.timeout} s"
    except CheckFailed as failure:
        status, elapsed, error = DOWN, None, str(failure)
    except Exception:  # a bug must not stop the other checks
        logger.exception("check of %s failed", check.pk)
        status, elapsed, error = DOWN, None, "the check could not run"
    return Outcome(
        monitor_id=check.pk,
        status=status,
        checked_at=checked_at,
        response_time_ms=elapsed,
        error=error,
        scheduled_for=scheduled_for,
    )


async def run_checks(checks, scheduled=None):
    """Run several checks concurrently; their Outcomes in the same order."""
    scheduled = scheduled or {}
    async with make_client() as client:
        return await asyncio.gather(
            *(run_check(check, client, scheduled.get(check.pk)) for check in checks)
        )
