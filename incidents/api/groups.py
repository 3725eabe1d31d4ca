"""``/api/groups`` and ``/api/groups/:id``: the status page's sections.
Monitors join a group through their ``groupId`` (PATCH /api/monitors/:id);
a group's ``monitorIds`` are read-only, in page order."""

from django.db import transaction
from django.urls import reverse

from incidents.api.caching import cached_get
from incidents.api.decorators import (
    api_view,
    authorize,
    dispatch,
    domain_errors,
    json_body,
    json_response,
    not_found_error,
)
from incidents.api.paging import ID_RE
from incidents.api.validation import GROUP_CHANGE, NEW_GROUP
from incidents.api.views import _actor, _no_content
from incidents.groups.models import MonitorGroup
from incidents.site import absolute


@api_view
def groups(request):
    return dispatch(request, GET=list_groups, POST=create_group)


@api_view
def group(request, group_id):
    return dispatch(request, group_id, GET=get_group, PATCH=change_group, DELETE=delete_group)


def _group_or_404(group_id, queryset=None):
    found = None
    if ID_RE.fullmatch(group_id):
        queryset = MonitorGroup.objects.all() if queryset is None else queryset
        found = queryset.filter(pk=group_id).first()
    if found is None:
        raise not_found_error("group")
    return found


def _answer(group_id, status=200, headers=None):
    found = MonitorGroup.objects.with_members().get(pk=group_id)
    return json_response(found.to_dict(), status=status, headers=headers)


@cached_get
def list_groups(request):
    found = MonitorGroup.objects.with_members().in_page_order()
    return json_response([item.to_dict() for item in found]), None


@authorize
@json_body
def create_group(request):
    data = NEW_GROUP.clean(request.json)
    with domain_errors():
        created = MonitorGroup.create_group(
            name=data["name"],
            description=data.get("description"),
            position=data.get("position", 0),
            id=data.get("id"),
            actor=_actor(request),
        )
    location = absolute(reverse("api:group", args=[created.id]), request)
    return _answer(created.id, status=201, headers={"Location": location})


@cached_get
def get_group(request, group_id):
    found = _group_or_404(group_id, MonitorGroup.objects.with_members())
    return json_response(found.to_dict()), None


@authorize
@json_body
def change_group(request, group_id):
    found = _group_or_404(group_id)
    data = GROUP_CHANGE.clean(request.json)
    with domain_errors(), transaction.atomic():  # as in change_incident
        found.change(**data, actor=_actor(request))
        return _answer(found.pk)


@authorize
def delete_group(request, group_id):
    found = _group_or_404(group_id)
    with domain_errors():
        found.delete_with_audit(_actor(request))
    return _no_content()
