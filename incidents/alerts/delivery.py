"""Delivering one alert: claim it, make one attempt by email or webhook, record
the attempt. Retries are queued again with a delay (``Alert.record_attempt``)
rather than slept through, so one slow receiver does not hold up the rest.
"""

import contextlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection
from django.utils import timezone

from incidents.alerts import signing
from incidents.alerts.models import Alert, AlertChannel
from incidents.appearance.page import page_settings, settings_as
from incidents.checks.addresses import NOT_ALLOWED
from incidents.site import page_url
from incidents.subscribers.address_policy import refused_reason

logger = logging.getLogger(__name__)

USER_AGENT = "Kamustatus-Alerts/1"
# Alerts delivered side by side per round, and how many at once.
BATCH = 50
CONCURRENCY = 8
# How much of a receiver's answer is read (the rest is not waited for).
ANSWER_READ_LIMIT = 65536


class DeliveryError(Exception):
    """An attempt failed. ``final``: retrying cannot help."""

    def __init__(self, message, status_code=None, final=False):
        super().__init__(message)
        self.status_code = status_code
        self.final = final


def deliver(alert_id):
    """Make one delivery attempt for a due alert — and, side by side with it,
    for every other alert due now (at most ``BATCH``), so that one slow
    channel never holds up another; return this alert's outcome, or None when
    there was nothing to do (another worker has it, or it is finished). The
    tasks queued for the others then find them done."""
    first = Alert.objects.claim(alert_id)
    batch = [first] if first is not None else []
    batch += Alert.objects.claim_due(limit=BATCH - len(batch), exclude=alert_id)
    if not batch:
        return None
    # Network only in the threads; each attempt is recorded here, in this
    # thread (and its database connection), as soon as it is over.
    threads = min(CONCURRENCY, len(batch))
    # Read here: the threads take the page's name and URL from this copy.
    page = page_settings()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alert-delivery") as pool:
        attempts = {pool.submit(attempt, alert, page): alert for alert in batch}
        for done in as_completed(attempts):
            record(attempts[done], *done.result())
    return first.outcome if first is not None else None


def attempt(alert, page=None):
    """One try at sending (no database: the page's settings are ``page``):
    (started_at, ms, status, error, final)."""
    started_at = timezone.now()
    started = time.monotonic()
    status_code, error, final = None, "", False
    try:
        with settings_as(page) if page is not None else contextlib.nullcontext():
            status_code = send(alert)
    except DeliveryError as failure:
        status_code, error, final = failure.status_code, str(failure), failure.final
    except Exception as failure:  # a bug or an unforeseen library error: record, do not crash
        logger.exception("alert %s: unexpected delivery error", alert.pk)
        error = f"unexpected error: {type(failure).__name__}"
    finally:
        # Should anything have opened a connection in this thread, give it back
        # (a pooled one is otherwise never returned: the thread outlives it).
        connection.close()
    return started_at, int((time.monotonic() - started) * 1000), status_code, error, final


def record(alert, started_at, duration_ms, status_code, error, final):
    alert.record_attempt(
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=status_code,
        error=error,
        final=final,
    )
    logger.info(
        "alert %s (%s %s via %s %s): attempt %d %s",
        alert.pk,
        alert.monitor_ref,
        alert.kind,
        alert.channel_kind,
        alert.channel_name,
        alert.attempt_count,
        alert.outcome if not error else f"{alert.outcome}: {error}",
    )


def send(alert):
    if alert.channel_kind == AlertChannel.EMAIL:
        return send_email(alert)
    if alert.channel_kind == AlertChannel.WEBHOOK:
        return send_webhook(alert)
    raise DeliveryError(f"unknown channel kind {alert.channel_kind!r}", final=True)


def email_body(alert):
    lines = [alert.subject().split("] ", 1)[-1] + ".", ""]
    lines.append(f"Monitor: {alert.monitor_name} ({alert.monitor_ref})")
    if alert.from_status:
        lines.append(f"Status: {alert.to_status} (was {alert.from_status})")
    else:
        lines.append(f"Status: {alert.to_status}")
    lines.append(f"Since: {alert.payload()['occurredAt']}")
    if alert.reason == Alert.WINDOW_END:
        lines.append(f"Maintenance window {alert.window_ref} has ended.")
    if alert.coalesced:
        changes = alert.coalesced["changes"]
        lines.append(
            f"{len(changes)} change(s) since the last alert: "
            + ", ".join(f"{change['status']} at {change['at']}" for change in changes)
        )
    lines += ["", f"Status page: {page_url()}", f"Alert id: {alert.pk}"]
    return "\n".join(lines) + "\n"


def send_email(alert):
    message = EmailMessage(
        subject=alert.subject(),
        body=email_body(alert),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[alert.target],
        headers={"X-Kamustatus-Alert-Id": alert.pk},
    )
    try:
        message.send(fail_silently=False)
    except (OSError, ValueError) as failure:  # smtplib errors are OSErrors
        raise DeliveryError(f"email not sent: {type(failure).__name__}: {failure}") from None
    return None


def send_webhook(alert):
    secret = alert.webhook_secret()
    if not secret:
        raise DeliveryError("the webhook channel is no longer configured", final=True)
    if refused_reason(alert.target):
        # Re-checked at delivery: a name may resolve somewhere refused by now.
        raise DeliveryError(NOT_ALLOWED, final=True)
    body = json.dumps(alert.payload(), separators=(",", ":")).encode("utf-8")
    headers = {"User-Agent": USER_AGENT, "Kamustatus-Alert-Id": alert.pk}
    return post_signed(alert.target, secret, body, headers, settings.ALERT_WEBHOOK_TIMEOUT)


def post_signed(url, secret, body, headers, timeout):
    """POST ``body`` (JSON bytes) signed with ``secret``; the status on a 2xx,
    else DeliveryError. Shared by alerts and webhook subscribers.

    ``timeout`` is a deadline for the whole attempt — connecting, sending and
    reading the answer — not for each read: a receiver that drips bytes is
    cut off when it passes. An answer cut short (fewer bytes than its
    Content-Length, broken chunks) is a failure; redirects are not followed
    (a redirect is an answer, not a success: never re-send the alert elsewhere)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError("not an http or https URL", final=True)
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    expired = threading.Event()
    sent_on = []  # the socket: the connection forgets it once the answer says "close"

    def cut_off():
        expired.set()
        sock = sent_on[0] if sent_on else connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                **headers,
                signing.HEADER: signing.signature_header(secret, body),
            },
        )
        sent_on.append(connection.sock)
        if expired.is_set():
            cut_off()  # the deadline passed while sending
        response = connection.getresponse()
        status = response.status
        read = 0
        while read < ANSWER_READ_LIMIT:
            chunk = response.read(8192)
            if not chunk:
                break
            read += len(chunk)
        if expired.is_set() or (read < ANSWER_READ_LIMIT and response.length):
            raise http.client.IncompleteRead(b"", response.length)
    except (http.client.IncompleteRead, http.client.HTTPException, OSError, ValueError) as failure:
        if expired.is_set() or isinstance(failure, TimeoutError):
            raise DeliveryError(f"timed out after {timeout}s") from None
        if isinstance(failure, http.client.IncompleteRead):
            raise DeliveryError("incomplete answer") from None
        if isinstance(failure, ConnectionRefusedError | socket.gaierror):
            raise DeliveryError(f"could not connect: {failure}") from None
        raise DeliveryError(f"request failed: {type(failure).__name__}: {failure}") from None
    finally:
        watchdog.cancel()
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", status_code=status)
    return status
