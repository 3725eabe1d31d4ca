"""The public status page, incident permalinks and history.

Each view names its page and says how to build it; incidents/cache/pages.py
serves the stored bytes while nothing the page shows has changed. Builders
render without the request, so nothing per-visitor ends up in a shared copy.
The status page's cards and rows carry a ``key`` (everything they show): its
templates keep each rendered piece under it (incidents/pages/fragments.py).
"""

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

from incidents import languages
from incidents.appearance.page import page_context
from incidents.cache import generation
from incidents.cache.pages import (
    STATUS_PAGE_VARY,
    page_name,
    serve,
    status_page_name,
    wants_live_part,
)
from incidents.cache.store import Rendered
from incidents.models import MONITOR_ID_PATTERN, Incident, Monitor
from incidents.overview import (
    MONITOR_LABELS,
    Overview,
    incident_impact,
    maintenance_lists,
    monitor_state,
    page_updated_at,
    status_label,
)
from incidents.pages import monitor
from incidents.pages.uptime import SHOWN_DAYS, Strip, strips
from incidents.site import absolute
from incidents.uptime import history as uptime_history

# Resolved incidents and finished windows stay on the front page this long.
RECENT_HISTORY = timedelta(days=14)
# ... but no more than this many of them; the rest are on /history/.
RECENT_LIMIT = 30
HISTORY_PAGE_SIZE = 25

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"^(\d{1,20})~(inc_[a-z0-9]{1,36})$")


def earliest(*moments):
    """The first of some moments (None ones ignored), or None."""
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def render_page(template, context, here="/"):
    """A page's bytes; ``here`` is its own address (the language picker
    brings the visitor back to it)."""
    context = {
        **page_context(),
        "here": here,
        "refresh_seconds": settings.KAMUSTATUS_PAGE_REFRESH_SECONDS,
        **context,
    }
    return render_to_string(template, context).encode()


def describe(incident, monitors_by_id, now):
    """What a page shows of one incident or window, its timeline newest first
    (each entry with its label)."""
    monitors = incident.affected_monitors(monitors_by_id)
    updates = []
    for update in reversed(incident.timeline()):
        label = status_label(incident, update)
        # Everything its entry shows (each entry is a kept piece of its own:
        # the card of an incident with a long timeline re-renders only its
        # new entry).
        key = (update.created_at, update.message, str(label))
        updates.append({"update": update, "label": label, "key": key})
    window = incident.window
    item = {
        "incident": incident,
        "updates": updates,
        "monitors": monitors,
        "window": window,
        "window_state": incident.window_state(now),
        "label": status_label(incident, now=now),
        "impact": incident_impact(incident, monitors),
    }
    # Everything its card shows (incidents/pages/fragments.py), labels as words.
    item["key"] = (
        incident.id,
        incident.title,
        incident.status,
        incident.started_at,
        incident.resolved_at,
        (window.scheduled_start, window.scheduled_end) if window else None,
        item["window_state"],
        str(item["label"]),
        item["impact"],
        tuple(monitor.name for monitor in monitors),
        tuple(entry["key"] for entry in updates),
    )
    return item


# --- / ----------------------------------------------------------------------


@dataclass(frozen=True)
class Systems:
    """What the systems section is made of — the monitors in page order (with
    their groups and whether a window covers them) and their bars — and what
    the same writes change of the page's lists: its windows and its recent
    (finished) incidents, each with its timeline. Read at one moment and true
    until ``valid_until`` by the clock alone.

    Only the ongoing incidents are read for every render: an entry on an open
    incident (the one write that leaves the systems token) changes nothing
    here."""

    token: str | None  # the systems token read before them (None: not to be kept)
    monitors: list
    uptime: dict  # monitor id -> Strip
    windows: tuple  # (active, upcoming): Overview.build's ``windows``
    recent: list  # finished within RECENT_HISTORY, newest first, RECENT_LIMIT + 1 at most
    # The first of: a window starting or ending (it changes whether it covers
    # a monitor, and what the page's incident lists hold), the bars moving
    # (at midnight, or within the uptime refresh while numbers move), and the
    # oldest recent item leaving the horizon. While it holds no edge has
    # passed and no window was written (that changes the token), so it is the
    # page's next maintenance edge as well.
    valid_until: datetime | None

    @classmethod
    def read(cls, now, token):
        monitors = list(Monitor.objects.for_status_page(now))
        uptime, uptime_valid_until = strips(monitors, now)
        finished = (
            Incident.objects.finished(now)
            .filter(finished_at__gt=now - RECENT_HISTORY)
            .order_by("-finished_at", "-id")[: RECENT_LIMIT + 1]
        )
        active, upcoming, recent = Incident.objects.timelines(*maintenance_lists(now), finished)
        return cls(
            token=token,
            monitors=monitors,
            uptime=uptime,
            windows=(active, upcoming),
            recent=recent,
            valid_until=earliest(
                Incident.objects.next_maintenance_edge(now),
                uptime_valid_until if monitors else None,
                # (The one past RECENT_LIMIT, if any, leaving takes "more in
                # history" away.)
                recent[-1].finished_at + RECENT_HISTORY if recent else None,
            ),
        )

    def holds(self, now, token):
        return (
            token is not None
            and token == self.token
            and (self.valid_until is None or now < self.valid_until)
        )


# The systems section's data this process read last, kept under the systems
# token (incidents/cache/generation.py): a write that leaves the section alone
# (an entry on an open incident: what a refresh storm is made of) does not
# change the token, and the re-render after it reads only the incidents.
_systems = None
# How many times this process read the systems section's data (tests).
SYSTEMS_READ = Counter()


def systems_for(now):
    """The systems section's data for a page rendered at ``now``: the kept
    copy while the systems token this request read with the generation (before
    any data) is the one it was read under, else read afresh."""
    global _systems
    token = generation.systems_read()
    if generation.systems_missing():
        # Read with the generation and not found: made anew, read before the data.
        token = generation.systems_token()
    if not generation.is_final(token):
        token = None  # nothing kept under a missing or provisional token
    kept = _systems
    if kept is not None and kept.holds(now, token):
        return kept
    SYSTEMS_READ["read"] += 1
    found = Systems.read(now, token)
    if token is not None:
        _systems = found
    return found


def forget_systems():
    """Drop the kept systems data (tests: their database is rolled back under
    this process's feet, which a server's never is)."""
    global _systems
    _systems = None


def status_context(now):
    systems = systems_for(now)
    overview = Overview.build(now, monitors=systems.monitors, windows=systems.windows)
    monitors_by_id = {monitor.id: monitor for monitor in overview.monitors}
    more_in_history = len(systems.recent) > RECENT_LIMIT
    recent = systems.recent[:RECENT_LIMIT]
    uptime = systems.uptime
    # The page changes by the clock alone when a window starts or ends, when
    # the oldest recent item leaves the horizon, and when the uptime bars
    # move (at midnight, or within the uptime refresh while numbers move).
    valid_until = systems.valid_until
    # Each monitor's row, by id: listed in page order, and within its section.
    rows = {
        monitor.id: {
            "monitor": monitor,
            "state": state,
            "label": MONITOR_LABELS[state],
            "uptime": strip,
            # Everything its row shows (incidents/pages/fragments.py).
            "key": (
                monitor.id,
                monitor.name,
                monitor.description,
                state,
                str(MONITOR_LABELS[state]),
                strip.key if strip else None,
            ),
        }
        for monitor in overview.monitors
        for state in [monitor_state(monitor)]
        for strip in [uptime.get(monitor.id)]
    }
    sections = [
        {
            "group": section.group,
            "state": section.state,
            "label": section.label,
            "monitors": [rows[monitor.id] for monitor in section.monitors],
        }
        for section in overview.sections
    ]
    context = {
        "now": now,
        "overview": overview,
        "state": overview.state,
        "state_label": overview.label,
        "updated_at": page_updated_at(now),
        "active_windows": [describe(w, monitors_by_id, now) for w in overview.active_windows],
        "incidents": [describe(i, monitors_by_id, now) for i in overview.ongoing_incidents],
        "monitors": list(rows.values()),
        "sections": sections,
        # Everything the systems section shows: its groups and their rows.
        # After a write to an incident alone it is one kept piece.
        "systems_key": tuple(
            (
                (group.id, group.name, group.description) if (group := section["group"]) else None,
                section["state"],
                str(section["label"]),
                tuple(row["key"] for row in section["monitors"]),
            )
            for section in sections
        ),
        "upcoming_windows": [describe(w, monitors_by_id, now) for w in overview.upcoming_windows],
        "recent": [describe(i, monitors_by_id, now) for i in recent],
        "more_in_history": more_in_history,
        "recent_days": RECENT_HISTORY.days,
    }
    return context, valid_until


@require_safe
def status_page(request):
    live_only = wants_live_part(request)
    template = "incidents/status-page.html" + ("#live" if live_only else "")

    def build(now):
        context, valid_until = status_context(now)
        return Rendered(render_page(template, context), valid_until=valid_until)

    return serve(request, status_page_name(request), build, vary=STATUS_PAGE_VARY)


# --- /incidents/<id>/ ---------------------------------------------------------


@require_safe
def incident_page(request, incident_id):
    def build(now):
        incident = Incident.objects.with_timeline().filter(pk=incident_id).first()
        if incident is None:
            raise Http404("No such incident.")
        monitors = Monitor.objects.filter(pk__in=incident.monitor_ids)
        context = {"item": describe(incident, {m.id: m for m in monitors}, now)}
        return Rendered(
            render_page("incidents/incident.html", context, here=here),
            valid_until=Incident.objects.next_maintenance_edge(now),
        )

    here = reverse("incident-page", args=[incident_id])
    # Only well-formed ids get a stored copy; anything else is a 404 at once.
    if not re.fullmatch(r"inc_[a-z0-9]{1,36}", incident_id):
        raise Http404("No such incident.")
    return serve(request, page_name("incident:" + incident_id), build)


# --- /monitors/<id>/ ------------------------------------------------------------


@require_safe
def monitor_page(request, monitor_id):
    def build(now):
        found = Monitor.objects.with_maintenance(now).filter(pk=monitor_id).first()
        if found is None:
            raise Http404("No such monitor.")
        days = uptime_history.history([found], uptime_history.MAX_DAYS, now, with_incidents=True)[
            found.id
        ]
        strip = Strip.of(days[-SHOWN_DAYS:])
        check = getattr(found, "health_check", None)
        state = monitor_state(found)
        items = monitor.touching_incidents(found.id)
        context = {
            "monitor": found,
            "state": state,
            "label": MONITOR_LABELS[state],
            "periods": monitor.uptime_periods(found, days, now),
            "strip": strip,
            "charts": monitor.response_charts(found, now) if check is not None else None,
            "chart_width": monitor.CHART_WIDTH,
            "chart_height": monitor.CHART_HEIGHT,
            "items": [
                {
                    "incident": item,
                    "label": status_label(item, now=now),
                    "state": item.window_state(now),
                }
                for item in items
            ],
            "page_url": absolute(reverse("monitor-page", args=[found.id])),
        }
        valid_until = earliest(
            Incident.objects.next_maintenance_edge(now), uptime_history.next_day_boundary(now)
        )
        if check is not None or uptime_history.shown_numbers_move(
            {found.id: days[-SHOWN_DAYS:]}, [found]
        ):
            # Response times land without a write the generation tracks.
            valid_until = min(valid_until, uptime_history.refresh_bound(now))
        return Rendered(
            render_page("incidents/monitor.html", context, here=here), valid_until=valid_until
        )

    if not re.fullmatch(MONITOR_ID_PATTERN, monitor_id):
        raise Http404("No such monitor.")
    here = reverse("monitor-page", args=[monitor_id])
    return serve(request, page_name("monitor:" + monitor_id), build)


# --- /history/ ----------------------------------------------------------------


def encode_cursor(item):
    micros = (item.finished_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{item.id}"


def decode_cursor(value):
    match = CURSOR.fullmatch(value)
    if match is None:
        raise Http404("No such page of history.")
    try:
        return EPOCH + timedelta(microseconds=int(match[1])), match[2]
    except OverflowError:
        # Well-formed digits past the year 9999: no page of ours points there.
        raise Http404("No such page of history.") from None


@require_safe
def history(request):
    before = request.GET.get("before", "")
    cursor = decode_cursor(before) if before else None
    here = reverse("history") + ("?before=" + before if before else "")

    def build(now):
        finished = Incident.objects.finished(now).select_related("maintenance_window")
        if cursor is not None:
            finished_at, incident_id = cursor
            # Only cursors our pages hand out (the last item of a page) get a
            # page, so visitors cannot fill the cache with made-up ones.
            anchor = finished.filter(pk=incident_id).first()
            if anchor is None or anchor.finished_at != finished_at:
                raise Http404("No such page of history.")
            finished = finished.filter(finished_at__lte=finished_at).exclude(
                finished_at=finished_at, id__gte=incident_id
            )
        items = list(finished.order_by("-finished_at", "-id")[: HISTORY_PAGE_SIZE + 1])
        older = (
            encode_cursor(items[HISTORY_PAGE_SIZE - 1]) if len(items) > HISTORY_PAGE_SIZE else None
        )
        items = items[:HISTORY_PAGE_SIZE]
        months = [
            {
                "month": month_items[0].finished_at,
                "items": [
                    {"incident": i, "label": status_label(i, now=now), "state": i.window_state(now)}
                    for i in month_items
                ],
            }
            for _key, group in groupby(
                items, key=lambda i: (i.finished_at.year, i.finished_at.month)
            )
            for month_items in [list(group)]
        ]
        context = {
            "months": months,
            "is_first_page": cursor is None,
            "older_url": reverse("history") + "?before=" + older if older else None,
        }
        return Rendered(
            render_page("incidents/history.html", context, here=here),
            valid_until=Incident.objects.next_maintenance_edge(now),
        )

    return serve(request, page_name("history:" + (before or "first")), build)


# --- /favicon.ico ---------------------------------------------------------------


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says (feeds, 404s)."""
    return redirect(static("incidents/favicon.svg"), permanent=True)


# --- /language/<code>/ ------------------------------------------------------------


@require_safe
def choose_language(request, code):
    """The language picker's links: remember the choice in a cookie and go
    back to the page it was made on (``next``, a path on this site) — no
    JavaScript, no form. An unknown code changes nothing."""
    here = request.GET.get("next", "")
    if not here.startswith("/") or not url_has_allowed_host_and_scheme(
        here, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        here = reverse("status-page")
    response = HttpResponseRedirect(here)
    if code in languages.offered():
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=request.is_secure(),
            httponly=True,
        )
    response["Cache-Control"] = "no-store"
    return response
