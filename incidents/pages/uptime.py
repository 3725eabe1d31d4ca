"""Uptime as the pages show it: a bar per day with its words, and the
percentages (the numbers are incidents/uptime/history.py's)."""

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from django.utils import dateformat
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from incidents import languages
from incidents.uptime import history
from incidents.uptime.history import percent

# A bar's state in words: read without colour, and by screen readers.
BAR_LABELS = {
    history.OPERATIONAL: _("Operational"),
    history.DEGRADED: _("Degraded performance"),
    history.DOWN: _("Outage"),
    history.MAINTENANCE: _("Maintenance"),
    history.NO_DATA: _("No data"),
}
SHOWN_DAYS = 90
PHONE_DAYS = 30  # static/incidents/status.css hides the others on a narrow screen


def minutes(seconds):
    """Whole minutes, a started one counted."""
    return -(-seconds // 60)


@lru_cache(maxsize=16)
def _words(language):
    """The bars' fixed words in ``language`` (the active one), looked up once:
    a page writes thousands of bars, and each lookup costs."""
    return {
        "states": {state: str(label) for state, label in BAR_LABELS.items()},
        "headline": gettext("%(day)s: %(state)s."),
        "under maintenance": gettext("Under maintenance."),
        "no data": gettext("No data."),
        "incidents": gettext("Incidents: %(titles)s."),
    }


@lru_cache(maxsize=4096)
def _counted(language, kind, count):
    """A bar's sentence with ``count`` minutes down or of maintenance (``kind``)
    in ``language`` (the active one), looked up once per count."""
    if kind == "down":
        return ngettext(
            "%(uptime)s uptime, %(minutes)s minute down.",
            "%(uptime)s uptime, %(minutes)s minutes down.",
            count,
        )
    return ngettext(
        "%(minutes)s minute of maintenance.", "%(minutes)s minutes of maintenance.", count
    )


@lru_cache(maxsize=1024)
def date_label(value, is_today, language):
    """A bar's day in ``language`` (the active one): "10 May 2026"."""
    day = dateformat.format(value, languages.date_format("day"))
    if is_today:
        return gettext("%(day)s (today, so far)") % {"day": day}
    return day


def day_label(day):
    return date_label(day.date, day.is_today, get_language())


def bar_text(day, language=None):
    """What one bar says, in ``language`` (the active one): date, uptime,
    downtime and the day's incidents."""
    language = language or get_language()
    words = _words(language)
    day_words = date_label(day.date, day.is_today, language)
    parts = [words["headline"] % {"day": day_words, "state": words["states"][day.worst]}]
    uptime = day.uptime
    if uptime is not None:
        down = minutes(day.down)
        parts.append(
            _counted(language, "down", down)
            % {"uptime": percent(uptime, language), "minutes": down}
        )
    elif day.maintenance:
        parts.append(words["under maintenance"])
    else:
        parts.append(words["no data"])
    if day.maintenance and uptime is not None:
        maintenance = minutes(day.maintenance)
        parts.append(_counted(language, "maintenance", maintenance) % {"minutes": maintenance})
    if day.incidents:
        titles = "; ".join(title for _id, title in day.incidents)
        parts.append(words["incidents"] % {"titles": titles})
    # Sentences are spaced, but not after a full-width stop (Japanese "。").
    return " ".join(parts).replace("。 ", "。")


@dataclass
class Bar:
    state: str
    text: str
    incidents: list


@dataclass
class Strip:
    """A monitor's bars, oldest first, and the uptime over them. The bars'
    words are written when first shown: a page whose row is kept
    (incidents/pages/fragments.py) needs only ``key``."""

    history: list  # the Days, oldest first
    days: int
    total_ratio: float | None
    closed: history.Closed | None = None  # the closed days, as kept (status page)
    # language -> its bars: a strip kept across requests (the status page's
    # systems data) is shown in every language offered.
    _bars: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, days, closed=None):
        """``closed``: the closed days among ``days`` (all but today), as
        history.kept_history keeps them: their sum and key are theirs."""
        total = history.Day.total([closed.total, days[-1]] if closed else days)
        ratio = total.uptime
        return cls(history=list(days), days=len(days), total_ratio=ratio, closed=closed)

    @property
    def total(self):
        """The uptime over the strip's days, as the active language writes it."""
        return percent(self.total_ratio)

    @property
    def _total_shown(self):
        """What ``total`` shows, in no language: hundredths of a percent."""
        return None if self.total_ratio is None else int(self.total_ratio * 10_000)

    @staticmethod
    def _shown(day):
        return (
            day.date,
            day.is_today,
            day.worst,
            None if day.uptime is None else int(day.uptime * 10_000),
            minutes(day.down),
            minutes(day.maintenance),
            tuple(day.incidents),
        )

    @cached_property
    def key(self):
        """What the bars and the legend show (the language aside): not the
        seconds, which grow every second today while the words stay. Kept
        closed days stand for themselves by their digest (their numbers),
        with the incidents of the days that have any."""
        if self.closed is not None:
            return (
                self.days,
                self._total_shown,
                self.closed.digest,
                tuple((day.date, tuple(day.incidents)) for day in self.history if day.incidents),
                self._shown(self.history[-1]),
            )
        return (
            self.days,
            self._total_shown,
            tuple(self._shown(day) for day in self.history),
        )

    @property
    def bars(self):
        """The bars in the active language, written once per language."""
        language = get_language()
        found = self._bars.get(language)
        if found is None:
            found = [Bar(day.worst, bar_text(day, language), day.incidents) for day in self.history]
            self._bars[language] = found
        return found

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
    """monitor id -> Strip, and the moment the clock alone changes them. The
    closed days are the ones this process keeps (history.kept_history): a
    write that changed none of them reads none of them again."""
    found = history.kept_history(monitors, days, now)
    shown = {monitor_id: Strip.of(days, closed) for monitor_id, (days, closed) in found.items()}
    valid_until = history.next_day_boundary(now)
    if history.shown_numbers_move(
        {monitor_id: [closed.total, days[-1]] for monitor_id, (days, closed) in found.items()},
        monitors,
    ):
        valid_until = min(valid_until, history.refresh_bound(now))
    return shown, valid_until
