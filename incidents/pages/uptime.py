"""Uptime as the pages show it: a bar per day with its words, and the
percentages (the numbers are incidents/uptime/history.py's)."""

from dataclasses import dataclass
from functools import lru_cache

from django.utils.html import escape
from django.utils.safestring import mark_safe

from incidents.uptime import history
from incidents.uptime.history import percent

# A bar's state in words: read without colour, and by screen readers.
BAR_LABELS = {
    history.OPERATIONAL: "Operational",
    history.DEGRADED: "Degraded performance",
    history.DOWN: "Outage",
    history.MAINTENANCE: "Maintenance",
    history.NO_DATA: "No data",
}
SHOWN_DAYS = 90
PHONE_DAYS = 30  # static/incidents/status.css hides the others on a narrow screen


def minutes(seconds):
    count = -(-seconds // 60)
    return "1 minute" if count == 1 else f"{count} minutes"


@lru_cache(maxsize=1024)
def date_label(value, is_today):
    return f"{value.day} {value:%b %Y}" + (" (today, so far)" if is_today else "")


def day_label(day):
    return date_label(day.date, day.is_today)


def bar_text(day):
    """What one bar says: date, uptime, downtime and the day's incidents."""
    parts = [f"{day_label(day)}: {BAR_LABELS[day.worst]}."]
    if day.uptime is not None:
        parts.append(f"{percent(day.uptime)} uptime, {minutes(day.down)} down.")
    elif day.maintenance:
        parts.append("Under maintenance.")
    else:
        parts.append("No data.")
    if day.maintenance and day.uptime is not None:
        parts.append(f"{minutes(day.maintenance)} of maintenance.")
    if day.incidents:
        parts.append("Incidents: " + "; ".join(title for _id, title in day.incidents) + ".")
    return " ".join(parts)


@dataclass
class Bar:
    state: str
    text: str
    incidents: list


@dataclass
class Strip:
    """A monitor's bars, oldest first, and the uptime over them."""

    bars: list
    days: int
    total: str
    total_ratio: float | None

    @classmethod
    def of(cls, days):
        ratio = history.Day.total(days).uptime
        return cls(
            bars=[Bar(day.worst, bar_text(day), day.incidents) for day in days],
            days=len(days),
            total=percent(ratio),
            total_ratio=ratio,
        )

    @property
    def bars_html(self):
        """The bars as list items, escaped here: 90 × 50 of them through the
        template language would cost more than the rest of the page."""
        return mark_safe(  # noqa: S308 (every piece of text is escaped)
            "".join(
                f'<li class="bar-{bar.state}" tabindex="0"><span>{escape(bar.text)}</span></li>'
                for bar in self.bars
            )
        )


def strips(monitors, now, days=SHOWN_DAYS):
    """monitor id -> Strip, and the moment the clock alone changes them."""
    found = history.history(monitors, days, now, with_incidents=True)
    valid_until = history.next_day_boundary(now)
    if history.shown_numbers_move(found, monitors):
        valid_until = min(valid_until, history.refresh_bound(now))
    return {monitor_id: Strip.of(days) for monitor_id, days in found.items()}, valid_until
