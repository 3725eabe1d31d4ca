"""Uptime history: seconds per day in each state, exact, from the recorded
transitions and the maintenance windows (CONTRACT "Uptime").

- Days are calendar days in the page's time zone (PAGE_TIME_ZONE): a DST day
  has 23 or 25 hours; today is counted up to now.
- Before the monitor existed: no data. Under an active window covering the
  monitor (from its start to its scheduled end, or to when it was resolved if
  sooner): maintenance, whatever the state. Otherwise the monitor's state.
- ``uptime`` = (operational + degraded) / (operational + degraded + down),
  None when that is 0.

Closed days come from ``UptimeDay`` roll-ups, written the first time a day is
needed (or by the worker's duty, just after midnight) and computed again when
what they were made from changed; today is computed from today's transitions.
Reading N monitors × D days therefore costs a fixed number of queries, however
long their history.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import IncidentMonitor, Monitor, MonitorStatusChange

logger = logging.getLogger(__name__)

OPERATIONAL = Monitor.OPERATIONAL
DEGRADED = Monitor.DEGRADED
DOWN = Monitor.DOWN
MAINTENANCE = "maintenance"
NO_DATA = "noData"
# The order of a day's fields, and the worst first (a bar's colour).
STATES = (OPERATIONAL, DEGRADED, DOWN, MAINTENANCE, NO_DATA)
WORST_FIRST = (DOWN, DEGRADED, MAINTENANCE, OPERATIONAL, NO_DATA)

# UptimeDay's seconds, in the order of Day's fields.
STORED_FIELDS = (
    "operational_seconds",
    "degraded_seconds",
    "down_seconds",
    "maintenance_seconds",
    "no_data_seconds",
)
DEFAULT_DAYS = 90
MAX_DAYS = 365


def page_zone():
    return ZoneInfo(settings.KAMUSTATUS_TIME_ZONE)


def whole_seconds(moment):
    return moment.astimezone(UTC).replace(microsecond=0)


def local_date(moment, zone=None):
    return moment.astimezone(zone or page_zone()).date()


def day_bounds(day, zone=None):
    """[start, end) of a calendar day in the zone, in UTC (23, 24 or 25 h)."""
    zone = zone or page_zone()
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def next_day_boundary(now, zone=None):
    """The next midnight in the page's zone: when every bar moves one day."""
    zone = zone or page_zone()
    return day_bounds(local_date(now, zone), zone)[1]


@dataclass(slots=True)
class Day:
    """One day (or a span) of one monitor: seconds in each state."""

    date: date | None
    operational: int = 0
    degraded: int = 0
    down: int = 0
    maintenance: int = 0
    no_data: int = 0
    incidents: list = field(default_factory=list)  # (id, title) of the day's incidents
    is_today: bool = False

    def add(self, state, seconds):
        attribute = "no_data" if state == NO_DATA else state
        setattr(self, attribute, getattr(self, attribute) + seconds)

    def seconds(self, state):
        return getattr(self, "no_data" if state == NO_DATA else state)

    @property
    def measured(self):
        return self.operational + self.degraded + self.down

    @property
    def uptime(self):
        return uptime_ratio(self.operational + self.degraded, self.measured)

    @property
    def worst(self):
        """The state a bar is coloured by: the worst seen that day."""
        if self.down:
            return DOWN
        if self.degraded:
            return DEGRADED
        if self.maintenance:
            return MAINTENANCE
        return OPERATIONAL if self.operational else NO_DATA

    @property
    def down_minutes(self):
        return -(-self.down // 60)  # a second down shows as a minute

    def to_dict(self):
        return {
            "date": self.date.isoformat(),
            "operationalSeconds": self.operational,
            "degradedSeconds": self.degraded,
            "downSeconds": self.down,
            "maintenanceSeconds": self.maintenance,
            "noDataSeconds": self.no_data,
            "uptime": self.uptime,
        }

    @classmethod
    def total(cls, days):
        """The sum of some days (their top-level uptime)."""
        days = list(days)
        return cls(
            date=None,
            operational=sum(day.operational for day in days),
            degraded=sum(day.degraded for day in days),
            down=sum(day.down for day in days),
            maintenance=sum(day.maintenance for day in days),
            no_data=sum(day.no_data for day in days),
        )


def uptime_ratio(up, measured):
    return up / measured if measured else None


def percent(ratio):
    """How a page writes an uptime: ``99.95 %`` (never rounded up to 100)."""
    if ratio is None:
        return "no data"
    hundredths = int(ratio * 10_000)  # floor: 99.999 % is not 100 %
    return f"{hundredths // 100}.{hundredths % 100:02d} %"


# --- Measuring a span ---------------------------------------------------------------


def merged(intervals):
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def measure(start, end, *, created_at, state, transitions, windows, into):
    """Add to ``into`` the seconds of [start, end) in each state.

    ``state`` is the monitor's state just before ``start``; ``transitions``
    the (moment, new state) pairs in [start, end), oldest first; ``windows``
    the merged maintenance intervals covering the monitor."""
    if end <= start:
        return state
    edges = {start, end}
    edges.update(at for at, _to in transitions)
    if start < created_at < end:
        edges.add(created_at)
    for window_start, window_end in windows:
        for edge in (window_start, window_end):
            if start < edge < end:
                edges.add(edge)
    index = 0
    for left, right in pairwise(sorted(edges)):
        while index < len(transitions) and transitions[index][0] <= left:
            state = transitions[index][1]
            index += 1
        if right <= created_at:
            shown = NO_DATA
        elif any(ws <= left < we for ws, we in windows):
            shown = MAINTENANCE
        else:
            shown = state
        into.add(shown, int((right - left).total_seconds()))
    for _at, to in transitions[index:]:
        state = to
    return state


# --- What the days are made of ----------------------------------------------------


def window_intervals(monitor_ids, since, until):
    """monitor id -> merged [start, end) of the windows covering it between
    ``since`` and ``until``: from the start to the scheduled end, or to when
    the window was resolved if sooner (a cancelled one covers nothing). One
    query."""
    links = IncidentMonitor.objects.filter(
        monitor_id__in=monitor_ids,
        incident__maintenance_window__scheduled_end__gt=since,
        incident__maintenance_window__scheduled_start__lt=until,
    ).values_list(
        "monitor_id",
        "incident__maintenance_window__scheduled_start",
        "incident__maintenance_window__scheduled_end",
        "incident__resolved_at",
    )
    found = {}
    for monitor_id, start, end, resolved_at in links:
        if resolved_at is not None:
            end = min(end, resolved_at)
        start, end = whole_seconds(start), whole_seconds(end)
        if end > start:
            found.setdefault(monitor_id, []).append((start, end))
    return {monitor_id: merged(intervals) for monitor_id, intervals in found.items()}


def transitions_since(starts):
    """monitor id -> [(moment, from, to)] oldest first, for each monitor from
    its own start (``starts``: monitor id -> moment). One query."""
    by_start = {}
    for monitor_id, start in starts.items():
        by_start.setdefault(start, []).append(monitor_id)
    condition = Q()
    for start, ids in by_start.items():
        condition |= Q(monitor_id__in=ids, created_at__gte=start)
    found = {monitor_id: [] for monitor_id in starts}
    if not starts:
        return found
    rows = (
        MonitorStatusChange.objects.filter(condition)
        .order_by("monitor_id", "created_at", "id")
        .values_list("monitor_id", "created_at", "from_status", "to_status")
    )
    for monitor_id, at, from_status, to_status in rows:
        found[monitor_id].append((whole_seconds(at), from_status, to_status))
    return found


def day_incidents(monitor_ids, since, until):
    """monitor id -> [(started, resolved or None, id, title)] of the ordinary
    incidents naming it that were open at some moment in [since, until). One
    query."""
    links = (
        IncidentMonitor.objects.filter(
            monitor_id__in=monitor_ids,
            incident__maintenance_window__isnull=True,
            incident__started_at__lt=until,
        )
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=since))
        .order_by("incident__started_at", "incident_id")
        .values_list(
            "monitor_id",
            "incident__started_at",
            "incident__resolved_at",
            "incident_id",
            "incident__title",
        )
    )
    found = {}
    for monitor_id, started, resolved, incident_id, title in links:
        found.setdefault(monitor_id, []).append((started, resolved, incident_id, title))
    return found


def basis(zone, monitor, day_start, day_end, windows):
    """What a closed day's roll-up was computed from, as a short fingerprint."""
    touching = [
        (max(ws, day_start).isoformat(), min(we, day_end).isoformat())
        for ws, we in windows
        if ws < day_end and we > day_start
    ]
    text = repr((str(zone), whole_seconds(monitor.created_at).isoformat(), touching))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# --- Reading days --------------------------------------------------------------------


def history(monitors, days=DEFAULT_DAYS, now=None, *, with_incidents=False, store=True):
    """monitor id -> its last ``days`` days (oldest first, today last).

    Closed days come from the roll-ups (computed and stored where missing or
    out of date); today is computed from its transitions. A fixed number of
    queries for any number of monitors and any length of history."""
    from incidents.uptime.models import UptimeDay

    monitors = list(monitors)
    zone = page_zone()
    now = whole_seconds(now or timezone.now())
    today = local_date(now, zone)
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    bounds = {day: day_bounds(day, zone) for day in dates}
    first_start = bounds[dates[0]][0]
    today_start = bounds[today][0]
    ids = [monitor.id for monitor in monitors]
    if not ids:
        return {}

    windows = window_intervals(ids, first_start, now)
    stored = {}
    if days > 1:
        rows = UptimeDay.objects.filter(
            monitor_id__in=ids, date__gte=dates[0], date__lt=today
        ).values_list("monitor_id", "date", *STORED_FIELDS, "basis")
        stored = {(row[0], row[1]): row[2:] for row in rows}
    bases = {}

    def basis_of(monitor, start, end, monitor_windows):
        touching = tuple((ws, we) for ws, we in monitor_windows if ws < end and we > start)
        key = (monitor.id, touching and (start, touching))
        if key not in bases:
            bases[key] = basis(zone, monitor, start, end, monitor_windows)
        return bases[key]

    result = {}
    to_compute = {}  # monitor id -> closed dates to compute
    for monitor in monitors:
        created_at = whole_seconds(monitor.created_at)
        monitor_windows = windows.get(monitor.id, [])
        result[monitor.id] = out = {}
        for day in dates[:-1]:
            start, end = bounds[day]
            if end <= created_at:
                out[day] = Day(date=day, no_data=int((end - start).total_seconds()))
                continue
            row = stored.get((monitor.id, day))
            if row is not None and row[5] == basis_of(monitor, start, end, monitor_windows):
                out[day] = Day(day, *row[:5])
            else:
                to_compute.setdefault(monitor.id, []).append(day)

    starts = {monitor.id: today_start for monitor in monitors}
    for monitor_id, wanted in to_compute.items():
        starts[monitor_id] = bounds[wanted[0]][0]
    transitions = transitions_since(starts)
    new_rows = []
    for monitor in monitors:
        created_at = whole_seconds(monitor.created_at)
        monitor_windows = windows.get(monitor.id, [])
        moves = transitions[monitor.id]
        # The state before the first transition fetched is where it started.
        state = moves[0][1] if moves else monitor.status
        index = 0
        wanted = [*to_compute.get(monitor.id, []), today]
        for day in wanted:
            start, end = bounds[day]
            while index < len(moves) and moves[index][0] < start:
                state = moves[index][2]
                index += 1
            last = index
            while last < len(moves) and moves[last][0] < end:
                last += 1
            computed = Day(date=day, is_today=day == today)
            measure(
                start,
                min(end, now),
                created_at=created_at,
                state=state,
                transitions=[(at, to) for at, _from, to in moves[index:last] if at < now],
                windows=monitor_windows,
                into=computed,
            )
            result[monitor.id][day] = computed
            if day != today:
                new_rows.append(
                    UptimeDay(
                        monitor_id=monitor.id,
                        date=day,
                        operational_seconds=computed.operational,
                        degraded_seconds=computed.degraded,
                        down_seconds=computed.down,
                        maintenance_seconds=computed.maintenance,
                        no_data_seconds=computed.no_data,
                        basis=basis_of(monitor, start, end, monitor_windows),
                        computed_at=now,
                    )
                )
    if new_rows and store:
        store_days(new_rows)

    if with_incidents:
        touching = day_incidents(ids, first_start, now)
        for monitor_id, items in touching.items():
            for day in dates:
                start, end = bounds[day]
                result[monitor_id][day].incidents = [
                    (incident_id, title)
                    for started, resolved, incident_id, title in items
                    if started < end and (resolved is None or resolved >= start)
                ]

    return {monitor_id: [by_day[day] for day in dates] for monitor_id, by_day in result.items()}


def store_days(rows):
    """Keep computed days; two renderers may race to it (the last one wins,
    with the same numbers). A failed write costs the next reader a
    recomputation, never an answer."""
    from incidents.uptime.models import UptimeDay

    try:
        with transaction.atomic():
            UptimeDay.objects.bulk_create(
                rows,
                batch_size=500,
                update_conflicts=True,
                unique_fields=["monitor", "date"],
                update_fields=[*STORED_FIELDS, "basis", "computed_at"],
            )
    except DatabaseError:
        logger.warning("could not store %d uptime roll-ups; computed again next time", len(rows))


def rolling(monitor, span, now=None):
    """One Day-like total over the last ``span`` (e.g. 24 hours) up to now."""
    now = whole_seconds(now or timezone.now())
    start = now - span
    windows = window_intervals([monitor.id], start, now).get(monitor.id, [])
    moves = transitions_since({monitor.id: start})[monitor.id]
    total = Day(date=None)
    measure(
        start,
        now,
        created_at=whole_seconds(monitor.created_at),
        state=moves[0][1] if moves else monitor.status,
        transitions=[(at, to) for at, _from, to in moves if at < now],
        windows=windows,
        into=total,
    )
    return total


def shown_numbers_move(days_by_monitor, monitors):
    """Whether what a page shows of these days changes with the clock alone:
    a monitor down now (its downtime grows), or any downtime in the days
    shown (percentages move as up-time accrues)."""
    if any(m.status == DOWN and not m.is_in_maintenance() for m in monitors):
        return True
    return any(day.down for days in days_by_monitor.values() for day in days)


def refresh_bound(now):
    """The latest moment a page showing moving uptime numbers is kept."""
    return now + timedelta(seconds=settings.KAMUSTATUS_UPTIME_REFRESH_SECONDS)


# --- Keeping the roll-ups ------------------------------------------------------------


def close_days(now=None, days=DEFAULT_DAYS):
    """Write the roll-ups every monitor's page will need (after midnight: the
    day just closed). Returns how many monitors were read."""
    monitors = list(Monitor.objects.only("id", "created_at", "status"))
    for start in range(0, len(monitors), 200):
        history(monitors[start : start + 200], days, now)
    return len(monitors)


def rebuild(now=None, days=MAX_DAYS, monitor_ids=None):
    """Forget the roll-ups and compute them again from the transitions."""
    from incidents.uptime.models import UptimeDay

    monitors = Monitor.objects.only("id", "created_at", "status")
    rows = UptimeDay.objects.all()
    if monitor_ids:
        monitors = monitors.filter(pk__in=monitor_ids)
        rows = rows.filter(monitor_id__in=monitor_ids)
    rows.delete()
    monitors = list(monitors)
    for start in range(0, len(monitors), 50):
        history(monitors[start : start + 50], days, now)
    return len(monitors)


def forget_days_after_late_transition(sender, instance, created, **kwargs):
    """A transition dated in a closed day: that day and the later ones are
    computed again (normal transitions are dated now and cost nothing)."""
    from incidents.uptime.models import UptimeDay

    zone = page_zone()
    day = local_date(instance.created_at, zone)
    if day < local_date(timezone.now(), zone):
        UptimeDay.objects.filter(monitor_id=instance.monitor_id, date__gte=day).delete()
