"""The worker's part: fan each event out into deliveries, then send due
deliveries in batches — never inside a web request.

- Fan-out claims one event at a time and writes its deliveries in chunks of
  ``FAN_OUT_CHUNK`` subscribers with ``INSERT … ON CONFLICT DO NOTHING``
  against the unique (event, subscriber) constraint, so a fan-out resumed
  after a crash, or raced by another worker, never makes a second delivery.
- Sending claims a batch of due deliveries (``Delivery.objects.claim_batch``:
  SKIP LOCKED on PostgreSQL, a conditional UPDATE under SQLite's write lock),
  opens one SMTP connection for the batch's mails, records every attempt and
  schedules retries with back-off. A mail server that is down delays mail and
  loses none: the batch is given back with its attempts recorded.
- A batch has an overall deadline (``SUBSCRIBER_BATCH_SECONDS``): what is
  left when it passes is given back untried.
"""

import json
import logging
import smtplib
import time

from django.conf import settings
from django.core.mail import get_connection
from django.utils import timezone

from incidents.alerts.delivery import DeliveryError, post_signed
from incidents.subscribers import mail
from incidents.subscribers.address_policy import refused_reason
from incidents.subscribers.models import Delivery, Event, Subscriber

logger = logging.getLogger(__name__)

FAN_OUT_CHUNK = 1000


# --- Fan-out --------------------------------------------------------------


def fan_out_next(worker):
    """Fan out one event, if one is waiting; returns it (or None)."""
    event = Event.objects.claim_next(worker)
    if event is None:
        return None
    fan_out(event, worker)
    return event


def fan_out(event, worker=""):
    """One delivery per recipient of ``event``; idempotent."""
    recipients = Subscriber.objects.recipients_of(event).order_by("pk")
    after = ""
    now = timezone.now()
    while True:
        chunk = list(recipients.filter(pk__gt=after).values_list("pk", "email")[:FAN_OUT_CHUNK])
        if not chunk:
            break
        Delivery.objects.bulk_create(
            [
                Delivery(
                    event=event,
                    subscriber_id=pk,
                    subscriber_ref=pk,
                    kind=Delivery.EVENT,
                    channel=Delivery.EMAIL if email else Delivery.WEBHOOK,
                    created_at=now,
                    next_attempt_at=now,
                )
                for pk, email in chunk
            ],
            ignore_conflicts=True,
        )
        after = chunk[-1][0]
    count = event.deliveries.count()
    claimed = Event.objects.filter(pk=event.pk, fanned_out_at__isnull=True)
    if worker:
        claimed = claimed.filter(claimed_by=worker)
    claimed.update(fanned_out_at=timezone.now(), delivery_count=count)
    logger.info("event %s (%s): %d delivery(ies)", event.pk, event.type, count)
    return count


# --- Sending --------------------------------------------------------------


def send_due(worker, batch_size=None):
    """Claim one batch of due deliveries and send it; returns how many were
    claimed (0: nothing is due)."""
    batch = Delivery.objects.claim_batch(worker, batch_size or settings.SUBSCRIBER_BATCH_SIZE)
    if not batch:
        return 0
    deadline = time.monotonic() + settings.SUBSCRIBER_BATCH_SECONDS
    words = {}
    emails, webhooks = [], []
    for delivery in batch:
        if delivery.subscriber is None:
            _cancel(delivery)  # unsubscribed since it was made
        elif delivery.channel == Delivery.EMAIL:
            emails.append(delivery)
        else:
            webhooks.append(delivery)
        if delivery.event is not None and delivery.event_id not in words:
            words[delivery.event_id] = mail.EventWords.for_event(delivery.event)
    if emails:
        send_emails(emails, words, deadline)
    for position, delivery in enumerate(webhooks):
        if time.monotonic() > deadline:
            _release(webhooks[position:], timezone.now())
            break
        send_webhook(delivery)
    return len(batch)


def _cancel(delivery):
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.SENDING).update(
        status=Delivery.CANCELLED, finished_at=timezone.now(), claimed_at=None
    )


def _release(deliveries, next_attempt_at):
    for delivery in deliveries:
        delivery.release(next_attempt_at)


def smtp_error(failure):
    """(message, final) for an SMTP failure: a 5xx answer about this mail is
    final, anything else (4xx, a dropped connection) is worth retrying."""
    if isinstance(failure, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in failure.recipients.values()]
        code = codes[0] if codes else 0
        return f"recipient refused: SMTP {code}", 500 <= code < 600
    if isinstance(failure, smtplib.SMTPResponseException):
        code = failure.smtp_code
        return f"SMTP {code}", 500 <= code < 600 and code != 421
    return f"{type(failure).__name__}: {failure}", False


def send_emails(deliveries, words, deadline):
    """Send ``deliveries`` over one SMTP connection."""
    started_at = timezone.now()
    started = time.monotonic()
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as failure:  # the server is down or refuses us: all wait
        error = f"could not reach the mail server: {smtp_error(failure)[0]}"
        duration = int((time.monotonic() - started) * 1000)
        for delivery in deliveries:
            delivery.record_attempt(started_at=started_at, duration_ms=duration, error=error)
        logger.warning("%d mail(s) wait: %s", len(deliveries), error)
        return
    try:
        for position, delivery in enumerate(deliveries):
            if time.monotonic() > deadline:
                _release(deliveries[position:], timezone.now())
                return
            started_at, started = timezone.now(), time.monotonic()
            error, final, broken = "", False, False
            try:
                message = mail.build_email(delivery, words.get(delivery.event_id), connection)
                connection.send_messages([message])
            except smtplib.SMTPServerDisconnected as failure:
                error, broken = smtp_error(failure)[0], True
            except (smtplib.SMTPException, OSError) as failure:
                error, final = smtp_error(failure)
                broken = isinstance(failure, OSError) and not isinstance(
                    failure, smtplib.SMTPException
                )
            except Exception as failure:  # a bug: record it, keep the worker alive
                logger.exception("delivery %s: could not build or send the mail", delivery.pk)
                error, final = f"unexpected error: {type(failure).__name__}", True
            duration = int((time.monotonic() - started) * 1000)
            delivery.record_attempt(
                started_at=started_at, duration_ms=duration, error=error, final=final
            )
            if broken:
                # The connection is gone: the rest wait for this one's retry.
                _release(deliveries[position + 1 :], delivery.next_attempt_at)
                logger.warning("mail server went away: %s", error)
                return
    finally:
        try:
            connection.close()
        except Exception:
            logger.debug("closing the SMTP connection failed", exc_info=True)


def send_webhook(delivery):
    """One signed POST to a webhook subscriber."""
    subscriber = delivery.subscriber
    started_at, started = timezone.now(), time.monotonic()
    status_code, error, final = None, "", False
    try:
        reason = refused_reason(subscriber.webhook_url)
        if reason:
            raise DeliveryError(reason, final=True)
        body = json.dumps(mail.webhook_payload(delivery), separators=(",", ":")).encode()
        status_code = post_signed(
            subscriber.webhook_url,
            subscriber.webhook_secret,
            body,
            {"User-Agent": mail.USER_AGENT, "Kamustatus-Delivery-Id": str(delivery.pk)},
            settings.ALERT_WEBHOOK_TIMEOUT,
        )
    except DeliveryError as failure:
        status_code, error, final = failure.status_code, str(failure), failure.final
    except Exception as failure:
        logger.exception("delivery %s: unexpected webhook error", delivery.pk)
        error, final = f"unexpected error: {type(failure).__name__}", True
    delivery.record_attempt(
        started_at=started_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        error=error,
        final=final,
        status_code=status_code,
    )


# --- The worker's duty ----------------------------------------------------


def forget_lapsed(now=None):
    """Delete subscriptions never confirmed within 48 hours."""
    deleted, _ = Subscriber.objects.lapsed(now).delete()
    return deleted


def run(worker, budget_seconds=5.0):
    """Fan out waiting events, then send due deliveries until none is due
    or ``budget_seconds`` have passed (the loop has other duties). Returns
    how many deliveries were handled."""
    stop_at = time.monotonic() + budget_seconds
    while time.monotonic() < stop_at and fan_out_next(worker) is not None:
        pass
    handled = 0
    while time.monotonic() < stop_at:
        claimed = send_due(worker)
        if not claimed:
            break
        handled += claimed
    return handled
