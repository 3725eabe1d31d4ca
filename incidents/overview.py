"""The overall state of the service, as the status page and the public status
JSON both tell it: one rule, computed from monitors *and* open incidents; and
every visitor-facing state label (the service, a monitor, an incident, a
maintenance window).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from incidents.models import Incident, Monitor, MonitorGroup

# Overall states, calmest first.
OPERATIONAL = "operational"
MAINTENANCE = "maintenance"
DEGRADED = "degraded"
PARTIAL_OUTAGE = "partial_outage"
MAJOR_OUTAGE = "major_outage"

LABELS = {
    OPERATIONAL: _("All systems operational"),
    MAINTENANCE: _("Under maintenance"),
    DEGRADED: _("Degraded performance"),
    PARTIAL_OUTAGE: _("Partial outage"),
    MAJOR_OUTAGE: _("Major outage"),
}

# A monitor's state as visitors see it: its reported status, unless an active
# maintenance window covers it.
MONITOR_UNDER_MAINTENANCE = "maintenance"
MONITOR_LABELS = {
    Monitor.OPERATIONAL: _("Operational"),
    Monitor.DEGRADED: _("Degraded performance"),
    Monitor.DOWN: _("Outage"),
    MONITOR_UNDER_MAINTENANCE: _("Under maintenance"),
}


# An incident's status as visitors read it (the admin and the API keep the
# model's English words).
INCIDENT_LABELS = {
    Incident.INVESTIGATING: pgettext_lazy("incident status", "Investigating"),
    Incident.IDENTIFIED: pgettext_lazy("incident status", "Identified"),
    Incident.MONITORING: pgettext_lazy("incident status", "Monitoring"),
    Incident.RESOLVED: pgettext_lazy("incident status", "Resolved"),
}

# A maintenance window as visitors read it: in its own words (Incident.window_state).
WINDOW_LABELS = {
    Incident.WINDOW_SCHEDULED: _("Scheduled"),
    Incident.WINDOW_IN_PROGRESS: _("In progress"),
    Incident.WINDOW_COMPLETED: _("Completed"),
    Incident.WINDOW_CANCELLED: _("Cancelled"),
}

# How hard an open incident hits, from the monitors it names: the card's colour.
IMPACT_NONE = "none"  # resolved
IMPACT_MINOR = "minor"  # open, and nothing it names is failing
IMPACT_DEGRADED = "degraded"
IMPACT_OUTAGE = "outage"


def status_label(incident, update=None, now=None):
    """The visitor-facing word for an incident or a window, or for one of its
    timeline entries: a window never reads as an incident status."""
    if incident.is_maintenance:
        state = incident.window_state_at(update) if update else incident.window_state(now)
        return WINDOW_LABELS[state]
    return INCIDENT_LABELS[(update or incident).status]


def incident_impact(incident, monitors):
    """``outage`` when an open incident names a monitor that is down,
    ``degraded`` when one is degraded, ``minor`` otherwise while open, and
    ``none`` once resolved."""
    if incident.status == Incident.RESOLVED:
        return IMPACT_NONE
    statuses = {monitor.status for monitor in monitors}
    if Monitor.DOWN in statuses:
        return IMPACT_OUTAGE
    if Monitor.DEGRADED in statuses:
        return IMPACT_DEGRADED
    return IMPACT_MINOR


def monitor_state(monitor):
    """``maintenance`` while an active window covers the monitor, else its status."""
    return MONITOR_UNDER_MAINTENANCE if monitor.is_in_maintenance() else monitor.status


# A group's state is the worst of its members', in this order (calmest first).
MONITOR_SEVERITY = [Monitor.OPERATIONAL, MONITOR_UNDER_MAINTENANCE, Monitor.DEGRADED, Monitor.DOWN]


def worst_monitor_state(states):
    """The worst of some monitor states (``operational`` for none)."""
    return max(states, key=MONITOR_SEVERITY.index, default=Monitor.OPERATIONAL)


@dataclass
class Section:
    """A part of the page's list of systems: a group with its monitors, or a
    run of monitors in no group (``group`` None), in page order."""

    group: object
    monitors: list

    @property
    def state(self):
        return worst_monitor_state(monitor_state(monitor) for monitor in self.monitors)

    @property
    def label(self):
        return MONITOR_LABELS[self.state]


def page_sections(monitors):
    """Monitors in page order (``Monitor.objects.in_page_order``, which keeps a
    group's members together), cut into sections by group."""
    sections = []
    for monitor in monitors:
        if sections and sections[-1].monitors[-1].group_id == monitor.group_id:
            sections[-1].monitors.append(monitor)
        else:
            sections.append(Section(group=monitor.group, monitors=[monitor]))
    return sections


def overall_state(monitor_states, ongoing_incident_count, active_window_count):
    """The one-word verdict.

    - any monitor down: a major outage when at least half of the monitors that
      are not under maintenance are down, else a partial outage;
    - any monitor degraded, or any unresolved incident: degraded;
    - otherwise under maintenance while a window is active, else operational.
    """
    states = list(monitor_states)
    live = [state for state in states if state != MONITOR_UNDER_MAINTENANCE]
    down = sum(1 for state in live if state == Monitor.DOWN)
    if down:
        return MAJOR_OUTAGE if down * 2 >= len(live) else PARTIAL_OUTAGE
    if any(state == Monitor.DEGRADED for state in live) or ongoing_incident_count:
        return DEGRADED
    if active_window_count:
        return MAINTENANCE
    return OPERATIONAL


def page_updated_at(now):
    """When anything on the page last changed: the latest edit of a monitor or
    an incident (an update saves its incident), else now."""
    latest = [
        Monitor.objects.aggregate(at=Max("updated_at"))["at"],
        Incident.objects.aggregate(at=Max("updated_at"))["at"],
        MonitorGroup.objects.aggregate(at=Max("updated_at"))["at"],
    ]
    latest = [value for value in latest if value is not None]
    return max(latest) if latest else now


def maintenance_lists(now):
    """The windows active at ``now`` (ending first) and those to come
    (starting first), as querysets."""
    return (
        Incident.objects.active_maintenance(now).order_by(
            "maintenance_window__scheduled_end", "id"
        ),
        Incident.objects.upcoming_maintenance(now).order_by(
            "maintenance_window__scheduled_start", "id"
        ),
    )


@dataclass
class Overview:
    """Everything the top of the status page shows, read in a few queries."""

    now: datetime
    monitors: list = field(default_factory=list)
    ongoing_incidents: list = field(default_factory=list)
    active_windows: list = field(default_factory=list)
    upcoming_windows: list = field(default_factory=list)

    @classmethod
    def build(cls, now=None, monitors=None, windows=None):
        """``monitors``: the monitors for the status page at ``now``, when the
        caller has them (``Monitor.objects.for_status_page``); ``windows``:
        the active and upcoming windows at ``now`` with their timelines (the
        lists of ``maintenance_lists``), when the caller has them."""
        now = now or timezone.now()
        ongoing = Incident.objects.ongoing().newest_first()
        if windows is None:
            ongoing, *windows = Incident.objects.timelines(ongoing, *maintenance_lists(now))
        else:
            [ongoing] = Incident.objects.timelines(ongoing)
        active, upcoming = windows
        return cls(
            now=now,
            monitors=list(Monitor.objects.for_status_page(now)) if monitors is None else monitors,
            ongoing_incidents=ongoing,
            active_windows=active,
            upcoming_windows=upcoming,
        )

    @property
    def state(self):
        return overall_state(
            (monitor_state(m) for m in self.monitors),
            len(self.ongoing_incidents),
            len(self.active_windows),
        )

    @property
    def label(self):
        return LABELS[self.state]

    @property
    def sections(self):
        return page_sections(self.monitors)
