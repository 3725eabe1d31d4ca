"""The keyed JSON API: one router per URL, thin handlers calling the domain.

Order of checks on every call: the URL and method (404/405, no key needed:
they reveal nothing), then the key (401) before any data or body is read,
then the body (415, 413, invalid_json), then the resource (404), then the
fields (validation_error), then the domain's rules (validation_error, 409).
"""

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from incidents.api.caching import cached_get
from incidents.api.decorators import (
    api_view,
    authorize,
    dispatch,
    domain_errors,
    error,
    json_body,
    json_response,
    not_found_error,
)
from incidents.api.paging import (
    ID_RE,
    IncidentListQuery,
    incident_page,
    next_page_headers,
    next_page_query,
)
from incidents.api.validation import (
    INCIDENT_CHANGE,
    MONITOR_CHANGE,
    NEW_INCIDENT,
    NEW_MONITOR,
    UPDATE_CHANGE,
)
from incidents.models import Actor, Incident, Monitor
from incidents.site import absolute


def _actor(request):
    return Actor.for_api_key(request.api_key)


def _no_content():
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


# --- Incidents -------------------------------------------------------------


@api_view
def incidents(request):
    return dispatch(request, GET=list_incidents, POST=create_incident)


@api_view
def incident(request, incident_id):
    return dispatch(
        request, incident_id, GET=get_incident, PATCH=change_incident, DELETE=delete_incident
    )


def _incident_or_404(incident_id, queryset=None):
    if not ID_RE.fullmatch(incident_id):
        raise not_found_error("incident")
    queryset = Incident.objects.all() if queryset is None else queryset
    found = queryset.filter(pk=incident_id).first()
    if found is None:
        raise not_found_error("incident")
    return found


@cached_get(with_query=True)
def list_incidents(request):
    query = IncidentListQuery.from_request(request)
    page, cursor = incident_page(query)
    next_query = None if cursor is None else next_page_query(query, cursor)
    headers = next_page_headers(request, next_query)
    return json_response([item.to_dict() for item in page], headers=headers), None


@authorize
@json_body
def create_incident(request):
    data = NEW_INCIDENT.clean(request.json)
    maintenance = data.get("maintenance", False)
    with domain_errors():
        created = Incident.open_incident(
            title=data["title"],
            message=data["message"],
            status=data.get("status", Incident.INVESTIGATING),
            monitor_ids=data.get("monitorIds", []),
            scheduled_start=data.get("scheduledStart") if maintenance else None,
            scheduled_end=data.get("scheduledEnd") if maintenance else None,
            actor=_actor(request),
            notify=data.get("notify", True),
        )
    location = absolute(reverse("api:incident", args=[created.id]), request)
    return json_response(created.to_dict(), status=201, headers={"Location": location})


def _locked_incident_or_404(incident_id):
    if not ID_RE.fullmatch(incident_id):
        raise not_found_error("incident")
    try:
        return Incident.objects.for_change(incident_id)
    except Incident.DoesNotExist:
        raise not_found_error("incident") from None


@cached_get
def get_incident(request, incident_id):
    found = _incident_or_404(incident_id, Incident.objects.with_timeline())
    return json_response(found.to_dict()), None


@authorize
@json_body
def change_incident(request, incident_id):
    # One transaction, the row locked first: the answer is the incident as
    # this PATCH left it — a DELETE racing it waits, instead of turning an
    # applied change into a 404 — and it is built from what was written.
    with domain_errors(), transaction.atomic():
        found = _locked_incident_or_404(incident_id)
        arguments = INCIDENT_CHANGE.arguments(request.json)
        found.apply_change(**arguments, actor=_actor(request))
    return json_response(found.to_dict())


@authorize
def delete_incident(request, incident_id):
    found = _incident_or_404(incident_id)
    with domain_errors():
        found.delete_with_audit(_actor(request))
    return _no_content()


# --- Timeline entries ------------------------------------------------------


@api_view
def incident_update(request, incident_id, update_id):
    return dispatch(
        request, incident_id, update_id, PATCH=change_incident_update, DELETE=delete_incident_update
    )


def _update_or_404(incident, update_id):
    if not ID_RE.fullmatch(update_id) or not incident.updates.filter(pk=update_id).exists():
        raise not_found_error("timeline entry")
    return update_id


@authorize
@json_body
def change_incident_update(request, incident_id, update_id):
    found = _incident_or_404(incident_id)
    update_id = _update_or_404(found, update_id)
    data = UPDATE_CHANGE.clean(request.json)
    with domain_errors(), transaction.atomic():  # as in change_incident
        found.edit_update(update_id, data["message"], actor=_actor(request))
        changed = Incident.objects.with_timeline().get(pk=found.pk)
    return json_response(changed.to_dict())


@authorize
def delete_incident_update(request, incident_id, update_id):
    found = _incident_or_404(incident_id)
    update_id = _update_or_404(found, update_id)
    with domain_errors():
        found.delete_update(update_id, actor=_actor(request))
    return _no_content()


# --- Monitors --------------------------------------------------------------


@api_view
def monitors(request):
    return dispatch(request, GET=list_monitors, POST=create_monitor)


@api_view
def monitor(request, monitor_id):
    return dispatch(
        request, monitor_id, GET=get_monitor, PATCH=change_monitor, DELETE=delete_monitor
    )


def _monitor_or_404(monitor_id, queryset=None):
    if not ID_RE.fullmatch(monitor_id):
        raise not_found_error("monitor")
    queryset = Monitor.objects.all() if queryset is None else queryset
    found = queryset.filter(pk=monitor_id).first()
    if found is None:
        raise not_found_error("monitor")
    return found


def _until_next_maintenance_edge(now, monitors=()):
    """``inMaintenance`` changes when a window starts or ends, without a write;
    a checked monitor's last result changes with every run (issue 14: such
    answers are built afresh each time)."""
    if any(getattr(item, "health_check", None) is not None for item in monitors):
        return now
    return Incident.objects.next_maintenance_edge(now)


@cached_get
def list_monitors(request):
    now = timezone.now()
    found = list(Monitor.objects.for_status_page(now))
    body = [item.to_dict() for item in found]
    return json_response(body), _until_next_maintenance_edge(now, found)


@authorize
@json_body
def create_monitor(request):
    data = NEW_MONITOR.clean(request.json)
    with domain_errors():
        created = Monitor.create_monitor(
            name=data["name"],
            url=data.get("url"),
            status=data.get("status", Monitor.OPERATIONAL),
            id=data.get("id"),
            check=data.get("check"),
            description=data.get("description"),
            group_id=data.get("groupId"),
            position=data.get("position", 0),
            actor=_actor(request),
        )
    created = Monitor.objects.with_maintenance().get(pk=created.pk)
    location = absolute(reverse("api:monitor", args=[created.id]), request)
    return json_response(created.to_dict(), status=201, headers={"Location": location})


@cached_get
def get_monitor(request, monitor_id):
    now = timezone.now()
    found = _monitor_or_404(monitor_id, Monitor.objects.with_maintenance(now))
    return json_response(found.to_dict()), _until_next_maintenance_edge(now, [found])


@authorize
@json_body
def change_monitor(request, monitor_id):
    found = _monitor_or_404(monitor_id)
    arguments = MONITOR_CHANGE.arguments(request.json)
    with domain_errors(), transaction.atomic():  # as in change_incident
        found.change(**arguments, actor=_actor(request))
        changed = Monitor.objects.with_maintenance().get(pk=found.pk)
    return json_response(changed.to_dict())


@authorize
def delete_monitor(request, monitor_id):
    found = _monitor_or_404(monitor_id)
    with domain_errors():
        found.delete_with_audit(_actor(request))
    return _no_content()


# --- Anything else under /api/ ---------------------------------------------------


@api_view
def not_found(request, *args, **kwargs):
    return error("not_found", "There is nothing at this URL. See /api/openapi.json.", 404)
