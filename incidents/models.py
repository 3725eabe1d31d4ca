"""The domain: monitors, incidents and their timeline, maintenance windows, API
keys and the audit trail, with every rule that governs them.

The API, the admin, the pages and the management commands all write through
the methods here; none of them re-implements a rule.
"""

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connections, models, transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Prefetch, Q, When
from django.db.models.functions import Coalesce, Least
from django.dispatch import Signal
from django.utils import timezone

from incidents import signals
from incidents.cache import generation
from incidents.cache.generation import NotShownOnPage, ShownOnPage

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 16
MONITOR_ID_PATTERN = r"^mon_[a-z0-9]{3,32}$"
TITLE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 500
POSITION_MAX = 1_000_000
HTTP_URL = URLValidator(schemes=["http", "https"])


def make_id(prefix):
    """A prefixed, opaque, lowercase alphanumeric id such as ``inc_k3v9…``."""
    return prefix + "_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def new_monitor_id():
    return make_id("mon")


def new_incident_id():
    return make_id("inc")


def new_update_id():
    return make_id("upd")


def now_seconds():
    """Now, in UTC, truncated to whole seconds: what the API shows is what is stored."""
    return timezone.now().astimezone(UTC).replace(microsecond=0)


def isostring(value):
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, or None."""
    if value is None:
        return None
    # isoformat, not strftime("%Y"): the year keeps four digits before 1000.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class Conflict(Exception):
    """A write that the current state of things forbids (HTTP 409 in the API)."""


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit trail."""

    label: str
    api_key: "ApiKey | None" = None
    user: object = None

    @classmethod
    def for_api_key(cls, api_key):
        return cls(label=f"API key {api_key.name} ({api_key.prefix}…)", api_key=api_key)

    @classmethod
    def for_user(cls, user):
        return cls(label=f"admin {user.get_username()}", user=user)

    @classmethod
    def system(cls, what):
        return cls(label=what)


UNSET = object()


def clean_description(value):
    """A monitor's or group's description: trimmed text of at most 500
    characters, or None (also for an empty one)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be a string or null")
    if len(value.strip()) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(f"must be at most {DESCRIPTION_MAX_LENGTH} characters")
    return value.strip() or None


def clean_position(value):
    """An order on the page: a whole number from 0 (first) to POSITION_MAX."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POSITION_MAX:
        raise ValidationError(f"must be a whole number from 0 to {POSITION_MAX}")
    return value


# Sent once a monitor's change of status is committed, with ``transition``.
monitor_status_changed = Signal()


# --- Monitors -------------------------------------------------------------


# The status page's order of monitors: groups and ungrouped monitors by their
# position (ties: ungrouped monitors first, then groups by creation), and
# within a group by the monitors' position, ties by creation.
MONITOR_PAGE_ORDER = [
    Coalesce("group__position", "position").asc(),
    F("group__created_at").asc(nulls_first=True),
    F("group_id").asc(nulls_first=True),
    F("position").asc(),
    F("created_at").asc(),
    F("id").asc(),
]


class MonitorQuerySet(models.QuerySet):
    def with_maintenance(self, now=None):
        """Annotate ``in_maintenance``: an active window covers the monitor."""
        active = Incident.objects.active_maintenance(now).values("pk")
        covered = IncidentMonitor.objects.filter(monitor=OuterRef("pk"), incident__in=active)
        return self.annotate(in_maintenance=Exists(covered)).select_related("health_check")

    def in_page_order(self):
        return self.order_by(*MONITOR_PAGE_ORDER)

    def for_status_page(self, now=None):
        return self.with_maintenance(now).select_related("group").in_page_order()


class Monitor(ShownOnPage, models.Model):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    DOWN = "down"
    STATUS_CHOICES = [
        (OPERATIONAL, "Operational"),
        (DEGRADED, "Degraded"),
        (DOWN, "Down"),
    ]
    STATUSES = [value for value, _label in STATUS_CHOICES]

    id = models.CharField(primary_key=True, max_length=40, default=new_monitor_id)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=OPERATIONAL)
    url = models.URLField(max_length=URL_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001 (API: null)
    # Groups and order (issue 17): incidents/groups/models.py.
    description = models.CharField(  # noqa: DJ001 (API: null)
        max_length=DESCRIPTION_MAX_LENGTH, null=True, blank=True
    )
    group = models.ForeignKey(
        "incidents.MonitorGroup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="monitors",
    )
    position = models.PositiveIntegerField(
        default=0, help_text="Order on the page within its group (ties: oldest first)."
    )
    created_at = models.DateTimeField(default=now_seconds)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    objects = MonitorQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at", "id"], name="monitor_page_order")]

    def __str__(self):
        return f"{self.name} ({self.id})"

    def is_in_maintenance(self, now=None):
        annotated = getattr(self, "in_maintenance", None)
        if annotated is not None and now is None:
            return annotated
        return Incident.objects.active_maintenance(now).filter(monitor_links__monitor=self).exists()

    def to_dict(self):
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "inMaintenance": self.is_in_maintenance(),
            "url": self.url,
            "description": self.description,
            "groupId": self.group_id,
            "position": self.position,
            **check_fields(getattr(self, "health_check", None)),  # checks (issue 14)
        }

    @classmethod
    def validate_fields(
        cls,
        *,
        name=UNSET,
        url=UNSET,
        status=UNSET,
        id=UNSET,
        check=UNSET,
        description=UNSET,
        group_id=UNSET,
        position=UNSET,
    ):
        """Check values against the rules; raise ValidationError naming fields."""
        errors = MonitorGroup.placement_errors(description, group_id, position)
        if name is not UNSET:
            if not isinstance(name, str) or not name.strip():
                errors["name"] = "must be a non-empty string"
            elif len(name.strip()) > NAME_MAX_LENGTH:
                errors["name"] = f"must be at most {NAME_MAX_LENGTH} characters"
        if url is not UNSET and url is not None:
            try:
                # The field's own validator also lets ftp:// through; "" means none.
                if url != "":
                    HTTP_URL(url)
            except (ValidationError, TypeError):
                errors["url"] = "must be an http or https URL"
            else:
                if len(url) > URL_MAX_LENGTH:
                    errors["url"] = f"must be at most {URL_MAX_LENGTH} characters"
        if status is not UNSET and status not in cls.STATUSES:
            errors["status"] = "must be one of: " + ", ".join(cls.STATUSES)
        if id is not UNSET and (
            not isinstance(id, str) or not re.fullmatch(MONITOR_ID_PATTERN, id)
        ):
            errors["id"] = "must match ^mon_[a-z0-9]{3,32}$"
        if check is not UNSET:
            try:
                clean_check(check)
            except ValidationError as error:
                errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)

    @classmethod
    def create_monitor(
        cls,
        *,
        name,
        url=None,
        status=OPERATIONAL,
        id=None,
        check=None,
        description=None,
        group_id=None,
        position=0,
        actor=None,
    ):
        fields = {"name": name, "url": url, "status": status, "check": check}
        placement = {"description": description, "group_id": group_id, "position": position}
        if id is not None:
            fields["id"] = id
        cls.validate_fields(**fields, **placement)
        with transaction.atomic():
            if id is not None and cls.objects.filter(pk=id).exists():
                raise Conflict(f"A monitor with id {id} already exists.")
            MonitorGroup.objects.hold(group_id)
            monitor = cls(
                name=name.strip(),
                url=url or None,
                status=status,
                description=clean_description(description),
                group_id=group_id,
                position=position,
            )
            if id is not None:
                monitor.id = id
            monitor.save(force_insert=True)
            if check is not None:
                Check.apply(monitor, clean_check(check))
            AuditRecord.log(actor, AuditRecord.CREATED, monitor, changes=monitor.to_dict())
        return monitor

    def change(
        self,
        *,
        name=UNSET,
        url=UNSET,
        status=UNSET,
        check=UNSET,
        description=UNSET,
        group_id=UNSET,
        position=UNSET,
        actor=None,
    ):
        """Edit the monitor; a change of status is recorded as a transition.

        Returns the new ``MonitorStatusChange`` if the status moved, else None.
        """
        placement = {"description": description, "group_id": group_id, "position": position}
        self.validate_fields(name=name, url=url, status=status, check=check, **placement)
        with transaction.atomic():
            locked = Monitor.objects.select_for_update().get(pk=self.pk)
            changes = MonitorGroup.place(locked, **placement)
            if check is not UNSET:
                changes["check"] = Check.apply(locked, clean_check(check))
                self._state.fields_cache.pop("health_check", None)
            if name is not UNSET and name.strip() != locked.name:
                locked.name = changes["name"] = name.strip()
            if url is not UNSET and (url or None) != locked.url:
                locked.url = changes["url"] = url or None
            transition = None
            if status is not UNSET and status != locked.status:
                transition = MonitorStatusChange.objects.create(
                    monitor=locked, from_status=locked.status, to_status=status
                )
                locked.status = changes["status"] = status
                locked.status_changed_at = transition.created_at
            if changes:
                locked.save()
                AuditRecord.log(actor, AuditRecord.UPDATED, locked, changes=changes)
            for field in ("name", "url", "status", "status_changed_at", "updated_at"):
                setattr(self, field, getattr(locked, field))
            for field in ("description", "group_id", "position"):
                setattr(self, field, getattr(locked, field))
            if transition is not None:
                transition.announce()
        return transition

    def report_status(self, status, actor=None):
        """A monitor reports its state (API PATCH, admin, a check)."""
        return self.change(status=status, actor=actor)

    def why_not_deletable(self):
        """The sentence that refuses deleting the monitor now, or None."""
        if Incident.objects.open().filter(monitor_links__monitor_id=self.pk).exists():
            return (
                f"Monitor {self.id} is referenced by an unresolved incident; "
                "resolve the incident first."
            )
        return None

    def delete_with_audit(self, actor=None):
        """Delete the monitor unless an open incident needs it. Resolved
        incidents keep their link to it, with its name, so their history
        still says what they affected (and their monitorIds do not change)."""
        with transaction.atomic():
            locked = Monitor.objects.select_for_update().get(pk=self.pk)
            refusal = locked.why_not_deletable()
            if refusal:
                raise Conflict(refusal)
            snapshot = locked.to_dict()
            AuditRecord.log(actor, AuditRecord.DELETED, locked, snapshot=snapshot)
            IncidentMonitor.objects.filter(monitor_id=locked.pk).update(monitor_name=locked.name)
            locked.delete()


class MonitorStatusChange(NotShownOnPage, models.Model):
    """A monitor moved from one state to another: what alerts are made of."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=Monitor.STATUS_CHOICES)
    to_status = models.CharField(max_length=20, choices=Monitor.STATUS_CHOICES)
    created_at = models.DateTimeField(default=now_seconds)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["monitor", "-created_at"], name="transition_by_monitor")]

    def __str__(self):
        return f"{self.monitor_id}: {self.from_status} → {self.to_status}"

    @property
    def is_failure(self):
        return self.to_status in (Monitor.DEGRADED, Monitor.DOWN)

    def announce(self):
        """Decide the transition's alerts in the transaction that records it (so
        none is lost), then tell other listeners once committed."""
        Alert.objects.decide_for_transition(self)
        transaction.on_commit(
            lambda: monitor_status_changed.send(sender=MonitorStatusChange, transition=self),
            robust=True,
        )


# --- Incidents ------------------------------------------------------------


class IncidentQuerySet(models.QuerySet):
    def with_timeline(self):
        """Everything ``to_dict`` needs, in a fixed number of queries."""
        return self.select_related("maintenance_window").prefetch_related(
            Prefetch("updates", queryset=IncidentUpdate.objects.order_by("sequence")),
            Prefetch("monitor_links", queryset=IncidentMonitor.objects.order_by("position")),
        )

    def newest_first(self):
        return self.order_by("-started_at", "-id")

    def maintenance(self):
        return self.filter(maintenance_window__isnull=False)

    def not_maintenance(self):
        return self.filter(maintenance_window__isnull=True)

    def unresolved(self):
        return self.exclude(status=Incident.RESOLVED)

    def resolved(self):
        return self.filter(status=Incident.RESOLVED)

    def active_maintenance(self, now=None):
        """Windows in force: now ∈ [scheduledStart, scheduledEnd) and not resolved."""
        now = now or timezone.now()
        return self.unresolved().filter(
            maintenance_window__scheduled_start__lte=now,
            maintenance_window__scheduled_end__gt=now,
        )

    def upcoming_maintenance(self, now=None):
        now = now or timezone.now()
        return self.unresolved().filter(maintenance_window__scheduled_start__gt=now)

    def finished_maintenance(self, now=None):
        """Windows that are over: past their end, or resolved (perhaps early)."""
        now = now or timezone.now()
        return self.maintenance().filter(
            Q(status=Incident.RESOLVED) | Q(maintenance_window__scheduled_end__lte=now)
        )

    def ongoing(self):
        """Unresolved ordinary incidents (not maintenance windows)."""
        return self.not_maintenance().unresolved()

    def open(self, now=None):
        """Anything still in play: unresolved incidents and windows not yet over."""
        now = now or timezone.now()
        return self.unresolved().filter(
            Q(maintenance_window__isnull=True) | Q(maintenance_window__scheduled_end__gt=now)
        )

    def for_monitor(self, monitor_id):
        return self.filter(monitor_links__monitor_id=monitor_id)

    def finished(self, now=None):
        """History: resolved incidents and windows that are over, annotated
        with ``finished_at`` — when the incident was resolved, or when the
        window ended (its scheduled end, or earlier if it was resolved early).
        Order with ``order_by("-finished_at", "-id")``."""
        now = now or timezone.now()
        end = F("maintenance_window__scheduled_end")
        return self.filter(
            Q(status=Incident.RESOLVED) | Q(maintenance_window__scheduled_end__lte=now)
        ).annotate(
            finished_at=Case(
                When(maintenance_window__isnull=True, then=F("resolved_at")),
                default=Least(Coalesce("resolved_at", end), end),
                output_field=models.DateTimeField(),
            )
        )

    def next_maintenance_edge(self, now=None):
        """The next moment a window starts or ends by the clock, or None."""
        now = now or timezone.now()
        windows = MaintenanceWindow.objects.exclude(incident__status=Incident.RESOLVED)
        starts = windows.filter(scheduled_start__gt=now).aggregate(m=models.Min("scheduled_start"))
        ends = windows.filter(scheduled_end__gt=now).aggregate(m=models.Min("scheduled_end"))
        edges = [edge for edge in (starts["m"], ends["m"]) if edge is not None]
        return min(edges) if edges else None


class Incident(ShownOnPage, models.Model):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    STATUS_CHOICES = [
        (INVESTIGATING, "Investigating"),
        (IDENTIFIED, "Identified"),
        (MONITORING, "Monitoring"),
        (RESOLVED, "Resolved"),
    ]
    STATUSES = [value for value, _label in STATUS_CHOICES]

    id = models.CharField(primary_key=True, max_length=40, default=new_incident_id)
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=INVESTIGATING)
    monitors = models.ManyToManyField(
        Monitor, through="IncidentMonitor", related_name="incidents", blank=True
    )
    started_at = models.DateTimeField(default=now_seconds)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now_seconds)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="incident_newest_first"),
            models.Index(fields=["status", "-started_at", "-id"], name="incident_by_status"),
            models.Index(fields=["-resolved_at"], name="incident_by_resolved"),
        ]

    def __str__(self):
        return f"{self.title} ({self.id})"

    # -- reading --

    @property
    def window(self):
        """The maintenance window, or None for an ordinary incident."""
        try:
            return self.maintenance_window
        except MaintenanceWindow.DoesNotExist:
            return None

    @property
    def is_maintenance(self):
        return self.window is not None

    def maintenance_state(self, now=None):
        """ "active", "upcoming" or "over" for a window (None for an incident)."""
        window = self.window
        if window is None:
            return None
        now = now or timezone.now()
        if self.status == self.RESOLVED or now >= window.scheduled_end:
            return "over"
        if now >= window.scheduled_start:
            return "active"
        return "upcoming"

    def is_active_maintenance(self, now=None):
        return self.maintenance_state(now) == "active"

    # A window in its own words (CONTRACT "Maintenance windows"), never an
    # incident status; incidents/overview.py holds the labels.
    WINDOW_SCHEDULED = "scheduled"
    WINDOW_IN_PROGRESS = "in_progress"
    WINDOW_COMPLETED = "completed"
    WINDOW_CANCELLED = "cancelled"

    def is_cancelled(self):
        """A window resolved before it began."""
        window = self.window
        return (
            window is not None
            and self.resolved_at is not None
            and self.resolved_at < window.scheduled_start
        )

    def window_state(self, now=None):
        """``scheduled``, ``in_progress``, ``completed`` or ``cancelled`` (None
        for an ordinary incident)."""
        state = self.maintenance_state(now)
        if state is None:
            return None
        if state == "over":
            return self.WINDOW_CANCELLED if self.is_cancelled() else self.WINDOW_COMPLETED
        return self.WINDOW_IN_PROGRESS if state == "active" else self.WINDOW_SCHEDULED

    def window_state_at(self, update):
        """What the window was doing when ``update`` was posted."""
        window = self.window
        if update.status == self.RESOLVED:
            if update.created_at < window.scheduled_start:
                return self.WINDOW_CANCELLED
            return self.WINDOW_COMPLETED
        if update.created_at >= window.scheduled_end:
            return self.WINDOW_COMPLETED
        if update.created_at >= window.scheduled_start:
            return self.WINDOW_IN_PROGRESS
        return self.WINDOW_SCHEDULED

    @property
    def monitor_ids(self):
        return [link.monitor_id for link in self.monitor_links.all()]

    def timeline(self):
        """Updates, oldest first (uses the prefetch when there is one)."""
        return sorted(self.updates.all(), key=lambda update: update.sequence)

    def to_dict(self):
        window = self.window
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "monitorIds": self.monitor_ids,
            "startedAt": isostring(self.started_at),
            "resolvedAt": isostring(self.resolved_at),
            "maintenance": window is not None,
            "scheduledStart": isostring(window.scheduled_start) if window else None,
            "scheduledEnd": isostring(window.scheduled_end) if window else None,
            "updates": [update.to_dict() for update in self.timeline()],
        }

    # -- the rules --

    @classmethod
    def validate_fields(
        cls,
        *,
        title=UNSET,
        status=UNSET,
        monitor_ids=UNSET,
        scheduled_start=UNSET,
        scheduled_end=UNSET,
    ):
        """Check values against the rules; raise ValidationError naming fields.

        Returns the monitors for ``monitor_ids`` (in order) when given.
        """
        errors = {}
        if title is not UNSET:
            if not isinstance(title, str) or not title.strip():
                errors["title"] = "must be a non-empty string"
            elif len(title.strip()) > TITLE_MAX_LENGTH:
                errors["title"] = f"must be at most {TITLE_MAX_LENGTH} characters"
        if status is not UNSET and status not in cls.STATUSES:
            errors["status"] = "must be one of: " + ", ".join(cls.STATUSES)
        monitors = None
        if monitor_ids is not UNSET:
            ids = list(monitor_ids)
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            found = {m.id: m for m in Monitor.objects.filter(pk__in=ids)}
            unknown = [i for i in ids if i not in found]
            if duplicates:
                errors["monitor_ids"] = "duplicate monitor ids: " + ", ".join(duplicates)
            elif unknown:
                errors["monitor_ids"] = "unknown monitor ids: " + ", ".join(unknown)
            else:
                monitors = [found[i] for i in ids]
        if (
            scheduled_start not in (UNSET, None)
            and scheduled_end not in (UNSET, None)
            and scheduled_end <= scheduled_start
        ):
            errors["scheduled_end"] = "must be after scheduledStart"
        if errors:
            raise ValidationError(errors)
        return monitors

    @classmethod
    def open_incident(
        cls,
        *,
        title,
        message,
        status=INVESTIGATING,
        monitor_ids=(),
        scheduled_start=None,
        scheduled_end=None,
        actor=None,
        at=None,
        notify=True,
    ):
        """Create an incident (or, with a schedule, a maintenance window) with
        its first timeline entry. ``at`` backdates it (demo data, imports);
        ``notify=False`` tells no subscriber."""
        if (scheduled_start is None) != (scheduled_end is None):
            missing = "scheduled_end" if scheduled_end is None else "scheduled_start"
            raise ValidationError({missing: "a maintenance window needs both start and end"})
        monitors = cls.validate_fields(
            title=title,
            status=status,
            monitor_ids=monitor_ids,
            scheduled_start=scheduled_start,
            scheduled_end=scheduled_end,
        )
        if not isinstance(message, str):
            raise ValidationError({"message": "must be a string"})
        with transaction.atomic():
            cls._hold_monitors(monitors)
            now = (at or now_seconds()).replace(microsecond=0)
            incident = cls.objects.create(
                title=title.strip(),
                status=status,
                started_at=scheduled_start or now,
                created_at=now,
            )
            if scheduled_start is not None:
                MaintenanceWindow.objects.create(
                    incident=incident,
                    scheduled_start=scheduled_start,
                    scheduled_end=scheduled_end,
                )
            incident._set_monitors(monitors)
            update = incident._append_update(status, message, now)
            incident = cls.objects.with_timeline().get(pk=incident.pk)
            AuditRecord.log(actor, AuditRecord.CREATED, incident, changes=incident.to_dict())
            incident._announce(signals.CREATED, update, None, notify=notify)
        return incident

    def post_update(self, status=None, message="", actor=None, at=None, notify=True):
        """Append one entry to the timeline and move the incident to its status.

        ``resolved`` sets resolvedAt; any other status clears it (a reopening).
        """
        status = self.status if status is None else status
        return self.change(status=status, message=message, actor=actor, at=at, notify=notify)

    def change(
        self,
        *,
        title=UNSET,
        monitor_ids=UNSET,
        scheduled_start=UNSET,
        scheduled_end=UNSET,
        status=UNSET,
        message=UNSET,
        actor=None,
        at=None,
        notify=True,
    ):
        """Apply a PATCH: edit fields in place and, when a status and/or a
        message is given, append exactly one timeline entry. All or nothing.
        ``notify=False``: subscribers are not told.

        Returns the new IncidentUpdate, or None when no entry was appended.
        """
        if message is not UNSET and not isinstance(message, str):
            raise ValidationError({"message": "must be a string"})
        monitors = self.validate_fields(title=title, status=status, monitor_ids=monitor_ids)
        with transaction.atomic():
            # Lock the row: concurrent updates to one incident are applied one
            # after the other, so the timeline and the status never disagree.
            locked = Incident.objects.select_for_update().get(pk=self.pk)
            previous_status = locked.status
            window = locked.window
            if window is None and (scheduled_start is not UNSET or scheduled_end is not UNSET):
                field = "scheduled_start" if scheduled_start is not UNSET else "scheduled_end"
                raise ValidationError({field: "only maintenance windows have a schedule"})
            changes = {}
            if title is not UNSET and title.strip() != locked.title:
                locked.title = changes["title"] = title.strip()
            if window is not None and (scheduled_start is not UNSET or scheduled_end is not UNSET):
                start = window.scheduled_start if scheduled_start is UNSET else scheduled_start
                end = window.scheduled_end if scheduled_end is UNSET else scheduled_end
                if start is None or end is None:
                    field = "scheduled_start" if start is None else "scheduled_end"
                    raise ValidationError({field: "a maintenance window needs both start and end"})
                if end <= start:
                    raise ValidationError({"scheduled_end": "must be after scheduledStart"})
                if (start, end) != (window.scheduled_start, window.scheduled_end):
                    window.scheduled_start, window.scheduled_end = start, end
                    window.save()
                    locked.started_at = start
                    changes["scheduledStart"] = isostring(start)
                    changes["scheduledEnd"] = isostring(end)
            if monitors is not None:
                self._hold_monitors(monitors)
            if monitors is not None and [m.id for m in monitors] != locked.monitor_ids:
                locked._set_monitors(monitors)
                changes["monitorIds"] = [m.id for m in monitors]
            update = None
            if status is not UNSET or message is not UNSET:
                new_status = locked.status if status is UNSET else status
                update = locked._append_update(
                    new_status,
                    "" if message is UNSET else message,
                    (at or now_seconds()).replace(microsecond=0),
                )
                changes["update"] = update.to_dict()
            else:
                locked.save()
            if changes:
                AuditRecord.log(actor, AuditRecord.UPDATED, locked, changes=changes)
            if update is not None or "scheduledStart" in changes:
                locked._announce(
                    signals.UPDATED,
                    update,
                    previous_status,
                    notify=notify,
                    schedule_changed="scheduledStart" in changes,
                )
            self.refresh_from_db()
            for cached in ("updates", "monitor_links"):
                getattr(self, "_prefetched_objects_cache", {}).pop(cached, None)
        return update

    def resolve(self, message="", actor=None, at=None, notify=True):
        return self.post_update(self.RESOLVED, message, actor=actor, at=at, notify=notify)

    def delete_with_audit(self, actor=None, notify=True):
        """Delete the incident, keeping a snapshot of it in the audit trail."""
        with transaction.atomic():
            locked = Incident.objects.select_for_update().get(pk=self.pk)
            snapshot = Incident.objects.with_timeline().get(pk=locked.pk).to_dict()
            AuditRecord.log(actor, AuditRecord.DELETED, locked, snapshot=snapshot)
            locked._announce(signals.DELETED, None, locked.status, notify=notify, snapshot=snapshot)
            locked.delete()
        return snapshot

    def edit_update(self, update_id, message, actor=None):
        """Fix an entry's message (a typo): no new entry, the status stays;
        the old text is kept in the audit trail. Returns the entry."""
        if not isinstance(message, str):
            raise ValidationError({"message": "must be a string"})
        with transaction.atomic():
            locked = Incident.objects.select_for_update().get(pk=self.pk)
            update = locked.updates.get(pk=update_id)
            if update.message != message:
                old, update.message = update.message, message
                update.save(update_fields=["message"])
                locked.save(update_fields=["updated_at"])
                AuditRecord.log(
                    actor,
                    AuditRecord.UPDATED,
                    locked,
                    changes={"updateId": update.id, "message": message, "oldMessage": old},
                )
        return update

    def delete_update(self, update_id, actor=None):
        """Take an entry off the timeline; the status and resolvedAt then
        follow the new latest entry. The only entry stays (delete the
        incident instead). The entry is kept in the audit trail."""
        with transaction.atomic():
            locked = Incident.objects.select_for_update().get(pk=self.pk)
            update = locked.updates.get(pk=update_id)
            if not locked.updates.exclude(pk=update.pk).exists():
                raise Conflict(IncidentUpdate.ONLY_ENTRY)
            snapshot = update.to_dict()
            update.delete()
            locked._follow_timeline()
            AuditRecord.log(
                actor,
                AuditRecord.UPDATED,
                locked,
                changes={
                    "deletedUpdate": snapshot,
                    "status": locked.status,
                    "resolvedAt": isostring(locked.resolved_at),
                },
            )
        self.refresh_from_db()
        getattr(self, "_prefetched_objects_cache", {}).pop("updates", None)
        return snapshot

    def affected_monitors(self, monitors_by_id):
        """The monitors the incident affects, in order, for a page: each from
        ``monitors_by_id`` (id → Monitor) or, once deleted, by its kept name."""
        found = []
        for link in self.monitor_links.all():
            if link.monitor_id in monitors_by_id:
                found.append(monitors_by_id[link.monitor_id])
            elif link.monitor_name:
                found.append(DeletedMonitor(link.monitor_id, link.monitor_name))
        return found

    # -- internals: call only inside the transactions above --

    def _follow_timeline(self):
        """Status from the latest entry; resolvedAt from the first entry of
        the closing run of ``resolved`` ones (as appending would have set it)."""
        entries = list(self.updates.order_by("-sequence").values_list("status", "created_at"))
        self.status = entries[0][0]
        self.resolved_at = None
        for status, created_at in entries:
            if status != self.RESOLVED:
                break
            self.resolved_at = created_at
        self.save()

    def _announce(
        self, action, update, previous_status, *, notify, schedule_changed=False, snapshot=None
    ):
        """Tell the sub-apps (subscribers) what happened, in this transaction.
        ``snapshot`` (the API object) is given only for a deletion: receivers
        that need it otherwise read it themselves, so a write pays nothing
        for it when nobody listens."""
        signals.incident_changed.send(
            sender=Incident,
            incident=self,
            action=action,
            update=update,
            previous_status=previous_status,
            notify=notify,
            schedule_changed=schedule_changed,
            snapshot=snapshot,
        )

    def _append_update(self, status, message, at):
        last = self.updates.aggregate(last=Max("sequence"))["last"] or 0
        update = IncidentUpdate.objects.create(
            incident=self, sequence=last + 1, status=status, message=message, created_at=at
        )
        self.status = status
        if status == self.RESOLVED:
            if self.resolved_at is None:
                self.resolved_at = at
        else:
            self.resolved_at = None
        self.save()
        return update

    @staticmethod
    def _hold_monitors(monitors):
        """Keep the monitors from being deleted until this write commits, and
        refuse any deleted since they were checked. Without the lock, a
        monitor deleted at the same moment deadlocks with the new links on
        PostgreSQL; with it, one write waits for the other: the delete then
        sees the incident (409), or the incident sees the monitor gone (400)."""
        ids = sorted(monitor.id for monitor in monitors or ())
        if not ids:
            return
        held = {
            monitor.pk
            for monitor in Monitor.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .only("pk")
        }
        gone = [monitor_id for monitor_id in ids if monitor_id not in held]
        if gone:
            raise ValidationError({"monitor_ids": "unknown monitor ids: " + ", ".join(gone)})

    def _set_monitors(self, monitors):
        self.monitor_links.all().delete()
        IncidentMonitor.objects.bulk_create(
            IncidentMonitor(incident=self, monitor=monitor, position=position)
            for position, monitor in enumerate(monitors or ())
        )
        generation.bump()  # bulk_create sends no signals


class MaintenanceWindow(ShownOnPage, models.Model):
    """The schedule that makes an incident a maintenance window."""

    incident = models.OneToOneField(
        Incident, primary_key=True, on_delete=models.CASCADE, related_name="maintenance_window"
    )
    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["scheduled_start"], name="window_by_start"),
            models.Index(fields=["scheduled_end"], name="window_by_end"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scheduled_end__gt=models.F("scheduled_start")),
                name="window_ends_after_start",
            )
        ]

    def __str__(self):
        return f"{isostring(self.scheduled_start)} – {isostring(self.scheduled_end)}"


class IncidentMonitor(ShownOnPage, models.Model):
    """An incident affects a monitor; ``position`` keeps the order given.

    A monitor can only be deleted once no open incident affects it; the links
    of resolved incidents outlive it (no constraint, no cascade), keeping its
    id and, in ``monitor_name``, its name: history does not change.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="monitor_links")
    monitor = models.ForeignKey(
        Monitor, on_delete=models.DO_NOTHING, db_constraint=False, related_name="incident_links"
    )
    position = models.PositiveSmallIntegerField(default=0)
    monitor_name = models.CharField(
        max_length=NAME_MAX_LENGTH, blank=True, help_text="Kept when the monitor is deleted."
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "monitor"], name="incident_monitor_once")
        ]
        indexes = [models.Index(fields=["monitor", "incident"], name="link_by_monitor")]

    def __str__(self):
        return f"{self.incident_id} → {self.monitor_id}"


@dataclass(frozen=True)
class DeletedMonitor:
    """What a resolved incident still shows of a monitor deleted since."""

    id: str
    name: str
    deleted = True


class IncidentUpdate(ShownOnPage, models.Model):
    """One entry of an incident's timeline."""

    ONLY_ENTRY = (
        "This is the only timeline entry of the incident; it cannot be deleted "
        "(delete the incident instead)."
    )

    id = models.CharField(primary_key=True, max_length=40, default=new_update_id)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Incident.STATUS_CHOICES)
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now_seconds)

    class Meta:
        ordering = ["incident", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "sequence"], name="update_sequence_once")
        ]

    def __str__(self):
        return f"{self.incident_id} #{self.sequence}: {self.status}"

    def to_dict(self):
        return {
            "id": self.id,
            "status": self.status,
            "message": self.message,
            "createdAt": isostring(self.created_at),
        }


# --- API keys -------------------------------------------------------------

API_KEY_PREFIX = "km_"
API_KEY_DISPLAY_LENGTH = 10  # "km_" and 7 more characters
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw):
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)

    def create_key(self, name):
        """Make a new key; returns (ApiKey, raw key). The raw key is never stored."""
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = self.create(
            name=name, prefix=raw[:API_KEY_DISPLAY_LENGTH], key_hash=hash_api_key(raw)
        )
        return key, raw

    def authenticate(self, raw):
        """The usable key for a presented raw key, or None."""
        if not isinstance(raw, str) or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
            return None
        digest = hash_api_key(raw)
        # Every API request pays for this lookup, and building the query
        # through the ORM costs three times what running it does: usable()
        # spelled out in plain SQL (the hash is a bound parameter).
        table = connections[self.db].ops.quote_name(self.model._meta.db_table)
        sql = f"SELECT * FROM {table} WHERE key_hash = %s AND revoked_at IS NULL"  # noqa: S608
        key = next(iter(self.raw(sql, [digest])), None)
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            return None
        return key


class ApiKey(NotShownOnPage, models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_DISPLAY_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )

    def record_use(self, now=None):
        """Remember the last use, writing at most once a minute per key so that
        reads do not turn into writes."""
        now = now or timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_RESOLUTION:
            return
        self.last_used_at = now
        ApiKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)


# --- Audit trail ----------------------------------------------------------


class AuditRecord(NotShownOnPage, models.Model):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    ACTION_CHOICES = [(CREATED, "Created"), (UPDATED, "Updated"), (DELETED, "Deleted")]

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=20, choices=ACTION_CHOICES)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40, db_index=True)
    actor = models.CharField(max_length=200, blank=True)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_records"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changes = models.JSONField(null=True, blank=True)
    snapshot = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.object_type} {self.object_id} {self.action} by {self.actor or 'system'}"

    @classmethod
    def log(cls, actor, action, target, changes=None, snapshot=None):
        actor = actor or Actor.system("system")
        return cls.objects.create(
            action=action,
            object_type=target._meta.model_name,
            object_id=str(target.pk),
            actor=actor.label[:200],
            api_key=actor.api_key,
            user=actor.user,
            changes=changes,
            snapshot=snapshot,
        )


# Alerts (incidents/alerts/models.py) build on the models above.
from incidents.alerts.models import Alert, AlertAttempt, AlertChannel, WindowEnd  # noqa: E402, F401

# Checks (incidents/checks/), too.
from incidents.checks.definition import clean_check  # noqa: E402
from incidents.checks.models import Check, CheckHourly, CheckResult, check_fields  # noqa: E402, F401

# Groups of monitors and their order on the page (incidents/groups/).
from incidents.groups.models import MonitorGroup  # noqa: E402

# Idempotency keys of API POSTs (incidents/idempotency.py).
from incidents.idempotency import IdempotencyKey  # noqa: E402, F401
