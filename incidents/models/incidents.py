"""Incidents and their timeline (``IncidentUpdate``), the monitors they
affect (``IncidentMonitor``, ``DeletedMonitor``), and maintenance windows: an
incident with a schedule (``MaintenanceWindow``)."""

import contextlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, F, Prefetch, Q, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from incidents import input_rules, signals
from incidents.cache import generation
from incidents.cache.generation import ShownOnPage
from incidents.models.audit import AuditRecord
from incidents.models.common import (
    NAME_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    UNSET,
    Conflict,
    isostring,
    make_id,
    now_seconds,
)
from incidents.models.fields import (
    BOOLEAN,
    DUPLICATE_MONITORS,
    END_AFTER_START,
    STRING_LIST,
    TIMESTAMP,
    WINDOW_NEEDS_SCHEDULE,
    Field,
    Resource,
    only_windows_have_a_schedule,
    refusing,
    unknown_monitors,
)
from incidents.models.monitors import Monitor

MAX_MONITOR_IDS = 100


def new_incident_id():
    return make_id("inc")


def new_update_id():
    return make_id("upd")


def _timeline_lookups():
    """What ``to_dict`` reads beside an incident's row: its timeline entries
    and its monitor links, in order."""
    return (
        Prefetch("updates", queryset=IncidentUpdate.objects.order_by("sequence")),
        Prefetch("monitor_links", queryset=IncidentMonitor.objects.order_by("position")),
    )


class IncidentQuerySet(models.QuerySet):
    def with_timeline(self):
        """Everything ``to_dict`` needs, in a fixed number of queries."""
        return self.select_related("maintenance_window").prefetch_related(*_timeline_lookups())

    def timelines(self, *querysets):
        """The incidents of each of ``querysets`` as lists, each with what
        ``with_timeline`` gives it, the timelines of all of them read together:
        two queries for the lot rather than two a list."""
        lists = [list(queryset.select_related("maintenance_window")) for queryset in querysets]
        models.prefetch_related_objects(
            [incident for found in lists for incident in found], *_timeline_lookups()
        )
        return lists

    def for_change(self, pk):
        """The incident ``pk`` read for a change inside the open transaction:
        its row locked (``FOR UPDATE`` of the incident alone, the window being
        joined on its nullable side), with its window, its monitor links and
        its timeline kept on it — two queries however large it is, and what a
        change then answers with (``to_dict``) needs no more. Raises
        ``Incident.DoesNotExist``."""
        rows = list(
            self.select_for_update(of=("self",))
            .select_related("maintenance_window")
            .filter(pk=pk)
            .annotate(
                link_id=F("monitor_links__id"),
                link_monitor_id=F("monitor_links__monitor_id"),
                link_position=F("monitor_links__position"),
                link_monitor_name=F("monitor_links__monitor_name"),
            )
            .order_by("monitor_links__position")
        )
        if not rows:
            raise Incident.DoesNotExist(f"No incident {pk!r}.")
        incident = rows[0]
        incident._keep_related(
            "monitor_links",
            [
                IncidentMonitor(
                    id=row.link_id,
                    incident=incident,
                    monitor_id=row.link_monitor_id,
                    position=row.link_position,
                    monitor_name=row.link_monitor_name,
                )
                for row in rows
                if row.link_id is not None
            ],
        )
        incident._keep_related("updates", incident.updates.order_by("sequence"))
        return incident

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
        lock=False,
    ):
        """Check values against the rules (``INCIDENT``'s fields, then the
        monitors and the schedule); raise ValidationError naming fields.

        Returns the monitors for ``monitor_ids`` (in order) when given.
        ``lock``, inside a write's transaction: the monitors are read so that
        none can be deleted until the write commits
        (``Monitor.objects.kept_until_commit``). Without that, a monitor
        deleted at the same moment deadlocks with the new links on
        PostgreSQL; with it, one write waits for the other: the delete then
        sees the incident (409), or the incident sees the monitor gone (400).
        """
        errors = INCIDENT.errors({"title": title, "status": status})
        schedule = {"scheduled_start": scheduled_start, "scheduled_end": scheduled_end}
        monitors = None
        if monitor_ids is not UNSET:
            ids = list(monitor_ids)
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if lock:
                matching = Monitor.objects.kept_until_commit(ids)
            else:
                matching = Monitor.objects.filter(pk__in=ids) if ids else []
            found = {m.id: m for m in matching}
            unknown = [i for i in ids if i not in found]
            if duplicates:
                errors["monitor_ids"] = DUPLICATE_MONITORS + ", ".join(duplicates)
            elif unknown:
                errors["monitor_ids"] = unknown_monitors(unknown)
            else:
                monitors = [found[i] for i in ids]
        errors.update(INCIDENT.errors({k: v for k, v in schedule.items() if v is not None}))
        if UNSET not in schedule.values() and not errors.keys() & schedule.keys():
            errors.update(schedule_errors(scheduled_start, scheduled_end))
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
        # One transaction, and each row written once: what the incident is
        # is known before its row goes in, and the answer (``to_dict``) is
        # built from what was written, not read back.
        with transaction.atomic(), generation.bumped_last():
            monitors = cls.validate_fields(
                title=title,
                status=status,
                monitor_ids=monitor_ids,
                scheduled_start=scheduled_start,
                scheduled_end=scheduled_end,
                lock=True,
            )
            cls._require_text(message)
            now = (at or now_seconds()).replace(microsecond=0)
            incident = cls(title=title.strip(), started_at=scheduled_start or now, created_at=now)
            incident._move_to(status, now)  # as its first entry will
            incident.save(force_insert=True)
            if scheduled_start is not None:
                MaintenanceWindow.objects.create(
                    incident=incident,
                    scheduled_start=scheduled_start,
                    scheduled_end=scheduled_end,
                )
            else:
                Incident.maintenance_window.related.set_cached_value(incident, None)
            incident._keep_related("monitor_links", [])
            incident._keep_related("updates", [])
            incident._set_monitors(monitors)
            update = incident._add_entry(status, message, now)
            snapshot = incident.to_dict()
            AuditRecord.log(actor, AuditRecord.CREATED, incident, changes=snapshot)
            incident._announce(signals.CREATED, update, None, notify=notify, snapshot=snapshot)
        return incident

    def post_update(self, status=None, message="", actor=None, at=None, notify=True):
        """Append one entry to the timeline and move the incident to its status.

        ``resolved`` sets resolvedAt; any other status clears it (a reopening).
        """
        status = self.status if status is None else status
        return self.change(status=status, message=message, actor=actor, at=at, notify=notify)

    def change(self, **changes):
        """Apply a PATCH: edit fields in place and, when a status and/or a
        message is given, append exactly one timeline entry. All or nothing.
        The keywords are ``apply_change``'s; ``notify=False``: subscribers
        are not told.

        Returns the new IncidentUpdate, or None when no entry was appended.
        """
        with transaction.atomic():
            # Lock the row: concurrent updates to one incident are applied one
            # after the other, so the timeline and the status never disagree.
            update = Incident.objects.for_change(self.pk).apply_change(**changes)
        self._reload("updates", "monitor_links")
        return update

    def apply_change(
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
        """``change``, on an incident read with ``Incident.objects.for_change``
        in the open transaction (so its row is locked and its links and
        timeline are at hand): afterwards it is the incident as the change
        left it, ``to_dict()`` without a query."""
        leaves_systems = self._leaves_systems(title, monitor_ids, scheduled_start, scheduled_end,
                                              status, at)  # fmt: skip
        with generation.bumped_last():
            self._require_text(message)
            monitors = self.validate_fields(
                title=title, status=status, monitor_ids=monitor_ids, lock=True
            )
            previous_status = self.status
            changes = {}
            self._retitle(title, changes)
            self._reschedule(scheduled_start, scheduled_end, changes)
            self._relink(monitors, changes)
            # The entry and the incident's own row alone: what the domain's
            # receivers write below bumps as any write does.
            with generation.systems_unchanged() if leaves_systems else contextlib.nullcontext():
                update = self._record_entry(status, message, at, changes)
            if changes:
                AuditRecord.log(actor, AuditRecord.UPDATED, self, changes=changes)
            if update is not None or "scheduledStart" in changes:
                self._announce(
                    signals.UPDATED,
                    update,
                    previous_status,
                    notify=notify,
                    schedule_changed="scheduledStart" in changes,
                    snapshot=self.to_dict(),
                )
        return update

    def _leaves_systems(self, title, monitor_ids, scheduled_start, scheduled_end, status, at):
        """Does this change leave the status page's systems section alone?
        It does when it appends an entry to an open ordinary incident and
        leaves it open, its title, monitors and times as they are: the bars
        show an incident's title and the days it was open, and a window
        covers its monitors (incidents/cache/generation.py
        ``systems_unchanged``)."""
        return (
            not self.is_maintenance
            and self.status != self.RESOLVED
            and self.resolved_at is None
            and (status is UNSET or status != self.RESOLVED)
            and (title is UNSET or title == self.title)
            and monitor_ids is UNSET
            and scheduled_start is UNSET
            and scheduled_end is UNSET
            and at is None
        )

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
        self._require_text(message)
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
        self._reload("updates")
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

    @staticmethod
    def _require_text(message):
        errors = INCIDENT.errors({"message": message})
        if errors:
            raise ValidationError(errors)

    def _retitle(self, title, changes):
        """A step of ``change``: a new title (not saved yet)."""
        if title is not UNSET and title.strip() != self.title:
            self.title = changes["title"] = title.strip()

    def _reschedule(self, scheduled_start, scheduled_end, changes):
        """A step of ``change``: move a window's start and/or end (saved at
        once); an ordinary incident has no schedule to move."""
        window = self.window  # read (and cached) either way: what follows reads it too
        if scheduled_start is UNSET and scheduled_end is UNSET:
            return
        if window is None:
            field = "scheduled_start" if scheduled_start is not UNSET else "scheduled_end"
            raise ValidationError({field: only_windows_have_a_schedule()})
        start = window.scheduled_start if scheduled_start is UNSET else scheduled_start
        end = window.scheduled_end if scheduled_end is UNSET else scheduled_end
        errors = schedule_errors(start, end, window=True)
        if errors:
            raise ValidationError(errors)
        if (start, end) != (window.scheduled_start, window.scheduled_end):
            window.scheduled_start, window.scheduled_end = start, end
            window.save()
            self.started_at = start
            changes["scheduledStart"] = isostring(start)
            changes["scheduledEnd"] = isostring(end)

    def _relink(self, monitors, changes):
        """A step of ``change``: affect ``monitors`` (None: keep the links)."""
        if monitors is None:
            return
        if [m.id for m in monitors] != self.monitor_ids:
            self._set_monitors(monitors)
            changes["monitorIds"] = [m.id for m in monitors]

    def _record_entry(self, status, message, at, changes):
        """A step of ``change``, its last: append the one timeline entry a
        status and/or a message asks for, or just save. Returns the entry."""
        if status is UNSET and message is UNSET:
            self.save()
            return None
        update = self._add_entry(
            self.status if status is UNSET else status,
            "" if message is UNSET else message,
            (at or now_seconds()).replace(microsecond=0),
        )
        self.save()
        changes["update"] = update.to_dict()
        return update

    def _reload(self, *prefetched):
        """Read the row again, and forget the prefetched relations named."""
        self.refresh_from_db()
        for cached in prefetched:
            getattr(self, "_prefetched_objects_cache", {}).pop(cached, None)

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
        self, action, update, previous_status, *, notify, snapshot, schedule_changed=False
    ):
        """Tell the sub-apps (subscribers) what happened, in this transaction,
        with ``snapshot``: the API object as the write left it (before a
        deletion), which the write has at hand."""
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

    def _add_entry(self, status, message, at):
        """Append a timeline entry (kept on the incident, as ``for_change``
        keeps the timeline) and move the status to it; the caller saves the
        incident, or has just created it so."""
        timeline = self.timeline()
        update = IncidentUpdate.objects.create(
            incident=self,
            sequence=timeline[-1].sequence + 1 if timeline else 1,
            status=status,
            message=message,
            created_at=at,
        )
        self._keep_related("updates", [*timeline, update])
        self._move_to(status, at)
        return update

    def _move_to(self, status, at):
        """The status of an entry posted at ``at``: ``resolved`` sets
        resolvedAt (unless already resolved), any other clears it."""
        self.status = status
        if status == self.RESOLVED:
            if self.resolved_at is None:
                self.resolved_at = at
        else:
            self.resolved_at = None

    def _set_monitors(self, monitors):
        if self.monitor_links.all():
            self.monitor_links.all().delete()
        links = IncidentMonitor.objects.bulk_create(
            IncidentMonitor(incident=self, monitor=monitor, position=position)
            for position, monitor in enumerate(monitors or ())
        )
        self._keep_related("monitor_links", links)
        generation.bump()  # bulk_create sends no signals

    def _keep_related(self, name, objects):
        """Hold ``objects`` as the rows of the relation ``name``, as
        ``prefetch_related`` would (the same private cache Django fills):
        what a write just read or wrote is then not read again."""
        cache = self.__dict__.setdefault("_prefetched_objects_cache", {})
        cache.pop(name, None)
        rows = getattr(self, name).all()
        rows._result_cache = list(objects)
        rows._prefetch_done = True
        cache[name] = rows


def schedule_errors(start, end, *, window=False):
    """The rules of a schedule, as ``{field: message}``: a window has both a
    start and an end (neither: an ordinary incident, unless ``window``),
    and ends after it starts, at most 366 days later."""
    schedule = {"scheduled_start": start, "scheduled_end": end}
    missing = [name for name, value in schedule.items() if value is None]
    if missing and (window or len(missing) == 1):
        return dict.fromkeys(missing, WINDOW_NEEDS_SCHEDULE)
    if missing:
        return {}
    if end <= start:
        return {"scheduled_end": END_AFTER_START}
    if refusal := input_rules.window_refusal(start, end):
        return {"scheduled_end": refusal}
    return {}


# The contract's fields of an incident (incidents/models/fields.py).
INCIDENT = Resource(
    [
        Field(
            "title",
            not_blank=True,
            trimmed=True,
            max_length=TITLE_MAX_LENGTH,
            validator=refusing(input_rules.line_refusal),
            creating={"required": True},
            description="1–200 characters; surrounding whitespace is trimmed.",
            example="API degraded performance",
        ),
        Field(
            "status",
            choices=Incident.STATUSES,
            creating={"description": "Defaults to investigating."},
            changing={
                "description": "With or without message, appends one update to the timeline."
            },
        ),
        Field(
            "message",
            validator=refusing(input_rules.message_refusal),
            creating={
                "required": True,
                "not_blank": True,
                "description": "The first update's message.",
            },
            changing={
                "description": "Appends one update (with the current status when status is absent)."
            },
            example="We are investigating elevated error rates.",
        ),
        Field(
            "monitorIds",
            "monitor_ids",
            STRING_LIST,
            max_items=MAX_MONITOR_IDS,
            description="Ids of existing monitors, no duplicates; the order is kept.",
            example=["mon_abc123"],
        ),
        Field(
            "maintenance",
            kind=BOOLEAN,
            only="create",
            description="true makes a maintenance window; it then needs a schedule.",
        ),
        *(
            Field(
                name,
                attribute,
                TIMESTAMP,
                required_with="maintenance",
                required_message=WINDOW_NEEDS_SCHEDULE,
                forbidden_message=only_windows_have_a_schedule('"maintenance": true'),
                creating={"nullable": True},
                validator=refusing(input_rules.timestamp_refusal),
                description=description,
                example=example,
            )
            for name, attribute, description, example in (
                (
                    "scheduledStart",
                    "scheduled_start",
                    "RFC 3339 with a timezone; offsets are normalised to UTC.",
                    "2025-06-01T02:00:00Z",
                ),
                ("scheduledEnd", "scheduled_end", "After scheduledStart.", "2025-06-01T04:00:00Z"),
            )
        ),
        Field(
            "notify",
            kind=BOOLEAN,
            description="false: the change is made and shown, but subscribers are not told "
            "(default true).",
        ),
    ],
    read_only=("id", "startedAt", "resolvedAt", "updates"),
    read_only_on_change=("maintenance",),
)


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


# The contract's fields of a timeline entry, as a PATCH changes it.
TIMELINE_ENTRY = Resource(
    [
        Field(
            "message",
            required=True,
            validator=refusing(input_rules.message_refusal),
            description="The entry's new text (a typo fix): no new entry, nobody is told.",
            example="We are investigating elevated error rates on the API.",
        )
    ],
    read_only=("id", "status", "createdAt"),
)


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
