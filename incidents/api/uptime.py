"""``GET /api/monitors/:id/uptime?days=1..365``: a monitor's seconds per day
in each state (CONTRACT "Uptime"), oldest first, today last and counted up to
now. Not cached: today's numbers move with the clock. A fixed number of
queries however long the history (incidents/uptime/history.py)."""

import re

from django.conf import settings

from incidents.api.decorators import (
    api_view,
    authorize,
    dispatch,
    invalid,
    json_response,
    not_found_error,
)
from incidents.api.paging import ID_RE
from incidents.models import Monitor
from incidents.uptime import history

DAYS_HELP = f"must be a whole number from 1 to {history.MAX_DAYS}"


def days_parameter(request):
    """The validated ``days`` (90 when absent), or a validation_error."""
    unknown = [name for name in request.GET if name != "days"]
    if unknown:
        raise invalid({name[:100]: "unknown query parameter; allowed: days" for name in unknown})
    values = request.GET.getlist("days")
    if not values:
        return history.DEFAULT_DAYS
    if len(values) > 1:
        raise invalid({"days": "must be given once"})
    value = values[0]
    if not re.fullmatch(r"[0-9]{1,3}", value, re.ASCII) or not (
        1 <= int(value) <= history.MAX_DAYS
    ):
        raise invalid({"days": DAYS_HELP})
    return int(value)


def uptime_document(monitor, days, now=None):
    found = history.history([monitor], days, now)[monitor.id]
    return {
        "monitorId": monitor.id,
        "timeZone": settings.KAMUSTATUS_TIME_ZONE,
        "days": [day.to_dict() for day in found],
        "uptime": history.Day.total(found).uptime,
    }


@api_view
def uptime(request, monitor_id):
    return dispatch(request, monitor_id, GET=get_uptime)


@authorize
def get_uptime(request, monitor_id):
    if not ID_RE.fullmatch(monitor_id):
        raise not_found_error("monitor")
    monitor = Monitor.objects.filter(pk=monitor_id).first()
    if monitor is None:
        raise not_found_error("monitor")
    return json_response(uptime_document(monitor, days_parameter(request)))
