"""Uptime history: seconds per day in each state, exact, from the recorded
transitions and the maintenance windows (CONTRACT "Uptime").

- Days are calendar days in the page's time zone (the page settings', else
  PAGE_TIME_ZONE): a DST day
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
import threading
from bisect import bisect_right
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import formats, timezone
from django.utils.translation import get_language, pgettext

from incidents.appearance.page import page_settings
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
    """The page's time zone: the admin's (page settings), else PAGE_TIME_ZONE."""
    return ZoneInfo(page_settings().time_zone)


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


def percent(ratio, language=None):
    """How a page writes an uptime, in ``language`` (the active one):
    ``99.95 %``, ``99,95 %`` in German (never rounded up to 100). The API's
    numbers are the ratios themselves, untouched."""
    if ratio is None:
        return pgettext("uptime", "no data")
    hundredths = int(ratio * 10_000)  # floor: 99.999 % is not 100 %
    return _percent(hundredths, language or get_language())


@lru_cache(maxsize=4096)
def _percent(hundredths, language):
    """The words for ``hundredths`` / 100 %, once per value and language (a
    page writes hundreds of them)."""
    number = formats.number_format(Decimal(hundredths) / 100, decimal_pos=2, use_l10n=True)
    return pgettext("uptime", "%(number)s %%") % {"number": number}


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


def _span(days, now, zone):
    """The last ``days`` dates (oldest first, today last) and their bounds."""
    today = local_date(now, zone)
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    return dates, {day: day_bounds(day, zone) for day in dates}


def history(monitors, days=DEFAULT_DAYS, now=None, *, with_incidents=False, store=True):
    """monitor id -> its last ``days`` days (oldest first, today last).

    Closed days come from the roll-ups (computed and stored where missing or
    out of date); today is computed from its transitions. A fixed number of
    queries for any number of monitors and any length of history."""
    monitors = list(monitors)
    if not monitors:
        return {}
    zone = page_zone()
    now = whole_seconds(now or timezone.now())
    dates, bounds = _span(days, now, zone)
    ids = [monitor.id for monitor in monitors]
    windows = window_intervals(ids, bounds[dates[0]][0], now)
    computed = _compute(monitors, dates, bounds, now, zone, windows, store=store)
    result = {
        monitor_id: [by_day[day] for day in dates]
        for monitor_id, (by_day, _state, _moves) in computed.items()
    }
    if with_incidents:
        _add_incidents(result, ids, dates, bounds, now)
    return result


def _compute(monitors, dates, bounds, now, zone, windows, *, store):
    """monitor id -> ({date: Day}, its state at today's start, today's
    transitions as (moment, new state)): closed days from the roll-ups,
    computed from the transitions (and stored) where missing or out of date,
    and today. Two queries for any number of monitors."""
    from incidents.uptime.models import UptimeDay

    today = dates[-1]
    today_start = bounds[today][0]
    ids = [monitor.id for monitor in monitors]
    stored = {}
    if len(dates) > 1:
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
    found = {}
    for monitor in monitors:
        created_at = whole_seconds(monitor.created_at)
        monitor_windows = windows.get(monitor.id, [])
        moves = transitions[monitor.id]
        # The state before the first transition fetched is where it started.
        state = moves[0][1] if moves else monitor.status
        index = 0
        for day in [*to_compute.get(monitor.id, []), today]:
            start, end = bounds[day]
            while index < len(moves) and moves[index][0] < start:
                state = moves[index][2]
                index += 1
            last = index
            while last < len(moves) and moves[last][0] < end:
                last += 1
            day_moves = tuple((at, to) for at, _from, to in moves[index:last])
            computed = Day(date=day, is_today=day == today)
            measure(
                start,
                min(end, now),
                created_at=created_at,
                state=state,
                transitions=[(at, to) for at, to in day_moves if at < now],
                windows=monitor_windows,
                into=computed,
            )
            result[monitor.id][day] = computed
            if day == today:
                found[monitor.id] = (result[monitor.id], state, day_moves)
            else:
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
    return found


def _add_incidents(result, ids, dates, bounds, now):
    """Give each day of ``result`` (monitor id -> days) the ordinary
    incidents of that monitor open at some moment of it. One query; a day
    with incidents is replaced by a copy (days may be shared: see Closed)."""
    touching = day_incidents(ids, bounds[dates[0]][0], now)
    for monitor_id, items in touching.items():
        days = result[monitor_id]
        starts = [bounds[day.date][0] for day in days]
        ends = [bounds[day.date][1] for day in days]
        shown = {}  # day index -> (id, title) of its incidents, in the query's order
        for started, resolved, incident_id, title in items:
            # The days it was open in: each ending after it started and
            # starting no later than it was resolved (days are in order).
            first = bisect_right(ends, started)
            last = len(days) if resolved is None else bisect_right(starts, resolved)
            for index in range(first, last):
                shown.setdefault(index, []).append((incident_id, title))
        for index, incidents in shown.items():
            days[index] = replace(days[index], incidents=incidents)


# --- Closed days kept (the status page) --------------------------------------------------
#
# The status page is rendered again after every write it shows — an
# incident's update as much as a monitor's transition — and reading 90 days
# of 50 monitors again costs far more than the rest of the page. A monitor's
# closed days follow from exactly: the monitor (its id, when it was created,
# its status where no transition says more), its transitions, the windows
# covering it, the page's zone and the dates shown. Each monitor's closed days
# are kept in this process under those, with its newest transition's id
# standing for its transitions: one query reads the versions of all monitors
# (an index lookup each), and only a monitor whose version, windows or dates
# moved is read again. A transition is never recorded without a new id (a
# backfill dated in a closed day included), a monitor deleted and created
# again has its transitions deleted with it, and the ids of one monitor's
# transitions grow in commit order (Monitor.change holds the monitor's row),
# so a kept copy is never stale: any change is another key, on the very next
# request of every process. Today is computed on every read, from its
# transitions kept with the closed days (they are under the same version).

KEPT_MONITORS = 1000  # about 15 KB each (90 days): a page of 1,000 monitors

# Monitors whose closed days were read again (not found kept), for tests.
READ = Counter()

_kept_lock = threading.Lock()
_kept = OrderedDict()


@dataclass(frozen=True, slots=True, eq=False)
class Closed:
    """One monitor's closed days as kept: shared by every request that reads
    them, never changed (a day given incidents is a copy)."""

    days: tuple  # Day, oldest first
    total: Day  # their sum
    digest: bytes  # what they are, as a short key (the pages' kept rows)
    today_state: str  # the monitor's state at the start of today
    today_moves: tuple  # (moment, new state) of today's transitions, oldest first

    @classmethod
    def of(cls, days, today_state, today_moves):
        numbers = repr(
            [
                (day.date, day.operational, day.degraded, day.down, day.maintenance, day.no_data)
                for day in days
            ]
        )
        return cls(
            days=tuple(days),
            total=Day.total(days),
            digest=hashlib.blake2b(numbers.encode(), digest_size=16).digest(),
            today_state=today_state,
            today_moves=today_moves,
        )


def transition_versions(monitor_ids):
    """monitor id -> the id of its newest transition (None: none yet). One
    query, an index lookup per monitor, however long the history."""
    newest = MonitorStatusChange.objects.filter(monitor=OuterRef("pk")).order_by("-id")
    return dict(
        Monitor.objects.filter(pk__in=monitor_ids)
        .annotate(newest=Subquery(newest.values("id")[:1]))
        .order_by()
        .values_list("pk", "newest")
    )


def kept_history(monitors, days=DEFAULT_DAYS, now=None):
    """``history(monitors, days, now, with_incidents=True)``, each monitor's
    closed days kept in this process (above): monitor id -> (its days, oldest
    first and today last; its ``Closed``). Three queries when nothing the
    closed days are made of changed, whatever the number of monitors and
    days; the roll-ups and transitions of the monitors whose did."""
    monitors = list(monitors)
    if not monitors:
        return {}
    zone = page_zone()
    now = whole_seconds(now or timezone.now())
    ids = [monitor.id for monitor in monitors]
    # Read before what the days are made of (as the content generation is
    # read before a page's data): a transition recorded in between is a newer
    # version on the next read, never older days kept under a newer version.
    versions = transition_versions(ids)
    dates, bounds = _span(days, now, zone)
    windows = window_intervals(ids, bounds[dates[0]][0], now)
    keys = {
        monitor.id: (
            monitor.id,
            whole_seconds(monitor.created_at),
            monitor.status,
            versions.get(monitor.id),
            str(zone),
            dates[0],
            dates[-1],
            tuple(windows.get(monitor.id, ())),
        )
        for monitor in monitors
    }
    with _kept_lock:
        found = {}
        for key in keys.values():
            closed = _kept.get(key)
            if closed is not None:
                _kept.move_to_end(key)
                found[key] = closed
    missing = [monitor for monitor in monitors if keys[monitor.id] not in found]
    if missing:
        READ["monitors"] += len(missing)
        computed = _compute(missing, dates, bounds, now, zone, windows, store=True)
        new = {}
        for monitor in missing:
            by_day, today_state, today_moves = computed[monitor.id]
            days_ = [by_day[day] for day in dates[:-1]]
            new[keys[monitor.id]] = Closed.of(days_, today_state, today_moves)
        with _kept_lock:
            _kept.update(new)
            while len(_kept) > KEPT_MONITORS:
                _kept.popitem(last=False)
        found.update(new)

    today = dates[-1]
    start, end = bounds[today]
    result = {}
    for monitor in monitors:
        closed = found[keys[monitor.id]]
        today_day = Day(date=today, is_today=True)
        measure(
            start,
            min(end, now),
            created_at=whole_seconds(monitor.created_at),
            state=closed.today_state,
            transitions=[(at, to) for at, to in closed.today_moves if at < now],
            windows=windows.get(monitor.id, []),
            into=today_day,
        )
        result[monitor.id] = [*closed.days, today_day]
    _add_incidents(result, ids, dates, bounds, now)
    return {monitor_id: (days_, found[keys[monitor_id]]) for monitor_id, days_ in result.items()}


def forget_kept():
    """Drop every kept monitor's days (tests: their database is rolled back
    under this process's feet, which a server's never is)."""
    with _kept_lock:
        _kept.clear()


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
    a monitor down now (its downtime grows), one under maintenance now (its
    minutes of maintenance today grow), or any downtime in the days shown
    (percentages move as up-time accrues)."""
    if any(m.is_in_maintenance() or m.status == DOWN for m in monitors):
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
