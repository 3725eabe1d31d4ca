"""Delivering one alert: claim it, make one attempt by email or webhook, record
the attempt. Retries are queued again with a delay (``Alert.record_attempt``)
rather than slept through, so one slow receiver does not hold up the rest.
"""

import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from incidents.alerts import signing
from incidents.alerts.models import Alert, AlertChannel
from incidents.checks.addresses import NOT_ALLOWED
from incidents.site import page_url
from incidents.subscribers.address_policy import refused_reason

logger = logging.getLogger(__name__)

USER_AGENT = "Kamustatus-Alerts/1"


class DeliveryError(Exception):
    """An attempt failed. ``final``: retrying cannot help."""

    def __init__(self, message, status_code=None, final=False):
        super().__init__(message)
        self.status_code = status_code
        self.final = final


def deliver(alert_id):
    """Make one delivery attempt for a due alert; return its outcome, or None
    when there was nothing to do (another worker has it, or it is finished)."""
    alert = Alert.objects.claim(alert_id)
    if alert is None:
        return None
    started_at = timezone.now()
    started = time.monotonic()
    status_code, error, final = None, "", False
    try:
        status_code = send(alert)
    except DeliveryError as failure:
        status_code, error, final = failure.status_code, str(failure), failure.final
    except Exception as failure:  # a bug or an unforeseen library error: record, do not crash
        logger.exception("alert %s: unexpected delivery error", alert.pk)
        error = f"unexpected error: {type(failure).__name__}"
    duration_ms = int((time.monotonic() - started) * 1000)
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
    return alert.outcome


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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a success: never re-send the alert elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
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
    else DeliveryError. Redirects are not followed. Shared by alerts and
    webhook subscribers."""
    request = urllib.request.Request(  # noqa: S310 (an http(s) URL checked on the way in)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            **headers,
            signing.HEADER: signing.signature_header(secret, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as failure:
        raise DeliveryError(f"HTTP {failure.code}", status_code=failure.code) from None
    except urllib.error.URLError as failure:
        reason = failure.reason
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"timed out after {timeout}s") from None
        raise DeliveryError(f"could not connect: {reason}") from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout}s") from None
    except (OSError, ValueError) as failure:
        raise DeliveryError(f"request failed: {type(failure).__name__}: {failure}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", status_code=status)
    return status
