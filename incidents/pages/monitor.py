"""``/monitors/<id>/``: one monitor's state, uptime over 24 hours and 7, 30, 90
and 365 days, its bars, its response times (a checked monitor) and the
incidents and windows that named it. Server-rendered SVG, no script."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Avg, Count
from django.db.models.functions import TruncHour

from incidents.models import CheckHourly, CheckResult, Incident
from incidents.uptime import history
from incidents.uptime.history import percent

PERIODS = [("24 hours", None), ("7 days", 7), ("30 days", 30), ("90 days", 90), ("365 days", 365)]
RECENT_INCIDENTS = 50
CHART_WIDTH = 720
CHART_HEIGHT = 160
CHART_PAD = 4
DAY_BUCKET = timedelta(minutes=15)  # the 24-hour chart: one point per quarter hour


def uptime_periods(monitor, days, now):
    """[(label, "99.95 %")] for 24 h and the day spans, from 365 days read once."""
    found = []
    for label, count in PERIODS:
        total = (
            history.rolling(monitor, timedelta(hours=24), now)
            if count is None
            else history.Day.total(days[-count:])
        )
        found.append((label, percent(total.uptime)))
    return found


@dataclass
class Chart:
    """A response-time line as SVG points, with its words."""

    title: str
    points: str
    summary: str
    peak_ms: int

    @classmethod
    def of(cls, title, samples, start, end, values=None):
        """``samples``: [(moment, milliseconds)] between ``start`` and ``end``,
        drawn; ``values`` (the samples' own by default): what the words say."""
        samples = [(at, ms) for at, ms in samples if ms is not None]
        if not samples:
            return cls(title, "", "No response times recorded.", 0)
        peak = max(ms for _at, ms in samples) or 1
        span = (end - start).total_seconds() or 1
        width, height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
        points = " ".join(
            f"{CHART_PAD + (at - start).total_seconds() / span * width:.1f},"
            f"{CHART_HEIGHT - CHART_PAD - ms / peak * height:.1f}"
            for at, ms in sorted(samples)
        )
        values = sorted(values or [ms for _at, ms in samples])
        median = values[len(values) // 2]
        summary = (
            f"median {median:.0f} ms, fastest {values[0]:.0f} ms, slowest {values[-1]:.0f} ms."
        )
        return cls(title, points, summary, round(peak))


def quarter(moment):
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def response_charts(monitor, now):
    """The last 24 hours (results, per quarter hour) and the last 30 days (per
    hour: results averaged in the database, older hours from their hourly
    aggregates). A fixed number of queries."""
    day_start = now - timedelta(hours=24)
    buckets = {}
    rows = list(
        CheckResult.objects.filter(
            monitor_id=monitor.id, checked_at__gte=day_start, response_time_ms__isnull=False
        ).values_list("checked_at", "response_time_ms")
    )
    for at, ms in rows:
        buckets.setdefault(quarter(at), []).append(ms)
    day = [(at, sum(values) / len(values)) for at, values in buckets.items()]

    month_start = now - timedelta(days=30)
    hours = dict(
        CheckHourly.objects.filter(monitor_id=monitor.id, hour__gte=month_start).values_list(
            "hour", "p50_ms"
        )
    )
    averaged = (
        CheckResult.objects.filter(
            monitor_id=monitor.id, checked_at__gte=month_start, response_time_ms__isnull=False
        )
        .annotate(hour=TruncHour("checked_at"))
        .values("hour")
        .annotate(ms=Avg("response_time_ms"), n=Count("id"))
        .values_list("hour", "ms")
    )
    hours.update(dict(averaged))
    return [
        Chart.of("Last 24 hours", day, day_start, now, [ms for _at, ms in rows]),
        Chart.of("Last 30 days", list(hours.items()), month_start, now),
    ]


def touching_incidents(monitor_id):
    """The incidents and windows that named the monitor, newest first."""
    return list(
        Incident.objects.for_monitor(monitor_id)
        .select_related("maintenance_window")
        .newest_first()[:RECENT_INCIDENTS]
    )
