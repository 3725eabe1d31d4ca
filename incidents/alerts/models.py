"""Alert channels, alerts and their delivery attempts, and the rules that decide
them.

Deciding happens here, in receivers of the domain's signals (connected in
``apps.AlertsConfig.ready``): ``monitor_transition`` is sent inside the
transaction that records a monitor's change of state, so a committed
transition always has its alerts and their queued deliveries, and a
rolled-back one none; delivering happens later, in queued work
(``incidents.alerts.tasks``).

The tables keep the names they had when alerts were part of the incidents app
(``incidents_alert``…): moving the models to this app changed no data.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from incidents.appearance.page import page_settings
from incidents.cache.generation import NotShownOnPage
from incidents.models import (
    URL_MAX_LENGTH,
    Incident,
    Monitor,
    MonitorStatusChange,
    isostring,
    make_id,
)
from incidents.queue import enqueue
from incidents.site import page_url
from incidents.subscribers.address_policy import check_webhook_url

# A delivery claimed longer ago than this is taken to be abandoned (its
# worker died) and may be claimed again. It must exceed the longest attempt
# (the webhook and SMTP timeouts).
STALE_CLAIM_AFTER = timedelta(minutes=5)

# Window ends older than this are not processed: a worker started after a long
# pause does not alert about windows that closed long ago.
WINDOW_END_LOOKBACK = timedelta(days=1)


def new_alert_id():
    return make_id("alr")


def new_webhook_secret():
    return "whsec_" + secrets.token_urlsafe(32)


def retry_delays():
    """Seconds to wait before the 2nd, 3rd, … delivery attempt."""
    return [max(0.0, float(delay)) for delay in settings.ALERT_RETRY_DELAYS]


# --- Channels -------------------------------------------------------------


def webhook_url_refusal(url):
    """Why alerts may not be POSTed to ``url``, or None: only http/https, and
    the checks' address policy (incidents/checks/addresses.py, with its
    CHECKS_ALLOW_PRIVATE opt-in) — the same rule as webhook subscribers."""
    try:
        check_webhook_url(url)
    except ValidationError as error:
        return error.message_dict["webhook_url"][0]
    return None


@dataclass(frozen=True)
class ConfiguredChannel:
    """Somewhere alerts go: a channel from the admin or one from the environment."""

    kind: str
    target: str  # an email address or a webhook URL
    name: str
    channel: "AlertChannel | None" = None  # None: from the environment


class AlertChannelQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)

    def configured(self):
        """Every channel alerts go to now: enabled channels from the admin, then
        the defaults from the environment; each destination once."""
        found = [
            ConfiguredChannel(
                kind=channel.kind, target=channel.target, name=channel.name, channel=channel
            )
            for channel in self.enabled().order_by("pk")
        ]
        for address in settings.ALERT_EMAILS:
            found.append(ConfiguredChannel(AlertChannel.EMAIL, address, "ALERT_EMAILS"))
        if settings.ALERT_WEBHOOK_URL:
            found.append(
                ConfiguredChannel(
                    AlertChannel.WEBHOOK, settings.ALERT_WEBHOOK_URL, "ALERT_WEBHOOK_URL"
                )
            )
        unique, seen = [], set()
        for channel in found:
            email = channel.kind == AlertChannel.EMAIL
            key = (channel.kind, channel.target.lower() if email else channel.target)
            if key not in seen:
                seen.add(key)
                unique.append(channel)
        return unique


class AlertChannel(NotShownOnPage, models.Model):
    """An email address or a webhook that alerts are delivered to."""

    EMAIL = "email"
    WEBHOOK = "webhook"
    KIND_CHOICES = [(EMAIL, "Email"), (WEBHOOK, "Webhook")]

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, default=EMAIL)
    email = models.EmailField(blank=True, help_text="For email channels.")
    url = models.URLField(
        max_length=URL_MAX_LENGTH, blank=True, help_text="For webhooks: receives a JSON POST."
    )
    secret = models.CharField(
        max_length=200,
        blank=True,
        default=new_webhook_secret,
        help_text="For webhooks: signs each request (Kamustatus-Signature header).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AlertChannelQuerySet.as_manager()

    class Meta:
        db_table = "incidents_alertchannel"
        ordering = ["name", "pk"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display().lower()})"

    @property
    def target(self):
        return self.email if self.kind == self.EMAIL else self.url

    def clean(self):
        if self.kind == self.EMAIL and not self.email:
            raise ValidationError({"email": "An email channel needs an address."})
        if self.kind == self.WEBHOOK:
            errors = {}
            if not self.url:
                errors["url"] = "A webhook needs a URL."
            else:
                refusal = webhook_url_refusal(self.url)
                if refusal:
                    errors["url"] = refusal
            if not self.secret:
                errors["secret"] = "A webhook needs a secret to sign its requests."  # noqa: S105
            if errors:
                raise ValidationError(errors)


# --- Alerts ---------------------------------------------------------------


class AlertQuerySet(models.QuerySet):
    def newest_first(self):
        return self.order_by("-created_at", "-id")

    def for_monitor(self, monitor_id):
        return self.filter(monitor_ref=monitor_id)

    def decide_for_transition(self, transition, now=None):
        """The alerts a monitor's change of state raises: one per channel, all
        suppressed (kept, never delivered) while a maintenance window covers
        the monitor. Call inside the transaction that records the transition.

        A recovery during a window is recorded as suppressed too, and the end
        of the window stays silent about it (see ``WindowEnd``).
        """
        now = now or timezone.now()
        monitor = transition.monitor
        kind = transition.to_status if transition.is_failure else Alert.RECOVERED
        window = (
            Incident.objects.active_maintenance(now)
            .filter(monitor_links__monitor_id=monitor.pk)
            .order_by("maintenance_window__scheduled_end", "id")
            .first()
        )
        channels = AlertChannel.objects.configured()
        if window is None and channels and settings.ALERT_COALESCE_SECONDS > 0:
            return self._coalesce_for_channels(transition, kind, now, channels)
        return self._create_for_channels(
            monitor=monitor,
            kind=kind,
            reason=Alert.TRANSITION,
            transition=transition,
            from_status=transition.from_status,
            to_status=transition.to_status,
            occurred_at=transition.created_at,
            window=window,
            outcome=Alert.SUPPRESSED if window else Alert.PENDING,
            now=now,
            channels=channels,
        )

    def decide_for_window_end(self, monitor, window, now=None):
        """A window is over and ``monitor`` is still failing: alert once."""
        now = now or timezone.now()
        transition = monitor.transitions.order_by("-created_at", "-id").first()
        return self._create_for_channels(
            monitor=monitor,
            kind=monitor.status,
            reason=Alert.WINDOW_END,
            transition=transition,
            from_status=transition.from_status if transition else "",
            to_status=monitor.status,
            occurred_at=monitor.status_changed_at or now,
            window=window,
            outcome=Alert.PENDING,
            now=now,
        )

    def _create_for_channels(
        self, *, monitor, window, outcome, now, channels=None, send_at=None, **facts
    ):
        if channels is None:
            channels = AlertChannel.objects.configured()
        if not channels:
            # Recorded all the same, channel-less and suppressed: every alert
            # is on the record, and the admin says why nothing was sent.
            channels = [ConfiguredChannel(kind="", target="", name=Alert.NO_CHANNEL)]
            outcome = Alert.SUPPRESSED
        alerts = [
            Alert(
                monitor=monitor,
                monitor_ref=monitor.pk,
                monitor_name=monitor.name,
                channel=channel.channel,
                channel_kind=channel.kind,
                channel_name=channel.name,
                target=channel.target,
                window=window,
                window_ref=window.pk if window else "",
                outcome=outcome,
                created_at=now,
                next_attempt_at=send_at or now,
                finished_at=now if outcome == Alert.SUPPRESSED else None,
                **facts,
            )
            for channel in channels
        ]
        Alert.objects.bulk_create(alerts)  # ids are made here, not by the database
        for alert in alerts:
            if alert.outcome == Alert.PENDING:
                alert.queue_delivery(run_after=send_at)
        return alerts

    def _coalesce_for_channels(self, transition, kind, now, channels):
        """A change of state with nothing suppressing it, per channel: alerted
        at once if the channel had no alert about this monitor for
        ALERT_COALESCE_SECONDS; else folded into one trailing alert sent when
        that time is up, carrying the last state and every change since."""
        window = timedelta(seconds=settings.ALERT_COALESCE_SECONDS)
        monitor = transition.monitor
        change = {"status": transition.to_status, "at": isostring(transition.created_at)}
        facts = {
            "kind": kind,
            "to_status": transition.to_status,
            "transition": transition,
            "occurred_at": transition.created_at,
        }
        alerts = []
        for channel in channels:
            latest = (
                self.filter(
                    monitor_ref=monitor.pk,
                    channel_kind=channel.kind,
                    target=channel.target,
                    reason=Alert.TRANSITION,
                )
                .exclude(outcome=Alert.SUPPRESSED)
                .order_by("-created_at", "-id")
                .first()
            )
            if latest is not None and latest.is_trailing(now):
                changes = [*latest.coalesced["changes"], change]
                latest.coalesced = {**latest.coalesced, "changes": changes}
                for field, value in facts.items():
                    setattr(latest, field, value)
                latest.save(update_fields=[*facts, "coalesced"])
                alerts.append(latest)
                continue
            send_at = None
            if latest is not None and now - latest.sent_at < window:
                send_at = latest.sent_at + window
            alerts.extend(
                self._create_for_channels(
                    monitor=monitor,
                    window=None,
                    outcome=Alert.PENDING,
                    now=now,
                    reason=Alert.TRANSITION,
                    from_status=latest.to_status if send_at else transition.from_status,
                    channels=[channel],
                    send_at=send_at,
                    coalesced=(
                        {"sendAt": isostring(send_at), "changes": [change]} if send_at else None
                    ),
                    **facts,
                )
            )
        return alerts

    def claim(self, alert_id, now=None):
        """Take an alert for delivery; None if it is not due, already taken by
        another worker, or finished. Two workers never both get it."""
        now = now or timezone.now()
        claimable = Q(outcome=Alert.PENDING, next_attempt_at__lte=now) | Q(
            outcome=Alert.DELIVERING, claimed_at__lt=now - STALE_CLAIM_AFTER
        )
        claimed = (
            self.filter(pk=alert_id)
            .filter(claimable)
            .update(outcome=Alert.DELIVERING, claimed_at=now)
        )
        if claimed != 1:
            return None
        return self.select_related("channel").get(pk=alert_id)

    def claim_due(self, limit, exclude=None, now=None):
        """Claim up to ``limit`` other alerts due for delivery now (see ``claim``)."""
        now = now or timezone.now()
        due = self.filter(outcome=Alert.PENDING, next_attempt_at__lte=now).exclude(pk=exclude)
        ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
        return [alert for alert in (self.claim(pk, now) for pk in ids) if alert is not None]

    def stranded(self, now=None):
        """Deliveries that lost their worker (a stale claim) or their queued
        task, so the worker can queue them again."""
        now = now or timezone.now()
        return self.filter(
            Q(outcome=Alert.DELIVERING, claimed_at__lt=now - STALE_CLAIM_AFTER)
            | Q(outcome=Alert.PENDING, next_attempt_at__lt=now - STALE_CLAIM_AFTER)
        )


class Alert(NotShownOnPage, models.Model):
    """One alert for one channel: what happened, where it goes, how it went."""

    DOWN = Monitor.DOWN
    DEGRADED = Monitor.DEGRADED
    RECOVERED = "recovered"
    KIND_CHOICES = [(DOWN, "Down"), (DEGRADED, "Degraded"), (RECOVERED, "Recovered")]

    TRANSITION = "transition"
    WINDOW_END = "window_end"
    REASON_CHOICES = [
        (TRANSITION, "Change of state"),
        (WINDOW_END, "Still failing when maintenance ended"),
    ]

    PENDING = "pending"
    DELIVERING = "delivering"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    OUTCOME_CHOICES = [
        (PENDING, "Pending"),
        (DELIVERING, "Delivering"),
        (SENT, "Sent"),
        (FAILED, "Failed"),
        (SUPPRESSED, "Suppressed"),
    ]
    OUTCOMES = [value for value, _label in OUTCOME_CHOICES]

    # The channel name of an alert recorded while no channel was configured.
    NO_CHANNEL = "no channel"

    id = models.CharField(primary_key=True, max_length=40, default=new_alert_id)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    reason = models.CharField(max_length=20, choices=REASON_CHOICES, default=TRANSITION)
    # The monitor's id and name are copied so the record outlives the monitor.
    monitor = models.ForeignKey(
        Monitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    monitor_ref = models.CharField("monitor id", max_length=40)
    monitor_name = models.CharField(max_length=200)
    transition = models.ForeignKey(
        MonitorStatusChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    occurred_at = models.DateTimeField(help_text="When the monitor changed state.")
    channel = models.ForeignKey(
        AlertChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    channel_kind = models.CharField(max_length=20, choices=AlertChannel.KIND_CHOICES)
    channel_name = models.CharField(max_length=100)
    target = models.CharField(max_length=URL_MAX_LENGTH)
    # The maintenance window that suppressed the alert, or (reason window_end)
    # the window whose end sent it; its id is kept if the window is deleted.
    window = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    window_ref = models.CharField("window id", max_length=40, blank=True)
    outcome = models.CharField(max_length=20, choices=OUTCOME_CHOICES, default=PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A trailing alert of a flapping monitor: {"sendAt", "changes": [{"status",
    # "at"}…]}, the changes it folds together (ALERT_COALESCE_SECONDS).
    coalesced = models.JSONField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        db_table = "incidents_alert"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="alert_newest_first"),
            models.Index(fields=["monitor_ref", "-created_at"], name="alert_by_monitor"),
            models.Index(fields=["outcome", "next_attempt_at"], name="alert_by_outcome"),
        ]

    def __str__(self):
        return f"{self.monitor_name} {self.kind} → {self.channel_name} ({self.outcome})"

    @property
    def sent_at(self):
        """When this alert went, or goes, out (for coalescing)."""
        if self.coalesced:
            return datetime.fromisoformat(self.coalesced["sendAt"])
        return self.created_at

    def is_trailing(self, now):
        """A coalesced alert still waiting for its moment: more changes join it."""
        return (
            bool(self.coalesced)
            and self.outcome == self.PENDING
            and self.attempt_count == 0
            and self.sent_at > now
        )

    @property
    def is_finished(self):
        return self.outcome in (self.SENT, self.FAILED, self.SUPPRESSED)

    def subject(self):
        name = " ".join(self.monitor_name.split())  # no newlines in a mail header
        page = page_settings().name
        if self.kind == self.RECOVERED:
            return f"[{page}] {name} has recovered"
        if self.reason == self.WINDOW_END:
            return f"[{page}] {name} is still {self.kind} after maintenance"
        return f"[{page}] {name} is {self.kind}"

    def payload(self):
        """The webhook body (and what the email says)."""
        return {
            "id": self.id,
            "type": f"monitor.{self.kind}",
            "reason": self.reason,
            "monitor": {
                "id": self.monitor_ref,
                "name": self.monitor_name,
                "status": self.to_status,
                "previousStatus": self.from_status or None,
            },
            "occurredAt": isostring(self.occurred_at),
            "createdAt": isostring(self.created_at),
            "windowId": self.window_ref or None,
            "statusPage": page_url(),
            # A flapping monitor's changes since the alert before this one.
            "changes": self.coalesced["changes"] if self.coalesced else None,
        }

    def to_dict(self):
        """What ``GET /api/alerts`` shows: never a webhook URL or secret."""
        return {
            "id": self.id,
            "monitorId": self.monitor_ref,
            "monitorName": self.monitor_name,
            "kind": self.kind,
            "reason": self.reason,
            "fromStatus": self.from_status or None,
            "toStatus": self.to_status,
            "channel": (
                {"kind": self.channel_kind, "name": self.channel_name}
                if self.channel_kind
                else None  # none was configured: recorded as suppressed
            ),
            "outcome": self.outcome,
            "windowId": self.window_ref or None,
            "attempts": self.attempt_count,
            "error": self.last_error or None,
            "occurredAt": isostring(self.occurred_at),
            "createdAt": isostring(self.created_at),
            "finishedAt": isostring(self.finished_at),
        }

    def webhook_secret(self):
        """The secret to sign with, or None when the channel is gone."""
        if self.channel_id is not None:
            return self.channel.secret or None
        if self.channel_name == "ALERT_WEBHOOK_URL" and self.target == settings.ALERT_WEBHOOK_URL:
            return settings.ALERT_WEBHOOK_SECRET or None
        return None

    def queue_delivery(self, run_after=None):
        """Queue the delivery task, in the caller's transaction."""
        from incidents.alerts.tasks import deliver_alert  # tasks import this module

        enqueue(deliver_alert, self.pk, run_after=run_after)

    def record_attempt(self, *, started_at, duration_ms, status_code=None, error="", final=False):
        """Record one delivery attempt and move the alert on: sent, failed
        after the last attempt (or a ``final`` error), else pending again
        with a retry queued after the configured delay."""
        delays = retry_delays()
        with transaction.atomic():
            number = self.attempt_count + 1
            AlertAttempt.objects.create(
                alert=self,
                number=number,
                started_at=started_at,
                duration_ms=duration_ms,
                status_code=status_code,
                error=error,
                succeeded=not error,
            )
            now = timezone.now()
            changes = {"attempt_count": number, "last_error": error, "claimed_at": None}
            if not error:
                changes.update(outcome=self.SENT, finished_at=now)
            elif final or number > len(delays):
                changes.update(outcome=self.FAILED, finished_at=now)
            else:
                changes.update(
                    outcome=self.PENDING,
                    next_attempt_at=now + timedelta(seconds=delays[number - 1]),
                )
            Alert.objects.filter(pk=self.pk, outcome=self.DELIVERING).update(**changes)
            for field, value in changes.items():
                setattr(self, field, value)
            if self.outcome == self.PENDING:
                self.queue_delivery(run_after=self.next_attempt_at)
        return self

    def deliver_again(self):
        """An operator asks for a failed alert to be delivered again."""
        with transaction.atomic():
            now = timezone.now()
            again = Alert.objects.filter(pk=self.pk, outcome=self.FAILED).update(
                outcome=self.PENDING, next_attempt_at=now, finished_at=None, attempt_count=0
            )
            if again:
                self.outcome, self.next_attempt_at = self.PENDING, now
                self.finished_at, self.attempt_count = None, 0
                self.queue_delivery()
        return bool(again)


class AlertAttempt(NotShownOnPage, models.Model):
    """One try at delivering an alert."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        db_table = "incidents_alertattempt"
        ordering = ["alert", "number"]

    def __str__(self):
        return f"{self.alert_id} attempt {self.number}: {'ok' if self.succeeded else self.error}"


# --- The end of maintenance windows ---------------------------------------


def window_ended_at(window):
    """When a maintenance window stopped being in force (its scheduled end,
    or its resolution if that came first), or None while it is not over."""
    schedule = window.window
    if schedule is None:
        return None
    ends = [schedule.scheduled_end]
    if window.status == Incident.RESOLVED and window.resolved_at is not None:
        ends.append(window.resolved_at)
    return min(ends)


class WindowEndQuerySet(models.QuerySet):
    def process_due(self, now=None):
        """Alert once for every monitor still failing when a window ended.

        Idempotent: each end of each window is processed once, even with
        several workers (a unique row per window end is written in the same
        transaction as the alerts). Monitors that recovered during the window
        send nothing; a monitor whose state changed after the end was alerted
        through the ordinary path and is left alone; a monitor still covered
        by another active window waits for that window's end.
        """
        now = now or timezone.now()
        since = now - WINDOW_END_LOOKBACK
        candidates = (
            Incident.objects.finished_maintenance(now)
            .filter(
                Q(maintenance_window__scheduled_end__gt=since)
                | Q(status=Incident.RESOLVED, resolved_at__gt=since)
            )
            .select_related("maintenance_window")
            .order_by("maintenance_window__scheduled_end", "id")
        )
        processed = {(end.window_id, end.ended_at) for end in self.filter(ended_at__gt=since)}
        alerts = []
        for window in candidates:
            ended_at = window_ended_at(window)
            if (
                ended_at is None
                or ended_at <= since
                or ended_at > now
                or (window.pk, ended_at) in processed
                or not self._was_in_force(window, ended_at)
            ):
                continue
            alerts.extend(self._process(window, ended_at, now))
        return alerts

    @staticmethod
    def _was_in_force(window, ended_at):
        """Did the window ever cover anything? Not when it was cancelled before
        it began or recorded afterwards — judged to the second, as the times
        are stored (a window opened and resolved within one second was in
        force) — and always when it suppressed an alert."""
        start = window.maintenance_window.scheduled_start
        created = window.created_at.replace(microsecond=0)
        if start < ended_at and created < ended_at:
            return True
        return Alert.objects.filter(window=window, outcome=Alert.SUPPRESSED).exists()

    def _process(self, window, ended_at, now):
        with transaction.atomic():
            try:
                with transaction.atomic():
                    end = self.create(window=window, ended_at=ended_at, processed_at=now)
            except IntegrityError:
                return []  # another worker got there first
            # Failing since before the end, or since a change this window
            # suppressed (within the second the end is stored at).
            suppressed_here = Alert.objects.filter(
                window=window, outcome=Alert.SUPPRESSED, occurred_at=OuterRef("status_changed_at")
            )
            # Said once per failure: a window resolved, reopened and resolved
            # again does not repeat "still down" for the same failure.
            already_said = Alert.objects.filter(
                window=window, reason=Alert.WINDOW_END, occurred_at=OuterRef("status_changed_at")
            )
            still_failing = (
                Monitor.objects.filter(incident_links__incident=window)
                .filter(status__in=[Monitor.DEGRADED, Monitor.DOWN])
                .filter(
                    Q(status_changed_at__isnull=True)
                    | Q(status_changed_at__lt=ended_at)
                    | Exists(suppressed_here)
                )
                .exclude(Exists(already_said))
                .with_maintenance(now)
                .order_by("incident_links__position")
            )
            alerts = []
            for monitor in still_failing:
                if not monitor.in_maintenance:
                    alerts.extend(Alert.objects.decide_for_window_end(monitor, window, now))
            end.alert_count = len(alerts)
            end.save(update_fields=["alert_count"])
        return alerts


class WindowEnd(NotShownOnPage, models.Model):
    """The end of a maintenance window, processed once (see ``process_due``)."""

    window = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="window_ends")
    ended_at = models.DateTimeField()
    processed_at = models.DateTimeField(default=timezone.now)
    alert_count = models.PositiveIntegerField(default=0)

    objects = WindowEndQuerySet.as_manager()

    class Meta:
        db_table = "incidents_windowend"
        ordering = ["-ended_at"]
        constraints = [
            models.UniqueConstraint(fields=["window", "ended_at"], name="window_end_once")
        ]

    def __str__(self):
        return f"{self.window_id} ended {isostring(self.ended_at)}"


def decide_for_transition(sender, transition, **kwargs):
    """Receives ``incidents.signals.monitor_transition``, in the transaction
    that records the transition."""
    Alert.objects.decide_for_transition(transition)


def check_ends_when_a_window_is_resolved(sender, instance, **kwargs):
    """Receives ``post_save`` of incidents. A window resolved early ends now,
    not at the worker's next periodic check: queue that check (it is
    idempotent, so a spare one costs nothing)."""
    if instance.status != Incident.RESOLVED:
        return
    window = instance.window
    if window is None or window.scheduled_start > timezone.now():
        return  # an ordinary incident, or a window cancelled before it began
    from incidents.alerts.tasks import process_window_ends  # tasks import this module

    enqueue(process_window_ends)
