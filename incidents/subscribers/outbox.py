"""The outbox: what subscribers will be told, written where it happens.

``record_incident_change`` receives the domain's ``incident_changed`` signal
inside the write's transaction and writes one ``Event`` row there, so the
event exists exactly when the change does (a rolled-back write leaves none)
and the request pays for one insert whatever the number of subscribers.

``notice_window_edges`` is the clock's part: a window's start and its
completion happen without any write, so the worker's loop calls it and it
records each edge once (a unique row per window, type and moment), however
many workers run it.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import signals
from incidents.models import Incident
from incidents.subscribers.models import Event

# Edges older than this are not announced: a worker started after a long
# pause does not tell about windows that ended long ago.
EDGE_LOOKBACK = timedelta(days=1)
START = F("maintenance_window__scheduled_start")
END = F("maintenance_window__scheduled_end")


def event_type(incident, action, update, previous_status, schedule_changed, now):
    """The contract's event type for a write, or None when it tells nobody
    anything (a field edit, a window recorded after the fact, a deletion of
    an ordinary incident)."""
    resolving = update is not None and update.status == Incident.RESOLVED
    newly_resolved = resolving and previous_status != Incident.RESOLVED
    window = incident.window
    if window is None:
        if action == signals.CREATED:
            return Event.INCIDENT_CREATED
        if action == signals.UPDATED and update is not None:
            return Event.INCIDENT_RESOLVED if newly_resolved else Event.INCIDENT_UPDATED
        return None
    before_start = now < window.scheduled_start
    if action == signals.CREATED:
        if incident.status == Incident.RESOLVED or now >= window.scheduled_end:
            return None
        return Event.MAINTENANCE_SCHEDULED if before_start else Event.MAINTENANCE_STARTED
    if action == signals.DELETED:
        unresolved = previous_status != Incident.RESOLVED
        return Event.MAINTENANCE_CANCELLED if unresolved and before_start else None
    if newly_resolved:
        if before_start:
            return Event.MAINTENANCE_CANCELLED
        if now < window.scheduled_end:
            return Event.MAINTENANCE_COMPLETED  # ended early
        return None  # the clock has told already
    if schedule_changed and before_start and incident.status != Incident.RESOLVED:
        return Event.MAINTENANCE_SCHEDULED  # rescheduled
    return None


def record_incident_change(
    sender,
    *,
    incident,
    action,
    update=None,
    previous_status=None,
    notify=True,
    schedule_changed=False,
    snapshot,
    **kwargs,
):
    if not notify:
        return None
    now = timezone.now()
    kind = event_type(incident, action, update, previous_status, schedule_changed, now)
    if kind is None:
        return None
    return Event.objects.create(
        type=kind,
        incident_ref=incident.pk,
        incident=snapshot,
        monitor_ids=snapshot["monitorIds"],
        occurred_at=update.created_at if update is not None else now,
        created_at=now,
    )


def notice_window_edges(now=None):
    """Record ``maintenance.started`` and ``maintenance.completed`` for the
    windows whose start or end the clock has passed (within EDGE_LOOKBACK).

    Only windows subscribers were told about (an earlier event) are
    announced, so a window made silently (``notify: false``) or recorded
    after the fact stays silent. A window resolved before its start was
    cancelled; resolved before its end, it completed then (recorded by the
    write). Returns the events written."""
    now = now or timezone.now()
    since = now - EDGE_LOOKBACK
    announced = Event.objects.values("incident_ref")
    windows = Incident.objects.maintenance().filter(pk__in=announced)
    edges = [
        (
            Event.MAINTENANCE_STARTED,
            "scheduled_start",
            windows.filter(
                maintenance_window__scheduled_start__gt=since,
                maintenance_window__scheduled_start__lte=now,
                created_at__lt=START,
            ).filter(~Q(status=Incident.RESOLVED) | Q(resolved_at__gt=START)),
        ),
        (
            Event.MAINTENANCE_COMPLETED,
            "scheduled_end",
            windows.filter(
                maintenance_window__scheduled_end__gt=since,
                maintenance_window__scheduled_end__lte=now,
                created_at__lt=END,
            ).filter(~Q(status=Incident.RESOLVED) | Q(resolved_at__gte=END)),
        ),
    ]
    written = []
    for kind, field, found in edges:
        done = set(
            Event.objects.filter(type=kind, edge_at__gt=since).values_list(
                "incident_ref", "edge_at"
            )
        )
        for window in found.with_timeline():
            edge_at = getattr(window.maintenance_window, field)
            if (window.pk, edge_at) in done:
                continue
            event = _record_edge(window, kind, edge_at, now)
            if event is not None:
                written.append(event)
    return written


def _record_edge(window, kind, edge_at, now):
    snapshot = window.to_dict()
    try:
        with transaction.atomic():
            return Event.objects.create(
                type=kind,
                incident_ref=window.pk,
                incident=snapshot,
                monitor_ids=snapshot["monitorIds"],
                occurred_at=edge_at,
                edge_at=edge_at,
                created_at=now,
            )
    except IntegrityError:
        return None  # another worker recorded it first
