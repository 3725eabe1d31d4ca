"""The public, keyless, read-only face: Statuspage-compatible JSON and badges.

Every response here is open to any origin (CORS ``*``): it is public and
read-only, and nothing that needs a key is served from this module. Bodies
are kept in the shared cache under the content generation (``cached``), sent
with an ETag and answered with 304 when the client already has them.
"""

import json
import re
from functools import wraps

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt

from incidents.appearance.page import environment_version
from incidents.cache.store import Rendered, accepts_gzip, is_not_modified
from incidents.models import MONITOR_ID_PATTERN, Incident, Monitor
from incidents.overview import Overview, page_updated_at
from incidents.public import badges, shapes
from incidents.public.cached import RESPONSES, cached_body
from incidents.site import is_own_url
from incidents.uptime.history import (
    MAX_DAYS,
    Day,
    history,
    next_day_boundary,
    refresh_bound,
    shown_numbers_move,
)

UPTIME_BADGE_DAYS = 30

JSON = "application/json; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# Revalidate every time (the ETag makes that cheap): a status is never stale.
CACHE_CONTROL = "no-cache"
# JSON and badges load nothing and run nothing, even when opened directly.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


def public(view):
    """GET/HEAD only, open to every origin, preflights answered."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Allow"] = ALLOWED_METHODS
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = "If-None-Match"
            response["Access-Control-Max-Age"] = "86400"
        elif request.method not in ("GET", "HEAD"):
            response = json_error(
                "method_not_allowed",
                f"{request.method} is not allowed here; this endpoint is read-only.",
                405,
            )
            response["Allow"] = ALLOWED_METHODS
        else:
            response = view(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag"
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return wrapper


def json_error(code, message, status):
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return HttpResponse(body, status=status, content_type=JSON)


def send(request, entry, content_type, status=200):
    """The cached entry, or 304 when the client's copy is the same; sent
    gzip-compressed to a client that accepts it (other sites poll the
    Statuspage JSON: 35 KB for 50 monitors, 4 KB compressed)."""
    packed = accepts_gzip(request.headers.get("Accept-Encoding"))
    if status == 200 and is_not_modified(request, entry.etag):
        response = HttpResponse(status=304)
    else:
        body = RESPONSES.sent_body(entry, packed)
        response = HttpResponse(body, status=status, content_type=content_type)
        if packed:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = RESPONSES.sent_etag(entry, packed)
    response["Cache-Control"] = CACHE_CONTROL
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


def encode(data):
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- Statuspage JSON --------------------------------------------------------


def stored_for(request):
    """What a stored document naming the page is kept per, known without a
    lookup: the address asked for (the page's URL may be the visitor's) and
    the environment's defaults (a restart may change them without a write; a
    change in the admin changes the content generation)."""
    return f"{request.scheme}://{request.get_host()}:{environment_version()}"


def statuspage_json(name):
    """A view serving the document that ``build(page, now)`` writes."""

    def decorate(build):
        @public
        def view(request):
            entry = cached_body(
                f"{name}:{stored_for(request)}",
                lambda now: encode(build(shapes.Page.for_request(request), now)),
                store=is_own_url(request),  # kept per address: only the page's own
            )
            return send(request, entry, JSON)

        view.__name__ = view.__qualname__ = build.__name__
        return view

    return decorate


def _document(page, now, monitors=None):
    if monitors is None:
        monitors = list(Monitor.objects.for_status_page(now))
    return shapes.Document(page, now, monitors)


def _page(page, now):
    return page.to_dict(page_updated_at(now))


@statuspage_json("status")
def status(page, now):
    view = Overview.build(now)
    return {"page": _page(page, now), "status": shapes.status_dict(view)}


@statuspage_json("summary")
def summary(page, now):
    view = Overview.build(now)
    document = _document(page, now, view.monitors)
    return {
        "page": _page(page, now),
        "components": document.components,
        "incidents": [document.incident_dict(i) for i in view.ongoing_incidents],
        "scheduled_maintenances": [
            document.maintenance_dict(i) for i in view.active_windows + view.upcoming_windows
        ],
        "status": shapes.status_dict(view),
    }


@statuspage_json("components")
def components(page, now):
    return {"page": _page(page, now), "components": _document(page, now).components}


def _incidents(page, now, incidents):
    incidents = list(incidents)
    document = _document(page, now)
    document.remember_history(incidents)
    return {
        "page": _page(page, now),
        "incidents": [document.incident_dict(incident) for incident in incidents],
    }


def _maintenances(page, now, windows):
    document = _document(page, now)
    return {
        "page": _page(page, now),
        "scheduled_maintenances": [document.maintenance_dict(window) for window in windows],
    }


@statuspage_json("incidents")
def incidents(page, now):
    recent = Incident.objects.not_maintenance().with_timeline().newest_first()
    return _incidents(page, now, recent[: shapes.LIST_LIMIT])


@statuspage_json("incidents-unresolved")
def unresolved_incidents(page, now):
    return _incidents(page, now, Incident.objects.ongoing().with_timeline().newest_first())


@statuspage_json("maintenances")
def scheduled_maintenances(page, now):
    recent = Incident.objects.maintenance().with_timeline().newest_first()
    return _maintenances(page, now, recent[: shapes.LIST_LIMIT])


@statuspage_json("maintenances-upcoming")
def upcoming_maintenances(page, now):
    upcoming = Incident.objects.upcoming_maintenance(now).order_by(
        "maintenance_window__scheduled_start", "id"
    )
    return _maintenances(page, now, upcoming.with_timeline())


@statuspage_json("maintenances-active")
def active_maintenances(page, now):
    active = Incident.objects.active_maintenance(now).order_by(
        "maintenance_window__scheduled_end", "id"
    )
    return _maintenances(page, now, active.with_timeline())


@public
def not_found(request, path=""):
    return json_error(
        "not_found", "No such public endpoint; see /api/v2/summary.json for everything.", 404
    )


# --- Badges -------------------------------------------------------------------


@public
def overall_badge(request):
    def build(now):
        name = shapes.Page.for_request(request).name
        return badges.overall_badge(name, Overview.build(now).state).encode("utf-8")

    # Badges speak the visitor's language (incidents/languages.py): a copy each.
    return send(
        request,
        cached_body(
            f"badge:{stored_for(request)}:{get_language()}", build, store=is_own_url(request)
        ),
        SVG,
    )


def uncached_badge(svg, status):
    """A badge saying what is wrong with the request (an unknown monitor)."""
    response = HttpResponse(svg.encode("utf-8"), status=status, content_type=SVG)
    response["Cache-Control"] = CACHE_CONTROL
    return response


@public
def monitor_badge(request, monitor_id):
    def build(now):
        monitor = Monitor.objects.with_maintenance(now).filter(pk=monitor_id).first()
        return None if monitor is None else badges.monitor_badge(monitor).encode("utf-8")

    entry = None
    if re.fullmatch(MONITOR_ID_PATTERN, monitor_id):
        entry = cached_body(f"badge:{monitor_id}:{get_language()}", build)
    if entry is None:
        return uncached_badge(badges.not_found_badge(), 404)
    return send(request, entry, SVG)


@public
def uptime_badge(request, monitor_id):
    """``/badge/<monitor id>/uptime.svg?days=N``: the uptime over the last N
    days (30 by default, 1 to 365), today so far included."""
    days = request.GET.get("days", str(UPTIME_BADGE_DAYS))
    if not re.fullmatch(r"[0-9]{1,3}", days, re.ASCII) or not 1 <= int(days) <= MAX_DAYS:
        return uncached_badge(badges.uptime_days_badge(), 400)
    days = int(days)

    def build(now):
        monitor = Monitor.objects.with_maintenance(now).filter(pk=monitor_id).first()
        if monitor is None:
            return None
        found = history([monitor], days, now)
        valid_until = min(
            filter(None, [Incident.objects.next_maintenance_edge(now), next_day_boundary(now)])
        )
        if shown_numbers_move(found, [monitor]):
            valid_until = min(valid_until, refresh_bound(now))
        ratio = Day.total(found[monitor.id]).uptime
        return Rendered(badges.uptime_badge(ratio).encode("utf-8"), valid_until=valid_until)

    entry = None
    if re.fullmatch(MONITOR_ID_PATTERN, monitor_id):
        entry = RESPONSES.get_or_build(f"badge-uptime:{monitor_id}:{days}:{get_language()}", build)
    if entry is None:
        return uncached_badge(badges.not_found_badge(), 404)
    return send(request, entry, SVG)
