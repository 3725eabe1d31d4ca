"""Our domain in the shapes of Atlassian Statuspage's public API (v2).

Dashboards, chat bots and widgets already read Statuspage's public JSON; these
functions say the same things our status page says, in Statuspage's words:

- the page (``page``) is this installation, named and located by settings;
- components are our monitors, in the status page's order, and our groups
  of monitors as group components (``group: true``, ``components``);
- incidents are our ordinary incidents, scheduled maintenances our
  maintenance windows (incidents with a schedule);
- the overall ``status`` comes from ``Overview`` (the one rule), never from
  here.

Everything is read from objects the caller has already loaded; nothing here
queries the database.
"""

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import translation

from incidents import overview
from incidents.appearance.page import page_settings
from incidents.models import Incident, IncidentMonitor, Monitor, MonitorStatusChange
from incidents.site import page_url

# Our overall state -> Statuspage's page indicator. Statuspage documents
# none/minor/major/critical and sends "maintenance" while a maintenance is in
# progress; so do we.
INDICATORS = {
    overview.OPERATIONAL: "none",
    overview.DEGRADED: "minor",
    overview.PARTIAL_OUTAGE: "major",
    overview.MAJOR_OUTAGE: "critical",
    overview.MAINTENANCE: "maintenance",
}

# A monitor's state as visitors see it -> a component status. One monitor is
# either up, slow or down, so ``partial_outage`` is never sent for a component.
COMPONENT_STATUSES = {
    Monitor.OPERATIONAL: "operational",
    Monitor.DEGRADED: "degraded_performance",
    Monitor.DOWN: "major_outage",
    overview.MONITOR_UNDER_MAINTENANCE: "under_maintenance",
}

# Statuspage's own reading of component statuses as an incident impact.
IMPACTS = ["none", "minor", "major", "critical"]
COMPONENT_IMPACTS = {
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}

# Our maintenance window states (Incident.window_state) -> Statuspage's
# scheduled maintenance status. Statuspage has no word for a window called
# off before it began; "cancelled" is sent beside its own (as "maintenance"
# is for the page indicator): such a window is never "completed".
MAINTENANCE_STATUSES = {
    Incident.WINDOW_SCHEDULED: "scheduled",
    Incident.WINDOW_IN_PROGRESS: "in_progress",
    Incident.WINDOW_COMPLETED: "completed",
    Incident.WINDOW_CANCELLED: "cancelled",
}

# Statuspage's list endpoints return the 50 most recent items.
LIST_LIMIT = 50


@dataclass(frozen=True)
class Page:
    """This installation as a Statuspage ``page``: named by its page settings
    (incidents/appearance/page.py), located by ``incidents.site.page_url``."""

    id: str
    name: str
    url: str
    time_zone: str

    @classmethod
    def for_request(cls, request=None):
        page = page_settings()
        return _page_for(page.name, page_url(request), page.time_zone)

    @functools.cached_property
    def version(self):
        """Changes with the settings, so that cached documents naming the page
        are not served after it is renamed or moved."""
        text = "\n".join((self.name, self.url, self.time_zone))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def stamp(self, value):
        """ISO 8601 in the page's time zone with its offset (``Z`` for UTC),
        whole seconds, as Statuspage writes them; None stays None."""
        if value is None:
            return None
        local = value.astimezone(ZoneInfo(self.time_zone)).replace(microsecond=0)
        if local.utcoffset().total_seconds() == 0:
            return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return local.isoformat()

    def shortlink(self, incident):
        """The incident's permalink on the status page."""
        return f"{self.url}/incidents/{incident.id}/"

    def to_dict(self, updated_at):
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "time_zone": self.time_zone,
            "updated_at": self.stamp(updated_at),
        }


@functools.lru_cache(maxsize=8)
def _page_for(name, url, time_zone):
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"PAGE_TIME_ZONE must be an IANA time zone such as Etc/UTC, not {time_zone!r}"
        ) from None
    return Page(id=page_id(url), name=name, url=url, time_zone=time_zone)


def page_id(url):
    """A stable 12-character id for the page (Statuspage ids look alike),
    derived from its public URL so that every host of one page agrees."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(hashlib.sha256(url.encode("utf-8")).digest()[:10], "big")
    digits = []
    for _ in range(12):
        number, digit = divmod(number, len(alphabet))
        digits.append(alphabet[digit])
    return "".join(digits)


def status_dict(view):
    """The page's ``status`` for an ``Overview``."""
    # Statuspage's words are contract text: English, whatever else is spoken.
    with translation.override(settings.LANGUAGE_CODE):
        description = str(view.label)
    return {"indicator": INDICATORS[view.state], "description": description}


def worst_impact(impacts):
    """The worst of some impacts, and at least ``minor``."""
    return max(["minor", *impacts], key=IMPACTS.index)


class Document:
    """One response being written: the page, the clock and every component,
    so that incidents can name the components they affect without a query."""

    def __init__(self, page, now, monitors):
        self.page = page
        self.now = now
        # As Statuspage writes them: top-level components (groups and
        # monitors in none) numbered from 1 in page order, each group followed
        # by its members, numbered from 1 within it.
        self.components = []
        top = 0
        for section in overview.page_sections(monitors):
            if section.group is None:
                for monitor in section.monitors:
                    top += 1
                    self.components.append(self.component_dict(monitor, top))
                continue
            top += 1
            self.components.append(self.group_dict(section, top))
            self.components.extend(
                self.component_dict(monitor, position)
                for position, monitor in enumerate(section.monitors, start=1)
            )
        self._components_by_id = {
            component["id"]: component for component in self.components if not component["group"]
        }
        self._statuses_while_open = {}

    def component_dict(self, monitor, position):
        stamp = self.page.stamp
        return {
            "id": monitor.id,
            "name": monitor.name,
            "status": COMPONENT_STATUSES[overview.monitor_state(monitor)],
            "created_at": stamp(monitor.created_at),
            "updated_at": stamp(monitor.updated_at),
            "position": position,
            "description": monitor.description,
            "showcase": True,
            "start_date": monitor.created_at.astimezone(ZoneInfo(self.page.time_zone))
            .date()
            .isoformat(),
            "group_id": monitor.group_id,
            "page_id": self.page.id,
            "group": False,
            "only_show_if_degraded": False,
        }

    def group_dict(self, section, position):
        """A group as Statuspage's group component: ``group: true``, its
        members' ids in ``components``, the worst of their states."""
        stamp, group = self.page.stamp, section.group
        return {
            "id": group.id,
            "name": group.name,
            "status": COMPONENT_STATUSES[section.state],
            "created_at": stamp(group.created_at),
            "updated_at": stamp(group.updated_at),
            "position": position,
            "description": group.description,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page.id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [monitor.id for monitor in section.monitors],
        }

    def affected_components(self, incident):
        return [
            self._components_by_id[monitor_id]
            for monitor_id in incident.monitor_ids
            if monitor_id in self._components_by_id
        ]

    def impact(self, incident):
        """At least ``minor`` (an open incident makes the page degraded);
        worse when a monitor it names is degraded or down: for an open
        incident now, for a resolved one while it was open."""
        if incident.resolved_at is not None:
            statuses = self._statuses_while_open.get(incident.id, ())
        else:
            statuses = [c["status"] for c in self.affected_components(incident)]
        return worst_impact(COMPONENT_IMPACTS.get(status, "none") for status in statuses)

    def remember_history(self, incidents):
        """Read, in two queries, the states the monitors of the resolved
        ``incidents`` went through while each was open, so that their impact
        does not change with what the monitors do afterwards: each monitor's
        state when the incident started, and every state it moved to until
        the incident was resolved."""
        resolved = {i.id: i for i in incidents if i.resolved_at is not None and i.monitor_ids}
        if not resolved:
            return
        later_changes = MonitorStatusChange.objects.filter(
            monitor_id=OuterRef("monitor_id"), created_at__gte=OuterRef("incident__started_at")
        ).order_by("created_at", "id")
        # A monitor's state at a moment is what its next change moved it from
        # (or, without a later change, its state now).
        at_start = IncidentMonitor.objects.filter(incident_id__in=resolved).values_list(
            "incident_id",
            Coalesce(Subquery(later_changes.values("from_status")[:1]), "monitor__status"),
        )
        during = Q()
        for incident in resolved.values():
            during |= Q(
                monitor_id__in=incident.monitor_ids,
                created_at__gte=incident.started_at,
                created_at__lte=incident.resolved_at,
            )
        changes = MonitorStatusChange.objects.filter(during).values_list(
            "monitor_id", "to_status", "created_at"
        )
        statuses = {incident_id: set() for incident_id in resolved}
        for incident_id, status in at_start:
            statuses[incident_id].add(status)
        for monitor_id, status, at in changes:
            for incident in resolved.values():
                if (
                    monitor_id in incident.monitor_ids
                    and incident.started_at <= at <= incident.resolved_at
                ):
                    statuses[incident.id].add(status)
        self._statuses_while_open = {
            incident_id: [COMPONENT_STATUSES[status] for status in found]
            for incident_id, found in statuses.items()
        }

    def incident_dict(self, incident):
        stamp = self.page.stamp
        timeline = incident.timeline()
        monitoring = [update for update in timeline if update.status == Incident.MONITORING]
        return {
            "id": incident.id,
            "name": incident.title,
            "status": incident.status,
            "impact": self.impact(incident),
            "created_at": stamp(incident.created_at),
            "updated_at": stamp(incident.updated_at),
            "started_at": stamp(incident.started_at),
            "monitoring_at": stamp(monitoring[-1].created_at) if monitoring else None,
            "resolved_at": stamp(incident.resolved_at),
            "shortlink": self.page.shortlink(incident),
            "page_id": self.page.id,
            "incident_updates": [
                self.update_dict(incident, update, update.status) for update in reversed(timeline)
            ],
            "components": self.affected_components(incident),
        }

    def maintenance_dict(self, incident):
        """A maintenance window as a scheduled maintenance. Its status follows
        the clock (scheduled, in progress, completed) as the window's does, or
        is cancelled; each update's is what the window was doing then."""
        window = incident.window
        stamp = self.page.stamp
        state = MAINTENANCE_STATUSES[incident.window_state(self.now)]
        timeline = incident.timeline()
        resolved_at = incident.resolved_at
        if resolved_at is None and state == "completed":
            resolved_at = window.scheduled_end  # over by the clock
        return {
            "id": incident.id,
            "name": incident.title,
            "status": state,
            "impact": "maintenance",
            "created_at": stamp(incident.created_at),
            "updated_at": stamp(incident.updated_at),
            "started_at": stamp(incident.started_at),
            "monitoring_at": None,
            "resolved_at": stamp(resolved_at),
            "scheduled_for": stamp(window.scheduled_start),
            "scheduled_until": stamp(window.scheduled_end),
            "shortlink": self.page.shortlink(incident),
            "page_id": self.page.id,
            "incident_updates": [
                self.update_dict(
                    incident, update, MAINTENANCE_STATUSES[incident.window_state_at(update)]
                )
                for update in reversed(timeline)
            ],
            "components": self.affected_components(incident),
        }

    def update_dict(self, incident, update, status):
        stamp = self.page.stamp
        return {
            "id": update.id,
            "status": status,
            "body": update.message,
            "incident_id": incident.id,
            "created_at": stamp(update.created_at),
            "updated_at": stamp(update.created_at),  # updates are never edited
            "display_at": stamp(update.created_at),
            # We do not record component changes per update; the incident's
            # ``components`` lists what it affects.
            "affected_components": None,
        }
