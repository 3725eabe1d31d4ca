"""Monitors: what the page shows the state of, and each change of that state
(``MonitorStatusChange``), which the domain announces (``incidents.signals``):
the alerts app decides its alerts from it, and the domain knows nothing of
alerts.

Incidents (``incidents.py``) and checks (``incidents/checks/models.py``) build
on monitors and import this module; the few monitor methods that need them
import them where they are used.
"""

from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce

from incidents import input_rules, signals
from incidents.cache.generation import NotShownOnPage, ShownOnPage
from incidents.checks.definition import clean_check, request_schema
from incidents.models.audit import AuditRecord
from incidents.models.common import (
    DESCRIPTION_MAX_LENGTH,
    GROUP_ID_PATTERN,
    HTTP_URL,
    MONITOR_ID_PATTERN,
    NAME_MAX_LENGTH,
    POSITION_MAX,
    UNSET,
    URL_MAX_LENGTH,
    Conflict,
    clean_description,
    make_id,
    now_seconds,
)
from incidents.models.fields import (
    HTTP_URL_SCHEMA,
    INTEGER,
    NOT_HTTP_URL,
    OBJECT,
    Field,
    FieldError,
    Resource,
    refusing,
)


def new_monitor_id():
    return make_id("mon")


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
    def kept_until_commit(self, ids):
        """The monitors ``ids`` that exist, read so that none of them can be
        deleted until the open transaction commits — ``FOR KEY SHARE`` on
        PostgreSQL, what a foreign key's check takes (Django's
        ``select_for_update`` has no such mode). Writes naming the same
        monitor then do not queue on each other, as ``FOR NO KEY UPDATE`` made
        every new incident for it wait for the one before to commit; a
        deletion waits for them, and they for it. On SQLite the write
        transaction holds the whole database anyway."""
        ids = sorted(set(ids))
        if not ids:
            return []
        connection = connections[self.db]
        quote = connection.ops.quote_name
        places = ", ".join(["%s"] * len(ids))
        sql = (
            f"SELECT * FROM {quote(self.model._meta.db_table)} "  # noqa: S608 (names quoted)
            f"WHERE {quote('id')} IN ({places}) ORDER BY {quote('id')}"
        )
        if connection.vendor == "postgresql":
            sql += " FOR KEY SHARE"
        return list(self.raw(sql, ids))

    def with_maintenance(self, now=None):
        """Annotate ``in_maintenance``: an active window covers the monitor."""
        from incidents.models.incidents import Incident, IncidentMonitor  # they build on monitors

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
        from incidents.models.incidents import Incident  # it builds on monitors

        return Incident.objects.active_maintenance(now).filter(monitor_links__monitor=self).exists()

    def to_dict(self):
        from incidents.checks.models import check_fields  # checks build on monitors

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
        """Check values against ``MONITOR``'s fields; raise ValidationError naming fields."""
        given = {"description": description, "position": position, "group_id": group_id}
        given.update(name=name, url=url, status=status, id=id, check=check)
        errors = MONITOR.errors(given)
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
        from incidents.checks.models import Check  # checks build on monitors
        from incidents.groups.models import MonitorGroup  # groups, too

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
        from incidents.checks.models import Check  # checks build on monitors
        from incidents.groups.models import MonitorGroup  # groups, too

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
        from incidents.models.incidents import Incident  # it builds on monitors

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
        from incidents.models.incidents import IncidentMonitor  # it builds on monitors

        with transaction.atomic():
            locked = Monitor.objects.select_for_update().get(pk=self.pk)
            refusal = locked.why_not_deletable()
            if refusal:
                raise Conflict(refusal)
            snapshot = locked.to_dict()
            AuditRecord.log(actor, AuditRecord.DELETED, locked, snapshot=snapshot)
            IncidentMonitor.objects.filter(monitor_id=locked.pk).update(monitor_name=locked.name)
            locked.delete()


def _http_url(value):
    """The model field's own validator also lets ftp:// through; "" means none."""
    if value == "":
        return
    try:
        HTTP_URL(value)
    except ValidationError:
        raise FieldError(NOT_HTTP_URL) from None


def _existing_group(group_id):
    from incidents.groups.models import MonitorGroup, unknown_group  # groups build on monitors

    if not MonitorGroup.objects.filter(pk=group_id).exists():
        raise FieldError(unknown_group(group_id))


# Fields a monitor shares with a group (incidents/groups/models.py).


def chosen_id_field(pattern, example):
    return Field(
        "id",
        pattern=pattern,
        only="create",
        description="Optional chosen id; one is made up when absent.",
        example=example,
    )


def name_field(example):
    return Field(
        "name",
        not_blank=True,
        trimmed=True,
        max_length=NAME_MAX_LENGTH,
        validator=refusing(input_rules.line_refusal),
        creating={"required": True},
        example=example,
    )


def description_field():
    return Field(
        "description",
        nullable=True,
        trimmed=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        description="Shown on the status page (as text); empty or null: none.",
        example="Our public REST API.",
    )


def position_field(what):
    return Field(
        "position",
        kind=INTEGER,
        minimum=0,
        maximum=POSITION_MAX,
        description=f"Order on the page {what} (0 first; ties: oldest first). Defaults to 0.",
        example=1,
    )


# The contract's fields of a monitor (incidents/models/fields.py).
MONITOR = Resource(
    [
        chosen_id_field(MONITOR_ID_PATTERN, "mon_abc123"),
        name_field("API"),
        Field(
            "url",
            nullable=True,
            max_length=URL_MAX_LENGTH,
            validator=_http_url,
            description="An http or https URL, or null.",
            schema=HTTP_URL_SCHEMA,
            example="https://api.example.com/health",
        ),
        Field(
            "status",
            choices=Monitor.STATUSES,
            creating={"description": "Defaults to operational."},
            changing={
                "description": "A change is recorded as a transition "
                "(degraded/down raise an alert)."
            },
        ),
        description_field(),
        Field(
            "groupId",
            "group_id",
            nullable=True,
            pattern=GROUP_ID_PATTERN,
            validator=_existing_group,
            description="The group the monitor is shown in (an existing grp_… id), or null.",
            example="grp_core",
        ),
        position_field("within its group"),
        Field("check", kind=OBJECT, nullable=True, cleaner=clean_check, schema=request_schema()),
    ],
    read_only=("inMaintenance", "lastCheckedAt", "responseTimeMs", "lastError"),
    read_only_on_change=("id",),
)


class MonitorStatusChange(NotShownOnPage, models.Model):
    """A monitor moved from one state to another: what alerts are made of."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=Monitor.STATUS_CHOICES)
    to_status = models.CharField(max_length=20, choices=Monitor.STATUS_CHOICES)
    created_at = models.DateTimeField(default=now_seconds)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["monitor", "-created_at"], name="transition_by_monitor"),
            # Each monitor's newest transition, the version of its uptime days
            # (incidents/uptime/history.py): one index lookup per monitor.
            models.Index(fields=["monitor", "-id"], name="transition_newest"),
        ]

    def __str__(self):
        return f"{self.monitor_id}: {self.from_status} → {self.to_status}"

    @property
    def is_failure(self):
        return self.to_status in (Monitor.DEGRADED, Monitor.DOWN)

    def announce(self):
        """Tell the sub-apps in the transaction that records the transition (the
        alerts app decides its alerts there, so none is lost), then tell
        other listeners once committed."""
        signals.monitor_transition.send(sender=MonitorStatusChange, transition=self)
        transaction.on_commit(
            lambda: signals.monitor_status_changed.send(
                sender=MonitorStatusChange, transition=self
            ),
            robust=True,
        )
