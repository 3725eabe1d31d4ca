"""Subscribers, the events they are told about (the outbox), and one delivery
per (event, subscriber) with every attempt at it.

- An ``Event`` is written by a receiver of the domain's ``incident_changed``
  signal inside the write's own transaction (see ``outbox``), or by the clock
  when a window starts or completes; it holds what subscribers are told.
- The worker fans each event out into ``Delivery`` rows — at most one per
  (event, subscriber), enforced by the database — and sends them in batches
  (see ``fanout``). Confirmation mails and test mails are deliveries too,
  without an event, so they share the retries and the record of attempts.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.cache.generation import NotShownOnPage
from incidents.models import URL_MAX_LENGTH, Conflict, Monitor, isostring, make_id
from incidents.models.fields import (
    BOOLEAN,
    HTTP_URL_SCHEMA,
    STRING_LIST,
    Field,
    Resource,
    at_most,
    unknown_monitors,
)
from incidents.models.incidents import MAX_MONITOR_IDS
from incidents.subscribers.address_policy import check_webhook_url

EMAIL_MAX_LENGTH = 254
# Unconfirmed subscriptions are deleted this long after they were asked for.
CONFIRMATION_LAPSES_AFTER = timedelta(hours=48)
# At most one confirmation (or "already subscribed") mail per address this often.
CONFIRMATION_MAIL_EVERY = timedelta(minutes=10)
# A claimed delivery or event not finished this long after is taken to have
# lost its worker. Above the longest batch (SUBSCRIBER_BATCH_SECONDS).
STALE_CLAIM_AFTER = timedelta(minutes=10)

VALID_EMAIL = EmailValidator(message="must be a valid e-mail address")


def new_subscriber_id():
    return make_id("sub")


def new_event_id():
    return make_id("evt")


def new_webhook_secret():
    return "whsec_" + secrets.token_urlsafe(32)


def normalise_email(value):
    """Trimmed, with the domain in lower case (the local part is the owner's)."""
    local, _, domain = value.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if local else value.strip()


def check_email(value):
    """The address, normalised; raises ValidationError({"email": ...})."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"email": "must be an e-mail address"})
    email = normalise_email(value)
    if len(email) > EMAIL_MAX_LENGTH or "\n" in email or "\r" in email:
        raise ValidationError({"email": at_most(EMAIL_MAX_LENGTH)})
    try:
        VALID_EMAIL(email)
    except ValidationError:
        raise ValidationError({"email": "must be a valid e-mail address"}) from None
    return email


# The contract's fields of a subscriber, as the API adds one
# (incidents/models/fields.py).
SUBSCRIBER = Resource(
    [
        Field(
            "email",
            not_blank=True,
            max_length=EMAIL_MAX_LENGTH,
            description="An e-mail address; it is sent a confirmation mail unless "
            "skipConfirmation is true.",
            example="ops@example.com",
        ),
        Field(
            "webhookUrl",
            "webhook_url",
            not_blank=True,
            max_length=URL_MAX_LENGTH,
            description="An http or https URL that receives a signed JSON POST per event "
            "(the same address rules as checks: no private addresses).",
            schema=HTTP_URL_SCHEMA,
            example="https://hooks.example.com/status",
        ),
        Field(
            "monitorIds",
            "monitor_ids",
            STRING_LIST,
            max_items=MAX_MONITOR_IDS,
            description="Only events touching these monitors; empty or absent: everything.",
            example=["mon_abc123"],
        ),
        Field(
            "skipConfirmation",
            "skip_confirmation",
            BOOLEAN,
            description="true: the address is confirmed at once (no mail).",
        ),
    ],
    read_only=("id", "confirmed", "createdAt"),
)


def skipping_locked(queryset):
    """Rows other workers hold are skipped (PostgreSQL). SQLite has no row
    locks: its IMMEDIATE transactions already let one writer claim at a time."""
    if connections[queryset.db].features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset


def retry_delays():
    """Seconds before the 2nd, 3rd, … attempt; the last one repeats."""
    return [max(0.0, float(delay)) for delay in settings.SUBSCRIBER_RETRY_DELAYS] or [60.0]


def next_attempt_after(attempts):
    delays = retry_delays()
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


# --- Subscribers ----------------------------------------------------------


class SubscriberQuerySet(models.QuerySet):
    def confirmed(self):
        return self.filter(confirmed_at__isnull=False)

    def email(self):
        return self.filter(email__isnull=False)

    def with_address(self, email):
        return self.filter(email__iexact=normalise_email(email))

    def lapsed(self, now=None):
        now = now or timezone.now()
        return self.filter(
            confirmed_at__isnull=True, confirmation_requested_at__lt=now - CONFIRMATION_LAPSES_AFTER
        )

    def recipients_of(self, event):
        """Who is told about ``event``: confirmed before it happened, and
        subscribed to everything or to one of its monitors."""
        chosen = SubscriberMonitor.objects.filter(monitor_id__in=event.monitor_ids).values(
            "subscriber_id"
        )
        return self.filter(confirmed_at__lte=event.created_at).filter(
            Q(all_monitors=True) | Q(pk__in=chosen)
        )

    def subscribe(self, email, monitor_ids=None, now=None):
        """A visitor asks to subscribe ``email`` (to everything when
        ``monitor_ids`` is empty). Whatever the address's state, the caller
        answers the same; a mail is queued at most once per address per
        ``CONFIRMATION_MAIL_EVERY``: a confirmation link while unconfirmed,
        a reminder of the manage link once confirmed. Returns the subscriber."""
        email = check_email(email)
        monitors = Subscriber.check_monitors(monitor_ids)
        now = now or timezone.now()
        with transaction.atomic():
            subscriber = self.with_address(email).select_for_update().first()
            if subscriber is None:
                subscriber = self._insert_or_existing(email, now)
            if subscriber.confirmed_at is None:
                # The latest choice wins until the address is confirmed.
                subscriber.set_monitors(monitors)
            subscriber.request_confirmation_mail(now)
        return subscriber

    def _insert_or_existing(self, email, now):
        """A new subscriber for ``email``, or the one a racing request made."""
        try:
            with transaction.atomic():
                subscriber = Subscriber(email=email, created_at=now)
                subscriber.save(force_insert=True)
                return subscriber
        except IntegrityError:
            return self.with_address(email).select_for_update().get()

    def add_webhook(self, url, monitor_ids=None):
        """A key holder adds a webhook (confirmed: the key vouches for it)."""
        url = check_webhook_url(url)
        monitors = Subscriber.check_monitors(monitor_ids)
        with transaction.atomic():
            subscriber = Subscriber(webhook_url=url, confirmed_at=timezone.now())
            subscriber.save(force_insert=True)
            subscriber.set_monitors(monitors)
        return subscriber

    def add_email(self, email, monitor_ids=None, skip_confirmation=False):
        """A key holder adds an address: confirmed at once with
        ``skip_confirmation``, else it is sent the confirmation mail."""
        email = check_email(email)
        monitors = Subscriber.check_monitors(monitor_ids)
        now = timezone.now()
        with transaction.atomic():
            existing = self.with_address(email).first()
            if existing is not None:
                raise Conflict(f"Subscriber {existing.pk} already has this address.")
            subscriber = Subscriber(
                email=email, created_at=now, confirmed_at=now if skip_confirmation else None
            )
            subscriber.save(force_insert=True)
            subscriber.set_monitors(monitors)
            if not skip_confirmation:
                subscriber.request_confirmation_mail(now)
        return subscriber


class Subscriber(NotShownOnPage, models.Model):
    """Someone told about incidents and windows: an e-mail address (confirmed
    by opening a link) or a webhook (added with an API key)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_subscriber_id)
    email = models.CharField(max_length=EMAIL_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001
    webhook_url = models.CharField(  # noqa: DJ001 (null: an e-mail subscriber)
        max_length=URL_MAX_LENGTH, null=True, blank=True
    )
    webhook_secret = models.CharField(max_length=200, blank=True, default=new_webhook_secret)
    all_monitors = models.BooleanField(
        default=True, help_text="Told about everything, or only about the chosen monitors."
    )
    monitors = models.ManyToManyField(
        Monitor, through="SubscriberMonitor", related_name="subscribers", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_requested_at = models.DateTimeField(null=True, blank=True)
    confirmation_mailed_at = models.DateTimeField(null=True, blank=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("email"),
                name="subscriber_email_once",
                condition=Q(email__isnull=False),
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=False, webhook_url__isnull=True)
                | Q(email__isnull=True, webhook_url__isnull=False),
                name="subscriber_email_or_webhook",
            ),
        ]
        indexes = [models.Index(fields=["confirmed_at"], name="subscriber_by_confirmed")]

    def __str__(self):
        return self.id

    @property
    def kind(self):
        return "email" if self.email else "webhook"

    @property
    def is_confirmed(self):
        return self.confirmed_at is not None

    @property
    def monitor_ids(self):
        if self.all_monitors:
            return []
        return [link.monitor_id for link in self.monitor_links.all()]

    def to_dict(self):
        """The API object: ``email`` or ``webhookUrl``, never the secret."""
        target = {"email": self.email} if self.email else {"webhookUrl": self.webhook_url}
        return {
            "id": self.id,
            **target,
            "monitorIds": self.monitor_ids,
            "confirmed": self.is_confirmed,
            "createdAt": isostring(self.created_at),
        }

    @staticmethod
    def check_monitors(monitor_ids):
        """The monitors for ``monitor_ids`` (None or empty: everything)."""
        if not monitor_ids:
            return None
        ids = list(dict.fromkeys(monitor_ids))
        found = {monitor.pk: monitor for monitor in Monitor.objects.filter(pk__in=ids)}
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise ValidationError({"monitor_ids": unknown_monitors(unknown)})
        return [found[i] for i in ids]

    def set_monitors(self, monitors):
        """Everything (None) or the given monitors."""
        self.monitor_links.all().delete()
        self.all_monitors = not monitors
        Subscriber.objects.filter(pk=self.pk).update(all_monitors=self.all_monitors)
        SubscriberMonitor.objects.bulk_create(
            SubscriberMonitor(subscriber=self, monitor=monitor) for monitor in monitors or ()
        )
        getattr(self, "_prefetched_objects_cache", {}).pop("monitor_links", None)

    def request_confirmation_mail(self, now=None):
        """Queue the confirmation (or reminder) mail unless one was queued
        within ``CONFIRMATION_MAIL_EVERY``; True when one was. A conditional
        UPDATE, so racing requests queue one mail between them."""
        now = now or timezone.now()
        claimed = (
            Subscriber.objects.filter(pk=self.pk)
            .filter(
                Q(confirmation_mailed_at__isnull=True)
                | Q(confirmation_mailed_at__lte=now - CONFIRMATION_MAIL_EVERY)
            )
            .update(confirmation_mailed_at=now, confirmation_requested_at=now)
        )
        if not claimed:
            return False
        self.confirmation_mailed_at = self.confirmation_requested_at = now
        kind = Delivery.REMINDER if self.is_confirmed else Delivery.CONFIRMATION
        Delivery.objects.create(
            subscriber=self, subscriber_ref=self.pk, kind=kind, next_attempt_at=now
        )
        return True

    def confirm(self, now=None):
        """The address's owner opened the link. True the first time."""
        now = now or timezone.now()
        confirmed = Subscriber.objects.filter(pk=self.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        )
        if confirmed:
            self.confirmed_at = now
        return bool(confirmed)

    def unsubscribe(self):
        """Delete the subscriber (and so the address). Deliveries keep their
        record without it; those not yet sent are cancelled."""
        with transaction.atomic():
            Delivery.objects.filter(
                subscriber=self, status__in=[Delivery.PENDING, Delivery.SENDING]
            ).update(status=Delivery.CANCELLED, finished_at=timezone.now(), last_error="")
            self.delete()

    def send_test(self):
        """The admin's "send a test": one test delivery, queued for the worker."""
        return Delivery.objects.create(
            subscriber=self, subscriber_ref=self.pk, kind=Delivery.TEST, channel=self.kind
        )


class SubscriberMonitor(NotShownOnPage, models.Model):
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="monitor_links"
    )
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="subscriber_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "monitor"], name="subscriber_monitor_once"
            )
        ]
        indexes = [models.Index(fields=["monitor", "subscriber"], name="subscriber_by_monitor")]

    def __str__(self):
        return f"{self.subscriber_id} → {self.monitor_id}"


# --- Events (the outbox) --------------------------------------------------


class EventQuerySet(models.QuerySet):
    def to_fan_out(self, now=None):
        now = now or timezone.now()
        return self.filter(fanned_out_at__isnull=True).filter(
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_CLAIM_AFTER)
        )

    def claim_next(self, worker, now=None):
        """One event to fan out, taken so that no other worker has it."""
        now = now or timezone.now()
        with transaction.atomic():
            candidates = skipping_locked(self.to_fan_out(now).order_by("created_at", "id"))
            pk = candidates.values_list("pk", flat=True).first()
            if pk is None:
                return None
            taken = self.to_fan_out(now).filter(pk=pk).update(claimed_at=now, claimed_by=worker)
        return self.get(pk=pk) if taken else None


class Event(NotShownOnPage, models.Model):
    """Something subscribers are told about, recorded once."""

    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_RESOLVED = "incident.resolved"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_COMPLETED = "maintenance.completed"
    MAINTENANCE_CANCELLED = "maintenance.cancelled"
    TYPE_CHOICES = [
        (INCIDENT_CREATED, "Incident opened"),
        (INCIDENT_UPDATED, "Incident updated"),
        (INCIDENT_RESOLVED, "Incident resolved"),
        (MAINTENANCE_SCHEDULED, "Maintenance scheduled"),
        (MAINTENANCE_STARTED, "Maintenance started"),
        (MAINTENANCE_COMPLETED, "Maintenance completed"),
        (MAINTENANCE_CANCELLED, "Maintenance cancelled"),
    ]
    TYPES = [value for value, _label in TYPE_CHOICES]

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id)
    type = models.CharField(max_length=40, choices=TYPE_CHOICES)
    # Kept as a reference (not a foreign key): the event outlives a deletion.
    incident_ref = models.CharField("incident id", max_length=40, db_index=True)
    incident = models.JSONField(help_text="The API incident object when it happened.")
    monitor_ids = models.JSONField(default=list)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    # The clock's edges (started/completed) are written once per window and moment.
    edge_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=0)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["fanned_out_at", "created_at"], name="event_to_fan_out")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident_ref", "type", "edge_at"],
                condition=Q(edge_at__isnull=False),
                name="event_edge_once",
            )
        ]

    def __str__(self):
        return f"{self.type} {self.incident_ref}"

    @property
    def title(self):
        return self.incident.get("title", "")

    @property
    def latest_update(self):
        updates = self.incident.get("updates") or []
        return updates[-1] if updates else None

    def payload(self):
        """The webhook body."""
        return {
            "id": self.id,
            "type": self.type,
            "occurredAt": isostring(self.occurred_at),
            "incident": self.incident,
        }


# --- Deliveries -----------------------------------------------------------


class DeliveryQuerySet(models.QuerySet):
    def due(self, now=None):
        now = now or timezone.now()
        return self.filter(
            Q(status=Delivery.PENDING, next_attempt_at__lte=now)
            | Q(status=Delivery.SENDING, claimed_at__lt=now - STALE_CLAIM_AFTER)
        )

    def claim_batch(self, worker, size, now=None):
        """Up to ``size`` due deliveries, taken for ``worker``: skipped by
        others while locked (PostgreSQL), or claimed under SQLite's write
        lock; the conditional UPDATE makes a double claim impossible either way."""
        now = now or timezone.now()
        with transaction.atomic():
            due = skipping_locked(self.due(now).order_by("next_attempt_at", "id"))
            ids = list(due.values_list("pk", flat=True)[:size])
            if not ids:
                return []
            self.due(now).filter(pk__in=ids).update(
                status=Delivery.SENDING, claimed_at=now, claimed_by=worker
            )
        return list(
            self.filter(pk__in=ids, status=Delivery.SENDING, claimed_by=worker, claimed_at=now)
            .select_related("event", "subscriber")
            .order_by("pk")
        )


class Delivery(NotShownOnPage, models.Model):
    """One mail or webhook call to one subscriber, and how it went."""

    EVENT = "event"
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    TEST = "test"
    KIND_CHOICES = [
        (EVENT, "Event"),
        (CONFIRMATION, "Confirmation"),
        (REMINDER, "Already subscribed"),
        (TEST, "Test"),
    ]

    EMAIL = "email"
    WEBHOOK = "webhook"
    CHANNEL_CHOICES = [(EMAIL, "E-mail"), (WEBHOOK, "Webhook")]

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUS_CHOICES = [
        (PENDING, "Pending"),
        (SENDING, "Sending"),
        (SENT, "Sent"),
        (FAILED, "Failed"),
        (CANCELLED, "Cancelled (unsubscribed)"),
    ]

    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The subscriber's id is kept when the subscriber (and so the address) is deleted.
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    subscriber_ref = models.CharField("subscriber id", max_length=40)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, default=EVENT)
    channel = models.CharField(max_length=20, choices=CHANNEL_CHOICES, default=EMAIL)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["subscriber_ref", "-created_at"], name="delivery_by_subscriber"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber"],
                condition=Q(event__isnull=False, subscriber__isnull=False),
                name="delivery_once_per_event_and_subscriber",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {self.subscriber_ref} ({self.status})"

    def outcome_after(self, error, final, now):
        """The fields to write after an attempt that ended with ``error``."""
        number = self.attempt_count + 1
        changes = {"attempt_count": number, "last_error": error, "claimed_at": None}
        if not error:
            changes.update(status=self.SENT, finished_at=now)
        elif final or now - self.created_at >= timedelta(seconds=settings.SUBSCRIBER_GIVE_UP_AFTER):
            changes.update(status=self.FAILED, finished_at=now)
        else:
            changes.update(status=self.PENDING, next_attempt_at=now + next_attempt_after(number))
        return changes

    def record_attempt(self, *, started_at, duration_ms, error="", final=False, status_code=None):
        """One attempt, recorded with the delivery's new state, in one transaction."""
        now = timezone.now()
        changes = self.outcome_after(error, final, now)
        with transaction.atomic():
            DeliveryAttempt.objects.create(
                delivery=self,
                number=changes["attempt_count"],
                started_at=started_at,
                duration_ms=duration_ms,
                status_code=status_code,
                error=error,
                succeeded=not error,
            )
            Delivery.objects.filter(pk=self.pk, status=self.SENDING).update(**changes)
        for field, value in changes.items():
            setattr(self, field, value)

    def release(self, next_attempt_at):
        """Give a claimed delivery back untried (its batch ran out of time, or
        the server went away before its turn)."""
        Delivery.objects.filter(pk=self.pk, status=self.SENDING).update(
            status=self.PENDING, claimed_at=None, next_attempt_at=next_attempt_at
        )


class DeliveryAttempt(NotShownOnPage, models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"attempt {self.number}: {'ok' if self.succeeded else self.error}"
